//! The shapes of the ledger's rows and index, as `LedgerDb` stores and
//! answers them.

use tollgate_domain::{AccountId, AppId, Purpose, Timestamp};

/// One ledger entry as stored: the ledger crate owns its encoding and hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// 0-based position in the ledger; contiguous.
    pub seq: u64,
    pub time: Timestamp,
    pub app_id: Option<AppId>,
    /// The entry's canonical encoding.
    pub body: Vec<u8>,
    /// The chained hash (see the ledger crate).
    pub hash: [u8; 32],
    /// Where the body lies in the segment files, if it was written there.
    /// The store then keeps this place instead of the bytes, and reads them
    /// from there (`LedgerDb::ledger_read` and the other row reads).
    pub place: Option<BodyPlace>,
}

/// The place of an entry's body in the segment files: the file (named by the
/// seq of its first entry) and the offset of the body's length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPlace {
    pub file: u64,
    pub offset: u64,
}

/// What the ledger writer extracts from one entry for the store's indexes.
///
/// The store never decodes entry bodies (the ledger crate owns their
/// encoding), so the writer hands these over with each row. The index is not
/// covered by the Merkle tree: it answers audit questions fast, and is rebuilt
/// from the entries (`tollgate ledger reindex`) whenever it is in doubt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryIndex {
    /// For anonymous clients: the identity the guard assigned.
    pub client: Option<String>,
    pub purpose: Option<Purpose>,
    /// The request was refused whole.
    pub refused: bool,
    pub policy_version: String,
    /// How many posts were delivered.
    pub posts: u32,
    /// The distinct authors of the delivered posts, ascending.
    pub authors: Vec<AccountId>,
}

/// Entries per block of the ledger's audit index: the ledger's post lists
/// (`PostFilter`) and the store's per-block copy of the indexable columns
/// (`LedgerDb::ledger_entry_columns`) cover the same blocks of entries, so that
/// retention removes both per block.
pub const LEDGER_BLOCK: u64 = 1024;

/// One shard of the post data of one block of `LEDGER_BLOCK` ledger entries:
/// the exact posting list of the posts delivered in that block whose hash
/// falls in the shard (which entries of the block delivered each). The ledger
/// crate builds and reads them (`bits` is its encoding); the store keeps the
/// bytes, so that a lookup reads one shard of every block, not every list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostFilter {
    pub block: u64,
    pub shard: u32,
    pub bits: Vec<u8>,
}

/// The indexable columns of one stored ledger entry: enough to count who
/// received it without decoding its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryColumns {
    pub seq: u64,
    pub time: Timestamp,
    /// As the index names it (`indexed_app`).
    pub app_id: Option<AppId>,
    pub client: Option<String>,
    pub purpose: Option<Purpose>,
    pub refused: bool,
}

/// An entry's app as the audit index names it: none for an entry without
/// one and for the public's app 0 (whose visitors the entry names by
/// `client`), which the index keeps alike, as 0.
pub(crate) fn indexed_app(app: Option<AppId>) -> Option<AppId> {
    app.filter(|a| a.0 != 0)
}

/// The audit-index columns stored beside one ledger row, exactly as stored:
/// what `verify` compares with the entry's body, since the audit questions
/// select and count rows by them (`LedgerDb::ledger_index_columns`).
///
/// Every field is `None` for a row the index has not set yet (after
/// `ledger_index_clear`, until it is indexed again). `purpose` is the stored
/// name, unparsed, so that a name that is no purpose shows as such.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredColumns {
    pub seq: u64,
    pub client: Option<String>,
    pub purpose: Option<String>,
    pub refused: Option<i64>,
    pub posts: Option<i64>,
    pub policy_version: Option<String>,
    /// The first column holding a value of a type it never holds (a number
    /// in a text column, text in a number column, a blob in either), by name.
    pub wrong_type: Option<&'static str>,
}

/// A page of `StoredColumns`, read in one snapshot with the end of the
/// index, so that a row without columns can be told from a row the index
/// has not reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredColumnsPage {
    /// `LedgerDb::ledger_indexed_end` in the same snapshot.
    pub indexed_end: u64,
    pub rows: Vec<StoredColumns>,
}

/// The index data of one append: one `EntryIndex` per row, in row order, and
/// the filters of the blocks the append completes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerIndex {
    pub entries: Vec<EntryIndex>,
    pub filters: Vec<PostFilter>,
}

impl LedgerIndex {
    /// Default entries for `n` rows and no filters (rows that deliver nothing).
    pub fn plain(n: usize) -> LedgerIndex {
        LedgerIndex { entries: vec![EntryIndex::default(); n], filters: Vec::new() }
    }
}

/// What `LedgerDb::ledger_delete_before` removes: the oldest ledger rows, and
/// what they contributed to the audit index.
///
/// The store never decodes entry bodies, so the ledger crate hands over the
/// removed rows' `EntryIndex`es, as it did when they were indexed; the store
/// reads their `time` and `app_id` from the rows themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerRemoval {
    /// The rows with `seq < before` go, and the per-block data of every
    /// block of `LEDGER_BLOCK` entries that loses a row.
    pub before: u64,
    /// The seq `entries` start at: the first stored row.
    pub from: u64,
    /// The index fields of the removed rows the index covers, in seq order:
    /// rows `from..min(before, ledger_indexed_end())`. Empty if the index
    /// covers none of them.
    pub entries: Vec<EntryIndex>,
}

/// Which ledger rows a selection returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerSelect {
    /// An app's entries with `from <= time < until`, by (time, seq).
    App { app: AppId, from: Timestamp, until: Option<Timestamp> },
    /// An anonymous client's entries with `from <= time < until`, by (time, seq).
    Client { client: String, from: Timestamp, until: Option<Timestamp> },
    /// The served entries decided under a policy version, by seq.
    Policy { version: String },
}

/// Where the previous page of a selection ended (its last row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCursor {
    pub time: Timestamp,
    pub seq: u64,
}

/// Entry counts of a selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    pub served: u64,
    pub refused: u64,
    /// Posts delivered by the served entries.
    pub posts: u64,
}

/// One row of the per-day summary of an app's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySummary {
    /// The UTC day, as the instant of its midnight.
    pub day: Timestamp,
    pub purpose: Option<Purpose>,
    pub refused: bool,
    pub entries: u64,
    pub posts: u64,
}

/// Who received posts of one author, for one purpose (served entries only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorDeliveries {
    pub app_id: Option<AppId>,
    pub client: Option<String>,
    pub purpose: Option<Purpose>,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Entries that delivered at least one of the author's posts.
    pub deliveries: u64,
}

/// Milliseconds in a UTC day.
pub const DAY_MILLIS: i64 = 86_400_000;
