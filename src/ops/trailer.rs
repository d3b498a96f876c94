//! The `Orc-Op` trailer: the one envelope every orc commit carries, written
//! and parsed here and nowhere else (DESIGN §2).
//!
//! Rules this module keeps:
//! - The top-level keys belong to orc alone (`v`, `id`, `op`, `by`, `as`,
//!   `at`, `key`, `input`). The operation's input, free-form event data
//!   included, is nested under `input` and is never merged into the top
//!   level, so no input can replace the envelope's fields.
//! - The envelope is serialised from a struct, so a key appears once.
//! - Parsing takes the last `Orc-Op:` line (git trailers sit at the end)
//!   and reads only the reserved keys; keys a later orc adds are ignored.
//!   Trailers written before the envelope was nested (orc 0.1 put the
//!   operation's details beside the reserved keys) stay readable: their
//!   `task` detail is kept as [`Envelope::legacy_task`] for replay.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Kind, Result};
use crate::model::task::Actor;

/// The version of the envelope this orc writes.
pub const ENVELOPE_VERSION: u32 = 1;
const PREFIX: &str = "Orc-Op: ";

/// One operation as its commit records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The operation's ULID: unique on every machine, the same after replay.
    pub id: String,
    /// The catalog name (`task.claim`).
    pub op: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    /// The idempotency key given to this operation, and to no other.
    pub key: Option<String>,
    /// The operation's whole input, as its type serialises.
    pub input: Value,
    /// The `task` detail of a trailer written before inputs were nested.
    pub legacy_task: Option<String>,
}

/// The wire form: field order is the order in the commit message.
#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    id: String,
    op: String,
    by: String,
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    acting_as: Option<String>,
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default)]
    input: Value,
}

/// A subject carries people's text (task titles, lock names) into
/// `git log orc`, which prints it raw: line breaks and tabs become spaces
/// (one line, no forged trailer), and whatever could drive or deceive a
/// terminal becomes U+FFFD, as on orc's own output.
fn safe_subject(subject: &str) -> String {
    let one_line = subject.replace(['\n', '\r', '\t'], " ");
    crate::model::names::terminal_safe(&one_line)
}

