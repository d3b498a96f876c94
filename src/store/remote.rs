//! Fetch and push through the user's own `git`, so their ssh config,
//! credential helpers and URL rewrites apply (DESIGN §4). Every call has a
//! timeout, no prompt, no stdin, and English messages to parse.
//!
//! Pushes are compare-and-swap on the remote: `--force-with-lease` names the
//! value the remote ref must still have, and `--porcelain` says per ref
//! whether it landed. libgit2 never pushes: its local transport would
//! overwrite a path remote's ref without checking the old value.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Oid;

use crate::error::{Error, Kind, Result};

/// How long one fetch or push may take before orc gives up on it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Output of one git call.
struct Ran {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run_git(dir: &Path, args: &[&str], timeout: Duration) -> Result<Ran> {
    let mut child = Command::new("git")
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
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::io("cannot wait for git", &e))? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::new(
                Kind::Network,
                format!("git {} did not finish within {}s", args.first().unwrap_or(&""), timeout.as_secs()),
            )
            .with_hint("check the network and the remote, then sync again"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Ran {
        success: status.success(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// Fetches `refs/heads/<branch>` of `remote` into
/// `refs/remotes/<remote>/<branch>`; false when the remote has no such
/// branch yet. The caller reads the tracking ref itself (with libgit2: a
/// second git process would cost as much as the fetch's own start-up).
pub fn fetch(dir: &Path, remote: &str, branch: &str, timeout: Duration) -> Result<bool> {
    let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
    let ran = run_git(dir, &["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, &refspec], timeout)?;
    if !ran.success {
        if ran.stderr.contains("couldn't find remote ref") {
            return Ok(false);
        }
        return Err(Error::new(Kind::Network, format!("cannot fetch from {remote}: {}", last_line(&ran.stderr)))
            .with_hint("local work is kept; a sync publishes it once the remote is reachable"));
    }
    Ok(true)
}

/// What the remote said to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    /// The remote moved since it was fetched: fetch, replay and try again.
    Moved,
    /// Refused for another reason (protected branch, hook, size limit).
    Refused(String),
}

/// Pushes `commit` to `refs/heads/<branch>` of `remote`, only if that ref
/// still is `expected` (None: it must not exist).
pub fn push(
    dir: &Path,
    remote: &str,
    branch: &str,
    commit: Oid,
    expected: Option<Oid>,
    timeout: Duration,
) -> Result<Pushed> {
    let target = format!("refs/heads/{branch}");
    let lease = format!("--force-with-lease={target}:{}", expected.map(|o| o.to_string()).unwrap_or_default());
    let refspec = format!("{commit}:{target}");
    let ran = run_git(dir, &["push", "--porcelain", "--atomic", "--no-verify", &lease, remote, &refspec], timeout)?;
    // `--porcelain` prints one line per ref: "<flag>\t<from>:<to>\t<summary>".
    let line = ran.stdout.lines().find(|l| l.contains(&format!(":{target}")));
    match line.and_then(|l| l.chars().next()) {
        Some(' ' | '+' | '*' | '=') if ran.success => Ok(Pushed::Accepted),
        Some('!') => {
            let summary = line.and_then(|l| l.split('\t').nth(2)).unwrap_or_default();
            // Contention shows as the client's lease failing ("stale info"),
            // or, when another push landed between the client's check and
            // the server's update, as the server failing to lock the ref at
            // the expected value.
            const MOVED: [&str; 6] = [
                "stale info",
                "fetch first",
                "non-fast-forward",
                "cannot lock ref",
                "but expected",
                "incorrect old value",
            ];
            if MOVED.iter().any(|m| summary.contains(m) || ran.stderr.contains(m)) {
                Ok(Pushed::Moved)
            } else {
                let host = ran
                    .stderr
                    .lines()
                    .filter(|l| l.starts_with("remote:"))
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(" ");
                Ok(Pushed::Refused(if host.is_empty() { summary.to_string() } else { format!("{summary}: {host}") }))
            }
        }
        _ if ran.success => Ok(Pushed::Accepted),
        _ => Err(Error::new(Kind::Network, format!("cannot push to {remote}: {}", last_line(&ran.stderr)))
            .with_hint("local work is kept; a sync publishes it once the remote is reachable")),
    }
}
