//! Building the SQL of timeline and search requests.
//!
//! Every statement is assembled from fixed fragments with `?` placeholders;
//! user text only ever travels as a bound parameter. Search words reach FTS5
//! as quoted strings (`"..."`, inner quotes doubled), so nothing a user types
//! can act as FTS5 syntax either: `AND`, `*`, `NEAR` or a stray quote are
//! just text.
//!
//! A page of results must come off an index in id order, so that `LIMIT`
//! stops the work after one page instead of after every match. A search is
//! driven by one of three paths, picked from the shape of the expression:
//!
//! - **by key** when a top-level `from:`, `to:`, `in_reply_to_tweet_id:` or
//!   `conversation_id:` is present: its index is walked newest first and
//!   each post is probed against the word parts. One author's posts (or one
//!   thread) are far fewer than a common word's matches.
//! - **by the full-text index** when the expression has a positive word
//!   part, or an entity (#hashtag, $cashtag, @mention, `url:`), at the top:
//!   the largest part FTS5 can evaluate by itself, with the words of the
//!   entities, becomes one `MATCH`, which FTS5 walks in descending rowid (=
//!   post id) order; the rest (the entities exactly, language, replies, ...)
//!   filters the rows it yields.
//! - **by scanning posts** newest first otherwise (negations only, `lang:`
//!   alone, an emoji, ...). The API refuses most such queries; the store
//!   still answers them correctly.
//!
//! Operators about data Tollgate does not keep are `0`; a query that can
//! only match through them is not run.
//!
//! A negated word part is always a per-post probe (`NOT EXISTS`): the scan
//! it filters stops after a page, where `NOT IN (SELECT ...)` would first
//! collect every post that has the word.

use rusqlite::types::Value;
use tollgate_domain::{AccountId, PostId, Timestamp};
use tollgate_store::search::{is_symbolic, text_has};
use tollgate_store::{Entity, SearchExpr, SearchQuery, TimelineQuery};

use crate::codec::{MAX_ID, POST_COLUMNS, handle_key, lookup_id};

/// A statement and its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

/// The bounds every listing shares.
struct Bounds {
    since_id: Option<PostId>,
    until_id: Option<PostId>,
    start_time: Option<Timestamp>,
    end_time: Option<Timestamp>,
    before_id: Option<PostId>,
    limit: usize,
}

/// Appends the bounds as `AND` conditions on `id_col`; `false` if no stored
/// post can satisfy them (a lower bound at or above the largest storable id).
fn push_bounds(sql: &mut String, params: &mut Vec<Value>, id_col: &str, b: &Bounds) -> bool {
    if !push_filters(sql, params, id_col, b) {
        return false;
    }
    sql.push_str(&format!(" ORDER BY {id_col} DESC LIMIT ?"));
    params.push(Value::Integer(i64::try_from(b.limit).unwrap_or(i64::MAX)));
    true
}

/// The `AND` conditions of the bounds alone; false if nothing can match.
fn push_filters(sql: &mut String, params: &mut Vec<Value>, id_col: &str, b: &Bounds) -> bool {
    if let Some(since) = b.since_id {
        if since.0 >= MAX_ID {
            return false;
        }
        sql.push_str(&format!(" AND {id_col} > ?"));
        params.push(Value::Integer(since.0 as i64));
    }
    // An upper bound at or above 2^63 excludes nothing that can be stored.
    for upper in [b.until_id, b.before_id].into_iter().flatten() {
        if let Some(v) = lookup_id(upper.0) {
            sql.push_str(&format!(" AND {id_col} < ?"));
            params.push(Value::Integer(v));
        }
    }
    if let Some(start) = b.start_time {
        sql.push_str(" AND p.created_at >= ?");
        params.push(Value::Integer(start.millis()));
    }
    if let Some(end) = b.end_time {
        sql.push_str(" AND p.created_at < ?");
        params.push(Value::Integer(end.millis()));
    }
    true
}

