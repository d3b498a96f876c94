//! Issue 12, pack maintenance off the command path: a command whose
//! operation makes a roll-up due starts a background `orc maintain` and
//! returns; the merge survives kill -9 at any moment and loses nothing.
//! The tests learn where the maintainer is from a `git` wrapper on PATH
//! that stops `git pack-objects` at a gate they open, and wait for it to
//! finish by taking its lock: signals, not sleeps.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::common::{path_with_orc, TestEnv};

/// How many listed packs make a roll-up due (`store::pack::ROLL_UP_AT`).
const ROLL_UP_AT: usize = 8;

fn listed_packs(env: &TestEnv) -> Vec<String> {
    std::fs::read_to_string(env.repo.join(".git/orc/packs"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

fn task_count(env: &TestEnv) -> usize {
    env.orc(&["t", "list", "--json"]).success().json().as_array().unwrap().len()
}

/// Waits until `path` exists; fails the test after a generous limit.
#[track_caller]
fn wait_for_file(path: &Path, what: &str) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: {} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A folder holding a `git` that, for `pack-objects`, touches `mark` and
/// waits (bounded) for `go` before (`after` false) or after running the real
/// git; any other command goes straight to the real git.
fn gated_git(env: &TestEnv, mark: &Path, go: &Path, after: bool) -> PathBuf {
    let real = env.git_in(&env.root, &["--exec-path"]);
    let real = Path::new(&real).join("git");
    let dir = env.root.join("gated-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let wait = format!(
        "touch '{mark}'; i=0; while [ ! -f '{go}' ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i+1)); done",
        mark = mark.display(),
        go = go.display()
    );
    let real = real.display();
    let pack_objects = if after { format!("'{real}' \"$@\"; rc=$?; {wait}; exit $rc") } else { wait };
    let script =
        format!("#!/bin/sh\ncase \" $* \" in\n*\" pack-objects \"*) {pack_objects} ;;\nesac\nexec '{real}' \"$@\"\n");
    let path = dir.join("git");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path_with_orc()));
    std::env::join_paths(dirs).unwrap()
}

/// Adds tasks until orc lists `packs` packs.
fn add_until_listed(env: &TestEnv, packs: usize) -> usize {
    let mut added = 0;
    while listed_packs(env).len() < packs {
        env.orc(&["t", "add", "w", &format!("setup {added}")]).success();
        added += 1;
    }
    added
}

#[test]
fn issue12_a_command_that_makes_a_roll_up_due_returns_before_the_merge() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    // One short of due: these commands start no maintainer.
    let added = add_until_listed(&env, ROLL_UP_AT - 1);
    let listed = listed_packs(&env);
    assert_eq!(listed.len(), ROLL_UP_AT - 1);

    let (mark, go) = (env.root.join("pack-objects-started"), env.root.join("pack-objects-go"));
    let bin = gated_git(&env, &mark, &go, false);
    let mut add = env.orc_command(&["t", "add", "w", "the one that makes it due"]);
    add.env("PATH", path_with(&bin));
    let run = crate::common::Run::from(add.output().unwrap());
    assert_eq!(run.code, 0, "{run}");
    // The command has exited. The maintainer it started reaches git and
    // stops at the gate, holding its lock: nothing is merged yet.
    wait_for_file(&mark, "the background maintainer's git pack-objects");
    assert_eq!(listed_packs(&env).len(), ROLL_UP_AT, "the roll-up is due and not done");
    // Other commands are not held up either.
    assert_eq!(task_count(&env), added + 1);

    std::fs::write(&go, "").unwrap();
    let lock = env.hold_maintenance_lock();
    let now = listed_packs(&env);
    assert!(now.len() < ROLL_UP_AT, "the background run merged packs: {now:?}");
    assert!(listed.iter().any(|name| !now.contains(name)), "some of the packs listed before were merged away");
    for name in &now {
        assert!(env.repo.join(format!(".git/objects/pack/pack-{name}.idx")).exists(), "listed pack {name} exists");
    }
    assert_eq!(task_count(&env), added + 1);
    env.assert_fsck_clean();
    drop(lock);
}

#[test]
fn issue12_orc_maintain_merges_every_listed_pack_and_keeps_every_object() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    // Held: the commands below start maintainers that find it taken and leave.
    let lock = env.hold_maintenance_lock();
    for i in 0..20 {
        env.orc(&["t", "add", "w", &format!("task {i}")]).success();
    }
    let before = listed_packs(&env);
    assert!(before.len() >= 20, "one pack per operation: {before:?}");
    drop(lock);

    let done = env.orc(&["maintain", "--json"]).success().json();
    assert_eq!(done["ran"], true);
    assert_eq!(done["merged_packs"].as_u64().unwrap() as usize, before.len());
    assert_eq!(done["listed_after"], 1);
    let lock = env.hold_maintenance_lock();
    let after = listed_packs(&env);
    assert_eq!(after.len(), 1);
    let pack_dir = env.repo.join(".git/objects/pack");
    assert!(pack_dir.join(format!("pack-{}.idx", after[0])).exists());
    for old in &before {
        assert!(!pack_dir.join(format!("pack-{old}.pack")).exists(), "merged pack {old} deleted");
    }
    assert!(std::fs::read_dir(env.repo.join(".git/orc/maintain")).unwrap().next().is_none(), "nothing left over");
    assert_eq!(task_count(&env), 20);
    env.assert_fsck_clean();
    drop(lock);

    let again = env.orc(&["maintain"]).success();
    assert!(again.stdout.contains("nothing to merge: orc lists 1 pack"), "{again}");
}

