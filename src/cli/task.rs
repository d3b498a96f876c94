//! `orc t …`, `orc ready`, and the everyday loop at the top level
//! (`claim`, `next`, `complete`, `fail`, `wait`).

use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::lazy::Lazy;
use super::output::{task_detail, task_json, task_line, task_out, Output, TaskFacts, TaskOut};
use super::Ctx;
use crate::error::{Error, Kind, Result};
use crate::model::duration::parse_duration;
use crate::model::names::check_workstream_name;
use crate::model::names::{AgentName, WorkstreamName};
use crate::model::task::{normalize_task_ref, Text};
use crate::model::task::{Blocker, Status, Task, Terms};
use crate::ops::task::{AddTask, Change, ChangeTask, ClaimTask, EditTask, Finish, FinishTask};
use crate::ops::Applied;
use crate::read::board::{Board, HeadFor};
use crate::read::Snapshot;

#[derive(Subcommand, Debug)]
pub enum TaskCommand {
    /// Add a task to a workstream and print its id
    ///
    /// Example: orc t add revenue "Add payments to API" "Integrate USDC" 1
    Add(Lazy<AddArgs>),
    /// List tasks, optionally of one workstream, status or holder
    ///
    /// Example: orc t list revenue --status open
    #[command(visible_alias = "ls")]
    List(Lazy<ListArgs>),
    /// Show one task
    ///
    /// Example: orc t show t-3fk2
    Show(Lazy<ShowArgs>),
    /// Claim a task: `t claim [ws] <id> [agent]`
    ///
    /// Example: orc t claim t-3fk2 agent-1
    Claim(Lazy<ClaimArgs>),
    /// Claim the best ready task of a workstream: `t next [ws] [agent]`
    ///
    /// Example: orc t next revenue agent-1
    Next(Lazy<NextArgs>),
    /// Complete a task: `t complete [ws] <id> [result]`
    ///
    /// Example: orc t complete revenue t-3fk2 "Done: integrated payments"
    Complete(Lazy<FinishArgs>),
    /// Fail a task: `t fail [ws] <id> [reason]`
    ///
    /// Example: orc t fail revenue t-3fk2 "blocked on credentials"
    Fail(Lazy<FinishArgs>),
    /// Give a claim back: `t release [ws] <id>`
    ///
    /// Example: orc t release t-3fk2 --agent agent-1
    Release(Lazy<IdArgs>),
    /// Withdraw a task for good: `t cancel [ws] <id> [reason]`
    ///
    /// Example: orc t cancel t-3fk2 "no longer needed"
    Cancel(Lazy<FinishArgs>),
    /// Put a failed task back on the board: `t retry [ws] <id>`
    ///
    /// Example: orc t retry t-3fk2
    Retry(Lazy<IdArgs>),
    /// Change a task's title, description, priority or dependencies
    ///
    /// Refused once the task is done or cancelled. `--after` replaces the
    /// dependencies, checked as `t add` checks them, and may not make a
    /// cycle; `--no-after` drops them all.
    ///
    /// Example: orc t edit t-3fk2 --priority 1 --after t-9xk1
    Edit(Lazy<EditArgs>),
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// Task id or a unique prefix
    pub id: String,
    /// New one-line title
    #[arg(long, allow_hyphen_values = true)]
    pub title: Option<String>,
    /// New description
    #[arg(long, allow_hyphen_values = true)]
    pub description: Option<String>,
    /// New priority, 1 (highest) to 9 (lowest)
    #[arg(long, value_parser = crate::model::task::parse_priority)]
    pub priority: Option<u8>,
    /// Wait for this task instead of the current dependencies (can be repeated)
    #[arg(long, value_name = "ID", conflicts_with = "no_after")]
    pub after: Vec<String>,
    /// Drop every dependency
    #[arg(long)]
    pub no_after: bool,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// Workstream to add to
    #[arg(required_unless_present = "from")]
    pub workstream: Option<String>,
    /// One-line title
    #[arg(allow_hyphen_values = true, required_unless_present = "from")]
    pub title: Option<String>,
    /// Longer description
    #[arg(allow_hyphen_values = true)]
    pub description: Option<String>,
    /// 1 (highest) to 9 (lowest); default 3
    #[arg(value_parser = crate::model::task::parse_priority)]
    pub priority: Option<u8>,
    /// Wait until this task is done before this one is ready (can be repeated)
    #[arg(long, value_name = "ID")]
    pub after: Vec<String>,
    /// A shared resource (lock name) the work touches; `orc plan` never
    /// proposes two tasks sharing one at once (can be repeated)
    #[arg(long = "resource", value_name = "NAME")]
    pub resources: Vec<String>,
    /// Add every task of a file in one commit: JSON Lines ({"ws", "title",
    /// "description", "priority", "after"} per line) or CSV with a header
    /// (ws,title,description,priority,after); `after` may name an earlier
    /// row as #N; `-` reads standard input
    #[arg(long, value_name = "FILE", conflicts_with_all = ["workstream", "title", "description", "priority", "after", "resources"])]
    pub from: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this workstream
    pub workstream: Option<String>,
    /// Only tasks in this status: open, claimed, done, failed, cancelled
    #[arg(long)]
    pub status: Option<String>,
    /// Only tasks claimed by this agent
    #[arg(long = "holder", visible_alias = "claimed-by", value_name = "AGENT")]
    pub holder: Option<String>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Task id or a unique prefix
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ClaimArgs {
    /// [ws] <id> [agent]
    #[arg(num_args = 1..=3, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NextArgs {
    /// [ws] [agent]
    #[arg(num_args = 0..=2, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct FinishArgs {
    /// [ws] <id> [text]
    #[arg(num_args = 1..=3, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
    /// The claim token from `claim`/`next`; refused if the claim changed since
    #[arg(long)]
    pub token: Option<u64>,
}

#[derive(Args, Debug)]
pub struct IdArgs {
    /// [ws] <id>
    #[arg(num_args = 1..=2, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ReadyArgs {
    /// Only this workstream
    pub workstream: Option<String>,
    /// Show at most this many, best first
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Show every ready task
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct TopClaimArgs {
    /// Task id or unique prefix; without it, the best ready task anywhere
    pub id: Option<String>,
}

#[derive(Args, Debug)]
pub struct TopNextArgs {
    /// Only this workstream
    pub workstream: Option<String>,
}

#[derive(Args, Debug)]
pub struct TopFinishArgs {
    /// Task id or unique prefix
    pub id: String,
    /// Result (complete) or reason (fail)
    #[arg(allow_hyphen_values = true)]
    pub text: Option<String>,
    /// The claim token from `claim`/`next`; refused if the claim changed since
    #[arg(long)]
    pub token: Option<u64>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Task id or unique prefix
    pub id: String,
    /// Give up after this long (30s, 5m, 2h); default: wait forever
    #[arg(long)]
    pub timeout: Option<String>,
}

/// Does this argument look like a task id (`t-…`)? Workstream names may not
/// start with `t-`, so the seed's optional leading workstream is unambiguous.
fn is_task_ref(arg: &str) -> bool {
    arg.len() > 2 && arg[..2].eq_ignore_ascii_case("t-")
}

/// Splits `[ws] <id> [extra]` (extra: the result, reason or agent).
fn split_ws_id(orc: &Ctx, args: &[String]) -> Result<(Option<String>, String, Option<String>)> {
    let (ws, id, extra) = match args {
        [id] => (None, id.clone(), None),
        [a, b] if first_is_task(orc, a, b)? => (None, a.clone(), Some(b.clone())),
        [ws, id] => (Some(ws.clone()), id.clone(), None),
        [ws, id, extra] => (Some(ws.clone()), id.clone(), Some(extra.clone())),
        _ => return Err(Error::new(Kind::Usage, "expected [ws] <id> [text]")),
    };
    if let Some(ws) = &ws {
        check_workstream_name(ws)?;
    }
    Ok((ws, id, extra))
}

/// Reads two arguments `a b` as `<id> <extra>` (true) or as the seed's
/// `<ws> <id>` (false). A `t-` id is always the task. A bare prefix
/// (`g7jr`) is the task when it matches one and names no workstream. When
/// `a` is both a workstream and the start of a task id, `b` decides: a
/// task of that workstream makes it `<ws> <id>`; anything else is refused
/// as ambiguous rather than guessed.
fn first_is_task(orc: &Ctx, a: &str, b: &str) -> Result<bool> {
    if is_task_ref(a) {
        return Ok(true);
    }
    let Some(a_ref) = normalize_task_ref(a) else { return Ok(false) };
    orc.read(|snap| {
        if snap.commit.is_none() {
            return Ok(false);
        }
        let matches = |typed: &str| -> Result<Vec<(String, String)>> {
            match normalize_task_ref(typed) {
                Some(prefix) => snap.ids_with_prefix(&prefix),
                None => Ok(Vec::new()),
            }
        };
        let a_tasks = snap.ids_with_prefix(&a_ref)?;
        let a_is_ws = check_workstream_name(a).is_ok() && snap.workstream_exists(a)?;
        if !a_is_ws {
            // Not a workstream: the task when it matches one, or when `b`
            // is no task either (then "no task matches" is the clear error).
            return Ok(!a_tasks.is_empty() || matches(b)?.is_empty());
        }
        if matches(b)?.iter().any(|(ws, _)| ws == a) || a_tasks.is_empty() {
            return Ok(false);
        }
        let ids: Vec<&str> = a_tasks.iter().map(|(_, id)| id.as_str()).take(5).collect();
        Err(Error::new(
            Kind::AmbiguousId,
            format!("{a} names a workstream and is the start of task {}", ids.join(", ")),
        )
        .with("id", a)
        .with("candidates", &ids)
        .with_hint(format!("write the task id with its t- prefix ({a_ref}…), or give the workstream and the id")))
    })
}

fn terms(orc: &Ctx, snap: &Snapshot<'_>) -> Result<Terms> {
    let settings = orc.settings(snap);
    Ok(Terms { now: orc.now(), lease: settings.lease, grace: settings.expiry_slack })
}

/// Renders a task that an operation returned, judged against the branch after it.
fn task_output(orc: &Ctx, task: &Task, human_prefix: &str) -> Result<Output> {
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let terms = terms(orc, &snap)?;
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&orc.liveness(&store)));
    let facts = TaskFacts { holder_seen, blocked_by: None };
    let json = task_json(task, &terms, &facts);
    let human = if human_prefix.is_empty() {
        task_detail(task, &terms, &facts)
    } else {
        format!("{human_prefix}\n{}", task_detail(task, &terms, &facts))
    };
    Ok(Output::new(json, human))
}

