//! Issue 12: every command costs the same at 1,000 tasks and at 100,000.
//!
//! Boards are built the way users build them: a workstream and one
//! `orc t add --from rows.jsonl` (the bulk import, itself timed), every task
//! open. A separate board has an agent, `busy`, that already logged 10,000
//! events today (seeded in orc's chunk layout, and read back by `orc
//! events` before timing), next to an agent `fresh` with almost none.
//!
//! Then round-robin, one run per command per board per round, each whole
//! `orc` process timed from spawn to exit: `t add`, `t next` (a claim),
//! `t complete` (of that claim), `log`, `status`, `ready`; and the git2
//! whole-process floor (this binary re-executed as `__floor`: a blob, a
//! tree, a commit, a ref compare-and-swap and four fsyncs) once per board
//! per round, so ratios compare samples taken at the same moments.
//!
//! `cargo bench --bench scale` (500 rounds, 1k/10k/100k);
//! `ORC_BENCH_QUICK=1 cargo bench --bench scale` (40 rounds, 1k/10k).

mod support;
use support::{build_orc, floor_op, FLOOR_REF};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use chrono::{SubsecRound, Utc};
use git2::Repository;
use orc::model::event::{chunk_dir, chunk_name, Event, CHUNK_BYTES};
use orc::session::Clock;
use orc::store::{Changes, Store, Swap};

const WS: &str = "bench";
const COMMANDS: [&str; 6] = ["t add", "t next", "t complete", "log", "status", "ready"];

/// Targets from the issue.
const FLAT_MAX: f64 = 1.3;
const TAIL_MAX: f64 = 3.0;
const CLAIM_VS_FLOOR_MAX: f64 = 2.0;
const BUSY_AUTHOR_MAX: f64 = 1.3;
const IMPORT_10K_MAX_S: f64 = 3.0;
const BUSY_EVENTS: usize = 10_000;
const ROWS_PER_FILE: usize = 20_000;

struct Env {
    orc: PathBuf,
    exe: PathBuf,
    root: PathBuf,
    home: PathBuf,
}

