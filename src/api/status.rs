//! The status report (the seed's statusText): counts, workstreams, agents,
//! claims, what is ready, locks and recent events, as one value every front
//! end shows its own way, and as the JSON object `GET /api/status` and
//! `orc status --json` return.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::views::{agent_json, lock_json, task_json, ts, ws_json, Counts, TaskFacts};
use super::{JudgedLocks, Repo};
use crate::error::{Error, Result};
use crate::model::agent::Agent;
use crate::model::event::Event;
use crate::model::settings::Settings;
use crate::model::task::{Status, Task, Terms};
use crate::model::workstream::Workstream;
use crate::read::board::{Board, HeadFor};
use crate::read::events::{query, EventQuery};
use crate::read::Snapshot;
use crate::session::Session;

/// Ready tasks listed; the rest are counted.
pub const READY_SHOWN: usize = 10;
/// Recent events listed.
pub const RECENT_EVENTS: usize = 8;

/// Everything `status` shows, judged at the session's "now".
pub struct StatusReport {
    pub branch: String,
    /// None before the branch exists.
    pub tip: Option<String>,
    /// When the newest commit was made.
    pub as_of: Option<DateTime<Utc>>,
    pub settings: Settings,
    pub terms: Terms,
    pub total: Counts,
    /// Workstreams by priority, then name, with their counts.
    pub workstreams: Vec<(Workstream, Counts)>,
    /// Agents by id.
    pub agents: Vec<Agent>,
    pub stale_agents: usize,
    /// The head of the board (`Board::load_head`): claimed tasks, tasks
    /// waiting for others and the best ready ones, not every task.
    pub board: Board,
    /// Indexes into `board.tasks`: claimed tasks, oldest claim first.
    pub claimed: Vec<usize>,
    /// Indexes into `board.tasks`: the best ready tasks (at most `READY_SHOWN`).
    pub ready: Vec<usize>,
    pub ready_count: usize,
    pub locks: JudgedLocks,
    pub events: Vec<Event>,
    /// Files that did not parse (skipped, reported).
    pub broken: Vec<Error>,
}

impl StatusReport {
    pub fn claimed_tasks(&self) -> impl Iterator<Item = &Task> {
        self.claimed.iter().map(|i| &self.board.tasks[*i])
    }

    pub fn ready_tasks(&self) -> impl Iterator<Item = &Task> {
        self.ready.iter().map(|i| &self.board.tasks[*i])
    }

    pub fn facts<'t>(&self, task: &'t Task) -> TaskFacts<'t> {
        TaskFacts { holder_seen: self.board.holder_seen(task), blocked_by: None }
    }

    /// The ids of the tasks `agent` holds.
    pub fn claims_of(&self, agent: &str) -> Vec<&str> {
        self.claimed_tasks().filter(|t| t.claimed_by.as_deref() == Some(agent)).map(|t| t.id.as_str()).collect()
    }

    /// The status object.
    pub fn to_json(&self) -> Value {
        if self.tip.is_none() {
            return json!({"branch": self.branch, "tip": null, "workstreams": [], "agents": [], "tasks": Counts::default().json()});
        }
        let now = self.terms.now;
        json!({
            "branch": self.branch,
            "tip": self.tip,
            "as_of": ts(self.as_of),
            "tasks": self.total.json(),
            "workstreams": self.workstreams.iter().map(|(ws, c)| ws_json(ws, c)).collect::<Vec<_>>(),
            "agents": self.agents.iter().map(|a| {
                let mut value = agent_json(a, &self.settings, now);
                value["claims"] = json!(self.claims_of(&a.id));
                value
            }).collect::<Vec<_>>(),
            "stale_agents": self.stale_agents,
            "claimed": self.claimed_tasks().map(|t| task_json(t, &self.terms, &self.facts(t))).collect::<Vec<_>>(),
            "ready": self.ready_tasks().map(|t| task_json(t, &self.terms, &self.facts(t))).collect::<Vec<_>>(),
            "ready_count": self.ready_count,
            "locks": self.locks.iter().map(|(l, expired)| lock_json(l, *expired)).collect::<Vec<_>>(),
            "events": self.events.iter().map(|e| serde_json::to_value(e).expect("events serialise")).collect::<Vec<_>>(),
        })
    }
}

