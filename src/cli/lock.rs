//! `orc lock acquire|release|list|run`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::output::{ts, Output};
use super::Ctx;
use crate::clock;
use crate::error::{Error, Result};
use crate::model::duration::parse_duration;
use crate::model::lock::Lock;
use crate::model::names::AgentName;
use crate::model::task::short_time;
use crate::ops::lock::{all_locks, AcquireLock, Observations, ReleaseLock};
use crate::ops::Orc;

#[derive(Subcommand, Debug)]
pub enum LockCommand {
    /// Take a lock on a shared resource (or renew yours); prints its fencing token
    ///
    /// Example: orc lock acquire deploy --ttl 5m --agent agent-1
    Acquire(AcquireArgs),
    /// Give a lock back (only its holder, or anyone with --force)
    ///
    /// Example: orc lock release deploy --agent agent-1
    Release(ReleaseArgs),
    /// List held locks with holder, expiry and token
    ///
    /// Example: orc lock list --all
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Run a command while holding a lock: renewed while it runs, released when it exits
    ///
    /// The command sees ORC_LOCK_RESOURCE and ORC_LOCK_TOKEN (the fencing token).
    /// orc exits with the command's status (128+N when a signal N ended it).
    ///
    /// Example: orc lock run deploy --ttl 2m -- ./deploy.sh production
    Run(RunArgs),
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
    let ttl = parse_duration(text).map_err(|e| Error::input("invalid_input", format!("--ttl: {e}")))?;
    crate::ops::lock::check_ttl(ttl)?;
    Ok(ttl)
}

/// The lock object of DESIGN §5.
pub fn lock_json(lock: &Lock, expired: bool) -> Value {
    json!({
        "resource": lock.resource,
        "holder": lock.holder,
        "acquired_at": ts(Some(lock.acquired_at)),
        "expires_at": ts(Some(lock.expires_at)),
        "token": lock.token,
        "expired": expired,
        "released_at": ts(lock.released_at),
        "released_by": lock.released_by,
    })
}

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
            let agent = orc.require_agent(None)?;
            let lock = acquire(orc, orc.local, &args.resource, agent, ttl)?;
            let human = format!(
                "locked {} for {} until {} (token {})",
                lock.resource,
                lock.holder.as_deref().unwrap_or_default(),
                short_time(lock.expires_at, clock::now()?),
                lock.token
            );
            Ok(Output::new(lock_json(&lock, false), human))
        }
        LockCommand::Release(args) => {
            let resource = crate::model::names::ResourceName::new(&args.resource)?;
            let applied = orc.apply(&ReleaseLock { resource, force: args.force })?;
            super::publish(orc, orc.local, &applied.op_id)?;
            let lock = applied.output;
            Ok(Output::new(lock_json(&lock, false), format!("released {} (token {})", lock.resource, lock.token)))
        }
        LockCommand::List(args) => list(orc, args.all),
        LockCommand::Run(args) => run_locked(orc, args),
    }
}

fn acquire(orc: &Orc, local: bool, resource: &str, agent: AgentName, ttl: Duration) -> Result<Lock> {
    let op = AcquireLock::new(&orc.store, resource, agent, ttl, clock::now()?)?;
    let mut observed = op.observed.clone();
    let applied = orc.apply(&op)?;
    super::publish(orc, local, &applied.op_id)?;
    // The holder's own machine watched its lock from the moment it was taken.
    observed.observe([&applied.output], clock::now()?);
    Ok(applied.output)
}

/// Locks with whether this machine judges them expired.
pub type JudgedLocks = Vec<(Lock, bool)>;

/// Held locks (or all), each judged live or expired by this machine, and
/// the lock files that did not parse.
pub fn judged_locks(orc: &Orc, all: bool) -> Result<(JudgedLocks, Vec<Error>)> {
    let snap = orc.snapshot()?;
    let (settings, _) = snap.settings();
    let now = clock::now()?;
    let locks = all_locks(&snap)?;
    let mut observed = Observations::load(&orc.store);
    observed.observe(&locks.items, now);
    let judged = locks
        .items
        .into_iter()
        .filter(|l| all || l.is_held())
        .map(|l| {
            let expired = l.is_held() && !l.is_live(&observed.clock(Some(&l), now, settings.clock_grace));
            (l, expired)
        })
        .collect();
    Ok((judged, locks.broken))
}

fn list(orc: &Ctx, all: bool) -> Result<Output> {
    let (locks, broken) = judged_locks(orc, all)?;
    let now = clock::now()?;
    let json: Vec<Value> = locks.iter().map(|(l, expired)| lock_json(l, *expired)).collect();
    let human: String = locks.iter().map(|(l, expired)| lock_line(l, *expired, now) + "\n").collect();
    let mut output = Output::new(Value::Array(json), human).warn_broken(&broken);
    if locks.is_empty() {
        output.warnings.push(if all { "no locks yet".into() } else { "no locks are held".into() });
    }
    Ok(output)
}

/// Signals `lock run` passes on to its command instead of dying with the
/// lock still held.
const FORWARDED: [i32; 3] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP];

fn run_locked(orc: &Ctx, args: &RunArgs) -> Result<Output> {
    let ttl = parse_ttl(&args.ttl)?;
    let agent = orc.require_agent(None)?;
    let lock = acquire(orc, orc.local, &args.resource, agent.clone(), ttl)?;

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
            release(orc, orc.local, &args.resource);
            return Err(Error::input("usage", format!("cannot run {:?}: {e}", args.command[0]))
                .with_hint("give the command after `--`, for example: orc lock run deploy -- ./deploy.sh"));
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (stop, dir, resource, local) = (Arc::clone(&stop), orc.dir.clone(), args.resource.clone(), orc.local);
        std::thread::spawn(move || renew_until_stopped(&stop, &dir, &resource, &agent, ttl, local))
    };

    let mut forwarded = [false; 3];
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
        std::thread::sleep(StdDuration::from_millis(20));
    };
    stop.store(true, Ordering::Relaxed);
    let _ = renewer.join();
    let released = release(orc, orc.local, &args.resource);

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

/// Renews every third of the TTL until told to stop; warns once if the lock
/// was lost (the fencing token tells downstream systems the holder changed).
fn renew_until_stopped(
    stop: &AtomicBool,
    dir: &std::path::Path,
    resource: &str,
    agent: &str,
    ttl: Duration,
    local: bool,
) {
    let every = (ttl.to_std().unwrap_or_default() / 3).max(StdDuration::from_millis(500));
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(StdDuration::from_millis(50));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let renewed = Orc::open(dir, Some(agent.to_string()), None)
            .and_then(|orc| -> Result<Lock> { acquire(&orc, local, resource, AgentName::new(agent)?, ttl) });
        if let Err(e) = renewed {
            eprintln!("warning: could not renew the lock on {resource}: {e}");
            if e.kind == "lock_held" {
                return;
            }
        }
    }
}

/// Releases after the command; reports whether it did.
fn release(orc: &Orc, local: bool, resource: &str) -> bool {
    let released = crate::model::names::ResourceName::new(resource)
        .and_then(|resource| orc.apply(&ReleaseLock { resource, force: false }))
        .and_then(|applied| super::publish(orc, local, &applied.op_id));
    match released {
        Ok(()) => true,
        Err(e) => {
            eprintln!("warning: could not release the lock on {resource}: {e}");
            false
        }
    }
}
