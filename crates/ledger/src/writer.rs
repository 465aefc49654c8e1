//! The group-commit writer. Every release awaits `LedgerWriter::record`, which
//! returns only once the entry is durable and covered by a signed head;
//! concurrent records share one frame of the segment files (and one
//! `fdatasync`), so durability stays cheap under load: the entries that
//! arrive while a sync runs wait for it to end and then share one frame, one
//! signature and the next sync; an entry that arrives while no sync runs is
//! committed at once (commits can also be paced, `COMMIT_PACE`, off by
//! default). The store's copy of the entries (`LedgerDb`) is written by a
//! copying thread off the responses' path, every commit queued meanwhile in
//! one transaction; the store's readers in this process wait for it
//! (`INVARIANT (released-is-readable)`). The copied entries then go to the
//! indexer thread (`indexer`), which maintains the audit index.
//!
//! The writer also keeps the Merkle tree's frontier as it appends, and
//! signs checkpoints of it at three tempos:
//!
//! - the **head** of every commit, signed on the writer thread into the
//!   commit's frame (`segments`: one `write`, one `fdatasync`, on the
//!   writer thread too) before the commit's responses are released, so
//!   that every released entry is covered by a signature, even after
//!   `kill -9`;
//! - **`head.json`**, the same head readable, replaced atomically by the
//!   signing thread `HEAD_FILE_INTERVAL` after the first entry it lacks;
//! - the **history** (`checkpoints.log`, append-only), also on the signing
//!   thread, every `CHECKPOINT_EVERY_ENTRIES` entries,
//!   `CHECKPOINT_LOG_INTERVAL` after the first entry it does not cover, and
//!   at shutdown.
//!
//! Why the head goes into the frame: the entries and their head then become
//! durable in one sync. Before, the entries were committed to `ledger.db`
//! (one sync) and the head written in place into a slot file (a second
//! sync, `slots`, on a thread of its own); a request waited for both. Why the
//! sync on the writer thread: the records that arrive while it runs queue
//! up, and the writer takes them all for the next frame when it ends. It
//! ran on a thread of its own before, which cost every commit two hand-offs
//! (the frame to the sync thread, its end back to the writer) and the
//! writer a wake for each record arriving meanwhile, only to hold it for
//! the next frame, which cannot be synced before the running sync ends
//! anyway; on one thread the API benchmark's requests cost 0 to 9 % less
//! CPU and served 2 to 8 % more (BENCHMARKS.md, "Reading the API
//! results"), with about half the ledger's thread switches. Why
//! not a frame as soon as records arrive, as before: the frames written
//! during one sync were synced together anyway (2 to 2.4 frames a sync
//! under the API benchmark), and each cost a signature (about 31 µs here)
//! and a write. Why the store's copy off the path: its SQLite transaction
//! (B-tree pages of the rows and their index columns) cost more than the
//! sync, and, on the writer thread, held up the next frame.
//!
//! Logging every head would cost one signature per commit on a quiet ledger
//! (one request a second), which verification must check, forever; the
//! history's tempo bounds that to 1,440 a day at most, or one per 16,384
//! entries under load.
//!
//! The road not taken: a write per request (one fsync each) caps throughput at
//! the disk's fsync rate; an asynchronous, fire-and-forget append would let a
//! response leave before its entry exists; a head signed on a timer let the
//! last second of released entries be cut from the end unseen after a crash;
//! a head replaced as a file with every commit cost half the throughput; the
//! store's transaction synced per commit beside the head doubled the syncs a
//! request waits for.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::db::{EntryIndex, LedgerDb, LedgerRow};
use tokio::sync::oneshot;
use tollgate_domain::{PostId, Timestamp};

