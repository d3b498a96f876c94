//! Locks with fencing tokens: one holder among racing processes, tokens that
//! only grow, expiry that a skewed clock cannot fool, and `lock run`.

use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

fn at(time: &str) -> [(&'static str, String); 1] {
    [("ORC_NOW", format!("2026-11-21T{time}Z"))]
}

fn with_time<'a>(env: &'a [(&'static str, String); 1]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn sixteen_processes_acquiring_one_lock_have_one_holder() {
    let env = Arc::new(TestEnv::new());
    env.orc(&["init"]).success();
    let barrier = Arc::new(Barrier::new(16));
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let (env, barrier) = (Arc::clone(&env), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let agent = format!("agent-{i}");
                barrier.wait();
                (agent.clone(), env.orc(&["lock", "acquire", "deploy", "--ttl", "5m", "--agent", &agent, "--json"]))
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let holders: Vec<&String> = results.iter().filter(|(_, run)| run.code == 0).map(|(a, _)| a).collect();
    assert_eq!(holders.len(), 1, "exactly one holder: {results:?}");
    let holder = holders[0];
    for (agent, run) in &results {
        if agent == holder {
            assert_eq!(run.json()["token"], 1);
            continue;
        }
        assert_eq!(run.code, 1, "{run}");
        let error = &run.json()["error"];
        assert_eq!(error["kind"], "lock_held");
        assert_eq!(error["holder"].as_str(), Some(holder.as_str()));
        assert!(error["expires_at"].is_string(), "names the expiry: {run}");
        assert!(error["message"].as_str().unwrap().contains(&format!("locked by {holder} until")), "{run}");
    }
    let listed = env.orc(&["lock", "list", "--json"]).success().json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["holder"].as_str(), Some(holder.as_str()));
}

#[test]
fn tokens_grow_across_holders_releases_and_takeovers() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let acquire = |agent: &str, time: &str| {
        let t = at(time);
        env.orc_with(&with_time(&t), &["lock", "acquire", "db", "--ttl", "60s", "--agent", agent, "--json"])
    };
    assert_eq!(acquire("a1", "10:00:00").success().json()["token"], 1);
    // Renewal by the holder keeps its token.
    assert_eq!(acquire("a1", "10:00:30").success().json()["token"], 1);
    assert_eq!(acquire("a2", "10:00:40").code(1).error_kind(), "lock_held");
    let tip = env.tip();
    let not_yours = env.orc(&["lock", "release", "db", "--agent", "a2", "--json"]).code(1);
    assert_eq!(not_yours.error_kind(), "not_holder");
    assert_eq!(env.tip(), tip, "a refused release writes nothing");
    env.orc(&["lock", "release", "db", "--agent", "a1"]).success();
    assert_eq!(acquire("a2", "10:01:00").success().json()["token"], 2);
    // a2 goes silent: past its expiry (10:02) plus the 2m grace, watched here
    // since 10:01, a3 takes over.
    assert_eq!(acquire("a3", "10:03:30").code(1).error_kind(), "lock_held", "still within grace");
    let taken = acquire("a3", "10:04:01").success().json();
    assert_eq!(taken["token"], 3);
    assert_eq!(taken["holder"], "a3");
    let events = env.show("events/2026/11/21/a3.jsonl");
    assert!(events.contains("\"type\":\"lock.takeover\"") && events.contains("\"from\":\"a2\""), "{events}");
    // The old holder's late release is refused; a person's forced one is logged.
    let t = at("10:04:02");
    assert_eq!(
        env.orc_with(&with_time(&t), &["lock", "release", "db", "--agent", "a2", "--json"]).code(1).error_kind(),
        "not_holder"
    );
    env.orc_with(&with_time(&t), &["lock", "release", "db", "--force"]).success();
    let forced = env.git(&["log", "-1", "--format=%s", "orc"]);
    assert_eq!(forced, "orc: force-release lock db held by a3, by Test Person");
    assert_eq!(acquire("a1", "10:05:00").success().json()["token"], 4);
    let all = env.orc(&["lock", "list", "--all", "--json"]).success().json();
    assert_eq!(all[0]["token"], 4);
}

#[test]
fn a_skewed_clock_never_loses_a_live_lock_at_first_sight() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    // a1's clock runs ten minutes slow: the expiry it writes is long past by
    // everyone else's clock.
    env.orc_with(&[("ORC_NOW_OFFSET", "-10m")], &["lock", "acquire", "db", "--ttl", "30s", "--agent", "a1"]).success();
    // Another machine has never seen this lock (its observations are its own).
    std::fs::remove_file(env.repo.join(".git/orc/observed-locks")).unwrap();
    let refused = env.orc(&["lock", "acquire", "db", "--agent", "a2", "--json"]).code(1);
    assert_eq!(refused.error_kind(), "lock_held", "first sight: the lock is live for a TTL from now");
    assert_eq!(
        env.orc_with(&[("ORC_NOW_OFFSET", "25s")], &["lock", "acquire", "db", "--agent", "a2", "--json"])
            .code(1)
            .error_kind(),
        "lock_held"
    );
    let taken =
        env.orc_with(&[("ORC_NOW_OFFSET", "35s")], &["lock", "acquire", "db", "--agent", "a2", "--json"]).success();
    assert_eq!(taken.json()["token"], 2);
}

