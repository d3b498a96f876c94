//! The only code that calls git2: opening the repository, reading files at a
//! commit, writing changed files as a new tree, committing, and moving the
//! branch by compare-and-swap. It knows nothing of tasks. It never touches
//! HEAD, the index or the working tree, and libgit2 runs no hooks.

pub mod code;
mod fsync;
pub mod leftovers;
pub mod maintain;
mod pack;
pub mod remote;
pub mod worktree;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, FileMode, ObjectType, Oid, Repository, RepositoryOpenFlags, Signature, Time};

use crate::error::{Error, Kind, Result};

pub use git2::Oid as ObjectId;
/// A folder of a commit (read through [`Store`]).
pub use git2::Tree;

/// The author and time of the fixed root commit: the same on every machine
/// so branches created apart share history (DESIGN §1).
const ROOT_AUTHOR: (&str, &str) = ("orc", "orc@localhost");
const ROOT_TIME: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const ROOT_MESSAGE: &str = "orc: root\n";

/// One entry of a folder in the branch.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub oid: Oid,
    pub is_tree: bool,
}

/// A change to one file: new contents, or None to delete it.
pub type Changes = BTreeMap<String, Option<Vec<u8>>>;

/// Changes below one folder: (path relative to it, new contents).
type RelativeChanges<'c> = Vec<(&'c str, Option<&'c [u8]>)>;

/// What a compare-and-swap did.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    Done,
    /// The ref no longer held the expected value.
    Moved,
}

pub struct Store {
    repo: Repository,
    branch: String,
    refname: String,
    common_dir: PathBuf,
    work_dir: Option<PathBuf>,
    roll_up_due: std::cell::Cell<bool>,
    /// Values parsed from blobs, by blob id (`parsed`): a blob's bytes
    /// never change, so neither does what was parsed from them.
    parsed: std::cell::RefCell<HashMap<Oid, Box<dyn std::any::Any + Send>>>,
}

/// Holds the queue that serialises local writers (`<git-common-dir>/orc/write.lock`).
/// The kernel drops it when the process dies, so a killed writer never blocks
/// the next one.
///
/// It is a capability: code that writes under the queue takes `&WriteLock`,
/// and only the outermost caller takes the queue. A thread that asks for it
/// while already holding it would wait on itself forever (the kernel lock
/// is per open file, not per process); that is refused at once instead.
pub struct WriteLock {
    _file: File,
    held_key: PathBuf,
}

thread_local! {
    /// The write queues this thread holds, by lock file.
    static HELD_QUEUES: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        HELD_QUEUES.with(|held| held.borrow_mut().retain(|p| p != &self.held_key));
    }
}

/// A libgit2 failure while doing `context` (which names the commit, path
/// or ref), with libgit2's own message kept as the cause.
pub(crate) fn git_error(context: &str, err: &git2::Error) -> Error {
    Error::new(Kind::Git, format!("{context}: {}", err.message())).with_cause(err)
}

fn git_err(context: &str) -> impl Fn(git2::Error) -> Error + '_ {
    move |e| git_error(context, &e)
}

