//! Queries over the event log: `events/<yyyy>/<mm>/<dd>/<agent>/<n>.jsonl`
//! chunks, and the day files `events/<yyyy>/<mm>/<dd>/<agent>.jsonl` that
//! branches written before chunks hold (model::event).
//!
//! Queries walk day folders, never the whole log: `--last N` starts at the
//! newest day and reads each writer's newest chunks until it has N (one
//! writer appends to its files, so its lines are in time order), `--since`
//! and `--after` start at the day they name.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::{Loaded, Snapshot};
use crate::error::{Error, Kind, Result};
use crate::model::event::{chunk_name, chunk_number, Event};
use crate::model::names::name_problem;

/// Largest event file a query reads.
const MAX_EVENT_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Which events to return.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub agent: Option<String>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only events with a larger id (a cursor from an earlier query).
    pub after: Option<String>,
    /// Only the newest N (after the other filters).
    pub last: Option<usize>,
}

impl EventQuery {
    fn matches(&self, event: &Event) -> bool {
        self.agent.as_deref().is_none_or(|a| event.agent == a)
            && self.kind.as_deref().is_none_or(|k| event.kind == k)
            && self.since.is_none_or(|s| event.ts >= s)
            && self.after.as_deref().is_none_or(|a| event.id.as_str() > a)
    }

    /// The first day that can hold a match, if the query names one.
    fn first_day(&self) -> Option<NaiveDate> {
        let from_after = self.after.as_deref().and_then(ulid_time).map(|t| t - Duration::days(1));
        // An event's folder is the date of its own `ts`; an id's time can
        // run a little past it (ids are kept in commit order), hence the
        // margin for `--after` only.
        let from_since = self.since;
        match (from_after, from_since) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        }
        .map(|t| t.date_naive())
    }
}

/// The time encoded in a ULID's first ten characters.
fn ulid_time(id: &str) -> Option<DateTime<Utc>> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if id.len() < 10 {
        return None;
    }
    let mut millis: i64 = 0;
    for c in id[..10].bytes() {
        let digit = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        millis = millis.checked_mul(32)?.checked_add(digit as i64)?;
    }
    Utc.timestamp_millis_opt(millis).single()
}

