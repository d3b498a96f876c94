//! `orc demo`: a throwaway project, a bare remote, and N real agent
//! processes (separate clones) coordinating through it: sync, next, lock
//! run, log, kb write, complete. Then the dashboard and a summary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use super::output::Output;
use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::task::Actor;
use crate::model::task::Status;
use crate::ops::task::AddTask;
use crate::ops::workstream::CreateWorkstream;
use crate::read::board::Board;
use crate::read::Snapshot;
use crate::session::{Clock, Session};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many agent processes to start (each in its own clone)
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// How many tasks to create
    #[arg(long, default_value_t = 24)]
    pub tasks: usize,
    /// Build the demo here and keep it (default: a temporary folder, removed afterwards)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary folder
    #[arg(long)]
    pub keep: bool,
    /// Run each clone's agents under `orc work` (a supervisor with 2 slots
    /// running a fake agent per task) instead of an agent loop of CLI calls
    #[arg(long)]
    pub work: bool,
}

/// Arguments of one demo agent (started by `orc demo`).
#[derive(Args, Debug)]
pub struct DemoAgentArgs {
    /// The agent's name
    pub name: String,
}

const STREAMS: [(&str, &str); 3] = [("api", "Public API"), ("web", "Web app"), ("infra", "Deploys and CI")];

fn run(dir: &Path, program: &Path, args: &[&str], agent: Option<&str>) -> Result<std::process::Output> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    if let Some(agent) = agent {
        cmd.env("ORC_AGENT", agent);
    }
    cmd.output().map_err(|e| Error::new(Kind::Io, format!("cannot run {}: {e}", program.display())))
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    crate::store::code::run_git(dir, args).map(drop)
}

fn orc_exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::io("cannot find the orc binary", &e))
}

/// Sets up the project: a bare remote, a code repository with workstreams
/// and tasks (some waiting for others, some touching a shared resource).
fn set_up(root: &Path, tasks: usize) -> Result<(PathBuf, PathBuf)> {
    let remote = root.join("remote.git");
    let project = root.join("project");
    std::fs::create_dir_all(&project).map_err(|e| Error::io("cannot create the demo folder", &e))?;
    git(root, &["init", "-q", "--bare", "--initial-branch=main", remote.to_str().unwrap_or_default()])?;
    git(&project, &["init", "-q", "-b", "main"])?;
    git(&project, &["config", "user.name", "Demo Lead"])?;
    git(&project, &["config", "user.email", "lead@example.com"])?;
    std::fs::write(project.join("README.md"), "# A demo project coordinated by orc\n")
        .map_err(|e| Error::io("cannot write", &e))?;
    git(&project, &["add", "README.md"])?;
    git(&project, &["commit", "-q", "-m", "A demo project"])?;
    git(&project, &["remote", "add", "origin", remote.to_str().unwrap_or_default()])?;
    git(&project, &["push", "-q", "origin", "main"])?;
    let repo = Repo::open(&project)?;
    let session = demo_session()?;
    for (i, (ws, description)) in STREAMS.iter().enumerate() {
        repo.apply(&session, &CreateWorkstream::new(ws, Some(description), Some(i as u8 + 1))?)?;
    }
    let mut previous: Vec<String> = Vec::new();
    for i in 0..tasks {
        let (ws, _) = STREAMS[i % STREAMS.len()];
        let after = if i % 5 == 4 { previous.last().cloned().into_iter().collect() } else { Vec::new() };
        let resources = if i % 4 == 1 { vec!["staging".to_string()] } else { Vec::new() };
        let title = format!("{} task {}", ws, i + 1);
        let applied = repo.apply(
            &session,
            &AddTask::new(
                &session.clock,
                ws,
                &title,
                Some("Made by orc demo."),
                Some(1 + (i % 3) as u8),
                after,
                resources,
            )?,
        )?;
        previous.push(applied.output.id);
    }
    repo.sync(&session, "origin", false)?;
    Ok((remote, project))
}

