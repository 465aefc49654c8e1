//! Retention: dropping expired entries in whole segments, leaving a signed
//! record from which the tree over the whole ledger can still be recomputed.
//!
//! A segment is `SEGMENT_SIZE` (65,536) consecutive entries starting at a
//! multiple of that size. That is a perfect subtree of the Merkle tree, so its
//! root alone stands in for its entries: verification pushes the root where
//! the leaves were, and every later checkpoint and proof still checks. The
//! chain hash at the end of each segment lets the chain resume after it.
//!
//! The signed message of a prune record (docs/ledger.md restates it):
//!
//! | bytes | field |
//! |---|---|
//! | 25 | ASCII `tollgate-ledger-prune-v1` and a newline (0x0a) |
//! | 8 | key id |
//! | 8 | `from`: the first dropped entry, unsigned big-endian |
//! | 8 | `to`: one past the last dropped entry, unsigned big-endian |
//! | 8 | time of signing, milliseconds since the epoch, signed big-endian |
//! | 8 | `before`: the retention cut-off the entries were older than, same encoding |
//! | 32 | `MTH` of entries `from..to` |
//! | 64 per segment | the segment's root, then the chain hash of its last entry |
//!
//! Once the record is synced, the sealed rows are deleted from the store
//! (`remove_sealed`), a segment per transaction, together with what they
//! contributed to the audit index. Record first, delete second: a crash in
//! between leaves rows that are both stored and sealed, which verifies, and
//! the next prune deletes them.

use std::ops::Range;

use crate::db::{LedgerDb, LedgerRemoval};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tollgate_domain::Timestamp;
use tollgate_store::StoreError;

use crate::index::entry_index;
use crate::key::{KeyId, LedgerKey, PublicKey};
use crate::merkle::{Frontier, Hash};
use crate::{Entry, LedgerError};

/// The height of a segment's subtree.
pub const SEGMENT_HEIGHT: u32 = 16;
/// Entries per segment: pruning drops only whole segments.
pub const SEGMENT_SIZE: u64 = 1 << SEGMENT_HEIGHT;
/// How long entries are kept by default (configuration key
/// `ledger_retention_days`): two years, the period X may audit a developer's
/// use of the data.
pub const LEDGER_RETENTION_DAYS: u32 = 730;

/// The domain separation prefix of a prune record message.
pub const PRUNE_MAGIC: &[u8; 25] = b"tollgate-ledger-prune-v1\n";

/// What remains of one dropped segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSeal {
    /// `MTH` of the segment's 65,536 entries.
    pub root: Hash,
    /// The chain hash of the segment's last entry.
    pub chain: Hash,
}

/// A signed record of dropped entries `from..to` (whole segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRecord {
    pub from: u64,
    pub to: u64,
    pub time: Timestamp,
    pub before: Timestamp,
    pub range_root: Hash,
    pub segments: Vec<SegmentSeal>,
    pub key_id: KeyId,
    pub signature: [u8; 64],
}

