//! Locks as this machine judges them: every lock file parsed, and what this
//! machine observed of each lock version (the local half of expiry, DESIGN
//! §4 and `model::lock`). The one place lock liveness is decided.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::{Loaded, Snapshot};
use crate::error::Result;
use crate::model::lock::{lock_path, Lock, LockClock};
use crate::store::Store;

/// When this machine first saw each lock version, kept in
/// `<git-common-dir>/orc/observed-locks`. Losing it only makes expiry more
/// patient: an unseen version counts as first seen now.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    path: PathBuf,
    seen: HashMap<String, (u64, i64, i64)>,
}

impl Observations {
    pub fn load(store: &Store) -> Self {
        let path = store.private_dir().join("observed-locks");
        let mut seen = HashMap::new();
        for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            if let [resource, token, expires, first] = parts[..] {
                if let (Ok(token), Ok(expires), Ok(first)) = (token.parse(), expires.parse(), first.parse()) {
                    seen.insert(resource.to_string(), (token, expires, first));
                }
            }
        }
        Self { path, seen }
    }

    /// When this machine first saw exactly this version of the lock.
    pub fn first_seen(&self, lock: &Lock) -> Option<DateTime<Utc>> {
        match self.seen.get(&lock.resource) {
            Some((token, expires, first)) if *token == lock.token && *expires == lock.expires_at.timestamp() => {
                DateTime::from_timestamp(*first, 0)
            }
            _ => None,
        }
    }

    /// Records the versions of held locks not seen before; saves when any was
    /// new. Best effort: a file that cannot be written only costs patience.
    pub fn observe<'l>(&mut self, locks: impl IntoIterator<Item = &'l Lock>, now: DateTime<Utc>) {
        let mut changed = false;
        for lock in locks.into_iter().filter(|l| l.is_held()) {
            if self.first_seen(lock).is_none() {
                self.seen.insert(lock.resource.clone(), (lock.token, lock.expires_at.timestamp(), now.timestamp()));
                changed = true;
            }
        }
        if changed {
            let text: String = self.seen.iter().map(|(r, (t, e, f))| format!("{r} {t} {e} {f}\n")).collect();
            let mut salt = [0u8; 4];
            getrandom::fill(&mut salt).expect("the OS random generator is available on every supported platform");
            let tmp = self.path.with_extension(format!("tmp-{}-{:08x}", std::process::id(), u32::from_le_bytes(salt)));
            if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.path)).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }

    pub fn clock(&self, lock: Option<&Lock>, now: DateTime<Utc>, grace: Duration) -> LockClock {
        LockClock { now, grace, first_seen: lock.and_then(|l| self.first_seen(l)) }
    }
}

/// Every lock file, parsed (free ones included).
pub fn all_locks(snap: &Snapshot<'_>) -> Result<Loaded<Lock>> {
    let mut out = Loaded::default();
    for entry in snap.list("locks")? {
        let Some(resource) = entry.name.strip_suffix(".toml") else { continue };
        if entry.is_tree || crate::model::names::name_problem(resource).is_some() {
            continue;
        }
        match read_lock(snap, resource) {
            Ok(Some(lock)) => out.items.push(lock),
            Ok(None) => {}
            Err(e) => out.broken.push(e),
        }
    }
    out.items.sort_by(|a, b| a.resource.cmp(&b.resource));
    Ok(out)
}

pub fn read_lock(snap: &Snapshot<'_>, resource: &str) -> Result<Option<Lock>> {
    let mut lock: Option<Lock> = snap.record(&lock_path(resource))?;
    if let Some(lock) = lock.as_mut() {
        lock.resource = resource.to_string();
    }
    Ok(lock)
}
