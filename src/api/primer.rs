//! The primer: what an agent needs in its context to work with orc, kept
//! here once so `orc prime`, the SessionStart hook payload and the MCP
//! server's primer resource say the same thing.

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
