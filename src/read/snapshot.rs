//! Reading the branch at one commit: records by path, workstreams, tasks
//! (through the shard cache), agents. A broken file is an error only for the
//! command that needs it; listings collect it in `Loaded::broken` and go on.

use serde::de::DeserializeOwned;

use super::{cache, Loaded};
use crate::error::{Error, Kind, Result};
use crate::model::agent::{agent_path, Agent};
use crate::model::names::{name_problem, printable};
use crate::model::record;
use crate::model::settings::{Settings, SETTINGS_PATH};
use crate::model::task::normalize_task_ref;
use crate::model::task::Task;
use crate::model::workstream::{task_path, task_shard, tasks_dir, workstream_dir, workstream_path, Workstream};
use crate::store::{Entry, ObjectId, Store, Tree};

/// The branch as of one commit (or the empty state before it exists).
pub struct Snapshot<'s> {
    pub store: &'s Store,
    pub commit: Option<ObjectId>,
    tree: Option<Tree<'s>>,
}

impl<'s> Snapshot<'s> {
    pub fn at(store: &'s Store, commit: Option<ObjectId>) -> Result<Self> {
        let tree = commit.map(|c| store.tree_of(c)).transpose()?;
        Ok(Self { store, commit, tree })
    }

    /// The branch as it is now. A clone that has not adopted the branch yet
    /// reads the remote-tracking one (`<remote>/orc`), so a fresh clone shows
    /// the team's board; the first write adopts it.
    pub fn current(store: &'s Store) -> Result<Self> {
        match store.tip()? {
            Some(tip) => Self::at(store, Some(tip)),
            None => Self::at(store, store.remote_tracking_tip()?.map(|(_, tip)| tip)),
        }
    }

