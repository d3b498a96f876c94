//! The event log: `orc log` (an agent's own event) and queries over
//! `events/<yyyy>/<mm>/<dd>/<agent>/<n>.jsonl` (model::event).
//!
//! Queries walk day folders, never the whole log: `--last N` starts at the
//! newest day and reads only the tail of each file (one writer appends to a
//! file, so its lines are in time order), `--since` and `--after` start at
//! the day they name.

use serde_json::Value;

use super::{OpEnv, Operation, Plan};
use crate::error::{Error, Kind, Result};
use crate::model::event::Event;
use crate::model::names::{name_problem, printable, validated_string, AgentName};
use crate::model::task::Actor;
use crate::read::Snapshot;

/// Largest `--data` an agent may log.
pub const MAX_EVENT_DATA_BYTES: usize = 64 * 1024;
/// Event types orc writes itself; agents log under other names.
const RESERVED_PREFIXES: &[&str] = &["task.", "agent.", "lock.", "kb.", "ws.", "sync.", "hook."];

/// Checks an event type: a name (`deployed`, `test.failed`), not one of orc's own.
pub fn check_event_type(kind: &str) -> Result<()> {
    if let Some(problem) = name_problem(kind) {
        return Err(Error::new(Kind::InvalidName, format!("invalid event type {}: {problem}", printable(kind)))
            .with_hint("event types look like `deployed` or `tests.passed`"));
    }
    let lower = kind.to_ascii_lowercase();
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| lower.starts_with(**p)) {
        return Err(Error::new(
            Kind::InvalidName,
            format!("event type {kind:?} is reserved: orc logs {prefix}* events itself"),
        )
        .with_hint("pick a type of your own, for example `deploy.done`"));
    }
    Ok(())
}

/// Checks an event type orc logs itself: a name under `hook.` or `sync.`.
pub fn check_orc_event_type(kind: &str) -> Result<()> {
    if let Some(problem) = name_problem(kind) {
        return Err(Error::new(Kind::InvalidName, format!("invalid event type {}: {problem}", printable(kind))));
    }
    if !(kind.starts_with("hook.") || kind.starts_with("sync.")) {
        return Err(Error::new(Kind::InvalidName, format!("{kind:?} is not an event type orc's hooks or sync log")));
    }
    Ok(())
}

validated_string!(
    /// An event type an agent logs: a name outside orc's own prefixes.
    EventType,
    check_event_type
);
validated_string!(
    /// An event type orc's hooks and sync log (`hook.*`, `sync.*`).
    OrcEventType,
    check_orc_event_type
);

/// Event data: any JSON, at most 64 KiB once serialised; decoding checks it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct EventData(Value);

impl schemars::JsonSchema for EventData {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventData".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "any JSON value, at most 64 KiB serialised" })
    }
}

impl EventData {
    pub fn new(value: Value) -> Result<Self> {
        let size = serde_json::to_string(&value).map_or(usize::MAX, |t| t.len());
        if size > MAX_EVENT_DATA_BYTES {
            return Err(Error::new(
                Kind::InvalidInput,
                format!("the event data is {size} bytes; the limit is {MAX_EVENT_DATA_BYTES}"),
            )
            .with_hint("keep large payloads in the knowledge base and reference the topic"));
        }
        Ok(Self(value))
    }

    pub fn value(&self) -> &Value {
        &self.0
    }
}

impl TryFrom<Value> for EventData {
    type Error = Error;
    fn try_from(value: Value) -> Result<Self> {
        Self::new(value)
    }
}

impl From<EventData> for Value {
    fn from(data: EventData) -> Self {
        data.0
    }
}

/// `orc log <type> [--data JSON]`. The data is nested in the recorded
/// input, never beside the trailer's own keys.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LogEvent {
    pub agent: AgentName,
    pub kind: EventType,
    pub data: EventData,
}

impl LogEvent {
    pub fn new(agent: AgentName, kind: &str, data: Option<&str>) -> Result<Self> {
        let kind = EventType::new(kind)?;
        let data = match data {
            None => Value::Object(Default::default()),
            Some(text) => {
                if text.len() > MAX_EVENT_DATA_BYTES {
                    return Err(Error::new(
                        Kind::InvalidInput,
                        format!("the data is {} bytes; the limit is {MAX_EVENT_DATA_BYTES}", text.len()),
                    )
                    .with_hint("keep large payloads in the knowledge base and reference the topic"));
                }
                serde_json::from_str(text).map_err(|e| {
                    Error::new(Kind::InvalidInput, format!("the event data is not JSON: {e}"))
                        .with_hint(r#"event data is a JSON document such as {"service":"api","version":"2.0"}"#)
                })?
            }
        };
        Ok(Self { agent, kind, data: EventData::new(data)? })
    }
}

impl Operation for LogEvent {
    type Output = Event;
    const NAME: &'static str = "event.log";

    fn actor(&self, _session: &Actor) -> Actor {
        Actor::Agent(self.agent.to_string())
    }

    fn plan(&self, _snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Event>> {
        let event = Event {
            id: env.op_id.to_string(),
            ts: env.now,
            agent: self.agent.to_string(),
            kind: self.kind.to_string(),
            data: self.data.value().clone(),
        };
        // The engine appends the operation's own event: with the details
        // being the data, that event is exactly the one logged.
        let mut plan = Plan::new(format!("log {} by {}", self.kind, self.agent), event);
        plan.details = match self.data.value() {
            Value::Object(map) => map.clone(),
            other => {
                let mut map = serde_json::Map::new();
                map.insert("value".into(), other.clone());
                map
            }
        };
        plan.event_type = Some(self.kind.to_string());
        plan.output.data = Value::Object(plan.details.clone());
        Ok(plan)
    }
}

/// An event from one of orc's git hooks (`hook.post-commit`, …), logged
/// for the worktree's agent, or its person when none is set.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HookEvent {
    pub kind: OrcEventType,
    pub data: EventData,
}

impl Operation for HookEvent {
    type Output = Event;
    const NAME: &'static str = "hook.event";

    fn plan(&self, _snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Event>> {
        let event = Event {
            id: env.op_id.to_string(),
            ts: env.now,
            agent: env.actor.name().to_string(),
            kind: self.kind.to_string(),
            data: self.data.value().clone(),
        };
        let mut plan = Plan::new(format!("{} by {}", self.kind, env.actor.name()), event);
        if let Value::Object(map) = self.data.value() {
            plan.details = map.clone();
        }
        plan.event_type = Some(self.kind.to_string());
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_bad_types_are_refused() {
        assert!(check_event_type("deployed").is_ok());
        assert!(check_event_type("task.claim").is_err());
        assert!(check_event_type("../x").is_err());
        assert!(serde_json::from_str::<EventType>(r#""task.claim""#).is_err());
        assert!(check_orc_event_type("hook.post-commit").is_ok());
        assert!(check_orc_event_type("task.claim").is_err());
    }
}
