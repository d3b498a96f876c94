//! `orc work`: a supervisor that keeps N slots busy with agent commands
//! (DESIGN §9.3). It is a front end: claims, heartbeats, finishes and
//! retries are library calls, and every rule about tasks stays there.
//!
//! Rules this module keeps:
//! - One supervisor per agent identity: a file lock on this clone (gone
//!   with the process, however it dies) and the branch lock `work.<agent>`
//!   (held by a renewing lease) for other machines.
//! - Slot k acts as the agent `<agent>-k`, so each slot's claims, heartbeats
//!   and status line are its own.
//! - A task is claimed (published) before its command starts, and finished
//!   with the claim's token after it ends; a command that could not start,
//!   or a stop, gives the claim back.
//! - Only task failures and timeouts spend a task's retries (`t retry`
//!   after exponential backoff with jitter); a command that cannot start
//!   pauses its slot instead.
//! - No agent outlives the supervisor: each runs under a keeper process
//!   (see `keeper`) that ends its process group when the supervisor goes.

pub mod attempt;
pub mod keeper;
pub mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;

use crate::api::lease::LockLease;
use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::names::{AgentName, ResourceName, WorkstreamName};
use crate::model::task::{Actor, Status, Task};
use crate::ops::task::{Change, ChangeTask, ClaimTask};
use crate::session::{Clock, Publish, Session};
use attempt::{Attempt, Ended, Outcome};
use state::{Counts, SlotState, SupervisorState, WorkDir};

/// How long the branch lock `work.<agent>` lives without renewal.
const SUPERVISOR_TTL: Duration = Duration::from_secs(120);
/// How often an idle supervisor without a remote looks for work.
const POLL_LOCAL: Duration = Duration::from_secs(1);
/// How often an idle supervisor with a remote syncs to see others' work.
const POLL_REMOTE: Duration = Duration::from_secs(10);
/// The longest a slot pauses after a command that would not start.
const MAX_PAUSE: Duration = Duration::from_secs(300);
const FIRST_PAUSE: Duration = Duration::from_secs(5);
/// The longest wait before a failed task is retried.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How often the state file for `orc work status` is rewritten.
const STATE_EVERY: Duration = Duration::from_secs(1);

/// How a supervisor runs.
#[derive(Debug, Clone)]
pub struct WorkConfig {
    pub slots: usize,
    pub workstream: Option<WorkstreamName>,
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub retries: u32,
    /// The first retry's delay; each later one doubles it.
    pub backoff: Duration,
    /// How long an agent has between TERM and KILL.
    pub grace: Duration,
    pub keep_worktrees: bool,
    /// Stop once nothing is ready, running or waiting for a retry, and no
    /// blocked task waits on a task someone else holds.
    pub drain: bool,
    /// The command, with `{prompt}`, `{brief}` and `{task}` replaced.
    pub command: Vec<String>,
}

/// The agent command lines orc knows by name.
pub fn preset(name: &str) -> Result<Vec<String>> {
    let line: &[&str] = match name {
        "claude" => &["claude", "-p", "{prompt}", "--output-format", "json", "--permission-mode", "acceptEdits"],
        "codex" => &["codex", "exec", "--full-auto", "{prompt}"],
        other => {
            return Err(Error::new(Kind::Usage, format!("no preset named {other:?}"))
                .with_hint("presets are claude and codex; or give the command after --"))
        }
    };
    Ok(line.iter().map(ToString::to_string).collect())
}

/// What a supervisor and its attempts share.
pub struct Shared {
    pub config: WorkConfig,
    pub work: WorkDir,
    pub private_dir: PathBuf,
    pub common_dir: PathBuf,
    /// Where worktrees branch from (its `HEAD`).
    pub repo_dir: PathBuf,
    /// This orc, run again as each attempt's keeper.
    pub orc_exe: PathBuf,
    pub heartbeat_every: Duration,
}

impl Shared {
    /// One progress line on stderr.
    pub fn say(&self, line: &str) {
        eprintln!("orc work: {}", crate::model::names::terminal_safe(line));
    }
}

/// What a supervisor did, for `--json` and the last line.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub agent: String,
    pub counts: Counts,
    pub kept_worktrees: Vec<PathBuf>,
    pub stopped_by: Option<String>,
}

