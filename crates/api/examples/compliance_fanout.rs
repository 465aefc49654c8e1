//! The compliance streams' fan-out benchmark (`bench/compliance_fanout.sh`):
//! CLIENTS stream clients over loopback HTTP/1.1 (CLIENTS / 4 apps, each on
//! its four partitions), each notice for one client. First a burst: BURST
//! notices opened at once, and the events a second delivered in total until
//! every client has its share (the fan-out's throughput). Then steady: RATE
//! notices a second for SECS seconds, opened every 20 ms as a worker would,
//! and the lag from each one's opening to its line's arrival. Last, the
//! baseline: all the notices read straight from the store by one reader, in
//! pages.
//!
//! The server is the router of `tollgate serve` on a fresh data directory,
//! in process, so that the notices' opener wakes it as the notices worker
//! will (`ApiState::notices_progress`). Bounded: CLIENTS connections, RATE *
//! SECS notices, loopback only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tollgate_api::{ApiConfig, ApiState, ComplianceConfig, HealthLimits, HttpLimits, RateLimits, router};
use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_deliver::Deliverer;
use tollgate_domain::{AccountId, Agreement, ConsentDefaults, Notice, NoticeReason, PostId, Purpose, Tier, Timestamp};
use tollgate_ledger::LedgerWriter;
use tollgate_policy::PolicyEngine;
use tollgate_store::{NewApp, NewKey, NoticeQuery, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one client saw: lines, and each steady line's lag in milliseconds.
#[derive(Default)]
struct Seen {
    lines: u64,
    lags: Vec<u32>,
}

async fn client(
    addr: std::net::SocketAddr,
    token: String,
    partition: u64,
    burst: u64,
    expected: u64,
    burst_lines: Arc<AtomicU64>,
) -> Seen {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /2/tweets/compliance/stream?partition={partition} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    // Without tokio's `io-util`: the request is small enough for one write.
    let mut sent = 0;
    while sent < request.len() {
        stream.writable().await.expect("writable");
        match stream.try_write(&request.as_bytes()[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("send: {e}"),
        }
    }
    let mut seen = Seen::default();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    while seen.lines < expected {
        if tokio::time::timeout(Duration::from_secs(30), stream.readable()).await.is_err() {
            break;
        }
        let n = match stream.try_read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let now = Timestamp::now().millis();
        let mut start = 0;
        while let Some(at) = memchr_crlf(&buf[start..]) {
            let line = &buf[start..start + at];
            start += at + 2;
            if line.first() == Some(&b'{') {
                // Read as a client that only needs the sequence number and
                // the time would: two fields found, not the whole line parsed,
                // so that the clients, in this process, leave the server the CPU.
                if find(line, b"\"errors\"").is_some() {
                    eprintln!("a client was disconnected: {}", String::from_utf8_lossy(line));
                    return seen;
                }
                seen.lines += 1;
                let seq = field(line, b"\"seq\":").and_then(|v| {
                    let end = v.iter().position(|b| !b.is_ascii_digit()).unwrap_or(v.len());
                    std::str::from_utf8(&v[..end]).ok()?.parse::<u64>().ok()
                });
                if seq.unwrap_or(0) > burst {
                    let at = field(line, b"\"event_at\":\"")
                        .and_then(|v| std::str::from_utf8(v.get(..24)?).ok())
                        .and_then(|t| Timestamp::parse(t).ok());
                    if let Some(at) = at {
                        seen.lags.push(u32::try_from((now - at.millis()).max(0)).unwrap_or(u32::MAX));
                    }
                } else {
                    burst_lines.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        buf.drain(..start);
    }
    seen
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What follows `name` in `line`.
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    find(line, name).map(|at| &line[at + name.len()..])
}

fn memchr_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let clients = env("CLIENTS", 1000);
    let burst = env("BURST", 500_000);
    let rate = env("RATE", 5_000);
    let secs = env("SECS", 10);
    let partitions = 4;
    let apps = clients.div_ceil(partitions);
    let dir = std::env::temp_dir().join(format!("tollgate-fanout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    let now = Timestamp::now();
    store
        .publish_agreement(&Agreement {
            version: 1,
            text: "# Agreement".into(),
            terms_json: "{}".into(),
            published_at: now,
            grace_until: now,
        })
        .unwrap();
    let mut tokens = Vec::new();
    for i in 0..apps {
        let app = store
            .create_app(&NewApp {
                name: format!("bench-{i}"),
                tier: Tier::Standard,
                purposes: vec![Purpose::Display],
                licensed_purposes: vec![],
                agreement_version: Some(1),
                created_at: now,
            })
            .unwrap();
        let token = format!("tg_bench_{}", app.id);
        store
            .add_key(&NewKey {
                app_id: app.id,
                hash: hex::encode(Sha256::digest(token.as_bytes())),
                prefix: token[..8].into(),
                created_at: now,
                expires_at: None,
            })
            .unwrap();
        tokens.push((app.id, token));
    }
    let policy = Arc::new(PolicyEngine::builtin().unwrap());
    let ledger_db = Arc::new(tollgate_ledger::LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger = LedgerWriter::start(ledger_db.clone(), &dir).unwrap();
    let deliverer = Arc::new(Deliverer::new(policy, ledger.clone(), ConsentDefaults::default()));
    let config = ApiConfig {
        public_url: "http://bench".into(),
        internal_token: None,
        rate_limits: RateLimits { window_secs: 900, standard: 0, partner: 0, first_party: 0 },
        http_limits: HttpLimits::DEFAULT,
        access_log: false,
        health: HealthLimits::DEFAULT,
    };
    let cache = Arc::new(PlatformCache::new(store.clone(), CacheConfig::DEFAULT).unwrap());
    let state = Arc::new(
        ApiState::new(cache, ledger_db, deliverer, config)
            .with_compliance(ComplianceConfig { client_buffer: 1024, ..ComplianceConfig::DEFAULT }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Account `a` is in partition a % 4 + 1: notice k (from 0) goes to app
    // k % apps, account k / apps % 4 (its partition), so every client gets
    // its share, of the burst and of the steady notices alike.
    let total = burst + rate * secs;
    let share = |total: u64, app_index: u64, partition: u64| -> u64 {
        // k = q * apps + app_index for q < n, and q % partitions == partition - 1.
        let n = if app_index < total { (total - app_index).div_ceil(apps) } else { 0 };
        let r = partition - 1;
        if n > r { (n - r).div_ceil(partitions) } else { 0 }
    };
    let notice = |k: u64, event_time: Timestamp| Notice {
        app_id: tokens[(k % apps) as usize].0,
        event_seq: k + 1,
        event_time,
        event: "post_deleted".into(),
        account_id: AccountId((k / apps) % partitions),
        post_id: Some(PostId(k + 1)),
        reason: Some(NoticeReason::Deleted),
        deadline: None,
        acked_at: None,
    };
    let burst_lines = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (i, (_, token)) in tokens.iter().enumerate() {
        for partition in 1..=partitions {
            if handles.len() as u64 == clients {
                break;
            }
            let expected = share(total, i as u64, partition);
            handles.push(tokio::spawn(client(addr, token.clone(), partition, burst, expected, burst_lines.clone())));
        }
    }
    // Every client connected before the first notice.
    while (state.stream_clients() as u64) < clients {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{clients} clients connected ({apps} apps x {partitions} partitions)");

    // The burst: `burst` notices opened in one transaction, then one wake;
    // the fan-out's throughput is how fast every client has its share.
    let progress = state.notices_progress();
    let t = Timestamp::now();
    let batch: Vec<Notice> = (0..burst).map(|k| notice(k, t)).collect();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.open_notices("bench", burst, &batch)).await.unwrap().unwrap();
    let woken = Instant::now();
    progress.send_replace(burst);
    eprintln!("burst of {burst} notices opened");
    // The steady phase starts once the burst is delivered, so that its lags
    // are not the burst's queue.
    while burst_lines.load(Ordering::Relaxed) < burst {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let burst_secs = woken.elapsed().as_secs_f64();
    eprintln!("burst delivered in {burst_secs:.2} s; steady {rate}/s for {secs} s next");

    // Steady: `rate` a second, opened every 20 ms as a worker would, each
    // notice's lag measured from the time it was opened.
    let tick = Duration::from_millis(20);
    let per_tick = (rate / 50).max(1);
    let mut next = burst;
    let mut deadline = tokio::time::Instant::now();
    while next < total {
        deadline += tick;
        let count = per_tick.min(total - next);
        let event_time = Timestamp::now();
        let batch: Vec<Notice> = (next..next + count).map(|k| notice(k, event_time)).collect();
        next += count;
        let upto = next;
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.open_notices("bench", upto, &batch)).await.unwrap().unwrap();
        progress.send_replace(upto);
        tokio::time::sleep_until(deadline).await;
    }
    let mut delivered = 0;
    let mut lags = Vec::new();
    for h in handles {
        let seen = h.await.unwrap();
        delivered += seen.lines;
        lags.extend(seen.lags);
    }
    lags.sort_unstable();
    let fanout_rate = burst as f64 / burst_secs;

    // The baseline: the same notices read straight from the store by one reader.
    let s = store.clone();
    let (read, read_secs) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let mut after = 0;
        let mut read = 0u64;
        loop {
            let page = s.notices(&NoticeQuery { after_seq: after, limit: 10_000, ..NoticeQuery::default() }).unwrap();
            let Some(last) = page.last() else { break };
            after = last.event_seq;
            read += page.len() as u64;
            // Rendered as the stream renders them, so the two do the same work per event.
            for n in &page {
                std::hint::black_box(
                    serde_json::to_vec(&serde_json::json!({"seq": n.event_seq, "post": n.post_id})).unwrap(),
                );
            }
        }
        (read, t.elapsed().as_secs_f64())
    })
    .await
    .unwrap();
    let baseline_rate = read as f64 / read_secs;
    println!(
        "clients={clients} apps={apps} burst={burst} steady_rate={rate}/s steady_secs={secs} delivered={delivered}"
    );
    println!("burst_fanout_events_per_s={fanout_rate:.0} (the burst delivered to every client in {burst_secs:.2} s)");
    println!(
        "steady_lag_ms_p50={} steady_lag_ms_p99={} steady_lag_ms_max={}",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0)
    );
    println!(
        "baseline_store_read_events_per_s={baseline_rate:.0} (one reader, all {read} notices in {read_secs:.2} s)"
    );
    println!("ratio_fanout_to_baseline={:.2}", fanout_rate / baseline_rate);
    state.close_streams();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(delivered, total, "every notice reached its client once");
}
