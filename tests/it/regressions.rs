//! Regression tests for the defects of issue 11 ("One correct core"), each
//! named after the defect. They drive real `orc` processes against a bare
//! remote, and synchronise with them through files the remote's git writes
//! (a wrapped receive-pack, a post-receive hook), never through sleeps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestEnv;

/// Waits until `path` exists, or fails the test after `limit`.
#[track_caller]
fn wait_for_file(path: &Path, limit: Duration, what: &str) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < limit, "{what}: {} did not appear within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit within `limit`; kills it and fails otherwise.
#[track_caller]
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not return within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A script that writes `mark`, waits (bounded) until `go` exists, then
/// runs `then`. Remote-side git runs it, so the test knows the exact moment.
fn gate_script(dir: &Path, name: &str, mark: &Path, go: &Path, then: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "#!/bin/sh\ntouch '{mark}'\ni=0\nwhile [ ! -f '{go}' ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done\n{then}\n",
        mark = mark.display(),
        go = go.display()
    );
    std::fs::write(&path, text).unwrap();
    let status = std::process::Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    assert!(status.success());
    path
}

/// Operation ids of every commit on `rev`, oldest first.
fn op_ids(env: &TestEnv, dir: &Path, rev: &str) -> Vec<String> {
    env.git_in(dir, &["log", "--reverse", "--format=%B", rev])
        .lines()
        .filter_map(|l| l.strip_prefix("Orc-Op: "))
        .map(|t| serde_json::from_str::<Value>(t).unwrap()["id"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_no_duplicate_ids(ids: &[String], where_: &str) {
    let mut seen = HashMap::new();
    for id in ids {
        *seen.entry(id).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "operation ids applied more than once on {where_}: {twice:?}");
}

/// Defect 1: `orc sync` replaying work made locally during its push took
/// the write queue it already held, and waited on itself forever.
#[test]
fn issue11_sync_replaying_local_work_made_during_its_push_does_not_deadlock() {
    let env = TestEnv::new();
    env.add_bare_remote();
    env.git(&["push", "-q", "origin", "main"]);
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["t", "add", "w", "before the sync"]).success();
    let (mark, go) = (env.root.join("pushing"), env.root.join("go"));
    let wrapper = gate_script(&env.root, "slow-receive-pack", &mark, &go, "exec git-receive-pack \"$@\"");
    env.git(&["config", "remote.origin.receivepack", wrapper.to_str().unwrap()]);

    let mut sync = env.orc_command(&["sync"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for_file(&mark, Duration::from_secs(30), "the sync's push");
    // A local write while the sync pushes: the sync must replay it on top.
    let added = env.orc(&["t", "add", "w", "during the push", "--local"]).success().stdout.trim().to_string();
    std::fs::write(&go, "").unwrap();
    let status = wait_within(&mut sync, Duration::from_secs(30), "orc sync");
    assert!(status.success(), "orc sync failed");
    env.orc(&["t", "show", &added]).success();
    // And every writer of the clone still gets the queue.
    env.orc(&["t", "add", "w", "after the sync", "--local"]).success();
}

/// Defect 2: a publishing command killed after its push landed, before the
/// local branch moved, left its commits "unpublished", and the next sync
/// applied them a second time (and an older knowledge write overwrote a
/// newer one).
#[test]
fn issue11_publish_killed_after_its_push_landed_is_applied_once() {
    let env = TestEnv::new();
    let (remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let task = env.add_task("w", "contested", &[]);
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    // Work that waits for the next push: a knowledge write and an event.
    env.orc(&["kb", "write", "design", "old text from a"]).success();
    env.orc(&["log", "note", "--agent", "a1"]).success();
    // The remote moves, so the claim's publish replays a's work as new
    // commits on top of it.
    env.orc_in(&b, &["t", "add", "w", "from b"]).success();
    env.orc_in(&b, &["sync"]).success();

    let (mark, go) = (env.root.join("landed"), env.root.join("go"));
    let hook = gate_script(&env.root, "post-receive", &mark, &go, "exit 0");
    std::fs::copy(&hook, remote.join("hooks/post-receive")).unwrap();
    let mut claim =
        env.orc_command(&["t", "claim", &task, "a1"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // post-receive runs once the remote's ref moved: the push has landed.
    wait_for_file(&mark, Duration::from_secs(30), "the claim's push");
    claim.kill().unwrap();
    claim.wait().unwrap();
    std::fs::remove_file(remote.join("hooks/post-receive")).unwrap();
    std::fs::write(&go, "").unwrap();

    // Another machine writes the topic anew, acknowledged by the remote.
    env.orc_in(&b, &["kb", "write", "design", "newer text from b"]).success();
    env.orc_in(&b, &["sync"]).success();

    env.orc(&["sync"]).success();
    let on_remote = op_ids(&env, &env.repo, "refs/remotes/origin/orc");
    assert_no_duplicate_ids(&on_remote, "the remote");
    assert_eq!(env.git(&["rev-parse", "orc"]), env.git(&["rev-parse", "refs/remotes/origin/orc"]));
    env.orc(&["sync"]).success();
    let bare = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%B", "orc"]);
    let bare_ids: Vec<String> = bare
        .lines()
        .filter_map(|l| l.strip_prefix("Orc-Op: "))
        .map(|t| serde_json::from_str::<Value>(t).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    assert_no_duplicate_ids(&bare_ids, "the bare remote");
    assert_eq!(env.orc(&["kb", "read", "design"]).success().stdout, "newer text from b");
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim")).count();
    assert_eq!(claims, 1, "one claim commit");
}

/// Defect 3: event data with the envelope's keys replaced them: the event
/// was replayed as a claim, dropped, or duplicated another operation's id.
#[test]
fn issue11_event_data_with_envelope_keys_cannot_forge_the_trailer() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let task = env.add_task("w", "target", &[]);
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    let forged = format!(
        r#"{{"op":"task.claim","task":"{task}","id":"01AAAAAAAAAAAAAAAAAAAAAAAA","by":"mallory","v":9,"input":{{"task":"{task}"}}}}"#
    );
    let logged = env.orc(&["log", "x", "--data", &forged, "--agent", "a1", "--json"]).success().json();
    let message = env.git(&["log", "-1", "--format=%B", "orc"]);
    let trailer: Value =
        serde_json::from_str(message.lines().find_map(|l| l.strip_prefix("Orc-Op: ")).unwrap()).unwrap();
    assert_eq!(trailer["op"], "event.log");
    assert_eq!(trailer["id"], logged["id"]);
    assert_eq!(trailer["by"], "a1");
    assert_eq!(trailer["v"], 1);
    assert_eq!(trailer["input"]["data"]["op"], "task.claim", "the data is nested, kept whole");

    // b moves the remote, so a's event is replayed on top: as an event.
    env.orc_in(&b, &["t", "add", "w", "from b"]).success();
    env.orc_in(&b, &["sync"]).success();
    env.orc(&["sync"]).success();
    let shown = env.orc(&["t", "show", &task, "--json"]).success().json();
    assert_eq!(shown["status"], "open", "no claim was forged: {shown}");
    let events = env.orc(&["events", "--type", "x", "--json"]).success().json();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events[0]["id"], logged["id"]);
    assert_eq!(events[0]["data"]["id"], "01AAAAAAAAAAAAAAAAAAAAAAAA");
    let ids = op_ids(&env, &env.repo, "orc");
    assert_no_duplicate_ids(&ids, "the branch");
}

/// Defect 4: an operation built from JSON skipped the checks of `new()`; a
/// recorded `ws.create` named `a/b` wrote `workstreams/a/b/`.
#[test]
fn issue11_an_invalid_operation_built_from_json_is_refused() {
    use orc::ops::task::AddTask;
    use orc::ops::workstream::CreateWorkstream;
    let bad = serde_json::from_str::<CreateWorkstream>(r#"{"name":"a/b","description":"","priority":42}"#);
    assert!(bad.unwrap_err().to_string().contains("invalid workstream name"));
    let bad = serde_json::from_str::<CreateWorkstream>(r#"{"name":"ok","description":"","priority":42}"#);
    assert!(bad.unwrap_err().to_string().contains("priority must be 1 (highest) to 9 (lowest), not 42"));
    let traversal =
        r#"{"workstream":"w","title":"t","description":"","priority":1,"after":[],"resources":[],"id":"t-../../x"}"#;
    assert!(serde_json::from_str::<AddTask>(traversal).is_err());

    // The same operation recorded in a commit (as a hostile or broken tool
    // would write it) is refused at replay, and nothing lands.
    let env = TestEnv::new();
    let (remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    let tree = env.git(&["rev-parse", "orc^{tree}"]);
    let trailer = r#"Orc-Op: {"v":1,"id":"01KZZZZZZZZZZZZZZZZZZZZZZZ","op":"ws.create","by":"x","as":"person","at":"2026-11-21T10:04:05Z","input":{"name":"a/b","description":"","priority":42}}"#;
    let forged =
        env.git(&["commit-tree", &tree, "-p", "orc", "-m", &format!("orc: create workstream a/b\n\n{trailer}")]);
    env.git(&["update-ref", "refs/heads/orc", &forged]);
    env.orc_in(&b, &["t", "add", "w", "moves the remote"]).success();
    env.orc_in(&b, &["sync"]).success();
    let synced = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(synced["dropped"][0]["kind"], "invalid_input", "{synced}");
    let listing =
        env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "ls-tree", "-r", "--name-only", "orc"]);
    assert!(!listing.contains("workstreams/a/"), "{listing}");
}

/// Defect 5: a keyed publishing command that replayed earlier local work
/// stamped its key on every replayed commit; the earlier key was lost and
/// retrying it applied it again.
#[test]
fn issue11_replay_keeps_each_idempotency_key_on_its_own_operation() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let target = env.add_task("w", "to claim", &[]);
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();

    let first = env.orc(&["t", "add", "w", "keyed", "--idempotency-key", "add-1", "--json"]).success().json();
    // The remote moves, so the next publish replays the keyed add.
    env.orc_in(&b, &["t", "add", "w", "from b"]).success();
    env.orc_in(&b, &["sync"]).success();
    env.orc(&["t", "claim", &target, "a1", "--idempotency-key", "claim-1"]).success();

    let keys: Vec<Value> = env
        .git(&["log", "--format=%B", "orc"])
        .lines()
        .filter_map(|l| l.strip_prefix("Orc-Op: "))
        .map(|t| serde_json::from_str::<Value>(t).unwrap())
        .filter(|t| t.get("key").is_some())
        .collect();
    let pairs: Vec<(String, String)> =
        keys.iter().map(|t| (t["op"].as_str().unwrap().into(), t["key"].as_str().unwrap().into())).collect();
    assert_eq!(pairs, [("task.claim".to_string(), "claim-1".to_string()), ("task.add".into(), "add-1".into())]);

    let again = env.orc(&["t", "add", "w", "keyed", "--idempotency-key", "add-1", "--json"]).success().json();
    assert_eq!(again["id"], first["id"], "the retry answers the first result");
    let titled = env.orc(&["t", "list", "w", "--json"]).success().json();
    let keyed = titled.as_array().unwrap().iter().filter(|t| t["title"] == "keyed").count();
    assert_eq!(keyed, 1, "no duplicate task");
    let reused = env.orc(&["t", "add", "w", "other title", "--idempotency-key", "add-1", "--json"]).code(2);
    assert_eq!(reused.error_kind(), "key_reused");
    let reused = env.orc(&["t", "claim", &target, "a1", "--idempotency-key", "add-1", "--json"]).code(2);
    assert_eq!(reused.error_kind(), "key_reused");
}
