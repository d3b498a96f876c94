//! Issue 13, "Small things users hit": bare id prefixes in the seed's
//! `[ws] <id> [text]`, removing agents, archiving workstreams, editing
//! tasks, one priority message, `t show` after a retry, `kb read` on a
//! terminal, and agents named twice.

use crate::common::TestEnv;

const PRIORITY_RANGE: &str = "priority must be 1 (highest) to 9 (lowest)";

fn env_with_ws(ws: &str) -> TestEnv {
    let env = TestEnv::new();
    env.orc(&["ws", "create", ws]).success();
    env
}

/// The part of a task id after `t-`, as people type it.
fn bare(id: &str, len: usize) -> &str {
    &id[2..2 + len]
}

#[test]
fn issue13_a_bare_id_prefix_is_the_task_not_a_workstream() {
    let env = env_with_ws("revenue");
    let id = env.add_task("revenue", "x", &[]);
    let claimed = env.orc(&["t", "claim", bare(&id, 4), "agent-1", "--json"]).success().json();
    assert_eq!(claimed["claimed_by"], "agent-1");
    let done = env.orc(&["t", "complete", bare(&id, 4), "result", "--agent", "agent-1", "--json"]).success().json();
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"], "result");

    // A prefix that matches nothing says so, instead of "no workstream".
    let other = env.add_task("revenue", "y", &[]);
    let missing = if bare(&other, 1) == "z" { "yyyy" } else { "zzzz" };
    let err = env.orc(&["t", "fail", missing, "why", "--json"]).code(2);
    assert_eq!(err.error_kind(), "not_found");
    assert!(err.json()["error"]["message"].as_str().unwrap().contains("no task matches"), "{err}");
    // The seed's `<ws> <id>` still reads as before.
    env.orc(&["t", "cancel", "revenue", &other]).success();
}

#[test]
fn issue13_a_prefix_that_is_also_a_workstream_is_refused_unless_the_id_settles_it() {
    let env = env_with_ws("w");
    let id = env.add_task("w", "x", &[]);
    let prefix = bare(&id, 3).to_string();
    env.orc(&["ws", "create", &prefix]).success();
    // `<prefix> <text>`: a workstream, or the task and its result: refused.
    let err = env.orc(&["t", "complete", &prefix, "result", "--json"]).code(2);
    assert_eq!(err.error_kind(), "ambiguous_id");
    let message = err.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("names a workstream") && message.contains(&id), "{message}");
    assert!(env.orc(&["t", "show", &id, "--json"]).success().json()["status"] == "open");
    // `<ws> <id of a task there>` is the seed's form.
    let there = env.add_task(&prefix, "y", &[]);
    let done = env.orc(&["t", "complete", &prefix, &there, "--json"]).success().json();
    assert_eq!(done["id"], there.as_str());
    // With its t- the id is never a workstream.
    env.orc(&["t", "complete", &format!("t-{prefix}"), "result"]).success();
}

#[test]
fn issue13_priority_errors_say_one_thing() {
    let env = env_with_ws("w");
    let id = env.add_task("w", "x", &[]);
    for args in [
        vec!["t", "add", "w", "title", "desc", "0"],
        vec!["t", "add", "w", "title", "desc", "300"],
        vec!["t", "add", "w", "title", "desc", "high"],
        vec!["ws", "create", "v", "desc", "12"],
        vec!["ws", "create", "v", "desc", "x"],
        vec!["t", "edit", &id, "--priority", "10"],
        vec!["t", "edit", &id, "--priority", "256"],
    ] {
        let run = env.orc(&args).code(2);
        assert!(run.stderr.contains(PRIORITY_RANGE), "{args:?}:\n{run}");
        let mut json = args.clone();
        json.push("--json");
        let run = env.orc(&json).code(2);
        assert!(run.json()["error"]["message"].as_str().unwrap().contains(PRIORITY_RANGE), "{json:?}:\n{run}");
        assert_eq!(run.error_kind(), "invalid_input", "{json:?}");
    }
}