/// An author's posts, newest first; `None` if the result is empty by
/// construction.
pub(crate) fn timeline(author: AccountId, q: &TimelineQuery) -> Option<Statement> {
    let author = lookup_id(author.0)?;
    let mut sql = format!("SELECT {POST_COLUMNS} FROM posts p WHERE p.author_id = ?");
    if q.exclude_replies {
        sql.push_str(" AND p.in_reply_to IS NULL");
    }
    let mut params = vec![Value::Integer(author)];
    let bounds = Bounds {
        since_id: q.since_id,
        until_id: q.until_id,
        start_time: q.start_time,
        end_time: q.end_time,
        before_id: q.before_id,
        limit: q.limit,
    };
    push_bounds(&mut sql, &mut params, "p.id", &bounds).then_some(Statement { sql, params })
}

/// A search's statements: the page, and for a walk of the posts table
/// bounded by `walk_limit`, the statement that finds the lowest id of the
/// posts the walk examines (none when fewer posts are in bounds).
pub(crate) struct Search {
    pub(crate) page: Statement,
    pub(crate) walk_floor: Option<Statement>,
}

/// A search, newest first; `None` if the result is empty by construction.
/// With `walk_limit`, a query no index narrows (an emoji alone, ...) examines
/// at most that many posts of the table, newest first within the bounds.
pub(crate) fn search(q: &SearchQuery, walk_limit: Option<usize>) -> Option<Search> {
    let bounds = Bounds {
        since_id: q.since_id,
        until_id: q.until_id,
        start_time: q.start_time,
        end_time: q.end_time,
        before_id: q.before_id,
        limit: q.limit,
    };
    // A query that can only match through operators about data Tollgate
    // does not keep (`has:media`, `is:retweet`, ...) matches nothing.
    if cover(&q.expr) == Cover::Nothing {
        return None;
    }
    let mut params = Vec::new();
    let conjuncts: Vec<&SearchExpr> = match &q.expr {
        SearchExpr::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let by_key = conjuncts.iter().any(|c| keyed(c));
    let (mut sql, id_col) = match split_for_fts(&conjuncts) {
        Some((fts, rest)) if !by_key => {
            // CROSS JOIN keeps the index as the outer loop, whose descending
            // rowid order is the order of the result.
            let mut sql = format!(
                "SELECT {POST_COLUMNS} FROM posts_fts CROSS JOIN posts p ON p.id = posts_fts.rowid \
                 WHERE posts_fts MATCH ?"
            );
            params.push(Value::Text(fts));
            for cond in rest {
                // An entity on the walk is checked per row: collecting its
                // words' matches first would cost as much as the walk.
                let probe = if matches!(cond, SearchExpr::Entity(..)) { Probe::PerPost } else { Probe::Collect };
                sql.push_str(" AND (");
                sql.push_str(&condition(cond, probe, &mut params));
                sql.push(')');
            }
            (sql, "posts_fts.rowid")
        }
        _ => match walk_limit.filter(|_| !by_key) {
            Some(window) => return bounded_walk(&q.expr, &bounds, window),
            None => {
                let probe = if by_key { Probe::PerPost } else { Probe::Collect };
                let cond = condition(&q.expr, probe, &mut params);
                (format!("SELECT {POST_COLUMNS} FROM posts p WHERE ({cond})"), "p.id")
            }
        },
    };
    push_bounds(&mut sql, &mut params, id_col, &bounds)
        .then_some(Search { page: Statement { sql, params }, walk_floor: None })
}

/// A search no index narrows, examining at most `window` posts.
// INVARIANT (bounded-walk): the newest `window` posts in bounds are taken by
// the table's own order in a subquery, then filtered; the caller resumes
// below the lowest of them (`walk_floor`) when the page is not full.
fn bounded_walk(expr: &SearchExpr, bounds: &Bounds, window: usize) -> Option<Search> {
    let window_param = || Value::Integer(i64::try_from(window).unwrap_or(i64::MAX));
    let mut params = Vec::new();
    let mut inner = String::from("SELECT * FROM posts p WHERE 1");
    if !push_filters(&mut inner, &mut params, "p.id", bounds) {
        return None;
    }
    inner.push_str(" ORDER BY p.id DESC LIMIT ?");
    params.push(window_param());
    let mut floor = Statement { sql: String::from("SELECT p.id FROM posts p WHERE 1"), params: Vec::new() };
    push_filters(&mut floor.sql, &mut floor.params, "p.id", bounds);
    floor.sql.push_str(" ORDER BY p.id DESC LIMIT 1 OFFSET ?");
    floor.params.push(Value::Integer(i64::try_from(window.saturating_sub(1)).unwrap_or(i64::MAX)));
    let cond = condition(expr, Probe::Collect, &mut params);
    let mut sql = format!("SELECT {POST_COLUMNS} FROM ({inner}) p WHERE ({cond})");
    push_bounds(&mut sql, &mut params, "p.id", bounds);
    Some(Search { page: Statement { sql, params }, walk_floor: Some(floor) })
}

/// Whether a conjunct is an equality an index of `posts` answers in id
/// order (one author's posts, the replies to one account or one post, one
/// conversation): far fewer rows than a common word's matches.
fn keyed(expr: &SearchExpr) -> bool {
    matches!(expr, SearchExpr::From(_) | SearchExpr::To(_) | SearchExpr::InReplyTo(_) | SearchExpr::Conversation(_))
}

/// Refuses search text FTS5 cannot take: its query parser reads a string
/// only up to a NUL character, so a quoted string holding one is an
/// "unterminated string" error (a bad query, not a failing store).
pub(crate) fn check_text(expr: &SearchExpr) -> tollgate_store::Result<()> {
    let invalid = |what: &str| tollgate_store::StoreError::Invalid {
        field: "query",
        reason: format!("{what} holds a NUL character (U+0000), which cannot be searched for"),
    };
    match expr {
        SearchExpr::Term(t) | SearchExpr::Phrase(t) if t.contains('\0') => Err(invalid("a search word")),
        SearchExpr::Entity(_, t) if t.contains('\0') => Err(invalid("a #hashtag, $cashtag, @mention or `url:`")),
        SearchExpr::From(t) | SearchExpr::To(t) if t.contains('\0') => Err(invalid("a `from:` or `to:` user")),
        SearchExpr::Lang(t) if t.contains('\0') => Err(invalid("a `lang:` tag")),
        SearchExpr::Not(inner) => check_text(inner),
        SearchExpr::And(items) | SearchExpr::Or(items) => items.iter().try_for_each(check_text),
        _ => Ok(()),
    }
}

/// How a positive word part is checked outside the index-driven path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// `p.id IN (SELECT rowid ...)`: the matches are collected once; lets
    /// SQLite answer `word OR other` as a union of two index lookups.
    Collect,
    /// `EXISTS (... rowid = p.id)`: one probe per post of an already narrow
    /// walk (one author's posts).
    PerPost,
}

