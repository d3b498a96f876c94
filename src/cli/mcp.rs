//! `orc mcp`: starts the MCP server over stdio with the identity fixed now.

use clap::Args;

use super::output::Output;
use super::{start_dir, Cli};
use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::names::AgentName;

#[derive(Args, Debug)]
pub struct McpArgs {}

/// The agent the server acts as for its whole life: `--agent`, else
/// `ORC_AGENT`, else the worktree's `git config orc.agent`. Without one
/// the server does not start: an MCP client shows a failed start, where
/// every later call failing would be read as orc being broken.
fn identity(cli: &Cli, dir: &std::path::Path) -> Result<AgentName> {
    let named = cli.agent.clone().or_else(|| std::env::var("ORC_AGENT").ok().filter(|a| !a.is_empty()));
    if let Some(name) = named {
        return AgentName::new(&name);
    }
    let configured = Repo::open(dir).ok().map(|repo| repo.configured_agent()).transpose()?.flatten();
    configured.ok_or_else(|| {
        Error::new(Kind::NoAgent, "orc mcp needs to know which agent it serves, and no agent is set")
            .with_hint("set ORC_AGENT=<name> in the server's environment (the env block of the MCP configuration), or run `git config orc.agent <name>` in this worktree")
    })
}

pub fn run(cli: &Cli, _args: &McpArgs) -> Result<Output> {
    let dir = start_dir(cli)?;
    let agent = identity(cli, &dir)?;
    crate::mcp::serve_stdio(crate::mcp::Config { dir, agent: Some(agent) })?;
    Ok(Output::new(serde_json::Value::Null, ""))
}
