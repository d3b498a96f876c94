//! The event log end to end: `orc log` from racing processes, `orc events`
//! filters and cursors, broken lines, `--follow`, and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestEnv;

/// `orc events <args> --json`, which must succeed: the listed events.
#[track_caller]
fn events(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    events_with(env, &[], args)
}

#[track_caller]
fn events_with(env: &TestEnv, envs: &[(&str, &str)], args: &[&str]) -> Vec<Value> {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    all.push("--json");
    let run = env.orc_with(envs, &all).success();
    run.json().as_array().unwrap_or_else(|| panic!("not an array:\n{run}")).clone()
}

/// `orc log <kind> --data <data> --agent <agent> --json`: the logged event.
#[track_caller]
fn log(env: &TestEnv, agent: &str, kind: &str, data: &str) -> Value {
    env.orc(&["log", kind, "--data", data, "--agent", agent, "--json"]).success().json()
}

/// `data.i` of each event.
fn numbers(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["data"]["i"].as_i64().unwrap_or_else(|| panic!("no data.i in {e}"))).collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

/// Every event file on the branch, oldest day first.
fn event_files(env: &TestEnv) -> Vec<String> {
    let mut files: Vec<String> =
        env.git(&["ls-tree", "-r", "--name-only", "orc", "events"]).lines().map(str::to_string).collect();
    files.sort();
    files
}

/// The event files one agent wrote.
fn files_of(env: &TestEnv, agent: &str) -> Vec<String> {
    event_files(env).into_iter().filter(|f| f.contains(&format!("/{agent}/"))).collect()
}

/// A child process that is killed when the test ends, even by a panic.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `orc events --follow --json <args>` and returns it with a channel
/// of the lines it prints.
fn follow(env: &TestEnv, args: &[&str]) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut all = vec!["events", "--follow", "--json"];
    all.extend_from_slice(args);
    let mut child = env
        .orc_command(&all)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn orc events --follow");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), rx)
}

#[track_caller]
fn next_line(rx: &mpsc::Receiver<String>, what: &str) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("`orc events --follow` printed no line for {what} within 10 s ({e})"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("a --follow --json line is not JSON ({e}): {line}"))
}

#[test]
fn eight_processes_logging_at_once_lose_and_reorder_nothing() {
    const AGENTS: usize = 8;
    const EACH: i64 = 100;
    let env = TestEnv::new();
    std::thread::scope(|scope| {
        for k in 0..AGENTS {
            let env = &env;
            scope.spawn(move || {
                let agent = format!("agent-{k}");
                for i in 0..EACH {
                    env.orc(&["log", "tick", "--data", &format!("{{\"i\":{i}}}"), "--agent", &agent]).success();
                }
            });
        }
    });

    let all = events(&env, &["--type", "tick", "--since", "1h"]);
    assert_eq!(all.len(), AGENTS * EACH as usize, "every logged event is listed once");
    assert_eq!(ids(&all).into_iter().collect::<BTreeSet<_>>().len(), all.len(), "event ids are unique");
    let mut by_agent: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for event in &all {
        assert_eq!(event["type"], "tick");
        by_agent
            .entry(event["agent"].as_str().unwrap().to_string())
            .or_default()
            .push(event["data"]["i"].as_i64().unwrap());
    }
    let expected: Vec<i64> = (0..EACH).collect();
    assert_eq!(by_agent.len(), AGENTS, "{:?}", by_agent.keys());
    for (agent, seen) in &by_agent {
        assert_eq!(seen, &expected, "{agent}'s events in query order");
    }
    // Oldest first across agents too.
    let stamps: Vec<(&str, &str)> =
        all.iter().map(|e| (e["ts"].as_str().unwrap(), e["id"].as_str().unwrap())).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "events come oldest first");

    // The default listing is the newest 20.
    let newest = events(&env, &["--type", "tick"]);
    assert_eq!(newest.len(), 20);
    assert_eq!(ids(&newest), ids(&all[all.len() - 20..]));

    // Each agent's own file holds its events in the order it logged them.
    for k in 0..AGENTS {
        let agent = format!("agent-{k}");
        let files = files_of(&env, &agent);
        assert!(!files.is_empty(), "no event file for {agent}");
        let mut in_file = Vec::new();
        for file in files {
            for line in env.show(&file).lines() {
                let event: Value = serde_json::from_str(line).unwrap();
                assert_eq!(event["agent"], agent.as_str(), "{file}: {line}");
                if event["type"] == "tick" {
                    in_file.push(event["data"]["i"].as_i64().unwrap());
                }
            }
        }
        assert_eq!(in_file, expected, "{agent}'s file line order");
    }

    // Every line of every event file is one JSON event.
    let files = event_files(&env);
    assert!(files.len() >= AGENTS, "{files:?}");
    for file in &files {
        assert!(file.ends_with(".jsonl"), "{file}");
        let text = env.show(file);
        for (n, line) in text.lines().enumerate() {
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}:{}: not JSON ({e}): {line:?}", n + 1));
            for field in ["id", "ts", "agent", "type", "data"] {
                assert!(event.get(field).is_some(), "{file}:{}: no {field}: {line}", n + 1);
            }
        }
    }
    env.orc(&["doctor"]).success();
}

