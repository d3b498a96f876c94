//! Task operations: add, claim (and next), complete, fail, release, cancel,
//! retry, edit. Readiness and dependencies are read in `read::board`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::trailer::Envelope;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::{Error, Kind, Result};
use crate::model::names::{AgentName, ResourceName, WorkstreamName};
use crate::model::record;
use crate::model::task::{check_text, Actor, ClaimKind, Priority, Status, Task, TaskEdit, TaskId, Terms, Text, Title};
use crate::model::workstream::task_path;
use crate::read::board::{blockers, Board, HeadFor};
use crate::read::Snapshot;

/// Its fields are validated types: one decoded from JSON is as checked as
/// one built by `new`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddTask {
    pub workstream: WorkstreamName,
    pub title: Title,
    pub description: Text,
    pub priority: Priority,
    /// Ids or prefixes as typed; resolved against the branch.
    pub after: Vec<String>,
    /// Shared resources the task touches (lock names).
    pub resources: Vec<ResourceName>,
    /// Chosen when the operation is made, so a replay on another machine's
    /// tip creates the task the agent was told about.
    pub id: TaskId,
}

impl AddTask {
    /// Checks the input; the new task's id is drawn from `clock`.
    pub fn new(
        clock: &crate::session::Clock,
        ws: &str,
        title: &str,
        description: Option<&str>,
        priority: Option<u8>,
        after: Vec<String>,
        resources: Vec<String>,
    ) -> Result<Self> {
        let resources = resources.iter().map(|r| ResourceName::new(r)).collect::<Result<Vec<_>>>()?;
        let workstream = WorkstreamName::new(ws)?;
        let title = Title::new(title)?;
        let description = description.unwrap_or_default();
        check_text("description", description)?;
        let priority = match priority {
            Some(p) => Priority::new(p)?,
            None => Priority::DEFAULT,
        };
        Ok(Self {
            workstream,
            title,
            description: Text::new(description)?,
            priority,
            after,
            resources,
            id: TaskId::new(&clock.new_task_id())?,
        })
    }
}

impl Operation for AddTask {
    type Output = Task;
    const NAME: &'static str = "task.add";

    fn fingerprint(&self) -> serde_json::Value {
        let mut args = serde_json::to_value(self).expect("plain data");
        args.as_object_mut().expect("a struct serialises to an object").remove("id");
        args
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        snap.require_workstream(&self.workstream)?;
        if let Some(ws) = snap.workstream(&self.workstream)? {
            super::workstream::refuse_archived(&ws)?;
        }
        let after = resolve_after(snap, &self.after)?;
        // Ids are random (50 bits): a clash is astronomically rare, but a
        // check of one shard folder is cheap, and a clash must not overwrite.
        let id = self.id.to_string();
        if !snap.ids_with_prefix(&id)?.is_empty() {
            return Err(Error::new(Kind::AlreadyExists, format!("a task with id {id} already exists"))
                .with("task", &id)
                .with_hint("run the command again: a new id is drawn each time"));
        }
        let mut task = Task::new(
            id.clone(),
            self.workstream.to_string(),
            self.title.to_string(),
            self.description.to_string(),
            self.priority.get(),
            after.clone(),
            env.actor.name().into(),
            env.now,
        );
        task.resources = self.resources.iter().map(ToString::to_string).collect();
        Ok(Plan::new(format!("add {id} ({}) {}", self.workstream, clip(&self.title)), task.clone())
            .write(task_path(&self.workstream, &id), record::render(&task))
            .detail("task", &id)
            .detail("workstream", &self.workstream)
            .detail("title", &self.title)
            .detail("priority", self.priority.get())
            .detail("after", &after)
            .detail("resources", &self.resources))
    }
}

/// Resolves typed dependency ids or prefixes to full ids, once each.
fn resolve_after(snap: &Snapshot<'_>, typed: &[String]) -> Result<Vec<String>> {
    let mut after = Vec::new();
    for typed in typed {
        let dep = snap.find_task(typed, None)?;
        if !after.contains(&dep.id) {
            after.push(dep.id);
        }
    }
    Ok(after)
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

/// `claim` (a task by id or prefix) and `next` (the best ready task, of
/// one workstream or any) are one operation: a `next` is recorded as the
/// claim of the task it chose, which is what a replay checks again.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClaimTask {
    pub agent: AgentName,
    /// The task id or a unique prefix; None: the best ready task.
    #[serde(default, alias = "id", skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Where to look (checked against the task when one is named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workstream: Option<WorkstreamName>,
}

impl ClaimTask {
    /// Claims this task (id or unique prefix).
    pub fn task(agent: AgentName, task: &str, workstream: Option<WorkstreamName>) -> Self {
        Self { agent, task: Some(task.to_string()), workstream }
    }

    /// Claims the best ready task of `workstream`, or of any.
    pub fn best(agent: AgentName, workstream: Option<WorkstreamName>) -> Self {
        Self { agent, task: None, workstream }
    }
}

impl Operation for ClaimTask {
    type Output = Task;
    const NAME: &'static str = "task.claim";

    fn actor(&self, _session: &Actor) -> Actor {
        Actor::Agent(self.agent.to_string())
    }