impl Store {
    /// Opens the repository containing `dir`, honouring GIT_DIR and friends.
    pub fn discover(dir: &Path) -> Result<Self> {
        // libgit2 hashes every object it reads again to check it against
        // its id; git itself does not (fsck does), and on a 100,000-task
        // board that re-hashing was a fifth of `orc ready`. Packs are still
        // checksummed, and writes are still checked (strict creation).
        static READ_WITHOUT_REHASHING: std::sync::Once = std::sync::Once::new();
        READ_WITHOUT_REHASHING.call_once(|| git2::opts::strict_hash_verification(false));
        let repo =
            Repository::open_ext(dir, RepositoryOpenFlags::FROM_ENV, std::iter::empty::<&Path>()).map_err(|e| {
                if e.code() == ErrorCode::NotFound {
                    Error::new(Kind::NotARepository, format!("{} is not inside a git repository", dir.display()))
                        .with_hint("run orc inside your project's repository, or create one with `git init`")
                } else if e.message().contains("extensions.refstorage") {
                    // libgit2 reads only the files ref format; git 3.0 makes
                    // reftable the default.
                    Error::new(
                        Kind::UnsupportedRepository,
                        format!(
                            "{} keeps its refs in the reftable format, which orc cannot read yet",
                            dir.display()
                        ),
                    )
                    .with_cause(e.message())
                    .with_hint(
                        "work in a clone with the files format: git clone --ref-format=files <this repository> <new folder>",
                    )
                } else {
                    git_error("cannot open the repository", &e)
                }
            })?;
        let config = repo.config().and_then(|mut c| c.snapshot()).map_err(git_err("cannot read git config"))?;
        let branch = config.get_string("orc.branch").unwrap_or_else(|_| "orc".to_string());
        let refname = format!("refs/heads/{branch}");
        if !git2::Reference::is_valid_name(&refname) {
            return Err(Error::new(
                Kind::InvalidName,
                format!("git config orc.branch = {branch:?} is not a valid branch name"),
            )
            .with_hint("git config orc.branch orc"));
        }
        let common_dir = repo.commondir().to_path_buf();
        let work_dir = repo.workdir().map(Path::to_path_buf);
        Ok(Self {
            repo,
            branch,
            refname,
            common_dir,
            work_dir,
            roll_up_due: std::cell::Cell::new(false),
            parsed: Default::default(),
        })
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }

    pub fn refname(&self) -> &str {
        &self.refname
    }

    /// `<git-common-dir>/orc`: orc's private files (write queue, caches).
    pub fn private_dir(&self) -> PathBuf {
        self.common_dir.join("orc")
    }

