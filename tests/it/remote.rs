//! Many machines, one winner: clones coordinating through a bare remote,
//! served by `git daemon` on 127.0.0.1 (and by path).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::common::TestEnv;

/// `git daemon` serving one folder on a free loopback port; stopped on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(env: &TestEnv, base: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = env
            .command("git", base)
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "git daemon did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare remote `remote.git` holding the seed repository's main branch.
fn bare_remote(env: &TestEnv) -> PathBuf {
    let remote = env.add_bare_remote();
    env.git(&["push", "-q", "origin", "main"]);
    remote
}

fn clone(env: &TestEnv, url: &str, name: &str) -> PathBuf {
    let dir = env.root.join(name);
    env.git_in(&env.root, &["clone", "-q", url, dir.to_str().unwrap()]);
    env.orc_in(&dir, &["sync"]).success();
    dir
}

fn on_remote(env: &TestEnv, remote: &Path, args: &[&str]) -> String {
    let mut all = vec!["--git-dir", remote.to_str().unwrap()];
    all.extend_from_slice(args);
    env.git_in(&env.root, &all)
}

/// `clones` clones race `orc t next` through `git daemon` over `tasks`
/// tasks until nothing is ready: each task is won once, by the agent told
/// so, and the clones converge on the remote's tip.
fn clones_racing_next_through_git_daemon(clones: usize, tasks: usize) {
    let env = Arc::new(TestEnv::new());
    let remote = bare_remote(&env);
    env.orc(&["ws", "create", "w"]).success();
    let all: BTreeSet<String> = (0..tasks).map(|i| env.add_task("w", &format!("task {i}"), &[])).collect();
    env.orc(&["sync"]).success();
    let daemon = Daemon::start(&env, &env.root);
    let dirs: Vec<PathBuf> =
        (0..clones).map(|i| clone(&env, &daemon.url("remote.git"), &format!("clone-{i}"))).collect();

    let barrier = Arc::new(Barrier::new(clones));
    let workers: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (env, dir, barrier) = (Arc::clone(&env), dir.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let agent = format!("agent-{i}");
                barrier.wait();
                let mut won = Vec::new();
                loop {
                    let run = env.orc_in(&dir, &["t", "next", "w", &agent, "--json"]);
                    match run.code {
                        0 => won.push(run.json()["id"].as_str().unwrap().to_string()),
                        1 if run.error_kind() == "nothing_ready" => return (agent, won),
                        // Out of time with its claim kept locally: the next
                        // `next` publishes that claim and answers with it.
                        3 if run.error_kind() == "busy" => {}
                        _ => panic!("unexpected: {run}"),
                    }
                }
            })
        })
        .collect();
    let mut told: BTreeMap<String, String> = BTreeMap::new();
    for worker in workers {
        let (agent, won) = worker.join().unwrap();
        for id in won {
            assert!(told.insert(id.clone(), agent.clone()).is_none(), "{id} was won twice");
        }
    }
    assert_eq!(told.keys().cloned().collect::<BTreeSet<_>>(), all, "every task won exactly once");
    // A lost choice's drop event waits for the clone's next publish or sync,
    // as events do: one round of syncs publishes them, a second brings them all.
    for _ in 0..2 {
        for dir in &dirs {
            env.orc_in(dir, &["sync"]).success();
        }
    }
    env.orc(&["sync"]).success();
    let listed = env.orc(&["t", "list", "w", "--json"]).success().json();
    for task in listed.as_array().unwrap() {
        let id = task["id"].as_str().unwrap();
        assert_eq!(task["claimed_by"].as_str(), Some(told[id].as_str()), "the remote shows {id} held by its winner");
    }
    let claims = on_remote(&env, &remote, &["log", "--format=%s", "orc"])
        .lines()
        .filter(|s| s.starts_with("orc: claim"))
        .count();
    assert_eq!(claims, tasks, "one claim commit per task on the remote");
    let tips: BTreeSet<String> = dirs.iter().map(|d| env.git_in(d, &["rev-parse", "orc"])).collect();
    assert_eq!(tips.len(), 1, "all clones converge");
    assert_eq!(tips.into_iter().next().unwrap(), on_remote(&env, &remote, &["rev-parse", "orc"]));
}

