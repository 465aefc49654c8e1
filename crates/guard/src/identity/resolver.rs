//! The resolver: one request in, one `Client` out.
//!
//! Everything the resolver needs is built once from `IdentityConfig`
//! (flattened prefix table, token sets, keyed HMAC, keys by thumbprint), so
//! that `identify` does no parsing of configuration and allocates only the
//! strings `Client` holds.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::USER_AGENT;
use http::{HeaderMap, HeaderName};
use tollgate_domain::{AppId, ClientKind, KeyId, NetClass, Purpose};

use super::agent::{self, AiAgents, Family, StaleAgents, TokenSet};
use super::botauth::{self, Keyring};
use super::cidr::Cidr;
use super::cookies::{self, CookieKeys};
use super::crawlers::{CrawlerConfig, CrawlerKind};
use super::fingerprint::{fingerprint, finish, mix_bytes};
use super::prefixes::PrefixTable;
use super::{Client, Prefix, Verified, VerifiedBy};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");

/// The longest user agent kept (`Client::user_agent`).
pub const MAX_USER_AGENT: usize = 256;

/// The most `X-Forwarded-For` entries walked: more hops than any real
/// chain of proxies has.
const MAX_HOPS: usize = 32;

/// The longest family name taken from a user agent's own word.
const MAX_FAMILY: usize = 32;

/// What the resolver needs to know, from configuration.
#[derive(Clone)]
pub struct IdentityConfig {
    /// Proxies whose `X-Forwarded-For` is believed (IPv4 and IPv6 blocks).
    pub trusted_proxies: Vec<Cidr>,
    /// The operator's prefix table (empty: every network is `unknown`).
    pub prefix_table: PrefixTable,
    /// Crawlers that can verify themselves.
    pub crawlers: Vec<CrawlerConfig>,
    /// The known AI crawlers' user-agent tokens and the use each operator
    /// declares. The caller passes them in (the terms' list of known AI
    /// agents), so that the guard and the terms speak of the same crawlers.
    pub ai_agents: Vec<(String, Purpose)>,
    /// Current browser majors and how far behind counts as stale.
    pub stale_agents: StaleAgents,
    /// The key of the `tg_id` and `tg_pass` cookies. Keep it secret and
    /// stable: a new key ends every client's continuity and pass.
    pub cookie_key: [u8; 32],
}

impl std::fmt::Debug for IdentityConfig {
    /// Everything but the cookie key, which must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("trusted_proxies", &self.trusted_proxies)
            .field("prefix_table", &self.prefix_table)
            .field("crawlers", &self.crawlers)
            .field("ai_agents", &self.ai_agents)
            .field("stale_agents", &self.stale_agents)
            .field("cookie_key", &format_args!(".."))
            .finish()
    }
}

impl IdentityConfig {
    /// No trusted proxies, no prefix table, no crawlers, no AI agents,
    /// default browser currency.
    pub fn new(cookie_key: [u8; 32]) -> IdentityConfig {
        IdentityConfig {
            trusted_proxies: Vec::new(),
            prefix_table: PrefixTable::default(),
            crawlers: Vec::new(),
            ai_agents: Vec::new(),
            stale_agents: StaleAgents::default(),
            cookie_key,
        }
    }
}

/// What `identify` reads from a user-agent string (`Resolver::read_agent`).
#[derive(Debug, Clone)]
struct AgentReading {
    family: String,
    version: Option<u32>,
    stale: bool,
    declared_ai: Option<(String, Purpose)>,
    tool: bool,
}

/// Slots of `AgentMemo`.
const AGENT_SLOTS: usize = 256;

/// The readings of the user-agent strings seen last, one slot per hash, the
/// newest string taking its slot: most requests repeat a string seen moments
/// before (a browser's, a crawler's), and reading one (its family and
/// version, a search for every AI token) costs more than a hash and a
/// comparison, which is all a string that changes every request (a fleet
/// rotating agents) costs besides its reading. A reading depends on the
/// string and the resolver's configuration alone, so a kept one is exact.
#[derive(Debug)]
struct AgentMemo {
    slots: Box<[Mutex<Option<Kept>>]>,
}

