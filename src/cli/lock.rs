//! `orc lock acquire|release|list|run`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::lazy::Lazy;
use super::output::{for_people, Output};
use super::Ctx;
use crate::api::lease::LockLease;
pub use crate::api::views::lock_json;
use crate::error::{Error, Kind, Result};
use crate::model::duration::parse_duration;
use crate::model::lock::Lock;
use crate::model::names::ResourceName;
use crate::model::task::short_time;

#[derive(Subcommand, Debug)]
pub enum LockCommand {
    /// Take a lock on a shared resource (or renew yours); prints its fencing token
    ///
    /// Example: orc lock acquire deploy --ttl 5m --agent agent-1
    Acquire(Lazy<AcquireArgs>),
    /// Give a lock back (only its holder, or anyone with --force)
    ///
    /// Example: orc lock release deploy --agent agent-1
    Release(Lazy<ReleaseArgs>),
    /// List held locks with holder, expiry and token
    ///
    /// Example: orc lock list --all
    #[command(visible_alias = "ls")]
    List(Lazy<ListArgs>),
    /// Run a command while holding a lock: renewed while it runs, released when it exits
    ///
    /// The command sees ORC_LOCK_RESOURCE and ORC_LOCK_TOKEN (the fencing token).
    /// orc exits with the command's status (128+N when a signal N ended it).
    ///
    /// Example: orc lock run deploy --ttl 2m -- ./deploy.sh production
    Run(Lazy<RunArgs>),
}

#[derive(Args, Debug)]
pub struct AcquireArgs {
    /// Resource name: letters, digits, '.', '_' and '-', up to 64
    pub resource: String,
    /// How long the lock lasts unless renewed (30s, 5m, 2h)
    #[arg(long, default_value = "60s")]
    pub ttl: String,
}

#[derive(Args, Debug)]
pub struct ReleaseArgs {
    pub resource: String,
    /// Release a lock someone else holds (logged)
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Include free locks (released, with their last token)
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    pub resource: String,
    /// How long the lock lasts if orc stops renewing it (it renews every third of this)
    #[arg(long, default_value = "60s")]
    pub ttl: String,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn parse_ttl(text: &str) -> Result<Duration> {
    let ttl = parse_duration(text).map_err(|e| Error::new(Kind::InvalidInput, format!("--ttl: {e}")))?;
    crate::ops::lock::check_ttl(ttl)?;
    Ok(ttl)
}

/// The lock object of DESIGN §5.
pub fn lock_line(lock: &Lock, expired: bool, now: DateTime<Utc>) -> String {
    match &lock.holder {
        Some(holder) => format!(
            "{:<20} {:<16} until {}{}  token {}",
            lock.resource,
            holder,
            short_time(lock.expires_at, now),
            if expired { " (expired)" } else { "" },
            lock.token
        ),
        None => format!("{:<20} {:<16} token {}", lock.resource, "(free)", lock.token),
    }
}

pub fn run(orc: &Ctx, cmd: &LockCommand) -> Result<Output> {
    match cmd {
        LockCommand::Acquire(args) => {
            let ttl = parse_ttl(&args.ttl)?;
            orc.agent(None)?;
            let lock = orc.repo.acquire_lock(&orc.session, &ResourceName::new(&args.resource)?, ttl)?.output;
            let human = format!(
                "locked {} for {} until {} (token {})",
                lock.resource,
                lock.holder.as_deref().unwrap_or_default(),
                short_time(lock.expires_at, orc.now()),
                lock.token
            );
            Ok(Output::new(lock_json(&lock, false), human))
        }
        LockCommand::Release(args) => {
            let resource = ResourceName::new(&args.resource)?;
            let lock = orc.repo.release_lock(&orc.session, &resource, args.force)?.output;
            Ok(Output::new(lock_json(&lock, false), format!("released {} (token {})", lock.resource, lock.token)))
        }
        LockCommand::List(args) => list(orc, args.all),
        LockCommand::Run(args) => run_locked(orc, args),
    }
}

/// Held locks (or all), each judged live or expired by this machine, and
/// the lock files that did not parse.
pub fn judged_locks(orc: &Ctx, all: bool) -> Result<(crate::api::JudgedLocks, Vec<Error>)> {
    orc.repo.judged_locks(&orc.session, all)
}

fn list(orc: &Ctx, all: bool) -> Result<Output> {
    let (locks, broken) = judged_locks(orc, all)?;
    let now = orc.now();
    let json: Vec<Value> = locks.iter().map(|(l, expired)| lock_json(l, *expired)).collect();
    let human: String = locks.iter().map(|(l, expired)| lock_line(l, *expired, now) + "\n").collect();
    let mut output = Output::new(Value::Array(json), human).warn_broken(&broken);
    if locks.is_empty() {
        output.warnings.push(if all { "no locks yet".into() } else { "no locks are held".into() });
    }
    Ok(output)
}

/// How long a command whose lock was taken over gets to stop after TERM
/// before it is killed.
const STOP_GRACE: StdDuration = StdDuration::from_secs(5);

/// Signals `lock run` passes on to its command instead of dying with the
/// lock still held.
const FORWARDED: [i32; 3] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP];

