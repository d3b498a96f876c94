//! Reading `t add --from FILE`: JSON Lines, or CSV with a header row. Rows
//! come back with the line each started on, for messages; checking them
//! is the operation's.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Kind, Result};
use crate::ops::bulk::Row;

/// Largest file read: 20,000 rows of generous size.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// The rows of `file` (`-`: standard input) and the line each starts on.
pub fn read_rows(file: &Path) -> Result<(Vec<Row>, Vec<usize>)> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Error::io("cannot read standard input", &e))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            Error::io(&format!("cannot read {}", file.display()), &e)
                .with_hint("give the path of a .jsonl or .csv file, or - for standard input")
        })?
    };
    if text.len() > MAX_FILE_BYTES {
        return Err(Error::new(Kind::TooLarge, format!("{} is over {MAX_FILE_BYTES} bytes", file.display()))
            .with_hint("split the file"));
    }
    if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        csv_rows(&text)
    } else {
        json_rows(&text)
    }
}

fn bad(line: usize, problem: impl std::fmt::Display) -> Error {
    Error::new(Kind::InvalidInput, format!("line {line}: {problem}")).with("line", line).with_hint(
        "each row needs ws and title; description, priority (1-9) and after (ids, or #N for row N) are optional",
    )
}

/// `after` as a list: a JSON array of strings, or one string of ids
/// separated by spaces, commas or semicolons.
fn after_of(value: Option<&Value>, line: usize) -> Result<Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(split_ids(text)),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| bad(line, "after holds a non-string")))
            .collect(),
        Some(_) => Err(bad(line, "after is neither a string nor a list of strings")),
    }
}

fn split_ids(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn json_rows(text: &str) -> Result<(Vec<Row>, Vec<usize>)> {
    let (mut rows, mut lines) = (Vec::new(), Vec::new());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw).map_err(|e| bad(line, format!("not a JSON object: {e}")))?;
        let Value::Object(object) = &value else { return Err(bad(line, "not a JSON object")) };
        let text_of = |key: &str| -> Result<Option<String>> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(line, format!("{key} is not a string"))),
            }
        };
        let priority = match object.get("priority") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                Some(n.as_u64().and_then(|p| u8::try_from(p).ok()).ok_or_else(|| bad(line, "priority is 1 to 9"))?)
            }
            Some(Value::String(s)) => Some(s.trim().parse().map_err(|_| bad(line, "priority is 1 to 9"))?),
            Some(_) => return Err(bad(line, "priority is 1 to 9")),
        };
        rows.push(Row {
            ws: text_of("ws")?.or(text_of("workstream")?).ok_or_else(|| bad(line, "ws is missing"))?,
            title: text_of("title")?.ok_or_else(|| bad(line, "title is missing"))?,
            description: text_of("description")?,
            priority,
            after: after_of(object.get("after"), line)?,
        });
        lines.push(line);
    }
    Ok((rows, lines))
}

fn csv_rows(text: &str) -> Result<(Vec<Row>, Vec<usize>)> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| bad(1, format!("not a CSV header: {e}")))?.clone();
    let column = |names: &[&str]| headers.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
    let (ws, title) = (column(&["ws", "workstream"]), column(&["title"]));
    let (Some(ws), Some(title)) = (ws, title) else {
        return Err(bad(1, "the header must name ws and title (description, priority and after are optional)"));
    };
    let (description, priority, after) = (column(&["description"]), column(&["priority"]), column(&["after"]));
    let (mut rows, mut lines) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            bad(line, format!("not valid CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::to_string).filter(|s| !s.is_empty());
        let priority = match field(priority) {
            None => None,
            Some(p) => Some(p.trim().parse::<u8>().map_err(|_| bad(line, format!("priority {p:?} is not 1 to 9")))?),
        };
        rows.push(Row {
            ws: field(Some(ws)).unwrap_or_default(),
            title: field(Some(title)).unwrap_or_default(),
            description: field(description),
            priority,
            after: field(after).map(|a| split_ids(&a)).unwrap_or_default(),
        });
        lines.push(line);
    }
    Ok((rows, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_and_csv_read_the_same_rows() {
        let (json, json_lines) = json_rows(
            "{\"ws\": \"api\", \"title\": \"one\", \"priority\": 2}\n\n{\"workstream\": \"api\", \"title\": \"two\", \"after\": \"#1\"}\n",
        )
        .unwrap();
        let (csv, csv_lines) = csv_rows("ws,title,priority,after\napi,one,2,\napi,\"two\",,#1\n").unwrap();
        for (a, b) in json.iter().zip(&csv) {
            assert_eq!((&a.ws, &a.title, a.priority, &a.after), (&b.ws, &b.title, b.priority, &b.after));
        }
        assert_eq!(json_lines, vec![1, 3]);
        assert_eq!(csv_lines, vec![2, 3]);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let err = json_rows("{\"ws\": \"api\", \"title\": \"ok\"}\n{\"ws\": \"api\"}\n").unwrap_err();
        assert!(err.message.starts_with("line 2: title is missing"), "{}", err.message);
        let err = csv_rows("title\nx\n").unwrap_err();
        assert!(err.message.contains("must name ws and title"), "{}", err.message);
    }
}
