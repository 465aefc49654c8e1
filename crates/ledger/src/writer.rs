//! The group-commit writer. Every release awaits `LedgerWriter::record`, which
//! returns only once the entry is durable and covered by a signed head;
//! concurrent records share one transaction (and one fsync), so durability
//! stays cheap under load: the entries that arrive while a commit's fsyncs
//! run share the next one (commits can also be paced, `COMMIT_PACE`, off by
//! default). The committed entries then go to the
//! indexer thread (`indexer`), which maintains the audit index off this path.
//!
//! The writer also keeps the Merkle tree's frontier as it appends, and
//! signs checkpoints of it at three tempos:
//!
//! - the **head** of every commit, signed on the head thread and written
//!   into `head.slots` in place (one `pwrite`, one `fdatasync`: `slots`)
//!   before the commit's responses are
//!   released, so that every released entry is covered by a signature and
//!   entries removed from the end always show, even after `kill -9`;
//! - **`head.json`**, the same head readable, replaced atomically by the
//!   signing thread `HEAD_FILE_INTERVAL` after the first entry it lacks;
//! - the **history** (`checkpoints.log`, append-only), also on the signing
//!   thread, every `CHECKPOINT_EVERY_ENTRIES` entries,
//!   `CHECKPOINT_LOG_INTERVAL` after the first entry it does not cover, and
//!   at shutdown.
//!
//! Why the head is written in place: replacing a file durably (a new file,
//! an fsync, a rename, an fsync of the directory) cost 2 to 10 ms a commit
//! and halved the writer's throughput; a write into a preallocated slot
//! journals no metadata and costs one data sync (docs/ledger.md,
//! "Measurements of the head"). Why on a thread of its own (`ledger-head`),
//! not the writer's: measured both ways, in rounds of alternating order,
//! the hand-off gave the better throughput and latency at 1, 16 and 256
//! recorders in most rounds; under load the slot's sync overlaps the
//! writer's next commit, and heads queued meanwhile are folded into one.
//! Why not on the signing thread: that one replaces `head.json` (2 to 10 ms)
//! once a second, which would hold up the responses waiting for a slot.
//!
//! Logging every head would cost one signature per commit on a quiet ledger
//! (one request a second), which verification must check, forever; the
//! history's tempo bounds that to 1,440 a day at most, or one per 16,384
//! entries under load.
//!
//! The road not taken: a write per request (one fsync each) caps throughput at
//! the disk's fsync rate; an asynchronous, fire-and-forget append would let a
//! response leave before its entry exists; a head signed on a timer (as
//! before) let the last second of released entries be cut from the end
//! unseen after a crash; a head replaced as a file with every commit cost
//! half the throughput.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tollgate_domain::{PostId, Timestamp};
use tollgate_store::{EntryIndex, LedgerRow, Store};

use crate::checkpoint::{Checkpoint, CheckpointRecord};
use crate::files::{LedgerFiles, LogAppender, write_atomic};
use crate::index::entry_index;
use crate::indexer::{self, Committed};
use crate::key::{LedgerKey, PublicKey};
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::prune::SEGMENT_HEIGHT;
use crate::slots::HeadSlots;
use crate::verify::{Signed, load_signed};
use crate::{Entry, GENESIS, LedgerError, chain_hash};

/// Proof that an entry is durable: its position in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
}

/// A checkpoint is appended to the history once this many entries are not in
/// it...
pub const CHECKPOINT_EVERY_ENTRIES: u64 = 16_384;
/// ...or once the oldest entry it does not cover is this old, whichever
/// comes first (and always at shutdown).
pub const CHECKPOINT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// `head.json`, the readable copy of the head, is replaced at most this
/// long after an entry it does not cover became durable (and at shutdown).
pub const HEAD_FILE_INTERVAL: Duration = Duration::from_secs(1);

