//! The minimal dynamic server of the API benchmark (`bench/api.sh`): the
//! three measured endpoints answered from the same SQLite file Tollgate
//! serves, with the same response bytes, and none of Tollgate's guarantees.
//!
//! It is the contender that tells what those guarantees cost: Tollgate's
//! requests/s over this server's is the price of authenticating every
//! request, deciding every post and recording every release durably, on top
//! of the reads and the rendering both do. So it does the least a competent
//! server would do for the same answer, and nothing else:
//!
//! - one read-only connection per runtime worker thread, opened on first use
//!   and kept (no pool, no lock), with cached prepared statements;
//! - the same rows as Tollgate: the page of an author's posts off the
//!   `posts_author_id` index (one row more than the page, for the next
//!   token), the account's row to tell an unknown user, and for a lookup one
//!   point query per distinct id inside one read transaction; but only the
//!   columns it renders (`id`, `text`), where Tollgate decodes every column
//!   and the authors' rows because its policy needs them;
//! - typed serde structs serialized straight into the response buffer.
//!
//! It has no authentication, no policy, no ledger, no rate limit, no
//! metrics, no usage headers. It renders the default field set only (no
//! `tweet.fields`, `expansions`) and answers an unknown id as Tollgate does;
//! it cannot answer a post Tollgate withholds as Tollgate does (that is the
//! policy), so the benchmark picks requests whose every post Tollgate
//! delivers and checks, with `cmp`, that the two bodies are the same bytes
//! before it measures. The test `tests/identical.rs` checks the same against
//! Tollgate's router.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize, Serializer};

/// The page cache of each connection, as Tollgate's readers have by default
/// (`SqliteOptions::cache_mib`), in KiB as `cache_size` takes it.
const CACHE_KIB: i64 = 64 * 1024;

/// How long a read waits for a lock held by a writer's checkpoint.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The most ids a lookup takes, as X's (and Tollgate's) `ids` parameter.
const MAX_IDS: usize = 100;

const TIMELINE_SQL: &str = "SELECT id, text FROM posts WHERE author_id = ?1 ORDER BY id DESC LIMIT ?2";
const POST_SQL: &str = "SELECT id, text FROM posts WHERE id = ?1";
const ACCOUNT_SQL: &str = "SELECT 1 FROM accounts WHERE id = ?1";

/// The whole service, reading the platform file `db` (a data directory's
/// `tollgate.db`).
pub fn router(db: PathBuf) -> Router {
    Router::new()
        .route("/2/users/{id}/tweets", get(timeline))
        .route("/2/tweets", get(lookup))
        .route("/2/tweets/{id}", get(single))
        .with_state(Arc::new(db))
}

thread_local! {
    /// This thread's connection and the file it reads.
    // INVARIANT (one-connection-per-thread): a connection is only ever used
    // by the thread that opened it, so it needs neither a lock nor SQLite's
    // own mutex (`SQLITE_OPEN_NO_MUTEX`).
    static CONN: RefCell<Option<(PathBuf, Connection)>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's connection to `db`, opening it on first use.
/// A handler runs its queries to the end without awaiting, so the thread
/// cannot be handed another request in between.
fn with_conn<T>(db: &Path, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let open = match slot.take() {
            Some((path, conn)) if path == db => (path, conn),
            _ => (db.to_owned(), open(db)?),
        };
        let out = f(&open.1);
        *slot = Some(open);
        out
    })
}

// INVARIANT (one-connection-per-thread): maintained by opening without
// SQLite's mutex only here, for the thread-local slot above.
fn open(db: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}

// -- rendering: the bytes of Tollgate's `render::tweet` and `content::list` -------

/// An id as X renders it: a decimal string.
#[derive(Debug, Clone, Copy)]
struct Id(u64);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

/// A post with the default fields, in Tollgate's order.
#[derive(Debug, Serialize)]
struct Tweet {
    id: Id,
    text: String,
    edit_history_tweet_ids: [Id; 1],
}

impl Tweet {
    /// Ids are stored bit-cast to SQLite's signed integer (see
    /// `tollgate-store-sqlite`'s codec); every stored id is below 2^63.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tweet> {
        let id = Id(row.get::<_, i64>(0)? as u64);
        Ok(Tweet { id, text: row.get(1)?, edit_history_tweet_ids: [id] })
    }
}

#[derive(Debug, Serialize)]
struct Page {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    data: Vec<Tweet>,
    meta: Meta,
}

#[derive(Debug, Serialize)]
struct Meta {
    result_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    newest_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_id: Option<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A lookup's answer: `D` is one post (`/2/tweets/:id`) or a list.
#[derive(Debug, Serialize)]
struct Found<D> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<NotFound>,
}

