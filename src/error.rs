//! The one error type the library returns, with the stable `kind` strings and
//! exit codes of DESIGN §5. Refusals (the state said no) are kept apart from
//! bad input and from environment failures so callers can branch on them.
//!
//! Rules this module keeps:
//! - A kind's class (and so the exit code and HTTP status a front end maps
//!   it to) is fixed by the kind: an error cannot be built with a kind of
//!   one class and the exit code of another.
//! - A kind's string is stable: agents script against it.
//! - Hints describe the fix in words or name a git command; they never
//!   carry one front end's syntax (`--flag`, `orc …`): the CLI, the HTTP
//!   server and the MCP server all show them.

use serde_json::{Map, Value};

/// Where an error came from, which fixes the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The state refused the operation (exit 1).
    Refused,
    /// Bad input or usage (exit 2).
    Input,
    /// git, the file system or a broken file failed (exit 3).
    Environment,
}

impl Class {
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Refused => 1,
            Self::Input => 2,
            Self::Environment => 3,
        }
    }
}

/// Every kind of error, with its stable string and its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Another agent holds the task's claim.
    AlreadyClaimed,
    /// A supervisor (`orc work`) already runs under that agent name.
    AlreadyRunning,
    /// `orc serve`: the request lacks the server's token (HTTP 401).
    Unauthorized,
    /// `orc serve`: a cross-origin or cross-site request (HTTP 403).
    Forbidden,
    /// `orc serve`: a `Host` that is not the server's (HTTP 421).
    WrongHost,
    /// A workstream or task of that name or id exists.
    AlreadyExists,
    /// The task waits for dependencies that are not done.
    Blocked,
    /// A command orc was asked to run could not be started.
    SpawnFailed,
    /// The agent's claim ran out; claim again first.
    ClaimExpired,
    /// The idempotency key was used for another request.
    KeyReused,
    /// Another agent holds the lock.
    LockHeld,
    /// The lock is free, or the task unclaimed.
    NotHeld,
    /// Only the holder may do this.
    NotHolder,
    /// No task can be claimed now.
    NothingReady,
    /// The host refused the push (not contention).
    PushRefused,
    /// The claim changed since the token was handed out.
    StaleToken,
    /// The task being waited for failed.
    TaskFailed,
    /// The task is done or cancelled.
    Terminal,
    /// A wait ran out of time.
    Timeout,
    /// A recorded operation this orc does not know.
    UnknownOperation,
    /// The task's state does not allow this transition.
    WrongState,
    /// The branch moved past the tip a request named (HTTP `If-Match`).
    TipMoved,
    /// The agent still holds claims or locks.
    AgentBusy,
    /// The workstream is archived: it takes no new work.
    Archived,
    /// The dependencies would wait on each other forever.
    DependencyCycle,
    /// A task id prefix matches several tasks.
    AmbiguousId,
    /// Not an id of the expected shape.
    InvalidId,
    /// A value out of range or malformed.
    InvalidInput,
    /// A name that is not allowed as a path component.
    InvalidName,
    /// The operation acts as an agent and none is set.
    NoAgent,
    /// No git remote to sync with.
    NoRemote,
    /// No such task, workstream, topic or agent.
    NotFound,
    /// A file or folder of that name is in the way.
    PathConflict,
    /// Over a size limit.
    TooLarge,
    /// The command line or environment is malformed.
    Usage,
    /// The task is not in the named workstream.
    WrongWorkstream,
    /// A commit's Orc-Op trailer cannot be read.
    BrokenCommit,
    /// A file of the branch cannot be parsed.
    BrokenFile,
    /// The branch or the remote kept moving; retry.
    Busy,
    /// git or libgit2 failed.
    Git,
    /// A git hook of another tool is in the way.
    HookConflict,
    /// A bug in orc.
    Internal,
    /// A repository format orc cannot read (reftable refs).
    UnsupportedRepository,
    /// The orc branch is checked out in a worktree; orc will not move it.
    CheckedOut,
    /// The file system failed.
    Io,
    /// The remote could not be reached in time.
    Network,
    /// Not inside a git repository.
    NotARepository,
    /// The remote's branch lost commits this machine had synced.
    RemoteRewritten,
    /// The remote's repository does not exist (a wrong URL or path).
    RemoteNotFound,
    /// A template failed to render.
    Render,
    /// A local commit cannot be replayed.
    Unreplayable,
}