fn applied_note(applied: &Applied<Task>) -> &'static str {
    if applied.replayed {
        "(already applied with this idempotency key; nothing changed)"
    } else {
        ""
    }
}

fn claim_output(orc: &Ctx, applied: Applied<Task>) -> Result<Output> {
    let note = applied_note(&applied);
    task_output(orc, &applied.output, note)
}

pub fn run(orc: &Ctx, cmd: &TaskCommand) -> Result<Output> {
    match cmd {
        TaskCommand::Add(args) => add(orc, args),
        TaskCommand::List(args) => list(orc, args),
        TaskCommand::Show(args) => show(orc, &args.id),
        TaskCommand::Claim(args) => {
            let (ws, id, agent) = split_ws_id(orc, &args.args)?;
            claim(orc, ws, id, agent.as_deref())
        }
        TaskCommand::Next(args) => {
            let (ws, agent) = match args.args.as_slice() {
                [] => (None, None),
                [ws] => (Some(ws.clone()), None),
                [ws, agent] => (Some(ws.clone()), Some(agent.clone())),
                _ => return Err(Error::new(Kind::Usage, "expected [ws] [agent]")),
            };
            next(orc, ws, agent.as_deref())
        }
        TaskCommand::Complete(args) | TaskCommand::Fail(args) => {
            let how = if matches!(cmd, TaskCommand::Complete(_)) { Finish::Complete } else { Finish::Fail };
            let (ws, id, text) = split_ws_id(orc, &args.args)?;
            finish(orc, ws, id, text, args.token, how)
        }
        TaskCommand::Release(args) => {
            let (ws, id, extra) = split_ws_id(orc, &args.args)?;
            reject_extra(extra)?;
            change(orc, ws, id, Change::Release, None)
        }
        TaskCommand::Cancel(args) => {
            let (ws, id, reason) = split_ws_id(orc, &args.args)?;
            change(orc, ws, id, Change::Cancel, reason)
        }
        TaskCommand::Retry(args) => {
            let (ws, id, extra) = split_ws_id(orc, &args.args)?;
            reject_extra(extra)?;
            change(orc, ws, id, Change::Retry, None)
        }
        TaskCommand::Edit(args) => edit(orc, args),
    }
}

