//! The cycle runner (DESIGN §6): `plan` proposes who does what next,
//! `brief` tells one agent everything it needs in one Markdown page, and
//! `collect` reports what finished since the last cycle and closes it.
//! Plans and reports are kept in the branch as `cycles/<n>/plan.md|json`
//! and `cycles/<n>/report.md|json`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::board::Board;
use super::events::{query, EventQuery};
use super::knowledge;
use super::liveness::Liveness;
use super::locks::{all_locks, Observations};
use super::Snapshot;
use crate::error::{Error, Result};
use crate::model::agent::Agent;
use crate::model::duration::format_age;
use crate::model::event::Event;
use crate::model::names::terminal_safe;
use crate::model::task::{short_time, Blocker, Status, Task, Terms};
use crate::store::ObjectId;

/// A task as plans, briefs and reports show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRef {
    pub id: String,
    pub workstream: String,
    pub title: String,
    pub priority: u8,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub waits_for: Vec<Blocker>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub resources: Vec<String>,
}

impl TaskRef {
    fn of(task: &Task, board: &Board, terms: &Terms, waits_for: Vec<Blocker>) -> Self {
        Self {
            id: task.id.clone(),
            workstream: task.workstream.clone(),
            title: task.title.clone(),
            priority: task.priority,
            status: task.status,
            claimed_by: task.claimed_by.clone().filter(|_| task.status == Status::Claimed),
            lease_expires: task.lease_end(board.holder_seen(task), terms.lease),
            waits_for,
            resources: task.resources.clone(),
        }
    }

    fn line(&self) -> String {
        format!("`{}` {} (p{})", self.id, terminal_safe(&self.title), self.priority)
    }
}

