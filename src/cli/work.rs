//! `orc work` (run a supervisor), `orc work status`, `orc work stop`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use super::lazy::Lazy;
use super::output::{for_people, Output};
use super::Ctx;
use crate::error::{Error, Kind, Result};
use crate::model::duration::{format_duration, parse_duration};
use crate::model::names::{AgentName, WorkstreamName};
use crate::work::state::WorkDir;
use crate::work::{self, WorkConfig};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkArgs {
    #[command(subcommand)]
    pub command: Option<WorkCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum WorkCommand {
    /// Show this repository's supervisors: slots, tasks, ages, last output, logs
    ///
    /// Example: orc work status --json
    Status,
    /// Ask a running supervisor to stop: its agents are ended and their claims given back
    ///
    /// Example: orc work stop --agent builder
    Stop(Lazy<StopArgs>),
    /// One agent command under a keeper (started by `orc work`, not for people)
    #[command(name = "__keep", hide = true)]
    Keep(Lazy<KeepArgs>),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// How many agents run at once (slots; slot k acts as <agent>-k)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub agents: usize,
    /// Take tasks from this workstream only
    #[arg(long, value_name = "W")]
    pub ws: Option<String>,
    /// End an agent that runs longer than this (the task is failed)
    #[arg(long, default_value = "45m")]
    pub timeout: String,
    /// End an agent that prints nothing for this long (the task is failed)
    #[arg(long, default_value = "10m")]
    pub idle_timeout: String,
    /// How often a failed or timed-out task is put back in the queue
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// The wait before the first retry; it doubles each time, with jitter
    #[arg(long, default_value = "30s")]
    pub backoff: String,
    /// Time between TERM and KILL when an agent is ended
    #[arg(long, default_value = "10s")]
    pub grace: String,
    /// Keep every task's worktree (by default clean ones are removed)
    #[arg(long)]
    pub keep_worktrees: bool,
    /// Exit once nothing is ready, running or waiting for a retry (and no blocked
    /// task waits on a task another agent holds)
    #[arg(long)]
    pub drain: bool,
    /// A known agent command line: claude (claude -p {prompt} --output-format json
    /// --permission-mode acceptEdits) or codex (codex exec --full-auto {prompt})
    #[arg(long, value_name = "NAME", conflicts_with = "command")]
    pub preset: Option<String>,
    /// The agent command; {prompt} (the brief's text), {brief} (its path) and
    /// {task} (the id) are replaced in its arguments
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// How long to wait for the supervisor to end its agents and exit
    #[arg(long, default_value = "60s")]
    pub wait: String,
}

#[derive(Args, Debug)]
pub struct KeepArgs {
    #[arg(long)]
    pub log: PathBuf,
    #[arg(long)]
    pub grace_ms: u64,
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// The keeper runs before any repository is opened: it only runs a command.
pub fn keep(args: &KeepArgs) -> i32 {
    work::keeper::keep(&work::keeper::KeeperArgs {
        log: args.log.clone(),
        grace: Duration::from_millis(args.grace_ms),
        command: args.command.clone(),
    })
}

pub fn run(orc: &Ctx, args: &WorkArgs) -> Result<Output> {
    match &args.command {
        None => supervise(orc, &args.run),
        Some(WorkCommand::Status) => status(orc),
        Some(WorkCommand::Stop(stop_args)) => stop(orc, stop_args),
        Some(WorkCommand::Keep(_)) => unreachable!("the keeper is dispatched before a repository is opened"),
    }
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    parse_duration(text).ok().and_then(|d| d.to_std().ok()).ok_or_else(|| {
        Error::new(Kind::InvalidInput, format!("--{flag} {text:?} is not a duration"))
            .with_hint(format!("write it like 90s, 10m or 2h: --{flag} 10m"))
    })
}

fn supervise(orc: &Ctx, args: &RunArgs) -> Result<Output> {
    let agent: AgentName = orc.session.agent()?;
    let command = match &args.preset {
        Some(name) => work::preset(name)?,
        None => args.command.clone(),
    };
    let config = WorkConfig {
        slots: args.agents,
        workstream: args.ws.as_deref().map(WorkstreamName::new).transpose()?,
        timeout: duration("timeout", &args.timeout)?,
        idle_timeout: duration("idle-timeout", &args.idle_timeout)?,
        retries: args.retries,
        backoff: duration("backoff", &args.backoff)?,
        grace: duration("grace", &args.grace)?,
        keep_worktrees: args.keep_worktrees,
        drain: args.drain,
        command,
    };
    // Ctrl-C and TERM stop the supervisor in order: agents ended, claims
    // given back, the lock released.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| Error::io("cannot watch for signals", &e))?;
    }
    let summary = work::run(Arc::clone(&orc.repo), &orc.session, &agent, config, &interrupted)?;
    let c = summary.counts;
    let mut human = format!(
        "{}: {} started, {} done, {} failed, {} retried, {} lost, {} given back\n",
        summary.agent, c.started, c.done, c.failed, c.retried, c.lost, c.released
    );
    for path in &summary.kept_worktrees {
        human += &format!("kept worktree: {}\n", path.display());
    }
    Ok(Output::new(serde_json::to_value(&summary).expect("plain data"), human))
}

fn work_dir(orc: &Ctx) -> Result<WorkDir> {
    WorkDir::new(&orc.store()?.private_dir())
}

fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format_duration((now - since).max(chrono::Duration::zero()))
}

