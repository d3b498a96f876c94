//! Performance benchmark for orc: `cargo bench --bench core`.
//!
//! Everything is measured as whole processes against real git repositories in
//! temporary folders, and compared with floors measured in the same run:
//!
//! 1. floors: one durable git commit (blob + tree + commit + compare-and-swap
//!    of a ref + fsync) in-process with git2, the same as a whole process (this
//!    binary re-executed with `__floor`), and `git --version`;
//! 2. `orc t claim`, `orc t next`, `orc ready`, `orc status` at 1k, 10k and
//!    100k tasks in one workstream;
//! 3. 1 agent against 16 concurrent agents running `orc t next` on a 1k-task
//!    workstream: throughput, exactly-once claims and compare-and-swap retries;
//! 4. `orc log` and `orc lock acquire` on the 1k-task board (in the same
//!    rounds as its claims), and `orc events` on a branch holding 1M events.
//!
//! The machine is small and shared, so every number is a median (and p90)
//! over repeated runs, and floors are re-sampled right before every measured
//! command so ratios compare numbers taken at the same moment.
//! `ORC_BENCH_QUICK=1` shrinks the run to a smoke test (under a minute).
//! The orc binary is built with `cargo build --release --bin orc` first.
//!
//! Hidden modes of this binary: `__floor <repo> <n>` performs one floor op
//! (used for 1b); `__seed <new-dir> <tasks>` leaves a seeded board behind for
//! profiling by hand (`cargo bench --bench core -- __seed /tmp/b 10000`), and
//! `__seed-events <new-dir> <days> <agents> <per-agent-day>` an event log
//! (`cargo bench --bench core -- __seed-events /tmp/e 100 10 1000`).
//!
//! See BENCHMARKS.md for a reading of the results.

mod support;
use support::{build_orc, floor_op, fsync, FLOOR_REF};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use chrono::SubsecRound;
use git2::Repository;
use orc::model::event::{day_dir, Event};
use orc::model::record;
use orc::model::task::{Task, DEFAULT_PRIORITY};
use orc::model::workstream::{task_path, workstream_path, Workstream};
use orc::store::{Changes, Store, Swap};

/// The workstream every benchmark board uses.
const WS: &str = "bench";
/// Context for readers: the tool orc replaces. Quoted, not measured.
const NODE_CONTEXT: &str = "OpSpawn (Node.js) takes 85–160 ms per command (as reported in the issue)";

/// Targets.
const CLAIM_VS_FLOOR_MAX: f64 = 2.0;
const CLAIM_FLAT_MAX: f64 = 1.25;
const READ_AT_10K_MAX_MS: f64 = 20.0;
const CONCURRENCY_RATIO_MIN: f64 = 0.80;
/// `orc log` whole process against the claim median of the same run.
const LOG_VS_CLAIM_MAX: f64 = 2.0;
/// `orc events --last 20` with the event log of `Plan::event_days` days.
const EVENTS_LAST_MAX_MS: f64 = 20.0;
/// `orc lock acquire` gets the claim budget.
const LOCK_VS_FLOOR_MAX: f64 = CLAIM_VS_FLOOR_MAX;
/// The type of the rare events of the seeded log (one per agent-day's worth of events).
const RARE_EVENT: &str = "incident.opened";
/// The types of all the other seeded events, in turn.
const COMMON_EVENTS: [&str; 4] = ["build.done", "tests.passed", "deployed", "review.requested"];

/// How much to measure.
struct Plan {
    quick: bool,
    sizes: Vec<usize>,
    /// Rounds of floor samples at the start (one 1b and one 1c each).
    floor_rounds: usize,
    /// In-process floor ops per starting round.
    floor_in_process_per_round: usize,
    reads: usize,
    claims: usize,
    nexts: usize,
    seq_claims: usize,
    agents: usize,
    per_agent: usize,
    conc_tasks: usize,
    /// The seeded event log: whole UTC days (ending today) × agents × events per agent a day.
    event_days: usize,
    event_agents: usize,
    events_per_agent_day: usize,
    /// Runs of each `orc events` query.
    event_reads: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                quick,
                sizes: vec![1_000, 10_000],
                floor_rounds: 9,
                floor_in_process_per_round: 3,
                reads: 5,
                claims: 7,
                nexts: 5,
                seq_claims: 16,
                agents: 16,
                per_agent: 2,
                conc_tasks: 1_000,
                event_days: 100,
                event_agents: 10,
                events_per_agent_day: 100,
                event_reads: 5,
            }
        } else {
            Self {
                quick,
                sizes: vec![1_000, 10_000, 100_000],
                floor_rounds: 41,
                floor_in_process_per_round: 5,
                reads: 25,
                claims: 51,
                nexts: 25,
                seq_claims: 96,
                agents: 16,
                per_agent: 24,
                conc_tasks: 1_000,
                event_days: 100,
                event_agents: 10,
                events_per_agent_day: 1_000,
                event_reads: 25,
            }
        }
    }
}

// ---------------------------------------------------------------- statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and p90 (nearest rank) of samples in milliseconds.
#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    median: f64,
    p90: f64,
}

fn stats(samples: &[f64]) -> Stats {
    assert!(!samples.is_empty(), "no samples");
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    let rank = (0.9 * n as f64).ceil() as usize;
    let p90 = s[rank.clamp(1, n) - 1];
    Stats { n, median, p90 }
}

/// One whole-process run: wall time, and the CPU it used in user and system
/// mode (None where /proc is unavailable).
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: Option<(f64, f64)>,
}

/// Wall-time statistics of a command plus its mean user and system CPU.
#[derive(Clone, Copy)]
struct CmdStats {
    wall: Stats,
    user: Option<f64>,
    sys: Option<f64>,
}

fn cmd_stats(samples: &[Sample]) -> CmdStats {
    let wall = stats(&samples.iter().map(|s| s.wall).collect::<Vec<_>>());
    let cpu: Option<Vec<(f64, f64)>> = samples.iter().map(|s| s.cpu).collect();
    let mean = |pick: fn(&(f64, f64)) -> f64| cpu.as_ref().map(|c| c.iter().map(pick).sum::<f64>() / c.len() as f64);
    CmdStats { wall, user: mean(|c| c.0), sys: mean(|c| c.1) }
}

fn cmd_stats_of_walls(walls: &[f64]) -> CmdStats {
    CmdStats { wall: stats(walls), user: None, sys: None }
}

/// A mean CPU time, or "n/a" (the in-process floor, or no /proc).
fn fmt_cpu(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}"))
}

/// User and system CPU time, in ms, of every child this process has reaped:
/// `cutime` and `cstime` of /proc/self/stat (Linux; 10 ms clock ticks, so
/// single runs are coarse but means over many runs are fair).
fn children_cpu() -> Option<(f64, f64)> {
    const MS_PER_TICK: f64 = 10.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
    let user: f64 = fields.get(13)?.parse().ok()?;
    let sys: f64 = fields.get(14)?.parse().ok()?;
    Some((user * MS_PER_TICK, sys * MS_PER_TICK))
}

