//! The task board end to end: the seed's quick start, the state machine,
//! dependencies, priorities, leases, idempotency keys and `wait`.

use crate::common::TestEnv;

#[test]
fn seed_quick_start_runs_verbatim() {
    let env = TestEnv::new();
    env.orc(&["status"]).success();
    env.orc(&["ws", "create", "revenue", "Revenue generation", "1"]).success();
    env.orc(&["ws", "create", "product", "Product development", "2"]).success();
    let added = env.orc(&["t", "add", "revenue", "Add payments to API", "Integrate USDC", "1"]).success();
    let task_id = added.stdout.trim().to_string();
    assert!(task_id.starts_with("t-") && task_id.len() == 12, "t add prints the id: {added}");
    env.orc(&["t", "add", "product", "Write tests", "Unit and integration", "3"]).success();
    env.orc(&["a", "register", "agent-1", "worker"]).success();
    let next = env.orc(&["t", "next", "revenue", "agent-1"]).success();
    assert!(next.stdout.contains(&task_id), "{next}");
    env.orc(&["t", "complete", "revenue", &task_id, "Done: integrated payments"]).success();

    let task = env.orc(&["t", "show", &task_id, "--json"]).success().json();
    assert_eq!(task["status"], "done");
    assert_eq!(task["result"], "Done: integrated payments");
    assert_eq!(task["claimed_by"], "agent-1");
    let status = env.orc(&["status", "--json"]).success().json();
    assert_eq!(status["tasks"]["done"], 1);
    assert_eq!(status["tasks"]["open"], 1);
    assert_eq!(status["workstreams"][0]["name"], "revenue");
    let human = env.orc(&["status"]).success().stdout;
    assert!(human.contains("revenue") && human.contains("agent-1") && human.contains("1/1 done"), "{human}");
}

#[test]
fn task_object_has_every_documented_field() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let task = env.orc(&["t", "add", "w", "title", "--json"]).success().json();
    for field in [
        "id",
        "workstream",
        "title",
        "description",
        "priority",
        "status",
        "claimed_by",
        "claimed_at",
        "lease_expires",
        "after",
        "result",
        "created_at",
        "created_by",
    ] {
        assert!(task.get(field).is_some(), "missing {field} in {task}");
    }
    assert_eq!(task["priority"], 3);
    assert_eq!(task["created_by"], "Test Person");
}

#[test]
fn each_operation_is_one_commit_with_a_trailer_and_an_event() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "one", &[]);
    let before = env.git(&["rev-list", "--count", "orc"]);
    env.orc(&["t", "claim", &id, "agent-1"]).success();
    assert_eq!(env.git(&["rev-list", "--count", "orc"]).parse::<u32>().unwrap(), before.parse::<u32>().unwrap() + 1);
    let message = env.git(&["log", "-1", "--format=%B", "orc"]);
    assert!(
        message.starts_with(&format!("orc: claim {id} (w) by agent-1\n\nOrc-Op: {{\"v\":1,\"id\":\"")),
        "{message}"
    );
    assert!(message.contains("\"op\":\"task.claim\""), "{message}");
    // The trailer records the operation's whole input, so it can be checked
    // again on another machine's tip.
    let trailer: serde_json::Value =
        serde_json::from_str(message.lines().find_map(|l| l.strip_prefix("Orc-Op: ")).unwrap()).unwrap();
    assert_eq!(trailer["input"], serde_json::json!({"agent": "agent-1", "task": id}));
    let events = env.show(&format!(
        "events/{}/agent-1/000001.jsonl",
        env.git(&["log", "-1", "--format=%ad", "--date=format:%Y/%m/%d", "orc"])
    ));
    let last: serde_json::Value = serde_json::from_str(events.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "task.claim");
    assert_eq!(last["data"]["task"], id.as_str());
    // The claiming agent was seen, and registered on the fly.
    let agents = env.orc(&["a", "list", "--json"]).success().json();
    assert_eq!(agents[0]["id"], "agent-1");
    assert_eq!(agents[0]["stale"], false);
}

