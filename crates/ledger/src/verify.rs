//! Recomputes the hash chain over the stored ledger and reports the first entry
//! where it breaks.

use tollgate_store::{Store, StoreError};

use crate::{Entry, GENESIS, chain_hash, leaf_hash};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The first broken entry and why, if any.
    pub first_break: Option<(u64, String)>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Checks seq continuity, that every body decodes, and every chain hash.
pub fn verify(store: &dyn Store) -> Result<VerifyReport, StoreError> {
    let mut expected_seq = 0u64;
    let mut chain = GENESIS;
    loop {
        let rows = store.ledger_read(expected_seq, 10_000)?;
        if rows.is_empty() {
            return Ok(VerifyReport { entries: expected_seq, first_break: None });
        }
        for row in &rows {
            let broken =
                |why: String| Ok(VerifyReport { entries: expected_seq, first_break: Some((expected_seq, why)) });
            if row.seq != expected_seq {
                return broken(format!("entry {expected_seq} is missing (the next stored entry is {})", row.seq));
            }
            if let Err(e) = Entry::decode(&row.body) {
                return broken(format!("entry {} does not decode: {e}", row.seq));
            }
            chain = chain_hash(&chain, &leaf_hash(&row.body));
            if chain != row.hash {
                return broken(format!(
                    "entry {} does not match its chain hash: it or an earlier entry was changed",
                    row.seq
                ));
            }
            expected_seq += 1;
        }
    }
}
