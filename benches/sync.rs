//! Claims through a git daemon remote, against the floor of one bare
//! `git fetch` + `git push` measured in the same run; throughput of 4 and 16
//! clones claiming at once; pushes per published operation; and the time of
//! one `orc next` while 8 clones race over 100 tasks (issue 12: median,
//! p99, max), for this build and, given `ORC_BENCH_BASELINE=<orc binary>[:…]`,
//! for those in the same run.
//!
//! `cargo bench --bench sync` (ORC_BENCH_QUICK=1 for a short run).

mod support;
use support::build_orc;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 1.3;
/// Issue 12: with 8 clones racing, one `next`'s p99 is at most this many times its median.
const TARGET_TAIL: f64 = 5.0;

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
        self.orc_bin(&self.orc, dir, args)
    }

    fn orc_bin(&self, bin: &Path, dir: &Path, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(bin, dir).args(args).env("ORC_TRACE", "1").output().unwrap();
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
                    if !ok && stderr.contains("nothing ready") {
                        return (won, pushed);
                    }
                    // A `next` out of time (busy) is retried: the next one
                    // publishes the claim it kept, or claims another.
                    assert!(ok || stderr.contains("kept moving"), "{stderr}");
                    won += usize::from(ok);
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

/// One `orc t next` per sample, timed as a whole process, while every
/// clone in `dirs` claims until nothing is ready.
struct Tail {
    /// Wall-clock ms of every `next`, the final "nothing ready" of each
    /// clone included.
    samples: Vec<f64>,
    won: usize,
    /// Claims won by each clone, most first: a fair race spreads them.
    won_by_clone: Vec<usize>,
    /// `next`s that failed with `busy` (their claim kept locally).
    busy: usize,
    other_failures: usize,
}

fn race_timed(env: &Arc<Env>, bin: &Path, dirs: &[PathBuf]) -> Tail {
    let barrier = Arc::new(Barrier::new(dirs.len()));
    let workers: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (env, dir, barrier, bin) = (Arc::clone(env), dir.clone(), Arc::clone(&barrier), bin.to_path_buf());
            std::thread::spawn(move || {
                barrier.wait();
                let mut tail =
                    Tail { samples: Vec::new(), won: 0, won_by_clone: Vec::new(), busy: 0, other_failures: 0 };
                loop {
                    let start = Instant::now();
                    let (ok, _, stderr) = env.orc_bin(&bin, &dir, &["t", "next", "w", &format!("agent-{i}")]);
                    let ms = start.elapsed().as_secs_f64() * 1000.0;
                    // Every `next` counts, the last one of each clone too: a
                    // starved clone's only `next` may wait the whole race to
                    // hear "nothing ready".
                    tail.samples.push(ms);
                    if !ok && stderr.contains("nothing ready") {
                        return tail;
                    }
                    if ok {
                        tail.won += 1;
                    } else if stderr.contains("kept moving") {
                        tail.busy += 1;
                    } else {
                        // Counted and shown, not hidden: the old build gives
                        // up after ten lost choices.
                        tail.other_failures += 1;
                        eprintln!("bench: next failed: {}", stderr.lines().next().unwrap_or_default());
                    }
                }
            })
        })
        .collect();
    let mut all = Tail { samples: Vec::new(), won: 0, won_by_clone: Vec::new(), busy: 0, other_failures: 0 };
    for worker in workers {
        let tail = worker.join().unwrap();
        all.samples.extend(tail.samples);
        all.won += tail.won;
        all.won_by_clone.push(tail.won);
        all.busy += tail.busy;
        all.other_failures += tail.other_failures;
    }
    all.won_by_clone.sort_unstable_by(|a, b| b.cmp(a));
    all
}

