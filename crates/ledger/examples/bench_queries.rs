//! Audit-query benchmark, on a real SQLite store (`synchronous=NORMAL`) in a
//! temporary directory:
//!
//! 1. the cost of the index: entries recorded through the group-commit
//!    writer, as entries per second and as CPU time per entry of the writer
//!    thread (the durable commits) and of the indexer thread (the summaries
//!    and post filters);
//! 2. a ledger of `--entries` entries (default 1,000,000) built through the
//!    writer: a few hundred apps with Zipf-distributed traffic, Zipf authors
//!    and posts, 1 to 100 posts per entry (two in five entries one author's
//!    timeline, the others lookups with an author drawn per post), some
//!    anonymous clients, some refusals, a policy change every tenth of the
//!    ledger;
//! 3. p50 and p99 latency of each audit question over that ledger; who
//!    received a post separately for popular posts (1,000 deliveries or
//!    more), rare ones and posts never delivered.
//!
//! ```text
//! cargo run --release -p tollgate-ledger --example bench_queries [-- --entries N --cost-entries N --samples N
//!     --dir DIR --keep --cache-mib N --reindex]
//! ```
//!
//! `--dir` puts the stores in `DIR` (removed at the end unless `--keep`; a
//! kept ledger of the right size is queried again without rebuilding it).
//! `--cost-entries 0` skips part 1. The reindex of the whole ledger runs only
//! with `--reindex`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_domain::{AccountId, AppId, KeyId, PostId, Purpose, Timestamp};
use tollgate_ledger::{
    Audit, Channel, CheckpointPolicy, Entry, Identity, LedgerDb, LedgerFiles, LedgerWriter, Outcome,
};
use tollgate_store_sqlite::{SqliteOptions, Synchronous};

struct Args {
    entries: u64,
    cost_entries: u64,
    samples: usize,
    dir: Option<PathBuf>,
    keep: bool,
    cache_mib: u32,
    reindex: bool,
}

fn args() -> Args {
    let mut a = Args {
        entries: 1_000_000,
        cost_entries: 200_000,
        samples: 200,
        dir: None,
        keep: false,
        cache_mib: SqliteOptions::default().cache_mib,
        reindex: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--keep" => {
                a.keep = true;
                continue;
            }
            "--reindex" => {
                a.reindex = true;
                continue;
            }
            _ => {}
        }
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--dir" => a.dir = Some(PathBuf::from(value)),
            "--cache-mib" => a.cache_mib = value.parse().expect("--cache-mib N"),
            "--entries" => a.entries = value.parse().expect("--entries N"),
            "--cost-entries" => a.cost_entries = value.parse().expect("--cost-entries N"),
            "--samples" => a.samples = value.parse().expect("--samples N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// splitmix64: deterministic, so every run builds the same ledger.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A rank in `0..n`, rank r with probability about proportional to
    /// 1 / (r + 1) (Zipf with exponent 1).
    fn zipf(&mut self, n: u64) -> u64 {
        (((n as f64 + 1.0).ln() * self.unit()).exp() as u64).saturating_sub(1).min(n - 1)
    }
}

const APPS: u64 = 300;
const AUTHORS: u64 = 2_000_000;
const POSTS_PER_AUTHOR: u64 = 1_000;
const START: i64 = 1_750_000_000_000;
/// The ledger spans 30 days, whatever its size.
const SPAN_MS: i64 = 30 * 86_400_000;

fn policy(i: u64, n: u64) -> String {
    format!("policy-{}", i * 10 / n.max(1))
}

fn entry(rng: &mut Rng, i: u64, n: u64) -> Entry {
    let anonymous = rng.below(20) == 0;
    let refused = rng.below(25) == 0;
    let count = 1 + rng.below(100) as usize;
    let mut posts = Vec::with_capacity(count);
    let mut authors = Vec::with_capacity(count);
    // Two entries in five are timelines (one author's posts), the others
    // lookups and searches (each post by a Zipf-drawn author).
    let timeline = rng.below(5) < 2;
    let mut author = 1 + rng.zipf(AUTHORS);
    for _ in 0..count {
        if !timeline {
            author = 1 + rng.zipf(AUTHORS);
        }
        posts.push(PostId(author * POSTS_PER_AUTHOR + rng.zipf(POSTS_PER_AUTHOR)));
        authors.push(AccountId(author));
    }
    posts.sort_unstable();
    posts.dedup();
    authors.sort_unstable();
    authors.dedup();
    let purposes = [Purpose::Display, Purpose::Search, Purpose::TrainAi, Purpose::TrainGenai];
    Entry {
        v: Entry::VERSION,
        time: Timestamp::from_millis(START + (i as i128 * SPAN_MS as i128 / n.max(1) as i128) as i64),
        request_id: format!("{:016x}-{i:x}", rng.next()),
        channel: if anonymous { Channel::Web } else { Channel::Api },
        app_id: Some(AppId(if anonymous { 1 } else { 2 + rng.zipf(APPS) })),
        key_id: (!anonymous).then(|| KeyId(1 + rng.below(1000))),
        client: anonymous.then(|| format!("anon-{}", rng.zipf(10_000))),
        endpoint: "GET /2/tweets".into(),
        purpose: Some(purposes[rng.below(4) as usize]),
        outcome: if refused { Outcome::Refused("agreement_prohibits".into()) } else { Outcome::Served },
        posts: if refused { Vec::new() } else { posts },
        authors: if refused { Vec::new() } else { authors },
        accounts: Vec::new(),
        withheld: Default::default(),
        notices: Vec::new(),
        policy_version: policy(i, n),
        guard: None,
    }
}

