//! The HTTP routes: each reads its path, query and body into validated
//! types, runs one library call off the async threads, and answers with
//! the §5 object (or the error object). No route holds a rule of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::bodies::*;
use super::reply::{if_match, json_at, none_match_hits, ApiError, ApiResult, JsonBody};
use super::AppState;
use crate::api::inputs::{
    AddTask, Change, ChangeTask, ClaimTask, CreateWorkstream, EventQuery, Finish, FinishTask, Heartbeat, RegisterAgent,
    RemoveTopic, WriteTopic,
};
use crate::api::reads::{self, TaskFilter};
use crate::api::views::{lock_json, ws_json, Counts};
use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::names::{AgentName, ResourceName, WorkstreamName};
use crate::model::task::Status;
use crate::session::Session;

/// The longest a `wait` holds a request open.
const MAX_WAIT: StdDuration = StdDuration::from_secs(300);
const DEFAULT_WAIT: StdDuration = StdDuration::from_secs(30);
/// Waits held at once: half the requests in flight, so waiting clients
/// can never take every slot from the others.
pub const MAX_WAITS: usize = super::guard::MAX_IN_FLIGHT / 2;
/// Events listed when a query names no window (as `orc events`).
const DEFAULT_LAST: usize = 20;

/// Runs blocking library work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::from(Error::new(Kind::Internal, format!("a request's worker stopped: {e}"))))?
}

/// Answers a read: 304 when `If-None-Match` names the tip, else the body
/// labelled with the tip read before it.
async fn read(
    state: &AppState,
    headers: HeaderMap,
    read: impl FnOnce(&Repo, &Session) -> Result<Value> + Send + 'static,
) -> ApiResult<Response> {
    let session = state.session(None, &headers)?;
    let repo = state.repo.clone();
    blocking(move || {
        let tip = reads::tip(&repo)?;
        if none_match_hits(&headers, tip.as_deref()) {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(axum::http::header::ETAG, super::reply::etag_of(tip.as_deref()));
            return Ok(response);
        }
        let body = read(&repo, &session)?;
        Ok(json_at(StatusCode::OK, tip.as_deref(), body))
    })
    .await
}

/// Answers a write made as `agent` (or the server's person): refused with
/// 412 when `If-Match` names a tip the branch has moved past, else the
/// library's answer labelled with the tip after it.
async fn write(
    state: &AppState,
    headers: &HeaderMap,
    agent: Option<&AgentName>,
    status: StatusCode,
    write: impl FnOnce(&Repo, &Session) -> Result<Value> + Send + 'static,
) -> ApiResult<Response> {
    let session = state.session(agent, headers)?.with_expected_tip(if_match(headers)?);
    let repo = state.repo.clone();
    blocking(move || {
        // The library checks the tip inside the write queue (no write can
        // slip in between); `tip_moved` answers 412.
        let body = write(&repo, &session)?;
        let tip = reads::tip(&repo)?;
        Ok(json_at(status, tip.as_deref(), body))
    })
    .await
}

fn ws_param(name: &str) -> ApiResult<WorkstreamName> {
    Ok(WorkstreamName::new(name)?)
}

fn need_agent(agent: Option<AgentName>) -> ApiResult<AgentName> {
    agent.ok_or_else(|| {
        Error::new(Kind::NoAgent, "this route acts as an agent, and the body names none")
            .with_hint("send {\"agent\": \"<name>\"} in the body")
            .into()
    })
}

// ---- status, health, workstreams ----

/// `GET /healthz`: alive, with the load: requests in flight (this one
/// included) and event streams open.
pub async fn healthz(
    State(state): State<AppState>,
    axum::extract::Extension(guard): axum::extract::Extension<Arc<super::Guard>>,
) -> Response {
    let streams = state.streams.load(Ordering::Relaxed);
    axum::Json(json!({"ok": true, "requests_in_flight": guard.in_flight(), "event_streams": streams})).into_response()
}

/// The last status answer, by the tip and the second it was judged at.
#[derive(Default)]
pub struct StatusCache {
    last: tokio::sync::Mutex<Option<CachedStatus>>,
}

struct CachedStatus {
    tip: Option<String>,
    second: i64,
    /// The JSON text, shared by every answer.
    body: axum::body::Bytes,
}

