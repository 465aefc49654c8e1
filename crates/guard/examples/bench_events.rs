//! The guard's event path on one thread: `observe` and `served` for a
//! realistic mix of requests, printing events per second and the memory
//! used.
//!
//! `cargo run --release -p tollgate-guard --example bench_events [events] [sketch_lines_log2] [api_posts]`
//!
//! The mix: 1,000,000 distinct addresses; 10,000 browsers keeping a cookie
//! (65 %), browsers without cookies on 200 fingerprints (15 %), 1,000 keys of
//! 100 apps (15 %, timelines of 10 posts and lookups by id), and a verified
//! crawler (5 %). Pages serve one post, API calls ten (`api_posts`: up to
//! 100, a full timeline or lookup); one request in ten is
//! a lookup of one id; crawlers and fleets fetch robots.txt (one request in
//! fifty) and ask for disallowed paths (one in a hundred). Simulated time runs
//! at 20,000 requests a second, so windows rotate during the run.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use tollgate_domain::{AccountId, AppId, ClientKind, KeyId, NetClass, PostId, Signal};
use tollgate_guard::{
    Access, Client, Guard, LocalCounters, LocalSizes, Prefix, QuotaUse, SignalConfig, Verified, VerifiedBy,
};

const ADDRESSES: u64 = 1_000_000;
const ACTORS: u64 = 10_000;
const POSTS: u64 = 1 << 20;

fn client(ua: &str, kind: ClientKind, network: NetClass) -> Client {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    Client {
        ip,
        prefix: Prefix::of(ip),
        asn: None,
        network,
        user_agent: ua.to_owned(),
        agent_family: "chrome".to_owned(),
        agent_version: Some(131),
        stale_agent: false,
        declared_ai: None,
        kind,
        verified: None,
        key: None,
        cookie: None,
        passed_challenge: false,
        fingerprint: 1,
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The time this thread ran on a CPU, in seconds: on a shared machine, the
/// events per second of one core are events per CPU second, not per second
/// of wall time.
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

fn main() {
    let events: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let mut sizes = LocalSizes::default();
    if let Some(lines) = std::env::args().nth(2).and_then(|a| a.parse().ok()) {
        sizes.sketch_lines_log2 = lines;
    }
    let api_posts: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(10).clamp(1, 100);
    let counters = Arc::new(LocalCounters::new(sizes, 0x5eed));
    let counter_bytes = counters.bytes();
    let guard = Guard::new(SignalConfig::default(), counters, [7; 32]);

    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let mut browser = client(chrome, ClientKind::Browser, NetClass::Residential);
    let mut fresh = client(chrome, ClientKind::Browser, NetClass::Mobile);
    let mut app = client("python-requests/2.32", ClientKind::App, NetClass::Hosting);
    let mut crawler = client(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ClientKind::VerifiedSearch,
        NetClass::Hosting,
    );
    crawler.verified = Some(Verified { crawler: "Googlebot".to_owned(), by: VerifiedBy::IpRange });

    // The posts of a response are made on the stack, so that the benchmark's
    // own data costs no memory traffic.
    let mut posts = [PostId(0); 100];
    let mut authors = [AccountId(0); 100];

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let t0 = 1_764_892_800u64;
    let start = Instant::now();
    let cpu_start = cpu_secs();
    let mut fired = 0u64;
    let mut by_signal = [0u64; Signal::ALL.len()];
    for i in 0..events {
        let r = next();
        let now = t0 + i / 20_000;
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + ((r >> 8) % ADDRESSES) as u32 * 13 % 0x00ff_ffff));
        let class = r % 100;
        let c = if class < 65 {
            browser.cookie = Some((r >> 32) % ACTORS);
            browser.fingerprint = (r >> 40) % 50;
            &mut browser
        } else if class < 80 {
            fresh.fingerprint = 1_000 + (r >> 40) % 200;
            &mut fresh
        } else if class < 95 {
            let key = (r >> 32) % 1_000;
            app.key = Some((AppId(key % 100), KeyId(key)));
            app.fingerprint = 7;
            &mut app
        } else {
            &mut crawler
        };
        c.ip = ip;
        c.prefix = Prefix::of(ip);
        // 5,000 autonomous systems.
        c.asn = Some(64_512 + ((r >> 8) % ADDRESSES) as u32 / 200);
        let quota = if (80..95).contains(&class) { Some(QuotaUse { used: r % 10_000, limit: 10_000 }) } else { None };
        // Crawlers and fleets read robots.txt, and some ask for what it disallows.
        let bot = class >= 65 && !(80..95).contains(&class);
        let access = Access {
            robots_fetch: bot && (r >> 24) % 50 == 0,
            disallowed: bot && (r >> 30) % 100 == 0,
            hidden_link: false,
            quota,
        };
        let obs = guard.observe(c, &access, now);
        fired += u64::from(!obs.signals.is_empty());
        for s in obs.signals.iter() {
            by_signal[s as usize] += 1;
        }
        let at = (r >> 20) % POSTS;
        for (k, (p, a)) in posts[..api_posts].iter_mut().zip(authors.iter_mut()).enumerate() {
            let i = (at + k as u64) % POSTS;
            *p = PostId(1_800_000_000_000_000_000 + i * 4_194_304);
            *a = AccountId(i % 50_000);
        }
        if (r >> 16) % 10 == 0 {
            let id = posts[0].0;
            guard.served(&obs, &posts[..1], &authors[..1], &[id], 1, now);
        } else if (80..95).contains(&class) {
            guard.served(&obs, &posts[..api_posts], &authors[..api_posts], &[], 0, now);
        } else {
            guard.served(&obs, &posts[..1], &authors[..1], &[], 0, now);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("events: {events}");
    println!("wall seconds: {secs:.3} ({:.0} events per second)", events as f64 / secs);
    if let (Some(a), Some(b)) = (cpu_start, cpu_secs()) {
        println!("cpu seconds: {:.3} ({:.0} events per second per core)", b - a, events as f64 / (b - a));
    }
    println!("requests with a signal: {:.1} %", fired as f64 * 100.0 / events as f64);
    for s in Signal::ALL {
        if by_signal[s as usize] > 0 {
            let n = by_signal[s as usize];
            println!("  {s}: {n} ({:.2} %)", n as f64 * 100.0 / events as f64);
        }
    }
    println!("counters: {:.1} MiB", counter_bytes as f64 / (1 << 20) as f64);
    if let Some(kib) = rss_kib() {
        println!("resident memory (process): {:.1} MiB", kib as f64 / 1024.0);
    }
}