/// Under concurrent load, commits may be made to start at most this often
/// (`CheckpointPolicy::commit_pace`): entries that arrive in between wait for
/// the next one, so that a commit (its WAL frames, its fsyncs, the wake-ups of
/// the waiting responses) is shared by more entries. A request recorded while
/// the writer is idle, or after a commit of a single entry, is committed at
/// once, so a lone client never waits.
///
/// Off by default: with responses served from memory, every client is
/// already waiting in the batch that the running commit's fsyncs gather, and
/// a 2 ms pace cost 15 to 75 % of the API's throughput for 5 % less CPU per
/// request (BENCHMARKS.md, "Commit pacing").
pub const COMMIT_PACE: Duration = Duration::ZERO;

/// When the writer commits and adds to the history (the head is signed for
/// every commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// History: after this many entries.
    pub every_entries: u64,
    /// History: this long after the first entry not in it.
    pub log_interval: Duration,
    /// `head.json`: this long after the first entry not in it.
    pub head_file_interval: Duration,
    /// Commits under concurrent load: at most one per this long
    /// (`COMMIT_PACE`); zero commits whatever is queued at once.
    pub commit_pace: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_entries: CHECKPOINT_EVERY_ENTRIES,
            log_interval: CHECKPOINT_LOG_INTERVAL,
            head_file_interval: HEAD_FILE_INTERVAL,
            commit_pace: COMMIT_PACE,
        }
    }
}

/// The most entries one commit takes.
const MAX_BATCH: usize = 4096;
/// Rows read at a time while catching up at start.
const READ_BATCH: usize = 8192;

struct Job {
    entry: Entry,
    done: oneshot::Sender<Result<Receipt, LedgerError>>,
}

enum Msg {
    /// Boxed: a job is large, and a queue of them is sized by its largest variant.
    Record(Box<Job>),
    /// Finish what is queued, sign a final checkpoint and stop.
    Close,
}

struct Shared {
    jobs: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    public_key: PublicKey,
    counters: Arc<Counters>,
}

/// What the writer has done since it started.
#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    entries: AtomicU64,
    /// The ledger's size after the last commit.
    end: AtomicU64,
    /// The size the newest stored signed head covers.
    signed: AtomicU64,
    /// When that head was stored, in milliseconds since the Unix epoch.
    signed_at_ms: AtomicU64,
    /// Whether the writer thread takes records (cleared when it ends, even
    /// by a panic).
    running: AtomicBool,
}

/// What a writer has done since it started, and where it stands, for
/// metrics and health checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (each one fsync with `synchronous=FULL`).
    pub commits: u64,
    /// Entries they made durable.
    pub entries: u64,
    /// The ledger's size (the next entry's seq) after the last commit.
    pub end: u64,
    /// The size the newest durable signed head (`head.slots`) covers. Entries
    /// from here to `end` are committed but not yet signed: a commit's
    /// responses wait for its head, so this tail is empty but for moments.
    pub signed: u64,
    /// When that head was stored, in milliseconds since the Unix epoch.
    pub signed_at_ms: u64,
    /// Whether the writer thread is running (it stops at shutdown, or if it
    /// fails); records fail with `Stopped` once it is not.
    pub running: bool,
}

/// Clears `running` when the writer thread ends, however it ends.
struct RunningFlag(Arc<Counters>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Relaxed);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Shared {
    fn close(&self) {
        let _ = self.jobs.send(Msg::Close);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Shared {
    /// The last handle gone is a clean shutdown: the writer signs what it
    /// appended before the process can exit.
    fn drop(&mut self) {
        self.close();
    }
}

/// Handle to the writer thread; cheap to clone. When the last clone is
/// dropped (or `shutdown` is called), queued entries are committed, a final
/// checkpoint is signed and the threads are joined.
#[derive(Clone)]
pub struct LedgerWriter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LedgerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerWriter").field("public_key", &self.shared.public_key).finish_non_exhaustive()
    }
}

impl LedgerWriter {
    /// Starts the writer on the store's ledger, with its key and signed
    /// records in `DATA/ledger` (created, with a new key, on first start).
    ///
    /// Refuses to start on a ledger that does not extend its own latest
    /// checkpoint (entries lost or altered): appending to it would sign over
    /// the damage. `tollgate ledger verify` says what happened.
    pub fn start(store: Arc<dyn Store>, data_dir: &Path) -> Result<LedgerWriter, LedgerError> {
        LedgerWriter::start_with(store, &LedgerFiles::in_data_dir(data_dir), CheckpointPolicy::default())
    }