/// `GET /api/status`. The report is a function of the tip and of "now"
/// (to the second: ages, staleness and expiry are judged in whole
/// seconds), so concurrent pollers of one tip within one second share one
/// computation: the first computes while the others wait for its answer.
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = state.session(None, &headers)?;
    let mut last = state.status_cache.last.lock().await;
    let repo = state.repo.clone();
    let now = session.clock.now().timestamp();
    let tip = blocking(move || Ok(reads::tip(&repo)?)).await?;
    if none_match_hits(&headers, tip.as_deref()) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(axum::http::header::ETAG, super::reply::etag_of(tip.as_deref()));
        return Ok(response);
    }
    let body = match last.as_ref() {
        Some(cached) if cached.tip == tip && cached.second == now => cached.body.clone(),
        _ => {
            let repo = state.repo.clone();
            let body = blocking(move || {
                let report = crate::api::status::status(&repo, &session)?.to_json();
                Ok(axum::body::Bytes::from(serde_json::to_vec(&report).expect("JSON values serialise")))
            })
            .await?;
            *last = Some(CachedStatus { tip: tip.clone(), second: now, body: body.clone() });
            body
        }
    };
    drop(last);
    let mut response = ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response();
    response.headers_mut().insert(axum::http::header::ETAG, super::reply::etag_of(tip.as_deref()));
    Ok(response)
}

pub async fn list_workstreams(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    read(&state, headers, |repo, _| reads::workstreams(repo)).await
}

pub async fn create_workstream(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewWorkstream>,
) -> ApiResult<Response> {
    write(&state, &headers, None, StatusCode::CREATED, move |repo, session| {
        let op = CreateWorkstream::new(
            &body.name,
            body.description.as_deref(),
            body.priority.map(crate::model::task::Priority::get),
        )?;
        let ws = repo.apply(session, &op)?.output;
        Ok(ws_json(&ws, &Counts::default()))
    })
    .await
}

pub async fn show_workstream(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let ws = ws_param(&ws)?;
    read(&state, headers, move |repo, session| reads::workstream(repo, session, &ws)).await
}

// ---- tasks ----

fn task_filter(ws: Option<WorkstreamName>, query: TaskQuery) -> ApiResult<TaskFilter> {
    let status = match &query.status {
        None => None,
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            Error::new(Kind::InvalidInput, format!("unknown status {text:?}"))
                .with_hint("use one of open, claimed, done, failed, cancelled")
        })?),
    };
    Ok(TaskFilter { workstream: ws.or(query.workstream), status, holder: query.agent.map(String::from) })
}

pub async fn list_ws_tasks(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(query): Query<TaskQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let filter = task_filter(Some(ws_param(&ws)?), query)?;
    read(&state, headers, move |repo, session| reads::list_tasks(repo, session, &filter)).await
}

pub async fn list_tasks(
    State(state): State<AppState>,
    Query(query): Query<TaskQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let filter = task_filter(None, query)?;
    read(&state, headers, move |repo, session| reads::list_tasks(repo, session, &filter)).await
}

pub async fn add_task(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewTask>,
) -> ApiResult<Response> {
    let ws = ws_param(&ws)?;
    write(&state, &headers, None, StatusCode::CREATED, move |repo, session| {
        let op = AddTask::new(
            &session.clock,
            &ws,
            &body.title,
            body.description.as_deref(),
            body.priority.map(crate::model::task::Priority::get),
            body.after,
            body.resources.into_iter().map(String::from).collect(),
        )?;
        let task = repo.apply(session, &op)?.output;
        reads::task_view(repo, session, &task)
    })
    .await
}

pub async fn show_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    read(&state, headers, move |repo, session| reads::show_task(repo, session, &id)).await
}

pub async fn ready(
    State(state): State<AppState>,
    Query(query): Query<ReadyQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    read(&state, headers, move |repo, session| reads::ready(repo, session, query.workstream.as_ref())).await
}

