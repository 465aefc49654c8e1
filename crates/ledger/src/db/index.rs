//! The ledger's audit index in `ledger.db`: indexable columns on the ledger
//! table, per-day, per-author and per-policy summaries, and the per-block
//! post filters (docs/ledger.md, "Indexes and queries").
//!
//! Summaries are aggregated per call in memory before the upserts, so an
//! append of a batch costs one upsert per distinct summary key, not one per
//! entry or per delivered post.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tollgate_domain::{AccountId, AppId, Purpose, Timestamp};
use tollgate_store::{Result, StoreError};
use tollgate_store_sqlite::plumbing::{Ctx, id_to_sql, lookup_id};

use super::{
    AuthorDeliveries, DAY_MILLIS, DaySummary, EntryIndex, LEDGER_COLUMNS, LedgerCounts, LedgerCursor, LedgerIndex,
    LedgerRow, LedgerSelect, PostFilter, StoredColumns, StoredColumnsPage, ledger_from_row,
};

/// A recipient: app (0 for none), client ('' for none), purpose ('' for none).
type RecipientKey<'a> = (i64, &'a str, &'static str);

/// The number of a recipient, created on first use.
pub(crate) fn recipient_id(tx: &Transaction<'_>, (app, client, purpose): RecipientKey<'_>) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO ledger_recipients (app_id, client, purpose) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_id, client, purpose) DO UPDATE SET app_id = excluded.app_id
         RETURNING id",
    )
    .and_then(|mut s| s.query_row(params![app, client, purpose], |r| r.get(0)))
    .ctx("numbering a recipient")
}

/// The indexed end as the writer connection sees it.
pub(crate) fn indexed_end(conn: &Connection, schema: &str) -> Result<u64> {
    conn.prepare_cached(&format!("SELECT indexed_end FROM {schema}ledger_index_state WHERE id = 1"))
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
        .optional()
        .ctx("reading the end of the ledger index")
        .map(|v| v.map_or(0, |v| v as u64))
}

pub(crate) fn purpose_sql(p: Option<Purpose>) -> &'static str {
    p.map_or("", Purpose::as_str)
}

pub(crate) fn purpose_from_sql(s: &str) -> Option<Purpose> {
    if s.is_empty() { None } else { Purpose::from_str(s).ok() }
}

/// Checks that `entries` fit `rows`.
pub(crate) fn check_shape(rows: &[LedgerRow], entries: &[EntryIndex]) -> Result<()> {
    if entries.len() != rows.len() {
        return Err(StoreError::Invalid {
            field: "index",
            reason: format!("{} index entries for {} ledger rows", entries.len(), rows.len()),
        });
    }
    Ok(())
}

/// Writes the indexable columns of stored `rows` where they differ (only
/// after a clear, normally: the append writes them), so that indexing rows
/// whose columns are right writes no page of the ledger table.
pub(crate) fn set_columns(tx: &Transaction<'_>, rows: &[LedgerRow], index: &LedgerIndex) -> Result<()> {
    let mut update = tx
        .prepare_cached(
            "UPDATE ledger SET client = ?2, purpose = ?3, refused = ?4, posts = ?5, policy_version = ?6
             WHERE seq = ?1 AND (client IS NOT ?2 OR purpose IS NOT ?3 OR refused IS NOT ?4 OR posts IS NOT ?5
                                 OR policy_version IS NOT ?6)",
        )
        .ctx("preparing the ledger index update")?;
    for (row, e) in rows.iter().zip(&index.entries) {
        let seq = id_to_sql(row.seq, "seq")?;
        update
            .execute(params![
                seq,
                e.client,
                e.purpose.map(Purpose::as_str),
                e.refused,
                i64::from(e.posts),
                e.policy_version
            ])
            .ctx(format_args!("indexing ledger row {}", row.seq))?;
    }
    Ok(())
}

/// Whether the row `seq` holds its index columns (a clear unsets them all).
pub(crate) fn columns_set(tx: &Transaction<'_>, seq: u64) -> Result<bool> {
    let seq = id_to_sql(seq, "seq")?;
    tx.prepare_cached("SELECT policy_version IS NOT NULL FROM ledger WHERE seq = ?1")
        .and_then(|mut s| s.query_row([seq], |r| r.get(0)).optional())
        .ctx(format_args!("reading the index columns of ledger row {seq}"))
        .map(|set| set.unwrap_or(false))
}

