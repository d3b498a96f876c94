//! `a register`, `a heartbeat` and `a rm`.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use crate::error::{Error, Kind, Result};
use crate::model::agent::{agent_path, Agent};
use crate::model::names::{AgentName, Label};
use crate::model::record;
use crate::model::task::Actor;
use crate::read::Snapshot;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RegisterAgent {
    pub agent: AgentName,
    pub role: Label,
}

impl RegisterAgent {
    pub fn new(agent: &str, role: Option<&str>) -> Result<Self> {
        Ok(Self { agent: AgentName::new(agent)?, role: Label::new(role.unwrap_or_default())? })
    }
}

impl Operation for RegisterAgent {
    type Output = Agent;
    const NAME: &'static str = "agent.register";

    fn actor(&self, _session: &Actor) -> Actor {
        Actor::Agent(self.agent.to_string())
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Agent>> {
        // Registering again updates the role and keeps the first registration time.
        let agent = match snap.agent(&self.agent)? {
            Some(existing) => Agent { role: self.role.to_string(), ..existing.seen(env.now) },
            None => Agent::new(&self.agent, &self.role, env.now),
        };
        Ok(Plan::new(
            format!("register {} ({})", self.agent, if self.role.is_empty() { "no role" } else { &self.role }),
            agent.clone(),
        )
        .write(agent_path(&self.agent), record::render(&agent))
        .detail("agent", &self.agent)
        .detail("role", self.role.as_str()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Heartbeat {
    pub agent: AgentName,
    pub status: Option<Label>,
}

impl Operation for Heartbeat {
    type Output = Agent;
    const NAME: &'static str = "agent.heartbeat";

    fn actor(&self, _session: &Actor) -> Actor {
        Actor::Agent(self.agent.to_string())
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Agent>> {
        let mut agent = match snap.agent(&self.agent)? {
            Some(existing) => existing.seen(env.now),
            None => Agent::new(&self.agent, "", env.now),
        };
        if let Some(status) = &self.status {
            agent.status = status.to_string();
        }
        Ok(Plan::new(format!("heartbeat {}", self.agent), agent.clone())
            .write(agent_path(&self.agent), record::render(&agent))
            .detail("agent", &self.agent)
            .detail("status", &agent.status))
    }
}

/// Removes an agent's record (a mistyped `--agent` made one): refused while
/// it holds a claim or a lock, so no work is left with a holder nobody
/// knows. Its events stay, as history.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemoveAgent {
    pub agent: AgentName,
}

impl Operation for RemoveAgent {
    type Output = Agent;
    const NAME: &'static str = "agent.remove";

    fn plan(&self, snap: &Snapshot<'_>, _env: &OpEnv<'_>) -> Result<Plan<Agent>> {
        let name = self.agent.as_str();
        let Some(agent) = snap.agent(name)? else {
            return Err(Error::new(Kind::NotFound, format!("no agent named {name}"))
                .with("agent", name)
                .with_hint("check the name against the list of agents"));
        };
        // Every claim and lock the files give it, expired or not: judging
        // expiry is this machine's view, and a replay elsewhere must decide
        // the same.
        let claims: Vec<String> = snap
            .all_tasks()?
            .items
            .into_iter()
            .filter(|t| t.status == crate::model::task::Status::Claimed && t.claimed_by.as_deref() == Some(name))
            .map(|t| t.id)
            .collect();
        let locks: Vec<String> = crate::read::locks::all_locks(snap)?
            .items
            .into_iter()
            .filter(|l| l.is_held() && l.holder.as_deref() == Some(name))
            .map(|l| l.resource)
            .collect();
        if !claims.is_empty() || !locks.is_empty() {
            let mut held = Vec::new();
            if !claims.is_empty() {
                held.push(format!("claims on {}", claims.join(", ")));
            }
            if !locks.is_empty() {
                held.push(format!("locks on {}", locks.join(", ")));
            }
            return Err(Error::new(
                Kind::AgentBusy,
                format!("cannot remove agent {name}: it holds {}", held.join(" and ")),
            )
            .with("agent", name)
            .with("claims", &claims)
            .with("locks", &locks)
            .with_hint("release or cancel its tasks and release its locks (forced, if it is gone) first"));
        }
        let mut plan =
            Plan::new(format!("remove agent {name}"), agent.clone()).detail("agent", name).detail("role", &agent.role);
        plan.changes.insert(agent_path(name), None);
        Ok(plan)
    }
}