use crate::checkpoint::{Checkpoint, CheckpointRecord};
use crate::files::{LedgerFiles, LogAppender, write_atomic};
use crate::index::entry_index;
use crate::indexer::{self, Committed};
use crate::key::{LedgerKey, PublicKey};
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::prune::SEGMENT_HEIGHT;
use crate::segments::{self, Appender, COPY_FRAME, Tail, Written, body_places, encode_frame};
use crate::verify::{Signed, load_signed_with};
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
/// The most entries the copying thread puts into one transaction.
const COPY_BATCH: usize = 16_384;
/// The shortest time between two of the copying thread's transactions. The
/// store's readers wait for the copy of what was released before them, so
/// this is also the most a read waits for it beyond the copy itself.
const COPY_PACE: Duration = Duration::from_millis(5);
/// The shortest time between two checkpoints of `ledger.db`'s WAL by the
/// copying thread (`LedgerDb::checkpoint`). A checkpoint syncs the WAL and
/// the database file, on the disk that syncs the segment files: the
/// checkpoint of a second of copies and index pages, once a pass of the
/// indexer, synced for 20 to 25 ms, and the segment file's sync that every
/// response of the moment waits for took 15 to 20 ms behind it; small
/// checkpoints this often keep each sync short (BENCHMARKS.md, "Latency:
/// the checkpoints of `ledger.db`").
const CHECKPOINT_PACE: Duration = Duration::from_millis(25);
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
    /// The size the newest durable signed head covers.
    signed: AtomicU64,
    /// When that head was made durable, in milliseconds since the Unix epoch.
    signed_at_ms: AtomicU64,
    /// Whether the writer thread takes records (cleared when it ends, even
    /// by a panic).
    running: AtomicBool,
}

