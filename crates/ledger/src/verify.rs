//! Verification: recomputes the chain and the Merkle tree over the stored
//! ledger, checks every signed checkpoint and prune record, and reports the
//! first entry where the ledger was altered.
//!
//! What locates what (docs/ledger.md has the full procedure):
//! - an entry edited, inserted, removed or moved through the database breaks
//!   the stored chain hashes at that entry, or leaves a gap in the sequence;
//!   the entries around it tell which of these it was;
//! - an alteration whose author also rewrote every chain hash after it shows
//!   only against signed checkpoints: the first checkpoint whose root differs
//!   bounds it to the entries after the last checkpoint that still matches;
//! - removing entries from the end shows against the latest checkpoint, which
//!   covers more entries than the store holds;
//! - an edit to what the audit questions read of an entry outside its hash
//!   (the columns beside the row, their packed copy) shows as a disagreement
//!   with the decoded body (`index_disagrees`).

use std::sync::mpsc;

use crate::db::{EntryColumns, LedgerDb, LedgerRow, StoredColumns, StoredColumnsPage, indexed_app};
use crate::verify_segments::SegmentFindings;

use crate::checkpoint::{Checkpoint, CheckpointRecord};
use crate::files::{LedgerFiles, read_log};
use crate::index::{FILTER_BLOCK, entry_index};
use crate::key::PublicKey;
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::prune::{PruneRecord, SEGMENT_HEIGHT, SEGMENT_SIZE, SegmentSeal};
use crate::segments;
use crate::slots::{Slot, SlotsFile, read_slots};
use crate::{Entry, GENESIS, LedgerError, chain_hash};

/// Rows read from the store at a time.
const READ_BATCH: usize = 8192;
/// How far past a broken entry verification looks to tell an insertion or a
/// move from an edit.
const LOOKAHEAD: usize = 65_536;

/// What kind of alteration a break is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// An entry's body no longer matches its chain hash, or what is kept
    /// beside it for the audit questions no longer matches its body.
    Modified,
    /// Entries are absent from the sequence.
    Missing,
    /// An entry is present that the chain says was never there.
    Inserted,
    /// Entries are present but in a different order.
    Reordered,
    /// Entries covered by a signed checkpoint are gone from the end.
    Truncated,
    /// The chain is intact but the entries do not hash to a signed root: the
    /// chain hashes were rewritten after an alteration.
    Diverged,
    /// An entry matches its hash but is not an entry.
    Undecodable,
    /// A checkpoint whose signature or key does not verify, or out of order.
    BadCheckpoint,
    /// A prune record that does not verify or does not fit the ledger.
    BadPruneRecord,
    /// A complete line of a signed log that is not a record.
    MalformedLog,
    /// The ledger holds entries but the signed head, or every checkpoint,
    /// is gone.
    MissingCheckpoint,
}

impl BreakKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Modified => "modified",
            BreakKind::Missing => "missing",
            BreakKind::Inserted => "inserted",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated",
            BreakKind::Diverged => "diverged",
            BreakKind::Undecodable => "undecodable",
            BreakKind::BadCheckpoint => "bad-checkpoint",
            BreakKind::BadPruneRecord => "bad-prune-record",
            BreakKind::MalformedLog => "malformed-log",
            BreakKind::MissingCheckpoint => "missing-checkpoint",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The first entry affected; `None` for a finding about a signed record
    /// rather than about entries.
    pub entry: Option<u64>,
    pub kind: BreakKind,
    pub reason: String,
}

/// A range of entries dropped under retention, as its signed record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedRange {
    pub record: PruneRecord,
    /// Whether the rows are gone from the store (else they are still there
    /// and were checked against the record).
    pub rows_removed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The size of the recomputed tree: entries checked, pruned ones included.
    pub entries: u64,
    /// Entries read from the store and checked one by one.
    pub stored: u64,
    /// The Merkle root over `entries`.
    pub root: Hash,
    /// The chain hash of entry `entries - 1`.
    pub chain: Hash,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Of those, the ones whose root and chain hash were recomputed and matched.
    pub checkpoints_matched: u64,
    /// The latest checkpoint whose signature verified.
    pub latest_checkpoint: Option<Checkpoint>,
    pub pruned: Vec<PrunedRange>,
    /// Everything found, the first break first (see `first_break`).
    pub breaks: Vec<Break>,
    /// Things worth knowing that are not alterations.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.breaks.is_empty()
    }

    /// The first entry where the ledger was altered, or if no entry is, the
    /// first signed record that does not verify.
    pub fn first_break(&self) -> Option<&Break> {
        self.breaks.first()
    }
}

/// What `verify` checks against besides the store.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Check signatures against this key instead of the one in the data
    /// directory: an auditor's copy of the published key.
    pub key: Option<PublicKey>,
    /// Checkpoints kept outside the data directory (exported, escrowed) that
    /// the ledger must also match.
    pub extra_checkpoints: Vec<Checkpoint>,
    /// Check the signature of every commit's head in the segment files, not
    /// only the newest one's. Every head's chain hash is checked either way,
    /// and the newest head's signature covers every entry before it, so
    /// this finds only a superseded head whose signed fields (other than its
    /// chain hash) or signature bytes were forged; on a ledger with a head
    /// every few entries it is most of the time `verify` takes.
    pub all_heads: bool,
}

