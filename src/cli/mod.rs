//! The command line: clap definitions, dispatch, and the one function that
//! turns results and errors into output and exit codes (DESIGN §5).

mod agent;
mod cycle;
mod demo;
mod doctor;
mod events;
mod hooks;
mod kb;
mod lock;
mod onboard;
pub mod output;
mod status;
mod task;
mod ws;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::ops::Orc;
use output::Output;

/// Coordinate a team of AI coding agents through git alone
///
/// State lives in the `orc` branch of this repository: every change is a
/// commit, and claims are won by compare-and-swap on the branch.
#[derive(Parser, Debug)]
#[command(
    name = "orc",
    version,
    max_term_width = 100,
    after_help = "Start with `orc init`, then `orc ws create` and `orc t add`. Agents loop on `orc next` and `orc complete`."
)]
pub struct Cli {
    /// Print one JSON document on stdout (errors as {"error": {...}})
    #[arg(long, global = true)]
    pub json: bool,
    /// Act as this agent (else ORC_AGENT, else git config orc.agent)
    #[arg(long, global = true, value_name = "NAME")]
    pub agent: Option<String>,
    /// Apply a mutating command at most once: a repeat with the same key returns the first result
    #[arg(long, global = true, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Run as if orc was started in this directory
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Do not publish claims, locks and finishes to the remote now (the next `orc sync` does)
    #[arg(long, global = true)]
    pub local: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the orc branch (or adopt the remote's) with orc.toml
    ///
    /// Example: orc init --remote origin
    Init(InitArgs),
    /// Show everything at a glance: workstreams, tasks, agents
    ///
    /// Example: orc status --json
    Status,
    /// Check the branch and the setup; say what is wrong and how to fix it
    ///
    /// Example: orc doctor
    Doctor,
    /// Workstreams: create, list, show
    ///
    /// Example: orc ws create revenue "Revenue generation" 1
    #[command(subcommand, visible_alias = "workstream")]
    Ws(ws::WsCommand),
    /// Tasks: add, list, show, claim, next, complete, fail, release, cancel, retry
    ///
    /// Example: orc t add revenue "Add payments to API" "Integrate USDC" 1
    #[command(name = "t", subcommand, visible_alias = "task")]
    Task(task::TaskCommand),
    /// Agents: register, heartbeat, list
    ///
    /// Example: orc a register agent-1 worker
    #[command(name = "a", subcommand, visible_alias = "agent")]
    Agent(agent::AgentCommand),
    /// List the tasks that can be claimed now, best first
    ///
    /// Example: orc ready revenue --json
    Ready(task::ReadyArgs),
    /// Claim a task by id, or the best ready task across workstreams
    ///
    /// Example: orc claim t-3fk2 --agent agent-1
    Claim(task::TopClaimArgs),
    /// Claim the best ready task (of one workstream, or any)
    ///
    /// Example: orc next revenue --agent agent-1 --json
    Next(task::TopNextArgs),
    /// Complete a task you hold
    ///
    /// Example: orc complete t-3fk2 "merged in #42" --agent agent-1
    Complete(task::TopFinishArgs),
    /// Fail a task you hold, with a reason
    ///
    /// Example: orc fail t-3fk2 "the API key is missing" --agent agent-1
    Fail(task::TopFinishArgs),
    /// Block until a task is done or failed
    ///
    /// Example: orc wait t-3fk2 --timeout 10m
    Wait(task::WaitArgs),
    /// Locks on shared resources: acquire, release, list, run
    ///
    /// Example: orc lock run deploy -- ./deploy.sh
    #[command(subcommand)]
    Lock(lock::LockCommand),
    /// Log an event of your own
    ///
    /// Example: orc log deployed --data '{"service":"api","version":"2.0"}'
    Log(events::LogArgs),
    /// Show events, newest last; --follow to keep watching
    ///
    /// Example: orc events --type task.claim --since 1h
    Events(events::EventsArgs),
    /// Knowledge base: write, append, read, list, rm
    ///
    /// Example: orc kb write api-design "Use REST for external clients"
    #[command(subcommand)]
    Kb(kb::KbCommand),
    /// Git hooks that log commits, merges, switches, rewrites and pushes
    ///
    /// Example: orc hooks install
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// Publish local work to the shared remote and take in everyone else's
    ///
    /// Fetches the remote's orc branch, replays local operations it lacks on
    /// top (a claim another machine won is dropped and reported), and pushes.
    ///
    /// Example: orc sync --remote origin
    Sync(SyncArgs),
    /// Render README.md and docs/index.html into the branch (or --out DIR)
    ///
    /// Example: orc dashboard --out /tmp/orc-dashboard
    Dashboard(DashboardArgs),
    /// See orc work: a throwaway project, a shared remote, and agents racing through it
    ///
    /// Example: orc demo --agents 4 --tasks 40 --keep
    Demo(demo::DemoArgs),
    /// One agent of `orc demo` (not for people)
    #[command(hide = true)]
    DemoAgent(demo::DemoAgentArgs),
    /// Print what an agent needs in its context to work with orc
    ///
    /// Example: orc prime --agents-md
    Prime(onboard::PrimeArgs),
    /// Print a shell completion script
    ///
    /// Example: orc completions bash > ~/.local/share/bash-completion/completions/orc
    Completions(onboard::CompletionsArgs),
    /// Propose who works on what next; kept as cycles/<n>/plan.md
    ///
    /// Example: orc plan
    Plan,
    /// Print a prompt-ready Markdown brief for an agent (or a workstream's top task)
    ///
    /// Example: orc brief agent-1 > brief.md
    Brief(cycle::BriefArgs),
    /// Report what finished since the last cycle and close it (cycles/<n>/report.md)
    ///
    /// Example: orc collect --json
    Collect,
    /// Entry point of the installed git hooks (not for people)
    #[command(hide = true)]
    Hook(hooks::HookArgs),
    /// Records an event a hook handed over on stdin (not for people)
    #[command(hide = true)]
    HookRecord,
}

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// Write README.md and docs/index.html into this folder instead of the branch
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Remote to sync with (default: git config orc.remote, else origin)
    #[arg(long)]
    pub remote: Option<String>,
    /// The remote's branch was rewritten: replay local operations onto it anyway
    #[arg(long)]
    pub accept_rewrite: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Branch to keep orc's state in (saved as git config orc.branch)
    #[arg(long)]
    pub branch: Option<String>,
    /// Remote to coordinate through (saved as git config orc.remote)
    #[arg(long)]
    pub remote: Option<String>,
}