/// Refuses to index `rows` unless they are stored.
pub(crate) fn check_stored(tx: &Transaction<'_>, rows: &[LedgerRow]) -> Result<()> {
    // The ledger is contiguous: if the last row is stored, all of them are.
    if let Some(last) = rows.last() {
        let stored: i64 = tx
            .prepare_cached("SELECT COALESCE(MAX(seq), -1) FROM ledger")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx("reading the ledger's end")?;
        if stored < id_to_sql(last.seq, "seq")? {
            return Err(StoreError::NotFound(format!("ledger row {}", last.seq)));
        }
    }
    Ok(())
}

/// Adds `rows` to the summaries and stores the filters, then moves the end
/// of the index past them.
///
/// INVARIANT (index-prefix): the summaries and filters count exactly the
/// entries below `indexed_end`; callers pass rows starting at `indexed_end`.
pub(crate) fn add_to_summaries(tx: &Transaction<'_>, rows: &[LedgerRow], index: &LedgerIndex) -> Result<()> {
    let mut days: HashMap<(i64, i64, &'static str, bool), (i64, i64)> = HashMap::new();
    // Keyed as the table, so that the upserts walk its B-tree in order.
    let mut authors: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
    let mut recipients: HashMap<RecipientKey<'_>, i64> = HashMap::new();
    let mut policies: HashMap<(&str, bool), (i64, i64)> = HashMap::new();
    for (row, e) in rows.iter().zip(&index.entries) {
        let time = row.time.millis();
        let posts = i64::from(e.posts);
        let purpose = purpose_sql(e.purpose);
        if let Some(app) = row.app_id {
            let app = id_to_sql(app.0, "app_id")?;
            let d = days.entry((app, time.div_euclid(DAY_MILLIS), purpose, e.refused)).or_default();
            d.0 += 1;
            d.1 += posts;
        }
        let p = policies.entry((e.policy_version.as_str(), e.refused)).or_default();
        p.0 += 1;
        p.1 += posts;
        if e.refused {
            continue;
        }
        if e.authors.is_empty() {
            continue;
        }
        let app = row.app_id.map(|a| id_to_sql(a.0, "app_id")).transpose()?.unwrap_or(0);
        let key = (app, e.client.as_deref().unwrap_or(""), purpose);
        let recipient = match recipients.get(&key) {
            Some(id) => *id,
            None => {
                let id = recipient_id(tx, key)?;
                recipients.insert(key, id);
                id
            }
        };
        for author in &e.authors {
            let a = authors.entry((id_to_sql(author.0, "author")?, recipient)).or_insert((time, time, 0));
            a.0 = a.0.min(time);
            a.1 = a.1.max(time);
            a.2 += 1;
        }
    }
    let mut day = tx
        .prepare_cached(
            "INSERT INTO ledger_days (app_id, day, purpose, refused, entries, posts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (app_id, day, purpose, refused)
             DO UPDATE SET entries = entries + excluded.entries, posts = posts + excluded.posts",
        )
        .ctx("preparing the day summary")?;
    for ((app, d, purpose, refused), (entries, posts)) in days {
        day.execute(params![app, d, purpose, refused, entries, posts]).ctx("updating the day summary")?;
    }
    let mut author = tx
        .prepare_cached(
            "INSERT INTO ledger_authors (author_id, recipient, first_time, last_time, deliveries)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (author_id, recipient)
             DO UPDATE SET first_time = min(first_time, excluded.first_time),
                           last_time = max(last_time, excluded.last_time),
                           deliveries = deliveries + excluded.deliveries",
        )
        .ctx("preparing the author summary")?;
    for ((id, recipient), (first, last, n)) in authors {
        author.execute(params![id, recipient, first, last, n]).ctx("updating the author summary")?;
    }
    let mut policy = tx
        .prepare_cached(
            "INSERT INTO ledger_policies (policy_version, refused, entries, posts) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (policy_version, refused)
             DO UPDATE SET entries = entries + excluded.entries, posts = posts + excluded.posts",
        )
        .ctx("preparing the policy summary")?;
    for ((version, refused), (entries, posts)) in policies {
        policy.execute(params![version, refused, entries, posts]).ctx("updating the policy summary")?;
    }
    let mut filter = tx
        .prepare_cached("INSERT OR REPLACE INTO ledger_filters (shard, block, bits) VALUES (?1, ?2, ?3)")
        .ctx("preparing the post filters")?;
    for f in &index.filters {
        filter
            .execute(params![i64::from(f.shard), id_to_sql(f.block, "block")?, f.bits])
            .ctx(format_args!("storing the post filter of block {}", f.block))?;
    }
    if let Some(last) = rows.last() {
        let end = id_to_sql(last.seq, "seq")? + 1;
        tx.prepare_cached("UPDATE ledger_index_state SET indexed_end = ?1 WHERE id = 1")
            .and_then(|mut s| s.execute([end]))
            .ctx("moving the end of the ledger index")?;
    }
    Ok(())
}

/// The index columns of the rows from `from_seq` on, as stored, with the end
/// of the index; `conn` is in a read transaction, so both are one snapshot.
/// Values are read untyped, so that a value of the wrong type is reported
/// rather than failing the read.
pub(crate) fn stored_columns(conn: &Connection, from_seq: u64, limit: usize) -> Result<StoredColumnsPage> {
    use rusqlite::types::Value;
    let indexed_end = indexed_end(conn, "ledger.")?;
    let Some(from) = lookup_id(from_seq) else { return Ok(StoredColumnsPage { indexed_end, rows: Vec::new() }) };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn
        .prepare_cached(
            "SELECT seq, client, purpose, refused, posts, policy_version FROM ledger.ledger
             WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map([from, limit], |r| {
                let mut wrong_type = None;
                let mut text = |i: usize, name: &'static str| -> rusqlite::Result<Option<String>> {
                    Ok(match r.get::<_, Value>(i)? {
                        Value::Null => None,
                        Value::Text(t) => Some(t),
                        other => {
                            wrong_type.get_or_insert(name);
                            Some(format!("{other:?}"))
                        }
                    })
                };
                let (client, purpose) = (text(1, "client")?, text(2, "purpose")?);
                let policy_version = text(5, "policy_version")?;
                let mut number = |i: usize, name: &'static str| -> rusqlite::Result<Option<i64>> {
                    Ok(match r.get::<_, Value>(i)? {
                        Value::Null => None,
                        Value::Integer(n) => Some(n),
                        _ => {
                            wrong_type.get_or_insert(name);
                            Some(i64::MIN)
                        }
                    })
                };
                let (refused, posts) = (number(3, "refused")?, number(4, "posts")?);
                Ok(StoredColumns {
                    seq: r.get::<_, i64>(0)? as u64,
                    client,
                    purpose,
                    refused,
                    posts,
                    policy_version,
                    wrong_type,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx(format_args!("reading the index columns of the ledger from seq {from_seq}"))?;
    Ok(StoredColumnsPage { indexed_end, rows })
}

/// Forgets the whole index.
pub(crate) fn clear(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "UPDATE ledger SET client = NULL, purpose = NULL, refused = NULL, posts = NULL, policy_version = NULL
             WHERE policy_version IS NOT NULL;
         DELETE FROM ledger_days;
         DELETE FROM ledger_authors;
         DELETE FROM ledger_recipients;
         DELETE FROM ledger_policies;
         DELETE FROM ledger_filters;
         DELETE FROM ledger_blocks;
         UPDATE ledger_index_state SET indexed_end = COALESCE((SELECT MIN(seq) FROM ledger), 0) WHERE id = 1;",
    )
    .ctx("clearing the ledger index")
}

pub(crate) fn post_filters(conn: &Connection, shard: u32, from_block: u64, limit: usize) -> Result<Vec<PostFilter>> {
    let Some(from) = lookup_id(from_block) else { return Ok(Vec::new()) };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "SELECT block, bits FROM ledger.ledger_filters WHERE shard = ?1 AND block >= ?2 ORDER BY block LIMIT ?3",
    )
    .and_then(|mut s| {
        s.query_map(params![i64::from(shard), from, limit], |r| {
            Ok(PostFilter { block: r.get::<_, i64>(0)? as u64, shard, bits: r.get(1)? })
        })?
        .collect()
    })
    .ctx(format_args!("reading the post filters of shard {shard}"))
}

pub(crate) fn author_deliveries(conn: &Connection, author: AccountId) -> Result<Vec<AuthorDeliveries>> {
    let Some(id) = lookup_id(author.0) else { return Ok(Vec::new()) };
    conn.prepare_cached(
        "SELECT r.app_id, r.client, r.purpose, a.first_time, a.last_time, a.deliveries
         FROM ledger.ledger_authors a JOIN ledger.ledger_recipients r ON r.id = a.recipient
         WHERE a.author_id = ?1 ORDER BY r.app_id, r.client, r.purpose",
    )
    .and_then(|mut s| {
        s.query_map([id], |r| {
            let app: i64 = r.get(0)?;
            let client: String = r.get(1)?;
            let purpose: String = r.get(2)?;
            Ok(AuthorDeliveries {
                app_id: (app != 0).then_some(AppId(app as u64)),
                client: (!client.is_empty()).then_some(client),
                purpose: purpose_from_sql(&purpose),
                first: Timestamp::from_millis(r.get(3)?),
                last: Timestamp::from_millis(r.get(4)?),
                deliveries: r.get::<_, i64>(5)? as u64,
            })
        })?
        .collect()
    })
    .ctx(format_args!("reading the deliveries of account {author}"))
}

/// Whole days inside the range come from the day summary; the partial days
/// at its edges are counted from the `(app_id, time, ...)` index.
pub(crate) fn app_days(
    conn: &Connection,
    app: AppId,
    from: Timestamp,
    until: Option<Timestamp>,
) -> Result<Vec<DaySummary>> {
    let Some(app_sql) = lookup_id(app.0) else { return Ok(Vec::new()) };
    let from = from.millis();
    let until = until.map_or(i64::MAX, Timestamp::millis);
    if until <= from {
        return Ok(Vec::new());
    }
    // Whole days: [first_day, end_day).
    let first_day = from.div_euclid(DAY_MILLIS) + i64::from(from.rem_euclid(DAY_MILLIS) != 0);
    let end_day = if until == i64::MAX { i64::MAX / DAY_MILLIS } else { until.div_euclid(DAY_MILLIS) };
    let mut out: HashMap<(i64, String, bool), (i64, i64)> = HashMap::new();
    let mut add = |day: i64, purpose: String, refused: bool, entries: i64, posts: i64| {
        let v = out.entry((day, purpose, refused)).or_default();
        v.0 += entries;
        v.1 += posts;
    };
    let mut partial = |lo: i64, hi: i64| -> Result<()> {
        if hi <= lo {
            return Ok(());
        }
        let mut s = conn
            .prepare_cached(
                "SELECT time / 86400000, COALESCE(purpose, ''), refused, count(*), COALESCE(sum(posts), 0)
                 FROM ledger.ledger WHERE app_id = ?1 AND time >= ?2 AND time < ?3 AND refused IS NOT NULL
                 GROUP BY 1, 2, 3",
            )
            .ctx("preparing the partial day count")?;
        let rows = s
            .query_map(params![app_sql, lo, hi], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(format_args!("counting the entries of app {app}"))?;
        for (d, p, refused, e, n) in rows {
            add(d, p, refused, e, n);
        }
        Ok(())
    };
    if first_day >= end_day {
        partial(from, until)?;
    } else {
        partial(from, first_day * DAY_MILLIS)?;
        partial(end_day.saturating_mul(DAY_MILLIS), until)?;
        let mut s = conn
            .prepare_cached(
                "SELECT day, purpose, refused, entries, posts FROM ledger.ledger_days
                 WHERE app_id = ?1 AND day >= ?2 AND day < ?3",
            )
            .ctx("preparing the day summary read")?;
        let rows = s
            .query_map(params![app_sql, first_day, end_day], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx(format_args!("reading the day summary of app {app}"))?;
        for (d, p, refused, e, n) in rows {
            add(d, p, refused, e, n);
        }
    }
    let mut days: Vec<DaySummary> = out
        .into_iter()
        .map(|((day, purpose, refused), (entries, posts))| DaySummary {
            day: Timestamp::from_millis(day * DAY_MILLIS),
            purpose: purpose_from_sql(&purpose),
            refused,
            entries: entries as u64,
            posts: posts as u64,
        })
        .collect();
    days.sort_by(|a, b| {
        (a.day, a.purpose.map(Purpose::as_str), a.refused).cmp(&(b.day, b.purpose.map(Purpose::as_str), b.refused))
    });
    Ok(days)
}

fn row_page(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<LedgerRow>> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_map(args, ledger_from_row)?.collect())
        .ctx("selecting ledger rows")
}

fn ledger_cols() -> String {
    LEDGER_COLUMNS.split(", ").map(|c| format!("l.{c}")).collect::<Vec<_>>().join(", ")
}

pub(crate) fn select(
    conn: &Connection,
    select: &LedgerSelect,
    after: Option<LedgerCursor>,
    limit: usize,
) -> Result<Vec<LedgerRow>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (after_time, after_seq) = after.map_or((i64::MIN, -1), |c| (c.time.millis(), lookup_id(c.seq).unwrap_or(-1)));
    let cols = ledger_cols();
    match select {
        LedgerSelect::App { app, from, until } => {
            let Some(app) = lookup_id(app.0) else { return Ok(Vec::new()) };
            row_page(
                conn,
                &format!(
                    "SELECT {cols} FROM ledger.ledger l WHERE l.app_id = ?1 AND l.time >= ?2 AND l.time < ?3
                     AND (l.time, l.seq) > (?4, ?5) ORDER BY l.time, l.seq LIMIT ?6"
                ),
                params![app, from.millis(), until.map_or(i64::MAX, Timestamp::millis), after_time, after_seq, limit],
            )
        }
        LedgerSelect::Client { client, from, until } => row_page(
            conn,
            &format!(
                "SELECT {cols} FROM ledger.ledger l WHERE l.client = ?1 AND l.time >= ?2 AND l.time < ?3
                 AND (l.time, l.seq) > (?4, ?5) ORDER BY l.time, l.seq LIMIT ?6"
            ),
            params![client, from.millis(), until.map_or(i64::MAX, Timestamp::millis), after_time, after_seq, limit],
        ),
        LedgerSelect::Policy { version } => row_page(
            conn,
            &format!(
                "SELECT {cols} FROM ledger.ledger l WHERE l.policy_version = ?1 AND l.refused = 0 AND l.seq > ?2
                 ORDER BY l.seq LIMIT ?3"
            ),
            params![version, after_seq, limit],
        ),
    }
}

fn counts_from(rows: Vec<(bool, i64, i64)>) -> LedgerCounts {
    let mut c = LedgerCounts::default();
    for (refused, entries, posts) in rows {
        if refused {
            c.refused += entries as u64;
        } else {
            c.served += entries as u64;
            c.posts += posts as u64;
        }
    }
    c
}

fn count_rows(r: &Row<'_>) -> rusqlite::Result<(bool, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

pub(crate) fn count(conn: &Connection, select: &LedgerSelect) -> Result<LedgerCounts> {
    let rows = match select {
        LedgerSelect::App { app, from, until } => {
            let days = app_days(conn, *app, *from, *until)?;
            return Ok(counts_from(days.iter().map(|d| (d.refused, d.entries as i64, d.posts as i64)).collect()));
        }
        LedgerSelect::Client { client, from, until } => conn
            .prepare_cached(
                "SELECT refused, count(*), COALESCE(sum(posts), 0) FROM ledger.ledger
                 WHERE client = ?1 AND time >= ?2 AND time < ?3 AND refused IS NOT NULL GROUP BY refused",
            )
            .and_then(|mut s| {
                s.query_map(params![client, from.millis(), until.map_or(i64::MAX, Timestamp::millis)], count_rows)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }),
        LedgerSelect::Policy { version } => conn
            .prepare_cached("SELECT refused, entries, posts FROM ledger.ledger_policies WHERE policy_version = ?1")
            .and_then(|mut s| s.query_map([version], count_rows)?.collect::<rusqlite::Result<Vec<_>>>()),
    };
    Ok(counts_from(rows.ctx("counting ledger entries")?))
}

/// The index no longer matches the entries whose contributions it is asked
/// to take back.
fn index_mismatch(what: &str, first: i64, covered: i64) -> StoreError {
    StoreError::Invalid {
        field: "entries",
        reason: format!(
            "the ledger index holds less of {what} than entries {first}..{covered} contributed, so it does not \
             match the entries: rebuild it (`tollgate ledger reindex`), then prune again"
        ),
    }
}

/// Deletes the ledger rows below `removal.before` and takes them out of the
/// index (`LedgerDb::ledger_delete_before` states the rules), in `tx`.
///
/// INVARIANT (index-prefix): the summaries count exactly the stored entries
/// below `indexed_end`, before and after: what the removed indexed rows
/// added is subtracted, and an end below the cut moves up to it.
pub(crate) fn delete_before(tx: &Transaction<'_>, removal: &super::LedgerRemoval) -> Result<u64> {
    let before = id_to_sql(removal.before, "before")?;
    let (first, last): (Option<i64>, Option<i64>) = tx
        .prepare_cached("SELECT MIN(seq), MAX(seq) FROM ledger")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx("reading the bounds of the ledger")?;
    if before > last.unwrap_or(-1) && before > 0 {
        return Err(StoreError::Invalid {
            field: "before",
            reason: match last {
                Some(last) => format!(
                    "{before} is beyond the ledger's last row {last}, which always stays (the end of the ledger \
                     is read from it)"
                ),
                None => format!("{before} is beyond the end of the ledger, which is empty"),
            },
        });
    }
    let moved = |expected: std::ops::Range<i64>| {
        StoreError::Conflict(format!(
            "{} index entries were given from row {}, but the index covers rows {}..{} of the rows to delete: \
             the index moved meanwhile; read its end again and retry",
            removal.entries.len(),
            removal.from,
            expected.start,
            expected.end
        ))
    };
    let first = match first {
        Some(f) if f < before => f,
        // Nothing left below the cut.
        _ if removal.entries.is_empty() => return Ok(0),
        _ => return Err(moved(0..0)),
    };
    let end = i64::try_from(indexed_end(tx, "")?).unwrap_or(i64::MAX);
    let covered = end.clamp(first, before);
    if removal.entries.len() as i64 != covered - first || (covered > first && removal.from != first as u64) {
        return Err(moved(first..covered));
    }

    // What the covered rows added, aggregated as `add_to_summaries` did.
    let rows: Vec<(i64, i64, Option<i64>)> = tx
        .prepare_cached("SELECT seq, time, app_id FROM ledger WHERE seq >= ?1 AND seq < ?2 ORDER BY seq")
        .and_then(|mut s| s.query_map([first, covered], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .ctx(format_args!("reading ledger rows {first}..{covered}"))?;
    if rows.len() != removal.entries.len() || rows.iter().enumerate().any(|(i, r)| r.0 != first + i as i64) {
        return Err(StoreError::Backend(format!("ledger rows {first}..{covered} are not all stored")));
    }
    let mut days: BTreeMap<(i64, i64, &'static str, bool), (i64, i64)> = BTreeMap::new();
    let mut policies: BTreeMap<(&str, bool), (i64, i64)> = BTreeMap::new();
    let mut recipients: HashMap<RecipientKey<'_>, i64> = HashMap::new();
    let mut authors: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    let mut find_recipient = tx
        .prepare_cached("SELECT id FROM ledger_recipients WHERE app_id = ?1 AND client = ?2 AND purpose = ?3")
        .ctx("preparing the recipient lookup")?;
    for ((_, time, app), e) in rows.iter().zip(&removal.entries) {
        let posts = i64::from(e.posts);
        let purpose = purpose_sql(e.purpose);
        if let Some(app) = app {
            let d = days.entry((*app, time.div_euclid(DAY_MILLIS), purpose, e.refused)).or_default();
            d.0 += 1;
            d.1 += posts;
        }
        let p = policies.entry((e.policy_version.as_str(), e.refused)).or_default();
        p.0 += 1;
        p.1 += posts;
        if e.refused || e.authors.is_empty() {
            continue;
        }
        let key = (app.unwrap_or(0), e.client.as_deref().unwrap_or(""), purpose);
        let recipient = match recipients.get(&key) {
            Some(id) => *id,
            None => {
                let id: i64 = find_recipient
                    .query_row(params![key.0, key.1, key.2], |r| r.get(0))
                    .optional()
                    .ctx("looking up a recipient")?
                    .ok_or_else(|| index_mismatch("the recipients", first, covered))?;
                recipients.insert(key, id);
                id
            }
        };
        for author in &e.authors {
            *authors.entry((id_to_sql(author.0, "author")?, recipient)).or_default() += 1;
        }
    }
    drop(find_recipient);

    let mut day = tx
        .prepare_cached(
            "UPDATE ledger_days SET entries = entries - ?5, posts = posts - ?6
             WHERE app_id = ?1 AND day = ?2 AND purpose = ?3 AND refused = ?4 AND entries >= ?5 AND posts >= ?6",
        )
        .ctx("preparing the day summary update")?;
    let mut empty_day = tx
        .prepare_cached(
            "DELETE FROM ledger_days WHERE app_id = ?1 AND day = ?2 AND purpose = ?3 AND refused = ?4 AND entries = 0",
        )
        .ctx("preparing the day summary deletion")?;
    for ((app, d, purpose, refused), (entries, posts)) in days {
        if day.execute(params![app, d, purpose, refused, entries, posts]).ctx("updating the day summary")? != 1 {
            return Err(index_mismatch("the day summary", first, covered));
        }
        empty_day.execute(params![app, d, purpose, refused]).ctx("deleting an empty day summary")?;
    }
    let mut policy = tx
        .prepare_cached(
            "UPDATE ledger_policies SET entries = entries - ?3, posts = posts - ?4
             WHERE policy_version = ?1 AND refused = ?2 AND entries >= ?3 AND posts >= ?4",
        )
        .ctx("preparing the policy summary update")?;
    let mut empty_policy = tx
        .prepare_cached("DELETE FROM ledger_policies WHERE policy_version = ?1 AND refused = ?2 AND entries = 0")
        .ctx("preparing the policy summary deletion")?;
    for ((version, refused), (entries, posts)) in policies {
        if policy.execute(params![version, refused, entries, posts]).ctx("updating the policy summary")? != 1 {
            return Err(index_mismatch("the policy summary", first, covered));
        }
        empty_policy.execute(params![version, refused]).ctx("deleting an empty policy summary")?;
    }
    if !authors.is_empty() {
        // The oldest remaining entry's time: the first time of every pair
        // that keeps deliveries is at least this.
        let oldest: i64 = tx
            .prepare_cached("SELECT time FROM ledger WHERE seq = ?1")
            .and_then(|mut s| s.query_row([before], |r| r.get(0)))
            .optional()
            .ctx(format_args!("reading ledger row {before}"))?
            .ok_or_else(|| StoreError::Backend(format!("ledger row {before} is not stored")))?;
        let mut gone = tx
            .prepare_cached("DELETE FROM ledger_authors WHERE author_id = ?1 AND recipient = ?2 AND deliveries = ?3")
            .ctx("preparing the author summary deletion")?;
        let mut kept = tx
            .prepare_cached(
                "UPDATE ledger_authors SET deliveries = deliveries - ?3, first_time = max(first_time, min(?4, last_time))
                 WHERE author_id = ?1 AND recipient = ?2 AND deliveries > ?3",
            )
            .ctx("preparing the author summary update")?;
        for ((author, recipient), n) in authors {
            if gone.execute(params![author, recipient, n]).ctx("deleting from the author summary")? == 0
                && kept.execute(params![author, recipient, n, oldest]).ctx("updating the author summary")? != 1
            {
                return Err(index_mismatch("the author summary", first, covered));
            }
        }
    }

    // Per-block data of the blocks that lose a row: the post lists, one
    // range per shard (found by seeking), and the column copies.
    let blocks_before = removal.before.div_ceil(super::LEDGER_BLOCK) as i64;
    let mut next_shard = tx
        .prepare_cached("SELECT shard FROM ledger_filters WHERE shard > ?1 ORDER BY shard LIMIT 1")
        .ctx("preparing the post filter shards")?;
    let mut drop_filters = tx
        .prepare_cached("DELETE FROM ledger_filters WHERE shard = ?1 AND block < ?2")
        .ctx("preparing the post filter deletion")?;
    let mut shard: i64 = -1;
    while let Some(s) =
        next_shard.query_row([shard], |r| r.get::<_, i64>(0)).optional().ctx("finding a post filter shard")?
    {
        drop_filters.execute([s, blocks_before]).ctx(format_args!("deleting the post filters of shard {s}"))?;
        shard = s;
    }
    tx.prepare_cached("DELETE FROM ledger_blocks WHERE block < ?1")
        .and_then(|mut s| s.execute([blocks_before]))
        .ctx("deleting the column copies of ledger blocks")?;
    tx.prepare_cached("DELETE FROM ledger_blocks WHERE block < ?1")
        .and_then(|mut s| s.execute([blocks_before]))
        .ctx("deleting the column copies of removed blocks")?;

    if end < before {
        tx.prepare_cached("UPDATE ledger_index_state SET indexed_end = ?1 WHERE id = 1")
            .and_then(|mut s| s.execute([before]))
            .ctx("moving the end of the ledger index")?;
    }
    let deleted = tx
        .prepare_cached("DELETE FROM ledger WHERE seq < ?1")
        .and_then(|mut s| s.execute([before]))
        .ctx(format_args!("deleting the ledger rows before {before}"))?;
    Ok(deleted as u64)
}
