//! `orc work`: a real supervisor running fake agents (shell scripts) on
//! real repositories. Process checks read /proc; waits poll for the thing
//! itself (a file an agent wrote, a process gone) with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Run, TestEnv};

/// Writes an executable fake agent.
fn agent_script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let path = env.root.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

fn seed(env: &TestEnv, count: usize) -> BTreeSet<String> {
    env.orc(&["ws", "create", "api"]).success();
    (0..count).map(|i| env.add_task("api", &format!("task {i}"), &[])).collect()
}

/// Runs `orc work` to the end (it must drain).
fn work(env: &TestEnv, dir: &Path, agent: &str, args: &[&str]) -> Run {
    let mut cmd = env.command(crate::common::ORC, dir);
    cmd.env("ORC_AGENT", agent).arg("work").args(args);
    Run::from(cmd.output().expect("run orc work"))
}

/// A supervisor started in the background; a test that fails stops it
/// (TERM: it ends its agents) rather than leave it running.
struct Background(Option<Child>);

impl Background {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child().wait()
    }

    fn wait_with_output(mut self) -> std::io::Result<std::process::Output> {
        self.0.take().expect("running").wait_with_output()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                let _ = child.wait();
            }
        }
    }
}

/// Starts `orc work` in the background.
fn spawn_work(env: &TestEnv, dir: &Path, agent: &str, args: &[&str]) -> Background {
    let mut cmd = env.command(crate::common::ORC, dir);
    cmd.env("ORC_AGENT", agent).arg("work").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    Background(Some(cmd.spawn().expect("start orc work")))
}

/// Waits for `ready` to hold, polling; panics with `what` at the deadline.
#[track_caller]
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A supervisor `crew` running one task whose agent sleeps, once the agent
/// has started.
fn start_one_long_task(env: &TestEnv) -> Background {
    seed(env, 1);
    let started = env.root.join("started");
    let agent = agent_script(env, "long.sh", &format!("touch {}\nsleep 1000", started.display()));
    let supervisor = spawn_work(env, &env.repo, "crew", &["--", agent.to_str().unwrap()]);
    wait_until("the agent to start", Duration::from_secs(30), || started.exists());
    supervisor
}

fn tasks(env: &TestEnv) -> BTreeMap<String, Value> {
    let list = env.orc(&["t", "list", "--json"]).success().json();
    list.as_array().unwrap().iter().map(|t| (t["id"].as_str().unwrap().to_string(), t.clone())).collect()
}

/// Every `Orc-Op` trailer on the orc branch, oldest first.
fn operations(env: &TestEnv, dir: &Path) -> Vec<Value> {
    let log = env.git_in(dir, &["log", "--reverse", "--format=%B%x00", "orc"]);
    log.split('\0')
        .filter_map(|message| message.lines().find_map(|l| l.strip_prefix("Orc-Op: ")))
        .map(|json| serde_json::from_str(json).unwrap())
        .collect()
}

/// Process ids whose process group is `pgid`, read from /proc.
fn group_members(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            found.push(pid);
        }
    }
    found
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[test]
fn four_slots_run_twenty_tasks_once_each_with_their_tokens() {
    let env = TestEnv::new();
    let ids = seed(&env, 20);
    let seen = env.root.join("seen.txt");
    let agent = agent_script(
        &env,
        "agent.sh",
        &format!(
            "echo \"$ORC_TASK $ORC_CLAIM_TOKEN $ORC_AGENT\" >> {seen}\ntest -f \"$ORC_BRIEF\" || exit 9\nsleep 0.2\necho RESULT: built $ORC_TASK",
            seen = seen.display()
        ),
    );
    let run = work(&env, &env.repo, "crew", &["--agents", "4", "--drain", "--", agent.to_str().unwrap()]).success();

    let runs: Vec<Vec<String>> = std::fs::read_to_string(&seen)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(runs.len(), 20, "every task ran exactly once: {runs:?}");
    let ran: BTreeSet<String> = runs.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ran, ids);
    let slots: BTreeSet<&str> = runs.iter().map(|r| r[2].as_str()).collect();
    assert!(slots.iter().all(|s| s.starts_with("crew-")), "slots act as crew-k: {slots:?}");

    let board = tasks(&env);
    for id in &ids {
        assert_eq!(board[id]["status"], "done", "{id}");
        assert_eq!(board[id]["result"], format!("built {id}"));
    }
    // Each finish carried the token the agent was given for that claim.
    let tokens: BTreeMap<&str, &str> = runs.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    let finishes: Vec<Value> = operations(&env, &env.repo).into_iter().filter(|op| op["op"] == "task.finish").collect();
    assert_eq!(finishes.len(), 20);
    for op in &finishes {
        let id = op["input"]["id"].as_str().unwrap();
        assert_eq!(op["input"]["token"].to_string(), tokens[id], "finish of {id}");
    }
    // Clean worktrees are gone, and so are their branches (no commits).
    assert_eq!(env.git(&["worktree", "list"]).lines().count(), 1);
    assert_eq!(env.git(&["branch", "--list", "orc-task/*"]), "");
    assert!(run.stderr.contains("start ") && run.stderr.contains("done "), "{run}");
}

