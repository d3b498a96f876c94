//! Reads that the servers answer with the §5 JSON objects: a task judged
//! now, the ready list, an agent, an agent's brief. The CLI builds the same
//! objects for `--json` next to its human output; the HTTP and MCP front
//! ends need only the objects, so they come from here.
//!
//! Rules this module keeps:
//! - A task is judged (lease, expiry) against the branch as it is after the
//!   call and against this machine's observations of signs of life, as the
//!   CLI judges it: no front end reports a lease another would not.
//! - Before the branch exists, a listing is empty and a lookup is `not_found`.

use serde_json::Value;

use super::views::{agent_json, task_json, TaskFacts};
use super::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::agent::Agent;
use crate::model::task::{Task, Terms};
use crate::read::board::Board;
use crate::read::cycle::{compute_brief, Brief};
use crate::read::liveness::Liveness;
use crate::read::Snapshot;
use crate::session::Session;

/// The terms a read judges leases by: the session's "now" and the branch's
/// settings (the defaults stand in for a broken orc.toml).
fn terms(snap: &Snapshot<'_>, session: &Session) -> Terms {
    let settings = snap.settings().0;
    Terms { now: session.clock.now(), lease: settings.lease, grace: settings.expiry_slack }
}

fn no_branch_yet() -> Error {
    Error::new(Kind::NotFound, "there is no orc branch yet, so no tasks")
        .with_hint("create a workstream and add a task first")
}

/// The task object for a task an operation returned, judged against the
/// branch after it.
pub fn task_view(repo: &Repo, session: &Session, task: &Task) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let terms = terms(&snap, session);
    let liveness = Liveness::load(&store, terms.now);
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&liveness));
    Ok(task_json(task, &terms, &TaskFacts { holder_seen, blocked_by: None }))
}

/// One task (id or unique prefix) with what blocks it.
pub fn show_task(repo: &Repo, session: &Session, id: &str) -> Result<Value> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    if snap.commit.is_none() {
        return Err(no_branch_yet());
    }
    let task = snap.find_task(id, None)?;
    let terms = terms(&snap, session);
    let blockers = crate::read::board::blockers(&snap, &task, &Default::default())?;
    let liveness = Liveness::load(&store, terms.now);
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&liveness));
    Ok(task_json(&task, &terms, &TaskFacts { holder_seen, blocked_by: Some(&blockers) }))
}

/// What can be claimed now (of one workstream, or any), best first: at
/// most `limit` task objects, and how many are ready in all.
pub fn ready(repo: &Repo, session: &Session, ws: Option<&str>, limit: usize) -> Result<(Vec<Value>, usize)> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    if let Some(ws) = ws {
        if snap.commit.is_some() {
            snap.require_workstream(ws)?;
        }
    }
    let terms = terms(&snap, session);
    let board = Board::load(&snap, ws, Some(&Liveness::load(&store, terms.now)))?;
    let ready = board.ready(&snap, &terms)?;
    let mut views = Vec::with_capacity(ready.len().min(limit));
    for task in ready.iter().take(limit) {
        let blocked_by = board.blockers(&snap, task)?;
        let facts = TaskFacts { holder_seen: board.holder_seen(task), blocked_by: Some(&blocked_by) };
        views.push(task_json(task, &terms, &facts));
    }
    Ok((views, ready.len()))
}

/// The agent object for an agent an operation returned.
pub fn agent_view(repo: &Repo, session: &Session, agent: &Agent) -> Result<Value> {
    let settings = repo.read(|snap| Ok(snap.settings().0))?;
    Ok(agent_json(agent, &settings, session.clock.now()))
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

pub use crate::read::events::EventQuery;
pub use crate::read::knowledge::Topic;

/// Events matching `query`, oldest first, and the event files that did
/// not parse (skipped, reported).
pub fn events(repo: &Repo, query: &EventQuery) -> Result<(Vec<crate::model::event::Event>, Vec<Error>)> {
    let found = repo.read(|snap| crate::read::events::query(snap, query))?;
    Ok((found.items, found.broken))
}

/// One knowledge topic with its text.
pub fn topic(repo: &Repo, topic: &str) -> Result<Topic> {
    repo.read(|snap| crate::read::knowledge::read(snap, topic))
}

/// Every knowledge topic without its text, sorted, and the metadata files
/// that did not parse.
pub fn topics(repo: &Repo) -> Result<(Vec<Topic>, Vec<Error>)> {
    let found = repo.read(crate::read::knowledge::list)?;
    Ok((found.items, found.broken))
}
