//! Every signal on its own: each test drives one rule over its threshold
//! and checks that it fires then, and not before or for the look-alike that
//! must not trip it.

use std::net::IpAddr;
use std::sync::Arc;

use tollgate_domain::{AccountId, AppId, ClientKind, GuardAction, KeyId, NetClass, PostId, Purpose, Resource, Signal};
use tollgate_guard::{
    Access, ActorId, Basis, Client, Guard, LocalCounters, LocalSizes, Observation, Prefix, QuotaUse, SignalConfig,
    Verified, VerifiedBy,
};

/// Noon of a UTC day.
const T0: u64 = 1_764_892_800 + 43_200;
const DAY: u64 = 86_400;

fn guard_with(config: SignalConfig) -> Guard {
    let sizes = LocalSizes {
        sketch_lines_log2: 14,
        distinct_slots_log2: 6,
        flag_buckets_log2: 10,
        sight_buckets_log2: 12,
        value_entries_log2: 12,
    };
    Guard::new(config, Arc::new(LocalCounters::new(sizes, 7)), [9; 32])
}

fn guard() -> Guard {
    guard_with(SignalConfig::default())
}

fn client(ip: &str, network: NetClass) -> Client {
    let ip: IpAddr = ip.parse().unwrap();
    Client {
        ip,
        prefix: Prefix::of(ip),
        asn: Some(64_500),
        network,
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36".into(),
        agent_family: "chrome".into(),
        agent_version: Some(131),
        stale_agent: false,
        declared_ai: None,
        kind: ClientKind::Browser,
        verified: None,
        key: None,
        cookie: None,
        passed_challenge: false,
        fingerprint: 0xc0ffee,
    }
}

fn keyed(ip: &str, app: u64, key: u64) -> Client {
    let mut c = client(ip, NetClass::Hosting);
    c.key = Some((AppId(app), KeyId(key)));
    c.kind = ClientKind::App;
    c.fingerprint = 0x5eed;
    c
}

fn v4(a: u32) -> String {
    IpAddr::from(std::net::Ipv4Addr::from(a)).to_string()
}

/// Moves `c` to the IPv4 address `a`, with its prefix.
fn move_to(c: &mut Client, a: u32) {
    c.ip = IpAddr::from(std::net::Ipv4Addr::from(a));
    c.prefix = Prefix::of(c.ip);
}

fn fires(obs: Observation, s: Signal) -> bool {
    obs.signals.contains(s)
}

const PLAIN: Access = Access { robots_fetch: false, disallowed: false, hidden_link: false, quota: None };

#[test]
fn rate_key_fires_over_the_keys_rate() {
    // Off by default (a key's rate is its quota, which the API enforces)...
    let off = guard();
    let c = keyed("192.0.2.1", 1, 10);
    for i in 0..700 {
        assert!(!fires(off.observe(&c, &PLAIN, T0 + i % 60), Signal::RateKey), "request {i}");
    }
    // ... and a ceiling of the operator's when set.
    let g = guard_with(SignalConfig { rate_key_per_minute: 600, ..SignalConfig::default() });
    for i in 0..600 {
        assert!(!fires(g.observe(&c, &PLAIN, T0 + i % 60), Signal::RateKey), "request {i}");
    }
    assert!(fires(g.observe(&c, &PLAIN, T0 + 59), Signal::RateKey));
    // Another key of another app, at the same time, is apart.
    assert!(!fires(g.observe(&keyed("192.0.2.1", 2, 11), &PLAIN, T0 + 59), Signal::RateKey));
    // Two minutes later the rate has fallen back.
    assert!(!fires(g.observe(&c, &PLAIN, T0 + 180), Signal::RateKey));
}

#[test]
fn rate_ip_fires_for_one_hosting_address_but_not_a_mobile_nat() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    for i in 0..120 {
        c.cookie = Some(i);
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::RateIp));
    }
    c.cookie = Some(1000);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::RateIp));

    // 2,000 people a minute behind one carrier-grade NAT address.
    let mut m = client("198.51.100.1", NetClass::Mobile);
    for i in 0..2_000 {
        m.cookie = Some(10_000 + i);
        let obs = g.observe(&m, &PLAIN, T0 + i % 60);
        for s in [Signal::RateIp, Signal::RatePrefix, Signal::RateAsn, Signal::RateActor] {
            assert!(!fires(obs, s), "{s} for a person behind a mobile NAT");
        }
    }
}