    fn recorded(&self, output: &Task) -> serde_json::Value {
        serde_json::to_value(Self { agent: self.agent.clone(), task: Some(output.id.clone()), workstream: None })
            .expect("plain data")
    }

    fn from_record(envelope: &Envelope, _source: &RecordSource<'_>) -> Result<Self> {
        let mut op: Self = decode_input(envelope)?;
        if let Some(task) = &envelope.legacy_task {
            op.task = Some(task.clone());
            op.workstream = None;
        }
        if op.task.is_none() {
            return Err(Error::new(Kind::InvalidInput, "a recorded claim names no task"));
        }
        Ok(op)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let agent = self.agent.as_str();
        let Some(typed) = &self.task else {
            if let Some(ws) = &self.workstream {
                snap.require_workstream(ws)?;
                if let Some(ws) = snap.workstream(ws)? {
                    super::workstream::refuse_archived(&ws)?;
                }
            }
            // Only the head of the board: this runs inside the write queue.
            let board =
                Board::load_head(snap, self.workstream.as_deref(), Some(env.liveness), 1, HeadFor::Claim)?.board;
            let terms = env.terms()?;
            let ready = board.ready(snap, &terms)?;
            let Some(best) = ready.first() else {
                return Err(nothing_ready(&board, self.workstream.as_deref(), &terms));
            };
            let (claimed, kind) = best.claim(agent, &terms, board.holder_seen(best), &[])?;
            return Ok(claim_plan(claimed, kind, agent));
        };
        let task = snap.find_task(typed, self.workstream.as_deref())?;
        if task.status != Status::Claimed || task.claimed_by.as_deref() != Some(agent) {
            if let Some(ws) = snap.workstream(&task.workstream)? {
                super::workstream::refuse_archived(&ws)?;
            }
        }
        let blockers = blockers(snap, &task, &HashMap::new())?;
        let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(env.liveness));
        let (claimed, kind) = task.claim(agent, &env.terms()?, holder_seen, &blockers)?;
        Ok(claim_plan(claimed, kind, agent))
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
    Error::new(Kind::NothingReady, message)
        .with("workstream", ws)
        .with("blocked", open)
        .with("claimed", claimed)
        .with_hint("add work, or wait for a claimed task to finish")
}

/// An operation on one task named by id or prefix (and, for the seed's
/// syntax, its workstream): recorded with the id it resolved to.
trait NamesTask: Clone + Serialize + serde::de::DeserializeOwned {
    fn target(&mut self) -> (&mut String, &mut Option<WorkstreamName>);
}

/// The input to record: the resolved id, the workstream check done.
fn recorded_for<T: NamesTask>(op: &T, id: &str) -> serde_json::Value {
    let mut op = op.clone();
    let (task, workstream) = op.target();
    *task = id.to_string();
    *workstream = None;
    serde_json::to_value(op).expect("plain data")
}

/// Decodes a recorded task operation; a trailer from before inputs were
/// nested names its task beside the envelope's keys.
fn decoded<T: NamesTask>(envelope: &Envelope) -> Result<T> {
    let mut op: T = decode_input(envelope)?;
    if let Some(legacy) = &envelope.legacy_task {
        let (task, workstream) = op.target();
        *task = legacy.clone();
        *workstream = None;
    }
    Ok(op)
}

impl NamesTask for FinishTask {
    fn target(&mut self) -> (&mut String, &mut Option<WorkstreamName>) {
        (&mut self.id, &mut self.workstream)
    }
}

impl NamesTask for ChangeTask {
    fn target(&mut self) -> (&mut String, &mut Option<WorkstreamName>) {
        (&mut self.id, &mut self.workstream)
    }
}

/// Complete or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Finish {
    Complete,
    Fail,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FinishTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workstream: Option<WorkstreamName>,
    pub id: String,
    pub how: Finish,
    /// The claim token to check, when the agent kept it.
    pub token: Option<u64>,
    pub text: Option<Text>,
}

impl FinishTask {
    pub fn new(
        workstream: Option<WorkstreamName>,
        id: String,
        how: Finish,
        token: Option<u64>,
        text: Option<String>,
    ) -> Result<Self> {
        let text = match text {
            Some(text) => {
                check_text(if how == Finish::Complete { "result" } else { "reason" }, &text)?;
                Some(Text::new(&text)?)
            }
            None => None,
        };
        Ok(Self { workstream, id, how, token, text })
    }
}

impl Operation for FinishTask {
    type Output = Task;
    const NAME: &'static str = "task.finish";

    fn recorded(&self, output: &Task) -> serde_json::Value {
        recorded_for(self, &output.id)
    }