/// Verifies the stored rows alone: sequence, chain hashes, encodings and the
/// tree, without signed checkpoints (so truncation cannot be seen). Use
/// `Ledger::verify` for the full check.
pub fn verify(store: &LedgerDb) -> Result<VerifyReport, LedgerError> {
    verify_with(store, None, &VerifyOptions::default())
}

/// The signed records, checked, as verification and proofs use them.
#[derive(Debug, Default)]
pub(crate) struct Signed {
    pub key: Option<PublicKey>,
    /// Checkpoints whose signature verified: the history's in order, then
    /// `head.json`'s (unless it repeats the history's last), then the newest
    /// head slot's (unless it repeats one of those), then those given.
    pub checkpoints: Vec<Checkpoint>,
    /// The frontier stored with the largest verified checkpoint that has a
    /// usable one.
    pub latest_frontier: Option<Frontier>,
    /// The size of the latest verified checkpoint in the history.
    pub logged_size: u64,
    /// Prune records that verified and continue each other from entry 0.
    pub prunes: Vec<PruneRecord>,
    pub breaks: Vec<Break>,
    pub notes: Vec<String>,
    /// The length of the checkpoint log without an interrupted last write.
    pub checkpoint_log_keep: u64,
    /// The same for the prune log.
    pub prune_log_keep: u64,
    /// Complete lines in the checkpoint log, parsed or not.
    pub checkpoint_log_lines: usize,
    /// Whether `head.json` exists.
    pub head_present: bool,
    /// The size of the newest head of a legacy `head.slots` whose signature
    /// verified, if one does.
    pub slot_head: Option<u64>,
    /// The size of the checkpoint in `head.json`, if it verified.
    pub head_size: Option<u64>,
    /// Whether segment files exist.
    pub segments_present: bool,
    /// The size of the newest head in the segment files, if it verified.
    pub segment_head: Option<u64>,
    /// Whether that head was reported as not verifying, or the files as damaged.
    pub segments_rejected: bool,
}

impl Signed {
    /// Entries before this are sealed by prune records.
    pub fn cut(&self) -> u64 {
        self.prunes.last().map_or(0, |p| p.to)
    }

    /// The seal of every sealed segment, in order.
    pub fn seals(&self) -> Vec<SegmentSeal> {
        self.prunes.iter().flat_map(|p| p.segments.iter().copied()).collect()
    }

    pub fn latest(&self) -> Option<&Checkpoint> {
        self.checkpoints.iter().max_by_key(|c| (c.size, c.time))
    }
}

/// Reads and checks the key, the checkpoint log and the prune log.
pub(crate) fn load_signed(
    files: Option<&LedgerFiles>,
    key: Option<PublicKey>,
    extra: &[Checkpoint],
) -> Result<Signed, LedgerError> {
    load_signed_with(files, key, extra, None)
}

