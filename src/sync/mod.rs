//! `orc sync`: fetch the remote's branch, replay the local operations it
//! lacks on top of its tip (dropping, reporting and logging those that no
//! longer hold), push with a lease on the tip that was fetched, and retry
//! with jittered backoff when the remote moved meanwhile (DESIGN §4).
//!
//! The network runs outside the local write queue, so local agents keep
//! working during a sync; the local branch moves by compare-and-swap at the
//! end, and operations made locally meanwhile are replayed on top of it.
//!
//! Every push also serves the claim requests waiting beside the branch
//! (`requests`): a `next` that lost a round is claimed for by whoever
//! pushes next, so no machine starves while another keeps winning.
//!
//! Rules this module keeps: an operation is applied at most once on the
//! remote, judged by its id against the tip it would extend; a publish
//! answers with what the remote holds, never with what this machine did;
//! a remembered tip is compared only with what the remote said after it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};
use crate::ops::events::{EventData, HookEvent, OrcEventType};
use crate::ops::replay::{local_only, op_ids_between, replay_all, Recorded, Replayed};
use crate::ops::trailer::Envelope;
use crate::ops::{Engine, Operation};
use crate::store::remote::{self, Deadline, Pushed};
use crate::store::{ObjectId, Swap, WriteLock};

pub mod requests;
use requests::{Request, Want};

/// Pushes tried before giving up when the remote keeps moving, and how long
/// `orc sync` keeps trying at most (publishing commands have orc.toml's
/// `publish_timeout`). Every machine's claim is a push to one ref, so with
/// 16 agents a push wins about one time in 16: the bound is time, not a
/// handful of tries, or an unlucky agent starves.
const MAX_ATTEMPTS: u32 = 400;
const MAX_CONTENTION: Duration = Duration::from_secs(90);

/// The shortest pause after a lost push: about what another machine's push
/// takes to land and become fetchable through `git daemon` on one host.
const BACKOFF_BASE: Duration = Duration::from_millis(20);
/// The longest pause. A loser must refetch anyway, so pausing only spreads
/// the losers out: with 8 clones and a round (fetch, replay, push) of
/// 100-150 ms, pauses of up to ~1 s let about one loser retry per round.
/// Longer pauses starve: an agent starting a fresh `next` does not pause at
/// all, and overtakes a sleeper again and again (issue 12's 44-92 s tails
/// came from pauses that doubled to 640 ms per try, ten tries a `next`).
const BACKOFF_CAP: Duration = Duration::from_millis(1000);

/// Pauses between lost pushes with decorrelated jitter (AWS Architecture
/// Blog, "Exponential Backoff And Jitter"): each pause is drawn between the
/// base and three times the previous one, capped. The draws of racing
/// machines drift apart instead of waking together, as the pauses of a
/// shared exponential schedule do.
#[derive(Debug)]
struct Backoff {
    prev: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { prev: BACKOFF_BASE }
    }

    fn next_pause(&mut self) -> Duration {
        let high = (self.prev * 3).min(BACKOFF_CAP);
        self.prev = between(BACKOFF_BASE, high);
        self.prev
    }
}

/// A uniformly drawn duration in `low..=high`.
fn between(low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random generator is available on every supported platform");
    let span = u64::try_from((high - low).as_micros()).unwrap_or(u64::MAX);
    low + Duration::from_micros(u64::from_le_bytes(bytes) % span.saturating_add(1))
}

/// How long one command keeps pushing against a remote that keeps moving,
/// and its pauses between lost pushes. One budget spans every sync of a
/// command: a `next` that lost its choice and picks again keeps its clock
/// and its backoff, so a `next` is bounded as a whole, not per try.
#[derive(Debug)]
pub struct Budget {
    started: Instant,
    limit: Duration,
    /// Where the limit comes from, for the error ("orc.toml publish_timeout").
    source: &'static str,
    backoff: Backoff,
    pushes: u32,
    /// The last sync of this command fetched the remote's tip a moment ago
    /// and lost its operation on it: the next one pushes on that tip at
    /// once, asking nothing first (the push's lease asks).
    just_fetched: bool,
    /// This command already lost a round: its `next` asks to be served
    /// (a claim request) before racing again.
    pub contended: bool,
}

