//! The command line: clap definitions, dispatch, and the one function that
//! turns results and errors into output and exit codes (DESIGN §5).
//!
//! A front end: it parses arguments, decides who acts (`--agent`, then
//! `ORC_AGENT`, then `git config orc.agent`, else the git user as a person),
//! reads `ORC_NOW`/`ORC_SEED` once, calls `api`, and formats. It holds no
//! publishing, retrying, waiting, following or renewing of its own.

mod agent;
mod bulk;
mod config;
mod cycle;
mod demo;
mod doctor;
mod events;
mod hooks;
mod kb;
mod lazy;
mod lock;
mod maintain;
#[cfg(feature = "server")]
mod mcp;
mod named;
mod onboard;
pub mod output;
#[cfg(feature = "server")]
mod serve;
mod status;
mod task;
mod work;
mod ws;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::api::{PooledStore, Repo};
use crate::error::{Error, Kind, Result};
use crate::model::names::AgentName;
use crate::model::task::Actor;
use crate::ops::{Applied, Operation};
use crate::read::Snapshot;
use crate::session::{Clock, IdempotencyKey, Publish, Session};
use lazy::Lazy;
use named::Named;
use output::{for_people, Output};

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
    pub command: Option<Named<Command>>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the orc branch (or adopt the remote's) with orc.toml
    ///
    /// Example: orc init --remote origin
    Init(Lazy<InitArgs>),
    /// Show everything at a glance: workstreams, tasks, agents
    ///
    /// Example: orc status --json
    Status,
    /// Check the branch and the setup; say what is wrong and how to fix it
    ///
    /// Example: orc doctor
    Doctor,
    /// Merge orc's small packs into one now (commands start this in the background)
    ///
    /// Example: orc maintain --json
    Maintain(Lazy<maintain::MaintainArgs>),
    /// The branch's settings (orc.toml): get, set
    ///
    /// Example: orc config set lease 45m
    #[command(subcommand)]
    Config(Lazy<config::ConfigCommand>),
    /// Workstreams: create, list, show, archive
    ///
    /// Example: orc ws create revenue "Revenue generation" 1
    #[command(subcommand, visible_alias = "workstream")]
    Ws(Lazy<ws::WsCommand>),
    /// Tasks: add, list, show, claim, next, complete, fail, release, cancel, retry, edit
    ///
    /// Example: orc t add revenue "Add payments to API" "Integrate USDC" 1
    #[command(name = "t", subcommand, visible_alias = "task")]
    Task(Lazy<task::TaskCommand>),
    /// Agents: register, heartbeat, list, rm
    ///
    /// Example: orc a register agent-1 worker
    #[command(name = "a", subcommand, visible_alias = "agent")]
    Agent(Lazy<agent::AgentCommand>),
    /// List the tasks that can be claimed now, best first
    ///
    /// Example: orc ready revenue --json
    Ready(Lazy<task::ReadyArgs>),
    /// Claim a task by id, or the best ready task across workstreams
    ///
    /// Example: orc claim t-3fk2 --agent agent-1
    Claim(Lazy<task::TopClaimArgs>),
    /// Claim the best ready task (of one workstream, or any)
    ///
    /// Example: orc next revenue --agent agent-1 --json
    Next(Lazy<task::TopNextArgs>),
    /// Complete a task you hold
    ///
    /// Example: orc complete t-3fk2 "merged in #42" --agent agent-1
    Complete(Lazy<task::TopFinishArgs>),
    /// Fail a task you hold, with a reason
    ///
    /// Example: orc fail t-3fk2 "the API key is missing" --agent agent-1
    Fail(Lazy<task::TopFinishArgs>),
    /// Block until a task is done or failed
    ///
    /// Example: orc wait t-3fk2 --timeout 10m
    Wait(Lazy<task::WaitArgs>),
    /// Locks on shared resources: acquire, release, list, run
    ///
    /// Example: orc lock run deploy -- ./deploy.sh
    #[command(subcommand)]
    Lock(Lazy<lock::LockCommand>),
    /// Log an event of your own
    ///
    /// Example: orc log deployed --data '{"service":"api","version":"2.0"}'
    Log(Lazy<events::LogArgs>),
    /// Show events, newest last; --follow to keep watching
    ///
    /// Example: orc events --type task.claim --since 1h
    Events(Lazy<events::EventsArgs>),
    /// Knowledge base: write, append, read, list, rm, import
    ///
    /// Example: orc kb write api-design "Use REST for external clients"
    #[command(subcommand)]
    Kb(Lazy<kb::KbCommand>),
    /// Git hooks that log commits, merges, switches, rewrites and pushes
    ///
    /// Example: orc hooks install
    #[command(subcommand)]
    Hooks(Lazy<hooks::HooksCommand>),
    /// Publish local work to the shared remote and take in everyone else's
    ///
    /// Fetches the remote's orc branch, replays local operations it lacks on
    /// top (a claim another machine won is dropped and reported), and pushes.
    ///
    /// Example: orc sync --remote origin
    Sync(Lazy<SyncArgs>),
    /// Serve the HTTP API and the live dashboard
    ///
    /// Example: orc serve --listen 127.0.0.1:7787 --open
    #[cfg(feature = "server")]
    Serve(Lazy<serve::ServeArgs>),
    /// Render README.md and docs/index.html into the branch (or --out DIR)
    ///
    /// Example: orc dashboard --out /tmp/orc-dashboard
    Dashboard(Lazy<DashboardArgs>),
    /// See orc work: a throwaway project, a shared remote, and agents racing through it
    ///
    /// Example: orc demo --agents 4 --tasks 40 --keep
    // Not lazy: its `--dir` shares the id of the global `-C` and must be
    // in place before clap copies global arguments into it.
    Demo(demo::DemoArgs),
    /// One agent of `orc demo` (not for people)
    #[command(hide = true)]
    DemoAgent(Lazy<demo::DemoAgentArgs>),
    /// One task's work under `orc demo --work` (not for people)
    #[command(hide = true)]
    DemoTask,
    /// Serve orc's operations as MCP tools over stdio, as one agent
    ///
    /// Example: ORC_AGENT=agent-1 orc mcp
    #[cfg(feature = "server")]
    Mcp(Lazy<mcp::McpArgs>),
    /// Print what an agent needs in its context to work with orc
    ///
    /// Example: orc prime --agents-md
    Prime(Lazy<onboard::PrimeArgs>),
    /// Run agents on tasks: claim, worktree, brief, run, heartbeat, finish (a supervisor)
    ///
    /// Example: orc work --agents 4 --ws api -- ./agent.sh
    Work(Lazy<work::WorkArgs>),
    /// Print a shell completion script
    ///
    /// Example: orc completions bash > ~/.local/share/bash-completion/completions/orc
    Completions(Lazy<onboard::CompletionsArgs>),
    /// Propose who works on what next; kept as cycles/<n>/plan.md
    ///
    /// Example: orc plan
    Plan,
    /// Print a prompt-ready Markdown brief for an agent (or a workstream's top task)
    ///
    /// Example: orc brief agent-1 > brief.md
    Brief(Lazy<cycle::BriefArgs>),
    /// Report what finished since the last cycle and close it (cycles/<n>/report.md)
    ///
    /// Example: orc collect --json
    Collect,
    /// Entry point of the installed git hooks (not for people)
    #[command(hide = true)]
    Hook(Lazy<hooks::HookArgs>),
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

/// The repository, the session this command acts in, and how the result
/// will be shown, so commands build only the rendering that is printed.
pub struct Ctx {
    pub repo: Arc<Repo>,
    pub session: Arc<Session>,
    pub json: bool,
    /// `--agent` as given on the command line (`orc events` filters by it).
    pub agent_flag: Option<String>,
    /// A broken orc.toml was reported already.
    pub settings_warned: std::sync::atomic::AtomicBool,
}

impl Ctx {
    /// A git handle for this command.
    pub fn store(&self) -> Result<PooledStore<'_>> {
        self.repo.store()
    }

    /// Applies one operation locally.
    pub fn apply<O: Operation>(&self, op: &O) -> Result<Applied<O::Output>> {
        self.repo.apply(&self.session, op)
    }

    /// Reads the branch's tip.
    pub fn read<T>(&self, read: impl FnOnce(&Snapshot<'_>) -> Result<T>) -> Result<T> {
        self.repo.read(read)
    }

    /// The branch's settings for a read; a broken orc.toml is reported on
    /// stderr (the defaults stand in for this read only).
    pub fn settings(&self, snap: &Snapshot<'_>) -> crate::model::settings::Settings {
        let (settings, problem) = snap.settings();
        if let Some(problem) = problem {
            if !self.settings_warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!("warning: {}; using the default settings for this read", for_people(&problem.message));
            }
        }
        settings
    }

    /// This machine's observations of agents' signs of life, for judging
    /// claim expiry (DESIGN §4).
    pub fn liveness(&self, store: &crate::store::Store) -> crate::read::liveness::Liveness {
        crate::read::liveness::Liveness::load(store, self.now())
    }

    /// The clock's "now".
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.session.clock.now()
    }

    /// The acting agent: the seed's positional agent argument when given
    /// (it names the agent for this one command), else the session's. A
    /// positional agent and a different `--agent` are refused, not resolved.
    pub fn agent(&self, positional: Option<&str>) -> Result<AgentName> {
        match positional {
            Some(name) => {
                if let Some(flag) = self.agent_flag.as_deref().filter(|flag| *flag != name) {
                    return Err(Error::new(
                        Kind::Usage,
                        format!("two agents given: {name} as an argument and --agent {flag}"),
                    )
                    .with("agent", name)
                    .with("flag", flag)
                    .with_hint("name the agent once: as the argument or with --agent"));
                }
                AgentName::new(name)
            }
            None => self.session.agent().map_err(|mut e| {
                e.message = "this command acts as an agent, and no agent is set".into();
                e.with_hint("pass --agent NAME, set ORC_AGENT=NAME, or run `git config orc.agent NAME`")
            }),
        }
    }
}

