//! Opening and configuring connections, and sharing them between threads.
//!
//! Each database file has exactly one writer connection behind a mutex:
//! SQLite admits one writer per file at a time anyway, and serialising in
//! process keeps writers off the busy-retry path. Reads go to a small pool
//! of separate connections; in WAL mode they never wait for the writer and
//! each read starts from the latest commit, so a reader sees every write
//! that returned before it began.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tollgate_store::{Result, StoreError};

use crate::Synchronous;
use crate::codec::Ctx;

/// How long a connection waits for a lock held by another process (or a
/// checkpoint) before giving up with "database is busy".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection. Search statements vary with the
/// shape of the expression, so this is larger than rusqlite's default.
const STATEMENT_CACHE: usize = 128;

/// After a checkpoint, a WAL file larger than this is truncated back to it,
/// so one large bulk load does not leave a WAL of the same size behind.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

fn open_flags() -> OpenFlags {
    // No SQLite-level mutex: every connection is used by one thread at a time
    // under a `Mutex` of ours.
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// `cache_size` takes a negative number to mean KiB.
fn cache_pragma(mib: u32) -> i64 {
    -(i64::from(mib) * 1024)
}

/// Opens the writer connection of a file, switching it to WAL mode.
pub fn open_writer(path: &Path, sync: Synchronous, cache_mib: u32) -> Result<Connection> {
    let shown = path.display();
    let conn = Connection::open_with_flags(path, open_flags()).ctx(format_args!("opening {shown}"))?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx(format_args!("setting the busy timeout of {shown}"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .ctx(format_args!("switching {shown} to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("{shown} cannot use WAL mode (journal mode is {mode})")));
    }
    let level = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level).ctx(format_args!("setting synchronous on {shown}"))?;
    // On macOS a plain fsync leaves the data in the drive's cache; F_FULLFSYNC
    // flushes it. Elsewhere these pragmas change nothing.
    let full = sync == Synchronous::Full;
    conn.pragma_update(None, "fullfsync", full).ctx(format_args!("setting fullfsync on {shown}"))?;
    conn.pragma_update(None, "checkpoint_fullfsync", full)
        .ctx(format_args!("setting checkpoint_fullfsync on {shown}"))?;
    conn.pragma_update(None, "foreign_keys", true).ctx(format_args!("enabling foreign keys on {shown}"))?;
    conn.pragma_update(None, "cache_size", cache_pragma(cache_mib)).ctx(format_args!("sizing the cache of {shown}"))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .ctx(format_args!("limiting the WAL size of {shown}"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Opens a read connection on `main`, with each of `attach` (a file and the
/// schema name its tables are read under) attached.
pub fn open_reader(main: &Path, attach: &[(&Path, &str)], cache_mib: u32) -> Result<Connection> {
    let shown = main.display();
    let conn = Connection::open_with_flags(main, open_flags()).ctx(format_args!("opening {shown} for reading"))?;
    conn.busy_timeout(BUSY_TIMEOUT).ctx("setting the busy timeout of a reader")?;
    for (path, name) in attach {
        let text = path
            .to_str()
            .ok_or_else(|| StoreError::Backend(format!("the path {} is not valid UTF-8", path.display())))?;
        conn.execute(&format!("ATTACH DATABASE ?1 AS {name}"), [text])
            .ctx(format_args!("attaching {} to a reader", path.display()))?;
    }
    conn.pragma_update(None, "cache_size", cache_pragma(cache_mib)).ctx("sizing the cache of a reader")?;
    // A reader that tried to write would be a bug; make it an error instead.
    conn.pragma_update(None, "query_only", true).ctx("making a reader read-only")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Runs several statements on `conn` in one read transaction: one snapshot
/// and one WAL read lock for all of them, instead of one per statement.
pub fn read_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN").ctx("starting a read")?;
    let out = f(conn);
    let end = conn.execute_batch(if out.is_ok() { "COMMIT" } else { "ROLLBACK" }).ctx("ending a read");
    let out = out?;
    end?;
    Ok(out)
}

/// Runs `f` in one immediate transaction on `writer`, committing only if it
/// returns Ok.
pub fn write_transaction<T>(
    writer: &Mutex<Connection>,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut conn = lock_writer(writer);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).ctx("starting a write")?;
    let out = f(&tx)?;
    tx.commit().ctx("committing a write")?;
    Ok(out)
}

/// Locks a writer, recovering from a panic of an earlier holder: the panic
/// unwound through rusqlite's `Transaction`, which rolled back on drop, so the
/// connection is usable; if a transaction is somehow still open, it is rolled
/// back here so that no half-done work can be committed by the next caller.
pub fn lock_writer(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    let guard = m.lock().unwrap_or_else(PoisonError::into_inner);
    if !guard.is_autocommit() {
        // Nothing to report to: this caller did not start that transaction, and
        // the next `BEGIN` fails loudly should the rollback not have happened.
        let _ = guard.execute_batch("ROLLBACK");
    }
    guard
}

/// The read connections, handed out round-robin; a busy one is skipped.
pub struct ReadPool {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl ReadPool {
    pub fn new(conns: Vec<Connection>) -> ReadPool {
        ReadPool { conns: conns.into_iter().map(Mutex::new).collect(), next: AtomicUsize::new(0) }
    }

    /// A free reader if there is one, otherwise waits for the next one in turn.
    pub fn get(&self) -> MutexGuard<'_, Connection> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.conns[(start + i) % n].try_lock() {
                Ok(guard) => return guard,
                // A reader holds no transaction between calls (every statement
                // is reset when dropped), so a panic cannot leave one behind.
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.conns[start].lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes the creation of the database files durable: a new file's directory
/// entry lives in the directory, which SQLite itself does not sync.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Backend(format!("syncing the directory {}: {e}", dir.display())))
}

#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing here; NTFS journals its
    // metadata.
    Ok(())
}
