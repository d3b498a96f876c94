//! Read-only facts about the code repository itself (HEAD, commits, changed
//! files), for the git hooks' events. Never writes.

use git2::{DiffOptions, Oid};

use super::git_error;
use super::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Kind, Result};

/// A commit of the code repository, as a hook event reports it.
#[derive(Debug, Clone)]
pub struct CommitFacts {
    pub subject: String,
    pub parents: Vec<Oid>,
}

impl Store {
    /// HEAD's commit and its branch (None when detached or unborn).
    pub fn head(&self) -> Result<(Option<Oid>, Option<String>)> {
        let head = match self.repo.head() {
            Ok(head) => head,
            Err(e) if matches!(e.code(), git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound) => {
                return Ok((None, None))
            }
            Err(e) => return Err(git_error("cannot read HEAD", &e)),
        };
        let branch = head.is_branch().then(|| head.shorthand().map(str::to_string)).flatten();
        Ok((head.target(), branch))
    }

    /// A rebase is under way: its checkouts and commits are reported once,
    /// by post-rewrite, when it ends.
    pub fn rebasing(&self) -> bool {
        use git2::RepositoryState::{ApplyMailboxOrRebase, Rebase, RebaseInteractive, RebaseMerge};
        matches!(self.repo.state(), Rebase | RebaseInteractive | RebaseMerge | ApplyMailboxOrRebase)
    }

    /// The message of HEAD's newest reflog entry (`commit (amend): …`).
    pub fn last_head_move(&self) -> Option<String> {
        let reflog = self.repo.reflog("HEAD").ok()?;
        let entry = reflog.get(0)?;
        entry.message().map(str::to_string)
    }

    /// The commit a revision names (`ORIG_HEAD`, a sha), if any.
    pub fn resolve_revision(&self, spec: &str) -> Option<Oid> {
        self.repo.revparse_single(spec).ok().and_then(|o| o.peel_to_commit().ok()).map(|c| c.id())
    }

    pub fn commit_facts(&self, oid: Oid) -> Result<CommitFacts> {
        let commit = self.repo.find_commit(oid).map_err(|e| git_error("cannot read a commit", &e))?;
        Ok(CommitFacts {
            subject: commit.summary().unwrap_or_default().to_string(),
            parents: commit.parent_ids().collect(),
        })
    }

    /// The paths a commit changed against its first parent: how many, and
    /// the first `limit` of them.
    pub fn changed_paths(&self, oid: Oid, limit: usize) -> Result<(usize, Vec<String>)> {
        let context = "cannot diff a commit";
        let commit = self.repo.find_commit(oid).map_err(|e| git_error(context, &e))?;
        let tree = commit.tree().map_err(|e| git_error(context, &e))?;
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree().map_err(|e| git_error(context, &e))?),
            Err(_) => None,
        };
        let mut options = DiffOptions::new();
        options.skip_binary_check(true);
        let diff = self
            .repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut options))
            .map_err(|e| git_error(context, &e))?;
        let paths = diff
            .deltas()
            .take(limit)
            .filter_map(|d| d.new_file().path().or(d.old_file().path()).map(|p| p.to_string_lossy().into_owned()))
            .collect();
        Ok((diff.deltas().len(), paths))
    }
}

/// Where git runs hooks for this worktree: honours `core.hooksPath` and
/// linked worktrees exactly as git does, by asking git.
pub fn hooks_dir(work_dir: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        .current_dir(work_dir)
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(Kind::Git, format!("cannot run git to find the hooks folder: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(
            Kind::Git,
            format!("git rev-parse --git-path hooks failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Runs the user's `git` with `args` in `dir` (setting up repositories,
/// as `orc demo` does); git's whole message on failure.
pub fn run_git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(Kind::Git, format!("cannot run git {}: {e}", args.join(" "))).with_cause(e))?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::new(Kind::Git, format!("git {} in {}: {message}", args.join(" "), dir.display()))
            .with_cause(message));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