#[test]
fn rate_ip_counts_an_ipv6_slash_64_as_one_address() {
    let g = guard();
    for i in 0..120u32 {
        let mut c = client(&format!("2001:db8:1:2::{i:x}"), NetClass::Hosting);
        c.cookie = Some(u64::from(i));
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::RateIp), "request {i}");
    }
    let c = client("2001:db8:1:2:ffff::1", NetClass::Hosting);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::RateIp));
    let next = client("2001:db8:1:3::1", NetClass::Hosting);
    assert!(!fires(g.observe(&next, &PLAIN, T0), Signal::RateIp), "the next /64 is another address");
}

#[test]
fn rate_prefix_fires_for_a_hosting_slash_24() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(192, 0, 2, 0));
    for i in 0..600u32 {
        let mut c = client(&v4(base + i % 200), NetClass::Hosting);
        c.cookie = Some(u64::from(i));
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::RatePrefix), "request {i}");
    }
    let c = client(&v4(base + 201), NetClass::Hosting);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::RatePrefix));
    // A residential /24 has twice the room.
    let other = u32::from(std::net::Ipv4Addr::new(203, 0, 113, 0));
    for i in 0..700u32 {
        let mut c = client(&v4(other + i % 200), NetClass::Residential);
        c.cookie = Some(u64::from(i) + 5_000);
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::RatePrefix));
    }
}

#[test]
fn rate_asn_fires_for_a_hosting_network() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    for i in 0..6_000u32 {
        let mut c = client(&v4(base + i * 256), NetClass::Hosting);
        c.cookie = Some(u64::from(i));
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::RateAsn), "request {i}");
    }
    let c = client(&v4(base + 7), NetClass::Hosting);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::RateAsn));
    let mut other = c.clone();
    other.asn = Some(64_501);
    assert!(!fires(g.observe(&other, &PLAIN, T0), Signal::RateAsn));
}

#[test]
fn rate_actor_fires_for_one_cookie_over_many_addresses() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    for i in 0..120u32 {
        let mut c = client(&v4(base + i * 256), NetClass::Residential);
        c.cookie = Some(77);
        let obs = g.observe(&c, &PLAIN, T0);
        assert!(!fires(obs, Signal::RateActor), "request {i}");
    }
    let mut c = client("203.0.113.5", NetClass::Residential);
    c.cookie = Some(77);
    let obs = g.observe(&c, &PLAIN, T0);
    assert!(fires(obs, Signal::RateActor));
    assert!(!fires(obs, Signal::RateIp));
}

#[test]
fn robots_ignored_fires_after_a_fetch_then_a_disallowed_path() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let disallowed = Access { disallowed: true, ..PLAIN };
    assert!(!fires(g.observe(&c, &disallowed, T0), Signal::RobotsIgnored), "it never read robots.txt");
    let fetch = Access { robots_fetch: true, ..PLAIN };
    assert!(!fires(g.observe(&c, &fetch, T0 + 1), Signal::RobotsIgnored));
    assert!(!fires(g.observe(&c, &PLAIN, T0 + 2), Signal::RobotsIgnored), "allowed paths are fine");
    assert!(fires(g.observe(&c, &disallowed, T0 + 3), Signal::RobotsIgnored));
    assert!(fires(g.observe(&c, &PLAIN, T0 + 4), Signal::RobotsIgnored), "the actor stays marked");
    assert!(fires(g.observe(&c, &PLAIN, T0 + DAY), Signal::RobotsIgnored), "into the next day");
    let mut other = c.clone();
    other.cookie = Some(2);
    assert!(!fires(g.observe(&other, &disallowed, T0 + 5), Signal::RobotsIgnored));
}

#[test]
fn robots_txt_read_before_the_cookie_counts_for_the_cookies_actor() {
    // A crawler without cookie reads robots.txt and is given its cookie
    // with the answer; it keeps it, and asks for a disallowed path.
    let g = guard();
    let first = client("192.0.2.1", NetClass::Hosting);
    let fetch = Access { robots_fetch: true, ..PLAIN };
    g.observe(&first, &fetch, T0);
    g.cookie_issued(&fetch, 7, T0);
    let mut kept = first.clone();
    kept.cookie = Some(7);
    let disallowed = Access { disallowed: true, ..PLAIN };
    assert!(fires(g.observe(&kept, &disallowed, T0 + 1), Signal::RobotsIgnored));
    // A cookie given with any other answer carries nothing.
    g.cookie_issued(&PLAIN, 8, T0);
    let mut other = first.clone();
    other.cookie = Some(8);
    assert!(!fires(g.observe(&other, &disallowed, T0 + 1), Signal::RobotsIgnored));
}

