//! `orc serve` under load: `cargo bench --bench serve`.
//!
//! Seeds a board of 10k open tasks in one workstream through the library
//! (one commit, then `git gc`), starts the release `orc serve` on
//! 127.0.0.1, and drives it with 64 keep-alive connections (one thread
//! each, plain HTTP/1.1 over `TcpStream`, so the client costs next to
//! nothing): `GET /api/status` for a fixed time, then
//! `POST /api/workstreams/bench/next` (each connection its own agent)
//! until a fixed number of claims. Prints requests/s and p50/p99/max
//! latency, checks every answer was 200 and no task was claimed twice,
//! and, in the same run on the same board, the whole-process cost of
//! `orc status` and `orc t next` for comparison.
//!
//! `ORC_BENCH_QUICK=1` shortens every phase (a smoke test). The machine is
//! shared: read the numbers as of one run, not as a target.

mod support;
use support::build_orc;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use orc::model::record;
use orc::model::task::{Task, DEFAULT_PRIORITY};
use orc::model::workstream::{task_path, workstream_path, Workstream};
use orc::store::{Store, Swap};

const TASKS: usize = 10_000;
const CONNECTIONS: usize = 64;
const WS: &str = "bench";
const TOKEN: &str = "bench-token-0123456789abcdef";

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the command runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn command(program: &Path, dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

/// A board of `TASKS` open tasks in one workstream, packed like a real repository.
fn seed(orc: &Path, dir: &Path, home: &Path) {
    let git = |args: &[&str]| run(command(Path::new("git"), dir, home).args(args));
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.name", "Bench Person"]);
    git(&["config", "user.email", "bench@example.com"]);
    git(&["commit", "-q", "--allow-empty", "-m", "start"]);
    run(command(orc, dir, home).arg("init"));
    let now = orc::session::Clock::system().now() - chrono::Duration::minutes(1);
    let mut changes = BTreeMap::new();
    let ws = Workstream {
        name: WS.into(),
        description: "benchmark board".into(),
        priority: 1,
        created_at: now,
        created_by: "bench".into(),
        archived: false,
    };
    changes.insert(workstream_path(WS), Some(record::render(&ws)));
    let mut seen = HashSet::new();
    while seen.len() < TASKS {
        let id = orc::session::Clock::system().new_task_id();
        if !seen.insert(id.clone()) {
            continue;
        }
        let task = Task::new(
            id.clone(),
            WS.into(),
            format!("Task {}", seen.len()),
            "Seeded.".into(),
            DEFAULT_PRIORITY,
            vec![],
            "bench".into(),
            now,
        );
        changes.insert(task_path(WS, &id), Some(record::render(&task)));
    }
    let store = Store::discover(dir).unwrap();
    let tip = store.tip().unwrap().unwrap();
    let sig = store.signature("bench", "bench@example.com", now.timestamp()).unwrap();
    let queue = store.lock_writers().unwrap();
    let commit = store.write_commit(None, Some(tip), &changes, "orc: seed serve bench\n", &sig).unwrap();
    assert_eq!(store.compare_and_swap(&queue, Some(tip), commit, "seed").unwrap(), Swap::Done);
    drop(queue);
    git(&["gc", "--quiet"]);
    run(command(orc, dir, home).arg("status"));
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Self { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream }
    }

    /// Sends a request and reads the whole answer: (status, body).
    fn request(&mut self, request: &[u8]) -> (u16, Vec<u8>) {
        self.writer.write_all(request).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{line:?}"));
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }
}

struct Load {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    non_200: usize,
    bodies: Vec<Vec<u8>>,
}

