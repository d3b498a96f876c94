//! Issue 13: orc moved the orc branch even while a worktree had it checked
//! out, so a later commit there rolled the board back. orc now refuses, and
//! `orc config` changes orc.toml without a checkout.

use crate::common::TestEnv;

#[test]
fn a_checked_out_orc_branch_is_not_moved() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let worktree = env.root.join("orc-checkout");
    env.git(&["worktree", "add", "-q", worktree.to_str().unwrap(), "orc"]);
    let tip = env.tip();
    let refused = env.orc(&["t", "add", "w", "would be lost", "--json"]).code(3);
    assert_eq!(refused.error_kind(), "checked_out");
    let error = &refused.json()["error"];
    assert!(error["worktree"].as_str().unwrap().ends_with("orc-checkout"), "{refused}");
    assert!(error["hint"].as_str().unwrap().contains("orc config set"), "{refused}");
    assert_eq!(env.tip(), tip, "nothing moved");
    env.git_in(&worktree, &["switch", "-q", "--detach"]);
    env.orc(&["t", "add", "w", "lands"]).success();
}

#[test]
fn config_reads_and_changes_orc_toml_without_a_checkout() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    assert_eq!(env.orc(&["config", "get", "lease"]).success().stdout, "30m\n");
    let set = env.orc(&["config", "set", "lease", "45m", "--json"]).success().json();
    assert_eq!(set, serde_json::json!({"key": "lease", "value": "45m"}));
    assert_eq!(env.orc(&["config", "get", "lease"]).success().stdout, "45m\n");
    let toml = env.show("orc.toml");
    assert!(toml.contains("lease = \"45m\"") && toml.contains("# How long a claim lasts"), "{toml}");
    assert_eq!(env.git(&["log", "-1", "--format=%s", "orc"]), "orc: set lease = 45m in orc.toml");
    let all = env.orc(&["config", "get", "--json"]).success().json();
    assert_eq!(all["expiry_slack"], "1s");
    let tip = env.tip();
    assert_eq!(env.orc(&["config", "set", "schema", "2", "--json"]).code(2).error_kind(), "invalid_name");
    assert_eq!(env.orc(&["config", "set", "lease", "soon", "--json"]).code(2).error_kind(), "invalid_input");
    assert_eq!(env.tip(), tip, "refusals write nothing");
}
