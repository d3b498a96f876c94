//! Task operations: add, claim, next, complete, fail, release, cancel, retry,
//! and the read-side helpers they share (dependencies, readiness).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::view::{Loaded, Snapshot};
use super::{OpEnv, Operation, Orc, Plan};
use crate::clock::new_task_id;
use crate::error::{Error, Result};
use crate::model::names::check_workstream_name;
use crate::model::record;
use crate::model::task::{
    check_priority, check_text, check_title, Actor, Blocker, ClaimKind, Status, Task, Terms, DEFAULT_PRIORITY,
};
use crate::model::workstream::task_path;

/// Dependencies of `task` that are not done. `known` holds statuses already
/// loaded; others are looked up by id.
pub fn blockers(snap: &Snapshot<'_>, task: &Task, known: &HashMap<String, Status>) -> Result<Vec<Blocker>> {
    let mut out = Vec::new();
    for dep in &task.after {
        let status = match known.get(dep) {
            Some(status) => Some(*status),
            None => snap.task_by_id(dep)?.map(|t| t.status),
        };
        if status != Some(Status::Done) {
            out.push(Blocker { id: dep.clone(), status });
        }
    }
    Ok(out)
}

/// Everything needed to judge readiness of many tasks at once.
pub struct Board {
    pub tasks: Vec<Task>,
    pub broken: Vec<Error>,
    /// Statuses of the loaded tasks that other tasks wait for.
    pub status_of: HashMap<String, Status>,
    pub last_seen: HashMap<String, DateTime<Utc>>,
}

impl Board {
    /// Loads the tasks of `ws` (or of every workstream) and every agent.
    pub fn load(snap: &Snapshot<'_>, ws: Option<&str>) -> Result<Self> {
        let Loaded { items: tasks, mut broken } = match ws {
            Some(ws) => snap.tasks(ws)?,
            None => snap.all_tasks()?,
        };
        let agents = snap.agents()?;
        broken.extend(agents.broken);
        // Only ids that something waits for: most tasks have no dependencies,
        // and a map of every id cost more than the rest of `status`.
        let wanted: HashSet<&str> = tasks.iter().flat_map(|t| t.after.iter().map(String::as_str)).collect();
        let status_of =
            tasks.iter().filter(|t| wanted.contains(t.id.as_str())).map(|t| (t.id.clone(), t.status)).collect();
        let last_seen = agents.items.into_iter().map(|a| (a.id, a.last_seen)).collect();
        Ok(Self { tasks, broken, status_of, last_seen })
    }

    pub fn holder_seen(&self, task: &Task) -> Option<DateTime<Utc>> {
        task.claimed_by.as_ref().and_then(|h| self.last_seen.get(h).copied())
    }

    pub fn blockers(&self, snap: &Snapshot<'_>, task: &Task) -> Result<Vec<Blocker>> {
        blockers(snap, task, &self.status_of)
    }

