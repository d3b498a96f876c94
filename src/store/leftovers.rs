//! Lock files that git, libgit2 or orc left in the git dir when a process
//! was killed, for `orc doctor` to name (issue 13: they piled up unseen).
//! Nothing here removes anything: a lock may belong to a command running
//! right now, which only its age can hint at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Store;

/// One leftover file.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub path: PathBuf,
    /// Since the file was last written.
    pub age: Duration,
    /// Where it comes from, for the fix to say what to do.
    pub what: LeftoverKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverKind {
    /// A ref's lock (`refs/**.lock`, `packed-refs.lock`, `HEAD.lock`).
    RefLock,
    /// A worktree's `index.lock`: also held by a `git commit` waiting for
    /// its editor, so never orc's to remove.
    IndexLock,
    /// A temporary pack or index a killed writer left: orc's own
    /// `objects/pack/tmp_orc_*` or libgit2's `pack_git2_*`.
    PackTemp,
    /// Any other `*.lock` (`maintenance.lock`, `config.lock`, commit-graph…).
    Other,
}

fn is_lock(name: &str) -> bool {
    name.ends_with(".lock")
}

/// Files below `dir` (recursively when `deep`) that `keep` accepts.
fn scan(dir: &Path, deep: bool, keep: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_dir() {
            if deep {
                scan(&entry.path(), deep, keep, out);
            }
        } else if kind.is_file() && keep(&name) {
            out.push(entry.path());
        }
    }
}

impl Store {
    /// Every lock file git, libgit2 or orc left in this repository's git
    /// dirs (the common one and this worktree's), oldest first. orc's own
    /// queue files (`orc/*.lock`) are kernel locks that stay in place by
    /// design and are not listed.
    pub fn leftover_lock_files(&self) -> Vec<Leftover> {
        let mut paths = Vec::new();
        let common = &self.common_dir;
        let mut tops = vec![common.clone()];
        if self.repo.path() != common.as_path() {
            tops.push(self.repo.path().to_path_buf());
        }
        for top in &tops {
            scan(top, false, &is_lock, &mut paths);
        }
        scan(&common.join("refs"), true, &is_lock, &mut paths);
        scan(&common.join("logs"), true, &is_lock, &mut paths);
        scan(&common.join("objects").join("info"), true, &is_lock, &mut paths);
        scan(&common.join("objects").join("pack"), false, &|n| is_lock(n) || is_pack_temp(n), &mut paths);
        paths.sort();
        paths.dedup();
        let mut found: Vec<Leftover> = paths
            .into_iter()
            .map(|path| {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let what = if name == "index.lock" {
                    LeftoverKind::IndexLock
                } else if is_pack_temp(&name) {
                    LeftoverKind::PackTemp
                } else if path.starts_with(common.join("refs")) || name == "packed-refs.lock" || name == "HEAD.lock" {
                    LeftoverKind::RefLock
                } else {
                    LeftoverKind::Other
                };
                let age = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                Leftover { path, age, what }
            })
            .collect();
        found.sort_by_key(|l| std::cmp::Reverse(l.age));
        found
    }
}

fn is_pack_temp(name: &str) -> bool {
    name.starts_with("tmp_orc_") || name.starts_with("pack_git2_")
}
