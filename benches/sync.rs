//! Claims through a git daemon remote, against the floor of one bare
//! `git fetch` + `git push` measured in the same run; throughput of 4 and 16
//! clones claiming at once; pushes per published operation.
//!
//! `cargo bench --bench sync` (ORC_BENCH_QUICK=1 for a short run).

mod support;
use support::build_orc;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 1.3;

struct Env {
    orc: PathBuf,
    root: PathBuf,
    home: PathBuf,
}

impl Env {
    fn cmd(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir).env("HOME", &self.home).env("GIT_CONFIG_NOSYSTEM", "1").env_remove("ORC_AGENT");
        cmd
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.cmd(Path::new("git"), dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn orc(&self, dir: &Path, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(&self.orc, dir).args(args).env("ORC_TRACE", "1").output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn clone_repo(&self, url: &str, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        self.git(&self.root, &["clone", "-q", url, dir.to_str().unwrap()]);
        self.git(&dir, &["config", "user.name", "bench"]);
        self.git(&dir, &["config", "user.email", "bench@example.com"]);
        assert!(self.orc(&dir, &["sync"]).0);
        dir
    }
}

fn pushes(stderr: &str) -> u64 {
    stderr.lines().filter_map(|l| l.strip_prefix("trace: pushes=")).filter_map(|n| n.parse::<u64>().ok()).sum()
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn daemon(env: &Env) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = env.root.display().to_string();
    let child = env
        .cmd(Path::new("git"), &env.root)
        .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={base}"))
        .arg(&base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// `clones` agents each claim with `orc t next` until nothing is ready.
fn race(env: &Arc<Env>, dirs: &[PathBuf]) -> (usize, f64, u64) {
    let barrier = Arc::new(Barrier::new(dirs.len()));
    let started = Instant::now();
    let workers: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (env, dir, barrier) = (Arc::clone(env), dir.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let (mut won, mut pushed) = (0, 0);
                loop {
                    let (ok, _, stderr) = env.orc(&dir, &["t", "next", "w", &format!("agent-{i}")]);
                    pushed += pushes(&stderr);
                    if !ok {
                        assert!(stderr.contains("nothing ready"), "{stderr}");
                        return (won, pushed);
                    }
                    won += 1;
                }
            })
        })
        .collect();
    let (mut won, mut pushed) = (0, 0);
    for worker in workers {
        let (w, p) = worker.join().unwrap();
        won += w;
        pushed += p;
    }
    (won, started.elapsed().as_secs_f64(), pushed)
}

fn seed(env: &Env, dir: &Path, tasks: usize) {
    assert!(env.orc(dir, &["ws", "create", "w"]).0);
    for i in 0..tasks {
        assert!(env.orc(dir, &["t", "add", "w", &format!("task {i}")]).0);
    }
    assert!(env.orc(dir, &["sync"]).0);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("ORC_BENCH_QUICK").is_some();
    let rounds = if quick { 8 } else { 30 };
    let tmp = tempfile::tempdir().unwrap();
    let env = Arc::new(Env { orc: build_orc(), root: tmp.path().to_path_buf(), home: tmp.path().join("home") });
    std::fs::create_dir_all(&env.home).unwrap();
    let (mut child, port) = daemon(&env);

    let make_remote = |name: &str| -> String {
        let bare = env.root.join(format!("{name}.git"));
        env.git(&env.root, &["init", "-q", "--bare", bare.to_str().unwrap()]);
        let seed_dir = env.root.join(format!("{name}-seed"));
        env.git(&env.root, &["init", "-q", "-b", "main", seed_dir.to_str().unwrap()]);
        env.git(
            &seed_dir,
            &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "start"],
        );
        let url = format!("git://127.0.0.1:{port}/{name}.git");
        env.git(&seed_dir, &["remote", "add", "origin", &url]);
        env.git(&seed_dir, &["push", "-q", "origin", "main"]);
        url
    };