    pub fn start_with(
        store: Arc<dyn Store>,
        files: &LedgerFiles,
        policy: CheckpointPolicy,
    ) -> Result<LedgerWriter, LedgerError> {
        files.create_dir()?;
        let lock = files.lock_writer()?;
        let key = files.load_or_create_key()?;
        let public_key = key.public();
        let signed = load_signed(Some(files), Some(public_key), &[])?;
        let head = recover(store.as_ref(), &signed)?;
        let f = &head.frontier;
        // INVARIANT (signed-head): a ledger that can hold entries has a head,
        // in `head.slots` and in `head.json`, stored before the first commit,
        // so that a crash right after it leaves a head (of the entries
        // before it) for `verify` to find.
        let slots_path = files.head_slots_path();
        let sign = || Checkpoint::sign(&key, f.size(), Timestamp::now(), f.root(), head.chain);
        let slots = match signed.newest_slot {
            Some((n, size)) => {
                let mut slots = HeadSlots::open(&slots_path, Some(n))?;
                // Entries a crash left after the head are signed at once.
                if size < f.size() {
                    slots.write(&sign(), f)?;
                }
                slots
            }
            // No slot file (a new ledger, or one written before it existed),
            // or none that verifies: created whole, holding the head.
            None => HeadSlots::create(&slots_path, &sign(), f)?,
        };
        if !signed.head_present {
            let cp = sign();
            let mut line = CheckpointRecord::new(&cp, f).encode()?;
            line.push(b'\n');
            write_atomic(&files.head_path(), &line)?;
        }
        let filed_size = if signed.head_present { signed.head_size.unwrap_or(0) } else { f.size() };
        let counters = Arc::new(Counters::default());
        // The head covers every stored entry here: it was just signed if it did not.
        counters.end.store(f.size(), Ordering::Relaxed);
        counters.signed.store(f.size(), Ordering::Relaxed);
        counters.signed_at_ms.store(now_ms(), Ordering::Relaxed);
        counters.running.store(true, Ordering::Relaxed);
        let (heads, head_rx) = mpsc::channel::<HeadJob>();
        let head_counters = counters.clone();
        let head_thread = thread::Builder::new()
            .name("ledger-head".into())
            .spawn(move || store_heads(key, slots, head_rx, &head_counters))
            .map_err(|e| LedgerError::Io(format!("cannot start the head thread: {e}")))?;
        let (indexer, indexer_thread) = indexer::start(store.clone(), head.frontier.size())?;
        let log = LogAppender::open(&files.checkpoints_path(), signed.checkpoint_log_keep)?;
        files.remove_stray_temporaries();
        let head_path = files.head_path();

        // The signing thread has a key of its own (the head thread has the
        // first): the key is not `Clone`, so that the secret is copied only
        // where it is used.
        let file_key = files.load_or_create_key()?;
        let (snapshots, snapshot_rx) = mpsc::channel::<Snapshot>();
        let signer = thread::Builder::new()
            .name("ledger-signer".into())
            .spawn(move || sign_checkpoints(file_key, log, &head_path, snapshot_rx))
            .map_err(|e| LedgerError::Io(format!("cannot start the signing thread: {e}")))?;
        let (jobs, rx) = mpsc::channel::<Msg>();
        let writer = Writer {
            counters: counters.clone(),
            store,
            head,
            heads,
            filed_size,
            logged_size: signed.logged_size,
            policy,
            snapshots,
            rows: Vec::new(),
            entries: Vec::new(),
            posts: Vec::new(),
            indexer,
            broken: None,
        };
        let thread = thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx, [head_thread, signer, indexer_thread], lock))
            .map_err(|e| LedgerError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(LedgerWriter { shared: Arc::new(Shared { jobs, thread: Mutex::new(Some(thread)), public_key, counters }) })
    }

    /// The key checkpoints are signed with.
    pub fn public_key(&self) -> PublicKey {
        self.shared.public_key
    }

    /// Commits and entries since the writer started, the ledger's end and
    /// the newest signed head's.
    pub fn stats(&self) -> WriterStats {
        let c = &self.shared.counters;
        WriterStats {
            commits: c.commits.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
            end: c.end.load(Ordering::Relaxed),
            signed: c.signed.load(Ordering::Relaxed),
            signed_at_ms: c.signed_at_ms.load(Ordering::Relaxed),
            running: c.running.load(Ordering::Relaxed),
        }
    }

    /// Appends `entry` and returns once it is durable.
    pub async fn record(&self, entry: Entry) -> Result<Receipt, LedgerError> {
        let (done, wait) = oneshot::channel();
        self.shared.jobs.send(Msg::Record(Box::new(Job { entry, done }))).map_err(|_| LedgerError::Stopped)?;
        wait.await.map_err(|_| LedgerError::Stopped)?
    }

    /// Blocking variant for synchronous callers (CLI exports, tests).
    pub fn record_blocking(&self, entry: Entry) -> Result<Receipt, LedgerError> {
        let (done, wait) = oneshot::channel();
        self.shared.jobs.send(Msg::Record(Box::new(Job { entry, done }))).map_err(|_| LedgerError::Stopped)?;
        wait.blocking_recv().map_err(|_| LedgerError::Stopped)?
    }

    /// Stops the writer now: what is queued is committed, a final checkpoint
    /// is signed; later records fail with `Stopped`. Blocks until done.
    pub fn shutdown(&self) {
        self.shared.close();
    }
}

