//! The tools: one input type and one thin call of the library each. Input
//! types are built from the operations' validated types, so their JSON
//! Schemas carry the same patterns and ranges the library checks, and an
//! argument that fails them never reaches an operation.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::Call;
use crate::api::reads::{self, EventQuery};
use crate::api::views::lock_json;
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::TopicName;
use crate::model::names::{AgentName, Label, ResourceName, WorkstreamName};
use crate::model::task::{Priority, Text, Title};
use crate::ops::agent::Heartbeat;
use crate::ops::knowledge::WriteTopic;
use crate::ops::lock::{AcquireLock, ReleaseLock, TtlSecs};
use crate::ops::task::{AddTask, ClaimTask, Finish, FinishTask};
use crate::ops::Operation;
use crate::session::IdempotencyKey;

/// How many tasks `orc_ready` and events `orc_events` return unless asked.
const DEFAULT_LIMIT: u16 = 20;
/// How long `orc_wait` waits unless asked, and at most: MCP clients give
/// up on a call after a minute or a few, so a wait never outlives them.
const DEFAULT_WAIT_SECS: u16 = 30;
const MAX_WAIT_SECS: u16 = 300;

/// One tool: its name, one-line description, the catalog's operations it
/// may apply (none: it only reads), input schema, annotations, and the
/// call it makes.
pub(super) struct ToolDef {
    pub name: &'static str,
    description: &'static str,
    ops: &'static [&'static str],
    schema: fn() -> JsonObject,
    annotations: fn() -> ToolAnnotations,
    pub run: fn(&Call, Value) -> Result<Value>,
}

impl ToolDef {
    /// The tool as `tools/list` shows it: read-only exactly when it applies
    /// no operation of the catalog.
    pub fn tool(&self) -> Tool {
        let annotations = (self.annotations)().read_only(self.ops.is_empty());
        Tool::new(self.name, self.description, (self.schema)()).with_annotations(annotations)
    }
}

/// Every tool, in the order `tools/list` shows them.
pub(super) static TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "orc_status",
        description: "Everything at a glance: workstreams, agents, claims, ready tasks, locks, recent events.",
        ops: &[],
        schema: schema::<NoInput>,
        annotations: read_only,
        run: status,
    },
    ToolDef {
        name: "orc_ready",
        description: "Tasks that can be claimed now, best first.",
        ops: &[],
        schema: schema::<ReadyIn>,
        annotations: read_only,
        run: ready,
    },
    ToolDef {
        name: "orc_next",
        description: "Claim the best ready task; returns it with its claim_token and your brief.",
        ops: &[ClaimTask::NAME],
        schema: schema::<NextIn>,
        annotations: claims,
        run: next,
    },
    ToolDef {
        name: "orc_claim",
        description: "Claim one task by id; returns it with its claim_token and your brief.",
        ops: &[ClaimTask::NAME],
        schema: schema::<ClaimIn>,
        annotations: claims,
        run: claim,
    },
    ToolDef {
        name: "orc_task",
        description: "Show one task, with what blocks it.",
        ops: &[],
        schema: schema::<TaskIn>,
        annotations: read_only,
        run: task,
    },
    ToolDef {
        name: "orc_add_task",
        description: "Add a task to a workstream.",
        ops: &[AddTask::NAME],
        schema: schema::<AddTaskIn>,
        annotations: adds,
        run: add_task,
    },
    ToolDef {
        name: "orc_finish",
        description: "Complete or fail a task you hold, with its claim_token.",
        ops: &[FinishTask::NAME],
        schema: schema::<FinishIn>,
        annotations: destructive,
        run: finish,
    },
    ToolDef {
        name: "orc_heartbeat",
        description: "Say you are alive (keeps your claims), with what you are doing.",
        ops: &[Heartbeat::NAME],
        schema: schema::<HeartbeatIn>,
        annotations: idempotent,
        run: heartbeat,
    },
    ToolDef {
        name: "orc_lock",
        description: "Acquire (or renew) or release a lock on a shared resource; returns its fencing token.",
        ops: &[AcquireLock::NAME, ReleaseLock::NAME],
        schema: schema::<LockIn>,
        annotations: destructive,
        run: lock,
    },
    ToolDef {
        name: "orc_events",
        description: "The event log: the newest, or the oldest after a cursor; next_after continues.",
        ops: &[],
        schema: schema::<EventsIn>,
        annotations: read_only,
        run: events,
    },
    ToolDef {
        name: "orc_kb",
        description: "Knowledge base: list, read, write or append a topic.",
        ops: &[WriteTopic::NAME],
        schema: schema::<KbIn>,
        annotations: destructive,
        run: kb,
    },
    ToolDef {
        name: "orc_wait",
        description: "Wait, at most timeout_secs, until a task is done.",
        ops: &[],
        schema: schema::<WaitIn>,
        annotations: read_only,
        run: wait,
    },
];

