//! `orc mcp` (DESIGN §9.2): orc's operations as Model Context Protocol
//! tools, over stdio for one agent, and over streamable HTTP for `orc serve`
//! to mount at `/mcp`.
//!
//! A front end, like `cli`: it decodes arguments, calls `api`, and returns
//! the §5 JSON objects. Rules this module keeps:
//! - No rule of orc lives here: publishing before success, `next` moving on
//!   after a lost race, expiry and validation are the library's. A tool
//!   decodes its arguments into validated types first, so bad input is
//!   refused before any operation exists, and nothing is written.
//! - A refusal (or any library error) is a tool result with `isError` and
//!   `{"error": {"kind", "message", "hint", …}}`, the same document as
//!   `orc --json`; only requests that name no tool, or a resource that does
//!   not exist, are protocol errors.
//! - Identity is fixed when the server starts (`--agent`, else `ORC_AGENT`,
//!   else the worktree's `git config orc.agent`, the CLI's rule; the stdio
//!   server refuses to start without one). Over HTTP a request may name its agent in `X-Orc-Agent`,
//!   else the identity the server was built with acts.
//! - The repository is opened per call from the server's directory, so a
//!   server started in a worktree acts on that worktree's clone and sees
//!   `git config` changes (`orc.branch`, `orc.remote`) without a restart.
//! - git work runs on blocking threads, never on the async workers.

mod resources;
mod tools;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};

use crate::api::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::names::AgentName;
use crate::model::task::Actor;
use crate::session::{Clock, IdempotencyKey, Session};

/// The protocol revisions served: the current stable one, and the one
/// before it for clients that still negotiate it (with `initialize`).
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// The header an HTTP client names its agent in.
pub const AGENT_HEADER: &str = "x-orc-agent";

/// How a server acts: where, and as whom.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory the repository is discovered from, on every call.
    pub dir: PathBuf,
    /// The agent that acts; over HTTP, the one used when a request names none.
    pub agent: Option<AgentName>,
}

/// The MCP server: cheap to clone (one per HTTP request, one per stdio
/// connection).
#[derive(Clone)]
pub struct OrcMcp {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// `ORC_SEED`, read at start-up: tests fix ids with it.
    seed: Option<u64>,
    /// Calls so far: each call's clock draws ids from its own seed.
    calls: AtomicU64,
}

impl OrcMcp {
    /// A server for `config`. Reads `ORC_NOW`/`ORC_SEED` once, so a bad
    /// value stops the start-up rather than every call.
    pub fn new(config: Config) -> Result<Self> {
        Clock::from_env()?;
        let seed = std::env::var("ORC_SEED").ok().and_then(|s| s.trim().parse::<u64>().ok());
        Ok(Self { inner: Arc::new(Inner { config, seed, calls: AtomicU64::new(0) }) })
    }

    /// What `tools/list` returns.
    pub fn tools() -> Vec<Tool> {
        tools::TOOLS.iter().map(tools::ToolDef::tool).collect()
    }

    /// The session for one call. A seeded clock is reseeded per call, as
    /// each CLI command starts its own: one shared sequence would need the
    /// clock shared across calls, and `Clock` belongs to one session.
    fn clock(&self) -> Result<Clock> {
        let clock = Clock::from_env()?;
        let n = self.inner.calls.fetch_add(1, Ordering::Relaxed);
        Ok(match self.inner.seed {
            Some(seed) => clock.with_seed(seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
            None => clock,
        })
    }

    /// The agent acting in this request: the HTTP request's `X-Orc-Agent`,
    /// else the server's.
    fn agent_for(&self, context: &RequestContext<RoleServer>) -> Result<Option<AgentName>> {
        let header = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.headers.get(AGENT_HEADER))
            .map(|value| {
                value.to_str().map_err(|_| Error::new(Kind::InvalidName, "the X-Orc-Agent header is not text"))
            })
            .transpose()?;
        match header {
            Some(name) => AgentName::new(name).map(Some),
            None => Ok(self.inner.config.agent.clone()),
        }
    }