/// An opened repository plus how the result will be shown, so commands
/// build only the rendering that is printed.
pub struct Ctx {
    pub orc: Orc,
    pub json: bool,
    /// Where orc was started, for helpers that open their own handle.
    pub dir: PathBuf,
    /// `--agent` as given on the command line (`orc events` filters by it).
    pub agent_flag: Option<String>,
    /// `--local`: keep this operation local until the next sync.
    pub local: bool,
}

/// Publishes a just-applied operation when a remote is configured, so a
/// claim or lock is won only once the host accepted it (DESIGN §4). If the
/// replay on the remote's tip refused it (another machine won), that
/// refusal is this command's answer. Local work waiting for the next sync
/// (events, heartbeats, knowledge) travels in the same push.
pub(crate) fn publish(orc: &Orc, local: bool, op_id: &str) -> Result<()> {
    if local {
        return Ok(());
    }
    let Some(remote) = crate::ops::init::remote_name(orc) else { return Ok(()) };
    if !orc.store.remote_names().contains(&remote) {
        return Ok(());
    }
    let report = crate::sync::sync(orc, &remote).map_err(|e| {
        if e.kind == "network" {
            let mut e = e;
            e.message = format!("done locally but not published: {}", e.message);
            e.hint = Some(
                "`orc sync` publishes it once the remote is reachable; until then another machine may win it".into(),
            );
            e
        } else {
            e
        }
    })?;
    if std::env::var_os("ORC_TRACE").is_some() {
        eprintln!("trace: pushes={}", report.pushes);
    }
    match report.refusals.into_iter().find(|(id, _)| id == op_id) {
        Some((_, refusal)) => Err(refusal),
        None => Ok(()),
    }
}

impl std::ops::Deref for Ctx {
    type Target = Orc;
    fn deref(&self) -> &Orc {
        &self.orc
    }
}

/// Resolves the agent identity from the flag, then ORC_AGENT.
fn agent_from_flags(cli: &Cli) -> Option<String> {
    cli.agent.clone().or_else(|| std::env::var("ORC_AGENT").ok().filter(|a| !a.is_empty()))
}

fn start_dir(cli: &Cli) -> Result<PathBuf> {
    match &cli.dir {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", &e)),
    }
}

fn open(cli: &Cli) -> Result<Orc> {
    Orc::open(&start_dir(cli)?, agent_from_flags(cli), cli.idempotency_key.clone())
}

