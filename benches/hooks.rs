//! Added wall time of `git commit` with orc's post-commit hook installed,
//! against the same commit without it, measured in the same run.
//!
//! `cargo bench --bench hooks` (ORC_BENCH_QUICK=1 for a short run). Prints a
//! Markdown table; the target is an added median of at most 10 ms.

mod support;
use support::build_orc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET_ADDED_MS: f64 = 10.0;

struct Env {
    home: PathBuf,
    path: std::ffi::OsString,
}

impl Env {
    fn command(&self, program: &str, dir: &Path, with_orc: bool) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PATH", if with_orc { self.path.clone() } else { std::env::var_os("PATH").unwrap_or_default() })
            .current_dir(dir);
        cmd
    }

    fn run(&self, program: &str, dir: &Path, args: &[&str]) {
        let out = self.command(program, dir, true).args(args).output().expect("runs");
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn repo(&self, dir: &Path, hooked: bool) {
        std::fs::create_dir_all(dir).unwrap();
        self.run("git", dir, &["init", "-q", "-b", "main"]);
        self.run("git", dir, &["config", "user.name", "bench"]);
        self.run("git", dir, &["config", "user.email", "bench@example.com"]);
        self.run("git", dir, &["config", "orc.agent", "bench-agent"]);
        if hooked {
            self.run("orc", dir, &["hooks", "install", "--hooks", "post-commit"]);
        }
        self.run("git", dir, &["commit", "-q", "--allow-empty", "-m", "start"]);
    }

    /// Stages a new file (untimed), then times the commit alone.
    fn timed_commit(&self, dir: &Path, n: usize, with_orc: bool) -> f64 {
        std::fs::write(dir.join(format!("f{n}.txt")), format!("{n}\n")).unwrap();
        self.run("git", dir, &["add", &format!("f{n}.txt")]);
        let start = Instant::now();
        let out =
            self.command("git", dir, with_orc).args(["commit", "-q", "-m", &format!("commit {n}")]).output().unwrap();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "git commit: {}", String::from_utf8_lossy(&out.stderr));
        ms
    }
}

fn median_p90(samples: &[f64]) -> (f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    (at(0.5), at(0.9))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("ORC_BENCH_QUICK").is_some();
    let rounds = if quick { 15 } else { 80 };
    let orc = build_orc();
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut dirs = vec![orc.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let env = Env { home, path: std::env::join_paths(dirs).unwrap() };

    let plain = tmp.path().join("plain");
    let hooked = tmp.path().join("hooked");
    env.repo(&plain, false);
    env.repo(&hooked, true);
    // Warm both (first orc write creates the branch).
    env.timed_commit(&plain, 0, true);
    env.timed_commit(&hooked, 0, true);

    let (mut without, mut with, mut missing, mut paired) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for n in 1..=rounds {
        // Alternate which goes first, so drift hits both alike.
        let (a, b) = if n % 2 == 0 {
            let a = env.timed_commit(&plain, n, true);
            (a, env.timed_commit(&hooked, n, true))
        } else {
            let b = env.timed_commit(&hooked, n, true);
            (env.timed_commit(&plain, n, true), b)
        };
        without.push(a);
        with.push(b);
        paired.push(b - a);
        missing.push(env.timed_commit(&hooked, rounds + n, false));
    }
    let events = Command::new(&orc)
        .args(["events", "--type", "hook.post-commit", "--since", "1d", "--json"])
        .current_dir(&hooked)
        .env("HOME", &env.home)
        .output()
        .unwrap();
    let logged =
        serde_json::from_slice::<serde_json::Value>(&events.stdout).map_or(0, |v| v.as_array().map_or(0, Vec::len));

    let (w0, w0p) = median_p90(&without);
    let (w1, w1p) = median_p90(&with);
    let (wm, wmp) = median_p90(&missing);
    let (added, added_p90) = median_p90(&paired);
    println!("# orc hooks benchmark\n");
    println!(
        "Machine: {} cores. `git commit -q` of one new file, wall-clock ms over {rounds} rounds, the two repositories alternating.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| commit | n | median ms | p90 ms |\n|---|---:|---:|---:|");
    println!("| without hooks | {rounds} | {w0:.1} | {w0p:.1} |");
    println!("| with orc's post-commit hook | {rounds} | {w1:.1} | {w1p:.1} |");
    println!("| with the hook, orc missing from PATH | {rounds} | {wm:.1} | {wmp:.1} |");
    println!();
    println!("| target | measured | result |\n|---|---|---|");
    println!(
        "| added time of the hook ≤ {TARGET_ADDED_MS} ms (median of paired differences) | {added:.1} ms (p90 {added_p90:.1}; medians {w1:.1} − {w0:.1}) | {} |",
        if added <= TARGET_ADDED_MS { "PASS" } else { "FAIL" }
    );
    println!(
        "\nEvents logged by the hook: {logged} (expected {}: the first commit, the warm-up and each round).",
        rounds + 2
    );
}
