//! `lock acquire` and `lock release`, and what this machine has observed of
//! lock versions (the local half of expiry, see `model::lock`).

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::view::Snapshot;
use super::{OpEnv, Operation, Orc, Plan};
use crate::error::Result;
use crate::model::lock::{lock_path, Acquired, Lock, LockClock, MAX_TTL};
use crate::model::names::{check_name, NameKind};
use crate::model::record;
use crate::model::task::Actor;
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
            crate::clock::random_bytes(&mut salt);
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
pub fn all_locks(snap: &Snapshot<'_>) -> Result<super::view::Loaded<Lock>> {
    let mut out = super::view::Loaded::default();
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

/// Checks a `--ttl`.
pub fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl <= Duration::zero() || ttl > MAX_TTL {
        return Err(crate::error::Error::input("invalid_input", "a lock TTL is between 1s and 7d")
            .with_hint("orc lock acquire <resource> --ttl 60s"));
    }
    Ok(())
}

/// Its input is written by hand (`input`): the TTL in seconds, and no
/// local observations.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AcquireLock {
    pub resource: String,
    pub agent: String,
    #[serde(skip)]
    pub ttl: Duration,
    #[serde(skip)]
    pub observed: Observations,
}

impl AcquireLock {
    pub fn new(orc: &Orc, resource: &str, agent: String, ttl: Duration) -> Result<Self> {
        check_name(NameKind::Resource, resource)?;
        check_ttl(ttl)?;
        let mut observed = Observations::load(&orc.store);
        // Watching starts before the attempt, so a refused acquire still
        // starts the clock on the current holder's version.
        let snap = orc.snapshot()?;
        if let Some(current) = read_lock(&snap, resource)? {
            observed.observe([&current], crate::clock::now()?);
        }
        Ok(Self { resource: resource.into(), agent, ttl, observed })
    }
}

impl Operation for AcquireLock {
    type Output = Lock;
    const NAME: &'static str = "lock.acquire";

    fn input(&self) -> serde_json::Value {
        serde_json::json!({"resource": self.resource, "agent": self.agent, "ttl_secs": self.ttl.num_seconds()})
    }

    fn actor(&self, _orc: &Orc) -> Result<Actor> {
        Ok(Actor::Agent(self.agent.clone()))
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Lock>> {
        let current = read_lock(snap, &self.resource)?;
        let clock = self.observed.clock(current.as_ref(), env.now, env.settings.clock_grace);
        let (lock, how) = Lock::acquire(current.as_ref(), &self.resource, &self.agent, self.ttl, &clock)?;
        let verb = match how {
            Acquired::Free => "lock",
            Acquired::Renewed => "renew lock",
            Acquired::TakenOver { .. } => "take over lock",
        };
        let mut plan =
            Plan::new(format!("{verb} {} by {} (token {})", self.resource, self.agent, lock.token), lock.clone())
                .write(lock_path(&self.resource), record::render(&lock))
                .detail("resource", &self.resource)
                .detail("token", lock.token)
                .detail("expires_at", lock.expires_at);
        match how {
            Acquired::TakenOver { from } => {
                plan = plan.detail("from", from);
                plan.event_type = Some("lock.takeover".into());
            }
            Acquired::Renewed => plan = plan.detail("renewed", true),
            Acquired::Free => {}
        }
        Ok(plan)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReleaseLock {
    pub resource: String,
    pub force: bool,
}

impl Operation for ReleaseLock {
    type Output = Lock;
    const NAME: &'static str = "lock.release";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Lock>> {
        check_name(NameKind::Resource, &self.resource)?;
        let Some(current) = read_lock(snap, &self.resource)? else {
            return Err(crate::error::Error::refused("not_held", format!("{} is not locked", self.resource))
                .with("resource", &self.resource));
        };
        let released = current.release(env.actor.name(), env.actor.agent().is_some(), self.force, env.now)?;
        let holder = current.holder.clone().unwrap_or_default();
        let forced = self.force && env.actor.agent() != Some(holder.as_str());
        let subject = if forced {
            format!("force-release lock {} held by {holder}, by {}", self.resource, env.actor.name())
        } else {
            format!("release lock {} by {}", self.resource, env.actor.name())
        };
        let mut plan = Plan::new(subject, released.clone())
            .write(lock_path(&self.resource), record::render(&released))
            .detail("resource", &self.resource)
            .detail("token", released.token)
            .detail("holder", &holder);
        if forced {
            plan = plan.detail("forced", true);
        }
        Ok(plan)
    }
}