#[test]
fn issue12_a_maintainer_killed_after_git_wrote_its_pack_leaves_nothing_that_matters() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let lock = env.hold_maintenance_lock();
    for i in 0..10 {
        env.orc(&["t", "add", "w", &format!("task {i}")]).success();
    }
    drop(lock);
    let before = listed_packs(&env);

    let (mark, go) = (env.root.join("pack-written"), env.root.join("go-on"));
    let bin = gated_git(&env, &mark, &go, true);
    let mut maintain = env.orc_command(&["maintain"]);
    maintain.env("PATH", path_with(&bin)).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = maintain.spawn().unwrap();
    wait_for_file(&mark, "git pack-objects finishing");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(&go, "").unwrap();

    // The next run waits for the orphaned git (it inherited the lock),
    // deletes its unjournaled output and merges again.
    let done = env.orc(&["maintain", "--json"]).success().json();
    assert!(done["removed_leftovers"].as_u64().unwrap() >= 2, "{done}");
    assert_eq!(done["merged_packs"].as_u64().unwrap() as usize, before.len());
    let _lock = env.hold_maintenance_lock();
    assert_eq!(listed_packs(&env).len(), 1);
    assert_eq!(task_count(&env), 10);
    env.assert_fsck_clean();
}

#[test]
fn issue12_a_kill_loop_over_maintenance_beside_writers_loses_nothing() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    for i in 0..10 {
        env.orc(&["t", "add", "w", &format!("first {i}")]).success();
    }
    let writers = 3;
    let per_writer = 30;
    let rounds = 30;
    let added = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let env = &env;
                scope.spawn(move || {
                    let mut ok = 0;
                    for i in 0..per_writer {
                        let title = format!("writer {w} task {i}");
                        if env.orc(&["t", "add", "w", &title]).code == 0 {
                            ok += 1;
                        }
                        if i % 5 == 4 {
                            // Claims write too; whether one wins is not the point.
                            let _ = env.orc(&["t", "next", "w", &format!("agent-{w}")]);
                        }
                    }
                    ok
                })
            })
            .collect();
        let mut seed: u64 = 0x0001_20c0_ffee;
        let (mut killed, mut journaled, mut unjournaled) = (0, 0, 0);
        for round in 0..rounds {
            let mut maintain = env.orc_command(&["maintain"]);
            maintain.stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
            let mut child = maintain.spawn().unwrap();
            // A kill at a spread of moments: waiting for the lock, inside
            // git, installing, updating the list, deleting.
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            std::thread::sleep(Duration::from_millis((seed >> 33) % 200));
            // Once reaped, its pid may name another process: not signalled.
            if child.try_wait().unwrap().is_some() {
                continue;
            }
            killed += 1;
            if round % 2 == 0 {
                child.kill().unwrap();
            } else {
                // The maintainer and the git it runs.
                killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
            }
            child.wait().unwrap();
            let work = env.repo.join(".git/orc/maintain");
            if work.join("pending").exists() {
                journaled += 1;
            } else if std::fs::read_dir(&work).is_ok_and(|mut d| d.next().is_some()) {
                unjournaled += 1;
            }
        }
        eprintln!(
            "{killed} of {rounds} maintainers killed while running; {journaled} left a journal, {unjournaled} only files"
        );
        handles.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    });
    assert_eq!(added, writers * per_writer, "every add reported success");

    let done = env.orc(&["maintain", "--json"]).success().json();
    assert_eq!(done["ran"], true);
    let _lock = env.hold_maintenance_lock();
    env.assert_fsck_clean();
    assert_eq!(task_count(&env), 10 + added, "every task a writer was told it added is on the branch");
    let listed = listed_packs(&env);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(env.repo.join(format!(".git/objects/pack/pack-{}.idx", listed[0])).exists());
    assert!(std::fs::read_dir(env.repo.join(".git/orc/maintain")).unwrap().next().is_none(), "nothing left over");
}

/// The state a maintainer killed right after its journal reached the disk
/// leaves (made here with the same git command), finished by the next run.
#[test]
fn issue12_a_merge_a_killed_maintainer_journaled_is_finished_by_the_next_run() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let lock = env.hold_maintenance_lock();
    for i in 0..6 {
        env.orc(&["t", "add", "w", &format!("task {i}")]).success();
    }
    let listed = listed_packs(&env);
    let (merged, kept) = listed.split_at(3);
    let work = env.repo.join(".git/orc/maintain");
    std::fs::create_dir_all(&work).unwrap();
    let names: String = merged.iter().map(|n| format!("pack-{n}.pack\n")).collect();
    let mut git = env.command("git", &env.repo);
    git.args(["pack-objects", "--stdin-packs", "-q"]).arg(work.join("pack"));
    git.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = git.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), names.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let new = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let journal: String =
        std::iter::once(format!("new {new}\n")).chain(merged.iter().map(|n| format!("old {n}\n"))).collect();
    std::fs::write(work.join("pending"), journal).unwrap();
    // A stray file of a run killed before its journal.
    std::fs::write(work.join("pack-stray.pack"), "").unwrap();
    drop(lock);

    let done = env.orc(&["maintain", "--json"]).success().json();
    assert_eq!(done["finished_interrupted"], true, "{done}");
    assert_eq!(done["removed_leftovers"], 1, "{done}");
    let pack_dir = env.repo.join(".git/objects/pack");
    for old in merged {
        assert!(!pack_dir.join(format!("pack-{old}.idx")).exists(), "journaled pack {old} deleted");
    }
    let _lock = env.hold_maintenance_lock();
    // The finished merge listed its pack; the run then merged it with the rest.
    assert_eq!(listed_packs(&env).len(), 1);
    assert!(kept.iter().all(|k| !listed_packs(&env).contains(k)));
    assert!(std::fs::read_dir(&work).unwrap().next().is_none(), "nothing left over");
    assert_eq!(task_count(&env), 6);
    env.assert_fsck_clean();
}