/// The agent named by `--agent`, else `ORC_AGENT`, else the worktree's
/// `git config orc.agent`: the CLI's identity rule (DESIGN §2).
fn resolve_agent(cli: &Cli, repo: &Repo) -> Result<Option<AgentName>> {
    match cli.agent.clone().or_else(|| std::env::var("ORC_AGENT").ok().filter(|a| !a.is_empty())) {
        Some(name) => AgentName::new(&name).map(Some),
        None => repo.configured_agent(),
    }
}

/// The person operations without an agent run as: git's user, else the
/// login name.
fn resolve_person(repo: &Repo) -> Result<String> {
    Ok(repo.git_person()?.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "person".into()))
}

fn start_dir(cli: &Cli) -> Result<PathBuf> {
    match &cli.dir {
        Some(dir) => Ok(dir.clone()),
        None => std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", &e)),
    }
}

/// Opens the repository and builds the session: who acts (`as_agent`
/// false: always the person, for commands where `--agent` filters), the
/// clock (`ORC_NOW`, `ORC_SEED`, read here once), the key and the publish
/// policy.
fn open(cli: &Cli, as_agent: bool) -> Result<(Repo, Session)> {
    let repo = Repo::open(&start_dir(cli)?)?;
    let agent = if as_agent { resolve_agent(cli, &repo)? } else { None };
    let actor = match agent {
        Some(agent) => Actor::Agent(agent.to_string()),
        None => Actor::Person(resolve_person(&repo)?),
    };
    let key = cli.idempotency_key.as_deref().map(IdempotencyKey::new).transpose()?;
    let publish = if cli.local { Publish::Local } else { Publish::WhenRemote };
    let session = Session::new(actor).with_clock(Clock::from_env()?).with_key(key).with_publish(publish);
    Ok((repo, session))
}

