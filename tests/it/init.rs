//! `orc init`: the fixed root commit, idempotence, adoption of an existing
//! branch, and the branch created by the first write.

use crate::common::TestEnv;

#[test]
fn init_is_idempotent_and_the_root_is_the_same_everywhere() {
    let a = TestEnv::new();
    let b = TestEnv::new();
    let first = a.orc(&["init", "--json"]).success().json();
    assert_eq!(first["state"], "created");
    assert_eq!(a.orc(&["init", "--json"]).success().json()["state"], "existing");
    assert_eq!(a.orc(&["init", "--json"]).success().json()["tip"], first["tip"]);
    b.orc(&["init"]).success();
    assert_eq!(a.tip(), b.tip(), "two machines derive the identical root commit");
    assert_eq!(a.git(&["rev-list", "--count", "orc"]), "1");
    let settings = a.show("orc.toml");
    assert!(settings.contains("schema = 1") && settings.contains("lease = \"30m\""), "{settings}");
    assert_eq!(a.git(&["log", "-1", "--format=%an <%ae> %at", "orc"]), "orc <orc@localhost> 1767225600");
}

#[test]
fn the_first_write_creates_the_branch_and_says_so() {
    let env = TestEnv::new();
    let empty = env.orc(&["status"]).success();
    assert!(empty.stdout.contains("orc init"), "{empty}");
    let list = env.orc(&["t", "list", "--json"]).success();
    assert_eq!(list.json(), serde_json::json!([]));
    assert_eq!(env.tip(), "", "reads write nothing");
    let created = env.orc(&["ws", "create", "w"]).success();
    assert!(created.stderr.contains("created branch orc"), "{created}");
    let again = env.orc(&["ws", "create", "v"]).success();
    assert!(!again.stderr.contains("created branch"), "{again}");
    // The root is the shared one, with the first operation on top.
    let root = env.git(&["rev-list", "--max-parents=0", "orc"]);
    let fresh = TestEnv::new();
    fresh.orc(&["init"]).success();
    assert_eq!(root, fresh.tip());
}

#[test]
fn init_adopts_a_remote_tracking_branch() {
    let origin = TestEnv::new();
    origin.orc(&["ws", "create", "shared"]).success();
    let clone_dir = origin.root.join("clone");
    origin.git_in(&origin.root, &["clone", "-q", origin.repo.to_str().unwrap(), clone_dir.to_str().unwrap()]);
    let adopted = origin.orc_in(&clone_dir, &["init", "--json"]).success();
    assert_eq!(adopted.json()["state"], "adopted", "{adopted}");
    assert_eq!(origin.git_in(&clone_dir, &["rev-parse", "orc"]), origin.tip());
    let list = origin.orc_in(&clone_dir, &["ws", "list", "--json"]).success().json();
    assert_eq!(list[0]["name"], "shared");
}

#[test]
fn a_first_write_in_a_clone_adopts_instead_of_forking() {
    let origin = TestEnv::new();
    origin.orc(&["ws", "create", "shared"]).success();
    let clone_dir = origin.root.join("clone");
    origin.git_in(&origin.root, &["clone", "-q", origin.repo.to_str().unwrap(), clone_dir.to_str().unwrap()]);
    origin.orc_in(&clone_dir, &["t", "add", "shared", "from the clone"]).success();
    let parent = origin.git_in(&clone_dir, &["rev-parse", "orc~1"]);
    assert_eq!(parent, origin.tip());
}

#[test]
fn init_with_another_branch_and_remote() {
    let env = TestEnv::new();
    let missing = env.orc(&["init", "--remote", "nope", "--json"]).code(2);
    assert_eq!(missing.error_kind(), "not_found");
    env.git(&["remote", "add", "hub", "https://example.invalid/x.git"]);
    let out = env.orc(&["init", "--branch", "coord", "--remote", "hub", "--json"]).success().json();
    assert_eq!(out["branch"], "coord");
    assert_eq!(out["remote"], "hub");
    assert_eq!(env.git(&["config", "orc.branch"]), "coord");
    env.orc(&["ws", "create", "w"]).success();
    env.git(&["rev-parse", "--verify", "coord"]);
    assert_eq!(env.tip(), "", "nothing on the default branch");
}
