//! One attempt of one task in one slot: a worktree, the brief, the agent
//! command under a keeper, heartbeats while it runs, then the finish.
//!
//! Rules this module keeps:
//! - The task is claimed before an attempt starts and every finish carries
//!   the claim's token: an attempt whose claim was taken over can change
//!   nothing (the library refuses a stale token).
//! - The agent is ended (through its keeper, as a whole process group) on
//!   `--timeout`, on output idleness, on a stop request, and as soon as a
//!   heartbeat finds the claim gone.
//! - A worktree is removed only if orc made it for this task and it is
//!   clean; its branch is kept whenever it holds commits.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::keeper::KeeperReport;
use super::state::{self, AttemptRecord, SlotState};
use super::Shared;
use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::names::{AgentName, Label};
use crate::model::task::{Status, Task, Text};
use crate::ops::task::{Change, ChangeTask, Finish, FinishTask};
use crate::session::Session;
use crate::store::worktree::{self, TaskWorktree, WorktreeQueue};

/// The folder, inside each task worktree, that holds orc's brief; it is
/// excluded from git so the worktree stays clean.
pub const BRIEF_DIR: &str = ".orc";
/// Task branches are `orc-task/<id>`: `orc/<id>` cannot exist beside the
/// coordination branch `orc` (a ref cannot be both a file and a folder).
pub const BRANCH_PREFIX: &str = "orc-task/";

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// The command failed, timed out or went silent: the task was failed
    /// with the token, and the attempt spent a retry.
    Failed {
        class: &'static str,
        reason: String,
    },
    /// The command could not start: the claim was given back.
    SpawnFailed(String),
    /// The claim went to another holder; nothing was finished.
    ClaimLost(String),
    /// The supervisor is stopping: the agent was ended and the claim given back.
    Stopped,
    /// orc itself failed (git, the branch): the claim is left to expire.
    Broken(Error),
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed { class, .. } => class,
            Self::SpawnFailed(_) => "spawn_failed",
            Self::ClaimLost(_) => "claim_lost",
            Self::Stopped => "stopped",
            Self::Broken(_) => "error",
        }
    }

    pub fn spends_retry(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

/// What one attempt reports back to the supervisor.
#[derive(Debug)]
pub struct Ended {
    pub slot: usize,
    pub task: Task,
    pub outcome: Outcome,
    pub log: PathBuf,
    pub kept_worktree: Option<PathBuf>,
    pub summary: Option<String>,
}

/// Why the supervisor ended an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndedBy {
    Timeout,
    Idle,
    Stop,
    ClaimLost,
}

/// Everything an attempt needs, handed to its thread.
pub struct Attempt {
    pub repo: Arc<Repo>,
    pub session: Arc<Session>,
    pub agent: AgentName,
    pub slot: usize,
    pub task: Task,
    pub shared: Arc<Shared>,
    pub stop: Arc<AtomicBool>,
    pub status: Arc<Mutex<SlotState>>,
}

impl Attempt {
    pub fn run(self) -> Ended {
        let dir = self.shared.work.task_dir(&self.task.id);
        let number = state::next_attempt_number(&dir);
        let log = dir.join(format!("attempt-{number}.log"));
        let started_at = Utc::now();
        let (outcome, kept, summary) = match self.run_in_worktree(&dir, &log) {
            Ok(done) => done,
            Err(e) => (Outcome::Broken(e), None, None),
        };
        if let Outcome::SpawnFailed(_) | Outcome::Stopped = outcome {
            self.give_back();
        }
        let record = AttemptRecord {
            attempt: number,
            agent: self.agent.to_string(),
            started_at,
            ended_at: Utc::now(),
            outcome: outcome.name().to_string(),
            spends_retry: outcome.spends_retry(),
            log: log.clone(),
        };
        if let Err(e) = state::record_attempt(&dir, &record) {
            self.shared.say(&format!("warning: {}", e.message));
        }
        Ended { slot: self.slot, task: self.task, outcome, log, kept_worktree: kept, summary }
    }