#[test]
fn hidden_link_fires_for_the_actor_that_follows_it() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::HiddenLink));
    assert!(fires(g.observe(&c, &Access { hidden_link: true, ..PLAIN }, T0 + 1), Signal::HiddenLink));
    assert!(fires(g.observe(&c, &PLAIN, T0 + 2), Signal::HiddenLink));
    c.cookie = Some(2);
    assert!(!fires(g.observe(&c, &PLAIN, T0 + 2), Signal::HiddenLink));
}

#[test]
fn a_followed_trap_marks_the_actor_the_page_was_served_to() {
    let g = guard();
    let mut reader = client("192.0.2.1", NetClass::Hosting);
    reader.cookie = Some(1);
    let page = g.observe(&reader, &PLAIN, T0);
    let token = g.trap_token(page.actor, 42);
    assert!(!fires(g.observe(&reader, &PLAIN, T0 + 1), Signal::HiddenLink));
    assert_eq!(g.trap_followed("00", T0 + 2), None);
    assert!(!fires(g.observe(&reader, &PLAIN, T0 + 2), Signal::HiddenLink), "a bad token marks nobody");
    assert_eq!(g.trap_followed(&token, T0 + 3), Some(page.actor));
    assert!(fires(g.observe(&reader, &PLAIN, T0 + 4), Signal::HiddenLink));
}

#[test]
fn the_guard_is_shared_between_threads() {
    fn shared<T: Send + Sync>(_: &T) {}
    let g = Arc::new(guard());
    shared(&*g);
    // Four actors, one per thread, each over the actor rate; counts of one
    // key from several threads at once may lose an add (docs/guard.md), so
    // each thread counts its own actor.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                let mut c = client("192.0.2.1", NetClass::Hosting);
                c.cookie = Some(100 + t);
                for i in 0..121 {
                    let obs = g.observe(&c, &PLAIN, T0);
                    g.served(&obs, &[PostId(t * 1_000 + i)], &[AccountId(1)], &[], 0, T0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..4 {
        let mut c = client("192.0.2.1", NetClass::Hosting);
        c.cookie = Some(100 + t);
        assert!(fires(g.observe(&c, &PLAIN, T0), Signal::RateActor), "actor {t}");
    }
    let mut other = client("192.0.2.1", NetClass::Hosting);
    other.cookie = Some(5);
    assert!(!fires(g.observe(&other, &PLAIN, T0), Signal::RateActor));
}

#[test]
fn trap_tokens_are_unique_and_unforgeable() {
    let g = guard();
    let a = ActorId(0x1234);
    let t1 = g.trap_token(a, 1);
    let t2 = g.trap_token(a, 2);
    assert_ne!(t1, t2);
    assert_eq!(t1.len(), 64);
    assert_eq!(g.check_trap(&t1), Some(a));
    assert_eq!(g.check_trap(&t2), Some(a));
    // Another actor's id with this token's tag, a flipped bit, another
    // guard's token, and junk are refused.
    let mut forged = t1.clone();
    forged.replace_range(0..16, &format!("{:016x}", 0x9999u64));
    assert_eq!(g.check_trap(&forged), None);
    let mut flipped = t1.clone().into_bytes();
    flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
    assert_eq!(g.check_trap(std::str::from_utf8(&flipped).unwrap()), None);
    let other = Guard::new(SignalConfig::default(), Arc::new(LocalCounters::new(LocalSizes::default(), 1)), [1; 32]);
    assert_eq!(g.check_trap(&other.trap_token(a, 1)), None);
    assert_eq!(g.check_trap("not-a-token"), None);
    assert_eq!(g.check_trap(""), None);
}

/// `n` posts served to `obs`'s actor in batches of 100, ids from `first`.
fn serve(g: &Guard, obs: &Observation, first: u64, n: u64, authors_mod: u64, now: u64) {
    let posts: Vec<PostId> = (first..first + n).map(PostId).collect();
    let authors: Vec<AccountId> = (first..first + n).map(|i| AccountId(i % authors_mod)).collect();
    for (p, a) in posts.chunks(100).zip(authors.chunks(100)) {
        g.served(obs, p, a, &[], 0, now);
    }
}

#[test]
fn breadth_fires_over_distinct_posts_per_day() {
    // The long-tail rule off, to see this one alone.
    let g = guard_with(SignalConfig { breadth_tail_percent: 101, ..SignalConfig::default() });
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    serve(&g, &obs, 1, 15_000, 10, T0);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Breadth));
    // The same posts again do not add to its breadth.
    serve(&g, &obs, 1, 15_000, 10, T0);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Breadth));
    serve(&g, &obs, 100_000, 8_000, 10, T0);
    assert!(fires(g.observe(&c, &PLAIN, T0 + 1), Signal::Breadth));
}