#[test]
fn next_takes_priority_then_age_and_respects_dependencies() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let at = |t: &str| vec![("ORC_NOW", format!("2026-11-21T10:00:0{t}Z"))];
    let add = |title: &str, t: &str, extra: &[&str]| {
        let mut args = vec!["t", "add", "w", title];
        args.extend_from_slice(extra);
        args.push("--json");
        let envs = at(t);
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.orc_with(&envs, &args).success().json()["id"].as_str().unwrap().to_string()
    };
    let old_low = add("old low", "1", &["", "5"]);
    let first = add("first", "2", &["", "1"]);
    let second = add("second", "3", &["", "1"]);
    let after_first = add("after first", "4", &["", "1", "--after", &first]);

    let ready: Vec<String> = env
        .orc(&["ready", "w", "--json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ready, vec![first.clone(), second.clone(), old_low.clone()]);

    let claim = |agent: &str| {
        env.orc(&["t", "next", "w", agent, "--json"]).success().json()["id"].as_str().unwrap().to_string()
    };
    assert_eq!(claim("a1"), first);
    assert_eq!(claim("a2"), second);
    // `after first` is blocked until `first` is done, so the low one comes next.
    let blocked = env.orc(&["t", "show", &after_first, "--json"]).success().json();
    assert_eq!(blocked["blocked_by"][0]["id"], first.as_str());
    env.orc(&["--agent", "a3", "t", "claim", &after_first]).code(1);
    env.orc(&["t", "complete", &first, "ok", "--agent", "a1"]).success();
    assert_eq!(claim("a3"), after_first);
    assert_eq!(claim("a4"), old_low);
    let nothing = env.orc(&["t", "next", "w", "a5", "--json"]).code(1);
    assert_eq!(nothing.error_kind(), "nothing_ready");
}

#[test]
fn cancelled_dependency_is_visible_on_its_dependents() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let dep = env.add_task("w", "dep", &[]);
    let child = env.add_task("w", "child", &["--after", &dep]);
    env.orc(&["t", "cancel", &dep, "not needed"]).success();
    let shown = env.orc(&["t", "show", &child, "--json"]).success().json();
    assert_eq!(shown["blocked_by"][0]["status"], "cancelled");
    assert!(env.orc(&["t", "list", "w"]).success().stdout.contains(&format!("blocked by {dep} (cancelled)")));
    let doctor = env.orc(&["doctor", "--json"]).json();
    assert!(doctor["problems"].as_array().unwrap().iter().any(|p| p["kind"] == "cancelled_dependency"), "{doctor}");
}

#[test]
fn complete_after_cancel_is_refused_and_changes_nothing() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    env.orc(&["t", "claim", &id, "agent-1"]).success();
    env.orc(&["t", "cancel", &id]).success();
    let tip = env.tip();
    for args in [
        vec!["t", "complete", &id, "late", "--agent", "agent-1", "--json"],
        vec!["t", "fail", &id, "late", "--agent", "agent-1", "--json"],
        vec!["t", "complete", &id, "--json"],
        vec!["complete", &id, "--json"],
    ] {
        let refused = env.orc(&args).code(1);
        assert_eq!(refused.error_kind(), "terminal", "{refused}");
    }
    assert_eq!(env.tip(), tip);
    assert_eq!(env.orc(&["t", "show", &id, "--json"]).success().json()["status"], "cancelled");
}

#[test]
fn complete_after_the_claim_was_reclaimed_is_refused() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    let t0 = [("ORC_NOW", "2026-11-21T10:00:00Z")];
    let t1 = [("ORC_NOW", "2026-11-21T11:00:00Z")];
    let claimed = env.orc_with(&t0, &["t", "claim", &id, "agent-1", "--json"]).success().json();
    assert_eq!(claimed["claim_token"], 1);
    // An hour later agent-1 is silent: its 30m lease (+2m grace) ran out.
    let taken = env.orc_with(&t1, &["t", "next", "w", "agent-2", "--json"]).success().json();
    assert_eq!(taken["id"], id.as_str());
    assert_eq!(taken["claimed_by"], "agent-2");
    assert_eq!(taken["claim_token"], 2);
    let log = env.git(&["log", "-1", "--format=%s", "orc"]);
    assert_eq!(log, format!("orc: reclaim {id} (w) by agent-2"));
    let events = env.show("events/2026/11/21/agent-2/000001.jsonl");
    assert!(events.contains("\"type\":\"task.reclaim\"") && events.contains("\"from\":\"agent-1\""), "{events}");

    let tip = env.tip();
    let late = env.orc_with(&t1, &["t", "complete", &id, "mine", "--agent", "agent-1", "--json"]).code(1);
    assert_eq!(late.error_kind(), "not_holder");
    let stale = env.orc_with(&t1, &["complete", &id, "--token", "1", "--agent", "agent-2", "--json"]).code(1);
    assert_eq!(stale.error_kind(), "stale_token");
    assert_eq!(env.tip(), tip, "refusals write nothing");
    env.orc_with(&t1, &["complete", &id, "--token", "2", "--agent", "agent-2"]).success();
}