    // 1. One claim through the daemon against one bare fetch + push.
    let url = make_remote("single");
    let a = env.clone_repo(&url, "a");
    seed(&env, &a, rounds);
    let ids: Vec<String> = {
        let (_, out, _) = env.orc(&a, &["t", "list", "w", "--json"]);
        let tasks: serde_json::Value = serde_json::from_str(&out).unwrap();
        tasks.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
    };
    let floor_dir = env.clone_repo(&url, "floor");
    let (mut floor, mut claim) = (Vec::new(), Vec::new());
    for (n, id) in ids.iter().enumerate() {
        // The floor: a new commit (untimed), then one fetch and one push.
        let tree = env.git(&floor_dir, &["write-tree"]);
        let commit = env.git(
            &floor_dir,
            &["-c", "user.name=b", "-c", "user.email=b@b", "commit-tree", &tree, "-m", &format!("floor {n}")],
        );
        let start = Instant::now();
        env.git(&floor_dir, &["fetch", "-q", "origin", "main"]);
        env.git(&floor_dir, &["push", "-q", "--force", "origin", &format!("{commit}:refs/heads/floor")]);
        floor.push(start.elapsed().as_secs_f64() * 1000.0);
        let start = Instant::now();
        let (ok, _, stderr) = env.orc(&a, &["t", "claim", id, "--agent", "bench"]);
        claim.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(ok, "{stderr}");
    }
    let (floor_ms, claim_ms) = (median(&mut floor), median(&mut claim));
    let ratio = claim_ms / floor_ms;

    // 2. Throughput of 4 and 16 clones claiming at once.
    let mut rows = Vec::new();
    for clones in [1usize, 4, 16] {
        let tasks = if quick { clones * 3 } else { clones * 8 };
        let url = make_remote(&format!("race{clones}"));
        let seed_dir = env.clone_repo(&url, &format!("race{clones}-owner"));
        seed(&env, &seed_dir, tasks);
        let dirs: Vec<PathBuf> = (0..clones).map(|i| env.clone_repo(&url, &format!("race{clones}-{i}"))).collect();
        let (won, secs, pushed) = race(&env, &dirs);
        assert_eq!(won, tasks, "every task won once");
        rows.push((clones, won, secs, pushed));
    }

    // 3. Batching: events wait for one push.
    let url = make_remote("batch");
    let b = env.clone_repo(&url, "batch-a");
    let logs = if quick { 20 } else { 100 };
    for n in 0..logs {
        assert!(env.orc(&b, &["log", "tick", "--data", &format!("{{\"n\":{n}}}"), "--agent", "bench"]).0);
    }
    let (ok, _, stderr) = env.orc(&b, &["sync"]);
    assert!(ok);
    let batch_pushes = pushes(&stderr);
    let _ = child.kill();
    let _ = child.wait();

    println!("# orc sync benchmark\n");
    println!("Remote: a bare repository served by `git daemon` on 127.0.0.1. Whole-process wall-clock ms, medians over {rounds} rounds.\n");
    println!("| measurement | median ms |\n|---|---:|");
    println!("| floor: one bare `git fetch` + `git push` | {floor_ms:.1} |");
    println!("| `orc t claim <id>` publishing through the remote | {claim_ms:.1} |\n");
    println!("| target | measured | result |\n|---|---|---|");
    println!(
        "| claim through the remote ≤ {TARGET_RATIO}× the fetch+push floor | {claim_ms:.1} / {floor_ms:.1} ms = {ratio:.2}× | {} |\n",
        if ratio <= TARGET_RATIO { "PASS" } else { "FAIL" }
    );
    println!("| clones racing `orc t next` | claims | wall s | claims/s | pushes | pushes per claim |\n|---:|---:|---:|---:|---:|---:|");
    for (clones, won, secs, pushed) in &rows {
        println!(
            "| {clones} | {won} | {secs:.2} | {:.1} | {pushed} | {:.2} |",
            *won as f64 / secs,
            *pushed as f64 / *won as f64
        );
    }
    println!("\n| batching | operations | pushes | pushes per operation |\n|---|---:|---:|---:|");
    println!(
        "| {logs} × `orc log`, then one `orc sync` | {logs} | {batch_pushes} | {:.3} |",
        batch_pushes as f64 / logs as f64
    );
}
