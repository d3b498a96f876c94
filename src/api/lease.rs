//! A lock held for as long as some work runs: acquired (published), renewed
//! every third of its TTL on a thread of its own, and released when the
//! lease is dropped or released. `orc lock run` uses it; so will the
//! supervisor.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use chrono::Duration;

use super::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::lock::Lock;
use crate::model::names::ResourceName;
use crate::session::Session;

/// What the renewing thread shares with the lease.
#[derive(Default)]
struct Shared {
    stopped: Mutex<bool>,
    wake: Condvar,
    /// Set when a renewal found the lock taken by another holder.
    lost: Mutex<Option<Error>>,
    /// Renewals that failed for another reason (the network), kept for
    /// the caller to report.
    failures: Mutex<Vec<Error>>,
}

/// A held lock that renews itself. Drop it (or call [`LockLease::release`])
/// to stop renewing and release.
pub struct LockLease {
    repo: Arc<Repo>,
    session: Arc<Session>,
    resource: ResourceName,
    lock: Lock,
    shared: Arc<Shared>,
    renewer: Option<JoinHandle<()>>,
    released: bool,
}

impl LockLease {
    /// Acquires `resource` for `ttl` as the session's agent (published),
    /// then renews it every third of `ttl`.
    pub fn acquire(repo: Arc<Repo>, session: Arc<Session>, resource: ResourceName, ttl: Duration) -> Result<Self> {
        let lock = repo.acquire_lock(&session, &resource, ttl)?.output;
        let shared = Arc::new(Shared::default());
        let every = (ttl.to_std().unwrap_or_default() / 3).max(StdDuration::from_millis(500));
        let renewer = {
            let (repo, session, resource, shared) =
                (Arc::clone(&repo), Arc::clone(&session), resource.clone(), Arc::clone(&shared));
            std::thread::spawn(move || renew(&repo, &session, &resource, ttl, every, &shared))
        };
        Ok(Self { repo, session, resource, lock, shared, renewer: Some(renewer), released: false })
    }

    /// The lock as first acquired (its fencing token).
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// The refusal a renewal met when another holder took the lock over.
    pub fn lost(&self) -> Option<Error> {
        self.shared.lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Renewals that failed without losing the lock (kept for reporting).
    pub fn take_failures(&self) -> Vec<Error> {
        std::mem::take(&mut self.shared.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn stop_renewing(&mut self) {
        *self.shared.stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }

    /// Stops renewing and releases the lock (published). A lease that was
    /// lost is not released: another holder has it.
    pub fn release(mut self) -> Result<Option<Lock>> {
        self.stop_renewing();
        self.released = true;
        if let Some(lost) = self.lost() {
            return Err(lost);
        }
        Ok(Some(self.repo.release_lock(&self.session, &self.resource, false)?.output))
    }
}

impl Drop for LockLease {
    fn drop(&mut self) {
        self.stop_renewing();
        if !self.released && self.lost().is_none() {
            let _ = self.repo.release_lock(&self.session, &self.resource, false);
        }
    }
}

fn renew(repo: &Repo, session: &Session, resource: &ResourceName, ttl: Duration, every: StdDuration, shared: &Shared) {
    let mut stopped = shared.stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let (guard, _) = shared.wake.wait_timeout(stopped, every).unwrap_or_else(std::sync::PoisonError::into_inner);
        stopped = guard;
        if *stopped {
            return;
        }
        drop(stopped);
        match repo.acquire_lock(session, resource, ttl) {
            Ok(_) => {}
            Err(e) if e.kind == Kind::LockHeld => {
                *shared.lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                return;
            }
            Err(e) => shared.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(e),
        }
        stopped = shared.stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}
