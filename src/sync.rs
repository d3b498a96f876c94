//! `orc sync`: fetch the remote's branch, replay the local operations it
//! lacks on top of its tip (dropping, reporting and logging those that no
//! longer hold), push with a lease on the tip that was fetched, and retry
//! with jittered backoff when the remote moved meanwhile (DESIGN §4).
//!
//! The network runs outside the local write queue, so local agents keep
//! working during a sync; the local branch moves by compare-and-swap at the
//! end, and operations made locally meanwhile are replayed on top of it.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::clock;
use crate::error::{Error, Result};
use crate::model::task::Actor;
use crate::ops::events::HookEvent;
use crate::ops::replay::{local_only, replay_all, Recorded, Replayed};
use crate::ops::Orc;
use crate::store::remote::{self, Pushed};
use crate::store::{ObjectId, Swap};

/// Pushes tried before giving up when the remote keeps moving: with the
/// backoff below, about 10 s of contention.
const MAX_ATTEMPTS: u32 = 25;

/// An operation that did not survive the replay.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub op: String,
    pub op_id: String,
    pub subject: String,
    pub by: String,
    pub kind: String,
    pub reason: String,
}

/// What a sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub remote: String,
    /// Local operations now on the remote.
    pub published: usize,
    pub dropped: Vec<Dropped>,
    /// Operations that arrived from the remote.
    pub received: usize,
    pub pushes: u32,
    pub tip: String,
    /// The refusal of each dropped operation, by operation id.
    #[serde(skip)]
    pub refusals: Vec<(String, Error)>,
}

fn backoff(attempt: u32) {
    let mut jitter = [0u8; 2];
    clock::random_bytes(&mut jitter);
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(u16::from_le_bytes(jitter)) % base;
    std::thread::sleep(Duration::from_millis(base + jitter));
}

/// The commits `from` has that `base` lacks.
fn count_between(orc: &Orc, from: ObjectId, base: Option<ObjectId>) -> Result<usize> {
    Ok(orc.store.commits_since(from, base, usize::MAX)?.len())
}

/// Logs each dropped operation as a `sync.drop` event on top of `tip`, so
/// the drop travels with the push.
fn log_drops(orc: &Orc, mut tip: ObjectId, drops: &[(Recorded, crate::error::Error)]) -> Result<ObjectId> {
    for (rec, err) in drops {
        let event = HookEvent {
            kind: "sync.drop".into(),
            data: json!({"op": rec.op, "op_id": rec.id, "subject": rec.subject, "kind": err.kind, "reason": err.message,
                         "task": rec.details.get("task"), "resource": rec.details.get("resource")}),
        };
        let now = clock::now()?;
        let id = clock::new_ulid(clock::precise_now()?);
        let actor = match &rec.actor {
            Actor::Agent(a) => Actor::Agent(a.clone()),
            Actor::Person(p) => Actor::Person(p.clone()),
        };
        tip = orc.build_on(&event, &actor, tip, now, &id)?.1;
    }
    Ok(tip)
}

/// Runs one sync with `remote`.
pub fn sync(orc: &Orc, remote_name: &str) -> Result<SyncReport> {
    if !orc.store.remote_names().iter().any(|r| r == remote_name) {
        return Err(Error::input("no_remote", format!("no git remote named {remote_name:?}"))
            .with_hint(format!("git remote add {remote_name} <url>, or pass --remote")));
    }
    let dir = orc.store.git_cwd();
    let branch = orc.store.branch().to_string();
    let mut report = SyncReport {
        remote: remote_name.into(),
        published: 0,
        dropped: vec![],
        received: 0,
        pushes: 0,
        tip: String::new(),
        refusals: vec![],
    };
    for attempt in 0..MAX_ATTEMPTS {
        let fetched = match remote::fetch(&dir, remote_name, &branch, remote::DEFAULT_TIMEOUT)? {
            true => orc.store.resolve(&format!("refs/remotes/{remote_name}/{branch}"))?,
            false => None,
        };
        let had_branch = orc.store.tip()?.is_some();
        let local = {
            // Adopts the fetched branch when this clone has none yet.
            let queue = orc.store.lock_writers()?;
            orc.ensure_branch_locked(&queue)?
        };
        let (candidate, received) = match fetched {
            None => (local, 0),
            Some(theirs) if theirs == local => {
                if !had_branch {
                    report.received = count_between(orc, theirs, None)?;
                }
                report.tip = local.to_string();
                return Ok(report);
            }
            Some(theirs) => {
                let ops = local_only(orc, local, Some(theirs))?;
                if ops.is_empty() {
                    // Nothing of ours is missing there: fast-forward to theirs.
                    (theirs, count_between(orc, theirs, Some(local))?)
                } else if orc.store.is_ancestor(theirs, local)? {
                    (local, 0)
                } else {
                    let received = count_between(orc, theirs, Some(local))?;
                    let (tip, outcomes) = replay_all(orc, ops, theirs)?;
                    let mut drops = Vec::new();
                    for (rec, outcome) in outcomes {
                        if let Replayed::Dropped(err) = outcome {
                            drops.push((rec, err));
                        }
                    }
                    let tip = log_drops(orc, tip, &drops)?;
                    report.refusals = drops.iter().map(|(rec, err)| (rec.id.clone(), err.clone())).collect();
                    report.dropped = drops
                        .into_iter()
                        .map(|(rec, err)| Dropped {
                            op_id: rec.id,
                            op: rec.op,
                            subject: rec.subject,
                            by: rec.actor.name().to_string(),
                            kind: err.kind.to_string(),
                            reason: err.message.clone(),
                        })
                        .collect();
                    (tip, received)
                }
            }
        };
        if Some(candidate) != fetched {
            report.pushes += 1;
            match remote::push(&dir, remote_name, &branch, candidate, fetched, remote::DEFAULT_TIMEOUT)? {
                Pushed::Accepted => {}
                Pushed::Moved => {
                    backoff(attempt);
                    continue;
                }
                Pushed::Refused(why) => return Err(Error::refused(
                    "push_refused",
                    format!("{remote_name} refused the orc branch: {why}"),
                )
                .with_hint(
                    "local work is kept; fix the cause on the host (branch protection, hooks, size) and run `orc sync`",
                )),
            }
        }
        report.received = received;
        report.published = count_between(orc, candidate, fetched)?.saturating_sub(report.dropped.len());
        settle_local(orc, local, candidate)?;
        report.tip = orc.store.tip()?.map(|t| t.to_string()).unwrap_or_default();
        return Ok(report);
    }
    Err(Error::environment("busy", format!("{remote_name} kept moving: gave up after {MAX_ATTEMPTS} pushes"))
        .with_hint("local work is kept; run `orc sync` again"))
}

/// Moves the local branch from `was` to `synced`; operations made locally
/// during the sync are replayed on top (and published by the next sync).
fn settle_local(orc: &Orc, was: ObjectId, synced: ObjectId) -> Result<()> {
    loop {
        let queue = orc.store.lock_writers()?;
        let now = orc.store.tip()?.unwrap_or(was);
        let target = if now == was {
            synced
        } else {
            let (tip, _) = replay_all(orc, local_only(orc, now, Some(was))?, synced)?;
            tip
        };
        if orc.store.compare_and_swap(&queue, Some(now), target, "orc: sync")? == Swap::Done {
            return Ok(());
        }
    }
}
