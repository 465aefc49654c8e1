//! Audit questions answered from the store's index (docs/ledger.md,
//! "Indexes and queries"), and the rebuild of that index from the entries.
//!
//! Every answer is computed from the index plus the entries it points at; the
//! index is not covered by the tree, so an answer is only as good as the last
//! `reindex` or the indexer's maintenance of it. A query first indexes the
//! entries the index lacks, so it never answers from a stale index.

use std::collections::BTreeMap;

use crate::db::{DAY_MILLIS, LedgerCursor, LedgerDb, LedgerRow, LedgerSelect, indexed_app};
use serde::Serialize;
use tollgate_domain::{AccountId, AppId, PostId, Purpose, Timestamp};

use crate::index::{FILTER_BLOCK, postings_of, shard_of};
use crate::{Entry, LedgerError, Outcome};

/// The most items a page holds.
pub const MAX_PAGE: usize = 1000;
/// Posting lists read per store call.
const FILTER_PAGE: usize = 4096;

/// One recipient of an account's or a post's deliveries, for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    pub first_time: Timestamp,
    pub last_time: Timestamp,
    /// Entries that delivered (one of) the posts.
    pub deliveries: u64,
}

/// An entry, without its post ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntrySummary {
    pub seq: u64,
    pub time: Timestamp,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// `served` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub posts: usize,
    pub policy_version: String,
}

impl EntrySummary {
    fn of(seq: u64, e: &Entry) -> EntrySummary {
        let (outcome, reason) = match &e.outcome {
            Outcome::Served => ("served", None),
            Outcome::Refused(r) => ("refused", Some(r.clone())),
        };
        EntrySummary {
            seq,
            time: e.time,
            request_id: e.request_id.clone(),
            app_id: e.app_id,
            client: e.client.clone(),
            endpoint: e.endpoint.clone(),
            purpose: e.purpose,
            outcome,
            reason,
            posts: e.posts.len(),
            policy_version: e.policy_version.clone(),
        }
    }
}

/// Who received one post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostRecipients {
    pub post_id: PostId,
    pub recipients: Vec<Recipient>,
    /// The entries that delivered it, by seq: one page.
    pub entries: Vec<EntrySummary>,
    pub next_cursor: Option<String>,
}

/// Who received posts of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorRecipients {
    pub account_id: AccountId,
    pub recipients: Vec<Recipient>,
}

/// Entry counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub served: u64,
    pub refused: u64,
    /// Posts delivered by the served entries.
    pub posts: u64,
}

/// One UTC day of an app's entries for one purpose and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// `served` or `refused`.
    pub outcome: &'static str,
    pub entries: u64,
    pub posts: u64,
}

/// One delivered post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveredPost {
    pub post_id: PostId,
    pub seq: u64,
    pub time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
}

/// Everything an app received in a time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppDeliveries {
    pub app_id: AppId,
    pub start_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Timestamp>,
    pub totals: Counts,
    pub days: Vec<DayCount>,
    /// The delivered post ids, by (time, seq): one page.
    pub posts: Vec<DeliveredPost>,
    pub next_cursor: Option<String>,
}

/// Who made the attempts: an app (API clients) or an anonymous client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    AppId(AppId),
    Client(String),
}

/// Attempts of one identity since a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempts {
    #[serde(flatten)]
    pub identity: Identity,
    pub since: Timestamp,
    pub counts: Counts,
    /// The entries, by (time, seq): one page.
    pub entries: Vec<EntrySummary>,
    pub next_cursor: Option<String>,
}

/// Deliveries decided under one policy version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDeliveries {
    pub policy_version: String,
    pub counts: Counts,
    /// The served entries, by seq: one page.
    pub entries: Vec<EntrySummary>,
    pub next_cursor: Option<String>,
}

/// What a reindex did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReindexReport {
    /// Entries indexed by the rebuild (a running writer's indexer may index
    /// some of them first).
    pub entries: u64,
}