#[test]
fn heartbeats_keep_a_claim_alive() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    env.orc_with(&[("ORC_NOW", "2026-11-21T10:00:00Z")], &["t", "claim", &id, "agent-1"]).success();
    env.orc_with(&[("ORC_NOW", "2026-11-21T10:25:00Z")], &["a", "heartbeat", "agent-1"]).success();
    let busy = env.orc_with(&[("ORC_NOW", "2026-11-21T10:40:00Z")], &["t", "claim", &id, "agent-2", "--json"]).code(1);
    assert_eq!(busy.error_kind(), "already_claimed");
    assert_eq!(busy.json()["error"]["claimed_by"], "agent-1");
    let listed = env.orc_with(&[("ORC_NOW", "2026-11-21T10:40:00Z")], &["a", "list", "--json"]).success().json();
    assert_eq!(listed[0]["stale"], true, "no heartbeat for 15m is stale: {listed}");
    env.orc_with(&[("ORC_NOW", "2026-11-21T11:00:00Z")], &["t", "claim", &id, "agent-2"]).success();
}

#[test]
fn release_and_retry_put_tasks_back() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    env.orc(&["t", "claim", &id, "agent-1"]).success();
    let other = env.orc(&["t", "release", &id, "--agent", "agent-2", "--json"]).code(1);
    assert_eq!(other.error_kind(), "not_holder");
    env.orc(&["t", "release", "w", &id, "--agent", "agent-1"]).success();
    env.orc(&["t", "next", "w", "agent-2"]).success();
    env.orc(&["fail", &id, "flaky", "--agent", "agent-2"]).success();
    assert_eq!(env.orc(&["t", "next", "w", "agent-3", "--json"]).code(1).error_kind(), "nothing_ready");
    env.orc(&["t", "retry", &id]).success();
    let task = env.orc(&["claim", "--agent", "agent-3", "--json"]).success().json();
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["claim_token"], 3, "claims by agent-1, agent-2 and agent-3");
}

#[test]
fn top_level_claim_takes_the_best_across_workstreams() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "low", "", "5"]).success();
    env.orc(&["ws", "create", "high", "", "1"]).success();
    env.add_task("low", "urgent but low stream", &["", "1"]);
    let best = env.add_task("high", "normal in high stream", &["", "4"]);
    let task = env.orc_with(&[("ORC_AGENT", "env-agent")], &["claim", "--json"]).success().json();
    assert_eq!(task["id"], best.as_str());
    assert_eq!(task["claimed_by"], "env-agent");
}

#[test]
fn agent_identity_comes_from_flag_env_or_git_config() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    for _ in 0..3 {
        env.add_task("w", "x", &[]);
    }
    let missing = env.orc(&["next", "w"]).code(2);
    assert!(
        missing.stderr.contains("no agent is set") && missing.stderr.contains("hint: pass --agent NAME"),
        "{missing}"
    );
    assert_eq!(env.orc(&["next", "w", "--json"]).code(2).error_kind(), "no_agent");
    assert_eq!(env.orc(&["next", "w", "--agent", "flag", "--json"]).success().json()["claimed_by"], "flag");
    assert_eq!(
        env.orc_with(&[("ORC_AGENT", "from-env")], &["next", "w", "--json"]).success().json()["claimed_by"],
        "from-env"
    );
    env.git(&["config", "orc.agent", "from-config"]);
    assert_eq!(env.orc(&["next", "w", "--json"]).success().json()["claimed_by"], "from-config");
}

