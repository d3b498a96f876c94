//! `orc serve` (DESIGN §9.1): the library over HTTP, and the live
//! dashboard. A front end: it turns requests into library calls and
//! results into the §5 JSON objects, and holds no rule of orc's own.
//!
//! Rules this module keeps:
//! - Git work runs on tokio's blocking pool, never on the async threads.
//! - Bodies decode into the library's validated types: a bad one is
//!   answered 400 (not JSON) or 422 (a bad value) with the §5 error object
//!   and builds no operation. Errors map by class: refused → 409 (412 for
//!   a failed `If-Match`), bad input → 400/404/413/422, environment → 503.
//! - Identity: a route that acts as an agent takes it from the body's
//!   `agent` (as the seed's bodies did) or the path (`/api/agents/{id}`);
//!   where none is given, the server's git user acts as a person, as the
//!   CLI does without `--agent`. The server's own `ORC_AGENT` is never
//!   used: one server serves many agents.
//! - Every response to a GET carries `ETag: "<tip>"`, read before the data
//!   it labels; writes honour `If-Match` (the library checks it inside the
//!   write queue, so no write slips in between) and `Idempotency-Key`.
//! - Access ([`guard`]): writes need the token, compared in constant
//!   time, as a bearer token or as the live page's cookie (`HttpOnly`,
//!   `SameSite=Strict`, set by opening the printed `/?token=…` address);
//!   bound beyond loopback, reads need it too. `Host` is checked (421),
//!   cross-origin writes are refused (403, by `Origin` and
//!   `Sec-Fetch-Site`), as is any request another site's page makes (a
//!   navigation to `/` excepted), and no CORS header is ever sent. Bodies,
//!   headers, event streams, waits, requests in flight and slow clients
//!   are bounded.
//! - `GET /api/status` may answer from the report computed for the same
//!   tip in the same second (the report is a function of both), so many
//!   pollers cost one computation a second.
//! - [`router`] applies the guard to everything it serves, so a router
//!   merged into it with [`router_with`] (`/mcp`) is behind the same token.

mod bodies;
mod guard;
pub mod openapi;
mod reply;
mod routes;
mod stream;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;

use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::MAX_KB_BYTES;
use crate::model::names::AgentName;
use crate::session::{Clock, IdempotencyKey, Publish, Session};
use reply::{ApiError, ApiResult};

pub use guard::Guard;

/// The largest request body: a whole knowledge topic and its JSON.
const MAX_BODY: usize = MAX_KB_BYTES * 2 + 64 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub repo: Arc<Repo>,
    /// Who acts when a request names no agent (the server's git user).
    pub person: String,
    pub publish: Publish,
    /// The branch's tip as last seen (`-` before it exists).
    tips_tx: Arc<watch::Sender<String>>,
    /// True once the server is stopping.
    shutdown: watch::Receiver<bool>,
    streams: Arc<AtomicUsize>,
    status_cache: Arc<routes::StatusCache>,
    /// Long polls held at once.
    waits: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The session one request acts in: as `agent`, else as the person;
    /// the clock (`ORC_NOW`, `ORC_NOW_OFFSET`), the `Idempotency-Key`
    /// header, the server's publish policy.
    fn session(&self, agent: Option<&AgentName>, headers: &HeaderMap) -> ApiResult<Session> {
        let actor = crate::api::actor_for(agent.cloned(), self.person.clone());
        let key = match headers.get("idempotency-key") {
            None => None,
            Some(value) => Some(IdempotencyKey::new(value.to_str().map_err(|_| {
                ApiError::from(Error::new(Kind::InvalidInput, "the Idempotency-Key header is not printable text"))
            })?)?),
        };
        Ok(Session::new(actor).with_clock(Clock::from_env()?).with_key(key).with_publish(self.publish))
    }
}

/// A server ready to be routed: its state and the task that watches the
/// branch for the event streams.
pub struct Server {
    pub state: AppState,
    pub guard: Arc<Guard>,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Prepares a server over `repo` that will answer at `bound`.
    pub fn new(repo: Arc<Repo>, person: String, publish: Publish, token: String, bound: SocketAddr) -> Self {
        let tips_tx = Arc::new(watch::Sender::new(String::new()));
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(stream::watch_tip(repo.clone(), tips_tx.clone(), shutdown.clone()));
        let state = AppState {
            repo,
            person,
            publish,
            tips_tx,
            shutdown,
            streams: Arc::new(AtomicUsize::new(0)),
            status_cache: Arc::default(),
            waits: Arc::new(tokio::sync::Semaphore::new(routes::MAX_WAITS)),
        };
        Self { state, guard: Arc::new(Guard::new(token, bound)), stop }
    }