    /// Claimable tasks whose dependencies are done, best first: workstream
    /// priority (when several), task priority, age, id.
    pub fn ready(&self, snap: &Snapshot<'_>, terms: &Terms) -> Result<Vec<&Task>> {
        // Workstreams rank by priority, then name; tasks carry that rank as
        // a number so the sort compares no strings but ids.
        let mut names: Vec<&str> = self.tasks.iter().map(|t| t.workstream.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut ranked: Vec<(u8, &str)> =
            names.iter().map(|ws| (snap.workstream(ws).ok().flatten().map_or(u8::MAX, |w| w.priority), *ws)).collect();
        ranked.sort_unstable();
        let rank: HashMap<&str, usize> = ranked.iter().enumerate().map(|(i, (_, ws))| (*ws, i)).collect();
        let mut keyed = Vec::new();
        let mut last_ws: Option<(&str, usize)> = None;
        for task in &self.tasks {
            if !task.is_claimable(terms, self.holder_seen(task)) || !self.blockers(snap, task)?.is_empty() {
                continue;
            }
            let ws = task.workstream.as_str();
            let ws_rank = match last_ws {
                Some((name, r)) if name == ws => r,
                _ => {
                    let r = rank[ws];
                    last_ws = Some((ws, r));
                    r
                }
            };
            keyed.push(((ws_rank, task.next_order()), task));
        }
        // Keys are computed once: at 10k tasks a comparator that hashes
        // costs more than the rest of `status`.
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, task)| task).collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTask {
    pub workstream: String,
    pub title: String,
    pub description: String,
    pub priority: u8,
    /// Ids or prefixes as typed; resolved against the branch.
    pub after: Vec<String>,
    /// Shared resources the task touches (lock names).
    pub resources: Vec<String>,
    /// Chosen when the operation is made, so a replay on another machine's
    /// tip creates the task the agent was told about.
    pub id: String,
}

impl AddTask {
    pub fn new(
        ws: &str,
        title: &str,
        description: Option<&str>,
        priority: Option<u8>,
        after: Vec<String>,
        resources: Vec<String>,
    ) -> Result<Self> {
        for resource in &resources {
            crate::model::names::check_name(crate::model::names::NameKind::Resource, resource)?;
        }
        check_workstream_name(ws)?;
        check_title(title)?;
        let description = description.unwrap_or_default().to_string();
        check_text("description", &description)?;
        let priority = priority.unwrap_or(DEFAULT_PRIORITY);
        check_priority(priority)?;
        Ok(Self {
            workstream: ws.into(),
            title: title.into(),
            description,
            priority,
            after,
            resources,
            id: new_task_id(),
        })
    }
}

impl Operation for AddTask {
    type Output = Task;
    const NAME: &'static str = "task.add";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        snap.require_workstream(&self.workstream)?;
        let mut after = Vec::new();
        for typed in &self.after {
            let dep = snap.find_task(typed, None)?;
            if !after.contains(&dep.id) {
                after.push(dep.id);
            }
        }
        // Ids are random (50 bits): a clash is astronomically rare, but a
        // check of one shard folder is cheap, and a clash must not overwrite.
        let id = self.id.clone();
        if !snap.ids_with_prefix(&id)?.is_empty() {
            return Err(Error::refused("already_exists", format!("a task with id {id} already exists"))
                .with("task", &id)
                .with_hint("run the command again: a new id is drawn each time"));
        }
        let mut task = Task::new(
            id.clone(),
            self.workstream.clone(),
            self.title.clone(),
            self.description.clone(),
            self.priority,
            after.clone(),
            env.actor.name().into(),
            env.now,
        );
        task.resources = self.resources.clone();
        Ok(Plan::new(format!("add {id} ({}) {}", self.workstream, clip(&self.title)), task.clone())
            .write(task_path(&self.workstream, &id), record::render(&task))
            .detail("task", &id)
            .detail("workstream", &self.workstream)
            .detail("title", &self.title)
            .detail("priority", self.priority)
            .detail("after", &after)
            .detail("resources", &self.resources))
    }
}

fn clip(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 60 {
        format!("{}…", one_line.chars().take(59).collect::<String>())
    } else {
        one_line
    }
}

