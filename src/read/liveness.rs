//! Signs of life as this machine observed them: the half of claim expiry
//! that no other machine's clock can touch (DESIGN §4).
//!
//! A claim lives while its holder shows signs of life: the holder's agent
//! record carries the time of its last published operation (`last_seen`,
//! written by the holder's clock). This machine never compares that time
//! with its own clock. It records when it first saw each value, in
//! `<git-common-dir>/orc/observed-agents`, and a claim expires one whole
//! lease (plus the slack) after this machine first saw the holder's current
//! sign of life. A value seen for the first time counts as seen now. Losing
//! the file only makes expiry more patient.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::store::Store;

/// When this machine first saw each agent's current sign of life.
#[derive(Debug)]
pub struct Liveness {
    path: PathBuf,
    now: DateTime<Utc>,
    /// agent → (the written `last_seen` seen, when this machine first saw it).
    seen: RefCell<HashMap<String, (i64, i64)>>,
    dirty: RefCell<bool>,
}

impl Liveness {
    /// Loads this machine's observations; `now` stamps new sightings.
    pub fn load(store: &Store, now: DateTime<Utc>) -> Self {
        let path = store.private_dir().join("observed-agents");
        let mut seen = HashMap::new();
        for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
            if let [agent, written, first] = line.split(' ').collect::<Vec<_>>()[..] {
                if let (Ok(written), Ok(first)) = (written.parse(), first.parse()) {
                    seen.insert(agent.to_string(), (written, first));
                }
            }
        }
        Self { path, now, seen: RefCell::new(seen), dirty: RefCell::new(false) }
    }

    /// When this machine first saw `agent` with this `last_seen`; records
    /// now when it never did.
    pub fn first_seen(&self, agent: &str, last_seen: DateTime<Utc>) -> DateTime<Utc> {
        let written = last_seen.timestamp();
        let mut seen = self.seen.borrow_mut();
        match seen.get(agent) {
            Some((value, first)) if *value == written => DateTime::from_timestamp(*first, 0).unwrap_or(self.now),
            _ => {
                seen.insert(agent.to_string(), (written, self.now.timestamp()));
                *self.dirty.borrow_mut() = true;
                self.now
            }
        }
    }

    /// Writes new sightings; best effort (a lost file costs patience only).
    pub fn save(&self) {
        if !self.dirty.replace(false) {
            return;
        }
        let text: String = self.seen.borrow().iter().map(|(a, (w, f))| format!("{a} {w} {f}\n")).collect();
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).expect("the OS random generator is available on every supported platform");
        let tmp = self.path.with_extension(format!("tmp-{}-{:08x}", std::process::id(), u32::from_le_bytes(salt)));
        if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &self.path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        self.save();
    }
}
