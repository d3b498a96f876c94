//! The reads a network front end answers with (`orc serve`, and `orc mcp`
//! if it likes): each returns the §5 JSON object or array, judged at the
//! session's "now" and by what this machine observed of its agents' signs
//! of life, exactly as the CLI's `--json` does.
//!
//! Rules this module keeps:
//! - [`tip`] is read before the data it labels, by the caller: a label
//!   older than the data it came with only makes a later `If-Match`
//!   stricter, never looser.
//! - Files that did not parse are skipped here (the CLI warns about them;
//!   `orc doctor` lists them); a read never fails because one record is
//!   broken.
//! - Nothing here writes.
//! - The typed variants (`ready_page`, `event_items`, `topic_item`,
//!   `topic_items`) serve `orc mcp`, which adds paging and notices of its
//!   own around the same objects.

use serde_json::{json, Value};

use super::views::{agent_json, task_json, task_out, ws_json, Counts, TaskFacts, TaskOut};
use super::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::agent::Agent;
use crate::model::names::WorkstreamName;
use crate::model::task::{Status, Task, Terms};
use crate::read::board::{Board, HeadFor};
use crate::read::cycle::{compute_brief, Brief};
pub use crate::read::events::EventQuery;
pub use crate::read::knowledge::Topic;
use crate::read::liveness::Liveness;
use crate::read::Snapshot;
use crate::session::Session;

/// The branch's tip (a commit id), or None before the branch exists.
pub fn tip(repo: &Repo) -> Result<Option<String>> {
    Ok(repo.store()?.tip()?.map(|oid| oid.to_string()))
}

fn terms(snap: &Snapshot<'_>, session: &Session) -> Terms {
    let (settings, _) = snap.settings();
    Terms { now: session.clock.now(), lease: settings.lease, grace: settings.expiry_slack }
}

fn no_branch_yet() -> Error {
    Error::new(Kind::NotFound, "there is no orc branch yet, so no tasks")
        .with_hint("create a workstream and add a task; the first write creates the branch")
}

/// The task object of a task an operation returned, judged against the
/// branch after it.
pub fn task_view(repo: &Repo, session: &Session, task: &Task) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let liveness = Liveness::load(&store, session.clock.now());
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&liveness));
    Ok(task_json(task, &terms(&snap, session), &TaskFacts { holder_seen, blocked_by: None }))
}

/// One task (id or unique prefix) with what blocks it.
pub fn show_task(repo: &Repo, session: &Session, id: &str) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    if snap.commit.is_none() {
        return Err(no_branch_yet());
    }
    let task = snap.find_task(id, None)?;
    let blockers = crate::read::board::blockers(&snap, &task, &Default::default())?;
    let liveness = Liveness::load(&store, session.clock.now());
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&liveness));
    Ok(task_json(&task, &terms(&snap, session), &TaskFacts { holder_seen, blocked_by: Some(&blockers) }))
}

/// Which tasks a listing shows.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub workstream: Option<WorkstreamName>,
    pub status: Option<Status>,
    /// Only tasks this agent holds now.
    pub holder: Option<String>,
}

/// The board of one workstream (checked to exist) or of every one.
fn board(snap: &Snapshot<'_>, session: &Session, ws: Option<&WorkstreamName>) -> Result<Board> {
    listing_board(snap, session, ws, None, false)
}

/// What a listing of `status` tasks (claimed ones only when `by_holder`)
/// needs of that board (`Board::load_listing`).
fn listing_board(
    snap: &Snapshot<'_>,
    session: &Session,
    ws: Option<&WorkstreamName>,
    status: Option<Status>,
    by_holder: bool,
) -> Result<Board> {
    if let (Some(ws), Some(_)) = (ws, snap.commit) {
        snap.require_workstream(ws)?;
    }
    let liveness = Liveness::load(snap.store, session.clock.now());
    Board::load_listing(snap, ws.map(WorkstreamName::as_str), Some(&liveness), status, by_holder)
}