#[test]
fn a_failing_task_is_retried_then_left_failed_with_its_log_tail() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let agent = agent_script(&env, "fail.sh", "echo trying\necho boom >&2\nexit 3");
    let run =
        work(&env, &env.repo, "crew", &["--drain", "--retries", "1", "--backoff", "0s", "--", agent.to_str().unwrap()])
            .success();
    let task = &tasks(&env)[&id];
    assert_eq!(task["status"], "failed");
    let reason = task["result"].as_str().unwrap();
    assert!(reason.contains("exited with status 3") && reason.contains("boom"), "{reason}");
    let dir = env.repo.join(".git/orc/work").join(&id);
    assert!(dir.join("attempt-1.log").exists() && dir.join("attempt-2.log").exists());
    assert!(!dir.join("attempt-3.log").exists(), "one retry only");
    let retries = operations(&env, &env.repo).iter().filter(|op| op["input"]["how"] == "Retry").count();
    assert_eq!(retries, 1);
    assert!(run.stderr.contains("no retries left"), "{run}");
}

#[test]
fn a_hung_agent_is_killed_with_its_grandchildren_at_the_timeout() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let pids = env.root.join("pids");
    let agent = agent_script(
        &env,
        "hang.sh",
        &format!(
            "sleep 1000 &\necho $! > {p}.child\necho $$ > {p}.leader\necho started\nsleep 1000",
            p = pids.display()
        ),
    );
    work(
        &env,
        &env.repo,
        "crew",
        &["--drain", "--retries", "0", "--timeout", "2s", "--grace", "1s", "--", agent.to_str().unwrap()],
    )
    .success();
    let leader = read_pid(&pids.with_extension("leader"));
    // The leader is its group's id (a process group of its own).
    assert_eq!(group_members(leader), Vec::<i32>::new(), "no process of the agent's group survives");
    let child = read_pid(&pids.with_extension("child"));
    assert!(!Path::new(&format!("/proc/{child}")).exists(), "the grandchild was killed and reaped");
    let task = &tasks(&env)[&id];
    assert_eq!(task["status"], "failed");
    assert!(task["result"].as_str().unwrap().contains("--timeout"), "{task}");
}

#[test]
fn a_silent_agent_is_ended_at_the_idle_timeout() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let agent = agent_script(&env, "silent.sh", "echo hello\nsleep 1000");
    let run = work(
        &env,
        &env.repo,
        "crew",
        &["--drain", "--retries", "0", "--idle-timeout", "1s", "--grace", "1s", "--", agent.to_str().unwrap()],
    )
    .success();
    let task = &tasks(&env)[&id];
    assert_eq!(task["status"], "failed");
    assert!(task["result"].as_str().unwrap().contains("--idle-timeout"), "{task}");
    assert!(run.stderr.contains("(idle)"), "{run}");
}

#[test]
fn an_agent_that_ignores_term_is_killed_after_the_grace() {
    let env = TestEnv::new();
    seed(&env, 1);
    let leader = env.root.join("leader");
    let agent = agent_script(
        &env,
        "stubborn.sh",
        &format!(
            "trap 'echo got TERM, carrying on' TERM\necho $$ > {}\nwhile true; do sleep 0.1; done",
            leader.display()
        ),
    );
    work(
        &env,
        &env.repo,
        "crew",
        &["--drain", "--retries", "0", "--timeout", "1s", "--grace", "1s", "--", agent.to_str().unwrap()],
    )
    .success();
    assert_eq!(group_members(read_pid(&leader)), Vec::<i32>::new());
    let log = std::fs::read_dir(env.repo.join(".git/orc/work"))
        .unwrap()
        .flatten()
        .find(|e| e.path().join("attempt-1.log").exists())
        .map(|e| std::fs::read_to_string(e.path().join("attempt-1.log")).unwrap())
        .unwrap();
    assert!(log.contains("got TERM, carrying on"), "TERM came first, KILL ended it: {log}");
}