/// A directory removed on drop unless kept.
struct TempDir(PathBuf, bool);

impl TempDir {
    /// `name` under `base`, or a directory of this process under the
    /// system's temporary directory; emptied first unless `reuse`.
    fn new(base: Option<&PathBuf>, name: &str, reuse: bool) -> TempDir {
        let dir = match base {
            Some(b) => b.join(name),
            None => std::env::temp_dir().join(format!("tollgate-bench-queries-{name}-{}", std::process::id())),
        };
        if !reuse {
            let _ = std::fs::remove_dir_all(&dir);
        }
        TempDir(dir, reuse)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn open(dir: &TempDir, cache_mib: u32) -> Arc<LedgerDb> {
    let options = SqliteOptions { synchronous: Synchronous::Normal, cache_mib, ..SqliteOptions::default() };
    Arc::new(LedgerDb::open(&dir.0, &options).expect("open the ledger's database"))
}

fn writer(store: Arc<LedgerDb>, dir: &TempDir) -> LedgerWriter {
    let policy = CheckpointPolicy::default();
    LedgerWriter::start_with(store, &LedgerFiles::in_data_dir(&dir.0), policy).expect("start the writer")
}

/// CPU time of the thread named `name` so far (from /proc; zero where there is none).
fn thread_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
        // Fields 14 and 15 of stat (utime, stime) in clock ticks of 10 ms.
        let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        return Duration::from_millis(ticks * 10);
    }
    Duration::ZERO
}

/// Records entries `from..to` through the writer, 4,096 in flight at a time,
/// and waits for the indexer to index them. Returns the wall time to record,
/// and the CPU time of the writer thread (the commits) and of the indexer
/// thread (the summaries and filters).
fn record(w: &LedgerWriter, store: &LedgerDb, from: u64, to: u64, n: u64, rng: &mut Rng) -> (Duration, Cpu) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (writer_cpu, indexer_cpu) = (thread_cpu("ledger-writer"), thread_cpu("ledger-indexer"));
    let started = Instant::now();
    rt.block_on(async {
        let mut i = from;
        while i < to {
            let end = (i + 4096).min(to);
            let tasks: Vec<_> = (i..end)
                .map(|k| {
                    let w = w.clone();
                    let e = entry(rng, k, n);
                    tokio::spawn(async move { w.record(e).await })
                })
                .collect();
            for t in tasks {
                t.await.expect("join").expect("record");
            }
            i = end;
        }
    });
    let wall = started.elapsed();
    while store.ledger_indexed_end().expect("read the index end") < to {
        std::thread::sleep(Duration::from_millis(10));
    }
    let cpu = Cpu {
        writer: thread_cpu("ledger-writer").saturating_sub(writer_cpu),
        indexer: thread_cpu("ledger-indexer").saturating_sub(indexer_cpu),
    };
    (wall, cpu)
}

