//! Interruption and the network (issue 13): stale lock files left by killed
//! gits, remotes that never answer, remotes that do not exist, offline
//! claims, and git hooks that must never hold git up. Network tests only
//! ever target 127.0.0.1.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{path_with_orc, TestEnv};

/// A remote that accepts connections and never says a word: a TCP listener
/// on 127.0.0.1 holding every connection open. Stops when dropped.
struct BlackHole {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlackHole {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/x", self.port)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// orc.toml as the root commit writes it, plus `extra`.
fn settings_with(env: &TestEnv, extra: &str) -> String {
    format!("{}\n{extra}\n", env.show("orc.toml"))
}

fn problems_of(doctor: &Value) -> Vec<Value> {
    doctor["problems"].as_array().unwrap().clone()
}

#[test]
fn issue13_a_stale_remote_tracking_lock_is_named_by_doctor_and_cleared_by_sync() {
    let env = TestEnv::new();
    let (remote, _b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    env.orc(&["sync"]).success();
    // What a publish killed during its fetch or push leaves behind, and what
    // killed libgit2 writes and git maintenance leave.
    let git_dir = env.repo.join(".git");
    let tracking_lock = git_dir.join("refs/remotes/origin/orc.lock");
    std::fs::write(&tracking_lock, "").unwrap();
    std::fs::write(git_dir.join("maintenance.lock"), "").unwrap();
    std::fs::write(git_dir.join("objects/pack/pack_git2_Ab12Cd"), "").unwrap();

    let doctor = env.orc(&["doctor", "--json"]).success().json();
    let leftovers: Vec<Value> = problems_of(&doctor).into_iter().filter(|p| p["kind"] == "leftover_lock").collect();
    for name in ["refs/remotes/origin/orc.lock", "maintenance.lock", "objects/pack/pack_git2_Ab12Cd"] {
        let found = leftovers.iter().find(|p| p["path"].as_str().unwrap().ends_with(name));
        let found = found.unwrap_or_else(|| panic!("doctor names {name}: {doctor:#}"));
        assert!(found["message"].as_str().unwrap().contains(name), "{found}");
        assert!(found["fix"].as_str().unwrap().contains(name), "the fix names the file: {found}");
    }
    // The human output names the file and the fix too.
    let human = env.orc(&["doctor"]).success().stdout;
    assert!(human.contains(&tracking_lock.display().to_string()), "{human}");

    // A plain sync clears the stale lock and publishes.
    env.orc(&["t", "add", "w", "made after the kill"]).success();
    let sync = env.orc(&["sync", "--json"]).success();
    assert!(sync.stderr.contains("orc.lock"), "sync says what it removed: {sync}");
    assert!(!tracking_lock.exists());
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%s", "orc"]);
    assert!(on_remote.contains("made after the kill"), "{on_remote}");
    // Again, with a publishing command and a fresh lock (a kill just now).
    std::fs::write(&tracking_lock, "").unwrap();
    let id = env.add_task("w", "claimed through the lock", &[]);
    env.orc(&["t", "claim", &id, "a1"]).success();
    assert!(!tracking_lock.exists());
}

#[test]
fn issue13_a_remote_that_never_answers_fails_a_claim_within_net_timeout() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    env.edit_branch_file("orc.toml", &settings_with(&env, "net_timeout = \"2s\""));
    let id = env.add_task("w", "wanted while the host is down", &[]);
    let hole = BlackHole::start();
    env.git(&["remote", "add", "origin", &hole.url()]);

    let started = Instant::now();
    let claim = env.orc(&["t", "claim", &id, "a1", "--json"]).code(3);
    let took = started.elapsed();
    assert_eq!(claim.error_kind(), "network", "{claim}");
    assert!(took < Duration::from_secs(15), "a claim against a silent remote took {took:?}");
    assert!(took >= Duration::from_millis(1500), "it waited for the remote ({took:?}): {claim}");
    let error = &claim.json()["error"];
    assert_eq!(error["task"], id.as_str(), "{claim}");
    assert_eq!(error["claimed_locally"], true);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&id) && message.contains("2s"), "{message}");
    assert_eq!(env.orc(&["t", "show", &id, "--json"]).success().json()["claimed_by"], "a1");

    let started = Instant::now();
    let sync = env.orc(&["sync", "--json"]).code(3);
    let took = started.elapsed();
    assert_eq!(sync.error_kind(), "network", "{sync}");
    assert!(took < Duration::from_secs(15), "a sync against a silent remote took {took:?}");
}

