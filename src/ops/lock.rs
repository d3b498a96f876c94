//! `lock acquire` and `lock release`, and what this machine has observed of
//! lock versions (the local half of expiry, see `model::lock`).

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use super::trailer::Envelope;
use super::view::Snapshot;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::Result;
use crate::model::lock::{lock_path, Acquired, Lock, LockClock, MAX_TTL};
use crate::model::names::{AgentName, ResourceName};
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
            .with_hint("pass a TTL such as 60s, 5m or 2h"));
    }
    Ok(())
}

/// A lock's time to live in whole seconds, 1 s to 7 d; decoding checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TtlSecs(i64);

impl TtlSecs {
    pub fn new(ttl: Duration) -> Result<Self> {
        check_ttl(ttl)?;
        Ok(Self(ttl.num_seconds()))
    }

    pub fn duration(self) -> Duration {
        Duration::seconds(self.0)
    }
}

impl TryFrom<i64> for TtlSecs {
    type Error = crate::error::Error;
    fn try_from(secs: i64) -> Result<Self> {
        Self::new(Duration::seconds(secs))
    }
}

impl From<TtlSecs> for i64 {
    fn from(ttl: TtlSecs) -> Self {
        ttl.0
    }
}

/// Its recorded input is the resource, the agent and the TTL; what this
/// machine observed of the lock is loaded where the operation is made.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AcquireLock {
    pub resource: ResourceName,
    pub agent: AgentName,
    pub ttl_secs: TtlSecs,
    #[serde(skip)]
    pub observed: Observations,
}

impl AcquireLock {
    pub fn new(store: &Store, resource: &str, agent: AgentName, ttl: Duration, now: DateTime<Utc>) -> Result<Self> {
        let resource = ResourceName::new(resource)?;
        let ttl_secs = TtlSecs::new(ttl)?;
        let mut observed = Observations::load(store);
        // Watching starts before the attempt, so a refused acquire still
        // starts the clock on the current holder's version.
        let snap = Snapshot::current(store)?;
        if let Some(current) = read_lock(&snap, &resource)? {
            observed.observe([&current], now);
        }
        Ok(Self { resource, agent, ttl_secs, observed })
    }
}

impl Operation for AcquireLock {
    type Output = Lock;
    const NAME: &'static str = "lock.acquire";

    fn actor(&self, _session: &Actor) -> Actor {
        Actor::Agent(self.agent.to_string())
    }

    fn from_record(envelope: &Envelope, source: &RecordSource<'_>) -> Result<Self> {
        let mut op: Self = decode_input(envelope)?;
        op.observed = Observations::load(source.store);
        Ok(op)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Lock>> {
        let current = read_lock(snap, &self.resource)?;
        let clock = self.observed.clock(current.as_ref(), env.now, env.settings.clock_grace);
        let (lock, how) =
            Lock::acquire(current.as_ref(), &self.resource, &self.agent, self.ttl_secs.duration(), &clock)?;
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
    pub resource: ResourceName,
    pub force: bool,
}

impl Operation for ReleaseLock {
    type Output = Lock;
    const NAME: &'static str = "lock.release";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Lock>> {
        let Some(current) = read_lock(snap, &self.resource)? else {
            return Err(crate::error::Error::refused("not_held", format!("{} is not locked", self.resource))
                .with("resource", self.resource.as_str()));
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
