//! The task board: tasks with the facts readiness needs (dependencies,
//! holders' last signs of life), and the order `next` and `ready` use.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::index::{Keep, TaskIndex};
use super::liveness::Liveness;
use super::{Loaded, Snapshot};
use crate::error::{Error, Result};
use crate::model::task::{Blocker, Status, Task, Terms};

/// Dependencies of `task` that are not done. `known` holds statuses already
/// loaded; others are looked up by id.
pub fn blockers(snap: &Snapshot<'_>, task: &Task, known: &HashMap<String, Status>) -> Result<Vec<Blocker>> {
    let mut out = Vec::new();
    for dep in &task.after {
        let status = match known.get(dep) {
            Some(status) => Some(*status),
            None => snap.task_by_id(dep)?.map(|t| t.status),
        };
        if status != Some(Status::Done) {
            out.push(Blocker { id: dep.clone(), status });
        }
    }
    Ok(out)
}

/// Names of the archived workstreams (a broken record counts as not
/// archived: the command that reads it reports it).
pub fn archived_workstreams(snap: &Snapshot<'_>) -> Result<HashSet<String>> {
    let mut archived = HashSet::new();
    for name in snap.workstream_names()?.items {
        if snap.workstream(&name).ok().flatten().is_some_and(|w| w.archived) {
            archived.insert(name);
        }
    }
    Ok(archived)
}

/// The head of the board (`Board::load_head`), and what it counts but did
/// not load.
pub struct Head {
    pub board: Board,
    /// Tasks in each status (`Status::ALL` order), per workstream by name.
    pub counts: Vec<(String, [usize; 5])>,
    /// Ready tasks left out of `board` (open, waiting for nothing).
    pub free_not_loaded: usize,
}

impl Head {
    /// How many tasks are ready in all.
    pub fn ready_count(&self, snap: &Snapshot<'_>, terms: &Terms) -> Result<usize> {
        Ok(self.free_not_loaded + self.board.ready_indexes(snap, terms)?.len())
    }
}

/// What a board head is read for, which decides what it reads and keeps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HeadFor {
    /// A report (status, ready, listings): every agent's record, so a
    /// broken agent file is reported; a task index that moved is saved.
    Report,
    /// A claim, inside the write queue: only the records of agents holding
    /// one of the board's tasks (all it needs to judge leases, whatever the
    /// number of agents that ever worked here), and the task index is saved
    /// only when it was far behind (`index::Keep::FarBehind`).
    Claim,
}

/// Everything needed to judge readiness of many tasks at once.
#[derive(Default)]
pub struct Board {
    pub tasks: Vec<Task>,
    pub broken: Vec<Error>,
    /// Statuses of the loaded tasks that other tasks wait for.
    pub status_of: HashMap<String, Status>,
    pub last_seen: HashMap<String, DateTime<Utc>>,
}

impl Board {
    /// Loads the tasks of `ws` (or of every workstream not archived) and
    /// every agent. With `liveness`, each holder's sign of life counts from
    /// when this machine first saw it (expiry by observation, DESIGN §4);
    /// without, from the written time (the dashboard, which judges by the
    /// branch alone).
    pub fn load(snap: &Snapshot<'_>, ws: Option<&str>, liveness: Option<&Liveness>) -> Result<Self> {
        let Loaded { items: mut tasks, broken } = match ws {
            Some(ws) => snap.tasks(ws)?,
            None => snap.all_tasks()?,
        };
        if ws.is_none() {
            let archived = archived_workstreams(snap)?;
            if !archived.is_empty() {
                tasks.retain(|t| !archived.contains(&t.workstream));
            }
        }
        Self::with_agents(snap, tasks, broken, liveness, HeadFor::Report)
    }

    /// The part of the board that the first `n` ready tasks come from, read
    /// through the task index (read::index) instead of every task: each
    /// workstream's claimed tasks and open tasks that wait for others, and
    /// its first `n` open tasks that wait for nothing. Every such open task
    /// is ready, so the best `n` ready tasks of the whole board are among
    /// these, in the same order `ready` gives. Costs the same whatever the
    /// number of finished tasks, and of open ones past the first `n`.
    pub fn load_head(
        snap: &Snapshot<'_>,
        ws: Option<&str>,
        liveness: Option<&Liveness>,
        n: usize,
        purpose: HeadFor,
    ) -> Result<Head> {
        let keep = match purpose {
            HeadFor::Report => Keep::Moved,
            HeadFor::Claim => Keep::FarBehind,
        };
        let mut names = match ws {
            Some(ws) => vec![ws.to_string()],
            None => {
                let names = snap.workstream_names()?;
                let archived = archived_workstreams(snap)?;
                names.items.into_iter().filter(|n| !archived.contains(n)).collect()
            }
        };
        names.sort();
        let mut tasks = Vec::new();
        let mut broken = Vec::new();
        let mut counts = Vec::new();
        let mut free_not_loaded = 0;
        for name in names {
            let (index, free) = TaskIndex::load_with_head(snap, &name, n, keep)?;
            free_not_loaded += index.free_len() - free.len();
            broken.extend(index.broken());
            // Held tasks are read by path; free ones by the blob id the index keeps.
            let held = index.held().map(|id| (id, None));
            for (id, blob) in held.chain(free.iter().map(|f| (f.id.as_str(), f.blob))) {
                let read = match blob {
                    Some(blob) => snap.task_in_blob(&name, id, blob).map(Some),
                    None => snap.task(&name, id),
                };
                match read {
                    Ok(Some(task)) => tasks.push(task),
                    Ok(None) => {}
                    Err(e) => broken.push(e),
                }
            }
            counts.push((name, Status::ALL.map(|s| index.count(s))));
        }
        Ok(Head { board: Self::with_agents(snap, tasks, broken, liveness, purpose)?, counts, free_not_loaded })
    }

