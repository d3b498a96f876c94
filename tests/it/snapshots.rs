//! Human output, snapshot-tested: one small board shown by every reading
//! command, and the whole `--help` reference.
//!
//! Every `orc` runs at its own fixed time (`ORC_NOW`) and id seed
//! (`ORC_SEED`), so task ids, event ids and commit shas come out the same on
//! every run; only the temp dir differs, and filters redact it. Snapshots
//! live in `tests/it/snapshots/`; review changes with `cargo insta review`
//! (or `INSTA_UPDATE=always` and `git diff`).

use std::cell::Cell;

use crate::common::{Run, TestEnv};

/// The time of the first command; each later one runs 5 seconds after it.
const START_HOUR: u64 = 10;
const START_DATE: &str = "2026-11-21";

/// A `TestEnv` whose clock and id seed advance by one step per command.
struct Clocked {
    env: TestEnv,
    step: Cell<u64>,
}

impl Clocked {
    fn new() -> Self {
        Self { env: TestEnv::new(), step: Cell::new(0) }
    }

    /// Runs `orc` at the next step: 5 seconds later, the next seed.
    #[must_use = "check the exit status with .success() or .code(n)"]
    fn orc(&self, args: &[&str]) -> Run {
        let step = self.step.get();
        self.step.set(step + 1);
        let seconds = START_HOUR * 3600 + 5 * step;
        let now = format!("{START_DATE}T{:02}:{:02}:{:02}Z", seconds / 3600, seconds / 60 % 60, seconds % 60);
        self.env.orc_with(&[("ORC_NOW", &now), ("ORC_SEED", &(step + 1).to_string())], args)
    }

    /// Runs `orc` and returns what it printed, trimmed: the id of what it made.
    #[track_caller]
    fn id(&self, args: &[&str]) -> String {
        self.orc(args).success().stdout.trim().to_string()
    }

    /// Runs `orc args` at the next step and snapshots what it printed as
    /// `name`, with the command line as the snapshot's expression.
    #[track_caller]
    fn snapshot(&self, name: &str, args: &[&str]) -> Run {
        let run = self.orc(args);
        let command = std::iter::once("orc").chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        insta::assert_snapshot!(name, run, &command);
        run
    }

    /// Insta settings that redact this environment's temp dir.
    fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        let mut roots = vec![self.env.root.to_string_lossy().into_owned()];
        if let Ok(real) = self.env.root.canonicalize() {
            roots.push(real.to_string_lossy().into_owned());
        }
        // The longer path first, so a symlinked prefix (/tmp on macOS) never
        // leaves half a path behind.
        roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
        for root in roots {
            settings.add_filter(&regex_escape(&root), "[ROOT]");
        }
        settings
    }
}

/// `text` as a regex that matches exactly it.
fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// Two workstreams; a task done, one claimed after it, one ready, one
/// failed; two agents; a lock; a knowledge topic; a logged event; and a
/// shared remote.
#[test]
fn the_reading_commands_show_one_board() {
    let orc = Clocked::new();
    orc.env.add_bare_remote();
    orc.env.git(&["push", "-q", "origin", "main"]);
    orc.orc(&["init"]).success();
    orc.orc(&["ws", "create", "api", "Public API", "1"]).success();
    orc.orc(&["ws", "create", "docs", "Documentation", "2"]).success();
    let design = orc.id(&["t", "add", "api", "Design endpoints", "REST first", "1"]);
    let build = orc.id(&["t", "add", "api", "Implement endpoints", "", "2", "--after", &design]);
    orc.id(&["t", "add", "docs", "Write the guide", "--resource", "docs-site"]);
    let publish = orc.id(&["t", "add", "docs", "Publish the guide", "", "4"]);
    orc.orc(&["a", "register", "alice", "worker"]).success();
    orc.orc(&["a", "register", "bob", "reviewer"]).success();
    orc.orc(&["t", "claim", &design, "alice"]).success();
    orc.orc(&["complete", &design, "endpoints designed", "--agent", "alice"]).success();
    orc.orc(&["claim", &build, "--agent", "alice"]).success();
    orc.orc(&["claim", &publish, "--agent", "bob"]).success();
    orc.orc(&["fail", &publish, "the site is down", "--agent", "bob"]).success();
    // An hour-long lock: still held, as this machine judges it, when listed
    // a minute later.
    orc.orc(&["lock", "acquire", "deploy", "--ttl", "1h", "--agent", "alice"]).success();
    orc.orc(&["kb", "write", "api-design", "Use REST for external clients"]).success();
    orc.orc(&["log", "deployed", "--data", r#"{"service":"api"}"#, "--agent", "alice"]).success();

    orc.settings().bind(|| {
        orc.snapshot("status", &["status"]);
        orc.snapshot("t-list", &["t", "list"]);
        orc.snapshot("t-show", &["t", "show", &build]);
        orc.snapshot("ws-show", &["ws", "show", "api"]);
        orc.snapshot("lock-list", &["lock", "list"]);
        orc.snapshot("events", &["events"]);
        orc.snapshot("doctor", &["doctor"]);
        orc.snapshot("sync", &["sync"]);
        orc.snapshot("plan", &["plan"]);
        orc.snapshot("brief", &["brief", "alice"]);
    });
}

/// The commands a help text lists under "Commands:", without `help`.
fn subcommands(help: &str) -> Vec<String> {
    let section = help.lines().skip_while(|line| *line != "Commands:").skip(1).take_while(|line| !line.is_empty());
    // An entry is "  name  summary"; a summary that wraps is indented further.
    section
        .filter_map(|line| line.strip_prefix("  ").filter(|rest| !rest.starts_with(' ')))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Snapshots `orc <path> --help`, then the help of every command it lists.
fn walk_help(orc: &Clocked, path: &mut Vec<String>, seen: &mut Vec<String>) {
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let name = std::iter::once("help-orc").chain(path.iter().map(String::as_str)).collect::<Vec<_>>().join("-");
    let run = orc.snapshot(&name, &args).success();
    seen.push(path.join(" "));
    for command in subcommands(&run.stdout) {
        path.push(command);
        walk_help(orc, path, seen);
        path.pop();
    }
}

#[test]
fn the_help_reference() {
    let orc = Clocked::new();
    orc.settings().bind(|| {
        orc.snapshot("overview", &[]).success();
        let mut seen = Vec::new();
        walk_help(&orc, &mut Vec::new(), &mut seen);
        for expected in ["", "init", "t", "t add", "t retry", "lock run", "kb rm", "hooks install", "collect"] {
            assert!(seen.iter().any(|s| s == expected), "no help for `orc {expected}` in {seen:?}");
        }
    });
}