/// How many ready or blocked tasks a plan lists per workstream; the counts
/// are always whole. A plan is read by people and agents: the best 25 of
/// 6,000 ready tasks say as much as all of them, at a fraction of the size.
pub const PLAN_LIST_MAX: usize = 25;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkstreamPlan {
    pub name: String,
    pub priority: u8,
    pub ready_count: usize,
    /// The best `PLAN_LIST_MAX` ready tasks.
    pub ready: Vec<TaskRef>,
    pub blocked_count: usize,
    pub blocked: Vec<TaskRef>,
    pub claimed: Vec<TaskRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assignment {
    pub agent: String,
    pub task: TaskRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldBack {
    pub task: TaskRef,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRef {
    pub resource: String,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
    pub token: u64,
}

/// What `orc plan` proposes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CyclePlan {
    pub cycle: u64,
    pub at: DateTime<Utc>,
    pub workstreams: Vec<WorkstreamPlan>,
    pub idle_agents: Vec<String>,
    pub stale_agents: Vec<String>,
    pub expired_locks: Vec<LockRef>,
    pub assignments: Vec<Assignment>,
    /// Ready tasks not proposed this cycle because they share a resource
    /// with work in progress or already proposed (serial work).
    pub held_back: Vec<HeldBack>,
}

pub(crate) fn cycle_dir(n: u64) -> String {
    format!("cycles/{n}")
}

/// The cycle a new plan or report belongs to: the newest one, unless it was
/// already closed by `collect`.
pub(crate) fn current_cycle(snap: &Snapshot<'_>) -> Result<(u64, Option<CycleReport>)> {
    let newest =
        snap.list("cycles")?.into_iter().filter(|e| e.is_tree).filter_map(|e| e.name.parse::<u64>().ok()).max();
    let Some(n) = newest else { return Ok((1, None)) };
    match snap.file(&format!("{}/report.json", cycle_dir(n)))? {
        Some(bytes) => {
            let path = format!("{}/report.json", cycle_dir(n));
            let report: CycleReport =
                serde_json::from_slice(&bytes).map_err(|e| Error::broken_file(&path, Some(e.line()), e))?;
            Ok((n + 1, Some(report)))
        }
        None => {
            // Open cycle: the report that closed the one before, if any.
            let previous = match n.checked_sub(1).filter(|p| *p > 0) {
                Some(p) => snap
                    .file(&format!("{}/report.json", cycle_dir(p)))?
                    .and_then(|b| serde_json::from_slice::<CycleReport>(&b).ok()),
                None => None,
            };
            Ok((n, previous))
        }
    }
}

fn agents_by_id(snap: &Snapshot<'_>) -> Result<Vec<Agent>> {
    let mut agents = snap.agents()?.items;
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(agents)
}

/// Resources taken now, with why: held by a live lock, or touched by a task
/// someone is working on.
fn busy_resources(board: &Board, live_locks: &[&crate::model::lock::Lock], terms: &Terms) -> HashMap<String, String> {
    let mut busy = HashMap::new();
    for lock in live_locks {
        busy.insert(lock.resource.clone(), format!("locked by {}", lock.holder.as_deref().unwrap_or("?")));
    }
    for task in &board.tasks {
        if task.status == Status::Claimed && !task.lease_expired(terms, board.holder_seen(task)) {
            for resource in &task.resources {
                busy.insert(resource.clone(), format!("in use by {}", task.id));
            }
        }
    }
    busy
}

/// Computes the plan for the branch as of `snap`.
pub fn compute_plan(
    snap: &Snapshot<'_>,
    terms: &Terms,
    stale_after: chrono::Duration,
    cycle: u64,
) -> Result<CyclePlan> {
    let liveness = Liveness::load(snap.store, terms.now);
    let board = Board::load(snap, None, Some(&liveness))?;
    let agents = agents_by_id(snap)?;
    let mut observed = Observations::load(snap.store);
    let locks = all_locks(snap)?.items;
    observed.observe(&locks, terms.now);
    let live_locks: Vec<_> =
        locks.iter().filter(|l| l.is_live(&observed.clock(Some(l), terms.now, terms.grace))).collect();
    let expired_locks = locks
        .iter()
        .filter(|l| l.is_held() && !l.is_live(&observed.clock(Some(l), terms.now, terms.grace)))
        .map(|l| LockRef {
            resource: l.resource.clone(),
            holder: l.holder.clone().unwrap_or_default(),
            expires_at: l.expires_at,
            token: l.token,
        })
        .collect();

    let mut workstreams: BTreeMap<String, WorkstreamPlan> = BTreeMap::new();
    for name in snap.workstream_names()?.items {
        let record = snap.workstream(&name).ok().flatten();
        if record.as_ref().is_some_and(|w| w.archived) {
            continue;
        }
        let priority = record.map_or(u8::MAX, |w| w.priority);
        workstreams.insert(
            name.clone(),
            WorkstreamPlan {
                name,
                priority,
                ready_count: 0,
                ready: vec![],
                blocked_count: 0,
                blocked: vec![],
                claimed: vec![],
            },
        );
    }
    let ready = board.ready(snap, terms)?;
    let ready_ids: HashSet<&str> = ready.iter().map(|t| t.id.as_str()).collect();
    let mut busy_agents = BTreeSet::new();
    let mut busy_resources = busy_resources(&board, &live_locks, terms);
    for task in &board.tasks {
        let Some(ws) = workstreams.get_mut(&task.workstream) else { continue };
        if task.status == Status::Claimed && !task.lease_expired(terms, board.holder_seen(task)) {
            busy_agents.extend(task.claimed_by.clone());
            ws.claimed.push(TaskRef::of(task, &board, terms, vec![]));
        } else if task.status == Status::Open && !ready_ids.contains(task.id.as_str()) {
            ws.blocked_count += 1;
            if ws.blocked.len() < PLAN_LIST_MAX {
                ws.blocked.push(TaskRef::of(task, &board, terms, board.blockers(snap, task)?));
            }
        }
    }
    for task in &ready {
        if let Some(ws) = workstreams.get_mut(&task.workstream) {
            ws.ready_count += 1;
            if ws.ready.len() < PLAN_LIST_MAX {
                ws.ready.push(TaskRef::of(task, &board, terms, vec![]));
            }
        }
    }
    let stale: Vec<String> =
        agents.iter().filter(|a| a.is_stale(terms.now, stale_after, terms.grace)).map(|a| a.id.clone()).collect();
    let idle: Vec<String> = agents
        .iter()
        .filter(|a| !a.is_stale(terms.now, stale_after, terms.grace) && !busy_agents.contains(&a.id))
        .map(|a| a.id.clone())
        .collect();

    let mut assignments = Vec::new();
    let mut held_back = Vec::new();
    let mut free_agents = idle.iter();
    for task in &ready {
        if let Some(reason) =
            task.resources.iter().find_map(|r| busy_resources.get(r).map(|why| format!("{r} is {why}")))
        {
            held_back.push(HeldBack { task: TaskRef::of(task, &board, terms, vec![]), reason });
            continue;
        }
        let Some(agent) = free_agents.next() else { break };
        for resource in &task.resources {
            busy_resources.insert(resource.clone(), format!("proposed for {} ({agent})", task.id));
        }
        assignments.push(Assignment { agent: agent.clone(), task: TaskRef::of(task, &board, terms, vec![]) });
    }
    let mut workstreams: Vec<WorkstreamPlan> = workstreams.into_values().collect();
    workstreams.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    Ok(CyclePlan {
        cycle,
        at: terms.now,
        workstreams,
        idle_agents: idle,
        stale_agents: stale,
        expired_locks,
        assignments,
        held_back,
    })
}

fn lease_left(task: &TaskRef, now: DateTime<Utc>) -> String {
    match task.lease_expires {
        Some(end) if end > now => format!("lease {} left", format_age(end - now)),
        Some(_) => "lease expired".into(),
        None => String::new(),
    }
}

impl CyclePlan {
    pub fn markdown(&self) -> String {
        let now = self.at;
        let mut md = format!(
            "# Cycle {} plan\n\n_As of {}._\n\n## Proposed assignments\n\n",
            self.cycle,
            now.format("%Y-%m-%d %H:%M UTC")
        );
        if self.assignments.is_empty() {
            md += "None: no idle agent, or nothing ready.\n";
        }
        for a in &self.assignments {
            let _ = writeln!(
                md,
                "- **{}** → {} in {} — `orc t claim {} --agent {}`",
                a.agent,
                a.task.line(),
                a.task.workstream,
                a.task.id,
                a.agent
            );
        }
        if !self.held_back.is_empty() {
            md += "\n### Serial (held back this cycle)\n\n";
            for h in &self.held_back {
                let _ = writeln!(md, "- {}: {}", h.task.line(), h.reason);
            }
        }
        md += "\n## Agents\n\n";
        let _ = writeln!(
            md,
            "- Idle: {}",
            if self.idle_agents.is_empty() { "none".into() } else { self.idle_agents.join(", ") }
        );
        let _ = writeln!(
            md,
            "- Stale: {}",
            if self.stale_agents.is_empty() { "none".into() } else { self.stale_agents.join(", ") }
        );
        if !self.expired_locks.is_empty() {
            md += "\n## Expired locks\n\n";
            for l in &self.expired_locks {
                let _ = writeln!(
                    md,
                    "- `{}` held by {} expired {} (token {})",
                    l.resource,
                    l.holder,
                    short_time(l.expires_at, now),
                    l.token
                );
            }
        }
        for ws in &self.workstreams {
            let _ = write!(md, "\n## {} (p{})\n\n", ws.name, ws.priority);
            if ws.ready.is_empty() && ws.blocked.is_empty() && ws.claimed.is_empty() {
                md += "Nothing open.\n";
            }
            let mut parts = Vec::new();
            if !ws.ready.is_empty() {
                let mut lines: Vec<String> = ws.ready.iter().map(|t| format!("- {}", t.line())).collect();
                if ws.ready_count > ws.ready.len() {
                    lines.push(format!("- … and {} more (`orc ready {}`)", ws.ready_count - ws.ready.len(), ws.name));
                }
                parts.push(format!("Ready, best first:\n{}\n", lines.join("\n")));
            }
            if !ws.claimed.is_empty() {
                let lines: Vec<String> = ws
                    .claimed
                    .iter()
                    .map(|t| {
                        format!("- {} by {}, {}", t.line(), t.claimed_by.as_deref().unwrap_or("?"), lease_left(t, now))
                    })
                    .collect();
                parts.push(format!("Claimed:\n{}\n", lines.join("\n")));
            }
            if !ws.blocked.is_empty() {
                let lines: Vec<String> = ws
                    .blocked
                    .iter()
                    .map(|t| {
                        let on: Vec<String> = t
                            .waits_for
                            .iter()
                            .map(|b| format!("`{}` ({})", b.id, b.status.map_or("missing", Status::as_str)))
                            .collect();
                        format!("- {} waits for {}", t.line(), on.join(", "))
                    })
                    .collect();
                let more = ws.blocked_count - ws.blocked.len();
                let more = if more > 0 { format!("\n- … and {more} more") } else { String::new() };
                parts.push(format!("Blocked:\n{}{more}\n", lines.join("\n")));
            }
            md += &parts.join("\n");
        }
        md
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    pub task: TaskRef,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_by: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// From claim to finish, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_secs: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicChange {
    pub topic: String,
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// What `orc collect` reports, and closes the cycle with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CycleReport {
    pub cycle: u64,
    pub at: DateTime<Utc>,
    /// The commit this report saw last; the next report starts after it.
    pub tip: String,
    pub since: Option<DateTime<Utc>>,
    pub finished: Vec<Finished>,
    pub in_progress: Vec<TaskRef>,
    pub knowledge: Vec<TopicChange>,
    /// Per agent: how many tasks it finished and failed this cycle.
    pub by_agent: BTreeMap<String, (usize, usize)>,
}

fn topic_blobs(snap: &Snapshot<'_>) -> Result<BTreeMap<String, ObjectId>> {
    let mut out = BTreeMap::new();
    for topic in knowledge::list(snap)?.items {
        if let Some(entry) = snap.entry(&crate::model::knowledge::topic_path(&topic.topic))? {
            out.insert(topic.topic, entry.oid);
        }
    }
    Ok(out)
}

pub fn compute_report(
    snap: &Snapshot<'_>,
    terms: &Terms,
    cycle: u64,
    previous: Option<&CycleReport>,
) -> Result<CycleReport> {
    let liveness = Liveness::load(snap.store, terms.now);
    let board = Board::load(snap, None, Some(&liveness))?;
    let before = match previous.and_then(|p| p.tip.parse::<ObjectId>().ok()) {
        Some(old) => Some(Snapshot::at(snap.store, Some(old))?),
        None => None,
    };
    let old_finishes: HashMap<String, (Status, Option<DateTime<Utc>>)> = match &before {
        Some(old) => {
            Board::load(old, None, None)?.tasks.into_iter().map(|t| (t.id, (t.status, t.finished_at))).collect()
        }
        None => HashMap::new(),
    };
    let mut finished = Vec::new();
    let mut in_progress = Vec::new();
    let mut by_agent: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for task in &board.tasks {
        match task.status {
            Status::Done | Status::Failed | Status::Cancelled => {
                // Reported once: unless this same finish was seen last cycle.
                if old_finishes.get(&task.id) == Some(&(task.status, task.finished_at)) {
                    continue;
                }
                let by = task.finished_by.clone();
                if let Some(agent) = &by {
                    let entry = by_agent.entry(agent.clone()).or_default();
                    match task.status {
                        Status::Done => entry.0 += 1,
                        Status::Failed => entry.1 += 1,
                        _ => {}
                    }
                }
                finished.push(Finished {
                    task: TaskRef::of(task, &board, terms, vec![]),
                    outcome: task.status.as_str().into(),
                    result: task.result.clone(),
                    finished_by: by,
                    finished_at: task.finished_at,
                    took_secs: task.claimed_at.zip(task.finished_at).map(|(c, f)| (f - c).num_seconds()),
                });
            }
            Status::Claimed => in_progress.push(TaskRef::of(task, &board, terms, vec![])),
            Status::Open => {}
        }
    }
    finished.sort_by(|a, b| (a.finished_at, &a.task.id).cmp(&(b.finished_at, &b.task.id)));
    let now_topics = topic_blobs(snap)?;
    let old_topics = match &before {
        Some(old) => topic_blobs(old)?,
        None => BTreeMap::new(),
    };
    let mut knowledge_changes = Vec::new();
    for (topic, oid) in &now_topics {
        if old_topics.get(topic) != Some(oid) {
            let by = knowledge::read(snap, topic).ok().and_then(|t| t.updated_by);
            let change = if old_topics.contains_key(topic) { "changed" } else { "written" };
            knowledge_changes.push(TopicChange { topic: topic.clone(), change: change.into(), by });
        }
    }
    for topic in old_topics.keys().filter(|t| !now_topics.contains_key(*t)) {
        knowledge_changes.push(TopicChange { topic: topic.clone(), change: "removed".into(), by: None });
    }
    Ok(CycleReport {
        cycle,
        at: terms.now,
        tip: snap.commit.map(|c| c.to_string()).unwrap_or_default(),
        since: previous.map(|p| p.at),
        finished,
        in_progress,
        knowledge: knowledge_changes,
        by_agent,
    })
}

impl CycleReport {
    pub fn markdown(&self) -> String {
        let now = self.at;
        let since = self.since.map_or("the start".to_string(), |s| s.format("%Y-%m-%d %H:%M UTC").to_string());
        let mut md =
            format!("# Cycle {} report\n\n_From {since} to {}._\n\n", self.cycle, now.format("%Y-%m-%d %H:%M UTC"));
        let count = |o: &str| self.finished.iter().filter(|f| f.outcome == o).count();
        let _ = writeln!(
            md,
            "{} done, {} failed, {} cancelled, {} in progress.\n",
            count("done"),
            count("failed"),
            count("cancelled"),
            self.in_progress.len()
        );
        for (title, outcome) in [("Done", "done"), ("Failed", "failed"), ("Cancelled", "cancelled")] {
            let items: Vec<&Finished> = self.finished.iter().filter(|f| f.outcome == outcome).collect();
            if items.is_empty() {
                continue;
            }
            let _ = write!(md, "## {title}\n\n");
            for f in items {
                let took = f
                    .took_secs
                    .map_or(String::new(), |s| format!(", took {}", format_age(chrono::Duration::seconds(s))));
                let _ = writeln!(
                    md,
                    "- {} by {}{took}{}",
                    f.task.line(),
                    f.finished_by.as_deref().unwrap_or("?"),
                    f.result.as_deref().map_or(String::new(), |r| format!(": {}", terminal_safe(r)))
                );
            }
            md += "\n";
        }
        if !self.in_progress.is_empty() {
            md += "## In progress\n\n";
            for t in &self.in_progress {
                let _ = writeln!(
                    md,
                    "- {} by {}, {}",
                    t.line(),
                    t.claimed_by.as_deref().unwrap_or("?"),
                    lease_left(t, now)
                );
            }
            md += "\n";
        }
        if !self.by_agent.is_empty() {
            md += "## Who did what\n\n";
            for (agent, (done, failed)) in &self.by_agent {
                let _ = writeln!(md, "- {agent}: {done} done, {failed} failed");
            }
            md += "\n";
        }
        if !self.knowledge.is_empty() {
            md += "## Knowledge\n\n";
            for k in &self.knowledge {
                let _ = writeln!(
                    md,
                    "- `{}` {}{}",
                    k.topic,
                    k.change,
                    k.by.as_deref().map_or(String::new(), |b| format!(" by {b}"))
                );
            }
        }
        md
    }
}

/// Words worth matching between tasks and knowledge topics.
fn words(text: &str) -> BTreeSet<String> {
    const COMMON: &[&str] =
        &["with", "from", "that", "this", "into", "have", "will", "when", "what", "make", "task", "tasks", "using"];
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 4 && !COMMON.contains(&w.as_str()))
        .collect()
}

/// A knowledge topic that bears on the work, with an excerpt.
#[derive(Debug, Clone, Serialize)]
pub struct TopicHint {
    pub topic: String,
    pub why: String,
    pub excerpt: String,
    pub command: String,
}

/// What `orc brief` prints, as data.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub agent: Option<String>,
    pub workstream: Option<String>,
    pub tasks: Vec<TaskRef>,
    pub descriptions: BTreeMap<String, String>,
    pub next: Option<TaskRef>,
    pub locks: Vec<LockRef>,
    pub knowledge: Vec<TopicHint>,
    pub events: Vec<Event>,
    pub commands: Vec<String>,
    pub markdown: String,
}

const EXCERPT_CHARS: usize = 240;
const BRIEF_EVENTS: usize = 10;

fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > EXCERPT_CHARS {
        format!("{}…", flat.chars().take(EXCERPT_CHARS).collect::<String>())
    } else {
        flat
    }
}

