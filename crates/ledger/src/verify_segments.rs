//! Verification of the segment files (`segments`) against the store's copy
//! of the entries: every frame whole and in sequence, every entry the same
//! bytes as the store's row, every head's chain hash that of the entry it
//! ends at and the newest head's signature valid (every head's, on request);
//! no stored entry missing from the files.
//!
//! Entries at the end of the files that the store lacks (a crash after a
//! commit's frame was written, before the store took its copy, or a verify
//! racing a live writer) are handed back, so that the main pass checks them
//! with the stored ones against every signed checkpoint.

use crate::checkpoint::Checkpoint;
use crate::db::{BodyPlace, LedgerDb, LedgerRow};

use crate::files::LedgerFiles;
use crate::key::PublicKey;
use crate::merkle::{Hash, leaf_hash};
use crate::segments::{self, FrameReader, Next};
use crate::verify::{Break, BreakKind, Signed};
use crate::{Entry, GENESIS, LedgerError, chain_hash};

/// Rows read from the store at a time.
const READ_BATCH: usize = 8192;
/// Signed heads whose signatures are checked together, on every core: a
/// ledger under load has a head every few entries, and checking millions of
/// signatures one after the other is most of what verifying it takes.
const HEAD_BATCH: usize = 4096;

/// A frame's signed head, its signature not checked yet.
struct PendingHead {
    /// The index of its file in the list, and its frame's offset there.
    file: usize,
    offset: u64,
    /// The seq after its frame's last entry.
    end: u64,
    head: Checkpoint,
}

/// The first of `heads` (in the files' order) whose signature does not
/// verify against `key`, and why; the heads are checked on every core.
fn first_bad_head(key: &PublicKey, heads: &[PendingHead]) -> Option<(usize, String)> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(8);
    let chunk = heads.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let checks: Vec<_> = (heads.chunks(chunk).enumerate())
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter().enumerate().find_map(|(i, h)| h.head.verify(key).err().map(|why| (c * chunk + i, why)))
                })
            })
            .collect();
        (checks.into_iter())
            .filter_map(|c| c.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .min_by_key(|(i, _)| *i)
    })
}

/// What the pass found.
#[derive(Debug, Default)]
pub(crate) struct SegmentFindings {
    pub breaks: Vec<Break>,
    pub notes: Vec<String>,
    /// Entries of the segment files after the store's last row, as rows.
    pub tail: Vec<LedgerRow>,
}

/// The store's rows, read in order a batch at a time.
struct Rows<'a> {
    store: &'a LedgerDb,
    batch: Vec<LedgerRow>,
    at: usize,
    next: u64,
    done: bool,
}

impl Rows<'_> {
    /// The stored row `seq`, if there is one; `seq`s asked for ascend.
    fn get(&mut self, seq: u64) -> Result<Option<&LedgerRow>, LedgerError> {
        loop {
            while self.at < self.batch.len() && self.batch[self.at].seq < seq {
                self.at += 1;
            }
            if self.at < self.batch.len() {
                let row = &self.batch[self.at];
                return Ok((row.seq == seq).then_some(row));
            }
            if self.done {
                return Ok(None);
            }
            // Without the bodies kept in the segment files: their places
            // are compared instead (`check`).
            self.batch = self.store.ledger_read_unfilled(self.next.max(seq), READ_BATCH)?;
            self.at = 0;
            match self.batch.last() {
                Some(last) => self.next = last.seq + 1,
                None => self.done = true,
            }
            if self.batch.len() < READ_BATCH {
                self.done = true;
            }
        }
    }
}

