//! The segment files, `DATA/ledger/segments/NNNNNNNNNNNNNNNNNNNN.seg`: the
//! ledger's durable record. Every group commit appends one frame, holding
//! the commit's entries and the head signed over them, in one `write`, and
//! one `fdatasync` makes it durable before any of its responses is released.
//! The store's copy of the entries (`LedgerDb::ledger_append`, which the audit
//! questions, proofs and retention read) is written beside it and need not
//! be synced: after a crash the writer copies what the store lacks from here.
//!
//! Files are named by the seq of their first entry, twenty digits, and a
//! file takes no more commits once it holds `FILE_ENTRIES` entries, so that
//! retention removes whole files. Layout (docs/ledger.md restates it), all
//! integers big-endian:
//!
//! | bytes | field |
//! |---:|---|
//! | 24 | ASCII `tollgate-ledger-segment` and 0x0a |
//! | 4 | version (u32, 1) |
//! | 4 | zeros |
//!
//! then frames, each:
//!
//! | bytes | field |
//! |---:|---|
//! | 4 | the frame's length `L`, every field included |
//! | 1 | flags: 1 if the frame ends with a signed head, else 0 |
//! | 8 | the seq of its first entry |
//! | 4 | its number of entries `n` |
//! | n × (4 + len) | each entry: its body's length, then the body (the bytes hashed as the leaf) |
//! | 182 | if flagged: the signed head, the 118-byte checkpoint message (`checkpoint.rs`) and its 64-byte signature, of size `first + n` |
//! | 32 | SHA-256 of the frame's first `L - 32` bytes |
//!
//! The reading rule: a frame that runs past the end of the last file, or
//! whose checksum fails and that ends the last file, is a write interrupted
//! by a crash (its responses were never released) and is ignored; the next
//! writer cuts it off. A damaged frame anywhere else is an alteration.
//! Frames without a head are written only when a ledger kept in the store
//! alone (before segment files existed) is copied into them, and a frame
//! with a head closes the copy.
//!
//! The store's copy of an entry written here keeps the body's place (its
//! file and the offset of its length field, `BodyPlace`) instead of its
//! bytes, and its readers take the bytes from here (`read_placed`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::LedgerError;
use crate::checkpoint::{CHECKPOINT_RECORD_LEN, Checkpoint};
use crate::db::{BodyPlace, LedgerRow};
use crate::files::sync_dir;
use crate::prune::SEGMENT_SIZE;

/// The directory of the segment files inside `DATA/ledger`.
pub const SEGMENTS_DIR: &str = "segments";
/// The first bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 24] = b"tollgate-ledger-segment\n";
/// The format's version, in the header.
pub const SEGMENT_VERSION: u32 = 1;
/// The header's length.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// A file takes no more commits once it holds this many entries (retention's
/// segment: whole files are removed).
pub const FILE_ENTRIES: u64 = SEGMENT_SIZE;
/// The size a segment file is created at (zeros), before frames fill it:
/// the first file of a ledger gets the least, and each next one twice its
/// predecessor's, up to the most, so that a small ledger stays small.
pub const SEGMENT_CAPACITY: std::ops::RangeInclusive<u64> = (1 << 20)..=(64 << 20);
/// The most entries one frame written by a copy holds.
pub(crate) const COPY_FRAME: usize = 4096;

/// The flag of a frame that ends with a signed head.
const HAS_HEAD: u8 = 1;
/// Length, flags, first seq, count.
const FRAME_FIXED: usize = 4 + 1 + 8 + 4;
const CHECKSUM_LEN: usize = 32;
/// No frame is larger: a length field beyond it is damage, not a frame.
const MAX_FRAME: u64 = 1 << 31;

/// The name of the file whose first entry is `first`.
pub(crate) fn file_name(first: u64) -> String {
    format!("{first:020}.seg")
}

fn header() -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..SEGMENT_MAGIC.len()].copy_from_slice(SEGMENT_MAGIC);
    h[24..28].copy_from_slice(&SEGMENT_VERSION.to_be_bytes());
    h
}

