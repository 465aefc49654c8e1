//! The head slot file, `DATA/ledger/head.slots`: the signed head of every
//! group commit, written in place, by Tollgate before the segment files
//! (`segments`) took the head into each commit's frame. No longer written;
//! read where it exists, as one more signed record the ledger must match.
//!
//! The file is created whole, once, preallocated to its final size
//! (temporary file, fsync, rename, fsync of the directory), and is never
//! grown, renamed or truncated afterwards: a write in place into blocks the
//! file already owns changes no metadata that `fdatasync` must journal. Two
//! fixed-size slots are used in turn, so that a write interrupted by a crash
//! can only tear the slot being written, never the one holding the previous
//! head. Layout (docs/ledger.md restates it), all integers big-endian:
//!
//! | offset | bytes | field |
//! |---:|---:|---|
//! | 0 | 4096 | header: ASCII `tollgate-ledger-head-slots` and 0x0a (27 bytes), a zero byte, version (u32, 1), slot size (u32, 4096), slot count (u32, 2), zeros |
//! | 4096 | 4096 | slot 0 |
//! | 8192 | 4096 | slot 1 |
//!
//! A slot: the 118-byte signed checkpoint message (`checkpoint.rs`), the
//! 64-byte Ed25519 signature, the number `k` of frontier nodes (one byte,
//! at most 64), the `k` nodes (32 bytes each, unsigned, trusted only if they
//! hash to the signed root), zeros, and in its last 32 bytes the SHA-256 of
//! the slot's first 4064 bytes. A slot of zeros was never written; one whose
//! checksum fails was torn by a crash while being written, and is ignored;
//! one whose checksum holds but whose signature does not verify was put
//! there, and is a finding.
//!
//! The reading rule: the head is the valid slot with the larger size (and of
//! equal sizes, the later time). The writer writes next into the other one.

use std::fs;
#[cfg(test)]
use std::fs::{File, OpenOptions};
#[cfg(test)]
use std::io::Write;
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tollgate_domain::Timestamp;

use crate::LedgerError;
use crate::checkpoint::{CHECKPOINT_MAGIC, CHECKPOINT_MESSAGE_LEN, Checkpoint};
#[cfg(test)]
use crate::files::sync_dir;
use crate::key::KEY_ID_LEN;
use crate::merkle::{Frontier, Hash};

/// The first bytes of the file.
pub const SLOTS_MAGIC: &[u8; 27] = b"tollgate-ledger-head-slots\n";
/// The format's version, in the header.
pub const SLOTS_VERSION: u32 = 1;
/// The size of the header and of each slot: a page, so that a slot's write
/// touches one page and the two slots never share one.
pub const SLOT_SIZE: usize = 4096;
/// Slots used in turn.
pub const SLOT_COUNT: usize = 2;
/// The file's size, fixed at creation.
pub const SLOTS_FILE_LEN: usize = SLOT_SIZE * (1 + SLOT_COUNT);

/// Where in a slot its checksum starts.
const CHECKSUM_AT: usize = SLOT_SIZE - 32;
/// Where the signature, the frontier count and the nodes start.
const SIGNATURE_AT: usize = CHECKPOINT_MESSAGE_LEN;
const COUNT_AT: usize = SIGNATURE_AT + 64;
const NODES_AT: usize = COUNT_AT + 1;
/// A frontier has one node per set bit of the size.
const MAX_NODES: usize = 64;

/// What one slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Zeros: never written.
    Empty,
    /// The checksum fails: a write interrupted by a crash.
    Torn,
    /// The checksum holds but the content is not a checkpoint.
    Malformed(String),
    /// A checkpoint (its signature not yet checked) and its frontier, if usable.
    Record(Checkpoint, Option<Frontier>),
}