/// `load_signed`, with the end of the segment files when the caller has
/// read it already (`tail`: the writer at start), so that the last file is
/// not read twice.
pub(crate) fn load_signed_with(
    files: Option<&LedgerFiles>,
    key: Option<PublicKey>,
    extra: &[Checkpoint],
    tail: Option<Option<&crate::segments::Tail>>,
) -> Result<Signed, LedgerError> {
    let mut s = Signed::default();
    // With a key given, the data directory's key is only compared, so an
    // auditor who may not read the secret key file can still verify.
    let own_key = match files {
        Some(f) if key.is_some() => f.public_key().ok().flatten(),
        Some(f) => f.public_key()?,
        None => None,
    };
    s.key = key.or(own_key);
    if let (Some(given), Some(own)) = (key, own_key)
        && given != own
    {
        s.notes.push(format!(
            "the key given ({}) is not the data directory's key ({}); signatures were checked against the key given",
            hex::encode(given.key_id()),
            hex::encode(own.key_id())
        ));
    }
    let Some(files) = files else {
        return Ok(s);
    };

    let log = read_log(&files.checkpoints_path(), CheckpointRecord::parse)?;
    s.checkpoint_log_keep = log.keep;
    s.checkpoint_log_lines = log.records.len() + log.malformed.len();
    for (line, why) in &log.malformed {
        s.breaks.push(Break {
            entry: None,
            kind: BreakKind::MalformedLog,
            reason: format!("line {line} of {} is not a checkpoint: {why}", files.checkpoints_path().display()),
        });
    }
    if let Some(bytes) = log.torn {
        s.notes.push(format!(
            "the last {bytes} bytes of {} are an interrupted write and were ignored",
            files.checkpoints_path().display()
        ));
    }
    let mut largest: Option<u64> = None;
    let mut best_frontier: Option<Frontier> = None;
    let mut keep_frontier = |frontier: Option<Frontier>| {
        if let Some(f) = frontier
            && best_frontier.as_ref().is_none_or(|b| f.size() >= b.size())
        {
            best_frontier = Some(f);
        }
    };
    for (line, (cp, frontier)) in log.records {
        let Some(key) = &s.key else {
            s.breaks.push(Break {
                entry: None,
                kind: BreakKind::BadCheckpoint,
                reason: "checkpoints exist but the ledger key is missing, so none can be verified".into(),
            });
            break;
        };
        if let Err(why) = cp.verify(key) {
            s.breaks.push(Break {
                entry: None,
                kind: BreakKind::BadCheckpoint,
                reason: format!("the checkpoint on line {line} (size {}, {}) does not verify: {why}", cp.size, cp.time),
            });
            continue;
        }
        if let Some(l) = largest
            && cp.size < l
        {
            s.breaks.push(Break {
                entry: None,
                kind: BreakKind::BadCheckpoint,
                reason: format!(
                    "the checkpoint on line {line} (size {}) follows one of size {l}: checkpoints only grow, so the log was reordered or spliced",
                    cp.size
                ),
            });
        }
        largest = Some(largest.map_or(cp.size, |l| l.max(cp.size)));
        keep_frontier(frontier);
        s.checkpoints.push(cp);
    }
    s.logged_size = largest.unwrap_or(0);

    // The head: replaced by rename, so never torn; anything unreadable in it
    // was put there.
    let head_path = files.head_path();
    match std::fs::read(&head_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LedgerError::Io(format!("reading {}: {e}", head_path.display()))),
        Ok(bytes) => {
            s.head_present = true;
            match CheckpointRecord::parse(bytes.strip_suffix(b"\n").unwrap_or(&bytes)) {
                Err(why) => s.breaks.push(Break {
                    entry: None,
                    kind: BreakKind::MalformedLog,
                    reason: format!("{} is not a checkpoint: {why}", head_path.display()),
                }),
                Ok((cp, frontier)) => match s.key.as_ref().map(|k| cp.verify(k)) {
                    None => s.breaks.push(Break {
                        entry: None,
                        kind: BreakKind::BadCheckpoint,
                        reason: "a head checkpoint exists but the ledger key is missing, so it cannot be verified"
                            .into(),
                    }),
                    Some(Err(why)) => s.breaks.push(Break {
                        entry: None,
                        kind: BreakKind::BadCheckpoint,
                        reason: format!("the head checkpoint (size {}, {}) does not verify: {why}", cp.size, cp.time),
                    }),
                    Some(Ok(())) => {
                        keep_frontier(frontier);
                        s.head_size = Some(cp.size);
                        if s.checkpoints.last() != Some(&cp) {
                            s.checkpoints.push(cp);
                        }
                    }
                },
            }
        }
    }
    // The head slots: written in place, so a slot can be torn by a crash,
    // but only the one being written; the other holds the previous head.
    let slots_path = files.head_slots_path();
    match read_slots(&slots_path)? {
        SlotsFile::Missing => {}
        SlotsFile::NotSlots(why) => {
            s.breaks.push(Break {
                entry: None,
                kind: BreakKind::MalformedLog,
                reason: format!("{} is not a head slot file: {why}", slots_path.display()),
            });
        }
        SlotsFile::Slots(slots) => {
            let mut newest: Option<(Checkpoint, Option<Frontier>)> = None;
            for (i, slot) in (*slots).into_iter().enumerate() {
                match slot {
                    Slot::Empty => {}
                    Slot::Torn => s
                        .notes
                        .push(format!("slot {i} of {} is an interrupted write and was ignored", slots_path.display())),
                    Slot::Malformed(why) => {
                        s.breaks.push(Break {
                            entry: None,
                            kind: BreakKind::MalformedLog,
                            reason: format!("slot {i} of {} is not a checkpoint: {why}", slots_path.display()),
                        });
                    }
                    Slot::Record(cp, frontier) => match s.key.as_ref().map(|k| cp.verify(k)) {
                        None => {
                            s.breaks.push(Break {
                                entry: None,
                                kind: BreakKind::BadCheckpoint,
                                reason: "a head slot exists but the ledger key is missing, so it cannot be verified"
                                    .into(),
                            });
                        }
                        Some(Err(why)) => {
                            s.breaks.push(Break {
                                entry: None,
                                kind: BreakKind::BadCheckpoint,
                                reason: format!(
                                    "the checkpoint in slot {i} of {} (size {}, {}) does not verify: {why}",
                                    slots_path.display(),
                                    cp.size,
                                    cp.time
                                ),
                            });
                        }
                        Some(Ok(())) => {
                            if newest.as_ref().is_none_or(|(n, _)| (cp.size, cp.time) > (n.size, n.time)) {
                                newest = Some((cp, frontier));
                            }
                        }
                    },
                }
            }
            if let Some((cp, frontier)) = newest {
                s.slot_head = Some(cp.size);
                keep_frontier(frontier);
                // The same head as one already read adds nothing to check.
                if !s.checkpoints.iter().any(|c| (c.size, c.root, c.chain) == (cp.size, cp.root, cp.chain)) {
                    s.checkpoints.push(cp);
                }
            }
        }
    }
    // The segment files: the head of every commit, in its frame. Damage is
    // located by the segment pass of `verify_with`.
    let read;
    let tail = match tail {
        Some(given) => Ok(given),
        None => {
            read = crate::segments::tail(&files.segments_dir());
            read.as_ref().map(Option::as_ref).map_err(Clone::clone)
        }
    };
    match tail {
        Ok(None) => {}
        Err(LedgerError::Altered(_)) => {
            s.segments_present = true;
            s.segments_rejected = true;
        }
        Err(e) => return Err(e),
        Ok(Some(t)) => {
            s.segments_present = true;
            if let Some(cp) = t.head.clone() {
                match s.key.as_ref().map(|k| cp.verify(k)) {
                    None => s.segments_rejected = true,
                    Some(Err(_)) => s.segments_rejected = true,
                    Some(Ok(())) => {
                        s.segment_head = Some(cp.size);
                        if !s.checkpoints.iter().any(|c| (c.size, c.root, c.chain) == (cp.size, cp.root, cp.chain)) {
                            s.checkpoints.push(cp);
                        }
                    }
                }
            }
        }
    }
    s.latest_frontier = best_frontier;
    for cp in extra {
        match &s.key {
            Some(key) => match cp.verify(key) {
                Ok(()) => s.checkpoints.push(cp.clone()),
                Err(why) => s.breaks.push(Break {
                    entry: None,
                    kind: BreakKind::BadCheckpoint,
                    reason: format!("the checkpoint given (size {}, {}) does not verify: {why}", cp.size, cp.time),
                }),
            },
            None => s.breaks.push(Break {
                entry: None,
                kind: BreakKind::BadCheckpoint,
                reason: "a checkpoint was given but there is no key to verify it with".into(),
            }),
        }
    }

    let prunes = read_log(&files.pruned_path(), PruneRecord::parse)?;
    s.prune_log_keep = prunes.keep;
    for (line, why) in &prunes.malformed {
        s.breaks.push(Break {
            entry: None,
            kind: BreakKind::MalformedLog,
            reason: format!("line {line} of {} is not a prune record: {why}", files.pruned_path().display()),
        });
    }
    if let Some(bytes) = prunes.torn {
        s.notes.push(format!(
            "the last {bytes} bytes of {} are an interrupted write and were ignored",
            files.pruned_path().display()
        ));
    }
    for (line, record) in prunes.records {
        let problem = match &s.key {
            None => Some("there is no ledger key to verify it with".to_string()),
            Some(key) => record.verify(key).err().or_else(|| {
                (record.from != s.cut())
                    .then(|| format!("it starts at entry {} but the sealed entries end at {}", record.from, s.cut()))
            }),
        };
        if let Some(why) = problem {
            s.breaks.push(Break {
                entry: None,
                kind: BreakKind::BadPruneRecord,
                reason: format!(
                    "the prune record on line {line} (entries {}..{}) does not verify: {why}",
                    record.from, record.to
                ),
            });
            // Later records continue this one; without it they cannot be placed.
            break;
        }
        s.prunes.push(record);
    }
    Ok(s)
}