/// Tasks `first` (priority 1) and `second`, and an `origin` whose path
/// holds no repository until the test makes one there.
fn two_tasks_and_a_remote_not_made_yet() -> (TestEnv, String, String, std::path::PathBuf) {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let first = env.add_task("w", "first", &["claimed first", "1"]);
    let second = env.add_task("w", "second", &["claimed second", "2"]);
    let missing = env.root.join("not-yet.git");
    env.git(&["remote", "add", "origin", missing.to_str().unwrap()]);
    (env, first, second, missing)
}

#[test]
fn issue13_offline_next_names_the_task_it_claimed_locally_and_claims_no_other() {
    let (env, first, second, missing) = two_tasks_and_a_remote_not_made_yet();

    // Retried while the remote cannot be used: every failure names the one
    // task claimed locally, and no retry claims another.
    for _ in 0..3 {
        let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).code(3);
        let error = &next.json()["error"];
        assert_eq!(error["task"], first.as_str(), "{next}");
        assert_eq!(error["claimed_locally"], true, "{next}");
        assert!(error["message"].as_str().unwrap().contains(&first), "{next}");
    }
    let text = env.orc(&["next", "w", "--agent", "a1"]).code(3);
    assert!(text.stderr.contains(&first) && text.stderr.contains("claimed on this machine only"), "{text}");
    let held = env.orc(&["t", "list", "--holder", "a1", "--json"]).success().json();
    assert_eq!(held.as_array().unwrap().len(), 1, "one task held, not one per retry: {held:#}");
    assert_eq!(env.orc(&["t", "show", &second, "--json"]).success().json()["status"], "open");

    // Once the remote exists, `next` publishes the pending claim and answers with it.
    env.git_in(&env.root, &["init", "-q", "--bare", missing.to_str().unwrap()]);
    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success();
    assert_eq!(next.json()["id"], first.as_str(), "{next}");
    let on_remote = env.git_in(&env.root, &["--git-dir", missing.to_str().unwrap(), "log", "--format=%s", "orc"]);
    assert!(on_remote.contains(&format!("orc: claim {first}")), "{on_remote}");
    // With nothing pending, `next` claims the next task as usual.
    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success().json();
    assert_eq!(next["id"], second.as_str());
}

/// A `git push` moves the remote-tracking ref without checking what it
/// held, so a slow one by another process of this clone can move it back
/// behind a claim already published (the MCP race on two clones handed one
/// agent the same task twice). Such a claim is not waiting to be published:
/// the agent was told it won, and `next` gives it another task.
#[test]
fn a_tracking_ref_moved_back_behind_a_published_claim_does_not_hand_it_out_again() {
    let env = TestEnv::new();
    env.add_bare_remote();
    env.orc(&["ws", "create", "w"]).success();
    let first = env.add_task("w", "first", &["", "1"]);
    let second = env.add_task("w", "second", &["", "2"]);
    env.orc(&["sync"]).success();
    let before_claim = env.git(&["rev-parse", "refs/remotes/origin/orc"]);

    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success().json();
    assert_eq!(next["id"], first.as_str());
    env.git(&["update-ref", "refs/remotes/origin/orc", &before_claim]);

    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success().json();
    assert_eq!(next["id"], second.as_str(), "a published claim is not handed out again: {next:#}");
    let remote = env.root.join("remote.git");
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%s", "orc"]);
    assert_eq!(on_remote.matches(&format!("orc: claim {first}")).count(), 1, "{on_remote}");
    assert!(on_remote.contains(&format!("orc: claim {second}")), "{on_remote}");
}

#[test]
fn issue13_a_remote_path_that_does_not_exist_is_not_the_network_and_shows_gits_message() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let missing = env.root.join("missing.git");
    env.git(&["remote", "add", "origin", missing.to_str().unwrap()]);

    let sync = env.orc(&["sync", "--json"]).code(3);
    assert_eq!(sync.error_kind(), "remote_not_found", "{sync}");
    let error = &sync.json()["error"];
    let message = error["message"].as_str().unwrap();
    // git's whole message, not its last line.
    assert!(message.contains("does not appear to be a git repository"), "{message}");
    assert!(message.contains("Could not read from remote repository"), "{message}");
    assert!(message.contains("and the repository exists"), "{message}");
    assert_eq!(error["path"], missing.to_str().unwrap(), "the file git named: {sync}");
    assert!(error["git_message"].as_str().unwrap().lines().count() >= 3, "{sync}");

    let text = env.orc(&["sync"]).code(3);
    assert!(text.stderr.contains("does not appear to be a git repository"), "{text}");
    assert!(text.stderr.contains("hint: check the remote's URL"), "{text}");
}

