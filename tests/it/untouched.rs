//! orc never touches the user's HEAD, index or working tree, and works the
//! same from a linked worktree.

use crate::common::TestEnv;

/// HEAD, its branch, the index bytes and the status. The index is read
/// first: `git status` itself may refresh it.
fn fingerprint(env: &TestEnv, dir: &std::path::Path) -> (Vec<u8>, String, String, String) {
    let index = std::fs::read(env.git_in(dir, &["rev-parse", "--path-format=absolute", "--git-path", "index"]))
        .unwrap_or_default();
    let head = env.git_in(dir, &["rev-parse", "HEAD"]);
    let symbolic = env.git_in(dir, &["symbolic-ref", "HEAD"]);
    let status = env.git_in(dir, &["status", "--porcelain=v1", "--untracked-files=all"]);
    (index, head, symbolic, status)
}

#[test]
fn no_command_changes_head_index_or_working_tree() {
    let env = TestEnv::new();
    // A staged change, an unstaged one and an untracked file.
    std::fs::write(env.repo.join("README"), "staged\n").unwrap();
    env.git(&["add", "README"]);
    std::fs::write(env.repo.join("README"), "unstaged\n").unwrap();
    std::fs::write(env.repo.join("notes.txt"), "untracked\n").unwrap();
    let before = fingerprint(&env, &env.repo);

    env.orc(&["init"]).success();
    env.orc(&["ws", "create", "w", "desc", "1"]).success();
    let id = env.add_task("w", "t1", &[]);
    let id2 = env.add_task("w", "t2", &["--after", &id]);
    for args in [
        vec!["status"],
        vec!["doctor"],
        vec!["ws", "list"],
        vec!["ws", "show", "w"],
        vec!["t", "list"],
        vec!["t", "show", &id],
        vec!["ready"],
        vec!["a", "register", "agent-1", "worker"],
        vec!["a", "heartbeat", "agent-1"],
        vec!["a", "list"],
        vec!["t", "claim", &id, "agent-1"],
        vec!["t", "release", &id, "--agent", "agent-1"],
        vec!["t", "next", "w", "agent-1"],
        vec!["t", "complete", &id, "--agent", "agent-1"],
        vec!["claim", "--agent", "agent-1"],
        vec!["fail", &id2, "x", "--agent", "agent-1"],
        vec!["t", "retry", &id2],
        vec!["t", "cancel", &id2],
        vec!["wait", &id],
    ] {
        let run = env.orc(&args);
        assert!(run.code == 0, "{args:?}: {run}");
        assert_eq!(fingerprint(&env, &env.repo), before, "after {args:?}");
    }
    assert_eq!(std::fs::read_to_string(env.repo.join("README")).unwrap(), "unstaged\n");
    let _maintenance = env.hold_maintenance_lock();
    env.assert_fsck_clean();
}

#[test]
fn a_linked_worktree_shares_the_branch_and_keeps_its_own_agent() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    let wt = env.root.join("wt");
    env.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "feature"]);
    env.git_in(&wt, &["config", "extensions.worktreeConfig", "true"]);
    env.git_in(&wt, &["config", "--worktree", "orc.agent", "wt-agent"]);
    let before = fingerprint(&env, &wt);
    let claimed = env.orc_in(&wt, &["next", "w", "--json"]).success().json();
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["claimed_by"], "wt-agent");
    assert_eq!(fingerprint(&env, &wt), before);
    let seen_from_main = env.orc(&["t", "show", &id, "--json"]).success().json();
    assert_eq!(seen_from_main["claimed_by"], "wt-agent");
}