/// One frame's bytes.
pub(crate) fn encode_frame<'a>(
    first: u64,
    bodies: impl Iterator<Item = &'a [u8]> + Clone,
    head: Option<&Checkpoint>,
) -> Vec<u8> {
    let count = bodies.clone().count();
    let len = FRAME_FIXED
        + bodies.clone().map(|b| 4 + b.len()).sum::<usize>()
        + head.map_or(0, |_| CHECKPOINT_RECORD_LEN)
        + CHECKSUM_LEN;
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&(len as u32).to_be_bytes());
    f.push(if head.is_some() { HAS_HEAD } else { 0 });
    f.extend_from_slice(&first.to_be_bytes());
    f.extend_from_slice(&(count as u32).to_be_bytes());
    for body in bodies {
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(body);
    }
    if let Some(cp) = head {
        f.extend_from_slice(&cp.to_bytes());
    }
    let sum: [u8; 32] = Sha256::digest(&f).into();
    f.extend_from_slice(&sum);
    debug_assert_eq!(f.len(), len);
    f
}

/// The places of the bodies of a frame written at `offset` of the file
/// starting at entry `file`, in the frame's order.
pub(crate) fn body_places<'a>(
    file: u64,
    offset: u64,
    bodies: impl Iterator<Item = &'a [u8]>,
) -> impl Iterator<Item = BodyPlace> {
    let mut at = offset + FRAME_FIXED as u64;
    bodies.map(move |body| {
        let place = BodyPlace { file, offset: at };
        at += 4 + body.len() as u64;
        place
    })
}

/// One frame as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Where it starts in its file.
    pub offset: u64,
    pub first: u64,
    pub bodies: Vec<Vec<u8>>,
    /// The signed head (its signature not checked here).
    pub head: Option<Checkpoint>,
}

impl Frame {
    /// The seq after its last entry.
    pub fn end(&self) -> u64 {
        self.first + self.bodies.len() as u64
    }
}

/// What reading the next frame of a file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    Frame(Frame),
    /// The end of the file, after a whole frame (or the header).
    End,
    /// A frame that ends the file unfinished: a write interrupted by a crash,
    /// if this is the last file.
    Torn {
        offset: u64,
        why: String,
    },
    /// Not a frame, with more after it.
    Bad {
        offset: u64,
        why: String,
    },
}

/// A segment file found in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub path: PathBuf,
    /// The seq its name gives.
    pub first: u64,
}

/// The segment files in `dir`, by first seq, and the names there that are
/// not segment files. No directory is no files.
pub(crate) fn list(dir: &Path) -> Result<(Vec<SegmentFile>, Vec<PathBuf>), LedgerError> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(LedgerError::Io(format!("reading the directory {}: {e}", dir.display()))),
        Ok(entries) => entries,
    };
    let mut files = Vec::new();
    let mut strays = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LedgerError::Io(format!("reading the directory {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let first = name
            .strip_suffix(".seg")
            .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok());
        match first {
            Some(first) => files.push(SegmentFile { path: entry.path(), first }),
            None if name.starts_with('.') && name.ends_with(".tmp") => {}
            None => strays.push(entry.path()),
        }
    }
    files.sort_by_key(|f| f.first);
    Ok((files, strays))
}

/// Reads the frames of one file in order.
pub(crate) struct FrameReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
    len: u64,
}

