//! `kb write`, `kb append`, `kb rm`, and reading topics. The newest write
//! wins; earlier text stays in git history.

use serde::{Deserialize, Serialize};

use super::trailer::Envelope;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::Result;
use crate::model::knowledge::{check_text, meta_path, topic_path, TopicMeta, TopicName, MAX_KB_BYTES};
use crate::model::record;
use crate::read::knowledge::{not_found, Topic};
use crate::read::Snapshot;

/// Its recorded input is the topic, whether it appends, and the size of
/// the text; the text itself is in the commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteTopic {
    pub topic: TopicName,
    #[serde(skip)]
    pub text: String,
    /// Add to the end instead of replacing.
    pub append: bool,
}

/// How a knowledge write is recorded in its trailer.
#[derive(Serialize, Deserialize)]
struct RecordedWrite {
    topic: TopicName,
    append: bool,
    bytes: usize,
}

impl WriteTopic {
    pub fn new(topic: &str, text: String, append: bool) -> Result<Self> {
        let topic = TopicName::new(topic)?;
        check_text(&text)?;
        Ok(Self { topic, text, append })
    }
}

impl Operation for WriteTopic {
    type Output = Topic;
    const NAME: &'static str = "kb.write";

    fn recorded(&self, _output: &Topic) -> serde_json::Value {
        serde_json::to_value(RecordedWrite { topic: self.topic.clone(), append: self.append, bytes: self.text.len() })
            .expect("plain data")
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({"topic": self.topic, "append": self.append, "text": self.text})
    }

    /// The text is read from the recorded commit: the whole file, of which
    /// an append added the last `bytes`.
    fn from_record(envelope: &Envelope, source: &RecordSource<'_>) -> Result<Self> {
        let recorded: RecordedWrite = decode_input(envelope)?;
        let tree = source.store.tree_of(source.commit)?;
        let file = source.store.read_file(&tree, &topic_path(&recorded.topic))?.unwrap_or_default();
        let text = String::from_utf8_lossy(&file[file.len().saturating_sub(recorded.bytes)..]).into_owned();
        Self::new(&recorded.topic, text, recorded.append)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Topic>> {
        let path = topic_path(&self.topic);
        let existing = snap.file_capped(&path, MAX_KB_BYTES)?;
        let text = match (&existing, self.append) {
            (Some(old), true) => {
                let mut joined = String::from_utf8_lossy(old).into_owned();
                if !joined.is_empty() && !joined.ends_with('\n') {
                    joined.push('\n');
                }
                joined.push_str(&self.text);
                joined
            }
            _ => self.text.clone(),
        };
        check_text(&text)?;
        let old_meta: Option<TopicMeta> = snap.record(&meta_path(&self.topic)).ok().flatten();
        let by = env.actor.name().to_string();
        let meta = TopicMeta {
            created_at: old_meta.as_ref().filter(|_| existing.is_some()).map_or(env.now, |m| m.created_at),
            created_by: old_meta.filter(|_| existing.is_some()).map_or(by.clone(), |m| m.created_by),
            updated_at: env.now,
            updated_by: by,
            size: text.len(),
        };
        let verb = if self.append { "append to" } else { "write" };
        let output = Topic::from_meta(&self.topic, Some(meta.clone()), text.len());
        Ok(Plan::new(format!("{verb} knowledge {} ({} bytes)", self.topic, text.len()), output)
            .write(path, text.into_bytes())
            .write(meta_path(&self.topic), record::render(&meta))
            .detail("topic", &self.topic)
            .detail("size", meta.size)
            .detail("append", self.append))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveTopic {
    pub topic: TopicName,
}

impl Operation for RemoveTopic {
    type Output = Topic;
    const NAME: &'static str = "kb.rm";

    fn plan(&self, snap: &Snapshot<'_>, _env: &OpEnv<'_>) -> Result<Plan<Topic>> {
        let path = topic_path(&self.topic);
        let Some(entry) = snap.entry(&path)?.filter(|e| !e.is_tree) else { return Err(not_found(&self.topic)) };
        let meta: Option<TopicMeta> = snap.record(&meta_path(&self.topic)).ok().flatten();
        let size = snap.store.blob_size(entry.oid)?;
        let mut plan = Plan::new(format!("remove knowledge {}", self.topic), Topic::from_meta(&self.topic, meta, size))
            .detail("topic", &self.topic);
        plan.changes.insert(path, None);
        plan.changes.insert(meta_path(&self.topic), None);
        Ok(plan)
    }
}
