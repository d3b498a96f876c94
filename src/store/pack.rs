//! Writing each operation's objects as one pack instead of loose objects.
//!
//! An operation writes a dozen objects (the task, its event, the trees above
//! them, the commit). As loose objects that is a dozen new files, each an
//! inode creation and an fsync; measured on ext4 that was a third of a claim's
//! time. orc builds them in memory ([`NewObjects`]) and writes them as one
//! pack and its index: two files, whatever the object count.
//!
//! The pack is written here, not by libgit2: its path (an in-memory object
//! store on a second repository handle, the pack builder, then the indexer,
//! which inflates and hashes every object again) cost a claim about as much
//! as everything else it writes (issue 12). Rules this code keeps:
//! - Object ids are git's (SHA-1 of `<type> <size>\0<body>`; the tests
//!   compare them with libgit2's), and trees and commits are
//!   serialised byte for byte as libgit2 serialises them, so the fixed root
//!   commit and every replayed commit keep their ids (tests compare both).
//! - A pack holds whole objects only (no deltas), each once, so it is
//!   readable on its own; the index is version 2, with the large-offset
//!   table when a pack passes 2 GiB.
//! - Nothing is visible before it is complete: both files are written under
//!   `tmp_orc_*` names and renamed, the pack first, since readers find a pack
//!   by its index. The caller moves no ref before [`NewObjects::write_pack`]
//!   returned, and that returns after the pack, its index and their folder
//!   reached the disk.
//!
//! Packs written this way are listed in `<git-common-dir>/orc/packs`, and once
//! there are `ROLL_UP_AT` of them a roll-up is due: a process of its own
//! merges the smaller ones (`maintain.rs`), never the command that wrote the
//! pack. Packs that git itself made are never touched; a `git gc` that
//! already folded orc's packs away is fine: missing ones are dropped from the
//! list.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use git2::{ObjectType, Oid, Signature};
use sha1::{Digest, Sha1};

use super::fsync::sync_moved_files;
use crate::error::{Error, Kind, Result};

/// How many listed packs make a roll-up due.
pub(super) const ROLL_UP_AT: usize = 8;

/// A tree entry's mode for a folder, as git writes it.
pub(super) const MODE_TREE: i32 = 0o040_000;
/// A tree entry's mode for a plain file.
pub(super) const MODE_BLOB: i32 = 0o100_644;

/// Is a tree entry of this mode a folder?
pub(super) fn is_tree_mode(mode: i32) -> bool {
    mode & 0o170_000 == MODE_TREE
}

/// One entry of a tree being written: name, mode, object.
pub(super) struct TreeItem {
    pub name: Vec<u8>,
    pub mode: i32,
    pub id: Oid,
}

/// The objects one commit adds, built in memory, each once.
#[derive(Default)]
pub(super) struct NewObjects {
    objects: Vec<(ObjectType, Oid, Vec<u8>)>,
    ids: HashSet<Oid>,
}

/// Git's id of an object. Plain SHA-1 (the CPU's SHA instructions where it
/// has them), not libgit2's collision-detecting one, which cost three
/// times as much: these are orc's own objects, not bytes from elsewhere.
fn object_id(kind: ObjectType, body: &[u8]) -> Result<Oid> {
    let mut hasher = Sha1::new();
    hasher.update(kind.str().as_bytes());
    hasher.update(format!(" {}\0", body.len()).as_bytes());
    hasher.update(body);
    Oid::from_bytes(&hasher.finalize()).map_err(|e| Error::new(Kind::Internal, format!("cannot hash an object: {e}")))
}

impl NewObjects {
    fn add(&mut self, kind: ObjectType, body: Vec<u8>) -> Result<Oid> {
        let id = object_id(kind, &body)?;
        if self.ids.insert(id) {
            self.objects.push((kind, id, body));
        }
        Ok(id)
    }

    pub fn blob(&mut self, bytes: &[u8]) -> Result<Oid> {
        self.add(ObjectType::Blob, bytes.to_vec())
    }