    pub fn tree(&self) -> Option<&Tree<'s>> {
        self.tree.as_ref()
    }

    pub fn file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match &self.tree {
            Some(tree) => self.store.read_file(tree, path),
            None => Ok(None),
        }
    }

    pub fn entry(&self, path: &str) -> Result<Option<Entry>> {
        match &self.tree {
            Some(tree) => self.store.entry_at(tree, path),
            None => Ok(None),
        }
    }

    pub fn list(&self, path: &str) -> Result<Vec<Entry>> {
        match &self.tree {
            Some(tree) => self.store.list(tree, path),
            None => Ok(Vec::new()),
        }
    }

    /// The file at `path`, refused unread when it is larger than `cap`.
    pub fn file_capped(&self, path: &str, cap: usize) -> Result<Option<Vec<u8>>> {
        match self.entry(path)? {
            Some(entry) if !entry.is_tree => self.store.read_blob_capped(entry.oid, path, cap).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses the TOML record at `path`, if the file exists.
    pub fn record<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        self.file_capped(path, record::MAX_RECORD_BYTES)?.map(|bytes| record::parse(path, &bytes)).transpose()
    }

    /// orc.toml; a broken one falls back to the defaults and is returned as
    /// the second value so the caller can warn.
    /// The branch's settings, or the error that says why orc.toml cannot
    /// be read: what writes use, so a broken file is never silently
    /// replaced by defaults.
    pub fn settings_checked(&self) -> Result<Settings> {
        match self.settings() {
            (_, Some(problem)) => Err(problem),
            (settings, None) => Ok(settings),
        }
    }

    /// The branch's settings, with the defaults and the problem when
    /// orc.toml is broken: for reads, which show the problem as a warning.
    pub fn settings(&self) -> (Settings, Option<Error>) {
        let entry = match self.entry(SETTINGS_PATH) {
            Ok(Some(entry)) if !entry.is_tree => entry,
            Ok(_) => return (Settings::default(), None),
            Err(e) => return (Settings::default(), Some(e)),
        };
        let parsed = self.store.parsed(entry.oid, || {
            let bytes = self.store.read_blob(entry.oid)?;
            Settings::parse(&bytes)
        });
        match parsed {
            Ok(settings) => (settings, None),
            Err(e) => (Settings::default(), Some(e)),
        }
    }

    /// Names of the workstream folders, sorted; folders whose name is not
    /// allowed are reported in `broken`.
    pub fn workstream_names(&self) -> Result<Loaded<String>> {
        let mut out = Loaded::default();
        for entry in self.list("workstreams")? {
            if !entry.is_tree {
                continue;
            }
            match name_problem(&entry.name) {
                None => out.items.push(entry.name),
                Some(problem) => out.broken.push(Error::broken_file(
                    &format!("workstreams/{}", entry.name.escape_debug()),
                    None,
                    format!("not a valid workstream name: {problem}"),
                )),
            }
        }
        out.items.sort();
        Ok(out)
    }

    pub fn workstream_exists(&self, ws: &str) -> Result<bool> {
        Ok(self.entry(&workstream_dir(ws))?.is_some_and(|e| e.is_tree))
    }

    /// Fails with `not_found` unless the workstream exists.
    pub fn require_workstream(&self, ws: &str) -> Result<()> {
        if self.workstream_exists(ws)? {
            return Ok(());
        }
        Err(Error::new(Kind::NotFound, format!("no workstream named {}", printable(ws)))
            .with("workstream", ws)
            .with_hint("create it first, or check the name against the list of workstreams"))
    }

    /// The workstream's record, or None when the folder does not exist.
    pub fn workstream(&self, ws: &str) -> Result<Option<Workstream>> {
        if !self.workstream_exists(ws)? {
            return Ok(None);
        }
        let path = workstream_path(ws);
        let mut record: Workstream = self
            .record(&path)?
            .ok_or_else(|| Error::broken_file(&path, None, "the workstream folder has no workstream.toml"))?;
        record.name = ws.to_string();
        Ok(Some(record))
    }

    /// Every task of one workstream.
    pub fn tasks(&self, ws: &str) -> Result<Loaded<Task>> {
        match self.entry(&tasks_dir(ws))? {
            Some(entry) if entry.is_tree => cache::load_tasks(self.store, ws, entry.oid),
            _ => Ok(Loaded::default()),
        }
    }

    /// Every task of every workstream.
    pub fn all_tasks(&self) -> Result<Loaded<Task>> {
        let names = self.workstream_names()?;
        let mut out = Loaded { items: Vec::new(), broken: names.broken };
        for ws in names.items {
            let loaded = self.tasks(&ws)?;
            if out.items.is_empty() {
                out.items = loaded.items;
            } else {
                out.items.extend(loaded.items);
            }
            out.broken.extend(loaded.broken);
        }
        Ok(out)
    }

    /// The task with exactly this id in this workstream.
    pub fn task(&self, ws: &str, id: &str) -> Result<Option<Task>> {
        let path = task_path(ws, id);
        let Some(bytes) = self.file(&path)? else { return Ok(None) };
        cache::parse_task(&path, ws, id, &bytes).map(Some)
    }

    /// The task with this id in this workstream, from its file's blob id
    /// (as the task index knows it), without walking the tree to it.
    pub fn task_in_blob(&self, ws: &str, id: &str, blob: ObjectId) -> Result<Task> {
        let path = task_path(ws, id);
        let bytes = self.store.read_blob_capped(blob, &path, record::MAX_RECORD_BYTES)?;
        cache::parse_task(&path, ws, id, &bytes)
    }

    /// The task with this full id, in whichever workstream holds it.
    pub fn task_by_id(&self, id: &str) -> Result<Option<Task>> {
        for ws in self.workstream_names()?.items {
            if let Some(task) = self.task(&ws, id)? {
                return Ok(Some(task));
            }
        }
        Ok(None)
    }

    /// Every (workstream, full id) whose id starts with `prefix` (normalised).
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let body = prefix.strip_prefix("t-").unwrap_or(prefix);
        let mut found = Vec::new();
        for ws in self.workstream_names()?.items {
            let shards: Vec<String> = match body.len() {
                0 => Vec::new(),
                1 => self
                    .list(&format!("{}/{body}", tasks_dir(&ws)))?
                    .into_iter()
                    .filter(|e| e.is_tree)
                    .map(|e| format!("{body}/{}", e.name))
                    .collect(),
                _ => vec![task_shard(body)],
            };
            for shard in shards {
                for entry in self.list(&format!("{}/{shard}", tasks_dir(&ws)))? {
                    if let Some(id) = entry.name.strip_suffix(".toml") {
                        if id.starts_with(prefix) && !entry.is_tree {
                            found.push((ws.clone(), id.to_string()));
                        }
                    }
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Resolves what a person or agent typed (a full id or a unique prefix)
    /// to one task; `ws`, when given, must be the task's workstream.
    pub fn find_task(&self, typed: &str, ws: Option<&str>) -> Result<Task> {
        let Some(prefix) = normalize_task_ref(typed) else {
            return Err(Error::new(Kind::InvalidId, format!("{} is not a task id", printable(typed)))
                .with("id", typed)
                .with_hint("task ids look like t-3fk2…; check it against the list of tasks"));
        };
        let matches = self.ids_with_prefix(&prefix)?;
        let (task_ws, id) = match matches.as_slice() {
            [] => {
                return Err(Error::new(Kind::NotFound, format!("no task matches {prefix}"))
                    .with("id", &prefix)
                    .with_hint("check it against the list of tasks"))
            }
            [one] => one.clone(),
            many => {
                let names: Vec<&str> = many.iter().map(|(_, id)| id.as_str()).take(5).collect();
                return Err(Error::new(
                    Kind::AmbiguousId,
                    format!("{prefix} matches {} tasks: {}", many.len(), names.join(", ")),
                )
                .with("id", &prefix)
                .with("candidates", many.iter().map(|(_, id)| id).collect::<Vec<_>>())
                .with_hint("type more characters of the id"));
            }
        };
        if let Some(ws) = ws {
            if ws != task_ws {
                return Err(Error::new(
                    Kind::WrongWorkstream,
                    format!("{id} is in workstream {task_ws}, not {}", printable(ws)),
                )
                .with("id", &id)
                .with("workstream", &task_ws)
                .with_hint(format!("leave the workstream out, or use {task_ws}")));
            }
        }
        self.task(&task_ws, &id)?.ok_or_else(|| Error::new(Kind::Git, format!("{id} vanished while being read")))
    }

    pub fn agent(&self, id: &str) -> Result<Option<Agent>> {
        let path = agent_path(id);
        let mut agent: Option<Agent> = self.record(&path)?;
        if let Some(agent) = agent.as_mut() {
            agent.id = id.to_string();
        }
        Ok(agent)
    }

    /// `last_seen` of an agent, or None when it has no (readable) record.
    /// The holder's last sign of life: when this machine first saw it (with
    /// `liveness`), or the written time.
    pub fn last_seen(
        &self,
        id: Option<&str>,
        liveness: Option<&super::liveness::Liveness>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let agent = id.and_then(|id| self.agent(id).ok().flatten())?;
        Some(liveness.map_or(agent.last_seen, |l| l.first_seen(&agent.id, agent.last_seen)))
    }

    pub fn agents(&self) -> Result<Loaded<Agent>> {
        let entries = self.list("agents")?;
        let ids = entries.iter().filter(|e| !e.is_tree).filter_map(|e| e.name.strip_suffix(".toml"));
        Ok(self.agents_named(ids.filter(|id| name_problem(id).is_none())))
    }

    /// The records of these agents; an id without one is left out, one
    /// that does not parse is reported in `broken`.
    pub fn agents_named<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Loaded<Agent> {
        let mut out = Loaded::default();
        for id in ids {
            match self.agent(id) {
                Ok(Some(agent)) => out.items.push(agent),
                Ok(None) => {}
                Err(e) => out.broken.push(e),
            }
        }
        out
    }
}
