//! The JSON objects of DESIGN §5 (task, agent, lock, workstream), built
//! once here for every front end: the CLI's `--json`, and the HTTP and MCP
//! servers' bodies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::agent::Agent;
use crate::model::lock::Lock;
use crate::model::settings::Settings;
use crate::model::task::{Blocker, Status, Task, Terms};
use crate::model::workstream::Workstream;

/// A time as the JSON objects show it (RFC 3339, seconds, `Z`), or null.
pub fn ts(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

/// Facts about a task that depend on other records: the effective lease and
/// what blocks it.
pub struct TaskFacts<'a> {
    pub holder_seen: Option<DateTime<Utc>>,
    pub blocked_by: Option<&'a [Blocker]>,
}

/// The task object of DESIGN §5 (every field present, null when unset),
/// borrowed so long listings serialise without building a `Value` each.
/// Its JSON Schema describes the object in `orc serve`'s OpenAPI document.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Task")]
pub struct TaskOut<'a> {
    id: &'a str,
    workstream: &'a str,
    title: &'a str,
    description: &'a str,
    priority: u8,
    status: Status,
    claimed_by: Option<&'a str>,
    /// RFC 3339, or null.
    #[schemars(with = "Option<String>")]
    claimed_at: Value,
    /// RFC 3339, or null.
    #[schemars(with = "Option<String>")]
    lease_expires: Value,
    lease_expired: bool,
    claim_token: u64,
    after: &'a [String],
    resources: &'a [String],
    result: Option<&'a str>,
    /// RFC 3339, or null.
    #[schemars(with = "Option<String>")]
    created_at: Value,
    created_by: &'a str,
    /// RFC 3339, or null.
    #[schemars(with = "Option<String>")]
    finished_at: Value,
    finished_by: Option<&'a str>,
    /// RFC 3339, or null.
    #[schemars(with = "Option<String>")]
    updated_at: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked_by: Option<&'a [Blocker]>,
}

pub fn task_out<'a>(task: &'a Task, terms: &Terms, facts: &TaskFacts<'a>) -> TaskOut<'a> {
    TaskOut {
        id: &task.id,
        workstream: &task.workstream,
        title: &task.title,
        description: &task.description,
        priority: task.priority,
        status: task.status,
        claimed_by: task.claimed_by.as_deref(),
        claimed_at: ts(task.claimed_at),
        lease_expires: ts(task.lease_end(facts.holder_seen, terms.lease)),
        lease_expired: task.lease_expired(terms, facts.holder_seen),
        claim_token: task.claim_token,
        after: &task.after,
        resources: &task.resources,
        result: task.result.as_deref(),
        created_at: ts(Some(task.created_at)),
        created_by: &task.created_by,
        finished_at: ts(task.finished_at),
        finished_by: task.finished_by.as_deref(),
        updated_at: ts(Some(task.updated_at)),
        blocked_by: facts.blocked_by,
    }
}

pub fn task_json(task: &Task, terms: &Terms, facts: &TaskFacts<'_>) -> Value {
    serde_json::to_value(task_out(task, terms, facts)).expect("task output serialises")
}

/// The agent object of DESIGN §5.
pub fn agent_json(agent: &Agent, settings: &Settings, now: DateTime<Utc>) -> Value {
    json!({
        "id": agent.id,
        "role": agent.role,
        "registered_at": ts(Some(agent.registered_at)),
        "last_seen": ts(Some(agent.last_seen)),
        "status": agent.status,
        "stale": agent.is_stale(now, settings.stale_after, settings.clock_grace),
    })
}

/// The lock object of DESIGN §5, with whether this machine judges it expired.
pub fn lock_json(lock: &Lock, expired: bool) -> Value {
    json!({
        "resource": lock.resource,
        "holder": lock.holder,
        "acquired_at": ts(Some(lock.acquired_at)),
        "expires_at": ts(Some(lock.expires_at)),
        "token": lock.token,
        "expired": expired,
        "released_at": ts(lock.released_at),
        "released_by": lock.released_by,
    })
}

/// The workstream object, with its task counts.
pub fn ws_json(ws: &Workstream, counts: &Counts) -> Value {
    json!({
        "name": ws.name,
        "description": ws.description,
        "priority": ws.priority,
        "created_at": ts(Some(ws.created_at)),
        "created_by": ws.created_by,
        "archived": ws.archived,
        "tasks": counts.json(),
    })
}

/// Tasks per status.
/// Tasks per status.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub by_status: [usize; 5],
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        self.by_status[status as usize] += 1;
    }
    pub fn get(&self, status: Status) -> usize {
        self.by_status[status as usize]
    }
    pub fn total(&self) -> usize {
        self.by_status.iter().sum()
    }
    pub fn json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for status in Status::ALL {
            map.insert(status.as_str().into(), Value::from(self.get(status)));
        }
        map.insert("total".into(), Value::from(self.total()));
        Value::Object(map)
    }
    /// Done and total, where cancelled tasks do not count toward the total.
    pub fn done_of(&self) -> (usize, usize) {
        (self.get(Status::Done), self.total() - self.get(Status::Cancelled))
    }
}