/// What a writer has done since it started, and where it stands, for
/// metrics and health checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Commits made durable (each one frame and one `fdatasync` of its
    /// segment file).
    pub commits: u64,
    /// Entries they made durable.
    pub entries: u64,
    /// The ledger's size (the next entry's seq) after the last commit.
    pub end: u64,
    /// The size the newest durable signed head (in the segment files) covers.
    /// Entries from here to `end` are written but their frame not yet
    /// synced: a commit's responses wait for it, so this tail is empty but
    /// for moments.
    pub signed: u64,
    /// When that head was made durable, in milliseconds since the Unix epoch.
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
    pub fn start(store: Arc<LedgerDb>, data_dir: &Path) -> Result<LedgerWriter, LedgerError> {
        LedgerWriter::start_with(store, &LedgerFiles::in_data_dir(data_dir), CheckpointPolicy::default())
    }

    pub fn start_with(
        store: Arc<LedgerDb>,
        files: &LedgerFiles,
        policy: CheckpointPolicy,
    ) -> Result<LedgerWriter, LedgerError> {
        files.create_dir()?;
        let lock = files.lock_writer()?;
        let key = files.load_or_create_key()?;
        let public_key = key.public();
        let segments_dir = files.segments_dir();
        // The store reads the bodies of what this writer copies into it from
        // its own data directory's segment files.
        if segments_dir != store.segments_dir() {
            return Err(LedgerError::Invalid(format!(
                "the ledger's files are in {}, but ledger.db in {} reads its entries from {}: keep both in one data \
                 directory",
                files.dir().display(),
                store.dir().display(),
                store.segments_dir().display()
            )));
        }
        let tail = segments::tail(&segments_dir)?;
        if let Some(t) = &tail {
            copy_into_store(store.as_ref(), t)?;
        }
        let signed = load_signed_with(Some(files), Some(public_key), &[], Some(tail.as_ref()))?;
        let head = recover(store.as_ref(), &signed)?;
        let f = &head.frontier;
        let mut appender = match &tail {
            Some(t) => Appender::open(&segments_dir, Some(t), f.size())?,
            // A ledger kept in the store alone, by a Tollgate before segment
            // files (or a new one): its entries are copied into them first.
            None => copy_into_segments(store.as_ref(), &segments_dir, f.size())?,
        };
        if appender.end() != f.size() {
            return Err(LedgerError::Altered(format!(
                "the segment files end at entry {} but the store's copy of the ledger at {}; run `tollgate ledger verify`",
                appender.end(),
                f.size()
            )));
        }
        // INVARIANT (signed-head): a ledger that can hold entries has a
        // head, in the segment files and in `head.json`, stored before the
        // first commit, so that a crash right after it leaves a head (of the
        // entries before it) for `verify` to find.
        let sign = || Checkpoint::sign(&key, f.size(), Timestamp::now(), f.root(), head.chain);
        if tail.as_ref().and_then(|t| t.head.as_ref()).map(|h| h.size) != Some(f.size()) {
            let frame = encode_frame(f.size(), std::iter::empty(), Some(&sign()));
            appender
                .write(&frame, 0)?
                .file
                .sync_data()
                .map_err(|e| LedgerError::Io(format!("syncing the segment file of the head: {e}")))?;
        }
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
        let (jobs, rx) = mpsc::channel::<Msg>();
        let (indexer, indexer_thread) = indexer::start(store.clone(), head.frontier.size())?;
        store.copied(head.frontier.size());
        let (copies, copy_rx) = mpsc::channel::<Committed>();
        let copy_store = store.clone();
        let copier = thread::Builder::new()
            .name("ledger-copy".into())
            .spawn(move || copy_entries(&copy_store, copy_rx, indexer))
            .map_err(|e| LedgerError::Io(format!("cannot start the copying thread: {e}")))?;
        let log = LogAppender::open(&files.checkpoints_path(), signed.checkpoint_log_keep)?;
        files.remove_stray_temporaries();
        let head_path = files.head_path();

        // The signing thread has a key of its own (the writer has the
        // first): the key is not `Clone`, so that the secret is copied only
        // where it is used.
        let file_key = files.load_or_create_key()?;
        let (snapshots, snapshot_rx) = mpsc::channel::<Snapshot>();
        let signer = thread::Builder::new()
            .name("ledger-signer".into())
            .spawn(move || sign_checkpoints(file_key, log, &head_path, snapshot_rx))
            .map_err(|e| LedgerError::Io(format!("cannot start the signing thread: {e}")))?;
        let writer = Writer {
            counters: counters.clone(),
            key,
            appender,
            store,
            head,
            filed_size,
            logged_size: signed.logged_size,
            policy,
            snapshots,
            rows: Vec::new(),
            entries: Vec::new(),
            posts: Vec::new(),
            copies,
            broken: None,
        };
        let thread = thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx, [signer, copier, indexer_thread], lock))
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
    // `0..frontier.size()`, exactly the entries written to the segment files
    // (and, once copied, the rows in the store), and `chain` is the chain
    // hash of the last of them; it changes only after a frame was written.
    frontier: Frontier,
    chain: Hash,
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
fn recover(store: &LedgerDb, signed: &Signed) -> Result<Head, LedgerError> {
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
    store: Arc<LedgerDb>,
    counters: Arc<Counters>,
    /// Signs the head of every commit, into its frame.
    key: LedgerKey,
    appender: Appender,
    head: Head,
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
    /// Where written entries go to be copied into the store (and then
    /// indexed), on the copying thread.
    copies: mpsc::Sender<Committed>,
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
            // The records that arrived during the last commit's sync are
            // here at once, and go into the next frame together.
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
                    closing = take_queued(&rx, &mut batch);
                }
                Some(Msg::Close) => closing = true,
                None => {}
            }
            // What waits is committed before the end.
            if !batch.is_empty() {
                last_commit = Some(Instant::now());
                last_batch = batch.len();
                self.commit(&mut batch);
            }
            // The clocks of `head.json` and the history start when the
            // ledger grows past them.
            let size = self.head.frontier.size();
            if size > self.filed_size && unfiled_since.is_none() {
                unfiled_since = Some(Instant::now());
            }
            if size > self.logged_size && unlogged_since.is_none() {
                unlogged_since = Some(Instant::now());
            }
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
        drop(self.snapshots);
        drop(self.copies);
        for helper in helpers {
            let _ = helper.join();
        }
    }

    /// Commits `batch`: one frame, holding its entries and the head signed
    /// over them, appended to the segment file, whose sync releases the
    /// responses; meanwhile the entries are copied into
    /// the store. A batch that fails is answered here.
    fn commit(&mut self, batch: &mut Vec<Job>) {
        if self.broken.is_none()
            && let Some(why) = self.store.copy_failure()
        {
            self.broken = Some(why);
        }
        if let Some(why) = &self.broken {
            let err = LedgerError::Store(why.clone());
            for job in batch.drain(..) {
                let _ = job.done.send(Err(err.clone()));
            }
            return;
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
            self.rows.push(LedgerRow {
                seq,
                time: job.entry.time,
                app_id: job.entry.app_id,
                body,
                hash: chain,
                place: None,
            });
            self.posts.push(std::mem::take(&mut job.entry.posts));
            jobs.push(job);
        }
        if jobs.is_empty() {
            return;
        }
        // INVARIANT (signed-head): every commit's frame carries the head
        // signed over it, and its responses wait for the frame's sync, so
        // every released entry is covered by a durable signature.
        let cp = Checkpoint::sign(&self.key, frontier.size(), Timestamp::now(), frontier.root(), chain);
        let frame = encode_frame(start, self.rows.iter().map(|r| r.body.as_slice()), Some(&cp));
        let file = match self.appender.write(&frame, self.rows.len() as u64) {
            Ok(Written { file, file_first, offset }) => {
                let places: Vec<_> =
                    body_places(file_first, offset, self.rows.iter().map(|r| r.body.as_slice())).collect();
                for (row, place) in self.rows.iter_mut().zip(places) {
                    row.place = Some(place);
                }
                file
            }
            Err(e) => {
                // Part of the frame may be in the file: only a restart, which
                // cuts off an unfinished frame, can append after it.
                for job in jobs {
                    let _ = job.done.send(Err(e.clone()));
                }
                self.broken = Some(format!("a segment file could not be written ({e}); restart Tollgate"));
                return;
            }
        };
        self.head = Head { frontier, chain };
        let end = self.head.frontier.size();
        self.counters.end.store(end, Ordering::Relaxed);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters.entries.fetch_add(self.rows.len() as u64, Ordering::Relaxed);
        // INVARIANT (released-is-readable): the store's readers wait for the
        // copy of everything up to here before this commit's responses can
        // be released.
        self.store.expect_copies(end);
        // INVARIANT (head-matches-store): the store's copy follows the
        // segment files, off the responses' path (the copying thread takes
        // it while the frame is synced); if it cannot, the writer stops,
        // and its next start copies what the store lacks.
        let _ = self.copies.send(Committed {
            rows: std::mem::take(&mut self.rows),
            entries: std::mem::take(&mut self.entries),
            posts: std::mem::take(&mut self.posts),
        });
        // INVARIANT (signed-head): a response is released only after the
        // frame holding its entry and the head signed over it is durable;
        // if the file cannot be synced, the responses fail, and so does
        // every later record (after a failed sync the kernel may have
        // dropped the pages it could not write: only a restart, which reads
        // the file back, can tell what it holds).
        let outcome = match file.sync_data() {
            Ok(()) => {
                self.counters.signed.fetch_max(end, Ordering::Relaxed);
                self.counters.signed_at_ms.store(now_ms(), Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                let e = LedgerError::Io(format!(
                    "the entry was written, but the segment file holding it could not be synced: {e}"
                ));
                tracing::warn!("a commit of {} entries was not released: {e}", jobs.len());
                self.broken = Some(format!("a segment file could not be synced ({e}); restart Tollgate"));
                Err(e)
            }
        };
        for (i, job) in jobs.into_iter().enumerate() {
            let _ = job.done.send(outcome.clone().map(|()| Receipt { seq: start + i as u64 }));
        }
    }
}