impl FrameReader {
    /// Opens a file and checks its header: `Ok(Err(why))` if it is not a
    /// segment file of this format.
    pub fn open(path: &Path) -> Result<Result<FrameReader, String>, LedgerError> {
        let io = |e: std::io::Error| LedgerError::Io(format!("reading {}: {e}", path.display()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        if len < SEGMENT_HEADER_LEN as u64 {
            return Ok(Err(format!("it is {len} bytes long, shorter than the {SEGMENT_HEADER_LEN}-byte header")));
        }
        reader.read_exact(&mut h).map_err(io)?;
        if h != header() {
            return Ok(Err(format!("its header is not that of version {SEGMENT_VERSION} (`tollgate-ledger-segment`)")));
        }
        Ok(Ok(FrameReader { path: path.to_owned(), reader, offset: SEGMENT_HEADER_LEN as u64, len }))
    }

    /// Where the next frame starts: after the last whole frame read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn next_frame(&mut self) -> Result<Next, LedgerError> {
        let offset = self.offset;
        let left = self.len - offset;
        if left == 0 {
            return Ok(Next::End);
        }
        if left < 4 {
            return self.end_or_torn(offset, format!("{left} bytes, too few for a frame"));
        }
        let mut len = [0u8; 4];
        self.read(&mut len)?;
        let len = u64::from(u32::from_be_bytes(len));
        if len == 0 {
            // The zeros a file is created with, after its last frame.
            return self.end_or_torn(offset, "bytes after the last frame that are not a frame".into());
        }
        if len > left {
            return Ok(Next::Torn { offset, why: format!("a frame of {len} bytes where {left} are left") });
        }
        if len < (FRAME_FIXED + CHECKSUM_LEN) as u64 || len > MAX_FRAME {
            return Ok(Next::Bad { offset, why: format!("a frame length of {len} bytes") });
        }
        let mut f = vec![0u8; len as usize];
        f[..4].copy_from_slice(&(len as u32).to_be_bytes());
        self.read(&mut f[4..])?;
        let body_end = f.len() - CHECKSUM_LEN;
        if Sha256::digest(&f[..body_end])[..] != f[body_end..] {
            let why = "its checksum does not match its bytes".to_string();
            // Only the last frame written (nothing but zeros after it) can
            // be torn.
            let last = self.zeros_after(offset + len)?;
            return Ok(if last { Next::Torn { offset, why } } else { Next::Bad { offset, why } });
        }
        self.offset += len;
        match parse_frame(offset, &f[..body_end]) {
            Ok(frame) => Ok(Next::Frame(frame)),
            Err(why) => Ok(Next::Bad { offset, why }),
        }
    }

    /// The end of the frames at `offset` if only zeros follow, else what an
    /// interrupted write left there.
    fn end_or_torn(&self, offset: u64, why: String) -> Result<Next, LedgerError> {
        Ok(if self.zeros_after(offset)? { Next::End } else { Next::Torn { offset, why } })
    }

    fn zeros_after(&self, from: u64) -> Result<bool, LedgerError> {
        zeros_from(self.reader.get_ref(), from, self.len)
            .map_err(|e| LedgerError::Io(format!("reading {}: {e}", self.path.display())))
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), LedgerError> {
        self.reader.read_exact(buf).map_err(|e| LedgerError::Io(format!("reading {}: {e}", self.path.display())))
    }
}

/// A frame's fields, its checksum already checked.
fn parse_frame(offset: u64, f: &[u8]) -> Result<Frame, String> {
    let flags = f[4];
    if flags & !HAS_HEAD != 0 {
        return Err(format!("unknown flags {flags:#04x}"));
    }
    let first = u64::from_be_bytes(f[5..13].try_into().unwrap_or_else(|_| unreachable!("fixed layout")));
    let count = u32::from_be_bytes(f[13..17].try_into().unwrap_or_else(|_| unreachable!("fixed layout")));
    let head_len = if flags & HAS_HEAD != 0 { CHECKPOINT_RECORD_LEN } else { 0 };
    let entries_end = f.len().checked_sub(head_len).filter(|&e| e >= FRAME_FIXED).ok_or("too short for its head")?;
    let mut at = FRAME_FIXED;
    let mut bodies = Vec::with_capacity((count as usize).min(1 << 16));
    for i in 0..count {
        let len = f
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap_or_else(|_| unreachable!("four bytes"))) as usize)
            .ok_or_else(|| format!("entry {i} of {count} runs past the frame"))?;
        at += 4;
        let body = f.get(at..at + len).filter(|_| at + len <= entries_end);
        let body = body.ok_or_else(|| format!("entry {i} of {count} runs past the frame"))?;
        bodies.push(body.to_vec());
        at += len;
    }
    if at != entries_end {
        return Err(format!("{} bytes after its {count} entries", entries_end - at));
    }
    let head = (head_len > 0).then(|| Checkpoint::from_bytes(&f[entries_end..])).transpose()?;
    if let Some(cp) = &head
        && cp.size != first + u64::from(count)
    {
        return Err(format!("its head is of size {}, the frame ends at entry {}", cp.size, first + u64::from(count)));
    }
    Ok(Frame { offset, first, bodies, head })
}

/// The end of the segment files, as the writer resumes from it.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub files: Vec<SegmentFile>,
    /// The seq after the last entry.
    pub end: u64,
    /// The length of the last file up to its last whole frame.
    pub keep: u64,
    /// Why the bytes after `keep` are an interrupted write, if there are any.
    pub torn: Option<String>,
    /// The newest signed head (signature not checked).
    pub head: Option<Checkpoint>,
}