impl Budget {
    /// A budget of `limit` from now; `source` names where the limit is set.
    pub fn new(limit: Duration, source: &'static str) -> Self {
        Self {
            started: Instant::now(),
            limit,
            source,
            backoff: Backoff::new(),
            pushes: 0,
            just_fetched: false,
            contended: false,
        }
    }

    /// Has the time run out? Checked between attempts only: an attempt under
    /// way finishes (each of its network calls is bounded by `net_timeout`),
    /// so a push that may have landed is never abandoned halfway.
    pub fn spent(&self) -> bool {
        self.started.elapsed() >= self.limit
    }

    /// Where the limit is set ("orc.toml publish_timeout").
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The limit as orc.toml spells it ("60s", "1m").
    pub fn shown_limit(&self) -> String {
        let seconds = i64::try_from(self.limit.as_secs()).unwrap_or(i64::MAX);
        crate::model::duration::format_duration(chrono::Duration::seconds(seconds))
    }

    /// Pauses after a lost push, never past the end of the budget.
    fn pause(&mut self) {
        let pause = self.backoff.next_pause();
        std::thread::sleep(pause.min(self.limit.saturating_sub(self.started.elapsed())));
    }

    /// Waits a moment for another machine's push to serve this command's
    /// claim request, never past the end of the budget.
    fn wait_to_be_served(&self) {
        let pause = between(Duration::from_millis(100), Duration::from_millis(400));
        std::thread::sleep(pause.min(self.limit.saturating_sub(self.started.elapsed())));
    }

    /// The error for a remote that kept moving for the whole budget.
    pub fn busy(&self, remote: &str) -> Error {
        Error::new(
            Kind::Busy,
            format!(
                "{remote} kept moving: {} push(es) lost to other machines in {} ({})",
                self.pushes,
                self.shown_limit(),
                self.source
            ),
        )
        .with("pushes", self.pushes)
        .with("budget_ms", u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX))
        .with_hint("local work is kept; sync again")
    }
}

/// The event a dropped operation is logged as.
const DROP_EVENT: &str = "sync.drop";

/// What a `sync.drop` event records: written by [`log_drops`], read back
/// by a publish that finds its operation dropped ([`logged_drop`]).
#[derive(Debug, Serialize, Deserialize)]
struct DropRecord {
    op: String,
    op_id: String,
    subject: String,
    kind: String,
    reason: String,
    task: Option<serde_json::Value>,
    resource: Option<serde_json::Value>,
}

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
    /// Claim requests of other `next`s this sync served (claimed for, or
    /// answered with a drop).
    pub served: usize,
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
    /// The remote's tip the last attempt started from: what the remote held
    /// before this sync's push (the push's lease), when it pushed.
    #[serde(skip)]
    pub remote_tip_before: Option<ObjectId>,
    /// A publish only: the operation was on the remote before this sync
    /// pushed anything (another process of this clone published it, or it
    /// was published and this clone's tracking ref lags).
    #[serde(skip)]
    pub published_earlier: bool,
    /// A publish only: the remote's commit that records the operation. A
    /// served claim request records the task the server chose, which may
    /// not be the one this machine chose.
    #[serde(skip)]
    pub op_commit: Option<ObjectId>,
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
    match with_retries(deadline, || remote::fetch(dir, remote_name, branch, deadline)) {
        Err(e) if e.kind == Kind::Git && orc.store.ref_lock_exists(&tracking) => {
            clear_tracking_lock(orc, &tracking)?;
            with_retries(deadline, || remote::fetch(dir, remote_name, branch, deadline))
        }
        other => other,
    }
}

/// What one look at the remote found: its tip, fetched when this clone
/// lacked it, and the claim requests waiting beside it (None when the
/// remote was not asked).
struct Seen {
    tip: Option<ObjectId>,
    requests: Option<Vec<Request>>,
}

