//! The operation engine: the one place where the branch changes.
//!
//! Every mutating command is an [`Operation`]: read the tip, check (the
//! operation's pure `plan` against that state), write only the changed files
//! as a tree, commit with the `Orc-Op` trailer, and compare-and-swap the ref.
//! Local writers queue on a kernel file lock first, so racing processes do not
//! waste attempts; the swap stays the safety net. Objects and ref are fsynced
//! before success is returned. HEAD, the index and the working tree are never
//! touched, and no hooks run (libgit2 has none).
//!
//! Rules this module keeps:
//! - `ops` writes and never publishes: publishing is `api`'s rule.
//! - The write queue is a capability: [`Engine::build_on`] and replay take
//!   `&WriteLock` from their caller instead of queueing themselves, so no
//!   caller waits on itself.
//! - Time and ids come from the session's clock; an idempotency key is
//!   recorded on the operation it was given to, and a replay carries each
//!   operation's own key and record, never the replaying session's.

pub mod agent;
pub mod bulk;
pub mod catalog;
pub mod config;
pub mod cycle;
pub mod dashboard;
pub mod events;
pub mod init;
pub mod knowledge;
pub mod lock;
pub mod replay;
pub mod task;
pub mod trailer;
pub mod workstream;

use std::cell::Cell;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Kind, Result};
use crate::model::agent::{agent_path, Agent};
use crate::model::event::{chunk_dir, chunk_name, chunk_number, Event, CHUNK_BYTES};
use crate::model::names::name_problem;
use crate::model::record;
use crate::model::settings::{Settings, ROOT_SETTINGS, SETTINGS_PATH};
use crate::model::task::{Actor, Terms};
use crate::read::liveness::Liveness;
use crate::read::Snapshot;
use crate::session::{ulid_after, Session};
use crate::store::{Changes, ObjectId, Store, Swap, WriteLock};
use trailer::Envelope;

/// How many times an operation is re-checked after the ref moved under it
/// (only possible when something bypassed the local write queue).
const MAX_ATTEMPTS: u32 = 50;

/// Applies operations to one repository for one session: the engine every
/// write goes through. Borrowed per call; cheap to make.
pub struct Engine<'a> {
    pub store: &'a Store,
    pub session: &'a Session,
    retries: Cell<u32>,
}

/// What `plan` sees besides the branch.
pub struct OpEnv<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a Actor,
    /// The branch's settings, or why orc.toml cannot be read: operations
    /// that need them (leases, grace, staleness) fail with that problem;
    /// the others do not depend on the file and go ahead.
    settings: std::result::Result<&'a Settings, &'a Error>,
    /// This machine's observations of agents' signs of life (claim expiry
    /// by observation, DESIGN §4).
    pub liveness: &'a Liveness,
    pub op_id: &'a str,
}

impl OpEnv<'_> {
    /// The settings, or the error naming the broken orc.toml.
    pub fn settings(&self) -> Result<&Settings> {
        self.settings.map_err(Error::clone)
    }

    /// The clock and lease rules of the branch.
    pub fn terms(&self) -> Result<Terms> {
        let settings = self.settings()?;
        Ok(Terms { now: self.now, lease: settings.lease, grace: settings.expiry_slack })
    }
}

/// What an operation will change, and what it reports.
pub struct Plan<O> {
    pub changes: Changes,
    /// Commit subject after `orc: `, e.g. `claim t-3fk2 (revenue) by agent-1`.
    pub subject: String,
    /// The operation's own event data (the trailer records the input, not
    /// these).
    pub details: Map<String, Value>,
    /// The event type, when it differs from the operation name (a reclaim).
    pub event_type: Option<String>,
    /// Bookkeeping, not state (a dashboard render): logs no event, touches
    /// no agent, and writes nothing when it has no changes.
    pub quiet: bool,
    pub output: O,
}

impl<O> Plan<O> {
    pub fn new(subject: impl Into<String>, output: O) -> Self {
        Self {
            changes: Changes::new(),
            subject: subject.into(),
            details: Map::new(),
            event_type: None,
            quiet: false,
            output,
        }
    }