/// Quotes `text` as one FTS5 string: the tokenizer splits it into words,
/// which then must appear in this order (a single word is a one-word phrase).
pub(crate) fn fts_string(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The deepest nesting of parentheses in an FTS5 query built here. FTS5's
/// query parser has a fixed stack (a query nesting about 30 groups fails
/// with "fts5: parser stack overflow"); a deeper expression is split, its
/// parts each a `MATCH` of their own joined in SQL.
const FTS_MAX_NESTING: usize = 16;

fn nesting(q: &str) -> usize {
    let (mut depth, mut deepest, mut quoted) = (0usize, 0usize, false);
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The FTS5 query equivalent to `expr`, if FTS5 can evaluate all of it.
///
/// FTS5's `NOT` is binary (`a NOT b`), so a negation is only expressible next
/// to a positive part of the same conjunction.
fn fts_query(expr: &SearchExpr) -> Option<String> {
    fts_query_any_depth(expr).filter(|q| nesting(q) <= FTS_MAX_NESTING)
}

fn fts_query_any_depth(expr: &SearchExpr) -> Option<String> {
    match expr {
        SearchExpr::Term(t) | SearchExpr::Phrase(t) if !is_symbolic(t) => Some(fts_string(t)),
        SearchExpr::And(items) => {
            let (positive, negative, rest) = partition_and(items.iter());
            if positive.is_empty() || !rest.is_empty() {
                return None;
            }
            Some(conjunction(&positive, &negative))
        }
        SearchExpr::Or(items) if !items.is_empty() => {
            let parts: Option<Vec<String>> = items.iter().map(fts_query).collect();
            Some(parts?.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" OR "))
        }
        _ => None,
    }
}

/// What the full-text index can say about the posts an expression matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cover {
    /// The expression matches no post at all.
    Nothing,
    /// Every post it matches also matches this FTS5 query (which may match
    /// more: a hashtag's words are found where they are no hashtag).
    Within(String),
    /// The index cannot narrow it (a negation, a filter on a column).
    Unknown,
}

