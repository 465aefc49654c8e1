//! The embedded store: SQLite in WAL mode, in two files in one directory.
//!
//! `tollgate.db` holds the platform data (accounts, posts and their full-text
//! index, apps, keys, agreements, the change log). The ledger keeps its own
//! file beside it, `ledger.db`, which the ledger crate owns (`LedgerDb`),
//! built on the plumbing this crate shares with it (`plumbing`): its own
//! write lock, so a ledger append never queues behind a bulk import or a
//! preference change.
//! `docs/storage.md` explains the choice of SQLite, the schema and the
//! durability guarantees.

mod changes;
mod codec;
mod conn;
mod guard_notices;
mod jobs;
mod notices;
mod query;
mod schema;
mod webhooks;
mod writes;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, ApiKey, App, AppId, AppStatus, Event, EventChange, KeyId, Notice,
    Post, PostId, PreferenceChange, Timestamp,
};
use tollgate_store::{
    AccountUpsert, AckOutcome, AppUpdate, BulkWriter, Changes, ComplianceJob, DeadLetter, GuardNotice, JobKind,
    JobStatus, NewApp, NewComplianceJob, NewGuardNotice, NewKey, NewWebhook, NoticeAcks, NoticeQuery, Result,
    SearchPage, SearchQuery, Stats, Store, StoreError, TimelineQuery, Webhook,
};

use crate::codec::{
    ACCOUNT_COLUMNS, AGREEMENT_COLUMNS, APP_COLUMNS, Ctx, KEY_COLUMNS, POST_COLUMNS, account_from_row,
    agreement_from_row, app_from_row, handle_key, is_unique_violation, key_from_row, lookup_id, post_from_row,
    purposes_to_sql,
};
use crate::conn::{ReadPool, lock_writer, open_reader, open_writer, read_transaction, sync_dir, write_transaction};

/// The SQLite plumbing that the ledger's own database (`tollgate-ledger`'s
/// `LedgerDb`, in `ledger.db`) shares with this store: connections, the
/// reader pool, migrations, and the conversions of ids and times.
pub mod plumbing {
    pub use crate::TempDir;
    pub use crate::codec::{Ctx, conversion, id_from_sql, id_to_sql, lookup_id, timestamp};
    pub use crate::conn::{
        ReadPool, lock_writer, open_reader, open_writer, read_transaction, sync_dir, write_transaction,
    };
    pub use crate::schema::migrate;
}

/// The file of the platform data inside the store's directory.
pub const PLATFORM_FILE: &str = "tollgate.db";

/// The schema version of `tollgate.db` this build writes.
pub const PLATFORM_SCHEMA_VERSION: u32 = schema::PLATFORM[schema::PLATFORM.len() - 1].0;

/// When a commit counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is synced to the disk before it returns: a write that
    /// returned survives a crash of the process and a loss of power.
    #[default]
    Full,
    /// Commits are synced at checkpoints only: a write that returned survives
    /// a crash of the process, but the last ones may be lost with power.
    Normal,
}

/// Tuning of an opened store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// For `tollgate.db`, the platform's data.
    pub synchronous: Synchronous,
    /// For `ledger.db`, the store's copy of the ledger and its audit index.
    /// `Normal` by default: the ledger's durable record is its segment files,
    /// synced with every commit, and its writer copies into `ledger.db`
    /// whatever a crash kept from it.
    pub ledger_synchronous: Synchronous,
    /// Connections serving reads concurrently (at least one is opened).
    pub read_connections: usize,
    /// The page cache of each connection, in MiB.
    pub cache_mib: u32,
    /// The most posts one page of a search examines when no index narrows
    /// it (an emoji alone): `Store::search_page` answers with what it found
    /// among them and where to resume.
    pub search_walk_limit: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            ledger_synchronous: Synchronous::Normal,
            read_connections: 4,
            cache_mib: 64,
            search_walk_limit: DEFAULT_SEARCH_WALK_LIMIT,
        }
    }
}

/// `SqliteOptions::search_walk_limit` by default: on the 10-million-post
/// platform of BENCHMARKS.md, 0.28 s of a walk cold and 0.04 s warm, against
/// 28 s for the whole table cold (docs/storage.md, "Search").
pub const DEFAULT_SEARCH_WALK_LIMIT: usize = 100_000;