#[test]
fn four_clones_racing_next_through_git_daemon_win_each_task_once() {
    clones_racing_next_through_git_daemon(4, 40);
}

#[test]
fn issue12_eight_clones_racing_next_through_git_daemon_win_each_task_once() {
    clones_racing_next_through_git_daemon(8, 32);
}

#[test]
fn sixteen_clones_claiming_one_task_have_one_winner() {
    let env = Arc::new(TestEnv::new());
    let remote = bare_remote(&env);
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "contested", &[]);
    env.orc(&["sync"]).success();
    let url = remote.to_str().unwrap().to_string();
    let clones: Vec<PathBuf> = (0..16).map(|i| clone(&env, &url, &format!("c{i}"))).collect();
    let barrier = Arc::new(Barrier::new(16));
    let racers: Vec<_> = clones
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (env, dir, barrier, id) = (Arc::clone(&env), dir.clone(), Arc::clone(&barrier), id.clone());
            std::thread::spawn(move || {
                let agent = format!("agent-{i}");
                barrier.wait();
                (agent.clone(), env.orc_in(&dir, &["t", "claim", &id, &agent, "--json"]))
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let winners: Vec<&String> = results.iter().filter(|(_, r)| r.code == 0).map(|(a, _)| a).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (agent, run) in &results {
        if agent != winners[0] {
            assert_eq!(run.code, 1, "{run}");
            assert_eq!(run.error_kind(), "already_claimed");
            assert_eq!(run.json()["error"]["claimed_by"].as_str(), Some(winners[0].as_str()));
        }
    }
    let claims = on_remote(&env, &remote, &["log", "--format=%s", "orc"])
        .lines()
        .filter(|s| s.starts_with("orc: claim"))
        .count();
    assert_eq!(claims, 1);
}

#[test]
fn two_machines_that_each_ran_init_before_either_pushed_still_sync() {
    let env = TestEnv::new();
    let remote = bare_remote(&env);
    let b = env.root.join("b");
    env.git_in(&env.root, &["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()]);
    env.orc(&["init"]).success();
    env.orc_in(&b, &["init"]).success();
    env.orc(&["ws", "create", "from-a"]).success();
    env.orc_in(&b, &["ws", "create", "from-b"]).success();
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    env.orc(&["sync"]).success();
    for dir in [&env.repo, &b] {
        let names: Vec<String> = env
            .orc_in(dir, &["ws", "list", "--json"])
            .success()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["from-a", "from-b"]);
    }
}

#[test]
fn a_push_refused_by_a_server_hook_is_reported_and_blocks_nothing_else() {
    let env = TestEnv::new();
    let remote = bare_remote(&env);
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["sync"]).success();
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'orc branch is frozen for the release' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.orc(&["t", "add", "w", "queued"]).success();
    let refused = env.orc(&["sync", "--json"]).code(1);
    assert_eq!(refused.error_kind(), "push_refused");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("frozen for the release"), "{refused}");
    // Local work goes on, and is published once the host accepts again.
    env.orc(&["t", "add", "w", "more"]).success();
    std::fs::remove_file(&hook).unwrap();
    env.orc(&["sync"]).success();
    let subjects = on_remote(&env, &remote, &["log", "--format=%s", "orc"]);
    assert!(subjects.contains("queued") && subjects.contains("more"), "{subjects}");
}

#[test]
fn a_rewritten_remote_stops_sync_keeps_a_backup_and_can_be_replayed_onto() {
    let env = TestEnv::new();
    let remote = bare_remote(&env);
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["sync"]).success();
    let before_tasks = env.git(&["rev-parse", "orc"]);
    let lost = env.add_task("w", "will be lost", &[]);
    env.orc(&["sync"]).success();
    // Someone force-pushes the remote branch back: the task is gone there.
    on_remote(&env, &remote, &["update-ref", "refs/heads/orc", &before_tasks]);
    env.add_task("w", "made after", &[]);
    let stopped = env.orc(&["sync", "--json"]).code(3);
    assert_eq!(stopped.error_kind(), "remote_rewritten");
    let error = &stopped.json()["error"];
    assert!(error["message"].as_str().unwrap().contains(&format!("add {lost}")), "{stopped}");
    let backup = error["backup"].as_str().unwrap().to_string();
    assert_eq!(env.git(&["rev-parse", &backup]), env.git(&["rev-parse", "orc"]), "the local branch is kept");
    assert_eq!(on_remote(&env, &remote, &["rev-parse", "orc"]), before_tasks, "nothing was pushed");
    // Accepting the rewrite replays the lost operation and the new one.
    env.orc(&["sync", "--accept-rewrite"]).success();
    let subjects = on_remote(&env, &remote, &["log", "--format=%s", "orc"]);
    assert!(subjects.contains(&format!("add {lost}")) && subjects.contains("made after"), "{subjects}");
    env.orc(&["sync"]).success();
}