    pub fn write(mut self, path: String, bytes: Vec<u8>) -> Self {
        self.changes.insert(path, Some(bytes));
        self
    }

    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        self.details.insert(key.into(), serde_json::to_value(value).expect("details are plain JSON data"));
        self
    }
}

/// One kind of change to the branch. Its serialised form is its input:
/// recorded in the `Orc-Op` trailer so it can be replayed, and built back
/// through the same validated types, so an operation decoded from JSON is
/// checked like one built from flags. `catalog::Catalogued` is sealed and
/// implemented only by the catalog: an operation missing from it does not
/// compile.
pub trait Operation: Serialize + DeserializeOwned + catalog::Catalogued {
    type Output: Serialize + DeserializeOwned;
    /// The stable operation name, e.g. `task.claim`.
    const NAME: &'static str;

    /// Who performs it, given who the session acts as. The default is the
    /// session's actor; operations naming an agent act as that agent.
    fn actor(&self, session: &Actor) -> Actor {
        session.clone()
    }

    /// Checks the operation against `snap` and says what to write. Pure: no
    /// writes, and the same state gives the same plan.
    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Self::Output>>;

    /// The input to record once the plan resolved it: a typed prefix
    /// becomes the full id, a `next` the claim of the task it chose. Large
    /// payloads are referenced, not copied (a knowledge write records its
    /// size; the text is in the commit).
    fn recorded(&self, _output: &Self::Output) -> Value {
        serde_json::to_value(self).expect("operation inputs are plain data")
    }

    /// What makes two requests "the same" for an idempotency key: the
    /// request without what orc draws itself (a new task's id).
    fn fingerprint(&self) -> Value {
        serde_json::to_value(self).expect("operation inputs are plain data")
    }

    /// Builds the operation back from its commit (replay). The default
    /// decodes the recorded input through the validated types.
    fn from_record(envelope: &Envelope, _source: &RecordSource<'_>) -> Result<Self> {
        decode_input(envelope)
    }
}

/// Where a recorded operation came from, for operations whose input refers
/// to the commit (a knowledge write's text) or to this machine's state.
pub struct RecordSource<'a> {
    pub store: &'a Store,
    pub commit: ObjectId,
}

/// Decodes a recorded input; input that fails validation is refused here,
/// before anything is checked against the branch.
pub fn decode_input<T: DeserializeOwned>(envelope: &Envelope) -> Result<T> {
    serde_json::from_value(envelope.input.clone()).map_err(|e| {
        Error::new(Kind::InvalidInput, format!("the recorded {} input is not valid: {e}", envelope.op))
            .with("op_id", &envelope.id)
    })
}

/// The result of an applied operation.
#[derive(Debug)]
pub struct Applied<O> {
    pub output: O,
    pub op_id: String,
    pub commit: Option<ObjectId>,
    /// An earlier run with the same idempotency key answered this.
    pub replayed: bool,
    /// Compare-and-swap attempts that found the ref moved.
    pub retries: u32,
}

impl<O> Applied<O> {
    /// The commit that carries this operation, when it made one (an
    /// idempotent repeat made none: its answer was recorded earlier).
    pub fn fresh_commit(&self) -> Option<ObjectId> {
        self.commit.filter(|_| !self.replayed)
    }
}

/// What an idempotency key answered, kept in the branch beside the state
/// it produced (`idempotency/…`), so a repeat on any machine finds it.
#[derive(Serialize, Deserialize)]
struct KeyRecord {
    key: String,
    op: String,
    op_id: String,
    at: DateTime<Utc>,
    /// The request's fingerprint; the same key with other arguments is
    /// refused. Absent in records written before orc compared them.
    #[serde(default)]
    args: Option<Value>,
    output: Value,
}

/// A person's name turned into a file name for their event file.
pub fn person_file_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
    out = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(64).collect();
    if name_problem(&out).is_some() {
        "person".into()
    } else {
        out
    }
}

