//! Workstreams: `workstreams/<ws>/workstream.toml`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const DEFAULT_WS_PRIORITY: u8 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workstream {
    /// Copied from the path for people reading the file; the path wins.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub priority: u8,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

pub fn workstream_dir(ws: &str) -> String {
    format!("workstreams/{ws}")
}

pub fn workstream_path(ws: &str) -> String {
    format!("workstreams/{ws}/workstream.toml")
}

/// Tasks are sharded by the first two characters of their id, so no folder
/// grows past ~3,000 entries (1,024 shards hold 100k tasks at ~100 each) and
/// an update rewrites only a small shard tree.
pub fn task_shard(id: &str) -> &str {
    let body = id.strip_prefix("t-").unwrap_or(id);
    &body[..body.len().min(2)]
}

pub fn tasks_dir(ws: &str) -> String {
    format!("workstreams/{ws}/tasks")
}

pub fn task_path(ws: &str, id: &str) -> String {
    format!("workstreams/{ws}/tasks/{}/{id}.toml", task_shard(id))
}
