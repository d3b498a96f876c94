//! The engine's retry path, made deterministic: an operation starts from a
//! tip that a writer bypassing the local queue (as another machine's push
//! would) already moved past, so its first compare-and-swap fails.

use git2::Repository;
use orc::model::names::AgentName;
use orc::model::record;
use orc::model::task::Actor;
use orc::model::task::{Task, Terms};
use orc::model::workstream::task_path;
use orc::ops::task::ClaimTask;
use orc::ops::Engine;
use orc::read::Snapshot;
use orc::session::Session;
use orc::store::{Changes, Store};

use crate::common::TestEnv;

/// Commits `changes` on top of the orc branch, bypassing orc's queue.
fn commit_behind_orcs_back(repo_dir: &std::path::Path, changes: Changes) {
    let repo = Repository::open(repo_dir).unwrap();
    let store = orc::store::Store::discover(repo_dir).unwrap();
    let tip = store.tip().unwrap().unwrap();
    let sig = store.signature("rival", "rival@example.com", 1_795_000_000).unwrap();
    let commit = store.write_commit(None, Some(tip), &changes, "rival write", &sig).unwrap();
    repo.reference("refs/heads/orc", commit, true, "rival").unwrap();
}

fn setup() -> (TestEnv, String) {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "contested", &[]);
    (env, id)
}

fn me() -> AgentName {
    AgentName::new("me").unwrap()
}

#[test]
fn a_claim_lost_between_read_and_swap_is_refused_naming_the_winner() {
    let (env, id) = setup();
    let store = Store::discover(&env.repo).unwrap();
    let session = Session::new(Actor::Person("Test Person".into()));
    let orc = Engine::new(&store, &session);
    let read = orc.store.tip().unwrap().unwrap();
    {
        let snap = Snapshot::current(orc.store).unwrap();
        let task: Task = snap.find_task(&id, None).unwrap();
        let terms = Terms {
            now: chrono::Utc::now(),
            lease: chrono::Duration::minutes(30),
            grace: chrono::Duration::minutes(2),
        };
        let (claimed, _) = task.claim("rival", &terms, None, &[]).unwrap();
        let mut changes = Changes::new();
        changes.insert(task_path("w", &id), Some(record::render(&claimed)));
        commit_behind_orcs_back(&env.repo, changes);
    }
    let err = orc.apply_at(&ClaimTask::task(me(), &id, None), read).unwrap_err();
    assert_eq!(err.kind, "already_claimed");
    assert!(err.message.contains("claimed by rival"), "{}", err.message);
    assert_eq!(orc.cas_retries(), 1, "the first swap found the ref moved");
    assert_eq!(env.git(&["log", "-1", "--format=%s", "orc"]), "rival write", "nothing written on top of the winner");
}

#[test]
fn an_unrelated_write_in_between_is_retried_and_both_land() {
    let (env, id) = setup();
    let store = Store::discover(&env.repo).unwrap();
    let session = Session::new(Actor::Person("Test Person".into()));
    let orc = Engine::new(&store, &session);
    let read = orc.store.tip().unwrap().unwrap();
    let mut changes = Changes::new();
    changes.insert("knowledge/note.md".into(), Some(b"written meanwhile\n".to_vec()));
    commit_behind_orcs_back(&env.repo, changes);
    let applied = orc.apply_at(&ClaimTask::task(me(), &id, None), read).unwrap();
    assert_eq!(applied.retries, 1);
    assert_eq!(applied.output.claimed_by.as_deref(), Some("me"));
    assert_eq!(env.show("knowledge/note.md"), "written meanwhile");
    assert_eq!(env.git(&["log", "-1", "--format=%s", "orc~1"]), "rival write");
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim")).count();
    assert_eq!(claims, 1, "applied exactly once");
}

#[test]
fn an_expected_tip_is_checked_inside_the_write_queue() {
    let (env, id) = setup();
    let store = Store::discover(&env.repo).unwrap();
    let read = store.tip().unwrap().unwrap();
    // A caller decided on `read` (an HTTP If-Match); a write lands after
    // that, past any check made before the queue.
    let mut changes = Changes::new();
    changes.insert("knowledge/note.md".into(), Some(b"written meanwhile\n".to_vec()));
    commit_behind_orcs_back(&env.repo, changes);
    let moved = env.tip();
    let stale = Session::new(Actor::Person("Test Person".into())).with_expected_tip(Some(read.to_string()));
    let orc = Engine::new(&store, &stale);
    // Even building on `read`, as a writer that raced past the check would,
    // the compare-and-swap finds the ref moved and the retry refuses.
    let err = orc.apply_at(&ClaimTask::task(me(), &id, None), read).unwrap_err();
    assert_eq!(err.kind, "tip_moved");
    assert_eq!(env.tip(), moved, "nothing written");
    // Decided on the tip as it is: it goes through.
    let fresh = Session::new(Actor::Person("Test Person".into())).with_expected_tip(Some(moved.clone()));
    Engine::new(&store, &fresh).apply(&ClaimTask::task(me(), &id, None)).unwrap();
    assert_ne!(env.tip(), moved);
}
