//! A cache of parsed tasks in `<git-common-dir>/orc/cache/tasks-<ws>/<a>`,
//! one file per outer shard folder, keyed by the ids of the shard folders.
//! Git ids are content hashes, so an entry is valid exactly as long as its
//! folder is unchanged: after a claim one inner shard is parsed again and one
//! small cache file rewritten, and `status` at 10k tasks reads 32 files
//! instead of 10k blobs. The cache is only ever a copy: deleting it is always
//! safe, and a damaged one is ignored.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Loaded;
use crate::error::{Error, Result};
use crate::model::names::name_problem;
use crate::model::record;
use crate::model::task::{Status, Task};
use crate::model::workstream::{task_shard, tasks_dir};
use crate::store::{Entry, ObjectId, Store};

const HEADER: &str = "orc-task-cache 5";

/// Parses one task file and checks it against its path.
pub fn parse_task(path: &str, ws: &str, id: &str, bytes: &[u8]) -> Result<Task> {
    let mut task: Task = record::parse(path, bytes)?;
    if task.id != id {
        return Err(Error::broken_file(path, None, format!("id {:?} does not match the file name", task.id)));
    }
    task.workstream = ws.to_string();
    Ok(task)
}

fn cache_dir(store: &Store, ws: &str) -> PathBuf {
    store.private_dir().join("cache").join(format!("tasks-{ws}"))
}

/// Parses one entry of the shard folder `shard` (`a/b`): None for what is
/// not a task file (folders, other extensions), an error for a task file
/// that does not parse or does not belong in this folder.
pub(crate) fn parse_entry(store: &Store, ws: &str, shard: &str, entry: &Entry) -> Option<Result<Task>> {
    let id = entry.name.strip_suffix(".toml")?;
    if entry.is_tree {
        return None;
    }
    let path = format!("{}/{shard}/{}", tasks_dir(ws), entry.name);
    if name_problem(id).is_some() || task_shard(id) != shard {
        return Some(Err(Error::broken_file(
            &path,
            None,
            "not a task file name for this folder (t-ab….toml belongs in a/b/)",
        )));
    }
    Some(
        store
            .read_blob_capped(entry.oid, &path, record::MAX_RECORD_BYTES)
            .and_then(|bytes| parse_task(&path, ws, id, &bytes)),
    )
}

/// Reads and parses every task of one shard folder; returns the tasks and
/// the files that did not parse.
fn read_shard(store: &Store, ws: &str, shard: &str, oid: ObjectId) -> Result<(Vec<Task>, Vec<Error>)> {
    let mut tasks = Vec::new();
    let mut broken = Vec::new();
    for entry in store.list_tree(oid)? {
        match parse_entry(store, ws, shard, &entry) {
            Some(Ok(task)) => tasks.push(task),
            Some(Err(e)) => broken.push(e),
            None => {}
        }
    }
    Ok((tasks, broken))
}

/// A task as the cache stores it: a JSON array (no key matching) with times
/// as Unix seconds (no date parsing), which parses several times faster than
/// the record itself.
#[derive(Serialize, Deserialize)]
struct CachedTask(
    String,
    String,
    String,
    u8,
    Status,
    Vec<String>,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    u64,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    #[serde(default)] Vec<String>,
);