fn init(cli: &Cli, args: &InitArgs) -> Result<Output> {
    let orc = open(cli)?;
    if let Some(branch) = &args.branch {
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(Error::input("invalid_name", format!("{branch:?} is not a valid branch name")));
        }
        orc.store.set_config("orc.branch", branch)?;
    }
    if let Some(remote) = &args.remote {
        if !orc.store.remote_names().contains(remote) {
            return Err(Error::input("not_found", format!("no git remote named {remote:?}"))
                .with_hint(format!("git remote add {remote} <url>")));
        }
        orc.store.set_config("orc.remote", remote)?;
    }
    // Reopen so a new branch name takes effect.
    let orc = if args.branch.is_some() { open(cli)? } else { orc };
    let outcome = crate::ops::init::init(&orc)?;
    for notice in orc.take_notices() {
        eprintln!("{notice}");
    }
    let human = match outcome.state.as_str() {
        "created" => format!("initialised orc on branch {} ({})", outcome.branch, &outcome.tip[..12]),
        "adopted" => format!("adopted the existing orc branch {} ({})", outcome.branch, &outcome.tip[..12]),
        _ => format!("orc is already set up on branch {} ({})", outcome.branch, &outcome.tip[..12]),
    };
    let json = serde_json::to_value(&outcome).expect("plain data");
    Ok(Output::new(json, human))
}

fn dashboard(orc: &Ctx, args: &DashboardArgs) -> Result<Output> {
    use crate::ops::dashboard::RenderDashboard;
    use crate::render::{render, HTML_PATH, NOJEKYLL_PATH, README_PATH};
    match &args.out {
        Some(dir) => {
            let snap = orc.snapshot()?;
            let rendered = render(&snap, orc.store.branch())?;
            let write = |path: &str, text: &str| -> Result<()> {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io(&format!("cannot create {}", parent.display()), &e))?;
                }
                std::fs::write(&target, text).map_err(|e| Error::io(&format!("cannot write {}", target.display()), &e))
            };
            write(README_PATH, &rendered.readme)?;
            write(HTML_PATH, &rendered.html)?;
            write(NOJEKYLL_PATH, "")?;
            let page = dir.join(HTML_PATH);
            Ok(Output::new(
                serde_json::json!({"out": dir, "page": page, "committed": false}),
                format!("wrote {} and {}", dir.join(README_PATH).display(), page.display()),
            ))
        }
        None => {
            let applied = orc.apply(&RenderDashboard)?;
            let human = if applied.output {
                "rendered README.md and docs/index.html into the branch".to_string()
            } else {
                "the dashboard is up to date; nothing to commit".to_string()
            };
            Ok(Output::new(serde_json::json!({"committed": applied.output}), human))
        }
    }
}

/// Re-renders the dashboard before a sync when the last render is older
/// than orc.toml's `render_interval`, so the push carries it. Never on the
/// claim path: publishing operations do not render.
fn render_if_due(orc: &Ctx) -> Result<()> {
    let snap = orc.snapshot()?;
    let (settings, _) = snap.settings();
    let last = crate::render::last_render(&snap)?;
    drop(snap);
    if last.is_none_or(|at| crate::clock::now().is_ok_and(|now| now - at >= settings.render_interval)) {
        orc.apply(&crate::ops::dashboard::RenderDashboard)?;
    }
    Ok(())
}

fn sync(orc: &Ctx, args: &SyncArgs) -> Result<Output> {
    let Some(remote) = args.remote.clone().or_else(|| crate::ops::init::remote_name(orc)) else {
        return Err(Error::input("no_remote", "no remote to sync with")
            .with_hint("git remote add origin <url> (or git config orc.remote <name>), then orc sync"));
    };
    render_if_due(orc)?;
    let report = crate::sync::sync_with(orc, &remote, args.accept_rewrite)?;
    if std::env::var_os("ORC_TRACE").is_some() {
        eprintln!("trace: pushes={}", report.pushes);
    }
    let mut human = format!(
        "synced with {}: {} published, {} received, {} dropped ({} push{})\n",
        report.remote,
        report.published,
        report.received,
        report.dropped.len(),
        report.pushes,
        if report.pushes == 1 { "" } else { "es" }
    );
    for drop in &report.dropped {
        human += &format!("dropped: {} ({}): {}\n", drop.subject, drop.by, drop.reason);
    }
    Ok(Output::new(serde_json::to_value(&report).expect("reports serialise"), human))
}