/// What the writer knows about the ledger's end.
struct Head {
    // INVARIANT (head-matches-store): `frontier` is the tree over entries
    // `0..frontier.size()`, exactly the rows in the store, and `chain` is the
    // chain hash of the last of them; it changes only after a commit returned.
    frontier: Frontier,
    chain: Hash,
}

/// A response waiting for its entry to be covered by the signed head.
type Waiting = (oneshot::Sender<Result<Receipt, LedgerError>>, Receipt);

/// A commit's end, with the responses that wait for a head covering it.
struct HeadJob {
    frontier: Frontier,
    chain: Hash,
    waiting: Vec<Waiting>,
}

/// What the signing thread signs, for `head.json` and, if `log`, the history.
struct Snapshot {
    frontier: Frontier,
    chain: Hash,
    /// Append it to the history too.
    log: bool,
}

/// Finds the end of the ledger: from the latest checkpoint's stored frontier
/// when it is usable (so a restart reads only the entries after it), else
/// from the sealed segments and then every stored entry.
fn recover(store: &dyn Store, signed: &Signed) -> Result<Head, LedgerError> {
    let latest = signed.latest().cloned();
    let stored_end = store.ledger_last()?.map_or(0, |r| r.seq + 1);
    if let Some(cp) = &latest
        && cp.size > stored_end
    {
        return Err(LedgerError::Altered(format!(
            "the ledger holds {stored_end} entries but its checkpoint signed at {} covers {}: entries were lost or \
             removed. Run `tollgate ledger verify`; docs/ledger.md says how to recover",
            cp.time, cp.size
        )));
    }
    let resume = latest.as_ref().zip(signed.latest_frontier.as_ref()).filter(|(cp, f)| f.size() == cp.size);
    let mut head = match resume {
        Some((cp, frontier)) => Head { frontier: frontier.clone(), chain: cp.chain },
        None => {
            let mut frontier = Frontier::new();
            let mut chain = GENESIS;
            let seals = signed.seals();
            let first = store.ledger_read(0, 1)?.first().map_or(stored_end, |r| r.seq);
            // Sealed segments whose rows are gone enter as their roots.
            for seal in seals.iter().take((first / crate::prune::SEGMENT_SIZE) as usize) {
                frontier.push_subtree(SEGMENT_HEIGHT, seal.root).unwrap_or_else(|| unreachable!("whole segments"));
                chain = seal.chain;
            }
            Head { frontier, chain }
        }
    };
    let from = head.frontier.size();
    if from > 0 {
        match store.ledger_read(from - 1, 1)?.first() {
            Some(row) if row.seq == from - 1 => {
                if row.hash != head.chain {
                    return Err(LedgerError::Altered(format!(
                        "entry {} does not match the chain hash the ledger resumes from; run `tollgate ledger verify`",
                        from - 1
                    )));
                }
            }
            // Removed under retention: the seal stands in for it.
            _ if from <= signed.cut() => {}
            _ => {
                return Err(LedgerError::Altered(format!(
                    "entry {} is missing; run `tollgate ledger verify`",
                    from - 1
                )));
            }
        }
    }
    let mut next = from;
    loop {
        let rows = store.ledger_read(next, READ_BATCH)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let leaf = leaf_hash(&row.body);
            let chain = chain_hash(&head.chain, &leaf);
            if row.seq != next || row.hash != chain {
                return Err(LedgerError::Altered(format!(
                    "entry {next} is missing or does not match its chain hash; run `tollgate ledger verify`"
                )));
            }
            head.frontier.push_leaf(leaf);
            head.chain = chain;
            next += 1;
            if let Some(cp) = &latest
                && cp.size == next
                && (cp.root != head.frontier.root() || cp.chain != head.chain)
            {
                return Err(LedgerError::Altered(format!(
                    "the entries do not match the checkpoint signed at {} for {} entries; run `tollgate ledger verify`",
                    cp.time, cp.size
                )));
            }
        }
    }
    Ok(head)
}

