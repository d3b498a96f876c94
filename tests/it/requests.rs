//! Claim requests (issue 12): a `next` that lost a round leaves a request
//! beside the branch, and whichever sync pushes next claims for it. These
//! tests leave requests by hand, as a losing `next` would, and check what
//! a sync does with them; the races (`remote`, `mcp`) check the requester.

use std::path::{Path, PathBuf};

use crate::common::TestEnv;

/// An operation id as orc writes them (26 characters of Crockford base32).
const OP: &str = "01KAAAAAAAAAAAAAAAAAAAAAAA";

fn on_remote(env: &TestEnv, remote: &Path, args: &[&str]) -> String {
    let mut all = vec!["--git-dir", remote.to_str().unwrap()];
    all.extend_from_slice(args);
    env.git_in(&env.root, &all)
}

/// A board with workstream `w` and `tasks` tasks, published to a bare remote.
fn published_board(tasks: usize) -> (TestEnv, PathBuf, Vec<String>) {
    let env = TestEnv::new();
    let remote = env.add_bare_remote();
    env.orc(&["ws", "create", "w"]).success();
    let ids = (0..tasks).map(|i| env.add_task("w", &format!("task {i}"), &["", &(i + 1).to_string()])).collect();
    env.orc(&["sync"]).success();
    (env, remote, ids)
}

/// Leaves a request on the remote, as a `next` that lost a round does: a
/// ref pointing at the branch's tip (so nothing but the ref travels).
fn request(env: &TestEnv, remote: &Path, op: &str, agent: &str, ws: &str) -> String {
    let name = format!("refs/orc/requests/{op}/{agent}/{ws}/orc");
    let tip = on_remote(env, remote, &["rev-parse", "orc"]);
    on_remote(env, remote, &["update-ref", &name, &tip]);
    name
}