/// Topics matching the tasks: named in a description (explicit), sharing a
/// workstream name, or sharing title words.
fn matching_topics(snap: &Snapshot<'_>, tasks: &[(&Task, String)]) -> Result<Vec<TopicHint>> {
    let topics = knowledge::list(snap)?.items;
    let mut hints = Vec::new();
    for topic in topics {
        let name = topic.topic.to_lowercase();
        let topic_words = words(&name.replace(['/', '-', '_', '.'], " "));
        let mut why = None;
        for (task, description) in tasks {
            if description.to_lowercase().contains(&name) {
                why = Some(format!("named in {}", task.id));
                break;
            }
            if topic_words.contains(&task.workstream.to_lowercase())
                || name.split('/').next() == Some(&task.workstream.to_lowercase())
            {
                why = Some(format!("about workstream {}", task.workstream));
            }
            let shared: Vec<String> = topic_words.intersection(&words(&task.title)).cloned().collect();
            if why.is_none() && !shared.is_empty() {
                why = Some(format!("shares \"{}\" with {}", shared.join("\", \""), task.id));
            }
        }
        if let Some(why) = why {
            let text = knowledge::read(snap, &topic.topic).ok().and_then(|t| t.text).unwrap_or_default();
            hints.push(TopicHint {
                command: format!("orc kb read {}", topic.topic),
                topic: topic.topic,
                why,
                excerpt: excerpt(&text),
            });
        }
    }
    Ok(hints)
}

