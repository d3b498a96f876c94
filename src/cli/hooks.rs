//! `orc hooks install|uninstall|status`, and `orc hook`, the entry point the
//! installed hooks call.

use std::io::Read;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::lazy::Lazy;
use super::output::Output;
use super::Ctx;
use crate::error::Result;
use crate::hooks::{self, HookState, HOOKS};

#[derive(Subcommand, Debug)]
pub enum HooksCommand {
    /// Install git hooks that log commits, merges, branch switches, rewrites and pushes
    ///
    /// A hook you already have keeps running first, with its exit status kept.
    ///
    /// Example: orc hooks install --hooks post-commit,pre-push
    Install(Lazy<InstallArgs>),
    /// Remove orc's hooks and put back the ones they chained
    ///
    /// Example: orc hooks uninstall
    Uninstall,
    /// Show which hooks are installed
    ///
    /// Example: orc hooks status --json
    Status,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Comma-separated hooks to install (default: all five)
    #[arg(long, value_delimiter = ',', value_name = "HOOKS")]
    pub hooks: Vec<String>,
}

/// Arguments git passes to a hook.
#[derive(Args, Debug)]
pub struct HookArgs {
    /// The hook that runs
    pub hook: String,
    /// What git passed to it
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub args: Vec<String>,
}

fn describe(state: &HookState) -> &'static str {
    match state {
        HookState::Missing => "not installed",
        HookState::Installed => "installed",
        HookState::Chained => "installed, runs your hook first",
        HookState::UserOnly => "your own hook, without orc",
    }
}

fn report(dir: &std::path::Path, states: &[(String, HookState)], verb: &str) -> Output {
    let json = json!({
        "hooks_dir": dir,
        "hooks": states.iter().map(|(h, s)| json!({"hook": h, "state": s})).collect::<Vec<Value>>(),
    });
    let mut human = format!("{verb} in {}\n", dir.display());
    for (hook, state) in states {
        human += &format!("  {hook:<14} {}\n", describe(state));
    }
    Output::new(json, human)
}

pub fn run(orc: &Ctx, cmd: &HooksCommand) -> Result<Output> {
    let dir = hooks::hooks_dir(orc.repo.dir())?;
    match cmd {
        HooksCommand::Install(args) => {
            hooks::check_hooks(&args.hooks)?;
            let wanted: Vec<&str> =
                if args.hooks.is_empty() { HOOKS.to_vec() } else { args.hooks.iter().map(String::as_str).collect() };
            Ok(report(&dir, &hooks::install(&dir, &wanted)?, "hooks"))
        }
        HooksCommand::Uninstall => Ok(report(&dir, &hooks::uninstall(&dir)?, "hooks")),
        HooksCommand::Status => {
            let states: Vec<(String, HookState)> =
                HOOKS.iter().map(|h| (h.to_string(), hooks::state(&dir, h))).collect();
            Ok(report(&dir, &states, "hooks"))
        }
    }
}

/// The detached recorder a hook starts: never fails, prints nothing.
pub fn hook_record(dir: &std::path::Path) -> Output {
    let mut input = String::new();
    let _ = std::io::stdin().take(8 << 20).read_to_string(&mut input);
    hooks::record(dir, &input);
    Output::new(Value::Null, String::new())
}

/// The entry point of an installed hook: never fails, prints nothing.
pub fn hook(dir: &std::path::Path, agent: Option<String>, args: &HookArgs) -> Output {
    let mut stdin = String::new();
    if matches!(args.hook.as_str(), "pre-push" | "post-rewrite") {
        let _ = std::io::stdin().take(1 << 20).read_to_string(&mut stdin);
    }
    hooks::run_hook(dir, agent, &args.hook, &args.args, &stdin);
    Output::new(Value::Null, String::new())
}