/// A necessary condition on the index for `expr`: an entity's words appear
/// in the post's text, in order, wherever the entity does.
fn cover(expr: &SearchExpr) -> Cover {
    match cover_any_depth(expr) {
        Cover::Within(q) if nesting(&q) > FTS_MAX_NESTING => Cover::Unknown,
        c => c,
    }
}

fn cover_any_depth(expr: &SearchExpr) -> Cover {
    match expr {
        SearchExpr::Term(_) | SearchExpr::Phrase(_) => fts_query(expr).map_or(Cover::Unknown, Cover::Within),
        SearchExpr::Entity(_, value) => Cover::Within(fts_string(value)),
        SearchExpr::Unheld(_) => Cover::Nothing,
        SearchExpr::And(items) => {
            let covers: Vec<Cover> = items.iter().map(cover).collect();
            if covers.contains(&Cover::Nothing) {
                return Cover::Nothing;
            }
            let parts: Vec<String> = covers
                .into_iter()
                .filter_map(|c| match c {
                    Cover::Within(q) => Some(format!("({q})")),
                    _ => None,
                })
                .collect();
            if parts.is_empty() { Cover::Unknown } else { Cover::Within(parts.join(" AND ")) }
        }
        SearchExpr::Or(items) => {
            let mut parts = Vec::new();
            for item in items {
                match cover(item) {
                    Cover::Nothing => {}
                    Cover::Within(q) => parts.push(format!("({q})")),
                    Cover::Unknown => return Cover::Unknown,
                }
            }
            if parts.is_empty() { Cover::Nothing } else { Cover::Within(parts.join(" OR ")) }
        }
        _ => Cover::Unknown,
    }
}

/// Splits a conjunction into the FTS5-expressible positive parts, the
/// FTS5-expressible negated parts (without their `Not`) and everything else.
fn partition_and<'e>(items: impl Iterator<Item = &'e SearchExpr>) -> (Vec<String>, Vec<String>, Vec<&'e SearchExpr>) {
    let (mut positive, mut negative, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for item in items {
        if let SearchExpr::Not(inner) = item
            && let Some(q) = fts_query(inner)
        {
            negative.push(q);
        } else if let Some(q) = fts_query(item) {
            positive.push(q);
        } else {
            rest.push(item);
        }
    }
    (positive, negative, rest)
}

fn conjunction(positive: &[String], negative: &[String]) -> String {
    let mut q = positive.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ");
    if !negative.is_empty() {
        let neg = negative.iter().map(|n| format!("({n})")).collect::<Vec<_>>().join(" OR ");
        q = format!("({q}) NOT ({neg})");
    }
    q
}

/// The query the index drives, and the conditions left over (each checked
/// exactly on the rows the index yields); `None` if the index cannot drive
/// the query (no positive part it can narrow at the top).
fn split_for_fts<'e>(conjuncts: &[&'e SearchExpr]) -> Option<(String, Vec<&'e SearchExpr>)> {
    let (mut positive, negative, rest) = partition_and(conjuncts.iter().copied());
    // A part the index can only narrow (a hashtag's words) narrows the walk
    // too; the part itself stays among the exact conditions.
    positive.extend(rest.iter().filter_map(|r| match cover(r) {
        Cover::Within(q) => Some(q),
        _ => None,
    }));
    if positive.is_empty() {
        return None;
    }
    Some((conjunction(&positive, &negative), rest))
}

const FTS_COLLECT: &str = "p.id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)";
const FTS_PROBE: &str = "EXISTS (SELECT 1 FROM posts_fts WHERE posts_fts MATCH ? AND posts_fts.rowid = p.id)";

/// The SQL function (registered on every connection of `tollgate.db`, see
/// `entity_function`) that reads a post's entities: `(text, kind, value)`,
/// `value` NULL for any entity of the kind.
pub(crate) const ENTITY_FUNCTION: &str = "tollgate_entity";