fn init(cli: &Cli, args: &InitArgs) -> Result<Output> {
    let (repo, session) = open(cli, true)?;
    {
        let store = repo.store()?;
        if let Some(branch) = &args.branch {
            if !crate::store::is_valid_branch_name(branch) {
                return Err(Error::new(Kind::InvalidName, format!("{branch:?} is not a valid branch name")));
            }
            store.set_config("orc.branch", branch)?;
        }
        if let Some(remote) = &args.remote {
            if !store.remote_names().contains(remote) {
                return Err(Error::new(Kind::NotFound, format!("no git remote named {remote:?}"))
                    .with_hint(format!("git remote add {remote} <url>")));
            }
            store.set_config("orc.remote", remote)?;
        }
    }
    // Reopen so a new branch name takes effect.
    let (repo, session) = if args.branch.is_some() { open(cli, true)? } else { (repo, session) };
    let outcome = repo.init(&session)?;
    for notice in session.take_notices() {
        eprintln!("{}", for_people(&notice));
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
    use crate::render::{render, HTML_PATH, NOJEKYLL_PATH, README_PATH};
    match &args.out {
        Some(dir) => {
            let rendered = orc.read(|snap| render(snap, orc.repo.branch()))?;
            let write = |path: &str, text: &str| -> Result<()> {
                use anyhow::Context as _;
                let target = dir.join(path);
                let written = target
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&target, text))
                    .with_context(|| format!("cannot write {}", target.display()));
                written.map_err(|e| edge_error(Kind::Io, &e))
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
            let applied = orc.apply(&crate::ops::dashboard::RenderDashboard)?;
            let human = if applied.output {
                "rendered README.md and docs/index.html into the branch".to_string()
            } else {
                "the dashboard is up to date; nothing to commit".to_string()
            };
            Ok(Output::new(serde_json::json!({"committed": applied.output}), human))
        }
    }
}