/// The commits on the remote's branch whose trailer carries `op`.
fn commits_of(env: &TestEnv, remote: &Path, op: &str) -> Vec<String> {
    on_remote(env, remote, &["log", "--format=%s%x09%b", "orc"])
        .lines()
        .filter(|l| l.contains(&format!("\"id\":\"{op}\"")) || l.contains(&format!("\"op_id\":\"{op}\"")))
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn a_request_is_served_by_the_next_sync_once_under_its_operation_id() {
    let (env, remote, ids) = published_board(2);
    let name = request(&env, &remote, OP, "agent-x", "_any");
    env.orc(&["t", "add", "w", "made here"]).success();

    let sync = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(sync["served"], 1, "{sync:#}");
    assert_eq!(sync["published"], 1, "the task added here, not the claim made for agent-x: {sync:#}");
    assert_eq!(
        commits_of(&env, &remote, OP),
        [format!("orc: claim {} (w) by agent-x", ids[0])],
        "the best ready task, claimed as the requester under its own operation id"
    );
    assert_eq!(
        on_remote(&env, &remote, &["for-each-ref", &name]),
        "",
        "the request is gone with the push that served it"
    );
    let task = env.orc(&["t", "show", &ids[0], "--json"]).success().json();
    assert_eq!(task["claimed_by"], "agent-x");

    // Served once: the next syncs find nothing to serve.
    env.orc(&["t", "add", "w", "more"]).success();
    assert_eq!(env.orc(&["sync", "--json"]).success().json()["served"], 0);
    assert_eq!(commits_of(&env, &remote, OP).len(), 1);
}

#[test]
fn a_sync_says_in_words_that_it_claimed_for_others() {
    let (env, remote, _) = published_board(1);
    request(&env, &remote, OP, "agent-x", "w");
    let sync = env.orc(&["sync"]).success();
    assert!(sync.stdout.contains("claimed for 1 waiting next request(s) of other agents"), "{sync}");
}

#[test]
fn a_request_with_nothing_ready_is_answered_with_a_logged_drop() {
    let (env, remote, _) = published_board(0);
    let name = request(&env, &remote, OP, "agent-x", "w");

    let sync = env.orc(&["sync", "--json"]).success().json();
    let dropped = &sync["dropped"][0];
    assert_eq!(dropped["op_id"], OP, "{sync:#}");
    assert_eq!(dropped["kind"], "nothing_ready", "{sync:#}");
    assert_eq!(dropped["subject"], "next in w for agent-x");
    // The requester reads its answer from the branch: the drop's event.
    assert_eq!(commits_of(&env, &remote, OP), ["orc: sync.drop by agent-x"]);
    assert_eq!(on_remote(&env, &remote, &["for-each-ref", &name]), "");
}

#[test]
fn a_request_whose_operation_is_already_on_the_branch_is_only_deleted() {
    let (env, remote, ids) = published_board(2);
    let before = on_remote(&env, &remote, &["rev-parse", "orc"]);
    env.orc(&["next", "w", "--agent", "agent-x", "--json"]).success();
    let message = env.git(&["log", "-1", "--format=%b", "orc"]);
    let op = message.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // A request for that claim, made before it landed (it points at the tip
    // before the claim): the claim is on the branch, so it is not made again.
    let name = format!("refs/orc/requests/{op}/agent-x/_any/orc");
    on_remote(&env, &remote, &["update-ref", &name, &before]);
    env.orc(&["t", "add", "w", "more"]).success();

    let sync = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(sync["served"], 1, "settled: {sync:#}");
    assert_eq!(commits_of(&env, &remote, &op), [format!("orc: claim {} (w) by agent-x", ids[0])]);
    assert_eq!(env.orc(&["t", "show", &ids[1], "--json"]).success().json()["status"], "open");
    assert_eq!(on_remote(&env, &remote, &["for-each-ref", &name]), "");
}

#[test]
fn refs_that_are_not_requests_are_neither_served_nor_deleted() {
    let (env, remote, ids) = published_board(1);
    let tip = on_remote(&env, &remote, &["rev-parse", "orc"]);
    let junk = [
        "refs/orc/requests/not-an-id/agent-x/_any/orc".to_string(),
        format!("refs/orc/requests/{OP}/agent-x/t-123/orc"),
        format!("refs/orc/requests/{OP}/agent-x/_any/other-branch"),
    ];
    for name in &junk {
        on_remote(&env, &remote, &["update-ref", name, &tip]);
    }
    // A well-formed request pointing at a commit only the remote has (a hook
    // there rewrote it): nothing on the branch can be checked against it.
    let tree = format!("{tip}^{{tree}}");
    let elsewhere = on_remote(
        &env,
        &remote,
        &["-c", "user.name=hook", "-c", "user.email=hook@example.com", "commit-tree", &tree, "-p", &tip, "-m", "hook"],
    );
    let unknown = format!("refs/orc/requests/{OP}/agent-x/w/orc");
    on_remote(&env, &remote, &["update-ref", &unknown, &elsewhere]);
    env.orc(&["t", "add", "w", "more"]).success();
    assert_eq!(env.orc(&["sync", "--json"]).success().json()["served"], 0);
    assert_eq!(env.orc(&["t", "show", &ids[0], "--json"]).success().json()["status"], "open");
    for name in &junk {
        assert_eq!(on_remote(&env, &remote, &["rev-parse", name]), tip, "{name} is left alone");
    }
    assert_eq!(on_remote(&env, &remote, &["rev-parse", &unknown]), elsewhere);
}

/// A `next` made on this clone that asked to be served is served as its
/// request (the best task now) and not also replayed as the task it chose:
/// even when the remote has not moved, so the local branch could go as it is.
#[test]
fn a_local_next_that_asked_to_be_served_is_claimed_once() {
    let (env, remote, ids) = published_board(2);
    env.orc(&["next", "w", "--agent", "agent-x", "--local", "--json"]).success();
    let message = env.git(&["log", "-1", "--format=%b", "orc"]);
    let op = message.split("\"id\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let name = request(&env, &remote, &op, "agent-x", "w");
    // Work made after it goes as it is.
    env.orc(&["t", "add", "w", "later", "", "9"]).success();

    let sync = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(sync["served"], 1, "{sync:#}");
    assert_eq!(commits_of(&env, &remote, &op), [format!("orc: claim {} (w) by agent-x", ids[0])]);
    assert_eq!(env.orc(&["t", "show", &ids[1], "--json"]).success().json()["status"], "open");
    assert_eq!(on_remote(&env, &remote, &["for-each-ref", &name]), "");
}