/// A recipient and purpose: app, anonymous client, purpose.
type RecipientKey = (Option<AppId>, Option<String>, Option<&'static str>);

fn invalid_cursor(c: &str) -> LedgerError {
    LedgerError::Invalid(format!("invalid cursor `{c}`"))
}

/// Cursors are dot-separated integers: opaque to clients.
fn parse_cursor<const N: usize>(c: &str) -> Result<[i64; N], LedgerError> {
    let parts: Vec<i64> = c.split('.').map(str::parse).collect::<Result<_, _>>().map_err(|_| invalid_cursor(c))?;
    parts.try_into().map_err(|_| invalid_cursor(c))
}

fn time_cursor(c: Option<&str>) -> Result<Option<LedgerCursor>, LedgerError> {
    c.map(|c| {
        let [t, s] = parse_cursor::<2>(c)?;
        Ok(LedgerCursor { time: Timestamp::from_millis(t), seq: u64::try_from(s).map_err(|_| invalid_cursor(c))? })
    })
    .transpose()
}

fn page_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

fn decode(row: &LedgerRow) -> Result<Entry, LedgerError> {
    Entry::decode(&row.body).map_err(|e| LedgerError::Altered(format!("entry {} does not decode: {e}", row.seq)))
}

/// The entries below `end` that delivered a post.
struct PostDeliveries {
    /// Named by the blocks' posting lists: served or refused (the caller
    /// tells them apart by their columns).
    listed: Vec<u64>,
    /// Found by searching the blocks that have no posting list (the last,
    /// unfilled one, and any indexed before the lists existed): served only.
    searched: BTreeMap<u64, Entry>,
}

/// Finds the entries below `end` that delivered `post`: from the posting list
/// of `post`'s shard in each whole block, and by searching the entries of
/// the blocks without one.
fn find_post(store: &LedgerDb, post: PostId, end: u64) -> Result<PostDeliveries, LedgerError> {
    let whole = end / FILTER_BLOCK;
    let shard = shard_of(post);
    // Retention removes whole blocks from the start: nothing to search there.
    let start = store.ledger_read(0, 1)?.first().map_or(end, |r| r.seq) / FILTER_BLOCK;
    let mut listed = Vec::new();
    let mut search = Vec::new();
    let mut next_block = start;
    'lists: while next_block < whole {
        let lists = store.ledger_post_filters(shard, next_block, FILTER_PAGE)?;
        if lists.is_empty() {
            break;
        }
        for list in lists {
            if list.block >= whole {
                break 'lists;
            }
            search.extend(next_block..list.block);
            let offsets = postings_of(&list.bits, post).map_err(|e| {
                LedgerError::Store(format!(
                    "the post list of block {} (shard {shard}) is corrupt: {e}; run `tollgate ledger reindex`",
                    list.block
                ))
            })?;
            listed.extend(offsets.iter().map(|o| list.block * FILTER_BLOCK + u64::from(*o)));
            next_block = list.block + 1;
        }
    }
    search.extend(next_block..end.div_ceil(FILTER_BLOCK));

    let decimal = post.0.to_string();
    let finder = memchr::memmem::Finder::new(decimal.as_bytes());
    let mut searched = BTreeMap::new();
    for block in search {
        let from = block * FILTER_BLOCK;
        let until = (from + FILTER_BLOCK).min(end);
        for row in store.ledger_read(from, (until - from) as usize)? {
            // A version 1 body (ids in decimal) that lacks the id's digits
            // cannot hold the post; later versions' id lists are compact
            // (delta-coded), so their bodies are decoded.
            if row.seq >= until || (row.body.starts_with(br#"{"v":1,"#) && finder.find(&row.body).is_none()) {
                continue;
            }
            let e = decode(&row)?;
            if matches!(e.outcome, Outcome::Served) && e.posts.binary_search(&post).is_ok() {
                searched.insert(row.seq, e);
            }
        }
    }
    Ok(PostDeliveries { listed, searched })
}

impl From<crate::db::LedgerCounts> for Counts {
    fn from(c: crate::db::LedgerCounts) -> Counts {
        Counts { served: c.served, refused: c.refused, posts: c.posts }
    }
}

/// The audit questions over a ledger's store. Needs only the store (not
/// the key or the signed records), so the API can answer from its own handle.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    store: &'a LedgerDb,
}

impl std::fmt::Debug for Audit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl<'a> Audit<'a> {
    pub fn new(store: &'a LedgerDb) -> Audit<'a> {
        Audit { store }
    }

    fn store(&self) -> &'a LedgerDb {
        self.store
    }

    /// The end of the ledger, after bringing the index up to it: entries
    /// the indexer has not reached yet (at most about a second of traffic,
    /// or more after a restart or a `reindex`) are indexed here first, so an
    /// answer covers every entry recorded before the question.
    fn indexed(&self) -> Result<u64, LedgerError> {
        let end = self.store().ledger_last()?.map_or(0, |r| r.seq + 1);
        crate::indexer::catch_up(self.store(), end, |_| {})?;
        Ok(end)
    }