fn key_path(key: &str) -> String {
    let hash = crate::store::hash_bytes(key.as_bytes());
    format!("idempotency/{}/{}/{}.json", &hash[..2], &hash[2..4], &hash[4..])
}

impl<'a> Engine<'a> {
    pub fn new(store: &'a Store, session: &'a Session) -> Self {
        Self { store, session, retries: Cell::new(0) }
    }

    /// Compare-and-swap retries of all operations applied through this
    /// engine (the write queue should keep this at zero on one machine).
    pub fn cas_retries(&self) -> u32 {
        self.retries.get()
    }

    /// Creates the branch (adopting a remote-tracking one, else at the fixed
    /// root commit) if it does not exist yet. Call with the write queue held.
    pub fn ensure_branch_locked(&self, queue: &WriteLock) -> Result<ObjectId> {
        if let Some(tip) = self.store.tip()? {
            return Ok(tip);
        }
        if let Some(adopted) = init::adopt_remote_branch(self, queue)? {
            return Ok(adopted);
        }
        let root = self.store.root_commit(queue, SETTINGS_PATH, ROOT_SETTINGS.as_bytes())?;
        match self.store.compare_and_swap(queue, None, root, "orc: create branch")? {
            Swap::Done => self.session.notice(format!("created branch {} for orc's state", self.store.branch())),
            Swap::Moved => {}
        }
        self.store.tip()?.ok_or_else(|| Error::new(Kind::Git, "the orc branch vanished right after it was created"))
    }

    /// Runs one operation to completion (see the module docs).
    pub fn apply<O: Operation>(&self, op: &O) -> Result<Applied<O::Output>> {
        self.apply_from(op, None)
    }

    /// Runs one operation whose first attempt reads `start` instead of the
    /// tip, as a writer that raced past the queue would: the way to drive
    /// the compare-and-swap retry path deterministically (jj's `--at-op`).
    pub fn apply_at<O: Operation>(&self, op: &O, start: ObjectId) -> Result<Applied<O::Output>> {
        self.apply_from(op, Some(start))
    }

