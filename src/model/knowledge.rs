//! Knowledge: `knowledge/<topic>.md` (plain Markdown, browsable on the git
//! host) with who wrote it when in `knowledge/.meta/<topic>.toml`. Topics
//! may nest (`api/auth`); every segment is a checked name, so no topic can
//! escape the folder or hide as a dot-file.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::names::{name_problem, printable};
use crate::error::{Error, Kind, Result};

/// Largest knowledge text: a long design note, not a data dump.
pub const MAX_KB_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_TOPIC_DEPTH: usize = 8;
pub const MAX_TOPIC_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    pub size: usize,
}

pub fn topic_path(topic: &str) -> String {
    format!("knowledge/{topic}.md")
}

pub fn meta_path(topic: &str) -> String {
    format!("knowledge/.meta/{topic}.toml")
}

/// Checks a topic: names joined by `/`.
pub fn check_topic(topic: &str) -> Result<()> {
    let fail = |problem: String| {
        Err(Error::new(Kind::InvalidName, format!("invalid topic {}: {problem}", printable(topic)))
            .with("topic", topic)
            .with_hint("topics are names joined by '/', for example `api-design` or `services/auth`"))
    };
    if topic.len() > MAX_TOPIC_LEN {
        return fail(format!("it is {} bytes long; the limit is {MAX_TOPIC_LEN}", topic.len()));
    }
    let segments: Vec<&str> = topic.split('/').collect();
    if segments.len() > MAX_TOPIC_DEPTH {
        return fail(format!("it nests {} deep; the limit is {MAX_TOPIC_DEPTH}", segments.len()));
    }
    for (i, segment) in segments.iter().enumerate() {
        let is_folder = i + 1 < segments.len();
        if is_folder && (segment.ends_with(".md") || segment.ends_with(".toml")) {
            return fail(format!(
                "segment {} would be a folder named like orc's own files (.md, .toml)",
                printable(segment)
            ));
        }
        if let Some(problem) = name_problem(segment) {
            return fail(if segment.is_empty() {
                match i {
                    0 if segments.len() > 1 => "it starts with '/' (absolute paths are not topics)".to_string(),
                    _ if topic.is_empty() => "it is empty".to_string(),
                    _ => "it has an empty segment ('//' or a trailing '/')".to_string(),
                }
            } else {
                format!("segment {} is not allowed: {problem}", printable(segment))
            });
        }
    }
    Ok(())
}

crate::model::names::validated_string!(
    /// A knowledge topic: names joined by `/`, each a safe path component.
    TopicName,
    check_topic,
    schema: {
        "type": "string",
        "maxLength": MAX_TOPIC_LEN,
        "description": "names matching [A-Za-z0-9][A-Za-z0-9._-]{0,63} joined by /"
    }
);

pub fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_KB_BYTES {
        return Err(Error::new(
            Kind::TooLarge,
            format!("the text is {} bytes; a topic holds at most {MAX_KB_BYTES}", text.len()),
        )
        .with_hint("split it into several topics, for example `design/part-1`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_topics_are_allowed() {
        for ok in ["api-design", "services/auth", "a/b/c.d_e-f"] {
            assert!(check_topic(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        for bad in
            ["", "../x", "a/../b", "/etc/passwd", "a//b", "a/", ".hidden", "a/.git", "a\\b", "a\0b", "a\nb", "C:x"]
        {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
        assert!(check_topic("a/".repeat(9).trim_end_matches('/')).is_err());
    }
}
