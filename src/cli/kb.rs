//! `orc kb write|append|read|list|rm`.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::lazy::Lazy;
use super::output::{display_line, Output};
use super::{edge_error, Ctx};
use crate::error::{Error, Kind, Result};
use crate::model::duration::format_age;
use crate::model::knowledge::{check_topic, MAX_KB_BYTES};
use crate::ops::knowledge::{RemoveTopic, WriteTopic};
use crate::read::knowledge::{list, read, Topic};
use crate::read::Snapshot;

#[derive(Subcommand, Debug)]
pub enum KbCommand {
    /// Write a topic (replacing it): text as an argument, --file F, or - for stdin
    ///
    /// Example: orc kb write api-design "Use REST for external, events for internal"
    Write(Lazy<WriteArgs>),
    /// Add text to the end of a topic (creating it if needed)
    ///
    /// Example: echo "- retry on 503" | orc kb append api-design -
    Append(Lazy<WriteArgs>),
    /// Print a topic
    ///
    /// Example: orc kb read api-design
    Read(Lazy<TopicArgs>),
    /// List topics with size, author and time
    ///
    /// Example: orc kb list --json
    #[command(visible_alias = "ls")]
    List,
    /// Remove a topic (its text stays in git history)
    ///
    /// Example: orc kb rm api-design
    Rm(Lazy<TopicArgs>),
    /// Load a folder of Markdown as topics, in one commit (docs/auth.md becomes docs/auth)
    ///
    /// Example: orc kb import ./notes
    Import(Lazy<ImportArgs>),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Folder to read: every .md file below it (hidden files and folders skipped)
    #[arg(value_name = "DIR")]
    pub folder: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub struct WriteArgs {
    /// Topic: names joined by '/', for example `api-design` or `services/auth`
    pub topic: String,
    /// The text, or - to read it from stdin
    #[arg(allow_hyphen_values = true)]
    pub text: Option<String>,
    /// Read the text from this file
    #[arg(long, conflicts_with = "text")]
    pub file: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct TopicArgs {
    pub topic: String,
}

fn topic_json(topic: &Topic) -> Value {
    serde_json::to_value(topic).expect("topics serialise")
}

fn read_text(args: &WriteArgs) -> Result<String> {
    let too_big = || {
        Error::new(Kind::TooLarge, format!("the text is over {MAX_KB_BYTES} bytes"))
            .with_hint("split it into several topics")
    };
    let bytes = match (&args.text, &args.file) {
        (Some(text), None) if text == "-" => {
            let mut buf = Vec::new();
            std::io::stdin()
                .take(MAX_KB_BYTES as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("cannot read stdin", &e))?;
            buf
        }
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(path)) => {
            use anyhow::Context as _;
            let context = || format!("cannot read {}", path.display());
            let size = std::fs::metadata(path).with_context(context).map_err(|e| edge_error(Kind::InvalidInput, &e))?;
            if size.len() > MAX_KB_BYTES as u64 {
                return Err(too_big());
            }
            std::fs::read(path).with_context(context).map_err(|e| edge_error(Kind::InvalidInput, &e))?
        }
        _ => {
            return Err(Error::new(Kind::Usage, "no text given")
                .with_hint(format!("orc kb write {} \"text\"  (or --file F, or - to read stdin)", args.topic)))
        }
    };
    if bytes.len() > MAX_KB_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| Error::new(Kind::InvalidInput, "the text is not UTF-8; knowledge is Markdown"))
}

pub fn run(orc: &Ctx, cmd: &KbCommand) -> Result<Output> {
    match cmd {
        KbCommand::Write(args) | KbCommand::Append(args) => {
            let append = matches!(cmd, KbCommand::Append(_));
            // Check the topic before reading stdin or a file.
            check_topic(&args.topic)?;
            let text = read_text(args)?;
            let applied = orc.apply(&WriteTopic::new(&args.topic, text, append)?)?;
            let topic = applied.output;
            let verb = if append { "appended to" } else { "wrote" };
            Ok(Output::new(topic_json(&topic), format!("{verb} {} ({} bytes)", topic.topic, topic.size)))
        }
        KbCommand::Read(args) => {
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let topic = read(&snap, &args.topic)?;
            let mut text = topic.text.clone().unwrap_or_default();
            // The text exactly as stored, so `orc kb read t > t.md` round-trips;
            // on a terminal a missing final newline is added, so the prompt
            // does not run on after the last line.
            if !text.is_empty() && !text.ends_with('\n') && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                text.push('\n');
            }
            let mut output = Output::new(topic_json(&topic), text);
            output.raw = true;
            Ok(output)
        }
        KbCommand::List => {
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let topics = list(&snap)?;
            let now = orc.now();
            let json: Vec<Value> = topics.items.iter().map(topic_json).collect();
            let human: String = topics
                .items
                .iter()
                .map(|t| {
                    let when = t.updated_at.map_or("-".into(), |at| format!("{} ago", format_age(now - at)));
                    format!(
                        "{:<32} {:>8} B  {:<16} {}\n",
                        t.topic,
                        t.size,
                        display_line(t.updated_by.as_deref().unwrap_or("-")),
                        when
                    )
                })
                .collect();
            let mut output = Output::new(Value::Array(json), human).warn_broken(&topics.broken);
            if topics.items.is_empty() {
                output.warnings.push("no knowledge yet; write some with `orc kb write <topic> \"text\"`".into());
            }
            Ok(output)
        }
        KbCommand::Import(args) => {
            let applied = crate::api::knowledge::import_folder(&orc.repo, &orc.session, &args.folder)?;
            let topics = applied.output;
            let json: Vec<Value> = topics.iter().map(topic_json).collect();
            let mut human = format!("imported {} topic(s) from {}\n", topics.len(), args.folder.display());
            for topic in &topics {
                human += &format!("  {:<32} {:>8} B\n", topic.topic, topic.size);
            }
            Ok(Output::new(Value::Array(json), human))
        }
        KbCommand::Rm(args) => {
            let applied = orc.apply(&RemoveTopic { topic: crate::model::knowledge::TopicName::new(&args.topic)? })?;
            Ok(Output::new(topic_json(&applied.output), format!("removed {}", applied.output.topic)))
        }
    }
}
