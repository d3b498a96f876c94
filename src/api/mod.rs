//! The library's front door (DESIGN §9): a repository handle shared by a
//! whole process, and on it every rule of orc that is more than one
//! operation. The CLI, and later `orc serve`, `orc mcp` and `orc work`,
//! call this layer and hold no rule of their own.
//!
//! Rules this module keeps:
//! - Publish before success: a claim, `next`, a finish and a lock change
//!   report success only once the remote accepted them, when the session
//!   publishes and a remote is configured ([`Repo::publish`]).
//! - `next` moves on to another task after losing its choice to another
//!   machine, within one `publish_timeout` for the whole command.
//! - Waiting and following have deadlines or cancellation, never a bare
//!   `loop { sleep }` a caller cannot stop.
//! - A lock held for a command is a [`lease::LockLease`]: it renews every
//!   third of its TTL and releases when dropped.
//! - Identity is the front end's choice: nothing here reads `ORC_AGENT`
//!   or falls back to another actor.

pub mod inputs;
pub mod knowledge;
pub mod lease;
pub mod offline;
pub mod primer;
pub mod reads;
pub mod status;
pub mod views;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Duration;

use crate::error::{Error, Kind, Result};
use crate::model::lock::Lock;
use crate::model::names::{AgentName, ResourceName};
use crate::model::task::{Actor, Task};
use crate::ops::dashboard::RenderDashboard;
use crate::ops::lock::{AcquireLock, ReleaseLock};
use crate::ops::task::{ClaimTask, FinishTask};
use crate::ops::{Applied, Engine, Operation};
use crate::read::locks::Observations;
use crate::read::Snapshot;
use crate::session::{Publish, Session};
use crate::store::{ObjectId, Store};
use crate::sync::requests::Want;
use crate::sync::{Budget, SyncReport};

pub use crate::ops::init::InitOutcome;

/// Where a clone remembers when it last published (`<git-common-dir>/orc/`).
const PUBLISHED_AT: &str = "published-at";

/// Locks, each with whether this machine judges it expired.
pub type JudgedLocks = Vec<(Lock, bool)>;

/// One repository, shared by every thread of a process (`Send + Sync`).
/// git handles are not shareable, so each call borrows one from a small
/// pool and gives it back.
pub struct Repo {
    dir: PathBuf,
    pool: Mutex<Vec<Store>>,
    branch: String,
}

/// A store borrowed from the pool; returned when dropped.
pub struct PooledStore<'r> {
    repo: &'r Repo,
    store: Option<Store>,
}

impl std::ops::Deref for PooledStore<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledStore<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let mut pool = self.repo.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if pool.len() < 8 {
                pool.push(store);
            }
        }
    }
}

/// What a publish found out about its operation.
#[derive(Debug, Default)]
struct Published {
    /// The remote had it before this publish pushed anything.
    earlier: bool,
    /// The remote's commit that records it.
    commit: Option<ObjectId>,
}

impl Repo {
    /// Opens the repository containing `dir` (honouring `GIT_DIR`).
    pub fn open(dir: &Path) -> Result<Self> {
        let store = Store::discover(dir)?;
        let branch = store.branch().to_string();
        Ok(Self { dir: dir.to_path_buf(), pool: Mutex::new(vec![store]), branch })
    }

