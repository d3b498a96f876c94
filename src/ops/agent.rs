//! `a register` and `a heartbeat`.

use serde::{Deserialize, Serialize};

use super::view::Snapshot;
use super::{OpEnv, Operation, Orc, Plan};
use crate::error::{Error, Result};
use crate::model::agent::{agent_path, Agent};
use crate::model::names::{check_name, NameKind};
use crate::model::record;
use crate::model::task::Actor;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterAgent {
    pub agent: String,
    pub role: String,
}

impl RegisterAgent {
    pub fn new(agent: &str, role: Option<&str>) -> Result<Self> {
        check_name(NameKind::Agent, agent)?;
        let role = role.unwrap_or_default();
        if role.chars().count() > 200 || role.chars().any(char::is_control) {
            return Err(Error::input("invalid_input", "a role is at most 200 printable characters"));
        }
        Ok(Self { agent: agent.into(), role: role.into() })
    }
}

impl Operation for RegisterAgent {
    type Output = Agent;
    const NAME: &'static str = "agent.register";

    fn actor(&self, _orc: &Orc) -> Result<Actor> {
        Ok(Actor::Agent(self.agent.clone()))
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Agent>> {
        // Registering again updates the role and keeps the first registration time.
        let agent = match snap.agent(&self.agent)? {
            Some(existing) => Agent { role: self.role.clone(), ..existing.seen(env.now) },
            None => Agent::new(&self.agent, &self.role, env.now),
        };
        Ok(Plan::new(
            format!("register {} ({})", self.agent, if self.role.is_empty() { "no role" } else { &self.role }),
            agent.clone(),
        )
        .write(agent_path(&self.agent), record::render(&agent))
        .detail("agent", &self.agent)
        .detail("role", &self.role))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent: String,
    pub status: Option<String>,
}

impl Operation for Heartbeat {
    type Output = Agent;
    const NAME: &'static str = "agent.heartbeat";

    fn actor(&self, _orc: &Orc) -> Result<Actor> {
        Ok(Actor::Agent(self.agent.clone()))
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Agent>> {
        if let Some(status) = &self.status {
            if status.chars().count() > 200 || status.chars().any(char::is_control) {
                return Err(Error::input("invalid_input", "a status is at most 200 printable characters"));
            }
        }
        let mut agent = match snap.agent(&self.agent)? {
            Some(existing) => existing.seen(env.now),
            None => Agent::new(&self.agent, "", env.now),
        };
        if let Some(status) = &self.status {
            agent.status = status.clone();
        }
        Ok(Plan::new(format!("heartbeat {}", self.agent), agent.clone())
            .write(agent_path(&self.agent), record::render(&agent))
            .detail("agent", &self.agent)
            .detail("status", &agent.status))
    }
}
