//! Who may ask: the bearer token, the `Host` and `Origin` checks, and the
//! bound on requests in flight. One middleware, applied to the whole
//! router, so anything nested into it later (`/mcp`) is behind it too.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::reply::ApiError;
use crate::error::{Error, Kind};

/// Requests served at once; more are answered 503 at once rather than
/// queued behind a backlog of git work.
pub const MAX_IN_FLIGHT: usize = 256;

/// The access rules of one running server.
pub struct Guard {
    token: String,
    /// `Host` values accepted; None when bound to every interface, where
    /// the token (required for every request there) is the defence.
    hosts: Option<Vec<String>>,
    /// Bound beyond loopback: reads need the token too.
    reads_need_token: bool,
    port: u16,
    in_flight: Arc<Semaphore>,
}

impl Guard {
    pub fn new(token: String, bound: SocketAddr) -> Self {
        let port = bound.port();
        let ip = bound.ip();
        let hosts = if ip.is_unspecified() {
            None
        } else {
            let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")];
            hosts.push(match ip {
                std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            });
            Some(hosts)
        };
        Self {
            token,
            hosts,
            reads_need_token: !ip.is_loopback(),
            port,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// The cookie the live page carries the token in: named for the port,
    /// as browsers share cookies between ports of one host.
    pub fn cookie_name(&self) -> String {
        format!("orc_token_{}", self.port)
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> usize {
        MAX_IN_FLIGHT - self.in_flight.available_permits()
    }

    /// Is `presented` the token? Compared in constant time.
    pub fn is_token(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// How the request proves it holds the token, if it does.
    fn credential(&self, headers: &HeaderMap) -> Option<Credential> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if bearer.is_some_and(|b| self.is_token(b)) {
            return Some(Credential::Bearer);
        }
        let name = self.cookie_name();
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value);
        cookie.filter(|c| self.is_token(c)).map(|_| Credential::Cookie)
    }
}

/// How a request carried the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// `Authorization: Bearer`: a browser never adds it on its own.
    Bearer,
    /// The page's cookie: a browser sends it by itself, so a write with it
    /// must also show it came from this server's own page.
    Cookie,
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

fn refuse(status: StatusCode, kind: Kind, message: &str, hint: &str) -> Response {
    ApiError::with_status(Error::new(kind, message).with_hint(hint), status).into_response()
}

/// Checks, in order: the `Host` (DNS rebinding: a page on another name
/// that resolves here), a cross-origin write (CSRF), the token, and the
/// in-flight bound.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let method = request.method().clone();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    if let Some(hosts) = &guard.hosts {
        if !hosts.contains(&host) {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                Kind::WrongHost,
                &format!("Host {host:?} is not this server's address"),
                "connect to the address orc serve printed (127.0.0.1 or localhost)",
            );
        }
    }
    let same_origin = {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        // A sandboxed frame or a file:// page sends `Origin: null`: foreign too.
        let foreign = site.is_some_and(|s| s != "same-origin" && s != "none")
            || origin.is_some_and(|o| o != format!("http://{host}"));
        (!foreign).then_some(origin.is_some() || site == Some("same-origin"))
    };
    // Resource isolation: a page of another site may send a browser here
    // (a link is fine), but may not make it fetch anything, not even a
    // read: that would let any web page hold the waits and event streams
    // of this server. Browsers send Sec-Fetch-* on every request.
    let fetched_cross_site = {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
        matches!(site, Some("cross-site" | "same-site")) && !(is_read(&method) && mode == Some("navigate"))
    };
    if fetched_cross_site {
        return refuse(
            StatusCode::FORBIDDEN,
            Kind::Forbidden,
            "requests from another site's pages are refused",
            "open this server's page itself, or use a client that is not a browser",
        );
    }
    if !is_read(&method) && same_origin.is_none() {
        return refuse(
            StatusCode::FORBIDDEN,
            Kind::Forbidden,
            "cross-origin writes are refused",
            "send writes from this server's own page, or from a client that is not a browser",
        );
    }
    let path = request.uri().path();
    // `/?token=` is the sign-in address: the page checks the token itself.
    let signing_in = path == "/" && request.uri().query().is_some_and(|q| q.contains("token="));
    let open = signing_in || matches!(path, "/healthz" | "/assets/live.js");
    let needs_token = !open && (!is_read(&method) || guard.reads_need_token);
    let credential = guard.credential(headers);
    if needs_token && credential.is_none() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            Kind::Unauthorized,
            if is_read(&method) {
                "this server is reachable beyond this machine: reads need the token too"
            } else {
                "writes need the server's token"
            },
            "send Authorization: Bearer <token> (the token is in .git/orc/serve.token, or ORC_SERVE_TOKEN); \
             in a browser, open the address orc serve printed",
        );
    }
    // A cookie rides along on any request a browser makes, so a write with
    // only the cookie must say it came from this origin (browsers send
    // Origin on every cross-origin and same-origin POST).
    if !is_read(&method) && credential == Some(Credential::Cookie) && same_origin != Some(true) {
        return refuse(
            StatusCode::FORBIDDEN,
            Kind::Forbidden,
            "a write with the page's cookie must come from the page (no Origin header)",
            "send Authorization: Bearer <token> instead",
        );
    }
    let Ok(_permit) = guard.in_flight.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            Kind::Busy,
            "the server is at its limit of requests in flight",
            "retry in a moment",
        );
    };
    next.run(request).await
}