/// Looks at the remote: `git ls-remote` says where the branch points and
/// which claim requests wait, and the branch is fetched only when it
/// points at something this clone lacks (the last fetch, or a push of ours
/// that landed, is already here). Asking first costs one ref advertisement;
/// a fetch also negotiates, receives a pack and writes a ref.
fn look(orc: &Engine<'_>, dir: &std::path::Path, remote_name: &str, branch: &str, deadline: &Deadline) -> Result<Seen> {
    let tracking = format!("refs/remotes/{remote_name}/{branch}");
    // A stale lock would fail the fetch, or the tracking ref's update by a push.
    clear_tracking_lock(orc, &tracking)?;
    let refs = with_retries(deadline, || remote::remote_refs(dir, remote_name, branch, requests::PREFIX, deadline))?;
    let requests = Some(requests::requests_in(&refs.under_prefix, branch));
    let tip = match refs.tip {
        None => return Ok(Seen { tip: None, requests }),
        Some(tip) if known_locally(orc, &tracking, tip)? => Some(tip),
        // The tip ls-remote showed, now here, rather than the tracking ref,
        // which another process's push may move back meanwhile.
        Some(tip) => match fetch(orc, dir, remote_name, branch, deadline)? {
            true if orc.store.has_commit(tip) => Some(tip),
            true => orc.store.resolve(&tracking)?,
            false => None,
        },
    };
    Ok(Seen { tip, requests })
}