    /// A tree of `items` (any order; names unique), serialised as git and
    /// libgit2 do: sorted by name, a folder's name compared as if it ended
    /// in `/`, the mode in octal without leading zeros.
    pub fn tree(&mut self, mut items: Vec<TreeItem>) -> Result<Oid> {
        let key = |item: &TreeItem| {
            let mut key = item.name.clone();
            if is_tree_mode(item.mode) {
                key.push(b'/');
            }
            key
        };
        items.sort_by_cached_key(key);
        let mut body = Vec::with_capacity(items.len() * 40);
        for item in &items {
            write!(body, "{:o} ", item.mode).expect("writing to memory");
            body.extend_from_slice(&item.name);
            body.push(0);
            body.extend_from_slice(item.id.as_bytes());
        }
        self.add(ObjectType::Tree, body)
    }

    /// A commit as `git_commit_create` writes it: tree, parents, author and
    /// committer (the same signature), a blank line, the message untouched.
    pub fn commit(&mut self, tree: Oid, parents: &[Oid], signature: &Signature<'_>, message: &str) -> Result<Oid> {
        let mut body = Vec::with_capacity(256 + message.len());
        writeln!(body, "tree {tree}").expect("writing to memory");
        for parent in parents {
            writeln!(body, "parent {parent}").expect("writing to memory");
        }
        for header in ["author", "committer"] {
            write_signature(&mut body, header, signature);
        }
        body.push(b'\n');
        body.extend_from_slice(message.as_bytes());
        self.add(ObjectType::Commit, body)
    }

    /// Writes the objects as one durable pack in `pack_dir`; returns its
    /// name and object count, or None when there is nothing to write.
    pub fn write_pack(&self, pack_dir: &Path) -> Result<Option<(String, usize)>> {
        if self.objects.is_empty() {
            return Ok(None);
        }
        let (pack, index) = self.pack_bytes()?;
        let name = hex(&pack[pack.len() - 20..]);
        let idx = index_bytes(index, &pack[pack.len() - 20..]);
        fs::create_dir_all(pack_dir).map_err(|e| Error::io("cannot create objects/pack", &e))?;
        let (pack_path, idx_path) = pack_paths(pack_dir, &name);
        let (tmp_pack, pack_file) = write_temporary(pack_dir, "pack", &pack)?;
        let (tmp_idx, idx_file) = match write_temporary(pack_dir, "idx", &idx) {
            Ok(written) => written,
            Err(e) => {
                let _ = fs::remove_file(&tmp_pack);
                return Err(e);
            }
        };
        for (from, to) in [(&tmp_pack, &pack_path), (&tmp_idx, &idx_path)] {
            if let Err(e) = fs::rename(from, to) {
                let _ = fs::remove_file(&tmp_pack);
                let _ = fs::remove_file(&tmp_idx);
                return Err(Error::io(&format!("cannot move a new pack to {}", to.display()), &e));
            }
        }
        sync_moved_files(&[(&pack_file, &pack_path), (&idx_file, &idx_path)], pack_dir)?;
        Ok(Some((name, self.objects.len())))
    }

    /// The pack (header, each object whole and deflated, SHA-1 trailer) and
    /// each object's id, CRC-32 of its packed bytes and offset.
    fn pack_bytes(&self) -> Result<(Vec<u8>, Vec<Packed>)> {
        let size: usize = self.objects.iter().map(|(_, _, body)| body.len()).sum();
        let mut pack = Vec::with_capacity(size / 2 + 64);
        pack.extend_from_slice(b"PACK");
        pack.extend_from_slice(&2u32.to_be_bytes());
        let count = u32::try_from(self.objects.len())
            .map_err(|_| Error::new(Kind::Internal, "too many objects for one pack"))?;
        pack.extend_from_slice(&count.to_be_bytes());
        let mut index = Vec::with_capacity(self.objects.len());
        // One compressor for all objects, set up at the first that needs it:
        // setting one up allocates and clears a few hundred KiB.
        let mut compressor: Option<Compress> = None;
        for (kind, id, body) in &self.objects {
            let offset = pack.len();
            let code: u8 = match kind {
                ObjectType::Commit => 1,
                ObjectType::Tree => 2,
                ObjectType::Blob => 3,
                _ => return Err(Error::new(Kind::Internal, "orc writes only commits, trees and blobs")),
            };
            // Type and size: the low four bits of the size first, then seven
            // bits a byte, the high bit saying another byte follows.
            let mut rest = body.len() as u64;
            let mut byte = (code << 4) | (rest & 0x0f) as u8;
            rest >>= 4;
            while rest != 0 {
                pack.push(byte | 0x80);
                byte = (rest & 0x7f) as u8;
                rest >>= 7;
            }
            pack.push(byte);
            if *kind != ObjectType::Blob && body.len() < STORE_BELOW {
                store(body, &mut pack);
            } else {
                let compressor = compressor.get_or_insert_with(|| Compress::new(Compression::fast(), true));
                deflate(compressor, body, &mut pack)?;
            }
            let mut crc = Crc::new();
            crc.update(&pack[offset..]);
            index.push(Packed { id: *id, crc: crc.sum(), offset: offset as u64 });
        }
        let trailer = Sha1::digest(&pack);
        pack.extend_from_slice(&trailer);
        Ok((pack, index))
    }
}