#[test]
fn a_randomized_run_across_three_clones_with_one_offline_converges_without_loss() {
    let env = TestEnv::new();
    let remote = bare_remote(&env);
    let url = remote.to_str().unwrap().to_string();
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["sync"]).success();
    let clones = [env.repo.clone(), clone(&env, &url, "b"), clone(&env, &url, "c")];
    let offline = env.root.join("unreachable.git");
    let mut rand: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        rand ^= rand << 13;
        rand ^= rand >> 7;
        rand ^= rand << 17;
        rand % n
    };
    let mut added = Vec::new();
    let mut logged = Vec::new();
    let mut unreachable_answers = 0;
    for step in 0..90u64 {
        // Clone c is offline for a third of the run.
        if step == 30 {
            env.git_in(&clones[2], &["remote", "set-url", "origin", offline.to_str().unwrap()]);
        }
        if step == 60 {
            env.git_in(&clones[2], &["remote", "set-url", "origin", &url]);
        }
        let who = next(3) as usize;
        let dir = &clones[who];
        let agent = format!("agent-{who}");
        let run = match next(7) {
            0 | 1 => {
                let title = format!("task {step}");
                let run = env.orc_in(dir, &["t", "add", "w", &title]);
                if run.code == 0 {
                    added.push(title);
                }
                run
            }
            2 => env.orc_in(dir, &["t", "next", "w", &agent]),
            3 => {
                let run = env.orc_in(dir, &["log", "tick", "--data", &format!("{{\"n\":{step}}}"), "--agent", &agent]);
                if run.code == 0 {
                    logged.push(step);
                }
                run
            }
            4 => {
                env.orc_in(dir, &["kb", "write", &format!("notes/{agent}"), &format!("step {step}"), "--agent", &agent])
            }
            5 => env.orc_in(dir, &["lock", "acquire", "shared", "--ttl", "10m", "--agent", &agent]),
            _ => env.orc_in(dir, &["sync"]),
        };
        // Refusals (a lost race, a held lock, nothing ready) and an
        // unreachable remote (exit 3, nothing on stdout, an error that says
        // so) are answers, not failures; nothing else is.
        let unreachable = run.code == 3
            && run.stdout.is_empty()
            && (run.stderr.contains("not published") || run.stderr.contains("cannot fetch"));
        assert!(run.code == 0 || run.code == 1 || unreachable, "step {step} on clone {who}: {run}");
        unreachable_answers += usize::from(unreachable);
    }
    assert!(unreachable_answers > 0, "clone c never found the remote unreachable: the offline third tested nothing");
    for _ in 0..2 {
        for dir in &clones {
            env.orc_in(dir, &["sync"]).success();
        }
    }
    let tips: BTreeSet<String> = clones.iter().map(|d| env.git_in(d, &["rev-parse", "orc"])).collect();
    assert_eq!(tips.len(), 1, "all clones converge");
    let tasks = env.orc(&["t", "list", "--json"]).success().json();
    let mut titles: Vec<String> =
        tasks.as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect();
    titles.sort();
    added.sort();
    assert_eq!(titles, added, "every acknowledged task exactly once");
    let ticks = env.orc(&["events", "--type", "tick", "--since", "1d", "--json"]).success().json();
    let mut seen: Vec<u64> = ticks.as_array().unwrap().iter().map(|e| e["data"]["n"].as_u64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, logged, "every acknowledged event exactly once");
    let files = env.git(&["ls-tree", "-r", "--name-only", "orc"]);
    for file in files.lines() {
        assert!(!env.show(file).contains("<<<<<<<"), "no conflict markers in {file}");
    }
}