    fn apply_from<O: Operation>(&self, op: &O, start: Option<ObjectId>) -> Result<Applied<O::Output>> {
        let actor = op.actor(&self.session.actor);
        let queue = self.store.lock_writers()?;
        let mut tip = self.ensure_branch_locked(&queue)?;
        if let Some(start) = start {
            tip = start;
        }
        // Time and id are taken in the queue, and the id is made to sort
        // after the tip's: ids then follow commit order, which is what lets
        // `orc events --after <id>` serve as a cursor even when a clock steps
        // back.
        let clock = &self.session.clock;
        let precise = clock.precise_now();
        let now = chrono::SubsecRound::trunc_subsecs(precise, 0);
        let op_id = ulid_after(clock.new_ulid(precise), self.last_op_id(tip)?.as_deref());
        let key = self.session.key.as_ref().map(|k| k.as_str().to_string());
        let mut retries = 0;
        for _ in 0..MAX_ATTEMPTS {
            let snap = Snapshot::at(self.store, Some(tip))?;
            if let Some(key) = &key {
                if let Some(output) = replay_key(&snap, key, O::NAME, &op.fingerprint())? {
                    return Ok(Applied { output, op_id, commit: Some(tip), replayed: true, retries });
                }
            }
            // Checked here, in the queue, so no write can land between the
            // check and this operation's compare-and-swap.
            if let Some(expected) = &self.session.expected_tip {
                if tip.to_string() != *expected {
                    return Err(Error::new(
                        Kind::TipMoved,
                        format!("the branch moved: it is at {tip} now, not {expected}"),
                    )
                    .with("tip", tip.to_string())
                    .with_hint("read again, check the change still makes sense, and send it with the new tip"));
                }
            }
            let (settings, problem) = snap.settings();
            let settings = match &problem {
                Some(problem) => Err(problem),
                None => Ok(&settings),
            };
            let liveness = Liveness::load(self.store, now);
            let env = OpEnv { now, actor: &actor, settings, op_id: &op_id, liveness: &liveness };
            let plan = op.plan(&snap, &env)?;
            if plan.quiet && plan.changes.is_empty() {
                return Ok(Applied { output: plan.output, op_id, commit: None, replayed: false, retries });
            }
            let key_record = key.as_ref().map(|key| {
                let record = KeyRecord {
                    key: key.clone(),
                    op: O::NAME.into(),
                    op_id: op_id.clone(),
                    at: now,
                    args: Some(op.fingerprint()),
                    output: serde_json::to_value(&plan.output).expect("outputs serialise to JSON"),
                };
                (key.clone(), serde_json::to_vec_pretty(&record).expect("plain data"))
            });
            let envelope = Envelope {
                id: op_id.clone(),
                op: O::NAME.into(),
                actor: actor.clone(),
                at: now,
                key: key_record.as_ref().map(|(key, _)| key.clone()),
                input: op.recorded(&plan.output),
                legacy_task: None,
            };
            let commit = self.commit_plan(&queue, &snap, &env, &plan, &envelope, key_record, tip)?;
            match self.store.compare_and_swap(&queue, Some(tip), commit, &format!("orc: {}", plan.subject))? {
                Swap::Done => {
                    drop(queue);
                    // This machine saw its own agent's sign of life as it wrote it.
                    if let (Actor::Agent(agent), false) = (&actor, plan.quiet) {
                        liveness.first_seen(agent, now);
                    }
                    drop(liveness);
                    self.store.start_maintenance_if_due();
                    return Ok(Applied { output: plan.output, op_id, commit: Some(commit), replayed: false, retries });
                }
                Swap::Moved => {
                    retries += 1;
                    self.retries.set(self.retries.get() + 1);
                    self.session.note_cas_retry();
                    let moved_to =
                        self.store.tip()?.ok_or_else(|| Error::new(Kind::Git, "the orc branch was deleted"))?;
                    if self.contains_op(moved_to, tip, &op_id)? {
                        return Ok(Applied {
                            output: plan.output,
                            op_id,
                            commit: Some(moved_to),
                            replayed: false,
                            retries,
                        });
                    }
                    tip = moved_to;
                }
            }
        }
        Err(Error::new(Kind::Busy, format!("gave up after {MAX_ATTEMPTS} attempts: the orc branch keeps moving"))
            .with_hint("something is rewriting the orc branch outside orc's write queue; retry, or stop it"))
    }

    /// Checks the recorded operation `envelope` again on top of `tip`, as
    /// its own actor at its own time with its own id and key, and writes
    /// its commit without moving any ref: the building block of replay
    /// (`orc sync`). Taking the queue as an argument is what keeps a caller
    /// that already holds it from queueing behind itself. Refusals come back
    /// as errors. An operation whose idempotency key is already answered
    /// on `tip` is not applied again: `Ok(None)`.
    pub fn build_on<O: Operation>(
        &self,
        queue: &WriteLock,
        op: &O,
        envelope: &Envelope,
        key_record: Option<Vec<u8>>,
        tip: ObjectId,
    ) -> Result<Option<(O::Output, ObjectId)>> {
        let snap = Snapshot::at(self.store, Some(tip))?;
        if let Some(key) = &envelope.key {
            if snap.file(&key_path(key))?.is_some() {
                return Ok(None);
            }
        }
        let (settings, problem) = snap.settings();
        let settings = match &problem {
            Some(problem) => Err(problem),
            None => Ok(&settings),
        };
        // A replay judges expiry by this machine's observations, now.
        let liveness = Liveness::load(self.store, self.session.clock.now());
        let env =
            OpEnv { now: envelope.at, actor: &envelope.actor, settings, op_id: &envelope.id, liveness: &liveness };
        let plan = op.plan(&snap, &env)?;
        let mut envelope = envelope.clone();
        if envelope.input.is_null() {
            envelope.input = op.recorded(&plan.output);
        }
        let key_record = envelope.key.clone().map(|key| {
            let bytes = key_record.unwrap_or_else(|| {
                let record = KeyRecord {
                    key: key.clone(),
                    op: O::NAME.into(),
                    op_id: envelope.id.clone(),
                    at: envelope.at,
                    args: None,
                    output: serde_json::to_value(&plan.output).expect("outputs serialise to JSON"),
                };
                serde_json::to_vec_pretty(&record).expect("plain data")
            });
            (key, bytes)
        });
        let commit = self.commit_plan(queue, &snap, &env, &plan, &envelope, key_record, tip)?;
        Ok(Some((plan.output, commit)))
    }

