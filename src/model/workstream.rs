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
    /// Kept with its tasks, but offered to nobody: hidden from ready, next,
    /// plan, status and the dashboard, and closed to new tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
}

pub fn workstream_dir(ws: &str) -> String {
    format!("workstreams/{ws}")
}

pub fn workstream_path(ws: &str) -> String {
    format!("workstreams/{ws}/workstream.toml")
}

/// Tasks are sharded two levels deep by the first two characters of their
/// id (`t-3fk2…` lives in `3/f/`): no folder grows past ~3,000 entries (100k
/// tasks are ~100 a folder), and a claim rewrites three folders of a few
/// dozen entries. One level of 1,024 folders was measured: rewriting that
/// 30 KB folder (hash, compress, delta) was a third of a claim.
pub fn task_shard(id: &str) -> String {
    let mut chars = id.strip_prefix("t-").unwrap_or(id).chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) => format!("{a}/{b}"),
        (Some(a), None) => a.to_string(),
        _ => String::new(),
    }
}

pub fn tasks_dir(ws: &str) -> String {
    format!("workstreams/{ws}/tasks")
}

pub fn task_path(ws: &str, id: &str) -> String {
    format!("workstreams/{ws}/tasks/{}/{id}.toml", task_shard(id))
}
