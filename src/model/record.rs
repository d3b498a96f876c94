//! Parsing and writing TOML records. Branch content is untrusted: sizes are
//! capped before parsing and every failure names the file and the line.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Records larger than this are refused unread: a task is a few hundred bytes.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// Parses a TOML record from the branch; `path` is used in the error.
pub fn parse<T: DeserializeOwned>(path: &str, bytes: &[u8]) -> Result<T> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(Error::broken_file(
            path,
            None,
            format!("{} bytes is over the {MAX_RECORD_BYTES}-byte limit for a record", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        Error::broken_file(path, Some(line), "not valid UTF-8")
    })?;
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        Error::broken_file(path, line, one_line(e.message()))
    })
}

/// Serialises a record as TOML.
pub fn render<T: Serialize>(record: &T) -> Vec<u8> {
    toml::to_string(record).expect("records hold only TOML-representable values").into_bytes()
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        priority: u8,
    }

    #[test]
    fn names_file_and_line_of_a_type_error() {
        let err = parse::<Sample>("x.toml", b"title = \"a\"\npriority = \"high\"\n").unwrap_err();
        assert_eq!(err.kind, "broken_file");
        assert!(err.message.starts_with("x.toml:2: "), "{}", err.message);
    }

    #[test]
    fn names_file_and_line_of_a_syntax_error() {
        let err = parse::<Sample>("x.toml", b"title = \"a\"\n\npriority = = 3\n").unwrap_err();
        assert!(err.message.starts_with("x.toml:3: "), "{}", err.message);
    }

    #[test]
    fn refuses_oversized_records_unparsed() {
        let big = vec![b'#'; MAX_RECORD_BYTES + 1];
        assert!(parse::<Sample>("x.toml", &big).unwrap_err().message.contains("limit"));
    }
}