    /// Runs one tool call on a blocking thread; a cancelled request stops
    /// a wait at its next poll.
    async fn run_tool(
        &self,
        tool: &'static tools::ToolDef,
        args: serde_json::Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<serde_json::Value> {
        let agent = self.agent_for(context)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let call = Call { server: self.clone(), agent, cancel: Arc::clone(&cancel), notices: Default::default() };
        let watch = {
            let ct = context.ct.clone();
            tokio::spawn(async move {
                ct.cancelled().await;
                cancel.store(true, Ordering::Relaxed);
            })
        };
        let result = tokio::task::spawn_blocking(move || {
            let result = (tool.run)(&call, args);
            (result, call.notices.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
        })
        .await;
        watch.abort();
        let (result, notices) = result.unwrap_or_else(|e| {
            (Err(Error::new(Kind::Internal, format!("the {} call stopped: {e}", tool.name))), Vec::new())
        });
        // What the library asked the caller to show ("created branch orc", a
        // sign of life that could not be published) travels with the answer.
        if notices.is_empty() {
            return result;
        }
        match result {
            Ok(serde_json::Value::Object(mut object)) => {
                object.insert("notices".into(), notices.into());
                Ok(serde_json::Value::Object(object))
            }
            Ok(other) => Ok(other),
            Err(err) => Err(err.with("notices", notices)),
        }
    }
}

/// One tool call's context: the server, the agent acting, whether the
/// client cancelled, and the notices its sessions gathered.
pub(crate) struct Call {
    server: OrcMcp,
    agent: Option<AgentName>,
    cancel: Arc<AtomicBool>,
    notices: std::sync::Mutex<Vec<String>>,
}

/// A session of one call; its notices go to the call when it ends.
pub(crate) struct CallSession<'c> {
    call: &'c Call,
    session: Session,
}

impl std::ops::Deref for CallSession<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl Drop for CallSession<'_> {
    fn drop(&mut self) {
        let notices = self.session.take_notices();
        if !notices.is_empty() {
            self.call.notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(notices);
        }
    }
}

impl Call {
    fn dir(&self) -> &Path {
        &self.server.inner.config.dir
    }

    /// The repository the server's directory is in, now.
    fn repo(&self) -> Result<Repo> {
        Repo::open(self.dir())
    }

    /// A session acting as the call's agent (or, over HTTP without one, as
    /// the git user: operations that need an agent then say so), with
    /// `key` for the one mutating operation of the call.
    fn session(&self, key: Option<&str>) -> Result<CallSession<'_>> {
        let actor = match &self.agent {
            Some(agent) => Actor::Agent(agent.to_string()),
            None => Actor::Person(self.repo()?.git_person()?.unwrap_or_else(|| "mcp".into())),
        };
        let key = key.map(IdempotencyKey::new).transpose()?;
        let session = Session::new(actor).with_clock(self.server.clock()?).with_key(key);
        Ok(CallSession { call: self, session })
    }
}

/// The error document a tool returns, with the fix said in MCP's terms
/// where the library's words point at a command line or an environment.
fn tool_error(mut err: Error) -> CallToolResult {
    let hint = match err.kind {
        Kind::NoAgent => Some("start the server with ORC_AGENT set (or send an X-Orc-Agent header over HTTP)"),
        Kind::NothingReady => Some("add work with orc_add_task, or orc_wait for a claimed task and try again"),
        Kind::ClaimExpired => Some("claim it again with orc_claim first"),
        _ => None,
    };
    if let Some(hint) = hint {
        err.hint = Some(hint.into());
    }
    CallToolResult::structured_error(clipped(err).to_json())
}