/// A string and its reading, in one slot of `AgentMemo`.
type Kept = (Box<str>, AgentReading);

impl AgentMemo {
    fn new() -> AgentMemo {
        AgentMemo { slots: (0..AGENT_SLOTS).map(|_| Mutex::new(None)).collect() }
    }

    fn get_or_read(&self, user_agent: &str, read: impl FnOnce() -> AgentReading) -> AgentReading {
        let slot = &self.slots[finish(mix_bytes(0, user_agent.as_bytes())) as usize % AGENT_SLOTS];
        {
            let held = slot.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((agent, reading)) = held.as_ref()
                && **agent == *user_agent
            {
                return reading.clone();
            }
        }
        let reading = read();
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((user_agent.into(), reading.clone()));
        reading
    }
}

/// Turns requests into `Client`s.
#[derive(Debug)]
pub struct Resolver {
    trusted_proxies: Vec<Cidr>,
    prefixes: PrefixTable,
    crawlers: Vec<CrawlerConfig>,
    crawler_tokens: TokenSet,
    keyring: Keyring,
    ai: AiAgents,
    stale: StaleAgents,
    agents: AgentMemo,
    cookies: CookieKeys,
    /// Cookie ids: a counter under a keyed hash whose key is drawn at
    /// random once (see `new_cookie`).
    ids: AtomicU64,
    id_key: RandomState,
}

impl Resolver {
    pub fn new(config: IdentityConfig) -> Resolver {
        let keys = config.crawlers.iter().enumerate().flat_map(|(i, c)| c.keys.iter().map(move |k| (i, k)));
        Resolver {
            trusted_proxies: config.trusted_proxies,
            prefixes: config.prefix_table,
            crawler_tokens: TokenSet::new(config.crawlers.iter().map(|c| c.agent.as_str())),
            keyring: Keyring::new(keys),
            crawlers: config.crawlers,
            ai: AiAgents::new(config.ai_agents),
            stale: config.stale_agents,
            agents: AgentMemo::new(),
            cookies: CookieKeys::new(&config.cookie_key),
            ids: AtomicU64::new(0),
            id_key: RandomState::new(),
        }
    }

    /// The client behind a request from `peer` with `headers`; `key` is the
    /// API key the request authenticated with, if any (the API has checked
    /// it); `now_unix_secs` dates Web Bot Auth signatures and passes.
    pub fn identify(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
        key: Option<(AppId, KeyId)>,
        now_unix_secs: u64,
    ) -> Client {
        let ip = self.client_ip(peer, headers);
        let net = self.prefixes.lookup(ip);
        let raw_agent = headers.get(USER_AGENT).map_or(&b""[..], |v| v.as_bytes());
        let user_agent = cut_user_agent(raw_agent);
        let reading = self.agents.get_or_read(&user_agent, || self.read_agent(&user_agent));
        let verified = self
            .verify_crawler(ip, &user_agent, headers, now_unix_secs)
            .and_then(|(index, by)| Some((self.crawlers.get(index)?, by)));
        let (cookie, passed_challenge) = self.cookies.read(headers, now_unix_secs);
        let AgentReading { family: agent_family, version: agent_version, stale: stale_agent, declared_ai, tool } =
            reading;
        let kind = if key.is_some() {
            ClientKind::App
        } else if let Some((crawler, _)) = verified {
            match crawler.kind {
                CrawlerKind::Search => ClientKind::VerifiedSearch,
                CrawlerKind::Ai => ClientKind::VerifiedAi,
            }
        } else if declared_ai.is_some() {
            ClientKind::AiCrawler
        } else if tool {
            ClientKind::Tool
        } else {
            ClientKind::Browser
        };
        Client {
            ip,
            prefix: Prefix::of(ip),
            asn: net.map(|n| n.asn),
            network: net.map_or(NetClass::Unknown, |n| n.class),
            fingerprint: fingerprint(raw_agent, headers),
            user_agent,
            agent_family,
            agent_version,
            stale_agent,
            declared_ai,
            kind,
            verified: verified.map(|(crawler, by)| Verified { crawler: crawler.name.clone(), by }),
            key,
            cookie,
            passed_challenge,
        }
    }