/// Builds the status report.
pub fn status(repo: &Repo, session: &Session) -> Result<StatusReport> {
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let (settings, settings_problem) = snap.settings();
    let now = session.clock.now();
    let terms = Terms { now, lease: settings.lease, grace: settings.expiry_slack };
    let Some(tip) = snap.commit else {
        return Ok(StatusReport {
            branch: repo.branch().to_string(),
            tip: None,
            as_of: None,
            settings,
            terms,
            total: Counts::default(),
            workstreams: vec![],
            agents: vec![],
            stale_agents: 0,
            board: Board::default(),
            claimed: vec![],
            ready: vec![],
            ready_count: 0,
            locks: vec![],
            events: vec![],
            broken: vec![],
        });
    };
    let liveness = crate::read::liveness::Liveness::load(&store, now);
    // Only the head of the board: counts come from the task index, so
    // status costs the same at 100 tasks and at 100,000.
    let head = Board::load_head(&snap, None, Some(&liveness), READY_SHOWN, HeadFor::Report)?;
    let mut broken = head.board.broken.clone();
    broken.extend(settings_problem);

    let names = snap.workstream_names()?;
    broken.extend(names.broken);
    let mut per_ws: BTreeMap<&str, Counts> = names.items.iter().map(|n| (n.as_str(), Counts::default())).collect();
    let mut total = Counts::default();
    for (name, counts) in &head.counts {
        let entry = per_ws.entry(name.as_str()).or_default();
        for (i, count) in counts.iter().enumerate() {
            entry.by_status[i] += count;
            total.by_status[i] += count;
        }
    }
    let mut workstreams = Vec::new();
    for name in &names.items {
        match snap.workstream(name) {
            Ok(Some(ws)) if ws.archived => {}
            Ok(Some(ws)) => workstreams.push((ws, per_ws[name.as_str()])),
            Ok(None) => {}
            Err(e) => broken.push(e),
        }
    }
    workstreams.sort_by(|(a, _), (b, _)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));

    let agents = snap.agents()?;
    let mut agents_sorted = agents.items;
    agents_sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let stale = agents_sorted.iter().filter(|a| a.is_stale(now, settings.stale_after, settings.clock_grace)).count();

    let ready_count = head.ready_count(&snap, &terms)?;
    let board = head.board;
    let mut claimed: Vec<usize> =
        (0..board.tasks.len()).filter(|i| board.tasks[*i].status == Status::Claimed).collect();
    claimed.sort_by(|a, b| {
        let (a, b) = (&board.tasks[*a], &board.tasks[*b]);
        (a.claimed_at, &a.id).cmp(&(b.claimed_at, &b.id))
    });
    let mut ready = board.ready_indexes(&snap, &terms)?;
    ready.truncate(READY_SHOWN);
    let as_of = store.commit_time(tip).ok();
    drop(snap);
    drop(store);

    let (locks, lock_problems) = repo.judged_locks(session, false)?;
    broken.extend(lock_problems);
    let events = repo.read(|snap| query(snap, &EventQuery { last: Some(RECENT_EVENTS), ..Default::default() }))?;
    broken.extend(events.broken.iter().cloned());
    Ok(StatusReport {
        branch: repo.branch().to_string(),
        tip: Some(tip.to_string()),
        as_of,
        settings,
        terms,
        total,
        workstreams,
        agents: agents_sorted,
        stale_agents: stale,
        board,
        claimed,
        ready,
        ready_count,
        locks,
        events: events.items,
        broken,
    })
}