/// A folder holding an `orc` that hangs (recording its pid in `pids`).
fn hanging_orc(env: &TestEnv, pids: &Path) -> PathBuf {
    let dir = env.root.join("stub-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let stub = dir.join("orc");
    std::fs::write(&stub, format!("#!/bin/sh\necho $$ >> '{}'\nexec sleep 30\n", pids.display())).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A folder of links to every program on PATH but `timeout` and `gtimeout`.
fn path_without_timeout(env: &TestEnv) -> PathBuf {
    let dir = env.root.join("no-timeout-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for folder in std::env::split_paths(&path_with_orc()) {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name == "timeout" || name == "gtimeout" || dir.join(&name).exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), dir.join(&name));
        }
    }
    dir
}

fn kill_recorded(pids: &Path) {
    for pid in std::fs::read_to_string(pids).unwrap_or_default().split_whitespace() {
        let _ = std::process::Command::new("kill").args(["-9", pid]).status();
    }
}

#[test]
fn issue13_a_hung_orc_never_holds_up_git_commit() {
    let env = TestEnv::new();
    env.orc(&["hooks", "install", "--hooks", "post-commit"]).success();
    let pids = env.root.join("stub-pids");
    let stub = hanging_orc(&env, &pids);
    let bare = path_without_timeout(&env);
    let with_stub = |rest: std::ffi::OsString| {
        let mut dirs = vec![stub.clone()];
        dirs.extend(std::env::split_paths(&rest));
        std::env::join_paths(dirs).unwrap()
    };
    // With timeout(1) on PATH, and without it.
    for (n, path) in [with_stub(path_with_orc()), with_stub(bare.clone().into_os_string())].into_iter().enumerate() {
        std::fs::write(env.repo.join(format!("f{n}")), "x\n").unwrap();
        env.git(&["add", "."]);
        let started = Instant::now();
        let out = env
            .command("git", &env.repo)
            .env("PATH", &path)
            .args(["commit", "-q", "-m", &format!("commit {n}")])
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(out.status.success(), "git commit failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(took < Duration::from_secs(8), "git commit {n} waited {took:?} for a hung orc");
    }
    // Without timeout(1) the stub runs in the background: give it a moment to start.
    let started = Instant::now();
    while std::fs::read_to_string(&pids).unwrap_or_default().lines().count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "the stub ran for both commits");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_recorded(&pids);
}

#[test]
fn a_claim_another_process_published_is_still_the_answer_to_its_agents_next() {
    let (env, first, second, missing) = two_tasks_and_a_remote_not_made_yet();
    let failed = env.orc(&["next", "w", "--agent", "a1", "--json"]).code(3);
    assert_eq!(failed.json()["error"]["task"], first.as_str(), "{failed}");

    // The remote comes back, and another process's sync publishes a1's claim
    // before a1 retries: a1's claim is no longer pending, but a1 was only
    // told of it in an error.
    env.git_in(&env.root, &["init", "-q", "--bare", missing.to_str().unwrap()]);
    env.orc(&["sync"]).success();
    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success();
    assert_eq!(next.json()["id"], first.as_str(), "the retry answers with the claim it was told of: {next}");
    assert!(next.stderr.contains("published since"), "{next}");
    assert_eq!(env.orc(&["t", "show", &second, "--json"]).success().json()["status"], "open");
    // Answered once; then `next` claims as usual.
    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success().json();
    assert_eq!(next["id"], second.as_str());
}

/// Makes `remote` (a bare repository) move on every push: its `update` hook
/// lands a commit of "another machine" first, so the pushed ref is no longer
/// at the value the push expected and the push loses, every time. Contention
/// without timing: no loop racing the command under test.
fn always_moving(remote: &Path) {
    moving_hook(remote, "")
}

/// As `always_moving`, for the branches only: other refs (claim requests)
/// are taken as pushed, each update logged to `ref-updates.log` in the
/// remote as "<ref> <new value>".
fn branches_always_moving(remote: &Path) {
    moving_hook(remote, "case \"$1\" in refs/heads/*) ;; *) echo \"$1 $3\" >> ref-updates.log; exit 0 ;; esac\n")
}

fn moving_hook(remote: &Path, first: &str) {
    let hook = remote.join("hooks/update");
    // The hook runs with the pushed objects in quarantine, where git refuses
    // ref updates; the commit it makes needs only objects already there.
    std::fs::write(
        &hook,
        "#!/bin/sh\n".to_string()
            + first
            + "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n\
         [ \"$2\" = 0000000000000000000000000000000000000000 ] && exit 0\n\
         c=$(git -c user.name=other -c user.email=other@example.com commit-tree \"$2^{tree}\" -p \"$2\" -m 'another machine') || exit 1\n\
         git update-ref \"$1\" \"$c\" \"$2\"\n\
         exit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn issue12_a_next_against_a_remote_that_keeps_moving_fails_busy_naming_its_local_claim() {
    let env = TestEnv::new();
    let (remote, _b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    env.edit_branch_file("orc.toml", &settings_with(&env, "publish_timeout = \"1s\""));
    let first = env.add_task("w", "first", &["claimed first", "1"]);
    let second = env.add_task("w", "second", &["claimed second", "2"]);
    env.orc(&["sync"]).success();
    always_moving(&remote);

    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).code(3);
    assert_eq!(next.error_kind(), "busy", "{next}");
    let error = &next.json()["error"];
    assert_eq!(error["task"], first.as_str(), "it names the task it claimed locally: {next}");
    assert_eq!(error["claimed_locally"], true, "{next}");
    assert!(error["pushes"].as_u64().unwrap() >= 1, "{next}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("kept moving") && message.contains("publish_timeout"), "{message}");
    assert!(error["hint"].as_str().unwrap().contains("--local"), "{next}");
    let text = env.orc(&["next", "w", "--agent", "a1"]).code(3);
    assert!(text.stderr.contains(&first) && text.stderr.contains("hint:"), "{text}");
    assert_eq!(text.stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "one line: {text}");
    let held = env.orc(&["t", "list", "--holder", "a1", "--json"]).success().json();
    assert_eq!(held.as_array().unwrap().len(), 1, "one task held, not one per try: {held:#}");

    // Once the remote calms down, `next` publishes that claim, once.
    std::fs::remove_file(remote.join("hooks/update")).unwrap();
    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).success();
    assert_eq!(next.json()["id"], first.as_str(), "{next}");
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%s", "orc"]);
    let claims: Vec<&str> = on_remote.lines().filter(|s| s.starts_with("orc: claim")).collect();
    assert_eq!(claims, [format!("orc: claim {first} (w) by a1")], "applied exactly once: {on_remote}");
    assert_eq!(env.orc(&["t", "show", &second, "--json"]).success().json()["status"], "open");
}

/// A `next` that posted a claim request and ran out of time withdraws its
/// request before it answers, so no machine claims for it afterwards.
#[test]
fn issue12_a_next_out_of_time_withdraws_its_claim_request_before_it_answers() {
    let env = TestEnv::new();
    let (remote, _b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    env.edit_branch_file("orc.toml", &settings_with(&env, "publish_timeout = \"2s\""));
    let first = env.add_task("w", "first", &["claimed first", "1"]);
    env.orc(&["sync"]).success();
    branches_always_moving(&remote);

    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).code(3);
    assert_eq!(next.error_kind(), "busy", "{next}");
    assert_eq!(next.json()["error"]["task"], first.as_str(), "{next}");
    let log = std::fs::read_to_string(remote.join("ref-updates.log")).unwrap_or_default();
    let updates: Vec<(&str, &str)> = log.lines().filter_map(|l| l.split_once(' ')).collect();
    let zero = "0000000000000000000000000000000000000000";
    // One request posted; every later update is its deletion (tried with
    // each push that served it, all lost to the moving branch, then the
    // withdrawal, the only one that can have landed).
    let (request, _) = updates[0];
    assert!(request.starts_with("refs/orc/requests/") && request.contains("/a1/w/") && updates[0].1 != zero, "{log}");
    assert!(updates[1..].iter().all(|u| *u == (request, zero)) && updates.len() >= 2, "{log}");
    let left = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "for-each-ref", "refs/orc"]);
    assert_eq!(left, "", "no request is left for another machine to serve");
}

