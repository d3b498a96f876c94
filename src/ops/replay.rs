//! Replaying operations on top of another tip: the heart of `orc sync`.
//!
//! Every commit orc makes carries its operation in the `Orc-Op` trailer
//! (name, whole input, actor, time, id). To publish local work onto a remote
//! that moved, each local operation the remote lacks is checked again, in
//! order, on top of the remote's tip, as the same actor at the same time with
//! the same id. One that no longer holds (a claim another machine won) is
//! dropped with the refusal that says why; the rest become new commits.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::agent::{Heartbeat, RegisterAgent};
use super::cycle::{CloseCycle, WritePlan};
use super::events::{HookEvent, LogEvent};
use super::knowledge::{RemoveTopic, WriteTopic};
use super::lock::{AcquireLock, Observations, ReleaseLock};
use super::task::{AddTask, ChangeTask, ClaimTask, FinishTask};
use super::workstream::CreateWorkstream;
use super::{Operation, Orc};
use crate::error::{Error, Result};
use crate::model::knowledge::topic_path;
use crate::model::task::Actor;
use crate::store::ObjectId;

/// One operation as a commit recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub commit: ObjectId,
    pub id: String,
    pub op: String,
    pub input: Value,
    pub details: Map<String, Value>,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub subject: String,
}

/// What replaying one operation did.
#[derive(Debug)]
pub enum Replayed {
    /// Checked again and written as this new commit.
    Applied(ObjectId),
    /// No longer holds on the new tip; the refusal says why.
    Dropped(Error),
}

/// The operation a commit records, or None for a commit without a trailer
/// (the root, or a hand edit).
pub fn recorded(orc: &Orc, commit: ObjectId) -> Result<Option<Recorded>> {
    let message = orc.store.commit_message(commit)?;
    let subject = message.lines().next().unwrap_or_default().trim_start_matches("orc: ").to_string();
    let Some(trailer) = message.lines().rev().find_map(|l| l.strip_prefix("Orc-Op: ")) else { return Ok(None) };
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(trailer) else { return Ok(None) };
    let text =
        |fields: &mut Map<String, Value>, key: &str| fields.remove(key).and_then(|v| v.as_str().map(str::to_string));
    let (Some(id), Some(op), Some(by), Some(at)) =
        (text(&mut fields, "id"), text(&mut fields, "op"), text(&mut fields, "by"), text(&mut fields, "at"))
    else {
        return Ok(None);
    };
    let at = DateTime::parse_from_rfc3339(&at).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        Error::environment("broken_commit", format!("commit {commit}: Orc-Op time {at:?} is not RFC 3339: {e}"))
    })?;
    let actor = match text(&mut fields, "as").as_deref() {
        Some("person") => Actor::Person(by),
        _ => Actor::Agent(by),
    };
    let input = fields.remove("input").unwrap_or(Value::Null);
    fields.remove("v");
    fields.remove("key");
    Ok(Some(Recorded { commit, id, op, input, details: fields, actor, at, subject }))
}

/// The operations on `local` that `base` lacks, oldest first.
pub fn local_only(orc: &Orc, local: ObjectId, base: Option<ObjectId>) -> Result<Vec<Recorded>> {
    let mut out = Vec::new();
    for (commit, _) in orc.store.commits_since(local, base, usize::MAX)?.into_iter().rev() {
        match recorded(orc, commit)? {
            Some(rec) => out.push(rec),
            None => {
                return Err(Error::environment(
                    "unreplayable",
                    format!("commit {commit} on the local orc branch carries no Orc-Op trailer and cannot be replayed"),
                )
                .with_hint(
                    "a hand edit on the local branch: redo it on the remote, then `git branch -f orc <remote>/orc`",
                ))
            }
        }
    }
    Ok(out)
}

fn input<T: DeserializeOwned>(rec: &Recorded) -> Result<T> {
    serde_json::from_value(rec.input.clone()).map_err(|e| {
        Error::environment(
            "unreplayable",
            format!("commit {}: the {} input does not fit this orc: {e}", rec.commit, rec.op),
        )
    })
}