fn run_locked(orc: &Ctx, args: &RunArgs) -> Result<Output> {
    let ttl = parse_ttl(&args.ttl)?;
    orc.agent(None)?;
    let resource = ResourceName::new(&args.resource)?;
    let lease = LockLease::acquire(Arc::clone(&orc.repo), Arc::clone(&orc.session), resource, ttl)?;
    let lock = lease.lock().clone();

    let received: Vec<Arc<AtomicBool>> = FORWARDED.iter().map(|_| Arc::new(AtomicBool::new(false))).collect();
    for (signal, flag) in FORWARDED.iter().zip(&received) {
        signal_hook::flag::register(*signal, Arc::clone(flag))
            .map_err(|e| Error::io("cannot watch for signals", &e))?;
    }

    let spawned = Command::new(&args.command[0])
        .args(&args.command[1..])
        .env("ORC_LOCK_RESOURCE", &lock.resource)
        .env("ORC_LOCK_TOKEN", lock.token.to_string())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            release(lease, &args.resource);
            return Err(Error::new(Kind::Usage, format!("cannot run {:?}: {e}", args.command[0]))
                .with_hint("give the command after `--`, for example: orc lock run deploy -- ./deploy.sh"));
        }
    };

    let mut forwarded = [false; 3];
    let mut stopping: Option<(Error, Instant)> = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io("cannot wait for the command", &e))? {
            break status;
        }
        for (i, flag) in received.iter().enumerate() {
            if flag.load(Ordering::Relaxed) && !forwarded[i] {
                forwarded[i] = true;
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let signal = nix::sys::signal::Signal::try_from(FORWARDED[i]).expect("a standard signal");
                let _ = nix::sys::signal::kill(pid, signal);
            }
        }
        for failure in lease.take_failures() {
            eprintln!("warning: could not renew the lock on {}: {}", args.resource, for_people(&failure.message));
        }
        // Another holder has the lock: the command must not go on as if it
        // still held it. TERM first, KILL after the grace period.
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        match &stopping {
            None => {
                if let Some(lost) = lease.lost() {
                    let lost_text = for_people(&lost.message).into_owned();
                    eprintln!("error: lost the lock on {}: {lost_text}; stopping the command", args.resource);
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                    stopping = Some((lost, Instant::now()));
                }
            }
            Some((_, since)) if since.elapsed() >= STOP_GRACE => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            Some(_) => {}
        }
        std::thread::sleep(StdDuration::from_millis(20));
    };
    if let Some((lost, _)) = stopping {
        drop(lease);
        return Err(Error::new(
            Kind::LockHeld,
            format!("lost the lock on {} while the command ran; the command was stopped", args.resource),
        )
        .with("resource", args.resource.as_str())
        .with("token", lock.token)
        .with("lost_to", lost.fields.get("holder").cloned())
        .with_cause(&lost));
    }
    let released = release(lease, &args.resource);

    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    };
    let mut output = Output::new(
        json!({"resource": lock.resource, "token": lock.token, "exit_code": code, "released": released}),
        String::new(),
    );
    output.exit_code = code;
    Ok(output)
}

/// Releases after the command; reports whether it did.
fn release(lease: LockLease, resource: &str) -> bool {
    match lease.release() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("warning: could not release the lock on {resource}: {}", for_people(&e.message));
            false
        }
    }
}
