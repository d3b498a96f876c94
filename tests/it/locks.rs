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
    // a2 goes silent: this machine saw its lock version at 10:01:00, so one
    // TTL (60s) and the 1s slack later, a3 takes over (expiry by observation).
    assert_eq!(acquire("a3", "10:02:00").code(1).error_kind(), "lock_held", "still within TTL and slack");
    let taken = acquire("a3", "10:02:02").success().json();
    assert_eq!(taken["token"], 3);
    assert_eq!(taken["holder"], "a3");
    let events = env.show("events/2026/11/21/a3/000001.jsonl");
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
    // While it runs, the lock is held and renewed. Without the default two
    // minutes of clock grace, an expiry that was not renewed would free the
    // lock as soon as it passed.
    let settings = env.show("orc.toml");
    assert!(settings.contains("clock_grace = \"2m\""), "{settings}");
    env.edit_branch_file("orc.toml", &(settings.replace("clock_grace = \"2m\"", "clock_grace = \"0s\"") + "\n"));
    let (holding, release) = (env.root.join("holding"), env.root.join("release"));
    // The command runs until the test releases it (at most 30 s, so a
    // failed test leaves nothing behind), and exits 0 only if released.
    let script = format!(
        "touch {}; i=0; while [ ! -e {release} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; [ -e {release} ]",
        holding.display(),
        release = release.display()
    );
    let mut child = env
        .orc_command(&["lock", "run", "build", "--ttl", "3s", "--agent", "a1", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the command to start", || holding.exists());
    let busy = env.orc(&["lock", "acquire", "build", "--agent", "a2", "--json"]).code(1);
    let seen_at = Instant::now();
    assert_eq!(busy.json()["error"]["token"], 2);
    let first_expiry = expiry(&busy.json()["error"]);
    // `lock run` renews it (every third of the TTL): the expiry moves later.
    wait_for("a renewal", || {
        let listed = env.orc(&["lock", "list", "--json"]).success().json();
        expiry(&listed[0]) > first_expiry
    });
    // Past the first expiry by this clock (records hold whole seconds) and
    // one TTL after this machine first saw it, it is still held, renewed,
    // with its token: `lock run` kept it, not the grace.
    wait_for("the first expiry to pass", || {
        chrono::Utc::now() > first_expiry + chrono::Duration::milliseconds(1500)
            && seen_at.elapsed() > Duration::from_secs(3 + 1)
    });
    let still = env.orc(&["lock", "acquire", "build", "--agent", "a2", "--json"]).code(1);
    assert_eq!(still.error_kind(), "lock_held");
    assert!(expiry(&still.json()["error"]) > first_expiry, "renewed: {still}");
    assert_eq!(still.json()["error"]["token"], 2);
    std::fs::write(&release, "").unwrap();
    assert!(child.wait().unwrap().success(), "the command ran until released");
    env.orc(&["lock", "acquire", "build", "--agent", "a2"]).success();
}

/// The `expires_at` of a lock or of a `lock_held` error.
#[track_caller]
fn expiry(lock: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let text = lock["expires_at"].as_str().unwrap_or_else(|| panic!("no expires_at in {lock}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc)
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
    wait_for("the job's pid", || std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')));
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

/// Polls until `ready`, failing after 20 s with what it waited for.
#[track_caller]
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
