//! `orc doctor`: every broken file by path and line, and every setup problem
//! with the command that fixes it. Exit 3 when anything is broken.

use serde::Serialize;
use serde_json::json;

use super::output::Output;
use super::Ctx;
use crate::error::{Error, Kind, Result};
use crate::model::event::Event;
use crate::model::names::name_problem;
use crate::model::task::Status;
use crate::read::board::Board;
use crate::read::Snapshot;

#[derive(Serialize)]
struct Problem {
    /// `error` (something is broken) or `warning` (works, but worth fixing).
    severity: &'static str,
    kind: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
    /// The file the problem is about, when it is a file on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

impl Problem {
    fn error(err: &Error) -> Self {
        Self {
            severity: "error",
            kind: err.kind.as_str().into(),
            message: err.message.clone(),
            fix: err.hint.clone(),
            path: None,
        }
    }

    fn warning(kind: &str, message: String, fix: Option<String>) -> Self {
        Self { severity: "warning", kind: kind.into(), message, fix, path: None }
    }

    fn at(mut self, path: &std::path::Path) -> Self {
        self.path = Some(path.display().to_string());
        self
    }
}

/// Known top-level entries of the branch; anything else is reported.
const KNOWN_TOP: &[&str] = &[
    "orc.toml",
    "README.md",
    "docs",
    "workstreams",
    "agents",
    "locks",
    "events",
    "knowledge",
    "cycles",
    "idempotency",
];

pub fn doctor(orc: &Ctx) -> Result<Output> {
    let mut problems = Vec::new();
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    if snap.commit.is_none() {
        problems.push(Problem::warning(
            "no_branch",
            format!("the branch {} does not exist yet", store.branch()),
            Some("orc init".into()),
        ));
    }
    if orc.session.agent().is_err() {
        problems.push(Problem::warning(
            "no_agent",
            "no agent identity is set for this worktree (agents must pass --agent on every claim)".into(),
            Some("git config orc.agent <name>   (or export ORC_AGENT=<name>)".into()),
        ));
    }
    if let Some(remote) = store.config_string("orc.remote") {
        if !store.remote_names().contains(&remote) {
            problems.push(Problem::error(
                &Error::new(Kind::NoRemote, format!("git config orc.remote names {remote:?}, which is not a remote"))
                    .with_hint(format!("git remote add {remote} <url>   (or git config --unset orc.remote)")),
            ));
        }
    }
    let ref_lock = store.private_dir().parent().map(|d| d.join(format!("{}.lock", store.refname())));
    if let Some(lock) = ref_lock.filter(|p| p.exists()) {
        problems.push(Problem::warning(
            "stale_ref_lock",
            format!("{} exists; a writer was probably killed (orc clears it on the next write)", lock.display()),
            Some(format!("rm {}", lock.display())),
        ));
    }
    check_leftover_locks(&store, &mut problems);
    let hook_errors = crate::hooks::logged_errors(&store.private_dir());
    if let Some(last) = hook_errors.last() {
        let log = store.private_dir().join("hooks.log");
        problems.push(Problem::warning(
            "hook_errors",
            format!("{} git hook run(s) could not log an event; the last: {last}", hook_errors.len()),
            Some(format!("read {}, fix the cause, then remove it", log.display())),
        ));
    }
    if snap.commit.is_some() {
        check_branch(&snap, &mut problems)?;
    }

    let errors = problems.iter().filter(|p| p.severity == "error").count();
    let warnings = problems.len() - errors;
    let mut human = String::new();
    for p in &problems {
        human += &format!("{}: {}\n", p.severity, crate::model::names::terminal_safe(&p.message));
        if let Some(fix) = &p.fix {
            human += &format!("  fix: {fix}\n");
        }
    }
    human += &match (errors, warnings) {
        (0, 0) => "all good: the branch and the setup look healthy\n".to_string(),
        (0, w) => format!("no errors, {w} warning(s)\n"),
        (e, w) => format!("{e} error(s), {w} warning(s)\n"),
    };
    let json = json!({"ok": errors == 0, "errors": errors, "warnings": warnings, "problems": problems});
    let mut output = Output::new(json, human);
    if errors > 0 {
        output.exit_code = 3;
    }
    Ok(output)
}

/// Every lock file a killed git, libgit2 or orc left in the git dir, with
/// what fixes it (issue 13). The branch's own ref lock is reported above.
fn check_leftover_locks(store: &crate::store::Store, problems: &mut Vec<Problem>) {
    use crate::store::leftovers::LeftoverKind;
    let git_dir = store.private_dir().parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let own = git_dir.join(format!("{}.lock", store.refname()));
    let tracking = git_dir.join("refs").join("remotes");
    for left in store.leftover_lock_files() {
        if left.path == own {
            continue;
        }
        let path = left.path.display();
        let age = crate::model::duration::format_age(chrono::Duration::from_std(left.age).unwrap_or_default());
        let orc_tracking = left.path.starts_with(&tracking)
            && left.path.file_name().is_some_and(|n| n.to_string_lossy() == format!("{}.lock", store.branch()));
        let (message, fix) = match left.what {
            LeftoverKind::RefLock if orc_tracking => (
                format!("{path} ({age} old): a remote-tracking ref lock left by a git that was killed; fetches of the orc branch fail while it exists"),
                format!("orc sync removes it (or: rm {path})"),
            ),
            LeftoverKind::RefLock => (
                format!("{path} ({age} old): a ref lock left by a git that was killed; git refuses to update that ref while it exists"),
                format!("if no git command is running: rm {path}"),
            ),
            LeftoverKind::IndexLock => (
                format!("{path} ({age} old): a worktree's index lock; git commands there fail while it exists"),
                format!("if no git command is running in that worktree (an editor opened by git commit holds it): rm {path}"),
            ),
            LeftoverKind::PackTemp => (
                format!("{path} ({age} old): a temporary pack file of a write that was killed"),
                format!("if no orc command is running: rm {path}"),
            ),
            LeftoverKind::Other => (
                format!("{path} ({age} old): a lock file left by a git command that was killed"),
                format!("if no git command is running: rm {path}"),
            ),
        };
        problems.push(Problem::warning("leftover_lock", message, Some(fix)).at(&left.path));
    }
}

fn check_branch(snap: &Snapshot<'_>, problems: &mut Vec<Problem>) -> Result<()> {
    let (_, settings_problem) = snap.settings();
    if let Some(err) = settings_problem {
        problems.push(Problem::error(&err));
    }
    for entry in snap.list("")? {
        if !KNOWN_TOP.contains(&entry.name.as_str()) {
            problems.push(Problem::warning(
                "unknown_file",
                format!("{} is not part of orc's layout and is ignored", entry.name.escape_debug()),
                None,
            ));
        }
    }
    let names = snap.workstream_names()?;
    names.broken.iter().for_each(|e| problems.push(Problem::error(e)));
    for ws in &names.items {
        if let Err(e) = snap.workstream(ws) {
            problems.push(Problem::error(&e));
        }
    }
    let board = Board::load(snap, None, None)?;
    board.broken.iter().for_each(|e| problems.push(Problem::error(e)));
    for task in &board.tasks {
        for dep in &task.after {
            if !board.status_of.contains_key(dep) {
                problems.push(Problem::warning(
                    "missing_dependency",
                    format!("{} waits for {dep}, which does not exist; it can never become ready", task.id),
                    Some(format!("orc t cancel {}", task.id)),
                ));
            } else if matches!(board.status_of[dep], Status::Cancelled) && task.status == Status::Open {
                problems.push(Problem::warning(
                    "cancelled_dependency",
                    format!("{} waits for {dep}, which was cancelled; it can never become ready", task.id),
                    Some(format!("orc t cancel {}", task.id)),
                ));
            }
        }
        if task.status == Status::Claimed && (task.claimed_by.is_none() || task.lease_expires.is_none()) {
            problems.push(Problem::error(&Error::broken_file(
                &crate::model::workstream::task_path(&task.workstream, &task.id),
                None,
                "status is claimed but claimed_by or lease_expires is missing",
            )));
        }
    }
    for entry in snap.list("agents")? {
        let id = entry.name.strip_suffix(".toml");
        if entry.is_tree || id.is_none_or(|id| name_problem(id).is_some()) {
            problems.push(Problem::warning(
                "unknown_file",
                format!("agents/{} is not an agent file (agents/<name>.toml)", entry.name.escape_debug()),
                None,
            ));
        }
    }
    let locks = crate::read::locks::all_locks(snap)?;
    locks.broken.iter().for_each(|e| problems.push(Problem::error(e)));
    let topics = crate::read::knowledge::list(snap)?;
    topics.broken.iter().for_each(|e| problems.push(Problem::error(e)));
    check_events(snap, "events", problems)
}

/// Every line of every event file must be one JSON event.
fn check_events(snap: &Snapshot<'_>, dir: &str, problems: &mut Vec<Problem>) -> Result<()> {
    for entry in snap.list(dir)? {
        let path = format!("{dir}/{}", entry.name);
        if entry.is_tree {
            check_events(snap, &path, problems)?;
            continue;
        }
        if !entry.name.ends_with(".jsonl") {
            continue;
        }
        let bytes = snap.store.read_blob(entry.oid)?;
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Err(e) = serde_json::from_slice::<Event>(line) {
                problems.push(Problem::error(&Error::broken_file(&path, Some(n + 1), format!("not an event: {e}"))));
            }
        }
    }
    Ok(())
}