/// Reads the last file (and earlier ones, back to the newest signed head)
/// to find where the segments end. `None` if there are no segment files.
/// A damaged frame, or a file that is not a segment file, is an error: the
/// writer must not append after it (`verify` locates it).
pub(crate) fn tail(dir: &Path) -> Result<Option<Tail>, LedgerError> {
    let (files, _) = list(dir)?;
    let Some(last) = files.last() else {
        return Ok(None);
    };
    let mut t = Tail { files: files.clone(), end: last.first, keep: 0, torn: None, head: None };
    for (i, file) in files.iter().enumerate().rev() {
        let mut reader = FrameReader::open(&file.path)?.map_err(|why| altered(&file.path, 0, &why))?;
        let mut end = file.first;
        let mut head = None;
        loop {
            match reader.next_frame()? {
                Next::Frame(frame) => {
                    if frame.first != end {
                        let why = format!("the frame holds entries from {}, the file is at {end}", frame.first);
                        return Err(altered(&file.path, frame.offset, &why));
                    }
                    end = frame.end();
                    head = frame.head.or(head);
                }
                Next::End => break,
                Next::Torn { offset, why } if i == files.len() - 1 => {
                    t.torn = Some(format!(
                        "{} bytes at offset {offset} of {}: {why}",
                        reader.len - offset,
                        file.path.display()
                    ));
                    break;
                }
                Next::Torn { offset, why } | Next::Bad { offset, why } => {
                    return Err(altered(&file.path, offset, &why));
                }
            }
        }
        if i == files.len() - 1 {
            t.end = end;
            t.keep = reader.offset();
        }
        if head.is_some() {
            t.head = head;
            break;
        }
    }
    Ok(Some(t))
}

fn altered(path: &Path, offset: u64, why: &str) -> LedgerError {
    LedgerError::Altered(format!(
        "{} is damaged at offset {offset}: {why}; run `tollgate ledger verify`",
        path.display()
    ))
}

/// Calls `each(seq, body, place)` for every entry of the segment files from
/// `from` up to `until`, in order. Fails on anything but whole frames that
/// follow each other (an interrupted write at the very end is the end).
pub(crate) fn read_entries(
    files: &[SegmentFile],
    from: u64,
    until: u64,
    mut each: impl FnMut(u64, Vec<u8>, BodyPlace) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    let start = files.iter().rposition(|f| f.first <= from).unwrap_or(0);
    let mut next = files.get(start).map_or(from, |f| f.first);
    for (i, file) in files.iter().enumerate().skip(start) {
        let mut reader = FrameReader::open(&file.path)?.map_err(|why| altered(&file.path, 0, &why))?;
        loop {
            match reader.next_frame()? {
                Next::Frame(frame) => {
                    if frame.first != next {
                        let why = format!("the frame holds entries from {}, expected {next}", frame.first);
                        return Err(altered(&file.path, frame.offset, &why));
                    }
                    let places: Vec<BodyPlace> =
                        body_places(file.first, frame.offset, frame.bodies.iter().map(Vec::as_slice)).collect();
                    for (body, place) in frame.bodies.into_iter().zip(places) {
                        if next >= until {
                            return Ok(());
                        }
                        if next >= from {
                            each(next, body, place)?;
                        }
                        next += 1;
                    }
                }
                Next::End => break,
                Next::Torn { .. } if i == files.len() - 1 => break,
                Next::Torn { offset, why } | Next::Bad { offset, why } => {
                    return Err(altered(&file.path, offset, &why));
                }
            }
        }
    }
    Ok(())
}

/// Places further apart than this in one file are read separately.
const READ_GAP: u64 = 64 << 10;

/// Reads from the segment files in `dir` the bodies of `rows` that the store
/// keeps there (a place and an empty body), those of one file close together
/// in one read. A place that holds no body (its file gone, its length field
/// past the end of the file, or a length that runs past it) leaves the body
/// empty, which nothing accepts: `verify` locates the entry, and decoding
/// refuses it.
pub(crate) fn read_placed(dir: &Path, rows: &mut [LedgerRow]) -> Result<(), LedgerError> {
    let mut wanted: Vec<(BodyPlace, usize)> =
        (rows.iter().enumerate()).filter_map(|(i, r)| r.place.filter(|_| r.body.is_empty()).map(|p| (p, i))).collect();
    wanted.sort_unstable_by_key(|&(p, i)| (p.file, p.offset, i));
    let mut buf = Vec::new();
    for group in wanted.chunk_by(|a, b| a.0.file == b.0.file) {
        let path = dir.join(file_name(group[0].0.file));
        let io = |e: std::io::Error| LedgerError::Io(format!("reading {}: {e}", path.display()));
        let file = match File::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            file => file.map_err(io)?,
        };
        let len = file.metadata().map_err(io)?.len();
        let readable: Vec<(BodyPlace, usize)> =
            group.iter().copied().filter(|(p, _)| p.offset.checked_add(4).is_some_and(|e| e <= len)).collect();
        for run in readable.chunk_by(|a, b| b.0.offset - a.0.offset <= READ_GAP) {
            let (start, last) = (run[0].0.offset, run[run.len() - 1].0.offset);
            // Up to the last length field, then the last body.
            buf.resize((last + 4 - start) as usize, 0);
            read_exact_at(&file, &mut buf, start).map_err(io)?;
            let last_len = u64::from(length_at(&buf, (last - start) as usize).unwrap_or(0));
            let end = (last + 4 + last_len).min(len);
            let have = buf.len();
            buf.resize((end - start) as usize, 0);
            read_exact_at(&file, &mut buf[have..], start + have as u64).map_err(io)?;
            for &(place, i) in run {
                let at = (place.offset - start) as usize;
                let body = length_at(&buf, at).and_then(|n| buf.get(at + 4..at + 4 + n as usize));
                if let Some(body) = body {
                    rows[i].body = body.to_vec();
                }
            }
        }
    }
    Ok(())
}