/// Moves the records queued on `rx` onto `batch`, up to `MAX_BATCH`; true
/// if a close was among them (what was queued before it is taken).
fn take_queued(rx: &mpsc::Receiver<Msg>, batch: &mut Vec<Job>) -> bool {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(Msg::Record(job)) => batch.push(*job),
            Ok(Msg::Close) => return true,
            Err(_) => break,
        }
    }
    false
}

/// The copying thread: copies the written entries into the store, the
/// commits of up to `COPY_PACE` in one transaction, tells the store's readers
/// (`LedgerDb::copied`), hands the entries on to the indexer and, every
/// `CHECKPOINT_PACE`, checkpoints the store's WAL, until the writer hangs
/// up. A copy the store refuses stops it: the writer refuses every later
/// record, and its next start copies what the store lacks.
///
/// Why paced: a transaction rewrites whole pages into the WAL (the table's
/// last leaf and one leaf of each index), whether it adds three entries or
/// thirty, so gathering a few milliseconds of commits writes a fraction of
/// the bytes per entry; nothing a response waits for reads the copy.
fn copy_entries(store: &LedgerDb, rx: mpsc::Receiver<Committed>, indexer: mpsc::Sender<Committed>) {
    let mut last = Instant::now();
    let mut checkpointed = Instant::now();
    while let Ok(mut batch) = rx.recv() {
        // Asleep, not waiting on the channel, until the pace allows the next
        // transaction: the commits sent meanwhile queue up without waking
        // this thread, and without costing the writer a wake-up each.
        let wait = (last + COPY_PACE).saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        while batch.rows.len() < COPY_BATCH {
            let Ok(more) = rx.try_recv() else { break };
            batch.rows.extend(more.rows);
            batch.entries.extend(more.entries);
            batch.posts.extend(more.posts);
        }
        let Some(end) = batch.rows.last().map(|r| r.seq + 1) else { continue };
        last = Instant::now();
        match store.ledger_append(&batch.rows, &batch.entries) {
            Ok(()) => {
                store.copied(end);
                // The rows are stored: the index can only lag behind them.
                let _ = indexer.send(batch);
                if checkpointed.elapsed() >= CHECKPOINT_PACE {
                    // A checkpoint that fails leaves the WAL longer, no more:
                    // the next one, or the indexer's, takes it.
                    if let Err(e) = store.checkpoint() {
                        tracing::warn!("{e}");
                    }
                    checkpointed = Instant::now();
                }
            }
            Err(e) => {
                let why = format!(
                    "the store could not take a copy of the ledger's entries ({e}); restart Tollgate, which copies \
                     them from the segment files"
                );
                tracing::warn!("{why}");
                store.copy_failed(why);
                return;
            }
        }
    }
}