    /// Who received `post`: per recipient and purpose over the whole ledger,
    /// and a page of the entries that delivered it, after `cursor`.
    ///
    /// Reads one posting list per block (`find_post`), counts recipients
    /// from the stored columns of the entries the lists name, and decodes
    /// only the page of entries returned.
    pub fn post_recipients(
        &self,
        post: PostId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PostRecipients, LedgerError> {
        let limit = page_limit(limit);
        let after = cursor.map(|c| parse_cursor::<1>(c).map(|[s]| s)).transpose()?.unwrap_or(-1);
        let end = self.indexed()?;
        let found = find_post(self.store(), post, end)?;

        let mut by: BTreeMap<RecipientKey, Recipient> = BTreeMap::new();
        let mut count = |app_id: Option<AppId>, client: &Option<String>, purpose: Option<Purpose>, time: Timestamp| {
            let key = (app_id, client.clone(), purpose.map(Purpose::as_str));
            let r = by.entry(key).or_insert_with(|| Recipient {
                app_id,
                client: client.clone(),
                purpose,
                first_time: time,
                last_time: time,
                deliveries: 0,
            });
            r.first_time = r.first_time.min(time);
            r.last_time = r.last_time.max(time);
            r.deliveries += 1;
        };
        let mut seqs = Vec::with_capacity(found.listed.len() + found.searched.len());
        let columns = self.store().ledger_entry_columns(&found.listed)?;
        if columns.len() != found.listed.len() {
            return Err(LedgerError::Store(format!(
                "the post index of post {post} names {} entries of which {} are stored with their columns; \
                 run `tollgate ledger reindex`",
                found.listed.len(),
                columns.len()
            )));
        }
        for c in columns.iter().filter(|c| !c.refused) {
            count(c.app_id, &c.client, c.purpose, c.time);
            seqs.push(c.seq);
        }
        for (seq, e) in &found.searched {
            count(indexed_app(e.app_id), &e.client, e.purpose, e.time);
            seqs.push(*seq);
        }
        seqs.sort_unstable();

        // The page: the entries after the cursor, decoded.
        let first = seqs.partition_point(|s| (*s as i64) <= after);
        let page = &seqs[first..seqs.len().min(first + limit)];
        let next_cursor = (first + limit < seqs.len()).then(|| page.last().map(u64::to_string)).flatten();
        let wanted: Vec<u64> = page.iter().copied().filter(|s| !found.searched.contains_key(s)).collect();
        let mut rows = self.store().ledger_rows(&wanted)?.into_iter();
        let mut entries = Vec::with_capacity(page.len());
        for &seq in page {
            if let Some(e) = found.searched.get(&seq) {
                entries.push(EntrySummary::of(seq, e));
                continue;
            }
            let row = rows
                .next()
                .filter(|r| r.seq == seq)
                .ok_or_else(|| LedgerError::Altered(format!("entry {seq} is missing")))?;
            let e = decode(&row)?;
            if e.posts.binary_search(&post).is_err() {
                return Err(LedgerError::Store(format!(
                    "the post index says entry {seq} delivered post {post}, which it does not; \
                     run `tollgate ledger reindex`"
                )));
            }
            entries.push(EntrySummary::of(seq, &e));
        }
        Ok(PostRecipients { post_id: post, recipients: by.into_values().collect(), entries, next_cursor })
    }

    /// Who received posts of `author`, per recipient and purpose, from the
    /// per-author summary.
    pub fn author_recipients(&self, author: AccountId) -> Result<AuthorRecipients, LedgerError> {
        self.indexed()?;
        let recipients = self
            .store()
            .ledger_author_deliveries(author)?
            .into_iter()
            .map(|d| Recipient {
                app_id: d.app_id,
                client: d.client,
                purpose: d.purpose,
                first_time: d.first,
                last_time: d.last,
                deliveries: d.deliveries,
            })
            .collect();
        Ok(AuthorRecipients { account_id: author, recipients })
    }

    /// Everything `app` received with `from <= time < until`: counts by
    /// UTC day, purpose and outcome, and a page of the delivered post ids.
    pub fn app_deliveries(
        &self,
        app: AppId,
        from: Timestamp,
        until: Option<Timestamp>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AppDeliveries, LedgerError> {
        let limit = page_limit(limit);
        // The cursor names the entry to resume in and how many of its posts
        // were already returned.
        let resume = cursor
            .map(|c| {
                let [t, s, skip] = parse_cursor::<3>(c)?;
                let seq = u64::try_from(s).map_err(|_| invalid_cursor(c))?;
                let skip = usize::try_from(skip).map_err(|_| invalid_cursor(c))?;
                Ok::<_, LedgerError>((Timestamp::from_millis(t), seq, skip))
            })
            .transpose()?;
        self.indexed()?;
        let days = self.store().ledger_app_days(app, from, until)?;
        let mut totals = Counts::default();
        for d in &days {
            if d.refused {
                totals.refused += d.entries;
            } else {
                totals.served += d.entries;
                totals.posts += d.posts;
            }
        }
        let days = days
            .into_iter()
            .map(|d| DayCount {
                day: day_of(d.day),
                purpose: d.purpose,
                outcome: if d.refused { "refused" } else { "served" },
                entries: d.entries,
                posts: d.posts,
            })
            .collect();
        let select = LedgerSelect::App { app, from, until };
        // Resuming inside an entry re-reads it: the page starts just before it.
        let mut after = resume.and_then(|(time, seq, _)| seq.checked_sub(1).map(|seq| LedgerCursor { time, seq }));
        let mut skip = resume.map(|(_, seq, skip)| (seq, skip));
        let mut posts = Vec::new();
        let mut next_cursor = None;
        'pages: loop {
            let rows = self.store().ledger_select(&select, after, limit.max(64))?;
            let Some(last) = rows.last() else { break };
            after = Some(LedgerCursor { time: last.time, seq: last.seq });
            for row in &rows {
                let taken = match skip.take() {
                    Some((seq, n)) if seq == row.seq => n,
                    _ => 0,
                };
                let e = decode(row)?;
                for (i, p) in e.posts.iter().enumerate().skip(taken) {
                    if posts.len() == limit {
                        next_cursor = Some(format!("{}.{}.{i}", row.time.millis(), row.seq));
                        break 'pages;
                    }
                    posts.push(DeliveredPost { post_id: *p, seq: row.seq, time: row.time, purpose: e.purpose });
                }
            }
        }
        Ok(AppDeliveries { app_id: app, start_time: from, end_time: until, totals, days, posts, next_cursor })
    }

    /// The attempts of an identity at or after `since`: counts of served and
    /// refused entries, and a page of the entries.
    pub fn attempts(
        &self,
        identity: Identity,
        since: Timestamp,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Attempts, LedgerError> {
        let limit = page_limit(limit);
        let after = time_cursor(cursor)?;
        self.indexed()?;
        let select = match &identity {
            Identity::AppId(app) => LedgerSelect::App { app: *app, from: since, until: None },
            Identity::Client(client) => LedgerSelect::Client { client: client.clone(), from: since, until: None },
        };
        let counts = self.store().ledger_count(&select)?.into();
        let (entries, next_cursor) =
            self.entry_page(&select, after, limit, |r| format!("{}.{}", r.time.millis(), r.seq))?;
        Ok(Attempts { identity, since, counts, entries, next_cursor })
    }

    /// The deliveries decided under `version`: counts and a page of the
    /// served entries.
    pub fn policy_deliveries(
        &self,
        version: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PolicyDeliveries, LedgerError> {
        let limit = page_limit(limit);
        let after = cursor
            .map(|c| {
                let [s] = parse_cursor::<1>(c)?;
                let seq = u64::try_from(s).map_err(|_| invalid_cursor(c))?;
                Ok::<_, LedgerError>(LedgerCursor { time: Timestamp::from_millis(0), seq })
            })
            .transpose()?;
        self.indexed()?;
        let select = LedgerSelect::Policy { version: version.to_owned() };
        let counts = self.store().ledger_count(&select)?.into();
        let (entries, next_cursor) = self.entry_page(&select, after, limit, |r| r.seq.to_string())?;
        Ok(PolicyDeliveries { policy_version: version.to_owned(), counts, entries, next_cursor })
    }

    fn entry_page(
        &self,
        select: &LedgerSelect,
        after: Option<LedgerCursor>,
        limit: usize,
        cursor_of: impl Fn(&LedgerRow) -> String,
    ) -> Result<(Vec<EntrySummary>, Option<String>), LedgerError> {
        let mut rows = self.store().ledger_select(select, after, limit + 1)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(&cursor_of) } else { None };
        let entries =
            rows.iter().map(|r| Ok(EntrySummary::of(r.seq, &decode(r)?))).collect::<Result<_, LedgerError>>()?;
        Ok((entries, next))
    }

    /// Rebuilds the whole index from the entries. Safe while the writer
    /// appends: entries appended meanwhile are indexed by whichever of this
    /// rebuild and the writer's indexer reaches them first.
    pub fn reindex(&self, progress: impl FnMut(u64)) -> Result<ReindexReport, LedgerError> {
        let store = self.store();
        store.ledger_index_clear()?;
        let end = store.ledger_last()?.map_or(0, |r| r.seq + 1);
        let entries = crate::indexer::catch_up(store, end, progress)?;
        Ok(ReindexReport { entries })
    }
}

/// The UTC day an instant falls in, as `YYYY-MM-DD`.
fn day_of(t: Timestamp) -> String {
    Timestamp::from_millis(t.millis().div_euclid(DAY_MILLIS) * DAY_MILLIS).to_string()[..10].to_owned()
}