    /// The tasks a listing needs: only `status` ones when given, only
    /// claimed ones when `by_holder`. A listing of open or claimed tasks
    /// goes through the index when finished tasks are most of the board
    /// (they are then never read); anything else, or a board of mostly
    /// active tasks, reads the whole board through the task cache, which
    /// reads many tasks faster than one file each.
    pub fn load_listing(
        snap: &Snapshot<'_>,
        ws: Option<&str>,
        liveness: Option<&Liveness>,
        status: Option<Status>,
        by_holder: bool,
    ) -> Result<Self> {
        if !matches!(status, Some(Status::Open | Status::Claimed)) && !by_holder {
            return Self::load(snap, ws, liveness);
        }
        let head = Self::load_head(snap, ws, liveness, 0, HeadFor::Report)?;
        let (mut active, mut total) = (0, 0);
        for (_, counts) in &head.counts {
            active += counts[Status::Claimed as usize] + counts[Status::Open as usize];
            total += counts.iter().sum::<usize>();
        }
        if active * 4 < total {
            Ok(Self::load_head(snap, ws, liveness, usize::MAX, HeadFor::Report)?.board)
        } else {
            Self::load(snap, ws, liveness)
        }
    }

    fn with_agents(
        snap: &Snapshot<'_>,
        tasks: Vec<Task>,
        mut broken: Vec<Error>,
        liveness: Option<&Liveness>,
        purpose: HeadFor,
    ) -> Result<Self> {
        let agents = match purpose {
            HeadFor::Report => snap.agents()?,
            HeadFor::Claim => {
                let holders: BTreeSet<&str> = tasks.iter().filter_map(|t| t.claimed_by.as_deref()).collect();
                snap.agents_named(holders)
            }
        };
        broken.extend(agents.broken);
        // Only ids that something waits for: most tasks have no dependencies,
        // and a map of every id cost more than the rest of `status`.
        let wanted: HashSet<&str> = tasks.iter().flat_map(|t| t.after.iter().map(String::as_str)).collect();
        let status_of =
            tasks.iter().filter(|t| wanted.contains(t.id.as_str())).map(|t| (t.id.clone(), t.status)).collect();
        let last_seen = agents
            .items
            .into_iter()
            .map(|a| {
                let seen = liveness.map_or(a.last_seen, |l| l.first_seen(&a.id, a.last_seen));
                (a.id, seen)
            })
            .collect();
        Ok(Self { tasks, broken, status_of, last_seen })
    }

    pub fn holder_seen(&self, task: &Task) -> Option<DateTime<Utc>> {
        task.claimed_by.as_ref().and_then(|h| self.last_seen.get(h).copied())
    }

    pub fn blockers(&self, snap: &Snapshot<'_>, task: &Task) -> Result<Vec<Blocker>> {
        blockers(snap, task, &self.status_of)
    }

    /// Claimable tasks whose dependencies are done, best first: workstream
    /// priority (when several), task priority, age, id.
    pub fn ready(&self, snap: &Snapshot<'_>, terms: &Terms) -> Result<Vec<&Task>> {
        Ok(self.ready_indexes(snap, terms)?.into_iter().map(|i| &self.tasks[i]).collect())
    }

    /// [`Board::ready`] as positions in `tasks`.
    pub fn ready_indexes(&self, snap: &Snapshot<'_>, terms: &Terms) -> Result<Vec<usize>> {
        // Workstreams rank by priority, then name; tasks carry that rank as
        // a number so the sort compares no strings but ids.
        let mut names: Vec<&str> = self.tasks.iter().map(|t| t.workstream.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let records: Vec<Option<crate::model::workstream::Workstream>> =
            names.iter().map(|ws| snap.workstream(ws).ok().flatten()).collect();
        // An archived workstream offers nothing, even when named.
        let archived: HashSet<&str> = names
            .iter()
            .zip(&records)
            .filter(|(_, w)| w.as_ref().is_some_and(|w| w.archived))
            .map(|(n, _)| *n)
            .collect();
        let mut ranked: Vec<(u8, &str)> =
            names.iter().zip(&records).map(|(ws, w)| (w.as_ref().map_or(u8::MAX, |w| w.priority), *ws)).collect();
        ranked.sort_unstable();
        let rank: HashMap<&str, usize> = ranked.iter().enumerate().map(|(i, (_, ws))| (*ws, i)).collect();
        let mut keyed = Vec::new();
        let mut last_ws: Option<(&str, usize)> = None;
        for (index, task) in self.tasks.iter().enumerate() {
            if archived.contains(task.workstream.as_str())
                || !task.is_claimable(terms, self.holder_seen(task))
                || !self.blockers(snap, task)?.is_empty()
            {
                continue;
            }
            let ws = task.workstream.as_str();
            let ws_rank = match last_ws {
                Some((name, r)) if name == ws => r,
                _ => {
                    let r = rank[ws];
                    last_ws = Some((ws, r));
                    r
                }
            };
            keyed.push(((ws_rank, task.next_order()), index));
        }
        // Keys are computed once: at 10k tasks a comparator that hashes
        // costs more than the rest of `status`.
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, index)| index).collect())
    }
}
