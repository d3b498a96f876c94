//! Pack maintenance off the command path (issue 12): merging orc's small
//! packs, in a process of its own.
//!
//! Every operation writes one small pack (`pack.rs`). Merging them used to
//! run inside the command whose operation made a roll-up due: on a 10,000-task
//! board one `t add` waited over two minutes while libgit2's pack builder
//! searched for deltas. Now that command only starts a detached, low-priority
//! `orc maintain --background` (the front end says how to start itself,
//! [`set_background_command`]) and returns. The merge is `git pack-objects
//! --stdin-packs` through the user's git: it packs every object of the packs
//! it is given, reachable or not, so whatever the branch holds, nothing can
//! be lost; orc never prunes.
//!
//! Why it is safe:
//! - One maintainer at a time, `orc/maintain.lock`: a kernel lock, so a
//!   killed maintainer never blocks the next. `git pack-objects` inherits it,
//!   so a maintainer killed while git runs keeps the next one out until that
//!   git exits too (both would write into `orc/maintain/`).
//! - Beside writers: a writer writes a pack of its own and appends it to the
//!   list under the write queue. The maintainer merges only packs it read from
//!   the list, updates the list under the same queue (re-reading it, so a
//!   pack appended meanwhile stays listed), and deletes only packs it merged,
//!   each only after every object of its index was found in the new pack's
//!   index and the new pack reached the disk.
//! - Beside kill -9 at any instant: git writes `objects/pack/tmp_pack_*` and
//!   renames its result into `orc/maintain/`, where no reader looks. A
//!   journal, `orc/maintain/pending`, written durably before anything visible
//!   changes, names the new pack and the packs it replaces; every later step
//!   (install, list, delete) can run twice with the same result. The next run
//!   finishes a journaled merge and deletes whatever else `orc/maintain/`
//!   holds. A `tmp_pack_*` of a git killed mid-write is git's own kind of
//!   leftover, which `git gc` removes.
//! - Beside `git gc` or `git maintenance`: they may repack and delete orc's
//!   packs at any moment; a listed pack that is gone is skipped, a merge
//!   whose packs vanished fails and deletes nothing.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use git2::Oid;

use super::fsync::sync_files;
use super::pack::{idx_object_ids, is_pack_name, pack_paths, read_list, write_list, ROLL_UP_AT};
use super::{open_lock_file, Store};
use crate::error::{Error, Kind, Result};

/// How a process starts `orc maintain --background`: set once by the front
/// end that knows its own executable. Unset (a library embedding orc), no
/// command starts one; packs then wait for `orc maintain` or `git gc`.
static BACKGROUND: OnceLock<(PathBuf, Vec<OsString>)> = OnceLock::new();

/// Says how to start a background maintainer: `program` with `args`.
pub fn set_background_command(program: PathBuf, args: Vec<OsString>) {
    let _ = BACKGROUND.set((program, args));
}

/// git's variables that point a command at one repository's parts
/// (`git rev-parse --local-env-vars`): a maintainer started from inside a
/// hook must not inherit a quarantine object folder or another index.
const LOCAL_GIT_ENV: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_QUARANTINE_PATH",
];

/// Which packs a run merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The smallest listed packs, and only once `ROLL_UP_AT` piled up: what
    /// the background run does, so each object is rewritten O(log n) times.
    Due,
    /// Every listed pack into one (`orc maintain`).
    All,
}

/// What one maintenance run did.
#[derive(Debug, Clone, Default)]
pub struct Maintained {
    /// False when another maintainer held the lock and this run did nothing.
    pub ran: bool,
    /// Packs merged away (a pack merged twice in one run counts twice).
    pub merged: usize,
    /// The packs written, by name, with their object counts.
    pub written: Vec<(String, usize)>,
    /// orc's listed packs before and after.
    pub listed_before: usize,
    pub listed_after: usize,
    /// A merge a killed maintainer had journaled was finished first.
    pub finished_interrupted: bool,
    /// Files a killed maintainer left in `orc/maintain/`, deleted.
    pub removed_leftovers: usize,
}