    fn run_in_worktree(&self, dir: &Path, log: &Path) -> Result<(Outcome, Option<PathBuf>, Option<String>)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(&format!("cannot create {}", dir.display()), &e))?;
        let made = match self.make_worktree(dir) {
            Ok(made) => made,
            Err(e) => {
                let message = format!("cannot make a worktree for {}: {}", self.task.id, e.message);
                std::fs::write(log, format!("{message}\n")).ok();
                return Ok((Outcome::SpawnFailed(message), None, None));
            }
        };
        let (brief, prompt) = self.write_brief(&made.path)?;
        {
            let mut status = self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            status.log = Some(log.to_path_buf());
            status.worktree = Some(made.path.clone());
        }
        let (outcome, summary) = self.supervise(&made.path, &brief, &prompt, log)?;
        let kept = self.clean_up(dir, &made);
        Ok((outcome, kept, summary))
    }

    fn make_worktree(&self, dir: &Path) -> Result<TaskWorktree> {
        let path = dir.join("tree");
        let manifest = dir.join("worktree.json");
        // A worktree left by an earlier attempt (kept because it had
        // changes) is continued, but only one orc recorded making.
        if path.exists() {
            let recorded: Option<TaskWorktree> =
                std::fs::read(&manifest).ok().and_then(|b| serde_json::from_slice(&b).ok());
            return match recorded {
                Some(made) if made.path == path => Ok(made),
                _ => Err(Error::new(
                    Kind::PathConflict,
                    format!("{} exists and orc did not make it; it is left alone", path.display()),
                )),
            };
        }
        let queue = WorktreeQueue::lock(&self.shared.private_dir)?;
        worktree::exclude(&self.shared.common_dir, &format!("/{BRIEF_DIR}/"))?;
        let made = worktree::add(&queue, &self.shared.repo_dir, &path, &format!("{BRANCH_PREFIX}{}", self.task.id))?;
        state::replace_file(&manifest, &serde_json::to_vec_pretty(&made).expect("plain data"))?;
        Ok(made)
    }

    /// Writes the brief into the worktree; returns its path and text.
    fn write_brief(&self, tree: &Path) -> Result<(PathBuf, String)> {
        let brief = crate::api::reads::agent_brief(&self.repo, &self.session, self.agent.as_str())?;
        let folder = tree.join(BRIEF_DIR);
        std::fs::create_dir_all(&folder).map_err(|e| Error::io(&format!("cannot create {}", folder.display()), &e))?;
        let path = folder.join("brief.md");
        std::fs::write(&path, &brief.markdown)
            .map_err(|e| Error::io(&format!("cannot write {}", path.display()), &e))?;
        Ok((path, brief.markdown))
    }

    /// Runs the command under a keeper until it ends, and finishes the task.
    fn supervise(&self, tree: &Path, brief: &Path, prompt: &str, log: &Path) -> Result<(Outcome, Option<String>)> {
        let config = &self.shared.config;
        let command: Vec<String> = config
            .command
            .iter()
            .map(|arg| {
                arg.replace("{prompt}", prompt)
                    .replace("{brief}", &brief.to_string_lossy())
                    .replace("{task}", &self.task.id)
            })
            .collect();
        let mut keeper = Command::new(&self.shared.orc_exe);
        keeper
            .args(["work", "__keep", "--log"])
            .arg(log)
            .arg("--grace-ms")
            .arg(config.grace.as_millis().to_string())
            .arg("--")
            .args(&command)
            .current_dir(tree)
            .env("ORC_AGENT", self.agent.as_str())
            .env("ORC_TASK", &self.task.id)
            .env("ORC_CLAIM_TOKEN", self.task.claim_token.to_string())
            .env("ORC_BRIEF", brief)
            .env("ORC_WORKTREE", tree)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child =
            keeper.spawn().map_err(|e| Error::new(Kind::SpawnFailed, format!("cannot start orc's keeper: {e}")))?;
        let reports = read_reports(&mut child);
        let mut to_keeper = child.stdin.take();
        let outcome = self.watch(&reports, &mut to_keeper, log);
        drop(to_keeper);
        let _ = child.wait();
        outcome
    }

    /// Follows the keeper's reports, heartbeating, and ends the agent when
    /// a limit is reached; then finishes the task by how it ended.
    fn watch(
        &self,
        reports: &mpsc::Receiver<KeeperReport>,
        to_keeper: &mut Option<ChildStdin>,
        log: &Path,
    ) -> Result<(Outcome, Option<String>)> {
        let config = &self.shared.config;
        let started = Instant::now();
        let mut last_activity = Instant::now();
        let mut last_heartbeat = Instant::now();
        let mut last_line = String::new();
        let mut ended_by: Option<EndedBy> = None;
        let mut lost_to = String::new();
        let exit = loop {
            match reports.recv_timeout(Duration::from_millis(250)) {
                Ok(KeeperReport::SpawnError(message)) => {
                    let _ = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)
                        .and_then(|mut f| writeln!(f, "{message}"));
                    return Ok((Outcome::SpawnFailed(message), None));
                }
                Ok(KeeperReport::Started(_)) => {}
                Ok(KeeperReport::Output(line)) => {
                    last_activity = Instant::now();
                    last_line = line;
                    self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner).last_output =
                        Some(crate::model::names::terminal_safe(&last_line));
                }
                Ok(KeeperReport::Exited(code)) => break Some(Ok(code)),
                Ok(KeeperReport::Signaled(signal)) => break Some(Err(signal)),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break None,
            }
            if ended_by.is_some() {
                continue;
            }
            let mut end = |why: EndedBy| {
                ended_by = Some(why);
                if let Some(pipe) = to_keeper.as_mut() {
                    let _ = writeln!(pipe, "term").and_then(|()| pipe.flush());
                }
            };
            if self.stop.load(Ordering::SeqCst) {
                end(EndedBy::Stop);
            } else if started.elapsed() >= config.timeout {
                end(EndedBy::Timeout);
            } else if last_activity.elapsed() >= config.idle_timeout {
                end(EndedBy::Idle);
            } else if last_heartbeat.elapsed() >= self.shared.heartbeat_every {
                last_heartbeat = Instant::now();
                if let Some(holder) = self.heartbeat(&last_line) {
                    lost_to = holder;
                    end(EndedBy::ClaimLost);
                }
            }
        };
        let tail = log_tail(log, 8 * 1024);
        match (ended_by, exit) {
            (Some(EndedBy::Stop), _) => Ok((Outcome::Stopped, None)),
            (Some(EndedBy::ClaimLost), _) => Ok((Outcome::ClaimLost(lost_to), None)),
            (Some(why @ (EndedBy::Timeout | EndedBy::Idle)), _) => {
                let (class, limit) = if why == EndedBy::Timeout {
                    ("timeout", format!("ran longer than --timeout {}", human(config.timeout)))
                } else {
                    ("idle", format!("printed nothing for --idle-timeout {}", human(config.idle_timeout)))
                };
                let reason = format!("{limit}; ended by orc work. Log {}:\n{}", log.display(), last_lines(&tail, 20));
                self.finish(Finish::Fail, reason, class)
            }
            (None, Some(Ok(0))) => {
                let summary = summary_of(&tail);
                self.finish(Finish::Complete, summary, "done")
            }
            (None, exit) => {
                let how = match exit {
                    Some(Ok(code)) => format!("exited with status {code}"),
                    Some(Err(signal)) => format!("was killed by signal {signal}"),
                    None => "ended without a report from its keeper".to_string(),
                };
                let reason = format!("the command {how}. Log {}:\n{}", log.display(), last_lines(&tail, 20));
                self.finish(Finish::Fail, reason, "task_failed")
            }
        }
    }

    /// Publishes a sign of life with the last output line; returns the new
    /// holder when the claim is no longer this attempt's.
    fn heartbeat(&self, last_line: &str) -> Option<String> {
        let status = Label::new(&status_line(last_line)).ok();
        let op = crate::ops::agent::Heartbeat { agent: self.agent.clone(), status };
        if let Err(e) = self.repo.apply(&self.session, &op) {
            self.shared.say(&format!("warning: heartbeat of {} failed: {}", self.agent, e.message));
            return None;
        }
        match self.repo.read(|snap| snap.find_task(&self.task.id, None)) {
            Ok(now) if self.still_ours(&now) => None,
            Ok(now) => Some(now.claimed_by.unwrap_or_else(|| format!("nobody ({})", now.status.as_str()))),
            Err(_) => None,
        }
    }

    fn still_ours(&self, task: &Task) -> bool {
        task.status == Status::Claimed
            && task.claimed_by.as_deref() == Some(self.agent.as_str())
            && task.claim_token == self.task.claim_token
    }

    /// Completes or fails the task with the claim's token. A refusal
    /// because the claim moved on is a lost claim; a task the agent
    /// finished itself (it ran `orc complete`) is taken as it stands.
    fn finish(&self, how: Finish, text: String, class: &'static str) -> Result<(Outcome, Option<String>)> {
        let text = clip(&text, crate::model::task::MAX_TEXT_BYTES / 2);
        let op = FinishTask {
            workstream: None,
            id: self.task.id.clone(),
            how,
            token: Some(self.task.claim_token),
            text: Text::new(&text).ok(),
        };
        match self.repo.finish(&self.session, &op) {
            Ok(_) if how == Finish::Complete => Ok((Outcome::Done, Some(text))),
            Ok(_) => Ok((Outcome::Failed { class, reason: text }, None)),
            Err(refusal) if refusal.kind.class() == crate::error::Class::Refused => {
                let now = self.repo.read(|snap| snap.find_task(&self.task.id, None))?;
                let by_us = now.finished_by.as_deref() == Some(self.agent.as_str());
                match now.status {
                    Status::Done if by_us => Ok((Outcome::Done, now.result)),
                    Status::Failed if by_us => {
                        Ok((Outcome::Failed { class: "task_failed", reason: now.result.unwrap_or_default() }, None))
                    }
                    _ => Ok((Outcome::ClaimLost(format!("{} ({})", refusal.message, refusal.kind.as_str())), None)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the claim back (the agent never ran, or was stopped).
    fn give_back(&self) {
        let op = ChangeTask { workstream: None, id: self.task.id.clone(), how: Change::Release, reason: None };
        if let Err(e) = self.repo.apply_published(&self.session, &op) {
            self.shared.say(&format!("warning: could not release {}: {}", self.task.id, e.message));
        }
    }

    /// Removes the worktree when orc may: clean, not kept on request.
    /// Returns the path when it stays.
    fn clean_up(&self, dir: &Path, made: &TaskWorktree) -> Option<PathBuf> {
        if self.shared.config.keep_worktrees {
            return Some(made.path.clone());
        }
        let removed = WorktreeQueue::lock(&self.shared.private_dir)
            .and_then(|queue| worktree::remove(&queue, &self.shared.repo_dir, made));
        match removed {
            Ok(_) => {
                let _ = std::fs::remove_file(dir.join("worktree.json"));
                None
            }
            Err(e) => {
                if e.kind != Kind::WrongState {
                    self.shared.say(&format!("warning: {}", e.message));
                }
                Some(made.path.clone())
            }
        }
    }
}

/// The keeper's reports, read on a thread of their own.
fn read_reports(child: &mut Child) -> mpsc::Receiver<KeeperReport> {
    let (send, receive) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(report) = KeeperReport::parse(&line) {
                    if send.send(report).is_err() {
                        break;
                    }
                }
            }
        });
    }
    receive
}

