//! The delivery ledger: one entry per release (or refusal) of posts, appended
//! durably before the response that it records is sent, and made
//! tamper-evident three ways:
//!
//! - **a hash chain** over the stored rows: each row carries
//!   `SHA-256(previous chain hash || leaf hash)` (the first chains from 32 zero
//!   bytes), so an entry edited, removed, inserted or moved through the
//!   database breaks the chain exactly there, and `verify` names the entry;
//! - **a Merkle tree** over the same leaves, built as Certificate Transparency
//!   builds it (RFC 6962 / RFC 9162: leaf `SHA-256(0x00 || body)`, node
//!   `SHA-256(0x01 || left || right)`), so any entry can be proven to be in
//!   the ledger with a logarithmic audit path;
//! - **signed checkpoints**: the writer signs (size, root, chain head, time)
//!   with the ledger's Ed25519 key for every group commit, into the commit's
//!   own frame of the segment files (`segments`, `DATA/ledger/segments`: the
//!   ledger's durable record, one `write` and one `fdatasync` a commit)
//!   before the commit's responses are released; it replaces
//!   `DATA/ledger/head.json` (the same, readable) within a second, keeps one
//!   a minute or every 16,384 entries in `DATA/ledger/checkpoints.log`, and
//!   signs the end when it stops. Entries removed from the end, or an
//!   alteration whose author rewrote the chain after it, no longer match a
//!   signed checkpoint.
//!
//! The store holds a copy of the entries (`LedgerDb::ledger_append`), which
//! proofs, retention and the audit questions read; `verify` compares it with
//! the segment files, and the writer copies into it at start whatever a
//! crash kept from it.
//!
//! Retention drops whole segments of 65,536 entries and leaves a signed record
//! of their roots (see `prune`). docs/ledger.md gives the exact formats and a
//! procedure to verify proofs without this code.
//!
//! Beside the entries, the store keeps an audit index (`index`): per-entry
//! columns written with each entry, and summaries and per-block post filters
//! that an indexer thread adds a second's worth of entries at a time
//! (`indexer`), from which `Audit` answers who received what without scanning
//! the ledger. The index is derived from the entries and rebuilt by
//! `Audit::reindex`; `verify` checks its per-entry part (the columns beside
//! each row and their packed copies) against the hashed bodies.

mod checkpoint;
mod db;
mod entry;
mod files;
mod index;
mod indexer;
mod key;
mod merkle;
mod prove;
mod prune;
mod query;
mod segments;
mod slots;
mod varint;
mod verify;
mod verify_segments;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tollgate_domain::Timestamp;
use tollgate_store::StoreError;

pub use checkpoint::{CHECKPOINT_MAGIC, CHECKPOINT_MESSAGE_LEN, Checkpoint};
pub use db::{
    AuthorDeliveries, BodyPlace, DAY_MILLIS, DaySummary, EntryColumns, EntryIndex, LEDGER_BLOCK, LEDGER_FILE,
    LEDGER_SCHEMA_VERSION, LedgerCounts, LedgerCursor, LedgerDb, LedgerIndex, LedgerRemoval, LedgerRow, LedgerSelect,
    PostFilter, StoredColumns, StoredColumnsPage,
};
pub use entry::{Channel, Entry, GuardFacts, Outcome};
pub use files::{LEDGER_DIR, LedgerFiles, write_atomic};
pub use index::{FILTER_BLOCK, FILTER_SHARDS};
pub use indexer::{INDEX_BATCH, INDEX_CHUNK, INDEX_INTERVAL};
pub use key::{KeyId, LedgerKey, PublicKey};
pub use merkle::{Frontier, Hash, audit_path_ranges, empty_root, leaf_hash, node_hash, root_from_inclusion};
pub use prove::{InclusionProof, ProofTarget};
pub use prune::{
    LEDGER_RETENTION_DAYS, PRUNE_MAGIC, PruneOutcome, PruneRecord, SEGMENT_HEIGHT, SEGMENT_SIZE, SegmentSeal,
    range_root,
};
pub use query::{
    AppDeliveries, Attempts, Audit, AuthorRecipients, Counts, DayCount, DeliveredPost, EntrySummary, Identity,
    MAX_PAGE, PolicyDeliveries, PostRecipients, Recipient, ReindexReport,
};
pub use segments::{FILE_ENTRIES, SEGMENT_MAGIC, SEGMENT_VERSION, SEGMENTS_DIR};
pub use verify::{Break, BreakKind, PrunedRange, VerifyOptions, VerifyReport, verify};
pub use writer::{
    CHECKPOINT_EVERY_ENTRIES, CHECKPOINT_LOG_INTERVAL, COMMIT_PACE, CheckpointPolicy, HEAD_FILE_INTERVAL, LedgerWriter,
    Receipt, WriterStats,
};

