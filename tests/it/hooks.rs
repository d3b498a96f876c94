//! Git hooks: each git action logs exactly one event with the right data,
//! a user's hooks keep running with their exit status, uninstall restores
//! them byte for byte, and a hook never fails git.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestEnv;

/// The hook events on the branch, oldest first.
fn hook_events(env: &TestEnv) -> Vec<Value> {
    let all = env.orc(&["events", "--since", "1d", "--json"]).success().json();
    all.as_array().unwrap().iter().filter(|e| e["type"].as_str().unwrap().starts_with("hook.")).cloned().collect()
}

/// Runs git in `dir` and returns once git and every process it left behind
/// have exited. A hook hands its event to a detached `orc hook-record` and
/// returns; that recorder inherits descriptor 3, the write end of this
/// command's stdout (git, the hook's shell and orc all pass on descriptors
/// they did not open), so stdout ends only when the last recorder has
/// finished. Git's own output goes to stderr. After this, "no event" is a
/// fact, not a guess about how slow a recorder is.
fn git_and_recorders(env: &TestEnv, dir: &Path, args: &[&str]) -> Output {
    let out =
        env.command("sh", dir).args(["-c", "exec 3>&1 1>&2; exec git \"$@\"", "git"]).args(args).output().unwrap();
    assert!(out.stdout.is_empty(), "nothing writes to descriptor 3: {}", String::from_utf8_lossy(&out.stdout));
    out
}