/// The header's bytes.
fn header() -> [u8; SLOT_SIZE] {
    let mut h = [0u8; SLOT_SIZE];
    h[..SLOTS_MAGIC.len()].copy_from_slice(SLOTS_MAGIC);
    h[28..32].copy_from_slice(&SLOTS_VERSION.to_be_bytes());
    h[32..36].copy_from_slice(&(SLOT_SIZE as u32).to_be_bytes());
    h[36..40].copy_from_slice(&(SLOT_COUNT as u32).to_be_bytes());
    h
}

/// A slot's bytes for a checkpoint and the frontier at its size (the
/// writer no longer writes slots; tests make legacy files with it).
#[cfg(test)]
pub(crate) fn encode_slot(cp: &Checkpoint, frontier: &Frontier) -> [u8; SLOT_SIZE] {
    let mut s = [0u8; SLOT_SIZE];
    s[..CHECKPOINT_MESSAGE_LEN]
        .copy_from_slice(&Checkpoint::message(cp.size, cp.time, &cp.root, &cp.chain, &cp.key_id));
    s[SIGNATURE_AT..COUNT_AT].copy_from_slice(&cp.signature);
    // A frontier of another size, or too many nodes, is left out: the
    // checkpoint stands without it.
    let nodes = if frontier.size() == cp.size && frontier.nodes().len() <= MAX_NODES { frontier.nodes() } else { &[] };
    s[COUNT_AT] = nodes.len() as u8;
    for (i, node) in nodes.iter().enumerate() {
        s[NODES_AT + 32 * i..NODES_AT + 32 * (i + 1)].copy_from_slice(node);
    }
    let sum: [u8; 32] = Sha256::digest(&s[..CHECKSUM_AT]).into();
    s[CHECKSUM_AT..].copy_from_slice(&sum);
    s
}

/// Reads one slot's bytes.
pub(crate) fn decode_slot(s: &[u8]) -> Slot {
    if s.iter().all(|&b| b == 0) {
        return Slot::Empty;
    }
    if s.len() != SLOT_SIZE || Sha256::digest(&s[..CHECKSUM_AT])[..] != s[CHECKSUM_AT..] {
        return Slot::Torn;
    }
    if &s[..CHECKPOINT_MAGIC.len()] != CHECKPOINT_MAGIC {
        return Slot::Malformed("it does not hold a checkpoint message".into());
    }
    let at = |from: usize, to: usize| &s[from..to];
    let mut i = CHECKPOINT_MAGIC.len();
    let mut take = |n: usize| {
        i += n;
        at(i - n, i)
    };
    let key_id = take(KEY_ID_LEN).try_into().unwrap_or_else(|_| unreachable!("fixed layout"));
    let size = u64::from_be_bytes(take(8).try_into().unwrap_or_else(|_| unreachable!("fixed layout")));
    let time = i64::from_be_bytes(take(8).try_into().unwrap_or_else(|_| unreachable!("fixed layout")));
    let root: Hash = take(32).try_into().unwrap_or_else(|_| unreachable!("fixed layout"));
    let chain: Hash = take(32).try_into().unwrap_or_else(|_| unreachable!("fixed layout"));
    let signature = take(64).try_into().unwrap_or_else(|_| unreachable!("fixed layout"));
    let count = s[COUNT_AT] as usize;
    if count > MAX_NODES {
        return Slot::Malformed(format!("it claims {count} frontier nodes, more than {MAX_NODES}"));
    }
    let cp = Checkpoint { size, time: Timestamp::from_millis(time), root, chain, key_id, signature };
    let nodes: Vec<Hash> = (0..count)
        .map(|n| s[NODES_AT + 32 * n..NODES_AT + 32 * (n + 1)].try_into().unwrap_or_else(|_| unreachable!("fixed")))
        .collect();
    let frontier = Frontier::from_parts(size, nodes).filter(|f| f.root() == cp.root);
    Slot::Record(cp, frontier)
}

/// What reading the slot file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotsFile {
    Missing,
    /// Not a slot file of this format, and why (no crash leaves that: the
    /// file is created whole).
    NotSlots(String),
    /// Boxed: two slots are large, and the enum is sized by its largest variant.
    Slots(Box<[Slot; SLOT_COUNT]>),
}

