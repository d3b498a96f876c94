//! Every operation of the catalog round-trips its trailer: applied through
//! the library, then rebuilt from its commit's `Orc-Op` envelope alone and
//! replayed on the commit's parent, it makes the same tree. A new operation
//! that records too little to be replayed fails here.

use orc::ops::bulk::{AddTasks, Row};
use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use orc::api::Repo;
use orc::model::names::{AgentName, Label, ResourceName};
use orc::model::task::{Actor, Text};
use orc::ops::agent::{Heartbeat, RegisterAgent, RemoveAgent};
use orc::ops::catalog::CATALOG;
use orc::ops::config::{SetConfig, SettingKey, SettingValue};
use orc::ops::cycle::{CloseCycle, WritePlan};
use orc::ops::dashboard::RenderDashboard;
use orc::ops::events::{EventData, HookEvent, LogEvent, OrcEventType};
use orc::ops::knowledge::{ImportTopics, RemoveTopic, WriteTopic};
use orc::ops::replay::{recorded, replay_one, Replayed};
use orc::ops::task::{AddTask, Change, ChangeTask, ClaimTask, EditTask, Finish, FinishTask};
use orc::ops::workstream::{ArchiveWorkstream, CreateWorkstream};
use orc::ops::Engine;
use orc::session::{Clock, Session};

use crate::common::TestEnv;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000 + seconds, 0).unwrap()
}

fn person(seconds: i64) -> Session {
    Session::new(Actor::Person("Test Person".into())).with_clock(Clock::fixed(at(seconds)).with_seed(seconds as u64))
}

fn agent(name: &str, seconds: i64) -> Session {
    Session::new(Actor::Agent(name.into())).with_clock(Clock::fixed(at(seconds)).with_seed(seconds as u64))
}

