//! The library layer (`orc::api`) driven directly, the way `orc serve`,
//! `orc mcp` and `orc work` will: one `Repo` shared by threads, sessions per
//! caller, and the rules that live there (publish, waiting, following,
//! leases).

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use orc::api::lease::LockLease;
use orc::api::watch::{wait_for_task, EventFollower};
use orc::api::Repo;
use orc::error::Kind;
use orc::model::names::{AgentName, ResourceName};
use orc::model::task::Actor;
use orc::ops::events::LogEvent;
use orc::ops::task::{AddTask, ClaimTask, Finish, FinishTask};
use orc::ops::workstream::CreateWorkstream;
use orc::read::events::EventQuery;
use orc::session::{Publish, Session};

use crate::common::TestEnv;

fn person() -> Session {
    Session::new(Actor::Person("Test Person".into()))
}

fn agent(name: &str) -> Session {
    Session::new(Actor::Agent(name.into()))
}

fn board_with_one_task(env: &TestEnv) -> (Repo, String) {
    let repo = Repo::open(&env.repo).unwrap();
    repo.apply(&person(), &CreateWorkstream::new("w", None, None).unwrap()).unwrap();
    let s = person();
    let task = repo.apply(&s, &AddTask::new(&s.clock, "w", "the task", None, None, vec![], vec![]).unwrap());
    (repo, task.unwrap().output.id)
}

#[test]
fn one_repo_shared_by_threads_lets_exactly_one_claim_win() {
    let env = TestEnv::new();
    let (repo, id) = board_with_one_task(&env);
    let repo = Arc::new(repo);
    let barrier = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (repo, barrier, id) = (Arc::clone(&repo), Arc::clone(&barrier), id.clone());
            std::thread::spawn(move || {
                let name = format!("agent-{i}");
                let session = agent(&name);
                barrier.wait();
                repo.claim(&session, &ClaimTask::task(AgentName::new(&name).unwrap(), &id, None))
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let winner = winners[0].output.claimed_by.clone().unwrap();
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.kind, Kind::AlreadyClaimed);
        assert!(refused.message.contains(&winner), "the refusal names the winner: {}", refused.message);
    }
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim")).count();
    assert_eq!(claims, 1);
}

#[test]
fn wait_returns_the_finished_task_and_honours_its_deadline_and_cancel_flag() {
    let env = TestEnv::new();
    let (repo, id) = board_with_one_task(&env);

    let started = Instant::now();
    let timed_out = wait_for_task(&repo, &id, Some(started + Duration::from_millis(300)), None).unwrap_err();
    assert_eq!(timed_out.kind, Kind::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited until the deadline");

    let cancel = AtomicBool::new(true);
    let cancelled = wait_for_task(&repo, &id, None, Some(&cancel)).unwrap_err();
    assert_eq!(cancelled.kind, Kind::Timeout, "a set cancel flag ends a wait without a deadline");

    let repo = Arc::new(repo);
    let waiter = {
        let (repo, id) = (Arc::clone(&repo), id.clone());
        std::thread::spawn(move || wait_for_task(&repo, &id, Some(Instant::now() + Duration::from_secs(60)), None))
    };
    let a1 = agent("a1");
    let claimed = repo.claim(&a1, &ClaimTask::task(AgentName::new("a1").unwrap(), &id, None)).unwrap().output;
    let result = format!("finished after the waiter started ({:?})", Instant::now());
    let finish = FinishTask::new(None, id.clone(), Finish::Complete, Some(claimed.claim_token), Some(result.clone()));
    repo.finish(&a1, &finish.unwrap()).unwrap();
    // Only a done task answers Ok, and this result was written after the
    // waiter started: it blocked until the completion.
    let done = waiter.join().unwrap().unwrap();
    assert_eq!(done.result.as_deref(), Some(result.as_str()));
}

#[test]
fn the_follower_returns_new_events_and_stops_at_its_deadline() {
    let env = TestEnv::new();
    let (repo, _) = board_with_one_task(&env);
    let session = agent("a1");
    let query = EventQuery { kind: Some("tick".into()), ..Default::default() };
    let (mut follower, first) = EventFollower::start(&repo, &session, query).unwrap();
    assert!(first.items.is_empty());
    let logged = repo.apply(&session, &LogEvent::new(AgentName::new("a1").unwrap(), "tick", None).unwrap()).unwrap();
    let batch = follower.next_batch(Some(Instant::now() + Duration::from_secs(30)), None).unwrap();
    assert_eq!(batch.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [logged.output.id.as_str()]);
    let started = Instant::now();
    let nothing = follower.next_batch(Some(started + Duration::from_millis(300)), None).unwrap();
    assert!(nothing.items.is_empty() && started.elapsed() >= Duration::from_millis(300));
}

/// Polls `check` until it holds, or fails after `limit`.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_lease_renews_its_lock_releases_it_when_dropped_and_reports_a_takeover() {
    let env = TestEnv::new();
    let repo = Arc::new(Repo::open(&env.repo).unwrap());
    let db = ResourceName::new("db").unwrap();
    let locks = |repo: &Repo| repo.judged_locks(&person(), true).unwrap().0;

    let lease =
        LockLease::acquire(Arc::clone(&repo), Arc::new(agent("a1")), db.clone(), chrono::Duration::seconds(3)).unwrap();
    let first_expiry = lease.lock().expires_at;
    eventually(Duration::from_secs(20), "a renewal", || locks(&repo)[0].0.expires_at > first_expiry);
    assert_eq!(locks(&repo)[0].0.token, lease.lock().token, "a renewal keeps the fencing token");
    drop(lease);
    assert_eq!(locks(&repo)[0].0.holder, None, "dropping the lease released the lock");

    let lease =
        LockLease::acquire(Arc::clone(&repo), Arc::new(agent("a1")), db.clone(), chrono::Duration::seconds(3)).unwrap();
    repo.release_lock(&person(), &db, true).unwrap();
    repo.acquire_lock(&agent("a2"), &db, chrono::Duration::minutes(10)).unwrap();
    eventually(Duration::from_secs(20), "the lease noticing the takeover", || lease.lost().is_some());
    assert_eq!(lease.lost().unwrap().kind, Kind::LockHeld);
    assert_eq!(lease.release().unwrap_err().kind, Kind::LockHeld, "a lost lease is not released");
    assert_eq!(locks(&repo)[0].0.holder.as_deref(), Some("a2"), "the new holder keeps it");
}