    /// The repository's common git folder (shared by its worktrees).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    pub fn work_dir(&self) -> Option<&Path> {
        self.work_dir.as_deref()
    }

    /// What `parse` makes of blob `oid`, parsed once per store: a command
    /// reads orc.toml's settings several times (the operation, the publish
    /// budget, the output), and parsing TOML is not free. Failures are not
    /// kept.
    pub fn parsed<T: Clone + Send + 'static>(&self, oid: Oid, parse: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(value) = self.parsed.borrow().get(&oid).and_then(|v| v.downcast_ref::<T>()) {
            return Ok(value.clone());
        }
        let value = parse()?;
        let mut parsed = self.parsed.borrow_mut();
        // A long-lived store (orc serve's) sees orc.toml change now and then.
        if parsed.len() >= 64 {
            parsed.clear();
        }
        parsed.insert(oid, Box::new(value.clone()));
        Ok(value)
    }

    /// A git config value, read fresh.
    pub fn config_string(&self, key: &str) -> Option<String> {
        let config = self.repo.config().and_then(|mut c| c.snapshot()).ok()?;
        config.get_string(key).ok().filter(|v| !v.is_empty())
    }

    /// Sets a value in the repository's own config (`.git/config`).
    pub fn set_config(&self, key: &str, value: &str) -> Result<()> {
        let config = self.repo.config().map_err(git_err("cannot open git config"))?;
        let mut local = config.open_level(git2::ConfigLevel::Local).map_err(git_err("cannot open .git/config"))?;
        local.set_str(key, value).map_err(git_err("cannot write .git/config"))?;
        drop(config);
        Ok(())
    }

    pub fn remote_names(&self) -> Vec<String> {
        self.repo.remotes().map(|r| r.iter().flatten().map(str::to_string).collect()).unwrap_or_default()
    }

    /// The commit the branch points at, or None before the branch exists.
    pub fn tip(&self) -> Result<Option<Oid>> {
        self.resolve(&self.refname)
    }

    /// The remote-tracking branch a clone without its own orc branch would
    /// adopt: `orc.remote`'s (else `origin`'s), else any remote's.
    pub fn remote_tracking_tip(&self) -> Result<Option<(String, Oid)>> {
        let mut remotes = self.remote_names();
        let preferred = self.config_string("orc.remote").unwrap_or_else(|| "origin".into());
        remotes.sort_by_key(|r| *r != preferred);
        for remote in remotes {
            if let Some(tip) = self.resolve(&format!("refs/remotes/{remote}/{}", self.branch))? {
                return Ok(Some((remote, tip)));
            }
        }
        Ok(None)
    }

    /// The commit a ref points at, or None.
    pub fn resolve(&self, refname: &str) -> Result<Option<Oid>> {
        match self.repo.refname_to_id(refname) {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(git_error(&format!("cannot read {refname}"), &e)),
        }
    }

    pub fn tree_of(&self, commit: Oid) -> Result<Tree<'_>> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| git_error(&format!("cannot read the tree of commit {commit}"), &e))
    }

    pub fn find_tree(&self, oid: Oid) -> Result<Tree<'_>> {
        self.repo.find_tree(oid).map_err(|e| git_error(&format!("cannot read folder {oid} of the orc branch"), &e))
    }

    /// The id of the file or folder at `path`, ignoring symlinks and
    /// submodules (branch content is untrusted, DESIGN §4).
    pub fn entry_at(&self, tree: &Tree<'_>, path: &str) -> Result<Option<Entry>> {
        let entry = match tree.get_path(Path::new(path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_error(&format!("cannot look up {path}"), &e)),
        };
        Ok(plain_entry(&entry))
    }

    /// The contents of the file at `path`, or None.
    pub fn read_file(&self, tree: &Tree<'_>, path: &str) -> Result<Option<Vec<u8>>> {
        match self.entry_at(tree, path)? {
            Some(entry) if !entry.is_tree => self.read_blob(entry.oid).map(Some),
            _ => Ok(None),
        }
    }

    /// The contents of a file of the branch, refused unread when larger than
    /// `cap`: branch content is untrusted, and a huge blob must not be loaded
    /// into memory to find out it is too large.
    pub fn read_blob_capped(&self, oid: Oid, path: &str, cap: usize) -> Result<Vec<u8>> {
        let size = self.blob_size(oid)?;
        if size > cap {
            return Err(Error::broken_file(path, None, format!("{size} bytes is over the {cap}-byte limit")));
        }
        self.read_blob(oid)
    }

    /// The size of a file of the branch, without reading it.
    pub fn blob_size(&self, oid: Oid) -> Result<usize> {
        let odb = self.repo.odb().map_err(git_err("cannot open the object database"))?;
        odb.read_header(oid)
            .map(|(size, _)| size)
            .map_err(|e| git_error(&format!("cannot read the size of blob {oid}"), &e))
    }

    pub fn read_blob(&self, oid: Oid) -> Result<Vec<u8>> {
        self.repo
            .find_blob(oid)
            .map(|b| b.content().to_vec())
            .map_err(|e| git_error(&format!("cannot read blob {oid}"), &e))
    }

    /// The entries of the folder at `path` ("" for the root), or empty.
    pub fn list(&self, tree: &Tree<'_>, path: &str) -> Result<Vec<Entry>> {
        if path.is_empty() {
            return Ok(tree.iter().filter_map(|e| plain_entry(&e)).collect());
        }
        match self.entry_at(tree, path)? {
            Some(entry) if entry.is_tree => self.list_tree(entry.oid),
            _ => Ok(Vec::new()),
        }
    }

    pub fn list_tree(&self, oid: Oid) -> Result<Vec<Entry>> {
        let tree = self.find_tree(oid)?;
        Ok(tree.iter().filter_map(|e| plain_entry(&e)).collect())
    }

    /// Writes a commit on `parent` whose tree is the parent's with `changes`
    /// applied (only folders on a changed path are rewritten), as one durable
    /// pack. With the write queue held the pack is recorded for roll-up
    /// ([`Store::start_maintenance_if_due`]).
    pub fn write_commit(
        &self,
        queue: Option<&WriteLock>,
        parent: Option<Oid>,
        changes: &Changes,
        message: &str,
        author: &Signature<'_>,
    ) -> Result<Oid> {
        let items: Vec<(&str, Option<&[u8]>)> = changes.iter().map(|(p, c)| (p.as_str(), c.as_deref())).collect();
        let parent_commit = parent
            .map(|p| self.repo.find_commit(p))
            .transpose()
            .map_err(|e| git_error(&format!("cannot read parent commit {parent:?}"), &e))?;
        let base = parent_commit.as_ref().map(|c| c.tree()).transpose().map_err(git_err("cannot read a tree"))?;
        let mut objects = pack::NewObjects::default();
        let tree = match build_tree(&self.repo, base.as_ref(), &items, &mut objects)? {
            Some(oid) => oid,
            None => objects.tree(Vec::new())?,
        };
        let parents: Vec<Oid> = parent.into_iter().collect();
        let commit = objects.commit(tree, &parents, author, message)?;
        let pack = objects.write_pack(&self.pack_dir())?;
        if let (Some(_), Some((name, count))) = (queue, pack) {
            if pack::record_pack(&self.private_dir().join("packs"), &name, count)? {
                self.roll_up_due.set(true);
            }
        }
        Ok(commit)
    }

    fn pack_dir(&self) -> PathBuf {
        self.common_dir.join("objects").join("pack")
    }

    /// Queues behind other local writers. Held while one commit is built and
    /// published; compare-and-swap stays the safety net.
    pub fn lock_writers(&self) -> Result<WriteLock> {
        let dir = self.private_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&format!("cannot create {}", dir.display()), &e))?;
        let path = dir.join("write.lock");
        if HELD_QUEUES.with(|held| held.borrow().contains(&path)) {
            return Err(Error::new(
                Kind::Internal,
                format!("orc asked for its write queue {} while already holding it", path.display()),
            )
            .with_hint("this is a bug in orc: please report it with the command that hit it"));
        }
        let file = open_lock_file(&path)?;
        file.lock().map_err(|e| Error::io(&format!("cannot lock {}", path.display()), &e))?;
        HELD_QUEUES.with(|held| held.borrow_mut().push(path.clone()));
        Ok(WriteLock { _file: file, held_key: path })
    }

    /// Moves the branch from `expected` to `new`, only if it still holds
    /// `expected`, then makes the ref durable.
    ///
    /// A `<ref>.lock` left behind by a killed writer would refuse every later
    /// update; holding the write queue proves no orc writer owns it, so after
    /// a short wait (a plain git command holds such a lock for microseconds)
    /// it is removed.
    pub fn compare_and_swap(&self, _queue: &WriteLock, expected: Option<Oid>, new: Oid, message: &str) -> Result<Swap> {
        if let Some(worktree) = self.checked_out_in()? {
            return Err(Error::new(
                Kind::CheckedOut,
                format!(
                    "the {} branch is checked out in {}; orc does not move a checked-out branch",
                    self.branch,
                    worktree.display()
                ),
            )
            .with("worktree", worktree.display().to_string())
            .with_hint(
                "switch that worktree to another branch with git switch, then retry; orc's settings can be changed without a checkout",
            ));
        }
        for attempt in 0..20 {
            let result = match expected {
                Some(old) => self.repo.reference_matching(&self.refname, new, true, old, message),
                None => self.repo.reference(&self.refname, new, false, message),
            };
            match result {
                Ok(_) => {
                    fsync::sync_ref(&self.common_dir, &self.refname)?;
                    return Ok(Swap::Done);
                }
                Err(e) if e.code() == ErrorCode::Locked => {
                    if attempt >= 4 {
                        self.remove_stale_ref_lock();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => {
                    let now = self.tip()?;
                    if now == Some(new) {
                        fsync::sync_ref(&self.common_dir, &self.refname)?;
                        return Ok(Swap::Done);
                    }
                    if now != expected {
                        return Ok(Swap::Moved);
                    }
                    return Err(git_error(&format!("cannot update {}", self.refname), &e));
                }
            }
        }
        Err(Error::new(Kind::Git, format!("cannot update {}: its lock file stays in place", self.refname)).with_hint(
            format!(
                "check that no other program is writing {} and remove {}",
                self.refname,
                self.ref_lock_path().display()
            ),
        ))
    }

    /// The worktree (the main one or a linked one) whose HEAD is the orc
    /// branch, if any: moving a checked-out branch behind git's back leaves
    /// its working tree stale, and a commit made there later rolls the board
    /// back. A bare repository's HEAD checks nothing out.
    pub fn checked_out_in(&self) -> Result<Option<PathBuf>> {
        let points_here = |head: &Path| {
            std::fs::read_to_string(head).is_ok_and(|text| text.trim() == format!("ref: {}", self.refname))
        };
        if !self.repo.is_bare() && points_here(&self.common_dir.join("HEAD")) {
            let main = self.common_dir.parent().map_or_else(|| self.common_dir.clone(), Path::to_path_buf);
            return Ok(Some(main));
        }
        let Ok(linked) = std::fs::read_dir(self.common_dir.join("worktrees")) else { return Ok(None) };
        for entry in linked.flatten() {
            if points_here(&entry.path().join("HEAD")) {
                let gitdir = std::fs::read_to_string(entry.path().join("gitdir")).unwrap_or_default();
                let worktree = Path::new(gitdir.trim()).parent().map_or_else(|| entry.path(), Path::to_path_buf);
                return Ok(Some(worktree));
            }
        }
        Ok(None)
    }

    fn ref_lock_path(&self) -> PathBuf {
        self.common_dir.join(format!("{}.lock", self.refname))
    }

    fn remove_stale_ref_lock(&self) {
        let _ = std::fs::remove_file(self.ref_lock_path());
    }

    /// Sets a ref with no expectation (adopting a remote-tracking branch).
    pub fn create_ref(&self, queue: &WriteLock, target: Oid, message: &str) -> Result<Swap> {
        self.compare_and_swap(queue, None, target, message)
    }

    /// The commits reachable from `from` but not from `until`, newest first,
    /// as (id, message).
    pub fn commits_since(&self, from: Oid, until: Option<Oid>, limit: usize) -> Result<Vec<(Oid, String)>> {
        let context = format!("cannot walk the commits from {from}");
        let mut walk = self.repo.revwalk().map_err(git_err(&context))?;
        walk.push(from).map_err(git_err(&context))?;
        if let Some(until) = until {
            walk.hide(until).map_err(git_err(&context))?;
        }
        let mut out = Vec::new();
        for oid in walk.take(limit) {
            let oid = oid.map_err(git_err(&context))?;
            let commit = self.repo.find_commit(oid).map_err(|e| git_error(&format!("cannot read commit {oid}"), &e))?;
            out.push((oid, String::from_utf8_lossy(commit.message_bytes()).into_owned()));
        }
        Ok(out)
    }

    /// The fixed root commit every machine derives identically: one file
    /// (`path` with `contents`), a fixed author, time and message.
    pub fn root_commit(&self, queue: &WriteLock, path: &str, contents: &[u8]) -> Result<Oid> {
        let mut changes = Changes::new();
        changes.insert(path.to_string(), Some(contents.to_vec()));
        let sig = Signature::new(ROOT_AUTHOR.0, ROOT_AUTHOR.1, &Time::new(ROOT_TIME, 0))
            .expect("the root signature is a valid constant");
        self.write_commit(Some(queue), None, &changes, ROOT_MESSAGE, &sig)
    }

    /// The signature for commits by `name` at `at` (seconds since the epoch).
    pub fn signature(&self, name: &str, email: &str, at: i64) -> Result<Signature<'static>> {
        Signature::new(name, email, &Time::new(at, 0)).map_err(git_err("cannot build a commit signature"))
    }

    /// The configured git identity, if any.
    pub fn git_user(&self) -> (Option<String>, Option<String>) {
        (self.config_string("user.name"), self.config_string("user.email"))
    }
}

