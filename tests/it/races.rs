//! Real processes racing each other: claims are won exactly once, and
//! writers killed mid-operation lose nothing and block no one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

fn seed_tasks(env: &TestEnv, count: usize) -> BTreeSet<String> {
    env.orc(&["ws", "create", "w"]).success();
    (0..count).map(|i| env.add_task("w", &format!("task {i}"), &[])).collect()
}

#[test]
fn eight_agents_racing_next_claim_every_task_exactly_once() {
    let env = Arc::new(TestEnv::new());
    let all = seed_tasks(&env, 200);
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let env = Arc::clone(&env);
            std::thread::spawn(move || {
                let agent = format!("agent-{i}");
                let mut won = Vec::new();
                loop {
                    let run = env.orc(&["t", "next", "w", &agent, "--json"]);
                    match run.code {
                        0 => won.push(run.json()["id"].as_str().unwrap().to_string()),
                        1 => {
                            assert_eq!(run.error_kind(), "nothing_ready", "{run}");
                            return (agent, won);
                        }
                        _ => panic!("unexpected failure: {run}"),
                    }
                }
            })
        })
        .collect();
    let mut told: BTreeMap<String, String> = BTreeMap::new();
    for worker in workers {
        let (agent, won) = worker.join().unwrap();
        for id in won {
            assert!(told.insert(id.clone(), agent.clone()).is_none(), "{id} was handed out twice");
        }
    }
    assert_eq!(told.keys().cloned().collect::<BTreeSet<_>>(), all, "every task claimed");
    let listed = env.orc(&["t", "list", "w", "--json"]).success().json();
    for task in listed.as_array().unwrap() {
        let id = task["id"].as_str().unwrap();
        assert_eq!(task["status"], "claimed");
        assert_eq!(
            task["claimed_by"].as_str(),
            Some(told[id].as_str()),
            "{id} is held by the agent that was told it won"
        );
    }
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim ")).count();
    assert_eq!(claims, 200, "one claim commit per task");
}

#[test]
fn sixteen_claimers_of_one_task_have_one_winner() {
    let env = Arc::new(TestEnv::new());
    let id = seed_tasks(&env, 1).into_iter().next().unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let (env, id, barrier) = (Arc::clone(&env), id.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let agent = format!("agent-{i}");
                barrier.wait();
                (agent.clone(), env.orc(&["t", "claim", &id, &agent, "--json"]))
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let winners: Vec<&String> = results.iter().filter(|(_, run)| run.code == 0).map(|(agent, _)| agent).collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let winner = winners[0];
    for (agent, run) in &results {
        if agent == winner {
            assert_eq!(run.json()["claimed_by"].as_str(), Some(winner.as_str()));
            continue;
        }
        assert_eq!(run.code, 1, "{run}");
        let error = &run.json()["error"];
        assert_eq!(error["kind"], "already_claimed");
        assert_eq!(error["claimed_by"].as_str(), Some(winner.as_str()));
        assert!(error["message"].as_str().unwrap().contains(&format!("was claimed by {winner}")), "{run}");
    }
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim ")).count();
    assert_eq!(claims, 1);
}

#[test]
fn writers_killed_mid_operation_lose_nothing_and_block_no_one() {
    let env = Arc::new(TestEnv::new());
    env.orc(&["ws", "create", "w"]).success();
    let deadline = Instant::now() + Duration::from_secs(8);

    // Steady writers: every acknowledged task must survive.
    let steady: Vec<_> = (0..2)
        .map(|w| {
            let env = Arc::clone(&env);
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let key = format!("steady-{w}-{i}");
                    let run = env.orc(&["t", "add", "w", &key, "--idempotency-key", &key, "--json"]);
                    assert_eq!(run.code, 0, "a writer got stuck or failed: {run}");
                    acknowledged.push((key, run.json()["id"].as_str().unwrap().to_string()));
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();

    // The victim: started, SIGKILLed after a random delay, then retried with
    // the same key until acknowledged, as an agent would after a crash.
    let mut victims = Vec::new();
    let mut kills = 0;
    let mut j = 0;
    let mut rand_state: u64 = 0x9e37_79b9_7f4a_7c15;
    while Instant::now() < deadline {
        let key = format!("victim-{j}");
        j += 1;
        let mut child = env
            .orc_command(&["t", "add", "w", &key, "--idempotency-key", &key, "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rand_state ^= rand_state << 13;
        rand_state ^= rand_state >> 7;
        rand_state ^= rand_state << 17;
        std::thread::sleep(Duration::from_micros(rand_state % 25_000));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        let started = Instant::now();
        let retry = env.orc(&["t", "add", "w", &key, "--idempotency-key", &key, "--json"]).success();
        assert!(started.elapsed() < Duration::from_secs(5), "a retry after a kill waited on a stale lock");
        victims.push((key, retry.json()["id"].as_str().unwrap().to_string()));
    }
    assert!(kills > 5, "the test killed too few writers ({kills}) to mean anything");

    let mut acknowledged: Vec<(String, String)> = steady.into_iter().flat_map(|h| h.join().unwrap()).collect();
    acknowledged.extend(victims);
    let tasks = env.orc(&["t", "list", "w", "--json"]).success().json();
    let mut by_title: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in tasks.as_array().unwrap() {
        by_title.entry(task["title"].as_str().unwrap().into()).or_default().push(task["id"].as_str().unwrap().into());
    }
    for (key, id) in &acknowledged {
        assert_eq!(by_title.get(key), Some(&vec![id.clone()]), "{key} must exist exactly once, as {id}");
    }
    assert_eq!(by_title.len(), acknowledged.len(), "no operation applied twice or out of nowhere");
    let _maintenance = env.hold_maintenance_lock();
    env.assert_fsck_clean();
    env.orc(&["doctor"]).success();
}

#[test]
fn a_stale_ref_lock_left_by_a_killed_writer_is_cleared() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let lock = env.repo.join(".git/refs/heads/orc.lock");
    std::fs::write(&lock, "0000000000000000000000000000000000000000\n").unwrap();
    let doctor = env.orc(&["doctor"]).success();
    assert!(doctor.stdout.contains("orc.lock"), "{doctor}");
    let started = Instant::now();
    env.orc(&["t", "add", "w", "after the crash"]).success();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!lock.exists());
}
