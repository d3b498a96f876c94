//! Events: one JSON object a line, one writer (agent) a file, so appends
//! from different agents never touch the same blob.
//!
//! A writer's events of one day live in numbered chunks,
//! `events/<yyyy>/<mm>/<dd>/<agent>/<nnnnnn>.jsonl`: a git blob cannot be
//! appended to, so an append rewrites the newest chunk, and a chunk is
//! closed once it holds `CHUNK_BYTES`. An append then costs the same for an
//! author's first event of the day and its ten-thousandth. Branches written
//! before chunks keep their day files `events/<yyyy>/<mm>/<dd>/<agent>.jsonl`,
//! which readers take as the writer's events before its first chunk.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub ts: DateTime<Utc>,
    pub agent: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
}

/// A chunk is closed once an append would take it past this size. An
/// append rewrites the newest chunk (half this size on average) and the
/// writer's folder of the day (about 45 bytes a chunk): 16 KiB keeps both
/// small for a writer of a few hundred events a day and for one of ten
/// thousand (~130 chunks). At 64 KiB, rewriting the chunk (read, compress,
/// hash) was a tenth of a claim. A single line larger than this gets a
/// chunk of its own.
pub const CHUNK_BYTES: usize = 16 * 1024;

/// The folder of one day's events.
pub fn day_dir(at: DateTime<Utc>) -> String {
    format!("events/{}", at.format("%Y/%m/%d"))
}

/// The folder of one writer's chunks of one day.
pub fn chunk_dir(agent: &str, at: DateTime<Utc>) -> String {
    format!("{}/{agent}", day_dir(at))
}

/// The file name of chunk `n` (zero-padded, so the host lists them in order).
pub fn chunk_name(n: u32) -> String {
    format!("{n:06}.jsonl")
}

/// The number of a chunk file name, or None for anything else.
pub fn chunk_number(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".jsonl")?;
    (!digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl Event {
    /// The line appended to the event file, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("events are plain JSON data");
        line.push('\n');
        line
    }
}
