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
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::store::Store;

/// Lines past which the file is rewritten, beyond two per agent: new
/// sightings are appended (no new file per command), so the file holds
/// superseded lines until then.
const SPARE_LINES: usize = 32;

/// When this machine first saw each agent's current sign of life.
///
/// The file holds one line per sighting, `<agent> <written> <first>`, in
/// the order they were made; a later line for an agent supersedes an
/// earlier one with another written value (an agent's sign of life only
/// moves on), and of two lines with the same value the earlier sighting
/// counts. A line cut short by a crash does not parse into three fields
/// and is skipped.
#[derive(Debug)]
pub struct Liveness {
    path: PathBuf,
    now: DateTime<Utc>,
    /// agent → (the written `last_seen` seen, when this machine first saw it).
    seen: RefCell<HashMap<String, (i64, i64)>>,
    /// Lines the file held when loaded.
    lines: usize,
    /// Sightings made since, to append.
    fresh: RefCell<Vec<String>>,
}

impl Liveness {
    /// Loads this machine's observations; `now` stamps new sightings.
    pub fn load(store: &Store, now: DateTime<Utc>) -> Self {
        let path = store.private_dir().join("observed-agents");
        let mut seen: HashMap<String, (i64, i64)> = HashMap::new();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines = 0;
        for line in text.lines() {
            lines += 1;
            if let [agent, written, first] = line.split(' ').collect::<Vec<_>>()[..] {
                if let (Ok(written), Ok(first)) = (written.parse(), first.parse()) {
                    match seen.get_mut(agent) {
                        Some((value, earliest)) if *value == written => *earliest = (*earliest).min(first),
                        _ => {
                            seen.insert(agent.to_string(), (written, first));
                        }
                    }
                }
            }
        }
        Self { path, now, seen: RefCell::new(seen), lines, fresh: RefCell::new(Vec::new()) }
    }

    /// When this machine first saw `agent` with this `last_seen`; records
    /// now when it never did.
    pub fn first_seen(&self, agent: &str, last_seen: DateTime<Utc>) -> DateTime<Utc> {
        let written = last_seen.timestamp();
        let mut seen = self.seen.borrow_mut();
        match seen.get(agent) {
            Some((value, first)) if *value == written => DateTime::from_timestamp(*first, 0).unwrap_or(self.now),
            _ => {
                let now = self.now.timestamp();
                seen.insert(agent.to_string(), (written, now));
                self.fresh.borrow_mut().push(format!("{agent} {written} {now}\n"));
                self.now
            }
        }
    }

    /// Writes new sightings; best effort (a lost file costs patience only).
    /// They are appended in one write; past the spare lines the file is
    /// replaced by its current sightings (a sighting another process
    /// appended meanwhile may be lost with the old file: patience again).
    pub fn save(&self) {
        let fresh = std::mem::take(&mut *self.fresh.borrow_mut());
        if fresh.is_empty() {
            return;
        }
        let seen = self.seen.borrow();
        if self.lines + fresh.len() <= 2 * seen.len() + SPARE_LINES {
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)
                .and_then(|mut file| file.write_all(fresh.concat().as_bytes()));
            if appended.is_ok() {
                return;
            }
        }
        let text: String = seen.iter().map(|(a, (w, f))| format!("{a} {w} {f}\n")).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let store = Store::discover(dir.path()).unwrap();
        std::fs::create_dir_all(store.private_dir()).unwrap();
        (dir, store)
    }

    fn file(store: &Store) -> String {
        std::fs::read_to_string(store.private_dir().join("observed-agents")).unwrap()
    }

    #[test]
    fn sightings_are_appended_and_the_first_one_of_a_value_counts() {
        let (_dir, store) = store();
        let first = Liveness::load(&store, at(1000));
        assert_eq!(first.first_seen("a1", at(900)), at(1000), "never seen: seen now");
        drop(first);
        assert_eq!(file(&store), "a1 900 1000\n");

        let later = Liveness::load(&store, at(2000));
        assert_eq!(later.first_seen("a1", at(900)), at(1000), "the same value: when it was first seen");
        assert_eq!(later.first_seen("a1", at(1900)), at(2000), "a new value: seen now");
        assert_eq!(later.first_seen("a2", at(1950)), at(2000));
        drop(later);
        assert_eq!(file(&store), "a1 900 1000\na1 1900 2000\na2 1950 2000\n", "appended, nothing rewritten");

        // Two processes that saw the same value append it twice: the earlier counts.
        let path = store.private_dir().join("observed-agents");
        std::fs::write(&path, format!("{}a1 1900 1500\n", file(&store))).unwrap();
        assert_eq!(Liveness::load(&store, at(3000)).first_seen("a1", at(1900)), at(1500));
    }

    #[test]
    fn a_line_cut_short_is_skipped() {
        let (_dir, store) = store();
        let path = store.private_dir().join("observed-agents");
        std::fs::write(&path, "a1 900 1000\na2 95").unwrap();
        let seen = Liveness::load(&store, at(2000));
        assert_eq!(seen.first_seen("a1", at(900)), at(1000));
        assert_eq!(seen.first_seen("a2", at(950)), at(2000), "the cut line counts as never seen");
    }

    #[test]
    fn superseded_lines_are_dropped_once_they_pile_up() {
        let (_dir, store) = store();
        for i in 0..(SPARE_LINES as i64 + 10) {
            let seen = Liveness::load(&store, at(1000 + i));
            seen.first_seen("a1", at(500 + i));
        }
        let text = file(&store);
        assert!(text.lines().count() <= 2 + SPARE_LINES, "{text}");
        let last = SPARE_LINES as i64 + 9;
        assert_eq!(Liveness::load(&store, at(5000)).first_seen("a1", at(500 + last)), at(1000 + last));
    }
}
