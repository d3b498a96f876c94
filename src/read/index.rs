//! An index of the tasks that `next`, `ready` and `status` look at, one per
//! workstream, in `<git-common-dir>/orc/index/<ws>/`, so that they cost the
//! same with 100 tasks and with 100,000.
//!
//! What it holds, for the `workstreams/<ws>/tasks` folder of one commit:
//! - the count of tasks in each status;
//! - the ids of the claimed tasks and of the open tasks that wait for
//!   others ("held": few, and each needs a look at its holder or its
//!   dependencies);
//! - the open tasks that wait for nothing ("free"), every one of them ready,
//!   sorted in the order `next` takes them, in buckets of at most
//!   `2 * BUCKET` keys listed in the head file with their first key. `next`
//!   reads the head and the first bucket, whatever the board's size. Each
//!   key carries its task file's blob id, so a reader reads the file
//!   directly instead of walking the tree to it (at 100,000 tasks each
//!   shard folder holds about 100 entries, read and parsed per task);
//! - the files that did not parse, so every reader still reports them.
//!
//! Rules it keeps:
//! - It is a copy: the branch is the truth. Deleting the folder is always
//!   safe, and anything damaged, missing or written by another version is
//!   rebuilt from the branch (through the task cache).
//! - The head names the tasks folder it describes (a git tree id, so a
//!   content hash). Moving it to a newer commit walks only the folders
//!   whose ids changed, and re-reads only the task files that changed: a
//!   claim costs one shard folder, whatever happened to the rest.
//! - Done, failed and cancelled tasks are only counted, so a long history
//!   of finished work costs nothing.
//! - Bucket files are never rewritten: a change writes a new one under a
//!   fresh name, then the head is replaced by a rename. A reader sees an
//!   old head or a new one; a bucket it misses (removed by a later writer's
//!   clean-up) makes it rebuild. Several processes may update at once: each
//!   writes a head that is right for its own tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::cache::{is_shard_name, load_tasks, not_a_shard, parse_entry, replace_file, write_cache};
use super::Snapshot;
use crate::error::{Error, Kind, Result};
use crate::model::task::{Status, Task};
use crate::model::workstream::{task_shard, tasks_dir};
use crate::store::{Entry, ObjectId, Store};

const HEADER: &str = "orc-task-index 2";
/// Keys a bucket holds after a rebuild; one splits at twice as many.
const BUCKET: usize = 512;
/// Unreferenced bucket files younger than this are kept: a reader that
/// read an older head a moment ago may still want them (and one that
/// misses one rebuilds).
const KEEP_UNREFERENCED: std::time::Duration = std::time::Duration::from_secs(60);
/// One save in this many looks for bucket files to remove, so the folder
/// listing is not paid on every command.
const CLEAN_UP_ONE_IN: u64 = 16;
/// Changed task files past which a claim saves the index it caught up.
const FAR_BEHIND: usize = 8;

/// When a loaded index that moved is written back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Keep {
    /// Always (reports).
    Moved,
    /// Only when it was rebuilt or caught up with at least [`FAR_BEHIND`]
    /// changed task files (claims). A claim's own commit leaves any index
    /// it saves one change behind at once, and writing one costs a claim
    /// new files under the write queue; the next report saves it instead,
    /// and a run of claims with no report between them saves every few.
    FarBehind,
}

/// The order `next` takes free tasks in, as a string that sorts the same:
/// priority, creation time (nanoseconds), id; then, after a space, the
/// task file's blob id when known (ids are unique, so it never decides
/// the order).
fn key_of(task: &Task, blob: Option<ObjectId>) -> String {
    let nanos = task.created_at.timestamp_nanos_opt().unwrap_or(0).max(0);
    match blob {
        Some(blob) => format!("{:03}.{nanos:020}.{} {blob}", task.priority, task.id),
        None => format!("{:03}.{nanos:020}.{}", task.priority, task.id),
    }
}

/// The task id and the blob id (when known) a key holds.
fn parts_of_key(key: &str) -> (&str, Option<ObjectId>) {
    let rest = key.splitn(3, '.').nth(2).unwrap_or(key);
    match rest.split_once(' ') {
        Some((id, blob)) => (id, blob.parse().ok()),
        None => (rest, None),
    }
}

