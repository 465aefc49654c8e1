//! The store's copy of the ledger and its audit index, in `DATA/ledger.db`:
//! the rows the audit questions, proofs and retention read, the per-entry
//! index columns beside them, the summaries and the per-block post lists
//! (docs/ledger.md, "Indexes and queries").
//!
//! The ledger owns this file, apart from the platform's store (`Store`, which
//! a PostgreSQL backend can implement without any of this): SQLite in WAL
//! mode on the plumbing of `tollgate-store-sqlite`, one writer connection
//! behind a mutex and a pool of readers. Its durable record is the segment
//! files (`segments`); this copy is not synced per commit
//! (`SqliteOptions::ledger_synchronous`), and the writer copies into it at
//! start whatever a crash kept from it. A row written from the segment files
//! keeps its body's place there (`BodyPlace`), not the bytes, and every read
//! of rows here takes them from that place (`segments::read_placed`).

mod blocks;
mod index;
mod schema;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tollgate_domain::{AccountId, AppId, Timestamp};
use tollgate_store::{Result, StoreError};
use tollgate_store_sqlite::SqliteOptions;
use tollgate_store_sqlite::plumbing::{
    Ctx, ReadPool, TempDir, conversion, id_from_sql, id_to_sql, lock_writer, lookup_id, migrate, open_reader,
    open_writer, read_transaction, sync_dir, timestamp, write_transaction,
};

pub use types::*;

/// The writer checkpoints the WAL itself only past this many pages (64 MiB),
/// should `LedgerDb::checkpoint` not have run.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// The longest a read waits for the copy of released entries.
const COPY_WAIT: Duration = Duration::from_secs(30);

/// Where the copy of the entries into this file stands (`LedgerDb::expect_copies`).
#[derive(Default)]
struct Copies {
    state: Mutex<CopyState>,
    done: Condvar,
}

#[derive(Default)]
struct CopyState {
    /// Entries below this were released, or are being.
    expected: u64,
    /// Entries below this are in the file.
    copied: u64,
    failed: Option<String>,
}

/// The file of the ledger's copy inside the data directory.
pub const LEDGER_FILE: &str = "ledger.db";
/// The schema version of `ledger.db` this build writes.
pub const LEDGER_SCHEMA_VERSION: u32 = schema::LEDGER[schema::LEDGER.len() - 1].0;

/// `ledger.db`. `Send + Sync`: share it behind an `Arc`.
pub struct LedgerDb {
    writer: Mutex<Connection>,
    /// Runs the WAL checkpoints (`checkpoint`), so that no append waits for
    /// one: the writer's own automatic checkpoints are a safety net only.
    checkpointer: Mutex<Connection>,
    readers: ReadPool,
    /// How far the copy of the entries whose responses were released has come.
    copies: Copies,
    dir: PathBuf,
    /// The segment files, where the bodies of placed rows are read.
    segments: PathBuf,
    /// Declared last so that it is dropped after every connection is closed.
    _temp: Option<TempDir>,
}