/// The full check; `files` is `None` to check the stored rows alone.
pub(crate) fn verify_with(
    store: &LedgerDb,
    files: Option<&LedgerFiles>,
    options: &VerifyOptions,
) -> Result<VerifyReport, LedgerError> {
    let signed = load_signed(files, options.key, &options.extra_checkpoints)?;
    let mut v = Verifier::new(&signed);
    // The segment files are checked on a thread of their own, beside the
    // stored rows; the main pass takes the entries they hold beyond the
    // store's copy when it reaches them, or the findings are taken after it.
    let (segments, result) = std::thread::scope(|s| -> Result<_, LedgerError> {
        let mut pass = files.map(|f| s.spawn(|| crate::verify_segments::check(store, f, &signed, options.all_heads)));
        let mut found: Option<SegmentFindings> = None;
        let result = v.run(store, || {
            let mut findings = joined(pass.take())?;
            let tail = std::mem::take(&mut findings.tail);
            found = Some(findings);
            Ok(tail)
        });
        let segments = match found {
            Some(findings) => findings,
            None => joined(pass.take())?,
        };
        Ok((segments, result))
    })?;
    let mut report = VerifyReport {
        entries: v.frontier.size(),
        stored: v.stored,
        root: v.frontier.root(),
        chain: v.chain,
        checkpoints: signed.checkpoints.len() as u64,
        checkpoints_matched: v.matched,
        latest_checkpoint: signed.latest().cloned(),
        pruned: signed
            .prunes
            .iter()
            .map(|p| PrunedRange { record: p.clone(), rows_removed: p.to <= v.absent_until })
            .collect(),
        breaks: Vec::new(),
        notes: signed.notes.iter().chain(&segments.notes).cloned().collect(),
    };
    result?;
    // INVARIANT (signed-head): the writer signs the head before it releases
    // a commit's responses, so a ledger with entries has a head, and the
    // head covers every released entry. Without it a cut tail cannot be seen.
    let has_entries = store.ledger_last()?.is_some() || v.tail_len > 0 || !signed.prunes.is_empty();
    let mut missing = Vec::new();
    if let Some(files) = files
        && has_entries
    {
        let (head, segments_dir, log) = (files.head_path(), files.segments_dir(), files.checkpoints_path());
        if !signed.head_present
            && signed.segment_head.is_none()
            && signed.slot_head.is_none()
            && signed.checkpoint_log_lines == 0
        {
            missing.push(format!(
                "the ledger holds entries but no checkpoint: {}, the heads in {} and every line of {} are gone, so \
                 entries removed from the end could not be seen; the writer signs the head before it releases any \
                 entry",
                head.display(),
                segments_dir.display(),
                log.display()
            ));
        } else {
            if !signed.head_present {
                missing.push(format!(
                    "the ledger holds entries but {} is gone: the writer stores it before it takes any entry",
                    head.display()
                ));
            }
            if !signed.segments_present {
                missing.push(format!(
                    "the ledger holds entries but {} holds no segment file: they hold every entry with the head \
                     signed before its release, so entries after the other checkpoints may have been removed unseen \
                     (a data directory last written by a Tollgate without segment files gets them when its writer \
                     next starts)",
                    segments_dir.display()
                ));
            } else if signed.segment_head.is_none() && !signed.segments_rejected {
                // (Damaged files, or a head that does not verify, are findings of their own.)
                missing.push(format!(
                    "the ledger holds entries but no frame of the segment files in {} holds a signed head: the \
                     writer signs one into every commit, so entries after the other checkpoints may have been \
                     removed unseen",
                    segments_dir.display()
                ));
            }
        }
    }
    if v.unchecked > 0 {
        report.notes.push(format!(
            "{} checkpoint(s) fall inside removed segments; the prune records that replaced those entries were checked instead",
            v.unchecked
        ));
    }
    // INVARIANT (first-break-first): entry findings are found in entry order
    // and there is at most one, so it leads; findings about signed records
    // (which name no entry) follow.
    report.breaks.extend(v.found);
    report.breaks.extend(segments.breaks);
    report.breaks.extend(signed.breaks.iter().cloned());
    report.breaks.extend(missing.into_iter().map(|reason| Break {
        entry: None,
        kind: BreakKind::MissingCheckpoint,
        reason,
    }));
    Ok(report)
}