    /// A git handle for one call.
    pub fn store(&self) -> Result<PooledStore<'_>> {
        let pooled = self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let store = match pooled {
            Some(store) => store,
            None => Store::discover(&self.dir)?,
        };
        Ok(PooledStore { repo: self, store: Some(store) })
    }

    /// Merges orc's small packs: every listed one into one (`all`), or the
    /// smallest once a roll-up is due. With `wait` false, another run under
    /// way makes this return at once, having done nothing.
    pub fn maintain(&self, all: bool, wait: bool) -> Result<crate::store::maintain::Maintained> {
        let scope = if all { crate::store::maintain::Scope::All } else { crate::store::maintain::Scope::Due };
        self.store()?.maintain(scope, wait)
    }

    /// Where the repository was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The orc branch's name.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The agent this worktree is configured as (`git config orc.agent`).
    pub fn configured_agent(&self) -> Result<Option<AgentName>> {
        self.store()?.config_string("orc.agent").map(|name| AgentName::new(&name)).transpose()
    }

    /// The person operations without an agent are recorded under: git's
    /// `user.name`, else `user.email`, else None.
    pub fn git_person(&self) -> Result<Option<String>> {
        let (name, email) = self.store()?.git_user();
        Ok(name.or(email))
    }

    /// The remote orc coordinates through: git config `orc.remote`, else
    /// `origin` when present.
    pub fn remote_name(&self) -> Result<Option<String>> {
        Ok(crate::ops::init::remote_name(&*self.store()?))
    }

    /// The remote `session`'s publishing operations publish to: None when
    /// it keeps operations local or no remote is configured.
    pub fn publishing_remote(&self, session: &Session) -> Result<Option<String>> {
        Ok(publishing_remote(&*self.store()?, session))
    }

    /// Runs `read` on a snapshot of the branch's tip.
    pub fn read<T>(&self, read: impl FnOnce(&Snapshot<'_>) -> Result<T>) -> Result<T> {
        let store = self.store()?;
        let snap = Snapshot::current(&store)?;
        read(&snap)
    }

    /// Applies one operation locally. An agent's operation also publishes
    /// its sign of life when the last publish from this clone is older than
    /// a third of the lease (DESIGN §4), so its claims stay alive on other
    /// machines; at most one push per third of a lease, and a failure to
    /// publish is a notice, not an error: the operation itself succeeded.
    pub fn apply<O: Operation>(&self, session: &Session, op: &O) -> Result<Applied<O::Output>> {
        let applied = self.apply_local(session, op)?;
        let by_agent = matches!(op.actor(&session.actor), Actor::Agent(_));
        if by_agent && applied.commit.is_some() && self.sign_of_life_due(session)? {
            if let Err(e) = self.publish(session, &applied.op_id, applied.fresh_commit()) {
                let agent = op.actor(&session.actor);
                session.notice(format!("warning: could not publish {}'s sign of life: {}", agent.name(), e.message));
            }
        }
        Ok(applied)
    }

    /// Applies one operation, publishing nothing.
    fn apply_local<O: Operation>(&self, session: &Session, op: &O) -> Result<Applied<O::Output>> {
        let store = self.store()?;
        Engine::new(&store, session).apply(op)
    }

    /// Is a publish of this clone's work due to keep its agents' claims
    /// alive elsewhere (the last one older than a third of the lease)?
    fn sign_of_life_due(&self, session: &Session) -> Result<bool> {
        if session.publish == Publish::Local {
            return Ok(false);
        }
        let store = self.store()?;
        let Some(remote) = crate::ops::init::remote_name(&store) else { return Ok(false) };
        if !store.remote_names().contains(&remote) {
            return Ok(false);
        }
        let lease = Snapshot::current(&store)?.settings().0.lease;
        let last = std::fs::read_to_string(store.private_dir().join(PUBLISHED_AT))
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
        Ok(last.is_none_or(|at| session.clock.now() - at >= lease / 3))
    }

    /// Remembers when this clone last published (best effort).
    fn remember_published(&self, session: &Session) {
        if let Ok(store) = self.store() {
            let _ = std::fs::write(store.private_dir().join(PUBLISHED_AT), session.clock.now().timestamp().to_string());
        }
    }

    /// Applies one operation and publishes it before reporting success
    /// (DESIGN §4): the answer is the remote's, not this machine's.
    pub fn apply_published<O: Operation>(&self, session: &Session, op: &O) -> Result<Applied<O::Output>> {
        let applied = self.apply_local(session, op)?;
        self.publish(session, &applied.op_id, applied.fresh_commit())?;
        Ok(applied)
    }

    /// Publishes a just-applied operation when the session publishes and a
    /// remote is configured, within orc.toml's `publish_timeout`. If the
    /// replay on the remote's tip refused it (another machine won), that
    /// refusal is the answer. Local work waiting for the next sync (events,
    /// heartbeats, knowledge) travels in the same push. A sync that failed
    /// says the operation was kept locally (`kept_locally`), whatever failed.
    /// `commit` is the local commit that carries the operation; with it, the
    /// operation must be on the remote afterwards, even when another process
    /// synced it first.
    pub fn publish(&self, session: &Session, op_id: &str, commit: Option<ObjectId>) -> Result<()> {
        let remote = self.publishing_remote(session)?;
        let mut budget = self.publish_budget(remote.as_deref())?;
        self.publish_within(session, remote.as_deref(), op_id, commit, None, &mut budget).map(|_| ())
    }

    /// The time a publishing command may spend against a remote that keeps
    /// moving (orc.toml `publish_timeout`; the default when orc.toml is
    /// broken, as for `net_timeout`). orc.toml is read only when there is a
    /// remote: with none, nothing is spent.
    fn publish_budget(&self, remote: Option<&str>) -> Result<Budget> {
        let source = "orc.toml publish_timeout";
        if remote.is_none() {
            return Ok(Budget::new(std::time::Duration::ZERO, source));
        }
        let store = self.store()?;
        let limit = Snapshot::current(&store)?.settings().0.publish_timeout;
        Ok(Budget::new(limit.to_std().unwrap_or_default(), source))
    }

    /// Publishes to `remote` (found once per command by `publishing_remote`;
    /// None publishes nothing), spending from `budget` (shared by the tries
    /// of one `next`). `want` is set for a `next`: one that loses a round
    /// asks the machine that wins it to claim for it (`sync::requests`).
    fn publish_within(
        &self,
        session: &Session,
        remote: Option<&str>,
        op_id: &str,
        commit: Option<ObjectId>,
        want: Option<&Want>,
        budget: &mut Budget,
    ) -> Result<Published> {
        let Some(remote) = remote else { return Ok(Published::default()) };
        let store = self.store()?;
        let engine = Engine::new(&store, session);
        let report = crate::sync::publish(&engine, remote, op_id, commit, want, budget)
            .map_err(|e| offline::kept_locally(e, ""))?;
        session.note_publish_pushes(report.pushes);
        self.remember_published(session);
        match report.refusals.into_iter().find(|(id, _)| id == op_id) {
            Some((_, refusal)) => Err(refusal),
            None => Ok(Published { earlier: report.published_earlier, commit: report.op_commit }),
        }
    }

    /// The task a claim commit recorded, as that commit left it.
    fn claimed_in(&self, commit: ObjectId) -> Result<Task> {
        let store = self.store()?;
        let message = store.commit_message(commit)?;
        let envelope = crate::ops::trailer::Envelope::parse(&message, &commit.to_string())?;
        let task = envelope.as_ref().and_then(|e| e.input.get("task")).and_then(|t| t.as_str());
        let Some(task) = task else {
            return Err(Error::new(
                Kind::WrongState,
                format!("commit {commit} on the orc branch records no claimed task"),
            )
            .with_hint("run `orc doctor`; the claim itself is on the branch"));
        };
        let task = Snapshot::at(&store, Some(commit))?.find_task(task, None)?;
        Ok(task)
    }

    /// Claims a task (by id or prefix) or the best ready one, published.
    /// A `next` that lost its choice to another machine picks again, within
    /// one `publish_timeout` for the whole command (issue 12: a `next` used
    /// to take up to 92 s when 8 clones raced). A publish that failed names
    /// the task claimed on this machine only; and while such a claim by the
    /// same agent waits, `next` publishes it and answers with it instead of
    /// claiming another. A `next` whose time ran out between choices claims
    /// nothing and says so (`busy`).
    pub fn claim(&self, session: &Session, op: &ClaimTask) -> Result<Applied<Task>> {
        let remote = self.publishing_remote(session)?;
        let remote = remote.as_deref();
        let mut budget = self.publish_budget(remote)?;
        if op.task.is_none() {
            if let Some(pending) = self.publish_pending_claim(session, op, remote, &mut budget)? {
                self.forget_told(op);
                return Ok(pending);
            }
            if let Some(told) = self.told_claim(session, op)? {
                self.forget_told(op);
                return Ok(told);
            }
        }
        // Each lost choice brings the winner's claim here, so the next choice
        // is a task nobody else has won yet; and each loss is a task won
        // elsewhere, so a `next` that keeps losing runs out of tasks, if not
        // of time. A count of tries (ten, before issue 12) failed `next`s
        // whose only fault was bad luck in a race.
        let picks_again = op.task.is_none();
        let want = picks_again.then(|| Want { agent: op.agent.clone(), workstream: op.workstream.clone() });
        loop {
            // The publish below carries the sign of life: no second push.
            let mut applied = self.apply_local(session, op)?;
            match self.publish_within(
                session,
                remote,
                &applied.op_id,
                applied.fresh_commit(),
                want.as_ref(),
                &mut budget,
            ) {
                Ok(published) => {
                    if let Some(commit) = published.commit.filter(|c| Some(*c) != applied.commit) {
                        // Another machine served this `next`'s request: it chose the task.
                        applied.output = self.claimed_in(commit)?;
                        applied.commit = Some(commit);
                    }
                    return Ok(applied);
                }
                Err(e) if e.kind == Kind::AlreadyClaimed && picks_again && budget.spent() => {
                    return Err(claimed_nothing(&budget, remote.unwrap_or_default(), &e));
                }
                Err(e) if e.kind == Kind::AlreadyClaimed && picks_again => budget.contended = true,
                Err(e) if offline::is_kept_locally(&e) => {
                    self.remember_told(op, &applied.output, &applied.op_id);
                    return Err(offline::claimed_locally(e, &applied.output, false));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes `op.agent`'s newest claim that is still only on this
    /// machine, if any: the answer to a `next` is that task once the
    /// remote accepted it (when it is in the workstream asked for). None
    /// when there is none, when the remote turns out to have had it already,
    /// when another machine won it meanwhile, or when it is in another
    /// workstream: then `next` claims as usual.
    fn publish_pending_claim(
        &self,
        session: &Session,
        op: &ClaimTask,
        remote: Option<&str>,
        budget: &mut Budget,
    ) -> Result<Option<Applied<Task>>> {
        let Some(remote) = remote else { return Ok(None) };
        let pending = {
            let store = self.store()?;
            offline::pending_claim(&store, remote, op.agent.as_str())?
        };
        let Some(pending) = pending else { return Ok(None) };
        match self.publish_within(session, Some(remote), &pending.op_id, Some(pending.commit), None, budget) {
            // Published before this `next`, so not waiting after all: its
            // agent was told then (the MCP race once handed one agent the same
            // task twice), or was told it was kept locally (`told_claim`).
            Ok(Published { earlier: true, .. }) => return Ok(None),
            Ok(_) => {}
            Err(e) if offline::is_kept_locally(&e) => {
                self.remember_told(op, &pending.task, &pending.op_id);
                return Err(offline::claimed_locally(e, &pending.task, true));
            }
            // The remote refused it (another machine won): claim another.
            Err(_) => return Ok(None),
        }
        let task = self.read(|snap| snap.find_task(&pending.task.id, None))?;
        let still_ours =
            task.status == crate::model::task::Status::Claimed && task.claimed_by.as_deref() == Some(op.agent.as_str());
        if !still_ours || op.workstream.as_ref().is_some_and(|ws| ws.as_str() != task.workstream) {
            return Ok(None);
        }
        session.notice(format!(
            "{}: claimed earlier on this machine but not published then; published now, and no other task claimed",
            task.id
        ));
        Ok(Some(Applied {
            output: task,
            op_id: pending.op_id,
            commit: Some(pending.commit),
            replayed: false,
            retries: 0,
        }))
    }

    /// The claim `op.agent` was told was kept locally and that another
    /// process on this machine published since: the answer to its `next`
    /// (when it is in the workstream asked for), as if this call had
    /// published it.
    fn told_claim(&self, session: &Session, op: &ClaimTask) -> Result<Option<Applied<Task>>> {
        let told = {
            let store = self.store()?;
            offline::told_claim(&store, op.agent.as_str())?
        };
        let Some((task, op_id)) = told else { return Ok(None) };
        if op.workstream.as_ref().is_some_and(|ws| ws.as_str() != task.workstream) {
            return Ok(None);
        }
        session.notice(format!(
            "{}: claimed earlier on this machine, and published since; no other task claimed",
            task.id
        ));
        Ok(Some(Applied { output: task, op_id, commit: None, replayed: false, retries: 0 }))
    }

    /// Best effort: the error being returned matters more than the note.
    fn remember_told(&self, op: &ClaimTask, task: &Task, op_id: &str) {
        if let Ok(store) = self.store() {
            offline::remember_told(&store, op.agent.as_str(), task, op_id);
        }
    }

    fn forget_told(&self, op: &ClaimTask) {
        if let Ok(store) = self.store() {
            offline::forget_told(&store, op.agent.as_str());
        }
    }

    /// Completes or fails a task, published.
    pub fn finish(&self, session: &Session, op: &FinishTask) -> Result<Applied<Task>> {
        self.apply_published(session, op)
    }

    /// Acquires (or renews) a lock as the session's agent, published. This
    /// machine starts watching the lock's version before the attempt, so a
    /// refused acquire still starts the expiry clock on the holder.
    pub fn acquire_lock(&self, session: &Session, resource: &ResourceName, ttl: Duration) -> Result<Applied<Lock>> {
        let agent = session.agent()?;
        let op = {
            let store = self.store()?;
            AcquireLock::new(&store, resource, agent, ttl, session.clock.now())?
        };
        let mut observed = op.observed.clone();
        let applied = self.apply_published(session, &op)?;
        // The holder's own machine watched its lock from the moment it was taken.
        observed.observe([&applied.output], session.clock.now());
        Ok(applied)
    }

    /// Releases a lock (the holder's, or any with `force`), published.
    pub fn release_lock(&self, session: &Session, resource: &ResourceName, force: bool) -> Result<Applied<Lock>> {
        self.apply_published(session, &ReleaseLock { resource: resource.clone(), force })
    }

    /// Every lock (or the held ones), each judged live or expired by what
    /// this machine observed (DESIGN §4), and the lock files that did not
    /// parse.
    pub fn judged_locks(&self, session: &Session, all: bool) -> Result<(JudgedLocks, Vec<Error>)> {
        let store = self.store()?;
        let snap = Snapshot::current(&store)?;
        let (settings, settings_problem) = snap.settings();
        let now = session.clock.now();
        let mut locks = crate::read::locks::all_locks(&snap)?;
        locks.broken.extend(settings_problem);
        let mut observed = Observations::load(&store);
        observed.observe(&locks.items, now);
        let judged = locks
            .items
            .into_iter()
            .filter(|l| all || l.is_held())
            .map(|l| {
                let expired = l.is_held() && !l.is_live(&observed.clock(Some(&l), now, settings.expiry_slack));
                (l, expired)
            })
            .collect();
        Ok((judged, locks.broken))
    }

    /// Syncs with `remote`: renders the dashboard first when the last render
    /// is older than orc.toml's `render_interval` (so the push carries it;
    /// never on the claim path), then fetches, replays and pushes.
    pub fn sync(&self, session: &Session, remote: &str, accept_rewrite: bool) -> Result<SyncReport> {
        let store = self.store()?;
        let due = {
            let snap = Snapshot::current(&store)?;
            let settings = snap.settings_checked()?;
            crate::ops::dashboard::last_render(&snap)?
                .is_none_or(|at| session.clock.now() - at >= settings.render_interval)
        };
        let engine = Engine::new(&store, session);
        if due {
            engine.apply(&RenderDashboard)?;
        }
        let report = crate::sync::sync_with(&engine, remote, accept_rewrite)?;
        // The pooled handle goes back before remembering (which borrows one).
        drop(store);
        self.remember_published(session);
        Ok(report)
    }

    /// Creates the branch (or adopts the remote's); idempotent.
    pub fn init(&self, session: &Session) -> Result<InitOutcome> {
        let store = self.store()?;
        crate::ops::init::init(&Engine::new(&store, session))
    }
}

/// The remote a publishing operation publishes to: None when the session
/// keeps operations local or no remote is configured.
fn publishing_remote(store: &Store, session: &Session) -> Option<String> {
    if session.publish == Publish::Local {
        return None;
    }
    let remote = crate::ops::init::remote_name(store)?;
    store.remote_names().contains(&remote).then_some(remote)
}

/// The error for a `next` whose time ran out after it lost its last choice
/// to another machine: nothing is claimed, here or there (DESIGN §4).
fn claimed_nothing(budget: &Budget, remote: &str, lost: &Error) -> Error {
    Error::new(
        Kind::Busy,
        format!(
            "no task claimed: {remote} kept moving for {} ({}); the last choice was lost: {}",
            budget.shown_limit(),
            budget.source(),
            lost.message
        ),
    )
    .with("claimed_nothing", true)
    .with_hint("nothing is claimed: run `orc next` again in a moment, or pass --local to claim on this machine only")
}

/// The actor for a front end that found `agent` (or none) and `person`:
/// the agent when there is one. Where each comes from is the front end's
/// choice.
pub fn actor_for(agent: Option<AgentName>, person: String) -> Actor {
    match agent {
        Some(agent) => Actor::Agent(agent.to_string()),
        None => Actor::Person(person),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repo_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Repo>();
        shareable::<Session>();
    }
}