/// The seed's `/api/workstreams/{ws}/tasks/{id}/{action}`.
pub async fn ws_task_action(
    State(state): State<AppState>,
    Path((ws, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    task_action(&state, Some(ws_param(&ws)?), id, &action, &headers, body).await
}

/// `/api/tasks/{id}/{action}`: the same without naming the workstream.
pub async fn any_task_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    task_action(&state, None, id, &action, &headers, body).await
}

/// Reads a body already parsed as JSON into the action's own type, with
/// the same 422 a typed extractor gives.
fn body_as<T: serde::de::DeserializeOwned>(body: Value) -> ApiResult<T> {
    serde_json::from_value(body).map_err(|e| super::reply::body_error(&e).into())
}

async fn task_action(
    state: &AppState,
    ws: Option<WorkstreamName>,
    id: String,
    action: &str,
    headers: &HeaderMap,
    body: Value,
) -> ApiResult<Response> {
    let ok = StatusCode::OK;
    match action {
        "claim" => {
            let body: ActAs = body_as(body)?;
            let agent = need_agent(body.agent)?;
            write(state, headers, Some(&agent.clone()), ok, move |repo, session| {
                let task = repo.claim(session, &ClaimTask::task(agent, &id, ws))?.output;
                reads::task_view(repo, session, &task)
            })
            .await
        }
        "complete" | "fail" => {
            let how = if action == "complete" { Finish::Complete } else { Finish::Fail };
            let body: FinishBody = body_as(body)?;
            write(state, headers, body.agent.as_ref(), ok, move |repo, session| {
                let op = FinishTask::new(ws, id, how, body.token, body.result.map(String::from))?;
                let task = repo.finish(session, &op)?.output;
                reads::task_view(repo, session, &task)
            })
            .await
        }
        "release" | "retry" => {
            let how = if action == "release" { Change::Release } else { Change::Retry };
            let body: ActAs = body_as(body)?;
            write(state, headers, body.agent.as_ref(), ok, move |repo, session| {
                let task = repo.apply(session, &ChangeTask { workstream: ws, id, how, reason: None })?.output;
                reads::task_view(repo, session, &task)
            })
            .await
        }
        "cancel" => {
            let body: CancelBody = body_as(body)?;
            write(state, headers, body.agent.as_ref(), ok, move |repo, session| {
                let op = ChangeTask { workstream: ws, id, how: Change::Cancel, reason: body.reason };
                let task = repo.apply(session, &op)?.output;
                reads::task_view(repo, session, &task)
            })
            .await
        }
        other => Err(Error::new(Kind::NotFound, format!("no task action {other:?}"))
            .with_hint("actions are claim, complete, fail, release, cancel and retry")
            .into()),
    }
}

/// The seed's `POST /api/workstreams/{ws}/next`.
pub async fn ws_next(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ActAs>,
) -> ApiResult<Response> {
    let ws = ws_param(&ws)?;
    next(&state, Some(ws), &headers, body.agent).await
}

/// `POST /api/next`: the best ready task of any workstream (or the body's).
pub async fn any_next(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ActAs>,
) -> ApiResult<Response> {
    next(&state, body.workstream, &headers, body.agent).await
}

async fn next(
    state: &AppState,
    ws: Option<WorkstreamName>,
    headers: &HeaderMap,
    agent: Option<AgentName>,
) -> ApiResult<Response> {
    let agent = need_agent(agent)?;
    write(state, headers, Some(&agent.clone()), StatusCode::OK, move |repo, session| {
        let task = repo.claim(session, &ClaimTask::best(agent, ws))?.output;
        reads::task_view(repo, session, &task)
    })
    .await
}

/// Sets a flag when dropped: a wait whose client went away (axum drops
/// the handler's future) stops polling the branch.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `GET /api/tasks/{id}/wait`: a long poll until the task is done.
pub async fn wait(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let timeout = match query.timeout.as_deref() {
        None => DEFAULT_WAIT,
        Some(text) => crate::model::duration::parse_duration(text)
            .map_err(|e| Error::new(Kind::InvalidInput, format!("timeout: {e}")))?
            .to_std()
            .unwrap_or_default()
            .min(MAX_WAIT),
    };
    let session = state.session(None, &headers)?;
    let Ok(_slot) = state.waits.clone().try_acquire_owned() else {
        return Err(ApiError::with_status(
            Error::new(Kind::Busy, format!("the server already holds {MAX_WAITS} waits"))
                .with_hint("wait again in a moment, or poll the task"),
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let repo = state.repo.clone();
    let flag = cancel.clone();
    let waiting = blocking(move || {
        let deadline = Instant::now() + timeout;
        let task = crate::api::watch::wait_for_task(&repo, &id, Some(deadline), Some(&flag))?;
        let tip = reads::tip(&repo)?;
        Ok(json_at(StatusCode::OK, tip.as_deref(), reads::task_view(&repo, &session, &task)?))
    });
    let mut shutdown = state.shutdown.clone();
    tokio::select! {
        answer = waiting => answer,
        _ = shutdown.wait_for(|stopping| *stopping) => {
            cancel.store(true, Ordering::Relaxed);
            Err(Error::new(Kind::Busy, "the server is shutting down").with_hint("wait again on another server").into())
        }
    }
}

// ---- agents ----

pub async fn list_agents(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    read(&state, headers, reads::agents).await
}

pub async fn register_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewAgent>,
) -> ApiResult<Response> {
    write(&state, &headers, None, StatusCode::CREATED, move |repo, session| {
        let agent = repo.apply(session, &RegisterAgent::new(&body.id, body.role.as_deref())?)?.output;
        reads::agent_view(repo, session, &agent)
    })
    .await
}

pub async fn heartbeat(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<HeartbeatBody>,
) -> ApiResult<Response> {
    let agent = AgentName::new(&id)?;
    write(&state, &headers, Some(&agent.clone()), StatusCode::OK, move |repo, session| {
        let agent = repo.apply(session, &Heartbeat { agent, status: body.status })?.output;
        reads::agent_view(repo, session, &agent)
    })
    .await
}

// ---- events ----

pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(after) = &query.after {
        if after.len() != 26 || !after.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::new(
                Kind::InvalidId,
                format!("after={after:?} is not an event id (a 26-character ULID)"),
            )
            .into());
        }
    }
    if query.last == Some(0) {
        return Err(Error::new(Kind::InvalidInput, "last takes a number from 1").into());
    }
    read(&state, headers, move |repo, session| {
        let since = query.since.as_deref().map(|s| reads::parse_since(s, session)).transpose()?;
        let last = match (query.last, &since, &query.after) {
            (Some(n), ..) => Some(n),
            (None, None, None) => Some(DEFAULT_LAST),
            _ => None,
        };
        let query = EventQuery {
            agent: query.agent.as_deref().map(crate::api::inputs::event_writer),
            kind: query.kind,
            since,
            after: query.after.map(|a| a.to_ascii_uppercase()),
            last,
        };
        reads::events(repo, &query)
    })
    .await
}