/// X's partial error for an id that names nothing, as Tollgate's
/// `error::not_found_item`.
#[derive(Debug, Serialize)]
struct NotFound {
    value: String,
    detail: String,
    title: &'static str,
    resource_type: &'static str,
    parameter: &'static str,
    resource_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

impl NotFound {
    fn new(resource_type: &'static str, parameter: &'static str, id: String) -> NotFound {
        NotFound {
            detail: format!("Could not find {resource_type} with {parameter}: [{id}]."),
            value: id.clone(),
            title: "Not Found Error",
            resource_type,
            parameter,
            resource_id: id,
            kind: "https://api.x.com/2/problems/resource-not-found",
        }
    }
}

/// The pagination token Tollgate mints for the page after `id` (the same
/// function as its `params::token::encode`, which is private to the API).
fn next_token(id: u64) -> String {
    const MASK: u64 = 0x5d1c_3a97_e24b_860f;
    let masked = id ^ MASK;
    let (mut a, mut b) = (0u16, 0u16);
    for byte in masked.to_le_bytes() {
        a = (a + u16::from(byte)) % 255;
        b = (b + a) % 255;
    }
    format!("{masked:016x}{:04x}", (b << 8) | a)
}

fn json<T: Serialize>(body: &T) -> Result<Response, Failure> {
    let bytes = serde_json::to_vec(body).map_err(Failure::Encoding)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Why a request failed. These answers are plain text: the benchmark never
/// asks for them, and they are not compared with Tollgate's.
#[derive(Debug)]
enum Failure {
    /// A malformed parameter, and what is wrong with it.
    BadRequest(String),
    Store(rusqlite::Error),
    Encoding(serde_json::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Store(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            Failure::Store(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("reading the database: {e}")),
            Failure::Encoding(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the response: {e}")),
        }
        .into_response()
    }
}

/// A decimal id.
fn parse_id(raw: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| Failure::BadRequest(format!("`{raw}` is not an id: expected ^[0-9]{{1,19}}$")))
}

/// The id as stored if it is below 2^63 (the only ones a row can have).
fn stored(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

// -- handlers -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct TimelineParams {
    max_results: Option<String>,
}

async fn timeline(
    State(db): State<Arc<PathBuf>>,
    UrlPath(author): UrlPath<String>,
    Query(params): Query<TimelineParams>,
) -> Result<Response, Failure> {
    let stored = stored(parse_id(&author)?);
    let limit = match params.max_results.as_deref().map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (5..=100).contains(&n) => n,
        Some(_) => return Err(Failure::BadRequest("`max_results` must be between 5 and 100".into())),
    };
    let rows = stored.map_or(Ok(None), |author| {
        with_conn(&db, |conn| {
            if conn.prepare_cached(ACCOUNT_SQL)?.query_row([author], |_| Ok(())).optional()?.is_none() {
                return Ok(None);
            }
            let mut stmt = conn.prepare_cached(TIMELINE_SQL)?;
            let rows = stmt.query_map([author, limit as i64 + 1], Tweet::from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map(Some)
        })
    })?;
    let Some(mut data) = rows else {
        return json(&Found::<Tweet> { data: None, errors: vec![NotFound::new("user", "id", author)] });
    };
    let more = data.len() > limit;
    data.truncate(limit);
    let meta = Meta {
        result_count: data.len(),
        newest_id: data.first().map(|t| t.id),
        oldest_id: data.last().map(|t| t.id),
        next_token: data.last().filter(|_| more).map(|t| next_token(t.id.0)),
    };
    json(&Page { data, meta })
}

#[derive(Debug, Deserialize)]
struct LookupParams {
    ids: Option<String>,
}

async fn lookup(State(db): State<Arc<PathBuf>>, Query(params): Query<LookupParams>) -> Result<Response, Failure> {
    let raw = params.ids.ok_or_else(|| Failure::BadRequest("the `ids` query parameter is required".into()))?;
    let asked: Vec<&str> = raw.split(',').collect();
    if asked.len() > MAX_IDS {
        return Err(Failure::BadRequest(format!("`ids` takes at most {MAX_IDS} ids")));
    }
    let (data, errors) = posts(&db, &asked, "ids")?;
    json(&Found { data: (!data.is_empty()).then_some(data), errors })
}

async fn single(State(db): State<Arc<PathBuf>>, UrlPath(id): UrlPath<String>) -> Result<Response, Failure> {
    let (data, errors) = posts(&db, &[id.as_str()], "id")?;
    json(&Found { data: data.into_iter().next(), errors })
}

/// The posts of the distinct ids among `asked`, in their first order, and a
/// not-found error for each id no row has; all read in one transaction, so
/// from one snapshot.
fn posts(db: &Path, asked: &[&str], parameter: &'static str) -> Result<(Vec<Tweet>, Vec<NotFound>), Failure> {
    let mut ids: Vec<(u64, Option<i64>)> = Vec::with_capacity(asked.len());
    for raw in asked {
        let id = parse_id(raw)?;
        if !ids.iter().any(|(seen, _)| *seen == id) {
            ids.push((id, stored(id)));
        }
    }
    let rows = with_conn(db, |conn| {
        let tx = conn.unchecked_transaction()?;
        let mut found = Vec::with_capacity(ids.len());
        {
            let mut stmt = tx.prepare_cached(POST_SQL)?;
            for (_, stored) in &ids {
                found.push(match stored {
                    Some(id) => stmt.query_row([id], Tweet::from_row).optional()?,
                    None => None,
                });
            }
        }
        tx.commit()?;
        Ok(found)
    })?;
    let mut data = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for ((id, _), row) in ids.into_iter().zip(rows) {
        match row {
            Some(tweet) => data.push(tweet),
            None => errors.push(NotFound::new("tweet", parameter, id.to_string())),
        }
    }
    Ok((data, errors))
}
