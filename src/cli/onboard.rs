//! `orc prime` (what an agent needs in its context), `orc completions`.

use clap::{Args, CommandFactory};
use serde_json::json;

use super::output::Output;
use super::{Cli, Ctx};
use crate::error::{Error, Kind, Result};

const BEGIN: &str = "<!-- orc:begin (maintained by `orc prime --agents-md`; edit outside these markers) -->";
const END: &str = "<!-- orc:end -->";

#[derive(Args, Debug)]
pub struct PrimeArgs {
    /// Add or refresh the orc section of this repository's AGENTS.md (and a CLAUDE.md pointing to it if none exists)
    #[arg(long)]
    pub agents_md: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// What an agent needs to know, short enough for a prompt.
pub fn primer(agent: Option<&str>, branch: &str) -> String {
    let me = agent.unwrap_or("<your-name>");
    let identity = match agent {
        Some(a) => format!("You are `{a}` (from --agent, ORC_AGENT or `git config orc.agent`)."),
        None => {
            "Set your name once: `export ORC_AGENT=<name>` (or pass --agent, or `git config orc.agent <name>`).".into()
        }
    };
    format!(
        "# Working with orc

orc coordinates agents through the `{branch}` branch of this git repository: tasks, claims,
locks, events and knowledge are files there, and every change is a commit. {identity}

## The loop
1. `orc sync` — take in everyone's work (claims publish by themselves).
2. `orc next --json` — claim the best ready task (or `orc next <workstream>`).
   Exit 1 `nothing_ready`: nothing to do now; `orc wait <id>` or try later.
3. `orc brief {me}` — your task, its description, related knowledge, commands.
4. Work. Every few minutes: `orc a heartbeat --status \"<what you do>\"` (keeps your claim).
5. Finish: `orc complete <id> \"<result>\"` or `orc fail <id> \"<why>\"`.
6. Tell the team: `orc log <type> --data '{{\"key\":\"value\"}}'`.

## Shared resources
- `orc lock run <resource> -- <command>`: holds the lock while the command runs.
- Or `orc lock acquire <resource> --ttl 5m` … `orc lock release <resource>`.
- The fencing token (`ORC_LOCK_TOKEN`, `token` in JSON) grows with every holder.

## Knowledge
- `orc kb list`, `orc kb read <topic>`; share with `orc kb write <topic> \"<text>\"`
  (or `--file F`, or `-` for stdin). Topics nest: `services/auth`.

## Output and errors
- Add `--json` to any command: one JSON document on stdout; errors are
  `{{\"error\": {{\"kind\": …, \"message\": …, \"hint\": …}}}}`.
- Exit 0 done · 1 refused by the state (`already_claimed`, `nothing_ready`,
  `lock_held`, `not_holder`, `claim_expired`, `terminal`) · 2 bad input
  (`invalid_name`, `not_found`, `no_agent`) · 3 environment (`network`,
  `broken_file`): retry later or run `orc doctor`.
- Retrying after a crash? Pass `--idempotency-key <key>`: a repeat returns the first result.
- `already_claimed` names the winner: move on (`orc next` already does).
"
    )
}

pub fn prime(orc: &Ctx, args: &PrimeArgs) -> Result<Output> {
    let agent = orc.session.agent().ok();
    let text = primer(agent.as_deref(), orc.repo.branch());
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

pub fn completions(args: &CompletionsArgs) -> Output {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "orc", &mut buf);
    let script = String::from_utf8_lossy(&buf).into_owned();
    let mut output = Output::new(json!({"shell": args.shell.to_string(), "script": script}), script);
    output.raw = true;
    output
}
