//! `orc status`: everything at a glance, like the seed's statusText.

use super::lock::lock_line;
use super::output::{agent_line, task_line, Output};
use super::ws::ws_line;
use super::Ctx;
use crate::api::status::READY_SHOWN;
use crate::error::Result;
use crate::model::task::Status;

pub fn status(orc: &Ctx) -> Result<Output> {
    let report = crate::api::status::status(&orc.repo, &orc.session)?;
    let Some(tip) = &report.tip else {
        let human = format!(
            "orc: no branch {} yet — nothing to show.\nhint: `orc init` sets it up; `orc ws create <name>` and `orc t add <ws> <title>` add work.\n",
            report.branch
        );
        return Ok(Output::new(report.to_json(), human));
    };
    let json = report.to_json();
    let now = report.terms.now;
    let total = &report.total;
    let mut out = format!(
        "orc on branch {} @ {}{}\n",
        report.branch,
        &tip[..10],
        report.as_of.map(|t| format!(" (state as of {})", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default()
    );
    out += &format!(
        "Tasks: {} total — {} open, {} claimed, {} done, {} failed, {} cancelled · {} ready\n",
        total.total(),
        total.get(Status::Open),
        total.get(Status::Claimed),
        total.get(Status::Done),
        total.get(Status::Failed),
        total.get(Status::Cancelled),
        report.ready_count
    );
    out += &format!("\nWorkstreams ({})\n", report.workstreams.len());
    if report.workstreams.is_empty() {
        out += "  none yet — orc ws create <name> [description] [priority]\n";
    }
    for (ws, counts) in &report.workstreams {
        out += &format!("  {}\n", ws_line(ws, counts));
    }
    out += &format!("\nAgents ({}, {} stale)\n", report.agents.len(), report.stale_agents);
    if report.agents.is_empty() {
        out += "  none yet — orc a register <name> [role]\n";
    }
    for agent in &report.agents {
        let holds = report.claims_of(&agent.id);
        let holds = if holds.is_empty() { String::new() } else { format!("  holds {}", holds.join(", ")) };
        out += &format!("  {}{holds}\n", agent_line(agent, &report.settings, now));
    }
    if !report.locks.is_empty() {
        out += &format!("\nLocks ({})\n", report.locks.len());
        for (lock, expired) in &report.locks {
            out += &format!("  {}\n", lock_line(lock, *expired, now));
        }
    }
    if !report.claimed.is_empty() {
        out += &format!("\nClaimed ({})\n", report.claimed.len());
        for task in report.claimed_tasks() {
            out += &format!("  {}\n", task_line(task, &report.terms, &report.facts(task)));
        }
    }
    out += &format!("\nReady ({})\n", report.ready_count);
    if report.ready_count == 0 {
        out += "  nothing ready\n";
    }
    for task in report.ready_tasks() {
        out += &format!("  {}\n", task_line(task, &report.terms, &report.facts(task)));
    }
    if report.ready_count > READY_SHOWN {
        out += &format!("  … {} more: orc ready\n", report.ready_count - READY_SHOWN);
    }
    if !report.events.is_empty() {
        out += "\nRecent events\n";
        for event in &report.events {
            out += &format!(
                "  {}  {:<16} {}\n",
                event.ts.format("%H:%M:%S"),
                event.agent,
                crate::cli::output::display_line(&event.kind)
            );
        }
    }
    let output = Output::new(json, out).warn_broken(&report.broken);
    super::output::skip_free(report);
    Ok(output)
}
