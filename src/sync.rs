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

use crate::error::{Error, Kind, Result};
use crate::ops::events::{EventData, HookEvent, OrcEventType};
use crate::ops::replay::{local_only, op_ids_between, replay_all, Recorded, Replayed};
use crate::ops::trailer::Envelope;
use crate::ops::{Engine, Operation};
use crate::store::remote::{self, Deadline, Pushed};
use crate::store::{ObjectId, Swap, WriteLock};

/// Pushes tried before giving up when the remote keeps moving, and how long
/// to keep trying at most. Every machine's claim is a push to one ref, so
/// with 16 agents a push wins about one time in 16: the budget is time, not
/// a handful of tries, or an unlucky agent starves.
const MAX_ATTEMPTS: u32 = 400;
const MAX_CONTENTION: Duration = Duration::from_secs(90);

/// The event a dropped operation is logged as.
const DROP_EVENT: &str = "sync.drop";

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
    /// The remote's tip when the sync ended: what it accepted, or what it
    /// already had.
    #[serde(skip)]
    pub remote_tip: Option<ObjectId>,
}

fn backoff(attempt: u32) {
    let mut jitter = [0u8; 2];
    getrandom::fill(&mut jitter).expect("the OS random generator is available on every supported platform");
    let base = 10u64 << attempt.min(5);
    let jitter = u64::from(u16::from_le_bytes(jitter)) % base;
    std::thread::sleep(Duration::from_millis(base + jitter));
}

/// Runs a network call, trying again a few times on a failure that load
/// can cause (a busy `git daemon` hangs up, a ref advertised a moment ago
/// moved on: "not our ref"). A remote that is simply unreachable costs
/// a few hundred milliseconds more before the `network` error; one that
/// does not answer is not asked again once the deadline has passed.
fn with_retries<T>(deadline: &Deadline, mut call: impl FnMut() -> Result<T>) -> Result<T> {
    const TRIES: u32 = 4;
    let mut attempt = 0;
    loop {
        match call() {
            Err(e) if e.kind == Kind::Network && attempt + 1 < TRIES && !deadline.expired() => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50 << attempt).min(deadline.remaining()));
            }
            other => return other,
        }
    }
}

/// The deadline for this sync's network calls: orc.toml's `net_timeout`
/// (the default when orc.toml is broken: a sync must still run).
fn deadline(orc: &Engine<'_>) -> Result<Deadline> {
    let snap = crate::read::Snapshot::current(orc.store)?;
    let limit = snap.settings().0.net_timeout.to_std().unwrap_or(Duration::ZERO);
    Ok(Deadline::new(limit))
}

/// Removes a remote-tracking ref's lock file (`refs/remotes/<remote>/<branch>.lock`)
/// left by a git that was killed (a publish killed during its fetch or
/// push): it would fail every later fetch. git holds such a lock only
/// while it updates the ref, for milliseconds; one that stays in place is
/// stale. Removed under the write queue, as the branch's own lock is, so
/// orc processes clearing it take turns; the store waits before removing.
fn clear_tracking_lock(orc: &Engine<'_>, tracking: &str) -> Result<()> {
    if !orc.store.ref_lock_exists(tracking) {
        return Ok(());
    }
    let queue = orc.store.lock_writers()?;
    if let Some(path) = orc.store.clear_stale_ref_lock(&queue, tracking)? {
        orc.session.notice(format!("removed {}, left by a git that was killed", path.display()));
    }
    Ok(())
}

/// Fetches the remote's branch; a fetch that failed on a stale lock file of
/// the tracking ref (made between the check and the fetch) clears it and
/// fetches again, once.
fn fetch(
    orc: &Engine<'_>,
    dir: &std::path::Path,
    remote_name: &str,
    branch: &str,
    deadline: &Deadline,
) -> Result<bool> {
    let tracking = format!("refs/remotes/{remote_name}/{branch}");
    clear_tracking_lock(orc, &tracking)?;
    match with_retries(deadline, || remote::fetch(dir, remote_name, branch, deadline)) {
        Err(e) if e.kind == Kind::Git && orc.store.ref_lock_exists(&tracking) => {
            clear_tracking_lock(orc, &tracking)?;
            with_retries(deadline, || remote::fetch(dir, remote_name, branch, deadline))
        }
        other => other,
    }
}