/// Does this clone have `tip` and its history: the tracking ref's commit,
/// or one the local branch contains (a push of ours that landed)? The
/// tracking ref is then moved there, as a fetch would have, so what counts
/// as unpublished (`offline::pending_claim`) stays right.
fn known_locally(orc: &Engine<'_>, tracking: &str, tip: ObjectId) -> Result<bool> {
    let tracked = orc.store.resolve(tracking)?;
    if tracked == Some(tip) {
        return Ok(true);
    }
    let Some(local) = orc.store.tip()? else { return Ok(false) };
    // A commit this clone lacks is an error to libgit2: not known.
    if !orc.store.is_ancestor(tip, local).unwrap_or(false) {
        return Ok(false);
    }
    // A git still running for a killed orc may hold the ref's lock or move
    // the ref meanwhile (kill loops found it): then fetch, as without
    // ls-remote, which waits out a lock that stays.
    Ok(orc.store.advance_ref(tracking, tracked, tip, "orc: remote tip seen by ls-remote").is_ok())
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
        let record = DropRecord {
            op: envelope.op.clone(),
            op_id: envelope.id.clone(),
            subject: rec.subject.clone(),
            kind: err.kind.to_string(),
            reason: err.message.clone(),
            task: envelope.input.get("task").or(err.fields.get("task")).cloned(),
            resource: envelope.input.get("resource").or(err.fields.get("resource")).cloned(),
        };
        let event = HookEvent {
            kind: OrcEventType::new(DROP_EVENT)?,
            data: EventData::new(serde_json::to_value(record).expect("plain data"))?,
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

/// Runs one sync with `remote`.
pub fn sync(orc: &Engine<'_>, remote_name: &str) -> Result<SyncReport> {
    sync_with(orc, remote_name, false)
}

/// Runs one sync; `accept_rewrite` replays onto a remote branch that was
/// rewritten instead of stopping.
pub fn sync_with(orc: &Engine<'_>, remote_name: &str, accept_rewrite: bool) -> Result<SyncReport> {
    let mut budget = Budget::new(MAX_CONTENTION, "orc sync's limit");
    run(orc, remote_name, accept_rewrite, None, &mut budget)
}

/// Publishes the local work, operation `op_id` among it, within `budget`
/// (a publishing command's sync, DESIGN §4). When the replay drops `op_id`
/// (another machine won its task), nothing is pushed: the refusal is the
/// answer, and the drop's event and any other local work wait for the next
/// publish or sync, as events do. Pushing them at once would make every
/// loser of a race push too, and lengthen the race for everyone.
///
/// The answer for `op_id` is what the remote holds (DESIGN §4: a claim is
/// won only when the host accepted it). `commit` is the local commit that
/// carries it, when there is one (an idempotent repeat has none). Another
/// process on this machine may have synced between that commit and this
/// publish: its replay published the operation, or dropped it and logged
/// why. So this run's report is not enough: the operation must be on the
/// remote's tip, else its logged drop is the refusal. The commit's parent
/// bounds the search: no history from before the operation can hold it.
pub fn publish(
    orc: &Engine<'_>,
    remote_name: &str,
    op_id: &str,
    commit: Option<ObjectId>,
    want: Option<&Want>,
    budget: &mut Budget,
) -> Result<SyncReport> {
    // A request is for an operation the remote lacks; without the commit
    // that carries it, nothing bounds the search for it: no request.
    let before = match commit {
        Some(commit) => parent_of_op(orc, commit, op_id)?,
        None => None,
    };
    let mut report = run(orc, remote_name, false, Some(Publishing { op_id, before, want }), budget)?;
    if report.refusals.iter().any(|(id, _)| id == op_id) {
        return Ok(report);
    }
    let (Some(before), Some(remote_tip)) = (before, report.remote_tip) else { return Ok(report) };
    if let Some(on_remote) = commit_of_op(orc, remote_tip, before, op_id)? {
        report.op_commit = Some(on_remote);
        // A `git push` moves the tracking ref without checking what it held,
        // so a slow one by another process can move it back: the tracking
        // ref cannot say whether this operation waited to be published.
        // The lease can: the remote held exactly that before the push.
        report.published_earlier = match report.remote_tip_before {
            Some(tip) if tip == remote_tip => true,
            Some(tip) => commit_of_op(orc, tip, before, op_id)?.is_some(),
            None => false,
        };
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

/// The commit on `tip` since `base` that records `op_id`.
fn commit_of_op(orc: &Engine<'_>, tip: ObjectId, base: ObjectId, op_id: &str) -> Result<Option<ObjectId>> {
    Ok(orc
        .store
        .commits_since(tip, Some(base), usize::MAX)?
        .into_iter()
        .find(|(_, message)| Envelope::id_in(message).as_deref() == Some(op_id))
        .map(|(commit, _)| commit))
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
        if envelope.op != HookEvent::NAME || envelope.input["kind"] != DROP_EVENT {
            continue;
        }
        let Ok(record) = serde_json::from_value::<DropRecord>(envelope.input["data"].clone()) else { continue };
        if record.op_id != op_id {
            continue;
        }
        let kind = Kind::parse(&record.kind).unwrap_or(Kind::WrongState);
        let mut refusal = Error::new(kind, record.reason);
        for (field, value) in [("task", record.task), ("resource", record.resource)] {
            if let Some(serde_json::Value::String(value)) = value {
                refusal = refusal.with(field, value);
            }
        }
        return Ok(Some(refusal));
    }
    Ok(None)
}

/// The operation a publishing command publishes, and, for a `next`, what
/// it wants: a `next` that loses a round asks for a task by request.
#[derive(Clone, Copy)]
struct Publishing<'a> {
    op_id: &'a str,
    /// The parent of the local commit that records it: nothing before it
    /// can hold the operation.
    before: Option<ObjectId>,
    want: Option<&'a Want>,
}

/// One sync. A claim request this command posted that is still up at the
/// end (time ran out, or a call failed) is withdrawn first; one that cannot
/// be withdrawn was served, and a last pass brings that claim here.
fn run(
    orc: &Engine<'_>,
    remote_name: &str,
    accept_rewrite: bool,
    publishing: Option<Publishing<'_>>,
    budget: &mut Budget,
) -> Result<SyncReport> {
    if !orc.store.remote_names().iter().any(|r| r == remote_name) {
        return Err(Error::new(Kind::NoRemote, format!("no git remote named {remote_name:?}"))
            .with_hint(format!("git remote add {remote_name} <url>, or sync with another remote")));
    }
    let dir = orc.store.git_cwd();
    let deadline = deadline(orc)?;
    // The request this command posted and that nobody has served yet.
    let mut posted: Option<Request> = None;
    let result = attempts(orc, remote_name, accept_rewrite, publishing, budget, &deadline, &mut posted);
    let Some(request) = posted else { return result };
    // Ran out of time or failed with the request still up: withdrawn,
    // unless it was served meanwhile (then the served claim is the answer).
    match with_retries(&deadline, || remote::push_refs(&dir, remote_name, &[request.delete()], &deadline)) {
        Ok(Pushed::Accepted) => result,
        Ok(_) => {
            let mut settle = Budget::new(deadline.limit(), budget.source);
            let publishing = publishing.map(|p| Publishing { want: None, ..p });
            attempts(orc, remote_name, accept_rewrite, publishing, &mut settle, &deadline, &mut None)
        }
        Err(e) => Err(requests::not_withdrawn(remote_name, &request, &e)),
    }
}

/// The attempts of one sync, within `budget`: look at the remote, replay
/// the local work it lacks, serve the claim requests waiting there, push;
/// again when the remote moved. `posted` is this command's own request.
fn attempts(
    orc: &Engine<'_>,
    remote_name: &str,
    accept_rewrite: bool,
    publishing: Option<Publishing<'_>>,
    budget: &mut Budget,
    deadline: &Deadline,
    posted: &mut Option<Request>,
) -> Result<SyncReport> {
    let dir = orc.store.git_cwd();
    let branch = orc.store.branch().to_string();
    let mut report = SyncReport {
        remote: remote_name.into(),
        published: 0,
        served: 0,
        dropped: vec![],
        received: 0,
        pushes: 0,
        tip: String::new(),
        refusals: vec![],
        remote_tip: None,
        remote_tip_before: None,
        published_earlier: false,
        op_commit: None,
    };
    let mut lost_push = false;
    let mut asked = false;
    // The remote's tip at the last look, while a request waits.
    let mut last_seen = None;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 && budget.spent() {
            break;
        }
        let tracking = format!("refs/remotes/{remote_name}/{branch}");
        // Read before asking: a tip another process of this clone synced
        // while this one waits for the queue is no rewrite.
        let synced_before_look = last_synced(orc, remote_name);
        let seen = match orc.store.resolve(&tracking)? {
            // A `next` picking again after losing its choice: asking the remote
            // would cost a round trip to learn what the push's lease learns.
            Some(tip) if attempt == 0 && std::mem::take(&mut budget.just_fetched) => {
                Seen { tip: Some(tip), requests: None }
            }
            _ => look(orc, &dir, remote_name, &branch, deadline)?,
        };
        let fetched = seen.tip;
        // A request pointing at a commit this clone lacks cannot be checked
        // against the branch: it is neither served nor lets the local
        // operation it names wait for a server (a hook on the remote that
        // rewrote it once left a `next` answering with nothing).
        let mut waiting: Vec<Request> =
            seen.requests.iter().flatten().filter(|r| orc.store.has_commit(r.target)).cloned().collect();
        if let (Some(own), Some(listed)) = (posted.as_ref(), &seen.requests) {
            if !listed.iter().any(|r| r.refname == own.refname) {
                // Served by whoever pushed since: its claim is on `fetched`.
                *posted = None;
            } else if last_seen != fetched {
                // Someone is pushing, and will serve the request with its next
                // push: racing it would only make both lose. A remote that
                // stands still has nobody to serve it, so then it pushes itself.
                last_seen = fetched;
                budget.wait_to_be_served();
                continue;
            }
        }
        last_seen = fetched;
        // A `next` that lost a round asks to be served before it races again;
        // once only: a request that is gone was served, and asking again
        // would have it served twice.
        if let (Some(publishing), None, Some(tip)) = (publishing, &posted, fetched) {
            if (lost_push || budget.contended) && !asked {
                asked = true;
                *posted = ask_to_be_served(orc, remote_name, publishing, tip, deadline)?;
            }
        }
        if let Some(own) = posted.as_ref() {
            if !waiting.iter().any(|r| r.refname == own.refname) {
                waiting.push(own.clone());
                waiting.sort_by(|a, b| a.op_id.cmp(&b.op_id));
            }
        }
        report.remote_tip_before = fetched;
        // What an earlier attempt dropped is judged again on this tip.
        report.dropped.clear();
        report.refusals.clear();
        report.served = 0;
        let had_branch = orc.store.tip()?.is_some();
        // Replay is a write: it happens under the queue, which is released
        // before the network so local agents keep working during the push.
        let queue = orc.store.lock_writers()?;
        // Adopts the fetched branch when this clone has none yet.
        let local = orc.ensure_branch_locked(&queue)?;
        if let (Some(before), Some(now)) = (synced_before_look, fetched) {
            // Only what the remote said now can show a rewrite: the tracking
            // ref may lag what another process of this clone synced since (a
            // slow `git push` moves it without checking what it held), and a
            // push on a stale tip just loses its lease.
            let from_remote = seen.requests.is_some();
            if from_remote && !accept_rewrite && !orc.store.is_ancestor(before, now).unwrap_or(false) {
                return Err(rewritten(orc, remote_name, before, now, local)?);
            }
        }
        let Some(theirs) = fetched else {
            // The remote has no branch yet: ours becomes it, as it is.
            drop(queue);
            match with_retries(deadline, || remote::push(&dir, remote_name, &branch, local, None, deadline))? {
                Pushed::Accepted => {}
                Pushed::Moved => {
                    lost_push = true;
                    continue;
                }
                Pushed::Refused(why) => return Err(push_refused(remote_name, &why)),
            }
            report.pushes += 1;
            budget.pushes += 1;
            report.published = count_between(orc, local, None)?;
            return finish(orc, remote_name, report, local, local);
        };
        if theirs == local && waiting.is_empty() {
            drop(queue);
            if !had_branch {
                report.received = count_between(orc, theirs, None)?;
            }
            remember_synced(orc, remote_name, theirs)?;
            report.tip = local.to_string();
            report.remote_tip = Some(theirs);
            return Ok(report);
        }
        // Operations already on the remote (a publish killed after its push
        // landed, before the local branch moved; a request served there) are
        // not replayed again: exactly once, by operation id.
        let already_there = op_ids_between(orc, theirs, Some(local))?;
        let requested: std::collections::HashSet<&str> = waiting.iter().map(|r| r.op_id.as_str()).collect();
        // A local `next` that asked to be served is served as its request
        // (the best task now), not replayed as the task it chose then.
        let local_ops = local_only(orc, local, Some(theirs))?;
        let all_local = local_ops.len();
        let ops: Vec<Recorded> = local_ops
            .into_iter()
            .filter(|rec| !already_there.contains(&rec.envelope.id) && !requested.contains(rec.envelope.id.as_str()))
            .collect();
        let (mut candidate, received) = if ops.is_empty() {
            // Nothing of ours is missing there: fast-forward to theirs.
            (theirs, count_between(orc, theirs, Some(local))?)
        } else if ops.len() == all_local && orc.store.is_ancestor(theirs, local)? {
            // Every local operation goes as it is (none is served as a request
            // instead): the local branch itself.
            (local, 0)
        } else {
            let received = count_between(orc, theirs, Some(local))?;
            let (tip, outcomes) = replay_all(orc, &queue, ops, theirs, &already_there)?;
            let drops = dropped(outcomes);
            let tip = log_drops(orc, &queue, tip, &drops)?;
            note_drops(&mut report, &drops);
            (tip, received)
        };
        // Either way the answer is known; the rest of the local work (a drop's
        // event, heartbeats) waits for the next publish or sync, as events do.
        let ours_dropped = publishing.is_some_and(|p| report.refusals.iter().any(|(dropped, _)| dropped == p.op_id));
        // On theirs, that is: this clone's branch may hold it already too,
        // when another process of the clone synced it first.
        let ours_there = match publishing {
            Some(Publishing { op_id, before: Some(before), .. }) => commit_of_op(orc, theirs, before, op_id)?.is_some(),
            Some(Publishing { op_id, before: None, .. }) => already_there.contains(op_id),
            None => false,
        };
        if ours_dropped || ours_there {
            drop(queue);
            settle_local(orc, local, candidate)?;
            remember_synced(orc, remote_name, theirs)?;
            report.remote_tip = fetched;
            budget.just_fetched = true;
            report.received = received;
            report.tip = orc.store.tip()?.map(|t| t.to_string()).unwrap_or_default();
            return Ok(report);
        }
        let Served { tip: served_tip, updates, drops: request_drops } =
            serve(orc, &queue, &waiting, theirs, &already_there, candidate)?;
        report.served = updates.len() - request_drops.len();
        candidate = log_drops(orc, &queue, served_tip, &request_drops)?;
        note_drops(&mut report, &request_drops);
        drop(queue);
        if candidate != theirs || !updates.is_empty() {
            // The pause after a lost push comes here, once the refetch showed
            // that our operation survived: a loser whose task went to the
            // winner returned above without pausing, to pick again at once.
            if lost_push {
                budget.pause();
            }
            report.pushes += 1;
            budget.pushes += 1;
            let mut refs = vec![remote::RefUpdate {
                name: format!("refs/heads/{branch}"),
                expected: Some(theirs),
                new: Some(candidate),
            }];
            refs.extend(updates);
            match with_retries(deadline, || remote::push_refs(&dir, remote_name, &refs, deadline))? {
                Pushed::Accepted => *posted = None,
                Pushed::Moved => {
                    lost_push = true;
                    continue;
                }
                Pushed::Refused(why) => return Err(push_refused(remote_name, &why)),
            }
        }
        report.received = received;
        // Each drop left one event commit, and each served request one claim.
        report.published = count_between(orc, candidate, fetched)?.saturating_sub(report.dropped.len() + report.served);
        return finish(orc, remote_name, report, local, candidate);
    }
    Err(budget.busy(remote_name))
}

/// Posts the claim request of a publishing `next` on `tip`; None when it is
/// no `next`, when the names make no valid ref, or when the remote did not
/// take it (that `next` races as before). Never for an operation the
/// remote has (another process of this clone pushed it): a server looks
/// for it only after the commit the request points at.
fn ask_to_be_served(
    orc: &Engine<'_>,
    remote_name: &str,
    publishing: Publishing<'_>,
    tip: ObjectId,
    deadline: &Deadline,
) -> Result<Option<Request>> {
    let Publishing { op_id, before: Some(before), want: Some(want) } = publishing else { return Ok(None) };
    if commit_of_op(orc, tip, before, op_id)?.is_some() {
        return Ok(None);
    }
    let Some(request) = Request::new(op_id, want, orc.store.branch(), tip) else { return Ok(None) };
    let create = [request.create()];
    let dir = orc.store.git_cwd();
    let pushed = with_retries(deadline, || remote::push_refs(&dir, remote_name, &create, deadline))?;
    Ok((pushed == Pushed::Accepted).then_some(request))
}

/// Moves the local branch to what the remote accepted and says so.
fn finish(
    orc: &Engine<'_>,
    remote_name: &str,
    mut report: SyncReport,
    local: ObjectId,
    accepted: ObjectId,
) -> Result<SyncReport> {
    settle_local(orc, local, accepted)?;
    remember_synced(orc, remote_name, accepted)?;
    report.remote_tip = Some(accepted);
    report.tip = orc.store.tip()?.map(|t| t.to_string()).unwrap_or_default();
    Ok(report)
}

fn push_refused(remote_name: &str, why: &str) -> Error {
    Error::new(Kind::PushRefused, format!("{remote_name} refused the orc branch: {why}"))
        .with_hint("local work is kept; fix the cause on the host (branch protection, hooks, size) and sync again")
}

/// Records drops in the report: each refusal by operation id, and what
/// `orc sync` shows.
fn note_drops(report: &mut SyncReport, drops: &[(Recorded, Error)]) {
    report.refusals.extend(drops.iter().map(|(rec, err)| (rec.envelope.id.clone(), err.clone())));
    report.dropped.extend(drops.iter().map(|(rec, err)| Dropped {
        op_id: rec.envelope.id.clone(),
        op: rec.envelope.op.clone(),
        subject: rec.subject.clone(),
        by: rec.envelope.actor.name().to_string(),
        kind: err.kind.to_string(),
        reason: err.message.clone(),
    }));
}

/// Serves the claim requests `waiting` on top of `tip` (what this push
/// will carry, on the remote's `theirs`): the best ready task for each,
/// oldest first, under the request's operation id. Returns the new tip,
/// the deletions of every request settled (served, refused, or already on
/// the branch), and the refused ones, to be logged as drops.
fn serve(
    orc: &Engine<'_>,
    queue: &WriteLock,
    waiting: &[Request],
    theirs: ObjectId,
    already_there: &std::collections::HashSet<String>,
    mut tip: ObjectId,
) -> Result<Served> {
    // More than this many claims in one push makes a long push for
    // everyone waiting behind it; the rest wait one round.
    const MOST: usize = 32;
    let mut updates = Vec::new();
    let mut drops = Vec::new();
    let mut on_branch: std::collections::HashMap<ObjectId, std::collections::HashSet<String>> = Default::default();
    for request in waiting.iter().take(MOST) {
        let seen = match on_branch.entry(request.target) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            // A request from before the remote's history (or of commits
            // this clone lacks) cannot be checked: it waits for a server that can.
            std::collections::hash_map::Entry::Vacant(e) => match op_ids_between(orc, theirs, Some(request.target)) {
                Ok(ids) => e.insert(ids),
                Err(_) => continue,
            },
        };
        if seen.contains(&request.op_id) || already_there.contains(&request.op_id) {
            updates.push(request.delete());
            continue;
        }
        let (op, envelope) = request.operation(orc);
        match orc.build_on(queue, &op, &envelope, None, tip) {
            Ok(Some((_, commit))) => tip = commit,
            Ok(None) => {}
            Err(e) if e.class == crate::error::Class::Environment => return Err(e),
            Err(refusal) => {
                let mut envelope = envelope;
                envelope.input = serde_json::to_value(&op).expect("plain data");
                drops.push((Recorded { commit: request.target, envelope, subject: request.subject() }, refusal));
            }
        }
        updates.push(request.delete());
    }
    Ok(Served { tip, updates, drops })
}