#[test]
fn breadth_fires_over_distinct_authors_per_day() {
    let g = guard_with(SignalConfig { breadth_tail_percent: 101, ..SignalConfig::default() });
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    serve(&g, &obs, 1, 10_000, 4_500, T0);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Breadth));
    serve(&g, &obs, 10_001, 2_000, 1_000_000, T0);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Breadth));
}

#[test]
fn breadth_fires_for_a_long_tail() {
    let g = guard();
    let reader = |cookie: u64| {
        let mut c = client("192.0.2.1", NetClass::Residential);
        c.cookie = Some(cookie);
        (g.observe(&c, &PLAIN, T0), c)
    };
    // Three people read posts 1..2,500 first: these are not the tail.
    for person in 0..3 {
        let (obs, _) = reader(100 + person);
        serve(&g, &obs, 1, 2_500, 1_000_000, T0);
    }
    let (popular, pc) = reader(1);
    serve(&g, &popular, 1, 2_500, 1_000_000, T0);
    assert!(!fires(g.observe(&pc, &PLAIN, T0), Signal::Breadth), "popular posts are no tail");
    // An actor reading posts nobody else reads.
    let (harvester, hc) = reader(2);
    serve(&g, &harvester, 50_000, 1_900, 1_000_000, T0);
    assert!(!fires(g.observe(&hc, &PLAIN, T0), Signal::Breadth), "under the tail's minimum");
    serve(&g, &harvester, 60_000, 200, 1_000_000, T0);
    assert!(fires(g.observe(&hc, &PLAIN, T0), Signal::Breadth));
}

#[test]
fn enumeration_fires_on_many_misses() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    // Random ids, far apart (no walk), none existing.
    let ids: Vec<u64> = (0..300u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1).collect();
    for id in &ids[..199] {
        g.served(&obs, &[], &[], &[*id], 0, T0);
    }
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration));
    g.served(&obs, &[], &[], &[ids[199]], 0, T0);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration));
    // As many lookups that mostly exist are no enumeration.
    let mut d = c.clone();
    d.cookie = Some(2);
    let obs = g.observe(&d, &PLAIN, T0);
    for id in &ids {
        g.served(&obs, &[PostId(*id)], &[], &[*id], 1, T0);
    }
    assert!(!fires(g.observe(&d, &PLAIN, T0), Signal::Enumeration));
}

#[test]
fn enumeration_fires_on_a_monotone_walk() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    let start = 1_800_000_000_000_000_000u64;
    for i in 0..50u64 {
        g.served(&obs, &[PostId(start + i * 7)], &[], &[start + i * 7], 1, T0);
    }
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration), "50 lookups are 49 steps");
    g.served(&obs, &[PostId(start + 700)], &[], &[start + 700], 1, T0);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration));
}