/// Copies into the store the entries of the segment files it lacks (those
/// of commits a crash interrupted after their frame was written). Refuses a
/// store holding entries the segment files do not.
pub(crate) fn copy_into_store(store: &LedgerDb, tail: &Tail) -> Result<(), LedgerError> {
    let last = store.ledger_last()?;
    let (stored_end, mut chain) = last.map_or((0, GENESIS), |r| (r.seq + 1, r.hash));
    if stored_end > tail.end {
        return Err(LedgerError::Altered(format!(
            "the store holds entries {}..{} that are in no segment file; run `tollgate ledger verify`",
            tail.end,
            stored_end - 1
        )));
    }
    let first = tail.files.first().map_or(0, |f| f.first);
    if stored_end == tail.end {
        return Ok(());
    }
    if stored_end < first || (stored_end == 0 && first > 0) {
        return Err(LedgerError::Altered(format!(
            "the store's copy of the ledger ends at entry {stored_end} but the segment files start at {first}; \
             run `tollgate ledger verify`"
        )));
    }
    let mut rows = Vec::with_capacity(COPY_FRAME);
    let mut entries = Vec::with_capacity(COPY_FRAME);
    let flush = |rows: &mut Vec<LedgerRow>, entries: &mut Vec<EntryIndex>| -> Result<(), LedgerError> {
        if !rows.is_empty() {
            store.ledger_append(rows, entries)?;
            rows.clear();
            entries.clear();
        }
        Ok(())
    };
    segments::read_entries(&tail.files, stored_end, tail.end, |seq, body, place| {
        let entry = Entry::decode(&body)
            .map_err(|e| LedgerError::Altered(format!("entry {seq} of the segment files does not decode: {e}")))?;
        chain = chain_hash(&chain, &leaf_hash(&body));
        entries.push(entry_index(&entry));
        rows.push(LedgerRow { seq, time: entry.time, app_id: entry.app_id, body, hash: chain, place: Some(place) });
        if rows.len() == COPY_FRAME { flush(&mut rows, &mut entries) } else { Ok(()) }
    })?;
    flush(&mut rows, &mut entries)
}

/// Writes the entries of a ledger kept in the store alone (written before
/// segment files existed) into the first segment file, in frames without a
/// head; the writer then closes them with one. Returns the appender.
fn copy_into_segments(store: &LedgerDb, dir: &Path, end: u64) -> Result<Appender, LedgerError> {
    let first = store.ledger_read(0, 1)?.first().map_or(end, |r| r.seq);
    let mut appender = Appender::open(dir, None, first)?;
    let mut next = first;
    let mut file = None;
    while next < end {
        let rows = store.ledger_read(next, COPY_FRAME)?;
        let Some(last) = rows.last() else { break };
        if rows.first().map(|r| r.seq) != Some(next) || last.seq + 1 != next + rows.len() as u64 {
            return Err(LedgerError::Altered(format!(
                "entries from {next} on are not consecutive; run `tollgate ledger verify`"
            )));
        }
        next = last.seq + 1;
        let frame = encode_frame(rows[0].seq, rows.iter().map(|r| r.body.as_slice()), None);
        file = Some(appender.write(&frame, rows.len() as u64)?.file);
    }
    if let Some(file) = file {
        file.sync_data().map_err(|e| LedgerError::Io(format!("syncing the first segment file: {e}")))?;
    }
    Ok(appender)
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
