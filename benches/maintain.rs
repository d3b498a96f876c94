//! Pack maintenance off the command path (issue 12): `cargo bench --bench maintain`.
//!
//! What a command costs on a board where pack roll-ups come due often: one
//! board of `ORC_BENCH_TASKS` tasks (2,000) added in one operation and
//! merged into one pack, then `ORC_BENCH_RUNS` (300) `orc t add` processes
//! one after another, each timed from spawn to exit. A roll-up is due every
//! eighth operation; the geometric merge sometimes reaches the board's big
//! pack. The tails (p99, max) are the point: a command that waits for a
//! roll-up is a stall.
//!
//! `ORC_BENCH_BEFORE=/path/to/orc` also measures another build on a copy of
//! the same board: one that rolls packs up inside the command (any orc before
//! issue 12's maintenance work). Afterwards the bench waits for the
//! background maintainer and reports how many packs orc lists.

mod support;
use support::build_orc;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn command(program: &Path, repo: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(repo)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("TZ", "UTC")
        .env("LC_ALL", "C");
    cmd
}

#[track_caller]
fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository holding one workstream of `tasks` tasks in one pack.
fn seed(orc: &Path, dir: &Path, home: &Path, tasks: usize) -> PathBuf {
    let repo = dir.join("board");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        run({
            let mut cmd = command(Path::new("git"), &repo, home);
            cmd.args(args);
            cmd
        })
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "Bench"]);
    git(&["config", "user.email", "bench@example.com"]);
    git(&["commit", "-q", "--allow-empty", "-m", "initial"]);
    let orc_run = |args: &[&str]| {
        run({
            let mut cmd = command(orc, &repo, home);
            cmd.args(args);
            cmd
        })
    };
    orc_run(&["ws", "create", "bench"]);
    let rows: String = (0..tasks).map(|i| format!("{{\"ws\": \"bench\", \"title\": \"seeded task {i}\"}}\n")).collect();
    let file = dir.join("tasks.jsonl");
    std::fs::write(&file, rows).unwrap();
    orc_run(&["t", "add", "--from", file.to_str().unwrap()]);
    orc_run(&["maintain"]);
    repo
}

struct Timings {
    label: String,
    runs: Vec<Duration>,
    total: Duration,
    listed_after: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn measure(label: &str, orc: &Path, template: &Path, dir: &Path, home: &Path, runs: usize) -> Timings {
    let repo = dir.join(label.replace(|c: char| !c.is_ascii_alphanumeric(), "-"));
    let status = Command::new("cp").arg("-a").arg(template).arg(&repo).status().unwrap();
    assert!(status.success(), "cp -a the seeded board");
    let started = Instant::now();
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let mut cmd = command(orc, &repo, home);
        cmd.args(["t", "add", "bench", &format!("measured task {i}")]);
        let at = Instant::now();
        run(cmd);
        times.push(at.elapsed());
    }
    let total = started.elapsed();
    // Whatever the background maintainer still does finishes before the
    // pack count is read (builds without one never take this lock).
    let lock = File::options().create(true).truncate(false).write(true).open(repo.join(".git/orc/maintain.lock"));
    let _held = lock.map(|f| f.lock().map(|()| f));
    let listed = std::fs::read_to_string(repo.join(".git/orc/packs")).unwrap_or_default().lines().count();
    Timings { label: label.to_string(), runs: times, total, listed_after: listed }
}

fn main() {
    let tasks = env_usize("ORC_BENCH_TASKS", 2000);
    let runs = env_usize("ORC_BENCH_RUNS", 300);
    let after = build_orc();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    eprintln!("bench: seeding a board of {tasks} tasks");
    let template = seed(&after, dir.path(), &home, tasks);
    let mut results = Vec::new();
    if let Some(before) = std::env::var_os("ORC_BENCH_BEFORE") {
        eprintln!("bench: {runs} × orc t add, roll-ups in the command ({})", Path::new(&before).display());
        results.push(measure("before: roll-up in the command", Path::new(&before), &template, dir.path(), &home, runs));
    }
    eprintln!("bench: {runs} × orc t add, roll-ups in the background");
    results.push(measure("after: roll-up in the background", &after, &template, dir.path(), &home, runs));

    println!("\n`orc t add` on a {tasks}-task board, {runs} runs one after another (spawn to exit)\n");
    println!("| build | median ms | p90 ms | p99 ms | max ms | runs over 100 ms | total s | packs listed at the end |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for t in &results {
        let mut sorted = t.runs.clone();
        sorted.sort();
        let slow = sorted.iter().filter(|d| **d > Duration::from_millis(100)).count();
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            t.label,
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.9)),
            ms(percentile(&sorted, 0.99)),
            ms(*sorted.last().unwrap()),
            slow,
            t.total.as_secs_f64(),
            t.listed_after
        );
    }
}