#[test]
fn a_flood_of_output_is_capped_in_the_log_and_the_result_survives() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let agent = agent_script(&env, "flood.sh", "head -c 50000000 /dev/zero | tr '\\0' x\necho\necho RESULT: flooded");
    work(&env, &env.repo, "crew", &["--drain", "--", agent.to_str().unwrap()]).success();
    let task = &tasks(&env)[&id];
    assert_eq!(task["status"], "done");
    assert_eq!(task["result"], "flooded");
    let log = env.repo.join(".git/orc/work").join(&id).join("attempt-1.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 17 * 1024 * 1024, "the log is capped: {size} bytes");
    let tail = std::fs::read_to_string(&log).unwrap();
    assert!(tail.contains("bytes of output dropped here") && tail.ends_with("RESULT: flooded\n"));
}

#[test]
fn an_agent_reading_stdin_gets_end_of_file_at_once() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let agent = agent_script(&env, "reader.sh", "cat\necho RESULT: stdin closed");
    // A stdin left open would hang `cat` until the timeout fails the task.
    work(&env, &env.repo, "crew", &["--drain", "--retries", "0", "--timeout", "30s", "--", agent.to_str().unwrap()])
        .success();
    assert_eq!(tasks(&env)[&id]["result"], "stdin closed");
}

#[test]
fn an_agent_whose_claim_was_taken_over_cannot_complete() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    // The agent gives its claim away, another agent takes it, and the
    // agent then exits 0 as if it had finished.
    let agent = agent_script(
        &env,
        "robbed.sh",
        "orc t release \"$ORC_TASK\" >/dev/null\nORC_AGENT=thief orc claim \"$ORC_TASK\" >/dev/null\necho RESULT: mine",
    );
    let run = work(&env, &env.repo, "crew", &["--drain", "--", agent.to_str().unwrap()]).success();
    let task = &tasks(&env)[&id];
    assert_eq!(task["status"], "claimed");
    assert_eq!(task["claimed_by"], "thief");
    assert!(run.stderr.contains(&format!("lost {id}")), "{run}");
    assert!(operations(&env, &env.repo).iter().all(|op| op["op"] != "task.finish"), "nothing was finished");
}

#[test]
fn a_command_that_cannot_start_pauses_the_slot_and_spends_no_retry() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let run = work(&env, &env.repo, "crew", &["--json", "--drain", "--", "/nonexistent/agent-cli"]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(run.error_kind(), "spawn_failed");
    assert!(run.stderr.contains("paused") && run.stderr.contains("back in the queue"), "{run}");
    assert_eq!(tasks(&env)[&id]["status"], "open", "the claim was given back");
    let attempts = std::fs::read_to_string(env.repo.join(".git/orc/work").join(&id).join("attempts.jsonl")).unwrap();
    assert!(attempts.lines().all(|l| l.contains("\"spends_retry\":false")), "{attempts}");
}

#[test]
fn a_killed_supervisor_leaves_no_agent_and_its_tasks_return_to_the_queue() {
    let env = TestEnv::new();
    env.orc(&["config", "set", "lease", "4s"]).success();
    seed(&env, 2);
    let pids = env.root.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let agent = agent_script(&env, "long.sh", &format!("echo $$ > {}/$ORC_TASK\nsleep 1000", pids.display()));
    let mut supervisor = spawn_work(&env, &env.repo, "crew", &["--agents", "2", "--", agent.to_str().unwrap()]);
    wait_until("both agents to start", Duration::from_secs(30), || std::fs::read_dir(&pids).unwrap().count() == 2);
    let leaders: Vec<i32> = std::fs::read_dir(&pids).unwrap().flatten().map(|e| read_pid(&e.path())).collect();

    Command::new("kill").args(["-9", &supervisor.id().to_string()]).status().unwrap();
    supervisor.wait().unwrap();
    wait_until("every agent group to be gone", Duration::from_secs(2), || {
        leaders.iter().all(|&l| group_members(l).is_empty())
    });

    // The claims expire after the lease; then another supervisor takes them.
    wait_until("the tasks to be ready again", Duration::from_secs(30), || {
        env.orc(&["ready", "--json"]).success().json().as_array().unwrap().len() == 2
    });
    let done = agent_script(&env, "done.sh", "echo RESULT: picked up");
    work(&env, &env.repo, "second", &["--agents", "2", "--drain", "--", done.to_str().unwrap()]).success();
    assert!(tasks(&env).values().all(|t| t["status"] == "done" && t["result"] == "picked up"));
}