/// The person who sets the demo up and takes in its results.
fn demo_session() -> Result<Session> {
    Ok(Session::new(Actor::Person("orc demo".into())).with_clock(Clock::from_env()?))
}

fn remaining(remote: &Path) -> Result<(usize, usize)> {
    let repo = Repo::open(remote)?;
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let board = Board::load(&snap, None, None)?;
    let done = board.tasks.iter().filter(|t| t.status == Status::Done).count();
    Ok((done, board.tasks.len()))
}

pub fn demo(args: &DemoArgs) -> Result<Output> {
    if args.agents == 0 || args.agents > 32 || args.tasks == 0 || args.tasks > 2000 {
        return Err(Error::new(Kind::InvalidInput, "a demo runs 1 to 32 agents on 1 to 2000 tasks"));
    }
    let keep = args.keep || args.dir.is_some();
    let root = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            let mut suffix = [0u8; 4];
            getrandom::fill(&mut suffix).expect("the OS random generator is available on every supported platform");
            std::env::temp_dir().join(format!("orc-demo-{:08x}", u32::from_le_bytes(suffix)))
        }
    };
    if root.join("remote.git").exists() {
        return Err(Error::new(Kind::InvalidInput, format!("{} already holds a demo", root.display()))
            .with_hint("pick another --dir, or remove it first"));
    }
    let started = Instant::now();
    let result = run_demo(&root, args, started);
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    let mut summary = result?;
    summary["kept"] = json!(keep);
    summary["dir"] = json!(root);
    let human = human_summary(&summary, keep);
    Ok(Output::new(summary, human))
}

