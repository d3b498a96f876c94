//! `orc init`: create the branch at the fixed root commit, or adopt one that
//! already exists as a remote-tracking branch.

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::error::Result;
use crate::store::{ObjectId, Store, Swap, WriteLock};

/// The remote orc coordinates through: git config `orc.remote`, else `origin`.
pub fn remote_name(store: &Store) -> Option<String> {
    store.config_string("orc.remote").or_else(|| store.remote_names().into_iter().find(|r| r == "origin"))
}

/// Points the local branch at `refs/remotes/<remote>/<branch>` when only the
/// remote-tracking branch exists. Call with the write queue held.
pub fn adopt_remote_branch(orc: &Engine<'_>, queue: &WriteLock) -> Result<Option<ObjectId>> {
    let mut remotes: Vec<String> = remote_name(orc.store).into_iter().collect();
    for other in orc.store.remote_names() {
        if !remotes.contains(&other) {
            remotes.push(other);
        }
    }
    for remote in remotes {
        let tracking = format!("refs/remotes/{remote}/{}", orc.store.branch());
        if let Some(target) = orc.store.resolve(&tracking)? {
            if orc.store.create_ref(queue, target, &format!("orc: adopt {remote}/{}", orc.store.branch()))?
                == Swap::Done
            {
                orc.session.notice(format!("adopted {remote}/{} as the orc branch", orc.store.branch()));
            }
            return orc.store.tip();
        }
    }
    Ok(None)
}

/// What `orc init` found or did.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitOutcome {
    pub branch: String,
    /// `created`, `adopted` or `existing`.
    pub state: String,
    pub tip: String,
    pub remote: Option<String>,
}

/// Makes sure the branch exists; idempotent.
pub fn init(orc: &Engine<'_>) -> Result<InitOutcome> {
    let state;
    let tip = match orc.store.tip()? {
        Some(tip) => {
            state = "existing";
            tip
        }
        None => {
            let queue = orc.store.lock_writers()?;
            let adopted = adopt_remote_branch(orc, &queue)?;
            match adopted {
                Some(tip) => {
                    state = "adopted";
                    tip
                }
                None => {
                    state = "created";
                    orc.ensure_branch_locked(&queue)?
                }
            }
        }
    };
    Ok(InitOutcome {
        branch: orc.store.branch().into(),
        state: state.into(),
        tip: tip.to_string(),
        remote: remote_name(orc.store),
    })
}