/// A merge between git's success and the old packs' removal.
struct Pending {
    name: String,
    merged: Vec<String>,
}

impl Pending {
    fn path(work: &Path) -> PathBuf {
        work.join("pending")
    }

    fn read(work: &Path) -> Option<Self> {
        let text = fs::read_to_string(Self::path(work)).ok()?;
        let mut name = None;
        let mut merged = Vec::new();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("new", n)) if is_pack_name(n) => name = Some(n.to_string()),
                Some(("old", n)) if is_pack_name(n) => merged.push(n.to_string()),
                _ => return None,
            }
        }
        Some(Self { name: name?, merged })
    }

    /// Durable before it returns: the steps after it trust it.
    fn write(&self, work: &Path) -> Result<()> {
        let mut text = format!("new {}\n", self.name);
        for old in &self.merged {
            text += &format!("old {old}\n");
        }
        let tmp = work.join("pending.tmp");
        let fail = |e: std::io::Error| Error::io("cannot write the roll-up journal", &e);
        let mut file = File::create(&tmp).map_err(fail)?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(fail)?;
        fs::rename(&tmp, Self::path(work)).map_err(fail)?;
        sync_files(vec![work.to_path_buf()])
    }
}

impl Store {
    /// Starts a background maintainer when this process's last commit made a
    /// roll-up due, and returns at once: no command waits for a roll-up.
    /// Best effort: packs left unmerged cost only read speed, and the next
    /// writer finds the roll-up still due.
    pub fn start_maintenance_if_due(&self) {
        if !self.roll_up_due.replace(false) {
            return;
        }
        let Some((program, args)) = BACKGROUND.get() else { return };
        // A maintainer at work will not take another: spare the process.
        let Ok(lock) = open_lock_file(&self.private_dir().join("maintain.lock")) else { return };
        if lock.try_lock().is_err() {
            return;
        }
        drop(lock);
        let _ = self.spawn_maintainer(program, args);
    }

    /// Points a command (orc or git) at this repository's git folder and
    /// nothing inherited: not the hook's quarantine, index or work tree.
    fn aim_at_this_repository(&self, command: &mut Command) {
        for var in LOCAL_GIT_ENV {
            command.env_remove(var);
        }
        command.env("GIT_DIR", &self.common_dir).current_dir(&self.common_dir);
    }