/// Reads the slot file.
pub(crate) fn read_slots(path: &Path) -> Result<SlotsFile, LedgerError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SlotsFile::Missing),
        Err(e) => return Err(LedgerError::Io(format!("reading {}: {e}", path.display()))),
    };
    if bytes.len() != SLOTS_FILE_LEN {
        return Ok(SlotsFile::NotSlots(format!("it is {} bytes long, not {SLOTS_FILE_LEN}", bytes.len())));
    }
    if bytes[..SLOT_SIZE] != header() {
        return Ok(SlotsFile::NotSlots(format!(
            "its header is not that of version {SLOTS_VERSION} (`tollgate-ledger-head-slots`, two slots of {SLOT_SIZE} bytes)"
        )));
    }
    let slot = |i: usize| decode_slot(&bytes[SLOT_SIZE * (1 + i)..SLOT_SIZE * (2 + i)]);
    Ok(SlotsFile::Slots(Box::new([slot(0), slot(1)])))
}

/// The writer's handle on the slot file.
#[derive(Debug)]
#[cfg(test)]
pub(crate) struct HeadSlots {
    file: File,
    path: PathBuf,
    /// The slot written next: never the one holding the newest valid head.
    next: usize,
}

#[cfg(test)]
impl HeadSlots {
    /// Opens the slot file, whose newest valid slot (as `load_signed` found
    /// it) is `newest`, for writing into the other slot next.
    pub fn open(path: &Path, newest: Option<usize>) -> Result<HeadSlots, LedgerError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| LedgerError::Io(format!("opening {}: {e}", path.display())))?;
        Ok(HeadSlots { file, path: path.to_owned(), next: newest.map_or(0, |n| 1 - n) })
    }

    /// Creates the slot file whole, preallocated, with `cp` in slot 0
    /// (replacing one that is not a slot file of this format), and opens it.
    ///
    /// INVARIANT (slot-file-whole): the file appears by rename, with its
    /// final size and a valid slot, so it exists only whole and holding a head.
    pub fn create(path: &Path, cp: &Checkpoint, frontier: &Frontier) -> Result<HeadSlots, LedgerError> {
        let io = |what: &str, e: std::io::Error| LedgerError::Io(format!("{what} {}: {e}", path.display()));
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut bytes = Vec::with_capacity(SLOTS_FILE_LEN);
        bytes.extend_from_slice(&header());
        bytes.extend_from_slice(&encode_slot(cp, frontier));
        bytes.resize(SLOTS_FILE_LEN, 0);
        let result = (|| {
            let mut file = File::create(&temp).map_err(|e| io("creating a temporary file for", e))?;
            file.write_all(&bytes).map_err(|e| io("writing", e))?;
            file.sync_all().map_err(|e| io("syncing", e))?;
            fs::rename(&temp, path).map_err(|e| io("renaming into", e))?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result?;
        HeadSlots::open(path, Some(0))
    }

    /// Writes `cp` into the next slot in place and syncs its data: one
    /// `pwrite`, one `fdatasync`. The slot used next changes only once the
    /// write is durable, so a failed write is retried into the same slot and
    /// the newest valid head is never overwritten.
    pub fn write(&mut self, cp: &Checkpoint, frontier: &Frontier) -> Result<(), LedgerError> {
        let slot = encode_slot(cp, frontier);
        let offset = (SLOT_SIZE * (1 + self.next)) as u64;
        write_at(&self.file, &slot, offset)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| LedgerError::Io(format!("writing slot {} of {}: {e}", self.next, self.path.display())))?;
        self.next = 1 - self.next;
        Ok(())
    }
}