fn status(orc: &Ctx) -> Result<Output> {
    let work = work_dir(orc)?;
    let now = orc.now();
    let mut supervisors = work.supervisors();
    for s in &mut supervisors {
        s.running = work.is_running(&s.agent)?;
    }
    let busy: Vec<String> = supervisors
        .iter()
        .filter(|s| s.running)
        .flat_map(|s| s.slots.iter().filter_map(|slot| slot.task.clone()))
        .collect();
    let kept = work.kept_worktrees(&busy);
    let mut human = String::new();
    if supervisors.is_empty() {
        human += "no supervisor has run here; start one with: orc work --agents 2 -- <command>\n";
    }
    for s in &supervisors {
        let state = match (s.running, s.stopping) {
            (true, false) => format!("running for {}", age(s.started_at, now)),
            (true, true) => "stopping".to_string(),
            (false, _) => format!("not running (died; last seen {} ago)", age(s.updated_at, now)),
        };
        human += &format!(
            "supervisor {} (pid {}): {state}; done {}, failed {}, retried {}, lost {}\n",
            s.agent, s.pid, s.counts.done, s.counts.failed, s.counts.retried, s.counts.lost
        );
        for slot in &s.slots {
            let line = match (&slot.task, slot.state.as_str()) {
                (Some(task), _) => format!(
                    "  slot {} {}: {} \"{}\" for {}; last output: {}\n    log {}\n",
                    slot.slot,
                    slot.agent,
                    task,
                    slot.title.as_deref().unwrap_or(""),
                    slot.started_at.map_or("?".to_string(), |at| age(at, now)),
                    slot.last_output.as_deref().unwrap_or("(none yet)"),
                    slot.log.as_ref().map_or("?".to_string(), |p| p.display().to_string()),
                ),
                (None, "paused") => format!(
                    "  slot {} {}: paused (the command would not start) until {}\n",
                    slot.slot,
                    slot.agent,
                    slot.paused_until.map_or("?".to_string(), |at| at.format("%H:%M:%S").to_string())
                ),
                (None, _) => format!("  slot {} {}: idle\n", slot.slot, slot.agent),
            };
            human += &line;
        }
    }
    for k in &kept {
        human += &format!("kept worktree {} of {} (branch {})\n", k.worktree.path.display(), k.task, k.worktree.branch);
    }
    let json = json!({ "supervisors": supervisors, "kept_worktrees": kept });
    Ok(Output::new(json, for_people(&human)))
}

fn stop(orc: &Ctx, args: &StopArgs) -> Result<Output> {
    let agent: AgentName = orc.session.agent()?;
    let wait = duration("wait", &args.wait)?;
    let work = work_dir(orc)?;
    if !work.is_running(&agent)? {
        return Err(Error::new(Kind::NotFound, format!("no supervisor runs as {agent} in this repository"))
            .with("agent", agent.as_str())
            .with_hint("see which run with: orc work status"));
    }
    let stop_path = work.stop_path(&agent);
    std::fs::write(&stop_path, Utc::now().to_rfc3339())
        .map_err(|e| Error::io(&format!("cannot write {}", stop_path.display()), &e))?;
    let deadline = Instant::now() + wait;
    // The supervisor's file lock frees when it exits: that is the answer.
    while work.is_running(&agent)? {
        if Instant::now() >= deadline {
            return Err(Error::new(
                Kind::Timeout,
                format!(
                    "the supervisor {agent} is still stopping after {}",
                    format_duration(chrono::Duration::from_std(wait).unwrap_or_default())
                ),
            )
            .with_hint("it ends its agents with TERM, then KILL after --grace; wait longer with --wait 5m"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Output::new(json!({ "agent": agent.as_str(), "stopped": true }), format!("stopped the supervisor {agent}\n")))
}