// ---- knowledge ----

pub async fn list_topics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    read(&state, headers, |repo, _| reads::topics(repo)).await
}

pub async fn read_topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let topic = topic_name(&topic)?;
    read(&state, headers, move |repo, _| reads::topic(repo, &topic)).await
}

async fn write_topic(
    state: &AppState,
    topic: &str,
    headers: &HeaderMap,
    body: KnowledgeBody,
    append: bool,
) -> ApiResult<Response> {
    let topic = topic_name(topic)?;
    write(state, headers, body.agent.as_ref(), StatusCode::OK, move |repo, session| {
        let written = repo.apply(session, &WriteTopic::new(&topic, body.content, append)?)?.output;
        Ok(serde_json::to_value(written).expect("topics serialise"))
    })
    .await
}

/// `PUT`: replace the topic's text.
pub async fn put_topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<KnowledgeBody>,
) -> ApiResult<Response> {
    write_topic(&state, &topic, &headers, body, false).await
}

/// `POST`: append to the topic.
pub async fn append_topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<KnowledgeBody>,
) -> ApiResult<Response> {
    write_topic(&state, &topic, &headers, body, true).await
}

pub async fn delete_topic(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let topic = topic_name(&topic)?;
    write(&state, &headers, None, StatusCode::OK, move |repo, session| {
        let removed = repo.apply(session, &RemoveTopic { topic })?.output;
        Ok(serde_json::to_value(removed).expect("topics serialise"))
    })
    .await
}

// ---- locks ----

pub async fn list_locks(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    read(&state, headers, |repo, session| {
        let (locks, _broken) = repo.judged_locks(session, false)?;
        Ok(Value::Array(locks.iter().map(|(lock, expired)| lock_json(lock, *expired)).collect()))
    })
    .await
}

pub async fn acquire_lock(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewLock>,
) -> ApiResult<Response> {
    let ttl = body.ttl.map_or(chrono::Duration::seconds(60), |t| t.0);
    write(&state, &headers, Some(&body.agent), StatusCode::OK, move |repo, session| {
        let lock = repo.acquire_lock(session, &body.resource, ttl)?.output;
        Ok(lock_json(&lock, false))
    })
    .await
}

pub async fn release_lock(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReleaseLockBody>,
) -> ApiResult<Response> {
    let resource = ResourceName::new(&resource)?;
    write(&state, &headers, body.agent.as_ref(), StatusCode::OK, move |repo, session| {
        let lock = repo.release_lock(session, &resource, body.force)?.output;
        Ok(lock_json(&lock, false))
    })
    .await
}

// ---- sync ----

pub async fn sync(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SyncBody>,
) -> ApiResult<Response> {
    write(&state, &headers, None, StatusCode::OK, move |repo, session| {
        let Some(remote) = body.remote.map_or_else(|| repo.remote_name(), |r| Ok(Some(r)))? else {
            return Err(Error::new(Kind::NoRemote, "no remote to sync with")
                .with_hint("add a git remote (or set git config orc.remote) on the server's repository"));
        };
        if !repo.store()?.remote_names().contains(&remote) {
            return Err(Error::new(Kind::NoRemote, format!("no git remote named {remote:?}")));
        }
        let report = repo.sync(session, &remote, body.accept_rewrite)?;
        Ok(serde_json::to_value(&report).expect("reports serialise"))
    })
    .await
}
