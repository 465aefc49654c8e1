//! Inclusion (audit) proofs: evidence that one entry is in the tree a signed
//! checkpoint commits to, checkable with nothing but SHA-256, Ed25519 and the
//! published key (docs/ledger.md, and tests/ledger/verify_proof.py).
//!
//! The proof is computed in one pass over the entries up to the checkpoint's
//! size: each audit path element is the tree hash of a known range of leaves
//! (`merkle::audit_path_ranges`), and each leaf feeds exactly one of them.

use crate::db::LedgerDb;
use serde_json::json;

use crate::checkpoint::Checkpoint;
use crate::key::PublicKey;
use crate::merkle::{Frontier, Hash, audit_path_ranges, leaf_hash, root_from_inclusion};
use crate::prune::{SEGMENT_HEIGHT, SEGMENT_SIZE};
use crate::verify::Signed;
use crate::{Entry, LedgerError};

const READ_BATCH: usize = 8192;

/// Which signed checkpoint a proof is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofTarget {
    /// The latest checkpoint whose signature verifies.
    Latest,
    /// A checkpoint of exactly this tree size.
    Size(u64),
}

/// An RFC 9162 inclusion proof of one entry against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's position: its leaf index.
    pub seq: u64,
    /// The entry's canonical encoding, the exact bytes that were hashed.
    pub body: Vec<u8>,
    /// The audit path, the leaf's sibling first.
    pub path: Vec<Hash>,
    pub checkpoint: Checkpoint,
    pub public_key: PublicKey,
}

impl InclusionProof {
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.body)
    }

    /// The whole check a verifier makes: the checkpoint's signature, then the
    /// path from the leaf to the signed root.
    pub fn verify(&self) -> Result<(), String> {
        self.checkpoint.verify(&self.public_key).map_err(|why| format!("the checkpoint does not verify: {why}"))?;
        match root_from_inclusion(self.seq, self.checkpoint.size, &self.leaf_hash(), &self.path) {
            Some(root) if root == self.checkpoint.root => Ok(()),
            Some(_) => Err("the audit path does not lead to the signed root".into()),
            None => Err("the audit path does not fit the leaf index and tree size".into()),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let entry = Entry::decode(&self.body).ok();
        // The id lists of the entry decoded, for reading (docs/ledger.md,
        // "Entries and hashing", says how to decode them independently).
        let ids = entry.as_ref().map(|e| {
            e.id_lists().into_iter().map(|(f, ids)| (f.to_owned(), json!(ids))).collect::<serde_json::Map<_, _>>()
        });
        json!({
            "seq": self.seq,
            "leaf_index": self.seq,
            "tree_size": self.checkpoint.size,
            "body": hex::encode(&self.body),
            "entry": entry.and_then(|e| serde_json::to_value(e).ok()),
            "ids": ids,
            "leaf_hash": hex::encode(self.leaf_hash()),
            "audit_path": self.path.iter().map(hex::encode).collect::<Vec<_>>(),
            "checkpoint": self.checkpoint.to_json(&self.public_key),
        })
    }
}

/// The checkpoint `target` names.
pub(crate) fn checkpoint(signed: &Signed, target: ProofTarget) -> Result<Checkpoint, LedgerError> {
    match target {
        ProofTarget::Latest => signed.latest(),
        ProofTarget::Size(size) => signed.checkpoints.iter().filter(|c| c.size == size).max_by_key(|c| c.time),
    }
    .cloned()
    .ok_or_else(|| {
        LedgerError::Invalid(match target {
            ProofTarget::Latest => "there is no signed checkpoint yet".into(),
            ProofTarget::Size(size) => format!("there is no signed checkpoint of size {size}"),
        })
    })
}

/// Builds the proof of entry `seq` against `checkpoint`, one of `signed`'s.
pub(crate) fn prove(
    store: &LedgerDb,
    signed: &Signed,
    checkpoint: Checkpoint,
    seq: u64,
) -> Result<InclusionProof, LedgerError> {
    let key =
        signed.key.ok_or_else(|| LedgerError::Invalid("the ledger has no key, so nothing is signed yet".into()))?;
    let size = checkpoint.size;
    if seq >= size {
        return Err(LedgerError::Invalid(format!(
            "entry {seq} is not covered by the checkpoint of size {size} (entries 0..{})",
            size.saturating_sub(1)
        )));
    }

    // Segments sealed and removed from the store take part through their roots.
    let seals = signed.seals();
    let cut = signed.cut();
    let first = store.ledger_read(0, 1)?.first().map(|r| r.seq);
    let start = match first {
        Some(f) if f <= cut => f - f % SEGMENT_SIZE,
        _ => cut,
    };
    if seq < start {
        return Err(LedgerError::Invalid(format!(
            "entry {seq} was removed under retention; only the root of its segment remains (entries {}..{})",
            seq - seq % SEGMENT_SIZE,
            seq - seq % SEGMENT_SIZE + SEGMENT_SIZE - 1
        )));
    }

    let ranges = audit_path_ranges(seq, size);
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i].0);
    let mut trees = vec![Frontier::new(); ranges.len()];
    let mut cursor = 0usize;
    let mut feed = |at: u64, height: u32, hash: Hash| -> Result<(), LedgerError> {
        let end = at + (1u64 << height);
        while cursor < order.len() && ranges[order[cursor]].1 <= at {
            cursor += 1;
        }
        let fits = order.get(cursor).map(|&i| (i, ranges[i])).filter(|&(_, (a, b))| a <= at && end <= b);
        let (i, _) = fits.ok_or_else(|| LedgerError::Invalid(format!("entries {at}..{end} straddle a proof node")))?;
        trees[i]
            .push_subtree(height, hash)
            .ok_or_else(|| LedgerError::Invalid(format!("entries {at}..{end} are not aligned in their proof node")))
    };
    for (i, seal) in seals[..(start / SEGMENT_SIZE) as usize].iter().enumerate() {
        feed(i as u64 * SEGMENT_SIZE, SEGMENT_HEIGHT, seal.root)?;
    }
    let mut body = None;
    let mut next = start;
    while next < size {
        let rows = store.ledger_read(next, READ_BATCH.min((size - next) as usize))?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq != next {
                return Err(LedgerError::Altered(format!(
                    "entry {next} is missing; run `tollgate ledger verify` for the details"
                )));
            }
            if row.seq == seq {
                body = Some(row.body);
            } else {
                feed(row.seq, 0, leaf_hash(&row.body))?;
            }
            next += 1;
        }
    }
    if next < size {
        return Err(LedgerError::Altered(format!(
            "the ledger holds {next} entries but the checkpoint covers {size}; run `tollgate ledger verify` for the details"
        )));
    }
    let body = body.ok_or_else(|| LedgerError::Altered(format!("entry {seq} is missing")))?;
    let proof =
        InclusionProof { seq, body, path: trees.iter().map(Frontier::root).collect(), checkpoint, public_key: key };
    proof.verify().map_err(|why| {
        LedgerError::Altered(format!(
            "the stored entries do not match the checkpoint of size {size} ({why}); run `tollgate ledger verify` for the details"
        ))
    })?;
    Ok(proof)
}