/// The day folders of the log, oldest first, as (date, path).
fn days(snap: &Snapshot<'_>) -> Result<Vec<(NaiveDate, String)>> {
    let number = |name: &str, len: usize| {
        (name.len() == len && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse::<u32>().ok()).flatten()
    };
    let mut out = Vec::new();
    for year in snap.list("events")?.into_iter().filter(|e| e.is_tree) {
        let Some(y) = number(&year.name, 4) else { continue };
        for month in snap.store.list_tree(year.oid)?.into_iter().filter(|e| e.is_tree) {
            let Some(m) = number(&month.name, 2) else { continue };
            for day in snap.store.list_tree(month.oid)?.into_iter().filter(|e| e.is_tree) {
                let Some(d) = number(&day.name, 2) else { continue };
                if let Some(date) = NaiveDate::from_ymd_opt(y as i32, m, d) {
                    out.push((date, format!("events/{:04}/{:02}/{:02}", date.year(), date.month(), date.day())));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parses the lines of one event file; `from_end` stops after that many
/// matches counted from the newest line. Returns how many matched.
fn read_file(
    snap: &Snapshot<'_>,
    path: &str,
    query: &EventQuery,
    from_end: Option<usize>,
    out: &mut Loaded<Event>,
) -> Result<usize> {
    let Some(bytes) = snap.file_capped(path, MAX_EVENT_FILE_BYTES)? else { return Ok(0) };
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let mut found = Vec::new();
    let mut indices: Box<dyn Iterator<Item = usize>> =
        if from_end.is_some() { Box::new((0..lines.len()).rev()) } else { Box::new(0..lines.len()) };
    for i in indices.by_ref() {
        if from_end.is_some_and(|n| found.len() >= n) {
            break;
        }
        let line = lines[i];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(event) => {
                if query.matches(&event) {
                    found.push(event);
                }
            }
            Err(e) => out.broken.push(Error::broken_file(path, Some(i + 1), format!("not an event: {e}"))),
        }
    }
    let matched = found.len();
    out.items.extend(found);
    Ok(matched)
}

/// The files of one day folder, one list per writer (filtered by agent),
/// each oldest first: the pre-chunk day file, then the chunks by number.
fn day_files(snap: &Snapshot<'_>, day: &str, agent: Option<&str>) -> Result<Vec<Vec<String>>> {
    let mut writers: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for entry in snap.list(day)? {
        let writer = match entry.is_tree {
            true => entry.name.as_str(),
            false => match entry.name.strip_suffix(".jsonl") {
                Some(writer) => writer,
                None => continue,
            },
        };
        if name_problem(writer).is_some() || agent.is_some_and(|a| a != writer) {
            continue;
        }
        let files = writers.entry(writer.to_string()).or_default();
        if !entry.is_tree {
            // The day file holds what the writer logged before chunks.
            files.insert(0, format!("{day}/{}", entry.name));
            continue;
        }
        let mut chunks: Vec<u32> = snap
            .store
            .list_tree(entry.oid)?
            .into_iter()
            .filter(|e| !e.is_tree)
            .filter_map(|e| chunk_number(&e.name))
            .collect();
        chunks.sort_unstable();
        files.extend(chunks.into_iter().map(|n| format!("{day}/{writer}/{}", chunk_name(n))));
    }
    Ok(writers.into_values().collect())
}

/// Runs a query; events come back oldest first. Lines that are not events
/// are returned in `broken` (file and line), never silently dropped.
pub fn query(snap: &Snapshot<'_>, query: &EventQuery) -> Result<Loaded<Event>> {
    let mut out = Loaded::default();
    let days = days(snap)?;
    let first_day = query.first_day();
    let wanted = |date: &NaiveDate| first_day.is_none_or(|f| *date >= f);
    match query.last {
        Some(n) => {
            // Newest day first; stop once a whole day's worth reaches N.
            for (date, day) in days.iter().rev() {
                if !wanted(date) {
                    break;
                }
                for files in day_files(snap, day, query.agent.as_deref())? {
                    let mut still = n;
                    for file in files.iter().rev() {
                        still -= read_file(snap, file, query, Some(still), &mut out)?;
                        if still == 0 {
                            break;
                        }
                    }
                }
                if out.items.len() >= n {
                    break;
                }
            }
            sort(&mut out.items);
            let skip = out.items.len().saturating_sub(n);
            out.items.drain(..skip);
        }
        None => {
            for (_, day) in days.iter().filter(|(date, _)| wanted(date)) {
                for files in day_files(snap, day, query.agent.as_deref())? {
                    for file in &files {
                        read_file(snap, file, query, None, &mut out)?;
                    }
                }
            }
            sort(&mut out.items);
        }
    }
    Ok(out)
}

fn sort(events: &mut [Event]) {
    events.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
}

/// Parses `--since`: an RFC 3339 time, a date, or a duration back from now.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    crate::model::duration::parse_duration(text).map(|d| now - d).map_err(|_| {
        Error::new(Kind::InvalidInput, format!("--since {text:?} is not a time, a date or a duration"))
            .with_hint("give a time (2026-11-21T10:00:00Z), a date (2026-11-21) or a duration back from now (15m)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_carry_their_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 10, 4, 5).unwrap();
        assert_eq!(ulid_time(&crate::session::Clock::system().new_ulid(at)), Some(at));
    }

    #[test]
    fn since_takes_times_dates_and_durations() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        assert_eq!(parse_since("15m", now).unwrap(), now - Duration::minutes(15));
        assert_eq!(parse_since("2026-11-20", now).unwrap(), Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap());
        assert!(parse_since("yesterday", now).is_err());
    }
}