fn detail(rec: &Recorded, key: &str) -> Option<String> {
    rec.details.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Checks one recorded operation again on top of `onto`.
pub fn replay_one(orc: &Orc, rec: &Recorded, onto: ObjectId) -> Result<Replayed> {
    fn run<O: Operation>(orc: &Orc, rec: &Recorded, onto: ObjectId, op: O) -> Result<Replayed> {
        match orc.build_on(&op, &rec.actor, onto, rec.at, &rec.id) {
            Ok((_, commit)) => Ok(Replayed::Applied(commit)),
            // A refusal, or input that no longer fits the state: dropped.
            Err(e) if e.class != crate::error::Class::Environment => Ok(Replayed::Dropped(e)),
            Err(e) => Err(e),
        }
    }
    let task_id = || {
        detail(rec, "task")
            .ok_or_else(|| Error::environment("unreplayable", format!("commit {} names no task", rec.commit)))
    };
    match rec.op.as_str() {
        "ws.create" => run(orc, rec, onto, input::<CreateWorkstream>(rec)?),
        "task.add" => run(orc, rec, onto, input::<AddTask>(rec)?),
        // A `next` is replayed as a claim of the task it chose.
        "task.claim" => {
            let agent = rec.actor.name().to_string();
            run(orc, rec, onto, ClaimTask { workstream: None, id: task_id()?, agent })
        }
        "task.finish" => {
            let mut op = input::<FinishTask>(rec)?;
            op.id = task_id()?;
            op.workstream = None;
            run(orc, rec, onto, op)
        }
        "task.change" => {
            let mut op = input::<ChangeTask>(rec)?;
            op.id = task_id()?;
            op.workstream = None;
            run(orc, rec, onto, op)
        }
        "agent.register" => run(orc, rec, onto, input::<RegisterAgent>(rec)?),
        "agent.heartbeat" => run(orc, rec, onto, input::<Heartbeat>(rec)?),
        "lock.acquire" => {
            let resource = rec.input["resource"].as_str().unwrap_or_default().to_string();
            let ttl = chrono::Duration::seconds(rec.input["ttl_secs"].as_i64().unwrap_or(60));
            let agent = rec.actor.name().to_string();
            run(orc, rec, onto, AcquireLock { resource, agent, ttl, observed: Observations::load(&orc.store) })
        }
        "lock.release" => run(orc, rec, onto, input::<ReleaseLock>(rec)?),
        "event.log" => run(orc, rec, onto, input::<LogEvent>(rec)?),
        "hook.event" => run(orc, rec, onto, input::<HookEvent>(rec)?),
        "kb.write" => {
            // The text is in the recorded commit: the whole file, of which an
            // append added the last `bytes`.
            let topic = rec.input["topic"].as_str().unwrap_or_default().to_string();
            let append = rec.input["append"].as_bool().unwrap_or(false);
            let bytes = rec.input["bytes"].as_u64().unwrap_or(0) as usize;
            let tree = orc.store.tree_of(rec.commit)?;
            let file = orc.store.read_file(&tree, &topic_path(&topic))?.unwrap_or_default();
            let text = String::from_utf8_lossy(&file[file.len().saturating_sub(bytes)..]).into_owned();
            run(orc, rec, onto, WriteTopic::new(&topic, text, append)?)
        }
        "kb.rm" => run(orc, rec, onto, input::<RemoveTopic>(rec)?),
        "cycle.plan" => run(orc, rec, onto, WritePlan),
        "cycle.collect" => run(orc, rec, onto, CloseCycle),
        // Renders are re-made from the new tip.
        "dashboard.render" => run(orc, rec, onto, crate::render::RenderDashboard),
        other => Ok(Replayed::Dropped(Error::refused(
            "unknown_operation",
            format!("{other} is not an operation this orc knows (made by a newer orc?)"),
        ))),
    }
}

/// Replays `ops` in order on top of `onto`; returns the new tip and what
/// happened to each.
pub fn replay_all(orc: &Orc, ops: Vec<Recorded>, onto: ObjectId) -> Result<(ObjectId, Vec<(Recorded, Replayed)>)> {
    let mut tip = onto;
    let mut outcomes = Vec::with_capacity(ops.len());
    for rec in ops {
        let outcome = replay_one(orc, &rec, tip)?;
        if let Replayed::Applied(commit) = &outcome {
            tip = *commit;
        }
        outcomes.push((rec, outcome));
    }
    Ok((tip, outcomes))
}