fn edit(orc: &Ctx, args: &EditArgs) -> Result<Output> {
    let after = match (args.no_after, args.after.is_empty()) {
        (true, _) => Some(Vec::new()),
        (false, true) => None,
        (false, false) => Some(args.after.clone()),
    };
    let op = EditTask::new(&args.id, args.title.as_deref(), args.description.as_deref(), args.priority, after)?;
    let applied = orc.apply(&op)?;
    let note = applied_note(&applied);
    task_output(orc, &applied.output, note)
}

fn reject_extra(extra: Option<String>) -> Result<()> {
    match extra {
        None => Ok(()),
        Some(extra) => Err(Error::new(Kind::Usage, format!("unexpected argument {extra:?}: expected [ws] <id>"))),
    }
}

fn add(orc: &Ctx, args: &AddArgs) -> Result<Output> {
    if let Some(file) = &args.from {
        return add_from(orc, file);
    }
    let (Some(workstream), Some(title)) = (&args.workstream, &args.title) else {
        return Err(Error::new(Kind::Usage, "t add needs a workstream and a title, or --from FILE")
            .with_hint("orc t add <ws> \"<title>\""));
    };
    let op = AddTask::new(
        &orc.session.clock,
        workstream,
        title,
        args.description.as_deref(),
        args.priority,
        args.after.clone(),
        args.resources.clone(),
    )?;
    let applied = orc.apply(&op)?;
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let terms = terms(orc, &snap)?;
    let json = task_json(&applied.output, &terms, &TaskFacts { holder_seen: None, blocked_by: None });
    Ok(Output::new(json, applied.output.id.clone()))
}

