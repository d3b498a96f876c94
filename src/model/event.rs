//! Events: one JSON object a line in `events/<yyyy>/<mm>/<dd>/<agent>.jsonl`,
//! one writer (agent) a file, so appends from different agents never touch
//! the same blob.

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

pub fn event_path(agent: &str, at: DateTime<Utc>) -> String {
    format!("events/{}/{}.jsonl", at.format("%Y/%m/%d"), agent)
}

impl Event {
    /// The line appended to the event file, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("events are plain JSON data");
        line.push('\n');
        line
    }
}