/// Tasks as a JSON array, each with what blocks it, in the CLI's order
/// (workstream, status, then claim order).
fn task_array(snap: &Snapshot<'_>, board: &Board, tasks: &[&Task], terms: &Terms) -> Result<Value> {
    let blockers: Vec<_> = tasks.iter().map(|t| board.blockers(snap, t)).collect::<Result<_>>()?;
    let outs: Vec<TaskOut<'_>> = tasks
        .iter()
        .zip(&blockers)
        .map(|(task, blocked_by)| {
            task_out(task, terms, &TaskFacts { holder_seen: board.holder_seen(task), blocked_by: Some(blocked_by) })
        })
        .collect();
    Ok(serde_json::to_value(outs).expect("task output serialises"))
}

/// Tasks matching `filter`.
pub fn list_tasks(repo: &Repo, session: &Session, filter: &TaskFilter) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let board = listing_board(&snap, session, filter.workstream.as_ref(), filter.status, filter.holder.is_some())?;
    let terms = terms(&snap, session);
    let mut tasks: Vec<&Task> = board
        .tasks
        .iter()
        .filter(|t| filter.status.is_none_or(|s| t.status == s))
        .filter(|t| {
            filter.holder.as_deref().is_none_or(|h| t.claimed_by.as_deref() == Some(h) && t.status == Status::Claimed)
        })
        .collect();
    tasks.sort_by(|a, b| {
        (a.workstream.as_str(), a.status, a.next_order()).cmp(&(b.workstream.as_str(), b.status, b.next_order()))
    });
    task_array(&snap, &board, &tasks, &terms)
}

/// Every task in `status`, of every workstream (archived ones too).
pub fn tasks_in_status(repo: &Repo, status: Status) -> Result<Vec<Task>> {
    repo.read(|snap| Ok(snap.all_tasks()?.items.into_iter().filter(|t| t.status == status).collect()))
}

/// The tasks that can be claimed now, best first.
pub fn ready(repo: &Repo, session: &Session, ws: Option<&WorkstreamName>) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let board = board(&snap, session, ws)?;
    let terms = terms(&snap, session);
    let ready = board.ready(&snap, &terms)?;
    task_array(&snap, &board, &ready, &terms)
}

/// Every workstream (archived ones too, marked), by priority then name,
/// with task counts.
pub fn workstreams(repo: &Repo) -> Result<Value> {
    repo.read(|snap| {
        let mut rows = Vec::new();
        for name in snap.workstream_names()?.items {
            let Ok(Some(ws)) = snap.workstream(&name) else { continue };
            let mut counts = Counts::default();
            snap.tasks(&name)?.items.iter().for_each(|t| counts.add(t.status));
            rows.push((ws, counts));
        }
        rows.sort_by(|(a, _), (b, _)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        Ok(Value::Array(rows.iter().map(|(ws, c)| ws_json(ws, c)).collect()))
    })
}

/// One workstream with its counts and its tasks (`task_list`).
pub fn workstream(repo: &Repo, session: &Session, name: &WorkstreamName) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let ws = snap.workstream(name)?.ok_or_else(|| {
        Error::new(Kind::NotFound, format!("no workstream named {name}")).with("workstream", name.as_str())
    })?;
    let board = board(&snap, session, Some(name))?;
    let terms = terms(&snap, session);
    let mut counts = Counts::default();
    board.tasks.iter().for_each(|t| counts.add(t.status));
    let mut tasks: Vec<&Task> = board.tasks.iter().collect();
    tasks.sort_by(|a, b| (a.status, a.next_order()).cmp(&(b.status, b.next_order())));
    let mut json = ws_json(&ws, &counts);
    json["task_list"] = task_array(&snap, &board, &tasks, &terms)?;
    Ok(json)
}

/// The agent object of DESIGN §5, judged at the session's "now".
pub fn agent_view(repo: &Repo, session: &Session, agent: &Agent) -> Result<Value> {
    repo.read(|snap| Ok(agent_json(agent, &snap.settings().0, session.clock.now())))
}

