//! `orc prime` (what an agent needs in its context), `orc completions`.

use clap::{Args, CommandFactory};
use serde_json::json;

use super::output::Output;
use super::{Cli, Ctx};
use crate::api::primer::primer;
use crate::error::{Error, Kind, Result};

const BEGIN: &str = "<!-- orc:begin (maintained by `orc prime --agents-md`; edit outside these markers) -->";
const END: &str = "<!-- orc:end -->";

#[derive(Args, Debug)]
pub struct PrimeArgs {
    /// Add or refresh the orc section of this repository's AGENTS.md (and a CLAUDE.md pointing to it if none exists)
    #[arg(long)]
    pub agents_md: bool,
    /// Print the primer as a SessionStart hook payload (Claude Code's hookSpecificOutput JSON)
    #[arg(long, conflicts_with = "agents_md")]
    pub hook_json: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

pub fn prime(orc: &Ctx, args: &PrimeArgs) -> Result<Output> {
    let agent = orc.session.agent().ok();
    let text = primer(agent.as_deref(), orc.repo.branch());
    if args.hook_json {
        return Ok(hook_payload(&text));
    }
    if !args.agents_md {
        return Ok(Output::new(json!({"primer": text}), text));
    }
    let store = orc.store()?;
    let root = store.work_dir().ok_or_else(|| {
        Error::new(Kind::Usage, "this repository has no working tree for an AGENTS.md")
            .with_hint("run orc prime --agents-md in a clone")
    })?;
    let agents_md = root.join("AGENTS.md");
    // Only the bytes between the markers (inclusive) are ever orc's.
    let section = format!("{BEGIN}\n{text}{END}");
    let old = std::fs::read_to_string(&agents_md).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(start), Some(end)) if end > start => format!("{}{section}{}", &old[..start], &old[end + END.len()..]),
        _ if old.is_empty() => format!("{section}\n"),
        _ => format!("{old}{}\n{section}\n", if old.ends_with('\n') { "" } else { "\n" }),
    };
    let write = |path: &std::path::Path, text: &str| {
        std::fs::write(path, text).map_err(|e| Error::io(&format!("cannot write {}", path.display()), &e))
    };
    if new != old {
        write(&agents_md, &new)?;
    }
    let claude = root.join("CLAUDE.md");
    let made_claude = !claude.exists();
    if made_claude {
        write(&claude, "See AGENTS.md for how this repository's agents coordinate with orc.\n")?;
    }
    let human = format!(
        "{} the orc section of {}{}",
        if new == old { "kept" } else { "wrote" },
        agents_md.display(),
        if made_claude { " and created CLAUDE.md pointing to it" } else { "" }
    );
    Ok(Output::new(json!({"agents_md": agents_md, "changed": new != old, "claude_md_created": made_claude}), human))
}

/// The primer as a SessionStart hook's answer: the hook runner reads one
/// JSON document from stdout and adds `additionalContext` to the agent's
/// context, so the payload is printed as it is, with or without `--json`.
fn hook_payload(primer: &str) -> Output {
    let payload = json!({
        "hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": primer}
    });
    let text = format!("{payload}\n");
    let mut output = Output::new(payload, text);
    output.raw = true;
    output
}

pub fn completions(args: &CompletionsArgs) -> Output {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "orc", &mut buf);
    let script = String::from_utf8_lossy(&buf).into_owned();
    let mut output = Output::new(json!({"shell": args.shell.to_string(), "script": script}), script);
    output.raw = true;
    output
}
