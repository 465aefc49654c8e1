//! Maintenance of the audit index, off the path a response waits on.
//!
//! The copy (`writer::copy_entries`) stores each entry with its per-entry
//! columns (all that the selections by app, client and policy version need),
//! then hands the stored rows to the indexer thread. The indexer adds them to
//! the summaries and the post filters in batches of up to `INDEX_INTERVAL`
//! (1 s) or `INDEX_BATCH` entries, written in transactions of `INDEX_CHUNK`,
//! without writing the columns again (`LedgerDb::ledger_index_copied`).
//!
//! Why not in the commit: a page of 100 posts by 100 authors is 100 upserts
//! into the per-author summary, each on a random page of its B-tree. Done in
//! every group commit (a few milliseconds of traffic), those pages are written
//! to the WAL again and again; aggregated over a second, an (author,
//! recipient) pair seen a hundred times is one upsert, and each page is
//! written once a second. The summaries are derived data, rebuilt from the
//! entries whenever in doubt, so they need not be durable with the entry.
//!
//! Queries never read a stale index: `Audit` first indexes whatever the
//! indexer has not yet (`catch_up`), so an answer covers every entry recorded
//! before the question. Whoever indexes, the store accepts only rows that
//! continue its indexed prefix exactly; the loser of a race rereads where
//! the index ends and goes on from there.
//!
//! INVARIANT (pending-is-a-cache): the rows the indexer holds are stored
//! already. Dropping them (after an error, or when too many wait) loses
//! nothing: the next flush indexes them from the store.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::db::{EntryIndex, LedgerDb, LedgerIndex, LedgerRow};
use tollgate_domain::PostId;
use tollgate_store::StoreError;

use crate::index::{BlockFilters, entry_index};
use crate::{Entry, LedgerError};

/// The longest an entry waits to be indexed under steady traffic.
pub const INDEX_INTERVAL: Duration = Duration::from_secs(1);
/// The most entries indexed in one transaction.
pub const INDEX_BATCH: usize = 16_384;
/// The most held entries indexed in one transaction. The index shares the
/// ledger file's one writer with the copy (`writer::copy_entries`), which the
/// store's readers wait for, so a second's worth of entries is indexed in
/// transactions of this many, the writer lock released in between: the copy
/// waits for one chunk (a few milliseconds), never for the whole second's
/// worth. Each transaction rewrites the pages it touches (the summaries'
/// leaves, the index state) into the WAL, so fewer, larger chunks write less.
pub const INDEX_CHUNK: usize = 2048;
/// Held entries beyond this are dropped (and read back from the store).
const MAX_PENDING: usize = 4 * INDEX_BATCH;

/// Entries the writer committed, in order, with what the index needs.
pub(crate) struct Committed {
    pub rows: Vec<LedgerRow>,
    pub entries: Vec<EntryIndex>,
    pub posts: Vec<Vec<PostId>>,
}

/// The filter accumulator for the block holding entry `next`, fed with the
/// stored entries of that block before `next`.
pub(crate) fn block_filters(store: &LedgerDb, next: u64) -> Result<BlockFilters, LedgerError> {
    let mut filters = BlockFilters::at(next);
    let mut from = BlockFilters::block_start(next);
    let mut sink = Vec::new();
    while from < next {
        let rows = store.ledger_read(from, (next - from) as usize)?;
        let Some(last) = rows.last().map(|r| r.seq) else { break };
        for row in rows.iter().filter(|r| r.seq < next) {
            filters.add(row.seq, &decode(row)?.posts, &mut sink);
        }
        from = last + 1;
    }
    Ok(filters)
}

fn decode(row: &LedgerRow) -> Result<Entry, LedgerError> {
    Entry::decode(&row.body).map_err(|e| LedgerError::Altered(format!("entry {} does not decode: {e}", row.seq)))
}