    /// What a user-agent string says (`identify` keeps it in `agents`).
    fn read_agent(&self, user_agent: &str) -> AgentReading {
        let (parsed, browser_stale) = agent::parse(user_agent, &self.stale);
        let ai = self.ai.find(user_agent);
        // A declared AI crawler is that crawler, whatever browser its string
        // also names: its family and version are its token's.
        let version = ai.map_or(parsed.version, |(_, version)| version);
        let stale = browser_stale && ai.is_none();
        let declared_ai = ai.map(|(agent, _)| agent.clone());
        let family = match (&declared_ai, parsed.family) {
            (Some((token, _)), _) => token.to_ascii_lowercase(),
            (None, Family::Known(family)) => family.to_owned(),
            (None, Family::Word(start, end)) => {
                let mut word = user_agent[start..end].to_ascii_lowercase();
                word.truncate(floor_char_boundary(&word, MAX_FAMILY));
                word
            }
            (None, Family::None) => String::new(),
        };
        AgentReading { family, version, stale, declared_ai, tool: parsed.tool }
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy;
    /// then the rightmost `X-Forwarded-For` address that is not a trusted
    /// proxy. Falls back to the peer when every hop is trusted, and when
    /// the walk meets an entry that is not an address (`unknown`, garbage):
    /// a trusted proxy wrote it, so nothing left of it can be placed.
    /// IPv4-mapped IPv6 addresses are read as IPv4.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let mut hops = 0;
        // Several header lines are one list, in order (RFC 9110 5.3).
        for line in headers.get_all(&X_FORWARDED_FOR).iter().rev() {
            let Ok(line) = line.to_str() else { return peer };
            for entry in line.rsplit(',') {
                hops += 1;
                if hops > MAX_HOPS {
                    return peer;
                }
                let Some(ip) = parse_hop(entry.trim()) else { return peer };
                if !self.is_trusted_proxy(ip) {
                    return ip;
                }
            }
        }
        peer
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// A Web Bot Auth signature by a configured key, or else the user
    /// agent's crawler token from one of that crawler's ranges: the
    /// crawler's index and how it verified.
    fn verify_crawler(
        &self,
        ip: IpAddr,
        user_agent: &str,
        headers: &HeaderMap,
        now: u64,
    ) -> Option<(usize, VerifiedBy)> {
        if !self.keyring.is_empty()
            && headers.contains_key(&SIGNATURE_INPUT)
            && let Ok(index) = botauth::verify(headers, &self.keyring, now)
        {
            return Some((index, VerifiedBy::WebBotAuth));
        }
        let (index, _) = self.crawler_tokens.find(user_agent)?;
        let crawler = self.crawlers.get(index)?;
        crawler.ranges.iter().any(|r| r.contains(ip)).then_some((index, VerifiedBy::IpRange))
    }

    /// The verifying crawler a client's user agent names when the client
    /// did not verify as it: an impersonation (a scraper calling itself
    /// Googlebot), which the signals report. `None` for a verified client
    /// and for user agents that name no configured crawler.
    pub fn claimed_crawler(&self, client: &Client) -> Option<&str> {
        if client.verified.is_some() {
            return None;
        }
        self.crawlers.get(self.crawler_tokens.find(&client.user_agent)?.0).map(|c| c.name.as_str())
    }

    /// A new continuity cookie: its id and the `Set-Cookie` header value
    /// (`tg_id=<id>.<mac>; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000`).
    pub fn new_cookie(&self) -> (u64, String) {
        // Ids need only be distinct, not secret: the MAC, not the id, is
        // what cannot be forged. A counter under SipHash with a key drawn
        // once is as unlikely to repeat as random ids, and costs no system
        // call (every keyed API request without a cookie makes one).
        let id = self.id_key.hash_one(self.ids.fetch_add(1, Ordering::Relaxed));
        (id, cookies::set_id_cookie(&self.cookies.id_value(id)))
    }

    /// A challenge pass for the client with continuity cookie `cookie_id`,
    /// valid for an hour from `now_unix_secs`: the `Set-Cookie` header value
    /// (`tg_pass=<id>.<expires>.<mac>; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600`).
    pub fn issue_pass(&self, cookie_id: u64, now_unix_secs: u64) -> String {
        let expires = now_unix_secs.saturating_add(cookies::PASS_SECONDS);
        cookies::set_pass_cookie(&self.cookies.pass_value(cookie_id, expires))
    }
}

/// An `X-Forwarded-For` entry: an address, with or without a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`, `[2001:db8::1]`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = entry.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(|v6| IpAddr::V6(v6).to_canonical())
}

