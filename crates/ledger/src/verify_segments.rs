//! Verification of the segment files (`segments`) against the store's copy
//! of the entries: every frame whole and in sequence, every entry the same
//! bytes as the store's row, every head's signature valid and its chain hash
//! that of the entry it ends at; no stored entry missing from the files.
//!
//! Entries at the end of the files that the store lacks (a crash after a
//! commit's frame was written, before the store took its copy, or a verify
//! racing a live writer) are handed back, so that the main pass checks them
//! with the stored ones against every signed checkpoint.

use crate::db::{LedgerDb, LedgerRow};

use crate::files::LedgerFiles;
use crate::merkle::{Hash, leaf_hash};
use crate::segments::{self, FrameReader, Next};
use crate::verify::{Break, BreakKind, Signed};
use crate::{Entry, GENESIS, LedgerError, chain_hash};

/// Rows read from the store at a time.
const READ_BATCH: usize = 8192;

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
            self.batch = self.store.ledger_read(self.next.max(seq), READ_BATCH)?;
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

pub(crate) fn check(store: &LedgerDb, files: &LedgerFiles, signed: &Signed) -> Result<SegmentFindings, LedgerError> {
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
            for body in &frame.bodies {
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
                match rows.get(seq)? {
                    Some(row) if row.body == *body => chain = Some(row.hash),
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
                let problem = match &signed.key {
                    None => Some("there is no ledger key to verify it with".to_string()),
                    Some(key) => head.verify(key).err(),
                };
                if let Some(why) = problem {
                    out.breaks.push(finding(
                        None,
                        BreakKind::BadCheckpoint,
                        format!("the head signed in the frame at offset {offset} of {name} does not verify: {why}"),
                    ));
                    break 'files;
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