impl std::fmt::Debug for LedgerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerDb").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LedgerDb {
    /// Opens (creating if needed) `ledger.db` in `dir`, migrating it to this
    /// build's schema; refuses a file written by a newer build
    /// (`StoreError::TooNew`). Uses `options.ledger_synchronous`.
    pub fn open(dir: &Path, options: &SqliteOptions) -> Result<LedgerDb> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("creating the data directory {}: {e}", dir.display())))?;
        let path = dir.join(LEDGER_FILE);
        let mut writer = open_writer(&path, options.ledger_synchronous, options.cache_mib)?;
        migrate(&mut writer, LEDGER_FILE, schema::LEDGER)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .ctx("setting the ledger writer's checkpoint threshold")?;
        let checkpointer = open_writer(&path, options.ledger_synchronous, 1)?;
        sync_dir(dir)?;
        // Readers see the file as `ledger`, beside an empty main database,
        // so that every query names its tables the same way.
        let readers = (0..options.read_connections.max(1))
            .map(|_| open_reader(Path::new(":memory:"), &[(&path, "ledger")], options.cache_mib))
            .collect::<Result<Vec<_>>>()?;
        Ok(LedgerDb {
            writer: Mutex::new(writer),
            checkpointer: Mutex::new(checkpointer),
            readers: ReadPool::new(readers),
            copies: Copies::default(),
            dir: dir.to_owned(),
            segments: crate::files::LedgerFiles::in_data_dir(dir).segments_dir(),
            _temp: None,
        })
    }

    /// A ledger database in a fresh temporary directory, removed when it is
    /// dropped (for tests).
    pub fn open_temporary() -> Result<LedgerDb> {
        let temp = TempDir::new()?;
        let mut db = LedgerDb::open(temp.path(), &SqliteOptions { read_connections: 2, ..SqliteOptions::default() })?;
        db._temp = Some(temp);
        Ok(db)
    }

    /// The directory holding `ledger.db`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment files the bodies of its rows are read from: those of the
    /// data directory `ledger.db` is in.
    pub fn segments_dir(&self) -> &Path {
        &self.segments
    }

    /// Fills in the bodies the rows keep in the segment files.
    fn with_bodies(&self, mut rows: Vec<LedgerRow>) -> Result<Vec<LedgerRow>> {
        crate::segments::read_placed(&self.segments, &mut rows).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(rows)
    }

    /// The number of entries the store's copy ends at (its last seq plus one;
    /// retention removes from the front, so this is not a count of rows).
    pub fn ledger_end(&self) -> Result<u64> {
        self.read(|conn| {
            conn.prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger.ledger")
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|n| n as u64)
                .ctx("counting the ledger")
        })
    }

    /// Copies what the WAL holds into the database file and syncs it, beside
    /// the appends (a passive checkpoint takes no lock they wait for). The
    /// writer's copying thread calls it every few tens of milliseconds
    /// (`writer::CHECKPOINT_PACE`), so that each sync is short, and the
    /// indexer after each pass, so that the appends never run a checkpoint
    /// themselves.
    pub fn checkpoint(&self) -> Result<()> {
        let conn = lock_writer(&self.checkpointer);
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).ctx("checkpointing ledger.db")
    }

    /// The writer is about to release the responses of the entries below
    /// `end`, whose copy is under way: reads that start from now on wait for it.
    pub(crate) fn expect_copies(&self, end: u64) {
        let mut c = self.copies.state.lock().unwrap_or_else(PoisonError::into_inner);
        c.expected = c.expected.max(end);
    }

    /// The entries below `end` are in this file.
    pub(crate) fn copied(&self, end: u64) {
        let mut c = self.copies.state.lock().unwrap_or_else(PoisonError::into_inner);
        c.copied = c.copied.max(end);
        c.expected = c.expected.max(end);
        self.copies.done.notify_all();
    }

    /// The copy stopped: reads waiting for it fail with `why`.
    pub(crate) fn copy_failed(&self, why: String) {
        let mut c = self.copies.state.lock().unwrap_or_else(PoisonError::into_inner);
        c.failed = Some(why);
        self.copies.done.notify_all();
    }

    /// Why the copy stopped, if it did: the writer then refuses every record.
    pub(crate) fn copy_failure(&self) -> Option<String> {
        self.copies.state.lock().unwrap_or_else(PoisonError::into_inner).failed.clone()
    }

    /// INVARIANT (released-is-readable): a read waits until every entry whose
    /// response was released before it started is in this file, so that the
    /// audit questions, proofs and tests of this process see them, though the
    /// copy runs beside the responses, not before them.
    fn wait_for_copies(&self) -> Result<()> {
        let mut c = self.copies.state.lock().unwrap_or_else(PoisonError::into_inner);
        let target = c.expected;
        let deadline = Instant::now() + COPY_WAIT;
        while c.copied < target {
            if let Some(why) = &c.failed {
                return Err(StoreError::Backend(format!("the ledger's copy in ledger.db stopped: {why}")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Backend(format!(
                    "the ledger's copy in ledger.db is at entry {}, {} behind the released entries",
                    c.copied,
                    target - c.copied
                )));
            }
            c = self.copies.done.wait_timeout(c, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.wait_for_copies()?;
        let conn = self.readers.get();
        f(&conn)
    }

    /// Several statements in one read transaction: one snapshot for all.
    fn read_many<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.wait_for_copies()?;
        read_transaction(&self.readers.get(), f)
    }

    /// One immediate transaction on the writer, committed only if `f` is Ok.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        write_transaction(&self.writer, f)
    }

    /// Appends rows whose `seq` continue the ledger exactly, with their
    /// indexable columns (`entries`, one per row, for `ledger_select` and
    /// `ledger_count`), in one transaction; a row with a place is stored
    /// with the place instead of its body. Visible to every reader on
    /// return, and as durable as the backend is configured to make it (the
    /// ledger crate's segment files are the ledger's durable record, and its
    /// writer copies back what a crash kept from the store). The summaries
    /// and post filters are not touched: they follow, in larger batches,
    /// through `ledger_index_rows`.
    ///
    /// Checks continuity and inserts inside one immediate transaction on the
    /// ledger's own writer, so the check cannot race another append (not even
    /// one from another process) and a refused call writes nothing.
    ///
    /// The index is maintained in the same transaction when it is caught up
    /// with the ledger; otherwise the rows wait for `ledger_index_rows`.
    pub fn ledger_append(&self, rows: &[LedgerRow], entries: &[EntryIndex]) -> Result<()> {
        index::check_shape(rows, entries)?;
        if rows.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let next: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .ctx("reading the ledger's next seq")?;
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO ledger ({LEDGER_COLUMNS}, client, purpose, refused, posts, policy_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ))
                .ctx("preparing the ledger insert")?;
            for (i, (row, e)) in rows.iter().zip(entries).enumerate() {
                let expected = next as u64 + i as u64;
                if row.seq != expected {
                    return Err(StoreError::Conflict(format!(
                        "ledger row {} does not continue the ledger, which expects seq {expected}",
                        row.seq
                    )));
                }
                let seq = id_to_sql(row.seq, "seq")?;
                let app = row.app_id.map(|a| id_to_sql(a.0, "app_id")).transpose()?;
                // A body in the segment files is kept there: the row holds its place.
                let body: &[u8] = if row.place.is_some() { &[] } else { &row.body };
                let place = row
                    .place
                    .map(|p| Ok::<_, StoreError>((id_to_sql(p.file, "body_file")?, id_to_sql(p.offset, "body_at")?)))
                    .transpose()?;
                insert
                    .execute(params![
                        seq,
                        row.time.millis(),
                        app,
                        body,
                        row.hash.as_slice(),
                        place.map(|p| p.0),
                        place.map(|p| p.1),
                        e.client.as_deref(),
                        e.purpose.map(tollgate_domain::Purpose::as_str),
                        e.refused,
                        i64::from(e.posts),
                        e.policy_version.as_str(),
                    ])
                    .ctx(format_args!("appending ledger row {}", row.seq))?;
            }
            Ok(())
        })
    }

    /// Rows from `from_seq` on, at most `limit`, with their bodies (those
    /// of rows with a place read from the segment files, as by every read
    /// of rows here).
    pub fn ledger_read(&self, from_seq: u64, limit: usize) -> Result<Vec<LedgerRow>> {
        let rows = self.ledger_read_unfilled(from_seq, limit)?;
        self.with_bodies(rows)
    }

    /// As `ledger_read`, but the rows that keep their bodies' places are
    /// returned with an empty body: for a reader that needs only the places.
    pub(crate) fn ledger_read_unfilled(&self, from_seq: u64, limit: usize) -> Result<Vec<LedgerRow>> {
        let Some(from) = lookup_id(from_seq) else { return Ok(Vec::new()) };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {LEDGER_COLUMNS} FROM ledger.ledger WHERE seq >= ?1 ORDER BY seq LIMIT ?2"
            ))
            .and_then(|mut s| s.query_map([from, limit], ledger_from_row)?.collect())
            .ctx(format_args!("reading the ledger from seq {from_seq}"))
        })
    }

    /// The last row, if any.
    pub fn ledger_last(&self) -> Result<Option<LedgerRow>> {
        let row = self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {LEDGER_COLUMNS} FROM ledger.ledger ORDER BY seq DESC LIMIT 1"))
                .and_then(|mut s| s.query_row([], ledger_from_row).optional())
                .ctx("reading the last ledger row")
        })?;
        Ok(self.with_bodies(row.into_iter().collect())?.pop())
    }

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
    ///
    /// One immediate transaction on the ledger's writer: appends wait for it
    /// (a segment of 65,536 rows at a time, from the ledger crate). SQLite
    /// does not shrink the file: the freed pages are reused by later appends.
    pub fn ledger_delete_before(&self, removal: &LedgerRemoval) -> Result<u64> {
        self.write(|tx| index::delete_before(tx, removal))
    }

    /// The index covers exactly the entries below this seq.
    pub fn ledger_indexed_end(&self) -> Result<u64> {
        self.read(|conn| index::indexed_end(conn, "ledger."))
    }

    /// Forgets the whole index (the ledger rows stay): `ledger_indexed_end`
    /// becomes the seq of the first stored row (0 unless retention removed
    /// rows), and the rows' indexable columns are cleared.
    pub fn ledger_index_clear(&self) -> Result<()> {
        self.write(index::clear)
    }

    /// Indexes stored rows that continue the indexed prefix exactly (the
    /// first has seq `ledger_indexed_end()`), all or none: adds them to the
    /// summaries, stores `index.filters`, and rewrites the rows' indexable
    /// columns where they differ from `index.entries` (after a clear).
    pub fn ledger_index_rows(&self, rows: &[LedgerRow], index: &LedgerIndex) -> Result<()> {
        self.index_rows(rows, index, true)
    }

    /// `ledger_index_rows` for rows that `ledger_append` stored with these
    /// very `index.entries` (the copy the indexer is handed): their columns
    /// are as the append wrote them, so they are not compared row by row
    /// again (a seek per entry), unless a clear (`ledger_index_clear`, a
    /// `reindex`) emptied them since: then the first row's are unset, and
    /// every row's are set as `ledger_index_rows` sets them.
    pub fn ledger_index_copied(&self, rows: &[LedgerRow], index: &LedgerIndex) -> Result<()> {
        self.index_rows(rows, index, false)
    }

    fn index_rows(&self, rows: &[LedgerRow], index: &LedgerIndex, always_set: bool) -> Result<()> {
        index::check_shape(rows, &index.entries)?;
        let Some(first) = rows.first() else { return Ok(()) };
        self.write(|tx| {
            let end = index::indexed_end(tx, "")?;
            if first.seq != end || rows.iter().enumerate().any(|(i, r)| r.seq != end + i as u64) {
                return Err(StoreError::Conflict(format!(
                    "ledger rows from {} do not continue the index, which ends at {end}",
                    first.seq
                )));
            }
            // A clear empties every row's columns at once, and rows are
            // appended in order: if the first row's are set, all are.
            if always_set || !index::columns_set(tx, first.seq)? {
                index::set_columns(tx, rows, index)?;
            }
            index::check_stored(tx, rows)?;
            index::add_to_summaries(tx, rows, index)?;
            blocks::store_completed(tx, first.seq, end + rows.len() as u64)
        })
    }

    /// The post lists of one shard, from block `from_block` on, ascending, at
    /// most `limit`.
    pub fn ledger_post_filters(&self, shard: u32, from_block: u64, limit: usize) -> Result<Vec<PostFilter>> {
        self.read(|conn| index::post_filters(conn, shard, from_block, limit))
    }

    /// The stored rows among `seqs` (in any order, repeats allowed), by
    /// ascending seq, read in one read transaction.
    pub fn ledger_rows(&self, seqs: &[u64]) -> Result<Vec<LedgerRow>> {
        let mut seqs: Vec<i64> = seqs.iter().filter_map(|s| lookup_id(*s)).collect();
        seqs.sort_unstable();
        seqs.dedup();
        let rows = self.read_many(|conn| {
            let mut s = conn
                .prepare_cached(&format!("SELECT {LEDGER_COLUMNS} FROM ledger.ledger WHERE seq = ?1"))
                .ctx("preparing the ledger row read")?;
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                out.extend(
                    s.query_row([seq], ledger_from_row).optional().ctx(format_args!("reading ledger row {seq}"))?,
                );
            }
            Ok(out)
        })?;
        self.with_bodies(rows)
    }

    /// The indexable columns of the stored rows among `seqs` (in any order,
    /// repeats allowed) whose columns are set, by ascending seq, read in one
    /// read transaction. Meant for many rows at once: a backend may keep a
    /// compact copy of the columns per indexed block for it.
    pub fn ledger_entry_columns(&self, seqs: &[u64]) -> Result<Vec<EntryColumns>> {
        self.read_many(|conn| blocks::entry_columns(conn, seqs))
    }

    /// The audit-index columns stored beside the rows from `from_seq` on,
    /// at most `limit`, by ascending seq, as stored, with the end of the
    /// index, in one read transaction: for `verify`, which compares them
    /// with the entries.
    pub fn ledger_index_columns(&self, from_seq: u64, limit: usize) -> Result<StoredColumnsPage> {
        self.read_many(|conn| index::stored_columns(conn, from_seq, limit))
    }

    /// Who received posts of `author`, per (app or client, purpose).
    pub fn ledger_author_deliveries(&self, author: AccountId) -> Result<Vec<AuthorDeliveries>> {
        self.read(|conn| index::author_deliveries(conn, author))
    }

    /// An app's entries with `from <= time < until` counted per UTC day,
    /// purpose and outcome, by day then purpose.
    pub fn ledger_app_days(&self, app: AppId, from: Timestamp, until: Option<Timestamp>) -> Result<Vec<DaySummary>> {
        self.read(|conn| index::app_days(conn, app, from, until))
    }

    /// A page of the rows of a selection after `after`, at most `limit`.
    pub fn ledger_select(
        &self,
        select: &LedgerSelect,
        after: Option<LedgerCursor>,
        limit: usize,
    ) -> Result<Vec<LedgerRow>> {
        let rows = self.read(|conn| index::select(conn, select, after, limit))?;
        self.with_bodies(rows)
    }

    /// The counts of a whole selection. For `Policy`, `refused` counts the
    /// refusals under that policy version, which the selection leaves out.
    pub fn ledger_count(&self, select: &LedgerSelect) -> Result<LedgerCounts> {
        self.read(|conn| index::count(conn, select))
    }
}

pub(crate) const LEDGER_COLUMNS: &str = "seq, time, app_id, body, hash, body_file, body_at";

/// A hash column that is not 32 bytes long.
#[derive(Debug, thiserror::Error)]
#[error("a ledger hash must be 32 bytes, found {0}")]
struct BadHash(usize);

pub(crate) fn ledger_from_row(row: &Row<'_>) -> rusqlite::Result<LedgerRow> {
    let hash: Vec<u8> = row.get(4)?;
    let len = hash.len();
    Ok(LedgerRow {
        seq: id_from_sql(row.get(0)?),
        time: timestamp(row, 1)?,
        app_id: row.get::<_, Option<i64>>(2)?.map(|v| AppId(id_from_sql(v))),
        body: row.get(3)?,
        hash: hash.try_into().map_err(|_| conversion(4, Type::Blob, BadHash(len)))?,
        place: match (row.get::<_, Option<i64>>(5)?, row.get::<_, Option<i64>>(6)?) {
            (Some(file), Some(offset)) => Some(BodyPlace { file: id_from_sql(file), offset: id_from_sql(offset) }),
            _ => None,
        },
    })
}