impl PruneRecord {
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(25 + 8 * 5 + 32 + 64 * self.segments.len());
        m.extend_from_slice(PRUNE_MAGIC);
        m.extend_from_slice(&self.key_id);
        m.extend_from_slice(&self.from.to_be_bytes());
        m.extend_from_slice(&self.to.to_be_bytes());
        m.extend_from_slice(&self.time.millis().to_be_bytes());
        m.extend_from_slice(&self.before.millis().to_be_bytes());
        m.extend_from_slice(&self.range_root);
        for s in &self.segments {
            m.extend_from_slice(&s.root);
            m.extend_from_slice(&s.chain);
        }
        m
    }

    /// Seals segments `from / SEGMENT_SIZE ..` with `key`.
    pub fn sign(key: &LedgerKey, from: u64, segments: Vec<SegmentSeal>, before: Timestamp, time: Timestamp) -> Self {
        let mut record = PruneRecord {
            from,
            to: from + segments.len() as u64 * SEGMENT_SIZE,
            time,
            before,
            range_root: range_root(&segments),
            segments,
            key_id: key.public().key_id(),
            signature: [0u8; 64],
        };
        record.signature = key.sign(&record.message());
        record
    }

    /// Checks the shape (whole segments, a root that matches them) and the
    /// signature.
    pub fn verify(&self, key: &PublicKey) -> Result<(), String> {
        if !self.from.is_multiple_of(SEGMENT_SIZE)
            || self.to <= self.from
            || self.to - self.from != self.segments.len() as u64 * SEGMENT_SIZE
        {
            return Err(format!("entries {}..{} are not whole segments", self.from, self.to));
        }
        if range_root(&self.segments) != self.range_root {
            return Err("its range root does not match its segment roots".into());
        }
        if self.key_id != key.key_id() {
            return Err(format!("it names key {}, not the ledger key", hex::encode(self.key_id)));
        }
        if key.verify(&self.message(), &self.signature) { Ok(()) } else { Err("its signature does not verify".into()) }
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "from": self.from,
            "to": self.to,
            "entries": self.to - self.from,
            "time": self.time.to_string(),
            "before": self.before.to_string(),
            "range_root": hex::encode(self.range_root),
            "chain_at_cut": self.segments.last().map(|s| hex::encode(s.chain)),
        })
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, crate::LedgerError> {
        let line = PruneLine {
            from: self.from,
            to: self.to,
            time: self.time.millis(),
            before: self.before.millis(),
            range_root: hex::encode(self.range_root),
            segments: self.segments.iter().map(|s| [hex::encode(s.root), hex::encode(s.chain)]).collect(),
            key_id: hex::encode(self.key_id),
            signature: hex::encode(self.signature),
        };
        crate::to_json_bytes("a prune record", &line)
    }

    pub(crate) fn parse(line: &[u8]) -> Result<PruneRecord, String> {
        let l: PruneLine = serde_json::from_slice(line).map_err(|e| format!("not a prune record: {e}"))?;
        let fixed = |s: &str| -> Result<Vec<u8>, String> { hex::decode(s).map_err(|_| "a field is not hex".into()) };
        let h32 = |s: &str| -> Result<Hash, String> {
            fixed(s)?.try_into().map_err(|_| "a hash is not 32 bytes".to_string())
        };
        Ok(PruneRecord {
            from: l.from,
            to: l.to,
            time: Timestamp::from_millis(l.time),
            before: Timestamp::from_millis(l.before),
            range_root: h32(&l.range_root)?,
            segments: l
                .segments
                .iter()
                .map(|[root, chain]| Ok(SegmentSeal { root: h32(root)?, chain: h32(chain)? }))
                .collect::<Result<_, String>>()?,
            key_id: fixed(&l.key_id)?.try_into().map_err(|_| "the key id is not 8 bytes".to_string())?,
            signature: fixed(&l.signature)?.try_into().map_err(|_| "the signature is not 64 bytes".to_string())?,
        })
    }
}

/// `MTH` over consecutive whole segments.
pub fn range_root(segments: &[SegmentSeal]) -> Hash {
    let mut f = Frontier::new();
    for s in segments {
        f.push_subtree(SEGMENT_HEIGHT, s.root).unwrap_or_else(|| unreachable!("segments are pushed whole"));
    }
    f.root()
}

#[derive(Serialize, Deserialize)]
struct PruneLine {
    from: u64,
    to: u64,
    time: i64,
    before: i64,
    range_root: String,
    segments: Vec<[String; 2]>,
    key_id: String,
    signature: String,
}

/// What `Ledger::prune` did or, on a dry run, would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOutcome {
    /// The signed record of the newly expired segments (`None`: nothing expired).
    pub record: Option<PruneRecord>,
    /// Whether the record was written to `pruned.log`.
    pub recorded: bool,
    /// Rows deleted from the store (on a dry run: that would be), sealed by
    /// this record or by earlier ones whose rows a crash or an error left.
    pub rows_deleted: u64,
    /// Every entry before this one is expired and sealed.
    pub cut: u64,
}