fn dispatch(cli: &Cli) -> Result<Output> {
    let Some(command) = &cli.command else {
        return Err(Error::input("usage", "no command given").with_hint("orc --help"));
    };
    if let Command::Init(args) = command {
        return init(cli, args);
    }
    if let Command::Hook(args) = command {
        // Whatever happens, git must carry on: errors go to hooks.log.
        return Ok(hooks::hook(&start_dir(cli)?, agent_from_flags(cli), args));
    }
    if let Command::Completions(args) = command {
        return Ok(onboard::completions(args));
    }
    if let Command::Demo(args) = command {
        return demo::demo(args);
    }
    if let Command::DemoAgent(args) = command {
        return Ok(demo::demo_agent(args));
    }
    if let Command::HookRecord = command {
        return Ok(hooks::hook_record(&start_dir(cli)?));
    }
    // `orc events --agent A` filters by writer, and may name a person: the
    // flag is not an identity there.
    let identity = if matches!(command, Command::Events(_)) {
        Orc::open(&start_dir(cli)?, None, cli.idempotency_key.clone())?
    } else {
        open(cli)?
    };
    let orc =
        Ctx { orc: identity, json: cli.json, dir: start_dir(cli)?, agent_flag: cli.agent.clone(), local: cli.local };
    let result = match command {
        Command::Init(_) => unreachable!("handled above"),
        Command::Status => status::status(&orc),
        Command::Doctor => doctor::doctor(&orc),
        Command::Ws(cmd) => ws::run(&orc, cmd),
        Command::Task(cmd) => task::run(&orc, cmd),
        Command::Agent(cmd) => agent::run(&orc, cmd),
        Command::Ready(args) => task::ready(&orc, args),
        Command::Claim(args) => task::top_claim(&orc, args),
        Command::Next(args) => task::top_next(&orc, args),
        Command::Complete(args) => task::top_finish(&orc, args, crate::ops::task::Finish::Complete),
        Command::Fail(args) => task::top_finish(&orc, args, crate::ops::task::Finish::Fail),
        Command::Wait(args) => task::wait(&orc, args),
        Command::Lock(cmd) => lock::run(&orc, cmd),
        Command::Log(args) => events::log(&orc, args),
        Command::Events(args) => events::events(&orc, args),
        Command::Kb(cmd) => kb::run(&orc, cmd),
        Command::Hooks(cmd) => hooks::run(&orc, cmd),
        Command::Sync(args) => sync(&orc, args),
        Command::Dashboard(args) => dashboard(&orc, args),
        Command::Plan => cycle::plan(&orc),
        Command::Brief(args) => cycle::brief(&orc, args),
        Command::Collect => cycle::collect(&orc),
        Command::Hook(_) | Command::HookRecord | Command::Completions(_) | Command::Demo(_) | Command::DemoAgent(_) => {
            unreachable!("handled above")
        }
        Command::Prime(args) => onboard::prime(&orc, args),
    };
    for notice in orc.take_notices() {
        eprintln!("{notice}");
    }
    if std::env::var_os("ORC_TRACE").is_some() {
        eprintln!("trace: cas_retries={}", orc.cas_retries());
    }
    result
}

/// Writes to stdout; a closed pipe (`orc t list | head`) ends quietly.
fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Runs orc with these arguments and returns the exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> i32 {
    let wants_json = args.iter().any(|a| a == "--json");
    if args.len() <= 1 {
        print_stdout(&overview());
        return 0;
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return 0;
            }
            if wants_json {
                let message = e.kind().as_str().map_or_else(|| first_line(&e.to_string()), str::to_string);
                let err = Error::input("usage", format!("{message}: {}", first_line(&e.to_string())));
                print_stdout(&format!("{}\n", err.to_json()));
            } else {
                let _ = e.print();
            }
            return 2;
        }
    };
    match dispatch(&cli) {
        Ok(output) => {
            for warning in &output.warnings {
                eprintln!("warning: {warning}");
            }
            if cli.json {
                let text = match output.json_text {
                    Some(text) => text,
                    None => serde_json::to_string_pretty(&output.json).expect("JSON values serialise"),
                };
                print_stdout(&format!("{text}\n"));
            } else if output.raw {
                print_stdout(&output.human);
            } else if !output.human.is_empty() {
                let text = if output.human.ends_with('\n') { output.human } else { format!("{}\n", output.human) };
                print_stdout(&text);
            }
            output.exit_code
        }
        Err(err) => {
            if cli.json {
                print_stdout(&format!("{}\n", err.to_json()));
            } else {
                eprintln!("error: {}", crate::model::names::terminal_safe(&err.message));
                if let Some(hint) = &err.hint {
                    eprintln!("hint: {hint}");
                }
            }
            err.exit_code()
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_string()
}

fn overview() -> String {
    "orc: coordinate AI coding agents through git alone

  orc init                         set up the orc branch in this repository
  orc ws create <ws> [desc] [pri]  add a workstream
  orc t add <ws> <title> [desc]    add a task (prints its id)
  orc next [ws] --agent A          claim the best ready task
  orc complete <id> [result]       finish it (or: orc fail <id> [reason])
  orc sync                         publish to the shared remote, take in everyone else's
  orc status                       everything at a glance

Every command takes --json. Run `orc --help` for all commands, `orc <command> --help` for one.
"
    .to_string()
}
