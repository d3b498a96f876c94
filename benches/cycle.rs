//! `orc plan` and `orc brief` whole-process at 10k tasks and 100k events.
//!
//! `cargo bench --bench cycle` (ORC_BENCH_QUICK=1 for fewer runs). Seeds one
//! board through the library in a single commit, packs it like a real
//! repository, warms orc's cache, then times each command. Target: ≤ 50 ms.

mod support;
use support::build_orc;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::{Duration, Utc};
use orc::model::agent::{agent_path, Agent};
use orc::model::event::{day_dir, Event};
use orc::model::record;
use orc::model::task::{Task, DEFAULT_PRIORITY};
use orc::model::workstream::{task_path, workstream_path, Workstream};
use orc::store::{Store, Swap};

const TASKS: usize = 10_000;
const EVENTS: usize = 100_000;
const AGENTS: usize = 10;
const TARGET_MS: f64 = 50.0;
const RENDER_TARGET_MS: f64 = 300.0;
const RENDER_MAX_BYTES: u64 = 2 * 1024 * 1024;

fn git(dir: &Path, home: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn seed(orc: &Path, dir: &Path, home: &Path) {
    git(dir, home, &["init", "-q", "-b", "main"]);
    git(dir, home, &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "start"]);
    let init = Command::new(orc).arg("init").current_dir(dir).env("HOME", home).output().unwrap();
    assert!(init.status.success());
    let now = Utc::now() - Duration::minutes(1);
    let mut changes = BTreeMap::new();
    let streams = ["revenue", "product", "infra", "docs", "growth"];
    for (i, ws) in streams.iter().enumerate() {
        let record = Workstream {
            name: ws.to_string(),
            description: format!("{ws} work"),
            priority: i as u8 + 1,
            created_at: now,
            created_by: "bench".into(),
            archived: false,
        };
        changes.insert(workstream_path(ws), Some(record::render(&record)));
    }
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let id = orc::session::Clock::system().new_task_id();
        let ws = streams[i % streams.len()];
        let after = if i % 7 == 3 { ids.last().cloned().into_iter().collect() } else { Vec::new() };
        let mut task = Task::new(
            id.clone(),
            ws.into(),
            format!("Task {i} about payments api"),
            "Seeded.".into(),
            DEFAULT_PRIORITY,
            after,
            "bench".into(),
            now,
        );
        task.resources = if i % 11 == 0 { vec!["db".into()] } else { Vec::new() };
        if i % 3 == 0 {
            task = task
                .complete(&orc::model::task::Actor::Person("bench".into()), None, Some("ok".into()), &terms(now), None)
                .unwrap();
        } else if i < AGENTS {
            let (claimed, _) = task.claim(&format!("agent-{i}"), &terms(now), None, &[]).unwrap();
            task = claimed;
        }
        changes.insert(task_path(ws, &id), Some(record::render(&task)));
        ids.push(id);
    }
    for a in 0..AGENTS {
        let agent = Agent::new(&format!("agent-{a}"), "worker", now);
        changes.insert(agent_path(&agent.id), Some(record::render(&agent)));
    }
    let per_file = EVENTS / (AGENTS * 10);
    for day in 0..10 {
        for a in 0..AGENTS {
            let at = now - Duration::days(day);
            let mut text = String::new();
            for n in 0..per_file {
                let ts = at - Duration::seconds((per_file - n) as i64);
                let event = Event {
                    id: orc::session::Clock::system().new_ulid(ts),
                    ts,
                    agent: format!("agent-{a}"),
                    kind: "task.claim".into(),
                    data: serde_json::json!({"task": ids[n % ids.len()], "workstream": streams[n % streams.len()]}),
                };
                text += &event.to_line();
            }
            // One file per agent and day, the layout before chunks, which
            // readers still take.
            changes.insert(format!("{}/agent-{a}.jsonl", day_dir(at)), Some(text.into_bytes()));
        }
    }
    for t in 0..20 {
        changes.insert(
            format!("knowledge/topic-{t}.md"),
            Some(format!("# Topic {t}\nNotes about payments and api {t}.\n").into_bytes()),
        );
    }
    let store = Store::discover(dir).unwrap();
    let tip = store.tip().unwrap().unwrap();
    let sig = store.signature("bench", "bench@b", now.timestamp()).unwrap();
    let queue = store.lock_writers().unwrap();
    let commit = store.write_commit(None, Some(tip), &changes, "orc: seed cycle bench\n", &sig).unwrap();
    assert_eq!(store.compare_and_swap(&queue, Some(tip), commit, "seed").unwrap(), Swap::Done);
    drop(queue);
    git(dir, home, &["gc", "--quiet"]);
}

fn terms(now: chrono::DateTime<Utc>) -> orc::model::task::Terms {
    orc::model::task::Terms { now, lease: Duration::minutes(30), grace: Duration::minutes(2) }
}

fn time(orc: &Path, dir: &Path, home: &Path, args: &[&str], runs: usize) -> (f64, f64) {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let out = Command::new(orc).args(args).current_dir(dir).env("HOME", home).output().unwrap();
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(out.status.success(), "orc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[(samples.len() * 9 / 10).min(samples.len() - 1)])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs = if std::env::var_os("ORC_BENCH_QUICK").is_some() { 5 } else { 25 };
    let orc = build_orc();
    let tmp = tempfile::tempdir().unwrap();
    let (dir, home) = (tmp.path().join("repo"), tmp.path().join("home"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let started = Instant::now();
    seed(&orc, &dir, &home);
    let seeded = started.elapsed().as_secs_f64();
    time(&orc, &dir, &home, &["status"], 1);
    println!("# orc cycle benchmark\n");
    println!("Board: {TASKS} tasks in 5 workstreams (a third done, {AGENTS} claimed, some with dependencies and a shared resource), {AGENTS} agents, {EVENTS} events over 10 days, 20 knowledge topics; seeded in {seeded:.1} s. Whole-process wall-clock ms over {runs} runs.\n");
    println!("| command | median ms | p90 ms | target | result |\n|---|---:|---:|---|---|");
    for args in [&["plan"][..], &["brief", "agent-3"], &["brief", "agent-9"], &["brief", "revenue"]] {
        let (median, p90) = time(&orc, &dir, &home, args, runs);
        let ok = if median <= TARGET_MS { "PASS" } else { "FAIL" };
        println!("| `orc {}` | {median:.1} | {p90:.1} | ≤ {TARGET_MS} ms | {ok} |", args.join(" "));
    }
    // The dashboard: rendered to a folder (no commit), then its size.
    let out = tmp.path().join("dashboard");
    let (median, p90) = time(&orc, &dir, &home, &["dashboard", "--out", out.to_str().unwrap()], runs);
    let ok = if median <= RENDER_TARGET_MS { "PASS" } else { "FAIL" };
    println!("| `orc dashboard --out DIR` | {median:.1} | {p90:.1} | ≤ {RENDER_TARGET_MS} ms | {ok} |");
    let size = std::fs::metadata(out.join("docs/index.html")).unwrap().len();
    let readme = std::fs::metadata(out.join("README.md")).unwrap().len();
    let ok = if size <= RENDER_MAX_BYTES { "PASS" } else { "FAIL" };
    println!("\n| file | bytes | target | result |\n|---|---:|---|---|");
    println!("| docs/index.html | {size} | ≤ {RENDER_MAX_BYTES} | {ok} |");
    println!("| README.md | {readme} | — | — |");
}
