//! What each route accepts: request bodies and query strings, with the
//! seed's field names (`name`, `title`, `agent`, `result`, `content`,
//! `resource`, `ttl` in milliseconds) and orc's additions. Fields are the
//! library's validated types, so a body that names a bad value fails to
//! decode (422) and no operation is ever built from it; the same types
//! give the OpenAPI document its schemas.
//!
//! Unknown fields are ignored, as the seed ignored them (`estimate`,
//! `capabilities`).

use chrono::Duration;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Kind, Result};
use crate::model::knowledge::TopicName;
use crate::model::names::{AgentName, Label, ResourceName, WorkstreamName};
use crate::model::task::{Priority, Text, Title};

/// `POST /api/workstreams`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NewWorkstream {
    pub name: WorkstreamName,
    #[serde(default)]
    pub description: Option<Text>,
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// `POST /api/workstreams/{ws}/tasks`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NewTask {
    pub title: Title,
    #[serde(default)]
    pub description: Option<Text>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Ids (or unique prefixes) of tasks that must be done first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Shared resources (lock names) the work touches.
    #[serde(default)]
    pub resources: Vec<ResourceName>,
}

/// Claim, next, release, retry: who acts.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ActAs {
    /// The acting agent; claim and next need one. Without it the server's
    /// git user acts, as a person.
    #[serde(default)]
    pub agent: Option<AgentName>,
    /// For next: only this workstream (the path names it on the seed's route).
    #[serde(default)]
    pub workstream: Option<WorkstreamName>,
}

/// Complete or fail a task.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct FinishBody {
    /// The agent holding the claim; without it the server's git user
    /// finishes the task as a person.
    #[serde(default)]
    pub agent: Option<AgentName>,
    /// The result (complete) or reason (fail).
    #[serde(default, alias = "reason")]
    pub result: Option<Text>,
    /// The claim token from claim or next; refused if the claim changed since.
    #[serde(default)]
    pub token: Option<u64>,
}

/// Cancel a task.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CancelBody {
    #[serde(default)]
    pub agent: Option<AgentName>,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// `POST /api/agents`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NewAgent {
    #[serde(alias = "name")]
    pub id: AgentName,
    /// The seed called it `type`.
    #[serde(default, alias = "type")]
    pub role: Option<Label>,
}

/// `POST /api/agents/{id}/heartbeat`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct HeartbeatBody {
    /// A short status line shown beside the agent.
    #[serde(default)]
    pub status: Option<Label>,
}

/// `PUT` (write) and `POST` (append) `/api/knowledge/{topic}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct KnowledgeBody {
    /// Markdown, at most 4 MiB.
    #[serde(alias = "text")]
    pub content: String,
    #[serde(default)]
    pub agent: Option<AgentName>,
}

/// `POST /api/locks`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NewLock {
    pub resource: ResourceName,
    pub agent: AgentName,
    /// How long the lock lasts unless renewed; default 60 s.
    #[serde(default)]
    pub ttl: Option<LockTtl>,
}

/// `DELETE /api/locks/{resource}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ReleaseLockBody {
    /// The holder; without it the server's git user acts, which only
    /// `force` allows.
    #[serde(default)]
    pub agent: Option<AgentName>,
    /// Release a lock someone else holds (logged).
    #[serde(default)]
    pub force: bool,
}

/// `POST /api/sync`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SyncBody {
    /// Default: git config orc.remote, else origin.
    #[serde(default)]
    pub remote: Option<String>,
    /// The remote's branch was rewritten: replay local operations onto it anyway.
    #[serde(default)]
    pub accept_rewrite: bool,
}

/// A lock's time to live: milliseconds as the seed sent them (a whole
/// number of seconds, 1 s to 7 d), or a duration such as `"90s"` or `"5m"`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "Value")]
pub struct LockTtl(pub Duration);

impl TryFrom<Value> for LockTtl {
    type Error = Error;
    fn try_from(value: Value) -> Result<Self> {
        let ttl = match &value {
            Value::Number(n) => match n.as_i64() {
                Some(ms) if ms > 0 && ms % 1000 == 0 => Duration::milliseconds(ms),
                _ => {
                    return Err(Error::new(
                        Kind::InvalidInput,
                        format!("ttl {n} is not a whole number of seconds in milliseconds"),
                    )
                    .with_hint("send milliseconds such as 60000, or a duration such as \"5m\""))
                }
            },
            Value::String(text) => crate::model::duration::parse_duration(text)
                .map_err(|e| Error::new(Kind::InvalidInput, format!("ttl: {e}")))?,
            _ => return Err(Error::new(Kind::InvalidInput, "ttl is milliseconds or a duration such as \"5m\"")),
        };
        crate::api::inputs::check_ttl(ttl)?;
        Ok(Self(ttl))
    }
}

impl JsonSchema for LockTtl {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LockTtl".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "milliseconds (whole seconds, 1 s to 7 d) or a duration such as \"90s\", \"5m\", \"2h\"",
            "oneOf": [
                { "type": "integer", "minimum": 1000, "maximum": 604_800_000, "multipleOf": 1000 },
                { "type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)?$" }
            ]
        })
    }
}

/// `GET /api/workstreams/{ws}/tasks` and `GET /api/tasks`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TaskQuery {
    /// open, claimed, done, failed or cancelled.
    #[serde(default)]
    pub status: Option<String>,
    /// Only tasks this agent holds now.
    #[serde(default, alias = "holder")]
    pub agent: Option<AgentName>,
    /// `GET /api/tasks` only: one workstream.
    #[serde(default)]
    pub workstream: Option<WorkstreamName>,
}

/// `GET /api/ready`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ReadyQuery {
    #[serde(default)]
    pub workstream: Option<WorkstreamName>,
}

/// `GET /api/events`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EventsQuery {
    /// Only this agent's events.
    #[serde(default)]
    pub agent: Option<String>,
    /// Only events of this type (the seed called it `action`).
    #[serde(default, rename = "type", alias = "action")]
    pub kind: Option<String>,
    /// A time, a date, or a duration back from now (`15m`).
    #[serde(default)]
    pub since: Option<String>,
    /// Only events after this event id (a cursor).
    #[serde(default)]
    pub after: Option<String>,
    /// Only the newest N (default 20 when neither since nor after is given).
    #[serde(default)]
    pub last: Option<usize>,
}

/// `GET /api/tasks/{id}/wait`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct WaitQuery {
    /// Give up after this long (`30s`, `5m`; at most 5m; default 30s).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// A topic as a path parameter, checked.
pub fn topic_name(text: &str) -> Result<TopicName> {
    TopicName::new(text)
}