#[test]
fn issue12_a_next_whose_time_ran_out_after_losing_its_choice_claims_nothing() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    env.edit_branch_file("orc.toml", &settings_with(&env, "publish_timeout = \"0s\""));
    let only = env.add_task("w", "the only task", &[]);
    env.orc(&["sync"]).success();
    // Another machine wins the task; this one has not seen it yet, so its
    // `next` chooses that task, loses it on the remote, and has no time left.
    env.orc_in(&b, &["sync"]).success();
    env.orc_in(&b, &["next", "w", "--agent", "b1"]).success();

    let next = env.orc(&["next", "w", "--agent", "a1", "--json"]).code(3);
    assert_eq!(next.error_kind(), "busy", "{next}");
    let error = &next.json()["error"];
    assert_eq!(error["claimed_nothing"], true, "{next}");
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("no task claimed"), "{message}");
    assert!(message.contains(&only) && message.contains("b1"), "it names what it lost, and to whom: {message}");
    assert!(error["hint"].as_str().unwrap().contains("--local"), "{next}");
    let held = env.orc(&["t", "list", "--holder", "a1", "--json"]).success().json();
    assert_eq!(held.as_array().unwrap().len(), 0, "nothing claimed here: {held:#}");
    assert_eq!(env.orc(&["t", "show", &only, "--json"]).success().json()["claimed_by"], "b1");
}
