//! Reading the knowledge base: one topic, or every topic with its metadata.

use serde::{Deserialize, Serialize};

use super::{Loaded, Snapshot};
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::{meta_path, topic_path, TopicMeta, MAX_KB_BYTES};
use crate::model::names::name_problem;
use crate::store::ObjectId;

/// A topic as reported: its metadata, and its text when read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    pub topic: String,
    pub size: usize,
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Topic {
    pub(crate) fn from_meta(topic: &str, meta: Option<TopicMeta>, size: usize) -> Self {
        Self {
            topic: topic.into(),
            size,
            created_at: meta.as_ref().map(|m| m.created_at),
            created_by: meta.as_ref().map(|m| m.created_by.clone()),
            updated_at: meta.as_ref().map(|m| m.updated_at),
            updated_by: meta.map(|m| m.updated_by),
            text: None,
        }
    }
}

pub(crate) fn not_found(topic: &str) -> Error {
    Error::new(Kind::NotFound, format!("no knowledge topic {topic:?}"))
        .with("topic", topic)
        .with_hint("check it against the list of topics")
}

/// Reads one topic with its text.
pub fn read(snap: &Snapshot<'_>, topic: &str) -> Result<Topic> {
    crate::model::knowledge::check_topic(topic)?;
    let path = topic_path(topic);
    let bytes = snap.file_capped(&path, MAX_KB_BYTES)?.ok_or_else(|| not_found(topic))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::broken_file(&path, None, "not valid UTF-8"))?;
    // Metadata is a convenience: a broken one does not hide the text.
    let meta: Option<TopicMeta> = snap.record(&meta_path(topic)).ok().flatten();
    let mut out = Topic::from_meta(topic, meta, text.len());
    out.text = Some(text);
    Ok(out)
}

/// Every topic, sorted, without text.
pub fn list(snap: &Snapshot<'_>) -> Result<Loaded<Topic>> {
    let mut out = Loaded::default();
    if let Some(entry) = snap.entry("knowledge")? {
        if entry.is_tree {
            walk(snap, entry.oid, "", &mut out)?;
        }
    }
    out.items.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(out)
}

fn walk(snap: &Snapshot<'_>, tree: ObjectId, prefix: &str, out: &mut Loaded<Topic>) -> Result<()> {
    for entry in snap.store.list_tree(tree)? {
        if entry.is_tree {
            if name_problem(&entry.name).is_none() && prefix.matches('/').count() < 8 {
                walk(snap, entry.oid, &format!("{prefix}{}/", entry.name), out)?;
            }
            continue;
        }
        let Some(name) = entry.name.strip_suffix(".md") else { continue };
        if name_problem(name).is_some() {
            continue;
        }
        let topic = format!("{prefix}{name}");
        let meta: Option<TopicMeta> = match snap.record(&meta_path(&topic)) {
            Ok(meta) => meta,
            Err(e) => {
                out.broken.push(e);
                None
            }
        };
        // The text may have been edited on the host since orc wrote the
        // metadata: the size is the file's own.
        let size = snap.store.blob_size(entry.oid)?;
        out.items.push(Topic::from_meta(&topic, meta, size));
    }
    Ok(())
}
