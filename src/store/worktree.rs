//! The code worktrees `orc work` makes for tasks, through the user's `git`.
//!
//! Rules this module keeps:
//! - Creating and removing worktrees is serialised under one file lock per
//!   repository (`<git-common-dir>/orc/work/worktrees.lock`): concurrent
//!   `git worktree` calls race on `.git/config.lock` and the worktree list.
//! - Branches are made with `--no-track`, so nothing is written to the
//!   repository's config.
//! - A worktree is removed only when `git status` shows nothing (tracked or
//!   untracked), never with `--force`; a branch is deleted only when it
//!   still points at the commit it was made on (compare-and-delete), so
//!   commits made in a worktree always stay on a ref.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::code::run_git;
use crate::error::{Error, Kind, Result};

/// Held while a worktree is made or removed.
pub struct WorktreeQueue {
    _file: File,
}

impl WorktreeQueue {
    /// Waits for the repository's worktree lock.
    pub fn lock(private_dir: &Path) -> Result<Self> {
        let dir = private_dir.join("work");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&format!("cannot create {}", dir.display()), &e))?;
        let path = dir.join("worktrees.lock");
        let file = super::open_lock_file(&path)?;
        file.lock().map_err(|e| Error::io(&format!("cannot lock {}", path.display()), &e))?;
        Ok(Self { _file: file })
    }
}

/// A worktree made for a task.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TaskWorktree {
    pub path: PathBuf,
    pub branch: String,
    /// The commit the branch was made on (or found at, when it existed).
    pub base: String,
}

/// Makes a worktree at `path` on `branch`: a new branch from `HEAD` of
/// `repo_dir`, or the existing branch (a retried task continues where the
/// last attempt stopped).
pub fn add(_queue: &WorktreeQueue, repo_dir: &Path, path: &Path, branch: &str) -> Result<TaskWorktree> {
    let path_text = path.to_string_lossy();
    let existing = tip(repo_dir, branch)?;
    match &existing {
        Some(_) => run_git(repo_dir, &["worktree", "add", "--quiet", &path_text, branch])?,
        None => run_git(repo_dir, &["worktree", "add", "--quiet", "--no-track", "-b", branch, &path_text, "HEAD"])?,
    };
    let base = match existing {
        Some(tip) => tip,
        None => tip(repo_dir, branch)?.ok_or_else(|| {
            Error::new(Kind::Git, format!("git worktree add made no branch {branch}"))
                .with_hint("check `git worktree list` and `git branch`")
        })?,
    };
    Ok(TaskWorktree { path: path.to_path_buf(), branch: branch.to_string(), base })
}

/// The commit `branch` points at, if it exists.
pub fn tip(repo_dir: &Path, branch: &str) -> Result<Option<String>> {
    let refname = format!("refs/heads/{branch}");
    match run_git(repo_dir, &["rev-parse", "--verify", "--quiet", &refname]) {
        Ok(out) => Ok(Some(out.trim().to_string())),
        Err(_) => Ok(None),
    }
}

/// What `git status` shows in the worktree (empty when clean).
pub fn changes(path: &Path) -> Result<String> {
    run_git(path, &["status", "--porcelain", "--untracked-files=all"])
}

/// Removes a clean worktree; the branch stays unless it has no commits of
/// its own. Returns whether the branch was kept.
pub fn remove(_queue: &WorktreeQueue, repo_dir: &Path, worktree: &TaskWorktree) -> Result<bool> {
    if !changes(&worktree.path)?.trim().is_empty() {
        return Err(Error::new(Kind::WrongState, format!("{} has changes; it is kept", worktree.path.display())));
    }
    run_git(repo_dir, &["worktree", "remove", &worktree.path.to_string_lossy()])?;
    let refname = format!("refs/heads/{}", worktree.branch);
    // Deletes only if the branch still points at its base: a commit made
    // meanwhile keeps it.
    let kept = run_git(repo_dir, &["update-ref", "-d", &refname, &worktree.base]).is_err();
    Ok(kept)
}

/// Adds `pattern` to the repository's `info/exclude` when missing, so a
/// file orc writes into its worktrees never shows as untracked work.
pub fn exclude(common_dir: &Path, pattern: &str) -> Result<()> {
    let info = common_dir.join("info");
    let path = info.join("exclude");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current.lines().any(|l| l.trim() == pattern) {
        return Ok(());
    }
    std::fs::create_dir_all(&info).map_err(|e| Error::io(&format!("cannot create {}", info.display()), &e))?;
    let separator = if current.is_empty() || current.ends_with('\n') { "" } else { "\n" };
    let text = format!("{current}{separator}# orc work writes task briefs here\n{pattern}\n");
    std::fs::write(&path, text).map_err(|e| Error::io(&format!("cannot write {}", path.display()), &e))
}