    /// Builds a new operation (a fresh id, now) on `tip` as `actor`,
    /// without moving any ref: what a sync adds to what it replays.
    pub fn build_fresh_on<O: Operation>(
        &self,
        queue: &WriteLock,
        op: &O,
        actor: Actor,
        tip: ObjectId,
    ) -> Result<ObjectId> {
        let precise = self.session.clock.precise_now();
        let envelope = Envelope {
            id: ulid_after(self.session.clock.new_ulid(precise), self.last_op_id(tip)?.as_deref()),
            op: O::NAME.into(),
            actor,
            at: chrono::SubsecRound::trunc_subsecs(precise, 0),
            key: None,
            input: Value::Null,
            legacy_task: None,
        };
        let built = self.build_on(queue, op, &envelope, None, tip)?;
        Ok(built.expect("an operation without an idempotency key is never skipped").1)
    }

    /// The operation id recorded in a commit's `Orc-Op` trailer.
    fn last_op_id(&self, commit: ObjectId) -> Result<Option<String>> {
        Ok(Envelope::id_in(&self.store.commit_message(commit)?))
    }

    /// Did an operation with this id land between `old` and `new`?
    fn contains_op(&self, new: ObjectId, old: ObjectId, op_id: &str) -> Result<bool> {
        Ok(self
            .store
            .commits_since(new, Some(old), 1000)?
            .iter()
            .any(|(_, message)| Envelope::id_in(message).as_deref() == Some(op_id)))
    }

    /// Writes the plan's files plus the bookkeeping every operation carries
    /// (its event, the agent's last sign of life, the idempotency record) and
    /// commits them on `tip`. Returns the durable commit, not yet on the ref.
    #[allow(clippy::too_many_arguments)]
    fn commit_plan<O>(
        &self,
        queue: &WriteLock,
        snap: &Snapshot<'_>,
        env: &OpEnv<'_>,
        plan: &Plan<O>,
        envelope: &Envelope,
        key_record: Option<(String, Vec<u8>)>,
        tip: ObjectId,
    ) -> Result<ObjectId> {
        let mut changes = plan.changes.clone();
        if let Some((key, bytes)) = key_record {
            changes.insert(key_path(&key), Some(bytes));
        }
        if !plan.quiet {
            let writer = match env.actor {
                Actor::Agent(name) => name.clone(),
                Actor::Person(name) => person_file_name(name),
            };
            let event = Event {
                id: env.op_id.to_string(),
                ts: env.now,
                agent: writer.clone(),
                kind: plan.event_type.clone().unwrap_or_else(|| envelope.op.clone()),
                data: Value::Object(plan.details.clone()),
            };
            let line = event.to_line();
            let (events_file, mut log) = newest_chunk_with_room(snap, &writer, env.now, line.len())?;
            if !log.is_empty() && !log.ends_with(b"\n") {
                log.push(b'\n');
            }
            log.extend_from_slice(line.as_bytes());
            changes.insert(events_file, Some(log));

            if let Actor::Agent(agent) = env.actor {
                if let std::collections::btree_map::Entry::Vacant(slot) = changes.entry(agent_path(agent)) {
                    // A broken agent file is left alone for a person to fix.
                    let record = match snap.agent(agent) {
                        Ok(Some(existing)) => Some(existing.seen(env.now)),
                        Ok(None) => Some(Agent::new(agent, "", env.now)),
                        Err(_) => None,
                    };
                    if let Some(record) = record {
                        slot.insert(Some(record::render(&record)));
                    }
                }
            }
        }
        let message = envelope.message(&plan.subject);
        let (name, email) = match env.actor {
            Actor::Agent(agent) => (agent.clone(), format!("{agent}@orc.invalid")),
            Actor::Person(person) => (
                person.clone(),
                self.store.git_user().1.unwrap_or_else(|| format!("{}@orc.invalid", person_file_name(person))),
            ),
        };
        let sig = self.store.signature(&name, &email, env.now.timestamp())?;
        self.store.write_commit(Some(queue), Some(tip), &changes, &message, &sig)
    }
}

