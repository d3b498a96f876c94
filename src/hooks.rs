//! Git hooks that log what happens in the code repository: installing,
//! uninstalling and inspecting them, and the `orc hook` entry point they call.
//!
//! A hook that was already there is never overwritten: it is moved aside to
//! `<hook>.orc-user` and orc's wrapper runs it first, keeping its exit status
//! (so a failing pre-push hook still blocks the push). Uninstalling moves it
//! back untouched. The wrapper (hooks/orc-hook.sh, embedded here) never fails
//! the git command; `orc hook` writes its own errors to
//! `<git-common-dir>/orc/hooks.log`, which `orc doctor` reports.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::{json, Value};

use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::ops::events::{EventData, HookEvent, OrcEventType};
use crate::session::Session;
use crate::store::{ObjectId, Store};

/// The hooks orc installs, in the order it lists them.
pub const HOOKS: [&str; 5] = ["post-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push"];

const TEMPLATE: &str = include_str!("../hooks/orc-hook.sh");
const MARKER: &str = "# orc-managed hook: ";
const USER_SUFFIX: &str = ".orc-user";
/// Files listed in a commit event; the count is always exact.
const MAX_FILES_LISTED: usize = 50;

/// The wrapper script for one hook.
pub fn script(hook: &str) -> String {
    TEMPLATE.replace("@HOOK@", hook)
}

pub use crate::store::code::hooks_dir;

/// What is installed for one hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// No hook at all.
    Missing,
    /// orc's wrapper, alone.
    Installed,
    /// orc's wrapper, running the user's hook first.
    Chained,
    /// A hook of the user's, without orc.
    UserOnly,
}

fn is_ours(path: &Path) -> bool {
    fs::read_to_string(path).is_ok_and(|text| text.lines().take(3).any(|l| l.starts_with(MARKER)))
}

fn user_path(dir: &Path, hook: &str) -> PathBuf {
    dir.join(format!("{hook}{USER_SUFFIX}"))
}

pub fn state(dir: &Path, hook: &str) -> HookState {
    let path = dir.join(hook);
    match (path.exists(), is_ours(&path), user_path(dir, hook).exists()) {
        (false, ..) => HookState::Missing,
        (true, true, true) => HookState::Chained,
        (true, true, false) => HookState::Installed,
        (true, false, _) => HookState::UserOnly,
    }
}

/// Checks hook names given to `--hooks`.
pub fn check_hooks(names: &[String]) -> Result<()> {
    for name in names {
        if !HOOKS.contains(&name.as_str()) {
            return Err(Error::new(Kind::InvalidInput, format!("orc has no {name:?} hook"))
                .with_hint(format!("choose from {}", HOOKS.join(","))));
        }
    }
    Ok(())
}

fn io<'a>(context: &str, path: &'a Path) -> impl Fn(std::io::Error) -> Error + 'a {
    let context = context.to_string();
    move |e| Error::io(&format!("{context} {}", path.display()), &e)
}

/// Installs the wrappers; returns each hook's state afterwards. Installing
/// again changes nothing.
pub fn install(dir: &Path, hooks: &[&str]) -> Result<Vec<(String, HookState)>> {
    fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let mut out = Vec::new();
    for hook in hooks {
        let path = dir.join(hook);
        let user = user_path(dir, hook);
        match state(dir, hook) {
            HookState::Installed | HookState::Chained => {}
            HookState::UserOnly => {
                if user.exists() {
                    return Err(Error::new(
                        Kind::HookConflict,
                        format!(
                            "both {} and {} exist; orc will not guess which to keep",
                            path.display(),
                            user.display()
                        ),
                    )
                    .with_hint("move one of them away, then install orc's hooks again"));
                }
                fs::rename(&path, &user).map_err(io("cannot move aside", &path))?;
                write_script(&path, hook)?;
            }
            HookState::Missing => write_script(&path, hook)?,
        }
        out.push((hook.to_string(), state(dir, hook)));
    }
    Ok(out)
}