fn run_demo(root: &Path, args: &DemoArgs, started: Instant) -> Result<Value> {
    eprintln!("[demo] setting up a project, a bare remote and {} tasks in {}", args.tasks, root.display());
    let (remote, project) = set_up(root, args.tasks)?;
    let exe = orc_exe()?;
    let mut agents: Vec<(String, Child)> = Vec::new();
    for i in 1..=args.agents {
        let name = format!("agent-{i}");
        let dir = root.join(&name);
        git(root, &["clone", "-q", remote.to_str().unwrap_or_default(), dir.to_str().unwrap_or_default()])?;
        git(&dir, &["config", "user.name", &name])?;
        git(&dir, &["config", "user.email", &format!("{name}@example.com")])?;
        let mut command = Command::new(&exe);
        if args.work {
            let exe = exe.to_string_lossy();
            command.args(["work", "--json", "--agents", "2", "--drain", "--backoff", "0s", "--", &exe, "demo-task"]);
        } else {
            command.args(["demo-agent", &name]);
        }
        let child = command
            .current_dir(&dir)
            .env("ORC_AGENT", &name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io("cannot start a demo agent", &e))?;
        agents.push((name, child));
    }
    if args.work {
        eprintln!(
            "[demo] started {} supervisors (orc work, 2 slots each), each in its own clone, coordinating through {}",
            args.agents,
            remote.display()
        );
    } else {
        eprintln!(
            "[demo] started {} agents, each in its own clone, coordinating through {}",
            args.agents,
            remote.display()
        );
    }
    let mut last = usize::MAX;
    let mut stats = Vec::new();
    loop {
        let all_done = agents.iter_mut().all(|(_, c)| c.try_wait().ok().flatten().is_some());
        if let Ok((done, total)) = remaining(&remote) {
            if done != last {
                eprintln!("[demo] {done}/{total} tasks done ({:.1}s)", started.elapsed().as_secs_f64());
                last = done;
            }
        }
        if all_done {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            for (_, child) in &mut agents {
                let _ = child.kill();
            }
            return Err(Error::new(Kind::Timeout, "the demo agents did not finish within 10 minutes"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for (name, child) in agents {
        let out = child.wait_with_output().map_err(|e| Error::io("cannot collect a demo agent", &e))?;
        let mut report: Value =
            serde_json::from_slice(&out.stdout).unwrap_or(json!({"agent": name, "error": "no report"}));
        // A supervisor reports counts; the summary reads done and lost.
        if let Some(counts) = report.get("counts").cloned() {
            report = json!({"agent": name, "done": counts["done"], "lost": counts["lost"], "failed": counts["failed"]});
        }
        stats.push(report);
    }
    // Take in everything, render the dashboard, and count.
    let repo = Repo::open(&project)?;
    let session = demo_session()?;
    repo.sync(&session, "origin", false)?;
    repo.apply(&session, &crate::ops::dashboard::RenderDashboard)?;
    repo.sync(&session, "origin", false)?;
    let out_dir = root.join("dashboard");
    let store = repo.store()?;
    let snap = Snapshot::current(&store)?;
    let rendered = crate::render::render(&snap, repo.branch())?;
    std::fs::create_dir_all(out_dir.join("docs")).map_err(|e| Error::io("cannot write the dashboard", &e))?;
    std::fs::write(out_dir.join("docs/index.html"), &rendered.html)
        .map_err(|e| Error::io("cannot write the dashboard", &e))?;
    std::fs::write(out_dir.join("README.md"), &rendered.readme)
        .map_err(|e| Error::io("cannot write the dashboard", &e))?;
    let board = Board::load(&snap, None, None)?;
    let events = crate::read::events::query(
        &snap,
        &crate::read::events::EventQuery {
            since: Some(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH),
            ..Default::default()
        },
    )?
    .items;
    let mut done_by: std::collections::BTreeMap<String, usize> = Default::default();
    for task in board.tasks.iter().filter(|t| t.status == Status::Done) {
        *done_by.entry(task.finished_by.clone().unwrap_or_default()).or_default() += 1;
    }
    let mut claims_per_task: std::collections::HashMap<&str, usize> = Default::default();
    for event in events.iter().filter(|e| e.kind == "task.claim") {
        if let Some(task) = event.data.get("task").and_then(Value::as_str) {
            *claims_per_task.entry(task).or_default() += 1;
        }
    }
    let lost = events
        .iter()
        .filter(|e| e.kind == "sync.drop" && e.data.get("op").and_then(Value::as_str) == Some("task.claim"))
        .count();
    let contested: usize = stats.iter().filter_map(|s| s["lost"].as_u64()).sum::<u64>() as usize + lost;
    Ok(json!({
        "agents": args.agents,
        "tasks": board.tasks.len(),
        "done": board.tasks.iter().filter(|t| t.status == Status::Done).count(),
        "done_by": done_by,
        "double_claims": claims_per_task.values().filter(|n| **n > 1).count(),
        "claims_contested_and_lost": contested,
        "lock_acquisitions": events.iter().filter(|e| e.kind == "lock.acquire").count(),
        "events": events.len(),
        "knowledge_topics": crate::read::knowledge::list(&snap)?.items.len(),
        "seconds": started.elapsed().as_secs_f64(),
        "dashboard": out_dir.join("docs/index.html"),
        "agent_reports": stats,
    }))
}

fn human_summary(s: &Value, kept: bool) -> String {
    let mut out = format!(
        "orc demo: {} agents finished {}/{} tasks in {:.1}s\n",
        s["agents"],
        s["done"],
        s["tasks"],
        s["seconds"].as_f64().unwrap_or_default()
    );
    if let Some(map) = s["done_by"].as_object() {
        for (agent, n) in map {
            out += &format!("  {agent:<10} {n} done\n");
        }
    }
    out += &format!(
        "claims contested and lost: {} · double claims: {} · lock acquisitions: {} · events: {} · knowledge topics: {}\n",
        s["claims_contested_and_lost"], s["double_claims"], s["lock_acquisitions"], s["events"], s["knowledge_topics"]
    );
    if kept {
        out += &format!(
            "dashboard: {}\nthe demo is kept in {}\n",
            s["dashboard"].as_str().unwrap_or_default(),
            s["dir"].as_str().unwrap_or_default()
        );
    } else {
        out += "(the demo folder was removed; pass --keep or --dir D to keep it and open its dashboard)\n";
    }
    out
}

/// One demo agent: sync, then next → (lock run) → log → kb write →
/// complete until no work is left; prints its report as JSON.
pub fn demo_agent(args: &DemoAgentArgs) -> Output {
    let dir = std::env::current_dir().unwrap_or_default();
    let exe = orc_exe().unwrap_or_else(|_| PathBuf::from("orc"));
    let me = args.name.as_str();
    let orc = |a: &[&str]| run(&dir, &exe, a, Some(me));
    let (mut done, mut lost, mut idle_rounds) = (0u64, 0u64, 0u32);
    let _ = orc(&["sync"]);
    while idle_rounds < 200 {
        let Ok(next) = orc(&["next", "--json"]) else { break };
        let value: Value = serde_json::from_slice(&next.stdout).unwrap_or(Value::Null);
        if !next.status.success() {
            let kind = value["error"]["kind"].as_str().unwrap_or_default();
            if kind == "already_claimed" {
                lost += 1;
            }
            let _ = orc(&["sync"]);
            // Done when nothing is open or claimed any more.
            let open = orc(&["t", "list", "--json"]).ok().and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok());
            let left = open.as_ref().and_then(Value::as_array).map_or(1, |tasks| {
                tasks.iter().filter(|t| matches!(t["status"].as_str(), Some("open" | "claimed"))).count()
            });
            if left == 0 {
                break;
            }
            idle_rounds += 1;
            std::thread::sleep(Duration::from_millis(150));
            continue;
        }
        idle_rounds = 0;
        let id = value["id"].as_str().unwrap_or_default().to_string();
        let resources: Vec<String> = value["resources"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        // The work: a short pause, under the shared resource's lock when it has one.
        match resources.first() {
            Some(resource) => {
                let _ = orc(&["lock", "run", resource, "--ttl", "30s", "--", "sleep", "0.05"]);
            }
            None => std::thread::sleep(Duration::from_millis(30)),
        }
        let _ = orc(&["log", "work.done", "--data", &json!({"task": id}).to_string()]);
        if done % 3 == 0 {
            let _ = orc(&["kb", "write", &format!("notes/{me}"), &format!("{me} finished {id}")]);
        }
        if orc(&["complete", &id, &format!("done by {me}")]).is_ok_and(|o| o.status.success()) {
            done += 1;
        }
    }
    let _ = orc(&["sync"]);
    let report = json!({"agent": me, "done": done, "lost": lost});
    Output::new(report.clone(), report.to_string())
}

/// The work of one task in `orc demo --work`, run by a supervisor: the
/// task comes from `ORC_TASK`; the supervisor completes it from the
/// `RESULT:` line.
pub fn demo_task() -> Output {
    let dir = std::env::current_dir().unwrap_or_default();
    let exe = orc_exe().unwrap_or_else(|_| PathBuf::from("orc"));
    let me = std::env::var("ORC_AGENT").unwrap_or_default();
    let id = std::env::var("ORC_TASK").unwrap_or_default();
    let orc = |a: &[&str]| run(&dir, &exe, a, Some(&me));
    let task: Value = orc(&["t", "show", &id, "--json"])
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default();
    println!("working on {id}: {}", task["title"].as_str().unwrap_or_default());
    match task["resources"].as_array().and_then(|r| r.first()).and_then(Value::as_str) {
        Some(resource) => {
            let _ = orc(&["lock", "run", resource, "--ttl", "30s", "--", "sleep", "0.05"]);
        }
        None => std::thread::sleep(Duration::from_millis(30)),
    }
    let _ = orc(&["log", "work.done", "--data", &json!({"task": id}).to_string()]);
    let _ = orc(&["kb", "write", &format!("notes/{me}"), &format!("{me} finished {id}")]);
    Output::new(json!({"task": id}), format!("RESULT: done by {me}"))
}
