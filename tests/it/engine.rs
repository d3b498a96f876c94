//! The engine's retry path, made deterministic: an operation whose state is
//! changed by a writer that bypasses the local queue between its read and
//! its compare-and-swap (as another machine's push would).

use std::cell::RefCell;

use git2::Repository;
use orc::error::Result;
use orc::model::record;
use orc::model::task::{Actor, Task, Terms};
use orc::model::workstream::task_path;
use orc::ops::task::ClaimTask;
use orc::ops::view::Snapshot;
use orc::ops::{OpEnv, Operation, Orc, Plan};
use orc::store::Changes;

use crate::common::TestEnv;

/// Records as the operation it wraps.
impl<O: serde::Serialize> serde::Serialize for Interfered<O> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.inner.serialize(s)
    }
}

/// Runs `interfere` once, just before the first check of `inner`.
struct Interfered<O> {
    inner: O,
    interfere: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl<O: Operation> Operation for Interfered<O> {
    type Output = O::Output;
    const NAME: &'static str = O::NAME;

    fn actor(&self, orc: &Orc) -> Result<Actor> {
        self.inner.actor(orc)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<O::Output>> {
        let hook = self.interfere.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.plan(snap, env)
    }
}

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

#[test]
fn a_claim_lost_between_read_and_swap_is_refused_naming_the_winner() {
    let (env, id) = setup();
    let repo_dir = env.repo.clone();
    let rival_id = id.clone();
    let orc = Orc::open(&env.repo, None, None).unwrap();
    let op = Interfered {
        inner: ClaimTask { workstream: None, id: id.clone(), agent: "me".into() },
        interfere: RefCell::new(Some(Box::new(move || {
            let store = orc::store::Store::discover(&repo_dir).unwrap();
            let snap = Snapshot::current(&store).unwrap();
            let task: Task = snap.find_task(&rival_id, None).unwrap();
            let terms = Terms {
                now: chrono::Utc::now(),
                lease: chrono::Duration::minutes(30),
                grace: chrono::Duration::minutes(2),
            };
            let (claimed, _) = task.claim("rival", &terms, None, &[]).unwrap();
            let mut changes = Changes::new();
            changes.insert(task_path("w", &rival_id), Some(record::render(&claimed)));
            drop(snap);
            commit_behind_orcs_back(&repo_dir, changes);
        }))),
    };
    let err = orc.apply(&op).unwrap_err();
    assert_eq!(err.kind, "already_claimed");
    assert!(err.message.contains("claimed by rival"), "{}", err.message);
    assert_eq!(orc.cas_retries(), 1, "the first swap found the ref moved");
    assert_eq!(env.git(&["log", "-1", "--format=%s", "orc"]), "rival write", "nothing written on top of the winner");
}

#[test]
fn an_unrelated_write_in_between_is_retried_and_both_land() {
    let (env, id) = setup();
    let repo_dir = env.repo.clone();
    let orc = Orc::open(&env.repo, None, None).unwrap();
    let op = Interfered {
        inner: ClaimTask { workstream: None, id: id.clone(), agent: "me".into() },
        interfere: RefCell::new(Some(Box::new(move || {
            let mut changes = Changes::new();
            changes.insert("knowledge/note.md".into(), Some(b"written meanwhile\n".to_vec()));
            commit_behind_orcs_back(&repo_dir, changes);
        }))),
    };
    let applied = orc.apply(&op).unwrap();
    assert_eq!(applied.retries, 1);
    assert_eq!(applied.output.claimed_by.as_deref(), Some("me"));
    assert_eq!(env.show("knowledge/note.md"), "written meanwhile");
    assert_eq!(env.git(&["log", "-1", "--format=%s", "orc~1"]), "rival write");
    let claims = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim")).count();
    assert_eq!(claims, 1, "applied exactly once");
}
