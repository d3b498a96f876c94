//! What a supervisor leaves on disk under `<git-common-dir>/orc/work/`, for
//! `orc work status`, `orc work stop` and the next attempt of a task:
//!
//! ```text
//! <agent>.lock          held (flock) for the supervisor's whole life
//! <agent>.json          its slots, tasks, ages, last output, log paths
//! <agent>.stop          `orc work stop` asks it to stop
//! <task>/attempt-N.log  the output of attempt N
//! <task>/attempts.jsonl one line per finished attempt (retries count them)
//! <task>/worktree.json  the worktree orc made for the task, while it exists
//! <task>/tree/          that worktree
//! ```
//!
//! Rules this module keeps:
//! - A supervisor is alive exactly while its `<agent>.lock` is locked: the
//!   kernel releases the lock when the process dies, however it dies, so a
//!   stale `<agent>.json` is never mistaken for a running supervisor.
//! - Files are replaced whole (written beside, then renamed), so a reader
//!   never sees half a file.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};

/// The folder of one repository's supervisors.
#[derive(Debug, Clone)]
pub struct WorkDir {
    pub root: PathBuf,
}

impl WorkDir {
    pub fn new(private_dir: &Path) -> Result<Self> {
        let root = private_dir.join("work");
        std::fs::create_dir_all(&root).map_err(|e| Error::io(&format!("cannot create {}", root.display()), &e))?;
        Ok(Self { root })
    }

    pub fn task_dir(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    pub fn state_path(&self, agent: &str) -> PathBuf {
        self.root.join(format!("{agent}.json"))
    }

    pub fn stop_path(&self, agent: &str) -> PathBuf {
        self.root.join(format!("{agent}.stop"))
    }

    fn lock_path(&self, agent: &str) -> PathBuf {
        self.root.join(format!("{agent}.lock"))
    }

    /// Takes `agent`'s supervisor lock without waiting; None when another
    /// live supervisor holds it.
    pub fn try_lock(&self, agent: &str) -> Result<Option<File>> {
        let path = self.lock_path(agent);
        let file = crate::store::open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&format!("cannot lock {}", path.display()), &e)),
        }
    }

    /// Is a supervisor running as `agent` on this clone?
    pub fn is_running(&self, agent: &str) -> Result<bool> {
        Ok(self.try_lock(agent)?.is_none())
    }

    /// Every supervisor state file here, newest first.
    pub fn supervisors(&self) -> Vec<SupervisorState> {
        let mut found: Vec<SupervisorState> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        found.sort_by_key(|s: &SupervisorState| std::cmp::Reverse(s.started_at));
        found
    }

    /// Worktrees orc made and kept (they had changes, or `--keep-worktrees`).
    pub fn kept_worktrees(&self, running: &[String]) -> Vec<KeptWorktree> {
        let mut kept: Vec<KeptWorktree> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| {
                let task = e.file_name().to_string_lossy().into_owned();
                let bytes = std::fs::read(e.path().join("worktree.json")).ok()?;
                let worktree: crate::store::worktree::TaskWorktree = serde_json::from_slice(&bytes).ok()?;
                (worktree.path.exists() && !running.contains(&task)).then_some(KeptWorktree { task, worktree })
            })
            .collect();
        kept.sort_by(|a, b| a.task.cmp(&b.task));
        kept
    }
}

/// Writes `bytes` to `path` whole: a reader sees the old file or the new.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| Error::io(&format!("cannot write {}", path.display()), &e))
}

/// A supervisor as its state file describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorState {
    pub agent: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub command: Vec<String>,
    pub stopping: bool,
    pub slots: Vec<SlotState>,
    pub counts: Counts,
    /// The fencing token of its branch lock `work.<agent>`: a restarted
    /// supervisor on this clone takes over the lock its dead one left.
    #[serde(default)]
    pub lock_token: Option<u64>,
    /// Filled in by readers: whether the supervisor still runs.
    #[serde(default)]
    pub running: bool,
}

/// One slot: idle, paused after a command that would not start, or
/// running a task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlotState {
    pub slot: usize,
    pub agent: String,
    pub state: String,
    pub task: Option<String>,
    pub title: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub last_output: Option<String>,
    pub log: Option<PathBuf>,
    pub worktree: Option<PathBuf>,
    pub paused_until: Option<DateTime<Utc>>,
}

/// What a supervisor did so far.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    pub started: u64,
    pub done: u64,
    pub failed: u64,
    pub retried: u64,
    pub lost: u64,
    pub released: u64,
}

/// A worktree orc made and did not remove.
#[derive(Debug, Clone, Serialize)]
pub struct KeptWorktree {
    pub task: String,
    #[serde(flatten)]
    pub worktree: crate::store::worktree::TaskWorktree,
}

/// One finished attempt of a task, as `attempts.jsonl` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub agent: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// `done`, `task_failed`, `timeout`, `idle`, `spawn_failed`,
    /// `claim_lost`, `stopped`.
    pub outcome: String,
    /// Whether this attempt spent one of the task's retries.
    pub spends_retry: bool,
    pub log: PathBuf,
}

/// The attempts of `task` recorded so far.
pub fn attempts(task_dir: &Path) -> Vec<AttemptRecord> {
    std::fs::read_to_string(task_dir.join("attempts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Appends one attempt's record.
pub fn record_attempt(task_dir: &Path, record: &AttemptRecord) -> Result<()> {
    use std::io::Write;
    let path = task_dir.join("attempts.jsonl");
    let line = serde_json::to_string(record).expect("plain data");
    File::options()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| Error::io(&format!("cannot write {}", path.display()), &e))
}

/// The number the next attempt of a task gets (1 for the first): one past
/// the highest log already there, so logs are never overwritten.
pub fn next_attempt_number(task_dir: &Path) -> u32 {
    std::fs::read_dir(task_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("attempt-")?.strip_suffix(".log")?.parse::<u32>().ok()
        })
        .max()
        .unwrap_or(0)
        + 1
}

/// The refusal for a second supervisor with the same identity.
pub fn already_running(agent: &str, state: Option<&SupervisorState>) -> Error {
    let pid = state.map_or(String::new(), |s| format!(" (pid {})", s.pid));
    Error::new(Kind::AlreadyRunning, format!("a supervisor already runs as {agent} in this repository{pid}"))
        .with("agent", agent)
        .with_hint("stop it first (orc work stop), or run this one under another agent name")
}