#[test]
fn a_restarted_supervisor_takes_over_its_own_dead_lock_at_once() {
    let env = TestEnv::new();
    let mut supervisor = start_one_long_task(&env);
    Command::new("kill").args(["-9", &supervisor.id().to_string()]).status().unwrap();
    supervisor.wait().unwrap();
    // Same identity, same clone: the file lock is free, so the branch lock
    // `work.crew` is known to be this clone's dead supervisor's.
    let quick = agent_script(&env, "quick.sh", "echo RESULT: ok");
    let run = work(&env, &env.repo, "crew", &["--drain", "--", quick.to_str().unwrap()]).success();
    // The dead supervisor's claim was given back and run again at once.
    assert!(run.stderr.contains("gave back"), "{run}");
    assert!(tasks(&env).values().all(|t| t["status"] == "done" && t["result"] == "ok"));
}

#[test]
fn a_second_supervisor_with_the_same_identity_refuses_to_start() {
    let env = TestEnv::new();
    let mut first = start_one_long_task(&env);

    let mut cmd = env.command(crate::common::ORC, &env.repo);
    cmd.env("ORC_AGENT", "crew").args(["work", "--json", "--", "true"]);
    let second = Run::from(cmd.output().unwrap());
    assert_eq!(second.code, 1, "{second}");
    assert_eq!(second.error_kind(), "already_running");

    // `orc work status` shows the running one; `orc work stop` ends it and
    // gives its claim back.
    let status_now = || env.orc_with(&[("ORC_AGENT", "crew")], &["work", "status", "--json"]).success().json();
    wait_until("the status file to name the attempt's log", Duration::from_secs(10), || {
        status_now()["supervisors"][0]["slots"][0]["log"].is_string()
    });
    let status = status_now();
    let me = &status["supervisors"][0];
    assert_eq!(me["running"], true);
    assert!(me["slots"][0]["task"].is_string(), "{status}");
    assert!(me["slots"][0]["log"].as_str().unwrap().ends_with("attempt-1.log"));
    env.orc_with(&[("ORC_AGENT", "crew")], &["work", "stop"]).success();
    let status = first.wait().unwrap();
    assert!(status.success());
    assert!(tasks(&env).values().all(|t| t["status"] == "open"), "the stopped task went back to the queue");
    let out = env.orc_with(&[("ORC_AGENT", "crew")], &["work", "stop", "--json"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(out.error_kind(), "not_found");
}

#[test]
fn supervisors_with_different_identities_never_run_a_task_twice() {
    let env = TestEnv::new();
    let ids = seed(&env, 12);
    let seen = env.root.join("seen.txt");
    let agent =
        agent_script(&env, "agent.sh", &format!("echo $ORC_TASK >> {}\nsleep 0.1\necho RESULT: ok", seen.display()));
    let args = ["--agents", "3", "--drain", "--", agent.to_str().unwrap()];
    let a = spawn_work(&env, &env.repo, "alpha", &args);
    let b = spawn_work(&env, &env.repo, "beta", &args);
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ran: Vec<String> = std::fs::read_to_string(&seen).unwrap().lines().map(str::to_string).collect();
    assert_eq!(ran.len(), ids.len(), "no task ran twice: {ran:?}");
    assert_eq!(ran.into_iter().collect::<BTreeSet<_>>(), ids);
}

#[test]
fn supervisors_on_two_clones_of_a_remote_never_run_a_task_twice() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    // Worktrees branch from HEAD, which the bare remote's default left unborn.
    env.git_in(&b, &["checkout", "-q", "main"]);
    let ids = seed(&env, 10);
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    let seen = env.root.join("seen.txt");
    let agent =
        agent_script(&env, "agent.sh", &format!("echo $ORC_TASK >> {}\nsleep 0.2\necho RESULT: ok", seen.display()));
    let args = ["--agents", "2", "--drain", "--", agent.to_str().unwrap()];
    let first = spawn_work(&env, &env.repo, "alpha", &args);
    let second = spawn_work(&env, &b, "beta", &args);
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ran: Vec<String> = std::fs::read_to_string(&seen).unwrap().lines().map(str::to_string).collect();
    let unique: BTreeSet<String> = ran.iter().cloned().collect();
    assert_eq!(ran.len(), unique.len(), "no task ran twice: {ran:?}");
    assert!(unique.is_subset(&ids));
    // Whatever one clone drained before the other's claims arrived, the
    // remote ends with every run task done exactly once.
    env.orc(&["sync"]).success();
    let board = tasks(&env);
    for id in &unique {
        assert_eq!(board[id]["status"], "done", "{id}");
    }
}

#[test]
fn a_dirty_worktree_is_kept_and_listed_and_commits_keep_their_branch() {
    let env = TestEnv::new();
    let ids = seed(&env, 2);
    // One agent commits its work, and leaves a stray file behind.
    let agent = agent_script(
        &env,
        "coder.sh",
        "echo \"$ORC_TASK\" > work.txt\ngit add work.txt\ngit -c user.name=a -c user.email=a@x commit -q -m \"work on $ORC_TASK\"\necho scratch > scratch.txt\necho RESULT: committed",
    );
    work(&env, &env.repo, "crew", &["--drain", "--", agent.to_str().unwrap()]).success();
    for id in &ids {
        let branch = format!("orc-task/{id}");
        assert!(env.git(&["log", "--format=%s", &branch]).contains(&format!("work on {id}")));
        assert!(env.repo.join(".git/orc/work").join(id).join("tree/scratch.txt").exists(), "kept with its changes");
    }
    let status = env.orc_with(&[("ORC_AGENT", "crew")], &["work", "status", "--json"]).success().json();
    assert_eq!(status["kept_worktrees"].as_array().unwrap().len(), 2, "{status}");
    // The brief lives in the worktree but is excluded from git.
    let id = ids.first().unwrap();
    let tree = env.repo.join(".git/orc/work").join(id).join("tree");
    assert!(tree.join(".orc/brief.md").exists());
    assert!(!env.git_in(&tree, &["status", "--porcelain"]).contains(".orc"));
}

#[test]
fn a_heartbeat_that_finds_the_claim_taken_ends_the_agent() {
    let env = TestEnv::new();
    // Heartbeats every third of the lease: each second here.
    env.orc(&["config", "set", "lease", "3s"]).success();
    let id = seed(&env, 1).pop_first().unwrap();
    let leader = env.root.join("leader");
    let agent = agent_script(&env, "long.sh", &format!("echo $$ > {}\necho working\nsleep 1000", leader.display()));
    let mut supervisor = spawn_work(&env, &env.repo, "crew", &["--", agent.to_str().unwrap()]);
    let lines = {
        let stderr = supervisor.child().stderr.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        lines
    };
    wait_until("the agent to start", Duration::from_secs(30), || leader.exists());
    // A person takes the claim back and another agent wins it.
    env.orc(&["t", "release", &id]).success();
    env.orc_with(&[("ORC_AGENT", "thief")], &["claim", &id]).success();
    let lost = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("a progress line saying the claim was lost");
        if line.contains(&format!("lost {id}")) {
            break line;
        }
    };
    assert!(lost.contains("thief"), "{lost}");
    assert_eq!(group_members(read_pid(&leader)), Vec::<i32>::new(), "the agent was ended before the report");
    env.orc_with(&[("ORC_AGENT", "crew")], &["work", "stop"]).success();
    assert!(supervisor.wait().unwrap().success());
    let task = &tasks(&env)[&id];
    assert_eq!(task["claimed_by"], "thief");
    assert!(operations(&env, &env.repo).iter().all(|op| op["op"] != "task.finish"));
}

