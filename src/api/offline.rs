//! Work this machine did that the remote has not accepted yet, as far as
//! publishing commands need to know it (DESIGN §4): a failed `next` or
//! `claim` says which task it claimed locally, and `next` claims no other
//! task while one it claimed locally waits to be published (issue 13:
//! retries against a dead remote left an agent holding five tasks).

use crate::error::{Error, Kind, Result};
use crate::model::task::{Actor, Status, Task};
use crate::ops::task::ClaimTask;
use crate::ops::trailer::Envelope;
use crate::ops::Operation;
use crate::read::Snapshot;
use crate::store::{ObjectId, Store};

/// How far back the unpublished part of the branch is searched: the
/// commits on the local branch that the remote-tracking ref lacks. Without
/// a tracking ref (never fetched) that is the whole history, so the walk
/// is capped; a claim older than that is left to `orc sync`.
const SEARCH_LIMIT: usize = 2_000;

/// A claim made on this machine that the remote has not accepted yet.
pub struct PendingClaim {
    pub task: Task,
    pub op_id: String,
    pub commit: ObjectId,
}

/// The newest claim by `agent` that is on the local branch, not on what
/// this machine last fetched from `remote`, and still `agent`'s here.
pub fn pending_claim(store: &Store, remote: &str, agent: &str) -> Result<Option<PendingClaim>> {
    let Some(local) = store.tip()? else { return Ok(None) };
    let tracking = store.resolve(&format!("refs/remotes/{remote}/{}", store.branch()))?;
    let unpublished = store.commits_since(local, tracking, SEARCH_LIMIT)?;
    let actor = Actor::Agent(agent.to_string());
    let mut snap = None;
    for (commit, message) in unpublished {
        // A commit whose trailer does not parse is not a claim; sync reports it.
        let Some(envelope) = Envelope::parse(&message, &commit.to_string()).ok().flatten() else { continue };
        if envelope.op != ClaimTask::NAME || envelope.actor != actor {
            continue;
        }
        let Some(id) = envelope.input.get("task").and_then(|t| t.as_str()).or(envelope.legacy_task.as_deref()) else {
            continue;
        };
        let snap = match &snap {
            Some(snap) => snap,
            None => snap.insert(Snapshot::current(store)?),
        };
        let Ok(task) = snap.find_task(id, None) else { continue };
        if task.status == Status::Claimed && task.claimed_by.as_deref() == Some(agent) {
            return Ok(Some(PendingClaim { task, op_id: envelope.id, commit }));
        }
    }
    Ok(None)
}

/// A publish that failed after the operation was applied locally: says so,
/// keeps the cause, and marks it (`kept_locally`) for callers and scripts.
pub fn kept_locally(mut err: Error, what: &str) -> Error {
    err.message = format!("done locally but not published: {what}{}", err.message);
    if err.kind == Kind::Network {
        err.hint = Some(
            "local work is kept: a sync publishes it once the remote is reachable; until then another machine may win it"
                .into(),
        );
    } else if err.kind == Kind::Busy {
        err.hint = Some(
            "local work is kept: `orc sync`, or this agent's next `orc next`, publishes it once the remote calms \
             down (until then another machine may win it); pass --local to work on this machine only"
                .into(),
        );
    }
    err.with("kept_locally", true)
}

/// Was `err` a publish that failed with the operation kept locally?
pub fn is_kept_locally(err: &Error) -> bool {
    err.fields.get("kept_locally").is_some_and(|v| v == &serde_json::Value::Bool(true))
}

/// Names the task a failed publish left claimed on this machine only, in
/// the message and as fields (`task`, `workstream`, `claimed_locally`).
pub fn claimed_locally(mut err: Error, task: &Task, earlier: bool) -> Error {
    let note = if earlier {
        format!(
            "{} ({}) is claimed on this machine only, by an earlier claim that could not publish; \
             no other task is claimed until it is published: ",
            task.id, task.workstream
        )
    } else {
        format!("{} ({}) is claimed on this machine only: ", task.id, task.workstream)
    };
    err.message =
        err.message.replacen("done locally but not published: ", &format!("done locally but not published: {note}"), 1);
    err.with("task", &task.id).with("workstream", &task.workstream).with("claimed_locally", true)
}

/// Where a failed publish's claim is remembered per agent, so the agent's
/// next `next` answers with it even when another process on this machine
/// published it meanwhile (then it is no longer pending, but the agent was
/// only told of it in an error).
fn told_path(store: &Store, agent: &str) -> std::path::PathBuf {
    store.private_dir().join("told-claims").join(agent)
}

/// Remembers that `agent` was told `task` is claimed on this machine only.
pub fn remember_told(store: &Store, agent: &str, task: &Task, op_id: &str) {
    let path = told_path(store, agent);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&path, format!("{} {op_id}\n", task.id));
}

/// The claim `agent` was last told was kept locally, if it is still
/// `agent`'s: the task and the claim's operation id. Forgets it otherwise.
pub fn told_claim(store: &Store, agent: &str) -> Result<Option<(Task, String)>> {
    let path = told_path(store, agent);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let mut parts = text.split_whitespace();
    let (Some(id), Some(op_id)) = (parts.next(), parts.next()) else {
        forget_told(store, agent);
        return Ok(None);
    };
    let snap = Snapshot::current(store)?;
    match snap.find_task(id, None) {
        Ok(task) if task.status == Status::Claimed && task.claimed_by.as_deref() == Some(agent) => {
            Ok(Some((task, op_id.to_string())))
        }
        _ => {
            forget_told(store, agent);
            Ok(None)
        }
    }
}

/// Forgets what `agent` was told (its claim was answered, or is gone).
pub fn forget_told(store: &Store, agent: &str) {
    let _ = std::fs::remove_file(told_path(store, agent));
}