#[test]
fn idempotency_key_applies_once_and_returns_the_first_result() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let first = env.orc(&["t", "add", "w", "once", "--idempotency-key", "k1", "--json"]).success().json();
    let tip = env.tip();
    let again = env.orc(&["t", "add", "w", "once", "--idempotency-key", "k1", "--json"]).success().json();
    assert_eq!(first, again);
    assert_eq!(env.tip(), tip, "a repeat writes nothing");
    let misuse = env.orc(&["ws", "create", "other", "--idempotency-key", "k1", "--json"]).code(2);
    assert_eq!(misuse.error_kind(), "key_reused");
    // A claim repeated with its key reports the same win, not `already_claimed`.
    let id = first["id"].as_str().unwrap();
    let won = env.orc(&["t", "claim", id, "a1", "--idempotency-key", "c1", "--json"]).success().json();
    let repeat = env.orc(&["t", "claim", id, "a1", "--idempotency-key", "c1", "--json"]).success().json();
    assert_eq!(won["claim_token"], repeat["claim_token"]);
}

/// Whether a process is blocked in a sleep, as Linux reports it: state `S`
/// in /proc/<pid>/stat, and a `*nanosleep` wait channel when the kernel
/// names it ("0" when it does not). Returns the raw facts for messages.
fn asleep(pid: u32) -> (bool, String) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: the state
    // follows the last `)`.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or("?").to_string();
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let sleeping = state == "S" && (wchan.contains("sleep") || wchan == "0");
    (sleeping, format!("state {state}, wchan {wchan:?}"))
}

#[test]
fn wait_returns_when_the_task_finishes() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    // A claim is not the end: the waiter must keep waiting through it.
    env.orc(&["t", "claim", &id, "a1"]).success();
    let timeout = env.orc(&["wait", &id, "--timeout", "1s", "--json"]).code(1);
    assert_eq!(timeout.error_kind(), "timeout");

    let mut waiter = env
        .orc_command(&["wait", &id, "--timeout", "60s", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `orc wait` sleeps only between reads of the branch, so once it is seen
    // asleep it has read the claimed task and decided to keep waiting. A
    // wait that returned at once, or on a claim, exits instead.
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = waiter.try_wait().unwrap() {
            let out = waiter.wait_with_output().unwrap();
            panic!(
                "orc wait returned before the task finished ({status}):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (sleeping, facts) = asleep(waiter.id());
        if sleeping {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "orc wait never went to sleep: {facts}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(waiter.try_wait().unwrap().is_none(), "still waiting after reading the claimed task");
    let result = format!("finished after the waiter read the claim ({})", waiter.id());
    env.orc(&["t", "complete", &id, &result, "--agent", "a1"]).success();
    let out = waiter.wait_with_output().unwrap();
    let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "orc wait failed ({}):\n{shown}", out.status);
    let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["status"], "done");
    // The completion that happened while it waited, not an older state.
    assert_eq!(task["result"], result.as_str(), "{task}");

    let failing = env.add_task("w", "y", &[]);
    env.orc(&["t", "fail", &failing, "broken build"]).success();
    let failed = env.orc(&["wait", &failing, "--json"]).code(1);
    assert_eq!(failed.error_kind(), "task_failed");
}

#[test]
fn unique_prefixes_are_accepted() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    let shown = env.orc(&["t", "show", &id[..7].to_uppercase(), "--json"]).success().json();
    assert_eq!(shown["id"], id.as_str());
    let bare = env.orc(&["t", "show", &id[2..8], "--json"]).success().json();
    assert_eq!(bare["id"], id.as_str());
}

#[test]
fn workstreams_list_and_show() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "b", "second", "2"]).success();
    env.orc(&["ws", "create", "a", "first", "1"]).success();
    let id = env.add_task("a", "x", &[]);
    env.orc(&["t", "complete", &id]).success();
    env.add_task("a", "y", &[]);
    let list = env.orc(&["ws", "list", "--json"]).success().json();
    assert_eq!(list[0]["name"], "a");
    assert_eq!(list[0]["tasks"]["done"], 1);
    assert_eq!(list[0]["tasks"]["total"], 2);
    let show = env.orc(&["ws", "show", "a", "--json"]).success().json();
    assert_eq!(show["task_list"].as_array().unwrap().len(), 2);
    assert_eq!(env.orc(&["ws", "create", "a", "--json"]).code(1).error_kind(), "already_exists");
    assert_eq!(env.orc(&["t", "add", "nope", "x", "--json"]).code(2).error_kind(), "not_found");
}