/// The account a `from:`/`to:` value names, as an SQL expression: a handle
/// (case-insensitive), or for a number the account with that id if there is
/// one, else the account with that handle (handles may be all digits).
/// Always one value, so that an index answers the equality in id order;
/// `-1`, which is no stored id, if no account is named.
// INVARIANT (search-never-null): a condition is true or false, never NULL,
// so that its negation is its complement: `-from:nobody` keeps every post.
fn account_of(value: &str, params: &mut Vec<Value>) -> String {
    let by_handle = "(SELECT id FROM accounts WHERE handle_lower = ?)";
    match value.parse::<u64>().ok().and_then(lookup_id) {
        Some(id) => {
            params.push(Value::Integer(id));
            params.push(Value::Text(handle_key(value)));
            format!("coalesce((SELECT id FROM accounts WHERE id = ?), {by_handle}, -1)")
        }
        None => {
            params.push(Value::Text(handle_key(value)));
            format!("coalesce({by_handle}, -1)")
        }
    }
}

/// `expr` as an SQL condition on the posts row `p`.
fn condition(expr: &SearchExpr, probe: Probe, params: &mut Vec<Value>) -> String {
    if let Some(q) = fts_query(expr) {
        params.push(Value::Text(q));
        return match probe {
            Probe::Collect => FTS_COLLECT,
            Probe::PerPost => FTS_PROBE,
        }
        .to_owned();
    }
    match expr {
        // Symbols only (an emoji): as written, anywhere in the text. Other
        // words were answered by `fts_query` above.
        SearchExpr::Term(t) | SearchExpr::Phrase(t) => {
            params.push(Value::Text(t.clone()));
            "instr(p.text, ?) > 0".to_owned()
        }
        // Collected, its words' matches narrow the posts an `OR` beside it
        // leaves (`#tea OR from:ada` is then two index lookups, not a scan).
        SearchExpr::Entity(kind, value) => {
            let narrow = if probe == Probe::Collect {
                params.push(Value::Text(fts_string(value)));
                format!("{FTS_COLLECT} AND ")
            } else {
                String::new()
            };
            params.push(Value::Integer(kind.code()));
            params.push(Value::Text(value.clone()));
            format!("{narrow}{ENTITY_FUNCTION}(p.text, ?, ?)")
        }
        SearchExpr::Has(kind) => {
            params.push(Value::Integer(kind.code()));
            format!("{ENTITY_FUNCTION}(p.text, ?, NULL)")
        }
        SearchExpr::From(who) => format!("p.author_id = {}", account_of(who, params)),
        // INVARIANT (search-never-null): a nullable column is tested for NULL
        // first (`NULL AND false` is false); the test also lets SQLite use the
        // partial index that holds replies only.
        SearchExpr::To(who) => {
            format!("p.in_reply_to_user_id IS NOT NULL AND p.in_reply_to_user_id = {}", account_of(who, params))
        }
        SearchExpr::InReplyTo(id) => match lookup_id(id.0) {
            Some(id) => {
                params.push(Value::Integer(id));
                "p.in_reply_to IS NOT NULL AND p.in_reply_to = ?".to_owned()
            }
            None => "0".to_owned(),
        },
        // The expression of the index `posts_conversation`, verbatim.
        SearchExpr::Conversation(id) => match lookup_id(id.0) {
            Some(id) => {
                params.push(Value::Integer(id));
                "coalesce(p.conversation_id, p.id) = ?".to_owned()
            }
            None => "0".to_owned(),
        },
        SearchExpr::Lang(lang) => {
            params.push(Value::Text(lang.clone()));
            "p.lang = ?".to_owned()
        }
        SearchExpr::IsReply => "p.in_reply_to IS NOT NULL".to_owned(),
        SearchExpr::Unheld(_) => "0".to_owned(),
        SearchExpr::Not(inner) => match fts_query(inner) {
            Some(q) => {
                params.push(Value::Text(q));
                format!("NOT {FTS_PROBE}")
            }
            None => format!("NOT ({})", condition(inner, probe, params)),
        },
        SearchExpr::And(items) => join(items, " AND ", "1", probe, params),
        SearchExpr::Or(items) => join(items, " OR ", "0", probe, params),
    }
}

fn join(items: &[SearchExpr], op: &str, empty: &str, probe: Probe, params: &mut Vec<Value>) -> String {
    if items.is_empty() {
        return empty.to_owned();
    }
    items.iter().map(|i| format!("({})", condition(i, probe, params))).collect::<Vec<_>>().join(op)
}