fn write_script(path: &Path, hook: &str) -> Result<()> {
    let tmp = path.with_extension("orc-tmp");
    fs::write(&tmp, script(hook)).map_err(io("cannot write", &tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).map_err(io("cannot make executable", &tmp))?;
    fs::rename(&tmp, path).map_err(io("cannot install", path))
}

/// Removes orc's wrappers and puts back the hooks they chained.
pub fn uninstall(dir: &Path) -> Result<Vec<(String, HookState)>> {
    let mut out = Vec::new();
    for hook in HOOKS {
        let path = dir.join(hook);
        if is_ours(&path) {
            fs::remove_file(&path).map_err(io("cannot remove", &path))?;
            let user = user_path(dir, hook);
            if user.exists() {
                fs::rename(&user, &path).map_err(io("cannot restore", &user))?;
            }
        }
        out.push((hook.to_string(), state(dir, hook)));
    }
    Ok(out)
}

/// Runs the hook entry point. The facts are gathered now, while git waits
/// (after a rebase has finished, its state would be gone); the commit to the
/// orc branch is left to a detached `orc hook-record` process, so the git
/// command does not wait for it. Errors go to `hooks.log`, never to git.
pub fn run_hook(dir: &Path, agent: Option<String>, hook: &str, args: &[String], stdin: &str) {
    let Ok(repo) = Repo::open(dir) else {
        // Without a repository there is no log to write to; git carries on.
        return;
    };
    let Ok(store) = repo.store() else { return };
    let outcome = hook_event(&store, hook, args, stdin).and_then(|event| match event {
        Some((kind, data)) => spawn_recorder(dir, &json!({"kind": kind, "data": data, "agent": agent})),
        None => Ok(()),
    });
    if let Err(e) = &outcome {
        append_log(&store.private_dir(), hook, e);
    }
}

/// The hook's session: the worktree's agent (given by the hook's caller, or
/// `git config orc.agent`), else the git user as a person.
fn hook_session(repo: &Repo, agent: Option<String>) -> Result<Session> {
    let agent = match agent {
        Some(name) => Some(crate::model::names::AgentName::new(&name)?),
        None => repo.configured_agent()?,
    };
    let clock = crate::session::Clock::from_env()?;
    // A hook runs without a terminal: the git user, else a fixed name.
    let person = repo.git_person()?.unwrap_or_else(|| "person".into());
    // Hook events stay local until the next sync (DESIGN §4).
    let session = Session::new(crate::api::actor_for(agent, person)).with_clock(clock);
    Ok(session.with_publish(crate::session::Publish::Local))
}

fn spawn_recorder(dir: &Path, record: &Value) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::io("cannot find the orc binary", &e))?;
    let mut child = Command::new(exe)
        .arg("hook-record")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("cannot start orc hook-record", &e))?;
    let mut input = child.stdin.take().expect("stdin was piped");
    input.write_all(record.to_string().as_bytes()).map_err(|e| Error::io("cannot hand the event over", &e))?;
    // Not waiting: the recorder finishes on its own after git moved on.
    Ok(())
}

/// The detached half of a hook: commits the event it is handed on stdin.
pub fn record(dir: &Path, input: &str) {
    let Ok(record) = serde_json::from_str::<Value>(input) else { return };
    let agent = record["agent"].as_str().map(str::to_string);
    let Ok(repo) = Repo::open(dir) else { return };
    let kind = record["kind"].as_str().unwrap_or("hook.unknown").to_string();
    let event =
        OrcEventType::new(&kind).and_then(|kind| Ok(HookEvent { kind, data: EventData::new(record["data"].clone())? }));
    let applied = event.and_then(|event| repo.apply(&hook_session(&repo, agent)?, &event));
    if let Err(e) = applied {
        if let Ok(store) = repo.store() {
            append_log(&store.private_dir(), &kind, &e);
        }
    }
}

