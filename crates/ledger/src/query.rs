//! Audit questions answered from the store's index (docs/ledger.md,
//! "Indexes and queries"), and the rebuild of that index from the entries.
//!
//! Every answer is computed from the index plus the entries it points at; the
//! index is not covered by the tree, so an answer is only as good as the last
//! `reindex` or the writer's own maintenance of it, which is why a query
//! refuses to answer from an index that lags behind the ledger.

use std::collections::BTreeMap;

use serde::Serialize;
use tollgate_domain::{AccountId, AppId, PostId, Purpose, Timestamp};
use tollgate_store::{DAY_MILLIS, LedgerCursor, LedgerIndex, LedgerRow, LedgerSelect, Store};

use crate::index::{BlockFilters, FILTER_BLOCK, entry_index, may_contain, shard_of};
use crate::{Entry, LedgerError, Outcome};

/// The most items a page holds.
pub const MAX_PAGE: usize = 1000;
/// Filters read per store call.
const FILTER_PAGE: usize = 4096;
/// Rows read per store call while reindexing.
const REINDEX_BATCH: usize = 4096;

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
    /// Entries indexed by the rebuild (the writer indexes what it appends
    /// once the rebuild has caught up).
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

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl From<tollgate_store::LedgerCounts> for Counts {
    fn from(c: tollgate_store::LedgerCounts) -> Counts {
        Counts { served: c.served, refused: c.refused, posts: c.posts }
    }
}

/// The audit questions over a ledger's store. Needs only the store (not
/// the key or the signed records), so the API can answer from its own handle.
#[derive(Clone, Copy)]
pub struct Audit<'a> {
    store: &'a dyn Store,
}

impl std::fmt::Debug for Audit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl<'a> Audit<'a> {
    pub fn new(store: &'a dyn Store) -> Audit<'a> {
        Audit { store }
    }

    fn store(&self) -> &'a dyn Store {
        self.store
    }

    /// The end of the ledger, after checking that the index covers it.
    fn indexed(&self) -> Result<u64, LedgerError> {
        // The end is read first: the index end, read later, can only be larger.
        let end = self.store().ledger_last()?.map_or(0, |r| r.seq + 1);
        let indexed = self.store().ledger_indexed_end()?;
        if indexed < end {
            return Err(LedgerError::Unindexed(format!(
                "the ledger index covers {indexed} of {end} entries: run `tollgate ledger reindex`"
            )));
        }
        Ok(end)
    }

    /// Who received `post`: per recipient and purpose over the whole ledger,
    /// and a page of the entries that delivered it, after `cursor`.
    ///
    /// Probes one filter shard per block and decodes only the entries of the
    /// blocks whose filter may hold the post (and of the last, unfilled block).
    pub fn post_recipients(
        &self,
        post: PostId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PostRecipients, LedgerError> {
        let limit = page_limit(limit);
        let after = cursor.map(|c| parse_cursor::<1>(c).map(|[s]| s)).transpose()?.unwrap_or(-1);
        let end = self.indexed()?;
        let blocks = end.div_ceil(FILTER_BLOCK);
        let shard = shard_of(post);
        let mut candidates = Vec::new();
        let mut next_block = 0;
        while next_block < blocks {
            let filters = self.store().ledger_post_filters(shard, next_block, FILTER_PAGE)?;
            let Some(last) = filters.last().map(|f| f.block) else { break };
            for f in filters {
                // A block without a filter is searched whole.
                candidates.extend(next_block..f.block.min(blocks));
                if may_contain(&f.bits, post) {
                    candidates.push(f.block);
                }
                next_block = f.block + 1;
            }
            next_block = next_block.max(last + 1);
        }
        candidates.extend(next_block..blocks);

        let needle = post.0.to_string().into_bytes();
        let mut by: BTreeMap<RecipientKey, Recipient> = BTreeMap::new();
        let mut entries = Vec::new();
        let mut next_cursor = None;
        for block in candidates {
            let from = block * FILTER_BLOCK;
            let rows = self.store().ledger_read(from, FILTER_BLOCK as usize)?;
            for row in rows.iter().filter(|r| r.seq < from + FILTER_BLOCK && contains(&r.body, &needle)) {
                let e = decode(row)?;
                if !matches!(e.outcome, Outcome::Served) || e.posts.binary_search(&post).is_err() {
                    continue;
                }
                let key = (e.app_id, e.client.clone(), e.purpose.map(Purpose::as_str));
                let r = by.entry(key).or_insert_with(|| Recipient {
                    app_id: e.app_id,
                    client: e.client.clone(),
                    purpose: e.purpose,
                    first_time: e.time,
                    last_time: e.time,
                    deliveries: 0,
                });
                r.first_time = r.first_time.min(e.time);
                r.last_time = r.last_time.max(e.time);
                r.deliveries += 1;
                if (row.seq as i64) > after {
                    if entries.len() < limit {
                        entries.push(EntrySummary::of(row.seq, &e));
                    } else if next_cursor.is_none() {
                        next_cursor = entries.last().map(|l: &EntrySummary| l.seq.to_string());
                    }
                }
            }
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
    /// appends: the store leaves new rows to the rebuild until it has caught
    /// up, and from then on the writer indexes what it appends.
    pub fn reindex(&self, mut progress: impl FnMut(u64)) -> Result<ReindexReport, LedgerError> {
        let store = self.store();
        store.ledger_index_clear()?;
        let mut next = store.ledger_read(0, 1)?.first().map_or(0, |r| r.seq);
        // Retention removes whole segments, so `next` starts a block.
        let mut filters = BlockFilters::at(next);
        let mut index = LedgerIndex::default();
        let mut done = 0;
        loop {
            if store.ledger_indexed_end()? != next && done > 0 {
                // Another rebuild took over.
                break;
            }
            let rows = store.ledger_read(next, REINDEX_BATCH)?;
            if rows.is_empty() {
                break;
            }
            index.entries.clear();
            index.filters.clear();
            for (i, row) in rows.iter().enumerate() {
                if row.seq != next + i as u64 {
                    return Err(LedgerError::Altered(format!("entry {} is missing", next + i as u64)));
                }
                let e = decode(row)?;
                index.entries.push(entry_index(&e));
                filters.add(row.seq, &e.posts, &mut index.filters);
            }
            store.ledger_index_rows(&rows, &index)?;
            next += rows.len() as u64;
            done += rows.len() as u64;
            progress(done);
        }
        Ok(ReindexReport { entries: done })
    }
}

/// The UTC day an instant falls in, as `YYYY-MM-DD`.
fn day_of(t: Timestamp) -> String {
    Timestamp::from_millis(t.millis().div_euclid(DAY_MILLIS) * DAY_MILLIS).to_string()[..10].to_owned()
}