/// The chunk of `writer`'s events of the day that the next line goes into,
/// and what it holds already: the newest chunk while the line fits, else a
/// new one. Only the chunk folder's listing and one bounded chunk are read,
/// whatever the writer logged before today.
fn newest_chunk_with_room(
    snap: &Snapshot<'_>,
    writer: &str,
    now: chrono::DateTime<chrono::Utc>,
    line_len: usize,
) -> Result<(String, Vec<u8>)> {
    let dir = chunk_dir(writer, now);
    let newest = snap
        .list(&dir)?
        .into_iter()
        .filter(|e| !e.is_tree)
        .filter_map(|e| chunk_number(&e.name).map(|n| (n, e.oid)))
        .max_by_key(|(n, _)| *n);
    let Some((n, oid)) = newest else { return Ok((format!("{dir}/{}", chunk_name(1)), Vec::new())) };
    let path = format!("{dir}/{}", chunk_name(n));
    if snap.store.blob_size(oid)? + line_len > CHUNK_BYTES {
        return Ok((format!("{dir}/{}", chunk_name(n.saturating_add(1))), Vec::new()));
    }
    let bytes = snap.store.read_blob_capped(oid, &path, CHUNK_BYTES)?;
    Ok((path, bytes))
}

/// The bytes of the idempotency record for `key` in `commit`, if any: a
/// replay carries its operation's own record over unchanged.
pub fn key_record_in(store: &Store, commit: ObjectId, key: &str) -> Result<Option<Vec<u8>>> {
    let tree = store.tree_of(commit)?;
    store.read_file(&tree, &key_path(key))
}

/// An earlier operation with this idempotency key, if any: its output.
/// The same key with another operation or other arguments is refused.
fn replay_key<T: DeserializeOwned>(snap: &Snapshot<'_>, key: &str, op: &str, args: &Value) -> Result<Option<T>> {
    let path = key_path(key);
    let Some(bytes) = snap.file(&path)? else { return Ok(None) };
    let record: KeyRecord = serde_json::from_slice(&bytes).map_err(|e| Error::broken_file(&path, Some(e.line()), e))?;
    let other_args = record.args.as_ref().is_some_and(|recorded| recorded != args);
    if record.op != op || other_args {
        let what = if record.op == op { format!("{op} with other arguments") } else { record.op.clone() };
        return Err(Error::new(
            Kind::KeyReused,
            format!("idempotency key {key:?} was already used for {what} at {}", record.at.to_rfc3339()),
        )
        .with("key", key)
        .with_hint("use a new key for a different request"));
    }
    serde_json::from_value(record.output)
        .map(Some)
        .map_err(|e| Error::broken_file(&path, None, format!("stored result does not fit {op}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_names_become_file_names() {
        assert_eq!(person_file_name("Jane Doe"), "Jane-Doe");
        assert_eq!(person_file_name("  ..x"), "x");
        assert_eq!(person_file_name("日本"), "person");
    }

    #[test]
    fn key_paths_are_sharded() {
        let path = key_path("retry-1");
        assert!(path.starts_with("idempotency/"));
        assert_eq!(path.matches('/').count(), 3);
    }
}
