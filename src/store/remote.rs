//! Fetch and push through the user's own `git`, so their ssh config,
//! credential helpers and URL rewrites apply (DESIGN §4). Every call runs
//! against a [`Deadline`], with no prompt, no stdin, and English messages
//! to parse. A failure carries git's whole message (bounded), the file it
//! names, and a kind that says what failed: the network, a remote that
//! does not exist, access, or a lock file in the way.
//!
//! Pushes are compare-and-swap on the remote: `--force-with-lease` names the
//! value the remote ref must still have, and `--porcelain` says per ref
//! whether it landed. libgit2 never pushes: its local transport would
//! overwrite a path remote's ref without checking the old value.

use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Oid;

use crate::error::{Error, Kind, Result};

/// How long orc waits for a remote that does not answer, shared by every
/// git call of one command (orc.toml `net_timeout`, DESIGN §4): each call
/// gets what is left of it, so retries and a fetch followed by a push
/// cannot add up to minutes. An answer from the remote (a fetch that
/// completed, a push accepted or rejected) renews it: contention, where
/// the remote answers every time, has its own bound in the sync loop.
#[derive(Debug)]
pub struct Deadline {
    limit: Duration,
    until: Cell<Instant>,
}

impl Deadline {
    /// A deadline `limit` from now.
    pub fn new(limit: Duration) -> Self {
        Self { limit, until: Cell::new(Instant::now() + limit) }
    }

    /// How long the remote may take to answer, as configured.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// What is left before the remote counts as not answering.
    pub fn remaining(&self) -> Duration {
        self.until.get().saturating_duration_since(Instant::now())
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The remote answered: it gets a whole `limit` again.
    pub fn renew(&self) {
        self.until.set(Instant::now() + self.limit);
    }

    /// The error for a remote that did not answer in time.
    pub fn timed_out(&self, doing: &str) -> Error {
        Error::new(Kind::Network, format!("{doing}: no answer within {:?} (orc.toml net_timeout)", self.limit))
            .with("timeout_ms", u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX))
            .with_hint("local work is kept; a sync publishes it once the remote answers")
    }
}

