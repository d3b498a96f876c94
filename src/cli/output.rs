//! Rendering results for people and for `--json`. Data goes to stdout,
//! warnings and notices to stderr; under `--json` stdout holds exactly one
//! JSON document.

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use crate::api::views::{agent_json, task_json, task_out, ts, TaskFacts, TaskOut};
use crate::error::Error;
use crate::model::agent::Agent;
use crate::model::duration::format_age;
use crate::model::names::{terminal_safe, terminal_text};
use crate::model::settings::Settings;
use crate::model::task::{short_time, Status, Task, Terms};

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

/// Text for people, as it goes out: branch content is untrusted (DESIGN
/// §4), so everything a person reads, on stdout or stderr, passes through
/// here on its way to the terminal, once, whichever command built it (see
/// [`terminal_text`] for what is replaced). `--json` is never touched: JSON
/// escapes control characters itself, and scripts need the exact values.
pub fn for_people(text: &str) -> std::borrow::Cow<'_, str> {
    terminal_text(text)
}

/// Raw output (`kb read`, completion scripts), which promises bytes as
/// stored: exact when stdout is a file or a pipe, so `orc kb read t > t.md`
/// round-trips; on a terminal, where nobody keeps the bytes, made safe like
/// every other text for people.
pub fn raw_for_people(text: &str, stdout_is_terminal: bool) -> std::borrow::Cow<'_, str> {
    if stdout_is_terminal {
        for_people(text)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
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
    if !task.resources.is_empty() {
        out += &format!("  resources   {}\n", terminal_safe(&task.resources.join(", ")));
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

#[cfg(test)]
mod tests {
    use super::{for_people, raw_for_people};

    #[test]
    fn raw_output_is_exact_in_a_pipe_and_safe_on_a_terminal() {
        let markdown = "# Notes\r\n\u{1b}]0;pwned\u{7}\u{202e}txt.exe\n";
        assert_eq!(raw_for_people(markdown, false), markdown, "`kb read t > t.md` round-trips");
        let shown = raw_for_people(markdown, true);
        assert_eq!(shown, "# Notes\r\n\u{fffd}]0;pwned\u{fffd}\u{fffd}txt.exe\n");
        assert_eq!(for_people(markdown), shown, "human output is always made safe");
    }
}
