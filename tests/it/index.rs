//! The task index (`.git/orc/index`): `status`, `ready`, `next` and the
//! open/claimed listings read it instead of every task. Whatever happened
//! to the board, what they say must equal what the whole board says, and
//! what an index built from scratch says.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::TestEnv;

/// What the index-backed reads say, in their own order.
fn through_index(env: &TestEnv) -> Value {
    let status = env.orc(&["--json", "status"]).success().json();
    let ids =
        |v: &Value| v.as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    json!({
        "tasks": status["tasks"],
        "workstreams": status["workstreams"],
        "ready_count": status["ready_count"],
        "ready_shown": ids(&status["ready"]),
        "claimed": ids(&status["claimed"]),
        "ready": ids(&env.orc(&["--json", "ready", "--all"]).success().json()),
        "ready_3": ids(&env.orc(&["--json", "ready", "--limit", "3"]).success().json()),
        "open": ids(&env.orc(&["--json", "t", "list", "--status", "open"]).success().json()),
        "claimed_list": ids(&env.orc(&["--json", "t", "list", "--status", "claimed"]).success().json()),
    })
}

/// Checks the index-backed reads against the whole board (`t list`, which
/// reads every task) and against an index rebuilt from nothing.
#[track_caller]
fn check(env: &TestEnv) -> Value {
    let kept = through_index(env);
    let all = env.orc(&["--json", "t", "list"]).success().json();
    let all = all.as_array().unwrap();
    let with = |status: &str| -> BTreeSet<String> {
        all.iter().filter(|t| t["status"] == status).map(|t| t["id"].as_str().unwrap().to_string()).collect()
    };
    let ready: BTreeSet<String> = all
        .iter()
        .filter(|t| t["status"] == "open" && t["blocked_by"].as_array().unwrap().is_empty())
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let set =
        |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect::<BTreeSet<_>>();
    assert_eq!(set(&kept["ready"]), ready, "ready against the whole board");
    assert_eq!(kept["ready_count"], ready.len(), "ready count against the whole board");
    assert_eq!(set(&kept["open"]), with("open"), "open tasks against the whole board");
    assert_eq!(set(&kept["claimed_list"]), with("claimed"), "claimed tasks against the whole board");
    for status in ["open", "claimed", "done", "failed", "cancelled"] {
        assert_eq!(kept["tasks"][status], with(status).len(), "{status} count against the whole board");
    }
    let ready_order: Vec<Value> = kept["ready"].as_array().unwrap().iter().take(3).cloned().collect();
    assert_eq!(kept["ready_3"], Value::Array(ready_order), "--limit takes the best first");

    std::fs::remove_dir_all(env.repo.join(".git/orc/index")).unwrap();
    assert_eq!(through_index(env), kept, "an index kept up to date says what one built from scratch says");
    kept
}

fn rows(ws: &str, count: usize, priority: impl Fn(usize) -> u8, after: impl Fn(usize) -> Option<usize>) -> String {
    (1..=count)
        .map(|i| {
            let after = after(i).map_or(String::new(), |a| format!(", \"after\": \"#{a}\""));
            format!("{{\"ws\": \"{ws}\", \"title\": \"{ws} {i}\", \"priority\": {}{after}}}\n", priority(i))
        })
        .collect()
}

fn add_rows(env: &TestEnv, text: &str) -> Vec<String> {
    let file = env.root.join("rows.jsonl");
    std::fs::write(&file, text).unwrap();
    env.orc(&["t", "add", "--from", file.to_str().unwrap()]).success().stdout.lines().map(str::to_string).collect()
}