/// Trees and commits smaller than this go into the pack in a zlib stream
/// that stores them as they are; blobs, text that deflates well, are
/// always deflated. Readying the compressor for an object clears its 64 KiB
/// hash table, which cost more than deflating a small tree or commit (a
/// claim writes a dozen; the clearing was an eighth of its instructions),
/// and their object ids deflate poorly: git packed a 40-byte tree into 48.
const STORE_BELOW: usize = 1024;

/// Appends `body` to `out` as one zlib stream of stored blocks (RFC 1950
/// and 1951): a header, blocks of at most 65,535 bytes each with its length
/// and that length's complement, and the Adler-32 of `body`.
fn store(body: &[u8], out: &mut Vec<u8>) {
    // Deflate, 32 KiB window, no dictionary, fastest: 0x7801 is a multiple of 31.
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = body.chunks(usize::from(u16::MAX)).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = u16::try_from(block.len()).expect("blocks are at most 65,535 bytes");
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(body).to_be_bytes());
}

/// Adler-32 (RFC 1950): two running sums modulo 65,521, reduced every
/// 5,552 bytes, the most that cannot overflow 32 bits.
fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Appends `body` to `out` as one zlib stream, then readies `compressor`
/// for the next object.
fn deflate(compressor: &mut Compress, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let failed = |e: flate2::CompressError| Error::new(Kind::Internal, format!("cannot compress an object: {e}"));
    let start = compressor.total_in();
    loop {
        out.reserve(body.len() / 2 + 64);
        let read = (compressor.total_in() - start) as usize;
        match compressor.compress_vec(&body[read..], out, FlushCompress::Finish).map_err(failed)? {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError => {}
        }
    }
    compressor.reset();
    Ok(())
}

/// Where an object went in a pack, as its index records it.
struct Packed {
    id: Oid,
    /// CRC-32 of the object's bytes in the pack (header and deflated body).
    crc: u32,
    offset: u64,
}

/// `<header> <name> <<email>> <seconds> <+hhmm>` and a newline, as libgit2's
/// `git_signature__writebuf` writes it.
fn write_signature(out: &mut Vec<u8>, header: &str, signature: &Signature<'_>) {
    let when = signature.when();
    let offset = when.offset_minutes();
    let sign = if offset < 0 || when.sign() == '-' { '-' } else { '+' };
    let offset = offset.abs();
    out.extend_from_slice(header.as_bytes());
    out.push(b' ');
    out.extend_from_slice(signature.name_bytes());
    out.extend_from_slice(b" <");
    out.extend_from_slice(signature.email_bytes());
    writeln!(out, "> {} {sign}{:02}{:02}", when.seconds() as u32, offset / 60, offset % 60).expect("writing to memory");
}

