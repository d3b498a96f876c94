//! What every bench shares: the release build of `orc` it measures.

use std::path::{Path, PathBuf};
use std::process::Command;

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
