//! `t add --from FILE`: many tasks in one operation and one commit.
//!
//! Rules this module keeps:
//! - Every row is checked (as `t add` checks one) before anything is
//!   written; one bad row refuses the whole batch, naming its line.
//! - A row may wait for an earlier row of the same file (`#N`, its 1-based
//!   row number) as well as for tasks already on the branch.
//! - The trailer records only each task's id and workstream: the tasks
//!   themselves are in the commit, and a replay reads them from there, so a
//!   10,000-row import does not put its whole input in a commit message.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::task::AddTask;
use super::trailer::Envelope;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::{Error, Kind, Result};
use crate::model::names::WorkstreamName;
use crate::model::record;
use crate::model::task::{Priority, Task, TaskId, Text, Title};
use crate::model::workstream::task_path;
use crate::read::Snapshot;

/// Most rows one import adds: past this, split the file.
pub const MAX_ROWS: usize = 20_000;

/// One row as read from a file, before it is checked.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Row {
    #[serde(alias = "workstream")]
    pub ws: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<u8>,
    /// Ids or prefixes on the branch, or `#N` for an earlier row.
    #[serde(default)]
    pub after: Vec<String>,
}

/// Many `task.add`s as one operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddTasks {
    pub tasks: Vec<AddTask>,
}

#[derive(Serialize, Deserialize)]
struct Recorded {
    tasks: Vec<RecordedTask>,
}

#[derive(Serialize, Deserialize)]
struct RecordedTask {
    id: TaskId,
    workstream: WorkstreamName,
}

impl AddTasks {
    /// Checks every row; `lines[i]` is where row i came from, for messages.
    /// Ids are drawn from `clock`, and `#N` becomes row N's id.
    pub fn new(clock: &crate::session::Clock, rows: Vec<Row>, lines: &[usize]) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::new(Kind::InvalidInput, "the file holds no tasks").with_hint(
                "one task per line: {\"ws\": \"api\", \"title\": \"…\"} (JSON Lines), or a CSV with a ws,title header",
            ));
        }
        if rows.len() > MAX_ROWS {
            return Err(Error::new(
                Kind::TooLarge,
                format!("{} tasks in one file; the limit is {MAX_ROWS}", rows.len()),
            )
            .with_hint("split the file and add the parts one after another"));
        }
        let mut tasks: Vec<AddTask> = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let line = lines.get(i).copied().unwrap_or(i + 1);
            let at = |mut e: Error| {
                e.message = format!("line {line}: {}", e.message);
                e.with("line", line)
            };
            let mut after = Vec::with_capacity(row.after.len());
            for dep in &row.after {
                match dep.strip_prefix('#') {
                    Some(n) => {
                        let n: usize = n.parse().map_err(|_| {
                            at(Error::new(Kind::InvalidInput, format!("{dep:?} is not a row number"))
                                .with_hint("write #N for row N of this file (the first row is #1)"))
                        })?;
                        let Some(earlier) = n.checked_sub(1).and_then(|k| tasks.get(k)) else {
                            return Err(at(Error::new(
                                Kind::InvalidInput,
                                format!("{dep} is not an earlier row of this file"),
                            )
                            .with_hint("a row may wait only for rows above it")));
                        };
                        after.push(earlier.id.to_string());
                    }
                    None => after.push(dep.clone()),
                }
            }
            let task =
                AddTask::new(clock, &row.ws, &row.title, row.description.as_deref(), row.priority, after, vec![])
                    .map_err(at)?;
            tasks.push(task);
        }
        Ok(Self { tasks })
    }
}

impl Operation for AddTasks {
    type Output = Vec<Task>;
    const NAME: &'static str = "task.add_many";

    fn recorded(&self, _output: &Vec<Task>) -> serde_json::Value {
        let tasks =
            self.tasks.iter().map(|t| RecordedTask { id: t.id.clone(), workstream: t.workstream.clone() }).collect();
        serde_json::to_value(Recorded { tasks }).expect("plain data")
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::Value::Array(self.tasks.iter().map(Operation::fingerprint).collect())
    }

    fn from_record(envelope: &Envelope, source: &RecordSource<'_>) -> Result<Self> {
        let recorded: Recorded = decode_input(envelope)?;
        let tree = source.store.tree_of(source.commit)?;
        let mut tasks = Vec::with_capacity(recorded.tasks.len());
        for entry in recorded.tasks {
            let path = task_path(&entry.workstream, &entry.id);
            let bytes = source.store.read_file(&tree, &path)?.ok_or_else(|| {
                Error::new(Kind::BrokenCommit, format!("the import's commit lacks {path}"))
                    .with("commit", source.commit.to_string())
            })?;
            let task: Task = record::parse(&path, &bytes)?;
            tasks.push(AddTask {
                workstream: entry.workstream,
                title: Title::new(&task.title)?,
                description: Text::new(&task.description)?,
                priority: Priority::new(task.priority)?,
                after: task.after,
                resources: Vec::new(),
                id: entry.id,
            });
        }
        Ok(Self { tasks })
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Vec<Task>>> {
        let mut checked_streams = BTreeSet::new();
        let batch: BTreeSet<&str> = self.tasks.iter().map(|t| t.id.as_str()).collect();
        let mut resolved: BTreeMap<String, String> = BTreeMap::new();
        let mut plan = Plan::new(format!("add {} tasks", self.tasks.len()), Vec::with_capacity(self.tasks.len()));
        for add in &self.tasks {
            if checked_streams.insert(add.workstream.to_string()) {
                snap.require_workstream(&add.workstream)?;
                if let Some(ws) = snap.workstream(&add.workstream)? {
                    super::workstream::refuse_archived(&ws)?;
                }
            }
            let mut after = Vec::with_capacity(add.after.len());
            for dep in &add.after {
                let id = if batch.contains(dep.as_str()) {
                    dep.clone()
                } else if let Some(id) = resolved.get(dep) {
                    id.clone()
                } else {
                    let id = snap.find_task(dep, None)?.id;
                    resolved.insert(dep.clone(), id.clone());
                    id
                };
                if !after.contains(&id) {
                    after.push(id);
                }
            }
            let id = add.id.to_string();
            if !snap.ids_with_prefix(&id)?.is_empty() {
                return Err(Error::new(Kind::AlreadyExists, format!("a task with id {id} already exists"))
                    .with("task", &id)
                    .with_hint("run the command again: new ids are drawn each time"));
            }
            let task = Task::new(
                id.clone(),
                add.workstream.to_string(),
                add.title.to_string(),
                add.description.to_string(),
                add.priority.get(),
                after,
                env.actor.name().into(),
                env.now,
            );
            plan = plan.write(task_path(&add.workstream, &id), record::render(&task));
            plan.output.push(task);
        }
        let first = plan.output.first().map(|t| t.id.clone());
        let last = plan.output.last().map(|t| t.id.clone());
        let count = plan.output.len();
        Ok(plan
            .detail("count", count)
            .detail("first", first)
            .detail("last", last)
            .detail("workstreams", checked_streams))
    }
}
