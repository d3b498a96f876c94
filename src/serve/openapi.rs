//! The OpenAPI 3.1 document of `orc serve`, built from the JSON Schemas
//! (2020-12, which OpenAPI 3.1 uses) of the very types the routes decode
//! bodies and queries into, so the document cannot drift from what the
//! server accepts. A test checks that every route listed here is served.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

use super::bodies::*;
use crate::api::views::TaskOut;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One operation of the document.
pub struct Route {
    pub method: &'static str,
    /// The path as OpenAPI writes it (`{name}` parameters).
    pub path: &'static str,
    summary: &'static str,
    body: Option<SchemaFn>,
    query: Option<SchemaFn>,
    ok: u16,
    /// What a success returns (a §5 object, or an array of them).
    returns: &'static str,
    /// Needs the token even on loopback.
    pub writes: bool,
}

const fn get(path: &'static str, summary: &'static str, query: Option<SchemaFn>, returns: &'static str) -> Route {
    Route { method: "get", path, summary, body: None, query, ok: 200, returns, writes: false }
}

const fn write(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<SchemaFn>,
    ok: u16,
    returns: &'static str,
) -> Route {
    Route { method, path, summary, body, query: None, ok, returns, writes: true }
}

/// Every route, in the order the document lists them.
pub fn routes() -> Vec<Route> {
    let mut routes = vec![
        get(
            "/healthz",
            "Liveness and load: answers while the server runs (no token needed)",
            None,
            "{\"ok\": true, \"requests_in_flight\": n, \"event_streams\": n}",
        ),
        get("/api/status", "Everything at a glance (the seed's status)", None, "the status object"),
        get("/api/workstreams", "List workstreams with task counts", None, "an array of workstream objects"),
        write(
            "post",
            "/api/workstreams",
            "Create a workstream",
            Some(schema::<NewWorkstream>),
            201,
            "the workstream object",
        ),
        get("/api/workstreams/{ws}", "Show a workstream and its tasks", None, "the workstream object with task_list"),
        get(
            "/api/workstreams/{ws}/tasks",
            "List a workstream's tasks",
            Some(schema::<TaskQuery>),
            "an array of task objects",
        ),
        write("post", "/api/workstreams/{ws}/tasks", "Add a task", Some(schema::<NewTask>), 201, "the task object"),
        write(
            "post",
            "/api/workstreams/{ws}/next",
            "Claim the best ready task of a workstream (published before success)",
            Some(schema::<ActAs>),
            200,
            "the claimed task object",
        ),
        write(
            "post",
            "/api/next",
            "Claim the best ready task of any workstream (published before success)",
            Some(schema::<ActAs>),
            200,
            "the claimed task object",
        ),
        get(
            "/api/ready",
            "List the tasks that can be claimed now, best first",
            Some(schema::<ReadyQuery>),
            "an array of task objects",
        ),
        get("/api/tasks", "List tasks", Some(schema::<TaskQuery>), "an array of task objects"),
        get("/api/tasks/{id}", "Show a task (id or unique prefix)", None, "the task object with blocked_by"),
        get(
            "/api/tasks/{id}/wait",
            "Long poll until the task is done (409 task_failed, terminal or timeout otherwise)",
            Some(schema::<WaitQuery>),
            "the done task object",
        ),
        get("/api/agents", "List agents", None, "an array of agent objects"),
        write("post", "/api/agents", "Register an agent", Some(schema::<NewAgent>), 201, "the agent object"),
        write(
            "post",
            "/api/agents/{id}/heartbeat",
            "Send an agent's heartbeat",
            Some(schema::<HeartbeatBody>),
            200,
            "the agent object",
        ),
        get(
            "/api/events",
            "Query the event log, oldest first",
            Some(schema::<EventsQuery>),
            "an array of event objects",
        ),
        get("/api/knowledge", "List knowledge topics", None, "an array of topic objects"),
        get("/api/knowledge/{topic}", "Read a topic (topics may contain /)", None, "the topic object with content"),
        write("put", "/api/knowledge/{topic}", "Write a topic", Some(schema::<KnowledgeBody>), 200, "the topic object"),
        write(
            "post",
            "/api/knowledge/{topic}",
            "Append to a topic",
            Some(schema::<KnowledgeBody>),
            200,
            "the topic object",
        ),
        write("delete", "/api/knowledge/{topic}", "Remove a topic", None, 200, "the removed topic object"),
        get("/api/locks", "List held locks, each judged live or expired", None, "an array of lock objects"),
        write(
            "post",
            "/api/locks",
            "Acquire (or renew) a lock (published before success)",
            Some(schema::<NewLock>),
            200,
            "the lock object with its fencing token",
        ),
        write(
            "delete",
            "/api/locks/{resource}",
            "Release a lock",
            Some(schema::<ReleaseLockBody>),
            200,
            "the lock object",
        ),
        write("post", "/api/sync", "Fetch, replay and push", Some(schema::<SyncBody>), 200, "the sync report"),
        get("/api/stream", "Server-sent events: a `tip` event at every move of the branch", None, "text/event-stream"),
        get("/api/openapi.json", "This document", None, "the OpenAPI document"),
    ];
    for (seed, any) in [
        ("/api/workstreams/{ws}/tasks/{id}/claim", "/api/tasks/{id}/claim"),
        ("/api/workstreams/{ws}/tasks/{id}/complete", "/api/tasks/{id}/complete"),
        ("/api/workstreams/{ws}/tasks/{id}/fail", "/api/tasks/{id}/fail"),
        ("/api/workstreams/{ws}/tasks/{id}/release", "/api/tasks/{id}/release"),
        ("/api/workstreams/{ws}/tasks/{id}/cancel", "/api/tasks/{id}/cancel"),
        ("/api/workstreams/{ws}/tasks/{id}/retry", "/api/tasks/{id}/retry"),
    ] {
        let action = any.rsplit('/').next().expect("a path has segments");
        let (summary, body): (&'static str, SchemaFn) = match action {
            "claim" => ("Claim a task (published before success)", schema::<ActAs>),
            "complete" => ("Complete a task (published before success)", schema::<FinishBody>),
            "fail" => ("Fail a task, with a reason (published before success)", schema::<FinishBody>),
            "release" => ("Give a claim back", schema::<ActAs>),
            "cancel" => ("Withdraw a task for good", schema::<CancelBody>),
            _ => ("Put a failed task back on the board", schema::<ActAs>),
        };
        routes.push(write("post", seed, summary, Some(body), 200, "the task object"));
        routes.push(write("post", any, summary, Some(body), 200, "the task object"));
    }
    routes
}