/// What serving the waiting requests made.
struct Served {
    /// The tip with the served claims on top.
    tip: ObjectId,
    /// The deletions of the requests settled.
    updates: Vec<remote::RefUpdate>,
    /// The requests refused, to be logged as drops.
    drops: Vec<(Recorded, Error)>,
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
            // What `synced` holds that the branch did not when the sync began,
            // and what it holds that the branch lacks now: another process may
            // have settled the branch meanwhile onto an older remote tip, with
            // its own replays of operations `synced` already holds (replaying
            // those again put one claim on the branch three times).
            let mut already_there = op_ids_between(orc, synced, Some(was))?;
            already_there.extend(op_ids_between(orc, synced, Some(now))?);
            let (tip, outcomes) = replay_all(orc, &queue, local_only(orc, now, Some(was))?, synced, &already_there)?;
            log_drops(orc, &queue, tip, &dropped(outcomes))?
        };
        if orc.store.compare_and_swap(&queue, Some(now), target, "orc: sync")? == Swap::Done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorrelated_jitter_stays_between_base_and_cap_and_at_most_triples() {
        let mut backoff = Backoff::new();
        let mut prev = BACKOFF_BASE;
        let mut longest = Duration::ZERO;
        for _ in 0..1000 {
            let pause = backoff.next_pause();
            assert!(pause >= BACKOFF_BASE && pause <= BACKOFF_CAP, "{pause:?}");
            assert!(pause <= prev * 3, "{pause:?} after {prev:?}");
            longest = longest.max(pause);
            prev = pause;
        }
        assert!(longest > BACKOFF_CAP / 2, "pauses grow towards the cap: the longest was {longest:?}");
    }

    #[test]
    fn a_budget_of_zero_is_spent_at_once_and_says_where_it_is_set() {
        let budget = Budget::new(Duration::ZERO, "orc.toml publish_timeout");
        assert!(budget.spent());
        let busy = budget.busy("origin");
        assert_eq!(busy.kind, Kind::Busy);
        assert_eq!(
            busy.message,
            "origin kept moving: 0 push(es) lost to other machines in 0s (orc.toml publish_timeout)"
        );
    }
}