/// The commits `from` has that `base` lacks.
fn count_between(orc: &Engine<'_>, from: ObjectId, base: Option<ObjectId>) -> Result<usize> {
    Ok(orc.store.commits_since(from, base, usize::MAX)?.len())
}

/// Logs each dropped operation as a `sync.drop` event on top of `tip`, so
/// the drop travels with the push.
fn log_drops(orc: &Engine<'_>, queue: &WriteLock, mut tip: ObjectId, drops: &[(Recorded, Error)]) -> Result<ObjectId> {
    for (rec, err) in drops {
        let envelope = &rec.envelope;
        let event = HookEvent {
            kind: OrcEventType::new(DROP_EVENT)?,
            data: EventData::new(json!({"op": envelope.op, "op_id": envelope.id, "subject": rec.subject,
                         "kind": err.kind, "reason": err.message,
                         "task": envelope.input.get("task").or(err.fields.get("task")),
                         "resource": envelope.input.get("resource").or(err.fields.get("resource"))}))?,
        };
        tip = orc.build_fresh_on(queue, &event, envelope.actor.clone(), tip)?;
    }
    Ok(tip)
}

/// The operations a replay dropped, each with its refusal.
fn dropped(outcomes: Vec<(Recorded, Replayed)>) -> Vec<(Recorded, Error)> {
    outcomes
        .into_iter()
        .filter_map(|(rec, outcome)| match outcome {
            Replayed::Dropped(err) => Some((rec, err)),
            Replayed::Applied(_) | Replayed::AlreadyThere => None,
        })
        .collect()
}

/// Where orc remembers the remote tip its last sync left in place.
fn synced_marker(orc: &Engine<'_>, remote: &str) -> std::path::PathBuf {
    orc.store.private_dir().join(format!("synced-{remote}"))
}

fn last_synced(orc: &Engine<'_>, remote: &str) -> Option<ObjectId> {
    std::fs::read_to_string(synced_marker(orc, remote)).ok()?.trim().parse().ok()
}

fn remember_synced(orc: &Engine<'_>, remote: &str, tip: ObjectId) -> Result<()> {
    // Syncs of one clone may run at once (a `lock run` renewing while its
    // command publishes): each writes its own temporary file.
    let path = synced_marker(orc, remote);
    let mut salt = [0u8; 4];
    getrandom::fill(&mut salt).expect("the OS random generator is available on every supported platform");
    let tmp = path.with_extension(format!("tmp-{}-{:08x}", std::process::id(), u32::from_le_bytes(salt)));
    let written = std::fs::write(&tmp, format!("{tip}\n")).and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| Error::io("cannot remember the synced tip", &e))
}

/// Stops a sync whose remote lost commits this machine had synced: keeps
/// the local branch under a backup ref and says which operations are gone.
fn rewritten(orc: &Engine<'_>, remote: &str, before: ObjectId, now: ObjectId, local: ObjectId) -> Result<Error> {
    let lost = orc.store.commits_since(before, Some(now), usize::MAX)?;
    let backup = format!("refs/orc-backup/{remote}/{}", orc.session.clock.now().format("%Y%m%dT%H%M%SZ"));
    orc.store.set_ref(&backup, local, "orc: backup before a rewritten remote")?;
    let subjects: Vec<String> =
        lost.iter().take(10).map(|(_, m)| m.lines().next().unwrap_or_default().to_string()).collect();
    let more = if lost.len() > 10 { format!(" and {} more", lost.len() - 10) } else { String::new() };
    Ok(Error::new(
        Kind::RemoteRewritten,
        format!(
            "{remote}'s orc branch was rewritten: {} operation(s) this machine had synced are gone ({}{more}); local work is kept at {backup}",
            lost.len(),
            subjects.join("; ")
        ),
    )
    .with("backup", &backup)
    .with("lost", lost.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>())
    .with_hint("to replay your operations (the lost ones included) onto the rewritten branch, sync again accepting the rewrite"))
}