#[test]
fn work_status_shows_slots_ages_output_and_kept_worktrees() {
    let env = TestEnv::new();
    let work_dir = env.repo.join(".git/orc/work");
    std::fs::create_dir_all(work_dir.join("t-0000000001/tree")).unwrap();
    let tree = work_dir.join("t-0000000001/tree");
    std::fs::write(
        work_dir.join("t-0000000001/worktree.json"),
        serde_json::json!({"path": tree, "branch": "orc-task/t-0000000001", "base": "0123abcd"}).to_string(),
    )
    .unwrap();
    // What a supervisor killed mid-run left: its file lock is free now.
    let state = serde_json::json!({
        "agent": "crew", "pid": 4242,
        "started_at": "2026-11-21T10:00:00Z", "updated_at": "2026-11-21T10:20:00Z",
        "command": ["./agent.sh"], "stopping": false, "lock_token": 3,
        "counts": {"started": 4, "done": 2, "failed": 1, "retried": 1, "lost": 0, "released": 0},
        "slots": [
            {"slot": 1, "agent": "crew-1", "state": "running", "task": "t-0000000002", "title": "Ship <it>",
             "started_at": "2026-11-21T10:15:00Z", "last_output": "compiling \u{1b}[31mred",
             "log": work_dir.join("t-0000000002/attempt-1.log"), "worktree": null, "paused_until": null},
            {"slot": 2, "agent": "crew-2", "state": "paused", "task": null, "title": null, "started_at": null,
             "last_output": null, "log": null, "worktree": null, "paused_until": "2026-11-21T10:25:00Z"},
            {"slot": 3, "agent": "crew-3", "state": "idle"}
        ]
    });
    std::fs::write(work_dir.join("crew.json"), state.to_string()).unwrap();
    let run = env.orc_with(&[("ORC_NOW", "2026-11-21T10:30:00Z")], &["work", "status"]).success();
    let root = env.root.to_string_lossy().into_owned();
    insta::with_settings!({ filters => vec![(root.as_str(), "[ROOT]")], prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("work-status", run, "orc work status");
    });
    let json = env.orc(&["work", "status", "--json"]).success().json();
    assert_eq!(json["supervisors"][0]["running"], false);
    assert_eq!(json["kept_worktrees"][0]["task"], "t-0000000001");
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let env = TestEnv::new();
    seed(&env, 1);
    let tip = env.tip();
    for (args, kind) in [
        (vec!["--timeout", "soon", "--", "true"], "invalid_input"),
        (vec!["--agents", "0", "--", "true"], "invalid_input"),
        (vec!["--preset", "gpt"], "usage"),
        (vec![], "usage"),
        (vec!["--ws", "../x", "--", "true"], "invalid_name"),
    ] {
        let mut full = vec!["--json"];
        full.extend(args.iter().copied());
        let run = work(&env, &env.repo, "crew", &full);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert_eq!(run.error_kind(), kind, "{args:?}");
    }
    // Without an identity there is nobody to claim as.
    let run = env.orc(&["work", "--json", "--", "true"]);
    assert_eq!(run.error_kind(), "no_agent", "{run}");
    assert_eq!(env.tip(), tip, "nothing was written");
}