/// Post ids carry a timestamp: consecutive posts' ids are billions apart.
/// A script walking them in order (down here) is a walk all the same; a
/// reader asking for posts in no order is not, nor is an app whose batches
/// of ids are sorted.
#[test]
fn enumeration_fires_on_a_walk_in_order_of_ids_far_apart() {
    let g = guard();
    let gap = 6_000_000_000u64;
    let start = 1_900_000_000_000_000_000u64;
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    // The first step sets the direction; the 50 after it go on in it.
    for i in 0..52u64 {
        let id = start - i * gap - (i % 3) * 1_000_000;
        g.served(&obs, &[PostId(id)], &[], &[id], 1, T0);
        if i == 50 {
            assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration), "49 steps");
        }
    }
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Enumeration));

    // A reader: the same ids in no order.
    let mut reader = client("198.51.100.7", NetClass::Residential);
    reader.cookie = Some(2);
    let obs = g.observe(&reader, &PLAIN, T0);
    for i in 0..1_000u64 {
        let id = start - (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 200_000) * gap;
        g.served(&obs, &[PostId(id)], &[], &[id], 1, T0);
    }
    assert!(!fires(g.observe(&reader, &PLAIN, T0), Signal::Enumeration));

    // An app hydrating timelines: sorted batches of ids, the batches in no order.
    let app = keyed("203.0.113.5", 40, 41);
    let obs = g.observe(&app, &PLAIN, T0);
    for b in 0..200u64 {
        let top = start - (b.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 20_000) * 10 * gap;
        let ids: Vec<u64> = (0..10).map(|i| top - i * gap).collect();
        let posts: Vec<PostId> = ids.iter().map(|i| PostId(*i)).collect();
        g.served(&obs, &posts, &[], &ids, 10, T0);
    }
    assert!(!fires(g.observe(&app, &PLAIN, T0), Signal::Enumeration));
}

#[test]
fn declared_ai_agents_fire_on_disallowed_content() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.user_agent = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)".into();
    c.declared_ai = Some(("GPTBot".into(), Purpose::TrainGenai));
    c.kind = ClientKind::AiCrawler;
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::DeclaredAiAgent), "allowed content");
    assert!(fires(g.observe(&c, &Access { disallowed: true, ..PLAIN }, T0), Signal::DeclaredAiAgent));
    let person = client("192.0.2.2", NetClass::Hosting);
    assert!(!fires(g.observe(&person, &Access { disallowed: true, ..PLAIN }, T0), Signal::DeclaredAiAgent));
}

#[test]
fn stale_browsers_fire() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Residential);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::StaleBrowser));
    c.stale_agent = true;
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::StaleBrowser));
}

#[test]
fn a_fingerprint_whose_cookies_never_come_back_is_a_fleet() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    // 50 clients on 50 networks, 11 requests each, never a cookie back:
    // the first request of each is no evidence, the other 10 are.
    let mut fleet = client("10.0.0.1", NetClass::Residential);
    fleet.fingerprint = 0xf1ee7;
    let mut first = None;
    for round in 0..11u64 {
        for i in 0..50u32 {
            move_to(&mut fleet, base + i * 256);
            let obs = g.observe(&fleet, &PLAIN, T0 + round);
            if round * 50 + u64::from(i) < 549 {
                assert!(!fires(obs, Signal::CookiesNeverReused), "round {round}, client {i}");
            }
            first.get_or_insert(obs.actor);
        }
    }
    let obs = g.observe(&fleet, &PLAIN, T0 + 600);
    assert!(fires(obs, Signal::CookiesNeverReused));
    assert_ne!(obs.actor, first.unwrap(), "the fleet is now one actor, across networks");
    assert_eq!(obs.kind.basis(), [Basis::Fingerprint]);
    let again = g.observe(&client("172.16.0.1", NetClass::Residential), &PLAIN, T0);
    assert!(!fires(again, Signal::CookiesNeverReused), "another fingerprint");

    // People with a popular browser keep their cookies: as many requests,
    // half of them with a cookie, are no fleet.
    let mut person = client("10.0.0.1", NetClass::Residential);
    for round in 0..2u32 {
        for i in 0..1_000u32 {
            move_to(&mut person, base + i * 256);
            person.cookie = (round == 1).then_some(u64::from(i));
            assert!(!fires(g.observe(&person, &PLAIN, T0), Signal::CookiesNeverReused), "request {i}");
        }
    }
}

#[test]
fn many_first_visits_are_no_fleet() {
    // 5,000 people reading one page each, from their own addresses, with
    // one browser: none could have sent a cookie back.
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    let mut person = client("10.0.0.1", NetClass::Mobile);
    for i in 0..5_000u32 {
        move_to(&mut person, base + i * 3);
        let obs = g.observe(&person, &PLAIN, T0 + u64::from(i % 600));
        assert!(!fires(obs, Signal::CookiesNeverReused), "visitor {i}");
        assert_eq!(obs.kind.basis(), [Basis::Fingerprint, Basis::Ip], "visitor {i}");
    }
}

