//! A cache of parsed tasks per workstream in `<git-common-dir>/orc/cache/`,
//! keyed by the id of each shard folder. Git ids are content hashes, so an
//! entry is valid exactly as long as its shard is unchanged: after a claim
//! only the one rewritten shard is read and parsed again, and `status` at
//! 10k tasks reads one file instead of 10k blobs. The cache is only ever a
//! copy: deleting it is always safe, and a damaged one is ignored.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use super::view::Loaded;
use crate::error::{Error, Result};
use crate::model::names::name_problem;
use crate::model::record;
use crate::model::task::Task;
use crate::model::workstream::{task_shard, tasks_dir};
use crate::store::{ObjectId, Store};

const HEADER: &str = "orc-task-cache 1";

/// Parses one task file and checks it against its path.
pub fn parse_task(path: &str, ws: &str, id: &str, bytes: &[u8]) -> Result<Task> {
    let mut task: Task = record::parse(path, bytes)?;
    if task.id != id {
        return Err(Error::broken_file(path, None, format!("id {:?} does not match the file name", task.id)));
    }
    task.workstream = ws.to_string();
    Ok(task)
}

fn cache_path(store: &Store, ws: &str) -> PathBuf {
    store.private_dir().join("cache").join(format!("tasks-{ws}"))
}

/// Reads and parses every task of one shard folder; returns the tasks and
/// the files that did not parse.
fn read_shard(store: &Store, ws: &str, shard: &str, oid: ObjectId) -> Result<(Vec<Task>, Vec<Error>)> {
    let mut tasks = Vec::new();
    let mut broken = Vec::new();
    for entry in store.list_tree(oid)? {
        let path = format!("{}/{shard}/{}", tasks_dir(ws), entry.name);
        let Some(id) = entry.name.strip_suffix(".toml") else { continue };
        if entry.is_tree {
            continue;
        }
        if name_problem(id).is_some() || task_shard(id) != shard {
            broken.push(Error::broken_file(
                &path,
                None,
                "not a task file name for this folder (expected <shard>/t-<shard>….toml)",
            ));
            continue;
        }
        match parse_task(&path, ws, id, &store.read_blob(entry.oid)?) {
            Ok(task) => tasks.push(task),
            Err(e) => broken.push(e),
        }
    }
    Ok((tasks, broken))
}

/// Every task under `workstreams/<ws>/tasks` (folder id `tasks_tree`).
pub fn load_tasks(store: &Store, ws: &str, tasks_tree: ObjectId) -> Result<Loaded<Task>> {
    let path = cache_path(store, ws);
    let cached = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines = cached.lines();
    let header_tree = lines.next().and_then(|h| h.strip_prefix(HEADER)).map(str::trim);
    let mut by_shard: HashMap<&str, (&str, &str)> = HashMap::new();
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        if let (Some(shard), Some(oid), Some(json)) = (parts.next(), parts.next(), parts.next()) {
            by_shard.insert(shard, (oid, json));
        }
    }

    let whole_tree_unchanged = header_tree == Some(tasks_tree.to_string().as_str());
    let mut out = Loaded::default();
    let mut fresh_lines: Vec<String> = Vec::new();
    let mut changed = !whole_tree_unchanged;
    let shards: Vec<(String, String)> = if whole_tree_unchanged {
        by_shard.iter().map(|(s, (o, _))| (s.to_string(), o.to_string())).collect()
    } else {
        store.list_tree(tasks_tree)?.into_iter().filter(|e| e.is_tree).map(|e| (e.name, e.oid.to_string())).collect()
    };
    for (shard, oid) in shards {
        if let Some((cached_oid, json)) = by_shard.get(shard.as_str()) {
            if *cached_oid == oid {
                if let Ok(mut tasks) = serde_json::from_str::<Vec<Task>>(json) {
                    for task in &mut tasks {
                        task.workstream = ws.to_string();
                    }
                    out.items.extend(tasks);
                    fresh_lines.push(format!("{shard} {oid} {json}"));
                    continue;
                }
            }
        }
        changed = true;
        let shard_oid = <ObjectId as std::str::FromStr>::from_str(&oid).map_err(|e| Error::git("bad folder id", &e))?;
        let (tasks, broken) = read_shard(store, ws, &shard, shard_oid)?;
        // Shards with broken files are not cached, so the problem is
        // reported on every read until someone fixes the file.
        if broken.is_empty() {
            let json = serde_json::to_string(&tasks).expect("tasks serialise to JSON");
            fresh_lines.push(format!("{shard} {oid} {json}"));
        }
        out.items.extend(tasks);
        out.broken.extend(broken);
    }
    if changed {
        fresh_lines.sort();
        write_cache(&path, &format!("{HEADER} {tasks_tree}"), &fresh_lines);
    }
    Ok(out)
}

/// Best effort: a cache that cannot be written only costs speed.
fn write_cache(path: &PathBuf, header: &str, lines: &[String]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut suffix = [0u8; 6];
    crate::clock::random_bytes(&mut suffix);
    let tmp = dir.join(format!(
        ".tmp-{}-{:x}",
        std::process::id(),
        u64::from_le_bytes([suffix[0], suffix[1], suffix[2], suffix[3], suffix[4], suffix[5], 0, 0])
    ));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(file, "{header}")?;
        for line in lines {
            writeln!(file, "{line}")?;
        }
        file.flush()
    })();
    if written.is_err() || std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