#[test]
fn a_retry_pending_when_its_supervisor_died_is_taken_over_by_the_next_one() {
    let env = TestEnv::new();
    let id = seed(&env, 1).pop_first().unwrap();
    let failing = agent_script(&env, "fail.sh", "echo broken\nexit 1");
    let mut first =
        spawn_work(&env, &env.repo, "crew", &["--retries", "1", "--backoff", "1h", "--", failing.to_str().unwrap()]);
    let attempts = env.repo.join(".git/orc/work").join(&id).join("attempts.jsonl");
    wait_until("the first attempt to fail", Duration::from_secs(30), || attempts.exists());
    wait_until("the task to be failed on the branch", Duration::from_secs(30), || {
        tasks(&env)[&id]["status"] == "failed"
    });
    Command::new("kill").args(["-9", &first.id().to_string()]).status().unwrap();
    first.wait().unwrap();
    // Its retry was an hour away, in memory; the next supervisor of the
    // same identity finds it from the attempt record.
    let fixed = agent_script(&env, "fixed.sh", "echo RESULT: fixed");
    let run =
        work(&env, &env.repo, "crew", &["--drain", "--retries", "1", "--backoff", "0s", "--", fixed.to_str().unwrap()])
            .success();
    assert!(run.stderr.contains("failed under a supervisor that died"), "{run}");
    assert_eq!(tasks(&env)[&id]["result"], "fixed");
}

#[test]
fn a_supervisor_with_the_same_identity_on_another_machine_refuses_to_start() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.git_in(&b, &["checkout", "-q", "main"]);
    // Its lock `work.crew` is published with its first claim.
    let _first = start_one_long_task(&env);
    // With --drain, a supervisor that wrongly started exits instead of hanging.
    let run = work(&env, &b, "crew", &["--json", "--drain", "--", "true"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.error_kind(), "already_running");
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("another machine"), "{run}");
}