/// What the pass over the segment files found (nothing without files).
fn joined(
    pass: Option<std::thread::ScopedJoinHandle<'_, Result<SegmentFindings, LedgerError>>>,
) -> Result<SegmentFindings, LedgerError> {
    match pass {
        None => Ok(SegmentFindings::default()),
        Some(pass) => pass.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
    }
}

/// Rows read together, with what the audit index keeps of them.
struct Batch {
    rows: Vec<LedgerRow>,
    /// The index columns stored beside the rows, and the end of the index.
    columns: StoredColumnsPage,
    /// The packed copies of the columns (`LedgerDb::ledger_entry_columns`) of
    /// the rows that have one (or whose columns are set), by seq, or why one
    /// could not be read.
    copies: Vec<Result<EntryColumns, (u64, String)>>,
}

fn read_batch(store: &LedgerDb, from: u64) -> Result<Batch, LedgerError> {
    let rows = store.ledger_read(from, READ_BATCH)?;
    let (columns, copies) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => {
            let n = (last.seq - first.seq + 1) as usize;
            let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
            let mut copies = Vec::with_capacity(seqs.len());
            // A copy (or a column) that cannot be read is a finding about
            // its entry, not a failure to verify: read a block at a time,
            // and entry by entry in a block that fails.
            for block in seqs.chunk_by(|a, b| a / FILTER_BLOCK == b / FILTER_BLOCK) {
                match store.ledger_entry_columns(block) {
                    Ok(c) => copies.extend(c.into_iter().map(Ok)),
                    Err(_) => {
                        for &seq in block {
                            match store.ledger_entry_columns(&[seq]) {
                                Ok(c) => copies.extend(c.into_iter().map(Ok)),
                                Err(e) => copies.push(Err((seq, e.to_string()))),
                            }
                        }
                    }
                }
            }
            (store.ledger_index_columns(first.seq, n)?, copies)
        }
        _ => (StoredColumnsPage::default(), Vec::new()),
    };
    Ok(Batch { rows, columns, copies })
}

/// What the index keeps of one row.
struct IndexCopies<'a> {
    stored: Option<&'a StoredColumns>,
    indexed_end: u64,
    copy: Option<&'a Result<EntryColumns, (u64, String)>>,
}

