//! Ledger benchmarks, on a real SQLite store with `synchronous=FULL` in a
//! temporary directory:
//!
//! 1. deliveries recorded per second with durability through the group-commit
//!    writer, many recorders at once;
//! 2. the same entries appended one commit (one fsync) each, in the same run;
//! 3. `verify` throughput over a large ledger (default 1,000,000 entries),
//!    checkpoints included, and the time to build one inclusion proof.
//!
//! ```text
//! cargo run --release -p tollgate-ledger --example bench_ledger [-- --verify-entries N --seconds S --recorders R,R...]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_domain::{AccountId, AppId, KeyId, PostId, Purpose, Timestamp};
use tollgate_ledger::{
    Channel, CheckpointPolicy, Entry, EntryIndex, GENESIS, Ledger, LedgerDb, LedgerFiles, LedgerRow, LedgerWriter,
    Outcome, ProofTarget, VerifyOptions, chain_hash, leaf_hash,
};
use tollgate_store_sqlite::{SqliteOptions, Synchronous};

struct Args {
    verify_entries: u64,
    seconds: f64,
    recorders: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args { verify_entries: 1_000_000, seconds: 5.0, recorders: vec![16, 256] };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--verify-entries" => a.verify_entries = value.parse().expect("--verify-entries N"),
            "--seconds" => a.seconds = value.parse().expect("--seconds S"),
            "--recorders" => a.recorders = value.split(',').map(|r| r.parse().expect("--recorders R,R...")).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// An entry shaped like a real one: a lookup of a few posts under a policy.
fn entry(i: u64) -> Entry {
    Entry {
        v: Entry::VERSION,
        time: Timestamp::from_millis(1_750_000_000_000 + i as i64),
        request_id: format!("4f1c2a9b-{i:x}"),
        channel: Channel::Api,
        app_id: Some(AppId(1 + i % 7)),
        key_id: Some(KeyId(1 + i % 11)),
        client: None,
        endpoint: "GET /2/tweets".into(),
        purpose: Some(Purpose::Display),
        outcome: Outcome::Served,
        posts: (0..5).map(|k| PostId(2_006_605_937_834_134_801 + i * 5 + k)).collect(),
        authors: vec![AccountId(1 + i % 1000)],
        accounts: Vec::new(),
        withheld: [("author_suspended".to_string(), 1u32)].into_iter().collect(),
        notices: Vec::new(),
        policy_version: "514a29f8c9fc95409f855beb51ffe4d7fb1bf36d927e5884fe4822e931f8e481".into(),
        guard: None,
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tollgate-bench-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &TempDir, synchronous: Synchronous) -> Arc<LedgerDb> {
    let options = SqliteOptions { ledger_synchronous: synchronous, ..SqliteOptions::default() };
    Arc::new(LedgerDb::open(&dir.0, &options).expect("open the ledger's database"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Many recorders, each recording one entry after another for `seconds`.
fn group_commit(recorders: usize, seconds: f64) -> (u64, f64, Vec<Duration>) {
    let dir = TempDir::new("group");
    let store = open(&dir, Synchronous::Full);
    let writer = LedgerWriter::start(store, &dir.0).expect("start the writer");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let latencies = rt.block_on(async {
        let mut tasks = Vec::new();
        for r in 0..recorders {
            let w = writer.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = r as u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    w.record(entry(i)).await.expect("record");
                    lat.push(t.elapsed());
                    i += recorders as u64;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    writer.shutdown();
    (latencies.len() as u64, elapsed, latencies)
}

/// The same entries, one transaction (and one fsync) each.
fn one_per_commit(seconds: f64) -> (u64, f64) {
    let dir = TempDir::new("single");
    let store = open(&dir, Synchronous::Full);
    let started = Instant::now();
    let mut chain = GENESIS;
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let e = entry(n);
        let body = e.encode().unwrap();
        chain = chain_hash(&chain, &leaf_hash(&body));
        store
            .ledger_append(
                &[LedgerRow { seq: n, time: e.time, app_id: e.app_id, body, hash: chain, place: None }],
                &[EntryIndex::default()],
            )
            .unwrap();
        n += 1;
    }
    (n, started.elapsed().as_secs_f64())
}

fn main() {
    let a = args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "tollgate-ledger benchmarks ({cores} cores), SQLite synchronous=FULL in {}",
        std::env::temp_dir().display()
    );
    println!("entry body: {} bytes", entry(123_456).encode().unwrap().len());

    let mut grouped = Vec::new();
    for &recorders in &a.recorders {
        let (n, secs, mut lat) = group_commit(recorders, a.seconds);
        lat.sort();
        let rate = n as f64 / secs;
        println!(
            "group commit, {recorders} concurrent recorders: {n} entries in {secs:.2} s = {rate:.0} entries/s durable \
             (latency p50 {:.2} ms, p99 {:.2} ms)",
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3
        );
        grouped.push((recorders, rate));
    }
    let (n1, secs1) = one_per_commit(a.seconds);
    let single = n1 as f64 / secs1;
    println!("one commit per entry, one recorder: {n1} entries in {secs1:.2} s = {single:.0} entries/s durable");
    for (recorders, rate) in grouped {
        println!("group commit with {recorders} recorders is {:.1}x one commit per entry", rate / single);
    }

    // A large ledger for verification, written through the writer with its
    // default checkpoint policy (so checkpoints are signed along the way, as
    // in production), with NORMAL sync to build it fast: verification only reads.
    let dir = TempDir::new("verify");
    let store = open(&dir, Synchronous::Normal);
    let files = LedgerFiles::in_data_dir(&dir.0);
    let writer = LedgerWriter::start_with(store.clone(), &files, CheckpointPolicy::default()).unwrap();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        const IN_FLIGHT: u64 = 8192;
        let mut at = 0u64;
        while at < a.verify_entries {
            let end = (at + IN_FLIGHT).min(a.verify_entries);
            let tasks: Vec<_> = (at..end)
                .map(|i| {
                    let w = writer.clone();
                    tokio::spawn(async move { w.record(entry(i)).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            at = end;
        }
    });
    writer.shutdown();
    drop(rt);
    println!(
        "built a ledger of {} entries in {:.1} s ({:.0} entries/s, synchronous=NORMAL)",
        a.verify_entries,
        started.elapsed().as_secs_f64(),
        a.verify_entries as f64 / started.elapsed().as_secs_f64()
    );

    let ledger = Ledger::new(store, &dir.0);
    let started = Instant::now();
    let report = ledger.verify(&VerifyOptions::default()).unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(report.ok(), "{:?}", report.breaks);
    println!(
        "verify: {} entries in {secs:.2} s = {:.0} entries/s ({} checkpoints checked)",
        report.entries,
        report.entries as f64 / secs,
        report.checkpoints_matched
    );
    let started = Instant::now();
    let proof = ledger.prove(a.verify_entries / 3, ProofTarget::Latest).unwrap();
    proof.verify().unwrap();
    println!(
        "prove: one inclusion proof ({} hashes) over {} entries in {:.2} s",
        proof.path.len(),
        proof.checkpoint.size,
        started.elapsed().as_secs_f64()
    );
}