fn sync(orc: &Ctx, args: &SyncArgs) -> Result<Output> {
    let Some(remote) = args.remote.clone().map_or_else(|| orc.repo.remote_name(), |r| Ok(Some(r)))? else {
        return Err(Error::new(Kind::NoRemote, "no remote to sync with")
            .with_hint("git remote add origin <url> (or git config orc.remote <name>), then orc sync"));
    };
    if !orc.store()?.remote_names().contains(&remote) {
        return Err(Error::new(Kind::NoRemote, format!("no git remote named {remote:?}"))
            .with_hint(format!("git remote add {remote} <url>, or pass --remote")));
    }
    let report = orc.repo.sync(&orc.session, &remote, args.accept_rewrite)?;
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
    if report.served > 0 {
        human += &format!("claimed for {} waiting next request(s) of other agents\n", report.served);
    }
    for drop in &report.dropped {
        human += &format!("dropped: {} ({}): {}\n", drop.subject, drop.by, drop.reason);
    }
    Ok(Output::new(serde_json::to_value(&report).expect("reports serialise"), human))
}

fn dispatch(cli: &Cli) -> Result<Output> {
    let Some(Named(command)) = &cli.command else {
        return Err(Error::new(Kind::Usage, "no command given").with_hint("orc --help"));
    };
    if let Command::Init(args) = command {
        return init(cli, args);
    }
    if let Command::Hook(args) = command {
        // Whatever happens, git must carry on: errors go to hooks.log.
        let agent = cli.agent.clone().or_else(|| std::env::var("ORC_AGENT").ok().filter(|a| !a.is_empty()));
        return Ok(hooks::hook(&start_dir(cli)?, agent, args));
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
    if let Command::DemoTask = command {
        return Ok(demo::demo_task());
    }
    if let Command::Work(Lazy(work::WorkArgs { command: Some(work::WorkCommand::Keep(args)), .. })) = command {
        std::process::exit(work::keep(args));
    }
    #[cfg(feature = "server")]
    if let Command::Mcp(args) = command {
        return mcp::run(cli, args);
    }
    if let Command::Maintain(args) = command {
        return maintain::maintain(&start_dir(cli)?, args);
    }
    if let Command::HookRecord = command {
        return Ok(hooks::hook_record(&start_dir(cli)?));
    }
    // `orc events --agent A` filters by writer, and may name a person: the
    // flag is not an identity there.
    let (repo, session) = open(cli, !matches!(command, Command::Events(_)))?;
    // A fresh clone reads the remote's board until a write adopts it: say so.
    if !matches!(command, Command::Sync(_)) {
        let store = repo.store()?;
        if store.tip()?.is_none() {
            if let Some((remote, _)) = store.remote_tracking_tip()? {
                eprintln!(
                    "note: showing {remote}/{branch}, which this clone has not adopted yet (the first write or `orc init` adopts it)",
                    branch = store.branch()
                );
            }
        }
    }
    let orc = Ctx {
        repo: Arc::new(repo),
        session: Arc::new(session),
        json: cli.json,
        agent_flag: cli.agent.clone(),
        settings_warned: Default::default(),
    };
    let result = match command {
        Command::Init(_) => unreachable!("handled above"),
        Command::Status => status::status(&orc),
        Command::Doctor => doctor::doctor(&orc),
        Command::Config(cmd) => config::run(&orc, cmd),
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
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::serve(&orc, args),
        Command::Plan => cycle::plan(&orc),
        Command::Brief(args) => cycle::brief(&orc, args),
        Command::Collect => cycle::collect(&orc),
        Command::Hook(_)
        | Command::Maintain(_)
        | Command::HookRecord
        | Command::Completions(_)
        | Command::Demo(_)
        | Command::DemoAgent(_)
        | Command::DemoTask => {
            unreachable!("handled above")
        }
        Command::Prime(args) => onboard::prime(&orc, args),
        Command::Work(args) => work::run(&orc, args),
        #[cfg(feature = "server")]
        Command::Mcp(_) => unreachable!("handled above"),
    };
    for notice in orc.session.take_notices() {
        eprintln!("{}", for_people(&notice));
    }
    if std::env::var_os("ORC_TRACE").is_some() {
        eprintln!("trace: cas_retries={}", orc.session.cas_retries());
        if orc.session.publish_pushes() > 0 {
            eprintln!("trace: pushes={}", orc.session.publish_pushes());
        }
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

/// `Cli::try_parse_from`, except that the tree holds only the subcommand
/// the command line names (`named`), and the command tree clap built is
/// left for the process's exit to free: freeing it piece by piece cost a
/// third of parsing, on every command. (Tests that call `run` many times
/// leak a few kilobytes a call.)
fn parse(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    let parsed = named::with_named(named::named_path(args), || {
        let mut command = Cli::command();
        let parsed = command.try_get_matches_from_mut(args);
        std::mem::forget(command);
        parsed
    });
    let mut matches = parsed?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command()))
}

/// Runs orc with these arguments and returns the exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> i32 {
    maintain::register_background();
    let wants_json = args.iter().any(|a| a == "--json");
    if args.len() <= 1 {
        print_stdout(&overview());
        return 0;
    }
    let cli = match parse(&args) {
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
                // A value its parser refused (a priority of 12) is bad input,
                // as the same value refused by the library is.
                let kind = if e.kind() == ErrorKind::ValueValidation { Kind::InvalidInput } else { Kind::Usage };
                let err = Error::new(kind, format!("{message}: {}", first_line(&e.to_string())));
                print_stdout(&format!("{}\n", err.to_json()));
            } else {
                let _ = e.print();
            }
            return 2;
        }
    };
    match dispatch(&cli).map_err(with_cli_hint) {
        Ok(output) => {
            for warning in &output.warnings {
                eprintln!("warning: {}", for_people(warning));
            }
            if cli.json {
                let text = match output.json_text {
                    Some(text) => text,
                    None => serde_json::to_string_pretty(&output.json).expect("JSON values serialise"),
                };
                print_stdout(&format!("{text}\n"));
            } else if output.raw {
                use std::io::IsTerminal as _;
                print_stdout(&output::raw_for_people(&output.human, std::io::stdout().is_terminal()));
            } else if !output.human.is_empty() {
                let text = if output.human.ends_with('\n') { output.human } else { format!("{}\n", output.human) };
                print_stdout(&for_people(&text));
            }
            output.exit_code
        }
        Err(err) => {
            if cli.json {
                print_stdout(&format!("{}\n", err.to_json()));
            } else {
                eprintln!("error: {}", for_people(&err.message));
                if let Some(hint) = &err.hint {
                    eprintln!("hint: {}", for_people(hint));
                }
            }
            err.exit_code()
        }
    }
}