/// A version-2 pack index: magic and version, the fan-out table, sorted ids,
/// their CRC-32s, their offsets (those past 2^31 through the large-offset
/// table), the pack's trailer, and the index's own SHA-1.
fn index_bytes(mut index: Vec<Packed>, pack_trailer: &[u8]) -> Vec<u8> {
    index.sort_by_key(|packed| packed.id);
    let mut idx = Vec::with_capacity(8 + 256 * 4 + index.len() * 28 + 40);
    idx.extend_from_slice(&[0xff, b't', b'O', b'c', 0, 0, 0, 2]);
    let mut fanout = [0u32; 256];
    for Packed { id, .. } in &index {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut running = 0;
    for count in fanout {
        running += count;
        idx.extend_from_slice(&running.to_be_bytes());
    }
    for Packed { id, .. } in &index {
        idx.extend_from_slice(id.as_bytes());
    }
    for Packed { crc, .. } in &index {
        idx.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for Packed { offset, .. } in &index {
        let small = match u32::try_from(*offset) {
            Ok(small) if small < 0x8000_0000 => small,
            _ => {
                large.push(*offset);
                0x8000_0000 | (large.len() - 1) as u32
            }
        };
        idx.extend_from_slice(&small.to_be_bytes());
    }
    for offset in large {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(pack_trailer);
    let own = Sha1::digest(&idx);
    idx.extend_from_slice(&own);
    idx
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to a new read-only `tmp_orc_<what>_*` file in `dir`.
/// Writes `bytes` to a new file in `dir`; returns its path and the file,
/// still open so it is fsynced without opening it again.
fn write_temporary(dir: &Path, what: &str, bytes: &[u8]) -> Result<(PathBuf, fs::File)> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| Error::new(Kind::Internal, format!("no randomness: {e}")))?;
    let path = dir.join(format!("tmp_orc_{what}_{}_{}", std::process::id(), hex(&random)));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)
        .and_then(|mut file| file.write_all(bytes).map(|()| file));
    match written {
        Ok(file) => Ok((path, file)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(Error::io(&format!("cannot write {}", path.display()), &e))
        }
    }
}

pub(super) fn pack_paths(pack_dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (pack_dir.join(format!("pack-{name}.pack")), pack_dir.join(format!("pack-{name}.idx")))
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

#[cfg(test)]
mod tests {
    use super::*;
    use git2::{Repository, Time};
    use std::process::Command;

    fn repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        (dir, repo)
    }

    fn item(name: &str, mode: i32, id: Oid) -> TreeItem {
        TreeItem { name: name.as_bytes().to_vec(), mode, id }
    }

    /// What libgit2's tree builder writes for the same entries.
    fn libgit2_tree(repo: &Repository, entries: &[(&str, i32, Oid)]) -> Oid {
        let mut builder = repo.treebuilder(None).unwrap();
        for (name, mode, id) in entries {
            builder.insert(name, *id, *mode).unwrap();
        }
        builder.write().unwrap()
    }

    #[test]
    fn blobs_get_the_ids_libgit2_gives_them() {
        // Sizes around SHA-1's 64-byte blocks and its 55-byte padding edge.
        for size in [0, 1, 45, 46, 55, 56, 63, 64, 65, 119, 120, 4096, 100_003] {
            let body: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let mut objects = NewObjects::default();
            assert_eq!(
                objects.blob(&body).unwrap(),
                Oid::hash_object(ObjectType::Blob, &body).unwrap(),
                "{size} bytes"
            );
        }
    }

    #[test]
    fn trees_get_the_ids_libgit2_gives_them() {
        let (_dir, repo) = repo();
        let blob = repo.blob(b"x\n").unwrap();
        let other = repo.blob(b"y\n").unwrap();
        let sub = libgit2_tree(&repo, &[("inner", MODE_BLOB, blob)]);
        // Folder names sort as if they ended in '/', so "a" the folder comes
        // after "a.b" and "a-" but before "a0"; an executable and a link keep
        // their modes.
        let entries = [
            ("a0", MODE_BLOB, blob),
            ("a", MODE_TREE, sub),
            ("a.b", MODE_BLOB, other),
            ("a-", MODE_TREE, sub),
            ("b", 0o100_755, blob),
            ("link", 0o120_000, other),
            ("Z", MODE_BLOB, blob),
        ];
        let mut objects = NewObjects::default();
        let ours = objects.tree(entries.iter().map(|(n, m, id)| item(n, *m, *id)).collect()).unwrap();
        assert_eq!(ours, libgit2_tree(&repo, &entries));
        let empty = objects.tree(Vec::new()).unwrap();
        assert_eq!(empty, repo.treebuilder(None).unwrap().write().unwrap());
    }

    #[test]
    fn commits_get_the_ids_libgit2_gives_them() {
        let (_dir, repo) = repo();
        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree_object = repo.find_tree(tree).unwrap();
        let mut parents = Vec::new();
        for (seconds, offset, message) in [
            (1_767_225_600, 0, "orc: root\n"),
            (1_796_091_295, 60, "orc: claim t-1\n\nOrc-Op: 01ABC\n"),
            (1_796_091_296, -150, "no newline at the end"),
            (1_796_091_297, -1, "a minute west\n"),
        ] {
            let signature =
                Signature::new("Bench Person", "bench@example.invalid", &Time::new(seconds, offset)).unwrap();
            let parent_objects: Vec<git2::Commit<'_>> = parents.iter().map(|p| repo.find_commit(*p).unwrap()).collect();
            let parent_refs: Vec<&git2::Commit<'_>> = parent_objects.iter().collect();
            let expected = repo.commit(None, &signature, &signature, message, &tree_object, &parent_refs).unwrap();
            let ours = NewObjects::default().commit(tree, &parents, &signature, message).unwrap();
            assert_eq!(ours, expected, "commit {message:?} at offset {offset}");
            // Two parents from the second commit on: a merge is written too.
            parents = vec![expected];
            if let Some(first) = parent_objects.first() {
                parents.push(first.id());
            }
        }
    }

    #[test]
    fn a_written_pack_is_read_by_git_and_libgit2_alike() {
        let (dir, _repo) = repo();
        let mut objects = NewObjects::default();
        // A blob past 64 KiB needs a size of several bytes in its header,
        // and an empty one a single byte.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let small = objects.blob(b"task\n").unwrap();
        let large = objects.blob(&big).unwrap();
        let empty = objects.blob(b"").unwrap();
        assert_eq!(objects.blob(b"task\n").unwrap(), small, "the same object twice is kept once");
        let tree = objects
            .tree(vec![item("big", MODE_BLOB, large), item("empty", MODE_BLOB, empty), item("small", MODE_BLOB, small)])
            .unwrap();
        let signature = Signature::new("orc", "orc@localhost", &Time::new(1_767_225_600, 0)).unwrap();
        let commit = objects.commit(tree, &[], &signature, "orc: root\n").unwrap();
        let pack_dir = dir.path().join("objects").join("pack");
        let (name, count) = objects.write_pack(&pack_dir).unwrap().expect("objects to write");
        assert_eq!(count, 5);
        let (pack, idx) = pack_paths(&pack_dir, &name);
        let mut listed = idx_object_ids(&idx).unwrap();
        listed.sort();
        let mut expected = vec![small, large, empty, tree, commit];
        expected.sort();
        assert_eq!(listed, expected);
        let leftovers: Vec<_> = fs::read_dir(&pack_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tmp_"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

        let verify = Command::new("git").arg("verify-pack").arg("-v").arg(&idx).output().unwrap();
        assert!(verify.status.success(), "git verify-pack: {}", String::from_utf8_lossy(&verify.stderr));
        let fsck = Command::new("git").arg("--git-dir").arg(dir.path()).args(["fsck", "--strict"]).output().unwrap();
        assert!(fsck.status.success(), "git fsck: {}", String::from_utf8_lossy(&fsck.stderr));
        let shown = Command::new("git")
            .arg("--git-dir")
            .arg(dir.path())
            .args(["cat-file", "blob", &large.to_string()])
            .output()
            .unwrap();
        assert!(shown.stdout == big, "git reads the large blob back");

        let reopened = Repository::open_bare(dir.path()).unwrap();
        assert_eq!(reopened.find_blob(small).unwrap().content(), b"task\n");
        assert_eq!(reopened.find_commit(commit).unwrap().tree_id(), tree);
        assert!(pack.exists());
    }

    #[test]
    fn adler32_is_rfc_1950s() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Past one reduction: the sums must wrap as zlib's do.
        let long: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 256) as u8).collect();
        let mut reference = (1u64, 0u64);
        for &byte in &long {
            reference.0 = (reference.0 + u64::from(byte)) % 65_521;
            reference.1 = (reference.1 + reference.0) % 65_521;
        }
        assert_eq!(u64::from(adler32(&long)), (reference.1 << 16) | reference.0);
    }

    #[test]
    fn stored_streams_of_any_length_inflate_to_their_bytes() {
        use std::io::Read;
        for size in [0, 1, 65_535, 65_536, 140_000] {
            let body: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let mut stream = Vec::new();
            store(&body, &mut stream);
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(&stream[..]).read_to_end(&mut inflated).unwrap();
            assert_eq!(inflated, body, "{size} bytes");
        }
    }

    #[test]
    fn small_trees_and_commits_are_stored_and_read_back_by_git() {
        let (dir, _repo) = repo();
        let mut objects = NewObjects::default();
        let blob = objects.blob(b"a small blob, deflated all the same\n").unwrap();
        // Each entry here is 40 bytes: 25 of them make a tree just under a
        // kibibyte, 26 one just over.
        let tree_of = |objects: &mut NewObjects, entries: usize| {
            let items = (0..entries).map(|i| item(&format!("t-{i:05}.toml"), MODE_BLOB, blob)).collect();
            objects.tree(items).unwrap()
        };
        let small = tree_of(&mut objects, 25);
        let large = tree_of(&mut objects, 26);
        let signature = Signature::new("orc", "orc@localhost", &Time::new(1_767_225_600, 0)).unwrap();
        let commit = objects.commit(small, &[], &signature, "orc: small\n").unwrap();
        let bodies: Vec<Vec<u8>> = objects.objects.iter().map(|(_, _, body)| body.clone()).collect();
        let size_of = |id: Oid| objects.objects.iter().find(|(_, oid, _)| *oid == id).unwrap().2.len();
        assert!(size_of(small) < STORE_BELOW && size_of(large) >= STORE_BELOW);
        let pack_dir = dir.path().join("objects").join("pack");
        let (name, _) = objects.write_pack(&pack_dir).unwrap().expect("objects to write");
        let (pack, idx) = pack_paths(&pack_dir, &name);
        let bytes = fs::read(&pack).unwrap();
        let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(holds(&bodies[1]) && holds(&bodies[3]), "the small tree and the commit are stored as they are");
        assert!(!holds(&bodies[0]) && !holds(&bodies[2]), "the blob and the large tree are deflated");
        let verify = Command::new("git").arg("verify-pack").arg(&idx).output().unwrap();
        assert!(verify.status.success(), "git verify-pack: {}", String::from_utf8_lossy(&verify.stderr));
        let fsck = Command::new("git").arg("--git-dir").arg(dir.path()).args(["fsck", "--strict"]).output().unwrap();
        assert!(fsck.status.success(), "git fsck: {}", String::from_utf8_lossy(&fsck.stderr));
        let reopened = Repository::open_bare(dir.path()).unwrap();
        assert_eq!(reopened.find_tree(small).unwrap().len(), 25);
        assert_eq!(reopened.find_tree(large).unwrap().len(), 26);
        assert_eq!(reopened.find_commit(commit).unwrap().tree_id(), small);
    }

    #[test]
    fn nothing_to_write_writes_no_pack() {
        let dir = tempfile::tempdir().unwrap();
        assert!(NewObjects::default().write_pack(dir.path()).unwrap().is_none());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn offsets_past_two_gibibytes_go_through_the_large_offset_table() {
        let ids: Vec<Oid> = (0u8..3).map(|i| Oid::from_bytes(&[i; 20]).unwrap()).collect();
        let index = vec![
            Packed { id: ids[0], crc: 7, offset: 12 },
            Packed { id: ids[1], crc: 8, offset: 0x8000_0000 },
            Packed { id: ids[2], crc: 9, offset: 0x1_0000_0000 },
        ];
        let idx = index_bytes(index, &[0xaa; 20]);
        let offsets_at = 8 + 256 * 4 + 3 * 20 + 3 * 4;
        let word = |at: usize| u32::from_be_bytes(idx[at..at + 4].try_into().unwrap());
        assert_eq!(word(offsets_at), 12);
        assert_eq!(word(offsets_at + 4), 0x8000_0000, "first large offset");
        assert_eq!(word(offsets_at + 8), 0x8000_0001, "second large offset");
        let large_at = offsets_at + 12;
        let quad = |at: usize| u64::from_be_bytes(idx[at..at + 8].try_into().unwrap());
        assert_eq!(quad(large_at), 0x8000_0000);
        assert_eq!(quad(large_at + 8), 0x1_0000_0000);
        assert_eq!(&idx[large_at + 16..large_at + 36], &[0xaa; 20]);
        assert_eq!(idx.len(), large_at + 16 + 40);
        assert_eq!(&idx[idx.len() - 20..], Sha1::digest(&idx[..idx.len() - 20]).as_slice());
    }
}
