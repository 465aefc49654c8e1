//! The `Store` trait: everything Tollgate keeps, behind one interface.
//!
//! Callers (the API, the CLI, import) only ever see this trait; only the CLI
//! knows which backend is in use. The embedded SQLite backend is the default;
//! a PostgreSQL backend implements the same trait and runs the same
//! conformance suite (`conformance`, behind the feature of that name), the way
//! ripgrep runs every matcher test against each engine.
//!
//! Every method is synchronous and short. Every write is durable when it
//! returns: a caller may acknowledge it to a client straight away.

use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, ApiKey, App, AppId, AppStatus, KeyId, Post, PostId, PreferenceChange,
    Purpose, Tier, Timestamp,
};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod search;

pub use search::SearchExpr;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value the store refuses; `field` names it.
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A bulk load was stopped by its caller; nothing of it was committed.
    #[error("aborted: {0}")]
    Aborted(String),
    /// The data directory was written by a newer Tollgate.
    #[error("the store has schema version {found}, newer than this build's {supported}: upgrade Tollgate")]
    TooNew { found: u32, supported: u32 },
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A user timeline request; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineQuery {
    /// Only posts with a greater id.
    pub since_id: Option<PostId>,
    /// Only posts with a smaller id.
    pub until_id: Option<PostId>,
    /// Only posts created at or after.
    pub start_time: Option<Timestamp>,
    /// Only posts created before.
    pub end_time: Option<Timestamp>,
    /// Pagination: only posts with a smaller id than the last one of the previous page.
    pub before_id: Option<PostId>,
    /// Leave out replies (X's `exclude=replies`).
    pub exclude_replies: bool,
    pub limit: usize,
}

/// A search request; newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub expr: SearchExpr,
    pub since_id: Option<PostId>,
    pub until_id: Option<PostId>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub before_id: Option<PostId>,
    pub limit: usize,
}

/// A new app; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApp {
    pub name: String,
    pub tier: Tier,
    pub purposes: Vec<Purpose>,
    pub licensed_purposes: Vec<Purpose>,
    pub agreement_version: Option<u32>,
    pub created_at: Timestamp,
}

/// A new key; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub app_id: AppId,
    pub hash: String,
    pub prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

/// What a changed app may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppUpdate {
    pub status: Option<AppStatus>,
    pub agreement_version: Option<u32>,
    pub purposes: Option<Vec<Purpose>>,
    pub licensed_purposes: Option<Vec<Purpose>>,
}

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
/// (`Store::ledger_entry_columns`) cover the same blocks of entries, so that
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
    pub app_id: Option<AppId>,
    pub client: Option<String>,
    pub purpose: Option<Purpose>,
    pub refused: bool,
}

/// The audit-index columns stored beside one ledger row, exactly as stored:
/// what `verify` compares with the entry's body, since the audit questions
/// select and count rows by them (`Store::ledger_index_columns`).
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
    /// `Store::ledger_indexed_end` in the same snapshot.
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

/// What `Store::ledger_delete_before` removes: the oldest ledger rows, and
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub accounts: u64,
    pub posts: u64,
    pub apps: u64,
    pub ledger_entries: u64,
}

/// One entry of the platform's change log: what a committed write changed.
///
/// Every write to the platform data appends its changes to the log in the
/// same transaction, under an increasing sequence number. Whatever keeps
/// platform data in memory (the caches of `tollgate-cache`) follows the log
/// and drops what changed, so a node sees every write, its own or another
/// node's, by asking for the changes after the last sequence it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Anything may have changed (a bulk load, or changes the log no longer
    /// holds): drop everything.
    Everything,
    /// An account's profile, preferences or status.
    Account(AccountId),
    /// A post, with its author (the author whose timeline it is in; a post
    /// moved to another author records both).
    Post { id: PostId, author: AccountId },
    /// An app's settings.
    App(AppId),
    /// A key of this app (added, expired or revoked).
    Key(AppId),
    /// A developer agreement was published.
    Agreement,
}

/// The changes after a sequence number (see `Store::changes_since`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// In log order. `[Change::Everything]` if the log no longer holds every
    /// change after the sequence asked for.
    pub changes: Vec<Change>,
    /// The sequence number of the last change returned (the one asked for if
    /// there is none); ask from here for the next batch.
    pub upto: u64,
}

/// One account of `Store::upsert_accounts_keeping_preferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpsert {
    pub account: Account,
    /// The update carries no AI preferences: an existing account keeps the
    /// stored ones (a new account gets `account.ai_preferences`).
    pub keep_preferences: bool,
}

/// Writes inside one bulk transaction (see `Store::bulk_load`).
pub trait BulkWriter {
    fn put_account(&mut self, account: &Account) -> Result<()>;
    fn put_post(&mut self, post: &Post) -> Result<()>;
}

