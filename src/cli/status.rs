//! `orc status`: everything at a glance, like the seed's statusText.

use std::collections::BTreeMap;

use serde_json::json;

use super::lock::{judged_locks, lock_json, lock_line};
use super::output::{agent_json, agent_line, task_json, task_line, ts, Output, TaskFacts};
use super::ws::{ws_json, ws_line, Counts};
use super::Ctx;
use crate::error::Result;
use crate::model::task::{Status, Terms};
use crate::read::board::Board;
use crate::read::events::{query, EventQuery};
use crate::read::Snapshot;

const READY_SHOWN: usize = 10;
const RECENT_EVENTS: usize = 8;

pub fn status(orc: &Ctx) -> Result<Output> {
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let Some(tip) = snap.commit else {
        let json = json!({"branch": orc.store()?.branch(), "tip": null, "workstreams": [], "agents": [], "tasks": Counts::default().json()});
        let human = format!(
            "orc: no branch {} yet — nothing to show.\nhint: `orc init` sets it up; `orc ws create <name>` and `orc t add <ws> <title>` add work.\n",
            orc.store()?.branch()
        );
        return Ok(Output::new(json, human));
    };
    let (settings, settings_problem) = snap.settings();
    let now = orc.now();
    let terms = Terms { now, lease: settings.lease, grace: settings.clock_grace };
    let board = Board::load(&snap, None)?;
    let mut broken = board.broken.clone();
    broken.extend(settings_problem);

    let names = snap.workstream_names()?;
    broken.extend(names.broken);
    let mut per_ws: BTreeMap<&str, Counts> = names.items.iter().map(|n| (n.as_str(), Counts::default())).collect();
    let mut total = Counts::default();
    for task in &board.tasks {
        total.add(task.status);
        per_ws.entry(task.workstream.as_str()).or_default().add(task.status);
    }
    let mut workstreams = Vec::new();
    for name in &names.items {
        match snap.workstream(name) {
            Ok(Some(ws)) => workstreams.push((ws, per_ws[name.as_str()])),
            Ok(None) => {}
            Err(e) => broken.push(e),
        }
    }
    workstreams.sort_by(|(a, _), (b, _)| (a.priority, &a.name).cmp(&(b.priority, &b.name)));

    let agents = snap.agents()?;
    let mut agents_sorted = agents.items.clone();
    agents_sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let stale = agents_sorted.iter().filter(|a| a.is_stale(now, settings.stale_after, settings.clock_grace)).count();

    let mut claimed: Vec<_> = board.tasks.iter().filter(|t| t.status == Status::Claimed).collect();
    claimed.sort_by(|a, b| (a.claimed_at, &a.id).cmp(&(b.claimed_at, &b.id)));
    let ready = board.ready(&snap, &terms)?;
    let as_of = orc.store()?.commit_time(tip).ok();

    let (locks, lock_problems) = judged_locks(orc, false)?;
    broken.extend(lock_problems);
    let events = query(&snap, &EventQuery { last: Some(RECENT_EVENTS), ..Default::default() })?;
    broken.extend(events.broken.iter().cloned());

    let facts_for =
        |task: &crate::model::task::Task| TaskFacts { holder_seen: board.holder_seen(task), blocked_by: None };
    let json = json!({
        "branch": orc.store()?.branch(),
        "tip": tip.to_string(),
        "as_of": ts(as_of),
        "tasks": total.json(),
        "workstreams": workstreams.iter().map(|(ws, c)| ws_json(ws, c)).collect::<Vec<_>>(),
        "agents": agents_sorted.iter().map(|a| {
            let mut value = agent_json(a, &settings, now);
            value["claims"] = json!(claimed.iter().filter(|t| t.claimed_by.as_deref() == Some(a.id.as_str())).map(|t| &t.id).collect::<Vec<_>>());
            value
        }).collect::<Vec<_>>(),
        "stale_agents": stale,
        "claimed": claimed.iter().map(|t| task_json(t, &terms, &facts_for(t))).collect::<Vec<_>>(),
        "ready": ready.iter().take(READY_SHOWN).map(|t| task_json(t, &terms, &facts_for(t))).collect::<Vec<_>>(),
        "ready_count": ready.len(),
        "locks": locks.iter().map(|(l, expired)| lock_json(l, *expired)).collect::<Vec<_>>(),
        "events": events.items.iter().map(|e| serde_json::to_value(e).expect("events serialise")).collect::<Vec<_>>(),
    });

    let mut out = format!(
        "orc on branch {} @ {}{}\n",
        orc.store()?.branch(),
        &tip.to_string()[..10],
        as_of.map(|t| format!(" (state as of {})", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default()
    );
    out += &format!(
        "Tasks: {} total — {} open, {} claimed, {} done, {} failed, {} cancelled · {} ready\n",
        total.total(),
        total.get(Status::Open),
        total.get(Status::Claimed),
        total.get(Status::Done),
        total.get(Status::Failed),
        total.get(Status::Cancelled),
        ready.len()
    );
    out += &format!("\nWorkstreams ({})\n", workstreams.len());
    if workstreams.is_empty() {
        out += "  none yet — orc ws create <name> [description] [priority]\n";
    }
    for (ws, counts) in &workstreams {
        out += &format!("  {}\n", ws_line(ws, counts));
    }
    out += &format!("\nAgents ({}, {} stale)\n", agents_sorted.len(), stale);
    if agents_sorted.is_empty() {
        out += "  none yet — orc a register <name> [role]\n";
    }
    for agent in &agents_sorted {
        let holds: Vec<&str> = claimed
            .iter()
            .filter(|t| t.claimed_by.as_deref() == Some(agent.id.as_str()))
            .map(|t| t.id.as_str())
            .collect();
        let holds = if holds.is_empty() { String::new() } else { format!("  holds {}", holds.join(", ")) };
        out += &format!("  {}{holds}\n", agent_line(agent, &settings, now));
    }
    if !locks.is_empty() {
        out += &format!("\nLocks ({})\n", locks.len());
        for (lock, expired) in &locks {
            out += &format!("  {}\n", lock_line(lock, *expired, now));
        }
    }
    if !claimed.is_empty() {
        out += &format!("\nClaimed ({})\n", claimed.len());
        for task in &claimed {
            out += &format!("  {}\n", task_line(task, &terms, &facts_for(task)));
        }
    }
    out += &format!("\nReady ({})\n", ready.len());
    if ready.is_empty() {
        out += "  nothing ready\n";
    }
    for task in ready.iter().take(READY_SHOWN) {
        out += &format!("  {}\n", task_line(task, &terms, &facts_for(task)));
    }
    if ready.len() > READY_SHOWN {
        out += &format!("  … {} more: orc ready\n", ready.len() - READY_SHOWN);
    }
    if !events.items.is_empty() {
        out += "\nRecent events\n";
        for event in &events.items {
            out += &format!(
                "  {}  {:<16} {}\n",
                event.ts.format("%H:%M:%S"),
                event.agent,
                crate::cli::output::display_line(&event.kind)
            );
        }
    }
    let output = Output::new(json, out).warn_broken(&broken);
    drop((claimed, ready));
    super::output::skip_free(board);
    Ok(output)
}