/// The §5 error object, as every failure answers.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ErrorResponse {
    error: ErrorBody,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct ErrorBody {
    /// Stable: agents branch on it (`already_claimed`, `nothing_ready`, `not_found`, …).
    kind: String,
    /// One line saying what was wrong.
    message: String,
    /// What fixes it.
    hint: Option<String>,
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let description = match name {
                "ws" => "workstream name",
                "id" => "task id or unique prefix (t-…)",
                "topic" => "knowledge topic; may contain /",
                "resource" => "lock resource name",
                _ => "agent name",
            };
            json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
        })
        .collect()
}

/// The query parameters a query type declares, one per property.
fn query_parameters(generator: &mut SchemaGenerator, query: SchemaFn) -> Vec<Value> {
    let reference = query(generator);
    let name = reference
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .expect("query types are named structs")
        .to_string();
    let definition = generator.definitions().get(&name).cloned().unwrap_or_default();
    let properties = definition.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    properties
        .into_iter()
        .map(|(name, mut schema)| {
            let description = schema.as_object_mut().and_then(|s| s.remove("description"));
            let mut parameter = json!({"name": name, "in": "query", "required": false, "schema": schema});
            if let Some(description) = description {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<ErrorResponse>();
    let error_response = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error.clone()}}});
    let mut paths = Map::new();
    for route in routes() {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(route.summary));
        let mut parameters = path_parameters(route.path);
        if let Some(query) = route.query {
            parameters.extend(query_parameters(&mut generator, query));
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = route.body {
            let required = !matches!(route.path, p if p.ends_with("/next") || p.ends_with("/heartbeat"))
                && route.method != "delete";
            operation.insert(
                "requestBody".into(),
                json!({"required": required, "content": {"application/json": {"schema": body(&mut generator)}}}),
            );
        }
        let mut responses = Map::new();
        let content_type = if route.returns == "text/event-stream" { "text/event-stream" } else { "application/json" };
        // Tasks are described by the type that serialises them; the other
        // objects are built as JSON values and are described in words.
        let success = if route.returns.contains("array of task objects") {
            json!({"type": "array", "items": generator.subschema_for::<TaskOut<'static>>()})
        } else if route.returns.contains("task object") {
            generator.subschema_for::<TaskOut<'static>>().to_value()
        } else {
            json!({})
        };
        responses.insert(
            route.ok.to_string(),
            json!({"description": route.returns, "content": {content_type: {"schema": success}}}),
        );
        responses
            .insert("4XX".into(), error_response("refused (409, 412) or bad input (400, 401, 403, 404, 413, 422)"));
        responses.insert("5XX".into(), error_response("the environment failed (503: git, network, a broken file)"));
        operation.insert("responses".into(), Value::Object(responses));
        if route.writes {
            operation.insert(
                "parameters".into(),
                Value::Array(
                    operation
                        .get("parameters")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .chain([
                            json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 200}, "description": "apply at most once: a repeat returns the first result"}),
                            json!({"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"}, "description": "the ETag (branch tip) the change was decided on; 412 if the branch moved"}),
                        ])
                        .collect(),
                ),
            );
            operation.insert("security".into(), json!([{"bearer": []}]));
        }
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        entry[route.method] = Value::Object(operation);
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orc serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "orc's library over HTTP: workstreams, tasks, agents, events, knowledge and locks kept in a git branch. Errors are {\"error\": {\"kind\", \"message\", \"hint\"}}. Writes need the bearer token; bound beyond loopback, reads do too."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}
