//! Waiting for the branch to change: `wait` for a task to finish, and
//! following the event log. Both stop at a deadline or when the caller's
//! cancel flag is set, so a front end (a Ctrl-C handler, an HTTP client
//! that went away) can always end them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use super::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::event::Event;
use crate::model::task::{Status, Task};
use crate::read::events::{query, EventQuery};
use crate::read::{Loaded, Snapshot};
use crate::session::Session;
use crate::store::ObjectId;

/// How often the branch's ref is read while waiting: one small file read.
const POLL: StdDuration = StdDuration::from_millis(100);

/// Sleeps one poll interval; false once the deadline passed or the caller
/// cancelled.
fn keep_waiting(deadline: Option<Instant>, cancel: Option<&AtomicBool>) -> bool {
    if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return false;
    }
    let pause = match deadline {
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => left.min(POLL),
            _ => return false,
        },
        None => POLL,
    };
    std::thread::sleep(pause);
    true
}

/// Blocks until the task (id or unique prefix) is done, then returns it.
/// A failed task answers `task_failed`, a cancelled one `terminal`, and a
/// deadline that passed first `timeout` (all refusals: exit 1).
pub fn wait_for_task(repo: &Repo, task: &str, deadline: Option<Instant>, cancel: Option<&AtomicBool>) -> Result<Task> {
    let store = repo.store()?;
    let id = {
        let snap = Snapshot::current(&store)?;
        if snap.commit.is_none() {
            return Err(Error::new(Kind::NotFound, "there is no orc branch yet, so no task to wait for"));
        }
        snap.find_task(task, None)?.id
    };
    let mut seen: Option<ObjectId> = None;
    loop {
        let tip = store.tip()?;
        if tip != seen {
            seen = tip;
            let snap = Snapshot::at(&store, tip)?;
            let task = snap
                .task_by_id(&id)?
                .ok_or_else(|| Error::new(Kind::NotFound, format!("{id} no longer exists")).with("task", &id))?;
            match task.status {
                Status::Done => return Ok(task),
                Status::Failed => {
                    return Err(Error::new(
                        Kind::TaskFailed,
                        format!("{id} failed: {}", task.result.as_deref().unwrap_or("no reason given")),
                    )
                    .with("task", &id))
                }
                Status::Cancelled => {
                    return Err(Error::new(Kind::Terminal, format!("{id} was cancelled")).with("task", &id))
                }
                Status::Open | Status::Claimed => {}
            }
        }
        if !keep_waiting(deadline, cancel) {
            return Err(Error::new(Kind::Timeout, format!("{id} is not finished yet")).with("task", &id));
        }
    }
}

/// Follows the event log: the events matching a query now, then each new
/// matching event as the branch moves.
pub struct EventFollower<'r> {
    repo: &'r Repo,
    query: EventQuery,
    tip: Option<ObjectId>,
}

impl<'r> EventFollower<'r> {
    /// Starts following; returns the follower and what matches now.
    pub fn start(repo: &'r Repo, session: &Session, mut query_now: EventQuery) -> Result<(Self, Loaded<Event>)> {
        let store = repo.store()?;
        let tip = store.tip()?;
        let found = query(&Snapshot::at(&store, tip)?, &query_now)?;
        // Ids are time-ordered: with nothing seen yet, everything logged
        // from now on sorts after an id made a moment ago.
        query_now.after = Some(match found.items.last() {
            Some(event) => event.id.clone(),
            None => session.clock.new_ulid(session.clock.now() - chrono::Duration::seconds(1)),
        });
        query_now.last = None;
        query_now.since = None;
        Ok((Self { repo, query: query_now, tip }, found))
    }

    /// Waits for new matching events; returns them, or an empty batch once
    /// the deadline passed or the caller cancelled.
    pub fn next_batch(&mut self, deadline: Option<Instant>, cancel: Option<&AtomicBool>) -> Result<Loaded<Event>> {
        let store = self.repo.store()?;
        loop {
            let tip = store.tip()?;
            if tip != self.tip {
                self.tip = tip;
                let found = query(&Snapshot::at(&store, tip)?, &self.query)?;
                if let Some(last) = found.items.last() {
                    self.query.after = Some(last.id.clone());
                }
                if !found.items.is_empty() || !found.broken.is_empty() {
                    return Ok(found);
                }
            }
            if !keep_waiting(deadline, cancel) {
                return Ok(Loaded::default());
            }
        }
    }
}