/// Publishes the local work, operation `op_id` among it, and answers for
/// that operation with what the remote holds (DESIGN §4: a claim is won
/// only when the host accepted it). `commit` is the local commit that
/// carries it, when there is one (an idempotent repeat has none).
///
/// Another process on this machine may have synced between the operation's
/// commit and this publish: its replay published the operation, or dropped
/// it and logged why. So the sync's own report is not enough: the
/// operation must be on the remote's tip, else its logged drop is the
/// refusal. Its commit's parent bounds the search: no history before the
/// operation existed can hold it.
pub fn publish(orc: &Engine<'_>, remote_name: &str, op_id: &str, commit: Option<ObjectId>) -> Result<SyncReport> {
    let mut report = sync(orc, remote_name)?;
    if report.refusals.iter().any(|(id, _)| id == op_id) {
        return Ok(report);
    }
    let (Some(commit), Some(remote_tip)) = (commit, report.remote_tip) else { return Ok(report) };
    let Some(before) = parent_of_op(orc, commit, op_id)? else { return Ok(report) };
    if op_ids_between(orc, remote_tip, Some(before))?.contains(op_id) {
        return Ok(report);
    }
    let local = orc.store.tip()?.unwrap_or(remote_tip);
    let refusal = logged_drop(orc, local, before, op_id)?.unwrap_or_else(|| {
        Error::new(
            Kind::WrongState,
            format!("operation {op_id} is not on {remote_name}'s orc branch after publishing: it was dropped on this machine"),
        )
        .with_hint("see `orc events --type sync.drop`, then run the command again")
    });
    report.refusals.push((op_id.to_string(), refusal));
    Ok(report)
}

/// The parent of the commit at or behind `commit` that records `op_id`, or
/// None when none of the commits close behind it does (it was never
/// committed under that id).
fn parent_of_op(orc: &Engine<'_>, commit: ObjectId, op_id: &str) -> Result<Option<ObjectId>> {
    // The operation is `commit` itself, or a few commits behind it when a
    // writer that bypassed the queue landed on top of it.
    const NEAR: usize = 64;
    for (candidate, message) in orc.store.commits_since(commit, None, NEAR)? {
        if Envelope::id_in(&message).as_deref() == Some(op_id) {
            return orc.store.first_parent(candidate);
        }
    }
    Ok(None)
}

/// The refusal a replay logged when it dropped `op_id` (its `sync.drop`
/// event), searched among the commits on `local` since `before`.
fn logged_drop(orc: &Engine<'_>, local: ObjectId, before: ObjectId, op_id: &str) -> Result<Option<Error>> {
    for (commit, message) in orc.store.commits_since(local, Some(before), usize::MAX)? {
        let Some(envelope) = Envelope::parse(&message, &commit.to_string()).ok().flatten() else { continue };
        let (input, data) = (&envelope.input, &envelope.input["data"]);
        if envelope.op != HookEvent::NAME || input["kind"] != DROP_EVENT || data["op_id"] != op_id {
            continue;
        }
        let kind = data["kind"].as_str().and_then(Kind::parse).unwrap_or(Kind::WrongState);
        let reason = data["reason"].as_str().unwrap_or("another machine's work refused it");
        let mut refusal = Error::new(kind, reason.to_string());
        for field in ["task", "resource"] {
            if let Some(value) = data[field].as_str() {
                refusal = refusal.with(field, value);
            }
        }
        return Ok(Some(refusal));
    }
    Ok(None)
}

/// Runs one sync with `remote`.
pub fn sync(orc: &Engine<'_>, remote_name: &str) -> Result<SyncReport> {
    sync_with(orc, remote_name, false)
}

