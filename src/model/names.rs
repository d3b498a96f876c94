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

/// Whether a character must never reach a terminal as it is: C0 controls
/// other than newline and tab (ESC starts CSI and OSC sequences: colours,
/// cursor moves, window titles, hyperlinks), DEL, C1 controls (U+0080 to
/// U+009F; U+009B is a one-byte CSI), the Unicode bidi controls (which
/// reorder what is shown, as in "Trojan Source", CVE-2021-42574), and the
/// zero-width and invisible characters that hide text or make two names
/// look the same. A carriage return counts here; [`terminal_text`] keeps
/// one that ends a line (CRLF).
pub fn is_terminal_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            // Arabic letter mark; zero-width space, non-joiner, joiner; LRM, RLM
            '\u{061c}' | '\u{200b}'..='\u{200f}'
            // line and paragraph separators; bidi embeddings and overrides
            | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
            // word joiner, invisible operators, bidi isolates
            | '\u{2060}'..='\u{2069}'
            // zero-width no-break space (BOM); interlinear annotation
            | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        )
}

/// Text from the branch made safe for a terminal: every character
/// [`is_terminal_unsafe`] names becomes U+FFFD, so what was hidden shows as
/// a visible mark and column widths stay as they were. A carriage return
/// stays only as part of a CRLF line end; alone it would move the cursor
/// back over the line. Borrows when nothing changes, which is the common
/// case (listing 10k tasks prints a megabyte).
pub fn terminal_text(value: &str) -> std::borrow::Cow<'_, str> {
    let bytes = value.as_bytes();
    let unsafe_at = |i: usize, c: char| {
        if c == '\r' {
            bytes.get(i + 1) != Some(&b'\n')
        } else {
            is_terminal_unsafe(c)
        }
    };
    let Some(first) = value.char_indices().find(|&(i, c)| unsafe_at(i, c)).map(|(i, _)| i) else {
        return std::borrow::Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(value.len() + 8);
    out.push_str(&value[..first]);
    for (i, c) in value[first..].char_indices() {
        out.push(if unsafe_at(first + i, c) { '\u{fffd}' } else { c });
    }
    std::borrow::Cow::Owned(out)
}

/// [`terminal_text`] as an owned string.
pub fn terminal_safe(value: &str) -> String {
    terminal_text(value).into_owned()
}

/// Declares a string newtype that holds only values `$check` accepts.
/// Deserialising goes through the same check (`serde(try_from)`), so an
/// operation built from JSON (a replayed trailer, an HTTP body, an MCP
/// call) is checked exactly like one built from flags.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $crate::model::names::validated_string!($(#[$doc])* $name, $check, schema: { "type": "string" });
    };
    ($(#[$doc:meta])* $name:ident, $check:expr, schema: { $($schema:tt)* }) => {
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

        // Front ends describe their inputs with these schemas (OpenAPI, MCP
        // tool schemas); the check above stays the authority, the schema
        // only tells a client what will pass it.
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ $($schema)* })
            }
        }
    };
}
pub(crate) use validated_string;

validated_string!(
    /// A workstream name: a path component that cannot look like a task id.
    WorkstreamName,
    check_workstream_name,
    schema: { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "description": "a workstream name (not starting with t-)" }
);
validated_string!(
    /// An agent name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    AgentName,
    |name| check_name(NameKind::Agent, name),
    schema: { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "description": "an agent name" }
);
validated_string!(
    /// A lock resource name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    ResourceName,
    |name| check_name(NameKind::Resource, name),
    schema: { "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "description": "a lock resource name" }
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
    check_label,
    schema: { "type": "string", "maxLength": 200 }
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
    fn terminal_text_replaces_what_could_control_or_deceive_a_terminal() {
        let hostile = [
            "\u{1b}[31mred",                              // CSI
            "\u{1b}]0;title\u{7}",                        // OSC window title
            "\u{1b}]8;;http://x\u{1b}\\l",                // OSC 8 hyperlink
            "\u{9b}2J",                                   // C1 CSI
            "\u{85}\u{9d}",                               // other C1
            "a\rb",                                       // lone carriage return
            "\u{8}\u{7f}\u{0}",                           // backspace, DEL, NUL
            "\u{202e}evil\u{202c}",                       // bidi override
            "\u{2066}\u{2067}\u{2068}\u{2069}",           // isolates
            "\u{200e}\u{200f}\u{61c}",                    // marks
            "a\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}b", // zero-width
        ];
        for text in hostile {
            let safe = terminal_text(text);
            assert!(
                !safe
                    .chars()
                    .enumerate()
                    .any(|(i, c)| is_terminal_unsafe(c) || (c == '\r' && safe.chars().nth(i + 1) != Some('\n'))),
                "{text:?} -> {safe:?}"
            );
            assert_eq!(safe.chars().count(), text.chars().count(), "one mark per character: {text:?}");
        }
        assert_eq!(terminal_text("\u{1b}[31mred"), "\u{fffd}[31mred");
    }

    #[test]
    fn terminal_text_keeps_ordinary_text_as_it_is() {
        for ok in ["plain", "tab\there\nnew line", "crlf\r\nline", "ünïcödé ✓ 日本語 █░", ""] {
            assert!(matches!(terminal_text(ok), std::borrow::Cow::Borrowed(_)), "{ok:?}");
        }
    }

    #[test]
    fn workstreams_cannot_look_like_task_ids() {
        assert!(check_workstream_name("t-api").is_err());
        assert!(check_workstream_name("tasks").is_ok());
    }
}