struct Slot {
    agent: AgentName,
    session: Arc<Session>,
    status: Arc<Mutex<SlotState>>,
    running: Option<JoinHandle<()>>,
    paused_until: Option<Instant>,
    pause: Duration,
}

/// Runs a supervisor as `agent` until it is stopped (a signal in
/// `interrupted`, `orc work stop`) or, with `drain`, until the work is done.
pub fn run(
    repo: Arc<Repo>,
    base: &Session,
    agent: &AgentName,
    config: WorkConfig,
    interrupted: &AtomicBool,
) -> Result<Summary> {
    if config.command.is_empty() {
        return Err(Error::new(Kind::Usage, "no command to run")
            .with_hint("give it after --, for example orc work -- ./agent.sh, or pick --preset claude"));
    }
    if !(1..=64).contains(&config.slots) {
        return Err(Error::new(Kind::InvalidInput, format!("--agents {} is out of range", config.slots))
            .with_hint("run 1 to 64 slots"));
    }
    let resource = ResourceName::new(&format!("work.{agent}")).map_err(|_| {
        Error::new(Kind::InvalidName, format!("the agent name {agent} is too long to supervise"))
            .with_hint("use an agent name of at most 56 characters")
    })?;
    let slot_names = (1..=config.slots)
        .map(|k| AgentName::new(&format!("{agent}-{k}")))
        .collect::<Result<Vec<_>>>()
        .map_err(|_| {
            Error::new(Kind::InvalidName, format!("the agent name {agent} is too long for slot names"))
                .with_hint("use an agent name of at most 56 characters")
        })?;
    let (private_dir, common_dir, repo_dir, lease_setting) = {
        let store = repo.store()?;
        let lease = repo.read(|snap| Ok(snap.settings().0.lease))?;
        (store.private_dir(), store.common_dir().to_path_buf(), repo.dir().to_path_buf(), lease)
    };
    let work = WorkDir::new(&private_dir)?;
    let previous = work.supervisors().into_iter().find(|s| s.agent == agent.as_str());
    let Some(_alive) = work.try_lock(agent)? else {
        return Err(state::already_running(agent, previous.as_ref()));
    };
    let supervisor_session =
        Arc::new(Session::new(Actor::Agent(agent.to_string())).with_clock(Clock::system()).with_publish(base.publish));
    // Another machine's supervisor shows only in the remote's lock: take it
    // in before judging (acquiring would otherwise renew it as ours).
    if let Some(remote) = repo.publishing_remote(&supervisor_session)? {
        repo.sync(&supervisor_session, &remote, false)?;
    }
    refuse_if_running_elsewhere(&repo, &supervisor_session, &resource, previous.as_ref())?;
    let lease = LockLease::acquire(
        Arc::clone(&repo),
        Arc::clone(&supervisor_session),
        resource.clone(),
        chrono::Duration::from_std(SUPERVISOR_TTL).expect("a small duration"),
    )?;
    let _ = std::fs::remove_file(work.stop_path(agent));
    let orc_exe = std::env::current_exe().map_err(|e| Error::io("cannot find the orc executable", &e))?;
    let heartbeat_every = (lease_setting.to_std().unwrap_or(Duration::from_secs(1800)) / 3).max(Duration::from_secs(1));
    let shared = Arc::new(Shared { config, work, private_dir, common_dir, repo_dir, orc_exe, heartbeat_every });
    let mut supervisor = Supervisor {
        repo,
        agent: agent.clone(),
        base_publish: base.publish,
        supervisor_session,
        shared,
        slots: slot_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| Slot {
                session: Arc::new(
                    Session::new(Actor::Agent(name.to_string())).with_clock(Clock::system()).with_publish(base.publish),
                ),
                status: Arc::new(Mutex::new(SlotState {
                    slot: i + 1,
                    agent: name.to_string(),
                    state: "idle".into(),
                    ..SlotState::default()
                })),
                agent: name,
                running: None,
                paused_until: None,
                pause: Duration::ZERO,
            })
            .collect(),
        stop: Arc::new(AtomicBool::new(false)),
        counts: Counts::default(),
        retries: Vec::new(),
        kept: Vec::new(),
        started_at: Utc::now(),
        lock_token: lease.lock().token,
        waiting_on_others: false,
        last_spawn_error: String::new(),
    };
    supervisor.recover();
    let outcome = supervisor.run_loop(&lease, interrupted);
    let _ = std::fs::remove_file(supervisor.shared.work.state_path(agent));
    let _ = std::fs::remove_file(supervisor.shared.work.stop_path(agent));
    if lease.lost().is_none() {
        let _ = lease.release();
    }
    let stopped_by = outcome?;
    supervisor.shared.say(&format!("finished: {}", supervisor.counts_line()));
    Ok(Summary { agent: agent.to_string(), counts: supervisor.counts, kept_worktrees: supervisor.kept, stopped_by })
}

