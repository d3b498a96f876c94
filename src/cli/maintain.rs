//! `orc maintain`: merges orc's small packs now, in the foreground, for a
//! person or a cron job; and `--background`, the detached low-priority run a
//! command starts when its operation made a roll-up due (issue 12).

use std::path::Path;

use clap::Args;
use serde_json::json;

use super::output::Output;
use crate::api::Repo;
use crate::error::Result;

/// Merge every pack orc listed into one; waits for a background run first
#[derive(Args, Debug)]
pub struct MaintainArgs {
    /// Merge only when a roll-up is due, and leave at once if another run is
    /// under way (what commands start; not for people)
    #[arg(long, hide = true)]
    pub background: bool,
}

/// Tells the store how to start `orc maintain --background`: this very
/// executable. Without it (no executable path), commands start no
/// maintainer and packs wait for the next `orc maintain` or `git gc`.
pub fn register_background() {
    if let Ok(exe) = std::env::current_exe() {
        crate::store::maintain::set_background_command(exe, vec!["maintain".into(), "--background".into()]);
    }
}

pub fn maintain(dir: &Path, args: &MaintainArgs) -> Result<Output> {
    let repo = Repo::open(dir)?;
    let done = repo.maintain(!args.background, !args.background)?;
    let written: Vec<_> =
        done.written.iter().map(|(pack, objects)| json!({"pack": pack, "objects": objects})).collect();
    let json = json!({
        "ran": done.ran,
        "merged_packs": done.merged,
        "written": written,
        "listed_before": done.listed_before,
        "listed_after": done.listed_after,
        "finished_interrupted": done.finished_interrupted,
        "removed_leftovers": done.removed_leftovers,
    });
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut human = String::new();
    if !done.ran {
        human += "another maintenance run is under way; nothing done\n";
    }
    if done.finished_interrupted {
        human += "finished a merge that a killed run had started\n";
    }
    if done.removed_leftovers > 0 {
        human += &format!(
            "removed {} file{} a killed run left in .git/orc/maintain\n",
            done.removed_leftovers,
            plural(done.removed_leftovers)
        );
    }
    if done.ran {
        let objects: usize = done.written.iter().map(|(_, n)| n).sum();
        human += &match done.written.as_slice() {
            [] => format!("nothing to merge: orc lists {} pack{}\n", done.listed_after, plural(done.listed_after)),
            [(pack, _)] => format!(
                "merged {} packs into pack-{} ({objects} objects); orc lists {} pack{} now\n",
                done.merged,
                &pack[..12],
                done.listed_after,
                plural(done.listed_after)
            ),
            many => format!(
                "merged {} packs into {} new ones ({objects} objects); orc lists {} pack{} now\n",
                done.merged,
                many.len(),
                done.listed_after,
                plural(done.listed_after)
            ),
        };
    }
    Ok(Output::new(json, human))
}
