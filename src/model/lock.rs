//! Locks: `locks/<resource>.toml`. The file outlives a release so the
//! fencing token keeps growing across holders: a holder that outlived its
//! lease can be told apart by its older token.
//!
//! Expiry is judged by what this machine observed, never by comparing a time
//! another machine wrote with this machine's clock (DESIGN §4): a lock is
//! expired when this machine has seen the same lock version (holder, token,
//! expiry) unchanged for its whole TTL plus a small slack. A holder whose
//! clock is an hour off loses nothing while it renews (each renewal is a new
//! version), and a dead holder's lock is free about one TTL after this
//! machine last saw it change. Written times are shown to people only.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::task::short_time;
use crate::error::{Error, Kind, Result};

pub const DEFAULT_TTL: Duration = Duration::seconds(60);
pub const MAX_TTL: Duration = Duration::days(7);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// Copied from the path for people reading the file; the path wins.
    #[serde(default)]
    pub resource: String,
    /// None once released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Grows with every acquisition of this resource.
    pub token: u64,
    /// The TTL of the last acquisition or renewal: a renewal moves the
    /// expiry, not `acquired_at`. Absent in files written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
}

pub fn lock_path(resource: &str) -> String {
    format!("locks/{resource}.toml")
}

/// How a lock was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Acquired {
    /// It was free (or never existed).
    Free,
    /// The same agent held it; the expiry moved, the token did not.
    Renewed,
    /// The previous holder's lock expired.
    TakenOver { from: String },
}

/// What this machine knows about the current lock version, and the clock.
#[derive(Debug, Clone, Copy)]
pub struct LockClock {
    pub now: DateTime<Utc>,
    /// Slack past the TTL (process start-up), `expiry_slack` in orc.toml.
    pub grace: Duration,
    /// When this machine first saw this exact lock version (holder, token,
    /// expiry); None when it never did, which counts as "just now".
    pub first_seen: Option<DateTime<Utc>>,
}

impl Lock {
    pub fn is_held(&self) -> bool {
        self.holder.is_some()
    }

    /// How long the current version lives once seen: the TTL it was last
    /// acquired or renewed with.
    pub fn ttl(&self) -> Duration {
        match self.ttl_secs {
            Some(secs) => Duration::seconds(secs),
            None => (self.expires_at - self.acquired_at).max(Duration::zero()),
        }
    }

    /// Held, and not expired by this machine's observation (see the module
    /// docs).
    pub fn is_live(&self, clock: &LockClock) -> bool {
        if !self.is_held() {
            return false;
        }
        let first_seen = clock.first_seen.unwrap_or(clock.now);
        clock.now < first_seen + self.ttl() + clock.grace
    }

    /// Acquires (or renews) `resource` for `agent` for `ttl`.
    pub fn acquire(
        current: Option<&Self>,
        resource: &str,
        agent: &str,
        ttl: Duration,
        clock: &LockClock,
    ) -> Result<(Self, Acquired)> {
        let now = clock.now;
        let fresh = |token: u64| Self {
            resource: resource.into(),
            holder: Some(agent.into()),
            acquired_at: now,
            expires_at: now + ttl,
            token,
            ttl_secs: Some(ttl.num_seconds()),
            released_at: None,
            released_by: None,
        };
        let Some(current) = current else { return Ok((fresh(1), Acquired::Free)) };
        match current.holder.as_deref() {
            None => Ok((fresh(current.token + 1), Acquired::Free)),
            Some(holder) if holder == agent => {
                let mut renewed = current.clone();
                renewed.expires_at = now + ttl;
                renewed.ttl_secs = Some(ttl.num_seconds());
                Ok((renewed, Acquired::Renewed))
            }
            Some(holder) if !current.is_live(clock) => {
                Ok((fresh(current.token + 1), Acquired::TakenOver { from: holder.to_string() }))
            }
            Some(holder) => Err(Error::new(
                Kind::LockHeld,
                format!(
                    "{resource} is locked by {holder} until {} (token {})",
                    short_time(current.expires_at, now),
                    current.token
                ),
            )
            .with("resource", resource)
            .with("holder", holder)
            .with("expires_at", current.expires_at)
            .with("token", current.token)
            .with_hint("wait for it to be released or to expire")),
        }
    }

