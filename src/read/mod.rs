//! The read side: what the branch says at one commit, and the models built
//! from it (the task board, events, locks as this machine judges them,
//! knowledge, cycle plans and reports).
//!
//! Rules this module keeps:
//! - Nothing here writes to the branch or moves a ref; writes live in
//!   `ops`. (Two caches are kept outside the branch, under the git dir: the
//!   task cache, the task index and this machine's observations.)
//! - Branch content is untrusted: names are allow-listed per path
//!   component, sizes capped before parsing, and a broken file is reported
//!   (`Loaded::broken`) without stopping what does not need it.

pub mod board;
pub mod cache;
pub mod cycle;
pub mod events;
pub mod index;
pub mod knowledge;
pub mod liveness;
pub mod locks;
pub mod snapshot;

pub use snapshot::Snapshot;

use crate::error::Error;

/// Records that parsed, and the files that did not.
#[derive(Debug)]
pub struct Loaded<T> {
    pub items: Vec<T>,
    pub broken: Vec<Error>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Self { items: Vec::new(), broken: Vec::new() }
    }
}
