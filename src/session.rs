//! Who acts, when, and how: the per-command (or per-request) half of the
//! library's API (DESIGN §9). A front end builds one [`Session`] and hands
//! it to every call; the library never looks up an identity, reads the
//! clock or draws an id anywhere else.
//!
//! Rules this module keeps:
//! - No fallback is hidden here: the front end decides the actor (agent
//!   from a flag, `ORC_AGENT` or git config; else the person) and passes it.
//! - Time and ids come from the session's [`Clock`]. `Clock::from_env` reads
//!   `ORC_NOW`, `ORC_NOW_OFFSET` and `ORC_SEED` once; a front end calls it at
//!   start-up, the library never reads the environment itself.

use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::error::{Error, Kind, Result};
use crate::model::duration::parse_duration;
use crate::model::names::AgentName;
use crate::model::task::Actor;

/// Crockford's base32 alphabet in lower case: no i, l, o or u, so ids read
/// aloud and typed by hand survive.
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Length of the random part of a task id: 50 bits, so agents creating tasks
/// offline on different machines do not collide in practice (one chance in
/// 10^6 at 35k tasks), while people type a unique prefix of 4 or so.
pub const TASK_ID_CHARS: usize = crate::model::task::TASK_ID_CHARS;

fn base32(mut value: u128, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8(out).expect("the alphabet is ASCII")
}

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
enum Time {
    System,
    Fixed(DateTime<Utc>),
    Offset(Duration),
}

/// The session's time and randomness. With a seed, ids are a fixed
/// sequence (tests snapshot output with them); without, they come from the
/// operating system.
#[derive(Debug)]
pub struct Clock {
    time: Time,
    seeded: Option<Mutex<u64>>,
}

impl Clock {
    /// The real clock and the operating system's randomness.
    pub fn system() -> Self {
        Self { time: Time::System, seeded: None }
    }

    /// A clock stopped at `at`.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self { time: Time::Fixed(at), seeded: None }
    }

    /// This clock, drawing ids from a fixed sequence.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seeded = Some(Mutex::new(seed));
        self
    }

    /// Reads `ORC_NOW` (an RFC 3339 time), `ORC_NOW_OFFSET` (a duration
    /// such as `45m` or `-2m` added to the real clock) and `ORC_SEED` (a
    /// number) once. Front ends call this at start-up.
    pub fn from_env() -> Result<Self> {
        let mut clock = Self::system();
        if let Ok(fixed) = std::env::var("ORC_NOW") {
            let at = DateTime::parse_from_rfc3339(&fixed).map_err(|e| {
                Error::new(Kind::Usage, format!("ORC_NOW={fixed:?} is not an RFC 3339 time: {e}"))
                    .with_hint("set it like ORC_NOW=2026-11-21T10:04:05Z, or unset it")
            })?;
            clock.time = Time::Fixed(at.with_timezone(&Utc));
        } else if let Ok(offset) = std::env::var("ORC_NOW_OFFSET") {
            let (negative, text) = match offset.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, offset.as_str()),
            };
            let shift = parse_duration(text).map_err(|e| {
                Error::new(Kind::Usage, format!("ORC_NOW_OFFSET: {e}")).with_hint("for example ORC_NOW_OFFSET=-2m")
            })?;
            clock.time = Time::Offset(if negative { -shift } else { shift });
        }
        if let Ok(seed) = std::env::var("ORC_SEED") {
            let seed = seed.trim().parse::<u64>().map_err(|_| {
                Error::new(Kind::Usage, format!("ORC_SEED={seed:?} is not a number"))
                    .with_hint("set it like ORC_SEED=42, or unset it")
            })?;
            clock = clock.with_seed(seed);
        }
        Ok(clock)
    }

    /// "Now" to the millisecond, for operation ids: an agent's operations
    /// follow each other by more than a millisecond, so its ids sort in the
    /// order it made them.
    pub fn precise_now(&self) -> DateTime<Utc> {
        match self.time {
            Time::System => Utc::now().trunc_subsecs(3),
            Time::Fixed(at) => at,
            Time::Offset(shift) => Utc::now().trunc_subsecs(3) + shift,
        }
    }

    /// The time an operation happens at, to the second: every record and
    /// event stores whole seconds so files stay readable and byte-stable.
    pub fn now(&self) -> DateTime<Utc> {
        self.precise_now().trunc_subsecs(0)
    }

    /// Fills `buf` with random bytes (a fixed sequence when seeded).
    pub fn random_bytes(&self, buf: &mut [u8]) {
        match &self.seeded {
            None => getrandom::fill(buf).expect("the OS random generator is available on every supported platform"),
            Some(state) => {
                let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for chunk in buf.chunks_mut(8) {
                    // splitmix64: small, and good enough for test ids.
                    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = *state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^= z >> 31;
                    chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
                }
            }
        }
    }

    /// A new ULID (time-ordered, 128 bits) for an operation, upper case as usual.
    pub fn new_ulid(&self, at: DateTime<Utc>) -> String {
        let millis = u128::from(at.timestamp_millis().max(0) as u64) & ((1 << 48) - 1);
        let mut rand = [0u8; 10];
        self.random_bytes(&mut rand);
        let mut value = millis << 80;
        for (i, byte) in rand.iter().enumerate() {
            value |= u128::from(*byte) << (8 * (9 - i));
        }
        base32(value, 26).to_ascii_uppercase()
    }

    /// A new task id, `t-` and ten base32 characters.
    pub fn new_task_id(&self) -> String {
        let mut rand = [0u8; 8];
        self.random_bytes(&mut rand);
        format!("t-{}", base32(u128::from(u64::from_le_bytes(rand)), TASK_ID_CHARS))
    }
}