impl Kind {
    /// Every kind, for documentation and tests.
    pub const ALL: &'static [Self] = &[
        Self::AlreadyClaimed,
        Self::AlreadyExists,
        Self::Blocked,
        Self::ClaimExpired,
        Self::KeyReused,
        Self::LockHeld,
        Self::NotHeld,
        Self::NotHolder,
        Self::NothingReady,
        Self::PushRefused,
        Self::StaleToken,
        Self::TaskFailed,
        Self::Terminal,
        Self::Timeout,
        Self::UnknownOperation,
        Self::WrongState,
        Self::TipMoved,
        Self::AgentBusy,
        Self::AlreadyRunning,
        Self::Unauthorized,
        Self::Forbidden,
        Self::WrongHost,
        Self::SpawnFailed,
        Self::Archived,
        Self::DependencyCycle,
        Self::AmbiguousId,
        Self::InvalidId,
        Self::InvalidInput,
        Self::InvalidName,
        Self::NoAgent,
        Self::NoRemote,
        Self::NotFound,
        Self::PathConflict,
        Self::TooLarge,
        Self::Usage,
        Self::WrongWorkstream,
        Self::BrokenCommit,
        Self::BrokenFile,
        Self::Busy,
        Self::Git,
        Self::HookConflict,
        Self::Internal,
        Self::UnsupportedRepository,
        Self::CheckedOut,
        Self::Io,
        Self::Network,
        Self::NotARepository,
        Self::RemoteRewritten,
        Self::RemoteNotFound,
        Self::Render,
        Self::Unreplayable,
    ];

    /// The kind whose stable string is `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }

    /// The stable string agents match on (`already_claimed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyClaimed => "already_claimed",
            Self::AlreadyExists => "already_exists",
            Self::Blocked => "blocked",
            Self::ClaimExpired => "claim_expired",
            Self::KeyReused => "key_reused",
            Self::LockHeld => "lock_held",
            Self::NotHeld => "not_held",
            Self::NotHolder => "not_holder",
            Self::NothingReady => "nothing_ready",
            Self::PushRefused => "push_refused",
            Self::StaleToken => "stale_token",
            Self::TaskFailed => "task_failed",
            Self::Terminal => "terminal",
            Self::Timeout => "timeout",
            Self::UnknownOperation => "unknown_operation",
            Self::WrongState => "wrong_state",
            Self::TipMoved => "tip_moved",
            Self::AgentBusy => "agent_busy",
            Self::AlreadyRunning => "already_running",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::WrongHost => "wrong_host",
            Self::SpawnFailed => "spawn_failed",
            Self::Archived => "archived",
            Self::DependencyCycle => "dependency_cycle",
            Self::AmbiguousId => "ambiguous_id",
            Self::InvalidId => "invalid_id",
            Self::InvalidInput => "invalid_input",
            Self::InvalidName => "invalid_name",
            Self::NoAgent => "no_agent",
            Self::NoRemote => "no_remote",
            Self::NotFound => "not_found",
            Self::PathConflict => "path_conflict",
            Self::TooLarge => "too_large",
            Self::Usage => "usage",
            Self::WrongWorkstream => "wrong_workstream",
            Self::BrokenCommit => "broken_commit",
            Self::BrokenFile => "broken_file",
            Self::Busy => "busy",
            Self::Git => "git",
            Self::HookConflict => "hook_conflict",
            Self::Internal => "internal",
            Self::UnsupportedRepository => "unsupported_repository",
            Self::CheckedOut => "checked_out",
            Self::Io => "io",
            Self::Network => "network",
            Self::NotARepository => "not_a_repository",
            Self::RemoteRewritten => "remote_rewritten",
            Self::RemoteNotFound => "remote_not_found",
            Self::Render => "render",
            Self::Unreplayable => "unreplayable",
        }
    }

    pub fn class(self) -> Class {
        match self {
            Self::AlreadyClaimed => Class::Refused,
            Self::AlreadyExists => Class::Refused,
            Self::Blocked => Class::Refused,
            Self::ClaimExpired => Class::Refused,
            Self::KeyReused => Class::Input,
            Self::LockHeld => Class::Refused,
            Self::NotHeld => Class::Refused,
            Self::NotHolder => Class::Refused,
            Self::NothingReady => Class::Refused,
            Self::PushRefused => Class::Refused,
            Self::StaleToken => Class::Refused,
            Self::TaskFailed => Class::Refused,
            Self::Terminal => Class::Refused,
            Self::Timeout => Class::Refused,
            Self::UnknownOperation => Class::Refused,
            Self::WrongState => Class::Refused,
            Self::TipMoved => Class::Refused,
            Self::AgentBusy => Class::Refused,
            Self::AlreadyRunning => Class::Refused,
            Self::Unauthorized | Self::Forbidden | Self::WrongHost => Class::Input,
            Self::SpawnFailed => Class::Environment,
            Self::Archived => Class::Refused,
            Self::DependencyCycle => Class::Refused,
            Self::AmbiguousId => Class::Input,
            Self::InvalidId => Class::Input,
            Self::InvalidInput => Class::Input,
            Self::InvalidName => Class::Input,
            Self::NoAgent => Class::Input,
            Self::NoRemote => Class::Input,
            Self::NotFound => Class::Input,
            Self::PathConflict => Class::Input,
            Self::TooLarge => Class::Input,
            Self::Usage => Class::Input,
            Self::WrongWorkstream => Class::Input,
            Self::BrokenCommit => Class::Environment,
            Self::BrokenFile => Class::Environment,
            Self::Busy => Class::Environment,
            Self::Git => Class::Environment,
            Self::HookConflict => Class::Environment,
            Self::Internal => Class::Environment,
            Self::UnsupportedRepository => Class::Environment,
            Self::CheckedOut => Class::Environment,
            Self::Io => Class::Environment,
            Self::Network => Class::Environment,
            Self::NotARepository => Class::Environment,
            Self::RemoteRewritten => Class::Environment,
            Self::RemoteNotFound => Class::Environment,
            Self::Render => Class::Environment,
            Self::Unreplayable => Class::Environment,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An error with a stable kind, a one-line message, an optional hint (what
/// fixes it) and extra machine-readable fields for `--json`. Boxed, so
/// `Result`s stay one pointer wide on the happy path.
#[derive(Debug, Clone)]
pub struct Error(Box<ErrorData>);

#[derive(Debug, Clone)]
pub struct ErrorData {
    pub class: Class,
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    pub fields: Map<String, Value>,
    /// What failed underneath (git's or the OS's own message), kept whole.
    pub cause: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::ops::Deref for Error {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorData {
            class: kind.class(),
            kind,
            message: message.into(),
            hint: None,
            fields: Map::new(),
            cause: None,
        }))
    }

    /// A record in the branch that cannot be parsed: names the file and line.
    pub fn broken_file(path: &str, line: Option<usize>, problem: impl std::fmt::Display) -> Self {
        let at = match line {
            Some(line) => format!("{path}:{line}"),
            None => path.to_string(),
        };
        Self::new(Kind::BrokenFile, format!("{at}: {problem}"))
            .with("path", path)
            .with("line", line)
            .with_hint("fix or restore the file on the orc branch; the doctor check lists every broken file")
    }

    /// A failure of the file system while `doing` (which names the path).
    pub fn io(doing: &str, err: &std::io::Error) -> Self {
        Self::new(Kind::Io, format!("{doing}: {err}")).with_cause(err)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Keeps what failed underneath.
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).expect("plain data always serialises to JSON");
        self.fields.insert(key.to_string(), value);
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.class.exit_code()
    }

    /// The `{"error": {...}}` document every front end returns.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("kind".into(), Value::from(self.kind.as_str()));
        body.insert("message".into(), Value::from(self.message.clone()));
        if let Some(hint) = &self.hint {
            body.insert("hint".into(), Value::from(hint.clone()));
        }
        for (key, value) in &self.fields {
            body.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let mut doc = Map::new();
        doc.insert("error".into(), Value::Object(body));
        Value::Object(doc)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_unique_stable_strings() {
        let mut names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(count, names.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    #[test]
    fn every_kind_parses_back_from_its_string_and_nothing_else_does() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(Kind::parse("Already_Claimed"), None);
        assert_eq!(Kind::parse(""), None);
    }

    #[test]
    fn the_class_follows_the_kind() {
        assert_eq!(Error::new(Kind::AlreadyClaimed, "x").exit_code(), 1);
        assert_eq!(Error::new(Kind::InvalidName, "x").exit_code(), 2);
        assert_eq!(Error::new(Kind::Network, "x").exit_code(), 3);
        assert_eq!(Error::new(Kind::KeyReused, "x").to_json()["error"]["kind"], "key_reused");
    }
}