/// The big-endian length field at `at` of `buf`, if it is there.
fn length_at(buf: &[u8], at: usize) -> Option<u32> {
    buf.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().unwrap_or_else(|_| unreachable!("four bytes"))))
}

/// Where `Appender::write` put a frame.
pub(crate) struct Written {
    /// The file to sync.
    pub file: Arc<File>,
    /// The seq that names the file, and the frame's offset in it (for
    /// `body_places`).
    pub file_first: u64,
    pub offset: u64,
}

/// Appends frames to the last segment file.
///
/// Files are created at their full size, `SEGMENT_CAPACITY` bytes of zeros
/// written and synced ahead of time on a thread of their own, and frames are
/// written into them in place: a sync then flushes data alone, with no change
/// of the file's size for the file system to journal (BENCHMARKS.md, "Segment
/// files written in place"). A full file is cut to its frames when the next
/// one takes over.
pub(crate) struct Appender {
    dir: PathBuf,
    file: Arc<File>,
    /// The seq the current file starts at.
    file_first: u64,
    /// The seq after the last entry written.
    end: u64,
    /// Where the next frame goes in the current file, and the file's size.
    offset: u64,
    capacity: u64,
    /// The next file, being zero-filled.
    next: Option<Preparing>,
}

impl Appender {
    /// Resumes after `tail` (zeroing what an interrupted write left after
    /// its last whole frame), or starts the first file at `end`.
    pub fn open(dir: &Path, tail: Option<&Tail>, end: u64) -> Result<Appender, LedgerError> {
        let mut appender = match tail.and_then(|t| t.files.last().map(|f| (t, f))) {
            Some((t, last)) => {
                let io = |e: std::io::Error| LedgerError::Io(format!("opening {}: {e}", last.path.display()));
                let file = OpenOptions::new().read(true).write(true).open(&last.path).map_err(io)?;
                let capacity = file.metadata().map_err(io)?.len();
                if t.torn.is_some() {
                    zero_fill(&file, t.keep, capacity).map_err(io)?;
                    file.sync_data().map_err(io)?;
                }
                Appender {
                    dir: dir.to_owned(),
                    file: Arc::new(file),
                    file_first: last.first,
                    end: t.end,
                    offset: t.keep,
                    capacity,
                    next: None,
                }
            }
            None => {
                fs::create_dir_all(dir)
                    .map_err(|e| LedgerError::Io(format!("creating the directory {}: {e}", dir.display())))?;
                let capacity = *SEGMENT_CAPACITY.start();
                let file = place(prepare(dir, capacity, Fill::Whole)?, dir, end)?;
                Appender {
                    dir: dir.to_owned(),
                    file: Arc::new(file),
                    file_first: end,
                    end,
                    offset: SEGMENT_HEADER_LEN as u64,
                    capacity,
                    next: None,
                }
            }
        };
        appender.prepare_next();
        Ok(appender)
    }

    /// The seq after the last entry written.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Writes one frame of `count` entries starting at `self.end()`, in a
    /// new file if the current one is full, and returns where it went. Not
    /// durable until that file is synced.
    pub fn write(&mut self, frame: &[u8], count: u64) -> Result<Written, LedgerError> {
        let len = frame.len() as u64;
        let full = self.end - self.file_first >= FILE_ENTRIES && count > 0;
        if full || self.offset + len > self.capacity {
            self.rotate(len)?;
        }
        write_all_at(&self.file, frame, self.offset).map_err(|e| {
            LedgerError::Io(format!("writing into the segment file {}: {e}", file_name(self.file_first)))
        })?;
        let at = self.offset;
        self.offset += len;
        self.end += count;
        Ok(Written { file: self.file.clone(), file_first: self.file_first, offset: at })
    }