#[test]
fn every_operation_replays_from_its_trailer_to_the_same_tree() {
    let env = TestEnv::new();
    let repo = Repo::open(&env.repo).unwrap();
    let a1 = || AgentName::new("a1").unwrap();
    let mut t = 0;
    let mut next = || {
        t += 5;
        t
    };

    repo.apply(&person(next()), &CreateWorkstream::new("w", Some("work"), Some(2)).unwrap()).unwrap();
    let s = person(next());
    let first = repo.apply(&s, &AddTask::new(&s.clock, "w", "first", Some("d"), Some(1), vec![], vec![]).unwrap());
    let first = first.unwrap().output.id;
    let s = person(next());
    let second = repo
        .apply(&s, &AddTask::new(&s.clock, "w", "second", None, None, vec![first.clone()], vec!["db".into()]).unwrap());
    let second = second.unwrap().output.id;
    let s = person(next());
    let third = repo.apply(&s, &AddTask::new(&s.clock, "w", "third", None, None, vec![], vec![]).unwrap());
    let third = third.unwrap().output.id;
    let s = person(next());
    let rows = vec![
        Row { ws: "w".into(), title: "bulk one".into(), ..Row::default() },
        Row { ws: "w".into(), title: "bulk two".into(), after: vec!["#1".into(), first[..6].into()], ..Row::default() },
    ];
    repo.apply(&s, &AddTasks::new(&s.clock, rows, &[1, 2]).unwrap()).unwrap();
    repo.apply(&agent("a1", next()), &RegisterAgent::new("a1", Some("worker")).unwrap()).unwrap();
    let status = Some(Label::new("busy").unwrap());
    repo.apply(&agent("a1", next()), &Heartbeat { agent: a1(), status }).unwrap();
    let claimed = repo.apply(&agent("a1", next()), &ClaimTask::best(a1(), None)).unwrap().output;
    assert_eq!(claimed.id, first);
    let done = FinishTask::new(None, first.clone(), Finish::Complete, Some(claimed.claim_token), Some("ok".into()));
    repo.apply(&agent("a1", next()), &done.unwrap()).unwrap();
    repo.apply(&agent("a1", next()), &ClaimTask::task(a1(), &second[..6], None)).unwrap();
    let release = ChangeTask { workstream: None, id: second.clone(), how: Change::Release, reason: None };
    repo.apply(&agent("a1", next()), &release).unwrap();
    let reason = Some(Text::new("not needed").unwrap());
    repo.apply(&person(next()), &ChangeTask { workstream: None, id: third, how: Change::Cancel, reason }).unwrap();
    let edit = EditTask::new(&second[..6], Some("second, edited"), Some("d2"), Some(2), Some(vec![first[..7].into()]));
    repo.apply(&person(next()), &edit.unwrap()).unwrap();
    repo.apply(&person(next()), &EditTask::new(&second, None, None, None, Some(vec![])).unwrap()).unwrap();
    repo.apply(&person(next()), &CreateWorkstream::new("old", None, None).unwrap()).unwrap();
    repo.apply(&person(next()), &ArchiveWorkstream::new("old", true).unwrap()).unwrap();
    repo.apply(&person(next()), &ArchiveWorkstream::new("old", false).unwrap()).unwrap();
    repo.apply(&agent("typo", next()), &Heartbeat { agent: AgentName::new("typo").unwrap(), status: None }).unwrap();
    repo.apply(&person(next()), &RemoveAgent { agent: AgentName::new("typo").unwrap() }).unwrap();
    let db = ResourceName::new("db").unwrap();
    repo.acquire_lock(&agent("a1", next()), &db, chrono::Duration::minutes(5)).unwrap();
    repo.release_lock(&agent("a1", next()), &db, false).unwrap();
    let logged = LogEvent::new(a1(), "deployed", Some(r#"{"op":"task.claim","v":9}"#)).unwrap();
    repo.apply(&agent("a1", next()), &logged).unwrap();
    let hook = HookEvent {
        kind: OrcEventType::new("hook.post-commit").unwrap(),
        data: EventData::new(serde_json::json!({"sha": "abc"})).unwrap(),
    };
    repo.apply(&person(next()), &hook).unwrap();
    repo.apply(&person(next()), &WriteTopic::new("design/api", "first\n".into(), false).unwrap()).unwrap();
    repo.apply(&person(next()), &WriteTopic::new("design/api", "more\n".into(), true).unwrap()).unwrap();
    repo.apply(&person(next()), &WriteTopic::new("scratch", "x".into(), false).unwrap()).unwrap();
    repo.apply(&person(next()), &RemoveTopic { topic: "scratch".try_into().unwrap() }).unwrap();
    let imported = vec![("notes/a".to_string(), "alpha\n".to_string()), ("design/api".into(), "replaced\n".into())];
    repo.apply(&person(next()), &ImportTopics::new(imported).unwrap()).unwrap();
    repo.apply(&person(next()), &WritePlan).unwrap();
    repo.apply(&person(next()), &CloseCycle).unwrap();
    repo.apply(&person(next()), &RenderDashboard).unwrap();
    let setting = SetConfig { key: SettingKey::new("lease").unwrap(), value: SettingValue::new("45m").unwrap() };
    repo.apply(&person(next()), &setting).unwrap();

    let store = repo.store().unwrap();
    let session = person(0);
    let engine = Engine::new(&store, &session);
    let tip = store.tip().unwrap().unwrap();
    let mut seen = BTreeSet::new();
    let queue = store.lock_writers().unwrap();
    for (commit, _) in store.commits_since(tip, None, usize::MAX).unwrap() {
        let Some(rec) = recorded(&engine, commit).unwrap() else { continue };
        let parent = store.commits_since(commit, None, 2).unwrap()[1].0;
        seen.insert(rec.envelope.op.clone());
        match replay_one(&engine, &queue, &rec, parent).unwrap() {
            Replayed::Applied(again) => assert_eq!(
                store.tree_of(again).unwrap().id(),
                store.tree_of(commit).unwrap().id(),
                "{} ({}) replayed from its trailer makes another tree",
                rec.envelope.op,
                rec.subject
            ),
            other => panic!("{} ({}) did not replay on its parent: {other:?}", rec.envelope.op, rec.subject),
        }
    }
    drop(queue);
    let catalog: BTreeSet<String> = CATALOG.iter().map(|e| e.name.to_string()).collect();
    let missing: Vec<_> = catalog.difference(&seen).collect();
    assert!(missing.is_empty(), "catalog operations this test does not exercise: {missing:?}");
    let unknown: HashSet<_> = seen.difference(&catalog).collect();
    assert!(unknown.is_empty(), "operations on the branch missing from the catalog: {unknown:?}");
}
