//! `Lazy<T>`: a subcommand whose arguments (or nested subcommands) clap
//! builds only when the command line selects it.
//!
//! orc is started once per agent action, so its start-up is paid on every
//! claim. clap's derive builds every command's arguments before parsing,
//! and building the whole tree cost more than parsing `orc t next`; with
//! each subcommand deferred, a parse builds the root and the one path the
//! command line takes. Help, completions and `Command::build` expand the
//! whole tree as before: clap runs deferred builders when it builds a
//! command.
//!
//! A deferred set of subcommands is built with only the one the command
//! line names, when it names one plainly (`named::reduced_to_named`).
//!
//! Rule it keeps: `Lazy<T>` is `T` to everything but clap's construction
//! (it derefs to `T`, parses as `T`, reports `T`'s subcommand names).

use std::ops::Deref;

use clap::{ArgMatches, Args, Command, FromArgMatches, Subcommand};

#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Subcommand> Subcommand for Lazy<T> {
    fn augment_subcommands(cmd: Command) -> Command {
        cmd.defer(super::named::reduced_to_named::<T>)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        cmd.defer(T::augment_subcommands_for_update)
    }

    fn has_subcommand(name: &str) -> bool {
        T::has_subcommand(name)
    }
}

impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }

    fn augment_args(cmd: Command) -> Command {
        cmd.defer(augment_keeping_about::<T>)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(augment_for_update_keeping_about::<T>)
    }
}

/// A deferred builder runs after the variant's own settings, so the doc
/// comment of the arguments' struct would replace the variant's help text.
/// clap's eager order lets the variant's win: put it back when it has one.
fn keep_variant_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    let Some(about) = about else { return cmd };
    let cmd = cmd.about(about);
    match long_about {
        Some(long_about) => cmd.long_about(long_about),
        None => cmd.long_about(None::<&str>),
    }
}

fn augment_keeping_about<T: Args>(cmd: Command) -> Command {
    keep_variant_about(cmd, T::augment_args)
}

fn augment_for_update_keeping_about<T: Args>(cmd: Command) -> Command {
    keep_variant_about(cmd, T::augment_args_for_update)
}
