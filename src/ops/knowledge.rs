//! `kb write`, `kb append`, `kb rm`, and reading topics. The newest write
//! wins; earlier text stays in git history.

use serde::{Deserialize, Serialize};

use super::trailer::Envelope;
use super::{decode_input, OpEnv, Operation, Plan, RecordSource};
use crate::error::{Error, Kind, Result};
use crate::model::knowledge::{check_text, meta_path, topic_path, TopicMeta, TopicName, MAX_KB_BYTES};
use crate::model::record;
use crate::read::knowledge::{not_found, Topic};
use crate::read::Snapshot;

/// Its recorded input is the topic, whether it appends, and the size of
/// the text; the text itself is in the commit.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

/// Most topics one import writes: a folder past this is split by hand.
pub const MAX_IMPORT_TOPICS: usize = 2_000;

/// One topic of an import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedTopic {
    pub topic: TopicName,
    #[serde(skip)]
    pub text: String,
}

/// `kb import`: writes many topics (replacing each) in one operation. Its
/// recorded input names the topics and their sizes; the texts are in the
/// commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportTopics {
    pub topics: Vec<ImportedTopic>,
}

/// How an import is recorded in its trailer.
#[derive(Serialize, Deserialize)]
struct RecordedImport {
    topics: Vec<RecordedImportEntry>,
}

#[derive(Serialize, Deserialize)]
struct RecordedImportEntry {
    topic: TopicName,
    bytes: usize,
}

impl ImportTopics {
    /// Checks every topic and text before anything is read or written.
    pub fn new(topics: Vec<(String, String)>) -> Result<Self> {
        if topics.is_empty() {
            return Err(Error::new(Kind::InvalidInput, "there is nothing to import")
                .with_hint("import a folder that holds Markdown (.md) files"));
        }
        if topics.len() > MAX_IMPORT_TOPICS {
            return Err(Error::new(
                Kind::TooLarge,
                format!("{} topics in one import; the limit is {MAX_IMPORT_TOPICS}", topics.len()),
            )
            .with_hint("import sub-folders one at a time"));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(topics.len());
        for (topic, text) in topics {
            let topic = TopicName::new(&topic)?;
            check_text(&text).map_err(|e| e.with("topic", topic.as_str()))?;
            if !seen.insert(topic.clone()) {
                return Err(Error::new(Kind::InvalidInput, format!("topic {topic} is given twice")));
            }
            out.push(ImportedTopic { topic, text });
        }
        Ok(Self { topics: out })
    }
}

impl Operation for ImportTopics {
    type Output = Vec<Topic>;
    const NAME: &'static str = "kb.import";

    fn recorded(&self, _output: &Vec<Topic>) -> serde_json::Value {
        let topics =
            self.topics.iter().map(|t| RecordedImportEntry { topic: t.topic.clone(), bytes: t.text.len() }).collect();
        serde_json::to_value(RecordedImport { topics }).expect("plain data")
    }

    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!(self.topics.iter().map(|t| (t.topic.as_str(), t.text.as_str())).collect::<Vec<_>>())
    }

    fn from_record(envelope: &Envelope, source: &RecordSource<'_>) -> Result<Self> {
        let recorded: RecordedImport = decode_input(envelope)?;
        let tree = source.store.tree_of(source.commit)?;
        let mut topics = Vec::with_capacity(recorded.topics.len());
        for entry in recorded.topics {
            let file = source.store.read_file(&tree, &topic_path(&entry.topic))?.unwrap_or_default();
            topics.push((entry.topic.to_string(), String::from_utf8_lossy(&file).into_owned()));
        }
        Self::new(topics)
    }

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Vec<Topic>>> {
        let by = env.actor.name().to_string();
        let mut plan = Plan::new(format!("import {} knowledge topic(s)", self.topics.len()), Vec::new());
        let mut bytes = 0;
        for entry in &self.topics {
            let path = topic_path(&entry.topic);
            let existed = snap.entry(&path)?.is_some_and(|e| !e.is_tree);
            let old_meta: Option<TopicMeta> =
                if existed { snap.record(&meta_path(&entry.topic)).ok().flatten() } else { None };
            let meta = TopicMeta {
                created_at: old_meta.as_ref().map_or(env.now, |m| m.created_at),
                created_by: old_meta.map_or(by.clone(), |m| m.created_by),
                updated_at: env.now,
                updated_by: by.clone(),
                size: entry.text.len(),
            };
            bytes += entry.text.len();
            plan.output.push(Topic::from_meta(&entry.topic, Some(meta.clone()), entry.text.len()));
            plan =
                plan.write(path, entry.text.clone().into_bytes()).write(meta_path(&entry.topic), record::render(&meta));
        }
        let names: Vec<&str> = self.topics.iter().map(|t| t.topic.as_str()).collect();
        Ok(plan.detail("topics", names).detail("size", bytes))
    }
}
