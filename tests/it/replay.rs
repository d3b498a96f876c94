//! Replaying one machine's operations on top of another's tip (the heart of
//! `orc sync`), with no network: two clones diverge, one fetches the other's
//! branch, and its operations are checked again on top of it.

use std::collections::HashSet;

use orc::model::task::Actor;
use orc::ops::replay::{local_only, replay_all, Replayed};
use orc::ops::Engine;
use orc::session::Session;
use orc::store::Store;

use crate::common::TestEnv;

#[test]
fn a_claim_won_elsewhere_is_dropped_and_the_rest_is_replayed_in_order() {
    let a = TestEnv::new();
    a.orc(&["ws", "create", "w"]).success();
    let contested = a.add_task("w", "contested", &[]);
    let b_dir = a.root.join("b");
    a.git_in(&a.root, &["clone", "-q", a.repo.to_str().unwrap(), b_dir.to_str().unwrap()]);
    a.orc_in(&b_dir, &["init"]).success();

    // Both machines work offline.
    a.orc(&["t", "claim", &contested, "a1"]).success();
    a.orc_in(&b_dir, &["t", "claim", &contested, "b1", "--local"]).success();
    let added = a.orc_in(&b_dir, &["t", "add", "w", "made on b"]).success().stdout.trim().to_string();
    let logged = a
        .orc_in(&b_dir, &["log", "deployed", "--data", r#"{"v":2}"#, "--agent", "b1", "--local", "--json"])
        .success()
        .json();
    a.orc_in(&b_dir, &["kb", "write", "notes/b", "from b"]).success();
    a.orc_in(&b_dir, &["kb", "append", "notes/b", "more from b"]).success();

    // b fetches a's branch and replays its own operations on top of it.
    a.git_in(&b_dir, &["fetch", "-q", "origin", "orc"]);
    let store = Store::discover(&b_dir).unwrap();
    let session = Session::new(Actor::Person("Test Person".into()));
    let orc = Engine::new(&store, &session);
    let local = orc.store.tip().unwrap().unwrap();
    let remote = orc.store.resolve("refs/remotes/origin/orc").unwrap().unwrap();
    let ops = local_only(&orc, local, Some(remote)).unwrap();
    let names: Vec<&str> = ops.iter().map(|r| r.envelope.op.as_str()).collect();
    assert_eq!(names, ["task.claim", "task.add", "event.log", "kb.write", "kb.write"]);
    let queue = orc.store.lock_writers().unwrap();
    let (tip, outcomes) = replay_all(&orc, &queue, ops, remote, &HashSet::new()).unwrap();
    drop(queue);

    match &outcomes[0].1 {
        Replayed::Dropped(e) => {
            assert_eq!(e.kind, "already_claimed");
            assert!(e.message.contains("claimed by a1"), "{}", e.message);
        }
        other => panic!("the claim a1 won first must be dropped, got {other:?}"),
    }
    assert!(outcomes[1..].iter().all(|(_, o)| matches!(o, Replayed::Applied(_))), "{outcomes:?}");

    // The result sits on a's tip and holds both machines' work.
    let show = |path: &str| a.git_in(&b_dir, &["show", &format!("{tip}:{path}")]);
    assert_eq!(a.git_in(&b_dir, &["rev-parse", &format!("{tip}~4")]), remote.to_string());
    let task = show(&format!("workstreams/w/tasks/{}/{}/{contested}.toml", &contested[2..3], &contested[3..4]));
    assert!(task.contains("claimed_by = \"a1\""), "{task}");
    let new = show(&format!("workstreams/w/tasks/{}/{}/{added}.toml", &added[2..3], &added[3..4]));
    assert!(new.contains("title = \"made on b\""), "the task keeps the id b was told: {new}");
    assert_eq!(show("knowledge/notes/b.md"), "from b\nmore from b");
    let day = a.git_in(&b_dir, &["log", "-1", "--format=%ad", "--date=format:%Y/%m/%d", &tip.to_string()]);
    let events = show(&format!("events/{day}/b1/000001.jsonl"));
    let replayed_log = events.lines().last().unwrap();
    assert!(replayed_log.contains(logged["id"].as_str().unwrap()), "the event keeps its id: {events}");
    let subjects = a.git_in(&b_dir, &["log", "--format=%s", &format!("{remote}..{tip}")]);
    assert!(!subjects.contains("claim"), "{subjects}");
}