struct Writer {
    store: Arc<dyn Store>,
    counters: Arc<Counters>,
    head: Head,
    /// Where each commit's end goes, with its responses, to be signed into
    /// the head slots.
    heads: mpsc::Sender<HeadJob>,
    /// The size of the latest checkpoint handed to the signer for `head.json`.
    filed_size: u64,
    /// The size of the latest checkpoint handed to the signer for the history.
    logged_size: u64,
    policy: CheckpointPolicy,
    snapshots: mpsc::Sender<Snapshot>,
    rows: Vec<LedgerRow>,
    /// The indexable columns of `rows`.
    entries: Vec<EntryIndex>,
    /// The posts of `rows`, for the post filters.
    posts: Vec<Vec<PostId>>,
    /// Where committed entries go to be added to the summaries and filters.
    indexer: mpsc::Sender<Committed>,
    /// Set if the store no longer matches the head; every record then fails.
    broken: Option<String>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>, helpers: [JoinHandle<()>; 3], _lock: File) {
        let _running = RunningFlag(self.counters.clone());
        let mut batch: Vec<Job> = Vec::new();
        let size = self.head.frontier.size();
        // When the oldest entry not in `head.json`, and not in the history,
        // became durable.
        let mut unfiled_since = (size > self.filed_size).then(Instant::now);
        let mut unlogged_since = (size > self.logged_size).then(Instant::now);
        let mut closing = false;
        // When the last commit started, and how many entries it took.
        let mut last_commit: Option<Instant> = None;
        let mut last_batch = 0;
        while !closing {
            let deadline = [
                unfiled_since.map(|t| t + self.policy.head_file_interval),
                unlogged_since.map(|t| t + self.policy.log_interval),
            ]
            .into_iter()
            .flatten()
            .min();
            let msg = match deadline {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Msg::Close),
                },
                None => Some(rx.recv().unwrap_or(Msg::Close)),
            };
            match msg {
                Some(Msg::Record(job)) => {
                    batch.push(*job);
                    // Under concurrent load (the last commit held more than
                    // one entry), wait until the pace allows the next commit,
                    // asleep, so that the entries arriving meanwhile neither
                    // wake the writer one by one; a lone client never waits.
                    if self.policy.commit_pace > Duration::ZERO
                        && last_batch > 1
                        && let Some(until) = last_commit.map(|t: Instant| t + self.policy.commit_pace)
                    {
                        thread::sleep(until.saturating_duration_since(Instant::now()));
                    }
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Msg::Record(job)) => batch.push(*job),
                            Ok(Msg::Close) => {
                                closing = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    last_commit = Some(Instant::now());
                    last_batch = batch.len();
                    let waiting = self.commit(&mut batch);
                    // INVARIANT (signed-head): every commit's responses wait
                    // for a durable signed head that covers it (`store_heads`).
                    if !waiting.is_empty() {
                        self.store_head(waiting);
                    }
                    let size = self.head.frontier.size();
                    if size > self.filed_size && unfiled_since.is_none() {
                        unfiled_since = Some(Instant::now());
                    }
                    if size > self.logged_size && unlogged_since.is_none() {
                        unlogged_since = Some(Instant::now());
                    }
                }
                Some(Msg::Close) => closing = true,
                None => {}
            }
            let size = self.head.frontier.size();
            let unlogged = size - self.logged_size;
            let log = unlogged > 0
                && (closing
                    || unlogged >= self.policy.every_entries
                    || unlogged_since.is_some_and(|t| t.elapsed() >= self.policy.log_interval));
            let file = size > self.filed_size
                && (closing || unfiled_since.is_some_and(|t| t.elapsed() >= self.policy.head_file_interval));
            // A history checkpoint also goes into `head.json`, even if that
            // is current, so that `head.json` is never behind the history.
            if file || log {
                let snapshot = Snapshot { frontier: self.head.frontier.clone(), chain: self.head.chain, log };
                let _ = self.snapshots.send(snapshot);
                self.filed_size = size;
                unfiled_since = None;
                if log {
                    self.logged_size = size;
                    unlogged_since = None;
                }
            }
        }
        // Records that raced with the close are refused, not dropped silently.
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Record(job) = msg {
                let _ = job.done.send(Err(LedgerError::Stopped));
            }
        }
        drop(self.heads);
        drop(self.snapshots);
        drop(self.indexer);
        for helper in helpers {
            let _ = helper.join();
        }
    }

    /// Hands the current end, with the responses waiting on it, to the
    /// head thread (`store_heads`).
    fn store_head(&mut self, waiting: Vec<Waiting>) {
        let job = HeadJob { frontier: self.head.frontier.clone(), chain: self.head.chain, waiting };
        if let Err(mpsc::SendError(job)) = self.heads.send(job) {
            // The head thread is gone (it panicked): nothing can be signed.
            for (done, _) in job.waiting {
                let _ = done.send(Err(LedgerError::Stopped));
            }
        }
    }

    /// Commits `batch` and returns its responses, to be released once a
    /// signed head covers them; a batch that fails is answered here.
    fn commit(&mut self, batch: &mut Vec<Job>) -> Vec<Waiting> {
        if let Some(why) = &self.broken {
            let err = LedgerError::Store(why.clone());
            for job in batch.drain(..) {
                let _ = job.done.send(Err(err.clone()));
            }
            return Vec::new();
        }
        let start = self.head.frontier.size();
        let mut frontier = self.head.frontier.clone();
        let mut chain = self.head.chain;
        self.rows.clear();
        self.entries.clear();
        self.posts.clear();
        let mut jobs = Vec::with_capacity(batch.len());
        for mut job in batch.drain(..) {
            // An entry that cannot be encoded is refused alone: nothing is
            // hashed or stored for it, and its response fails.
            let body = match job.entry.encode() {
                Ok(body) => body,
                Err(e) => {
                    let _ = job.done.send(Err(e));
                    continue;
                }
            };
            let seq = start + self.rows.len() as u64;
            self.entries.push(entry_index(&job.entry));
            let leaf = leaf_hash(&body);
            chain = chain_hash(&chain, &leaf);
            frontier.push_leaf(leaf);
            self.rows.push(LedgerRow { seq, time: job.entry.time, app_id: job.entry.app_id, body, hash: chain });
            self.posts.push(std::mem::take(&mut job.entry.posts));
            jobs.push(job);
        }
        *batch = jobs;
        if batch.is_empty() {
            return Vec::new();
        }
        match self.store.ledger_append(&self.rows, &self.entries) {
            Ok(()) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters.entries.fetch_add(self.rows.len() as u64, Ordering::Relaxed);
                self.counters.end.store(frontier.size(), Ordering::Relaxed);
                // The rows are stored: the index can only lag behind them.
                let _ = self.indexer.send(Committed {
                    rows: std::mem::take(&mut self.rows),
                    entries: std::mem::take(&mut self.entries),
                    posts: std::mem::take(&mut self.posts),
                });
                self.head = Head { frontier, chain };
                batch.drain(..).enumerate().map(|(i, job)| (job.done, Receipt { seq: start + i as u64 })).collect()
            }
            Err(e) => {
                // The batch is refused: every waiting response fails. An append
                // is one transaction, so normally nothing of it was written;
                // if the store says otherwise, the head follows the store, and
                // if the store matches neither, the writer stops writing.
                let err = LedgerError::from(e);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(err.clone()));
                }
                if let Ok(last) = self.store.ledger_last() {
                    let end = last.as_ref().map_or(0, |r| r.seq + 1);
                    let hash = last.map_or(GENESIS, |r| r.hash);
                    if end == frontier.size() && hash == chain {
                        self.head = Head { frontier, chain };
                    } else if end != start || (start > 0 && hash != self.head.chain) {
                        self.broken = Some(format!(
                            "the ledger changed underneath its writer (it ends at {end}, the writer expected {start}); restart Tollgate"
                        ));
                    }
                }
                Vec::new()
            }
        }
    }
}

