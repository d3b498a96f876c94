//! Rendering results for people and for `--json`. Data goes to stdout,
//! warnings and notices to stderr; under `--json` stdout holds exactly one
//! JSON document.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::Error;
use crate::model::agent::Agent;
use crate::model::duration::format_age;
use crate::model::names::terminal_safe;
use crate::model::settings::Settings;
use crate::model::task::{short_time, Blocker, Status, Task, Terms};

/// What a command produced.
pub struct Output {
    pub json: Value,
    /// Pre-rendered JSON, printed instead of `json` (long listings).
    pub json_text: Option<String>,
    /// Print `human` byte for byte, with no newline added (`kb read`).
    pub raw: bool,
    pub human: String,
    pub warnings: Vec<String>,
    /// Non-zero when the command reports a problem it did not fail on
    /// (`orc doctor` finding broken files).
    pub exit_code: i32,
}

impl Output {
    pub fn new(json: Value, human: impl Into<String>) -> Self {
        Self { json, human: human.into(), warnings: Vec::new(), exit_code: 0, json_text: None, raw: false }
    }

    /// Adds a warning for every broken file a listing skipped.
    pub fn warn_broken(mut self, broken: &[Error]) -> Self {
        const SHOWN: usize = 10;
        for err in broken.iter().take(SHOWN) {
            self.warnings.push(format!("skipped {}", err.message));
        }
        if broken.len() > SHOWN {
            self.warnings.push(format!("… and {} more broken files", broken.len() - SHOWN));
        }
        if !broken.is_empty() {
            self.warnings.push("run `orc doctor` to list every problem".into());
        }
        self
    }
}

/// Facts about a task that depend on other records: the effective lease and
/// what blocks it.
pub struct TaskFacts<'a> {
    pub holder_seen: Option<DateTime<Utc>>,
    pub blocked_by: Option<&'a [Blocker]>,
}

pub fn ts(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

/// The task object of DESIGN §5 (every field present, null when unset),
/// borrowed so long listings serialise without building a `Value` each.
#[derive(Serialize)]
pub struct TaskOut<'a> {
    id: &'a str,
    workstream: &'a str,
    title: &'a str,
    description: &'a str,
    priority: u8,
    status: Status,
    claimed_by: Option<&'a str>,
    claimed_at: Value,
    lease_expires: Value,
    lease_expired: bool,
    claim_token: u64,
    after: &'a [String],
    resources: &'a [String],
    result: Option<&'a str>,
    created_at: Value,
    created_by: &'a str,
    finished_at: Value,
    finished_by: Option<&'a str>,
    updated_at: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    blocked_by: Option<&'a [Blocker]>,
}

pub fn task_out<'a>(task: &'a Task, terms: &Terms, facts: &TaskFacts<'a>) -> TaskOut<'a> {
    TaskOut {
        id: &task.id,
        workstream: &task.workstream,
        title: &task.title,
        description: &task.description,
        priority: task.priority,
        status: task.status,
        claimed_by: task.claimed_by.as_deref(),
        claimed_at: ts(task.claimed_at),
        lease_expires: ts(task.lease_end(facts.holder_seen, terms.lease)),
        lease_expired: task.lease_expired(terms, facts.holder_seen),
        claim_token: task.claim_token,
        after: &task.after,
        resources: &task.resources,
        result: task.result.as_deref(),
        created_at: ts(Some(task.created_at)),
        created_by: &task.created_by,
        finished_at: ts(task.finished_at),
        finished_by: task.finished_by.as_deref(),
        updated_at: ts(Some(task.updated_at)),
        blocked_by: facts.blocked_by,
    }
}

pub fn task_json(task: &Task, terms: &Terms, facts: &TaskFacts<'_>) -> Value {
    serde_json::to_value(task_out(task, terms, facts)).expect("task output serialises")
}

/// Hands a large read-only structure to the process exit instead of freeing
/// it record by record: the CLI prints and exits right after, and freeing
/// 10k tasks' strings was a measurable share of `orc status`.
pub fn skip_free<T>(value: T) {
    std::mem::forget(value);
}