/// Briefs `agent` (its claims, or what to take next), or, with
/// `workstream`, the top ready task of that workstream.
pub fn compute_brief(
    snap: &Snapshot<'_>,
    terms: &Terms,
    agent: Option<&str>,
    workstream: Option<&str>,
) -> Result<Brief> {
    let liveness = Liveness::load(snap.store, terms.now);
    let board = Board::load(snap, workstream, Some(&liveness))?;
    let now = terms.now;
    let me = agent.unwrap_or("<you>");
    let mine: Vec<&Task> = match agent {
        Some(a) => board
            .tasks
            .iter()
            .filter(|t| t.status == Status::Claimed && t.claimed_by.as_deref() == Some(a))
            .filter(|t| !t.lease_expired(terms, board.holder_seen(t)))
            .collect(),
        None => Vec::new(),
    };
    let ready = board.ready(snap, terms)?;
    let mut observed = Observations::load(snap.store);
    let all = all_locks(snap)?.items;
    observed.observe(&all, now);
    let live: Vec<&crate::model::lock::Lock> =
        all.iter().filter(|l| l.is_live(&observed.clock(Some(l), now, terms.grace))).collect();
    // What to take next: the best ready task whose resources are free.
    let busy = busy_resources(&board, &live, terms);
    let next = if mine.is_empty() {
        ready.iter().find(|t| t.resources.iter().all(|r| !busy.contains_key(r))).copied()
    } else {
        None
    };
    let focus: Vec<&Task> = if mine.is_empty() { next.into_iter().collect() } else { mine.clone() };

    let mut descriptions = BTreeMap::new();
    let mut refs = Vec::new();
    for task in &focus {
        descriptions.insert(task.id.clone(), task.description.clone());
        let waits: Vec<Blocker> = task
            .after
            .iter()
            .map(|dep| Blocker { id: dep.clone(), status: snap.task_by_id(dep).ok().flatten().map(|t| t.status) })
            .collect();
        refs.push(TaskRef::of(task, &board, terms, waits));
    }
    let focus_text: Vec<(&Task, String)> =
        focus.iter().map(|t| (*t, format!("{} {}", t.title, t.description))).collect();
    let knowledge = matching_topics(snap, &focus_text)?;

    let locks: Vec<LockRef> = live
        .iter()
        .filter(|l| agent.is_some() && l.holder.as_deref() == agent)
        .map(|l| LockRef { resource: l.resource.clone(), holder: me.into(), expires_at: l.expires_at, token: l.token })
        .collect();

    let streams: BTreeSet<&str> = match workstream {
        Some(ws) => [ws].into(),
        None => focus.iter().map(|t| t.workstream.as_str()).collect(),
    };
    let recent = query(snap, &EventQuery { last: Some(200), ..Default::default() })?.items;
    let events: Vec<Event> = recent
        .into_iter()
        .rev()
        .filter(|e| {
            e.data.get("workstream").and_then(|w| w.as_str()).is_some_and(|w| streams.contains(w))
                || agent.is_some_and(|a| e.agent == a)
        })
        .take(BRIEF_EVENTS)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();

    let mut commands = Vec::new();
    for task in &refs {
        if !mine.is_empty() {
            let token = board.tasks.iter().find(|t| t.id == task.id).map_or(0, |t| t.claim_token);
            commands.push(format!("orc complete {} \"<what you did>\" --agent {me} --token {token}", task.id));
            commands.push(format!("orc fail {} \"<why it cannot be done>\" --agent {me} --token {token}", task.id));
        } else {
            commands.push(format!("orc t claim {} --agent {me}", task.id));
        }
    }
    commands.push(format!("orc a heartbeat {me} --status \"<what you are doing>\""));
    commands.push(format!("orc log progress --data '{{\"note\":\"<progress>\"}}' --agent {me}"));
    commands.push(format!("orc kb write <topic> \"<what others should know>\" --agent {me}"));

    let mut md = match (agent, workstream) {
        (Some(a), _) => format!("# Brief for {a}\n\n"),
        (None, Some(ws)) => format!("# Brief: next task in {ws}\n\n"),
        (None, None) => "# Brief\n\n".into(),
    };
    let _ = writeln!(md, "_State as of {}._\n", now.format("%Y-%m-%d %H:%M UTC"));
    if !mine.is_empty() {
        md += "## Your tasks\n\n";
    } else if next.is_some() {
        md += if agent.is_some() { "## Next\n\nYou hold no task. The best ready one:\n\n" } else { "## Task\n\n" };
    } else {
        md += "## Next\n\nNothing is ready: no task is claimable now. Check back later (`orc ready`).\n\n";
    }
    for task in &refs {
        let _ = writeln!(md, "### {} — {}\n", task.id, terminal_safe(&task.title));
        let _ = writeln!(md, "- Workstream: {} · priority {}", task.workstream, task.priority);
        if task.status == Status::Claimed {
            let _ = writeln!(md, "- Claimed, {}", lease_left(task, now));
        }
        if !task.waits_for.is_empty() {
            let deps: Vec<String> = task
                .waits_for
                .iter()
                .map(|b| format!("{} ({})", b.id, b.status.map_or("missing", Status::as_str)))
                .collect();
            let _ = writeln!(md, "- Depends on: {}", deps.join(", "));
        }
        if !task.resources.is_empty() {
            let _ = writeln!(
                md,
                "- Touches: {} (take `orc lock run <resource> -- …` around the work)",
                task.resources.join(", ")
            );
        }
        let description = descriptions.get(&task.id).map(String::as_str).unwrap_or_default();
        if !description.is_empty() {
            let _ = writeln!(md, "\n{}\n", terminal_safe(description));
        } else {
            md += "\n";
        }
    }
    if !locks.is_empty() {
        md += "## Locks you hold\n\n";
        for l in &locks {
            let _ = writeln!(md, "- `{}` until {} (token {})", l.resource, short_time(l.expires_at, now), l.token);
        }
        md += "\n";
    }
    if !knowledge.is_empty() {
        md += "## Knowledge that bears on this\n\n";
        for k in &knowledge {
            let _ = writeln!(md, "- `{}` ({}): {} — `{}`", k.topic, k.why, terminal_safe(&k.excerpt), k.command);
        }
        md += "\n";
    }
    if !events.is_empty() {
        md += "## Recent activity\n\n";
        for e in &events {
            let _ = writeln!(md, "- {} {} {}", e.ts.format("%H:%M"), e.agent, e.kind);
        }
        md += "\n";
    }
    md += "## Report back\n\n```sh\n";
    for c in &commands {
        md += c;
        md.push('\n');
    }
    md += "```\n";
    Ok(Brief {
        agent: agent.map(str::to_string),
        workstream: workstream.map(str::to_string),
        tasks: refs,
        descriptions,
        next: next.map(|t| TaskRef::of(t, &board, terms, vec![])),
        locks,
        knowledge,
        events,
        commands,
        markdown: md,
    })
}
