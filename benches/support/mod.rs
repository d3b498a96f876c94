//! What every bench shares: the release build of `orc` it measures.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository, Signature};

/// Builds `orc` in release mode (cheap when up to date) and returns its
/// path, honouring `CARGO_TARGET_DIR`.
pub fn build_orc() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    eprintln!("bench: cargo build --release --bin orc");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "orc"])
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --release --bin orc failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("release/orc")
}

/// The ref the floor measurements move.
#[allow(dead_code)] // not every bench measures the floor
pub const FLOOR_REF: &str = "refs/heads/floor";

/// The git2 floor of one orc operation: write a blob, a tree and a commit,
/// compare-and-swap a ref, and fsync the three object files and the ref.
#[allow(dead_code)] // not every bench measures the floor
pub fn floor_op(repo: &Repository, n: u64) -> Result<(), git2::Error> {
    let tip = repo.refname_to_id(FLOOR_REF)?;
    let parent = repo.find_commit(tip)?;
    let blob = repo.blob(format!("floor op {n} by process {}\n", std::process::id()).as_bytes())?;
    let mut builder = repo.treebuilder(None)?;
    builder.insert("file", blob, 0o100_644)?;
    let tree_id = builder.write()?;
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::now("bench", "bench@b")?;
    let commit = repo.commit(None, &sig, &sig, "floor\n", &tree, &[&parent])?;
    repo.reference_matching(FLOOR_REF, commit, true, tip, "floor")?;
    let objects = repo.path().join("objects");
    for oid in [blob, tree_id, commit] {
        fsync(&object_path(&objects, oid));
    }
    fsync(&repo.path().join(FLOOR_REF));
    Ok(())
}

#[allow(dead_code)] // not every bench measures the floor
fn object_path(objects: &Path, oid: Oid) -> PathBuf {
    let hex = oid.to_string();
    objects.join(&hex[..2]).join(&hex[2..])
}

#[allow(dead_code)] // not every bench measures the floor
pub fn fsync(path: &Path) {
    let file = File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.sync_all().unwrap_or_else(|e| panic!("cannot fsync {}: {e}", path.display()));
}