/// The user agent as text, cut to `MAX_USER_AGENT` bytes at a character
/// boundary (bytes that are not UTF-8 become U+FFFD).
fn cut_user_agent(raw: &[u8]) -> String {
    let head = &raw[..raw.len().min(MAX_USER_AGENT)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    // A character cut in two at the end, or replacement characters (3 bytes
    // for 1), can take it past the limit.
    text.truncate(floor_char_boundary(&text, MAX_USER_AGENT));
    text
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::botauth::tests::BotSigner;
    use http::HeaderValue;

    const NOW: u64 = 1_765_000_000;
    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36";
    const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn config() -> IdentityConfig {
        let mut config = IdentityConfig::new([9; 32]);
        config.trusted_proxies =
            vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        config.prefix_table =
            PrefixTable::parse("203.0.113.0/24,64500,hosting\n198.51.100.0/24,64501,residential\n", "t").unwrap();
        config.ai_agents = vec![("GPTBot".into(), Purpose::TrainAi), ("ChatGPT-User".into(), Purpose::AiInput)];
        config.crawlers = vec![
            CrawlerConfig {
                name: "Googlebot".into(),
                agent: "Googlebot".into(),
                kind: CrawlerKind::Search,
                ranges: vec!["66.249.64.0/19".parse().unwrap()],
                keys: vec![],
            },
            CrawlerConfig {
                name: "Signer".into(),
                agent: "SignerBot".into(),
                kind: CrawlerKind::Ai,
                ranges: vec![],
                keys: vec![BotSigner::new(5).public()],
            },
        ];
        config
    }

    fn resolver() -> Resolver {
        Resolver::new(config())
    }

    /// A kept reading is the reading: whatever the strings seen before (more
    /// than the memo has slots, so that they evict each other), every client
    /// is identified as a resolver that never saw another string reads it.
    #[test]
    fn a_kept_reading_of_a_user_agent_is_the_reading() {
        let named = [
            CHROME,
            GOOGLEBOT,
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31",
            "",
        ];
        let strings: Vec<String> = named
            .iter()
            .map(|s| (*s).to_owned())
            .chain((0..3 * AGENT_SLOTS).map(|i| format!("Tool{i}/1.{i}")))
            .collect();
        let identify = |r: &Resolver, ua: &str| {
            let c = r.identify(ip("198.51.100.7"), &headers(&[("user-agent", ua)]), None, NOW);
            (c.agent_family, c.agent_version, c.stale_agent, c.declared_ai, c.kind)
        };
        let busy = resolver();
        for round in 0..2 {
            for ua in strings.iter().rev().chain(&strings) {
                assert_eq!(identify(&busy, ua), identify(&resolver(), ua), "{ua:?}, round {round}");
            }
        }
        let (family, _, _, ai, kind) = identify(&busy, named[2]);
        assert_eq!((family.as_str(), ai.map(|a| a.1), kind), ("gptbot", Some(Purpose::TrainAi), ClientKind::AiCrawler));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let r = resolver();
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        // From an untrusted peer, the header is ignored.
        assert_eq!(r.client_ip(ip("192.0.2.9"), &xff("198.51.100.7")), ip("192.0.2.9"));
        // From a trusted proxy: the rightmost address that is not a proxy.
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("6.6.6.6, 198.51.100.7, 10.1.2.3")), ip("198.51.100.7"));
        assert_eq!(r.client_ip(ip("::1"), &xff("2001:db8::5")), ip("2001:db8::5"));
        assert_eq!(r.client_ip(ip("::ffff:127.0.0.1"), &xff("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("::ffff:198.51.100.7")), ip("198.51.100.7"));
        // Ports and brackets.
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("198.51.100.7:4711")), ip("198.51.100.7"));
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("[2001:db8::5]:4711")), ip("2001:db8::5"));
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("[2001:db8::5]")), ip("2001:db8::5"));
        // Several header lines are one list.
        let two = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7, 10.0.0.1")]);
        assert_eq!(r.client_ip(ip("127.0.0.1"), &two), ip("198.51.100.7"));
        // Every hop trusted, no header, garbage where the walk reaches it: the peer.
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("10.0.0.1, 10.0.0.2")), ip("127.0.0.1"));
        assert_eq!(r.client_ip(ip("127.0.0.1"), &HeaderMap::new()), ip("127.0.0.1"));
        for garbage in ["unknown", "", " , ", "198.51.100.7, nonsense", "1.2.3.4.5", "[::1", "999.1.1.1", "10.0.0.1/8"]
        {
            assert_eq!(r.client_ip(ip("127.0.0.1"), &xff(garbage)), ip("127.0.0.1"), "{garbage:?}");
        }
        // Garbage left of the client's address does not matter.
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff("nonsense, 198.51.100.7")), ip("198.51.100.7"));
        // A header that is not text.
        let mut binary = HeaderMap::new();
        binary.insert("x-forwarded-for", HeaderValue::from_bytes(b"\xff198.51.100.7").unwrap());
        assert_eq!(r.client_ip(ip("127.0.0.1"), &binary), ip("127.0.0.1"));
        // An endless chain of proxies stops at the bound.
        let long = vec!["10.0.0.1"; 100].join(",");
        assert_eq!(r.client_ip(ip("127.0.0.1"), &xff(&format!("198.51.100.7,{long}"))), ip("127.0.0.1"));
    }

    #[test]
    fn a_browser_is_placed_in_its_network() {
        let r = resolver();
        let h = headers(&[("x-forwarded-for", "198.51.100.77"), ("user-agent", CHROME), ("accept", "text/html")]);
        let c = r.identify(ip("127.0.0.1"), &h, None, NOW);
        assert_eq!(c.ip, ip("198.51.100.77"));
        assert_eq!(c.prefix.to_string(), "198.51.100.0/24");
        assert_eq!((c.asn, c.network), (Some(64501), NetClass::Residential));
        assert_eq!((c.agent_family.as_str(), c.agent_version, c.stale_agent), ("chrome", Some(142), false));
        assert_eq!(
            (c.kind, c.verified, c.declared_ai, c.cookie, c.passed_challenge),
            (ClientKind::Browser, None, None, None, false)
        );
        let elsewhere = r.identify(ip("192.0.2.1"), &h, None, NOW);
        assert_eq!((elsewhere.asn, elsewhere.network), (None, NetClass::Unknown));
        assert_eq!(elsewhere.fingerprint, c.fingerprint, "one header shape, one fingerprint");
    }

    #[test]
    fn kinds_follow_key_then_verification_then_declared_ai_then_tools() {
        let r = resolver();
        let kind = |ua: &str, peer: &str, key: Option<(AppId, KeyId)>| {
            r.identify(ip(peer), &headers(&[("user-agent", ua)]), key, NOW).kind
        };
        let gpt =
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
        let key = Some((AppId(1), KeyId(2)));
        assert_eq!(kind(CHROME, "192.0.2.1", key), ClientKind::App);
        assert_eq!(kind(GOOGLEBOT, "192.0.2.1", key), ClientKind::App);
        assert_eq!(kind(GOOGLEBOT, "66.249.66.1", None), ClientKind::VerifiedSearch);
        assert_eq!(kind(gpt, "192.0.2.1", None), ClientKind::AiCrawler);
        assert_eq!(kind("curl/8.5.0", "192.0.2.1", None), ClientKind::Tool);
        assert_eq!(kind(GOOGLEBOT, "192.0.2.1", None), ClientKind::Tool, "an unverified Googlebot is a tool");
        assert_eq!(kind(CHROME, "192.0.2.1", None), ClientKind::Browser);
        let c = r.identify(ip("192.0.2.1"), &headers(&[("user-agent", gpt)]), None, NOW);
        assert_eq!(c.declared_ai, Some(("GPTBot".to_owned(), Purpose::TrainAi)));
        assert_eq!((c.agent_family.as_str(), c.agent_version), ("gptbot", Some(1)));
        // An AI agent in an old browser's clothes is that agent, not a stale browser.
        let user = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.0.0 Safari/537.36; compatible; ChatGPT-User/1.0";
        let c = r.identify(ip("192.0.2.1"), &headers(&[("user-agent", user)]), None, NOW);
        assert_eq!(
            (c.kind, c.agent_family.as_str(), c.agent_version, c.stale_agent),
            (ClientKind::AiCrawler, "chatgpt-user", Some(1), false)
        );
    }

    #[test]
    fn crawlers_verify_by_range_and_impersonators_do_not() {
        let r = resolver();
        let from = |peer: &str, ua: &str| r.identify(ip(peer), &headers(&[("user-agent", ua)]), None, NOW);
        let real = from("66.249.66.1", GOOGLEBOT);
        assert_eq!(real.verified, Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::IpRange }));
        assert_eq!(r.claimed_crawler(&real), None);
        let fake = from("203.0.113.5", GOOGLEBOT);
        assert_eq!(fake.verified, None);
        assert_eq!(r.claimed_crawler(&fake), Some("Googlebot"));
        assert_eq!(fake.network, NetClass::Hosting);
        // Google's address without Google's token verifies nothing.
        let browser = from("66.249.66.1", CHROME);
        assert_eq!((&browser.verified, r.claimed_crawler(&browser)), (&None, None));
    }

    #[test]
    fn crawlers_verify_by_web_bot_auth() {
        let r = resolver();
        let bot = BotSigner::new(5);
        let agent = "\"https://signer.example/.well-known/http-message-signatures-directory\"";
        let signed = bot.sign("tollgate.example", agent, &bot.params(NOW, NOW + 60, "web-bot-auth"));
        let mut h = HeaderMap::new();
        for (name, value) in &signed {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h.insert(USER_AGENT, HeaderValue::from_static("SignerBot/1.0"));
        let c = r.identify(ip("203.0.113.5"), &h, None, NOW);
        assert_eq!(c.verified, Some(Verified { crawler: "Signer".into(), by: VerifiedBy::WebBotAuth }));
        assert_eq!(c.kind, ClientKind::VerifiedAi);
        // Expired: not verified, and its user agent claims a verifying crawler.
        let late = r.identify(ip("203.0.113.5"), &h, None, NOW + 3600);
        assert_eq!(late.verified, None);
        assert_eq!(r.claimed_crawler(&late), Some("Signer"));
        // Another key under the right crawler's token: not verified.
        let stranger = BotSigner::new(6);
        let mut forged = HeaderMap::new();
        for (name, value) in stranger.sign("tollgate.example", agent, &bot.params(NOW, NOW + 60, "web-bot-auth")) {
            forged.append(name, HeaderValue::from_str(&value).unwrap());
        }
        assert_eq!(r.identify(ip("203.0.113.5"), &forged, None, NOW).verified, None);
    }

    #[test]
    fn cookies_give_continuity_and_passes() {
        let r = resolver();
        let (id, set_cookie) = r.new_cookie();
        assert!(
            set_cookie.starts_with("tg_id=")
                && set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000")
        );
        let value = set_cookie.split(';').next().unwrap();
        let c = r.identify(ip("192.0.2.1"), &headers(&[("cookie", value)]), None, NOW);
        assert_eq!((c.cookie, c.passed_challenge), (Some(id), false));
        let pass = r.issue_pass(id, NOW);
        assert!(pass.starts_with("tg_pass=") && pass.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"));
        let pass_value = pass.split(';').next().unwrap();
        let both = headers(&[("cookie", &format!("{value}; {pass_value}"))]);
        assert!(r.identify(ip("192.0.2.1"), &both, None, NOW + 10).passed_challenge);
        assert!(!r.identify(ip("192.0.2.1"), &both, None, NOW + 3600).passed_challenge, "a pass lasts an hour");
        // Another resolver key: neither cookie is believed.
        let mut other = config();
        other.cookie_key = [1; 32];
        let c = Resolver::new(other).identify(ip("192.0.2.1"), &both, None, NOW);
        assert_eq!((c.cookie, c.passed_challenge), (None, false));
        // Forged and malformed cookies are ignored.
        for cookie in ["tg_id=0000000000000001.AAAAAAAAAAAAAAAAAAAAAA", "tg_id=", "tg_id", "tg_id=..", "=; ;;"] {
            let c = r.identify(ip("192.0.2.1"), &headers(&[("cookie", cookie)]), None, NOW);
            assert_eq!(c.cookie, None, "{cookie}");
        }
        assert_ne!(r.new_cookie().0, id, "ids are fresh");
    }

    #[test]
    fn the_cookie_key_stays_out_of_debug_output() {
        let mut config = config();
        config.cookie_key = [0xab; 32];
        let shown = format!("{config:?} {:?}", Resolver::new(config.clone()));
        assert!(!shown.contains("171") && !shown.contains("0xab") && !shown.contains("ab, ab"), "{shown}");
        assert!(shown.contains("Googlebot"), "the rest is shown: {shown}");
    }

    /// Random headers (user agents, forwarded chains, cookies, signatures
    /// made of the characters these headers parse) never make `identify`
    /// panic.
    #[test]
    fn random_headers_never_panic() {
        let r = resolver();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: Vec<char> =
            "aZ09 ./:;,=()\"[]-_+*?@#é\u{fffd}()Chrome/Version/Safari/bot:tg_id.".chars().collect();
        let mut text = |len: u64| -> String {
            (0..next() % len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        };
        for _ in 0..3000 {
            let mut h = HeaderMap::new();
            for name in
                ["user-agent", "x-forwarded-for", "cookie", "signature-input", "signature", "signature-agent", "host"]
            {
                if let Ok(value) = HeaderValue::from_bytes(text(80).as_bytes()) {
                    h.append(name, value);
                }
            }
            if let Ok(value) = HeaderValue::from_str(&format!("sig1=({}){}", text(30), text(60))) {
                h.append("signature-input", value);
            }
            let c = r.identify(ip("127.0.0.1"), &h, None, NOW);
            assert!(c.user_agent.len() <= MAX_USER_AGENT);
        }
    }

    #[test]
    fn odd_user_agents_are_bounded_and_never_panic() {
        let r = resolver();
        let long = format!("{CHROME} {}", "é".repeat(400));
        let c = r.identify(ip("192.0.2.1"), &headers(&[("user-agent", &long)]), None, NOW);
        assert!(c.user_agent.len() <= MAX_USER_AGENT && long.starts_with(&c.user_agent));
        let mut binary = HeaderMap::new();
        binary.insert(USER_AGENT, HeaderValue::from_bytes(b"curl/8\xff\xfe").unwrap());
        let c = r.identify(ip("192.0.2.1"), &binary, None, NOW);
        assert_eq!((c.agent_family.as_str(), c.user_agent.as_str()), ("curl", "curl/8\u{fffd}\u{fffd}"));
        let bot = format!("{}bot", "x".repeat(100));
        let c = r.identify(ip("192.0.2.1"), &headers(&[("user-agent", &bot)]), None, NOW);
        assert_eq!((c.kind, c.agent_family.len()), (ClientKind::Tool, MAX_FAMILY));
        let none = r.identify(ip("192.0.2.1"), &HeaderMap::new(), None, NOW);
        assert_eq!((none.kind, none.agent_family.as_str(), none.user_agent.as_str()), (ClientKind::Tool, "", ""));
    }
}