/// Registers [`ENTITY_FUNCTION`] on a connection: deterministic and
/// innocuous, so SQLite may call it in any part of a query.
pub(crate) fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function(ENTITY_FUNCTION, 3, flags, |ctx| {
        let text: String = ctx.get(0)?;
        let Some(kind) = Entity::from_code(ctx.get(1)?) else { return Ok(false) };
        let value: Option<String> = ctx.get(2)?;
        Ok(text_has(kind, value.as_deref(), &text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: &str) -> SearchExpr {
        SearchExpr::Term(t.into())
    }

    fn query(expr: SearchExpr) -> SearchQuery {
        SearchQuery::new(expr, 10)
    }

    #[test]
    fn quotes_make_fts_syntax_plain_text() {
        assert_eq!(fts_string("rust"), "\"rust\"");
        assert_eq!(fts_string("a\" OR \"b"), "\"a\"\" OR \"\"b\"");
    }

    #[test]
    fn text_only_expressions_become_one_match() {
        let expr = SearchExpr::And(vec![
            term("a"),
            SearchExpr::Or(vec![term("b"), SearchExpr::Phrase("c d".into())]),
            SearchExpr::Not(Box::new(term("e"))),
        ]);
        assert_eq!(fts_query(&expr).unwrap(), r#"(("a") AND (("b") OR ("c d"))) NOT (("e"))"#);
        let s = search(&query(expr), None).unwrap().page;
        assert!(s.sql.contains("FROM posts_fts CROSS JOIN posts"), "{}", s.sql);
        assert!(!s.sql.contains("IN (SELECT"), "{}", s.sql);
    }

    #[test]
    fn filters_ride_along_an_indexed_conjunction() {
        let expr = SearchExpr::And(vec![
            term("a"),
            SearchExpr::Lang("en".into()),
            SearchExpr::Not(Box::new(SearchExpr::IsReply)),
        ]);
        let s = search(&query(expr), None).unwrap().page;
        assert!(s.sql.contains("FROM posts_fts CROSS JOIN posts"), "{}", s.sql);
        assert!(s.sql.contains("p.lang = ?") && s.sql.contains("NOT (p.in_reply_to IS NOT NULL)"), "{}", s.sql);
        assert_eq!(s.params[0], Value::Text("(\"a\")".into()));
    }

    #[test]
    fn negation_alone_scans_posts() {
        let s = search(&query(SearchExpr::Not(Box::new(term("a")))), None).unwrap().page;
        assert!(s.sql.starts_with(&format!("SELECT {POST_COLUMNS} FROM posts p WHERE (NOT EXISTS")), "{}", s.sql);
    }

    #[test]
    fn from_walks_the_author_and_probes_words() {
        let expr =
            SearchExpr::And(vec![term("a"), SearchExpr::From("Ada".into()), SearchExpr::Not(Box::new(term("b")))]);
        let s = search(&query(expr), None).unwrap().page;
        assert!(s.sql.contains(&format!("FROM posts p WHERE (({FTS_PROBE}) AND (p.author_id =")), "{}", s.sql);
        assert!(s.sql.contains(&format!("NOT {FTS_PROBE}")), "{}", s.sql);
        assert_eq!(s.params[1], Value::Text("ada".into()));
    }

    #[test]
    fn user_text_is_never_part_of_the_sql() {
        let evil = "'; DROP TABLE posts; --";
        let expr = SearchExpr::Or(vec![term(evil), SearchExpr::From(evil.into()), SearchExpr::Lang(evil.into())]);
        let s = search(&query(expr), None).unwrap().page;
        assert!(!s.sql.contains("DROP"), "{}", s.sql);
    }

    #[test]
    fn unreachable_bounds_short_circuit() {
        let mut q = query(term("a"));
        q.since_id = Some(PostId(u64::MAX));
        assert!(search(&q, None).is_none());
        let tq = TimelineQuery { until_id: Some(PostId(u64::MAX)), limit: 5, ..TimelineQuery::default() };
        let s = timeline(AccountId(1), &tq).unwrap();
        assert!(!s.sql.contains("p.id <"), "{}", s.sql);
        assert!(timeline(AccountId(u64::MAX), &tq).is_none());
    }
}