    /// Releases the lock: by its holder, or by anyone with `force`.
    pub fn release(&self, actor: &str, is_agent: bool, force: bool, now: DateTime<Utc>) -> Result<Self> {
        let Some(holder) = self.holder.as_deref() else {
            return Err(
                Error::new(Kind::NotHeld, format!("{} is not locked", self.resource)).with("resource", &self.resource)
            );
        };
        let is_holder = is_agent && holder == actor;
        if !force && !is_holder {
            return Err(Error::new(Kind::NotHolder, format!("{} is locked by {holder}, not {actor}", self.resource))
                .with("resource", &self.resource)
                .with("holder", holder)
                .with_hint(format!(
                    "only the holder releases it; a person may use `orc lock release {} --force`",
                    self.resource
                )));
        }
        let mut released = self.clone();
        released.holder = None;
        released.released_at = Some(now);
        released.released_by = Some(actor.into());
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + secs, 0).unwrap()
    }

    fn clock(now: i64, first_seen: Option<i64>) -> LockClock {
        LockClock { now: t(now), grace: Duration::seconds(1), first_seen: first_seen.map(t) }
    }

    #[test]
    fn tokens_grow_across_holders_and_releases() {
        let (a, how) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(0, None)).unwrap();
        assert_eq!((a.token, how), (1, Acquired::Free));
        let free = a.release("a1", true, false, t(10)).unwrap();
        let (b, _) = Lock::acquire(Some(&free), "db", "a2", DEFAULT_TTL, &clock(20, None)).unwrap();
        assert_eq!(b.token, 2);
        let (renewed, how) = Lock::acquire(Some(&b), "db", "a2", DEFAULT_TTL, &clock(30, Some(20))).unwrap();
        assert_eq!((renewed.token, how), (2, Acquired::Renewed));
        assert_eq!(renewed.expires_at, t(90));
        assert_eq!(renewed.ttl(), DEFAULT_TTL, "a renewal does not stretch the TTL");
    }

    #[test]
    fn a_live_lock_is_refused_naming_holder_and_expiry() {
        let (a, _) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(0, None)).unwrap();
        let err = Lock::acquire(Some(&a), "db", "a2", DEFAULT_TTL, &clock(30, Some(0))).unwrap_err();
        assert_eq!(err.kind, "lock_held");
        assert!(err.message.contains("locked by a1 until"), "{}", err.message);
    }

    #[test]
    fn a_lock_expires_one_observed_ttl_and_the_slack_after_it_was_first_seen() {
        let (a, _) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(0, None)).unwrap();
        assert!(a.is_live(&clock(60, Some(0))), "within the slack");
        let (taken, how) = Lock::acquire(Some(&a), "db", "a2", DEFAULT_TTL, &clock(61, Some(0))).unwrap();
        assert_eq!(how, Acquired::TakenOver { from: "a1".into() });
        assert_eq!(taken.token, 2);
        // Seen later than it was written: the TTL counts from the sighting.
        assert!(a.is_live(&clock(100, Some(50))));
        assert!(!a.is_live(&clock(111, Some(50))));
    }

    #[test]
    fn written_times_take_nothing_away() {
        // a1's clock runs an hour slow: its expiry is long past by our clock.
        let (slow, _) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(-3600, None)).unwrap();
        assert!(slow.is_live(&clock(0, None)), "never seen before: alive for a TTL from now");
        assert!(slow.is_live(&clock(60, Some(0))));
        assert!(!slow.is_live(&clock(61, Some(0))));
        // An hour fast: its expiry is far ahead, yet it dies one TTL after the
        // last version this machine saw.
        let (fast, _) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(3600, None)).unwrap();
        assert!(!fast.is_live(&clock(61, Some(0))));
    }

    #[test]
    fn release_only_by_holder_unless_forced() {
        let (a, _) = Lock::acquire(None, "db", "a1", DEFAULT_TTL, &clock(0, None)).unwrap();
        assert_eq!(a.release("a2", true, false, t(1)).unwrap_err().kind, "not_holder");
        assert_eq!(a.release("a1", false, false, t(1)).unwrap_err().kind, "not_holder");
        let forced = a.release("boss", false, true, t(1)).unwrap();
        assert!(!forced.is_held());
        assert_eq!(forced.token, 1);
        assert_eq!(forced.release("a1", true, false, t(2)).unwrap_err().kind, "not_held");
    }
}