#[test]
fn issue13_a_rm_removes_a_mistyped_agent_and_refuses_a_busy_one() {
    let env = env_with_ws("w");
    env.add_task("w", "x", &[]);
    env.orc(&["a", "heartbeat", "--agent", "agnet-1"]).success();
    let removed = env.orc(&["a", "rm", "agnet-1", "--json"]).success().json();
    assert_eq!(removed["id"], "agnet-1");
    let agents = env.orc(&["a", "list", "--json"]).success().json();
    assert!(agents.as_array().unwrap().iter().all(|a| a["id"] != "agnet-1"), "{agents}");
    let plan = env.orc(&["plan"]).success();
    assert!(!plan.stdout.contains("agnet-1"), "{plan}");
    assert_eq!(env.orc(&["a", "rm", "agnet-1", "--json"]).code(2).error_kind(), "not_found");

    let id = env.orc(&["next", "--agent", "agent-1", "--json"]).success().json()["id"].as_str().unwrap().to_string();
    let busy = env.orc(&["a", "rm", "agent-1", "--json"]).code(1);
    assert_eq!(busy.error_kind(), "agent_busy");
    assert!(busy.json()["error"]["message"].as_str().unwrap().contains(&id), "{busy}");
    let text = env.orc(&["a", "rm", "agent-1"]).code(1);
    assert!(text.stderr.contains(&format!("error: cannot remove agent agent-1: it holds claims on {id}")), "{text}");

    env.orc(&["lock", "acquire", "deploy", "--agent", "agent-2"]).success();
    let locked = env.orc(&["a", "rm", "agent-2", "--json"]).code(1);
    assert_eq!(locked.error_kind(), "agent_busy");
    assert!(locked.json()["error"]["message"].as_str().unwrap().contains("locks on deploy"), "{locked}");
    env.orc(&["lock", "release", "deploy", "--agent", "agent-2"]).success();
    env.orc(&["a", "rm", "agent-2"]).success();
}

#[test]
fn issue13_an_archived_workstream_is_kept_but_offers_nothing() {
    let env = env_with_ws("old");
    env.orc(&["ws", "create", "live"]).success();
    let kept = env.add_task("old", "kept", &[]);
    let claimed = env.add_task("old", "in flight", &[]);
    env.orc(&["t", "claim", &claimed, "agent-1"]).success();
    let archived = env.orc(&["ws", "archive", "old", "--json"]).success().json();
    assert_eq!(archived["archived"], true);

    let ready = env.orc(&["ready", "--json"]).success().json();
    assert!(ready.as_array().unwrap().is_empty(), "{ready}");
    assert_eq!(env.orc(&["next", "--agent", "agent-2", "--json"]).code(1).error_kind(), "nothing_ready");
    assert_eq!(env.orc(&["next", "old", "--agent", "agent-2", "--json"]).code(1).error_kind(), "archived");
    assert_eq!(env.orc(&["claim", &kept, "--agent", "agent-2", "--json"]).code(1).error_kind(), "archived");
    let status = env.orc(&["status", "--json"]).success().json();
    let names: Vec<&str> =
        status["workstreams"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["live"], "{status}");
    assert!(!env.orc(&["plan"]).success().stdout.contains(&kept));
    // Kept: shown by id and by name, and in `ws list`, marked.
    assert_eq!(env.orc(&["t", "show", &kept, "--json"]).success().json()["status"], "open");
    assert!(env.orc(&["ws", "list"]).success().stdout.contains("(archived)"));
    // Closed to new tasks; work in flight can finish.
    let add = env.orc(&["t", "add", "old", "new", "--json"]).code(1);
    assert_eq!(add.error_kind(), "archived");
    env.orc(&["t", "complete", &claimed, "--agent", "agent-1"]).success();

    env.orc(&["ws", "archive", "old", "--restore"]).success();
    let ready = env.orc(&["ready", "--json"]).success().json();
    assert_eq!(ready[0]["id"], kept.as_str());
}

