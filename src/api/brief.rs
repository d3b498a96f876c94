//! An agent's brief (DESIGN §6), for front ends that hand one to an agent
//! (`orc work` writes it into the task's worktree).

use super::Repo;
use crate::error::Result;
use crate::model::names::AgentName;
use crate::model::task::Terms;
use crate::read::cycle::{compute_brief, Brief};
use crate::session::Session;

/// `agent`'s brief now: its claimed tasks with their descriptions, the
/// locks it holds, the knowledge that bears on them, and how to report.
pub fn agent_brief(repo: &Repo, session: &Session, agent: &AgentName) -> Result<Brief> {
    repo.read(|snap| {
        let settings = snap.settings().0;
        let terms = Terms { now: session.clock.now(), lease: settings.lease, grace: settings.expiry_slack };
        compute_brief(snap, &terms, Some(agent.as_str()), None)
    })
}