    /// Closes the current file, cut to its frames, and moves on to the next
    /// one (large enough for a frame of `len` bytes), named by `self.end`.
    fn rotate(&mut self, len: u64) -> Result<(), LedgerError> {
        let name = file_name(self.file_first);
        let io = |e: std::io::Error| LedgerError::Io(format!("closing the segment file {name}: {e}"));
        self.file.set_len(self.offset).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        let prepared = match self.next.take().map(|next| {
            next.hurry.store(true, Ordering::Relaxed);
            next.thread.join()
        }) {
            Some(Ok(Ok(file))) => file,
            // Not prepared, or the preparation failed: done here instead.
            _ => prepare(&self.dir, self.next_capacity(), Fill::Whole)?,
        };
        let file = place(prepared, &self.dir, self.end)?;
        let io = |e: std::io::Error| LedgerError::Io(format!("sizing a segment file: {e}"));
        let mut capacity = file.metadata().map_err(io)?.len();
        let needed = SEGMENT_HEADER_LEN as u64 + len;
        if needed > capacity {
            file.set_len(needed).map_err(io)?;
            capacity = needed;
        }
        self.file = Arc::new(file);
        self.file_first = self.end;
        self.offset = SEGMENT_HEADER_LEN as u64;
        self.capacity = capacity;
        self.prepare_next();
        Ok(())
    }

    fn prepare_next(&mut self) {
        let dir = self.dir.clone();
        let capacity = self.next_capacity();
        let hurry = Arc::new(AtomicBool::new(false));
        let flag = hurry.clone();
        self.next = std::thread::Builder::new()
            .name("ledger-prepare".into())
            .spawn(move || prepare(&dir, capacity, Fill::Paced(&flag)))
            .ok()
            .map(|thread| Preparing { thread, hurry });
    }

    fn next_capacity(&self) -> u64 {
        (2 * self.capacity).clamp(*SEGMENT_CAPACITY.start(), *SEGMENT_CAPACITY.end())
    }
}

/// The thread preparing the next file, and the flag that tells it to finish
/// without pauses (the writer waits for the file).
struct Preparing {
    thread: std::thread::JoinHandle<Result<File, LedgerError>>,
    hurry: Arc<AtomicBool>,
}

/// The file a segment file is prepared in before it is named.
const PREPARED: &str = ".next.seg.tmp";

/// How `prepare` writes a file's zeros.
enum Fill<'a> {
    /// At once: for a file needed now.
    Whole,
    /// Ahead of need, on a thread of its own: `FILL_CHUNK` at a time, each
    /// synced, then a pause as long as the chunk took. Written at once, the
    /// zeros of a file of 64 MiB went to the disk in one flush, beside the
    /// syncs of the current file that every response waits for, which then
    /// took 20 to 40 ms, several times in the second after each new file
    /// (BENCHMARKS.md, "The next segment file's zeros, paced"); paced, the
    /// disk takes the current file's syncs between chunks. Once the flag is
    /// set (the writer waits for the file), the rest is written at once.
    Paced(&'a AtomicBool),
}

/// The zeros `Fill::Paced` writes and syncs at a time.
const FILL_CHUNK: u64 = 4 << 20;

/// A file of `capacity` zeros, synced, under a temporary name in `dir`.
fn prepare(dir: &Path, capacity: u64, fill: Fill<'_>) -> Result<File, LedgerError> {
    let path = dir.join(PREPARED);
    let io = |e: std::io::Error| LedgerError::Io(format!("preparing {}: {e}", path.display()));
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).map_err(io)?;
    let at_once = || match fill {
        Fill::Whole => true,
        Fill::Paced(hurry) => hurry.load(Ordering::Relaxed),
    };
    let mut at = 0;
    while at < capacity {
        let started = std::time::Instant::now();
        let to = if at_once() { capacity } else { (at + FILL_CHUNK).min(capacity) };
        zero_fill(&file, at, to).map_err(io)?;
        at = to;
        if at < capacity {
            file.sync_data().map_err(io)?;
            std::thread::sleep(started.elapsed());
        }
    }
    file.sync_all().map_err(io)?;
    Ok(file)
}

