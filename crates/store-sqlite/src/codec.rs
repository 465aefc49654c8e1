//! Mapping between domain values and SQLite rows: ids, enums, preferences,
//! and errors.
//!
//! Ids are `u64` in the domain and `INTEGER` (a signed 64-bit value) in SQLite.
//! They are stored bit-cast (`id as i64`), and ids of 2^63 and above are
//! refused: below 2^63 the cast is the identity on the value, so `ORDER BY id`
//! and range bounds in SQL agree with the numeric order of the domain ids. X
//! snowflakes stay below 2^63 for decades to come.

use std::fmt::Display;
use std::str::FromStr;

use rusqlite::types::Type;
use rusqlite::{ErrorCode, Row};
use tollgate_domain::{
    Account, AccountId, Agreement, AiPreferences, ApiKey, App, AppId, KeyId, Post, PostId, Purpose, Timestamp,
};
use tollgate_store::{Result, StoreError};

/// Adds context to a SQLite error on its way out of the store.
pub trait Ctx<T> {
    /// Maps the error to `StoreError::Backend`, saying what was being done.
    fn ctx(self, what: impl Display) -> Result<T>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, what: impl Display) -> Result<T> {
        self.map_err(|e| StoreError::Backend(format!("{what}: {e}")))
    }
}

/// Whether `e` is the violation of a UNIQUE (or primary key) constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error().is_some_and(|f| {
        f.code == ErrorCode::ConstraintViolation
            && matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
    })
}

/// The largest id the store accepts: `i64::MAX`.
pub(crate) const MAX_ID: u64 = i64::MAX as u64;

/// An id as stored, or `Invalid` naming `field` if it is 2^63 or above.
pub fn id_to_sql(id: u64, field: &'static str) -> Result<i64> {
    if id > MAX_ID {
        return Err(StoreError::Invalid {
            field,
            reason: format!("`{id}` is 2^63 or above; the store keeps ids below 2^63"),
        });
    }
    Ok(id as i64)
}

/// An id for a lookup: `None` where no stored row can have it.
pub fn lookup_id(id: u64) -> Option<i64> {
    (id <= MAX_ID).then_some(id as i64)
}

fn opt_id_to_sql(id: Option<u64>, field: &'static str) -> Result<Option<i64>> {
    id.map(|id| id_to_sql(id, field)).transpose()
}

pub fn id_from_sql(v: i64) -> u64 {
    v as u64
}

pub fn conversion(idx: usize, ty: Type, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

/// A TEXT column holding a value of an enum with `FromStr`.
fn parsed<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: String = row.get(idx)?;
    s.parse().map_err(|e| conversion(idx, Type::Text, e))
}

pub fn timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    row.get(idx).map(Timestamp::from_millis)
}

fn opt_timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row.get::<_, Option<i64>>(idx)?.map(Timestamp::from_millis))
}

// -- accounts -------------------------------------------------------------------

/// The columns `account_from_row` expects, in order.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, handle, display_name, description, created_at, region, birth_year, is_minor, protected, status, prefs";

/// Inserts or replaces an account by id. `ON CONFLICT(id) DO UPDATE` rather
/// than `INSERT OR REPLACE`: the latter would silently delete another account
/// holding the same handle, where this fails on the unique handle index.
pub(crate) const UPSERT_ACCOUNT: &str = "INSERT INTO accounts \
    (id, handle, handle_lower, display_name, description, created_at, region, birth_year, is_minor, protected, status, prefs) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
    ON CONFLICT (id) DO UPDATE SET handle = excluded.handle, handle_lower = excluded.handle_lower, \
    display_name = excluded.display_name, description = excluded.description, created_at = excluded.created_at, \
    region = excluded.region, birth_year = excluded.birth_year, is_minor = excluded.is_minor, \
    protected = excluded.protected, status = excluded.status, prefs = excluded.prefs";

/// Handles are ASCII (validation guarantees it), so ASCII lower case is the
/// whole of case-insensitivity here.
pub(crate) fn handle_key(handle: &str) -> String {
    handle.to_ascii_lowercase()
}

pub(crate) fn prefs_to_json(prefs: &AiPreferences) -> Result<String> {
    serde_json::to_string(prefs).map_err(|e| StoreError::Backend(format!("encoding AI preferences: {e}")))
}

/// Validates `a` and writes it with the (cached) upsert statement.
pub(crate) fn put_account(conn: &rusqlite::Connection, a: &Account) -> Result<()> {
    a.validate().map_err(|(field, reason)| StoreError::Invalid { field, reason })?;
    let id = id_to_sql(a.id.0, "id")?;
    let prefs = prefs_to_json(&a.ai_preferences)?;
    let mut stmt = conn.prepare_cached(UPSERT_ACCOUNT).ctx("preparing the account upsert")?;
    stmt.execute(rusqlite::params![
        id,
        a.handle,
        handle_key(&a.handle),
        a.display_name,
        a.description,
        a.created_at.millis(),
        a.region,
        a.birth_year,
        a.is_minor,
        a.protected,
        a.status.as_str(),
        prefs,
    ])
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(format!("the handle `{}` belongs to another account", a.handle))
        } else {
            StoreError::Backend(format!("writing account {}: {e}", a.id))
        }
    })?;
    Ok(())
}

