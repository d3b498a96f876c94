//! Issue 13: kill -9 loops over publishing commands left stale lock files
//! (13 of 20 later syncs failed, with "remove the file manually"). Every
//! command here is killed at a moment drawn from a fixed sequence; after
//! each kill a plain `orc sync` must succeed with no cleanup by hand.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::TestEnv;

#[test]
fn issue13_a_kill_loop_over_publishing_commands_needs_no_manual_cleanup() {
    let env = TestEnv::new();
    let (remote, _b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    for i in 0..25 {
        env.add_task("w", &format!("task {i}"), &[]);
    }
    env.orc(&["sync"]).success();
    let mut seed: u64 = 0x5eed;
    let mut clean = 0;
    let rounds = 20;
    for round in 0..rounds {
        let resource = format!("res-{round}");
        let args: Vec<&str> = match round % 3 {
            0 => vec!["t", "next", "w", "a1"],
            1 => vec!["lock", "acquire", &resource, "--agent", "a1"],
            _ => vec!["sync"],
        };
        let mut child = env.orc_command(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        // A kill at a spread of moments: before, during and after the push.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis((seed >> 33) % 250));
        let _ = child.kill();
        child.wait().unwrap();
        let synced = env.orc(&["sync"]);
        if synced.code == 0 {
            clean += 1;
        } else {
            eprintln!("round {round}: {synced}");
        }
    }
    assert_eq!(clean, rounds, "plain syncs after a kill that needed no cleanup");
    let log = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%B", "orc"]);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in log
        .lines()
        .filter_map(|l| l.strip_prefix("Orc-Op: "))
        .map(|t| serde_json::from_str::<Value>(t).unwrap()["id"].as_str().unwrap().to_string())
    {
        *seen.entry(id).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "an operation landed twice on the remote");
}
