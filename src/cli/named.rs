//! `Named<T>`: orc's top-level subcommands, of which clap's command tree
//! holds only the one the command line names; and below it (through
//! `Lazy`, `reduced_to_named`), only the one subcommand named next.
//!
//! Building a command copies each global option (`--json`, `--agent`, …)
//! into every subcommand before parsing: with forty subcommands that was a
//! third of a claim's heap (clap's copies, 240 KB) and the page faults to
//! touch it, on every agent action. `parse` reads the names off the command
//! line first (`named_path`), and the tree is built with those only.
//! Anything it cannot read that way (help, `--`, an unknown option, a
//! misspelt name) gets the whole tree, so clap's help, errors and
//! suggestions are what they always were.
//!
//! Rules it keeps:
//! - `Named<T>` is `T` to everything but clap's construction (it derefs to
//!   `T`, parses as `T`, reports `T`'s subcommand names).
//! - The tree is reduced only while `parse` builds and parses it
//!   (`with_named`); any other `Cli::command()` (completions, error
//!   formatting) is whole.
//! - A subcommand enum carries no enum-level `#[command(...)]` settings:
//!   the reduced tree takes only the named subcommand from the enum's, and
//!   such settings would be left behind with the others.
//! - The options read between the names are the root's own (global, so
//!   valid at every level); anything else stops the reading there. A test
//!   checks `ROOT_FLAGS` and `ROOT_OPTIONS_WITH_VALUE` against `Cli`'s
//!   definition.

use std::cell::RefCell;
use std::ffi::OsString;
use std::ops::Deref;

use clap::{ArgMatches, Command, FromArgMatches, Subcommand};

/// Root options that take no value.
pub(super) const ROOT_FLAGS: &[&str] = &["--json", "--local"];
/// Root options whose value may be the next argument.
pub(super) const ROOT_OPTIONS_WITH_VALUE: &[&str] = &["--agent", "--idempotency-key", "-C"];

