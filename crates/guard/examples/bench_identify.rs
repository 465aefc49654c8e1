//! How fast the guard identifies clients: prefix table lookups per second
//! on a 100,000-row table, and `Resolver::identify` calls per second for a
//! typical browser request (behind a trusted proxy, with a continuity
//! cookie and a pass, and without) and for a crawler's Web Bot Auth signed
//! request.
//!
//! `cargo run --release -p tollgate-guard --example bench_identify`

use std::fmt::Write;
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use tollgate_domain::Purpose;
use tollgate_guard::identity::WebBotAuthSigner;
use tollgate_guard::{CrawlerConfig, CrawlerKind, IdentityConfig, PrefixTable, Resolver};

const ROWS: u32 = 100_000;

fn main() {
    let table = prefix_table();
    let probes: Vec<IpAddr> = (0..4096u32).map(|i| IpAddr::V4(xorshift(i).into())).collect();
    let lookups = rate(Duration::from_secs(2), |n| {
        black_box(table.lookup(probes[n % probes.len()]));
    });
    println!("prefix table ({} rows): {:.0} lookups/s ({:.0} ns each)", table.len(), lookups, 1e9 / lookups);

    let mut config = IdentityConfig::new([42; 32]);
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()];
    config.prefix_table = table;
    config.ai_agents = ["GPTBot", "ClaudeBot", "CCBot", "PerplexityBot", "Bytespider", "Amazonbot"]
        .iter()
        .map(|t| ((*t).to_owned(), Purpose::TrainAi))
        .collect();
    let signer = WebBotAuthSigner::from_seed(&[7; 32]);
    config.crawlers = vec![CrawlerConfig {
        name: "Signer".into(),
        agent: "SignerBot".into(),
        kind: CrawlerKind::Ai,
        ranges: vec![],
        keys: vec![signer.public_key()],
    }];
    let resolver = Resolver::new(config);
    let (id, set_cookie) = resolver.new_cookie();
    let id_cookie = set_cookie.split(';').next().unwrap().to_owned();
    let pass = resolver.issue_pass(id, 1_765_000_000);
    let pass_cookie = pass.split(';').next().unwrap();

    let browser = browser_request(&format!("{id_cookie}; {pass_cookie}; theme=dark"));
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let check = resolver.identify(peer, &browser, None, 1_765_000_000);
    assert!(check.cookie.is_some() && check.passed_challenge && check.network != Default::default());
    let identifies = rate(Duration::from_secs(2), |_| {
        black_box(resolver.identify(peer, black_box(&browser), None, 1_765_000_000));
    });
    println!("identify, browser with cookie and pass: {:.0}/s ({:.2} us each)", identifies, 1e6 / identifies);

    let fresh = browser_request("theme=dark");
    let identifies = rate(Duration::from_secs(2), |_| {
        black_box(resolver.identify(peer, black_box(&fresh), None, 1_765_000_000));
    });
    println!("identify, browser without cookies: {:.0}/s ({:.2} us each)", identifies, 1e6 / identifies);

    let mut signed = HeaderMap::new();
    signed.append("host", HeaderValue::from_static("tollgate.example"));
    signed.append("user-agent", HeaderValue::from_static("SignerBot/1.0"));
    let agent = "\"https://signer.example/.well-known/http-message-signatures-directory\"";
    for (name, value) in signer.sign("tollgate.example", agent, 1_765_000_000, 1_765_000_300) {
        signed.append(name, HeaderValue::from_str(&value).unwrap());
    }
    assert!(resolver.identify(peer, &signed, None, 1_765_000_000).verified.is_some());
    let identifies = rate(Duration::from_secs(2), |_| {
        black_box(resolver.identify(peer, black_box(&signed), None, 1_765_000_000));
    });
    println!("identify, Web Bot Auth signed crawler: {:.0}/s ({:.2} us each)", identifies, 1e6 / identifies);
}

/// Calls `f` for about `time`, and returns calls per second.
fn rate(time: Duration, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < time {
        for _ in 0..1000 {
            f(n);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn xorshift(mut x: u32) -> u32 {
    x = x.wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
    x ^= x << 13;
    x ^= x >> 17;
    x ^ (x << 5)
}

/// 100,000 rows: /24s spread over the address space, every tenth inside a
/// /16 of its own row, like a routing table's nesting.
fn prefix_table() -> PrefixTable {
    let mut text = String::from("prefix,asn,class\n");
    let mut seen = std::collections::HashSet::new();
    let mut wide_seen = std::collections::HashSet::new();
    let classes = ["residential", "mobile", "hosting", "vpn"];
    let mut i = 0u32;
    let mut rows = 0;
    while rows < ROWS {
        i += 1;
        let block = xorshift(i) & 0xffff_ff00;
        if !seen.insert(block) {
            continue;
        }
        let ip = std::net::Ipv4Addr::from(block);
        writeln!(text, "{ip}/24,{},{}", 64_000 + i % 5000, classes[(i % 4) as usize]).unwrap();
        rows += 1;
        if i.is_multiple_of(10) && rows < ROWS && wide_seen.insert(block & 0xffff_0000) {
            let wide = std::net::Ipv4Addr::from(block & 0xffff_0000);
            writeln!(text, "{wide}/16,{},hosting", 65_000 + i % 500).unwrap();
            rows += 1;
        }
    }
    PrefixTable::parse(&text, "generated").unwrap()
}

/// An address in the table's first row.
fn client() -> String {
    std::net::Ipv4Addr::from((xorshift(1) & 0xffff_ff00) | 7).to_string()
}

fn browser_request(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let pairs = [
        ("host", "tollgate.example"),
        ("connection", "keep-alive"),
        ("sec-ch-ua", "\"Chromium\";v=\"142\", \"Google Chrome\";v=\"142\", \"Not_A Brand\";v=\"99\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Windows\""),
        ("upgrade-insecure-requests", "1"),
        (
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
        ),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
        ("sec-fetch-site", "none"),
        ("sec-fetch-mode", "navigate"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
        ("cookie", cookie),
    ];
    for (name, value) in pairs {
        h.append(name, HeaderValue::from_str(value).unwrap());
    }
    h.append("x-forwarded-for", HeaderValue::from_str(&client()).unwrap());
    h
}