/// The plan that writes a claimed task.
fn claim_plan(task: Task, kind: ClaimKind, agent: &str) -> Plan<Task> {
    let verb = if matches!(kind, ClaimKind::Reclaimed { .. }) { "reclaim" } else { "claim" };
    let mut plan = Plan::new(format!("{verb} {} ({}) by {agent}", task.id, task.workstream), task.clone())
        .write(task_path(&task.workstream, &task.id), record::render(&task))
        .detail("task", &task.id)
        .detail("workstream", &task.workstream)
        .detail("agent", agent)
        .detail("token", task.claim_token);
    match kind {
        ClaimKind::Reclaimed { from } => {
            plan = plan.detail("from", from);
            plan.event_type = Some("task.reclaim".into());
        }
        ClaimKind::Renewed => plan = plan.detail("renewed", true),
        ClaimKind::New => {}
    }
    plan
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimTask {
    pub workstream: Option<String>,
    pub id: String,
    pub agent: String,
}

impl Operation for ClaimTask {
    type Output = Task;
    const NAME: &'static str = "task.claim";

    fn actor(&self, _orc: &Orc) -> Result<Actor> {
        Ok(Actor::Agent(self.agent.clone()))
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let blockers = blockers(snap, &task, &HashMap::new())?;
        let holder_seen = snap.last_seen(task.claimed_by.as_deref());
        let (claimed, kind) = task.claim(&self.agent, &env.terms(), holder_seen, &blockers)?;
        Ok(claim_plan(claimed, kind, &self.agent))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NextTask {
    /// None: the best ready task across workstreams.
    pub workstream: Option<String>,
    pub agent: String,
}

impl Operation for NextTask {
    type Output = Task;
    const NAME: &'static str = "task.claim";

    fn actor(&self, _orc: &Orc) -> Result<Actor> {
        Ok(Actor::Agent(self.agent.clone()))
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        if let Some(ws) = &self.workstream {
            snap.require_workstream(ws)?;
        }
        let board = Board::load(snap, self.workstream.as_deref())?;
        let terms = env.terms();
        let ready = board.ready(snap, &terms)?;
        let Some(best) = ready.first() else {
            return Err(nothing_ready(&board, self.workstream.as_deref(), &terms));
        };
        let (claimed, kind) = best.claim(&self.agent, &terms, board.holder_seen(best), &[])?;
        Ok(claim_plan(claimed, kind, &self.agent))
    }
}

fn nothing_ready(board: &Board, ws: Option<&str>, terms: &Terms) -> Error {
    let count = |status: Status| board.tasks.iter().filter(|t| t.status == status).count();
    let open = count(Status::Open);
    let claimed = board
        .tasks
        .iter()
        .filter(|t| t.status == Status::Claimed && !t.lease_expired(terms, board.holder_seen(t)))
        .count();
    let scope = ws.map_or("any workstream".to_string(), |w| format!("workstream {w}"));
    let mut message = format!("nothing ready in {scope}");
    let mut parts = Vec::new();
    if open > 0 {
        parts.push(format!("{open} open but blocked by dependencies"));
    }
    if claimed > 0 {
        parts.push(format!("{claimed} claimed"));
    }
    if !parts.is_empty() {
        message = format!("{message}: {}", parts.join(", "));
    }
    Error::refused("nothing_ready", message)
        .with("workstream", ws)
        .with("blocked", open)
        .with("claimed", claimed)
        .with_hint("add work with `orc t add <ws> <title>`, or wait with `orc wait <id>`")
}

/// Complete or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    Complete,
    Fail,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinishTask {
    pub workstream: Option<String>,
    pub id: String,
    pub how: Finish,
    /// The claim token to check, when the agent kept it.
    pub token: Option<u64>,
    pub text: Option<String>,
}

impl FinishTask {
    pub fn new(
        workstream: Option<String>,
        id: String,
        how: Finish,
        token: Option<u64>,
        text: Option<String>,
    ) -> Result<Self> {
        if let Some(text) = &text {
            check_text(if how == Finish::Complete { "result" } else { "reason" }, text)?;
        }
        Ok(Self { workstream, id, how, token, text })
    }
}

impl Operation for FinishTask {
    type Output = Task;
    const NAME: &'static str = "task.finish";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let holder_seen = snap.last_seen(task.claimed_by.as_deref());
        let terms = env.terms();
        let (next, verb, event) = match self.how {
            Finish::Complete => (
                task.complete(env.actor, self.token, self.text.clone(), &terms, holder_seen)?,
                "complete",
                "task.complete",
            ),
            Finish::Fail => {
                (task.fail(env.actor, self.token, self.text.clone(), &terms, holder_seen)?, "fail", "task.fail")
            }
        };
        let mut plan =
            Plan::new(format!("{verb} {} ({}) by {}", next.id, next.workstream, env.actor.name()), next.clone())
                .write(task_path(&next.workstream, &next.id), record::render(&next))
                .detail("task", &next.id)
                .detail("workstream", &next.workstream)
                .detail("token", task.claim_token)
                .detail(if self.how == Finish::Complete { "result" } else { "reason" }, &self.text);
        plan.event_type = Some(event.into());
        Ok(plan)
    }
}

/// Release, cancel or retry: transitions that need no claim of one's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Release,
    Cancel,
    Retry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeTask {
    pub workstream: Option<String>,
    pub id: String,
    pub how: Change,
    pub reason: Option<String>,
}

impl Operation for ChangeTask {
    type Output = Task;
    const NAME: &'static str = "task.change";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        if let Some(reason) = &self.reason {
            check_text("reason", reason)?;
        }
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let (next, verb) = match self.how {
            Change::Release => (task.release(env.actor, env.now)?, "release"),
            Change::Cancel => (task.cancel(env.actor, self.reason.clone(), env.now)?, "cancel"),
            Change::Retry => (task.retry(env.now)?, "retry"),
        };
        let mut plan =
            Plan::new(format!("{verb} {} ({}) by {}", next.id, next.workstream, env.actor.name()), next.clone())
                .write(task_path(&next.workstream, &next.id), record::render(&next))
                .detail("task", &next.id)
                .detail("workstream", &next.workstream);
        if let Some(holder) = &task.claimed_by {
            plan = plan.detail("holder", holder);
        }
        if let Some(reason) = &self.reason {
            plan = plan.detail("reason", reason);
        }
        plan.event_type = Some(format!("task.{verb}"));
        Ok(plan)
    }
}