thread_local! {
    /// The names `parse` read: the top-level subcommand's, then the one
    /// named below it, taken by the first subcommand set built under it.
    static NAMED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

#[derive(Debug)]
pub struct Named<T>(pub T);

impl<T> Deref for Named<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Runs `parse` (which builds `Cli`'s command and parses with it) with the
/// tree reduced to `path`.
pub(super) fn with_named<R>(path: Vec<String>, parse: impl FnOnce() -> R) -> R {
    NAMED.with(|named| *named.borrow_mut() = path);
    let parsed = parse();
    NAMED.with(|named| named.borrow_mut().clear());
    parsed
}

/// The subcommand names the command line starts with (at most two), read
/// the way clap reads them: past the root's own options (and their values)
/// to each other argument. Reading stops at anything not plain.
pub(super) fn named_path(args: &[OsString]) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = args.iter().skip(1);
    while path.len() < 2 {
        let Some(arg) = rest.next().and_then(|arg| arg.to_str()) else { break };
        if !arg.starts_with('-') {
            path.push(arg.to_string());
            continue;
        }
        if ROOT_FLAGS.contains(&arg) {
            continue;
        }
        if ROOT_OPTIONS_WITH_VALUE.contains(&arg) {
            if rest.next().is_none() {
                break;
            }
            continue;
        }
        let attached = ROOT_OPTIONS_WITH_VALUE.iter().any(|option| match option.strip_prefix("--") {
            Some(_) => arg.strip_prefix(option).is_some_and(|value| value.starts_with('=')),
            None => arg.len() > option.len() && arg.starts_with(option),
        });
        if !attached {
            break;
        }
    }
    path
}

/// `T`'s subcommands under `parent`, reduced to the one the command line
/// names below it when `parent` is the top-level subcommand it names
/// (called by `Lazy` when clap builds `parent`).
pub(super) fn reduced_to_named<T: Subcommand>(parent: Command) -> Command {
    let below = NAMED.with(|named| {
        let mut named = named.borrow_mut();
        let here = named
            .first()
            .is_some_and(|first| parent.get_name() == first || parent.get_all_aliases().any(|a| a == first));
        (here && named.len() == 2).then(|| named.remove(1))
    });
    only_or_all::<T>(parent, below)
}

/// `T`'s subcommands added to `cmd`: only `name`'s when `T` has it.
fn only_or_all<T: Subcommand>(cmd: Command, name: Option<String>) -> Command {
    if let Some(name) = name.filter(|name| T::has_subcommand(name)) {
        // `T` sets nothing on the parent but its subcommands (no enum-level
        // attributes), so one of them alone is `T` for this command line.
        let all = T::augment_subcommands(Command::new("all"));
        if let Some(only) = all.find_subcommand(&name) {
            return cmd.subcommand(only.clone());
        }
    }
    T::augment_subcommands(cmd)
}

impl<T: FromArgMatches> FromArgMatches for Named<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Named)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Named)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Subcommand> Subcommand for Named<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        let first = NAMED.with(|named| named.borrow().first().cloned());
        only_or_all::<T>(cmd, first)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        T::augment_subcommands_for_update(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::Cli;

    fn args(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn the_names_are_read_past_the_root_options_and_their_values() {
        for (line, path) in [
            ("orc status", &["status"][..]),
            ("orc --json t next api --agent a1", &["t", "next"]),
            ("orc --agent a1 -C /tmp --local next", &["next"]),
            ("orc --agent=a1 -C/tmp --idempotency-key k1 ws --json list", &["ws", "list"]),
            ("orc t --agent", &["t"]),
            ("orc t --help next", &["t"]),
            ("orc --agent", &[]),
            ("orc --help status", &[]),
            ("orc -h", &[]),
            ("orc --version", &[]),
            ("orc -- status", &[]),
            ("orc --jsonx status", &[]),
            ("orc --json=yes status", &[]),
            ("orc --agentx status", &[]),
        ] {
            assert_eq!(named_path(&args(line)), path, "{line}");
        }
    }

    #[test]
    fn the_options_read_before_the_name_are_the_roots_own() {
        let mut flags = Vec::new();
        let mut with_value = Vec::new();
        for arg in Cli::command().get_arguments() {
            let forms =
                arg.get_long().map(|l| format!("--{l}")).into_iter().chain(arg.get_short().map(|s| format!("-{s}")));
            let list = if arg.get_action().takes_values() { &mut with_value } else { &mut flags };
            list.extend(forms);
        }
        flags.sort();
        with_value.sort();
        let mut expected_flags: Vec<String> = ROOT_FLAGS.iter().map(|s| s.to_string()).collect();
        let mut expected_with_value: Vec<String> = ROOT_OPTIONS_WITH_VALUE.iter().map(|s| s.to_string()).collect();
        expected_flags.sort();
        expected_with_value.sort();
        assert_eq!(flags, expected_flags);
        assert_eq!(with_value, expected_with_value);
    }

    #[test]
    fn a_command_line_parses_the_same_with_one_subcommand_built_as_with_all() {
        for line in [
            "orc status",
            "orc --json t next api --agent a1",
            "orc t next api a1 --json",
            "orc -C /tmp next api --agent a1 --local",
            "orc --agent=a1 complete t-abc done",
            "orc ws create api Payments 2",
            "orc t add api Title --after t-1 --after t-2",
            "orc lock run db -- make test",
            "orc --idempotency-key k1 log tick --data {}",
            "orc task --json next api",
            "orc a register a1 worker",
            "orc kb write topic --file x.md",
            "orc hooks install",
        ] {
            let reduced = crate::cli::parse(&args(line)).unwrap();
            let whole = Cli::try_parse_from(args(line)).unwrap();
            assert_eq!(format!("{reduced:?}"), format!("{whole:?}"), "{line}");
        }
        for line in
            ["orc stauts", "orc t nxt", "orc status --bogus", "orc ws create", "orc t next --bogus", "orc t claim"]
        {
            let reduced = crate::cli::parse(&args(line)).unwrap_err();
            let whole = Cli::try_parse_from(args(line)).unwrap_err();
            assert_eq!(reduced.to_string(), whole.to_string(), "{line}");
        }
    }
}
