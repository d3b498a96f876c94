//! Loading a folder of Markdown into the knowledge base (`kb import`): which
//! files count and how they are named is decided here, once, for every
//! front end.
//!
//! Rules: every `*.md` file below the folder becomes the topic named by its
//! path without `.md` (`services/auth.md` → `services/auth`); hidden files
//! and folders (a leading `.`) and symlinks are skipped; a file that is not
//! UTF-8 or whose path is not a valid topic stops the import, naming the
//! file, before anything is written; everything lands in one commit.

use std::path::Path;

use walkdir::WalkDir;

use super::Repo;
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::MAX_KB_BYTES;
use crate::ops::knowledge::{ImportTopics, MAX_IMPORT_TOPICS};
use crate::ops::Applied;
use crate::read::knowledge::Topic;
use crate::session::Session;

/// The topics a folder holds: (topic, text), sorted by topic.
pub fn topics_in_folder(dir: &Path) -> Result<Vec<(String, String)>> {
    if !dir.is_dir() {
        return Err(Error::new(Kind::NotFound, format!("{} is not a folder", dir.display()))
            .with_hint("name a folder that holds Markdown (.md) files"));
    }
    let mut topics = Vec::new();
    let walk = WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().map(|p| p.display().to_string()).unwrap_or_default();
            Error::new(Kind::Io, format!("cannot read {path}: {e}")).with_cause(&e)
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let Some(relative) = path.strip_prefix(dir).ok().and_then(Path::to_str) else {
            return Err(Error::new(Kind::InvalidName, format!("{} has a name that is not UTF-8", path.display())));
        };
        let Some(topic) = relative.strip_suffix(".md") else { continue };
        let topic = topic.replace(std::path::MAIN_SEPARATOR, "/");
        crate::model::knowledge::check_topic(&topic)
            .map_err(|e| e.with("path", path.display().to_string()).with_hint("rename the file, or move it out"))?;
        if topics.len() >= MAX_IMPORT_TOPICS {
            return Err(Error::new(
                Kind::TooLarge,
                format!("{} holds more than {MAX_IMPORT_TOPICS} Markdown files", dir.display()),
            )
            .with_hint("import sub-folders one at a time"));
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        if size > MAX_KB_BYTES as u64 {
            return Err(Error::new(
                Kind::TooLarge,
                format!("{} is {size} bytes; a topic holds at most {MAX_KB_BYTES}", path.display()),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(&format!("cannot read {}", path.display()), &e))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::new(Kind::InvalidInput, format!("{} is not UTF-8; knowledge is Markdown", path.display()))
        })?;
        topics.push((topic, text));
    }
    if topics.is_empty() {
        return Err(Error::new(Kind::InvalidInput, format!("{} holds no Markdown (.md) files", dir.display()))
            .with_hint("knowledge topics are Markdown files; name them like design.md or services/auth.md"));
    }
    Ok(topics)
}

/// Imports every Markdown file below `dir` as a topic, in one operation.
pub fn import_folder(repo: &Repo, session: &Session, dir: &Path) -> Result<Applied<Vec<Topic>>> {
    let op = ImportTopics::new(topics_in_folder(dir)?)?;
    repo.apply(session, &op)
}