/// Where a task belongs in the index.
enum Place {
    Free(String),
    Held(String),
    Counted,
}

fn place(task: &Task, blob: Option<ObjectId>) -> Place {
    match task.status {
        Status::Open if task.after.is_empty() => Place::Free(key_of(task, blob)),
        Status::Open | Status::Claimed => Place::Held(task.id.clone()),
        _ => Place::Counted,
    }
}

/// A free task as the index lists it: its id, and the blob id of its file
/// when known (then read it directly, without walking the tree).
pub struct FreeTask {
    pub id: String,
    pub blob: Option<ObjectId>,
}

/// A bucket's sorted keys as its file holds them, one a line, with where
/// each line starts: reading a bucket is one read and one scan, not a
/// string per key, and writing it back is one write.
struct Keys {
    text: String,
    starts: Vec<usize>,
}

impl Keys {
    fn from_sorted(keys: &[String]) -> Self {
        let mut out = Self { text: String::new(), starts: Vec::with_capacity(keys.len()) };
        for key in keys {
            out.starts.push(out.text.len());
            out.text.push_str(key);
            out.text.push('\n');
        }
        out
    }

    /// A bucket file's text; None unless every key ends with a newline.
    fn parse(text: String) -> Option<Self> {
        if !text.is_empty() && !text.ends_with('\n') {
            return None;
        }
        let mut starts = Vec::with_capacity(text.len() / 64 + 1);
        let mut at = 0;
        while at < text.len() {
            starts.push(at);
            at += text[at..].find('\n').expect("the text ends with a newline") + 1;
        }
        Some(Self { text, starts })
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn get(&self, i: usize) -> &str {
        self.line_at(self.starts[i])
    }

    fn line_at(&self, start: usize) -> &str {
        let len = self.text[start..].find('\n').expect("every key ends with a newline");
        &self.text[start..start + len]
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    fn search(&self, key: &str) -> std::result::Result<usize, usize> {
        self.starts.binary_search_by(|&start| self.line_at(start).cmp(key))
    }

    fn insert(&mut self, at: usize, key: &str) {
        let offset = self.starts.get(at).copied().unwrap_or(self.text.len());
        self.text.insert_str(offset, key);
        self.text.insert(offset + key.len(), '\n');
        for start in &mut self.starts[at..] {
            *start += key.len() + 1;
        }
        self.starts.insert(at, offset);
    }

    fn remove(&mut self, at: usize) {
        let start = self.starts[at];
        let end = self.starts.get(at + 1).copied().unwrap_or(self.text.len());
        self.text.replace_range(start..end, "");
        self.starts.remove(at);
        for later in &mut self.starts[at..] {
            *later -= end - start;
        }
    }

    /// Keeps the first `at` keys and returns the rest.
    fn split_off(&mut self, at: usize) -> Self {
        let offset = self.starts[at];
        let text = self.text.split_off(offset);
        let starts = self.starts.split_off(at).into_iter().map(|s| s - offset).collect();
        Self { text, starts }
    }
}

struct Bucket {
    first: String,
    len: usize,
    file: String,
    keys: Option<Keys>,
    dirty: bool,
}

impl Bucket {
    /// A bucket not written yet, holding `keys` (not empty, sorted).
    fn new(keys: Keys) -> Self {
        Self { first: keys.get(0).to_string(), len: keys.len(), file: String::new(), keys: Some(keys), dirty: true }
    }
}

/// The index of one workstream's tasks at one commit.
pub struct TaskIndex {
    dir: PathBuf,
    tree: Option<ObjectId>,
    counts: [usize; 5],
    held: BTreeSet<String>,
    /// Path of each file that did not parse, and why.
    broken: BTreeMap<String, String>,
    buckets: Vec<Bucket>,
    changed: bool,
}

impl TaskIndex {
    /// The index of `ws` at the snapshot's commit: read, brought up to date
    /// from the commit it was written for, or rebuilt; written back as
    /// `keep` says.
    pub fn load(snap: &Snapshot<'_>, ws: &str, keep: Keep) -> Result<Self> {
        let tree = match snap.entry(&tasks_dir(ws))? {
            Some(entry) if entry.is_tree => Some(entry.oid),
            _ => None,
        };
        let dir = snap.store.private_dir().join("index").join(ws);
        let (mut index, far) = match Self::read(&dir) {
            Some(index) if index.tree == tree => return Ok(index),
            Some(mut index) => match index.update(snap.store, ws, tree) {
                Ok(changes) => (index, changes >= FAR_BEHIND),
                Err(_) => (Self::build(snap.store, &dir, ws, tree)?, true),
            },
            None => (Self::build(snap.store, &dir, ws, tree)?, true),
        };
        if keep == Keep::Moved || far {
            index.save();
        }
        Ok(index)
    }

    /// The index of `ws` and its first `n` free tasks (id, and blob id when
    /// known), rebuilt once if a bucket file went missing under it.
    pub fn load_with_head(snap: &Snapshot<'_>, ws: &str, n: usize, keep: Keep) -> Result<(Self, Vec<FreeTask>)> {
        let mut index = Self::load(snap, ws, keep)?;
        match index.free_head(n) {
            Ok(ids) => Ok((index, ids)),
            Err(_) => {
                let mut index = Self::build(snap.store, &index.dir, ws, index.tree)?;
                index.save();
                let ids = index.free_head(n)?;
                Ok((index, ids))
            }
        }
    }

    /// How many tasks are in `status`.
    pub fn count(&self, status: Status) -> usize {
        self.counts[status as usize]
    }

    /// Claimed tasks and open tasks that wait for others.
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.held.iter().map(String::as_str)
    }

    /// How many open tasks wait for nothing (every one of them is ready).
    pub fn free_len(&self) -> usize {
        self.buckets.iter().map(|b| b.len).sum()
    }

    /// The first `n` free tasks, best first.
    pub fn free_head(&mut self, n: usize) -> Result<Vec<FreeTask>> {
        let mut out = Vec::new();
        for i in 0..self.buckets.len() {
            if out.len() >= n {
                break;
            }
            let keys = self.bucket_keys(i)?;
            let wanted = n - out.len();
            out.extend(keys.iter().take(wanted).map(|k| {
                let (id, blob) = parts_of_key(k);
                FreeTask { id: id.to_string(), blob }
            }));
        }
        Ok(out)
    }

    /// The files that did not parse, as the errors a full read reports.
    pub fn broken(&self) -> Vec<Error> {
        self.broken
            .iter()
            .map(|(path, message)| {
                Error::new(Kind::BrokenFile, message.clone())
                    .with("path", path)
                    .with_hint("fix or restore the file on the orc branch; the doctor check lists every broken file")
            })
            .collect()
    }

    fn bucket_keys(&mut self, i: usize) -> Result<&mut Keys> {
        let bucket = &mut self.buckets[i];
        if bucket.keys.is_none() {
            let path = self.dir.join(&bucket.file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(&format!("cannot read {}", path.display()), &e))?;
            let damaged = || Error::new(Kind::Io, format!("{} does not match its index head", path.display()));
            let keys = Keys::parse(text).ok_or_else(damaged)?;
            if keys.len() != bucket.len || keys.len() == 0 || keys.get(0) != bucket.first {
                return Err(damaged());
            }
            bucket.keys = Some(keys);
        }
        Ok(bucket.keys.as_mut().expect("loaded above"))
    }

    /// Reads a head written by this version; None for anything else.
    fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("head")).ok()?;
        let mut lines = text.lines();
        let tree = match lines.next()?.strip_prefix(HEADER)?.trim() {
            "-" => None,
            hex => Some(ObjectId::from_str(hex).ok()?),
        };
        let mut counts = [0usize; 5];
        let numbers: Vec<usize> = lines.next()?.split(' ').map(str::parse).collect::<Result<_, _>>().ok()?;
        if numbers.len() != counts.len() {
            return None;
        }
        counts.copy_from_slice(&numbers);
        let mut index = Self {
            dir: dir.to_path_buf(),
            tree,
            counts,
            held: BTreeSet::new(),
            broken: BTreeMap::new(),
            buckets: Vec::new(),
            changed: false,
        };
        for line in lines {
            let (kind, rest) = line.split_once(' ')?;
            match kind {
                "held" => {
                    index.held.insert(rest.to_string());
                }
                "broken" => {
                    let (path, message): (String, String) = serde_json::from_str(rest).ok()?;
                    index.broken.insert(path, message);
                }
                "bucket" => {
                    let mut parts = rest.splitn(3, ' ');
                    let (file, len, first) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
                    if !file.starts_with("b-") || file.contains(['/', '.']) || len == 0 {
                        return None;
                    }
                    index.buckets.push(Bucket {
                        first: first.to_string(),
                        len,
                        file: file.to_string(),
                        keys: None,
                        dirty: false,
                    });
                }
                _ => return None,
            }
        }
        Some(index)
    }

    /// Builds the index from every task of the folder (once per clone, or
    /// after damage).
    fn build(store: &Store, dir: &Path, ws: &str, tree: Option<ObjectId>) -> Result<Self> {
        let mut index = Self {
            dir: dir.to_path_buf(),
            tree,
            counts: [0; 5],
            held: BTreeSet::new(),
            broken: BTreeMap::new(),
            buckets: Vec::new(),
            changed: true,
        };
        let Some(tree) = tree else { return Ok(index) };
        let loaded = load_tasks(store, ws, tree)?;
        let blobs = task_blobs(store, tree)?;
        let mut free = Vec::new();
        for task in &loaded.items {
            index.counts[task.status as usize] += 1;
            let blob = blobs.get(&(task_shard(&task.id), format!("{}.toml", task.id))).copied();
            match place(task, blob) {
                Place::Free(key) => free.push(key),
                Place::Held(id) => {
                    index.held.insert(id);
                }
                Place::Counted => {}
            }
        }
        for e in &loaded.broken {
            let path = e.fields.get("path").and_then(|p| p.as_str()).unwrap_or_default().to_string();
            index.broken.insert(path, e.message.clone());
        }
        free.sort_unstable();
        index.buckets.extend(free.chunks(BUCKET).map(|chunk| Bucket::new(Keys::from_sorted(chunk))));
        Ok(index)
    }

    /// Moves the index to the tasks folder `tree`, reading only what
    /// changed; returns how many task files changed.
    fn update(&mut self, store: &Store, ws: &str, tree: Option<ObjectId>) -> Result<usize> {
        let (changed, not_shards) = changed_files(store, self.tree, tree)?;
        let count = changed.len();
        for change in changed {
            if let Some(old) = &change.old {
                self.broken.remove(&change.path(ws));
                if let Some(Ok(task)) = parse_entry(store, ws, &change.shard, old) {
                    self.counts[task.status as usize] = self.counts[task.status as usize].saturating_sub(1);
                    match place(&task, Some(old.oid)) {
                        Place::Free(key) => self.remove_free(&key)?,
                        Place::Held(id) => {
                            self.held.remove(&id);
                        }
                        Place::Counted => {}
                    }
                }
            }
            if let Some(new) = &change.new {
                match parse_entry(store, ws, &change.shard, new) {
                    Some(Ok(task)) => {
                        self.counts[task.status as usize] += 1;
                        match place(&task, Some(new.oid)) {
                            Place::Free(key) => self.insert_free(key)?,
                            Place::Held(id) => {
                                self.held.insert(id);
                            }
                            Place::Counted => {}
                        }
                    }
                    Some(Err(e)) => {
                        self.broken.insert(change.path(ws), e.message.clone());
                    }
                    None => {}
                }
            }
        }
        for (name, now) in not_shards {
            let problem = not_a_shard(ws, &name);
            let path = problem.fields.get("path").and_then(|p| p.as_str()).unwrap_or_default().to_string();
            match now.is_some_and(|e| e.is_tree) {
                true => self.broken.insert(path, problem.message.clone()),
                false => self.broken.remove(&path),
            };
        }
        self.tree = tree;
        self.changed = true;
        Ok(count)
    }

    /// The bucket `key` belongs in: the last whose first key is not after it.
    fn bucket_for(&self, key: &str) -> usize {
        self.buckets.partition_point(|b| b.first.as_str() <= key).saturating_sub(1)
    }

    fn insert_free(&mut self, key: String) -> Result<()> {
        if self.buckets.is_empty() {
            self.buckets.push(Bucket::new(Keys::from_sorted(&[key])));
            return Ok(());
        }
        let i = self.bucket_for(&key);
        let keys = self.bucket_keys(i)?;
        let Err(at) = keys.search(&key) else { return Ok(()) };
        keys.insert(at, &key);
        let upper = (keys.len() > 2 * BUCKET).then(|| keys.split_off(BUCKET));
        self.refresh(i);
        if let Some(upper) = upper {
            self.buckets.insert(i + 1, Bucket::new(upper));
        }
        Ok(())
    }

    fn remove_free(&mut self, key: &str) -> Result<()> {
        if self.buckets.is_empty() {
            return Ok(());
        }
        let i = self.bucket_for(key);
        let keys = self.bucket_keys(i)?;
        let Ok(at) = keys.search(key) else { return Ok(()) };
        keys.remove(at);
        if keys.len() == 0 {
            self.buckets.remove(i);
        } else {
            self.refresh(i);
        }
        Ok(())
    }

    /// Brings bucket `i`'s first key and length in line with its edited
    /// keys, and marks it for writing.
    fn refresh(&mut self, i: usize) {
        let bucket = &mut self.buckets[i];
        let keys = bucket.keys.as_ref().expect("an edited bucket is loaded");
        bucket.first = keys.get(0).to_string();
        bucket.len = keys.len();
        bucket.dirty = true;
    }

    /// Best effort: an index that cannot be written only costs speed.
    fn save(&mut self) {
        if !self.changed || std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        for bucket in self.buckets.iter_mut().filter(|b| b.dirty) {
            let Some(keys) = &bucket.keys else { continue };
            let file = format!("b-{}", random_hex());
            replace_file(&self.dir.join(&file), keys.text.as_bytes());
            bucket.file = file;
            bucket.dirty = false;
        }
        let tree = self.tree.map_or("-".to_string(), |t| t.to_string());
        let counts: Vec<String> = self.counts.iter().map(usize::to_string).collect();
        let lines = std::iter::once(counts.join(" "))
            .chain(self.held.iter().map(|id| format!("held {id}")))
            .chain(self.broken.iter().map(|b| format!("broken {}", serde_json::to_string(&b).expect("strings"))))
            .chain(self.buckets.iter().map(|b| format!("bucket {} {} {}", b.file, b.len, b.first)));
        write_cache(&self.dir.join("head"), &format!("{HEADER} {tree}"), lines);
        self.changed = false;
        self.remove_unreferenced();
    }

    /// Removes bucket files no head refers to any more, once they are old
    /// enough that no reader can still be on its way to them.
    fn remove_unreferenced(&self) {
        let mut dice = [0u8; 8];
        getrandom::fill(&mut dice).expect("the OS random generator is available on every supported platform");
        if u64::from_le_bytes(dice) % CLEAN_UP_ONE_IN != 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let entries: Vec<_> = entries.flatten().collect();
        if entries.len() < 2 * self.buckets.len() + 16 {
            return;
        }
        let referenced: BTreeSet<&str> = self.buckets.iter().map(|b| b.file.as_str()).collect();
        for entry in entries {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_bucket = name.starts_with("b-") || name.starts_with(".tmp-");
            let old = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if is_bucket && !referenced.contains(name) && old.is_some_and(|age| age > KEEP_UNREFERENCED) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The blob id of every file two folders down a tasks folder, by (shard,
/// file name): what `build` keys free tasks with. One listing per shard
/// folder, once per build.
fn task_blobs(store: &Store, tasks: ObjectId) -> Result<BTreeMap<(String, String), ObjectId>> {
    let mut out = BTreeMap::new();
    for outer in store.list_tree(tasks)?.into_iter().filter(|e| e.is_tree && is_shard_name(&e.name)) {
        for inner in store.list_tree(outer.oid)?.into_iter().filter(|e| e.is_tree && is_shard_name(&e.name)) {
            let shard = format!("{}/{}", outer.name, inner.name);
            for file in store.list_tree(inner.oid)?.into_iter().filter(|e| !e.is_tree) {
                out.insert((shard.clone(), file.name), file.oid);
            }
        }
    }
    Ok(out)
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random generator is available on every supported platform");
    format!("{:016x}", u64::from_le_bytes(bytes))
}

/// A task file that differs between two tasks folders.
struct Change {
    shard: String,
    old: Option<Entry>,
    new: Option<Entry>,
}

impl Change {
    fn path(&self, ws: &str) -> String {
        let name = self.new.as_ref().or(self.old.as_ref()).map_or("", |e| e.name.as_str());
        format!("{}/{}/{name}", tasks_dir(ws), self.shard)
    }
}

fn listing(store: &Store, tree: Option<ObjectId>) -> Result<BTreeMap<String, Entry>> {
    Ok(match tree {
        Some(tree) => store.list_tree(tree)?.into_iter().map(|e| (e.name.clone(), e)).collect(),
        None => BTreeMap::new(),
    })
}

/// One name of two folders: its entry in the old one and in the new one.
type Paired = (String, Option<Entry>, Option<Entry>);

/// Pairs the entries of two folders by name, keeping those whose ids differ.
fn differing(store: &Store, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<Vec<Paired>> {
    let mut old = listing(store, old)?;
    let mut out = Vec::new();
    for (name, entry) in listing(store, new)? {
        match old.remove(&name) {
            Some(before) if before.oid == entry.oid && before.is_tree == entry.is_tree => {}
            before => out.push((name, before, Some(entry))),
        }
    }
    out.extend(old.into_iter().map(|(name, before)| (name, Some(before), None)));
    Ok(out)
}

/// An entry of `tasks/` that is not a shard folder: its name, and what it
/// is now (None once gone).
type NotAShard = (String, Option<Entry>);

/// The task files (`<outer>/<inner>/<file>`) that differ between two tasks
/// folders, descending only into folders whose ids differ, and the outer
/// entries that are not shard folders and changed (with what they are now).
/// Only valid one-character outer folders are walked, as the task cache does.
fn changed_files(store: &Store, old: Option<ObjectId>, new: Option<ObjectId>) -> Result<(Vec<Change>, Vec<NotAShard>)> {
    let tree_of = |e: &Option<Entry>| e.as_ref().filter(|e| e.is_tree).map(|e| e.oid);
    let (mut files, mut not_shards) = (Vec::new(), Vec::new());
    for (outer, old_outer, new_outer) in differing(store, old, new)? {
        if !is_shard_name(&outer) {
            not_shards.push((outer, new_outer));
            continue;
        }
        for (inner, old_inner, new_inner) in differing(store, tree_of(&old_outer), tree_of(&new_outer))? {
            let shard = format!("{outer}/{inner}");
            for (_, old_file, new_file) in differing(store, tree_of(&old_inner), tree_of(&new_inner))? {
                files.push(Change { shard: shard.clone(), old: old_file, new: new_file });
            }
        }
    }
    Ok((files, not_shards))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(keys: &Keys) -> Vec<&str> {
        keys.iter().collect()
    }

    #[test]
    fn bucket_keys_edit_like_a_sorted_list_and_stay_their_file_text() {
        let sorted: Vec<String> = ["b", "d", "f"].map(String::from).to_vec();
        let mut keys = Keys::from_sorted(&sorted);
        assert_eq!(keys.text, "b\nd\nf\n");
        assert_eq!(
            (keys.search("d"), keys.search("a"), keys.search("e"), keys.search("z")),
            (Ok(1), Err(0), Err(2), Err(3))
        );

        keys.insert(0, "a");
        keys.insert(3, "e");
        keys.insert(5, "g");
        assert_eq!(keys_of(&keys), ["a", "b", "d", "e", "f", "g"]);
        keys.remove(0);
        keys.remove(2);
        keys.remove(3);
        assert_eq!(keys_of(&keys), ["b", "d", "f"]);

        let upper = keys.split_off(1);
        assert_eq!((keys.text.as_str(), keys_of(&keys)), ("b\n", vec!["b"]));
        assert_eq!((upper.text.as_str(), keys_of(&upper)), ("d\nf\n", vec!["d", "f"]));

        let parsed = Keys::parse(upper.text.clone()).unwrap();
        assert_eq!(keys_of(&parsed), ["d", "f"]);
        assert_eq!(parsed.search("f"), Ok(1));
    }

    #[test]
    fn a_bucket_file_cut_short_does_not_parse() {
        assert!(Keys::parse("a\nb".to_string()).is_none());
        assert_eq!(Keys::parse(String::new()).unwrap().len(), 0);
    }
}