/// A publishing command applies its operation, then publishes it. Another
/// process on the machine may sync in between: its replay drops the
/// operation when another machine won the task, or publishes it. The
/// publish answers with what the remote holds, never with a success the
/// remote does not show.
#[test]
fn a_publish_answers_with_what_the_remote_holds_when_another_process_synced_first() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let lost = env.add_task("w", "won elsewhere", &[]);
    let kept = env.add_task("w", "published by another process", &[]);
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();

    let repo = Repo::open(&env.repo).unwrap();
    let mut local = agent("agent-a");
    local.publish = Publish::Local;
    let a = AgentName::new("agent-a").unwrap();
    let lost_claim = repo.apply(&local, &ClaimTask::task(a.clone(), &lost, None)).unwrap();
    let kept_claim = repo.apply(&local, &ClaimTask::task(a, &kept, None)).unwrap();
    env.orc_in(&b, &["t", "claim", &lost, "agent-b"]).success();
    let synced = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(synced["dropped"].as_array().unwrap().len(), 1, "{synced}");

    let publishing = agent("agent-a");
    let refused = repo.publish(&publishing, &lost_claim.op_id, lost_claim.commit).unwrap_err();
    assert_eq!(refused.kind, Kind::AlreadyClaimed, "{refused:?}");
    assert!(refused.message.contains("agent-b"), "the refusal names the winner: {}", refused.message);
    repo.publish(&publishing, &kept_claim.op_id, kept_claim.commit).unwrap();
    env.orc_in(&b, &["sync"]).success();
    let shown = env.orc_in(&b, &["t", "show", &kept, "--json"]).success().json();
    assert_eq!(shown["claimed_by"], "agent-a");
}

/// An operation that vanished from the local branch without a logged drop
/// (a hand edit moved the branch back) is not reported published.
#[test]
fn a_publish_whose_operation_is_gone_without_a_logged_drop_is_refused() {
    let env = TestEnv::new();
    let (_remote, _b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "the task", &[]);
    env.orc(&["sync"]).success();

    let repo = Repo::open(&env.repo).unwrap();
    let mut local = agent("agent-a");
    local.publish = Publish::Local;
    let claim = repo.apply(&local, &ClaimTask::task(AgentName::new("agent-a").unwrap(), &id, None)).unwrap();
    let commit = claim.commit.unwrap().to_string();
    env.git(&["update-ref", "refs/heads/orc", &format!("{commit}^"), &commit]);

    let refused = repo.publish(&agent("agent-a"), &claim.op_id, claim.commit).unwrap_err();
    assert_eq!(refused.kind, Kind::WrongState, "{refused:?}");
    assert!(refused.message.contains(&claim.op_id), "{}", refused.message);
    assert!(refused.message.contains("not on origin's orc branch"), "{}", refused.message);
    let shown = env.orc(&["t", "show", &id, "--json"]).success().json();
    assert_eq!(shown["status"], "open", "nothing claimed it: {shown}");
}
