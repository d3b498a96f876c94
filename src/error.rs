//! The one error type the library returns, with the stable `kind` strings and
//! exit codes of DESIGN §5. Refusals (the state said no) are kept apart from
//! bad input and from environment failures so callers can branch on them.

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

/// An error with a stable kind, a one-line message, an optional hint (a command
/// that fixes it) and extra machine-readable fields for `--json`. Boxed, so
/// `Result`s stay one pointer wide on the happy path.
#[derive(Debug, Clone)]
pub struct Error(Box<ErrorData>);

#[derive(Debug, Clone)]
pub struct ErrorData {
    pub class: Class,
    pub kind: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub fields: Map<String, Value>,
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
    pub fn new(class: Class, kind: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorData { class, kind, message: message.into(), hint: None, fields: Map::new() }))
    }

    pub fn refused(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(Class::Refused, kind, message)
    }

    pub fn input(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(Class::Input, kind, message)
    }

    pub fn environment(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(Class::Environment, kind, message)
    }

    /// A record in the branch that cannot be parsed: names the file and line.
    pub fn broken_file(path: &str, line: Option<usize>, problem: impl std::fmt::Display) -> Self {
        let at = match line {
            Some(line) => format!("{path}:{line}"),
            None => path.to_string(),
        };
        Self::environment("broken_file", format!("{at}: {problem}"))
            .with("path", path)
            .with("line", line)
            .with_hint("fix or restore the file on the orc branch; `orc doctor` lists every broken file")
    }

    pub fn git(context: &str, err: &git2::Error) -> Self {
        Self::environment("git", format!("{context}: {}", err.message()))
    }

    pub fn io(context: &str, err: &std::io::Error) -> Self {
        Self::environment("io", format!("{context}: {err}"))
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
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

    /// The `{"error": {...}}` document printed under `--json`.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("kind".into(), Value::from(self.kind));
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