/// One line for a task in a listing.
pub fn task_line(task: &Task, terms: &Terms, facts: &TaskFacts<'_>) -> String {
    let mut state = task.status.as_str().to_string();
    if task.status == Status::Claimed {
        let holder = task.claimed_by.as_deref().unwrap_or("?");
        if task.lease_expired(terms, facts.holder_seen) {
            state = format!("claimed by {holder}, lease expired");
        } else {
            state = format!("claimed by {holder}");
        }
    }
    if let Some(blockers) = facts.blocked_by.filter(|b| !b.is_empty()) {
        if task.status == Status::Open {
            let ids: Vec<String> = blockers
                .iter()
                .map(|b| match b.status {
                    Some(s) if s != Status::Open && s != Status::Claimed => format!("{} ({})", b.id, s.as_str()),
                    Some(_) => b.id.clone(),
                    None => format!("{} (missing)", b.id),
                })
                .collect();
            state = format!("blocked by {}", ids.join(", "));
        }
    }
    format!("{}  p{}  {:<9} {}  [{}]", task.id, task.priority, task.workstream, display_line(&task.title), state)
}

/// A task shown on its own (`t show`, and after an operation).
pub fn task_detail(task: &Task, terms: &Terms, facts: &TaskFacts<'_>) -> String {
    let mut out = format!("{}  {}\n", task.id, terminal_safe(&one_line(&task.title)));
    out += &format!(
        "  workstream  {}\n  priority    {}\n  status      {}\n",
        task.workstream,
        task.priority,
        task.status.as_str()
    );
    if let Some(holder) = &task.claimed_by {
        let lease = task
            .lease_end(facts.holder_seen, terms.lease)
            .map(|end| {
                let expired = if task.lease_expired(terms, facts.holder_seen) { ", expired" } else { "" };
                format!(", lease until {}{expired}", short_time(end, terms.now))
            })
            .unwrap_or_default();
        out += &format!("  claimed by  {holder} (token {}{lease})\n", task.claim_token);
    }
    if !task.after.is_empty() {
        out += &format!("  after       {}\n", task.after.join(", "));
    }
    if let Some(blockers) = facts.blocked_by.filter(|b| !b.is_empty()) {
        let list: Vec<String> =
            blockers.iter().map(|b| format!("{} ({})", b.id, b.status.map_or("missing", Status::as_str))).collect();
        out += &format!("  blocked by  {}\n", list.join(", "));
    }
    if !task.description.is_empty() {
        out += &format!("  description {}\n", terminal_safe(&task.description).replace('\n', "\n              "));
    }
    if let Some(result) = &task.result {
        let label = if task.status == Status::Done { "result" } else { "reason" };
        out += &format!("  {label:<11} {}\n", terminal_safe(result).replace('\n', "\n              "));
    }
    out +=
        &format!("  created     {} by {}\n", short_time(task.created_at, terms.now), terminal_safe(&task.created_by));
    if let (Some(at), Some(by)) = (task.finished_at, &task.finished_by) {
        out += &format!("  finished    {} by {}\n", short_time(at, terms.now), terminal_safe(by));
    }
    out
}

/// The agent object of DESIGN §5.
pub fn agent_json(agent: &Agent, settings: &Settings, now: DateTime<Utc>) -> Value {
    json!({
        "id": agent.id,
        "role": agent.role,
        "registered_at": ts(Some(agent.registered_at)),
        "last_seen": ts(Some(agent.last_seen)),
        "status": agent.status,
        "stale": agent.is_stale(now, settings.stale_after, settings.clock_grace),
    })
}

pub fn agent_line(agent: &Agent, settings: &Settings, now: DateTime<Utc>) -> String {
    let stale = if agent.is_stale(now, settings.stale_after, settings.clock_grace) { "  STALE" } else { "" };
    let role = if agent.role.is_empty() { "-" } else { &agent.role };
    format!(
        "{:<16} {:<12} seen {} ago  {}{stale}",
        agent.id,
        terminal_safe(role),
        format_age(now - agent.last_seen),
        terminal_safe(&agent.status)
    )
}

pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Branch text for one line of a listing: whitespace collapsed, control
/// characters replaced. Borrows in the common case where nothing changes,
/// which matters when listing 10k tasks.
pub fn display_line(text: &str) -> std::borrow::Cow<'_, str> {
    let clean = !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.contains("  ")
        && !text.chars().any(|c| c.is_control() || (c.is_whitespace() && c != ' '));
    if clean {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(terminal_safe(&one_line(text)))
    }
}

/// A Markdown-free text progress bar: `███░░░░░░░`.
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width + total / 2).checked_div(total).unwrap_or(0).min(width);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}