    fn spawn_maintainer(&self, program: &Path, args: &[OsString]) -> std::io::Result<()> {
        // nice 19 also lowers its I/O priority under the CFQ and BFQ
        // schedulers (ionice(1): the I/O priority follows the CPU one).
        let mut command = match find_on_path("nice") {
            Some(nice) => {
                let mut command = Command::new(nice);
                command.args(["-n", "19"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        self.aim_at_this_repository(&mut command);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for the command that
            // started it does not reach it.
            .process_group(0);
        let mut child = command.spawn()?;
        // A short command exits first and init reaps the maintainer; a
        // long-lived front end (orc serve, orc work) must not collect zombies.
        std::thread::Builder::new().name("orc-maintain-reaper".into()).spawn(move || {
            let _ = child.wait();
        })?;
        Ok(())
    }

    /// Merges orc's listed packs (see the module doc for why this is safe
    /// beside writers and kill -9). With `wait` false, returns at once when
    /// another maintainer runs; with it, waits for that one to finish.
    pub fn maintain(&self, scope: Scope, wait: bool) -> Result<Maintained> {
        let private = self.private_dir();
        // A background run started for a repository that was deleted since
        // (a demo cleaning up) must not bring its folders back.
        if wait {
            fs::create_dir_all(&private).map_err(|e| Error::io(&format!("cannot create {}", private.display()), &e))?;
        } else if !private.is_dir() {
            return Ok(Maintained::default());
        }
        let lock_path = private.join("maintain.lock");
        let lock = open_lock_file(&lock_path)?;
        if wait {
            lock.lock().map_err(|e| Error::io(&format!("cannot lock {}", lock_path.display()), &e))?;
        } else if lock.try_lock().is_err() {
            return Ok(Maintained::default());
        }
        let work = private.join("maintain");
        // Not create_dir_all: a repository deleted under a running
        // maintainer stays deleted.
        match fs::create_dir(&work) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io(&format!("cannot create {}", work.display()), &e))
            }
            _ => {}
        }
        let list = private.join("packs");
        let mut report = Maintained { ran: true, listed_before: read_list(&list).len(), ..Maintained::default() };
        if let Some(pending) = Pending::read(&work) {
            self.finish(&work, &pending)?;
            report.finished_interrupted = true;
        }
        report.removed_leftovers = clear_folder(&work)?;
        // Bounded: a run that merges leaves fewer packs; a handful of rounds
        // covers any pile-up a background run can meet.
        for _ in 0..8 {
            let listed: Vec<(String, usize)> = read_list(&list)
                .into_iter()
                .filter(|(name, _)| pack_paths(&self.pack_dir(), name).1.exists())
                .collect();
            let chosen = match scope {
                Scope::Due if listed.len() >= ROLL_UP_AT => smallest(listed),
                Scope::All if listed.len() >= 2 => listed.into_iter().map(|(name, _)| name).collect(),
                _ => Vec::new(),
            };
            if chosen.len() < 2 {
                break;
            }
            let name = self.pack_objects(&lock, &work, &chosen)?;
            let pending = Pending { name, merged: chosen };
            pending.write(&work)?;
            let count = self.finish(&work, &pending)?;
            report.merged += pending.merged.len();
            report.written.push((pending.name, count));
            if scope == Scope::All {
                break;
            }
        }
        report.listed_after = read_list(&list).len();
        drop(lock);
        Ok(report)
    }

    /// Runs `git pack-objects --stdin-packs` on `packs`, writing into `work`;
    /// returns the new pack's name once its files reached the disk.
    fn pack_objects(&self, lock: &File, work: &Path, packs: &[String]) -> Result<String> {
        let mut command = Command::new("git");
        self.aim_at_this_repository(&mut command);
        command
            // Short delta chains: every command reads task files straight
            // from the packs, and at git's default depth (50) a 100,000-task
            // board's chains grew to ~16, which made `orc ready` there read
            // 1.4 ms slower than at 1,000 tasks; at 4 the pack was no larger.
            .args(["pack-objects", "--stdin-packs", "--delta-base-offset", "--depth=4", "-q"])
            .arg(work.join("pack"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let hint = "orc maintain needs git 2.32 or later on PATH; `git gc` also folds orc's packs away safely";
        inherit(lock, true)?;
        let spawned = command.spawn();
        inherit(lock, false)?;
        let mut child =
            spawned.map_err(|e| Error::new(Kind::Git, format!("cannot run git pack-objects: {e}")).with_hint(hint))?;
        let names: String = packs.iter().map(|name| format!("pack-{name}.pack\n")).collect();
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A write error means git exited early; its status says why.
        let _ = stdin.write_all(names.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| Error::io("cannot wait for git pack-objects", &e))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            return Err(Error::new(
                Kind::Git,
                format!("git pack-objects --stdin-packs failed ({}): {first}", out.status),
            )
            .with_hint(hint));
        }
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !is_pack_name(&name) {
            return Err(
                Error::new(Kind::Git, format!("git pack-objects printed {name:?}, not a pack name")).with_hint(hint)
            );
        }
        let mut files: Vec<PathBuf> = ["pack", "rev", "idx"]
            .iter()
            .map(|ext| work.join(format!("pack-{name}.{ext}")))
            .filter(|p| p.exists())
            .collect();
        files.push(work.to_path_buf());
        sync_files(files)?;
        Ok(name)
    }

    /// Completes a journaled merge: installs the new pack, lists it in place
    /// of the packs it holds, deletes those, drops the journal. Each step can
    /// run again after a kill. Returns the new pack's object count.
    fn finish(&self, work: &Path, pending: &Pending) -> Result<usize> {
        let pack_dir = self.pack_dir();
        let name = &pending.name;
        // git and libgit2 find a pack through its index: the index goes last.
        for ext in ["pack", "rev", "idx"] {
            let from = work.join(format!("pack-{name}.{ext}"));
            if from.exists() {
                let to = pack_dir.join(format!("pack-{name}.{ext}"));
                fs::rename(&from, &to).map_err(|e| Error::io(&format!("cannot install {}", to.display()), &e))?;
            }
        }
        sync_files(vec![pack_dir.clone()])?;
        let new_idx = pack_paths(&pack_dir, name).1;
        let kept: BTreeSet<Oid> = match idx_object_ids(&new_idx) {
            Ok(ids) => ids.into_iter().collect(),
            // Gone (a git gc folded it away after a kill) or never whole:
            // the packs it would replace stay where they are.
            Err(_) if !new_idx.exists() => BTreeSet::new(),
            Err(e) => return Err(e),
        };
        // Only packs whose every object is in the new, durable pack go.
        let mut gone = Vec::new();
        for old in pending.merged.iter().filter(|old| *old != name) {
            let (_, idx) = pack_paths(&pack_dir, old);
            let covered = match idx_object_ids(&idx) {
                Ok(ids) => !kept.is_empty() && ids.iter().all(|id| kept.contains(id)),
                // Its index already deleted by a run that checked it, or the
                // whole pack by a git gc: what remains is removed.
                Err(_) => !idx.exists(),
            };
            if covered {
                gone.push(old.clone());
            }
        }
        let list = self.private_dir().join("packs");
        if !kept.is_empty() {
            let _queue = self.lock_writers()?;
            let mut now = read_list(&list);
            now.retain(|(listed, _)| !gone.contains(listed));
            if !now.iter().any(|(listed, _)| listed == name) {
                now.push((name.clone(), kept.len()));
            }
            write_list(&list, &now)?;
            sync_files(vec![list.clone(), self.private_dir()])?;
        }
        for old in &gone {
            // The index first: without it the pack is invisible to new
            // readers; readers that already mapped it keep their mapping.
            let (pack, idx) = pack_paths(&pack_dir, old);
            for path in [idx, pack, pack_dir.join(format!("pack-{old}.rev"))] {
                remove_if_present(&path)?;
            }
        }
        remove_if_present(&Pending::path(work))?;
        Ok(kept.len())
    }
}

/// The smallest packs, each no more than twice the sum of those before it,
/// so sizes grow geometrically; at least two.
fn smallest(mut packs: Vec<(String, usize)>) -> Vec<String> {
    packs.sort_by_key(|(_, count)| *count);
    let mut total = 0;
    let mut take = 0;
    for (_, count) in &packs {
        if take > 1 && *count > 2 * total {
            break;
        }
        total += count;
        take += 1;
    }
    packs.truncate(take);
    packs.into_iter().map(|(name, _)| name).collect()
}

/// Lets git inherit the maintenance lock (or stops the next child from doing
/// so): the lock then lasts as long as git writes, even past a kill -9 of
/// this process.
fn inherit(lock: &File, yes: bool) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let flags = if yes { FdFlag::empty() } else { FdFlag::FD_CLOEXEC };
    fcntl(lock, FcntlArg::F_SETFD(flags))
        .map(|_| ())
        .map_err(|e| Error::new(Kind::Io, format!("cannot pass the maintenance lock to git: {e}")))
}

/// Deletes a file; one already gone is fine (every step of a roll-up may
/// run twice, after a kill).
fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(&format!("cannot remove {}", path.display()), &e))
        }
        _ => Ok(()),
    }
}

/// Deletes everything in `work` (git's output a killed run never journaled);
/// returns how many files.
fn clear_folder(work: &Path) -> Result<usize> {
    let entries = fs::read_dir(work).map_err(|e| Error::io(&format!("cannot read {}", work.display()), &e))?;
    let mut removed = 0;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}
