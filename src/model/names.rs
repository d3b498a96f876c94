//! Allow-listed names: every name becomes a path component in the branch, so
//! anything that could escape its folder or confuse a terminal is refused
//! before a byte is written.

use crate::error::{Error, Kind, Result};

pub const MAX_NAME_LEN: usize = 64;

/// What a name is for, used in messages.
#[derive(Debug, Clone, Copy)]
pub enum NameKind {
    Workstream,
    Agent,
    Resource,
}

impl NameKind {
    fn label(self) -> &'static str {
        match self {
            Self::Workstream => "workstream",
            Self::Agent => "agent",
            Self::Resource => "resource",
        }
    }
}

/// Why a name is not allowed, or None when it is.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Some(format!("it is {} characters long; the limit is {MAX_NAME_LEN}", name.chars().count()));
    }
    if let Some(bad) = name.chars().find(|c| c.is_control()) {
        return Some(format!("it contains the control character {bad:?}"));
    }
    if name.contains('/') || name.contains('\\') {
        return Some("it contains a path separator".into());
    }
    if name == "." || name == ".." {
        return Some("it is a relative path".into());
    }
    let first = name.chars().next().expect("checked non-empty above");
    if !first.is_ascii_alphanumeric() {
        return Some(format!("it starts with {first:?}; names start with a letter or digit"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Some(format!("it contains {bad:?}; allowed are letters, digits, '.', '_' and '-'"));
    }
    None
}

/// Checks a workstream, agent or resource name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
pub fn check_name(kind: NameKind, name: &str) -> Result<()> {
    match name_problem(name) {
        None => Ok(()),
        Some(problem) => {
            Err(Error::new(Kind::InvalidName, format!("invalid {} name {}: {problem}", kind.label(), printable(name)))
                .with("name", name)
                .with_hint("names match [A-Za-z0-9][A-Za-z0-9._-]{0,63}, for example `api-v2`"))
        }
    }
}

/// Workstream names may not look like task ids, so `orc t claim X Y` can tell
/// `<ws> <id>` from `<id> <agent>` by spelling alone.
pub fn check_workstream_name(name: &str) -> Result<()> {
    check_name(NameKind::Workstream, name)?;
    if name.to_ascii_lowercase().starts_with("t-") {
        return Err(Error::new(
            Kind::InvalidName,
            format!(
                "invalid workstream name {}: names starting with \"t-\" are reserved for task ids",
                printable(name)
            ),
        )
        .with("name", name)
        .with_hint("pick another name, for example `tasks-api`"));
    }
    Ok(())
}

/// A value quoted for a one-line message, with control characters escaped so
/// branch content cannot move the cursor or change colours.
pub fn printable(value: &str) -> String {
    let clipped: String = value.chars().take(80).collect();
    let ellipsis = if value.chars().count() > 80 { "…" } else { "" };
    format!("\"{}\"{ellipsis}", clipped.escape_debug())
}

/// Text from the branch made safe for a terminal: control characters other
/// than newline and tab are replaced.
pub fn terminal_safe(value: &str) -> String {
    value.chars().map(|c| if c.is_control() && c != '\n' && c != '\t' { '\u{fffd}' } else { c }).collect()
}

/// Declares a string newtype that holds only values `$check` accepts.
/// Deserialising goes through the same check (`serde(try_from)`), so an
/// operation built from JSON (a replayed trailer, an HTTP body, an MCP
/// call) is checked exactly like one built from flags.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `value`; the error says what is wrong and how to fix it.
            pub fn new(value: &str) -> Result<Self> {
                let check: fn(&str) -> Result<()> = $check;
                check(value)?;
                Ok(Self(value.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                let check: fn(&str) -> Result<()> = $check;
                check(&value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
pub(crate) use validated_string;

validated_string!(
    /// A workstream name: a path component that cannot look like a task id.
    WorkstreamName,
    check_workstream_name
);
validated_string!(
    /// An agent name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    AgentName,
    |name| check_name(NameKind::Agent, name)
);
validated_string!(
    /// A lock resource name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    ResourceName,
    |name| check_name(NameKind::Resource, name)
);

/// A short free-text label (an agent's role or status line).
pub fn check_label(label: &str) -> Result<()> {
    if label.chars().count() > 200 || label.chars().any(char::is_control) {
        return Err(Error::new(Kind::InvalidInput, "a role or status is at most 200 printable characters")
            .with_hint("keep it to one short line"));
    }
    Ok(())
}

validated_string!(
    /// A role or status line: at most 200 printable characters.
    Label,
    check_label
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["revenue", "agent-1", "a", "A.b_c-d", &"x".repeat(64), "0day"] {
            assert!(name_problem(ok).is_none(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in
            ["", "../x", "a/b", "a\\b", ".hidden", "-flag", "a b", "a\nb", "a\0b", &"x".repeat(65), "ü", ".", ".."]
        {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn names_built_from_json_are_checked_like_names_from_flags() {
        assert!(serde_json::from_str::<WorkstreamName>(r#""a/b""#).is_err());
        assert!(serde_json::from_str::<WorkstreamName>(r#""t-x""#).is_err());
        assert!(serde_json::from_str::<AgentName>(r#""../x""#).is_err());
        assert!(serde_json::from_str::<ResourceName>(r#""""#).is_err());
        let ok: WorkstreamName = serde_json::from_str(r#""revenue""#).unwrap();
        assert_eq!(ok.as_str(), "revenue");
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#""revenue""#);
    }

    #[test]
    fn workstreams_cannot_look_like_task_ids() {
        assert!(check_workstream_name("t-api").is_err());
        assert!(check_workstream_name("tasks").is_ok());
    }
}