/// Refuses when the branch lock `work.<agent>` is held, live, by a
/// supervisor that is not this clone's dead one.
fn refuse_if_running_elsewhere(
    repo: &Repo,
    session: &Session,
    resource: &ResourceName,
    previous: Option<&SupervisorState>,
) -> Result<()> {
    let (locks, _) = repo.judged_locks(session, false)?;
    let Some((lock, expired)) = locks.iter().find(|(l, _)| l.resource == resource.as_str()) else { return Ok(()) };
    // This clone's own supervisor died (its file lock is free now): the
    // branch lock it left is ours to take over at once.
    let ours = previous.is_some_and(|p| p.lock_token == Some(lock.token));
    if *expired || ours {
        return Ok(());
    }
    let holder = lock.holder.clone().unwrap_or_default();
    Err(Error::new(
        Kind::AlreadyRunning,
        format!("a supervisor runs as {holder} on another machine (it holds the lock {})", lock.resource),
    )
    .with("agent", &holder)
    .with_hint("stop it there (orc work stop), or run this one under another agent name"))
}

struct Supervisor {
    repo: Arc<Repo>,
    agent: AgentName,
    base_publish: Publish,
    supervisor_session: Arc<Session>,
    shared: Arc<Shared>,
    slots: Vec<Slot>,
    stop: Arc<AtomicBool>,
    counts: Counts,
    /// Failed tasks waiting for their retry: when, which.
    retries: Vec<(Instant, Task)>,
    kept: Vec<PathBuf>,
    started_at: chrono::DateTime<Utc>,
    lock_token: u64,
    /// When nothing was last ready: tasks here wait for dependencies that
    /// others hold claims on, so work may still come.
    waiting_on_others: bool,
    /// Why the last command that could not start did not.
    last_spawn_error: String,
}