/// Where what the audit questions read of a row (the columns beside it, and
/// their packed copy) disagrees with the entry, if it does.
///
/// INVARIANT (index-columns-verified): every per-entry value the questions
/// select or count by is either unset on a row the index has not reached
/// (`seq >= indexed_end`, after a clear) or equal to what the entry says.
/// A row missing from the reads (removed by a concurrent prune) is not
/// judged here: the rows themselves are.
fn index_disagrees(entry: &Entry, row: &LedgerRow, index: &IndexCopies<'_>) -> Option<String> {
    if entry.time != row.time || entry.app_id != row.app_id {
        return Some("the time or app id stored beside the entry disagree with it".into());
    }
    let expected = entry_index(entry);
    let seq = row.seq;
    if let Some(stored) = index.stored {
        if let Some(column) = stored.wrong_type {
            return Some(format!("the `{column}` column of entry {seq} holds a value of the wrong type"));
        }
        let unset = stored.client.is_none()
            && stored.purpose.is_none()
            && stored.refused.is_none()
            && stored.posts.is_none()
            && stored.policy_version.is_none();
        if unset {
            if seq < index.indexed_end {
                return Some(format!(
                    "the index columns of entry {seq} are unset, though the index covers the entries below {}",
                    index.indexed_end
                ));
            }
        } else {
            let purpose = expected.purpose.map(|p| p.as_str().to_owned());
            let checks: [(&str, String, String); 5] = [
                ("client", format!("{:?}", stored.client), format!("{:?}", expected.client)),
                ("purpose", format!("{:?}", stored.purpose), format!("{purpose:?}")),
                ("refused", format!("{:?}", stored.refused), format!("{:?}", Some(i64::from(expected.refused)))),
                ("posts", format!("{:?}", stored.posts), format!("{:?}", Some(i64::from(expected.posts)))),
                (
                    "policy_version",
                    format!("{:?}", stored.policy_version),
                    format!("{:?}", Some(&expected.policy_version)),
                ),
            ];
            for (column, stored, wanted) in checks {
                if stored != wanted {
                    return Some(format!("the `{column}` column of entry {seq} is {stored}, the entry says {wanted}"));
                }
            }
        }
    }
    if let Some(copy) = index.copy {
        let copy = match copy {
            Ok(copy) => copy,
            Err((_, why)) => {
                return Some(format!("the packed copy of the columns of entry {seq} cannot be read: {why}"));
            }
        };
        let wanted = EntryColumns {
            seq,
            time: entry.time,
            app_id: indexed_app(entry.app_id),
            client: entry.client.clone(),
            purpose: entry.purpose,
            refused: expected.refused,
        };
        if *copy != wanted {
            return Some(format!(
                "the packed copy of the columns of entry {seq} (`ledger_blocks` and `ledger_recipients`) says {copy:?}, \
                 the entry says {wanted:?}"
            ));
        }
    }
    None
}

/// The state of one pass over the ledger.
struct Verifier<'a> {
    seals: Vec<SegmentSeal>,
    cut: u64,
    /// Checkpoints in size order, and the next one to reach.
    checkpoints: Vec<&'a Checkpoint>,
    next_checkpoint: usize,
    frontier: Frontier,
    /// The chain hash of the last entry passed, and of the one before it.
    chain: Hash,
    chain_before: Option<Hash>,
    /// The tree over the current segment, while in the sealed range.
    segment: Frontier,
    /// Entries before this were removed under retention.
    absent_until: u64,
    stored: u64,
    matched: u64,
    unchecked: u64,
    /// The largest size at which the ledger is known to match what was signed.
    last_match: u64,
    found: Option<Break>,
    /// How many entries of the segment files after the store's last row
    /// were checked after the stored ones.
    tail_len: usize,
}