/// `id`, or, when it does not sort after `previous` (a clock that stepped
/// back, one running behind another machine's, or two ids in one
/// millisecond), an id one millisecond after `previous`'s time that keeps
/// `id`'s own random part. Ids then follow commit order and stay unique: two
/// machines extending the same tip with slow clocks still draw different
/// ids, which replay relies on to tell operations apart.
pub fn ulid_after(id: String, previous: Option<&str>) -> String {
    let Some(previous) = previous.filter(|p| p.len() == 26 && id.as_str() <= *p) else { return id };
    let upper: Vec<u8> = CROCKFORD.iter().map(u8::to_ascii_uppercase).collect();
    let digit = |b: u8| upper.iter().position(|u| *u == b).map(|d| d as u64);
    let mut millis: u64 = 0;
    for b in previous.bytes().take(10) {
        let Some(d) = digit(b) else { return id };
        millis = (millis << 5) | d;
    }
    let bumped = base32(u128::from(millis + 1), 10).to_ascii_uppercase();
    format!("{bumped}{}", &id[10..])
}

/// Whether operations that must be won (claims, locks, finishes) are
/// published to the remote before they report success (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publish {
    /// Publish when a remote is configured (the default).
    WhenRemote,
    /// Keep the operation local until the next sync (`--local`).
    Local,
}