/// The git blob id of `bytes`, in hex: a stable, well-spread file name.
/// Opens (or creates) a file that is only ever locked, never read.
pub fn open_lock_file(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(&format!("cannot open {}", path.display()), &e))
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    Oid::hash_object(ObjectType::Blob, bytes).expect("hashing bytes in memory cannot fail").to_string()
}

/// Is `name` a valid branch name for git?
pub fn is_valid_branch_name(name: &str) -> bool {
    git2::Reference::is_valid_name(&format!("refs/heads/{name}"))
}

/// Writes the tree `base` + `changes` into `objects`; None when it ends up
/// empty. Only folders on a changed path are written again.
fn build_tree(
    repo: &Repository,
    base: Option<&Tree<'_>>,
    changes: &[(&str, Option<&[u8]>)],
    objects: &mut pack::NewObjects,
) -> Result<Option<Oid>> {
    let mut items: BTreeMap<Vec<u8>, (i32, Oid)> = BTreeMap::new();
    if let Some(base) = base {
        for entry in base.iter() {
            items.insert(entry.name_bytes().to_vec(), (entry.filemode_raw(), entry.id()));
        }
    }
    let mut nested: BTreeMap<&str, RelativeChanges<'_>> = BTreeMap::new();
    for (path, content) in changes {
        match path.split_once('/') {
            Some((head, rest)) => nested.entry(head).or_default().push((rest, *content)),
            None => match content {
                Some(bytes) => {
                    check_entry_name(path)?;
                    if items.get(path.as_bytes()).is_some_and(|(mode, _)| pack::is_tree_mode(*mode)) {
                        return Err(path_conflict(path, "a folder"));
                    }
                    let oid = objects.blob(bytes)?;
                    items.insert(path.as_bytes().to_vec(), (pack::MODE_BLOB, oid));
                }
                None => {
                    items.remove(path.as_bytes());
                }
            },
        }
    }
    for (head, group) in nested {
        check_entry_name(head)?;
        let sub_base = match items.get(head.as_bytes()) {
            Some((mode, id)) if pack::is_tree_mode(*mode) => {
                Some(repo.find_tree(*id).map_err(git_err("cannot read a tree"))?)
            }
            // Replacing a file by a folder would silently delete the file.
            Some(_) if group.iter().any(|(_, content)| content.is_some()) => return Err(path_conflict(head, "a file")),
            _ => None,
        };
        match build_tree(repo, sub_base.as_ref(), &group, objects)? {
            Some(oid) => {
                items.insert(head.as_bytes().to_vec(), (pack::MODE_TREE, oid));
            }
            None => {
                items.remove(head.as_bytes());
            }
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    let items = items.into_iter().map(|(name, (mode, id))| pack::TreeItem { name, mode, id }).collect();
    Ok(Some(objects.tree(items)?))
}

/// A name git accepts in a tree (libgit2's tree builder refused the others
/// before orc wrote its own trees): not empty, not `.` or `..`, no NUL.
fn check_entry_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('\0') {
        return Err(Error::new(Kind::Internal, format!("cannot write a file named {name:?} on the orc branch"))
            .with_hint("this is a bug in orc: please report it with the command that hit it"));
    }
    Ok(())
}

fn path_conflict(name: &str, what: &str) -> Error {
    Error::new(Kind::PathConflict, format!("cannot write below {name:?}: {what} of that name is in the way"))
        .with_hint("choose a name that is not already a file or folder on the orc branch")
}

fn plain_entry(entry: &git2::TreeEntry<'_>) -> Option<Entry> {
    let name = entry.name()?.to_string();
    let mode = entry.filemode();
    let is_tree = match entry.kind() {
        Some(ObjectType::Tree) => true,
        // Symlinks (0o120000) and submodules are not records.
        Some(ObjectType::Blob) if mode == i32::from(FileMode::Blob) || mode == i32::from(FileMode::BlobExecutable) => {
            false
        }
        _ => return None,
    };
    Some(Entry { name, oid: entry.id(), is_tree })
}

impl Store {
    /// Points a ref of orc's own (a backup) at a commit, unconditionally.
    pub fn set_ref(&self, refname: &str, target: Oid, message: &str) -> Result<()> {
        self.repo
            .reference(refname, target, true, message)
            .map(|_| ())
            .map_err(|e| git_error(&format!("cannot point {refname} at {target}"), &e))
    }

    /// Moves a ref of orc's own from `from` (None: absent) to `to`, only if
    /// it still points at `from`: a concurrent writer (a `git push` still
    /// running for a killed orc updates the remote-tracking ref) wins, and
    /// the ref never moves back.
    pub fn advance_ref(&self, refname: &str, from: Option<Oid>, to: Oid, message: &str) -> Result<()> {
        let moved = match from {
            Some(from) => self.repo.reference_matching(refname, to, true, from, message),
            None => self.repo.reference(refname, to, false, message),
        };
        moved.map(|_| ()).map_err(|e| git_error(&format!("cannot point {refname} at {to}"), &e))
    }

    /// Where to run `git` for this repository: the work tree, or the git
    /// folder of a bare repository.
    pub fn git_cwd(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| self.repo.path().to_path_buf())
    }

    /// Is `ancestor` reachable from `descendant` (or the same commit)?
    pub fn is_ancestor(&self, ancestor: Oid, descendant: Oid) -> Result<bool> {
        if ancestor == descendant {
            return Ok(true);
        }
        self.repo
            .graph_descendant_of(descendant, ancestor)
            .map_err(|e| git_error(&format!("cannot tell whether {descendant} descends from {ancestor}"), &e))
    }

    /// A commit's first parent (None for a root commit).
    pub fn first_parent(&self, commit: Oid) -> Result<Option<Oid>> {
        let found =
            self.repo.find_commit(commit).map_err(|e| git_error(&format!("cannot read commit {commit}"), &e))?;
        Ok(found.parent_ids().next())
    }

    /// Does this repository hold `commit`?
    pub fn has_commit(&self, commit: Oid) -> bool {
        self.repo.find_commit(commit).is_ok()
    }

    /// A commit's message.
    pub fn commit_message(&self, commit: Oid) -> Result<String> {
        let commit =
            self.repo.find_commit(commit).map_err(|e| git_error(&format!("cannot read commit {commit}"), &e))?;
        Ok(String::from_utf8_lossy(commit.message_bytes()).into_owned())
    }

    /// The committer time of a commit.
    pub fn commit_time(&self, commit: Oid) -> Result<chrono::DateTime<chrono::Utc>> {
        let commit =
            self.repo.find_commit(commit).map_err(|e| git_error(&format!("cannot read commit {commit}"), &e))?;
        chrono::DateTime::from_timestamp(commit.time().seconds(), 0)
            .ok_or_else(|| Error::new(Kind::Git, "a commit has an impossible time"))
    }
}