#[test]
fn lock_run_propagates_the_exit_status_and_releases() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let run = env
        .orc(&[
            "lock",
            "run",
            "build",
            "--agent",
            "a1",
            "--",
            "sh",
            "-c",
            "echo token=$ORC_LOCK_TOKEN res=$ORC_LOCK_RESOURCE; exit 7",
        ])
        .code(7);
    assert!(run.stdout.contains("token=1 res=build"), "{run}");
    assert_eq!(env.orc(&["lock", "list", "--json"]).success().json(), serde_json::json!([]), "released");
    // While it runs, the lock is held, with the token the command saw.
    let flag = env.root.join("holding");
    let mut child = env
        .orc_command(&[
            "lock",
            "run",
            "build",
            "--ttl",
            "2s",
            "--agent",
            "a1",
            "--",
            "sh",
            "-c",
            &format!("touch {}; sleep 3", flag.display()),
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| flag.exists());
    let busy = env.orc(&["lock", "acquire", "build", "--agent", "a2", "--json"]).code(1);
    assert_eq!(busy.json()["error"]["token"], 2);
    let first_expiry = busy.json()["error"]["expires_at"].as_str().unwrap().to_string();
    // Past its 2s TTL it is still held, with a later expiry: `lock run`
    // renews it (every third of the TTL), keeping its token.
    std::thread::sleep(Duration::from_millis(2500));
    let still = env.orc(&["lock", "acquire", "build", "--agent", "a2", "--json"]).code(1);
    assert_eq!(still.error_kind(), "lock_held");
    assert!(still.json()["error"]["expires_at"].as_str().unwrap() > first_expiry.as_str(), "renewed: {still}");
    assert_eq!(still.json()["error"]["token"], 2);
    assert!(child.wait().unwrap().success());
    env.orc(&["lock", "acquire", "build", "--agent", "a2"]).success();
}

/// Starts `orc lock run job -- sh -c 'echo $$ > pid; exec sleep 30'` and
/// returns the orc process and the command's pid once it runs.
fn start_sleeping_job(env: &TestEnv) -> (std::process::Child, String) {
    let pid_file = env.root.join("pid");
    let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
    let child = env
        .orc_command(&["lock", "run", "job", "--agent", "a1", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')));
    (child, std::fs::read_to_string(&pid_file).unwrap().trim().to_string())
}

fn kill(signal: &str, pid: &str) {
    assert!(std::process::Command::new("kill").args([signal, pid]).status().unwrap().success());
}

#[test]
fn lock_run_releases_when_its_command_is_killed() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let (orc, command) = start_sleeping_job(&env);
    kill("-KILL", &command);
    assert_eq!(orc.wait_with_output().unwrap().status.code(), Some(128 + 9), "128 + SIGKILL");
    assert_eq!(env.orc(&["lock", "list", "--json"]).success().json(), serde_json::json!([]), "released");
}

#[test]
fn lock_run_releases_when_orc_itself_is_terminated() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let (orc, _) = start_sleeping_job(&env);
    kill("-TERM", &orc.id().to_string());
    let status = orc.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(128 + 15), "the command got the SIGTERM orc passed on");
    assert_eq!(env.orc(&["lock", "list", "--json"]).success().json(), serde_json::json!([]), "released");
}

#[test]
fn lock_input_errors() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    for name in ["../x", "a/b", "", ".lock"] {
        assert_eq!(
            env.orc(&["lock", "acquire", "--json", "--agent", "a1", "--", name]).code(2).error_kind(),
            "invalid_name"
        );
    }
    assert_eq!(
        env.orc(&["lock", "acquire", "x", "--ttl", "soon", "--agent", "a1", "--json"]).code(2).error_kind(),
        "invalid_input"
    );
    assert_eq!(
        env.orc(&["lock", "acquire", "x", "--ttl", "0s", "--agent", "a1", "--json"]).code(2).error_kind(),
        "invalid_input"
    );
    assert_eq!(env.orc(&["lock", "acquire", "x", "--json"]).code(2).error_kind(), "no_agent");
    assert_eq!(env.orc(&["lock", "release", "x", "--json"]).code(1).error_kind(), "not_held");
    let missing = env.orc(&["lock", "run", "x", "--agent", "a1", "--", "/no/such/program"]).code(2);
    assert!(missing.stderr.contains("cannot run"), "{missing}");
    assert_eq!(
        env.orc(&["lock", "list", "--json"]).success().json(),
        serde_json::json!([]),
        "released after a failed start"
    );
}

fn wait_for(ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}
