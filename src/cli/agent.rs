//! `orc a register|heartbeat|list|rm`.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::lazy::Lazy;
use super::output::{agent_json, agent_line, Output};
use super::Ctx;
use crate::error::Result;
use crate::model::names::AgentName;
use crate::ops::agent::{Heartbeat, RegisterAgent, RemoveAgent};
use crate::read::Snapshot;

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Register an agent (again, to change its role)
    ///
    /// Example: orc a register agent-1 worker
    Register(Lazy<RegisterArgs>),
    /// Report that an agent is alive; keeps its claims from lapsing
    ///
    /// Example: orc a heartbeat agent-1 --status "running tests"
    Heartbeat(Lazy<HeartbeatArgs>),
    /// List agents with their last sign of life
    ///
    /// Example: orc a list --json
    #[command(visible_alias = "ls")]
    List,
    /// Remove an agent's record (refused while it holds claims or locks)
    ///
    /// Example: orc a rm agnet-1
    #[command(visible_alias = "remove")]
    Rm(Lazy<RmArgs>),
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Agent name
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// Agent name: letters, digits, '.', '_' and '-', up to 64
    pub id: String,
    /// What the agent does (worker, reviewer, …)
    pub role: Option<String>,
}

#[derive(Args, Debug)]
pub struct HeartbeatArgs {
    /// Agent name; default: --agent, ORC_AGENT or git config orc.agent
    pub id: Option<String>,
    /// What the agent is doing, shown by `orc a list`
    #[arg(long)]
    pub status: Option<String>,
}

pub fn run(orc: &Ctx, cmd: &AgentCommand) -> Result<Output> {
    match cmd {
        AgentCommand::Register(args) => {
            let applied = orc.apply(&RegisterAgent::new(&args.id, args.role.as_deref())?)?;
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let settings = orc.settings(&snap);
            let agent = applied.output;
            let role = if agent.role.is_empty() { String::new() } else { format!(" as {}", agent.role) };
            Ok(Output::new(agent_json(&agent, &settings, orc.now()), format!("registered {}{role}", agent.id)))
        }
        AgentCommand::Heartbeat(args) => {
            let agent = orc.agent(args.id.as_deref())?;
            let status = args.status.as_deref().map(crate::model::names::Label::new).transpose()?;
            let applied = orc.apply(&Heartbeat { agent, status })?;
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let settings = orc.settings(&snap);
            let agent = applied.output;
            Ok(Output::new(agent_json(&agent, &settings, orc.now()), format!("{} is alive", agent.id)))
        }
        AgentCommand::Rm(args) => {
            let applied = orc.apply(&RemoveAgent { agent: AgentName::new(&args.id)? })?;
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let settings = orc.settings(&snap);
            let agent = applied.output;
            Ok(Output::new(agent_json(&agent, &settings, orc.now()), format!("removed agent {}", agent.id)))
        }
        AgentCommand::List => {
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let settings = orc.settings(&snap);
            let now = orc.now();
            let mut agents = snap.agents()?;
            agents.items.sort_by(|a, b| a.id.cmp(&b.id));
            let json: Vec<Value> = agents.items.iter().map(|a| agent_json(a, &settings, now)).collect();
            let human: String = agents.items.iter().map(|a| agent_line(a, &settings, now) + "\n").collect();
            let mut output = Output::new(Value::Array(json), human).warn_broken(&agents.broken);
            if agents.items.is_empty() {
                output.warnings.push("no agents yet; register one with `orc a register <name> [role]`".into());
            }
            Ok(output)
        }
    }
}