/// The nearest-rank percentile `p` (0-100) of `samples`.
fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
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

    // 4. Issue 12: the tail of one `next` with 8 clones racing over 100 tasks.
    let tail_rounds = if quick { 1 } else { 2 };
    let tail_tasks = 100;
    let mut builds: Vec<(String, PathBuf)> = vec![("this build".into(), env.orc.clone())];
    // Other builds to race in the same run, as a PATH-like list.
    // An unset variable splits into one empty path: not a build.
    let baselines = std::env::var_os("ORC_BENCH_BASELINE").unwrap_or_default();
    for base in std::env::split_paths(&baselines).filter(|p| !p.as_os_str().is_empty()) {
        let name = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        builds.push((format!("`{name}`"), base));
    }
    let mut tails = Vec::new();
    for round in 0..tail_rounds {
        // Alternate which build races first, so neither always meets a
        // warmer (or busier) machine.
        let order: Vec<usize> =
            if round % 2 == 0 { (0..builds.len()).collect() } else { (0..builds.len()).rev().collect() };
        for b in order {
            let url = make_remote(&format!("tail{round}-{b}"));
            let owner = env.clone_repo(&url, &format!("tail{round}-{b}-owner"));
            seed(&env, &owner, tail_tasks);
            let dirs: Vec<PathBuf> = (0..8).map(|i| env.clone_repo(&url, &format!("tail{round}-{b}-{i}"))).collect();
            let started = Instant::now();
            let tail = race_timed(&env, &builds[b].1, &dirs);
            let secs = started.elapsed().as_secs_f64();
            tails.push((b, tail, secs));
        }
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
    println!("\n8 clones racing `orc t next w` through `git daemon` over {tail_tasks} tasks, {tail_rounds} round(s) per build; one `next` is one whole process, ms; every `next` counts, each clone's final \"nothing ready\" included.\n");
    println!("| build | `next`s | claims | busy | other failures | median | p99 | max | p99 / median | wall s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut verdicts = Vec::new();
    let mut spreads = Vec::new();
    for (b, (name, _)) in builds.iter().enumerate() {
        let mine: Vec<&(usize, Tail, f64)> = tails.iter().filter(|(which, _, _)| *which == b).collect();
        let mut samples: Vec<f64> = mine.iter().flat_map(|(_, t, _)| t.samples.iter().copied()).collect();
        let won: usize = mine.iter().map(|(_, t, _)| t.won).sum();
        let busy: usize = mine.iter().map(|(_, t, _)| t.busy).sum();
        let other: usize = mine.iter().map(|(_, t, _)| t.other_failures).sum();
        let secs: f64 = mine.iter().map(|(_, _, s)| s).sum();
        let med = percentile(&mut samples, 50.0);
        let p99 = percentile(&mut samples, 99.0);
        let max = percentile(&mut samples, 100.0);
        println!(
            "| {name} | {} | {won} | {busy} | {other} | {med:.0} | {p99:.0} | {max:.0} | {:.2}× | {secs:.1} |",
            samples.len(),
            p99 / med
        );
        verdicts.push((name.clone(), med, p99));
        spreads.extend(mine.iter().map(|(_, tail, _)| (name.clone(), tail.won_by_clone.clone())));
    }
    println!("| floor: one bare `git fetch` + `git push` (section 1) | | | | | {floor_ms:.0} | | | | |\n");
    for (name, spread) in &spreads {
        println!("Claims won by each clone, most first ({name}): {spread:?}  ");
    }
    println!();
    println!("| target | measured | result |\n|---|---|---|");
    let (name, med, p99) = &verdicts[0];
    println!(
        "| 8-clone remote `next` p99 ≤ {TARGET_TAIL}× its median ({name}) | {p99:.0} / {med:.0} ms = {:.2}× | {} |",
        p99 / med,
        if p99 / med <= TARGET_TAIL { "PASS" } else { "FAIL" }
    );
    println!("\n| batching | operations | pushes | pushes per operation |\n|---|---:|---:|---:|");
    println!(
        "| {logs} × `orc log`, then one `orc sync` | {logs} | {batch_pushes} | {:.3} |",
        batch_pushes as f64 / logs as f64
    );
}