/// The page cache of the writer during a bulk load, in MiB, if the configured
/// one is smaller: an import touches many index pages at random, and a bigger
/// cache only costs memory for the duration of the load.
const BULK_CACHE_MIB: u32 = 256;

/// The SQLite store. `Send + Sync`: share it behind an `Arc`.
pub struct SqliteStore {
    platform: Mutex<Connection>,
    readers: ReadPool,
    /// Watches `tollgate.db` for commits, for `change_seq`.
    watch: changes::Watch,
    options: SqliteOptions,
    dir: PathBuf,
    /// Declared last so that it is dropped after every connection is closed.
    _temp: Option<TempDir>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("dir", &self.dir).field("options", &self.options).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`, migrating both files to
    /// this build's schema. Refuses files written by a newer build with
    /// `StoreError::TooNew`.
    pub fn open(dir: &Path, options: &SqliteOptions) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("creating the data directory {}: {e}", dir.display())))?;
        let platform_path = dir.join(PLATFORM_FILE);

        let mut platform = open_writer(&platform_path, options.synchronous, options.cache_mib)?;
        register(&platform)?;
        schema::migrate(&mut platform, PLATFORM_FILE, schema::PLATFORM)?;
        sync_dir(dir)?;

        let readers = (0..options.read_connections.max(1))
            .map(|_| open_reader(&platform_path, &[], options.cache_mib).and_then(|c| register(&c).map(|()| c)))
            .collect::<Result<Vec<_>>>()?;
        let watch = changes::Watch::new(&platform_path, open_reader(&platform_path, &[], 1)?);
        Ok(SqliteStore {
            platform: Mutex::new(platform),
            readers: ReadPool::new(readers),
            watch,
            options: options.clone(),
            dir: dir.to_owned(),
            _temp: None,
        })
    }

    /// A store in a fresh temporary directory that is removed when the store
    /// is dropped. Not in memory despite the name: tests run the very code
    /// (WAL, two files, the reader pool) that production runs.
    pub fn open_in_memory_for_tests() -> Result<SqliteStore> {
        let temp = TempDir::new()?;
        let mut store = SqliteStore::open(&temp.0, &SqliteOptions { read_connections: 2, ..SqliteOptions::default() })?;
        store._temp = Some(temp);
        Ok(store)
    }

    /// The directory holding the two database files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `f` on a read connection.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.get();
        f(&conn)
    }

    /// Runs several statements in one read transaction: one snapshot and one
    /// WAL read lock for all of them, instead of one per statement (a
    /// 100-id lookup otherwise takes and drops the lock 100 times).
    fn read_many<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        read_transaction(&self.readers.get(), f)
    }

    /// Runs `f` in one immediate transaction on the writer of `file`,
    /// committing only if it returns Ok.
    fn write_on<T>(file: &Mutex<Connection>, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        write_transaction(file, f)
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        Self::write_on(&self.platform, f)
    }
}

fn account_by_id(conn: &Connection, id: i64) -> Result<Option<Account>> {
    conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], account_from_row).optional())
        .ctx(format_args!("reading account {id}"))
}

fn app_by_id(conn: &Connection, id: i64) -> Result<Option<App>> {
    conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], app_from_row).optional())
        .ctx(format_args!("reading app {id}"))
}

fn key_by_id(conn: &Connection, id: i64) -> Result<Option<ApiKey>> {
    conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], key_from_row).optional())
        .ctx(format_args!("reading key {id}"))
}

fn agreement_by_version(conn: &Connection, version: u32) -> Result<Option<Agreement>> {
    conn.prepare_cached(&format!("SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE version = ?1"))
        .and_then(|mut s| s.query_row([version], agreement_from_row).optional())
        .ctx(format_args!("reading agreement version {version}"))
}

/// Records that `n` keys of an app changed, if any did; returns `n`.
fn keys_changed(tx: &Connection, app: i64, n: usize) -> Result<usize> {
    if n > 0 {
        changes::record_events(tx, Timestamp::now(), &[EventChange::KeyChanged { app_id: AppId(app as u64) }])?;
    }
    Ok(n)
}

/// Registers the SQL functions search statements call (`query::ENTITY_FUNCTION`)
/// on a connection of `tollgate.db`.
fn register(conn: &Connection) -> Result<()> {
    query::register_functions(conn).ctx("registering the search functions")
}

/// Runs a built listing statement.
fn list_posts(conn: &Connection, stmt: Option<query::Statement>, what: &str) -> Result<Vec<Post>> {
    let Some(stmt) = stmt else { return Ok(Vec::new()) };
    let mut prepared = conn.prepare_cached(&stmt.sql).ctx(format_args!("preparing {what}"))?;
    let rows = prepared
        .query_map(rusqlite::params_from_iter(stmt.params.iter()), post_from_row)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
    rows.ctx(format_args!("running {what}"))
}

/// The statement sizes `by_ids` uses: a batch is padded up to the next one,
/// so that a handful of cached statements serve every batch size.
const ID_BATCHES: [usize; 4] = [1, 8, 32, 100];

/// The rows of `select` (a statement ending in `WHERE id IN`) for distinct
/// `ids`, one statement per up to 100 ids.
fn by_ids<T>(
    conn: &Connection,
    ids: &[i64],
    select: &str,
    from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    what: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ID_BATCHES[ID_BATCHES.len() - 1]) {
        let size = ID_BATCHES.into_iter().find(|n| *n >= chunk.len()).unwrap_or(chunk.len());
        let marks = vec!["?"; size].join(",");
        let mut stmt =
            conn.prepare_cached(&format!("{select} ({marks})")).ctx(format_args!("preparing a read of {what}"))?;
        // Padding repeats the first id: `IN` matches it once all the same.
        let params = (0..size).map(|i| chunk.get(i).unwrap_or(&chunk[0]));
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(format_args!("reading {what} by id"))?;
        out.extend(rows);
    }
    Ok(out)
}

/// The distinct storable ids among `ids`, in their first order.
fn distinct_ids(ids: impl Iterator<Item = u64>) -> Vec<i64> {
    let mut seen = HashSet::new();
    ids.filter_map(lookup_id).filter(|id| seen.insert(*id)).collect()
}

/// The bulk transaction as the import sees it.
///
/// Into an empty store, rows are written as they come: they are the base a
/// replay of the log starts from. Into a store that has data, each row is
/// compared with the stored one, and what it changes is recorded as events,
/// as any other write's would be.
struct Bulk<'a> {
    tx: &'a Transaction<'a>,
    record_changes: bool,
    at: Timestamp,
    accounts: u64,
    posts: u64,
}

impl BulkWriter for Bulk<'_> {
    fn put_account(&mut self, account: &Account) -> Result<()> {
        self.accounts += 1;
        if self.record_changes {
            return writes::put_account(self.tx, account, false, self.at);
        }
        codec::put_account(self.tx, account)
    }

    fn put_post(&mut self, post: &Post) -> Result<()> {
        self.posts += 1;
        if self.record_changes {
            return writes::put_post(self.tx, post, self.at);
        }
        codec::put_post(self.tx, post)
    }
}

impl Store for SqliteStore {
    // -- accounts --------------------------------------------------------------

    fn upsert_accounts(&self, accounts: &[Account]) -> Result<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        let at = Timestamp::now();
        self.write(|tx| accounts.iter().try_for_each(|a| writes::put_account(tx, a, false, at)))
    }

    fn upsert_accounts_keeping_preferences(&self, accounts: &[AccountUpsert]) -> Result<()> {
        if accounts.is_empty() {
            return Ok(());
        }
        // INVARIANT (consent-read-modify-write): `writes::put_account` reads
        // the stored preferences inside the write transaction.
        let at = Timestamp::now();
        self.write(|tx| accounts.iter().try_for_each(|a| writes::put_account(tx, &a.account, a.keep_preferences, at)))
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let Some(id) = lookup_id(id.0) else { return Ok(None) };
        self.read(|conn| account_by_id(conn, id))
    }

    fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Account>> {
        let ids = distinct_ids(ids.iter().map(|i| i.0));
        self.read_many(|conn| {
            by_ids(
                conn,
                &ids,
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN"),
                account_from_row,
                "accounts",
            )
        })
    }

    fn account_by_handle(&self, handle: &str) -> Result<Option<Account>> {
        let key = handle_key(handle);
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE handle_lower = ?1"))
                .and_then(|mut s| s.query_row([&key], account_from_row).optional())
                .ctx("reading an account by handle")
        })
    }

    fn set_preferences(&self, id: AccountId, changes: &[PreferenceChange], at: Timestamp) -> Result<Option<Account>> {
        self.write(|tx| writes::set_preferences(tx, id, changes, at))
    }

    fn set_account_status(&self, id: AccountId, status: AccountStatus) -> Result<bool> {
        let at = Timestamp::now();
        self.write(|tx| writes::set_status(tx, id, status, at))
    }

    // -- posts -----------------------------------------------------------------

    fn upsert_posts(&self, posts: &[Post]) -> Result<()> {
        if posts.is_empty() {
            return Ok(());
        }
        let at = Timestamp::now();
        self.write(|tx| posts.iter().try_for_each(|p| writes::put_post(tx, p, at)))
    }

    fn posts(&self, ids: &[PostId]) -> Result<Vec<Post>> {
        let ids = distinct_ids(ids.iter().map(|i| i.0));
        self.read_many(|conn| {
            by_ids(conn, &ids, &format!("SELECT {POST_COLUMNS} FROM posts p WHERE p.id IN"), post_from_row, "posts")
        })
    }

    fn timeline(&self, author: AccountId, q: &TimelineQuery) -> Result<Vec<Post>> {
        let stmt = query::timeline(author, q);
        self.read(|conn| list_posts(conn, stmt, "a timeline query"))
    }

    fn search(&self, q: &SearchQuery) -> Result<Vec<Post>> {
        query::check_text(&q.expr)?;
        let stmt = query::search(q, None).map(|s| s.page);
        self.read(|conn| list_posts(conn, stmt, "a search query"))
    }

    fn search_page(&self, q: &SearchQuery) -> Result<SearchPage> {
        query::check_text(&q.expr)?;
        let Some(search) = query::search(q, Some(self.options.search_walk_limit)) else {
            return Ok(SearchPage::default());
        };
        self.read(|conn| {
            let posts = list_posts(conn, Some(search.page), "a search query")?;
            let resume_before = match search.walk_floor {
                Some(floor) if posts.len() < q.limit => conn
                    .prepare_cached(&floor.sql)
                    .and_then(|mut s| {
                        s.query_row(rusqlite::params_from_iter(floor.params.iter()), |r| r.get::<_, i64>(0)).optional()
                    })
                    .ctx("finding where a bounded search walk ends")?
                    .map(|id| PostId(id as u64)),
                _ => None,
            };
            Ok(SearchPage { posts, resume_before })
        })
    }

    fn set_post_no_ai(&self, id: PostId, no_ai: bool) -> Result<bool> {
        let at = Timestamp::now();
        self.write(|tx| writes::set_no_ai(tx, id, no_ai, at))
    }

    fn set_posts_no_ai(
        &self,
        author: AccountId,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        no_ai: bool,
    ) -> Result<u64> {
        let at = Timestamp::now();
        self.write(|tx| writes::set_posts_no_ai(tx, author, from, until, no_ai, at))
    }

    /// A post deleted twice keeps the time of its first deletion.
    fn delete_post(&self, id: PostId, at: Timestamp) -> Result<bool> {
        self.write(|tx| writes::delete_post(tx, id, at))
    }

    fn bulk_load(&self, work: &mut dyn FnMut(&mut dyn BulkWriter) -> Result<()>) -> Result<()> {
        let mut conn = lock_writer(&self.platform);
        let bigger = self.options.cache_mib < BULK_CACHE_MIB;
        if bigger {
            conn.pragma_update(None, "cache_size", -(i64::from(BULK_CACHE_MIB) * 1024))
                .ctx("enlarging the cache for a bulk load")?;
        }
        let outcome = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).ctx("starting a bulk load")?;
            let record_changes = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM posts)", [], |r| r.get(0))
                .ctx("asking whether the store is empty")?;
            let mut bulk = Bulk { tx: &tx, record_changes, at: Timestamp::now(), accounts: 0, posts: 0 };
            work(&mut bulk)?;
            // One event for the whole load: followers start over.
            let imported = EventChange::Imported { accounts: bulk.accounts, posts: bulk.posts };
            changes::record_events(&tx, bulk.at, &[imported])?;
            // The commit is as durable as any other: synchronous is unchanged.
            tx.commit().ctx("committing a bulk load")
        })();
        if bigger {
            let restored = conn
                .pragma_update(None, "cache_size", -(i64::from(self.options.cache_mib) * 1024))
                .ctx("restoring the cache after a bulk load");
            // The load's own outcome matters more than the cache size.
            outcome?;
            return restored;
        }
        outcome
    }

    // -- apps, keys, agreements ------------------------------------------------

    fn create_app(&self, app: &NewApp) -> Result<App> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO apps (name, tier, purposes, licensed_purposes, status, agreement_version, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    app.name,
                    app.tier.as_str(),
                    purposes_to_sql(&app.purposes),
                    purposes_to_sql(&app.licensed_purposes),
                    AppStatus::Active.as_str(),
                    app.agreement_version,
                    app.created_at.millis(),
                ])
            })
            .ctx(format_args!("creating app `{}`", app.name))?;
            let id = AppId(tx.last_insert_rowid() as u64);
            changes::record_events(tx, Timestamp::now(), &[EventChange::AppChanged { app_id: id }])?;
            Ok(App {
                id,
                name: app.name.clone(),
                tier: app.tier,
                purposes: app.purposes.clone(),
                licensed_purposes: app.licensed_purposes.clone(),
                status: AppStatus::Active,
                agreement_version: app.agreement_version,
                created_at: app.created_at,
            })
        })
    }

    fn app(&self, id: AppId) -> Result<Option<App>> {
        let Some(id) = lookup_id(id.0) else { return Ok(None) };
        self.read(|conn| app_by_id(conn, id))
    }

    fn apps(&self) -> Result<Vec<App>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY id"))
                .and_then(|mut s| s.query_map([], app_from_row)?.collect())
                .ctx("listing apps")
        })
    }

    fn update_app(&self, id: AppId, update: &AppUpdate) -> Result<Option<App>> {
        let Some(id) = lookup_id(id.0) else { return Ok(None) };
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE apps SET status = COALESCE(?1, status), \
                     agreement_version = COALESCE(?2, agreement_version), \
                     purposes = COALESCE(?3, purposes), licensed_purposes = COALESCE(?4, licensed_purposes) \
                     WHERE id = ?5",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        update.status.map(AppStatus::as_str),
                        update.agreement_version,
                        update.purposes.as_deref().map(purposes_to_sql),
                        update.licensed_purposes.as_deref().map(purposes_to_sql),
                        id,
                    ])
                })
                .ctx(format_args!("updating app {id}"))?;
            if changed == 0 {
                return Ok(None);
            }
            changes::record_events(tx, Timestamp::now(), &[EventChange::AppChanged { app_id: AppId(id as u64) }])?;
            app_by_id(tx, id)
        })
    }

    fn add_key(&self, key: &NewKey) -> Result<ApiKey> {
        let app_id = lookup_id(key.app_id.0).ok_or_else(|| StoreError::NotFound(format!("app {}", key.app_id)))?;
        self.write(|tx| {
            if app_by_id(tx, app_id)?.is_none() {
                return Err(StoreError::NotFound(format!("app {}", key.app_id)));
            }
            tx.prepare_cached(
                "INSERT INTO api_keys (app_id, hash, prefix, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    app_id,
                    key.hash,
                    key.prefix,
                    key.created_at.millis(),
                    key.expires_at.map(Timestamp::millis)
                ])
            })
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("a key with this hash already exists".into())
                } else {
                    StoreError::Backend(format!("adding a key to app {}: {e}", key.app_id))
                }
            })?;
            let id = tx.last_insert_rowid();
            changes::record_events(tx, Timestamp::now(), &[EventChange::KeyChanged { app_id: key.app_id }])?;
            key_by_id(tx, id)?.ok_or_else(|| StoreError::Backend(format!("key {id} vanished after its insert")))
        })
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"))
                .and_then(|mut s| s.query_row([hash], key_from_row).optional())
                .ctx("reading a key by hash")
        })
    }

    fn keys(&self, app: AppId) -> Result<Vec<ApiKey>> {
        let Some(app) = lookup_id(app.0) else { return Ok(Vec::new()) };
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE app_id = ?1 ORDER BY id"))
                .and_then(|mut s| s.query_map([app], key_from_row)?.collect())
                .ctx(format_args!("listing the keys of app {app}"))
        })
    }

    fn expire_keys(&self, app: AppId, except: Option<KeyId>, at: Timestamp) -> Result<usize> {
        let Some(app) = lookup_id(app.0) else { return Ok(0) };
        // An `except` no key can have excludes nothing.
        let except = except.and_then(|k| lookup_id(k.0));
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE api_keys SET expires_at = ?1 WHERE app_id = ?2 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?1) AND (?3 IS NULL OR id <> ?3)",
            )
            .and_then(|mut s| s.execute(params![at.millis(), app, except]))
            .ctx(format_args!("expiring the keys of app {app}"))
            .and_then(|n| keys_changed(tx, app, n))
        })
    }

    fn revoke_keys(&self, app: AppId, key: Option<KeyId>, at: Timestamp) -> Result<usize> {
        let Some(app) = lookup_id(app.0) else { return Ok(0) };
        let key = match key {
            Some(k) => match lookup_id(k.0) {
                Some(k) => Some(k),
                None => return Ok(0),
            },
            None => None,
        };
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE api_keys SET revoked_at = ?1 WHERE app_id = ?2 AND revoked_at IS NULL \
                 AND (?3 IS NULL OR id = ?3)",
            )
            .and_then(|mut s| s.execute(params![at.millis(), app, key]))
            .ctx(format_args!("revoking keys of app {app}"))
            .and_then(|n| keys_changed(tx, app, n))
        })
    }

    /// Publishing is append-only: publishing a version again is accepted only
    /// if it is identical (a retried publication), and a conflict otherwise.
    fn publish_agreement(&self, agreement: &Agreement) -> Result<()> {
        self.write(|tx| {
            if let Some(existing) = agreement_by_version(tx, agreement.version)? {
                if existing == *agreement {
                    return Ok(());
                }
                return Err(StoreError::Conflict(format!(
                    "agreement version {} is already published with different content",
                    agreement.version
                )));
            }
            tx.prepare_cached(
                "INSERT INTO agreements (version, text, terms_json, published_at, grace_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    agreement.version,
                    agreement.text,
                    agreement.terms_json,
                    agreement.published_at.millis(),
                    agreement.grace_until.millis(),
                ])
            })
            .ctx(format_args!("publishing agreement version {}", agreement.version))?;
            let published = EventChange::AgreementPublished { version: agreement.version };
            changes::record_events(tx, Timestamp::now(), &[published]).map(drop)
        })
    }

    fn latest_agreement(&self) -> Result<Option<Agreement>> {
        self.read(|conn| {
            conn.prepare_cached(&format!("SELECT {AGREEMENT_COLUMNS} FROM agreements ORDER BY version DESC LIMIT 1"))
                .and_then(|mut s| s.query_row([], agreement_from_row).optional())
                .ctx("reading the latest agreement")
        })
    }

    fn agreement(&self, version: u32) -> Result<Option<Agreement>> {
        self.read(|conn| agreement_by_version(conn, version))
    }

    // -- the change log ----------------------------------------------------------

    // -- compliance jobs (in jobs.rs) --------------------------------------------

    fn create_compliance_job(&self, job: &NewComplianceJob) -> Result<ComplianceJob> {
        self.write(|tx| jobs::create(tx, job))
    }

    fn compliance_job(&self, id: u64) -> Result<Option<ComplianceJob>> {
        let Some(id) = lookup_id(id) else { return Ok(None) };
        self.read(|conn| jobs::get(conn, id))
    }

    fn compliance_jobs(&self, app: AppId, kind: JobKind, status: Option<JobStatus>) -> Result<Vec<ComplianceJob>> {
        self.read(|conn| jobs::list(conn, app, kind, status))
    }

    fn upload_compliance_ids(&self, id: u64, ids: &[u64]) -> Result<()> {
        self.write(|tx| jobs::upload(tx, id, ids))
    }

    fn compliance_job_ids(&self, id: u64) -> Result<Vec<u64>> {
        self.read(|conn| jobs::ids(conn, id))
    }

    fn complete_compliance_job(&self, id: u64, results: &[u8], lines: u64) -> Result<bool> {
        self.write(|tx| jobs::complete(tx, id, results, lines))
    }

    fn fail_compliance_job(&self, id: u64, error: &str) -> Result<bool> {
        self.write(|tx| jobs::fail(tx, id, error))
    }

    fn compliance_job_results(&self, id: u64) -> Result<Option<Vec<u8>>> {
        self.read(|conn| jobs::results(conn, id))
    }

    fn expire_compliance_jobs(&self, now: Timestamp) -> Result<usize> {
        // The common case, nothing due, takes no write lock.
        if !self.read(|conn| jobs::any_due(conn, now))? {
            return Ok(0);
        }
        self.write(|tx| jobs::expire(tx, now))
    }

    fn delete_compliance_job(&self, id: u64) -> Result<bool> {
        self.write(|tx| jobs::delete(tx, id))
    }

    fn compliance_secret(&self) -> Result<[u8; 32]> {
        self.read(jobs::secret)
    }

    fn change_seq(&self) -> Result<u64> {
        self.watch.seq()
    }

    fn changes_since(&self, after: u64, limit: usize) -> Result<Changes> {
        self.read(|conn| changes::since(conn, after, limit))
    }

    fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        self.read(|conn| changes::events_since(conn, after, limit))
    }

    fn apply_events(&self, changes: &[(Timestamp, EventChange)]) -> Result<u64> {
        self.write(|tx| {
            let before = changes::last_seq(tx)?;
            for (i, (at, change)) in changes.iter().enumerate() {
                writes::apply(tx, *at, change).map_err(|e| match e {
                    StoreError::Invalid { field, reason } => {
                        StoreError::Invalid { field, reason: format!("change {i}: {reason}") }
                    }
                    StoreError::NotFound(what) => StoreError::NotFound(format!("{what} (change {i})")),
                    StoreError::Conflict(why) => StoreError::Conflict(format!("change {i}: {why}")),
                    other => other,
                })?;
            }
            changes::events_after(tx, before)
        })
    }

    fn notices_opened_upto(&self) -> Result<u64> {
        self.read(notices::opened_upto)
    }

    fn notices_progress(&self, node: &str) -> Result<u64> {
        self.read(|conn| notices::progress(conn, node))
    }

    fn open_notices(&self, node: &str, upto: u64, opened: &[Notice]) -> Result<()> {
        self.write(|tx| notices::open(tx, node, upto, opened))
    }

    fn forget_notices_node(&self, node: &str) -> Result<bool> {
        self.write(|tx| notices::forget(tx, node))
    }

    fn notices(&self, query: &NoticeQuery) -> Result<Vec<Notice>> {
        self.read(|conn| notices::list(conn, query))
    }

    fn ack_notices(&self, app: AppId, acks: &NoticeAcks, at: Timestamp) -> Result<AckOutcome> {
        self.write(|tx| notices::ack(tx, app, acks, at))
    }

    // -- webhooks --------------------------------------------------------------

    fn create_webhook(&self, webhook: &NewWebhook) -> Result<Webhook> {
        self.write(|tx| webhooks::create(tx, webhook))
    }

    fn webhook(&self, id: u64) -> Result<Option<Webhook>> {
        self.read(|conn| webhooks::one(conn, id))
    }

    fn webhooks(&self, app: Option<AppId>) -> Result<Vec<Webhook>> {
        self.read(|conn| webhooks::list(conn, app))
    }

    fn delete_webhook(&self, id: u64) -> Result<bool> {
        self.write(|tx| webhooks::delete(tx, id))
    }

    fn set_webhook_valid(&self, id: u64, valid: bool) -> Result<bool> {
        self.write(|tx| webhooks::set_valid(tx, id, valid))
    }

    fn advance_webhook(&self, id: u64, from: u64, to: u64, dead: Option<&DeadLetter>) -> Result<bool> {
        self.write(|tx| webhooks::advance(tx, id, from, to, dead))
    }

    fn rewind_webhook(&self, id: u64, to: u64) -> Result<bool> {
        self.write(|tx| webhooks::rewind(tx, id, to))
    }

    fn dead_letters(&self, webhook: u64, after: u64, limit: usize) -> Result<Vec<DeadLetter>> {
        self.read(|conn| webhooks::dead_letters(conn, webhook, after, limit))
    }

    // -- guard notices -----------------------------------------------------------

    fn record_guard_notice(&self, notice: &NewGuardNotice) -> Result<GuardNotice> {
        tollgate_store::guard_notices::check(notice)?;
        self.write(|tx| guard_notices::record(tx, notice))
    }

    fn guard_notices(&self, actor: Option<&str>) -> Result<Vec<GuardNotice>> {
        self.read(|conn| guard_notices::list(conn, actor))
    }

    // -- operations ------------------------------------------------------------

    /// Exact counts.
    fn stats(&self) -> Result<Stats> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT (SELECT count(*) FROM main.accounts), (SELECT count(*) FROM main.posts), \
                 (SELECT count(*) FROM main.apps)",
            )
            .and_then(|mut s| {
                s.query_row([], |r| {
                    Ok(Stats {
                        accounts: r.get::<_, i64>(0)? as u64,
                        posts: r.get::<_, i64>(1)? as u64,
                        apps: r.get::<_, i64>(2)? as u64,
                    })
                })
            })
            .ctx("counting")
        })
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("tollgate-store-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| StoreError::Backend(format!("creating the temporary directory {}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory under the temporary directory is
        // harmless, and a destructor has no one to report to.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use tollgate_store::{Entity, SearchExpr};

    use super::*;

    /// The plan of a built statement, one line per step.
    fn plan(store: &SqliteStore, stmt: &query::Statement) -> String {
        let conn = store.readers.get();
        let mut s = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", stmt.sql)).unwrap();
        let rows = s.query_map(rusqlite::params_from_iter(stmt.params.iter()), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join("\n")
    }

    fn search(expr: SearchExpr) -> SearchQuery {
        SearchQuery { since_id: Some(PostId(5)), before_id: Some(PostId(500)), ..SearchQuery::new(expr, 20) }
    }

    /// Pages come straight off an index in id order: no query collects every
    /// match and sorts it.
    #[test]
    fn listings_never_sort() {
        let store = SqliteStore::open_in_memory_for_tests().unwrap();
        let term = |t: &str| SearchExpr::Term(t.into());
        let queries = [
            search(term("fox")),
            search(SearchExpr::And(vec![term("fox"), SearchExpr::Lang("en".into()), SearchExpr::From("ada".into())])),
            search(SearchExpr::And(vec![term("fox"), SearchExpr::Not(Box::new(term("dog")))])),
            search(SearchExpr::Lang("en".into())),
            search(SearchExpr::From("ada".into())),
            search(SearchExpr::And(vec![SearchExpr::From("ada".into()), SearchExpr::Not(Box::new(term("dog")))])),
            search(SearchExpr::From("12".into())),
            search(SearchExpr::To("ada".into())),
            search(SearchExpr::And(vec![SearchExpr::To("12".into()), term("fox")])),
            search(SearchExpr::InReplyTo(PostId(7))),
            search(SearchExpr::Conversation(PostId(7))),
            search(SearchExpr::Entity(Entity::Hashtag, "fox".into())),
            search(SearchExpr::And(vec![
                SearchExpr::Entity(Entity::Mention, "ada".into()),
                SearchExpr::Has(Entity::Url),
                SearchExpr::Not(Box::new(SearchExpr::Unheld("is:retweet".into()))),
            ])),
            search(SearchExpr::Or(vec![
                SearchExpr::Entity(Entity::Cashtag, "AAPL".into()),
                SearchExpr::Entity(Entity::Url, "x.com".into()),
            ])),
        ];
        for q in &queries {
            let p = plan(&store, &query::search(q, None).unwrap().page);
            assert!(!p.contains("TEMP B-TREE"), "{q:?}:\n{p}");
        }
        let tq = TimelineQuery { since_id: Some(PostId(5)), limit: 20, ..TimelineQuery::default() };
        let p = plan(&store, &query::timeline(AccountId(1), &tq).unwrap());
        assert!(!p.contains("TEMP B-TREE") && p.contains("posts_author_id"), "{p}");
    }

    /// The operators that name an account or a post walk their index; an
    /// entity walks the full-text index: none scans the posts table.
    #[test]
    fn operators_walk_an_index() {
        let store = SqliteStore::open_in_memory_for_tests().unwrap();
        let cases = [
            (SearchExpr::From("12".into()), "posts_author_id"),
            (SearchExpr::To("ada".into()), "posts_in_reply_to_user"),
            (SearchExpr::InReplyTo(PostId(7)), "posts_in_reply_to"),
            (SearchExpr::Conversation(PostId(7)), "posts_conversation"),
            (SearchExpr::Entity(Entity::Hashtag, "fox".into()), "posts_fts"),
            (
                SearchExpr::And(vec![SearchExpr::Entity(Entity::Url, "x.com".into()), SearchExpr::Lang("en".into())]),
                "posts_fts",
            ),
            (
                SearchExpr::Or(vec![SearchExpr::Entity(Entity::Hashtag, "tea".into()), SearchExpr::From("ada".into())]),
                "posts_author_id",
            ),
        ];
        for (expr, index) in cases {
            let q = search(expr);
            let p = plan(&store, &query::search(&q, None).unwrap().page);
            let scans_posts = p.lines().any(|l| l == "SCAN p" || l.starts_with("SCAN p "));
            assert!(p.contains(index) && !scans_posts, "{q:?}:\n{p}");
        }
        assert!(query::search(&search(SearchExpr::Unheld("has:media".into())), None).is_none(), "nothing to run");
    }
}