/// Runs a git action that must succeed, and waits for its recorders: every
/// git command here that runs a hook goes through this, so no event of an
/// earlier one turns up later.
#[track_caller]
fn git(env: &TestEnv, dir: &Path, args: &[&str]) {
    let out = git_and_recorders(env, dir, args);
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a git action and returns the hook events it produced, read once its
/// recorders are done.
#[track_caller]
fn events_of(env: &TestEnv, dir: &Path, args: &[&str]) -> Vec<Value> {
    let before = hook_events(env).len();
    git(env, dir, args);
    hook_events(env)[before..].to_vec()
}

fn commit_file(env: &TestEnv, dir: &Path, name: &str, message: &str) -> Vec<Value> {
    std::fs::write(dir.join(name), format!("{name}\n")).unwrap();
    env.git_in(dir, &["add", name]);
    events_of(env, dir, &["commit", "-q", "-m", message])
}

fn write_hook(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn every_git_action_logs_exactly_one_event() {
    let env = TestEnv::new();
    env.git(&["config", "orc.agent", "coder"]);
    env.orc(&["hooks", "install"]).success();
    let repo = env.repo.clone();

    let commit = commit_file(&env, &repo, "a.txt", "add a");
    assert_eq!(commit.len(), 1, "{commit:?}");
    let head = env.git(&["rev-parse", "HEAD"]);
    assert_eq!(commit[0]["type"], "hook.post-commit");
    assert_eq!(commit[0]["agent"], "coder");
    assert_eq!(commit[0]["data"]["sha"], head.as_str());
    assert_eq!(commit[0]["data"]["branch"], "main");
    assert_eq!(commit[0]["data"]["subject"], "add a");
    assert_eq!(commit[0]["data"]["files"], serde_json::json!(["a.txt"]));

    let switch = events_of(&env, &repo, &["checkout", "-q", "-b", "feature"]);
    assert_eq!(switch.len(), 1, "{switch:?}");
    assert_eq!(switch[0]["type"], "hook.post-checkout");
    assert_eq!(switch[0]["data"]["branch"], "feature");
    // Checking out a file is not a branch switch.
    std::fs::write(repo.join("a.txt"), "changed\n").unwrap();
    assert!(events_of(&env, &repo, &["checkout", "-q", "--", "a.txt"]).is_empty());

    commit_file(&env, &repo, "b.txt", "add b");
    let amend = events_of(&env, &repo, &["commit", "-q", "--amend", "-m", "add b, amended"]);
    assert_eq!(amend.len(), 1, "an amend is one event: {amend:?}");
    assert_eq!(amend[0]["type"], "hook.post-rewrite");
    assert_eq!(amend[0]["data"]["command"], "amend");
    assert_eq!(amend[0]["data"]["rewrites"][0]["new"], env.git(&["rev-parse", "HEAD"]).as_str());

    git(&env, &repo, &["checkout", "-q", "main"]);
    commit_file(&env, &repo, "c.txt", "add c");
    git(&env, &repo, &["checkout", "-q", "feature"]);
    let old_feature = env.git(&["rev-parse", "HEAD"]);
    let rebase = events_of(&env, &repo, &["rebase", "-q", "main"]);
    assert_eq!(rebase.len(), 1, "a rebase is one event: {rebase:?}");
    assert_eq!(rebase[0]["type"], "hook.post-rewrite");
    assert_eq!(rebase[0]["data"]["command"], "rebase");
    assert_eq!(rebase[0]["data"]["rewrites"][0]["old"], old_feature.as_str());

    git(&env, &repo, &["checkout", "-q", "main"]);
    let merge = events_of(&env, &repo, &["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    assert_eq!(merge.len(), 1, "{merge:?}");
    assert_eq!(merge[0]["type"], "hook.post-merge");
    assert_eq!(merge[0]["data"]["merged"], env.git(&["rev-parse", "feature"]).as_str());
    assert_eq!(merge[0]["data"]["squash"], false);

    env.add_bare_remote();
    let push = events_of(&env, &repo, &["push", "-q", "origin", "main"]);
    assert_eq!(push.len(), 1, "{push:?}");
    assert_eq!(push[0]["type"], "hook.pre-push");
    assert_eq!(push[0]["data"]["remote"], "origin");
    assert_eq!(push[0]["data"]["refs"][0]["local_ref"], "refs/heads/main");
    assert_eq!(push[0]["data"]["refs"][0]["local_sha"], env.git(&["rev-parse", "main"]).as_str());

    // orc's own commits run no hooks: the branch holds one event per action.
    let hook_commits = env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: hook.")).count();
    assert_eq!(hook_commits, hook_events(&env).len());
}

#[test]
fn the_git_helper_returns_only_after_the_detached_recorder() {
    // Every "no event" in this file rests on git_and_recorders outliving
    // the recorders. Hold orc's write queue from before the commit until a
    // second after git has made it: the recorder cannot commit the event
    // before then, while git itself has long returned.
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    env.orc(&["hooks", "install", "--hooks", "post-commit"]).success();
    let queue = env.repo.join(".git/orc/write.lock");
    assert!(queue.exists(), "orc queues its writers on {}", queue.display());
    let (held, old_head) = (env.root.join("held"), env.git(&["rev-parse", "HEAD"]));
    let script = format!(
        "touch {}; i=0; while [ \"$(git rev-parse HEAD)\" = {old_head} ] && [ $i -lt 1000 ]; do sleep 0.02; \
         i=$((i+1)); done; sleep 1",
        held.display()
    );
    let mut holder = env.command("flock", &env.repo).arg(&queue).args(["sh", "-c", &script]).spawn().unwrap();
    let started = Instant::now();
    while !held.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "flock never took {}", queue.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let events = commit_file(&env, &env.repo, "a.txt", "while the queue is held");
    let took = started.elapsed();
    assert!(holder.wait().unwrap().success());
    assert_eq!(events.len(), 1, "returned before the recorder had committed: {events:?}");
    // Guards this test itself: the recorder really was held up.
    assert!(took >= Duration::from_millis(900), "the recorder did not queue on {} ({took:?})", queue.display());
}

#[test]
fn users_hooks_keep_running_with_their_status_and_come_back_byte_identical() {
    let env = TestEnv::new();
    let hooks = env.repo.join(".git/hooks");
    let marker = env.root.join("user-post-commit-ran");
    let post_commit = format!("#!/bin/sh\n# my post-commit\necho ran >> {}\nexit 3\n", marker.display());
    let pre_push = "#!/bin/sh\n# block every push\nwhile read line; do echo \"saw $line\" >&2; done\nexit 1\n";
    write_hook(&hooks.join("post-commit"), &post_commit);
    write_hook(&hooks.join("pre-push"), pre_push);

    let installed = env.orc(&["hooks", "install", "--json"]).success().json();
    assert_eq!(installed["hooks"][0]["state"], "chained");
    let again = env.orc(&["hooks", "install"]).success();
    drop(again);
    for hook in ["post-commit", "pre-push", "post-merge"] {
        let text = std::fs::read_to_string(hooks.join(hook)).unwrap();
        assert_eq!(text, orc::hooks::script(hook), "installing twice changes nothing");
    }

    let events = commit_file(&env, &env.repo, "a.txt", "add a");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n", "the user's hook ran");
    assert_eq!(events.len(), 1);

    env.add_bare_remote();
    let before = hook_events(&env).len();
    let push = git_and_recorders(&env, &env.repo, &["push", "origin", "main"]);
    assert!(!push.status.success(), "the user's failing pre-push still blocks the push");
    assert!(String::from_utf8_lossy(&push.stderr).contains("saw refs/heads/main"), "it read the refs on stdin");
    assert_eq!(hook_events(&env).len(), before, "a blocked push is not logged");

    env.orc(&["hooks", "uninstall"]).success();
    assert_eq!(std::fs::read(hooks.join("post-commit")).unwrap(), post_commit.as_bytes());
    assert_eq!(std::fs::read(hooks.join("pre-push")).unwrap(), pre_push.as_bytes());
    let mode = std::fs::metadata(hooks.join("post-commit")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(!hooks.join("post-merge").exists());
    assert!(!hooks.join("post-commit.orc-user").exists());
    let status = env.orc(&["hooks", "status", "--json"]).success().json();
    assert_eq!(status["hooks"][0]["state"], "user_only");
}

#[test]
fn core_hooks_path_and_linked_worktrees_are_honoured() {
    let env = TestEnv::new();
    env.git(&["config", "core.hooksPath", "shared-hooks"]);
    let out = env.orc(&["hooks", "install", "--hooks", "post-commit", "--json"]).success().json();
    assert!(out["hooks_dir"].as_str().unwrap().ends_with("shared-hooks"), "{out}");
    assert!(env.repo.join("shared-hooks/post-commit").exists());
    assert!(!env.repo.join(".git/hooks/post-commit").exists());
    assert_eq!(commit_file(&env, &env.repo, "a.txt", "in main").len(), 1);

    env.git(&["config", "--unset", "core.hooksPath"]);
    env.orc(&["hooks", "install", "--hooks", "post-commit"]).success();
    let wt = env.root.join("wt");
    env.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "side"]);
    env.git_in(&wt, &["config", "extensions.worktreeConfig", "true"]);
    env.git_in(&wt, &["config", "--worktree", "orc.agent", "wt-agent"]);
    let events = commit_file(&env, &wt, "w.txt", "in the worktree");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["agent"], "wt-agent");
    assert_eq!(events[0]["data"]["branch"], "side");
}

#[test]
fn a_hook_never_fails_git_when_orc_is_missing_or_broken() {
    let env = TestEnv::new();
    env.orc(&["hooks", "install"]).success();
    // orc missing from PATH: the commit still succeeds.
    std::fs::write(env.repo.join("a.txt"), "a\n").unwrap();
    env.git(&["add", "a.txt"]);
    let no_orc = env
        .command("git", &env.repo)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .args(["commit", "-q", "-m", "without orc"])
        .output()
        .unwrap();
    assert!(no_orc.status.success(), "{}", String::from_utf8_lossy(&no_orc.stderr));

    // A corrupt orc branch: the commit still succeeds, the error is logged,
    // and doctor points at the log.
    std::fs::write(env.repo.join(".git/refs/heads/orc"), "this is not a commit id\n").unwrap();
    std::fs::write(env.repo.join("b.txt"), "b\n").unwrap();
    env.git(&["add", "b.txt"]);
    let corrupt = git_and_recorders(&env, &env.repo, &["commit", "-q", "-m", "with a broken branch"]);
    assert!(corrupt.status.success(), "{}", String::from_utf8_lossy(&corrupt.stderr));
    assert!(corrupt.stderr.is_empty(), "the hook is silent: {}", String::from_utf8_lossy(&corrupt.stderr));
    // The event is recorded after git returned; its failure lands in the log.
    let log = std::fs::read_to_string(env.repo.join(".git/orc/hooks.log")).unwrap_or_default();
    assert!(log.contains("hook.post-commit"), "the recorder's error is logged: {log:?}");
}

#[test]
fn hook_input_errors() {
    let env = TestEnv::new();
    assert_eq!(env.orc(&["hooks", "install", "--hooks", "pre-commit", "--json"]).code(2).error_kind(), "invalid_input");
    let hooks = env.repo.join(".git/hooks");
    write_hook(&hooks.join("post-commit"), "#!/bin/sh\nexit 0\n");
    write_hook(&hooks.join("post-commit.orc-user"), "#!/bin/sh\nexit 0\n");
    let conflict = env.orc(&["hooks", "install", "--json"]).code(3);
    assert_eq!(conflict.error_kind(), "hook_conflict");
}
