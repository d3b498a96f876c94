//! `lock acquire` and `lock release` as operations; what this machine has
//! observed of lock versions lives in `read::locks`.

use chrono::{DateTime, Duration, Utc};

use super::trailer::Envelope;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::{Kind, Result};
use crate::model::lock::{lock_path, Acquired, Lock, MAX_TTL};
use crate::model::names::{AgentName, ResourceName};
use crate::model::record;
use crate::model::task::Actor;
use crate::read::locks::{read_lock, Observations};
use crate::read::Snapshot;
use crate::store::Store;

/// Checks a `--ttl`.
pub fn check_ttl(ttl: Duration) -> Result<()> {
    if ttl <= Duration::zero() || ttl > MAX_TTL {
        return Err(crate::error::Error::new(Kind::InvalidInput, "a lock TTL is between 1s and 7d")
            .with_hint("pass a TTL such as 60s, 5m or 2h"));
    }
    Ok(())
}

/// A lock's time to live in whole seconds, 1 s to 7 d; decoding checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TtlSecs(i64);

impl schemars::JsonSchema for TtlSecs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TtlSecs".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": 604_800, "description": "seconds" })
    }
}

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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
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
        // Watching starts at first sight, on every path: a replay on another
        // machine's tip records the version it found there, so a holder that
        // stopped renewing is free one TTL after this machine first saw it.
        let mut observed = self.observed.clone();
        observed.observe(current.iter(), env.now);
        let clock = observed.clock(current.as_ref(), env.now, env.settings()?.expiry_slack);
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

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ReleaseLock {
    pub resource: ResourceName,
    pub force: bool,
}

impl Operation for ReleaseLock {
    type Output = Lock;
    const NAME: &'static str = "lock.release";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Lock>> {
        let Some(current) = read_lock(snap, &self.resource)? else {
            return Err(crate::error::Error::new(Kind::NotHeld, format!("{} is not locked", self.resource))
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
