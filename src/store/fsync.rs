//! Durability: orc reports success only after the pack holding a commit and
//! the ref that names it reached the disk. libgit2 does not fsync unless told
//! through a process-global option, so orc does it for the files it wrote.
//!
//! Each fsync on ext4 waits for a journal commit; issuing them from several
//! threads at once lets the journal batch them into one or two commits.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

fn sync_path(path: &Path) -> Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_all().map_err(|e| Error::io(&format!("cannot fsync {}", path.display()), &e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&format!("cannot open {}", path.display()), &e)),
    }
}

fn sync_all_parallel(paths: Vec<PathBuf>) -> Result<()> {
    const THREADS: usize = 8;
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| sync_path(p));
    }
    let chunk = paths.len().div_ceil(THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            paths.chunks(chunk).map(|group| scope.spawn(move || group.iter().try_for_each(|p| sync_path(p)))).collect();
        handles.into_iter().try_for_each(|h| h.join().expect("an fsync thread does not panic"))
    })
}

/// Fsyncs files (or folders), several at once.
pub fn sync_files(paths: Vec<PathBuf>) -> Result<()> {
    sync_all_parallel(paths)
}

/// Fsyncs files still open after they were moved into `dir`, and `dir`,
/// all at once (no second open).
pub fn sync_moved_files(files: &[(&File, &Path)], dir: &Path) -> Result<()> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|(file, path)| {
                scope.spawn(move || {
                    file.sync_all().map_err(|e| Error::io(&format!("cannot fsync {}", path.display()), &e))
                })
            })
            .collect();
        let dir_synced = sync_path(dir);
        handles.into_iter().try_for_each(|h| h.join().expect("an fsync thread does not panic"))?;
        dir_synced
    })
}

/// Fsyncs a loose ref and its folder after it was moved.
pub fn sync_ref(common_dir: &Path, refname: &str) -> Result<()> {
    let path = common_dir.join(refname);
    sync_path(&path)?;
    if let Some(parent) = path.parent() {
        sync_path(parent)?;
    }
    Ok(())
}