/// The last `bytes` of the log (a 50 MB log costs the same as a short one).
pub fn log_tail(log: &Path, bytes: u64) -> String {
    let Ok(mut file) = std::fs::File::open(log) else { return String::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut buf = Vec::new();
    let _ = file.take(bytes).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The result of a successful run: its last `RESULT:` line, else its last
/// line; a JSON object with a `result` string (`claude -p --output-format
/// json`) gives that string.
pub fn summary_of(tail: &str) -> String {
    let lines: Vec<&str> = tail.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if let Some(result) = lines.iter().rev().find_map(|l| l.strip_prefix("RESULT:")) {
        return result.trim().to_string();
    }
    let Some(last) = lines.last() else { return "finished (no output)".to_string() };
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(last) {
        if let Some(result) = object.get("result").and_then(|r| r.as_str()) {
            return result.to_string();
        }
    }
    (*last).to_string()
}

/// An output line fit for an agent's status: printable, at most 200 characters.
fn status_line(line: &str) -> String {
    let printable: String = line.chars().filter(|c| !c.is_control()).collect();
    printable.chars().take(200).collect()
}

fn clip(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut start = text.len() - max_bytes;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

pub fn human(d: Duration) -> String {
    crate::model::duration::format_duration(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_wins_over_the_last_line() {
        assert_eq!(summary_of("working\nRESULT: shipped it\nbye\n"), "shipped it");
        assert_eq!(summary_of("a\nb\n\n"), "b");
        assert_eq!(summary_of("{\"type\":\"result\",\"result\":\"all green\"}\n"), "all green");
        assert_eq!(summary_of(""), "finished (no output)");
    }

    #[test]
    fn status_lines_fit_a_label() {
        let long = "x".repeat(500) + "\u{1b}[31m";
        let line = status_line(&long);
        assert!(Label::new(&line).is_ok());
    }
}