/// Tries at deleting a segment while the audit index moves under it.
const DELETE_ATTEMPTS: u32 = 3;
/// Rows read at a time to compute what deleted rows contributed to the index.
const READ_BATCH: usize = 8192;

/// The stored rows that deleting the entries sealed below `cut` removes.
///
/// The last stored row always stays: the store reads the end of the ledger
/// from it. So when the seals reach the end of the ledger, the segment
/// holding the last row stays until entries follow it.
pub(crate) fn removable(store: &LedgerDb, cut: u64) -> Result<Range<u64>, LedgerError> {
    let Some(last) = store.ledger_last()? else { return Ok(0..0) };
    let first = store.ledger_read(0, 1)?.first().map_or(last.seq, |r| r.seq);
    let end = cut.min(last.seq / SEGMENT_SIZE * SEGMENT_SIZE);
    Ok(first..end.max(first))
}

/// Deletes the stored rows sealed below `cut`, oldest first, one segment per
/// store transaction: a crash leaves whole segments, which verify, and an
/// append waits for one segment's deletion at most. Returns the number of
/// rows deleted.
pub(crate) fn remove_sealed(store: &LedgerDb, cut: u64) -> Result<u64, LedgerError> {
    let rows = removable(store, cut)?;
    let mut deleted = 0;
    let mut from = rows.start;
    while from < rows.end {
        let before = ((from / SEGMENT_SIZE + 1) * SEGMENT_SIZE).min(rows.end);
        deleted += remove_segment(store, from, before)?;
        from = before;
    }
    Ok(deleted)
}

/// Deletes the stored rows `from..before`, handing the store what the rows
/// the index covers contributed to it.
fn remove_segment(store: &LedgerDb, from: u64, before: u64) -> Result<u64, LedgerError> {
    let mut attempt = 1;
    loop {
        let covered = store.ledger_indexed_end()?.clamp(from, before);
        let mut entries = Vec::with_capacity((covered - from) as usize);
        let mut next = from;
        while next < covered {
            let rows = store.ledger_read(next, ((covered - next) as usize).min(READ_BATCH))?;
            if rows.is_empty() {
                return Err(LedgerError::Altered(format!("entry {next} is missing")));
            }
            for row in rows {
                if row.seq != next {
                    return Err(LedgerError::Altered(format!("entry {next} is missing")));
                }
                let entry = Entry::decode(&row.body)
                    .map_err(|e| LedgerError::Altered(format!("entry {} does not decode: {e}", row.seq)))?;
                entries.push(entry_index(&entry));
                next += 1;
            }
        }
        let removal = LedgerRemoval { before, from, entries };
        match store.ledger_delete_before(&removal) {
            Ok(n) => return Ok(n),
            // The indexer moved the end of the index meanwhile: once more.
            Err(StoreError::Conflict(_)) if attempt < DELETE_ATTEMPTS => attempt += 1,
            Err(e) => {
                return Err(LedgerError::Store(format!(
                    "deleting the sealed entries {from}..{before}: {e}; they stay stored, and the next prune \
                     deletes them"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_bound_to_their_contents() {
        let key = LedgerKey::from_seed([3u8; 32]);
        let seals = vec![SegmentSeal { root: [1; 32], chain: [2; 32] }, SegmentSeal { root: [3; 32], chain: [4; 32] }];
        let r = PruneRecord::sign(&key, 0, seals, Timestamp::from_millis(5), Timestamp::from_millis(6));
        assert_eq!(r.to, 2 * SEGMENT_SIZE);
        assert_eq!(r.verify(&key.public()), Ok(()));
        assert_eq!(PruneRecord::parse(&r.encode().unwrap()), Ok(r.clone()));
        let mut forged = r.clone();
        forged.segments[1].chain = [9; 32];
        assert!(forged.verify(&key.public()).is_err());
        let mut shifted = r.clone();
        shifted.from = 1;
        assert!(shifted.verify(&key.public()).unwrap_err().contains("whole segments"));
    }
}