/// Output of one git call.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs one git command, killed when `deadline` passes (`doing` names it
/// in the error: "cannot fetch from origin").
fn run_git(dir: &Path, args: &[&str], deadline: &Deadline, doing: &str) -> Result<Ran> {
    if deadline.expired() {
        return Err(deadline.timed_out(doing));
    }
    let mut child = Command::new("git")
        // A fetch starts `git maintenance run --auto` when it sees fit; a
        // command killed on its deadline would leave maintenance.lock
        // behind, and orc's frequent small fetches are no reason to run it.
        .args(["-c", "maintenance.auto=false", "-c", "gc.auto=0"])
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(Kind::Git, format!("cannot run git: {e}")).with_hint("install git and put it on PATH")
        })?;
    // Read both pipes on threads so a chatty git cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout was piped");
    let mut err = child.stderr.take().expect("stderr was piped");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io("cannot wait for git", &e))? {
            break status;
        }
        if deadline.expired() {
            // The readers are left to finish on their own: a helper git
            // started (ssh) may hold the pipes open a while longer.
            let _ = child.kill();
            let _ = child.wait();
            return Err(deadline.timed_out(doing));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Ran {
        success: status.success(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// How much of git's message an error keeps.
const MESSAGE_LINES: usize = 20;
const MESSAGE_BYTES: usize = 4096;

/// git's message, whole but bounded: its non-empty lines, trimmed.
fn git_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    let mut text = String::new();
    for line in lines.iter().take(MESSAGE_LINES) {
        if text.len() + line.len() + 1 > MESSAGE_BYTES {
            break;
        }
        text.push_str(line);
        text.push('\n');
    }
    let kept = text.lines().count();
    if kept < lines.len() {
        text.push_str(&format!("({} more line(s) of git's message left out)\n", lines.len() - kept));
    }
    text.trim_end().to_string()
}

/// git's message on one line: wrapped lines rejoined, separate messages
/// kept apart by "; ".
fn one_line(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines().map(str::trim) {
        if !out.is_empty() {
            // "fatal:", "error:", "remote:"… start a message of their own.
            let prefixed = line.split_once(':').is_some_and(|(word, _)| word.chars().all(|c| c.is_ascii_lowercase()));
            let continues = (line.chars().next().is_some_and(char::is_lowercase) && !prefixed)
                || out.ends_with(['.', ':', '!', '?', ',']);
            out.push_str(if continues { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
}

/// The first file git's message names ('/path/…' in quotes), if any.
fn named_file(message: &str) -> Option<String> {
    message.split('\'').skip(1).step_by(2).find(|t| t.starts_with('/')).map(str::to_string)
}

/// Tells what a failed git call ran into from its message.
fn classify(message: &str) -> Kind {
    let lower = message.to_ascii_lowercase();
    const MISSING: [&str; 4] =
        ["does not appear to be a git repository", "repository not found", "no such repository", "' not found"];
    const ACCESS: [&str; 5] = [
        "permission denied",
        "authentication failed",
        "could not read username",
        "host key verification failed",
        "terminal prompts disabled",
    ];
    if lower.contains(".lock': file exists") {
        Kind::Git
    } else if MISSING.iter().any(|m| lower.contains(m)) {
        Kind::RemoteNotFound
    } else if ACCESS.iter().any(|m| lower.contains(m)) {
        Kind::Git
    } else {
        // Unreachable hosts, refused or reset connections, hang-ups: and,
        // when unsure, the network, whose fix is to try again later.
        Kind::Network
    }
}

/// The error for a git call that failed while `doing` ("cannot fetch from
/// origin"): git's whole message, the file it names, and what kind of
/// failure it is.
fn git_failure(doing: &str, stderr: &str) -> Error {
    let message = git_message(stderr);
    let kind = classify(&message);
    let file = named_file(&message);
    let summary = if message.is_empty() { "git failed without saying why".to_string() } else { one_line(&message) };
    let hint = match (kind, &file) {
        (Kind::Git, Some(file)) if file.ends_with(".lock") => format!(
            "a git command was killed while it held {file}: make sure no git command is running, then remove it"
        ),
        (Kind::RemoteNotFound, _) => {
            "check the remote's URL (git remote -v) and that the repository exists there; local work is kept".into()
        }
        (Kind::Git, _) => "check your access to the remote (credentials, ssh keys); local work is kept".into(),
        _ => "local work is kept; a sync publishes it once the remote is reachable".into(),
    };
    let mut err = Error::new(kind, format!("{doing}: {summary}")).with("git_message", &message).with_cause(&message);
    if let Some(file) = file {
        err = err.with("path", file);
    }
    err.with_hint(hint)
}

/// Fetches `refs/heads/<branch>` of `remote` into
/// `refs/remotes/<remote>/<branch>`; false when the remote has no such
/// branch yet. The caller reads the tracking ref itself (with libgit2: a
/// second git process would cost as much as the fetch's own start-up).
pub fn fetch(dir: &Path, remote: &str, branch: &str, deadline: &Deadline) -> Result<bool> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
    let doing = format!("cannot fetch from {remote}");
    let args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, &refspec];
    let ran = run_git(dir, &args, deadline, &doing)?;
    if !ran.success {
        if ran.stderr.contains("couldn't find remote ref") {
            deadline.renew();
            return Ok(false);
        }
        return Err(git_failure(&doing, &ran.stderr));
    }
    deadline.renew();
    Ok(true)
}

/// What `git ls-remote` showed: where the branch points, and the refs
/// under the prefix asked for.
#[derive(Debug, Clone, Default)]
pub struct RemoteRefs {
    pub tip: Option<Oid>,
    pub under_prefix: Vec<(String, Oid)>,
}

/// Asks `remote` where its `refs/heads/<branch>` points, and which refs it
/// has under `prefix` (`refs/orc/requests/`), fetching nothing (`git
/// ls-remote`): one ref advertisement, much cheaper than a fetch, which
/// also negotiates, receives a pack and writes a ref. No tip when the
/// remote has no such branch yet.
pub fn remote_refs(dir: &Path, remote: &str, branch: &str, prefix: &str, deadline: &Deadline) -> Result<RemoteRefs> {
    let target = format!("refs/heads/{branch}");
    let pattern = format!("{prefix}*");
    // Asking is the first step of a fetch: failures read as one.
    let doing = format!("cannot fetch from {remote}");
    let ran = run_git(dir, &["ls-remote", remote, &target, &pattern], deadline, &doing)?;
    if !ran.success {
        return Err(git_failure(&doing, &ran.stderr));
    }
    deadline.renew();
    let mut refs = RemoteRefs::default();
    for (sha, name) in ran.stdout.lines().filter_map(|l| l.split_once('\t')) {
        // A pattern matches any ref ending in it ("refs/x/refs/heads/orc"): only exact names count.
        if name != target && !name.starts_with(prefix) {
            continue;
        }
        let oid = Oid::from_str(sha.trim()).map_err(|_| {
            Error::new(Kind::Git, format!("{doing}: git ls-remote printed {sha:?}, not an object id"))
                .with_hint("check the remote's URL (git remote -v) and the git on PATH")
        })?;
        if name == target {
            refs.tip = Some(oid);
        } else {
            refs.under_prefix.push((name.to_string(), oid));
        }
    }
    Ok(refs)
}

/// What the remote said to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    /// The remote moved since it was fetched (or a ref pushed with it
    /// changed): fetch, replay and try again.
    Moved,
    /// Refused for another reason (protected branch, hook, size limit).
    Refused(String),
}

/// One ref a push sets, only if the remote's ref still is `expected`
/// (None: it must not exist). `new` None deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub name: String,
    pub expected: Option<Oid>,
    pub new: Option<Oid>,
}

/// Pushes `commit` to `refs/heads/<branch>` of `remote`, only if that ref
/// still is `expected` (None: it must not exist).
pub fn push(
    dir: &Path,
    remote: &str,
    branch: &str,
    commit: Oid,
    expected: Option<Oid>,
    deadline: &Deadline,
) -> Result<Pushed> {
    let branch = RefUpdate { name: format!("refs/heads/{branch}"), expected, new: Some(commit) };
    push_refs(dir, remote, &[branch], deadline)
}

/// Pushes every update in `updates` or none (`--atomic`), each under its
/// own lease.
pub fn push_refs(dir: &Path, remote: &str, updates: &[RefUpdate], deadline: &Deadline) -> Result<Pushed> {
    let mut args: Vec<String> = ["push", "--porcelain", "--atomic", "--no-verify"].map(String::from).to_vec();
    for update in updates {
        let expected = update.expected.map(|o| o.to_string()).unwrap_or_default();
        args.push(format!("--force-with-lease={}:{expected}", update.name));
    }
    args.push(remote.to_string());
    for update in updates {
        let new = update.new.map(|o| o.to_string()).unwrap_or_default();
        args.push(format!("{new}:{}", update.name));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doing = format!("cannot push to {remote}");
    let ran = run_git(dir, &args, deadline, &doing)?;
    // `--porcelain` prints one line per ref: "<flag>\t<from>:<to>\t<summary>".
    let lines: Vec<(char, &str)> = ran
        .stdout
        .lines()
        .filter(|l| updates.iter().any(|u| l.contains(&format!(":{}\t", u.name))))
        .filter_map(|l| Some((l.chars().next()?, l.split('\t').nth(2).unwrap_or_default())))
        .collect();
    if !lines.is_empty() {
        // A porcelain line is the remote's answer, whatever it says.
        deadline.renew();
    }
    // Contention shows as the client's lease failing ("stale info"), or,
    // when another push landed between the client's check and the server's
    // update, as the server failing to lock the ref at the expected value.
    // In an atomic push the other refs then say "atomic push failed".
    // A local remote that takes two pushes at once may also fail to move the
    // second one's objects out of quarantine: contention too, not a refusal.
    const MOVED: [&str; 7] = [
        "stale info",
        "fetch first",
        "non-fast-forward",
        "cannot lock ref",
        "but expected",
        "incorrect old value",
        "unable to migrate objects to permanent storage",
    ];
    let rejected: Vec<&str> = lines.iter().filter(|(flag, _)| *flag == '!').map(|(_, summary)| *summary).collect();
    if rejected.is_empty() {
        if ran.success {
            return Ok(Pushed::Accepted);
        }
        return Err(git_failure(&doing, &ran.stderr));
    }
    if rejected.iter().any(|summary| MOVED.iter().any(|m| summary.contains(m)))
        || MOVED.iter().any(|m| ran.stderr.contains(m))
    {
        return Ok(Pushed::Moved);
    }
    let summary =
        rejected.iter().find(|s| !s.contains("atomic push failed")).or(rejected.first()).copied().unwrap_or_default();
    let host = ran.stderr.lines().filter(|l| l.starts_with("remote:")).map(str::trim).collect::<Vec<_>>().join(" ");
    Ok(Pushed::Refused(if host.is_empty() { summary.to_string() } else { format!("{summary}: {host}") }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISSING: &str = "fatal: '/tmp/x/missing.git' does not appear to be a git repository
fatal: Could not read from remote repository.

Please make sure you have the correct access rights
and the repository exists.
";

    #[test]
    fn a_missing_repository_is_not_the_network_and_keeps_the_whole_message() {
        let err = git_failure("cannot fetch from origin", MISSING);
        assert_eq!(err.kind, Kind::RemoteNotFound);
        assert_eq!(
            err.message,
            "cannot fetch from origin: fatal: '/tmp/x/missing.git' does not appear to be a git repository; \
             fatal: Could not read from remote repository. Please make sure you have the correct access rights \
             and the repository exists."
        );
        assert_eq!(err.fields["path"], "/tmp/x/missing.git");
        assert_eq!(err.fields["git_message"].as_str().unwrap().lines().count(), 4);
    }

    #[test]
    fn a_lock_file_in_the_way_is_named() {
        let stderr = "error: cannot lock ref 'refs/remotes/origin/orc': Unable to create \
                      '/r/.git/refs/remotes/origin/orc.lock': File exists.\n\nAnother git process seems to be running";
        let err = git_failure("cannot fetch from origin", stderr);
        assert_eq!(err.kind, Kind::Git);
        assert_eq!(err.fields["path"], "/r/.git/refs/remotes/origin/orc.lock");
        assert!(err.hint.as_deref().unwrap().contains("/r/.git/refs/remotes/origin/orc.lock"));
    }

    #[test]
    fn unreachable_hosts_are_the_network() {
        let refused = "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused\n";
        assert_eq!(classify(refused), Kind::Network);
        assert_eq!(classify("fatal: the remote end hung up unexpectedly"), Kind::Network);
        assert_eq!(classify("git@github.com: Permission denied (publickey)."), Kind::Git);
    }

    #[test]
    fn long_messages_are_bounded() {
        let long: String = (0..100).map(|n| format!("line {n}\n")).collect();
        let kept = git_message(&long);
        assert_eq!(kept.lines().count(), MESSAGE_LINES + 1);
        assert!(kept.ends_with("(80 more line(s) of git's message left out)"), "{kept}");
        let wide = "x".repeat(10_000);
        assert!(git_message(&format!("{wide}\n{wide}\n")).len() < MESSAGE_BYTES + 100);
    }

    #[test]
    fn a_deadline_runs_out_and_renews() {
        let deadline = Deadline::new(Duration::from_millis(30));
        assert!(!deadline.expired());
        std::thread::sleep(Duration::from_millis(40));
        assert!(deadline.expired());
        deadline.renew();
        assert!(deadline.remaining() > Duration::from_millis(10));
    }
}