/// The tool named `name`.
pub(super) fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|t| t.name == name)
}

/// An input type's schema, with its subschemas inlined (a `$ref` costs a
/// client more tokens than the few bytes it saves) and without the
/// generator's title, description (the type's doc comment, for us) and
/// meta-schema.
fn schema<T: JsonSchema>() -> JsonObject {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let schema = serde_json::to_value(generator.into_root_schema_for::<T>()).expect("schemas serialise");
    let Value::Object(mut object) = schema else { unreachable!("an input type's schema is an object") };
    object.remove("title");
    object.remove("description");
    object
}

/// Readers need no more hints: a client ignores the others for them.
fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
}

/// Claims change the board, destroy nothing, and a repeat claims again.
fn claims() -> ToolAnnotations {
    ToolAnnotations::new().destructive(false).idempotent(false)
}

fn adds() -> ToolAnnotations {
    ToolAnnotations::new().destructive(false).idempotent(false)
}

fn idempotent() -> ToolAnnotations {
    ToolAnnotations::new().destructive(false).idempotent(true)
}

/// Finishing is final, a forced release takes a lock away, a write
/// replaces a topic's text.
fn destructive() -> ToolAnnotations {
    ToolAnnotations::new().destructive(true).idempotent(false)
}

/// Decodes a tool's arguments into its input type. When they do not fit,
/// the library's own check of the offending field says why (so an invalid
/// name answers `invalid_name`, as it does on the command line); anything
/// else (a missing or mistyped field) is `invalid_input`.
fn decode<T: DeserializeOwned>(args: Value) -> Result<T> {
    match serde_json::from_value::<T>(args.clone()) {
        Ok(input) => Ok(input),
        Err(e) => {
            let fields = args.as_object().into_iter().flatten();
            let problem = fields.filter_map(|(name, value)| field_problem(name, value).map(|e| (name, e))).next();
            Err(match problem {
                Some((name, problem)) => problem.with("field", name),
                None => Error::new(Kind::InvalidInput, format!("the arguments do not fit the tool's schema: {e}"))
                    .with_hint("check the argument names and types against the tool's input schema"),
            })
        }
    }
}

/// The library's verdict on one argument of a name-like field, if it has one.
fn field_problem(name: &str, value: &Value) -> Option<Error> {
    let text = value.as_str()?;
    match name {
        "workstream" => WorkstreamName::new(text).err(),
        "agent" => AgentName::new(text).err(),
        "resource" => ResourceName::new(text).err(),
        "topic" => TopicName::new(text).err(),
        "title" => Title::new(text).err(),
        "description" | "text" => Text::new(text).err(),
        "status" => Label::new(text).err(),
        "idempotency_key" => IdempotencyKey::new(text).err(),
        _ => None,
    }
}

/// A tool that takes no arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoInput {}

/// How many items to return, 1 to 500.
#[derive(Clone, Copy, Deserialize)]
#[serde(try_from = "u16")]
struct Limit(u16);

impl TryFrom<u16> for Limit {
    type Error = Error;
    fn try_from(n: u16) -> Result<Self> {
        if !(1..=500).contains(&n) {
            return Err(Error::new(Kind::InvalidInput, format!("limit is 1 to 500, not {n}")));
        }
        Ok(Self(n))
    }
}

impl JsonSchema for Limit {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Limit".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": 500 })
    }
}

fn limit(limit: Option<Limit>) -> usize {
    usize::from(limit.map_or(DEFAULT_LIMIT, |l| l.0))
}