/// JSON that `git log` can print: serde_json escapes C0 controls but
/// writes DEL, C1 controls and bidi or zero-width characters as they are.
/// Those can only sit inside JSON strings, where a `\u` escape (`\u001b`) means the same
/// character (all of them are in the Basic Multilingual Plane), so the
/// input parses back unchanged.
fn ascii_escaped(json: &str) -> String {
    if !json.chars().any(crate::model::names::is_terminal_unsafe) {
        return json.to_string();
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if crate::model::names::is_terminal_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

const RESERVED: [&str; 8] = ["v", "id", "op", "by", "as", "at", "key", "input"];

impl Envelope {
    /// The whole commit message: `orc: <subject>`, a blank line, the trailer.
    pub fn message(&self, subject: &str) -> String {
        let wire = Wire {
            v: ENVELOPE_VERSION,
            id: self.id.clone(),
            op: self.op.clone(),
            by: self.actor.name().to_string(),
            acting_as: Some(if self.actor.agent().is_some() { "agent" } else { "person" }.into()),
            at: self.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            key: self.key.clone(),
            input: self.input.clone(),
        };
        let json = ascii_escaped(&serde_json::to_string(&wire).expect("the envelope is plain data"));
        format!("orc: {}\n\n{PREFIX}{json}\n", safe_subject(subject))
    }

    /// The operation a commit message records; None for a commit without a
    /// trailer (the root, a hand edit). `commit` names the commit in errors.
    pub fn parse(message: &str, commit: &str) -> Result<Option<Self>> {
        let Some(line) = message.lines().rev().find_map(|l| l.strip_prefix(PREFIX)) else { return Ok(None) };
        let broken = |problem: String| {
            Error::new(Kind::BrokenCommit, format!("commit {commit}: its Orc-Op trailer {problem}"))
                .with("commit", commit)
                .with_hint("a commit made by hand or by a broken tool; the doctor check lists the branch's problems")
        };
        let fields: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| broken(format!("is not a JSON object: {e}")))?;
        let legacy_task = if fields.keys().any(|k| !RESERVED.contains(&k.as_str())) {
            fields.get("task").and_then(Value::as_str).map(str::to_string)
        } else {
            None
        };
        let wire: Wire = serde_json::from_value(Value::Object(
            fields.into_iter().filter(|(k, _)| RESERVED.contains(&k.as_str())).collect(),
        ))
        .map_err(|e| broken(format!("lacks a field: {e}")))?;
        let at = DateTime::parse_from_rfc3339(&wire.at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| broken(format!("time {:?} is not RFC 3339: {e}", wire.at)))?;
        let actor = match wire.acting_as.as_deref() {
            Some("person") => Actor::Person(wire.by),
            _ => Actor::Agent(wire.by),
        };
        Ok(Some(Self { id: wire.id, op: wire.op, actor, at, key: wire.key, input: wire.input, legacy_task }))
    }

    /// The operation id recorded in a commit message, if any.
    pub fn id_in(message: &str) -> Option<String> {
        Self::parse(message, "").ok().flatten().map(|e| e.id)
    }

    /// The operation name recorded in a commit message, if any.
    pub fn op_in(message: &str) -> Option<String> {
        Self::parse(message, "").ok().flatten().map(|e| e.op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(input: Value) -> Envelope {
        Envelope {
            id: "01JD0000000000000000000000".into(),
            op: "event.log".into(),
            actor: Actor::Agent("agent-1".into()),
            at: DateTime::parse_from_rfc3339("2026-11-21T10:04:05Z").unwrap().with_timezone(&Utc),
            key: Some("k-1".into()),
            input,
            legacy_task: None,
        }
    }

    #[test]
    fn an_envelope_round_trips() {
        let envelope = sample(serde_json::json!({"kind": "deployed", "data": {"x": 1}}));
        let message = envelope.message("log deployed by agent-1");
        assert!(message.starts_with("orc: log deployed by agent-1\n\nOrc-Op: {\"v\":1,\"id\":"));
        assert_eq!(Envelope::parse(&message, "c").unwrap(), Some(envelope));
    }

    #[test]
    fn input_with_envelope_keys_cannot_replace_them() {
        let forged = serde_json::json!({"op": "task.claim", "id": "01FORGED", "by": "mallory", "key": "k-9",
                                        "data": {"op": "task.claim", "task": "t-0000000001"}});
        let envelope = sample(forged.clone());
        let parsed = Envelope::parse(&envelope.message("log x"), "c").unwrap().unwrap();
        assert_eq!(parsed.op, "event.log");
        assert_eq!(parsed.id, "01JD0000000000000000000000");
        assert_eq!(parsed.actor, Actor::Agent("agent-1".into()));
        assert_eq!(parsed.key.as_deref(), Some("k-1"));
        assert_eq!(parsed.input, forged);
        assert_eq!(parsed.legacy_task, None);
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let message = sample(Value::Null).message("a\nOrc-Op: {\"v\":1}\r");
        assert_eq!(message.lines().filter(|l| l.starts_with("Orc-Op: ")).count(), 1);
    }

    #[test]
    fn subjects_carry_no_terminal_controls() {
        let hostile = "add \u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}gpj.exe\u{200b}\tx\r\ny";
        let envelope = sample(serde_json::json!({"title": hostile, "data": {"x": "\u{7f}\u{85}\u{2066}"}}));
        let message = envelope.message(hostile);
        let subject = message.lines().next().unwrap();
        assert_eq!(subject, "orc: add \u{fffd}]0;pwned\u{fffd}\u{fffd}[2J\u{fffd}31m\u{fffd}gpj.exe\u{fffd} x  y");
        assert!(!message.chars().any(|c| crate::model::names::is_terminal_unsafe(c) || c == '\r'), "{message:?}");
        assert_eq!(message.lines().count(), 3, "subject, blank line, trailer");
        assert_eq!(Envelope::parse(&message, "c").unwrap(), Some(envelope), "the input is kept exactly");
    }

    #[test]
    fn legacy_trailers_are_read() {
        let message = "orc: claim t-1\n\nOrc-Op: {\"v\":1,\"id\":\"01A\",\"op\":\"task.claim\",\"task\":\"t-abc\",\"input\":{\"id\":\"t-a\"},\"by\":\"a1\",\"as\":\"agent\",\"at\":\"2026-01-01T00:00:00Z\"}\n";
        let parsed = Envelope::parse(message, "c").unwrap().unwrap();
        assert_eq!(parsed.legacy_task.as_deref(), Some("t-abc"));
        assert_eq!(parsed.op, "task.claim");
    }

    #[test]
    fn broken_trailers_are_errors_naming_the_commit() {
        let err = Envelope::parse("orc: x\n\nOrc-Op: {not json\n", "abc123").unwrap_err();
        assert_eq!(err.kind, "broken_commit");
        assert!(err.message.contains("abc123"), "{}", err.message);
        assert_eq!(Envelope::parse("hand edit\n", "c").unwrap(), None);
    }
}