/// The CLI's own file work (writing `--out`, reading `--file`) adds context
/// with anyhow; this turns such an error into orc's at the edge, keeping the
/// whole chain in the message and the root cause.
pub(crate) fn edge_error(kind: Kind, err: &anyhow::Error) -> Error {
    Error::new(kind, format!("{err:#}")).with_cause(err.root_cause())
}

/// The library says how to fix an error in words; the CLI names its own
/// command for the kinds where one fixes it (the HTTP and MCP front ends
/// keep the words, or say it their way).
fn with_cli_hint(mut err: Error) -> Error {
    let field = |key: &str| err.fields.get(key).and_then(serde_json::Value::as_str).map(str::to_string);
    let hint = match err.kind {
        Kind::LockHeld => field("resource")
            .map(|r| format!("wait, or run the work under `orc lock run {r} -- <command>` once it is free")),
        Kind::WrongState if field("status").as_deref() == Some("failed") => {
            field("task").map(|t| format!("orc t retry {t}"))
        }
        Kind::ClaimExpired => field("task").map(|t| format!("claim it again first: orc t claim {t}")),
        Kind::NotHolder if field("claimed_by").is_none() => field("task").map(|t| format!("orc t claim {t}")),
        Kind::AlreadyExists => field("workstream").map(|ws| format!("orc ws show {ws}")),
        Kind::NothingReady => Some("add work with `orc t add <ws> <title>`, or wait with `orc wait <id>`".into()),
        Kind::RemoteRewritten => Some(
            "to replay your operations (the lost ones included) onto the rewritten branch: orc sync --accept-rewrite"
                .into(),
        ),
        Kind::NotFound if field("workstream").is_some() => field("workstream")
            .map(|ws| format!("create it with `orc ws create {ws}`, or list them with `orc ws list`")),
        Kind::NotFound | Kind::InvalidId if field("id").is_some() => Some("list tasks with `orc t list`".into()),
        Kind::NotFound if field("topic").is_some() => Some("list topics with `orc kb list`".into()),
        Kind::BrokenFile => {
            Some("fix or restore the file on the orc branch; `orc doctor` lists every broken file".into())
        }
        Kind::HookConflict => Some("move one of them away, then run `orc hooks install` again".into()),
        Kind::CheckedOut => field("worktree").map(|w| {
            format!("git -C {w} switch --detach (or to another branch), then retry; `orc config set KEY VALUE` edits orc.toml without a checkout")
        }),
        Kind::Busy | Kind::PushRefused | Kind::Network => {
            err.hint.as_ref().map(|h| h.replace("sync again", "run `orc sync` again").replace("a sync", "`orc sync`"))
        }
        _ => None,
    };
    if hint.is_some() {
        err.hint = hint;
    }
    err
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