/// Signs each commit's end, writes it into the next head slot (one write in
/// place, one `fdatasync`), and only then releases the responses waiting on
/// it, until the writer hangs up. Ends that queued up while a slot was being
/// written are folded into the newest, which covers them all, so under load
/// one head serves several commits, and the slot's sync overlaps the
/// writer's next commit.
///
/// INVARIANT (signed-head): a response is released only after a head that
/// covers its entry is durable; if the slot cannot be written, the
/// responses fail (their entries stay recorded, and the next head covers
/// them).
fn store_heads(key: LedgerKey, mut slots: HeadSlots, rx: mpsc::Receiver<HeadJob>, counters: &Counters) {
    while let Ok(mut job) = rx.recv() {
        let mut waiting = std::mem::take(&mut job.waiting);
        while let Ok(mut newer) = rx.try_recv() {
            waiting.append(&mut newer.waiting);
            job = newer;
        }
        let f = &job.frontier;
        let cp = Checkpoint::sign(&key, f.size(), Timestamp::now(), f.root(), job.chain);
        match slots.write(&cp, f) {
            Ok(()) => {
                counters.signed.store(cp.size, Ordering::Relaxed);
                counters.signed_at_ms.store(now_ms(), Ordering::Relaxed);
                for (done, receipt) in waiting {
                    let _ = done.send(Ok(receipt));
                }
            }
            Err(e) => {
                tracing::warn!("the ledger head of size {} was not stored: {e}", cp.size);
                let err = LedgerError::Io(format!(
                    "the entry was recorded, but the signed head covering it could not be stored: {e}"
                ));
                for (done, _) in waiting {
                    let _ = done.send(Err(err.clone()));
                }
            }
        }
    }
}

