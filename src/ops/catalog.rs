//! Every operation, listed once: its name, its input type, and how a
//! recorded one is checked again on another tip. Replay reads this table,
//! and the HTTP and MCP front ends will too.
//!
//! Rules this module keeps:
//! - `Operation` requires the sealed `Catalogued`, implemented only by the
//!   `catalog!` list below: an operation left out of the list does not
//!   compile, and a name listed twice fails `names_are_unique`.
//! - Decoding goes through each input's validated types; nothing here
//!   inspects input fields by hand.

use super::replay::Recorded;
use super::trailer::Envelope;
use super::{key_record_in, Engine, Operation, RecordSource};
use crate::error::{Error, Kind, Result};
use crate::store::{ObjectId, WriteLock};

mod sealed {
    /// Implemented only by the catalog below.
    pub trait Catalogued {}
}
pub(crate) use sealed::Catalogued;

/// Replays one recorded operation on `onto`: `Some(commit)` when it still
/// holds, `None` when its idempotency key was already answered there.
type ReplayFn = fn(&Engine<'_>, &WriteLock, &Recorded, ObjectId) -> Result<Option<ObjectId>>;

/// One operation's entry.
pub struct Entry {
    /// The stable name recorded in the trailer (`task.claim`).
    pub name: &'static str,
    pub replay: ReplayFn,
}

fn replay_as<O: Operation>(
    orc: &Engine<'_>,
    queue: &WriteLock,
    rec: &Recorded,
    onto: ObjectId,
) -> Result<Option<ObjectId>> {
    let source = RecordSource { store: orc.store, commit: rec.commit };
    let op = O::from_record(&rec.envelope, &source)?;
    let key_record = match &rec.envelope.key {
        Some(key) => key_record_in(orc.store, rec.commit, key)?,
        None => None,
    };
    Ok(orc.build_on(queue, &op, &rec.envelope, key_record, onto)?.map(|(_, commit)| commit))
}

macro_rules! catalog {
    ($($op:ty),* $(,)?) => {
        $(impl Catalogued for $op {})*

        /// Every operation orc knows, in no particular order.
        pub static CATALOG: &[Entry] = &[$(Entry { name: <$op as Operation>::NAME, replay: replay_as::<$op> }),*];
    };
}

catalog!(
    super::workstream::CreateWorkstream,
    super::task::AddTask,
    super::bulk::AddTasks,
    super::task::ClaimTask,
    super::task::FinishTask,
    super::task::ChangeTask,
    super::task::EditTask,
    super::workstream::ArchiveWorkstream,
    super::agent::RemoveAgent,
    super::agent::RegisterAgent,
    super::agent::Heartbeat,
    super::lock::AcquireLock,
    super::lock::ReleaseLock,
    super::events::LogEvent,
    super::events::HookEvent,
    super::knowledge::WriteTopic,
    super::knowledge::RemoveTopic,
    super::knowledge::ImportTopics,
    super::cycle::WritePlan,
    super::cycle::CloseCycle,
    super::dashboard::RenderDashboard,
    super::config::SetConfig,
);

/// The catalog entry for a recorded operation name.
pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// Replays a recorded operation through its catalog entry.
pub fn replay(orc: &Engine<'_>, queue: &WriteLock, rec: &Recorded, onto: ObjectId) -> Result<Option<ObjectId>> {
    match entry(&rec.envelope.op) {
        Some(entry) => (entry.replay)(orc, queue, rec, onto),
        None => Err(unknown(&rec.envelope)),
    }
}

fn unknown(envelope: &Envelope) -> Error {
    Error::new(
        Kind::UnknownOperation,
        format!("{} is not an operation this orc knows (made by a newer orc?)", envelope.op),
    )
    .with("op", &envelope.op)
    .with_hint("upgrade orc on this machine, then sync again")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "an operation name is listed twice");
    }

    #[test]
    fn input_schemas_carry_the_checks_clients_must_pass() {
        let schema = serde_json::to_value(schemars::schema_for!(crate::ops::task::AddTask)).unwrap();
        let text = schema.to_string();
        assert!(text.contains("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"), "workstream pattern missing: {text}");
        assert!(text.contains("\"maximum\":9"), "priority range missing: {text}");
    }
}