/// Names a prepared file as the segment file starting at `first`, with its
/// header, the name synced in the directory.
fn place(file: File, dir: &Path, first: u64) -> Result<File, LedgerError> {
    let path = dir.join(file_name(first));
    let io = |e: std::io::Error| LedgerError::Io(format!("creating {}: {e}", path.display()));
    write_all_at(&file, &header(), 0).map_err(io)?;
    file.sync_data().map_err(io)?;
    if path.exists() {
        return Err(LedgerError::Io(format!("{} exists already", path.display())));
    }
    fs::rename(dir.join(PREPARED), &path).map_err(io)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Writes zeros over `from..to` of `file`.
fn zero_fill(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        write_all_at(file, &zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

/// Whether `file` holds only zeros from `from` to `len`.
fn zeros_from(file: &File, from: u64, len: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        read_exact_at(file, &mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Removes the files whose entries all lie below `cut` (retention sealed
/// them), oldest first; the last file always stays. Returns how many.
pub(crate) fn remove_before(dir: &Path, cut: u64) -> Result<usize, LedgerError> {
    let (files, _) = list(dir)?;
    let mut removed = 0;
    for pair in files.windows(2) {
        if pair[1].first > cut {
            break;
        }
        fs::remove_file(&pair[0].path)
            .map_err(|e| LedgerError::Io(format!("removing {}: {e}", pair[0].path.display())))?;
        removed += 1;
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Reads the frame at `offset` of `path` again (for reports).
#[cfg(test)]
pub(crate) fn frame_at(path: &Path, offset: u64) -> Result<Next, LedgerError> {
    use std::io::{Seek, SeekFrom};
    let mut reader = FrameReader::open(path)?.map_err(LedgerError::Invalid)?;
    reader.reader.seek(SeekFrom::Start(offset)).map_err(|e| LedgerError::Io(e.to_string()))?;
    reader.offset = offset;
    reader.next_frame()
}

#[cfg(test)]
mod tests {
    use tollgate_domain::Timestamp;

    use super::*;
    use crate::key::LedgerKey;

    fn head(n: u64) -> Checkpoint {
        Checkpoint::sign(&LedgerKey::from_seed([3; 32]), n, Timestamp::from_millis(7), [1; 32], [2; 32])
    }

    /// A fresh directory, removed at the end of the test.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("tollgate-segments-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn frames(path: &Path) -> Vec<Next> {
        let mut r = FrameReader::open(path).unwrap().unwrap();
        let mut out = Vec::new();
        loop {
            let n = r.next_frame().unwrap();
            let stop = !matches!(n, Next::Frame(_));
            out.push(n);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn frames_round_trip_and_a_torn_end_is_told_from_damage_inside() {
        let dir = Scratch::new("frames");
        let mut a = Appender::open(dir.path(), None, 0).unwrap();
        let bodies: Vec<&[u8]> = vec![b"one", b"two"];
        a.write(&encode_frame(0, bodies.iter().copied(), Some(&head(2))), 2).unwrap();
        a.write(&encode_frame(2, [&b"three"[..]].into_iter(), None), 1).unwrap();
        let path = dir.path().join(file_name(0));
        let read = frames(&path);
        assert!(
            matches!(&read[0], Next::Frame(f) if f.bodies == [b"one".to_vec(), b"two".to_vec()] && f.head.as_ref().map(|h| h.size) == Some(2))
        );
        assert!(matches!(&read[1], Next::Frame(f) if f.first == 2 && f.head.is_none()));
        assert_eq!(read[2], Next::End);
        let t = tail(dir.path()).unwrap().unwrap();
        assert_eq!((t.end, t.torn.is_none(), t.head.map(|h| h.size)), (3, true, Some(2)));

        // Half a frame after the last one, as a crash in its write leaves
        // it: torn, and the next appender zeroes it.
        let keep = a.offset;
        let frame = encode_frame(3, [&b"four"[..]].into_iter(), Some(&head(4)));
        write_all_at(&a.file, &frame[..frame.len() / 2], keep).unwrap();
        assert!(matches!(frames(&path)[2], Next::Torn { .. }));
        let t = tail(dir.path()).unwrap().unwrap();
        assert_eq!((t.end, t.keep, t.torn.is_some()), (3, keep, true));
        drop(Appender::open(dir.path(), Some(&t), 3).unwrap());
        assert_eq!(frames(&path)[2], Next::End);
        // The second half alone (the first page of the write lost): torn too.
        write_all_at(&a.file, &frame[frame.len() / 2..], keep + (frame.len() / 2) as u64).unwrap();
        assert!(matches!(frames(&path)[2], Next::Torn { .. }));
        zero_fill(&a.file, keep, keep + frame.len() as u64).unwrap();

        // A byte changed in the first frame: damage, not a torn write.
        let mut bytes = fs::read(&path).unwrap();
        bytes[SEGMENT_HEADER_LEN + 20] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(frames(&path)[0], Next::Bad { offset, .. } if offset == SEGMENT_HEADER_LEN as u64));
        assert!(matches!(tail(dir.path()), Err(LedgerError::Altered(_))));
        assert!(matches!(frame_at(&path, SEGMENT_HEADER_LEN as u64).unwrap(), Next::Bad { .. }));
    }

    #[test]
    fn files_are_created_at_their_size_and_grow_from_one_to_the_next() {
        let dir = Scratch::new("capacity");
        let mut a = Appender::open(dir.path(), None, 0).unwrap();
        let big = vec![7u8; 700_000];
        let mut sizes = Vec::new();
        for seq in 0..6u64 {
            a.write(&encode_frame(seq, [&big[..]].into_iter(), Some(&head(seq + 1))), 1).unwrap();
            sizes.push(fs::metadata(dir.path().join(file_name(a.file_first))).unwrap().len());
        }
        let (files, _) = list(dir.path()).unwrap();
        // The first file holds one frame (1 MiB), the second two (2 MiB),
        // and the last is open at its full size; closed files are cut to
        // their frames.
        assert_eq!(files.iter().map(|f| f.first).collect::<Vec<_>>(), [0, 1, 3]);
        assert_eq!(sizes[0], 1 << 20);
        assert_eq!(*sizes.last().unwrap(), 4 << 20);
        let closed = fs::metadata(&files[0].path).unwrap().len();
        assert_eq!(closed, SEGMENT_HEADER_LEN as u64 + 700_000 + 17 + 4 + 182 + 32);
        let mut seen = 0;
        read_entries(&files, 0, u64::MAX, |_, body, _| {
            assert_eq!(body, big);
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 6);
    }

    #[test]
    fn a_file_prepared_in_paced_chunks_is_zeros_to_its_capacity() {
        let dir = Scratch::new("paced");
        fs::create_dir_all(dir.path()).unwrap();
        // Two whole chunks and part of a third, over stale bytes left by an
        // earlier preparation that did not finish.
        fs::write(dir.path().join(PREPARED), vec![9u8; 1000]).unwrap();
        let capacity = 2 * FILL_CHUNK + 12_345;
        // Paced all along, then told at once that the file is needed now.
        for hurry in [false, true] {
            let file = prepare(dir.path(), capacity, Fill::Paced(&AtomicBool::new(hurry))).unwrap();
            assert_eq!(file.metadata().unwrap().len(), capacity);
            let bytes = fs::read(dir.path().join(PREPARED)).unwrap();
            assert_eq!(bytes.len() as u64, capacity);
            assert!(bytes.iter().all(|&b| b == 0));
            fs::write(dir.path().join(PREPARED), vec![9u8; 1000]).unwrap();
        }
    }

    #[test]
    fn a_full_file_is_followed_by_a_new_one_and_retention_removes_whole_files() {
        let dir = Scratch::new("files");
        let mut a = Appender::open(dir.path(), None, 0).unwrap();
        let body = [0u8; 1];
        let many = std::iter::repeat_n(&body[..], FILE_ENTRIES as usize);
        a.write(&encode_frame(0, many, None), FILE_ENTRIES).unwrap();
        a.write(&encode_frame(FILE_ENTRIES, [&body[..]].into_iter(), Some(&head(FILE_ENTRIES + 1))), 1).unwrap();
        let (files, strays) = list(dir.path()).unwrap();
        assert_eq!(files.iter().map(|f| f.first).collect::<Vec<_>>(), [0, FILE_ENTRIES]);
        assert!(strays.is_empty());
        let mut seen = Vec::new();
        read_entries(&files, FILE_ENTRIES - 1, u64::MAX, |seq, _, _| {
            seen.push(seq);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [FILE_ENTRIES - 1, FILE_ENTRIES]);
        assert_eq!(remove_before(dir.path(), FILE_ENTRIES - 1).unwrap(), 0);
        assert_eq!(remove_before(dir.path(), FILE_ENTRIES).unwrap(), 1);
        assert_eq!(list(dir.path()).unwrap().0.len(), 1);
    }
}
