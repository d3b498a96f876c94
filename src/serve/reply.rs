//! Answers: the §5 error object with the HTTP status its kind's class
//! maps to, JSON bodies read into validated types, and the branch tip as
//! an entity tag.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Class, Error, Kind};

/// An error on its way out: the library's error, and a status when the
/// HTTP layer knows better than the kind (412 for `If-Match`).
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub status: Option<StatusCode>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self { error, status: None }
    }
}

impl ApiError {
    pub fn with_status(error: Error, status: StatusCode) -> Self {
        Self { error, status: Some(status) }
    }
}

/// The status an error kind answers with: refused → 409, bad input → 400
/// (malformed), 404 (missing), 413 (too large) or 422 (well-formed but
/// invalid), environment → 503 (a bug in orc: 500).
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Usage => StatusCode::BAD_REQUEST,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::Unauthorized => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::WrongHost => StatusCode::MISDIRECTED_REQUEST,
        Kind::TipMoved => StatusCode::PRECONDITION_FAILED,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        kind => match kind.class() {
            Class::Refused => StatusCode::CONFLICT,
            Class::Input => StatusCode::UNPROCESSABLE_ENTITY,
            Class::Environment => StatusCode::SERVICE_UNAVAILABLE,
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| status_of(self.error.kind));
        let mut response = (status, axum::Json(self.error.to_json())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// How long a client may take to send a request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A JSON body read into `T`, whose fields are validated types: a body
/// that does not parse is 400, one that names a bad value is 422, and
/// both say which field and why. An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let reading = tokio::time::timeout(BODY_TIMEOUT, axum::body::Bytes::from_request(req, state));
        let read = reading.await.map_err(|_| {
            ApiError::with_status(
                Error::new(Kind::Usage, format!("the request body did not arrive within {BODY_TIMEOUT:?}")),
                StatusCode::REQUEST_TIMEOUT,
            )
        })?;
        let bytes = read.map_err(|rejection| {
            let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(Kind::TooLarge, "the request body is over the server's limit")
                    .with_hint("send less; knowledge topics hold at most 4 MiB")
            } else {
                Error::new(Kind::Usage, format!("cannot read the request body: {rejection}"))
            };
            ApiError::from(error)
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(JsonBody).map_err(|e| body_error(&e).into())
    }
}

/// The error for a body that serde refused: malformed JSON is usage (400),
/// a value a validated type refused is invalid input (422).
pub fn body_error(e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    // serde_json ends its message with the position; one line says enough.
    let full = e.to_string();
    let message = full.rfind(" at line ").map_or(full.as_str(), |at| &full[..at]);
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Error::new(Kind::Usage, format!("the request body is not JSON: {message}"))
                .with_hint("send a JSON object with Content-Type: application/json")
        }
        Category::Data => Error::new(Kind::InvalidInput, format!("the request body is not valid: {message}"))
            .with_hint("see /api/openapi.json for each route's body"),
    }
}

/// The entity tag of a branch tip (`"-"` before the branch exists).
pub fn etag_of(tip: Option<&str>) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", tip.unwrap_or("-"))).expect("hex digits are a valid header value")
}

/// A JSON answer labelled with the tip it was read at.
pub fn json_at(status: StatusCode, tip: Option<&str>, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag_of(tip));
    response
}

/// Does an `If-None-Match` header name this tip (so 304 may answer)?
pub fn none_match_hits(headers: &HeaderMap, tip: Option<&str>) -> bool {
    let Some(value) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else { return false };
    let ours = etag_of(tip);
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// The tip an `If-Match` header names: None when absent or `*`.
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.trim_start_matches("W/").trim_matches('"');
    if tag.is_empty() || text.contains(',') {
        return Err(Error::new(Kind::Usage, format!("If-Match {text:?} is not one entity tag"))
            .with_hint("send the ETag of a GET as it came, e.g. If-Match: \"<tip>\"")
            .into());
    }
    Ok(Some(tag.to_string()))
}