pub trait Store: Send + Sync + 'static {
    // -- accounts --------------------------------------------------------------

    /// Inserts or replaces accounts, all or none.
    fn upsert_accounts(&self, accounts: &[Account]) -> Result<()>;
    /// Inserts or replaces accounts, all or none, keeping the stored
    /// preferences of those marked `keep_preferences`. The read of the stored
    /// preferences and the write are one transaction, so a preference change
    /// committed concurrently (`set_preferences`) is never overwritten with
    /// the value it replaced.
    fn upsert_accounts_keeping_preferences(&self, accounts: &[AccountUpsert]) -> Result<()>;
    fn account(&self, id: AccountId) -> Result<Option<Account>>;
    /// The accounts that exist among `ids`, in no particular order.
    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>>;
    /// Handles match case-insensitively, as on X.
    fn account_by_handle(&self, handle: &str) -> Result<Option<Account>>;
    /// Applies preference changes; returns the updated account, `None` if unknown.
    fn set_preferences(&self, id: AccountId, changes: &[PreferenceChange], at: Timestamp) -> Result<Option<Account>>;
    /// Returns false if the account is unknown.
    fn set_account_status(&self, id: AccountId, status: AccountStatus) -> Result<bool>;

    // -- posts -----------------------------------------------------------------

    /// Inserts or replaces posts, all or none.
    fn upsert_posts(&self, posts: &[Post]) -> Result<()>;
    /// The posts that exist among `ids` (deleted ones included), in no particular order.
    fn posts(&self, ids: &[PostId]) -> Result<Vec<Post>>;
    /// An author's posts (deleted ones included), newest first.
    fn timeline(&self, author: AccountId, query: &TimelineQuery) -> Result<Vec<Post>>;
    /// Posts matching a search (deleted ones included), newest first. Text
    /// holding a NUL character is `StoreError::Invalid` naming `query`: no
    /// backend's text search can take it.
    fn search(&self, query: &SearchQuery) -> Result<Vec<Post>>;
    /// Returns false if the post is unknown.
    fn set_post_no_ai(&self, id: PostId, no_ai: bool) -> Result<bool>;
    /// Marks a post deleted (kept for compliance); false if unknown.
    fn delete_post(&self, id: PostId, at: Timestamp) -> Result<bool>;

    /// Runs `work` in one transaction and commits it only if `work` returns Ok:
    /// a failed or interrupted bulk load leaves nothing behind.
    fn bulk_load(&self, work: &mut dyn FnMut(&mut dyn BulkWriter) -> Result<()>) -> Result<()>;

    // -- apps, keys, agreements ------------------------------------------------

    fn create_app(&self, app: &NewApp) -> Result<App>;
    fn app(&self, id: AppId) -> Result<Option<App>>;
    fn apps(&self) -> Result<Vec<App>>;
    /// Returns the updated app, `None` if unknown.
    fn update_app(&self, id: AppId, update: &AppUpdate) -> Result<Option<App>>;
    fn add_key(&self, key: &NewKey) -> Result<ApiKey>;
    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;
    fn keys(&self, app: AppId) -> Result<Vec<ApiKey>>;
    /// Sets `expires_at` on the app's unrevoked keys that would outlive it
    /// (used by rotation); returns how many changed.
    fn expire_keys(&self, app: AppId, except: Option<KeyId>, at: Timestamp) -> Result<usize>;
    /// Revokes one key (or all of an app's keys with `None`); returns how many changed.
    fn revoke_keys(&self, app: AppId, key: Option<KeyId>, at: Timestamp) -> Result<usize>;

    fn publish_agreement(&self, agreement: &Agreement) -> Result<()>;
    fn latest_agreement(&self) -> Result<Option<Agreement>>;
    fn agreement(&self, version: u32) -> Result<Option<Agreement>>;

    // -- the change log ----------------------------------------------------------

    /// The sequence number of the last committed change (0 for none).
    ///
    /// Called once per request by the caches, so it must be cheap. It reflects
    /// every write acknowledged before the call, by this process or any other
    /// writer of the same store.
    fn change_seq(&self) -> Result<u64>;
    /// The changes after `after`, in order, at most `limit` of them.
    fn changes_since(&self, after: u64, limit: usize) -> Result<Changes>;

    // -- ledger ----------------------------------------------------------------

    /// Appends rows whose `seq` continue the ledger exactly, with their
    /// indexable columns (`entries`, one per row, for `ledger_select` and
    /// `ledger_count`), in one transaction; visible to every reader on
    /// return, and as durable as the backend is configured to make it (the
    /// ledger crate's segment files are the ledger's durable record, and its
    /// writer copies back what a crash kept from the store). The summaries
    /// and post filters are not touched: they follow, in larger batches,
    /// through `ledger_index_rows`.
    fn ledger_append(&self, rows: &[LedgerRow], entries: &[EntryIndex]) -> Result<()>;
    /// Rows from `from_seq` on, at most `limit`.
    fn ledger_read(&self, from_seq: u64, limit: usize) -> Result<Vec<LedgerRow>>;
    /// The last row, if any.
    fn ledger_last(&self) -> Result<Option<LedgerRow>>;
    /// Deletes the ledger rows with `seq < removal.before` (retention), and
    /// takes them out of the audit index, in one transaction; durable on
    /// return. Returns the number of rows deleted: 0 when no row below
    /// `before` is left, so a repeated call changes nothing.
    ///
    /// The index stays what a rebuild from the remaining rows would give,
    /// with one exception:
    ///
    /// - the day and policy summaries lose exactly the removed rows' counts,
    ///   and the per-author summary their deliveries; a summary row that
    ///   reaches zero is deleted;
    /// - a per-author row that keeps deliveries keeps its `last` time, and
    ///   its `first` time (which a count cannot take back) is raised to the
    ///   time of the oldest remaining entry, row `before`, unless it is later
    ///   already: a lower bound of the exact first time, which lies in the
    ///   remaining entries;
    /// - the post lists (`ledger_post_filters`) and any other per-block data
    ///   of every block that loses a row are deleted (the ledger cuts at
    ///   block boundaries; the rest of a block cut in part is then read row
    ///   by row, as a block without a list is);
    /// - rows the index did not cover yet (`ledger_indexed_end() < before`)
    ///   are deleted unindexed, and the index then ends at `before`.
    ///
    /// Refused, changing nothing: a `before` that is not below the last row's
    /// seq (`Invalid`: the last row stays, since the ledger's end is read from
    /// it), and `entries` that are not exactly the removed rows the index
    /// covers (`Conflict`: the index moved meanwhile; read its end again and
    /// retry), and `entries` the summaries do not hold (`Invalid` naming
    /// `entries`: the index does not match the entries; a rebuild fixes it).
    fn ledger_delete_before(&self, removal: &LedgerRemoval) -> Result<u64>;

    // -- ledger index ------------------------------------------------------------

    /// The index covers exactly the entries below this seq.
    fn ledger_indexed_end(&self) -> Result<u64>;
    /// Forgets the whole index (the ledger rows stay): `ledger_indexed_end`
    /// becomes the seq of the first stored row (0 unless retention removed
    /// rows), and the rows' indexable columns are cleared.
    fn ledger_index_clear(&self) -> Result<()>;
    /// Indexes stored rows that continue the indexed prefix exactly (the
    /// first has seq `ledger_indexed_end()`), all or none: adds them to the
    /// summaries, stores `index.filters`, and rewrites the rows' indexable
    /// columns where they differ from `index.entries` (after a clear).
    fn ledger_index_rows(&self, rows: &[LedgerRow], index: &LedgerIndex) -> Result<()>;
    /// The post lists of one shard, from block `from_block` on, ascending, at
    /// most `limit`.
    fn ledger_post_filters(&self, shard: u32, from_block: u64, limit: usize) -> Result<Vec<PostFilter>>;
    /// The stored rows among `seqs` (in any order, repeats allowed), by
    /// ascending seq, read in one read transaction.
    fn ledger_rows(&self, seqs: &[u64]) -> Result<Vec<LedgerRow>>;
    /// The indexable columns of the stored rows among `seqs` (in any order,
    /// repeats allowed) whose columns are set, by ascending seq, read in one
    /// read transaction. Meant for many rows at once: a backend may keep a
    /// compact copy of the columns per indexed block for it.
    fn ledger_entry_columns(&self, seqs: &[u64]) -> Result<Vec<EntryColumns>>;
    /// The audit-index columns stored beside the rows from `from_seq` on,
    /// at most `limit`, by ascending seq, as stored, with the end of the
    /// index, in one read transaction: for `verify`, which compares them
    /// with the entries.
    fn ledger_index_columns(&self, from_seq: u64, limit: usize) -> Result<StoredColumnsPage>;
    /// Who received posts of `author`, per (app or client, purpose).
    fn ledger_author_deliveries(&self, author: AccountId) -> Result<Vec<AuthorDeliveries>>;
    /// An app's entries with `from <= time < until` counted per UTC day,
    /// purpose and outcome, by day then purpose.
    fn ledger_app_days(&self, app: AppId, from: Timestamp, until: Option<Timestamp>) -> Result<Vec<DaySummary>>;
    /// A page of the rows of a selection after `after`, at most `limit`.
    fn ledger_select(&self, select: &LedgerSelect, after: Option<LedgerCursor>, limit: usize)
    -> Result<Vec<LedgerRow>>;
    /// The counts of a whole selection. For `Policy`, `refused` counts the
    /// refusals under that policy version, which the selection leaves out.
    fn ledger_count(&self, select: &LedgerSelect) -> Result<LedgerCounts>;

    // -- operations ------------------------------------------------------------

    fn stats(&self) -> Result<Stats>;
}
