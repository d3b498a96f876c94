//! Replaying operations on top of another tip: the heart of `orc sync`.
//!
//! Every commit orc makes carries its operation in the `Orc-Op` trailer
//! (name, whole input, actor, time, id, key). To publish local work onto a
//! remote that moved, each local operation the remote lacks is checked
//! again, in order, on top of the remote's tip, as the same actor at the
//! same time with the same id, through the catalog. One that no longer
//! holds (a claim another machine won) is dropped with the refusal that
//! says why; the rest become new commits.
//!
//! Exactly once: an operation whose id is already on the tip it would
//! extend (a publish killed after its push landed) is skipped, never
//! applied twice, and so is one whose idempotency key is answered there.
//! Replay runs only with the write queue held, passed in by the caller.

use std::collections::HashSet;

use super::trailer::Envelope;
use super::{catalog, Engine};
use crate::error::{Class, Error, Kind, Result};
use crate::store::{ObjectId, WriteLock};

/// One operation as a commit recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub commit: ObjectId,
    pub envelope: Envelope,
    /// The commit subject without `orc: `.
    pub subject: String,
}

/// What replaying one operation did.
#[derive(Debug)]
pub enum Replayed {
    /// Checked again and written as this new commit.
    Applied(ObjectId),
    /// Already on the tip (same operation id, or its idempotency key was
    /// answered there): not applied again.
    AlreadyThere,
    /// No longer holds on the new tip; the refusal says why.
    Dropped(Error),
}

/// The operation a commit records, or None for a commit without a trailer
/// (the root, or a hand edit).
pub fn recorded(orc: &Engine<'_>, commit: ObjectId) -> Result<Option<Recorded>> {
    let message = orc.store.commit_message(commit)?;
    let subject = message.lines().next().unwrap_or_default().trim_start_matches("orc: ").to_string();
    Ok(Envelope::parse(&message, &commit.to_string())?.map(|envelope| Recorded { commit, envelope, subject }))
}

/// The operations on `local` that `base` lacks, oldest first.
pub fn local_only(orc: &Engine<'_>, local: ObjectId, base: Option<ObjectId>) -> Result<Vec<Recorded>> {
    let mut out = Vec::new();
    for (commit, _) in orc.store.commits_since(local, base, usize::MAX)?.into_iter().rev() {
        match recorded(orc, commit)? {
            Some(rec) => out.push(rec),
            None => {
                return Err(Error::new(
                    Kind::Unreplayable,
                    format!("commit {commit} on the local orc branch carries no Orc-Op trailer and cannot be replayed"),
                )
                .with("commit", commit.to_string())
                .with_hint(
                    "a hand edit on the local branch: redo it on the remote, then `git branch -f orc <remote>/orc`",
                ))
            }
        }
    }
    Ok(out)
}

/// The operation ids recorded on `tip` but not on `base`: what a replay
/// onto `tip` must not apply again.
pub fn op_ids_between(orc: &Engine<'_>, tip: ObjectId, base: Option<ObjectId>) -> Result<HashSet<String>> {
    Ok(orc
        .store
        .commits_since(tip, base, usize::MAX)?
        .iter()
        .filter_map(|(_, message)| Envelope::id_in(message))
        .collect())
}

/// Checks one recorded operation again on top of `onto`.
pub fn replay_one(orc: &Engine<'_>, queue: &WriteLock, rec: &Recorded, onto: ObjectId) -> Result<Replayed> {
    match catalog::replay(orc, queue, rec, onto) {
        Ok(Some(commit)) => Ok(Replayed::Applied(commit)),
        Ok(None) => Ok(Replayed::AlreadyThere),
        // A refusal, or input that no longer fits the state: dropped.
        Err(e) if e.class != Class::Environment => Ok(Replayed::Dropped(e)),
        Err(e) => Err(e),
    }
}

/// Replays `ops` in order on top of `onto`, skipping those whose id is in
/// `already_there`; returns the new tip and what happened to each.
pub fn replay_all(
    orc: &Engine<'_>,
    queue: &WriteLock,
    ops: Vec<Recorded>,
    onto: ObjectId,
    already_there: &HashSet<String>,
) -> Result<(ObjectId, Vec<(Recorded, Replayed)>)> {
    let mut tip = onto;
    let mut outcomes = Vec::with_capacity(ops.len());
    for rec in ops {
        let outcome = if already_there.contains(&rec.envelope.id) {
            Replayed::AlreadyThere
        } else {
            replay_one(orc, queue, &rec, tip)?
        };
        if let Replayed::Applied(commit) = &outcome {
            tip = *commit;
        }
        outcomes.push((rec, outcome));
    }
    Ok((tip, outcomes))
}