/// Indexes stored entries from the end of the index up to `upto` (or the end
/// of the ledger, if that comes first), in batches of `INDEX_BATCH`, calling
/// `progress` with the number done after each. Returns the number indexed
/// here; entries indexed meanwhile by someone else are skipped.
pub(crate) fn catch_up(store: &LedgerDb, upto: u64, mut progress: impl FnMut(u64)) -> Result<u64, LedgerError> {
    // The accumulator and the seq it is valid at.
    let mut filters: Option<(u64, BlockFilters)> = None;
    let mut done = 0;
    loop {
        let end = store.ledger_indexed_end()?;
        if end >= upto {
            return Ok(done);
        }
        let rows = store.ledger_read(end, INDEX_BATCH.min((upto - end) as usize))?;
        if rows.is_empty() {
            return Ok(done);
        }
        if let Some(i) = rows.iter().enumerate().position(|(i, r)| r.seq != end + i as u64) {
            return Err(LedgerError::Altered(format!(
                "entry {} is missing: the ledger index cannot continue; run `tollgate ledger verify`",
                end + i as u64
            )));
        }
        let mut acc = match filters.take() {
            Some((at, f)) if at == end => f,
            _ => block_filters(store, end)?,
        };
        let mut index = LedgerIndex::default();
        for row in &rows {
            let e = decode(row)?;
            index.entries.push(entry_index(&e));
            acc.add(row.seq, &e.posts, &mut index.filters);
        }
        match store.ledger_index_rows(&rows, &index) {
            Ok(()) => {
                done += rows.len() as u64;
                filters = Some((end + rows.len() as u64, acc));
                progress(done);
            }
            // Someone else moved the index meanwhile: start again from its end.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Starts the indexer thread. `next` is the end of the ledger: the writer's
/// first batch starts there, and stored entries before it that the index
/// lacks are indexed first.
pub(crate) fn start(store: Arc<LedgerDb>, next: u64) -> Result<(mpsc::Sender<Committed>, JoinHandle<()>), LedgerError> {
    let (tx, rx) = mpsc::channel();
    let indexer =
        Indexer { store, rows: Vec::new(), entries: Vec::new(), posts: Vec::new(), next, filters: None, behind: true };
    let handle = thread::Builder::new()
        .name("ledger-indexer".into())
        .spawn(move || indexer.run(rx))
        .map_err(|e| LedgerError::Io(format!("cannot start the indexing thread: {e}")))?;
    Ok((tx, handle))
}

struct Indexer {
    store: Arc<LedgerDb>,
    // Committed entries not yet indexed: consecutive, ending before `next`.
    rows: Vec<LedgerRow>,
    entries: Vec<EntryIndex>,
    posts: Vec<Vec<PostId>>,
    /// The seq after the last committed entry received.
    next: u64,
    /// The filter accumulator and the seq it is valid at, if known.
    filters: Option<(u64, BlockFilters)>,
    /// The index ends before the held entries: stored ones come first.
    behind: bool,
}

impl Indexer {
    fn run(mut self, rx: mpsc::Receiver<Committed>) {
        // When the oldest held entry arrived.
        let mut since: Option<Instant> = None;
        loop {
            // `Err(())`: the writer is gone.
            let msg = if self.behind {
                // Catching up from the store: take what arrives, without waiting.
                match rx.try_recv() {
                    Ok(c) => Ok(Some(c)),
                    Err(TryRecvError::Empty) => Ok(None),
                    Err(TryRecvError::Disconnected) => Err(()),
                }
            } else {
                let wait = since.map(|t| (t + INDEX_INTERVAL).saturating_duration_since(Instant::now()));
                match wait.map_or_else(|| rx.recv().map_err(|_| RecvTimeoutError::Disconnected), |w| rx.recv_timeout(w))
                {
                    Ok(c) => Ok(Some(c)),
                    Err(RecvTimeoutError::Timeout) => Ok(None),
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                }
            };
            let Ok(msg) = msg else {
                // Stopping: index what is held, and finish a short catch-up;
                // a long one (a rebuild) goes on at the next start.
                if let Err(e) = self.finish() {
                    tracing::warn!("the ledger index was not brought up to date at shutdown: {e}");
                }
                return;
            };
            if let Some(c) = msg {
                self.hold(c);
                since.get_or_insert_with(Instant::now);
            }
            let due = since.is_some_and(|t| t.elapsed() >= INDEX_INTERVAL) || self.rows.len() >= INDEX_BATCH;
            if self.behind || due {
                if let Err(e) = self.flush() {
                    tracing::warn!("the ledger index is behind the ledger: {e}; retrying");
                    self.drop_held();
                    thread::sleep(INDEX_INTERVAL);
                }
                if self.rows.is_empty() {
                    since = None;
                    // Once a pass, not once a chunk of a catch-up.
                    if !self.behind
                        && let Err(e) = self.store.checkpoint()
                    {
                        tracing::warn!("{e}");
                    }
                } else {
                    // More chunks are due: let a waiting append take the
                    // writer first.
                    thread::yield_now();
                }
            }
        }
    }

    /// At shutdown: indexes what is held and, if the index is less than
    /// `MAX_PENDING` entries behind, the stored entries before it.
    fn finish(&mut self) -> Result<(), LedgerError> {
        let end = self.store.ledger_indexed_end()?;
        if self.next.saturating_sub(end) > MAX_PENDING as u64 {
            return Ok(());
        }
        self.flush()?;
        while self.behind || !self.rows.is_empty() {
            self.flush()?;
        }
        Ok(())
    }

    fn hold(&mut self, c: Committed) {
        let Some(first) = c.rows.first().map(|r| r.seq) else { return };
        if first != self.next || self.rows.len() >= MAX_PENDING {
            // A gap (a batch the store did not take) or too much held: read
            // from the store instead.
            self.drop_held();
        }
        self.next = first + c.rows.len() as u64;
        if self.rows.is_empty() && self.behind {
            // Stored entries come first; these will be read back with them.
            return;
        }
        self.rows.extend(c.rows);
        self.entries.extend(c.entries);
        self.posts.extend(c.posts);
    }

    fn drop_held(&mut self) {
        self.rows.clear();
        self.entries.clear();
        self.posts.clear();
        self.filters = None;
        self.behind = true;
    }

    /// One step towards an index that covers everything held: a batch of
    /// stored entries while the index is behind them, else the held entries.
    fn flush(&mut self) -> Result<(), LedgerError> {
        let store = self.store.as_ref();
        loop {
            let end = store.ledger_indexed_end()?;
            let first = self.rows.first().map_or(self.next, |r| r.seq);
            if end < first {
                // One batch from the store, then back to the channel.
                self.filters = None;
                catch_up(store, first.min(end + INDEX_BATCH as u64), |_| {})?;
                let now = store.ledger_indexed_end()?;
                if now == end {
                    return Err(LedgerError::Altered(format!(
                        "the ledger index ends at entry {end} and cannot continue: the entries after it are not \
                         stored; run `tollgate ledger verify`"
                    )));
                }
                self.behind = now < first;
                return Ok(());
            }
            self.behind = false;
            if end > first {
                // Indexed by someone else: skip those.
                let skip = ((end - first) as usize).min(self.rows.len());
                self.rows.drain(..skip);
                self.entries.drain(..skip);
                self.posts.drain(..skip);
                self.filters = None;
            }
            let Some(first) = self.rows.first().map(|r| r.seq) else { return Ok(()) };
            let mut acc = match self.filters.take() {
                Some((at, f)) if at == first => f,
                _ => block_filters(store, first)?,
            };
            let n = self.rows.len().min(INDEX_CHUNK);
            let mut index = LedgerIndex { entries: self.entries.drain(..n).collect(), filters: Vec::new() };
            for (row, posts) in self.rows[..n].iter().zip(&self.posts[..n]) {
                acc.add(row.seq, posts, &mut index.filters);
            }
            // The held rows are the copy's, stored with these entries' columns.
            match store.ledger_index_copied(&self.rows[..n], &index) {
                Ok(()) => {
                    self.filters = Some((first + n as u64, acc));
                    self.rows.drain(..n);
                    self.posts.drain(..n);
                    return Ok(());
                }
                Err(e) => {
                    // Held again, in order, for the next attempt.
                    let mut entries = index.entries;
                    entries.append(&mut self.entries);
                    self.entries = entries;
                    if !matches!(e, StoreError::Conflict(_)) {
                        return Err(e.into());
                    }
                }
            }
        }
    }
}