/// A fleet in data centres sharing a popular browser's fingerprint with
/// people: it is a fleet after a few requests there, and makes no suspects of
/// the people with that browser at home or on a VPN, whose cookies come back.
#[test]
fn a_fleet_in_data_centres_is_told_apart_from_people_with_its_browser() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(34, 64, 0, 0));
    let mut fleet = client("34.64.0.1", NetClass::Hosting);
    for i in 0..9u32 {
        move_to(&mut fleet, base + i * 7);
        assert!(!fires(g.observe(&fleet, &PLAIN, T0), Signal::CookiesNeverReused), "request {i}");
    }
    let obs = g.observe(&fleet, &PLAIN, T0);
    assert!(fires(obs, Signal::CookiesNeverReused), "ten requests from data centres, no cookie back");
    for i in 0..2_000u32 {
        move_to(&mut fleet, base + i * 7);
        assert!(fires(g.observe(&fleet, &PLAIN, T0 + 1), Signal::CookiesNeverReused));
    }
    // People with the same browser at home and on a VPN: a first request
    // without a cookie, then their cookie back.
    for network in [NetClass::Residential, NetClass::Vpn, NetClass::Mobile] {
        let mut person = client("185.220.0.9", network);
        for i in 0..40u64 {
            person.cookie = (i % 20 != 0).then_some(1_000 + i / 20);
            let obs = g.observe(&person, &PLAIN, T0 + 2);
            assert!(!fires(obs, Signal::CookiesNeverReused), "{network:?} request {i}");
        }
    }
    // People on a hosting network (a cloud desktop) with their cookie are
    // their own actors, never the fleet.
    let mut person = client("34.64.9.9", NetClass::Hosting);
    person.cookie = Some(77);
    assert!(!fires(g.observe(&person, &PLAIN, T0 + 3), Signal::CookiesNeverReused));
}

/// A client passing for a person's first visit at every request: one
/// browser fingerprint on one home address that never sends back the cookie
/// it was given. The people sharing its browser elsewhere keep theirs, so the
/// fingerprint is no fleet; the address is where it shows.
#[test]
fn an_address_that_drops_its_cookies_fires_and_people_behind_one_do_not() {
    let g = guard();
    let home = client("203.0.113.9", NetClass::Residential);
    // Its first request could not have returned a cookie; the next 19 could
    // have (10 a home address, times 2) and did not.
    for i in 0..20 {
        assert!(!fires(g.observe(&home, &PLAIN, T0), Signal::CookiesDropped), "request {i}");
    }
    let obs = g.observe(&home, &PLAIN, T0);
    assert!(fires(obs, Signal::CookiesDropped), "20 requests that could have returned a cookie, none did");
    assert!(!fires(obs, Signal::CookiesNeverReused), "the fingerprint is no fleet");
    // Not on another address, nor for another fingerprint on this one.
    assert!(!fires(g.observe(&client("203.0.113.10", NetClass::Residential), &PLAIN, T0), Signal::CookiesDropped));
    let mut other = home.clone();
    other.fingerprint = 0xbeef;
    assert!(!fires(g.observe(&other, &PLAIN, T0), Signal::CookiesDropped));
    // Nor once the window has passed.
    assert!(!fires(g.observe(&home, &PLAIN, T0 + 2 * 3_600), Signal::CookiesDropped));

    // A household: five people, each a first visit, then their cookie back.
    let house = client("203.0.113.20", NetClass::Residential);
    for person in 0..5u64 {
        for i in 0..30 {
            let mut c = house.clone();
            c.cookie = (i > 0).then_some(500 + person);
            assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::CookiesDropped), "person {person}, request {i}");
        }
    }
    // A carrier address: 300 people reading one page each (a link shared
    // widely), the same browser, none with a cookie yet: under the mobile
    // scale (10 times 32).
    let carrier = client("198.18.0.1", NetClass::Mobile);
    for i in 0..300 {
        assert!(!fires(g.observe(&carrier, &PLAIN, T0), Signal::CookiesDropped), "reader {i}");
    }
    // And 2,000 more, each reading on with their cookie: no share of them
    // drops it.
    for person in 0..2_000u64 {
        for i in 0..3 {
            let mut c = carrier.clone();
            c.cookie = (i > 0).then_some(10_000 + person);
            assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::CookiesDropped), "person {person}, request {i}");
        }
    }
    // Nor an app's key, nor a tool (an HTTP library is not expected to keep
    // cookies; its fleets are judged by their fingerprint), nor a user agent
    // that names no browser (a script the guard cannot place).
    let app = keyed("203.0.113.30", 1, 1);
    let mut tool = client("203.0.113.31", NetClass::Residential);
    tool.kind = ClientKind::Tool;
    let mut script = client("203.0.113.32", NetClass::Residential);
    script.user_agent = "schemathesis/4.1".into();
    script.agent_family = String::new();
    script.agent_version = None;
    for _ in 0..100 {
        assert!(!fires(g.observe(&app, &PLAIN, T0), Signal::CookiesDropped));
        assert!(!fires(g.observe(&tool, &PLAIN, T0), Signal::CookiesDropped));
        assert!(!fires(g.observe(&script, &PLAIN, T0), Signal::CookiesDropped));
    }
}