/// Checks the segment files against the store. The signature of every
/// head is checked with `all_heads`, else the newest head's only (each
/// head's chain hash is checked either way: `VerifyOptions::all_heads`).
pub(crate) fn check(
    store: &LedgerDb,
    files: &LedgerFiles,
    signed: &Signed,
    all_heads: bool,
) -> Result<SegmentFindings, LedgerError> {
    let mut out = SegmentFindings::default();
    let dir = files.segments_dir();
    let (list, strays) = segments::list(&dir)?;
    for stray in strays {
        out.breaks.push(Break {
            entry: None,
            kind: BreakKind::MalformedLog,
            reason: format!("{} is in the segment directory but is not a segment file", stray.display()),
        });
    }
    if list.is_empty() {
        return Ok(out);
    }
    let last = store.ledger_last()?;
    let stored_end = last.as_ref().map_or(0, |r| r.seq + 1);
    let first_row = store.ledger_read(0, 1)?.first().map(|r| r.seq);
    let cut = signed.cut();
    let mut rows = Rows { store, batch: Vec::new(), at: 0, next: first_row.unwrap_or(0), done: first_row.is_none() };
    // The chain hash of the entry before the next one, once known.
    let mut chain: Option<Hash> = None;
    let seg_first = list[0].first;
    if let Some(f) = first_row
        && f < seg_first
        && seg_first > cut.max(f)
    {
        out.breaks.push(Break {
            entry: Some(f),
            kind: BreakKind::Missing,
            reason: format!(
                "entries {}..{} are in the store but in no segment file: the files before {} are gone",
                cut.max(f),
                seg_first - 1,
                segments::file_name(seg_first)
            ),
        });
        return Ok(out);
    }
    let mut next = seg_first;
    // Frames without a head are only those of a copy of a ledger kept in the
    // store alone, before the first frame with one.
    let mut signed_before = false;
    let finding = |entry: Option<u64>, kind: BreakKind, reason: String| Break { entry, kind, reason };
    let bad_head = |list: &[segments::SegmentFile], file: usize, offset: u64, why: &str| {
        let name = list[file].path.display();
        finding(
            None,
            BreakKind::BadCheckpoint,
            format!("the head signed in the frame at offset {offset} of {name} does not verify: {why}"),
        )
    };
    let mut pending: Vec<PendingHead> = Vec::new();
    let before_files = out.breaks.len();
    'files: for (i, file) in list.iter().enumerate() {
        let is_last = i + 1 == list.len();
        let name = file.path.display();
        if file.first != next {
            out.breaks.push(finding(
                Some(next),
                BreakKind::Missing,
                format!("entries {next}..{} are in no segment file (the next is {name})", file.first.max(next + 1) - 1),
            ));
            break;
        }
        let mut reader = match FrameReader::open(&file.path)? {
            Ok(r) => r,
            Err(why) => {
                out.breaks.push(finding(
                    Some(next),
                    BreakKind::Modified,
                    format!("{name} is not a segment file: {why}"),
                ));
                break;
            }
        };
        loop {
            let frame = match reader.next_frame()? {
                Next::Frame(frame) => frame,
                Next::End => break,
                Next::Torn { offset, why } if is_last => {
                    out.notes.push(format!(
                        "the end of {name} from offset {offset} is an interrupted write ({why}) and was ignored; the \
                         writer cuts it off when it next starts"
                    ));
                    break;
                }
                Next::Torn { offset, why } | Next::Bad { offset, why } => {
                    out.breaks.push(finding(
                        Some(next),
                        BreakKind::Modified,
                        format!("{name} is damaged at offset {offset}, in the frame after entry {next}: {why}"),
                    ));
                    break 'files;
                }
            };
            let offset = frame.offset;
            if frame.head.is_none() && signed_before {
                out.breaks.push(finding(
                    Some(frame.first),
                    BreakKind::Modified,
                    format!(
                        "the frame at offset {offset} of {name} has no signed head, but follows frames that have one: \
                         the writer signs every commit"
                    ),
                ));
                break 'files;
            }
            signed_before |= frame.head.is_some();
            if frame.first != next {
                out.breaks.push(finding(
                    Some(next.min(frame.first)),
                    BreakKind::Missing,
                    format!(
                        "the frame at offset {offset} of {name} starts at entry {}, where entry {next} was expected",
                        frame.first
                    ),
                ));
                break 'files;
            }
            let places: Vec<BodyPlace> =
                segments::body_places(file.first, offset, frame.bodies.iter().map(Vec::as_slice)).collect();
            for (body, place) in frame.bodies.iter().zip(places) {
                let seq = next;
                next += 1;
                if seq < first_row.unwrap_or(stored_end) {
                    if seq < cut {
                        // Sealed and removed from the store; the file goes
                        // at the next prune.
                        continue;
                    }
                    out.breaks.push(finding(
                        Some(seq),
                        BreakKind::Missing,
                        format!("entry {seq} is in {name} (frame at offset {offset}) but not in the store"),
                    ));
                    break 'files;
                }
                if seq >= stored_end {
                    let before = chain.unwrap_or(last.as_ref().map_or(GENESIS, |r| r.hash));
                    let hash = chain_hash(&before, &leaf_hash(body));
                    chain = Some(hash);
                    let (time, app_id) = match Entry::decode(body) {
                        Ok(e) => (e.time, e.app_id),
                        Err(e) => {
                            out.breaks.push(finding(
                                Some(seq),
                                BreakKind::Undecodable,
                                format!("entry {seq} in {name} (frame at offset {offset}) does not decode: {e}"),
                            ));
                            break 'files;
                        }
                    };
                    out.tail.push(LedgerRow { seq, time, app_id, body: body.clone(), hash, place: None });
                    continue;
                }
                // A row that keeps its body's place reads these very bytes
                // if the place is this one; a row with a body of its own
                // must hold these bytes.
                let holds =
                    |row: &LedgerRow| if row.body.is_empty() { row.place == Some(place) } else { row.body == *body };
                match rows.get(seq)? {
                    Some(row) if holds(row) => chain = Some(row.hash),
                    Some(_) => {
                        out.breaks.push(finding(
                            Some(seq),
                            BreakKind::Modified,
                            format!(
                                "entry {seq} in {name} (frame at offset {offset}) is not the entry the store holds"
                            ),
                        ));
                        break 'files;
                    }
                    None => {
                        out.breaks.push(finding(
                            Some(seq),
                            BreakKind::Missing,
                            format!("entry {seq} is in {name} (frame at offset {offset}) but not in the store"),
                        ));
                        break 'files;
                    }
                }
            }
            if let Some(head) = &frame.head {
                let Some(key) = &signed.key else {
                    out.breaks.push(bad_head(&list, i, offset, "there is no ledger key to verify it with"));
                    break 'files;
                };
                if !all_heads {
                    // Superseded by this one, whose signature covers the
                    // same entries.
                    pending.clear();
                }
                pending.push(PendingHead { file: i, offset, end: frame.end(), head: head.clone() });
                if pending.len() >= HEAD_BATCH {
                    if let Some((at, why)) = first_bad_head(key, &pending) {
                        out.breaks.push(bad_head(&list, pending[at].file, pending[at].offset, &why));
                        pending.clear();
                        break 'files;
                    }
                    pending.clear();
                }
                if frame.end() > cut && chain.is_some_and(|c| c != head.chain) {
                    out.breaks.push(finding(
                        Some(frame.end() - 1),
                        BreakKind::Diverged,
                        format!(
                            "the head signed in the frame at offset {offset} of {name} does not match the chain hash of \
                             entry {}",
                            frame.end() - 1
                        ),
                    ));
                    break 'files;
                }
            }
        }
    }
    // The heads not checked yet all come before whatever the pass stopped
    // at: a bad one among them is the first finding, as a check of each
    // head in turn would have found it.
    if let (Some(key), false) = (&signed.key, pending.is_empty())
        && let Some((at, why)) = first_bad_head(key, &pending)
    {
        out.breaks.truncate(before_files);
        out.breaks.push(bad_head(&list, pending[at].file, pending[at].offset, &why));
        let end = pending[at].end;
        out.tail.retain(|r| r.seq < end);
    }
    if out.breaks.is_empty() && next < stored_end {
        out.breaks.push(finding(
            Some(next),
            BreakKind::Missing,
            format!("entries {next}..{} are in the store but in no segment file", stored_end - 1),
        ));
    }
    if !out.tail.is_empty() {
        out.notes.push(format!(
            "entries {}..{} are in the segment files but not yet in the store's copy (a commit a crash interrupted, \
             or one in progress); the writer copies them when it starts",
            out.tail[0].seq,
            next - 1
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use tollgate_domain::Timestamp;

    use super::*;
    use crate::key::LedgerKey;

    #[test]
    fn the_first_bad_head_is_found_whichever_core_checks_it() {
        let key = LedgerKey::from_seed([9; 32]);
        let heads = |bad: &[usize]| -> Vec<PendingHead> {
            (0..10)
                .map(|i| {
                    let mut head = Checkpoint::sign(&key, i as u64 + 1, Timestamp::from_millis(1), [1; 32], [2; 32]);
                    if bad.contains(&i) {
                        head.signature[0] ^= 1;
                    }
                    PendingHead { file: 0, offset: i as u64, end: i as u64 + 1, head }
                })
                .collect()
        };
        let public = key.public();
        assert_eq!(first_bad_head(&public, &heads(&[])), None);
        assert_eq!(first_bad_head(&public, &heads(&[7])).map(|(i, _)| i), Some(7));
        assert_eq!(first_bad_head(&public, &heads(&[7, 3])).map(|(i, _)| i), Some(3));
        assert_eq!(first_bad_head(&public, &heads(&[9, 0])).map(|(i, _)| i), Some(0));
    }
}