/// Every agent, by id.
pub fn agents(repo: &Repo, session: &Session) -> Result<Value> {
    repo.read(|snap| {
        let settings = snap.settings().0;
        let mut agents = snap.agents()?.items;
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Value::Array(agents.iter().map(|a| agent_json(a, &settings, session.clock.now())).collect()))
    })
}

/// Events matching `query`, oldest first.
pub fn events(repo: &Repo, query: &EventQuery) -> Result<Value> {
    let found = repo.read(|snap| crate::read::events::query(snap, query))?;
    Ok(Value::Array(found.items.iter().map(|e| serde_json::to_value(e).expect("events serialise")).collect()))
}

/// Parses a `since` filter: a time, a date, or a duration back from now.
pub fn parse_since(text: &str, session: &Session) -> Result<chrono::DateTime<chrono::Utc>> {
    crate::read::events::parse_since(text, session.clock.now())
}

/// Every knowledge topic with its metadata.
pub fn topics(repo: &Repo) -> Result<Value> {
    let found = repo.read(crate::read::knowledge::list)?;
    Ok(serde_json::to_value(found.items).expect("topics serialise"))
}

/// One topic: its metadata, and its text as `content` (the seed's name)
/// and `text`.
pub fn topic(repo: &Repo, name: &str) -> Result<Value> {
    let topic = repo.read(|snap| crate::read::knowledge::read(snap, name))?;
    let mut json = serde_json::to_value(&topic).expect("topics serialise");
    json["content"] = json!(topic.text.unwrap_or_default());
    Ok(json)
}

/// The dashboard page (docs/index.html's template) as of the tip; `live`
/// adds the live page's script and forms.
pub fn dashboard_page(repo: &Repo, live: bool) -> Result<String> {
    repo.read(|snap| crate::render::render_page(snap, repo.branch(), live))
}

/// What can be claimed now (of one workstream, or any), best first: at
/// most `limit` task objects, and how many are ready in all.
pub fn ready_page(repo: &Repo, session: &Session, ws: Option<&str>, limit: usize) -> Result<(Vec<Value>, usize)> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    if let Some(ws) = ws {
        if snap.commit.is_some() {
            snap.require_workstream(ws)?;
        }
    }
    let terms = terms(&snap, session);
    let head = Board::load_head(&snap, ws, Some(&Liveness::load(&store, terms.now)), limit, HeadFor::Report)?;
    let total = head.ready_count(&snap, &terms)?;
    let board = &head.board;
    let ready = board.ready(&snap, &terms)?;
    let mut views = Vec::with_capacity(ready.len().min(limit));
    for task in ready.iter().take(limit) {
        let blocked_by = board.blockers(&snap, task)?;
        let facts = TaskFacts { holder_seen: board.holder_seen(task), blocked_by: Some(&blocked_by) };
        views.push(task_json(task, &terms, &facts));
    }
    Ok((views, total))
}

/// `orc brief <agent>` for an agent: its claimed tasks with descriptions,
/// or what to take next, its locks, the knowledge that bears on its work,
/// recent events and how to report back.
pub fn agent_brief(repo: &Repo, session: &Session, agent: &str) -> Result<Brief> {
    crate::model::names::check_name(crate::model::names::NameKind::Agent, agent)?;
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let terms = terms(&snap, session);
    compute_brief(&snap, &terms, Some(agent), None)
}

/// Events matching `query`, oldest first, and the event files that did
/// not parse (skipped, reported).
pub fn event_items(repo: &Repo, query: &EventQuery) -> Result<(Vec<crate::model::event::Event>, Vec<Error>)> {
    let found = repo.read(|snap| crate::read::events::query(snap, query))?;
    Ok((found.items, found.broken))
}

/// One knowledge topic with its text.
pub fn topic_item(repo: &Repo, topic: &str) -> Result<Topic> {
    repo.read(|snap| crate::read::knowledge::read(snap, topic))
}

/// Every knowledge topic without its text, sorted, and the metadata files
/// that did not parse.
pub fn topic_items(repo: &Repo) -> Result<(Vec<Topic>, Vec<Error>)> {
    let found = repo.read(crate::read::knowledge::list)?;
    Ok((found.items, found.broken))
}