#[test]
fn the_index_agrees_with_the_whole_board_through_every_kind_of_change() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "big", "", "2"]).success();
    env.orc(&["ws", "create", "deps", "", "1"]).success();
    // Read first, so the 1,100 tasks below arrive as changes to an index
    // that exists (its buckets split as they fill), not as one rebuild.
    env.orc(&["status"]).success();
    let big = add_rows(&env, &rows("big", 1100, |i| (i % 5 + 1) as u8, |_| None));
    let deps = add_rows(&env, &rows("deps", 12, |_| 3, |i| (i % 3 == 0).then(|| i - 1)));
    let first = check(&env);
    assert_eq!(first["ready_count"], 1100 + 8);

    for i in 0..6 {
        env.orc(&["t", "next", "--agent", &format!("x{i}")]).success();
    }
    let claimed = check(&env)["claimed"].clone();
    let claimed: Vec<&str> = claimed.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(claimed.len(), 6);
    // Finish the claimed ones every way there is.
    let holder =
        |id: &str| env.orc(&["--json", "t", "show", id]).success().json()["claimed_by"].as_str().unwrap().to_string();
    env.orc(&["t", "complete", claimed[0], "--agent", &holder(claimed[0])]).success();
    env.orc(&["t", "complete", claimed[1], "--agent", &holder(claimed[1])]).success();
    env.orc(&["t", "fail", claimed[2], "broke", "--agent", &holder(claimed[2])]).success();
    env.orc(&["t", "release", claimed[3], "--agent", &holder(claimed[3])]).success();
    env.orc(&["t", "cancel", &big[700]]).success();
    env.orc(&["t", "cancel", &deps[5]]).success();
    check(&env);
    env.orc(&["t", "retry", claimed[2]]).success();
    // Dependencies finishing make their dependents ready.
    for id in [&deps[1], &deps[4]] {
        let task = env.orc(&["--json", "t", "show", id]).success().json();
        let agent = match task["status"].as_str() {
            Some("claimed") => task["claimed_by"].as_str().unwrap().to_string(),
            Some("open") => {
                env.orc(&["t", "claim", id, "--agent", "d1"]).success();
                "d1".to_string()
            }
            Some("done") => continue,
            other => panic!("{id} is {other:?}"),
        };
        env.orc(&["t", "complete", id, "--agent", &agent]).success();
    }
    let after = check(&env);
    assert!(after["ready"].as_array().unwrap().contains(&json!(deps[2])), "{after}");

    // Edits by hand: a task file broken, one deleted, one re-prioritised.
    let path = |id: &str| format!("workstreams/big/tasks/{}/{}/{id}.toml", &id[2..3], &id[3..4]);
    env.edit_branch_file(&path(&big[10]), "this is not toml = = =\n");
    let moved = env.show(&path(&big[20])) + "\n";
    let top = moved.lines().map(|l| if l.starts_with("priority") { "priority = 1" } else { l }).collect::<Vec<_>>();
    env.edit_branch_file(&path(&big[20]), &(top.join("\n") + "\n"));
    env.edit_branch_file("workstreams/big/tasks/zz/t-zz.toml", "title = \"not in a shard\"\n");
    let status = env.orc(&["status"]).success();
    assert!(status.stderr.contains(&path(&big[10])), "a broken task file is still reported: {status}");
    assert!(status.stderr.contains("workstreams/big/tasks/zz"), "a folder that is no shard is reported: {status}");
    check(&env);
    let rebuilt = env.orc(&["status"]).success();
    assert!(rebuilt.stderr.contains("workstreams/big/tasks/zz"), "and by a rebuilt index: {rebuilt}");

    // A damaged index is rebuilt, never trusted.
    let head = env.repo.join(".git/orc/index/big/head");
    std::fs::write(&head, "orc-task-index 1 0000\nnonsense\n").unwrap();
    check(&env);
    env.orc(&["status"]).success();
    let bucket = std::fs::read_dir(env.repo.join(".git/orc/index/big"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("b-"))
        .unwrap();
    std::fs::remove_file(bucket.path()).unwrap();
    let ready = env.orc(&["--json", "ready", "--limit", "1"]).success().json();
    assert_eq!(ready.as_array().unwrap().len(), 1);
    check(&env);
}

#[test]
fn ready_shows_the_best_hundred_and_says_how_many_more() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    add_rows(&env, &rows("w", 150, |i| if i == 150 { 1 } else { 3 }, |_| None));
    let run = env.orc(&["ready"]).success();
    assert_eq!(run.stdout.lines().count(), 100, "{run}");
    assert!(run.stdout.lines().next().unwrap().contains("w 150"), "the best first: {run}");
    assert!(run.stderr.contains("showing the best 100 of 150 ready tasks"), "{run}");
    let all = env.orc(&["--json", "ready", "--all"]).success();
    assert_eq!(all.json().as_array().unwrap().len(), 150);
    assert!(all.stderr.is_empty(), "{all}");
    env.orc(&["ready", "--limit", "0"]).code(2);
}

/// A claim's own commit leaves any index it saves one change behind, so a
/// claim only reads the index forward; the next report saves it. A claim
/// that had to read many changes saves them, so a run of claims with no
/// report between them does not read ever more.
#[test]
fn a_claim_saves_the_index_only_when_it_was_far_behind() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    add_rows(&env, &rows("w", 20, |_| 3, |_| None));
    env.orc(&["status"]).success();
    let head = env.repo.join(".git/orc/index/w/head");
    let saved = std::fs::read_to_string(&head).unwrap();

    env.orc(&["t", "add", "w", "the best", "", "1"]).success();
    let claimed = env.orc(&["--json", "t", "next", "w", "--agent", "a1"]).success().json();
    assert_eq!(claimed["title"], "the best", "the claim read the add it was behind by");
    assert_eq!(std::fs::read_to_string(&head).unwrap(), saved, "one change behind: the claim left the index alone");

    add_rows(&env, &rows("x", 8, |i| if i == 1 { 1 } else { 2 }, |_| None).replace("\"x\"", "\"w\""));
    let claimed = env.orc(&["--json", "t", "next", "w", "--agent", "a2"]).success().json();
    assert_eq!(claimed["title"], "x 1", "the claim read the eight adds it was behind by");
    assert_ne!(std::fs::read_to_string(&head).unwrap(), saved, "far behind: the claim saved what it read");
    check(&env);
}