#[cfg(unix)]
#[cfg(test)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(not(unix))]
#[cfg(test)]
fn write_at(mut file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::LedgerKey;

    fn checkpoint(key: &LedgerKey, n: u64) -> (Checkpoint, Frontier) {
        let mut f = Frontier::new();
        for i in 0..n {
            f.push_leaf(crate::merkle::leaf_hash(&i.to_be_bytes()));
        }
        (Checkpoint::sign(key, n, Timestamp::from_millis(1_750_000_000_000 + n as i64), f.root(), [7; 32]), f)
    }

    fn slots(path: &Path) -> [Slot; SLOT_COUNT] {
        match read_slots(path).unwrap() {
            SlotsFile::Slots(slots) => *slots,
            other => panic!("{other:?}"),
        }
    }

    fn not_slots(path: &Path) -> String {
        match read_slots(path).unwrap() {
            SlotsFile::NotSlots(why) => why,
            other => panic!("{other:?}"),
        }
    }

    fn records(path: &Path) -> Vec<Option<u64>> {
        let slots = slots(path);
        slots.iter().map(|s| if let Slot::Record(cp, _) = s { Some(cp.size) } else { None }).collect()
    }

    #[test]
    fn slots_are_used_in_turn_in_a_file_of_fixed_size_and_a_torn_slot_is_recognised() {
        let dir = std::env::temp_dir().join(format!("tollgate-ledger-slots-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("head.slots");
        let key = LedgerKey::from_seed([3; 32]);
        let (cp, f) = checkpoint(&key, 5);
        let mut head = HeadSlots::create(&path, &cp, &f).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), SLOTS_FILE_LEN as u64);
        assert_eq!(records(&path), [Some(5), None]);
        assert_eq!(slots(&path)[1], Slot::Empty);
        for (n, expected) in [(6, [Some(5), Some(6)]), (7, [Some(7), Some(6)]), (8, [Some(7), Some(8)])] {
            let (cp, f) = checkpoint(&key, n);
            head.write(&cp, &f).unwrap();
            assert_eq!(records(&path), expected);
            assert_eq!(fs::metadata(&path).unwrap().len(), SLOTS_FILE_LEN as u64, "the file never grows");
        }
        let read = slots(&path);
        let Slot::Record(back, Some(frontier)) = &read[1] else { panic!("{:?}", read[1]) };
        assert_eq!(back, &checkpoint(&key, 8).0);
        assert_eq!(frontier, &checkpoint(&key, 8).1, "the frontier comes back");

        // A write cut short: part new bytes, the rest the old slot's.
        let mut bytes = fs::read(&path).unwrap();
        let new = encode_slot(&checkpoint(&key, 9).0, &checkpoint(&key, 9).1);
        bytes[SLOT_SIZE..SLOT_SIZE + 100].copy_from_slice(&new[..100]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(slots(&path)[0], Slot::Torn);
        assert_eq!(records(&path), [None, Some(8)]);

        // The header names the format: anything else is not a slot file.
        bytes[30] = 9;
        fs::write(&path, &bytes).unwrap();
        assert!(not_slots(&path).contains("header"));
        fs::write(&path, &bytes[..SLOT_SIZE * 2]).unwrap();
        assert!(not_slots(&path).contains("bytes long"));
        fs::remove_file(&path).unwrap();
        assert_eq!(read_slots(&path).unwrap(), SlotsFile::Missing);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_writer_never_overwrites_the_newest_valid_slot() {
        let dir = std::env::temp_dir().join(format!("tollgate-ledger-slots-next-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("head.slots");
        let key = LedgerKey::from_seed([4; 32]);
        let (cp, f) = checkpoint(&key, 1);
        drop(HeadSlots::create(&path, &cp, &f).unwrap());
        // Reopened with slot 0 the newest: the next write goes to slot 1.
        let (cp, f) = checkpoint(&key, 2);
        HeadSlots::open(&path, Some(0)).unwrap().write(&cp, &f).unwrap();
        assert_eq!(records(&path), [Some(1), Some(2)]);
        let (cp, f) = checkpoint(&key, 3);
        HeadSlots::open(&path, Some(1)).unwrap().write(&cp, &f).unwrap();
        assert_eq!(records(&path), [Some(3), Some(2)]);
        let _ = fs::remove_dir_all(&dir);
    }
}
