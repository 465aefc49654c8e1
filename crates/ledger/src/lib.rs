//! The delivery ledger: one entry per release (or refusal) of posts, hash-chained,
//! appended durably before the response that it records is sent.
//!
//! Entry hashing follows RFC 6962: a leaf hash is `SHA-256(0x00 || body)`, so the
//! same leaves can later be grouped into a Certificate-Transparency-style Merkle
//! tree. Each stored row also carries a chain hash
//! `SHA-256(previous chain hash || leaf hash)` (the first entry chains from 32
//! zero bytes), so editing, removing, inserting or reordering any entry breaks
//! every chain hash after it and `verify` locates the first such entry.

mod entry;
mod verify;
mod writer;

pub use entry::{Channel, Entry, Outcome};
pub use verify::{VerifyReport, verify};
pub use writer::{LedgerError, LedgerWriter, Receipt};

use sha2::{Digest, Sha256};

/// RFC 6962 leaf hash of an entry body.
pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

/// The chain hash of an entry given the previous entry's chain hash.
pub fn chain_hash(previous: &[u8; 32], leaf: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

/// What the first entry chains from.
pub const GENESIS: [u8; 32] = [0u8; 32];