/// CPU time of the ledger's two threads.
struct Cpu {
    writer: Duration,
    indexer: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>, detail: &str) {
    times.sort_unstable();
    if times.is_empty() {
        println!("query {name}: no samples ({detail})");
        return;
    }
    println!(
        "query {name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} samples ({detail})",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        times.len()
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let v = f();
    (t.elapsed(), v)
}

fn main() {
    let a = args();

    // 1. The cost of the index: CPU of the indexer thread against that of
    // the writer thread (the durable commits), for the same entries.
    let cost_n = a.cost_entries;
    if cost_n > 0 {
        let dir = TempDir::new(a.dir.as_ref(), "cost", false);
        let store = open(&dir, a.cache_mib);
        let w = writer(store.clone(), &dir);
        let (wall, cpu) = record(&w, store.as_ref(), 0, cost_n, cost_n, &mut Rng(7));
        w.shutdown();
        let n = cost_n as f64;
        println!(
            "cost: {cost_n} entries in {:.2} s, {:.0} entries/s; writer thread CPU {:.1} us/entry, indexer thread \
             CPU {:.1} us/entry (index/commit {:.2})",
            wall.as_secs_f64(),
            n / wall.as_secs_f64(),
            cpu.writer.as_secs_f64() * 1e6 / n,
            cpu.indexer.as_secs_f64() * 1e6 / n,
            cpu.indexer.as_secs_f64() / cpu.writer.as_secs_f64().max(1e-9)
        );
    }

    // 2. The ledger to query.
    let n = a.entries;
    let mut dir = TempDir::new(a.dir.as_ref(), &format!("ledger-{n}"), true);
    let stored = open(&dir, a.cache_mib).ledger_last().expect("read the ledger").map_or(0, |r| r.seq + 1);
    if stored == n && a.keep {
        println!("reusing the ledger of {n} entries in {}", dir.0.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir.0);
        let store = open(&dir, a.cache_mib);
        let w = writer(store.clone(), &dir);
        let mut rng = Rng(11);
        let (wall, cpu) = record(&w, store.as_ref(), 0, n, n, &mut rng);
        w.shutdown();
        println!(
            "built {n} entries in {:.1} s ({:.0} entries/s, writer thread CPU {:.1} us/entry, indexer thread CPU \
             {:.1} us/entry)",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            cpu.writer.as_secs_f64() * 1e6 / n as f64,
            cpu.indexer.as_secs_f64() * 1e6 / n as f64,
        );
    }
    dir.1 = a.keep;
    let store = open(&dir, a.cache_mib);
    let size: u64 = ["ledger.db", "ledger.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.0.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!("ledger.db {:.2} GB", size as f64 / 1e9);

    // 3. The questions. Samples are drawn from the entries themselves, so
    // every post, author, app and client asked about was delivered.
    let audit = Audit::new(store.as_ref());
    let mut rng = Rng(99);
    let samples: Vec<Entry> = (0..a.samples)
        .filter_map(|_| {
            let seq = rng.below(n);
            let row = store.ledger_read(seq, 1).ok()?.pop()?;
            Entry::decode(&row.body).ok().filter(|e| !e.posts.is_empty())
        })
        .collect();

    // Posts drawn from entries favour the popular ones: split by how often
    // they were delivered. Ids above every generated post were never delivered.
    let (mut all, mut popular, mut rare, mut absent) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut found, mut most) = (0, 0);
    for e in &samples {
        let post = e.posts[rng.below(e.posts.len() as u64) as usize];
        let (t, r) = timed(|| audit.post_recipients(post, None, 100).expect("post query"));
        let deliveries = r.recipients.iter().map(|x| x.deliveries).sum::<u64>();
        found += deliveries;
        most = most.max(deliveries);
        all.push(t);
        if deliveries >= 1000 {
            popular.push(t);
        } else {
            rare.push(t);
        }
    }
    for _ in 0..samples.len() {
        let post = PostId((AUTHORS + 1 + rng.below(AUTHORS)) * POSTS_PER_AUTHOR);
        let (t, r) = timed(|| audit.post_recipients(post, None, 100).expect("post query"));
        assert!(r.recipients.is_empty());
        absent.push(t);
    }
    let (np, nr) = (popular.len(), rare.len());
    report(
        "1a post recipients, all",
        all,
        &format!("{:.1} deliveries per post, at most {most}", found as f64 / samples.len() as f64),
    );
    report("1a post recipients, popular", popular, &format!("{np} posts delivered 1,000 times or more"));
    report("1a post recipients, rare", rare, &format!("{nr} posts delivered fewer than 1,000 times"));
    report("1a post recipients, never delivered", absent, "ids of no post");

    let mut times = Vec::new();
    let mut rows = 0;
    for e in &samples {
        let author = e.authors[rng.below(e.authors.len() as u64) as usize];
        let (t, r) = timed(|| audit.author_recipients(author).expect("author query"));
        rows += r.recipients.len();
        times.push(t);
    }
    report("1b account recipients", times, &format!("{:.1} (app, purpose) rows", rows as f64 / samples.len() as f64));

    let mut times = Vec::new();
    for e in &samples {
        let app = e.app_id.expect("app");
        let until = Timestamp::from_millis(e.time.millis() + 7 * 86_400_000);
        let (t, _) = timed(|| audit.app_deliveries(app, e.time, Some(until), None, 1000).expect("app query"));
        times.push(t);
    }
    report("2 app deliveries over 7 days", times, "day counts and the first 1,000 post ids");

    let mut times = Vec::new();
    for e in &samples {
        let identity = match &e.client {
            Some(c) => Identity::Client(c.clone()),
            None => Identity::AppId(e.app_id.expect("app")),
        };
        let (t, _) = timed(|| audit.attempts(identity, e.time, None, 100).expect("attempts query"));
        times.push(t);
    }
    report("3 attempts since a date", times, "counts and the first 100 entries");

    let mut times = Vec::new();
    for e in &samples {
        let (t, _) = timed(|| audit.policy_deliveries(&e.policy_version, None, 100).expect("policy query"));
        times.push(t);
    }
    report("4 policy deliveries", times, "counts and the first 100 entries");

    if a.reindex {
        let (t, r) = timed(|| audit.reindex(|_| {}).expect("reindex"));
        println!("reindex of {} entries: {:.1} s", r.entries, t.as_secs_f64());
    }
}