/// Runs `CONNECTIONS` connections at once; each sends `request(n)` until
/// `stop` says so (by time or by count) and keeps every latency.
fn load(addr: &str, request: impl Fn(usize) -> Vec<u8> + Sync, stop: impl Fn(Instant, usize) -> bool + Sync) -> Load {
    let barrier = Barrier::new(CONNECTIONS);
    let started = std::sync::OnceLock::new();
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(Vec<f64>, usize, Vec<Vec<u8>>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|n| {
                let (barrier, started, sent, request, stop) = (&barrier, &started, &sent, &request, &stop);
                scope.spawn(move || {
                    let mut connection = Connection::open(addr);
                    let bytes = request(n);
                    let (mut latencies, mut non_200, mut bodies) = (Vec::new(), 0, Vec::new());
                    barrier.wait();
                    let start = *started.get_or_init(Instant::now);
                    loop {
                        let count = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if stop(start, count) {
                            return (latencies, non_200, bodies);
                        }
                        let at = Instant::now();
                        let (status, body) = connection.request(&bytes);
                        latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                        if status != 200 {
                            non_200 += 1;
                        }
                        bodies.push(body);
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let elapsed = started.get().unwrap().elapsed();
    let mut load = Load { latencies_ms: Vec::new(), elapsed, non_200: 0, bodies: Vec::new() };
    for (latencies, non_200, bodies) in results {
        load.latencies_ms.extend(latencies);
        load.non_200 += non_200;
        load.bodies.extend(bodies);
    }
    load.latencies_ms.sort_by(f64::total_cmp);
    load
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn row(what: &str, load: &Load) {
    let n = load.latencies_ms.len();
    println!(
        "| {what} | {n} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
        n as f64 / load.elapsed.as_secs_f64(),
        percentile(&load.latencies_ms, 0.50),
        percentile(&load.latencies_ms, 0.99),
        load.latencies_ms.last().copied().unwrap_or_default(),
        load.non_200
    );
}

/// Whole-process wall clock of one CLI command, `runs` times: sorted ms.
fn cli(orc: &Path, dir: &Path, home: &Path, args: &[&str], runs: usize) -> Vec<f64> {
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let at = Instant::now();
            run(command(orc, dir, home).args(args));
            at.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("ORC_BENCH_QUICK").is_some();
    let (status_secs, claims, cli_runs) = if quick { (2, 300, 5) } else { (10, 2_000, 25) };
    let orc = build_orc();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, home) = (tmp.path().join("repo"), tmp.path().join("home"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let seeded = Instant::now();
    seed(&orc, &dir, &home);
    eprintln!("bench: seeded {TASKS} tasks in {:.1} s", seeded.elapsed().as_secs_f64());

    let mut server = command(&orc, &dir, &home)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ORC_SERVE_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first
        .trim()
        .strip_prefix("orc serve: listening on http://")
        .expect("orc serve printed its address")
        .to_string();

    let status_request = format!("GET /api/status HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let status =
        load(&addr, |_| status_request.clone(), |start, _| start.elapsed() >= Duration::from_secs(status_secs));
    let next = load(
        &addr,
        |n| {
            let body = format!("{{\"agent\":\"load-{n}\"}}");
            format!(
                "POST /api/workstreams/{WS}/next HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        },
        |_, count| count >= claims,
    );
    let _ = server.kill();
    let _ = server.wait();

    let ids: Vec<String> = next
        .bodies
        .iter()
        .map(|b| serde_json::from_slice::<serde_json::Value>(b).unwrap()["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a task was claimed twice");
    assert_eq!(next.non_200, 0, "a next was refused");

    let cli_status = cli(&orc, &dir, &home, &["status", "--json"], cli_runs);
    let cli_next = cli(&orc, &dir, &home, &["t", "next", WS, "cli-agent", "--json"], cli_runs);

    println!("# orc serve under load\n");
    println!(
        "Board: {TASKS} open tasks in one workstream (packed); {CONNECTIONS} keep-alive connections, one thread each; \
         no remote (claims are local commits). `GET /api/status` for {status_secs} s, then {claims} \
         `POST /api/workstreams/{WS}/next` (each connection its own agent; every answer 200, no task twice). \
         Latency in ms.\n"
    );
    println!("| request | count | req/s | p50 | p99 | max | non-200 |\n|---|---:|---:|---:|---:|---:|---:|");
    row("`GET /api/status`", &status);
    row(&format!("`POST /api/workstreams/{WS}/next`"), &next);
    println!("\nThe CLI on the same board, whole process, {cli_runs} runs each (one after another):\n");
    println!("| command | p50 ms | p99 ms | max ms | commands/s (1 / p50) |\n|---|---:|---:|---:|---:|");
    for (what, samples) in [("`orc status --json`", &cli_status), ("`orc t next bench cli-agent --json`", &cli_next)] {
        let p50 = percentile(samples, 0.5);
        println!(
            "| {what} | {p50:.1} | {:.1} | {:.1} | {:.0} |",
            percentile(samples, 0.99),
            samples.last().unwrap(),
            1000.0 / p50
        );
    }
}