    fn from_record(envelope: &Envelope, _source: &RecordSource<'_>) -> Result<Self> {
        decoded(envelope)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(env.liveness));
        let terms = env.terms()?;
        let (next, verb, event) = match self.how {
            Finish::Complete => (
                task.complete(env.actor, self.token, self.text.as_ref().map(ToString::to_string), &terms, holder_seen)?,
                "complete",
                "task.complete",
            ),
            Finish::Fail => {
                let reason = self.text.as_ref().map(ToString::to_string);
                (task.fail(env.actor, self.token, reason, &terms, holder_seen)?, "fail", "task.fail")
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Change {
    Release,
    Cancel,
    Retry,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workstream: Option<WorkstreamName>,
    pub id: String,
    pub how: Change,
    pub reason: Option<Text>,
}

impl Operation for ChangeTask {
    type Output = Task;
    const NAME: &'static str = "task.change";

    fn recorded(&self, output: &Task) -> serde_json::Value {
        recorded_for(self, &output.id)
    }

    fn from_record(envelope: &Envelope, _source: &RecordSource<'_>) -> Result<Self> {
        decoded(envelope)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let (next, verb) = match self.how {
            Change::Release => (task.release(env.actor, env.now)?, "release"),
            Change::Cancel => {
                (task.cancel(env.actor, self.reason.as_ref().map(ToString::to_string), env.now)?, "cancel")
            }
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
            plan = plan.detail("reason", reason.as_str());
        }
        plan.event_type = Some(format!("task.{verb}"));
        Ok(plan)
    }
}

/// Changes a task's title, description, priority or dependencies. Refused
/// once the task is done or cancelled; new dependencies are resolved like
/// `t add`'s and may not make a cycle.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EditTask {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workstream: Option<WorkstreamName>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Title>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Replaces the dependencies (ids or prefixes as typed; `[]` clears).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

impl EditTask {
    /// Checks the input; at least one field must change.
    pub fn new(
        id: &str,
        title: Option<&str>,
        description: Option<&str>,
        priority: Option<u8>,
        after: Option<Vec<String>>,
    ) -> Result<Self> {
        let description = match description {
            Some(text) => {
                check_text("description", text)?;
                Some(Text::new(text)?)
            }
            None => None,
        };
        let op = Self {
            workstream: None,
            id: id.to_string(),
            title: title.map(Title::new).transpose()?,
            description,
            priority: priority.map(Priority::new).transpose()?,
            after,
        };
        if op.title.is_none() && op.description.is_none() && op.priority.is_none() && op.after.is_none() {
            return Err(Error::new(Kind::InvalidInput, "nothing to change")
                .with_hint("give a new title, description, priority or dependencies"));
        }
        Ok(op)
    }
}

impl NamesTask for EditTask {
    fn target(&mut self) -> (&mut String, &mut Option<WorkstreamName>) {
        (&mut self.id, &mut self.workstream)
    }
}

impl Operation for EditTask {
    type Output = Task;
    const NAME: &'static str = "task.edit";

    fn recorded(&self, output: &Task) -> serde_json::Value {
        let mut op = self.clone();
        if op.after.is_some() {
            op.after = Some(output.after.clone());
        }
        recorded_for(&op, &output.id)
    }

    fn from_record(envelope: &Envelope, _source: &RecordSource<'_>) -> Result<Self> {
        decoded(envelope)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Task>> {
        let task = snap.find_task(&self.id, self.workstream.as_deref())?;
        let after = match &self.after {
            Some(typed) => {
                let after = resolve_after(snap, typed)?;
                refuse_cycle(snap, &task.id, &after)?;
                Some(after)
            }
            None => None,
        };
        let edit = TaskEdit {
            title: self.title.as_ref().map(ToString::to_string),
            description: self.description.as_ref().map(ToString::to_string),
            priority: self.priority.map(Priority::get),
            after,
        };
        let next = task.edit(edit, env.now)?;
        let mut plan = Plan::new(format!("edit {} ({}) {}", next.id, next.workstream, clip(&next.title)), next.clone())
            .write(task_path(&next.workstream, &next.id), record::render(&next))
            .detail("task", &next.id)
            .detail("workstream", &next.workstream);
        if let Some(title) = &self.title {
            plan = plan.detail("title", title);
        }
        if self.description.is_some() {
            plan = plan.detail("description", true);
        }
        if let Some(priority) = self.priority {
            plan = plan.detail("priority", priority.get());
        }
        if self.after.is_some() {
            plan = plan.detail("after", &next.after);
        }
        Ok(plan)
    }
}

/// Refuses dependencies of `id` that wait, directly or through others, for
/// `id` itself.
fn refuse_cycle(snap: &Snapshot<'_>, id: &str, after: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    // (task, the path from the edited task to it)
    let mut stack: Vec<(String, Vec<String>)> = after.iter().map(|d| (d.clone(), vec![d.clone()])).collect();
    while let Some((dep, path)) = stack.pop() {
        if dep == id {
            let chain = std::iter::once(id).chain(path.iter().map(String::as_str)).collect::<Vec<_>>().join(" → ");
            return Err(Error::new(
                Kind::DependencyCycle,
                format!("{id} cannot wait for {}: that makes a cycle ({chain})", path[0]),
            )
            .with("task", id)
            .with("cycle", &path)
            .with_hint("drop one of the dependencies in the cycle"));
        }
        if !seen.insert(dep.clone()) {
            continue;
        }
        if let Some(task) = snap.task_by_id(&dep)? {
            for next in task.after {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next, longer));
            }
        }
    }
    Ok(())
}