impl Env {
    fn cmd(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir).env("HOME", &self.home).env("GIT_CONFIG_NOSYSTEM", "1");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("ORC_") || key.starts_with("GIT_DIR") {
                cmd.env_remove(key);
            }
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn git(&self, dir: &Path, args: &[&str]) {
        let out = self.cmd(Path::new("git"), dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs orc; returns the wall time in ms and the output, which must be a success.
    fn orc(&self, dir: &Path, args: &[&str]) -> (f64, Output) {
        let start = Instant::now();
        let out = self.cmd(&self.orc, dir).args(args).output().unwrap();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "orc {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        (ms, out)
    }

    fn floor(&self, repo: &Path, n: usize) -> f64 {
        let start = Instant::now();
        let out = self.cmd(&self.exe, repo).arg("__floor").arg(repo).arg(n.to_string()).output().unwrap();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert!(out.status.success(), "floor: {}", String::from_utf8_lossy(&out.stderr));
        ms
    }

    fn new_repo(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q"]);
        self.git(&dir, &["config", "user.name", "Bench Person"]);
        self.git(&dir, &["config", "user.email", "bench@example.invalid"]);
        self.git(&dir, &["commit", "-q", "--allow-empty", "-m", "code"]);
        dir
    }

    /// A board of `n` open tasks made by one bulk import; returns it and
    /// the import's wall time in seconds.
    fn board(&self, name: &str, n: usize) -> (PathBuf, f64) {
        let dir = self.new_repo(name);
        self.orc(&dir, &["ws", "create", WS]);
        // `t add --from` takes at most 20,000 rows a file: larger boards
        // come in several files, one after another, as its hint says.
        let mut secs = 0.0;
        for (part, start) in (0..n).step_by(ROWS_PER_FILE).enumerate() {
            let rows: String = (start..(start + ROWS_PER_FILE).min(n))
                .map(|i| format!("{{\"ws\":\"{WS}\",\"title\":\"task {i}\",\"priority\":{}}}\n", i % 5 + 1))
                .collect();
            let file = self.root.join(format!("rows-{name}-{part}.jsonl"));
            std::fs::write(&file, rows).unwrap();
            secs += self.orc(&dir, &["t", "add", "--from", file.to_str().unwrap()]).0 / 1000.0;
        }
        self.orc(&dir, &["status"]);
        (dir, secs)
    }
}

/// Gives agent `busy` `BUSY_EVENTS` events today, in one commit through
/// the library, laid out as orc lays out an agent's day: lines appended to
/// `events/<day>/busy/000001.jsonl` until the next would take it past
/// `CHUNK_BYTES`, then the next chunk. (Applying 10,000 `log` operations
/// one by one makes the same files but takes minutes on a loaded machine.)
fn seed_busy_events(dir: &Path) {
    let store = Store::discover(dir).expect("the author board opens");
    let tip = store.tip().expect("a tip").expect("the board has a branch");
    let now = Utc::now();
    let clock = Clock::system();
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    for i in 0..BUSY_EVENTS {
        let at = now - chrono::Duration::milliseconds((BUSY_EVENTS - i) as i64);
        let event = Event {
            id: clock.new_ulid(at),
            ts: at.trunc_subsecs(0),
            agent: "busy".into(),
            kind: "tick".into(),
            data: serde_json::json!({ "i": i }),
        };
        let line = event.to_line();
        if chunks.last().unwrap().len() + line.len() > CHUNK_BYTES {
            chunks.push(Vec::new());
        }
        chunks.last_mut().unwrap().extend_from_slice(line.as_bytes());
    }
    let folder = chunk_dir("busy", now);
    let changes: Changes = chunks
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("{folder}/{}", chunk_name(i as u32 + 1)), Some(bytes)))
        .collect();
    let sig = store.signature("bench", "bench@b", now.timestamp()).expect("a signature");
    let commit = store.write_commit(None, Some(tip), &changes, "orc: seed busy events\n", &sig).expect("a commit");
    let queue = store.lock_writers().expect("the write queue");
    let swapped = store.compare_and_swap(&queue, Some(tip), commit, "orc: bench seed").expect("the seed swap");
    assert_eq!(swapped, Swap::Done, "nothing else writes the author board");
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

struct Stats {
    median: f64,
    p99: f64,
    max: f64,
}

fn stats(samples: &[f64]) -> Stats {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Stats { median: quantile(&sorted, 0.5), p99: quantile(&sorted, 0.99), max: *sorted.last().unwrap() }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__floor") {
        let repo = Repository::open(&args[2]).expect("the floor repository opens");
        floor_op(&repo, args[3].parse().unwrap_or(0)).expect("floor op");
        return;
    }
    let quick = std::env::var_os("ORC_BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000] };
    let rounds = if quick { 40 } else { 500 };
    let started = Instant::now();

    let tmp = tempfile::tempdir().unwrap();
    let env = Env {
        orc: build_orc(),
        exe: std::env::current_exe().unwrap(),
        root: tmp.path().to_path_buf(),
        home: tmp.path().join("home"),
    };
    std::fs::create_dir_all(&env.home).unwrap();

    let floor_repo = env.new_repo("floor");
    env.git(&floor_repo, &["update-ref", FLOOR_REF, "HEAD"]);

    let mut boards = Vec::new();
    let mut imports = Vec::new();
    for &n in sizes {
        eprintln!("bench: importing {n} tasks");
        let (dir, secs) = env.board(&format!("board-{n}"), n);
        imports.push((n, secs));
        boards.push((n, dir));
    }

    eprintln!("bench: seeding {BUSY_EVENTS} events today for agent busy");
    let (author_dir, _) = env.board("authors", 1_000);
    seed_busy_events(&author_dir);
    let (_, out) = env.orc(&author_dir, &["--json", "events", "--agent", "busy", "--since", "1d"]);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("events print JSON");
    assert_eq!(seen.as_array().map(Vec::len), Some(BUSY_EVENTS), "orc reads every seeded event");
    env.orc(&author_dir, &["log", "tick", "--agent", "fresh"]);

    // samples[board][command], floors[board]
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); COMMANDS.len()]; boards.len()];
    let mut floors: Vec<Vec<f64>> = vec![Vec::new(); boards.len()];
    let (mut busy, mut fresh) = (Vec::new(), Vec::new());
    let mut n = 0;
    eprintln!("bench: {rounds} rounds");
    for round in 0..rounds {
        for (b, (_, dir)) in boards.iter().enumerate() {
            n += 1;
            floors[b].push(env.floor(&floor_repo, n));
            let agent = format!("agent-{}", round % 8);
            let title = format!("added {round}");
            let (ms, _) = env.orc(dir, &["t", "add", WS, &title]);
            samples[b][0].push(ms);
            let (ms, out) = env.orc(dir, &["--json", "t", "next", WS, "--agent", &agent]);
            samples[b][1].push(ms);
            let claimed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("next prints JSON");
            let id = claimed["id"].as_str().expect("next names its task").to_string();
            let (ms, _) = env.orc(dir, &["t", "complete", &id, "done", "--agent", &agent]);
            samples[b][2].push(ms);
            let data = format!("{{\"i\":{round}}}");
            let (ms, _) = env.orc(dir, &["log", "tick", "--data", &data, "--agent", "bench-log"]);
            samples[b][3].push(ms);
            let (ms, _) = env.orc(dir, &["status"]);
            samples[b][4].push(ms);
            let (ms, _) = env.orc(dir, &["ready", WS]);
            samples[b][5].push(ms);
        }
        // Busy and fresh in turn, so both see the same moments.
        let title = format!("by busy {round}");
        busy.push(env.orc(&author_dir, &["t", "add", WS, &title, "--agent", "busy"]).0);
        let title = format!("by fresh {round}");
        fresh.push(env.orc(&author_dir, &["t", "add", WS, &title, "--agent", "fresh"]).0);
        if (round + 1) % 50 == 0 {
            eprintln!("bench: round {} of {rounds}", round + 1);
        }
    }

    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "## Every command at {} tasks, {rounds} runs each\n",
        sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    ));
    line(
        "| command | tasks | median ms | p99 ms | max ms | p99/median | median / median at 1k | median / floor |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
    let mut flat_ok = true;
    let mut tail_ok = true;
    let mut claim_ok = true;
    for (c, command) in COMMANDS.iter().enumerate() {
        let base = stats(&samples[0][c]).median;
        for (b, (size, _)) in boards.iter().enumerate() {
            let s = stats(&samples[b][c]);
            let floor = stats(&floors[b]).median;
            let flat = s.median / base;
            let tail = s.p99 / s.median;
            tail_ok &= tail <= TAIL_MAX;
            if b == boards.len() - 1 {
                flat_ok &= flat <= FLAT_MAX;
            }
            if *command == "t next" {
                claim_ok &= s.median / floor <= CLAIM_VS_FLOOR_MAX;
            }
            line(format!(
                "| `orc {command}` | {size} | {:.1} | {:.1} | {:.1} | {tail:.2} | {flat:.2} | {:.2} |",
                s.median,
                s.p99,
                s.max,
                s.median / floor
            ));
        }
    }
    for (b, (size, _)) in boards.iter().enumerate() {
        let s = stats(&floors[b]);
        line(format!(
            "| git2 floor (whole process) | {size} | {:.1} | {:.1} | {:.1} | {:.2} | | 1.00 |",
            s.median,
            s.p99,
            s.max,
            s.p99 / s.median
        ));
    }
    let (b, f) = (stats(&busy), stats(&fresh));
    line(String::new());
    line(format!("## `t add` by an agent with {BUSY_EVENTS} events today, against a fresh one (1k-task board)\n"));
    line("| author | median ms | p99 ms | max ms |".into());
    line("|---|---:|---:|---:|".into());
    line(format!("| busy ({BUSY_EVENTS}+ events today) | {:.1} | {:.1} | {:.1} |", b.median, b.p99, b.max));
    line(format!("| fresh | {:.1} | {:.1} | {:.1} |", f.median, f.p99, f.max));
    let busy_ratio = b.median / f.median;
    line(String::new());
    line("## Bulk import (`orc t add --from rows.jsonl`, one run each; 20,000 rows a file at most)\n".into());
    line("| rows | seconds |".into());
    line("|---:|---:|".into());
    for (n, secs) in &imports {
        line(format!("| {n} | {secs:.2} |"));
    }
    let import_10k = imports.iter().find(|(n, _)| *n == 10_000).map_or(f64::NAN, |(_, s)| *s);
    line(String::new());
    line("## Targets\n".into());
    let largest = boards.last().unwrap().0;
    line(format!("- every command's median at {largest} ≤ {FLAT_MAX}× its median at 1k: {}", verdict(flat_ok)));
    line(format!("- p99 ≤ {TAIL_MAX}× median for every command at every size: {}", verdict(tail_ok)));
    line(format!(
        "- `t next` (a claim) median ≤ {CLAIM_VS_FLOOR_MAX}× the floor median at every size: {}",
        verdict(claim_ok)
    ));
    line(format!(
        "- `t add` by the busy agent ≤ {BUSY_AUTHOR_MAX}× a fresh one's: {busy_ratio:.2}×, {}",
        verdict(busy_ratio <= BUSY_AUTHOR_MAX)
    ));
    line(format!(
        "- bulk import of 10k rows ≤ {IMPORT_10K_MAX_S} s: {import_10k:.2} s, {}",
        verdict(import_10k <= IMPORT_10K_MAX_S)
    ));
    line(String::new());
    line(format!("Total bench time: {:.0} s.", started.elapsed().as_secs_f64()));
    print!("{out}");
}