fn to_secs(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

fn from_secs(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

impl CachedTask {
    fn from_task(t: &Task) -> Self {
        Self(
            t.id.clone(),
            t.title.clone(),
            t.description.clone(),
            t.priority,
            t.status,
            t.after.clone(),
            to_secs(t.created_at),
            t.created_by.clone(),
            t.claimed_by.clone(),
            t.claimed_at.map(to_secs),
            t.lease_expires.map(to_secs),
            t.claim_token,
            t.result.clone(),
            t.finished_at.map(to_secs),
            t.finished_by.clone(),
            to_secs(t.updated_at),
            t.resources.clone(),
        )
    }

    fn into_task(self, ws: &str) -> Option<Task> {
        Some(Task {
            id: self.0,
            workstream: ws.to_string(),
            title: self.1,
            description: self.2,
            priority: self.3,
            status: self.4,
            after: self.5,
            created_at: from_secs(self.6)?,
            created_by: self.7,
            claimed_by: self.8,
            claimed_at: self.9.and_then(from_secs),
            lease_expires: self.10.and_then(from_secs),
            claim_token: self.11,
            result: self.12,
            finished_at: self.13.and_then(from_secs),
            finished_by: self.14,
            updated_at: from_secs(self.15)?,
            resources: self.16,
        })
    }
}

/// Decodes one cached shard into `out`; false when the entry is damaged.
fn decode_shard(json: &str, ws: &str, out: &mut Vec<Task>) -> bool {
    let Ok(cached) = serde_json::from_str::<Vec<CachedTask>>(json) else { return false };
    let before = out.len();
    for entry in cached {
        match entry.into_task(ws) {
            Some(task) => out.push(task),
            None => {
                out.truncate(before);
                return false;
            }
        }
    }
    true
}

fn encode_shard(tasks: &[Task]) -> String {
    let cached: Vec<CachedTask> = tasks.iter().map(CachedTask::from_task).collect();
    serde_json::to_string(&cached).expect("cached tasks serialise to JSON")
}

/// Is `name` an outer shard folder of `tasks/` (one allowed character)?
pub(crate) fn is_shard_name(name: &str) -> bool {
    name.len() == 1 && name_problem(name).is_none()
}

/// The problem a folder under `tasks/` that is not a shard reports.
pub(crate) fn not_a_shard(ws: &str, name: &str) -> Error {
    Error::broken_file(
        &format!("{}/{}", tasks_dir(ws), name.escape_debug()),
        None,
        "not a shard folder (tasks live in tasks/a/b/t-ab….toml)",
    )
}

/// Every task under `workstreams/<ws>/tasks` (folder id `tasks_tree`).
pub fn load_tasks(store: &Store, ws: &str, tasks_tree: ObjectId) -> Result<Loaded<Task>> {
    let mut out = Loaded::default();
    let dir = cache_dir(store, ws);
    for outer in store.list_tree(tasks_tree)?.into_iter().filter(|e| e.is_tree) {
        // Folder names come from the branch: only a one-character shard may
        // become a cache file name.
        if !is_shard_name(&outer.name) {
            out.broken.push(not_a_shard(ws, &outer.name));
            continue;
        }
        load_outer(store, ws, &dir.join(&outer.name), &outer.name, outer.oid, &mut out)?;
    }
    Ok(out)
}

/// Loads one outer shard folder (`tasks/a/`) through its cache file, whose
/// first line is the folder's id when every inner shard is cached; each
/// following line is `<inner> <id> <tasks as JSON>`.
fn load_outer(
    store: &Store,
    ws: &str,
    cache_file: &Path,
    outer: &str,
    outer_oid: ObjectId,
    out: &mut Loaded<Task>,
) -> Result<()> {
    let cached = std::fs::read_to_string(cache_file).unwrap_or_default();
    let mut lines = cached.lines();
    let header = lines.next().and_then(|h| h.strip_prefix(HEADER)).map(str::trim);
    let mut by_shard: HashMap<&str, (&str, &str)> = HashMap::new();
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        if let (Some(shard), Some(oid), Some(json)) = (parts.next(), parts.next(), parts.next()) {
            by_shard.insert(shard, (oid, json));
        }
    }
    let outer_hex = outer_oid.to_string();
    if header == Some(outer_hex.as_str()) {
        let before = out.items.len();
        if by_shard.values().all(|(_, json)| decode_shard(json, ws, &mut out.items)) {
            return Ok(());
        }
        out.items.truncate(before);
    }

    let mut fresh: Vec<(String, String, Cow<'_, str>)> = Vec::new();
    let mut complete = true;
    for inner in store.list_tree(outer_oid)?.into_iter().filter(|e| e.is_tree) {
        let oid = inner.oid.to_string();
        if let Some((cached_oid, json)) = by_shard.get(inner.name.as_str()) {
            if *cached_oid == oid && decode_shard(json, ws, &mut out.items) {
                fresh.push((inner.name, oid, Cow::Borrowed(*json)));
                continue;
            }
        }
        let shard = format!("{outer}/{}", inner.name);
        let (tasks, broken) = read_shard(store, ws, &shard, inner.oid)?;
        // Shards with broken files are not cached, so the problem is
        // reported on every read until someone fixes the file.
        if broken.is_empty() && !inner.name.contains(' ') {
            fresh.push((inner.name, oid, Cow::Owned(encode_shard(&tasks))));
        } else {
            complete = false;
        }
        out.items.extend(tasks);
        out.broken.extend(broken);
    }
    let header = if complete { format!("{HEADER} {outer_hex}") } else { format!("{HEADER} -") };
    write_cache(cache_file, &header, fresh.iter().map(|(shard, oid, json)| format!("{shard} {oid} {json}")));
    Ok(())
}

/// Writes `header` and `lines` to `path` (see `replace_file`), streamed:
/// a task cache can be tens of megabytes.
pub(crate) fn write_cache(path: &Path, header: &str, lines: impl Iterator<Item = String>) {
    write_through_temporary(path, |file| {
        writeln!(file, "{header}")?;
        for line in lines {
            writeln!(file, "{line}")?;
        }
        Ok(())
    });
}

/// Writes `bytes` to `path` through a temporary file and a rename, so
/// readers see the old file or the new one, never half of one. Best
/// effort: a cache that cannot be written only costs speed.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) {
    write_through_temporary(path, |file| file.write_all(bytes));
}

fn write_through_temporary(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("the OS random generator is available on every supported platform");
    let tmp = dir.join(format!(
        ".tmp-{}-{:x}",
        std::process::id(),
        u64::from_le_bytes([suffix[0], suffix[1], suffix[2], suffix[3], suffix[4], suffix[5], 0, 0])
    ));
    let written = std::fs::File::create(&tmp).map(std::io::BufWriter::new).and_then(|mut file| {
        write(&mut file)?;
        file.flush()
    });
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