/// `t add --from FILE`: every row checked, then one commit; ids printed in
/// the file's order.
fn add_from(orc: &Ctx, file: &std::path::Path) -> Result<Output> {
    let (rows, lines) = super::bulk::read_rows(file)?;
    let op = crate::ops::bulk::AddTasks::new(&orc.session.clock, rows, &lines)?;
    let applied = orc.apply(&op)?;
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let terms = terms(orc, &snap)?;
    let facts = TaskFacts { holder_seen: None, blocked_by: None };
    let json = serde_json::Value::Array(applied.output.iter().map(|t| task_json(t, &terms, &facts)).collect());
    let human: String = applied.output.iter().map(|t| format!("{}\n", t.id)).collect();
    let mut out = Output::new(json, human);
    out.raw = true;
    Ok(out)
}

fn claim(orc: &Ctx, ws: Option<String>, id: String, agent: Option<&str>) -> Result<Output> {
    let agent = resolve_agent(orc, agent)?;
    let applied = orc.repo.claim(&orc.session, &ClaimTask::task(agent, &id, ws_name(ws)?))?;
    claim_output(orc, applied)
}

fn next(orc: &Ctx, ws: Option<String>, agent: Option<&str>) -> Result<Output> {
    if let Some(ws) = &ws {
        check_workstream_name(ws)?;
    }
    let agent = resolve_agent(orc, agent)?;
    let applied = orc.repo.claim(&orc.session, &ClaimTask::best(agent, ws_name(ws)?))?;
    claim_output(orc, applied)
}