/// Signs and stores `head.json` and the history until the writer hangs up.
/// Snapshots that queued up meanwhile are folded into the newest: each
/// extends the one before, so the newest covers them all.
///
/// The history line is synced before `head.json` is replaced, so `head.json`
/// is never behind the history for longer than a crash between the two.
/// Neither is what a response waits for (the head slots are): a failure is
/// reported, and the next checkpoint covers these entries too.
fn sign_checkpoints(key: LedgerKey, mut log: LogAppender, head_path: &Path, rx: mpsc::Receiver<Snapshot>) {
    while let Ok(mut snapshot) = rx.recv() {
        let mut to_log = snapshot.log;
        while let Ok(newer) = rx.try_recv() {
            to_log |= newer.log;
            snapshot = newer;
        }
        let f = &snapshot.frontier;
        let cp = Checkpoint::sign(&key, f.size(), Timestamp::now(), f.root(), snapshot.chain);
        let stored = CheckpointRecord::new(&cp, f).encode().and_then(|mut line| {
            if to_log && let Err(e) = log.append(&line) {
                tracing::warn!("the ledger checkpoint of size {} was not added to the history: {e}", cp.size);
            }
            line.push(b'\n');
            write_atomic(head_path, &line)
        });
        if let Err(e) = stored {
            tracing::warn!("the ledger checkpoint of size {} was not stored in head.json: {e}", cp.size);
        }
    }
}