fn status(call: &Call, args: Value) -> Result<Value> {
    let NoInput {} = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(None)?;
    Ok(crate::api::status::status(&repo, &session)?.to_json())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadyIn {
    /// Only this workstream
    workstream: Option<WorkstreamName>,
    /// At most this many (default 20)
    limit: Option<Limit>,
}

fn ready(call: &Call, args: Value) -> Result<Value> {
    let input: ReadyIn = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(None)?;
    let (tasks, count) = reads::ready_page(&repo, &session, input.workstream.as_deref(), limit(input.limit))?;
    Ok(json!({"tasks": tasks, "count": count}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NextIn {
    /// Only from this workstream
    workstream: Option<WorkstreamName>,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn next(call: &Call, args: Value) -> Result<Value> {
    let input: NextIn = decode(args)?;
    claimed(call, input.idempotency_key.as_deref(), |agent| ClaimTask::best(agent, input.workstream))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ClaimIn {
    /// Task id or a unique prefix
    task: String,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn claim(call: &Call, args: Value) -> Result<Value> {
    let input: ClaimIn = decode(args)?;
    claimed(call, input.idempotency_key.as_deref(), |agent| ClaimTask::task(agent, &input.task, None))
}

/// Claims (published before success, `next` moving on after a lost race:
/// both in `Repo::claim`) and answers with the task, its token and the
/// agent's brief.
fn claimed(call: &Call, key: Option<&str>, op: impl FnOnce(AgentName) -> ClaimTask) -> Result<Value> {
    let repo = call.repo()?;
    let session = call.session(key)?;
    let agent = session.agent()?;
    let applied = repo.claim(&session, &op(agent.clone()))?;
    let task = reads::task_view(&repo, &session, &applied.output)?;
    let brief = reads::agent_brief(&repo, &session, &agent)?;
    Ok(json!({
        "task": task,
        "claim_token": applied.output.claim_token,
        "brief": brief.markdown,
        "replayed": applied.replayed,
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TaskIn {
    /// Task id or a unique prefix
    task: String,
}

fn task(call: &Call, args: Value) -> Result<Value> {
    let input: TaskIn = decode(args)?;
    let repo = call.repo()?;
    reads::show_task(&repo, &*call.session(None)?, &input.task)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddTaskIn {
    workstream: WorkstreamName,
    title: Title,
    description: Option<Text>,
    /// Default 3
    priority: Option<Priority>,
    /// Ids of tasks that must be done first
    after: Option<Vec<String>>,
    /// Shared resources (lock names) it touches
    resources: Option<Vec<ResourceName>>,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn add_task(call: &Call, args: Value) -> Result<Value> {
    let input: AddTaskIn = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(input.idempotency_key.as_deref())?;
    let op = AddTask::new(
        &session.clock,
        &input.workstream,
        &input.title,
        input.description.as_deref(),
        input.priority.map(Priority::get),
        input.after.unwrap_or_default(),
        input.resources.unwrap_or_default().into_iter().map(String::from).collect(),
    )?;
    let applied = repo.apply(&session, &op)?;
    reads::task_view(&repo, &session, &applied.output)
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Complete,
    Fail,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FinishIn {
    /// Task id or a unique prefix
    task: String,
    outcome: Outcome,
    /// The claim_token from orc_next or orc_claim
    token: Option<u64>,
    /// The result, or why it failed
    text: Option<Text>,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn finish(call: &Call, args: Value) -> Result<Value> {
    let input: FinishIn = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(input.idempotency_key.as_deref())?;
    let how = match input.outcome {
        Outcome::Complete => Finish::Complete,
        Outcome::Fail => Finish::Fail,
    };
    let op = FinishTask::new(None, input.task, how, input.token, input.text.map(String::from))?;
    let applied = repo.finish(&session, &op)?;
    reads::task_view(&repo, &session, &applied.output)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatIn {
    /// What you are doing now
    status: Option<Label>,
}

fn heartbeat(call: &Call, args: Value) -> Result<Value> {
    let input: HeartbeatIn = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(None)?;
    let applied = repo.apply(&session, &Heartbeat { agent: session.agent()?, status: input.status })?;
    reads::agent_view(&repo, &session, &applied.output)
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum LockAction {
    Acquire,
    Release,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LockIn {
    resource: ResourceName,
    action: LockAction,
    /// Lease in seconds (default 60); renew before it ends
    ttl_secs: Option<TtlSecs>,
    /// Release a lock another agent holds (logged)
    force: Option<bool>,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn lock(call: &Call, args: Value) -> Result<Value> {
    let input: LockIn = decode(args)?;
    let repo = call.repo()?;
    let session = call.session(input.idempotency_key.as_deref())?;
    let lock = match input.action {
        LockAction::Acquire => {
            let ttl = match input.ttl_secs {
                Some(ttl) => ttl.duration(),
                None => chrono::Duration::seconds(60),
            };
            repo.acquire_lock(&session, &input.resource, ttl)?.output
        }
        LockAction::Release => repo.release_lock(&session, &input.resource, input.force.unwrap_or(false))?.output,
    };
    Ok(lock_json(&lock, false))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventsIn {
    /// Only events after this event id (next_after of an earlier call)
    after: Option<String>,
    /// At most this many (default 20)
    limit: Option<Limit>,
    /// Only this event type
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only this agent's
    agent: Option<AgentName>,
}

fn events(call: &Call, args: Value) -> Result<Value> {
    let input: EventsIn = decode(args)?;
    if let Some(after) = &input.after {
        if after.len() != 26 || !after.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(
                Error::new(Kind::InvalidId, "after is an event id (a 26-character ULID)").with("field", "after")
            );
        }
    }
    let limit = limit(input.limit);
    let after = input.after.map(|a| a.to_ascii_uppercase());
    // Without a cursor, the newest; with one, the oldest after it, so that
    // paging with next_after misses nothing.
    let query = EventQuery {
        agent: input.agent.map(String::from),
        kind: input.kind,
        since: None,
        last: after.is_none().then_some(limit),
        after: after.clone(),
    };
    let repo = call.repo()?;
    let (mut events, broken) = reads::event_items(&repo, &query)?;
    let more = events.len() > limit;
    events.truncate(limit);
    let next_after = events.last().map(|e| e.id.clone()).or(after);
    let mut out = json!({"events": events, "next_after": next_after, "more": more});
    if !broken.is_empty() {
        out["skipped"] = broken.iter().map(|e| Value::from(e.message.clone())).collect();
    }
    Ok(out)
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum KbAction {
    List,
    Read,
    Write,
    Append,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct KbIn {
    action: KbAction,
    /// For read, write, append
    topic: Option<TopicName>,
    /// Markdown, for write and append
    text: Option<String>,
    /// A repeat with the same key returns the first result
    idempotency_key: Option<String>,
}

fn kb(call: &Call, args: Value) -> Result<Value> {
    let input: KbIn = decode(args)?;
    let repo = call.repo()?;
    let topic = || {
        input
            .topic
            .as_ref()
            .ok_or_else(|| Error::new(Kind::InvalidInput, "this action needs a topic").with("field", "topic"))
    };
    let out = match input.action {
        KbAction::List => {
            let (topics, broken) = reads::topic_items(&repo)?;
            let mut out = json!({"topics": topics});
            if !broken.is_empty() {
                out["skipped"] = broken.iter().map(|e| Value::from(e.message.clone())).collect();
            }
            out
        }
        KbAction::Read => serde_json::to_value(reads::topic_item(&repo, topic()?)?).expect("topics serialise"),
        KbAction::Write | KbAction::Append => {
            let topic = topic()?;
            let Some(text) = input.text.clone() else {
                return Err(Error::new(Kind::InvalidInput, "write and append need a text").with("field", "text"));
            };
            let session = call.session(input.idempotency_key.as_deref())?;
            let append = matches!(input.action, KbAction::Append);
            let applied = repo.apply(&session, &WriteTopic::new(topic, text, append)?)?;
            serde_json::to_value(applied.output).expect("topics serialise")
        }
    };
    Ok(out)
}

/// Seconds to wait, 1 to 300.
#[derive(Clone, Copy, Deserialize)]
#[serde(try_from = "u16")]
struct WaitSecs(u16);

impl TryFrom<u16> for WaitSecs {
    type Error = Error;
    fn try_from(n: u16) -> Result<Self> {
        if !(1..=MAX_WAIT_SECS).contains(&n) {
            return Err(Error::new(Kind::InvalidInput, format!("timeout_secs is 1 to {MAX_WAIT_SECS}, not {n}")));
        }
        Ok(Self(n))
    }
}

impl JsonSchema for WaitSecs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WaitSecs".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECS })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaitIn {
    /// Task id or a unique prefix
    task: String,
    /// Default 30
    timeout_secs: Option<WaitSecs>,
}

fn wait(call: &Call, args: Value) -> Result<Value> {
    let input: WaitIn = decode(args)?;
    let secs = input.timeout_secs.map_or(DEFAULT_WAIT_SECS, |s| s.0);
    let deadline = Instant::now() + Duration::from_secs(u64::from(secs));
    let repo = call.repo()?;
    let cancel: &AtomicBool = &call.cancel;
    let task =
        crate::api::watch::wait_for_task(&repo, &input.task, Some(deadline), Some(cancel)).map_err(|mut e| {
            if e.kind == Kind::Timeout {
                e.message = format!("{} after {secs}s", e.message);
                e = e.with_hint("call orc_wait again to keep waiting");
            }
            e
        })?;
    reads::task_view(&repo, &*call.session(None)?, &task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_name_operations_of_the_catalog() {
        for tool in TOOLS {
            for op in tool.ops {
                assert!(crate::ops::catalog::entry(op).is_some(), "{}: {op} is not in the catalog", tool.name);
            }
        }
        let read_only: Vec<&str> = TOOLS
            .iter()
            .filter(|t| t.tool().annotations.unwrap().read_only_hint == Some(true))
            .map(|t| t.name)
            .collect();
        assert_eq!(read_only, ["orc_status", "orc_ready", "orc_task", "orc_events", "orc_wait"]);
    }

    #[test]
    fn every_tool_schema_is_an_object() {
        for tool in TOOLS {
            assert_eq!((tool.schema)()["type"], "object", "{}", tool.name);
        }
    }
}
