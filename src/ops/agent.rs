//! `a register` and `a heartbeat`.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use crate::error::Result;
use crate::model::agent::{agent_path, Agent};
use crate::model::names::{AgentName, Label};
use crate::model::record;
use crate::model::task::Actor;
use crate::read::Snapshot;

#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