/// The seed's positional agent argument wins over `ORC_AGENT` and git
/// config, as it names the agent for this one command; given with another
/// `--agent`, the command is refused.
fn resolve_agent(orc: &Ctx, positional: Option<&str>) -> Result<AgentName> {
    orc.agent(positional)
}

fn ws_name(ws: Option<String>) -> Result<Option<WorkstreamName>> {
    ws.as_deref().map(WorkstreamName::new).transpose()
}

fn finish(
    orc: &Ctx,
    ws: Option<String>,
    id: String,
    text: Option<String>,
    token: Option<u64>,
    how: Finish,
) -> Result<Output> {
    let applied = orc.repo.finish(&orc.session, &FinishTask::new(ws_name(ws)?, id, how, token, text)?)?;
    let note = applied_note(&applied);
    task_output(orc, &applied.output, note)
}

fn change(orc: &Ctx, ws: Option<String>, id: String, how: Change, reason: Option<String>) -> Result<Output> {
    let reason = reason.as_deref().map(Text::new).transpose()?;
    let applied = orc.apply(&ChangeTask { workstream: ws_name(ws)?, id, how, reason })?;
    let note = applied_note(&applied);
    task_output(orc, &applied.output, note)
}

fn show(orc: &Ctx, id: &str) -> Result<Output> {
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    if snap.commit.is_none() {
        return Err(no_branch_yet());
    }
    let task = snap.find_task(id, None)?;
    let terms = terms(orc, &snap)?;
    let blockers = crate::read::board::blockers(&snap, &task, &Default::default())?;
    let holder_seen = snap.last_seen(task.claimed_by.as_deref(), Some(&orc.liveness(&store)));
    let facts = TaskFacts { holder_seen, blocked_by: Some(&blockers) };
    Ok(Output::new(task_json(&task, &terms, &facts), task_detail(&task, &terms, &facts)))
}

fn no_branch_yet() -> Error {
    Error::new(Kind::NotFound, "there is no orc branch yet, so no tasks")
        .with_hint("orc init, then orc ws create <ws> and orc t add <ws> <title>")
}

/// Refuses a workstream that is not a name, or (once the branch exists)
/// that does not exist.
fn check_board_scope(snap: &Snapshot<'_>, ws: Option<&str>) -> Result<()> {
    if let Some(ws) = ws {
        check_workstream_name(ws)?;
        if snap.commit.is_some() {
            snap.require_workstream(ws)?;
        }
    }
    Ok(())
}

fn list(orc: &Ctx, args: &ListArgs) -> Result<Output> {
    let status = match &args.status {
        None => None,
        Some(text) => Some(Status::parse(text).ok_or_else(|| {
            Error::new(Kind::InvalidInput, format!("unknown status {text:?}"))
                .with_hint("use one of open, claimed, done, failed, cancelled")
        })?),
    };
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    check_board_scope(&snap, args.workstream.as_deref())?;
    let liveness = orc.liveness(snap.store);
    let board = Board::load_listing(&snap, args.workstream.as_deref(), Some(&liveness), status, args.holder.is_some())?;
    let terms = terms(orc, &snap)?;
    let mut tasks: Vec<&Task> = board
        .tasks
        .iter()
        .filter(|t| status.is_none_or(|s| t.status == s))
        .filter(|t| {
            args.holder.as_deref().is_none_or(|h| t.claimed_by.as_deref() == Some(h) && t.status == Status::Claimed)
        })
        .collect();
    tasks.sort_by(|a, b| {
        (a.workstream.as_str(), a.status, a.next_order()).cmp(&(b.workstream.as_str(), b.status, b.next_order()))
    });
    let output = listing(orc.json, &snap, &board, &tasks, &terms, "no tasks match");
    drop(tasks);
    super::output::skip_free(board);
    output
}