impl Supervisor {
    /// Returns why it stopped (None: drained).
    fn run_loop(&mut self, lease: &LockLease, interrupted: &AtomicBool) -> Result<Option<String>> {
        let (ended_send, ended) = mpsc::channel::<Ended>();
        let mut stopped_by: Option<String> = None;
        let mut no_work_until: Option<Instant> = None;
        let mut nothing_ready = false;
        let mut synced_at: Option<Instant> = None;
        let has_remote = self.repo.publishing_remote(&self.supervisor_session)?.is_some();
        let mut written_at: Option<Instant> = None;
        loop {
            if stopped_by.is_none() {
                let why = if interrupted.load(Ordering::SeqCst) {
                    Some("a signal".to_string())
                } else if self.shared.work.stop_path(&self.agent).exists() {
                    Some("orc work stop".to_string())
                } else {
                    lease.lost().map(|e| format!("losing its lock: {}", e.message))
                };
                if let Some(why) = why {
                    self.shared.say(&format!("stopping ({why}): ending {} running agent(s)", self.running()));
                    self.stop.store(true, Ordering::SeqCst);
                    stopped_by = Some(why);
                }
            }
            while let Ok(end) = ended.try_recv() {
                self.ended(end);
                nothing_ready = false;
            }
            if stopped_by.is_some() {
                if self.running() == 0 {
                    break;
                }
            } else {
                self.retry_due();
                let fill_due = no_work_until.is_none_or(|at| Instant::now() >= at);
                if fill_due && self.idle_slot().is_some() {
                    nothing_ready = !self.fill(&ended_send)?;
                    if nothing_ready {
                        no_work_until = Some(Instant::now() + POLL_LOCAL);
                        if has_remote && synced_at.is_none_or(|at| at.elapsed() >= POLL_REMOTE) {
                            self.sync();
                            synced_at = Some(Instant::now());
                            nothing_ready = false;
                            no_work_until = None;
                        }
                    } else {
                        no_work_until = None;
                    }
                }
                let all_paused = self.slots.iter().all(|s| s.paused_until.is_some());
                if self.shared.config.drain
                    && ((nothing_ready && !self.waiting_on_others) || all_paused)
                    && self.running() == 0
                    && self.retries.is_empty()
                {
                    if all_paused {
                        return Err(Error::new(Kind::SpawnFailed, format!("every slot is paused: {}", self.last_spawn_error))
                            .with_hint("fix what the message names: the command must be installed, and HEAD must be a commit to branch worktrees from"));
                    }
                    break;
                }
            }
            // Readers poll it; once a second keeps ages and output fresh.
            if written_at.is_none_or(|at| at.elapsed() >= STATE_EVERY) {
                self.write_state(stopped_by.is_some());
                written_at = Some(Instant::now());
            }
            match ended.recv_timeout(Duration::from_millis(200)) {
                Ok(end) => {
                    self.ended(end);
                    nothing_ready = false;
                    no_work_until = None;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
        for slot in &mut self.slots {
            if let Some(handle) = slot.running.take() {
                let _ = handle.join();
            }
        }
        Ok(stopped_by)
    }

    fn running(&self) -> usize {
        self.slots.iter().filter(|s| s.running.is_some()).count()
    }

    fn idle_slot(&mut self) -> Option<usize> {
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.paused_until.is_some_and(|until| now >= until) {
                slot.paused_until = None;
                slot.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).state = "idle".into();
            }
        }
        self.slots.iter().position(|s| s.running.is_none() && s.paused_until.is_none())
    }

    /// Claims work for idle slots; false when nothing was ready. Notes
    /// whether others hold claims that may still unblock work here.
    fn fill(&mut self, ended: &mpsc::Sender<Ended>) -> Result<bool> {
        while let Some(index) = self.idle_slot() {
            let slot = &self.slots[index];
            let op = ClaimTask::best(slot.agent.clone(), self.shared.config.workstream.clone());
            match self.repo.claim(&slot.session, &op) {
                Ok(applied) => self.start(index, applied.output, ended),
                Err(e) if e.kind == Kind::NothingReady => {
                    let count = |field: &str| e.fields.get(field).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    // Others' claims matter only while they may unblock
                    // tasks here that wait for them.
                    self.waiting_on_others = count("blocked") > 0 && count("claimed") > 0;
                    return Ok(false);
                }
                Err(e) if e.kind.class() == crate::error::Class::Input => return Err(e),
                Err(e) => {
                    self.shared.say(&format!("could not claim: {} ({})", e.message, e.kind.as_str()));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn start(&mut self, index: usize, task: Task, ended: &mpsc::Sender<Ended>) {
        self.counts.started += 1;
        let slot = &mut self.slots[index];
        {
            let mut status = slot.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *status = SlotState {
                slot: index + 1,
                agent: slot.agent.to_string(),
                state: "running".into(),
                task: Some(task.id.clone()),
                title: Some(task.title.clone()),
                started_at: Some(Utc::now()),
                ..SlotState::default()
            };
        }
        let line = format!("start {} \"{}\" in slot {} as {}", task.id, task.title, index + 1, slot.agent);
        let attempt = Attempt {
            repo: Arc::clone(&self.repo),
            session: Arc::clone(&slot.session),
            agent: slot.agent.clone(),
            slot: index,
            task,
            shared: Arc::clone(&self.shared),
            stop: Arc::clone(&self.stop),
            status: Arc::clone(&slot.status),
        };
        let ended = ended.clone();
        slot.running = Some(std::thread::spawn(move || {
            let _ = ended.send(attempt.run());
        }));
        let counts = self.counts_line();
        self.shared.say(&format!("{line} [{counts}]"));
    }

    fn ended(&mut self, end: Ended) {
        let slot = &mut self.slots[end.slot];
        if let Some(handle) = slot.running.take() {
            let _ = handle.join();
        }
        *slot.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = SlotState {
            slot: end.slot + 1,
            agent: slot.agent.to_string(),
            state: "idle".into(),
            ..SlotState::default()
        };
        let task = &end.task;
        let line = match &end.outcome {
            Outcome::Done => {
                self.counts.done += 1;
                slot.pause = Duration::ZERO;
                format!("done {}: {}", task.id, end.summary.as_deref().unwrap_or(""))
            }
            Outcome::Failed { class, reason } => {
                self.counts.failed += 1;
                slot.pause = Duration::ZERO;
                let first = reason.lines().next().unwrap_or("");
                let spent =
                    state::attempts(&self.shared.work.task_dir(&task.id)).iter().filter(|a| a.spends_retry).count()
                        as u32;
                if spent <= self.shared.config.retries {
                    let delay = backoff(self.shared.config.backoff, spent);
                    self.retries.push((Instant::now() + delay, task.clone()));
                    format!(
                        "failed {} ({class}): {first}; retry {spent} of {} in {}",
                        task.id,
                        self.shared.config.retries,
                        attempt::human(delay)
                    )
                } else {
                    format!("failed {} ({class}): {first}; no retries left, it stays failed", task.id)
                }
            }
            Outcome::SpawnFailed(message) => {
                self.last_spawn_error.clone_from(message);
                self.counts.released += 1;
                slot.pause = (slot.pause * 2).clamp(FIRST_PAUSE, MAX_PAUSE);
                slot.paused_until = Some(Instant::now() + slot.pause);
                let mut status = slot.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                status.state = "paused".into();
                status.paused_until =
                    Some(Utc::now() + chrono::Duration::from_std(slot.pause).unwrap_or(chrono::Duration::zero()));
                format!(
                    "slot {} paused for {}: {message}; {} is back in the queue",
                    end.slot + 1,
                    attempt::human(slot.pause),
                    task.id
                )
            }
            Outcome::ClaimLost(holder) => {
                self.counts.lost += 1;
                format!("lost {} to {holder}; the agent was ended and nothing was recorded", task.id)
            }
            Outcome::Stopped => {
                self.counts.released += 1;
                format!("stopped {}; the claim was given back", task.id)
            }
            Outcome::Broken(e) => format!("error on {}: {}; the claim is left to expire", task.id, e.message),
        };
        let counts = self.counts_line();
        self.shared.say(&format!("{line} [{counts}]"));
        if let Some(path) = end.kept_worktree {
            self.shared.say(&format!("kept the worktree {} (log {})", path.display(), end.log.display()));
            self.kept.push(path);
        }
    }

    /// Takes over what a supervisor of this identity left when it died:
    /// this one holds the identity now (its file lock, and the branch lock
    /// checked above), so nothing else runs those tasks. Claims its slots
    /// still hold are given back; tasks its slots failed with retries left
    /// are retried when their backoff (counted from that failure) is over.
    fn recover(&mut self) {
        let prefix = format!("{}-", self.agent);
        let ours = |who: Option<&str>| {
            who.and_then(|h| h.strip_prefix(&prefix)).is_some_and(|slot| slot.parse::<usize>().is_ok())
        };
        let report = match crate::api::status::status(&self.repo, &self.supervisor_session) {
            Ok(report) => report,
            Err(e) => {
                return self.shared.say(&format!("could not look for what a dead supervisor left: {}", e.message))
            }
        };
        for task in report.claimed_tasks().filter(|t| ours(t.claimed_by.as_deref())) {
            let holder = task.claimed_by.clone().unwrap_or_default();
            let Ok(agent) = AgentName::new(&holder) else { continue };
            let session = Session::new(Actor::Agent(agent.to_string())).with_publish(self.base_publish);
            let op = ChangeTask { workstream: None, id: task.id.clone(), how: Change::Release, reason: None };
            match self.repo.apply_published(&session, &op) {
                Ok(_) => self
                    .shared
                    .say(&format!("gave back {}, left claimed by {holder} when its supervisor died", task.id)),
                Err(e) => self.shared.say(&format!("could not give back {}: {}", task.id, e.message)),
            }
        }
        let failed = match crate::api::reads::tasks_in_status(&self.repo, Status::Failed) {
            Ok(failed) => failed,
            Err(e) => return self.shared.say(&format!("could not look for failed tasks to retry: {}", e.message)),
        };
        for task in failed.iter().filter(|t| ours(t.finished_by.as_deref())) {
            let attempts = state::attempts(&self.shared.work.task_dir(&task.id));
            let Some(last) = attempts.last().filter(|a| a.spends_retry) else { continue };
            let spent = attempts.iter().filter(|a| a.spends_retry).count() as u32;
            if spent > self.shared.config.retries {
                continue;
            }
            let since = (Utc::now() - last.ended_at).to_std().unwrap_or_default();
            let wait = backoff(self.shared.config.backoff, spent).saturating_sub(since);
            self.shared.say(&format!(
                "{} failed under a supervisor that died; retry in {}",
                task.id,
                attempt::human(wait)
            ));
            self.retries.push((Instant::now() + wait, task.clone()));
        }
    }

    /// Puts failed tasks whose backoff passed back in the queue.
    fn retry_due(&mut self) {
        let now = Instant::now();
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.retries).into_iter().partition(|(at, _)| now >= *at);
        self.retries = waiting;
        for (_, task) in due {
            let op = ChangeTask { workstream: None, id: task.id.clone(), how: Change::Retry, reason: None };
            match self.repo.apply_published(&self.supervisor_session, &op) {
                Ok(_) => {
                    self.counts.retried += 1;
                    self.shared.say(&format!("retry {}: back in the queue", task.id));
                }
                Err(e) => self.shared.say(&format!("could not retry {}: {}", task.id, e.message)),
            }
        }
    }

    fn sync(&self) {
        let Ok(Some(remote)) = self.repo.publishing_remote(&self.supervisor_session) else { return };
        if let Err(e) = self.repo.sync(&self.supervisor_session, &remote, false) {
            self.shared.say(&format!("could not sync with {remote}: {}", e.message));
        }
    }

    fn counts_line(&self) -> String {
        let c = &self.counts;
        format!(
            "running {}, done {}, failed {}, retried {}, lost {}",
            self.running(),
            c.done,
            c.failed,
            c.retried,
            c.lost
        )
    }

    fn write_state(&self, stopping: bool) {
        let state = SupervisorState {
            agent: self.agent.to_string(),
            pid: std::process::id(),
            started_at: self.started_at,
            updated_at: Utc::now(),
            command: self.shared.config.command.clone(),
            stopping,
            slots: self
                .slots
                .iter()
                .map(|s| s.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
                .collect(),
            counts: self.counts,
            running: true,
            lock_token: Some(self.lock_token),
        };
        let bytes = serde_json::to_vec_pretty(&state).expect("plain data");
        let _ = state::replace_file(&self.shared.work.state_path(&self.agent), &bytes);
    }
}

/// The wait before retry `n` (1 for the first): `base` doubled each time,
/// at most an hour, then scaled by a random factor in [0.5, 1) so that
/// supervisors whose tasks failed together do not retry together.
pub fn backoff(base: Duration, n: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << n.saturating_sub(1).min(20)).min(MAX_BACKOFF);
    let mut byte = [0u8; 2];
    getrandom::fill(&mut byte).expect("the OS random generator is available");
    let jitter = 0.5 + f64::from(u16::from_le_bytes(byte)) / f64::from(u16::MAX) / 2.0;
    doubled.mul_f64(jitter.min(0.999_9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        for n in 1..=4u32 {
            let wait = backoff(Duration::from_secs(10), n);
            let full = Duration::from_secs(10 * (1 << (n - 1)));
            assert!(wait >= full / 2 && wait < full, "retry {n}: {wait:?} not in [{:?}, {full:?})", full / 2);
        }
        assert!(backoff(Duration::from_secs(10), 40) < MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn presets_are_documented_command_lines() {
        assert_eq!(preset("claude").unwrap()[..2], ["claude", "-p"]);
        assert_eq!(preset("codex").unwrap()[..2], ["codex", "exec"]);
        assert_eq!(preset("gpt").unwrap_err().kind, Kind::Usage);
    }
}
