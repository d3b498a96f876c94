//! The keeper: a small `orc` process between the supervisor and one agent
//! command (`orc work __keep`). It exists so that no agent outlives its
//! supervisor, even one killed with -9, without unsafe code: the keeper
//! reads a pipe from the supervisor, and the kernel closes that pipe when
//! the supervisor dies, however it dies.
//!
//! Rules this module keeps:
//! - The agent runs in a process group of its own (stdin closed), and is
//!   always killed as a whole group: TERM, the grace period, then KILL.
//! - The keeper is a child subreaper, so grandchildren that the agent left
//!   behind are reparented to it, killed with the group and reaped: when
//!   the keeper reports an exit, no process of the group is left.
//! - The keeper ends the group when the supervisor asks (`term`), when the
//!   supervisor's pipe closes (within [`ORPHAN_GRACE`] then KILL), and
//!   after the agent's leader exits (what it left running is killed).
//! - Output goes to the attempt's log, capped: the first [`LOG_CAP`] bytes
//!   and the last [`LOG_TAIL`] bytes are kept, so a command that prints
//!   without end fills neither the disk nor the supervisor's memory, and
//!   the tail (the result line, the error) is never lost.
//! - The keeper tells the supervisor, one JSON object per line on stdout:
//!   `{"started":PID}` or `{"spawn_error":MSG}`, `{"output":LAST_LINE}`
//!   (throttled) and finally `{"exited":CODE}` or `{"signaled":SIGNAL}`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;

/// How much of an attempt's output the log keeps from the start.
pub const LOG_CAP: u64 = 16 * 1024 * 1024;
/// How much of the end of the output the log always keeps.
pub const LOG_TAIL: usize = 64 * 1024;
/// The grace an agent gets when its supervisor died: short, because
/// nobody is left to wait for it.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(1);
/// How often output is reported to the supervisor at most.
const OUTPUT_EVERY: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(20);

/// What the supervisor passes to a keeper.
#[derive(Debug, Clone)]
pub struct KeeperArgs {
    pub log: PathBuf,
    pub grace: Duration,
    pub command: Vec<OsString>,
}

/// What the keeper's stdout pipe carries to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperReport {
    Started(i32),
    SpawnError(String),
    Output(String),
    Exited(i32),
    Signaled(i32),
}

impl KeeperReport {
    /// Parses one line the keeper wrote; None for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let object = value.as_object()?;
        let (key, value) = object.iter().next()?;
        Some(match key.as_str() {
            "started" => Self::Started(i32::try_from(value.as_i64()?).ok()?),
            "spawn_error" => Self::SpawnError(value.as_str()?.to_string()),
            "output" => Self::Output(value.as_str()?.to_string()),
            "exited" => Self::Exited(i32::try_from(value.as_i64()?).ok()?),
            "signaled" => Self::Signaled(i32::try_from(value.as_i64()?).ok()?),
            _ => return None,
        })
    }
}

/// Writes report lines; a supervisor that is gone is no error (the keeper
/// carries on killing and reaping).
#[derive(Clone)]
struct Reporter(Arc<Mutex<std::io::Stdout>>);

impl Reporter {
    fn send(&self, value: &serde_json::Value) {
        let mut out = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(out, "{value}").and_then(|()| out.flush());
    }
}

/// Runs the keeper; returns the process exit code (0 when the agent ran,
/// whatever its own status, which the report carries).
pub fn keep(args: &KeeperArgs) -> i32 {
    let reporter = Reporter(Arc::new(Mutex::new(std::io::stdout())));
    // Ctrl-C reaches the supervisor's whole terminal group, this keeper
    // included: the supervisor decides what happens, so the keeper only
    // notes the signal. TERM sent to the keeper itself means "end it".
    let terminated = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&terminated));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&terminated));
    // Without it, grandchildren would be reparented to init, out of reach.
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let spawned = spawn_agent(args);
    let (child, reader) = match spawned {
        Ok(spawned) => spawned,
        Err(message) => {
            reporter.send(&json!({ "spawn_error": message }));
            return 127;
        }
    };
    let leader = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    reporter.send(&json!({ "started": leader.as_raw() }));

    let pump = {
        let (log, reporter) = (args.log.clone(), reporter.clone());
        let (done, pump) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            pump_output(reader, &log, &reporter);
            let _ = done.send(());
        });
        pump
    };
    let control = supervisor_pipe();

    let mut leader_status: Option<WaitStatus> = None;
    let mut kill_at: Option<Instant> = None;
    let mut killed_hard = false;
    let (mut asked, mut orphaned) = (false, false);
    loop {
        reap(leader, &mut leader_status);
        match control.try_recv() {
            Ok(Control::Term) => asked = true,
            Err(mpsc::TryRecvError::Disconnected) => orphaned = true,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        asked |= terminated.load(Ordering::SeqCst);
        if kill_at.is_none() && (asked || orphaned || leader_status.is_some()) {
            let _ = killpg(leader, Signal::SIGTERM);
            kill_at = Some(Instant::now() + args.grace);
        }
        if orphaned {
            kill_at = kill_at.map(|at| at.min(Instant::now() + ORPHAN_GRACE));
        }
        let group_gone = killpg(leader, None) == Err(Errno::ESRCH);
        if leader_status.is_some() && group_gone {
            break;
        }
        if !killed_hard && kill_at.is_some_and(|at| Instant::now() >= at) {
            let _ = killpg(leader, Signal::SIGKILL);
            killed_hard = true;
        }
        std::thread::sleep(TICK);
    }
    // A descendant that left the group (setsid) may still hold the output
    // pipe; the keeper reports without waiting for it past a bound.
    let _ = pump.recv_timeout(Duration::from_secs(2));
    match leader_status {
        Some(WaitStatus::Exited(_, code)) => reporter.send(&json!({ "exited": code })),
        Some(WaitStatus::Signaled(_, signal, _)) => reporter.send(&json!({ "signaled": signal as i32 })),
        _ => reporter.send(&json!({ "signaled": Signal::SIGKILL as i32 })),
    }
    0
}

