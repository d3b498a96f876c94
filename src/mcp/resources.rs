//! Resources: the primer (`orc prime`), an agent's brief (`orc brief`),
//! and the knowledge topics, as Markdown under `orc://` addresses.

use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use rmcp::ErrorData as McpError;

use super::{Call, OrcMcp};
use crate::api::reads;
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::TopicName;
use crate::model::names::AgentName;

const PRIMER: &str = "orc://primer";
const BRIEF: &str = "orc://brief/";
const KB: &str = "orc://kb/";
const MARKDOWN: &str = "text/markdown";

/// Topics listed as resources; more are reachable through the template
/// and `orc_kb`, so a huge knowledge base does not flood the client.
const TOPICS_LISTED: usize = 200;

fn call(server: &OrcMcp, agent: Option<&AgentName>) -> Call {
    Call { server: server.clone(), agent: agent.cloned(), cancel: Default::default(), notices: Default::default() }
}

/// The primer, the acting agent's brief, and the knowledge topics.
pub(super) fn list(server: &OrcMcp, agent: Option<&AgentName>) -> Result<Vec<Resource>> {
    let mut out = vec![Resource::new(PRIMER, "primer")
        .with_description("How to work with orc: the loop, locks, knowledge, errors")
        .with_mime_type(MARKDOWN)];
    if let Some(agent) = agent {
        out.push(
            Resource::new(format!("{BRIEF}{agent}"), format!("brief of {agent}"))
                .with_description("Your claimed tasks or what to take next, locks, related knowledge, recent events")
                .with_mime_type(MARKDOWN),
        );
    }
    let repo = call(server, agent).repo()?;
    let (topics, _broken) = reads::topic_items(&repo)?;
    for topic in topics.iter().take(TOPICS_LISTED) {
        out.push(
            Resource::new(format!("{KB}{}", topic.topic), topic.topic.clone())
                .with_mime_type(MARKDOWN)
                .with_size(topic.size as u64),
        );
    }
    Ok(out)
}

pub(super) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{BRIEF}{{agent}}"), "brief")
            .with_description("An agent's brief")
            .with_mime_type(MARKDOWN),
        ResourceTemplate::new(format!("{KB}{{+topic}}"), "knowledge")
            .with_description("A knowledge topic")
            .with_mime_type(MARKDOWN),
    ]
}

/// Reads one resource. An address orc does not serve, or a topic that does
/// not exist, is `resource not found`; other errors carry their `kind`.
pub(super) fn read(server: &OrcMcp, agent: Option<&AgentName>, uri: &str) -> Result<ReadResourceResult, McpError> {
    let call = call(server, agent);
    let text = if uri == PRIMER {
        let repo = call.repo().map_err(protocol_error)?;
        crate::api::primer::primer(agent.map(AgentName::as_str), repo.branch())
    } else if let Some(name) = uri.strip_prefix(BRIEF) {
        let name = AgentName::new(name).map_err(protocol_error)?;
        let repo = call.repo().map_err(protocol_error)?;
        let session = call.session(None).map_err(protocol_error)?;
        reads::agent_brief(&repo, &session, &name).map_err(protocol_error)?.markdown
    } else if let Some(topic) = uri.strip_prefix(KB) {
        let topic = TopicName::new(topic).map_err(protocol_error)?;
        let repo = call.repo().map_err(protocol_error)?;
        reads::topic_item(&repo, &topic).map_err(protocol_error)?.text.unwrap_or_default()
    } else {
        return Err(McpError::resource_not_found(
            format!("orc serves no resource {}", crate::model::names::printable(uri)),
            Some(serde_json::json!({"kind": Kind::NotFound.as_str()})),
        ));
    };
    Ok(ReadResourceResult::new(vec![ResourceContents::text(text, uri).with_mime_type(MARKDOWN)]))
}

/// A library error where the protocol wants one of its own: "not found"
/// as `resource not found`, the rest as invalid parameters (bad input) or
/// an internal error (the environment), each with the `{"error": …}`
/// document as its data.
pub(super) fn protocol_error(err: Error) -> McpError {
    let err = super::clipped(err);
    let data = Some(err.to_json());
    match err.kind.class() {
        _ if err.kind == Kind::NotFound => McpError::resource_not_found(err.message.clone(), data),
        crate::error::Class::Input | crate::error::Class::Refused => {
            McpError::invalid_params(err.message.clone(), data)
        }
        crate::error::Class::Environment => McpError::internal_error(err.message.clone(), data),
    }
}