    /// Tells the event streams and the tip watcher to end (they do at
    /// their next wake-up): call when shutting down.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Every route, behind the guard. Nest more (`/mcp`) with
/// [`router_with`], so they are behind it too.
pub fn router(server: &Server) -> Router {
    router_with(server, Router::new())
}

/// [`router`] with `extra` routes merged in before the guard is applied.
pub fn router_with(server: &Server, extra: Router) -> Router {
    let api = Router::new()
        .route("/", get(page))
        .route("/assets/live.js", get(live_js))
        .route("/healthz", get(routes::healthz))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/stream", get(stream::stream))
        .route("/api/status", get(routes::status))
        .route("/api/workstreams", get(routes::list_workstreams).post(routes::create_workstream))
        .route("/api/workstreams/{ws}", get(routes::show_workstream))
        .route("/api/workstreams/{ws}/tasks", get(routes::list_ws_tasks).post(routes::add_task))
        .route("/api/workstreams/{ws}/tasks/{id}/{action}", post(routes::ws_task_action))
        .route("/api/workstreams/{ws}/next", post(routes::ws_next))
        .route("/api/next", post(routes::any_next))
        .route("/api/ready", get(routes::ready))
        .route("/api/tasks", get(routes::list_tasks))
        .route("/api/tasks/{id}", get(routes::show_task))
        .route("/api/tasks/{id}/wait", get(routes::wait))
        .route("/api/tasks/{id}/{action}", post(routes::any_task_action))
        .route("/api/agents", get(routes::list_agents).post(routes::register_agent))
        .route("/api/agents/{id}/heartbeat", post(routes::heartbeat))
        .route("/api/events", get(routes::events))
        .route("/api/knowledge", get(routes::list_topics))
        .route(
            "/api/knowledge/{*topic}",
            get(routes::read_topic).put(routes::put_topic).post(routes::append_topic).delete(routes::delete_topic),
        )
        .route("/api/locks", get(routes::list_locks).post(routes::acquire_lock))
        .route("/api/locks/{resource}", axum::routing::delete(routes::release_lock))
        .route("/api/sync", post(routes::sync))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(server.state.clone())
        .layer(axum::extract::Extension(server.guard.clone()));
    api.merge(extra)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(server.guard.clone(), guard::guard))
}

async fn no_route(uri: axum::http::Uri) -> ApiError {
    Error::new(Kind::NotFound, format!("no route {}", uri.path()))
        .with_hint("the routes are listed at /api/openapi.json")
        .into()
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::with_status(
        Error::new(Kind::Usage, format!("{method} is not allowed on {}", uri.path()))
            .with_hint("the routes and their methods are listed at /api/openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
}

/// The content policy of the live page: its own script and requests only.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    response
}

/// `GET /`: the dashboard, live. `/?token=T` (the address `orc serve`
/// prints) trades the token for the page's cookie and sends the browser
/// on to `/`, so the token leaves the address bar.
async fn page(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Extension(guard): axum::extract::Extension<Arc<Guard>>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let offered = uri.query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("token="));
    if let Some(offered) = offered {
        if !guard.is_token(offered) {
            return Err(ApiError::with_status(
                Error::new(Kind::Unauthorized, "that token is not this server's")
                    .with_hint("open the address orc serve printed, or read .git/orc/serve.token"),
                StatusCode::UNAUTHORIZED,
            ));
        }
        let cookie = format!("{}={offered}; HttpOnly; SameSite=Strict; Path=/", guard.cookie_name());
        let mut response = axum::response::Redirect::to("/").into_response();
        response
            .headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("the token is printable ASCII"));
        return Ok(response);
    }
    let repo = state.repo.clone();
    let html = tokio::task::spawn_blocking(move || crate::api::reads::dashboard_page(&repo, true))
        .await
        .map_err(|e| ApiError::from(Error::new(Kind::Internal, format!("the page's worker stopped: {e}"))))??;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

const LIVE_JS: &str = include_str!("../../templates/live.js");

async fn live_js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], LIVE_JS)
        .into_response()
}

async fn openapi_json() -> Response {
    axum::Json(openapi::document()).into_response()
}

/// Reads `ORC_SERVE_TOKEN`, else `<git-common-dir>/orc/serve.token`,
/// else makes one there (32 random bytes as hex, mode 0600). Returns the
/// token and whether it came from the environment.
pub fn load_token(repo: &Repo) -> Result<(String, bool)> {
    if let Ok(token) = std::env::var("ORC_SERVE_TOKEN") {
        if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::new(Kind::Usage, "ORC_SERVE_TOKEN is shorter than 16 characters or has spaces")
                .with_hint("unset it to have one generated, or set a long random one"));
        }
        return Ok((token, true));
    }
    let dir = repo.store()?.private_dir();
    let path = dir.join("serve.token");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim().to_string();
        if token.len() >= 16 {
            return Ok((token, false));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&format!("cannot create {}", dir.display()), &e))?;
    let mut bytes = [0u8; 32];
    Clock::system().random_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &token)?;
    Ok((token, false))
}

/// Writes a file only its owner can read, replacing any.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let fail = |e: std::io::Error| Error::io(&format!("cannot write {}", path.display()), &e);
    let mut file = options.open(path).map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    }
    file.write_all(format!("{text}\n").as_bytes()).map_err(fail)
}

/// How long a client may take to send a request's headers (and how long a
/// kept-alive connection may sit idle before its next request).
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The most a connection buffers: caps the size of request headers.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a shutdown waits for requests in flight to finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `app` on `listener` until `stop` completes; then stops taking
/// connections, ends the event streams, and lets every request in flight
/// finish (up to 30 s), so a write that started is answered.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Router,
    server: Server,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEADER_BYTES);
    let builder = builder.http1_only();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: pause, then go on.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    server.stop();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => eprintln!("warning: requests still running after {DRAIN:?} were cut off"),
    }
}
