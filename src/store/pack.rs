//! Writing each operation's objects as one pack instead of loose objects.
//!
//! An operation writes a dozen objects (the task, its event, the trees above
//! them, the commit). As loose objects that is a dozen new files, each an
//! inode creation and an fsync; measured on ext4 that was a third of a claim's
//! time. Building them in an in-memory object store (libgit2's mempack) and
//! indexing them as one pack creates two files, whatever the object count.
//!
//! Packs written this way are listed in `<git-common-dir>/orc/packs`, and once
//! there are `ROLL_UP_AT` of them a roll-up is due: a process of its own
//! merges the smaller ones (`maintain.rs`), never the command that wrote the
//! pack. Packs that git itself made are never touched; a `git gc` that
//! already folded orc's packs away is fine: missing ones are dropped from the
//! list.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Buf, Indexer, Oid, Repository};

use super::fsync::sync_files;
use super::git_error;
use crate::error::{Error, Kind, Result};

/// How many listed packs make a roll-up due.
pub(super) const ROLL_UP_AT: usize = 8;

fn git_err(context: &str) -> impl Fn(git2::Error) -> Error + '_ {
    move |e| git_error(context, &e)
}

/// Runs `build` against a fresh handle whose writes land in memory, then
/// stores the objects it reports as written as one durable pack. Returns
/// `build`'s result and the pack's name and object count.
///
/// The pack is built from the written ids, not with `Mempack::dump`: that
/// walks each commit's whole tree and would pack every task of the branch.
pub fn write_as_pack<T>(
    git_dir: &Path,
    pack_dir: &Path,
    build: impl FnOnce(&Repository, &mut Vec<Oid>) -> Result<T>,
) -> Result<(T, Option<(String, usize)>)> {
    let repo = Repository::open(git_dir).map_err(git_err("cannot open the repository"))?;
    let odb = repo.odb().map_err(git_err("cannot open the object database"))?;
    // Priority above the loose (1) and pack (2) backends: new objects go here.
    let _mempack = odb.add_new_mempack_backend(1000).map_err(git_err("cannot create an in-memory object store"))?;
    let mut written = Vec::new();
    let value = build(&repo, &mut written)?;
    written.sort();
    written.dedup();
    if written.is_empty() {
        return Ok((value, None));
    }
    let mut builder = repo.packbuilder().map_err(git_err("cannot build a pack"))?;
    for oid in &written {
        builder.insert_object(*oid, None).map_err(git_err("cannot build a pack"))?;
    }
    let mut buf = Buf::new();
    builder.write_buf(&mut buf).map_err(git_err("cannot build a pack"))?;
    let count = pack_object_count(&buf);
    fs::create_dir_all(pack_dir).map_err(|e| Error::io("cannot create objects/pack", &e))?;
    let mut indexer = Indexer::new(Some(&odb), pack_dir, 0o444, false).map_err(git_err("cannot index a pack"))?;
    indexer.write_all(&buf).map_err(|e| Error::io("cannot write a pack", &e))?;
    let name = indexer.commit().map_err(git_err("cannot index a pack"))?;
    sync_pack(pack_dir, &name)?;
    Ok((value, Some((name, count))))
}

/// The object count from a pack header (`PACK`, version, count).
fn pack_object_count(pack: &[u8]) -> usize {
    if pack.len() < 12 || &pack[..4] != b"PACK" {
        return 0;
    }
    u32::from_be_bytes([pack[8], pack[9], pack[10], pack[11]]) as usize
}

pub(super) fn pack_paths(pack_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (pack_dir.join(format!("pack-{name}.pack")), pack_dir.join(format!("pack-{name}.idx")))
}

fn sync_pack(pack_dir: &Path, name: &str) -> Result<()> {
    let (pack, idx) = pack_paths(pack_dir, name);
    sync_files(vec![pack, idx, pack_dir.to_path_buf()])
}

/// Remembers a pack orc wrote; returns whether enough small packs piled up
/// to roll them up. Call with the write queue held.
pub fn record_pack(list: &Path, name: &str, count: usize) -> Result<bool> {
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
        .map_err(|e| Error::io("cannot record a pack", &e))?;
    writeln!(file, "{name} {count}").map_err(|e| Error::io("cannot record a pack", &e))?;
    Ok(read_list(list).len() >= ROLL_UP_AT)
}

/// Is `name` a pack's name (its 40 hex digits, as in `pack-<name>.idx`)?
pub(super) fn is_pack_name(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn read_list(list: &Path) -> Vec<(String, usize)> {
    fs::read_to_string(list)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, count) = line.split_once(' ')?;
            is_pack_name(name).then(|| Some((name.to_string(), count.parse().ok()?)))?
        })
        .collect()
}

pub(super) fn write_list(list: &Path, packs: &[(String, usize)]) -> Result<()> {
    let text: String = packs.iter().map(|(name, count)| format!("{name} {count}\n")).collect();
    let tmp = list.with_extension("tmp");
    fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, list)).map_err(|e| Error::io("cannot record packs", &e))
}

/// The object ids listed in a version-2 pack index.
pub(super) fn idx_object_ids(idx: &Path) -> Result<Vec<Oid>> {
    let bytes = fs::read(idx).map_err(|e| Error::io(&format!("cannot read {}", idx.display()), &e))?;
    let bad = || Error::new(Kind::Git, format!("{} is not a version 2 pack index", idx.display()));
    if bytes.len() < 8 + 256 * 4 || bytes[..4] != [0xff, b't', b'O', b'c'] || bytes[4..8] != [0, 0, 0, 2] {
        return Err(bad());
    }
    let at = 8 + 255 * 4;
    let count = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
    let start = 8 + 256 * 4;
    let end = start + count * 20;
    if bytes.len() < end {
        return Err(bad());
    }
    bytes[start..end].chunks(20).map(|raw| Oid::from_bytes(raw).map_err(|_| bad())).collect()
}