use crate::files::LogAppender;
use crate::merkle::Frontier as Tree;
use crate::verify::{load_signed, verify_with};

/// The chain hash of an entry given the previous entry's chain hash:
/// `SHA-256(previous || leaf hash)`.
pub fn chain_hash(previous: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

/// What the first entry chains from.
pub const GENESIS: Hash = [0u8; 32];

/// How often `Ledger::copy_through` looks at a running writer's copy.
const COPY_POLL: Duration = Duration::from_millis(10);

/// How long a reader outside the server that needs every entry a signed
/// head covers (a proof, the guard's report) waits for a running server's
/// copy of them into ledger.db (`Ledger::copy_through`).
pub const COPY_PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("the ledger store failed: {0}")]
    Store(String),
    #[error("the ledger writer has stopped")]
    Stopped,
    #[error("{0}")]
    Io(String),
    #[error("the ledger key: {0}")]
    Key(String),
    #[error("another process is {0} the ledger in {1}")]
    Busy(&'static str, String),
    /// A request the ledger cannot answer (an entry it does not hold, a
    /// checkpoint that does not exist).
    #[error("{0}")]
    Invalid(String),
    /// The stored ledger does not match what was signed.
    #[error("the ledger does not verify: {0}")]
    Altered(String),
    /// A record could not be encoded; nothing was hashed, signed or stored.
    #[error("cannot encode {0}: {1}")]
    Encode(&'static str, String),
}

/// The compact JSON of `value`, for hashing, signing or storing: an error,
/// never an empty stand-in, if it cannot be encoded (a map with keys that
/// are not strings, a `Serialize` that fails), so that no empty body is
/// ever hashed and no empty record signed.
pub(crate) fn to_json_bytes<T: serde::Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, LedgerError> {
    serde_json::to_vec(value).map_err(|e| LedgerError::Encode(what, e.to_string()))
}

impl From<StoreError> for LedgerError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(e.to_string())
    }
}

/// The ledger at rest: the store's rows and the signed records beside them.
/// For reading, verifying, proving and pruning; `LedgerWriter` appends.
pub struct Ledger {
    store: Arc<LedgerDb>,
    files: LedgerFiles,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Ledger {
    /// The ledger of a data directory (`DATA/ledger` beside the store).
    pub fn new(store: Arc<LedgerDb>, data_dir: &Path) -> Ledger {
        Ledger { store, files: LedgerFiles::in_data_dir(data_dir) }
    }

    pub fn with_files(store: Arc<LedgerDb>, files: LedgerFiles) -> Ledger {
        Ledger { store, files }
    }

    pub fn files(&self) -> &LedgerFiles {
        &self.files
    }

    /// The public key, if the key exists yet.
    pub fn public_key(&self) -> Result<Option<PublicKey>, LedgerError> {
        self.files.public_key()
    }

    /// The public key, creating the key if there is none yet (so it can be
    /// published before the first start).
    pub fn create_key(&self) -> Result<PublicKey, LedgerError> {
        Ok(self.files.load_or_create_key()?.public())
    }

    /// Every checkpoint whose signature verifies, in the order signed.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, LedgerError> {
        Ok(load_signed(Some(&self.files), None, &[])?.checkpoints)
    }