#[test]
fn last_after_type_and_agent_select_events() {
    let env = TestEnv::new();
    let mut logged = Vec::new();
    for i in 0..30 {
        logged.push(log(&env, "agent-a", "tick", &format!("{{\"i\":{i}}}")));
    }
    for i in 0..3 {
        log(&env, "agent-b", "deploy.done", &format!("{{\"i\":{}}}", 100 + i));
    }
    // `orc log` prints the event it appended.
    assert_eq!(logged[7]["type"], "tick");
    assert_eq!(logged[7]["agent"], "agent-a");
    assert_eq!(logged[7]["data"]["i"], 7);
    assert_eq!(logged[7]["id"].as_str().unwrap().len(), 26);

    // --last N: the newest N, oldest first.
    let last5 = events(&env, &["--type", "tick", "--last", "5"]);
    assert_eq!(numbers(&last5), vec![25, 26, 27, 28, 29]);
    assert_eq!(ids(&last5), ids(&logged[25..]));
    let mixed = events(&env, &["--last", "5"]);
    assert_eq!(numbers(&mixed), vec![28, 29, 100, 101, 102]);
    assert_eq!(events(&env, &["--last", "1000"]).len(), 33);

    // --after ID: exactly the later ones.
    let cursor = logged[9]["id"].as_str().unwrap();
    let after = events(&env, &["--type", "tick", "--after", cursor]);
    assert_eq!(numbers(&after), (10..30).collect::<Vec<_>>());
    assert_eq!(ids(&after), ids(&logged[10..]));
    let lower = cursor.to_ascii_lowercase();
    assert_eq!(ids(&events(&env, &["--type", "tick", "--after", &lower])), ids(&after), "ids are case-insensitive");
    assert_eq!(numbers(&events(&env, &["--after", cursor, "--last", "3", "--type", "tick"])), vec![27, 28, 29]);
    assert_eq!(events(&env, &["--after", cursor]).len(), 23, "without --after's limit of 20: every later event");
    let newest = logged[29]["id"].as_str().unwrap();
    let none = env.orc(&["events", "--type", "tick", "--after", newest, "--json"]).success();
    assert_eq!(none.json(), serde_json::json!([]));
    assert!(none.stderr.contains("no events match"), "{none}");

    // --type and --agent filter.
    let deploys = events(&env, &["--type", "deploy.done", "--since", "1h"]);
    assert_eq!(numbers(&deploys), vec![100, 101, 102]);
    assert!(deploys.iter().all(|e| e["agent"] == "agent-b"));
    let by_b = events(&env, &["--agent", "agent-b", "--since", "1h"]);
    assert_eq!(numbers(&by_b), vec![100, 101, 102]);
    let by_a = events(&env, &["--agent", "agent-a", "--since", "1h"]);
    assert_eq!(numbers(&by_a), (0..30).collect::<Vec<_>>());
    assert!(events(&env, &["--agent", "agent-a", "--type", "deploy.done", "--since", "1h"]).is_empty());
    assert!(events(&env, &["--agent", "nobody", "--since", "1h"]).is_empty());
    // ORC_AGENT names who runs the command; it does not filter.
    assert_eq!(events_with(&env, &[("ORC_AGENT", "agent-b")], &["--since", "1h"]).len(), 33);

    // People read the same listing, one line per event.
    let human = env.orc(&["events", "--agent", "agent-b"]).success().stdout;
    assert_eq!(human.lines().count(), 3, "{human}");
    assert!(human.lines().all(|l| l.contains("agent-b") && l.contains("deploy.done")), "{human}");
    assert!(human.contains(r#"{"i":101}"#), "{human}");
}

#[test]
fn since_takes_a_duration_a_time_and_a_date_across_days() {
    let env = TestEnv::new();
    let at = |t: &str, i: i64| {
        env.orc_with(&[("ORC_NOW", t)], &["log", "tick", "--data", &format!("{{\"i\":{i}}}"), "--agent", "a1"])
            .success();
    };
    at("2026-03-01T09:00:00Z", 0);
    at("2026-03-02T09:00:00Z", 1);
    at("2026-03-02T09:30:00Z", 2);
    at("2026-03-02T10:00:00Z", 3);
    let files = files_of(&env, "a1");
    assert_eq!(
        files,
        vec!["events/2026/03/01/a1/000001.jsonl", "events/2026/03/02/a1/000001.jsonl"],
        "one chunk a day"
    );

    let now = [("ORC_NOW", "2026-03-02T10:05:00Z")];
    let since = |arg: &str| numbers(&events_with(&env, &now, &["--type", "tick", "--since", arg]));
    assert_eq!(since("10m"), vec![3]);
    assert_eq!(since("1h"), vec![2, 3]);
    assert_eq!(since("3600"), vec![2, 3], "a bare number is seconds");
    assert_eq!(since("2d"), vec![0, 1, 2, 3]);
    assert_eq!(since("2026-03-02T09:30:00Z"), vec![2, 3], "at or after the time");
    assert_eq!(since("2026-03-02T09:30:01Z"), vec![3]);
    assert_eq!(since("2026-03-02T11:30:00+02:00"), vec![2, 3], "offsets are honoured");
    assert_eq!(since("2026-03-02"), vec![1, 2, 3], "a date means its midnight UTC");
    assert_eq!(since("2026-03-01"), vec![0, 1, 2, 3]);
    assert!(since("2026-03-03").is_empty());

    // --last and --after reach back across day folders.
    let last = |n: &str| numbers(&events_with(&env, &now, &["--type", "tick", "--last", n]));
    assert_eq!(last("3"), vec![1, 2, 3]);
    assert_eq!(last("4"), vec![0, 1, 2, 3]);
    let all = events_with(&env, &now, &["--type", "tick", "--since", "2026-01-01"]);
    let first = all[0]["id"].as_str().unwrap();
    assert_eq!(numbers(&events_with(&env, &now, &["--after", first])), vec![1, 2, 3]);
}

#[test]
fn a_malformed_event_line_is_named_skipped_and_reported_by_doctor() {
    let env = TestEnv::new();
    for i in 0..3 {
        log(&env, "agent-1", "tick", &format!("{{\"i\":{i}}}"));
    }
    let files = files_of(&env, "agent-1");
    let path = files.last().unwrap().clone();
    let good: Vec<String> = env.show(&path).lines().map(str::to_string).collect();
    assert_eq!(good.len(), 3);
    // Line 3 is not JSON; line 5 is JSON but not an event.
    let broken = format!("{}\n{}\n{{this is not json\n{}\n{{\"hello\":\"world\"}}\n", good[0], good[1], good[2]);
    env.edit_branch_file(&path, &broken);

    let run = env.orc(&["events", "--type", "tick", "--since", "1h", "--json"]).success();
    assert_eq!(numbers(run.json().as_array().unwrap()), vec![0, 1, 2], "the other events are still listed");
    assert!(run.stderr.contains(&format!("warning: skipped {path}:3: ")), "{run}");
    assert!(run.stderr.contains(&format!("warning: skipped {path}:5: ")), "{run}");
    assert!(run.stderr.contains("orc doctor"), "{run}");
    let human = env.orc(&["events", "--type", "tick"]).success();
    assert_eq!(human.stdout.lines().count(), 3, "{human}");
    assert!(human.stderr.contains(&format!("{path}:3")), "{human}");

    let doctor = env.orc(&["doctor"]).code(3);
    assert!(doctor.stdout.contains(&format!("{path}:3")), "{doctor}");
    assert!(doctor.stdout.contains(&format!("{path}:5")), "{doctor}");
    let report = env.orc(&["doctor", "--json"]).code(3).json();
    let problems: Vec<&Value> =
        report["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "broken_file").collect();
    assert_eq!(problems.len(), 2, "{report}");
    assert!(problems[0]["message"].as_str().unwrap().starts_with(&format!("{path}:3: ")), "{report}");
    assert!(problems[1]["message"].as_str().unwrap().starts_with(&format!("{path}:5: ")), "{report}");

    // The writer can still append to its file, and the new event is listed.
    log(&env, "agent-1", "tick", r#"{"i":3}"#);
    let after = env.orc(&["events", "--type", "tick", "--since", "1h", "--json"]).success();
    assert_eq!(numbers(after.json().as_array().unwrap()), vec![0, 1, 2, 3], "{after}");
}

#[test]
fn follow_prints_each_new_event_as_one_json_line() {
    let env = TestEnv::new();
    let first = log(&env, "agent-1", "tick", r#"{"i":0}"#);
    let (child, lines) = follow(&env, &["--type", "tick"]);
    // What already matched comes first, which also shows the follower runs.
    assert_eq!(next_line(&lines, "the event logged before it started"), first);

    let second = log(&env, "agent-2", "tick", r#"{"i":1}"#);
    assert_eq!(next_line(&lines, "a new event"), second);
    // Events of other types are not printed; the next tick is.
    log(&env, "agent-1", "other", r#"{"i":99}"#);
    env.orc(&["ws", "create", "w"]).success();
    let third = log(&env, "agent-1", "tick", r#"{"i":2}"#);
    assert_eq!(next_line(&lines, "the next matching event"), third);
    // Nothing else is printed: a fourth tick comes next (a repeat or a
    // stray line would come before it), and once the follower is stopped,
    // its output ends there.
    let fourth = log(&env, "agent-2", "tick", r#"{"i":3}"#);
    assert_eq!(next_line(&lines, "the event after the third"), fourth);
    drop(child);
    assert_eq!(rest(&lines), Vec::<String>::new(), "nothing else was printed");
}

/// The lines a stopped follower printed that were not read yet, up to the
/// end of its output.
fn rest(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut rest = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => rest.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => return rest,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the follower's output did not end: {rest:?}"),
        }
    }
}

#[test]
fn follow_misses_no_event_from_concurrent_writers() {
    const WRITERS: usize = 8;
    const EACH: usize = 40;
    let env = TestEnv::new();
    let warmup = log(&env, "warmup", "burst", r#"{"i":-1}"#);
    let (_child, lines) = follow(&env, &["--type", "burst"]);
    assert_eq!(next_line(&lines, "the warm-up event"), warmup);

    std::thread::scope(|scope| {
        for k in 0..WRITERS {
            let env = &env;
            scope.spawn(move || {
                for i in 0..EACH {
                    let data = format!("{{\"i\":{}}}", k * 1000 + i);
                    env.orc(&["log", "burst", "--data", &data, "--agent", &format!("writer-{k}")]).success();
                }
            });
        }
    });
    let logged: BTreeSet<String> = ids(&events(&env, &["--type", "burst", "--since", "1h"]))
        .into_iter()
        .filter(|id| *id != warmup["id"])
        .collect();
    assert_eq!(logged.len(), WRITERS * EACH);

    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while printed.len() < logged.len() {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
        match lines.recv_timeout(left) {
            Ok(line) => printed.push(serde_json::from_str::<Value>(&line).unwrap()["id"].as_str().unwrap().to_string()),
            Err(_) => break,
        }
    }
    let printed_set: BTreeSet<String> = printed.iter().cloned().collect();
    assert_eq!(printed_set.len(), printed.len(), "no event printed twice");
    let missed: Vec<&String> = logged.difference(&printed_set).collect();
    if missed.is_empty() {
        // Nor is any printed again later: one more event is the next line.
        let last = log(&env, "warmup", "burst", r#"{"i":-2}"#);
        assert_eq!(next_line(&lines, "the event after the burst"), last);
        return;
    }
    // Explain each miss: which events landed on the branch before it
    // although their ids sort after it.
    let order = commit_order(&env);
    let explain: Vec<String> = missed
        .iter()
        .map(|id| {
            let at = order.iter().position(|o| o == *id).expect("a logged event has a commit");
            let earlier_but_larger: Vec<&String> = order[..at].iter().filter(|o| o > id).collect();
            format!("{id} (commit {at}) landed after {earlier_but_larger:?}, whose ids sort after it")
        })
        .collect();
    panic!(
        "--follow printed {} of {} events; it never printed {}:\n{}",
        printed.len(),
        logged.len(),
        missed.len(),
        explain.join("\n")
    );
}

/// The operation ids of the branch's commits, oldest first (from their
/// `Orc-Op` trailers).
fn commit_order(env: &TestEnv) -> Vec<String> {
    env.git(&["log", "--reverse", "--format=%B", "orc"])
        .lines()
        .filter_map(|l| l.strip_prefix("Orc-Op: "))
        .map(|op| serde_json::from_str::<Value>(op).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn follow_prints_an_event_logged_after_the_clock_stepped_back() {
    let env = TestEnv::new();
    let first = log(&env, "agent-1", "tick", r#"{"i":0}"#);
    let (_child, lines) = follow(&env, &["--type", "tick"]);
    assert_eq!(next_line(&lines, "the event logged before it started"), first);
    let second = log(&env, "agent-1", "tick", r#"{"i":1}"#);
    assert_eq!(next_line(&lines, "a new event"), second);
    // The clock steps back 30 s (an NTP correction, or a writer whose clock
    // lags): the event still gets an id after the last one on the branch, so
    // a cursor never skips it.
    let stepped = env.orc_with(
        &[("ORC_NOW_OFFSET", "-30s")],
        &["log", "tick", "--data", r#"{"i":2}"#, "--agent", "agent-2", "--json"],
    );
    let third = stepped.success().json();
    assert!(third["id"].as_str() > second["id"].as_str(), "ids follow commit order: {third} after {second}");
    assert!(third["ts"].as_str() < second["ts"].as_str(), "while the time is the writer's own");
    assert_eq!(next_line(&lines, "the event logged after the clock stepped back"), third);
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let env = TestEnv::new();
    log(&env, "agent-1", "tick", r#"{"i":0}"#);
    let tip = env.tip();

    let no_agent = env.orc(&["log", "tick", "--json"]).code(2);
    assert_eq!(no_agent.error_kind(), "no_agent");
    let human = env.orc(&["log", "tick"]).code(2);
    assert!(human.stderr.starts_with("error: ") && human.stderr.contains("hint: "), "{human}");

    for data in ["{", "not json", "", r#"{"a":1"#, "{'a':1}"] {
        let run = env.orc(&["log", "tick", "--data", data, "--agent", "agent-1", "--json"]).code(2);
        assert_eq!(run.error_kind(), "invalid_input", "--data {data:?}: {run}");
    }
    let huge = format!("{{\"blob\":\"{}\"}}", "x".repeat(70_000));
    let run = env.orc(&["log", "tick", "--data", &huge, "--agent", "agent-1", "--json"]).code(2);
    assert_eq!(run.error_kind(), "invalid_input", "{run}");

    for kind in ["task.claim", "agent.register", "lock.acquire", "kb.write", "ws.create", "sync.push", "hook.run"] {
        let run = env.orc(&["log", kind, "--agent", "agent-1", "--json"]).code(2);
        assert_eq!(run.error_kind(), "invalid_name", "{kind}: {run}");
        assert!(run.json()["error"]["message"].as_str().unwrap().contains("reserved"), "{run}");
    }
    for kind in ["../x", "a/b", "", ".hidden", "bad\u{1b}[31m", "a b"] {
        let run = env.orc(&["log", "--agent", "agent-1", "--json", "--", kind]).code(2);
        assert_eq!(run.error_kind(), "invalid_name", "{kind:?}: {run}");
    }
    let bad_agent = env.orc(&["log", "tick", "--agent", "../x", "--json"]).code(2);
    assert_eq!(bad_agent.error_kind(), "invalid_name");

    let zero = env.orc(&["events", "--last", "0", "--json"]).code(2);
    assert_eq!(zero.error_kind(), "invalid_input");
    let negative = env.orc(&["events", "--last", "-1", "--json"]).code(2);
    assert_eq!(negative.error_kind(), "usage");
    for after in ["zzz", "01M7YK2Z9PZZ29QXMVRVRG81P!", "t-3fk2m9q8x1", "01M7YK2Z9PZZ29QXMVRVRG81PRX"] {
        let run = env.orc(&["events", "--after", after, "--json"]).code(2);
        assert_eq!(run.error_kind(), "invalid_id", "--after {after:?}: {run}");
    }
    let since = env.orc(&["events", "--since", "yesterday", "--json"]).code(2);
    assert_eq!(since.error_kind(), "invalid_input");
    let by = env.orc(&["events", "--agent", "../x", "--json"]).code(2);
    assert_eq!(by.error_kind(), "invalid_name");

    assert_eq!(env.tip(), tip, "nothing was written");
    assert_eq!(events(&env, &["--since", "1h"]).len(), 1);
}

/// `{"i":i,"pad":"xx…"}` with a pad of `bytes`.
fn padded(i: i64, bytes: usize) -> String {
    format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(bytes))
}

#[test]
fn a_busy_writer_s_day_is_split_into_bounded_chunks_that_read_as_one_log() {
    let env = TestEnv::new();
    // Each event is ~7 KB: two fill a 16 KiB chunk, the third opens the next.
    for i in 0..5 {
        log(&env, "a1", "tick", &padded(i, 7_000));
    }
    log(&env, "a2", "tick", r#"{"i":100}"#);
    let files = files_of(&env, "a1");
    let day = files[0].rsplit_once("/a1/").unwrap().0.to_string();
    let names: Vec<String> = files.iter().map(|f| f.rsplit_once('/').unwrap().1.to_string()).collect();
    assert_eq!(names, vec!["000001.jsonl", "000002.jsonl", "000003.jsonl"], "{files:?}");
    for file in &files {
        let size = env.show(file).len();
        assert!(size <= orc::model::event::CHUNK_BYTES, "{file} holds {size} bytes, past the chunk size");
    }
    assert_eq!(files_of(&env, "a2"), vec![format!("{day}/a2/000001.jsonl")], "one writer per file");

    assert_eq!(numbers(&events(&env, &["--agent", "a1"])), vec![0, 1, 2, 3, 4]);
    assert_eq!(numbers(&events(&env, &["--agent", "a1", "--last", "3"])), vec![2, 3, 4], "the tail spans chunks");
    assert_eq!(numbers(&events(&env, &["--type", "tick", "--last", "2"])), vec![4, 100]);
    let all = events(&env, &["--type", "tick", "--since", "1h"]);
    assert_eq!(numbers(&all), vec![0, 1, 2, 3, 4, 100]);
    env.orc(&["doctor"]).success();
}

#[test]
fn a_day_file_from_before_chunks_stays_readable_and_new_events_go_to_chunks() {
    let env = TestEnv::new();
    let now = [("ORC_NOW", "2026-03-02T10:00:00Z")];
    env.orc_with(&now, &["log", "tick", "--data", r#"{"i":9}"#, "--agent", "other"]).success();
    // What an older orc wrote: one file per writer and day.
    let old: String = (0..3)
        .map(|i| {
            format!(
                "{{\"id\":\"01KJKZ{i}X000000000000000000\",\"ts\":\"2026-03-02T09:0{i}:00Z\",\"agent\":\"a1\",\"type\":\"tick\",\"data\":{{\"i\":{i}}}}}\n"
            )
        })
        .collect();
    env.edit_branch_file("events/2026/03/02/a1.jsonl", &old);

    env.orc_with(&[("ORC_NOW", "2026-03-02T11:00:00Z")], &["log", "tick", "--data", r#"{"i":3}"#, "--agent", "a1"])
        .success();
    assert_eq!(env.show("events/2026/03/02/a1.jsonl") + "\n", old, "the old day file is left as it was");
    assert_eq!(env.show("events/2026/03/02/a1/000001.jsonl").lines().count(), 1);

    let later = [("ORC_NOW", "2026-03-02T12:00:00Z")];
    assert_eq!(numbers(&events_with(&env, &later, &["--agent", "a1"])), vec![0, 1, 2, 3]);
    assert_eq!(numbers(&events_with(&env, &later, &["--agent", "a1", "--last", "2"])), vec![2, 3]);
    assert_eq!(numbers(&events_with(&env, &later, &["--type", "tick"])), vec![0, 1, 2, 9, 3]);
    env.orc_with(&later, &["doctor"]).success();
}
