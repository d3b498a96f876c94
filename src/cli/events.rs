//! `orc log` and `orc events`.

use std::io::Write;

use clap::Args;
use serde_json::Value;

use super::output::{display_line, Output};
use super::Ctx;
use crate::api::watch::EventFollower;
use crate::error::{Error, Kind, Result};
use crate::model::event::Event;
use crate::model::names::check_name;
use crate::model::names::NameKind;
use crate::ops::events::LogEvent;
use crate::read::events::{parse_since, query, EventQuery};

/// How many events `orc events` shows when no filter bounds the listing.
const DEFAULT_LAST: usize = 20;

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Event type, for example `deployed` or `tests.passed`
    #[arg(value_name = "TYPE")]
    pub kind: String,
    /// Event data as JSON, for example '{"service":"api"}'
    #[arg(long)]
    pub data: Option<String>,
}

/// `orc events`; `--agent A` (the global flag) filters by writer.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only events of this type
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only events at or after this time: 2026-11-21T10:00:00Z, 2026-11-21, or a duration back (15m)
    #[arg(long)]
    pub since: Option<String>,
    /// Only events after this event id (the cursor of an earlier listing)
    #[arg(long, value_name = "EVENT_ID")]
    pub after: Option<String>,
    /// Only the newest N (default 20 when no --since or --after is given)
    #[arg(long)]
    pub last: Option<usize>,
    /// Keep printing new events as they arrive, until interrupted (JSON Lines with --json)
    #[arg(long)]
    pub follow: bool,
}

pub fn log(orc: &Ctx, args: &LogArgs) -> Result<Output> {
    let agent = orc.agent(None)?;
    let applied = orc.apply(&LogEvent::new(agent, &args.kind, args.data.as_deref())?)?;
    let event = applied.output;
    let json = serde_json::to_value(&event).expect("events serialise");
    Ok(Output::new(json, format!("logged {} ({})", event.kind, event.id)))
}

fn event_line(event: &Event) -> String {
    let data = match &event.data {
        Value::Object(map) if map.is_empty() => String::new(),
        data => data.to_string(),
    };
    format!(
        "{}  {:<16} {:<18} {}  {}",
        event.ts.format("%Y-%m-%d %H:%M:%S"),
        event.agent,
        display_line(&event.kind),
        display_line(&data),
        event.id
    )
}

fn build_query(orc: &Ctx, args: &EventsArgs) -> Result<EventQuery> {
    // Only an explicit --agent filters; ORC_AGENT names who runs the command.
    // A person's events are filed under their name made file-safe.
    let by = match orc.agent_flag.as_deref() {
        None => None,
        Some(agent) => match check_name(NameKind::Agent, agent) {
            Ok(()) => Some(agent.to_string()),
            // A person's name ("Jane Doe"), never a path.
            Err(_) if !agent.chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | '.')) => {
                Some(crate::ops::person_file_name(agent))
            }
            Err(e) => return Err(e),
        },
    };
    let since = args.since.as_deref().map(|s| parse_since(s, orc.now())).transpose()?;
    if let Some(after) = &args.after {
        if after.len() != 26 || !after.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::new(
                Kind::InvalidId,
                format!("--after {after:?} is not an event id (a 26-character ULID)"),
            ));
        }
    }
    let last = match (args.last, &since, &args.after) {
        (Some(0), ..) => return Err(Error::new(Kind::InvalidInput, "--last takes a number from 1")),
        (Some(n), ..) => Some(n),
        (None, None, None) => Some(DEFAULT_LAST),
        _ => None,
    };
    Ok(EventQuery {
        agent: by,
        kind: args.kind.clone(),
        since,
        after: args.after.as_ref().map(|a| a.to_ascii_uppercase()),
        last,
    })
}

pub fn events(orc: &Ctx, args: &EventsArgs) -> Result<Output> {
    let q = build_query(orc, args)?;
    if args.follow {
        return follow(orc, q);
    }
    let found = orc.read(|snap| query(snap, &q))?;
    let json: Vec<Value> = found.items.iter().map(|e| serde_json::to_value(e).expect("events serialise")).collect();
    let human: String = found.items.iter().map(|e| event_line(e) + "\n").collect();
    let mut output = Output::new(Value::Array(json), human).warn_broken(&found.broken);
    if found.items.is_empty() {
        output.warnings.push("no events match".into());
    }
    Ok(output)
}

/// Prints what matched, then every new matching event as the branch moves,
/// until interrupted.
fn follow(orc: &Ctx, q: EventQuery) -> Result<Output> {
    let (mut follower, first) = EventFollower::start(&orc.repo, &orc.session, q)?;
    for warning in Output::new(Value::Null, "").warn_broken(&first.broken).warnings {
        eprintln!("warning: {}", super::output::for_people(&warning));
    }
    print_events(orc.json, &first.items);
    loop {
        let found = follower.next_batch(None, None)?;
        for err in &found.broken {
            eprintln!("warning: skipped {}", super::output::for_people(&err.message));
        }
        print_events(orc.json, &found.items);
    }
}

fn print_events(as_json: bool, events: &[Event]) {
    let mut out = std::io::stdout().lock();
    for event in events {
        let line = if as_json {
            serde_json::to_string(event).expect("events serialise")
        } else {
            // Printed as they arrive, so not through `run`: the same guard.
            super::output::for_people(&event_line(event)).into_owned()
        };
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    }
}
