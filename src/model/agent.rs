//! Agents: `agents/<agent>.toml`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Copied from the path for people reading the file; the path wins.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub role: String,
    pub registered_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Free text the agent reports with its heartbeat ("active" by default).
    #[serde(default = "default_status")]
    pub status: String,
}

fn default_status() -> String {
    "active".into()
}

pub fn agent_path(id: &str) -> String {
    format!("agents/{id}.toml")
}

impl Agent {
    pub fn new(id: &str, role: &str, now: DateTime<Utc>) -> Self {
        Self { id: id.into(), role: role.into(), registered_at: now, last_seen: now, status: default_status() }
    }

    /// No heartbeat or operation for longer than `stale_after` (plus grace).
    pub fn is_stale(&self, now: DateTime<Utc>, stale_after: Duration, grace: Duration) -> bool {
        now > self.last_seen + stale_after + grace
    }

    /// The record after any operation by this agent: seen now.
    pub fn seen(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.last_seen = now.max(self.last_seen);
        next
    }
}