#[test]
fn add_from_a_file_adds_every_row_in_one_commit_in_order() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let existing = env.add_task("api", "already there", &[]);
    let before = env.git(&["rev-list", "--count", "orc"]);
    let file = env.root.join("tasks.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"ws\": \"api\", \"title\": \"design\", \"priority\": 1}}\n\n{{\"workstream\": \"api\", \"title\": \"build\", \"description\": \"after the design\", \"after\": [\"#1\", \"{}\"]}}\n{{\"ws\": \"api\", \"title\": \"ship\", \"after\": \"#2\"}}\n",
            &existing[..6]
        ),
    )
    .unwrap();
    let run = env.orc(&["t", "add", "--from", file.to_str().unwrap()]).success();
    let ids: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(ids.len(), 3, "{run}");
    let after = env.git(&["rev-list", "--count", "orc"]);
    assert_eq!(after.parse::<u32>().unwrap(), before.parse::<u32>().unwrap() + 1, "one commit for the file");
    let show = |id: &str| env.orc(&["t", "show", id, "--json"]).success().json();
    assert_eq!(show(ids[0])["title"], "design");
    assert_eq!(show(ids[0])["priority"], 1);
    assert_eq!(show(ids[1])["after"], serde_json::json!([ids[0], existing]));
    assert_eq!(show(ids[2])["after"], serde_json::json!([ids[1]]));

    // CSV, with quoting, from standard input.
    let csv = "ws,title,description,priority,after\napi,\"quoted, with a comma\",\"two\nlines\",2,\n";
    let mut cmd = env.orc_command(&["t", "add", "--from", "-", "--json"]);
    let csv_path = env.root.join("more.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let run = crate::common::Run::from(cmd.stdin(std::fs::File::open(&csv_path).unwrap()).output().unwrap());
    // `-` is JSON Lines: CSV needs the .csv name.
    assert_eq!(run.code, 2, "{run}");
    let run = env.orc(&["t", "add", "--from", csv_path.to_str().unwrap(), "--json"]).success();
    let added = run.json();
    assert_eq!(added[0]["title"], "quoted, with a comma");
    assert_eq!(added[0]["description"], "two\nlines");
}

#[test]
fn add_from_a_file_with_one_bad_row_writes_nothing_and_names_the_line() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let tip = env.tip();
    let file = env.root.join("tasks.jsonl");
    for (rows, line, kind) in [
        (
            "{\"ws\": \"api\", \"title\": \"ok\"}\n{\"ws\": \"api\", \"title\": \"bad\", \"priority\": 12}\n",
            "line 2",
            "invalid_input",
        ),
        ("{\"ws\": \"api\", \"title\": \"ok\"}\n{\"ws\": \"../x\", \"title\": \"bad\"}\n", "line 2", "invalid_name"),
        (
            "{\"ws\": \"api\", \"title\": \"waits\", \"after\": \"#2\"}\n{\"ws\": \"api\", \"title\": \"later\"}\n",
            "line 1",
            "invalid_input",
        ),
        ("{\"ws\": \"api\", \"title\": \"ok\"}\nnot json\n", "line 2", "invalid_input"),
    ] {
        std::fs::write(&file, rows).unwrap();
        let run = env.orc(&["t", "add", "--from", file.to_str().unwrap(), "--json"]);
        assert_eq!(run.code, 2, "{rows}: {run}");
        assert_eq!(run.error_kind(), kind, "{rows}");
        assert!(run.json()["error"]["message"].as_str().unwrap().starts_with(line), "{run}");
        assert_eq!(env.tip(), tip, "nothing written for {rows}");
    }
    // A workstream that does not exist refuses the whole file too.
    std::fs::write(&file, "{\"ws\": \"api\", \"title\": \"ok\"}\n{\"ws\": \"nope\", \"title\": \"x\"}\n").unwrap();
    env.orc(&["t", "add", "--from", file.to_str().unwrap()]).code(2);
    assert_eq!(env.tip(), tip);
}
