//! `TestEnv`: a temp dir with a code repository (one commit on `main`) and a
//! hermetic environment for running `orc` and `git` in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const ORC: &str = env!("CARGO_BIN_EXE_orc");

pub struct TestEnv {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: PathBuf,
    home: PathBuf,
}

/// What one command printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}--- stderr ---\n{}[exit status: {}]", self.stdout, self.stderr, self.code)
    }
}

impl Run {
    pub fn from(output: Output) -> Self {
        Self {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code().unwrap_or(-1),
        }
    }

    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "command failed:\n{self}");
        self
    }

    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(self.code, expected, "unexpected exit status:\n{self}");
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{self}"))
    }

    /// The `kind` of a `--json` error.
    #[track_caller]
    pub fn error_kind(&self) -> String {
        self.json()["error"]["kind"].as_str().unwrap_or_else(|| panic!("no error kind:\n{self}")).to_string()
    }
}

/// PATH with the orc under test first, so installed git hooks find it.
pub fn path_with_orc() -> std::ffi::OsString {
    let orc_dir = Path::new(ORC).parent().expect("the orc binary lives in a folder");
    let mut dirs = vec![orc_dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(dirs).expect("paths without separators")
}

/// The environment every child process gets: no user or system git config,
/// a private HOME, a fixed time zone.
pub fn hermetic(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("PATH", path_with_orc())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("TZ", "UTC")
        .env("LC_ALL", "C");
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        let home = root.join("home");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let env = Self { _dir: dir, root, repo, home };
        env.git(&["init", "-q", "-b", "main"]);
        env.git(&["config", "user.name", "Test Person"]);
        env.git(&["config", "user.email", "person@example.com"]);
        std::fs::write(env.repo.join("README"), "code\n").unwrap();
        env.git(&["add", "README"]);
        env.git(&["commit", "-q", "-m", "initial"]);
        env
    }

    pub fn command(&self, program: &str, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        hermetic(&mut cmd, &self.home);
        cmd.current_dir(dir);
        cmd
    }

    pub fn orc_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(ORC, &self.repo);
        cmd.args(args);
        cmd
    }

    #[must_use = "check the exit status with .success() or .code(n)"]
    pub fn orc(&self, args: &[&str]) -> Run {
        Run::from(self.orc_command(args).output().expect("run orc"))
    }

    #[must_use = "check the exit status with .success() or .code(n)"]
    pub fn orc_with(&self, envs: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.orc_command(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run orc"))
    }

    #[must_use = "check the exit status with .success() or .code(n)"]
    pub fn orc_in(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = self.command(ORC, dir);
        cmd.args(args);
        Run::from(cmd.output().expect("run orc"))
    }

    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    #[track_caller]
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.command("git", dir).args(args).output().expect("run git");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// Makes a bare `remote.git` beside the repository and adds it as
    /// `origin`.
    pub fn add_bare_remote(&self) -> PathBuf {
        let remote = self.root.join("remote.git");
        self.git_in(&self.root, &["init", "-q", "--bare", remote.to_str().unwrap()]);
        self.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
        remote
    }

    /// A bare remote `remote.git` holding main, and a second clone of it,
    /// `b`: two machines sharing one remote.
    pub fn second_machine(&self) -> (PathBuf, PathBuf) {
        let remote = self.add_bare_remote();
        self.git(&["push", "-q", "origin", "main"]);
        let b = self.root.join("b");
        self.git_in(&self.root, &["clone", "-q", remote.to_str().unwrap(), b.to_str().unwrap()]);
        (remote, b)
    }

    /// The orc branch's tip, or "" before it exists.
    pub fn tip(&self) -> String {
        let out =
            self.command("git", &self.repo).args(["rev-parse", "--verify", "-q", "refs/heads/orc"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A file of the orc branch.
    pub fn show(&self, path: &str) -> String {
        self.git(&["show", &format!("orc:{path}")])
    }

    /// Adds a task and returns its id.
    #[track_caller]
    pub fn add_task(&self, ws: &str, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["t", "add", ws, title];
        args.extend_from_slice(extra);
        args.push("--json");
        self.orc(&args).success().json()["id"].as_str().unwrap().to_string()
    }

    /// Blocks until no orc maintainer runs in this repository, and keeps
    /// later ones out while held: one deleting the packs it merged while
    /// `git fsck` reads them makes fsck report their index gone.
    pub fn hold_maintenance_lock(&self) -> std::fs::File {
        let path = self.repo.join(".git/orc/maintain.lock");
        let file = std::fs::File::options().create(true).truncate(false).write(true).open(path).unwrap();
        file.lock().unwrap();
        file
    }

    /// `git fsck --full --strict` finds nothing wrong. Hold the maintenance
    /// lock around it where orc wrote.
    #[track_caller]
    pub fn assert_fsck_clean(&self) {
        let fsck =
            self.command("git", &self.repo).args(["fsck", "--full", "--strict", "--no-progress"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&fsck.stderr);
        assert!(fsck.status.success() && !stderr.contains("error"), "git fsck: {stderr}");
    }

    /// Replaces one file on the orc branch by hand, as a person editing it on
    /// the host would (plumbing only: HEAD and the index stay untouched).
    pub fn edit_branch_file(&self, path: &str, contents: &str) {
        let index = self.root.join("edit-index");
        let with_index = |args: &[&str]| -> String {
            let out = self.command("git", &self.repo).env("GIT_INDEX_FILE", &index).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        with_index(&["read-tree", "orc"]);
        let blob_file = self.root.join("edit-blob");
        std::fs::write(&blob_file, contents).unwrap();
        let blob = with_index(&["hash-object", "-w", blob_file.to_str().unwrap()]);
        with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},{path}")]);
        let tree = with_index(&["write-tree"]);
        let commit = with_index(&["commit-tree", &tree, "-p", "orc", "-m", "hand edit"]);
        with_index(&["update-ref", "refs/heads/orc", &commit]);
        std::fs::remove_file(index).unwrap();
    }
}