/// Runs `cmd` to completion, timing it and the CPU it used.
fn timed_output(cmd: &mut Command) -> (Sample, Output) {
    let cpu_before = children_cpu();
    let start = Instant::now();
    let output = cmd.output().expect("the child process runs");
    let wall = ms(start.elapsed());
    let cpu = match (cpu_before, children_cpu()) {
        (Some(a), Some(b)) => Some((b.0 - a.0, b.1 - a.1)),
        _ => None,
    };
    (Sample { wall, cpu }, output)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

// --------------------------------------------------------------------- floor

/// One durable commit on `FLOOR_REF`: blob + tree + commit, compare-and-swap
/// of the ref, then fsync of the three loose objects and the ref file.
/// Creates the 256 `objects/xx` folders. `git gc` removes them once their
/// objects are packed, and until they exist again every new loose object also
/// costs a mkdir (about as much as creating the object file on the reference
/// machine). A repository that has been in use has them, so the floor and
/// the boards both start in that steady state.
fn create_fanout_dirs(repo: &Path) {
    let objects = repo.join(".git").join("objects");
    for i in 0..=255u8 {
        std::fs::create_dir_all(objects.join(format!("{i:02x}"))).expect("an objects/xx folder");
    }
}

// ----------------------------------------------------------------- processes

struct Bench {
    orc: PathBuf,
    exe: PathBuf,
    root: tempfile::TempDir,
    home: PathBuf,
    counter: AtomicU64,
}

/// What one orc process reported.
struct Run {
    sample: Sample,
    output: Output,
}

impl Bench {
    fn new(orc: PathBuf) -> Self {
        let root = tempfile::Builder::new().prefix("orc-bench-").tempdir().expect("a temporary folder");
        let home = root.path().join("home");
        std::fs::create_dir_all(home.join(".config")).expect("a HOME folder");
        let exe = std::env::current_exe().expect("the bench binary's path");
        Self { orc, exe, root, home, counter: AtomicU64::new(0) }
    }

    fn next_n(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A child process with a clean git environment.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"));
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_COMMON_DIR",
            "GIT_INDEX_FILE",
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG",
            "ORC_AGENT",
            "ORC_NOW",
            "ORC_NOW_OFFSET",
            "ORC_TRACE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn git(&self, dir: &Path, args: &[&str]) {
        let out = self.command(Path::new("git"), dir).args(args).stdin(Stdio::null()).output().expect("git runs");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs orc to completion (stdout captured only when asked) and checks
    /// that it succeeded.
    fn orc_run(&self, dir: &Path, args: &[&str], capture: bool, trace: bool) -> Run {
        let mut cmd = self.command(&self.orc, dir);
        cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
        if !capture {
            cmd.stdout(Stdio::null());
        }
        if trace {
            cmd.env("ORC_TRACE", "1");
        }
        let (sample, output) = timed_output(&mut cmd);
        assert!(
            output.status.success(),
            "orc {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Run { sample, output }
    }

    fn orc_time(&self, dir: &Path, args: &[&str]) -> Sample {
        self.orc_run(dir, args, false, false).sample
    }

    /// A fresh repository with one empty commit and a git identity.
    fn new_repo(&self, name: &str) -> PathBuf {
        self.new_repo_at(self.root.path().join(name))
    }

    fn new_repo_at(&self, dir: PathBuf) -> PathBuf {
        std::fs::create_dir_all(&dir).expect("a repository folder");
        self.git(&dir, &["init", "-q"]);
        self.git(&dir, &["config", "user.name", "b"]);
        self.git(&dir, &["config", "user.email", "b@b"]);
        self.git(&dir, &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init"]);
        dir
    }

    fn floor_repo(&self) -> PathBuf {
        let dir = self.new_repo("floor");
        self.git(&dir, &["update-ref", FLOOR_REF, "HEAD"]);
        create_fanout_dirs(&dir);
        dir
    }

    /// 1b: one floor op as a whole process (this binary, `__floor`).
    fn floor_process(&self, repo: &Path) -> Sample {
        let n = self.next_n().to_string();
        let mut cmd = self.command(&self.exe, repo);
        cmd.arg("__floor").arg(repo).arg(&n).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let (sample, out) = timed_output(&mut cmd);
        assert!(out.status.success(), "floor process failed: {}", String::from_utf8_lossy(&out.stderr));
        sample
    }

    fn git_version(&self, repo: &Path) -> Sample {
        let mut cmd = self.command(Path::new("git"), repo);
        cmd.arg("--version").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let (sample, out) = timed_output(&mut cmd);
        assert!(out.status.success(), "git --version failed");
        sample
    }

    /// A repository whose orc branch holds `n` open tasks in workstream
    /// `WS`, written in one commit through the library (`Store::write_commit`,
    /// `lock_writers`, `compare_and_swap`), then packed by `git gc` and read
    /// once by `orc status` to warm the task cache.
    fn seeded_repo(&self, name: &str, n: usize) -> Seeded {
        self.seeded_repo_at(self.root.path().join(name), n)
    }

    fn seeded_repo_at(&self, dir: PathBuf, n: usize) -> Seeded {
        let dir = self.new_repo_at(dir);
        self.orc_run(&dir, &["init"], false, false);

        let start = Instant::now();
        let store = Store::discover(&dir).expect("the repository opens");
        let tip = store.tip().expect("the tip reads").expect("orc init created the branch");
        let now = orc::session::Clock::system().now();
        let mut changes = Changes::new();
        let ws = Workstream {
            name: WS.into(),
            description: "benchmark board".into(),
            priority: 3,
            created_at: now,
            created_by: "bench".into(),
            archived: false,
        };
        changes.insert(workstream_path(WS), Some(record::render(&ws)));
        let mut ids = Vec::with_capacity(n);
        let mut seen = HashSet::with_capacity(n);
        while ids.len() < n {
            let id = orc::session::Clock::system().new_task_id();
            if !seen.insert(id.clone()) {
                continue;
            }
            let task = Task::new(
                id.clone(),
                WS.into(),
                format!("Benchmark task {}", ids.len()),
                "Seeded by benches/core.rs".into(),
                DEFAULT_PRIORITY,
                Vec::new(),
                "bench".into(),
                now,
            );
            changes.insert(task_path(WS, &id), Some(record::render(&task)));
            ids.push(id);
        }
        let sig = store.signature("bench", "bench@b", now.timestamp()).expect("a signature");
        let commit = store
            .write_commit(None, Some(tip), &changes, &format!("orc: seed {n} benchmark tasks\n"), &sig)
            .expect("the seed commit");
        let queue = store.lock_writers().expect("the write queue");
        let swapped = store.compare_and_swap(&queue, Some(tip), commit, "orc: bench seed").expect("the seed swap");
        assert_eq!(swapped, Swap::Done, "nothing else writes the seed repository");
        drop(queue);
        drop(store);
        let seed_s = start.elapsed().as_secs_f64();

        let start = Instant::now();
        self.git(&dir, &["gc", "--quiet"]);
        let gc_s = start.elapsed().as_secs_f64();
        create_fanout_dirs(&dir);

        let warm_ms = self.orc_time(&dir, &["status"]).wall;
        Seeded { dir, ids, seed_s, gc_s, warm_ms }
    }

    /// A repository whose orc branch holds an event log of `days` whole UTC
    /// days ending with today: `agents` writers, `per` events per writer a
    /// day, evenly spaced over each day. Today's folder is full whatever the
    /// hour (its later events are dated later today), so `--last 20` always
    /// reads a busy day's files, the worst case of a day, and results do not
    /// depend on when the bench runs. One file per agent and day
    /// (`events/<yyyy>/<mm>/<dd>/<agent>.jsonl`, lines in time order), each
    /// line `Event::to_line` with an id from `clock::new_ulid` at the event's
    /// own time. Written in one commit through the library like the task
    /// boards, then packed by `git gc`, and read once by `orc events`.
    fn seeded_events_at(&self, dir: PathBuf, days: usize, agents: usize, per: usize) -> EventBoard {
        let dir = self.new_repo_at(dir);
        self.orc_run(&dir, &["init"], false, false);

        let start = Instant::now();
        let store = Store::discover(&dir).expect("the repository opens");
        let tip = store.tip().expect("the tip reads").expect("orc init created the branch");
        let now = orc::session::Clock::system().precise_now();
        let first_day = now.date_naive() - chrono::Days::new(days as u64 - 1);
        let log_start = first_day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        let total = days * agents * per;
        let step_ms = (days as i64 * 86_400_000) / total as i64;
        let agent_names: Vec<String> = (0..agents).map(|a| format!("agent-{a:02}")).collect();
        // One rare event per day's worth of events, in the middle of each
        // day, so `--since 1d` finds one or two of them.
        let period = agents * per;
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        let mut rare = 0;
        let mut newest_file = String::new();
        // Oldest first, so every file's lines are in time order; j counts
        // back from the newest event (j = 0, at the end of today).
        for j in (0..total).rev() {
            let at = log_start + chrono::Duration::milliseconds((total - 1 - j) as i64 * step_ms);
            let agent = &agent_names[j % agents];
            let kind = if j % period == period / 2 {
                rare += 1;
                RARE_EVENT
            } else {
                COMMON_EVENTS[(j / agents) % COMMON_EVENTS.len()]
            };
            let event = Event {
                id: orc::session::Clock::system().new_ulid(at),
                // Events store whole seconds, ids the millisecond (as orc does).
                ts: at.trunc_subsecs(0),
                agent: agent.clone(),
                kind: kind.into(),
                data: serde_json::json!({ "i": j }),
            };
            // One file per agent and day, as orc wrote them before chunks:
            // readers still take these, and the seed is one file per pair.
            let path = format!("{}/{agent}.jsonl", day_dir(event.ts));
            if j == 0 {
                newest_file.clone_from(&path);
            }
            files.entry(path).or_default().extend_from_slice(event.to_line().as_bytes());
        }
        let newest_file_lines = files[&newest_file].iter().filter(|b| **b == b'\n').count();
        let file_count = files.len();
        let bytes: usize = files.values().map(Vec::len).sum();
        let day_count =
            files.keys().filter_map(|p| p.rsplit_once('/')).map(|(day, _)| day).collect::<HashSet<_>>().len();
        let changes: Changes = files.into_iter().map(|(path, content)| (path, Some(content))).collect();
        let build_s = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let sig = store.signature("bench", "bench@b", now.timestamp()).expect("a signature");
        let commit = store
            .write_commit(None, Some(tip), &changes, &format!("orc: seed {total} benchmark events\n"), &sig)
            .expect("the seed commit");
        drop(changes);
        let queue = store.lock_writers().expect("the write queue");
        let swapped = store.compare_and_swap(&queue, Some(tip), commit, "orc: bench seed").expect("the seed swap");
        assert_eq!(swapped, Swap::Done, "nothing else writes the seed repository");
        drop(queue);
        drop(store);
        let write_s = start.elapsed().as_secs_f64();

        let start = Instant::now();
        self.git(&dir, &["gc", "--quiet"]);
        let gc_s = start.elapsed().as_secs_f64();
        create_fanout_dirs(&dir);
        let pack_bytes = dir_size(&dir.join(".git").join("objects").join("pack"));

        let warm_ms = self.orc_time(&dir, &["events", "--last", "20"]).wall;
        EventBoard {
            dir,
            events: total,
            days,
            agents,
            per,
            day_folders: day_count,
            files: file_count,
            bytes,
            rare,
            newest_agent: agent_names[0].clone(),
            newest_file_lines,
            build_s,
            write_s,
            gc_s,
            pack_bytes,
            warm_ms,
        }
    }
}

impl EventBoard {
    fn describe(&self) -> String {
        format!(
            "{} events ({} days × {} agents × {} a day, whole UTC days ending today) in {} files under {} day folders, {:.0} MB; \
             generated in {:.1} s, written as one pack and swapped in {:.1} s, `git gc` {:.1} s \
             (objects/pack {:.0} MB), first `orc events --last 20` {:.0} ms",
            self.events,
            self.days,
            self.agents,
            self.per,
            self.files,
            self.day_folders,
            self.bytes as f64 / 1e6,
            self.build_s,
            self.write_s,
            self.gc_s,
            self.pack_bytes as f64 / 1e6,
            self.warm_ms
        )
    }
}

/// The bytes of the files directly in `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// A repository holding a seeded event log (see `Bench::seeded_events_at`).
struct EventBoard {
    dir: PathBuf,
    events: usize,
    days: usize,
    agents: usize,
    per: usize,
    /// Day folders written.
    day_folders: usize,
    files: usize,
    /// Total size of the event files.
    bytes: usize,
    /// Events of type `RARE_EVENT`.
    rare: usize,
    /// The writer of the newest event, and the lines of its file of today.
    newest_agent: String,
    newest_file_lines: usize,
    /// Generating the events in memory.
    build_s: f64,
    /// `write_commit` (one pack) plus the compare-and-swap.
    write_s: f64,
    gc_s: f64,
    /// The size of objects/pack after `git gc`.
    pack_bytes: u64,
    /// The first `orc events --last 20`.
    warm_ms: f64,
}

struct Seeded {
    dir: PathBuf,
    ids: Vec<String>,
    seed_s: f64,
    gc_s: f64,
    /// The first `orc status`, which builds the task cache.
    warm_ms: f64,
}

// ------------------------------------------------------------------ sections

/// Samples of the three floors, in milliseconds.
#[derive(Default)]
struct FloorSamples {
    in_process: Vec<f64>,
    process: Vec<Sample>,
    git: Vec<Sample>,
}

/// The floor repository, kept open for the in-process floor, and every floor
/// sample taken during the run.
struct Floors {
    repo: Repository,
    dir: PathBuf,
    all: FloorSamples,
    /// Context for reading the floors: creating one small file, and fsyncing it.
    file_create: Vec<f64>,
    file_fsync: Vec<f64>,
}

impl Floors {
    fn new(bench: &Bench) -> Self {
        let dir = bench.floor_repo();
        let repo = Repository::open(&dir).expect("the floor repository opens");
        Self { repo, dir, all: FloorSamples::default(), file_create: Vec::new(), file_fsync: Vec::new() }
    }

    fn in_process(&self, bench: &Bench) -> f64 {
        let n = bench.next_n();
        let start = Instant::now();
        floor_op(&self.repo, n).expect("floor op");
        ms(start.elapsed())
    }

    /// One sample of each floor (1a `in_process_ops` times), recorded in
    /// `local` and in the run's pool.
    fn round(&mut self, bench: &Bench, in_process_ops: usize, local: &mut FloorSamples) {
        for _ in 0..in_process_ops {
            let a = self.in_process(bench);
            local.in_process.push(a);
            self.all.in_process.push(a);
        }
        let b = bench.floor_process(&self.dir);
        local.process.push(b);
        self.all.process.push(b);
        let c = bench.git_version(&self.dir);
        local.git.push(c);
        self.all.git.push(c);
    }
}

/// Floors measured on their own at the start of the run. More floor samples
/// are taken next to every orc command later (see `measure_sizes`).
fn measure_floors(bench: &Bench, plan: &Plan) -> Floors {
    let mut floors = Floors::new(bench);
    // Unmeasured warm-up: page cache, the objects/ fan-out folders, the binaries.
    for _ in 0..10 {
        floors.in_process(bench);
    }
    bench.floor_process(&floors.dir);
    bench.git_version(&floors.dir);
    let mut start = FloorSamples::default();
    let scratch = bench.root.path().join("files");
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    for round in 0..plan.floor_rounds {
        floors.round(bench, plan.floor_in_process_per_round, &mut start);
        // What a loose object costs the file system: create one small file
        // (as libgit2 does, then it renames it), and fsync it.
        for k in 0..plan.floor_in_process_per_round {
            let path = scratch.join(format!("f{round}-{k}"));
            let begin = Instant::now();
            std::fs::write(&path, [b'x'; 200]).expect("a scratch file");
            floors.file_create.push(ms(begin.elapsed()));
            let begin = Instant::now();
            fsync(&path);
            floors.file_fsync.push(ms(begin.elapsed()));
        }
    }
    floors
}

struct SizeResult {
    tasks: usize,
    seed_s: f64,
    gc_s: f64,
    warm_ms: f64,
    claim: CmdStats,
    next: CmdStats,
    ready: CmdStats,
    status: CmdStats,
    /// `orc log` and `orc lock acquire`, measured on the smallest board only.
    log: Option<CmdStats>,
    lock: Option<CmdStats>,
    /// Floors sampled right before each command on this board.
    in_process: Stats,
    process: CmdStats,
    git: CmdStats,
}

/// One seeded board and the samples taken on it.
struct Board {
    seeded: Seeded,
    floors: FloorSamples,
    claim: Vec<Sample>,
    next: Vec<Sample>,
    ready: Vec<Sample>,
    status: Vec<Sample>,
    log: Vec<Sample>,
    lock: Vec<Sample>,
}

/// Seeds every board first, then measures them round-robin: each round runs
/// the command once on every board, each run preceded by one sample of each
/// floor. Drift on the shared machine then hits every size and the floors
/// alike, so the ratios and the flatness check compare like with like.
fn measure_sizes(bench: &Bench, plan: &Plan, floors: &mut Floors) -> Vec<SizeResult> {
    let mut boards: Vec<Board> = plan
        .sizes
        .iter()
        .map(|&tasks| {
            eprintln!("bench: seeding {tasks} tasks");
            let seeded = bench.seeded_repo(&format!("board-{tasks}"), tasks);
            eprintln!(
                "bench: seeded in {:.1}s, gc in {:.1}s, first status {:.0} ms",
                seeded.seed_s, seeded.gc_s, seeded.warm_ms
            );
            Board {
                seeded,
                floors: FloorSamples::default(),
                claim: Vec::new(),
                next: Vec::new(),
                ready: Vec::new(),
                status: Vec::new(),
                log: Vec::new(),
                lock: Vec::new(),
            }
        })
        .collect();
    eprintln!("bench: measuring commands");

    for _ in 0..plan.reads {
        for board in &mut boards {
            floors.round(bench, 1, &mut board.floors);
            board.ready.push(bench.orc_time(&board.seeded.dir, &["ready", WS]));
            floors.round(bench, 1, &mut board.floors);
            board.status.push(bench.orc_time(&board.seeded.dir, &["status"]));
        }
    }
    // Claims by id: each of a different open task, by a different agent. On
    // the smallest board, each claim is followed by an `orc log` and an
    // `orc lock acquire` of a new resource, so the three share their rounds
    // and floors ("the claim floor" of section 4 is this claim median).
    for i in 0..plan.claims {
        for (b, board) in boards.iter_mut().enumerate() {
            let ids = &board.seeded.ids;
            let id = &ids[(i * (ids.len() / plan.claims).max(1)) % ids.len()];
            let agent = format!("bench-{i}");
            floors.round(bench, 1, &mut board.floors);
            board.claim.push(bench.orc_time(&board.seeded.dir, &["t", "claim", id, "--agent", &agent]));
            if b == 0 {
                let data = format!("{{\"i\":{i}}}");
                floors.round(bench, 1, &mut board.floors);
                board.log.push(bench.orc_time(&board.seeded.dir, &log_args(&data)));
                let resource = format!("res-{i}");
                floors.round(bench, 1, &mut board.floors);
                board.lock.push(bench.orc_time(&board.seeded.dir, &lock_args(&resource)));
            }
        }
    }
    for _ in 0..plan.nexts {
        for board in &mut boards {
            floors.round(bench, 1, &mut board.floors);
            board.next.push(bench.orc_time(&board.seeded.dir, &["t", "next", WS, "bench-next"]));
        }
    }

    // The log and the locks are on the branch as the commands said.
    if let Some(board) = boards.first() {
        check_log_and_locks(bench, &board.seeded.dir, plan.claims);
    }

    boards
        .into_iter()
        .map(|board| {
            // The 100k board is large on disk; free it before the next section.
            let _ = std::fs::remove_dir_all(&board.seeded.dir);
            SizeResult {
                tasks: board.seeded.ids.len(),
                seed_s: board.seeded.seed_s,
                gc_s: board.seeded.gc_s,
                warm_ms: board.seeded.warm_ms,
                claim: cmd_stats(&board.claim),
                next: cmd_stats(&board.next),
                ready: cmd_stats(&board.ready),
                status: cmd_stats(&board.status),
                log: (!board.log.is_empty()).then(|| cmd_stats(&board.log)),
                lock: (!board.lock.is_empty()).then(|| cmd_stats(&board.lock)),
                in_process: stats(&board.floors.in_process),
                process: cmd_stats(&board.floors.process),
                git: cmd_stats(&board.floors.git),
            }
        })
        .collect()
}

/// `orc log tick --data <data> --agent bench-log`.
fn log_args(data: &str) -> [&str; 6] {
    ["log", "tick", "--data", data, "--agent", "bench-log"]
}

/// `orc lock acquire <resource> --ttl 60s --agent bench-lock`.
fn lock_args(resource: &str) -> [&str; 7] {
    ["lock", "acquire", resource, "--ttl", "60s", "--agent", "bench-lock"]
}

/// Checks that the `orc log` and `orc lock acquire` runs of `measure_sizes`
/// left what they said on the branch: `runs` tick events by bench-log (the
/// newest with the last data), and `runs` locks held by bench-lock.
fn check_log_and_locks(bench: &Bench, dir: &Path, runs: usize) {
    let run = bench.orc_run(
        dir,
        &["--json", "events", "--type", "tick", "--agent", "bench-log", "--since", "1d"],
        true,
        false,
    );
    let events: serde_json::Value = serde_json::from_slice(&run.output.stdout).expect("orc events --json prints JSON");
    let events = events.as_array().expect("a JSON array of events");
    assert_eq!(events.len(), runs, "orc log wrote one event per run");
    assert_eq!(
        events.last().map(|e| &e["data"]["i"]),
        Some(&serde_json::json!(runs - 1)),
        "the newest tick is the last"
    );
    let run = bench.orc_run(dir, &["--json", "lock", "list"], true, false);
    let locks: serde_json::Value =
        serde_json::from_slice(&run.output.stdout).expect("orc lock list --json prints JSON");
    let held = locks.as_array().expect("a JSON array of locks").iter().filter(|l| l["holder"] == "bench-lock").count();
    assert_eq!(held, runs, "every orc lock acquire left a lock held by bench-lock");
}

/// `orc events` on the seeded event log.
struct EventsResult {
    board: EventBoard,
    last: CmdStats,
    last_json: CmdStats,
    rare: CmdStats,
    /// `orc log` by the writer of the newest event: an append to its file of today.
    log: CmdStats,
    /// How many events the rare-type query returned.
    rare_found: usize,
    process: CmdStats,
    git: CmdStats,
}

const EVENTS_LAST: [&str; 3] = ["events", "--last", "20"];
const EVENTS_LAST_JSON: [&str; 4] = ["--json", "events", "--last", "20"];
const EVENTS_RARE: [&str; 5] = ["events", "--type", RARE_EVENT, "--since", "1d"];

/// Seeds the event log, checks what the queries return, then runs them
/// round-robin, each right after one sample of each floor.
fn measure_events(bench: &Bench, plan: &Plan, floors: &mut Floors) -> EventsResult {
    let total = plan.event_days * plan.event_agents * plan.events_per_agent_day;
    eprintln!("bench: seeding {total} events");
    let board = bench.seeded_events_at(
        bench.root.path().join("events"),
        plan.event_days,
        plan.event_agents,
        plan.events_per_agent_day,
    );
    eprintln!("bench: {}", board.describe());
    let dir = board.dir.clone();

    // The newest 20 are the seeded log's newest 20, oldest first.
    let run = bench.orc_run(&dir, &EVENTS_LAST_JSON, true, false);
    let json: serde_json::Value = serde_json::from_slice(&run.output.stdout).expect("orc events --json prints JSON");
    let numbers: Vec<u64> = json
        .as_array()
        .expect("a JSON array of events")
        .iter()
        .map(|e| e["data"]["i"].as_u64().expect("seeded events carry i"))
        .collect();
    assert_eq!(numbers, (0..20).rev().collect::<Vec<u64>>(), "orc events --last 20 returns the newest 20");
    let run = bench.orc_run(&dir, &EVENTS_LAST, true, false);
    assert_eq!(String::from_utf8_lossy(&run.output.stdout).lines().count(), 20, "20 lines of human output");
    let run = bench.orc_run(&dir, &["--json", "events", "--type", RARE_EVENT, "--since", "1d"], true, false);
    let json: serde_json::Value = serde_json::from_slice(&run.output.stdout).expect("orc events --json prints JSON");
    let rare_found = json.as_array().expect("a JSON array of events").len();
    assert!(rare_found >= 1, "--since 1d finds the rare event of the last day");

    let mut local = FloorSamples::default();
    let (mut last, mut last_json, mut rare, mut log) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..plan.event_reads {
        floors.round(bench, 1, &mut local);
        last.push(bench.orc_time(&dir, &EVENTS_LAST));
        floors.round(bench, 1, &mut local);
        last_json.push(bench.orc_time(&dir, &EVENTS_LAST_JSON));
        floors.round(bench, 1, &mut local);
        rare.push(bench.orc_time(&dir, &EVENTS_RARE));
        // Context: an append to a file that already holds a full day's
        // events (dated up to the end of today, so the appended tick sorts
        // before them; only the cost matters here).
        let data = format!("{{\"i\":{i}}}");
        floors.round(bench, 1, &mut local);
        log.push(bench.orc_time(&dir, &["log", "tick", "--data", &data, "--agent", &board.newest_agent]));
    }
    let _ = std::fs::remove_dir_all(&dir);
    EventsResult {
        board,
        last: cmd_stats(&last),
        last_json: cmd_stats(&last_json),
        rare: cmd_stats(&rare),
        log: cmd_stats(&log),
        rare_found,
        process: cmd_stats(&local.process),
        git: cmd_stats(&local.git),
    }
}

struct Claimed {
    agent: String,
    id: String,
    latency_ms: f64,
    retries: u64,
}

/// `orc --json t next WS <agent>` with ORC_TRACE=1.
fn traced_next(bench: &Bench, dir: &Path, agent: &str) -> Claimed {
    let run = bench.orc_run(dir, &["--json", "t", "next", WS, agent], true, true);
    let json: serde_json::Value = serde_json::from_slice(&run.output.stdout).expect("orc --json prints JSON");
    let id = json["id"].as_str().unwrap_or_else(|| panic!("no task id in {json}")).to_string();
    let latency_ms = run.sample.wall;
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    let retries = stderr
        .lines()
        .find_map(|l| l.strip_prefix("trace: cas_retries="))
        .unwrap_or_else(|| panic!("ORC_TRACE=1 printed no cas_retries line: {stderr}"))
        .trim()
        .parse()
        .expect("cas_retries is a number");
    Claimed { agent: agent.to_string(), id, latency_ms, retries }
}

struct Concurrency {
    seq_claims: usize,
    seq_wall_s: f64,
    seq_latency: Stats,
    seq_retries: u64,
    agents: usize,
    conc_claims: usize,
    conc_wall_s: f64,
    conc_latency: Stats,
    conc_retries: u64,
    told: usize,
    distinct: usize,
    claimed_on_branch: usize,
    mismatches: usize,
}

impl Concurrency {
    fn seq_throughput(&self) -> f64 {
        self.seq_claims as f64 / self.seq_wall_s
    }
    fn conc_throughput(&self) -> f64 {
        self.conc_claims as f64 / self.conc_wall_s
    }
    fn ratio(&self) -> f64 {
        self.conc_throughput() / self.seq_throughput()
    }
    fn exactly_once(&self) -> bool {
        self.told == self.distinct && self.claimed_on_branch == self.told && self.mismatches == 0
    }
    fn retries(&self) -> u64 {
        self.seq_retries + self.conc_retries
    }
}

fn measure_concurrency(bench: &Bench, plan: &Plan) -> Concurrency {
    eprintln!("bench: concurrency on {} tasks", plan.conc_tasks);
    let seeded = bench.seeded_repo("concurrency", plan.conc_tasks);
    let dir = seeded.dir.as_path();
    assert!(plan.seq_claims + plan.agents * plan.per_agent <= plan.conc_tasks, "more claims than tasks");

    let start = Instant::now();
    let sequential: Vec<Claimed> = (0..plan.seq_claims).map(|_| traced_next(bench, dir, "agent-x")).collect();
    let seq_wall_s = start.elapsed().as_secs_f64();

    let barrier = Barrier::new(plan.agents);
    let per_agent: Vec<(Instant, Instant, Vec<Claimed>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.agents)
            .map(|a| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let agent = format!("agent-{a}");
                    barrier.wait();
                    let start = Instant::now();
                    let claims: Vec<Claimed> = (0..plan.per_agent).map(|_| traced_next(bench, dir, &agent)).collect();
                    (start, Instant::now(), claims)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("an agent thread")).collect()
    });
    let first = per_agent.iter().map(|(s, _, _)| *s).min().expect("agents ran");
    let last = per_agent.iter().map(|(_, e, _)| *e).max().expect("agents ran");
    let concurrent: Vec<Claimed> = per_agent.into_iter().flat_map(|(_, _, c)| c).collect();

    // Every claim the agents were told about must be on the branch, held by
    // that agent, and no task may have been handed out twice.
    let list = bench.orc_run(dir, &["--json", "t", "list", WS], true, false);
    let tasks: serde_json::Value = serde_json::from_slice(&list.output.stdout).expect("orc t list --json prints JSON");
    let tasks = tasks.as_array().expect("a JSON array of tasks");
    let holder: HashMap<&str, Option<&str>> = tasks
        .iter()
        .filter(|t| t["status"] == "claimed")
        .map(|t| (t["id"].as_str().unwrap_or_default(), t["claimed_by"].as_str()))
        .collect();
    let all: Vec<&Claimed> = sequential.iter().chain(concurrent.iter()).collect();
    let distinct = all.iter().map(|c| c.id.as_str()).collect::<HashSet<_>>().len();
    let mismatches =
        all.iter().filter(|c| holder.get(c.id.as_str()).copied().flatten() != Some(c.agent.as_str())).count();

    let result = Concurrency {
        seq_claims: sequential.len(),
        seq_wall_s,
        seq_latency: stats(&sequential.iter().map(|c| c.latency_ms).collect::<Vec<_>>()),
        seq_retries: sequential.iter().map(|c| c.retries).sum(),
        agents: plan.agents,
        conc_claims: concurrent.len(),
        conc_wall_s: last.duration_since(first).as_secs_f64(),
        conc_latency: stats(&concurrent.iter().map(|c| c.latency_ms).collect::<Vec<_>>()),
        conc_retries: concurrent.iter().map(|c| c.retries).sum(),
        told: all.len(),
        distinct,
        claimed_on_branch: holder.len(),
        mismatches,
    };
    let _ = std::fs::remove_dir_all(dir);
    result
}

// -------------------------------------------------------------------- report

/// A floor's name, its samples over the run, and its samples next to one board.
type FloorRow = (&'static str, CmdStats, fn(&SizeResult) -> Stats);

fn report(
    plan: &Plan,
    floors: &Floors,
    sizes: &[SizeResult],
    events: &EventsResult,
    conc: &Concurrency,
    total: Duration,
) {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };

    line(String::new());
    line(format!("# orc benchmark{}", if plan.quick { " (ORC_BENCH_QUICK=1: reduced run)" } else { "" }));
    line(String::new());
    line(format!(
        "Machine: {} cores, Linux {}. Wall-clock ms, median and p90 (nearest rank) over n runs.",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()
    ));
    line(String::new());

    line("## 1. Floors".into());
    line(String::new());
    line(
        "One floor op = git2 writes a blob, a tree and a commit, compare-and-swaps a ref \
         (`reference_matching`), then fsyncs the 3 loose object files and the ref file. \
         Floors are sampled at the start and again right before every orc command measured below; \
         the last columns are the medians of the samples taken next to each board size."
            .into(),
    );
    line(String::new());
    let mut header = "| floor | n | median ms | p90 ms | CPU user ms | CPU sys ms |".to_string();
    let mut rule = "|---|---:|---:|---:|---:|---:|".to_string();
    for s in sizes {
        header += &format!(" median next to {} tasks |", s.tasks);
        rule += "---:|";
    }
    line(header);
    line(rule);
    let floor_rows: [FloorRow; 3] = [
        ("1a in-process git2 (one op)", cmd_stats_of_walls(&floors.all.in_process), |s| s.in_process),
        ("1b the same op as a whole process (bench binary `__floor`)", cmd_stats(&floors.all.process), |s| {
            s.process.wall
        }),
        ("1c `git --version` (process floor)", cmd_stats(&floors.all.git), |s| s.git.wall),
    ];
    for (name, st, per_size) in floor_rows {
        let mut row = format!(
            "| {name} | {} | {:.2} | {:.2} | {} | {} |",
            st.wall.n,
            st.wall.median,
            st.wall.p90,
            fmt_cpu(st.user),
            fmt_cpu(st.sys)
        );
        for s in sizes {
            row += &format!(" {:.2} |", per_size(s).median);
        }
        line(row);
    }
    for (name, samples) in [
        ("context: create a 200-byte file (each loose object is one)", &floors.file_create),
        ("context: fsync that file", &floors.file_fsync),
    ] {
        let st = stats(samples);
        line(format!("| {name} | {} | {:.2} | {:.2} | | |{}", st.n, st.median, st.p90, " |".repeat(sizes.len())));
    }
    line(String::new());

    line("## 2. orc commands, whole process, one workstream".into());
    line(String::new());
    line(
        "Each board is seeded in one commit through the library (`Store::write_commit`, \
         `compare_and_swap`), packed with `git gc --quiet` as a real repository would be, given back its \
         256 `objects/xx` folders (as the floor repository), and read once by `orc status` to warm orc's \
         task cache. The boards are then measured round-robin (one run per board per round), each run \
         right after one sample of each floor; ratios divide by the floors sampled next to the same board. \
         CPU columns are means per run (user and system time of the orc process, from /proc)."
            .into(),
    );
    line(String::new());
    for s in sizes {
        line(format!(
            "- {} tasks: seeded in {:.1} s, `git gc` {:.1} s, first `orc status` (builds the task cache) {:.0} ms",
            s.tasks, s.seed_s, s.gc_s, s.warm_ms
        ));
    }
    line(String::new());
    line(
        "| command | tasks | n | median ms | p90 ms | CPU user ms | CPU sys ms | × floor 1b | × git --version | target | result |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|".into());
    for s in sizes {
        let at_10k = s.tasks == 10_000;
        let read_target = format!("≤ {READ_AT_10K_MAX_MS} ms at 10k");
        let rows = [
            (
                "`orc t claim <id> --agent bench-N`",
                s.claim,
                format!("≤ {CLAIM_VS_FLOOR_MAX}× 1b"),
                verdict(s.claim.wall.median <= CLAIM_VS_FLOOR_MAX * s.process.wall.median),
            ),
            ("`orc t next bench bench-next`", s.next, "—".into(), "—"),
            (
                "`orc ready bench`",
                s.ready,
                if at_10k { read_target.clone() } else { "—".into() },
                if at_10k { verdict(s.ready.wall.median <= READ_AT_10K_MAX_MS) } else { "—" },
            ),
            (
                "`orc status`",
                s.status,
                if at_10k { read_target } else { "—".into() },
                if at_10k { verdict(s.status.wall.median <= READ_AT_10K_MAX_MS) } else { "—" },
            ),
            ("(floor 1b next to these runs)", s.process, "—".into(), "—"),
        ];
        for (name, st, target, result) in rows {
            line(format!(
                "| {name} | {} | {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.1} | {target} | {result} |",
                s.tasks,
                st.wall.n,
                st.wall.median,
                st.wall.p90,
                fmt_cpu(st.user),
                fmt_cpu(st.sys),
                st.wall.median / s.process.wall.median,
                st.wall.median / s.git.wall.median
            ));
        }
    }
    line(String::new());

    line("## 3. Concurrency: `orc --json t next bench <agent>` with ORC_TRACE=1, 1k-task board".into());
    line(String::new());
    line("| run | agents | claims | wall s | claims/s | latency median ms | latency p90 ms | CAS retries |".into());
    line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
    line(format!(
        "| sequential | 1 | {} | {:.2} | {:.1} | {:.1} | {:.1} | {} |",
        conc.seq_claims,
        conc.seq_wall_s,
        conc.seq_throughput(),
        conc.seq_latency.median,
        conc.seq_latency.p90,
        conc.seq_retries
    ));
    line(format!(
        "| concurrent | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {} |",
        conc.agents,
        conc.conc_claims,
        conc.conc_wall_s,
        conc.conc_throughput(),
        conc.conc_latency.median,
        conc.conc_latency.p90,
        conc.conc_retries
    ));
    line(String::new());
    line(format!(
        "Exactly-once check: the agents were told {} claims naming {} distinct tasks; `orc t list --json` \
         shows {} claimed tasks; {} claims are not held on the branch by the agent that was told.",
        conc.told, conc.distinct, conc.claimed_on_branch, conc.mismatches
    ));
    line(String::new());

    line("## 4. Events and locks, whole process".into());
    line(String::new());
    let small = sizes.first().expect("at least one board");
    let (claim, process, git) = (small.claim.wall.median, small.process.wall.median, small.git.wall.median);
    line(format!(
        "`orc log` and `orc lock acquire` run on the {}-task board of section 2, in the same rounds as its \
         claims: each claim is followed by one `orc log` and one `orc lock acquire` of a new resource, each \
         right after one sample of each floor. \"× claim\" divides by that board's `orc t claim` median \
         (the claim floor, {claim:.1} ms); \"× floor 1b\" and \"× git --version\" by the floors sampled next \
         to that board. `orc events` runs on a separate board, seeded in one commit through the library and \
         packed like the task boards; its ratios divide by the floors sampled next to it.",
        small.tasks
    ));
    line(String::new());
    line(format!("- Event log: {}.", events.board.describe()));
    line(format!(
        "- `--type {RARE_EVENT} --since 1d` returned {} of the log's {} `{RARE_EVENT}` events.",
        events.rare_found, events.board.rare
    ));
    line(String::new());
    line(
        "| command | board | n | median ms | p90 ms | CPU user ms | CPU sys ms | × claim | × floor 1b | × git --version | target | result |"
            .into(),
    );
    line("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|".into());
    let task_board = format!("{} tasks", small.tasks);
    let event_board = format!("{} events", events.board.events);
    let mut rows: Vec<(String, &str, CmdStats, f64, f64, String, &str)> = Vec::new();
    if let Some(log) = small.log {
        rows.push((
            "`orc log tick --data '{\"i\":N}' --agent bench-log`".into(),
            &task_board,
            log,
            process,
            git,
            format!("≤ {LOG_VS_CLAIM_MAX}× claim"),
            verdict(log.wall.median <= LOG_VS_CLAIM_MAX * claim),
        ));
    }
    if let Some(lock) = small.lock {
        rows.push((
            "`orc lock acquire res-N --ttl 60s --agent bench-lock`".into(),
            &task_board,
            lock,
            process,
            git,
            format!("≤ {LOCK_VS_FLOOR_MAX}× 1b"),
            verdict(lock.wall.median <= LOCK_VS_FLOOR_MAX * process),
        ));
    }
    rows.push((
        "`orc t claim <id> --agent bench-N` (the claim floor)".into(),
        &task_board,
        small.claim,
        process,
        git,
        "—".into(),
        "—",
    ));
    rows.push(("(floor 1b next to these runs)".into(), &task_board, small.process, process, git, "—".into(), "—"));
    let (ev_process, ev_git) = (events.process.wall.median, events.git.wall.median);
    for (args, st) in [(EVENTS_LAST.as_slice(), events.last), (EVENTS_LAST_JSON.as_slice(), events.last_json)] {
        rows.push((
            format!("`orc {}`", args.join(" ")),
            &event_board,
            st,
            ev_process,
            ev_git,
            format!("≤ {EVENTS_LAST_MAX_MS} ms"),
            verdict(st.wall.median <= EVENTS_LAST_MAX_MS),
        ));
    }
    rows.push((
        format!("`orc {}`", EVENTS_RARE.join(" ")),
        &event_board,
        events.rare,
        ev_process,
        ev_git,
        "—".into(),
        "—",
    ));
    rows.push((
        format!(
            "`orc log tick --data '{{\"i\":N}}' --agent {}` (appends to its full file of today: {} lines, then one more a run)",
            events.board.newest_agent, events.board.newest_file_lines
        ),
        &event_board,
        events.log,
        ev_process,
        ev_git,
        "—".into(),
        "—",
    ));
    rows.push((
        "(floor 1b next to these runs)".into(),
        &event_board,
        events.process,
        ev_process,
        ev_git,
        "—".into(),
        "—",
    ));
    for (name, board, st, floor, git, target, result) in rows {
        line(format!(
            "| {name} | {board} | {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.2} | {:.1} | {target} | {result} |",
            st.wall.n,
            st.wall.median,
            st.wall.p90,
            fmt_cpu(st.user),
            fmt_cpu(st.sys),
            st.wall.median / claim,
            st.wall.median / floor,
            st.wall.median / git
        ));
    }
    line(String::new());

    line("## Targets".into());
    line(String::new());
    line("| target | measured | result |".into());
    line("|---|---|---|".into());
    for s in sizes {
        let ratio = s.claim.wall.median / s.process.wall.median;
        line(format!(
            "| claim ≤ {CLAIM_VS_FLOOR_MAX}× whole-process floor (1b) at {} tasks | {:.1} ms / {:.1} ms = {ratio:.2}× | {} |",
            s.tasks,
            s.claim.wall.median,
            s.process.wall.median,
            verdict(ratio <= CLAIM_VS_FLOOR_MAX)
        ));
    }
    if let (Some(small), Some(large)) = (sizes.first(), sizes.last()) {
        let flat = large.claim.wall.median / small.claim.wall.median;
        let normalised = (large.claim.wall.median / large.process.wall.median)
            / (small.claim.wall.median / small.process.wall.median);
        let cpu = |c: &CmdStats| c.user.zip(c.sys).map(|(u, s)| u + s);
        let cpu_note = match (cpu(&small.claim), cpu(&large.claim)) {
            (Some(a), Some(b)) => format!("; CPU {a:.1} → {b:.1} ms"),
            _ => String::new(),
        };
        line(format!(
            "| claim flat from {} to {} tasks (median ratio ≤ {CLAIM_FLAT_MAX}) | {:.1} ms → {:.1} ms = {flat:.2}× ({normalised:.2}× in units of 1b{cpu_note}) | {} |",
            small.tasks,
            large.tasks,
            small.claim.wall.median,
            large.claim.wall.median,
            verdict(flat <= CLAIM_FLAT_MAX)
        ));
    }
    if let Some(s) = sizes.iter().find(|s| s.tasks == 10_000) {
        for (name, st) in [("ready", s.ready.wall), ("status", s.status.wall)] {
            line(format!(
                "| `orc {name}` ≤ {READ_AT_10K_MAX_MS} ms at 10k tasks | {:.1} ms (p90 {:.1}) | {} |",
                st.median,
                st.p90,
                verdict(st.median <= READ_AT_10K_MAX_MS)
            ));
        }
    }
    if let Some(log) = small.log {
        let m = log.wall.median;
        line(format!(
            "| `orc log` ≤ {LOG_VS_CLAIM_MAX}× the claim median at {} tasks | {m:.1} ms / {claim:.1} ms = {:.2}× (× floor 1b: {m:.1} / {process:.1} = {:.2}×) | {} |",
            small.tasks,
            m / claim,
            m / process,
            verdict(m <= LOG_VS_CLAIM_MAX * claim)
        ));
    }
    if let Some(lock) = small.lock {
        let m = lock.wall.median;
        line(format!(
            "| `orc lock acquire` ≤ {LOCK_VS_FLOOR_MAX}× whole-process floor (1b) at {} tasks | {m:.1} ms / {process:.1} ms = {:.2}× | {} |",
            small.tasks,
            m / process,
            verdict(m <= LOCK_VS_FLOOR_MAX * process)
        ));
    }
    for (name, st) in
        [("orc events --last 20", events.last.wall), ("orc --json events --last 20", events.last_json.wall)]
    {
        line(format!(
            "| `{name}` ≤ {EVENTS_LAST_MAX_MS} ms with {} events | {:.1} ms (p90 {:.1}) | {} |",
            events.board.events,
            st.median,
            st.p90,
            verdict(st.median <= EVENTS_LAST_MAX_MS)
        ));
    }
    line(format!(
        "| {} agents' total throughput ≥ {:.0}% of 1 agent's | {:.1} / {:.1} claims/s = {:.0}% | {} |",
        conc.agents,
        CONCURRENCY_RATIO_MIN * 100.0,
        conc.conc_throughput(),
        conc.seq_throughput(),
        conc.ratio() * 100.0,
        verdict(conc.ratio() >= CONCURRENCY_RATIO_MIN)
    ));
    line(format!(
        "| every task claimed exactly once | {} claims, {} distinct, {} claimed on the branch, {} mismatches | {} |",
        conc.told,
        conc.distinct,
        conc.claimed_on_branch,
        conc.mismatches,
        verdict(conc.exactly_once())
    ));
    line(format!(
        "| CAS retries = 0 (sum of `trace: cas_retries=N` over all agent processes) | {} | {} |",
        conc.retries(),
        verdict(conc.retries() == 0)
    ));
    line(String::new());
    line(format!("Context: {NODE_CONTEXT}."));
    line(String::new());
    line(format!("Total bench time: {:.0} s.", total.as_secs_f64()));
    print!("{out}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__floor") {
        let repo = args.get(2).expect("usage: __floor <repo> <n>");
        let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
        let repo = Repository::open(repo).expect("the floor repository opens");
        floor_op(&repo, n).expect("floor op");
        return;
    }
    if args.get(1).map(String::as_str) == Some("__seed") {
        // For profiling by hand: `cargo bench --bench core -- __seed <new-dir> <tasks>`
        // leaves a seeded, packed, cache-warm board in <new-dir> (run orc
        // there with HOME and GIT_CONFIG_NOSYSTEM as you like).
        let dir = PathBuf::from(args.get(2).expect("usage: __seed <new-dir> <tasks>"));
        let n = args.get(3).and_then(|n| n.parse().ok()).expect("usage: __seed <new-dir> <tasks>");
        let bench = Bench::new(build_orc());
        let seeded = bench.seeded_repo_at(std::path::absolute(&dir).expect("an absolute path"), n);
        println!("seeded {n} tasks in workstream {WS} at {}", seeded.dir.display());
        return;
    }
    if args.get(1).map(String::as_str) == Some("__seed-events") {
        // `cargo bench --bench core -- __seed-events <new-dir> <days> <agents> <per-agent-day>`
        // leaves a packed event log in <new-dir> and prints how long each step took.
        let usage = "usage: __seed-events <new-dir> <days> <agents> <per-agent-day>";
        let dir = PathBuf::from(args.get(2).expect(usage));
        let number = |i: usize| args.get(i).and_then(|n| n.parse().ok()).expect(usage);
        let bench = Bench::new(build_orc());
        let board = bench.seeded_events_at(
            std::path::absolute(&dir).expect("an absolute path"),
            number(3),
            number(4),
            number(5),
        );
        println!("{}", board.describe());
        return;
    }
    // Any other arguments (cargo passes `--bench`) are ignored.
    let quick = std::env::var("ORC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let plan = Plan::new(quick);
    let started = Instant::now();
    let orc = build_orc();
    let bench = Bench::new(orc);

    eprintln!("bench: floors");
    let mut floors = measure_floors(&bench, &plan);
    let sizes = measure_sizes(&bench, &plan, &mut floors);
    let events = measure_events(&bench, &plan, &mut floors);
    let conc = measure_concurrency(&bench, &plan);
    report(&plan, &floors, &sizes, &events, &conc, started.elapsed());
}
