//! `orc ws create|list|show|archive`.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::lazy::Lazy;
use super::output::{bar, one_line, task_json, task_line, Output, TaskFacts};
use super::Ctx;
pub use crate::api::views::{ws_json, Counts};
use crate::error::{Error, Kind, Result};
use crate::model::names::{check_workstream_name, terminal_safe};
use crate::model::task::{Status, Terms};
use crate::model::workstream::Workstream;
use crate::ops::workstream::{ArchiveWorkstream, CreateWorkstream};
use crate::read::board::Board;
use crate::read::Snapshot;

#[derive(Subcommand, Debug)]
pub enum WsCommand {
    /// Create a workstream
    ///
    /// Example: orc ws create revenue "Revenue generation" 1
    Create(Lazy<CreateArgs>),
    /// List workstreams with their progress
    ///
    /// Example: orc ws list --json
    #[command(visible_alias = "ls")]
    List,
    /// Show one workstream and its tasks
    ///
    /// Example: orc ws show revenue
    Show(Lazy<ShowArgs>),
    /// Archive a workstream: keep it, but offer its tasks to nobody
    ///
    /// Hidden from ready, next, plan, status and the dashboard, and closed to
    /// new tasks; tasks already claimed there can still be completed, failed
    /// or released. `--restore` brings the workstream back.
    ///
    /// Example: orc ws archive old-experiments
    Archive(Lazy<ArchiveArgs>),
}

#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// Workstream name
    pub name: String,
    /// Bring an archived workstream back instead
    #[arg(long)]
    pub restore: bool,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name: letters, digits, '.', '_' and '-', up to 64
    pub name: String,
    /// What it is for
    pub description: Option<String>,
    /// 1 (highest) to 9 (lowest); default 3
    #[arg(value_parser = crate::model::task::parse_priority)]
    pub priority: Option<u8>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    pub name: String,
}

/// One line for a workstream: name, priority, progress, what is left.
pub fn ws_line(ws: &Workstream, counts: &Counts) -> String {
    format!(
        "{:<16} p{}  {}  {} open · {} claimed · {} failed  {}",
        ws.name,
        ws.priority,
        progress(counts),
        counts.get(Status::Open),
        counts.get(Status::Claimed),
        counts.get(Status::Failed),
        terminal_safe(&one_line(&ws.description))
    ) + if ws.archived { "  (archived)" } else { "" }
}

/// `4/6 done` with a bar; cancelled tasks do not count toward the total.
pub fn progress(counts: &Counts) -> String {
    let (done, total) = counts.done_of();
    format!("{} {done}/{total} done", bar(done, total, 10))
}

pub fn run(orc: &Ctx, cmd: &WsCommand) -> Result<Output> {
    match cmd {
        WsCommand::Create(args) => {
            let op = CreateWorkstream::new(&args.name, args.description.as_deref(), args.priority)?;
            let applied = orc.apply(&op)?;
            let ws = applied.output;
            let human = format!("created workstream {} (priority {})", ws.name, ws.priority);
            Ok(Output::new(ws_json(&ws, &Counts::default()), human))
        }
        WsCommand::Archive(args) => {
            let applied = orc.apply(&ArchiveWorkstream::new(&args.name, !args.restore)?)?;
            let ws = applied.output;
            let counts = orc.read(|snap| {
                let mut counts = Counts::default();
                snap.tasks(&ws.name)?.items.iter().for_each(|t| counts.add(t.status));
                Ok(counts)
            })?;
            let human = if ws.archived {
                format!(
                    "archived workstream {} ({} open tasks kept, offered to nobody)",
                    ws.name,
                    counts.get(Status::Open)
                )
            } else {
                format!("restored workstream {}", ws.name)
            };
            Ok(Output::new(ws_json(&ws, &counts), human))
        }
        WsCommand::List => list(orc),
        WsCommand::Show(args) => show(orc, &args.name),
    }
}

fn list(orc: &Ctx) -> Result<Output> {
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let names = snap.workstream_names()?;
    let mut broken = names.broken;
    let mut json = Vec::new();
    let mut human = String::new();
    let mut rows = Vec::new();
    for name in names.items {
        let ws = match snap.workstream(&name) {
            Ok(Some(ws)) => ws,
            Ok(None) => continue,
            Err(e) => {
                broken.push(e);
                continue;
            }
        };
        let tasks = snap.tasks(&name)?;
        broken.extend(tasks.broken);
        let mut counts = Counts::default();
        tasks.items.iter().for_each(|t| counts.add(t.status));
        rows.push((ws, counts));
    }
    rows.sort_by(|(a, _), (b, _)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    for (ws, counts) in &rows {
        json.push(ws_json(ws, counts));
        human += &format!("{}\n", ws_line(ws, counts));
    }
    let mut output = Output::new(Value::Array(json), human).warn_broken(&broken);
    if snap.commit.is_none() {
        output.warnings.push("no orc branch yet; create a workstream with `orc ws create <name>`".into());
    } else if rows.is_empty() {
        output.warnings.push("no workstreams yet; create one with `orc ws create <name>`".into());
    }
    Ok(output)
}

fn show(orc: &Ctx, name: &str) -> Result<Output> {
    check_workstream_name(name)?;
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let ws = snap.workstream(name)?.ok_or_else(|| {
        Error::new(Kind::NotFound, format!("no workstream named {name}")).with_hint("list them with `orc ws list`")
    })?;
    let board = Board::load(&snap, Some(name), Some(&orc.liveness(&store)))?;
    let settings = orc.settings(&snap);
    let terms = Terms { now: orc.now(), lease: settings.lease, grace: settings.expiry_slack };
    let mut counts = Counts::default();
    let mut tasks: Vec<_> = board.tasks.iter().collect();
    tasks.sort_by(|a, b| (a.status, a.next_order()).cmp(&(b.status, b.next_order())));
    let mut task_values = Vec::new();
    let mut human =
        format!("{}  p{}  {}\n{}\n", ws.name, ws.priority, counts_line(&board), terminal_safe(&ws.description));
    for task in tasks {
        counts.add(task.status);
        let blockers = board.blockers(&snap, task)?;
        let facts = TaskFacts { holder_seen: board.holder_seen(task), blocked_by: Some(&blockers) };
        task_values.push(task_json(task, &terms, &facts));
        human += &format!("  {}\n", task_line(task, &terms, &facts));
    }
    let mut json = ws_json(&ws, &counts);
    json["task_list"] = Value::Array(task_values);
    Ok(Output::new(json, human).warn_broken(&board.broken))
}

fn counts_line(board: &Board) -> String {
    let mut counts = Counts::default();
    board.tasks.iter().for_each(|t| counts.add(t.status));
    progress(&counts)
}
