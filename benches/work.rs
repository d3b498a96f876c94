//! `orc work`'s overhead per task against the CLI's own per-task cost, in
//! one run on one machine.
//!
//! `cargo bench --bench work` (ORC_BENCH_QUICK=1 for fewer tasks). A
//! supervisor with one slot runs a fake agent that only stamps the time it
//! started; the gap between two agents' starts is everything the
//! supervisor does per task: finish the last one (published), remove its
//! worktree, claim the next, make its worktree, write the brief, start the
//! keeper and the agent. The baseline is the same loop done by hand through
//! the CLI (`orc next` then `orc complete`), and `orc next` alone (the
//! claim), on a board of the same size.

mod support;
use support::build_orc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Bench {
    orc: PathBuf,
    home: PathBuf,
}

impl Bench {
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("ORC_AGENT", "bench");
        cmd
    }

    fn run(&self, program: &Path, dir: &Path, args: &[&str]) -> String {
        let out = self.command(program, dir).args(args).output().unwrap();
        assert!(out.status.success(), "{program:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn board(&self, dir: &Path, tasks: usize) {
        std::fs::create_dir_all(dir).unwrap();
        let git = Path::new("git");
        self.run(git, dir, &["init", "-q", "-b", "main"]);
        self.run(
            git,
            dir,
            &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "start"],
        );
        self.run(git, dir, &["config", "user.name", "Bench"]);
        self.run(git, dir, &["config", "user.email", "bench@example.com"]);
        self.run(&self.orc, dir, &["ws", "create", "api"]);
        for i in 0..tasks {
            self.run(&self.orc, dir, &["t", "add", "api", &format!("task {i}")]);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Row {
    name: &'static str,
    samples: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self { name, samples }
    }

    fn median(&self) -> f64 {
        percentile(&self.samples, 0.5)
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tasks = if std::env::var_os("ORC_BENCH_QUICK").is_some() { 20 } else { 60 };
    let tmp = tempfile::tempdir().unwrap();
    let bench = Bench { orc: build_orc(), home: tmp.path().join("home") };
    std::fs::create_dir_all(&bench.home).unwrap();

    // The floor: one git process.
    let floor_dir = tmp.path().join("floor");
    bench.board(&floor_dir, 0);
    let floor: Vec<f64> = (0..tasks)
        .map(|_| {
            let start = Instant::now();
            bench.run(Path::new("git"), &floor_dir, &["rev-parse", "HEAD"]);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();

    // The CLI doing the loop by hand.
    let cli_dir = tmp.path().join("cli");
    bench.board(&cli_dir, tasks);
    let (mut claims, mut cycles) = (Vec::new(), Vec::new());
    for _ in 0..tasks {
        let start = Instant::now();
        let id = bench.run(&bench.orc, &cli_dir, &["next", "--json"]);
        let claimed = start.elapsed().as_secs_f64() * 1000.0;
        let id: serde_json::Value = serde_json::from_str(&id).unwrap();
        bench.run(&bench.orc, &cli_dir, &["complete", id["id"].as_str().unwrap(), "ok"]);
        claims.push(claimed);
        cycles.push(start.elapsed().as_secs_f64() * 1000.0);
    }

    // The supervisor.
    let work_dir = tmp.path().join("work");
    bench.board(&work_dir, tasks);
    let stamps = tmp.path().join("starts");
    let agent = tmp.path().join("agent.sh");
    std::fs::write(&agent, format!("#!/bin/sh\ndate +%s%N >> {}\necho RESULT: ok\n", stamps.display())).unwrap();
    let mut perms = std::fs::metadata(&agent).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&agent, perms).unwrap();
    let start = Instant::now();
    let out = bench
        .command(&bench.orc, &work_dir)
        .args(["work", "--drain", "--agents", "1", "--", agent.to_str().unwrap()])
        .output()
        .unwrap();
    let total = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "orc work: {}", String::from_utf8_lossy(&out.stderr));
    let starts: Vec<f64> =
        std::fs::read_to_string(&stamps).unwrap().lines().map(|l| l.trim().parse::<f64>().unwrap() / 1e6).collect();
    assert_eq!(starts.len(), tasks, "every task ran once");
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();

    let rows = [
        Row::new("git rev-parse (process floor)", floor),
        Row::new("CLI: orc next (the claim)", claims),
        Row::new("CLI: orc next + orc complete", cycles),
        Row::new("orc work: per task (1 slot)", gaps),
    ];
    let claim = rows[1].median();
    println!("orc work overhead per task, {tasks} tasks, release build, {}", machine());
    println!("| what | median ms | p99 ms | max ms | median / CLI claim |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.2}x |",
            row.name,
            row.median(),
            percentile(&row.samples, 0.99),
            row.samples.last().copied().unwrap_or_default(),
            row.median() / claim
        );
    }
    println!("orc work wall time for {tasks} tasks: {total:.2} s ({:.1} ms per task)", total * 1000.0 / tasks as f64);
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores")
}
