//! Audit-query benchmark, on a real SQLite store (`synchronous=NORMAL`) in a
//! temporary directory:
//!
//! 1. the cost of the index: the same entries recorded through the
//!    group-commit writer into a store whose index is maintained and into one
//!    whose index lags (so the store skips it), as entries per second and as
//!    CPU time of the writer thread per entry;
//! 2. a ledger of `--entries` entries (default 1,000,000) built through the
//!    writer: a few hundred apps with Zipf-distributed traffic, Zipf authors
//!    and posts, 1 to 100 posts per entry (two in five entries one author's
//!    timeline, the others lookups with an author drawn per post), some
//!    anonymous clients, some refusals, a policy change every tenth of the
//!    ledger;
//! 3. p50 and p99 latency of each audit question over that ledger.
//!
//! ```text
//! cargo run --release -p tollgate-ledger --example bench_queries [-- --entries N --cost-entries N --samples N]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_domain::{AccountId, AppId, KeyId, PostId, Purpose, Timestamp};
use tollgate_ledger::{Audit, Channel, CheckpointPolicy, Entry, Identity, LedgerFiles, LedgerWriter, Outcome};
use tollgate_store::Store;
use tollgate_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

struct Args {
    entries: u64,
    cost_entries: u64,
    samples: usize,
}

fn args() -> Args {
    let mut a = Args { entries: 1_000_000, cost_entries: 200_000, samples: 200 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
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
        policy_version: policy(i, n),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tollgate-bench-queries-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &TempDir) -> Arc<dyn Store> {
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() };
    Arc::new(SqliteStore::open(&dir.0, &options).expect("open the store"))
}

fn writer(store: Arc<dyn Store>, dir: &TempDir) -> LedgerWriter {
    let policy = CheckpointPolicy::default();
    LedgerWriter::start_with(store, &LedgerFiles::in_data_dir(&dir.0), policy).expect("start the writer")
}

/// CPU time of the writer thread so far (from /proc; zero where there is none).
fn writer_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ledger-writer" {
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

/// Records entries `from..to` through the writer, 4,096 in flight at a time.
/// Returns the wall time and the writer thread's CPU time.
fn record(w: &LedgerWriter, from: u64, to: u64, n: u64, rng: &mut Rng) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cpu = writer_cpu();
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
    (started.elapsed(), writer_cpu().saturating_sub(cpu))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>, detail: &str) {
    times.sort_unstable();
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

    // 1. The cost of the index, on fresh stores of the same entries.
    let cost_n = a.cost_entries;
    for indexed in [false, true] {
        let dir = TempDir::new(if indexed { "cost-indexed" } else { "cost-plain" });
        let store = open(&dir);
        let w = writer(store.clone(), &dir);
        let mut rng = Rng(7);
        if !indexed {
            // One entry, then forget the index: it now lags, and the store
            // leaves every later append out of it.
            record(&w, 0, 1, cost_n, &mut rng);
            store.ledger_index_clear().expect("clear the index");
        }
        let from = u64::from(!indexed);
        let (wall, cpu) = record(&w, from, cost_n, cost_n, &mut rng);
        w.shutdown();
        let n = (cost_n - from) as f64;
        println!(
            "writer {} index: {} entries in {:.2} s, {:.0} entries/s, writer thread CPU {:.1} us/entry",
            if indexed { "with" } else { "without" },
            cost_n - from,
            wall.as_secs_f64(),
            n / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / n
        );
    }

    // 2. The ledger to query.
    let n = a.entries;
    let dir = TempDir::new("ledger");
    let store = open(&dir);
    let w = writer(store.clone(), &dir);
    let mut rng = Rng(11);
    let (wall, cpu) = record(&w, 0, n, n, &mut rng);
    w.shutdown();
    let size: u64 = ["ledger.db", "ledger.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.0.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "built {n} entries in {:.1} s ({:.0} entries/s, writer thread CPU {:.1} us/entry), ledger.db {:.2} GB",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n as f64,
        size as f64 / 1e9
    );

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

    let mut times = Vec::new();
    let mut found = 0;
    for e in &samples {
        let post = e.posts[rng.below(e.posts.len() as u64) as usize];
        let (t, r) = timed(|| audit.post_recipients(post, None, 100).expect("post query"));
        found += r.recipients.iter().map(|x| x.deliveries).sum::<u64>();
        times.push(t);
    }
    report("1a post recipients", times, &format!("{:.1} deliveries per post", found as f64 / samples.len() as f64));

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

    let (t, r) = timed(|| audit.reindex(|_| {}).expect("reindex"));
    println!("reindex of {} entries: {:.1} s", r.entries, t.as_secs_f64());
}