#[test]
fn a_key_used_from_many_networks_fires() {
    let g = guard();
    let base = u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0));
    for i in 0..50u32 {
        let c = keyed(&v4(base + i * 256), 1, 10);
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::KeyManyNetworks), "network {i}");
        // The same network again does not count twice.
        assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::KeyManyNetworks));
    }
    assert!(fires(g.observe(&keyed(&v4(base + 50 * 256), 1, 10), &PLAIN, T0), Signal::KeyManyNetworks));
    assert!(!fires(g.observe(&keyed(&v4(base), 1, 11), &PLAIN, T0), Signal::KeyManyNetworks));
}

#[test]
fn key_farm_fires_for_many_keys_of_one_app() {
    let g = guard();
    for key in 0..4 {
        assert!(!fires(g.observe(&keyed("192.0.2.1", 1, key), &PLAIN, T0), Signal::KeyFarm));
        assert!(!fires(g.observe(&keyed("192.0.2.1", 1, key), &PLAIN, T0), Signal::KeyFarm));
    }
    assert!(fires(g.observe(&keyed("192.0.2.1", 1, 4), &PLAIN, T0), Signal::KeyFarm));
}

#[test]
fn key_farm_fires_for_apps_sharing_fingerprint_and_prefix() {
    // By default a few apps from one program on one network are not a farm
    // (an integrator's, an office's); ten are.
    let default = guard();
    for app in 1..10 {
        assert!(!fires(default.observe(&keyed("192.0.2.1", app, app), &PLAIN, T0), Signal::KeyFarm), "app {app}");
    }
    assert!(fires(default.observe(&keyed("192.0.2.1", 10, 10), &PLAIN, T0), Signal::KeyFarm));
    let g = guard_with(SignalConfig { key_farm_apps_per_group: 3, ..SignalConfig::default() });
    assert!(!fires(g.observe(&keyed("192.0.2.1", 1, 1), &PLAIN, T0), Signal::KeyFarm));
    assert!(!fires(g.observe(&keyed("192.0.2.2", 2, 2), &PLAIN, T0), Signal::KeyFarm));
    // A third app elsewhere, or with another fingerprint, is not in it.
    assert!(!fires(g.observe(&keyed("203.0.113.1", 3, 3), &PLAIN, T0), Signal::KeyFarm));
    let mut other = keyed("192.0.2.3", 4, 4);
    other.fingerprint = 0xabc;
    assert!(!fires(g.observe(&other, &PLAIN, T0), Signal::KeyFarm));
    assert!(fires(g.observe(&keyed("192.0.2.4", 5, 5), &PLAIN, T0), Signal::KeyFarm));
}

#[test]
fn key_farm_fires_for_apps_walking_ids_from_one_group() {
    let g = guard_with(SignalConfig { key_farm_apps_per_group: 100, ..SignalConfig::default() });
    let a = keyed("192.0.2.1", 1, 1);
    let b = keyed("192.0.2.2", 2, 2);
    let oa = g.observe(&a, &PLAIN, T0);
    let ob = g.observe(&b, &PLAIN, T0);
    // App 1 walks the low half, app 2 the high half.
    g.served(&oa, &[], &[], &[100, 101, 102], 3, T0);
    assert!(!fires(g.observe(&a, &PLAIN, T0), Signal::KeyFarm));
    g.served(&ob, &[], &[], &[900_000, 900_001], 2, T0);
    assert!(fires(g.observe(&b, &PLAIN, T0), Signal::KeyFarm));
    assert!(!fires(g.observe(&a, &PLAIN, T0), Signal::KeyFarm), "marked from its next walk on");
    g.served(&oa, &[], &[], &[103], 1, T0);
    assert!(fires(g.observe(&a, &PLAIN, T0), Signal::KeyFarm));
}