pub(crate) fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    let prefs: String = row.get(10)?;
    Ok(Account {
        id: AccountId(id_from_sql(row.get(0)?)),
        handle: row.get(1)?,
        display_name: row.get(2)?,
        description: row.get(3)?,
        created_at: timestamp(row, 4)?,
        region: row.get(5)?,
        birth_year: row.get(6)?,
        is_minor: row.get(7)?,
        protected: row.get(8)?,
        status: parsed(row, 9)?,
        ai_preferences: serde_json::from_str(&prefs).map_err(|e| conversion(10, Type::Text, e))?,
    })
}

// -- posts ------------------------------------------------------------------------

/// The columns `post_from_row` expects, in order, qualified with the alias `p`.
pub(crate) const POST_COLUMNS: &str = "p.id, p.author_id, p.created_at, p.text, p.lang, p.in_reply_to, \
    p.in_reply_to_user_id, p.conversation_id, p.no_ai, p.deleted_at";

/// Inserts or replaces a post by id. The triggers of `posts_fts` keep the
/// full-text index in step, re-indexing only when the text changed.
pub(crate) const UPSERT_POST: &str = "INSERT INTO posts \
    (id, author_id, created_at, text, lang, in_reply_to, in_reply_to_user_id, conversation_id, no_ai, deleted_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
    ON CONFLICT (id) DO UPDATE SET author_id = excluded.author_id, created_at = excluded.created_at, \
    text = excluded.text, lang = excluded.lang, in_reply_to = excluded.in_reply_to, \
    in_reply_to_user_id = excluded.in_reply_to_user_id, conversation_id = excluded.conversation_id, \
    no_ai = excluded.no_ai, deleted_at = excluded.deleted_at";

/// Validates `p` and writes it with the (cached) upsert statement.
pub(crate) fn put_post(conn: &rusqlite::Connection, p: &Post) -> Result<()> {
    p.validate().map_err(|(field, reason)| StoreError::Invalid { field, reason })?;
    let id = id_to_sql(p.id.0, "id")?;
    let author = id_to_sql(p.author_id.0, "author_id")?;
    let reply = opt_id_to_sql(p.in_reply_to.map(|i| i.0), "in_reply_to")?;
    let reply_user = opt_id_to_sql(p.in_reply_to_user_id.map(|i| i.0), "in_reply_to_user_id")?;
    let conversation = opt_id_to_sql(p.conversation_id.map(|i| i.0), "conversation_id")?;
    let mut stmt = conn.prepare_cached(UPSERT_POST).ctx("preparing the post upsert")?;
    stmt.execute(rusqlite::params![
        id,
        author,
        p.created_at.millis(),
        p.text,
        p.lang,
        reply,
        reply_user,
        conversation,
        p.no_ai,
        p.deleted_at.map(Timestamp::millis),
    ])
    .ctx(format_args!("writing post {}", p.id))?;
    Ok(())
}

pub(crate) fn post_from_row(row: &Row<'_>) -> rusqlite::Result<Post> {
    let opt_post = |idx| -> rusqlite::Result<Option<PostId>> {
        Ok(row.get::<_, Option<i64>>(idx)?.map(|v| PostId(id_from_sql(v))))
    };
    Ok(Post {
        id: PostId(id_from_sql(row.get(0)?)),
        author_id: AccountId(id_from_sql(row.get(1)?)),
        created_at: timestamp(row, 2)?,
        text: row.get(3)?,
        lang: row.get(4)?,
        in_reply_to: opt_post(5)?,
        in_reply_to_user_id: row.get::<_, Option<i64>>(6)?.map(|v| AccountId(id_from_sql(v))),
        conversation_id: opt_post(7)?,
        no_ai: row.get(8)?,
        deleted_at: opt_timestamp(row, 9)?,
    })
}

// -- apps, keys, agreements ------------------------------------------------------

pub(crate) const APP_COLUMNS: &str =
    "id, name, tier, purposes, licensed_purposes, status, agreement_version, created_at";

/// Purposes are kept as their comma-separated labels, the same list syntax
/// the CLI and configuration accept.
pub(crate) fn purposes_to_sql(purposes: &[Purpose]) -> String {
    purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
}

fn purposes_from_row(row: &Row<'_>, idx: usize) -> rusqlite::Result<Vec<Purpose>> {
    let s: String = row.get(idx)?;
    Purpose::parse_list(&s).map_err(|e| conversion(idx, Type::Text, e))
}

pub(crate) fn app_from_row(row: &Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        id: AppId(id_from_sql(row.get(0)?)),
        name: row.get(1)?,
        tier: parsed(row, 2)?,
        purposes: purposes_from_row(row, 3)?,
        licensed_purposes: purposes_from_row(row, 4)?,
        status: parsed(row, 5)?,
        agreement_version: row.get(6)?,
        created_at: timestamp(row, 7)?,
    })
}

pub(crate) const KEY_COLUMNS: &str = "id, app_id, hash, prefix, created_at, expires_at, revoked_at";

pub(crate) fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: KeyId(id_from_sql(row.get(0)?)),
        app_id: AppId(id_from_sql(row.get(1)?)),
        hash: row.get(2)?,
        prefix: row.get(3)?,
        created_at: timestamp(row, 4)?,
        expires_at: opt_timestamp(row, 5)?,
        revoked_at: opt_timestamp(row, 6)?,
    })
}

pub(crate) const AGREEMENT_COLUMNS: &str = "version, text, terms_json, published_at, grace_until";

pub(crate) fn agreement_from_row(row: &Row<'_>) -> rusqlite::Result<Agreement> {
    Ok(Agreement {
        version: row.get(0)?,
        text: row.get(1)?,
        terms_json: row.get(2)?,
        published_at: timestamp(row, 3)?,
        grace_until: timestamp(row, 4)?,
    })
}