/// Renders tasks as a list, with what blocks each, and the warnings a
/// listing owes its reader (skipped broken files, an empty result).
fn listing(
    as_json: bool,
    snap: &Snapshot<'_>,
    board: &Board,
    tasks: &[&Task],
    terms: &Terms,
    empty_note: &str,
) -> Result<Output> {
    let blockers: Vec<Vec<Blocker>> = tasks.iter().map(|t| board.blockers(snap, t)).collect::<Result<_>>()?;
    let rows = tasks.iter().zip(&blockers).map(|(task, blocked_by)| {
        (*task, TaskFacts { holder_seen: board.holder_seen(task), blocked_by: Some(blocked_by) })
    });
    let mut output = if as_json {
        let outs: Vec<TaskOut<'_>> = rows.map(|(task, facts)| task_out(task, terms, &facts)).collect();
        let mut output = Output::new(Value::Null, "");
        output.json_text = Some(serde_json::to_string_pretty(&outs).expect("task output serialises"));
        output
    } else {
        let mut human = String::with_capacity(tasks.len() * 80);
        for (task, facts) in rows {
            human += &task_line(task, terms, &facts);
            human.push('\n');
        }
        Output::new(Value::Null, human)
    }
    .warn_broken(&board.broken);
    if snap.commit.is_none() {
        output.warnings.push("no orc branch yet; `orc init` creates it, and so does the first write".into());
    } else if tasks.is_empty() {
        output.warnings.push(empty_note.into());
    }
    Ok(output)
}

pub fn ready(orc: &Ctx, args: &ReadyArgs) -> Result<Output> {
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    check_board_scope(&snap, args.workstream.as_deref())?;
    let limit = if args.all { usize::MAX } else { args.limit as usize };
    let head =
        Board::load_head(&snap, args.workstream.as_deref(), Some(&orc.liveness(snap.store)), limit, HeadFor::Report)?;
    let terms = terms(orc, &snap)?;
    let total = head.ready_count(&snap, &terms)?;
    let board = head.board;
    let mut ready = board.ready(&snap, &terms)?;
    ready.truncate(limit);
    let mut output = listing(orc.json, &snap, &board, &ready, &terms, "nothing is ready");
    if let Ok(output) = &mut output {
        if total > ready.len() {
            output.warnings.push(format!(
                "showing the best {} of {total} ready tasks; `--limit N` or `--all` shows more",
                ready.len()
            ));
        }
    }
    drop(ready);
    super::output::skip_free(board);
    output
}

pub fn top_claim(orc: &Ctx, args: &TopClaimArgs) -> Result<Output> {
    match &args.id {
        Some(id) => claim(orc, None, id.clone(), None),
        None => next(orc, None, None),
    }
}

pub fn top_next(orc: &Ctx, args: &TopNextArgs) -> Result<Output> {
    next(orc, args.workstream.clone(), None)
}

pub fn top_finish(orc: &Ctx, args: &TopFinishArgs, how: Finish) -> Result<Output> {
    finish(orc, None, args.id.clone(), args.text.clone(), args.token, how)
}

pub fn wait(orc: &Ctx, args: &WaitArgs) -> Result<Output> {
    let timeout = args
        .timeout
        .as_deref()
        .map(|t| parse_duration(t).map_err(|e| Error::new(Kind::InvalidInput, format!("--timeout: {e}"))))
        .transpose()?;
    let deadline = timeout.map(|t| Instant::now() + t.to_std().unwrap_or_default());
    if orc.store()?.tip()?.is_none() {
        return Err(no_branch_yet());
    }
    let task = crate::api::watch::wait_for_task(&orc.repo, &args.id, deadline, None).map_err(|mut e| {
        if e.kind == Kind::Timeout {
            e.message = format!("{} after {}", e.message, args.timeout.as_deref().unwrap_or_default());
        }
        e
    })?;
    task_output(orc, &task, "")
}