#[test]
fn quota_pacing_fires_after_days_near_the_quota() {
    let g = guard();
    let c = keyed("192.0.2.1", 1, 10);
    let near = Access { quota: Some(QuotaUse { used: 9_100, limit: 10_000 }), ..PLAIN };
    let low = Access { quota: Some(QuotaUse { used: 5_000, limit: 10_000 }), ..PLAIN };
    assert!(!fires(g.observe(&c, &near, T0), Signal::QuotaPacing));
    assert!(!fires(g.observe(&c, &near, T0 + DAY), Signal::QuotaPacing));
    assert!(!fires(g.observe(&c, &low, T0 + 2 * DAY), Signal::QuotaPacing));
    assert!(fires(g.observe(&c, &near, T0 + 2 * DAY), Signal::QuotaPacing));
    assert!(fires(g.observe(&c, &low, T0 + 2 * DAY + 60), Signal::QuotaPacing), "for the rest of the day");
    // A key with a day missed starts over.
    let d = keyed("192.0.2.1", 1, 11);
    assert!(!fires(g.observe(&d, &near, T0), Signal::QuotaPacing));
    assert!(!fires(g.observe(&d, &near, T0 + DAY), Signal::QuotaPacing));
    assert!(!fires(g.observe(&d, &near, T0 + 3 * DAY), Signal::QuotaPacing));
}

#[test]
fn volume_fires_over_a_million_posts_a_day() {
    assert_eq!(SignalConfig::default().volume_posts_per_day, 1_000_000);
    // Same rule, a smaller threshold; the tail and breadth rules out of the way.
    let config = SignalConfig {
        volume_posts_per_day: 1_000,
        breadth_tail_percent: 101,
        breadth_gate_posts: u32::MAX,
        ..SignalConfig::default()
    };
    let g = guard_with(config);
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.cookie = Some(1);
    let obs = g.observe(&c, &PLAIN, T0);
    serve(&g, &obs, 1, 1_000, 10, T0);
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Volume));
    serve(&g, &obs, 1, 1, 10, T0);
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Volume));
}

#[test]
fn impersonating_a_verifying_crawler_fires() {
    let g = guard();
    let mut c = client("192.0.2.1", NetClass::Hosting);
    c.user_agent = "Mozilla/5.0 (compatible; googlebot/2.1; +http://www.google.com/bot.html)".into();
    assert!(fires(g.observe(&c, &PLAIN, T0), Signal::Impersonation));
    c.verified = Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::IpRange });
    assert!(!fires(g.observe(&c, &PLAIN, T0), Signal::Impersonation));
    let person = client("192.0.2.1", NetClass::Hosting);
    assert!(!fires(g.observe(&person, &PLAIN, T0), Signal::Impersonation));
}

#[test]
fn class_and_facts_carry_the_observation() {
    let g = guard();
    let mut c = client("66.249.66.1", NetClass::Hosting);
    c.verified = Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::WebBotAuth });
    c.kind = ClientKind::VerifiedSearch;
    c.stale_agent = true;
    let obs = g.observe(&c, &PLAIN, T0);
    let class = obs.class(&c, Resource::Content, true, true);
    assert_eq!(class.kind, ClientKind::VerifiedSearch);
    assert_eq!(class.network, NetClass::Hosting);
    assert!(class.disallowed && class.offers_price && !class.passed_challenge);
    let facts = obs.facts(&c, "GET /alice/status/5", GuardAction::Charge, Some("pay".into()), Some("USD 0.01".into()));
    assert_eq!(facts.basis, ["web-bot-auth:Googlebot"]);
    assert_eq!(facts.action, "charge");
    assert_eq!(facts.prefix, "66.249.66.0/24");
    assert_eq!(facts.network.as_deref(), Some("hosting"));
    assert_eq!(facts.charged.as_deref(), Some("USD 0.01"));
    assert_eq!(facts.actor, obs.actor.to_string());
    assert!(facts.signals.is_empty(), "a verified crawler's browser version is not a stale browser");
}