fn spawn_agent(args: &KeeperArgs) -> Result<(std::process::Child, std::io::PipeReader), String> {
    let (program, rest) = args.command.split_first().ok_or("no command given")?;
    let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let err_writer = writer.try_clone().map_err(|e| format!("cannot make a pipe: {e}"))?;
    let mut command = Command::new(program);
    command.args(rest).stdin(Stdio::null()).stdout(writer).stderr(err_writer).process_group(0);
    let child = command.spawn().map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    // The pipe's write ends now live only in the agent's group, so the
    // reader sees end-of-file when the last of them exits.
    drop(command);
    Ok((child, reader))
}

/// Reaps every child that ended (the leader, and the descendants this
/// subreaper adopted), remembering the leader's status.
fn reap(leader: Pid, leader_status: &mut Option<WaitStatus>) {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                if status.pid() == Some(leader) {
                    *leader_status = Some(status);
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Control {
    Term,
}

/// Lines from the supervisor on stdin: `term` asks to end the agent; the
/// channel disconnects when the supervisor's end closes.
fn supervisor_pipe() -> mpsc::Receiver<Control> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if line.trim() == "term" && send.send(Control::Term).is_err() {
                return;
            }
        }
        // Returning drops `send`: the keeper sees the disconnect.
    });
    receive
}

/// Copies the agent's output into the log (capped) and reports its last
/// line, at most every [`OUTPUT_EVERY`].
fn pump_output(mut reader: std::io::PipeReader, log: &std::path::Path, reporter: &Reporter) {
    let mut file = match File::options().create(true).append(true).open(log) {
        Ok(file) => Some(file),
        Err(e) => {
            reporter.send(&json!({ "output": format!("orc work: cannot write the log {}: {e}", log.display()) }));
            None
        }
    };
    let mut written: u64 = 0;
    let mut dropped: u64 = 0;
    let mut tail: VecDeque<u8> = VecDeque::with_capacity(LOG_TAIL);
    let mut line = Vec::new();
    let mut last_line = String::new();
    let mut reported_at: Option<Instant> = None;
    let mut unreported = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let room = usize::try_from(LOG_CAP.saturating_sub(written)).unwrap_or(usize::MAX).min(n);
        if let Some(file) = file.as_mut() {
            let _ = file.write_all(&chunk[..room]);
        }
        written += room as u64;
        for &byte in &chunk[room..] {
            if tail.len() == LOG_TAIL {
                tail.pop_front();
                dropped += 1;
            }
            tail.push_back(byte);
        }
        for &byte in chunk {
            if byte == b'\n' {
                let text = String::from_utf8_lossy(&line).trim().to_string();
                if !text.is_empty() {
                    last_line = text;
                }
                line.clear();
            } else if line.len() < 4096 {
                line.push(byte);
            }
        }
        unreported = true;
        if reported_at.is_none_or(|at| at.elapsed() >= OUTPUT_EVERY) {
            reporter.send(&json!({ "output": current_line(&last_line, &line) }));
            reported_at = Some(Instant::now());
            unreported = false;
        }
    }
    if let Some(file) = file.as_mut() {
        if !tail.is_empty() {
            if dropped > 0 {
                let _ = writeln!(
                    file,
                    "\n[orc work: {dropped} bytes of output dropped here; the log keeps the first {LOG_CAP} and the last {LOG_TAIL} bytes]"
                );
            }
            let (a, b) = tail.as_slices();
            let _ = file.write_all(a).and_then(|()| file.write_all(b));
        }
        let _ = file.sync_all();
    }
    if unreported {
        reporter.send(&json!({ "output": current_line(&last_line, &line) }));
    }
}

/// The last complete line, or the unfinished one when it is all there is.
fn current_line(last_line: &str, partial: &[u8]) -> String {
    let partial = String::from_utf8_lossy(partial).trim().to_string();
    if partial.is_empty() {
        last_line.to_string()
    } else {
        partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for report in [
            KeeperReport::Started(42),
            KeeperReport::SpawnError("cannot start x".into()),
            KeeperReport::Output("working".into()),
            KeeperReport::Exited(3),
            KeeperReport::Signaled(9),
        ] {
            let line = match &report {
                KeeperReport::Started(p) => json!({ "started": p }),
                KeeperReport::SpawnError(m) => json!({ "spawn_error": m }),
                KeeperReport::Output(l) => json!({ "output": l }),
                KeeperReport::Exited(c) => json!({ "exited": c }),
                KeeperReport::Signaled(s) => json!({ "signaled": s }),
            };
            assert_eq!(KeeperReport::parse(&line.to_string()), Some(report));
        }
        assert_eq!(KeeperReport::parse("not json"), None);
    }
}