/// An idempotency key: 1 to 200 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(key: &str) -> Result<Self> {
        if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
            return Err(Error::new(Kind::InvalidInput, "an idempotency key is 1 to 200 printable characters")
                .with_hint("use a short token such as a UUID"));
        }
        Ok(Self(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One caller's context: who acts, the clock, an idempotency key for the
/// one mutating operation it is given to, and the publish policy.
#[derive(Debug)]
pub struct Session {
    pub actor: Actor,
    pub clock: Clock,
    pub key: Option<IdempotencyKey>,
    pub publish: Publish,
    /// The branch tip the caller decided on (HTTP `If-Match`): an
    /// operation is refused with `tip_moved` unless the branch is still
    /// there when the write queue is held.
    pub expected_tip: Option<String>,
    notices: Mutex<Vec<String>>,
    cas_retries: std::sync::atomic::AtomicU32,
    publish_pushes: std::sync::atomic::AtomicU32,
}

impl Session {
    /// A session acting as `actor`, on the real clock, publishing when a
    /// remote is configured.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            clock: Clock::system(),
            key: None,
            publish: Publish::WhenRemote,
            expected_tip: None,
            notices: Mutex::new(Vec::new()),
            cas_retries: Default::default(),
            publish_pushes: Default::default(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_key(mut self, key: Option<IdempotencyKey>) -> Self {
        self.key = key;
        self
    }

    pub fn with_expected_tip(mut self, tip: Option<String>) -> Self {
        self.expected_tip = tip;
        self
    }

    pub fn with_publish(mut self, publish: Publish) -> Self {
        self.publish = publish;
        self
    }

    /// The acting agent; operations that act as an agent need one.
    pub fn agent(&self) -> Result<AgentName> {
        match &self.actor {
            Actor::Agent(name) => AgentName::new(name),
            Actor::Person(_) => Err(Error::new(Kind::NoAgent, "this operation acts as an agent, and no agent is set")
                .with_hint("name the agent (ORC_AGENT, or git config orc.agent in this worktree)")),
        }
    }

    /// Records a message for the caller to show ("created branch orc").
    pub fn notice(&self, text: String) {
        self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(text);
    }

    /// Counts a compare-and-swap that found the ref moved (the write queue
    /// should keep this at zero on one machine; benchmarks read it).
    pub fn note_cas_retry(&self) {
        self.cas_retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Compare-and-swap retries of every operation of this session.
    pub fn cas_retries(&self) -> u32 {
        self.cas_retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts the pushes publishing took (benchmarks read it).
    pub fn note_publish_pushes(&self, pushes: u32) {
        self.publish_pushes.fetch_add(pushes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Pushes made to publish this session's operations.
    pub fn publish_pushes(&self) -> u32 {
        self.publish_pushes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the messages gathered so far.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut self.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    #[test]
    fn ulids_sort_by_time() {
        let clock = Clock::system();
        let early = clock.new_ulid(at("2026-01-01T00:00:00Z"));
        let late = clock.new_ulid(at("2026-01-01T00:00:01Z"));
        assert_eq!(early.len(), 26);
        assert!(early < late);
    }

    #[test]
    fn ids_made_after_a_previous_one_sort_after_it() {
        let clock = Clock::system();
        let previous = clock.new_ulid(at("2026-01-01T00:00:05Z"));
        let stepped_back = ulid_after(clock.new_ulid(at("2026-01-01T00:00:00Z")), Some(&previous));
        assert!(stepped_back > previous);
        assert_eq!(stepped_back.len(), 26);
        assert_eq!(
            ulid_after("01ZZZZZZZZABCDEFGHJKMNPQRS".into(), Some("01ZZZZZZZZZZZZZZZZZZZZZZZZ")),
            "0200000000ABCDEFGHJKMNPQRS"
        );
        // Two machines behind the same tip draw different ids after it.
        let tip = clock.new_ulid(at("2026-01-01T00:01:00Z"));
        let one = ulid_after(clock.new_ulid(at("2026-01-01T00:00:00Z")), Some(&tip));
        let two = ulid_after(clock.new_ulid(at("2026-01-01T00:00:00Z")), Some(&tip));
        assert!(one > tip && two > tip);
        assert_ne!(one, two);
        let fresh = clock.new_ulid(at("2026-01-01T00:00:09Z"));
        assert_eq!(ulid_after(fresh.clone(), Some(&previous)), fresh);
    }

    #[test]
    fn seeded_clocks_repeat_their_ids_and_others_do_not() {
        let a = Clock::fixed(at("2026-01-01T00:00:00Z")).with_seed(7);
        let b = Clock::fixed(at("2026-01-01T00:00:00Z")).with_seed(7);
        assert_eq!(a.new_task_id(), b.new_task_id());
        assert_eq!(a.new_ulid(a.precise_now()), b.new_ulid(b.precise_now()));
        assert_ne!(a.new_task_id(), a.new_task_id());
        let system = Clock::system();
        assert_ne!(system.new_task_id(), system.new_task_id());
        assert_eq!(a.new_task_id().len(), 2 + TASK_ID_CHARS);
    }
}