fn append_log(private_dir: &Path, hook: &str, err: &Error) {
    let _ = fs::create_dir_all(private_dir);
    if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(private_dir.join("hooks.log")) {
        let _ = writeln!(
            file,
            "{} {hook}: {}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            err.message
        );
    }
}

/// The lines of `hooks.log`, for `orc doctor`.
pub fn logged_errors(private_dir: &Path) -> Vec<String> {
    fs::read_to_string(private_dir.join("hooks.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// A URL without the user name and password it may carry.
fn without_credentials(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}{}", &url[..scheme + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn hex(oid: Option<ObjectId>) -> Value {
    oid.map_or(Value::Null, |o| Value::from(o.to_string()))
}

/// The event a hook logs, or None when there is nothing to log (a file
/// checkout, not a branch switch).
pub fn hook_event(store: &Store, hook: &str, args: &[String], stdin: &str) -> Result<Option<(String, Value)>> {
    let (head, branch) = store.head()?;
    // A rebase checks out and commits many times; an amend is a commit
    // too. Each is one event, from post-rewrite.
    if matches!(hook, "post-commit" | "post-checkout") && store.rebasing() {
        return Ok(None);
    }
    let data = match hook {
        "post-commit" => {
            if store.last_head_move().is_some_and(|m| m.starts_with("commit (amend)")) {
                return Ok(None);
            }
            let Some(head) = head else { return Ok(None) };
            let facts = store.commit_facts(head)?;
            let (count, files) = store.changed_paths(head, MAX_FILES_LISTED)?;
            json!({"sha": head.to_string(), "branch": branch, "subject": facts.subject, "files_changed": count, "files": files})
        }
        "post-merge" => {
            let squash = args.first().is_some_and(|a| a == "1");
            let merged = head.and_then(|h| store.commit_facts(h).ok()).and_then(|c| c.parents.get(1).copied()).or(head);
            json!({"head": hex(head), "branch": branch, "merged": hex(merged), "previous": hex(store.resolve_revision("ORIG_HEAD")), "squash": squash})
        }
        "post-checkout" => {
            // The third argument is 1 for a branch checkout, 0 for files.
            if args.get(2).map(String::as_str) != Some("1") {
                return Ok(None);
            }
            json!({"from": args.first(), "to": args.get(1), "branch": branch})
        }
        "post-rewrite" => {
            let rewrites: Vec<Value> = stdin
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    Some(json!({"old": parts.next()?, "new": parts.next()?}))
                })
                .collect();
            json!({"command": args.first(), "branch": branch, "count": rewrites.len(), "rewrites": rewrites})
        }
        "pre-push" => {
            let refs: Vec<Value> = stdin
                .lines()
                .filter_map(|l| {
                    let parts: Vec<&str> = l.split_whitespace().collect();
                    match parts[..] {
                        [local_ref, local_sha, remote_ref, remote_sha] => Some(json!({
                            "local_ref": local_ref, "local_sha": local_sha, "remote_ref": remote_ref, "remote_sha": remote_sha
                        })),
                        _ => None,
                    }
                })
                .collect();
            json!({"remote": args.first(), "url": args.get(1).map(|u| without_credentials(u)), "refs": refs})
        }
        other => return Err(Error::new(Kind::InvalidInput, format!("orc has no {other:?} hook"))),
    };
    Ok(Some((format!("hook.{hook}"), data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_dropped_from_urls() {
        assert_eq!(without_credentials("https://user:token@github.com/a/b.git"), "https://github.com/a/b.git");
        assert_eq!(without_credentials("git@github.com:a/b.git"), "git@github.com:a/b.git");
        assert_eq!(without_credentials("/srv/repo.git"), "/srv/repo.git");
    }

    #[test]
    fn every_script_is_marked_and_names_its_hook() {
        for hook in HOOKS {
            let text = script(hook);
            assert!(text.starts_with("#!/bin/sh\n"));
            assert!(text.lines().nth(1).unwrap() == format!("{MARKER}{hook}"));
            assert!(!text.contains("@HOOK@"));
        }
    }
}