impl<'a> Verifier<'a> {
    fn new(signed: &'a Signed) -> Verifier<'a> {
        let mut checkpoints: Vec<&Checkpoint> = signed.checkpoints.iter().collect();
        checkpoints.sort_by_key(|c| c.size);
        Verifier {
            seals: signed.seals(),
            cut: signed.cut(),
            checkpoints,
            next_checkpoint: 0,
            frontier: Frontier::new(),
            chain: GENESIS,
            chain_before: None,
            segment: Frontier::new(),
            absent_until: 0,
            stored: 0,
            matched: 0,
            unchecked: 0,
            last_match: 0,
            found: None,
            tail_len: 0,
        }
    }

    fn pos(&self) -> u64 {
        self.frontier.size()
    }

    fn fail(&mut self, entry: u64, kind: BreakKind, reason: String) {
        self.found.get_or_insert(Break { entry: Some(entry), kind, reason });
    }

    /// The main pass; `tail` gives the entries of the segment files beyond
    /// the store's copy, called once the stored rows are checked.
    fn run(
        &mut self,
        store: &LedgerDb,
        tail: impl FnOnce() -> Result<Vec<LedgerRow>, LedgerError>,
    ) -> Result<(), LedgerError> {
        let first = store.ledger_read(0, 1)?.first().map(|r| r.seq);
        if !self.check_checkpoints() {
            return Ok(());
        }
        // Where the stored rows begin: at 0, or after segments that were
        // sealed and then removed.
        let start = match first {
            None => self.cut,
            Some(f) if f <= self.cut => f - f % SEGMENT_SIZE,
            Some(_) => self.cut,
        };
        self.absent_until = start;
        let seals = std::mem::take(&mut self.seals);
        for seal in &seals[..(start / SEGMENT_SIZE) as usize] {
            self.frontier
                .push_subtree(SEGMENT_HEIGHT, seal.root)
                .ok_or_else(|| LedgerError::Invalid("a sealed segment does not fit the tree".into()))?;
            self.chain = seal.chain;
            self.chain_before = None;
            if !self.check_checkpoints() {
                self.seals = seals;
                return Ok(());
            }
            // The seal is signed: the ledger up to here is as it was.
            self.last_match = self.pos();
        }
        self.seals = seals;
        if let Some(f) = first
            && f > start
        {
            let why = if start < self.cut || self.cut == 0 {
                format!("entries {start}..{} are missing", f - 1)
            } else {
                format!(
                    "entries {start}..{} are missing; only entries before {} were sealed for removal",
                    f - 1,
                    self.cut
                )
            };
            self.fail(start, BreakKind::Missing, why);
            return Ok(());
        }
        self.stream(store)?;
        if self.found.is_some() {
            return Ok(());
        }
        let tail = tail()?;
        self.tail_len = tail.len();
        let unindexed = IndexCopies { stored: None, indexed_end: 0, copy: None };
        // The store may have taken copies of some of them since the segment
        // files were read (a live writer): those were checked as stored rows.
        for row in &tail {
            if row.seq < self.pos() {
                continue;
            }
            if !self.entry(store, row, &unindexed)? {
                return Ok(());
            }
        }
        let n = self.pos();
        if n < self.cut {
            self.fail(
                n,
                BreakKind::Truncated,
                format!(
                    "entries {n}..{} are missing: they were sealed for removal, but removal only ever takes the oldest entries",
                    self.cut - 1
                ),
            );
        } else if let Some(cp) = self.checkpoints.last()
            && cp.size > n
        {
            let reason = format!(
                "entries {n}..{} are missing: the checkpoint signed at {} covers {} entries and the ledger holds {n}",
                cp.size - 1,
                cp.time,
                cp.size
            );
            self.fail(n, BreakKind::Truncated, reason);
        }
        Ok(())
    }

    /// Reads rows, with the index columns stored beside them and the block
    /// copies of those, on another thread while this one hashes and decodes.
    fn stream(&mut self, store: &LedgerDb) -> Result<(), LedgerError> {
        let from = self.pos();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Result<Batch, LedgerError>>(2);
            scope.spawn(move || {
                let mut next = from;
                loop {
                    let batch = read_batch(store, next);
                    let done = match &batch {
                        Ok(b) => match b.rows.last() {
                            Some(last) => {
                                next = last.seq + 1;
                                b.rows.len() < READ_BATCH
                            }
                            None => true,
                        },
                        Err(_) => true,
                    };
                    let empty = matches!(&batch, Ok(b) if b.rows.is_empty());
                    if (!empty && tx.send(batch).is_err()) || done {
                        return;
                    }
                }
            });
            for batch in rx {
                let batch = batch?;
                let mut columns = batch.columns.rows.iter().peekable();
                let mut copies = batch.copies.iter().peekable();
                for row in &batch.rows {
                    while columns.next_if(|c| c.seq < row.seq).is_some() {}
                    let stored = columns.next_if(|c| c.seq == row.seq);
                    let seq_of = |c: &&Result<EntryColumns, (u64, String)>| match c {
                        Ok(c) => c.seq,
                        Err((seq, _)) => *seq,
                    };
                    while copies.next_if(|c| seq_of(c) < row.seq).is_some() {}
                    let copy = copies.next_if(|c| seq_of(c) == row.seq);
                    let index = IndexCopies { stored, indexed_end: batch.columns.indexed_end, copy };
                    if !self.entry(store, row, &index)? {
                        // Dropping the receiver stops the reader.
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
    }

    /// Checks one stored row; false once a break is found.
    fn entry(&mut self, store: &LedgerDb, row: &LedgerRow, index: &IndexCopies<'_>) -> Result<bool, LedgerError> {
        let pos = self.pos();
        if row.seq != pos {
            let why = if row.seq == pos + 1 {
                format!("entry {pos} is missing")
            } else {
                format!("entries {pos}..{} are missing", row.seq - 1)
            };
            self.fail(pos, BreakKind::Missing, why);
            return Ok(false);
        }
        if let Some(place) = row.place.filter(|_| row.body.is_empty()) {
            self.fail(
                pos,
                BreakKind::Missing,
                format!(
                    "the body of entry {pos} is not at its place in the segment files (offset {} of {}): the file \
                     is gone, or the place kept for it in ledger.db was changed",
                    place.offset,
                    segments::file_name(place.file)
                ),
            );
            return Ok(false);
        }
        let leaf = leaf_hash(&row.body);
        let chain = chain_hash(&self.chain, &leaf);
        if chain != row.hash {
            let (at, kind, why) = self.classify(store, pos)?;
            self.fail(at, kind, why);
            return Ok(false);
        }
        match Entry::decode(&row.body) {
            Err(e) => {
                self.fail(
                    pos,
                    BreakKind::Undecodable,
                    format!("entry {pos} matches its hash but does not decode: {e}"),
                );
                return Ok(false);
            }
            Ok(entry) => {
                if let Some(why) = index_disagrees(&entry, row, index) {
                    // A row inserted with a correct chain hash but without
                    // (or with wrong) columns: the next row tells.
                    let next = store.ledger_read(pos + 1, 1)?;
                    if next
                        .first()
                        .is_some_and(|n| n.seq == pos + 1 && chain_hash(&self.chain, &leaf_hash(&n.body)) == n.hash)
                    {
                        self.fail(
                            pos,
                            BreakKind::Inserted,
                            format!(
                                "entry {pos} was inserted: entry {} continues the chain from the entry before it",
                                pos + 1
                            ),
                        );
                        return Ok(false);
                    }
                    self.fail(
                        pos,
                        BreakKind::Modified,
                        format!(
                            "{why} (kept beside entry {pos} to answer audit questions, outside its hash): \
                             the index was changed; the entry itself matches its hash"
                        ),
                    );
                    return Ok(false);
                }
            }
        }
        self.stored += 1;
        self.frontier.push_leaf(leaf);
        self.chain_before = Some(self.chain);
        self.chain = chain;
        let pos = self.pos();
        if pos <= self.cut {
            self.segment.push_leaf(leaf);
            if pos.is_multiple_of(SEGMENT_SIZE) {
                let seal = self.seals[(pos / SEGMENT_SIZE - 1) as usize];
                if self.segment.root() != seal.root || self.chain != seal.chain {
                    let start = pos - SEGMENT_SIZE;
                    self.fail(
                        start,
                        BreakKind::Diverged,
                        format!(
                            "entries {start}..{} do not match the signed prune record that seals them: one of them was changed",
                            pos - 1
                        ),
                    );
                    return Ok(false);
                }
                self.segment = Frontier::new();
                self.last_match = self.last_match.max(pos);
            }
        }
        Ok(self.check_checkpoints())
    }

    /// Compares every checkpoint of the current size; false on a mismatch.
    /// Checkpoints skipped over (inside removed segments) are counted.
    fn check_checkpoints(&mut self) -> bool {
        let pos = self.pos();
        while let Some(cp) = self.checkpoints.get(self.next_checkpoint).copied() {
            if cp.size > pos {
                break;
            }
            self.next_checkpoint += 1;
            if cp.size < pos {
                self.unchecked += 1;
                continue;
            }
            if cp.root == self.frontier.root() && cp.chain == self.chain {
                self.matched += 1;
                self.last_match = pos;
                continue;
            }
            let from = self.last_match;
            let reason = format!(
                "entries 0..{} do not hash to the root signed at {} for that size, though each matches its chain hash: \
                 one of entries {from}..{} was changed, inserted, removed or moved, and the chain hashes after it rewritten",
                pos - 1,
                cp.time,
                pos - 1
            );
            self.fail(from, BreakKind::Diverged, reason);
            return false;
        }
        true
    }

    /// Tells what happened at a broken entry from the entries around it. A row
    /// "follows" a chain hash if its stored hash is that hash chained with its
    /// body.
    fn classify(&self, store: &LedgerDb, pos: u64) -> Result<(u64, BreakKind, String), LedgerError> {
        let rows = store.ledger_read(pos, LOOKAHEAD)?;
        let follows = |row: &LedgerRow, prev: &Hash| chain_hash(prev, &leaf_hash(&row.body)) == row.hash;
        let contiguous = rows.iter().enumerate().take_while(|(i, r)| r.seq == pos + *i as u64).count();
        let rows = &rows[..contiguous];
        let prev = self.chain;
        if let Some(before) = &self.chain_before
            && rows.first().is_some_and(|r| follows(r, before))
        {
            return Ok((
                pos - 1,
                BreakKind::Inserted,
                format!("entry {} was inserted: entry {pos} continues the chain from the entry before it", pos - 1),
            ));
        }
        if rows.len() >= 2 && follows(&rows[1], &prev) {
            let swapped = rows.len() >= 3 && follows(&rows[2], &rows[0].hash) && follows(&rows[0], &rows[1].hash);
            return Ok(if swapped {
                (pos, BreakKind::Reordered, format!("entries {pos} and {} were swapped", pos + 1))
            } else {
                (
                    pos,
                    BreakKind::Inserted,
                    format!("entry {pos} was inserted: entry {} continues the chain from the entry before it", pos + 1),
                )
            });
        }
        if let Some(k) = rows.iter().skip(2).position(|r| follows(r, &prev)) {
            let at = pos + 2 + k as u64;
            return Ok((
                pos,
                BreakKind::Reordered,
                format!("entry {pos} is out of order: the entry that belongs at {pos} is stored at {at}"),
            ));
        }
        Ok((
            pos,
            BreakKind::Modified,
            format!(
                "entry {pos} does not match its chain hash: it was changed (or removed, and the entries after it renumbered)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(BreakKind::Truncated.as_str(), "truncated");
        assert_eq!(BreakKind::BadCheckpoint.as_str(), "bad-checkpoint");
    }
}
