//! How operations land on disk: one pack each, rolled up so packs do not
//! pile up, and nothing lost when git's own gc repacks underneath.

use crate::common::TestEnv;

fn pack_count(env: &TestEnv) -> usize {
    std::fs::read_dir(env.repo.join(".git/objects/pack"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".pack"))
        .count()
}

#[test]
fn operations_write_packs_that_are_rolled_up() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let loose_before = env.git(&["count-objects"]);
    for i in 0..70 {
        env.orc(&["t", "add", "w", &format!("task {i}")]).success();
    }
    // Roll-ups run in the background (issue 12); `orc maintain` waits for
    // the one under way and merges the rest.
    env.orc(&["maintain"]).success();
    let _maintenance = env.hold_maintenance_lock();
    assert!(pack_count(&env) <= 2, "packs pile up: {} after 70 operations", pack_count(&env));
    assert_eq!(env.git(&["count-objects"]), loose_before, "no loose objects written");
    env.assert_fsck_clean();
    assert_eq!(env.orc(&["t", "list", "--json"]).success().json().as_array().unwrap().len(), 70);
}

#[test]
fn git_gc_underneath_orc_loses_nothing() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    for i in 0..30 {
        env.orc(&["t", "add", "w", &format!("before {i}")]).success();
    }
    env.git(&["gc", "--quiet", "--prune=now"]);
    for i in 0..30 {
        env.orc(&["t", "add", "w", &format!("after {i}")]).success();
    }
    assert_eq!(env.orc(&["t", "list", "--json"]).success().json().as_array().unwrap().len(), 60);
    let _maintenance = env.hold_maintenance_lock();
    env.assert_fsck_clean();
}