/// Runs one sync; `accept_rewrite` replays onto a remote branch that was
/// rewritten instead of stopping.
pub fn sync_with(orc: &Engine<'_>, remote_name: &str, accept_rewrite: bool) -> Result<SyncReport> {
    if !orc.store.remote_names().iter().any(|r| r == remote_name) {
        return Err(Error::new(Kind::NoRemote, format!("no git remote named {remote_name:?}"))
            .with_hint(format!("git remote add {remote_name} <url>, or sync with another remote")));
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
        remote_tip: None,
    };
    let deadline = deadline(orc)?;
    let started = std::time::Instant::now();
    for attempt in 0..MAX_ATTEMPTS {
        if started.elapsed() > MAX_CONTENTION {
            break;
        }
        let fetched = match fetch(orc, &dir, remote_name, &branch, &deadline)? {
            true => orc.store.resolve(&format!("refs/remotes/{remote_name}/{branch}"))?,
            false => None,
        };
        let had_branch = orc.store.tip()?.is_some();
        // Replay is a write: it happens under the queue, which is released
        // before the network so local agents keep working during the push.
        let queue = orc.store.lock_writers()?;
        // Adopts the fetched branch when this clone has none yet.
        let local = orc.ensure_branch_locked(&queue)?;
        if let (Some(before), Some(now)) = (last_synced(orc, remote_name), fetched) {
            if !accept_rewrite && !orc.store.is_ancestor(before, now).unwrap_or(false) {
                return Err(rewritten(orc, remote_name, before, now, local)?);
            }
        }
        let (candidate, received) = match fetched {
            None => (local, 0),
            Some(theirs) if theirs == local => {
                drop(queue);
                if !had_branch {
                    report.received = count_between(orc, theirs, None)?;
                }
                remember_synced(orc, remote_name, theirs)?;
                report.tip = local.to_string();
                report.remote_tip = Some(theirs);
                return Ok(report);
            }
            Some(theirs) => {
                // Operations already on the remote (a publish killed after
                // its push landed, before the local branch moved) are not
                // replayed again: exactly once, by operation id.
                let already_there = op_ids_between(orc, theirs, Some(local))?;
                let ops: Vec<Recorded> = local_only(orc, local, Some(theirs))?
                    .into_iter()
                    .filter(|rec| !already_there.contains(&rec.envelope.id))
                    .collect();
                if ops.is_empty() {
                    // Nothing of ours is missing there: fast-forward to theirs.
                    (theirs, count_between(orc, theirs, Some(local))?)
                } else if orc.store.is_ancestor(theirs, local)? {
                    (local, 0)
                } else {
                    let received = count_between(orc, theirs, Some(local))?;
                    let (tip, outcomes) = replay_all(orc, &queue, ops, theirs, &already_there)?;
                    let drops = dropped(outcomes);
                    let tip = log_drops(orc, &queue, tip, &drops)?;
                    report.refusals = drops.iter().map(|(rec, err)| (rec.envelope.id.clone(), err.clone())).collect();
                    report.dropped = drops
                        .into_iter()
                        .map(|(rec, err)| Dropped {
                            op_id: rec.envelope.id.clone(),
                            op: rec.envelope.op.clone(),
                            subject: rec.subject,
                            by: rec.envelope.actor.name().to_string(),
                            kind: err.kind.to_string(),
                            reason: err.message.clone(),
                        })
                        .collect();
                    (tip, received)
                }
            }
        };
        drop(queue);
        if Some(candidate) != fetched {
            report.pushes += 1;
            match with_retries(&deadline, || remote::push(&dir, remote_name, &branch, candidate, fetched, &deadline))? {
                Pushed::Accepted => {}
                Pushed::Moved => {
                    backoff(attempt);
                    continue;
                }
                Pushed::Refused(why) => {
                    return Err(Error::new(Kind::PushRefused, format!("{remote_name} refused the orc branch: {why}"))
                        .with_hint(
                        "local work is kept; fix the cause on the host (branch protection, hooks, size) and sync again",
                    ))
                }
            }
        }
        report.received = received;
        report.published = count_between(orc, candidate, fetched)?.saturating_sub(report.dropped.len());
        settle_local(orc, local, candidate)?;
        remember_synced(orc, remote_name, candidate)?;
        report.remote_tip = Some(candidate);
        report.tip = orc.store.tip()?.map(|t| t.to_string()).unwrap_or_default();
        return Ok(report);
    }
    Err(Error::new(Kind::Busy, format!("{remote_name} kept moving: gave up after {} pushes", report.pushes))
        .with_hint("local work is kept; sync again"))
}

/// Moves the local branch from `was` to `synced`; operations made locally
/// during the sync are replayed on top (and published by the next sync).
/// One that no longer holds there is dropped as a sync drops it: logged, so
/// the command that made it learns of it when it publishes. The queue is
/// taken once, here, and handed to the replay.
fn settle_local(orc: &Engine<'_>, was: ObjectId, synced: ObjectId) -> Result<()> {
    loop {
        let queue = orc.store.lock_writers()?;
        let now = orc.store.tip()?.unwrap_or(was);
        let target = if now == was {
            synced
        } else {
            let already_there = op_ids_between(orc, synced, Some(was))?;
            let (tip, outcomes) = replay_all(orc, &queue, local_only(orc, now, Some(was))?, synced, &already_there)?;
            log_drops(orc, &queue, tip, &dropped(outcomes))?
        };
        if orc.store.compare_and_swap(&queue, Some(now), target, "orc: sync")? == Swap::Done {
            return Ok(());
        }
    }
}