    /// The latest checkpoint whose signature verifies, with the key.
    pub fn latest_checkpoint(&self) -> Result<Option<(Checkpoint, PublicKey)>, LedgerError> {
        let signed = load_signed(Some(&self.files), None, &[])?;
        Ok(signed.latest().cloned().zip(signed.key))
    }

    /// Brings the store's copy of the entries (`ledger.db`) up to the segment
    /// files, when no writer runs. The copy follows the segment files off
    /// the responses' path, so a crash (`kill -9`) can leave it behind them,
    /// by the entries of the last commits; a writer's start copies them,
    /// and so does this, for the readers of the copy outside a server
    /// (`ledger tail`, the audit questions, proofs, the guard's report) that
    /// run before the next start. With a writer running, its own copy
    /// follows within moments, and nothing is done. Refuses, as the
    /// writer's start does, a copy holding entries the segment files do not.
    /// True if the copy is now up to date.
    pub fn catch_up_copy(&self) -> Result<bool, LedgerError> {
        if !self.files.segments_dir().is_dir() {
            return Ok(true);
        }
        let _lock = match self.files.lock_writer() {
            Ok(lock) => lock,
            Err(LedgerError::Busy(..)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Some(tail) = segments::tail(&self.files.segments_dir())? {
            writer::copy_into_store(self.store.as_ref(), &tail)?;
        }
        Ok(true)
    }

    /// Brings the store's copy up to `end` entries, for a reader that must
    /// see every entry a signed head covers (the guard's report, a proof):
    /// copies them itself when no writer runs (`catch_up_copy`), and with a
    /// writer running, in this process or another, waits for its copy, at
    /// most `patience`. A copy that stays short with no writer running is
    /// left to the reader's own check (the head then does not match).
    pub fn copy_through(&self, end: u64, patience: Duration) -> Result<(), LedgerError> {
        let deadline = Instant::now() + patience;
        loop {
            let writer_runs = !self.catch_up_copy()?;
            let at = self.store.ledger_end()?;
            if at >= end || !writer_runs {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LedgerError::Io(format!(
                    "the store's copy of the ledger (ledger.db) holds entries up to {at} and the signed head covers \
                     {end}; the running server's copy did not catch up within {} s: try again when it is less busy",
                    patience.as_secs()
                )));
            }
            std::thread::sleep(COPY_POLL);
        }
    }

    /// Recomputes everything and checks it against every signed record.
    pub fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport, LedgerError> {
        let first = self.store.ledger_read(0, 1)?.first().map(|r| r.seq);
        let report = verify_with(self.store.as_ref(), Some(&self.files), options)?;
        // A prune that deleted sealed rows while this pass read them makes
        // them look missing: the ledger then starts elsewhere, so check again.
        if !report.ok() && self.store.ledger_read(0, 1)?.first().map(|r| r.seq) != first {
            return verify_with(self.store.as_ref(), Some(&self.files), options);
        }
        Ok(report)
    }

    /// An inclusion proof of entry `seq` against a signed checkpoint. The
    /// entries it signs are read from the store's copy, which a running
    /// server makes just after signing them: they are waited for
    /// (`copy_through`, at most `COPY_PATIENCE`).
    pub fn prove(&self, seq: u64, target: ProofTarget) -> Result<InclusionProof, LedgerError> {
        let signed = load_signed(Some(&self.files), None, &[])?;
        let checkpoint = prove::checkpoint(&signed, target)?;
        self.copy_through(checkpoint.size, COPY_PATIENCE)?;
        prove::prove(self.store.as_ref(), &signed, checkpoint, seq)
    }

    /// Seals every whole segment, from the first unsealed one on, whose
    /// entries are all older than `before` and covered by a signed checkpoint,
    /// in one signed record appended to `pruned.log`.
    ///
    /// Refuses on a ledger that does not verify: a seal over altered entries
    /// would launder them. Once the record is synced, deletes the stored rows
    /// below `PruneOutcome::cut` (all sealed, by this record or by earlier
    /// ones whose rows a crash or an error left), a segment at a time, with
    /// their part of the audit index (docs/ledger.md, "Retention"). A dry run
    /// signs the record but writes and deletes nothing.
    ///
    /// Safe beside a running `LedgerWriter`: it appends only after the last
    /// row, which a prune never deletes, and `prune.lock` keeps pruners apart.
    pub fn prune(&self, before: Timestamp, dry_run: bool) -> Result<PruneOutcome, LedgerError> {
        let _lock = self.files.lock_pruner()?;
        let report = self.verify(&VerifyOptions::default())?;
        if let Some(b) = report.first_break() {
            return Err(LedgerError::Altered(format!("nothing was pruned: {}", b.reason)));
        }
        let signed = load_signed(Some(&self.files), None, &[])?;
        let key = LedgerKey::load(&self.files.key_path())?
            .ok_or_else(|| LedgerError::Invalid("the ledger has no key, so nothing is signed yet".into()))?;
        let covered = signed.latest().map_or(0, |c| c.size);
        let from = signed.cut();
        let mut seals = Vec::new();
        let mut start = from;
        'segments: while start + SEGMENT_SIZE <= covered {
            let mut tree = Tree::new();
            let mut chain = GENESIS;
            let mut next = start;
            while next < start + SEGMENT_SIZE {
                let rows = self.store.ledger_read(next, (start + SEGMENT_SIZE - next).min(8192) as usize)?;
                if rows.is_empty() {
                    return Err(LedgerError::Altered(format!("entry {next} is missing")));
                }
                for row in rows {
                    if row.seq != next {
                        return Err(LedgerError::Altered(format!("entry {next} is missing")));
                    }
                    if row.time >= before {
                        break 'segments;
                    }
                    tree.push_leaf(leaf_hash(&row.body));
                    chain = row.hash;
                    next += 1;
                }
            }
            seals.push(SegmentSeal { root: tree.root(), chain });
            start += SEGMENT_SIZE;
        }
        let record = (!seals.is_empty()).then(|| PruneRecord::sign(&key, from, seals, before, Timestamp::now()));
        let cut = record.as_ref().map_or(from, |r| r.to);
        if dry_run {
            let rows_deleted = prune::removable(self.store.as_ref(), cut)?.count() as u64;
            return Ok(PruneOutcome { record, recorded: false, rows_deleted, cut });
        }
        if let Some(r) = &record {
            LogAppender::open(&self.files.pruned_path(), signed.prune_log_keep)?.append(&r.encode()?)?;
        }
        // Record first, delete second: rows that are stored and sealed verify.
        let rows_deleted = prune::remove_sealed(self.store.as_ref(), cut)?;
        // Whole segment files below the cut go with the rows.
        segments::remove_before(&self.files.segments_dir(), cut)?;
        Ok(PruneOutcome { recorded: record.is_some(), record, rows_deleted, cut })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Entries, checkpoint records and prune records hold only strings,
    /// numbers and string-keyed maps, so none fails to encode today; the
    /// helper they share is where a failure would surface, as an error.
    #[test]
    fn a_value_that_cannot_be_encoded_is_an_error_not_an_empty_body() {
        let bad: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let err = to_json_bytes("a test record", &bad).unwrap_err();
        assert!(matches!(&err, LedgerError::Encode("a test record", why) if why.contains("key")), "{err}");
        assert_eq!(to_json_bytes("a test record", &[1, 2]).unwrap(), b"[1,2]");
    }
}
