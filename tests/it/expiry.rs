//! Expiry by observation (DESIGN §4, issue 13 "Time"): claims and locks are
//! taken away only after this machine watched the holder's last sign of life
//! (or lock version) unchanged for a whole lease (or TTL) and the slack,
//! never by comparing a time another machine wrote with this machine's
//! clock. Time is driven with `ORC_NOW` per command, so nothing sleeps.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::common::{Run, TestEnv, ORC};

const BASE: &str = "2026-11-21T10:00:00Z";

fn at(offset_secs: i64) -> String {
    let base: DateTime<Utc> = DateTime::parse_from_rfc3339(BASE).unwrap().into();
    (base + chrono::Duration::seconds(offset_secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs orc in `dir` at `now`.
fn orc_at(env: &TestEnv, dir: &Path, now: &str, args: &[&str]) -> Run {
    let out = env.command(ORC, dir).env("ORC_NOW", now).args(args).output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        code: out.status.code().unwrap_or(-1),
    }
}

#[test]
fn a_dead_holders_lock_is_free_one_ttl_and_the_slack_after_this_machine_saw_it() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let acquire = |agent: &str, t: i64| {
        orc_at(&env, &env.repo, &at(t), &["lock", "acquire", "job", "--ttl", "5s", "--agent", agent, "--json"])
    };
    acquire("a1", 0).success();
    assert_eq!(acquire("a2", 5).code(1).error_kind(), "lock_held", "within the TTL and the 1s slack");
    let taken = acquire("a2", 7).success().json();
    assert_eq!((taken["holder"].as_str(), taken["token"].as_u64()), (Some("a2"), Some(2)), "taken over 7s after");
}

/// A holder an hour behind (and one an hour ahead) that keeps publishing
/// signs of life loses nothing to another machine; once it stops, the other
/// machine takes its task within the lease and the slack of the last sign of
/// life it saw.
#[test]
fn claims_survive_an_hour_of_holder_clock_skew_and_are_taken_over_after_the_holder_dies() {
    for skew in [-3600, 3600] {
        let env = TestEnv::new();
        let (_remote, b) = env.second_machine();
        let a = env.repo.clone();
        // The holder's clock is `skew` seconds off; the observer's is right.
        let holder = |t: i64, args: &[&str]| orc_at(&env, &a, &at(skew + t), args);
        let observer = |t: i64, args: &[&str]| orc_at(&env, &b, &at(t), args);
        holder(-20, &["ws", "create", "w"]).success();
        env.edit_branch_file("orc.toml", "schema = 1\nlease = \"6s\"\n");
        let id = holder(-19, &["t", "add", "w", "contested"]).success().stdout.trim().to_string();
        holder(-18, &["sync"]).success();
        observer(-18, &["sync"]).success();

        let mut steals = 0;
        // The observer watches the remote (a sync each second) and tries.
        let try_claim = |t: i64| {
            observer(t, &["sync"]).success();
            let run = observer(t, &["t", "claim", &id, "b1", "--json"]);
            match run.code {
                0 => true,
                1 => {
                    assert_eq!(run.error_kind(), "already_claimed", "at {t}s: {run}");
                    false
                }
                _ => panic!("at {t}s: {run}"),
            }
        };
        holder(0, &["t", "claim", &id, "a1"]).success();
        // The holder publishes a sign of life every 3s (a third of the lease
        // is 2s, so each heartbeat publishes) while the observer keeps trying.
        for t in (1..=30).step_by(1) {
            if t % 3 == 0 {
                holder(t, &["a", "heartbeat", "a1"]).success();
            }
            if try_claim(t) {
                steals += 1;
            }
        }
        assert_eq!(steals, 0, "skew {skew}s: the live holder lost its task");
        // The holder dies after its heartbeat at 30s. The observer takes the
        // task once it has watched that sign of life for the lease and slack.
        let mut taken_at = None;
        for t in 31..=60 {
            if try_claim(t) {
                taken_at = Some(t);
                break;
            }
        }
        let taken_at = taken_at.expect("the observer never took the dead holder's task");
        // The last sign of life (30s) was seen at 30s: the task is free after
        // the lease (6s) and the slack (1s), within TTL + 2s of the death.
        assert!(taken_at <= 30 + 6 + 2, "skew {skew}s: taken over at {taken_at}s, too late");
        let shown = observer(taken_at, &["t", "show", &id, "--json"]).success().json();
        assert_eq!(shown["claimed_by"], "b1");
    }
}

#[test]
fn locks_survive_an_hour_of_holder_clock_skew_while_renewed() {
    for skew in [-3600, 3600] {
        let env = TestEnv::new();
        let (_remote, b) = env.second_machine();
        let a = env.repo.clone();
        env.orc(&["init"]).success();
        env.orc(&["sync"]).success();
        orc_at(&env, &b, &at(-10), &["sync"]).success();
        let holder = |t: i64| {
            orc_at(&env, &a, &at(t + skew), &["lock", "acquire", "db", "--ttl", "6s", "--agent", "a1", "--json"])
        };
        // The observer watches the remote (a sync each second) and tries.
        let observer = |t: i64| {
            orc_at(&env, &b, &at(t), &["sync"]).success();
            orc_at(&env, &b, &at(t), &["lock", "acquire", "db", "--ttl", "6s", "--agent", "b1", "--json"])
        };
        holder(0).success();
        for t in 1..=24 {
            if t % 3 == 0 {
                assert_eq!(holder(t).success().json()["token"], 1, "renewals keep the token");
            }
            let run = observer(t);
            assert_eq!(run.code, 1, "skew {skew}s: at {t}s the observer took a lock its holder renews: {run}");
            assert_eq!(run.error_kind(), "lock_held");
        }
        // The holder's last renewal was at 24s and seen then: free within
        // the TTL (6s) and 2s of its death.
        let taken = (25..=45).find(|t| observer(*t).code == 0).expect("the dead holder's lock was never taken");
        assert!(taken <= 24 + 6 + 2, "skew {skew}s: taken over at {taken}s");
    }
}

#[test]
fn lock_run_stops_its_command_when_another_holder_takes_the_lock() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let pid_file = env.root.join("pid");
    let script = format!("echo $$ > {}; exec sleep 60", pid_file.display());
    let mut run = env
        .orc_command(&["lock", "run", "job", "--ttl", "3s", "--agent", "a1", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')) {
        assert!(started.elapsed() < Duration::from_secs(30), "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    env.orc(&["lock", "release", "job", "--force"]).success();
    env.orc(&["lock", "acquire", "job", "--ttl", "10m", "--agent", "a2"]).success();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "lock run went on after losing its lock");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "refused: the lock is held by another: {stderr}");
    assert!(stderr.contains("lost the lock on job"), "{stderr}");
    let alive = std::process::Command::new("kill").args(["-0", &pid]).stderr(Stdio::null()).status().unwrap();
    assert!(!alive.success(), "the command was stopped");
    let locks = env.orc(&["lock", "list", "--json"]).success().json();
    assert_eq!(locks[0]["holder"], "a2", "the new holder keeps it: {locks}");
}