#[test]
fn issue13_t_edit_changes_a_task_and_checks_like_t_add() {
    let env = env_with_ws("w");
    let a = env.add_task("w", "a", &[]);
    let b = env.add_task("w", "b", &[]);
    let c = env.add_task("w", "c", &[]);
    let edited = env
        .orc(&["t", "edit", &b, "--title", "B", "--description", "more", "--priority", "1", "--after", bare(&a, 6)])
        .success();
    let shown = env.orc(&["t", "show", &b, "--json"]).success().json();
    assert_eq!((shown["title"].as_str(), shown["description"].as_str()), (Some("B"), Some("more")), "{edited}");
    assert_eq!(shown["priority"], 1);
    assert_eq!(shown["after"], serde_json::json!([a]));

    // a ← b ← c, so a may not wait for c (nor for itself).
    env.orc(&["t", "edit", &c, "--after", &b]).success();
    let cycle = env.orc(&["t", "edit", &a, "--after", &c, "--json"]).code(1);
    assert_eq!(cycle.error_kind(), "dependency_cycle");
    let message = cycle.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains(&format!("{a} → {c} → {b} → {a}")), "{message}");
    assert_eq!(env.orc(&["t", "edit", &a, "--after", &a, "--json"]).code(1).error_kind(), "dependency_cycle");
    assert_eq!(env.orc(&["t", "edit", &a, "--after", "t-zzzzzzzzzz", "--json"]).code(2).error_kind(), "not_found");
    assert_eq!(env.orc(&["t", "edit", &a, "--json"]).code(2).error_kind(), "invalid_input");
    assert_eq!(env.orc(&["t", "edit", &a, "--title", " ", "--json"]).code(2).error_kind(), "invalid_input");

    env.orc(&["t", "edit", &c, "--no-after"]).success();
    assert_eq!(env.orc(&["t", "show", &c, "--json"]).success().json()["after"], serde_json::json!([]));
    env.orc(&["t", "complete", &a]).success();
    env.orc(&["t", "cancel", &c]).success();
    for done in [&a, &c] {
        let refused = env.orc(&["t", "edit", done, "--title", "late", "--json"]).code(1);
        assert_eq!(refused.error_kind(), "terminal");
    }
}

#[test]
fn issue13_t_show_lists_resources_and_drops_the_failure_reason_on_retry() {
    let env = env_with_ws("w");
    let id = env.add_task("w", "x", &["--resource", "db", "--resource", "api"]);
    let shown = env.orc(&["t", "show", &id]).success();
    assert!(shown.stdout.contains("  resources   db, api\n"), "{shown}");

    env.orc(&["t", "claim", &id, "agent-1"]).success();
    env.orc(&["t", "fail", &id, "boom", "--agent", "agent-1"]).success();
    env.orc(&["t", "retry", &id]).success();
    let json = env.orc(&["t", "show", &id, "--json"]).success().json();
    assert_eq!(json["status"], "open");
    assert_eq!(json["result"], serde_json::Value::Null);
    assert!(!env.orc(&["t", "show", &id]).success().stdout.contains("boom"));
}

#[test]
fn issue13_kb_read_is_exact_when_piped_and_ends_its_line_on_a_terminal() {
    let env = TestEnv::new();
    env.orc(&["kb", "write", "t", "no final newline"]).success();
    assert_eq!(env.orc(&["kb", "read", "t"]).success().stdout, "no final newline");
    env.orc(&["kb", "write", "u", "one\n"]).success();
    assert_eq!(env.orc(&["kb", "read", "u"]).success().stdout, "one\n");

    // A terminal, through util-linux `script` (a pseudo-terminal on stdout).
    let orc = crate::common::ORC;
    let out = env
        .command("script", &env.repo)
        .args(["-qec", &format!("{orc} kb read t; printf END"), "/dev/null"])
        .output()
        .expect("util-linux script runs");
    let shown = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(shown.ends_with("no final newline\nEND"), "{shown:?}");
}

#[test]
fn issue13_an_agent_named_twice_is_refused() {
    let env = env_with_ws("w");
    let id = env.add_task("w", "x", &[]);
    let tip = env.tip();
    for args in [
        vec!["t", "claim", &id, "agent-1", "--agent", "agent-2"],
        vec!["t", "claim", "w", &id, "agent-1", "--agent", "agent-2"],
        vec!["t", "next", "w", "agent-1", "--agent", "agent-2"],
        vec!["a", "heartbeat", "agent-1", "--agent", "agent-2"],
    ] {
        let run = env.orc(&args).code(2);
        assert!(
            run.stderr.contains("two agents given: agent-1 as an argument and --agent agent-2"),
            "{args:?}:\n{run}"
        );
        let mut json = args.clone();
        json.push("--json");
        assert_eq!(env.orc(&json).code(2).error_kind(), "usage");
    }
    assert_eq!(env.tip(), tip, "a refused command wrote nothing");
    // The same agent twice is no conflict.
    let claimed = env.orc(&["t", "claim", &id, "agent-1", "--agent", "agent-1", "--json"]).success().json();
    assert_eq!(claimed["claimed_by"], "agent-1");
}
