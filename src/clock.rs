//! The only places orc reads the clock and randomness, so tests can pin both.
//!
//! `ORC_NOW` (RFC 3339) fixes "now" for one command; `ORC_NOW_OFFSET`
//! (a duration such as `45m`, or `-2m`) shifts the real clock, which is how the
//! tests age leases without sleeping.

use chrono::{DateTime, SubsecRound, Utc};

use crate::error::{Error, Result};
use crate::model::duration::parse_duration;

/// The time an operation happens at, to the second: every record and event
/// stores whole seconds so files stay readable and byte-stable.
pub fn now() -> Result<DateTime<Utc>> {
    precise_now().map(|t| t.trunc_subsecs(0))
}

/// "Now" to the millisecond, for operation ids: an agent's operations follow
/// each other by more than a millisecond, so its ids sort in the order it
/// made them. Honours `ORC_NOW` and `ORC_NOW_OFFSET` like [`now`].
pub fn precise_now() -> Result<DateTime<Utc>> {
    if let Ok(fixed) = std::env::var("ORC_NOW") {
        return DateTime::parse_from_rfc3339(&fixed)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::input("usage", format!("ORC_NOW={fixed:?} is not an RFC 3339 time: {e}")));
    }
    let mut now = Utc::now().trunc_subsecs(3);
    if let Ok(offset) = std::env::var("ORC_NOW_OFFSET") {
        let (negative, text) = match offset.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, offset.as_str()),
        };
        let shift = parse_duration(text).map_err(|e| Error::input("usage", format!("ORC_NOW_OFFSET: {e}")))?;
        now = if negative { now - shift } else { now + shift };
    }
    Ok(now)
}

/// Fills `buf` from the operating system's generator.
pub fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random generator is available on every supported platform");
}

/// Crockford's base32 alphabet in lower case: no i, l, o or u, so ids read
/// aloud and typed by hand survive.
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn base32(mut value: u128, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8(out).expect("the alphabet is ASCII")
}

/// A new ULID (time-ordered, 128 bits) for an operation, upper case as usual.
pub fn new_ulid(at: DateTime<Utc>) -> String {
    let millis = u128::from(at.timestamp_millis().max(0) as u64) & ((1 << 48) - 1);
    let mut rand = [0u8; 10];
    random_bytes(&mut rand);
    let mut value = millis << 80;
    for (i, byte) in rand.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - i));
    }
    base32(value, 26).to_ascii_uppercase()
}

/// `id`, or the smallest ULID after `previous` when `id` does not sort after
/// it (a clock that stepped back, or two ids in one millisecond).
pub fn ulid_after(id: String, previous: Option<&str>) -> String {
    let Some(previous) = previous.filter(|p| p.len() == 26 && id.as_str() <= *p) else { return id };
    let upper: Vec<u8> = CROCKFORD.iter().map(u8::to_ascii_uppercase).collect();
    let mut digits: Vec<usize> = previous.bytes().filter_map(|b| upper.iter().position(|u| *u == b)).collect();
    if digits.len() != 26 {
        return id;
    }
    for digit in digits.iter_mut().rev() {
        if *digit < 31 {
            *digit += 1;
            break;
        }
        *digit = 0;
    }
    digits.iter().map(|d| upper[*d] as char).collect()
}

/// Length of the random part of a task id: 50 bits, so agents creating tasks
/// offline on different machines do not collide in practice (one chance in
/// 10^6 at 35k tasks), while people type a unique prefix of 4 or so.
pub const TASK_ID_CHARS: usize = 10;

/// A new task id, `t-` and ten base32 characters.
pub fn new_task_id() -> String {
    let mut rand = [0u8; 8];
    random_bytes(&mut rand);
    format!("t-{}", base32(u128::from(u64::from_le_bytes(rand)), TASK_ID_CHARS))
}

/// Canonical spelling of a typed task id or prefix: lower case, `t-` added
/// when missing, and the letters Crockford treats as digits mapped back
/// (i, l → 1; o → 0). Returns None when it cannot be part of a task id.
pub fn normalize_task_ref(input: &str) -> Option<String> {
    let lower = input.trim().to_ascii_lowercase();
    let body = lower.strip_prefix("t-").unwrap_or(&lower);
    if body.is_empty() || body.len() > TASK_ID_CHARS {
        return None;
    }
    let mut out = String::from("t-");
    for c in body.chars() {
        let c = match c {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !CROCKFORD.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time() {
        let early = new_ulid(DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into());
        let late = new_ulid(DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z").unwrap().into());
        assert_eq!(early.len(), 26);
        assert!(early < late);
    }

    #[test]
    fn ids_made_after_a_previous_one_sort_after_it() {
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().into();
        let previous = new_ulid(at + chrono::Duration::seconds(5));
        let stepped_back = ulid_after(new_ulid(at), Some(&previous));
        assert!(stepped_back > previous);
        assert_eq!(stepped_back.len(), 26);
        assert_eq!(
            ulid_after("01ZZZZZZZZZZZZZZZZZZZZZZZ0".into(), Some("01ZZZZZZZZZZZZZZZZZZZZZZZZ")),
            "020000000000000000000000000"[..26]
        );
        let fresh = new_ulid(at + chrono::Duration::seconds(9));
        assert_eq!(ulid_after(fresh.clone(), Some(&previous)), fresh);
    }

    #[test]
    fn task_ids_are_well_formed_and_distinct() {
        let a = new_task_id();
        let b = new_task_id();
        assert_eq!(a.len(), 2 + TASK_ID_CHARS);
        assert_ne!(a, b);
        assert_eq!(normalize_task_ref(&a).as_deref(), Some(a.as_str()));
    }

    #[test]
    fn task_refs_are_normalised() {
        assert_eq!(normalize_task_ref("T-3FK2").as_deref(), Some("t-3fk2"));
        assert_eq!(normalize_task_ref("3fk2").as_deref(), Some("t-3fk2"));
        assert_eq!(normalize_task_ref("t-oil").as_deref(), Some("t-011"));
        assert_eq!(normalize_task_ref("t-"), None);
        assert_eq!(normalize_task_ref("t-u"), None);
        assert_eq!(normalize_task_ref("../x"), None);
        assert_eq!(normalize_task_ref("t-0123456789a"), None);
    }
}