impl Store {
    /// Does `<refname>.lock` exist in the git dir?
    pub fn ref_lock_exists(&self, refname: &str) -> bool {
        self.common_dir.join(format!("{refname}.lock")).exists()
    }

    /// Removes `<refname>.lock` when it is stale, and returns its path. git
    /// holds a ref's lock only while it updates the ref (milliseconds), so
    /// one that stays in place until it is a second old was left by a
    /// killed git; a younger one is waited for, for up to that second.
    /// Holding the write queue keeps orc processes from clearing a lock
    /// another orc process just removed and a fresh git took again.
    pub fn clear_stale_ref_lock(&self, _queue: &WriteLock, refname: &str) -> Result<Option<PathBuf>> {
        const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
        let path = self.common_dir.join(format!("{refname}.lock"));
        loop {
            let age = match std::fs::metadata(&path).and_then(|m| m.modified()) {
                Ok(modified) => modified.elapsed().unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(&format!("cannot read {}", path.display()), &e)),
            };
            if age >= STALE_AFTER {
                return match std::fs::remove_file(&path) {
                    Ok(()) => Ok(Some(path)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(&format!("cannot remove the stale lock {}", path.display()), &e)
                        .with("path", path.display().to_string())),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(20).min(STALE_AFTER - age));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_git_would_refuse_is_never_written_into_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        for path in ["", ".", "..", "a\0b", "../x", "a/./b", "a//b"] {
            let mut objects = pack::NewObjects::default();
            let err = build_tree(&repo, None, &[(path, Some(b"x".as_slice()))], &mut objects).unwrap_err();
            assert_eq!(err.kind, Kind::Internal, "{path:?}");
        }
        let mut objects = pack::NewObjects::default();
        assert!(build_tree(&repo, None, &[("a/b.toml", Some(b"x".as_slice()))], &mut objects).unwrap().is_some());
    }

    #[test]
    fn a_blob_is_parsed_once_and_another_blob_again() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let store = Store::discover(dir.path()).unwrap();
        let (one, two) = (Oid::from_bytes(&[1; 20]).unwrap(), Oid::from_bytes(&[2; 20]).unwrap());
        let calls = std::cell::Cell::new(0);
        let parse = |value: u32| {
            calls.set(calls.get() + 1);
            Ok(value)
        };
        assert_eq!(store.parsed(one, || parse(10)).unwrap(), 10);
        assert_eq!(store.parsed(one, || parse(11)).unwrap(), 10, "the first parse of a blob stands");
        assert_eq!(store.parsed(two, || parse(20)).unwrap(), 20);
        assert_eq!(calls.get(), 2);
        let failed: Result<u32> =
            store.parsed(Oid::from_bytes(&[3; 20]).unwrap(), || Err(Error::new(Kind::Internal, "no")));
        assert!(failed.is_err());
        assert_eq!(
            store.parsed(Oid::from_bytes(&[3; 20]).unwrap(), || parse(30)).unwrap(),
            30,
            "a failure is not kept"
        );
    }
}