/// `err` with long inputs clipped. An error names its input (`id`, `name`)
/// so a script can branch on it; a 10 MB argument must not come back in
/// the answer, which would cost the agent its context and can overrun the
/// client's line limit.
fn clipped(mut err: Error) -> Error {
    for value in err.fields.values_mut() {
        if let serde_json::Value::String(text) = value {
            if text.len() > MAX_ECHO {
                *value = serde_json::Value::String(crate::model::names::printable(text));
            }
        }
    }
    err
}

/// The longest input an error document repeats as it is.
const MAX_ECHO: usize = 256;

/// Instructions for the client: the everyday loop, in a few lines.
const INSTRUCTIONS: &str = "orc coordinates agents through git; every change is a commit.
Loop: orc_next claims the best ready task and returns its claim_token and your brief. Work; call orc_heartbeat every few minutes to keep the claim. Then orc_finish (outcome complete or fail, with the token). nothing_ready: orc_wait on a task, or try later.
Shared resources: orc_lock acquire/release (keep the fencing token). Notes for the team: orc_kb. Resources: orc://primer, orc://brief/{agent}, orc://kb/{topic}.
Refusals are tool errors with error.kind (already_claimed, nothing_ready, lock_held, not_holder, stale_token, terminal): read it and move on.";

impl ServerHandler for OrcMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().enable_resources().build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("orc", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::find(name).map(tools::ToolDef::tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, McpError> {
        let Some(tool) = tools::find(&request.name) else {
            return Err(McpError::invalid_params(
                format!("no tool named {}", crate::model::names::printable(&request.name)),
                Some(serde_json::json!({"kind": Kind::NotFound.as_str()})),
            ));
        };
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let result = match self.run_tool(tool, args, &context).await {
            Ok(value) => CallToolResult::structured(value),
            Err(err) => tool_error(err),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourcesResult, McpError> {
        let agent = self.agent_for(&context).map_err(resources::protocol_error)?;
        let server = self.clone();
        let listed = tokio::task::spawn_blocking(move || resources::list(&server, agent.as_ref())).await;
        Ok(ListResourcesResult::with_all_items(listed.map_err(internal)?.map_err(resources::protocol_error)?))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<ReadResourceResponse, McpError> {
        let agent = self.agent_for(&context).map_err(resources::protocol_error)?;
        let server = self.clone();
        let read = tokio::task::spawn_blocking(move || resources::read(&server, agent.as_ref(), &request.uri)).await;
        Ok(read.map_err(internal)??.into())
    }
}

fn internal(err: tokio::task::JoinError) -> McpError {
    McpError::internal_error(format!("the call stopped: {err}"), None)
}

/// Serves MCP on stdin and stdout until the client closes them.
pub fn serve_stdio(config: Config) -> Result<()> {
    let server = OrcMcp::new(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", &e))?;
    runtime.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::new(Kind::Io, format!("the MCP client did not start a session: {e}")))?;
        running.waiting().await.map_err(|e| Error::new(Kind::Internal, format!("the MCP server stopped: {e}")))?;
        Ok(())
    })
}

/// The same server over streamable HTTP, for `orc serve` to mount (at
/// `/mcp`, behind its token). Stateless: each request is answered on its
/// own, in JSON, so no session outlives a request; a request's agent is
/// its `X-Orc-Agent` header, else `config.agent`. `allowed_hosts` are the
/// `Host` values accepted (DNS rebinding); empty keeps rmcp's loopback
/// default.
pub fn http_router(config: Config, allowed_hosts: Vec<String>) -> Result<axum::Router> {
    use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
    use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
    let server = OrcMcp::new(config)?;
    let mut http = StreamableHttpServerConfig::default().with_legacy_session_mode(false).with_json_response(true);
    if !allowed_hosts.is_empty() {
        http = http.with_allowed_hosts(allowed_hosts);
    }
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::new(NeverSessionManager::default()), http);
    Ok(axum::Router::new().fallback_service(service))
}
