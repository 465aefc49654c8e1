//! The plan of a run: who the actors are (class, addresses, user agents, keys,
//! signing keys) and what each means to fetch, in order. A pure function of
//! the seed, the mix, the platform and the keys: the same inputs give the
//! same plan, byte for byte (`Plan::digest`), so that two runs of the
//! simulator can be compared and a finding replayed.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::net::{self, Network};
use crate::rng::Rng;
use crate::sign::BotKey;

/// The labelled classes of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// People at home browsing with cookies.
    PeopleHome,
    /// People on mobile carriers, many behind one address.
    PeopleMobile,
    /// People behind a commercial VPN.
    PeopleVpn,
    /// People without JavaScript: they pass challenges by submitting the form.
    PeopleNojs,
    /// Standard-tier API apps within their quota.
    ApiApp,
    /// Licensed partners (partner-tier keys).
    Partner,
    /// The verified search crawler: from its published range, or signing
    /// with Web Bot Auth from elsewhere.
    SearchVerified,
    /// The search crawler's user agent from other addresses, unsigned.
    SearchImpersonator,
    /// An AI crawler that reads robots.txt and obeys it (verified).
    AiHonest,
    /// An AI crawler that ignores robots.txt.
    AiIgnoring,
    /// Browser user agents from hosting networks, no cookies.
    StealthDc,
    /// Headless Chrome, passing challenges with a fresh cookie jar each time.
    HeadlessFleet,
    /// Residential proxies: many addresses, a request or few each, stale
    /// pinned browsers, never a cookie kept.
    ResidentialSwarm,
    /// One request every few seconds from a few addresses.
    SlowLow,
    /// Walks post ids in order or at random.
    IdEnumerator,
    /// Many keys of one operator splitting the id space between them.
    KeyFarm,
    /// Changes tactics when refused.
    Adaptive,
}

impl Class {
    pub const ALL: [Class; 17] = [
        Class::PeopleHome,
        Class::PeopleMobile,
        Class::PeopleVpn,
        Class::PeopleNojs,
        Class::ApiApp,
        Class::Partner,
        Class::SearchVerified,
        Class::SearchImpersonator,
        Class::AiHonest,
        Class::AiIgnoring,
        Class::StealthDc,
        Class::HeadlessFleet,
        Class::ResidentialSwarm,
        Class::SlowLow,
        Class::IdEnumerator,
        Class::KeyFarm,
        Class::Adaptive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::PeopleHome => "people-home",
            Class::PeopleMobile => "people-mobile",
            Class::PeopleVpn => "people-vpn",
            Class::PeopleNojs => "people-nojs",
            Class::ApiApp => "api-app",
            Class::Partner => "partner",
            Class::SearchVerified => "search-verified",
            Class::SearchImpersonator => "search-impersonator",
            Class::AiHonest => "ai-honest",
            Class::AiIgnoring => "ai-ignoring",
            Class::StealthDc => "stealth-dc",
            Class::HeadlessFleet => "headless-fleet",
            Class::ResidentialSwarm => "residential-swarm",
            Class::SlowLow => "slow-low",
            Class::IdEnumerator => "id-enumerator",
            Class::KeyFarm => "key-farm",
            Class::Adaptive => "adaptive",
        }
    }

    pub fn parse(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn is_person(self) -> bool {
        matches!(self, Class::PeopleHome | Class::PeopleMobile | Class::PeopleVpn | Class::PeopleNojs)
    }

    /// People and the legitimate apps: the classes whose refusals are the
    /// guard's mistakes.
    pub fn is_legitimate(self) -> bool {
        self.is_person() || matches!(self, Class::ApiApp | Class::Partner)
    }
}

/// One class's parameters. Every field has a per-class default
/// (`Params::default_for`); a mix file or `--mix` overrides some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Actors of the class (the swarm's and the farm's: workers and keys).
    pub count: u32,
    /// Requests an actor means to make (its intents; reactions add some).
    pub requests: u32,
    /// Pause between an actor's requests, in milliseconds.
    pub pace_ms: u64,
    /// Distinct client addresses the class sends from, in all (people on
    /// mobile and VPN share them; the swarm spreads its requests over them).
    pub addresses: u32,
    /// Requests an address makes before the actor moves to its next one.
    pub requests_per_address: u32,
    /// Refusals in a row the actor takes before it gives up.
    pub patience: u32,
    /// Post ids per API lookup (apps and key farms).
    pub batch: u32,
    /// id enumerators: walk ids in order (else at random).
    pub sequential: bool,
    /// search-verified: the share of crawlers proving themselves by Web Bot
    /// Auth from outside the published range (the others crawl from it).
    pub signed_share: f64,
}

impl Params {
    pub fn default_for(class: Class) -> Params {
        let p = |count, requests, pace_ms, addresses, requests_per_address, patience| Params {
            count,
            requests,
            pace_ms,
            addresses,
            requests_per_address,
            patience,
            batch: 1,
            sequential: true,
            signed_share: 0.5,
        };
        match class {
            Class::PeopleHome => p(40, 24, 1500, 40, u32::MAX, 3),
            Class::PeopleMobile => p(40, 24, 1500, 4, u32::MAX, 3),
            Class::PeopleVpn => p(10, 24, 1500, 3, u32::MAX, 3),
            Class::PeopleNojs => p(10, 24, 1500, 10, u32::MAX, 3),
            Class::ApiApp => Params { batch: 10, ..p(3, 200, 1500, 3, u32::MAX, 5) },
            Class::Partner => Params { batch: 50, ..p(2, 400, 400, 2, u32::MAX, 5) },
            Class::SearchVerified => p(2, 400, 250, 4, u32::MAX, 10),
            Class::SearchImpersonator => p(2, 400, 100, 2, u32::MAX, 10),
            Class::AiHonest => p(1, 400, 200, 1, u32::MAX, 10),
            Class::AiIgnoring => p(1, 2000, 50, 1, u32::MAX, 20),
            Class::StealthDc => p(2, 2000, 50, 32, 100, 20),
            Class::HeadlessFleet => p(8, 500, 200, 8, u32::MAX, 20),
            Class::ResidentialSwarm => p(16, 0, 20, 10_000, 2, 20),
            Class::SlowLow => p(2, 200, 3000, 4, 25, 20),
            Class::IdEnumerator => p(1, 5000, 20, 1, u32::MAX, 20),
            Class::KeyFarm => Params { batch: 10, ..p(8, 1000, 1100, 8, u32::MAX, 20) },
            Class::Adaptive => p(2, 3000, 50, 64, u32::MAX, 6),
        }
    }
}

/// The classes and their parameters: which traffic a run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    pub classes: BTreeMap<Class, Params>,
}

/// A bad mix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    #[error("unknown class `{0}` (classes: people-home, people-mobile, ... see docs/guard.md)")]
    UnknownClass(String),
    #[error("`{0}` is not `class=count`")]
    NotAPair(String),
    #[error("class `{class}`: {message}")]
    Params { class: String, message: String },
    #[error("mix file: {0}")]
    File(String),
}

impl Mix {
    /// Every class with its default parameters.
    pub fn standard() -> Mix {
        Mix { classes: Class::ALL.into_iter().map(|c| (c, Params::default_for(c))).collect() }
    }

    /// A mix from a TOML file's text: a table per class, named by the class,
    /// holding the parameters that differ from the defaults; a class absent
    /// from the file keeps its defaults, `count = 0` leaves it out.
    pub fn from_toml(text: &str) -> Result<Mix, MixError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| MixError::File(e.to_string()))?;
        let mut mix = Mix::standard();
        for (name, value) in table {
            let class = Class::parse(&name).ok_or_else(|| MixError::UnknownClass(name.clone()))?;
            let mut params = serde_json::to_value(Params::default_for(class)).unwrap_or(Value::Null);
            let overrides = serde_json::to_value(value).map_err(|e| MixError::File(e.to_string()))?;
            let (Value::Object(base), Value::Object(over)) = (&mut params, overrides) else {
                return Err(MixError::Params { class: name, message: "not a table".into() });
            };
            base.extend(over);
            let params: Params = serde_json::from_value(params)
                .map_err(|e| MixError::Params { class: name.clone(), message: e.to_string() })?;
            mix.classes.insert(class, params);
        }
        Ok(mix)
    }

    /// Applies `--mix class=count,class=count`.
    pub fn set_counts(&mut self, spec: &str) -> Result<(), MixError> {
        for pair in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, count) = pair.split_once('=').ok_or_else(|| MixError::NotAPair(pair.to_owned()))?;
            let class = Class::parse(name.trim()).ok_or_else(|| MixError::UnknownClass(name.to_owned()))?;
            let count = count.trim().parse().map_err(|_| MixError::NotAPair(pair.to_owned()))?;
            self.classes.entry(class).or_insert_with(|| Params::default_for(class)).count = count;
        }
        Ok(())
    }
}

/// An author of the platform and their posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub id: u64,
    pub handle: String,
    pub posts: Vec<u64>,
}

/// The platform the simulator aims at: public authors with posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub authors: Vec<Author>,
    /// Every post `(id, author index)`, by id.
    pub posts: Vec<(u64, usize)>,
}

impl Platform {
    /// Reads `accounts.jsonl` and `posts.jsonl` (the generator's files, as
    /// `tollgate generate` and `tollgate demo` write them): public, active
    /// accounts' posts, at most `max_posts` of them in file order.
    pub fn load(dir: &Path, max_posts: usize) -> Result<Platform, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("cannot read `{}`: {e}", dir.join(name).display()))
        };
        let mut index = BTreeMap::new();
        let mut authors = Vec::new();
        for line in read("accounts.jsonl")?.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let public = v["protected"] != Value::Bool(true) && v["status"].as_str().is_none_or(|s| s == "active");
            let (Some(id), Some(handle)) = (num(&v["id"]), v["handle"].as_str()) else { continue };
            if public && v["is_minor"] != Value::Bool(true) {
                index.insert(id, authors.len());
                authors.push(Author { id, handle: handle.to_owned(), posts: Vec::new() });
            }
        }
        let mut taken = 0;
        for line in read("posts.jsonl")?.lines() {
            if taken >= max_posts {
                break;
            }
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let (Some(id), Some(author)) = (num(&v["id"]), num(&v["author_id"])) else { continue };
            if let Some(&i) = index.get(&author) {
                authors[i].posts.push(id);
                taken += 1;
            }
        }
        authors.retain(|a| !a.posts.is_empty());
        if authors.is_empty() {
            return Err(format!("no public author with posts in `{}`", dir.display()));
        }
        Ok(Platform::from_authors(authors))
    }

    pub fn from_authors(mut authors: Vec<Author>) -> Platform {
        for a in &mut authors {
            a.posts.sort_unstable();
        }
        let mut posts: Vec<(u64, usize)> =
            authors.iter().enumerate().flat_map(|(i, a)| a.posts.iter().map(move |&p| (p, i))).collect();
        posts.sort_unstable();
        Platform { authors, posts }
    }

    /// A small made-up platform for tests.
    pub fn synthetic(authors: usize, posts_each: usize) -> Platform {
        Platform::from_authors(
            (0..authors)
                .map(|a| Author {
                    id: 1000 + a as u64,
                    handle: format!("user{a}"),
                    posts: (0..posts_each).map(|p| 10_000 + (a * posts_each + p) as u64 * 3).collect(),
                })
                .collect(),
        )
    }

    fn permalink(&self, post: usize) -> String {
        let (id, author) = self.posts[post];
        format!("/{}/status/{id}", self.authors[author].handle)
    }
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// The API keys the bench script created: standard apps, partners, and the
/// key farm's (one operator's many standard apps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    #[serde(default)]
    pub standard: Vec<String>,
    #[serde(default)]
    pub partner: Vec<String>,
    #[serde(default)]
    pub farm: Vec<String>,
}

/// One actor of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorPlan {
    pub id: u32,
    pub class: Class,
    /// `class#n`.
    pub label: String,
    /// The addresses it sends from, in the order it uses them.
    pub addresses: Vec<Ipv4Addr>,
    pub user_agent: String,
    /// The user agent it disguises itself with when it changes tactic.
    pub disguise: String,
    /// Its bearer token, if it uses the API.
    #[serde(skip)]
    pub key: Option<String>,
    /// The seed of its Web Bot Auth key, if it signs.
    #[serde(skip)]
    pub bot_key: Option<[u8; 32]>,
    /// The paths it means to fetch, in order.
    pub intents: Vec<String>,
    pub pace_ms: u64,
    pub requests_per_address: u32,
    pub patience: u32,
    /// When it starts, in milliseconds after the run's start.
    pub start_ms: u64,
    /// The user-agent token robots.txt knows it by, for crawlers.
    pub robots_token: Option<String>,
}

/// A verified crawler as the operator configures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crawler {
    pub name: String,
    pub agent: String,
    pub kind: String,
    pub ip_ranges: Vec<String>,
    /// Ed25519 public keys, each a JWK's `x` (base64url).
    pub keys: Vec<String>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    pub actors: Vec<ActorPlan>,
    pub crawlers: Vec<Crawler>,
}

/// The search crawler's name, user-agent token and key directory.
pub const SEARCH_TOKEN: &str = "Searchbot";
pub const SEARCH_UA: &str = "Mozilla/5.0 (compatible; Searchbot/2.1; +https://searchbot.example/bot.html)";
pub const SEARCH_AGENT_URL: &str = "https://searchbot.example";
/// The honest AI crawler: a token robots.txt's built-in list of AI crawlers names.
pub const AI_HONEST_TOKEN: &str = "GPTBot";
pub const AI_HONEST_UA: &str =
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
pub const AI_AGENT_URL: &str = "https://openai.example";
pub const AI_IGNORING_TOKEN: &str = "Bytespider";
pub const AI_IGNORING_UA: &str = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)";
/// Current browsers (December 2026).
const BROWSERS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:146.0) Gecko/20100101 Firefox/146.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36",
];
const MOBILE_BROWSERS: [&str; 2] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 26_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Mobile Safari/537.36",
];
const HEADLESS: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/143.0.0.0 Safari/537.36";
/// Browser versions years out of date that residential-proxy kits pin.
const STALE: [&str; 3] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.5359.125 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0) Gecko/20100101 Firefox/102.0",
];
const SCRIPT_UA: &str = "python-requests/2.32.3";

impl Plan {
    /// The plan of `mix` over `platform` with `keys`, actors starting within
    /// `ramp_ms` of the run's start.
    pub fn new(seed: u64, mix: &Mix, platform: &Platform, keys: &Keys, ramp_ms: u64) -> Plan {
        let mut actors = Vec::new();
        let (search_keys, ai_key) = bot_key_seeds(seed);
        let mut used = (0usize, 0usize, 0usize);
        for (&class, params) in &mix.classes {
            let mut rng = Rng::new(seed, class as u64 + 1);
            let shared = shared_addresses(class, params, &mut rng);
            for n in 0..params.count {
                let mut a = ActorPlan {
                    id: actors.len() as u32,
                    class,
                    label: format!("{}#{n}", class.name()),
                    addresses: Vec::new(),
                    user_agent: String::new(),
                    disguise: rng.pick(&BROWSERS).to_string(),
                    key: None,
                    bot_key: None,
                    intents: Vec::new(),
                    pace_ms: params.pace_ms,
                    requests_per_address: params.requests_per_address,
                    patience: params.patience,
                    start_ms: if ramp_ms == 0 { 0 } else { rng.below(ramp_ms) },
                    robots_token: None,
                };
                shape(&mut a, n, params, platform, keys, &shared, &mut rng, &mut used, &search_keys, ai_key);
                actors.push(a);
            }
        }
        Plan { seed, actors, crawlers: crawlers(seed) }
    }

    /// A digest of everything the plan holds, secrets included.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for a in &self.actors {
            h.update(serde_json::to_vec(a).unwrap_or_default());
            h.update(a.key.as_deref().unwrap_or("").as_bytes());
            h.update(a.bot_key.unwrap_or_default());
        }
        h.update(self.crawlers_toml().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The verified crawlers as the operator's crawlers file lists them.
    pub fn crawlers_toml(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("# The verified crawlers of the traffic simulator's world (docs/guard.md).\n");
        let list = |items: &[String]| items.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        for c in &self.crawlers {
            let _ = write!(
                out,
                "\n[[crawler]]\nname = \"{}\"\nagent = \"{}\"\nkind = \"{}\"\nranges = [{}]\nkeys = [{}]\n",
                c.name,
                c.agent,
                c.kind,
                list(&c.ip_ranges),
                list(&c.keys)
            );
        }
        out
    }
}

/// The seeds of the verified crawlers' signing keys: four of the search
/// crawler's, one of the AI crawler's. They depend on the seed alone, so that
/// the crawlers file can be written before the platform exists.
fn bot_key_seeds(seed: u64) -> (Vec<[u8; 32]>, [u8; 32]) {
    let mut rng = Rng::new(seed, 1000);
    let search = (0..4).map(|_| rng.bytes32()).collect();
    (search, Rng::new(seed, 1001).bytes32())
}

/// The verified crawlers of a seed's world, as the operator configures them.
pub fn crawlers(seed: u64) -> Vec<Crawler> {
    let (search_keys, ai_key) = bot_key_seeds(seed);
    vec![
        Crawler {
            name: SEARCH_TOKEN.into(),
            agent: SEARCH_TOKEN.into(),
            kind: "search".into(),
            ip_ranges: vec![net::SEARCH_CRAWLER.cidr()],
            keys: search_keys.iter().map(|s| BotKey::from_seed(*s, SEARCH_AGENT_URL).public_x()).collect(),
        },
        Crawler {
            name: AI_HONEST_TOKEN.into(),
            agent: AI_HONEST_TOKEN.into(),
            kind: "ai".into(),
            ip_ranges: vec![net::AI_CRAWLER.cidr()],
            keys: vec![BotKey::from_seed(ai_key, AI_AGENT_URL).public_x()],
        },
    ]
}

/// Addresses a class's actors share: mobile carriers' NAT addresses, the
/// VPN's exits, the key farm's one operator network.
fn shared_addresses(class: Class, params: &Params, rng: &mut Rng) -> Vec<Ipv4Addr> {
    let n = params.addresses.max(1);
    match class {
        Class::PeopleMobile => (0..n).map(|_| rng.pick(&net::MOBILE).address(rng)).collect(),
        Class::PeopleVpn => (0..n).map(|_| net::VPN.address(rng)).collect(),
        Class::KeyFarm => {
            // One operator: every key from the same /24 of one cloud.
            let first = net::HOSTING[1].address(rng);
            let base = u32::from(first) & 0xffff_ff00;
            (0..n).map(|i| Ipv4Addr::from(base + 1 + (i % 250))).collect()
        }
        _ => Vec::new(),
    }
}

fn addresses_in(networks: &[Network], n: u32, rng: &mut Rng) -> Vec<Ipv4Addr> {
    (0..n.max(1)).map(|_| rng.pick(networks).address(rng)).collect()
}

/// A person's sessions: a profile, then a few of its posts.
fn sessions(platform: &Platform, requests: u32, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < requests as usize {
        let author = rng.pick(&platform.authors);
        out.push(format!("/{}", author.handle));
        for _ in 0..rng.between(1, 4) {
            out.push(format!("/{}/status/{}", author.handle, rng.pick(&author.posts)));
        }
    }
    out.truncate(requests as usize);
    out
}

/// Profiles and permalinks in a crawl order: author by author.
fn crawl(platform: &Platform, requests: u32, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    let start = rng.index(platform.authors.len());
    for i in 0..platform.authors.len() {
        let author = &platform.authors[(start + i) % platform.authors.len()];
        out.push(format!("/{}", author.handle));
        out.extend(author.posts.iter().map(|p| format!("/{}/status/{p}", author.handle)));
        if out.len() >= requests as usize {
            break;
        }
    }
    out.truncate(requests as usize);
    out
}

/// Random permalinks.
fn permalinks(platform: &Platform, requests: u32, rng: &mut Rng) -> Vec<String> {
    (0..requests).map(|_| platform.permalink(rng.index(platform.posts.len()))).collect()
}

/// API calls of an app: timelines, single lookups and batch lookups.
fn api_calls(platform: &Platform, requests: u32, batch: u32, rng: &mut Rng) -> Vec<String> {
    (0..requests)
        .map(|i| {
            let author = rng.pick(&platform.authors);
            match i % 3 {
                0 => format!("/2/users/{}/tweets?max_results=10", author.id),
                1 => format!("/2/tweets/{}", rng.pick(&author.posts)),
                _ => {
                    let ids: Vec<String> = (0..batch.max(1))
                        .map(|_| platform.posts[rng.index(platform.posts.len())].0.to_string())
                        .collect();
                    format!("/2/tweets?ids={}", ids.join(","))
                }
            }
        })
        .collect()
}

#[expect(clippy::too_many_arguments, reason = "the shaping of one actor reads every input of the plan")]
fn shape(
    a: &mut ActorPlan,
    n: u32,
    params: &Params,
    platform: &Platform,
    keys: &Keys,
    shared: &[Ipv4Addr],
    rng: &mut Rng,
    used: &mut (usize, usize, usize),
    search_keys: &[[u8; 32]],
    ai_key: [u8; 32],
) {
    let requests = params.requests;
    match a.class {
        Class::PeopleHome | Class::PeopleNojs => {
            a.addresses = addresses_in(&net::RESIDENTIAL, 1, rng);
            a.user_agent = rng.pick(&BROWSERS).to_string();
            a.intents = sessions(platform, requests, rng);
        }
        Class::PeopleMobile | Class::PeopleVpn => {
            a.addresses = vec![*rng.pick(shared)];
            a.user_agent =
                if a.class == Class::PeopleMobile { rng.pick(&MOBILE_BROWSERS) } else { rng.pick(&BROWSERS) }
                    .to_string();
            a.intents = sessions(platform, requests, rng);
        }
        Class::ApiApp | Class::Partner => {
            let (pool, i) =
                if a.class == Class::ApiApp { (&keys.standard, &mut used.0) } else { (&keys.partner, &mut used.1) };
            a.key = pool.get(*i % pool.len().max(1)).cloned();
            *i += 1;
            a.addresses = addresses_in(&net::HOSTING, 1, rng);
            a.user_agent = format!("{}-client/1.4 (+https://app{n}.example)", a.class.name());
            a.intents = api_calls(platform, requests, params.batch, rng);
        }
        Class::SearchVerified => {
            a.user_agent = SEARCH_UA.into();
            a.robots_token = Some(SEARCH_TOKEN.into());
            let signed = rng.chance(params.signed_share);
            if signed {
                a.bot_key = Some(search_keys[n as usize % search_keys.len()]);
                a.addresses = addresses_in(&net::HOSTING, 2, rng);
            } else {
                a.addresses = (0..params.addresses.max(1)).map(|_| net::SEARCH_CRAWLER.address(rng)).collect();
            }
            a.intents = crawl(platform, requests, rng);
        }
        Class::SearchImpersonator => {
            a.user_agent = SEARCH_UA.into();
            a.robots_token = Some(SEARCH_TOKEN.into());
            a.addresses = addresses_in(&net::HOSTING, params.addresses, rng);
            a.intents = crawl(platform, requests, rng);
        }
        Class::AiHonest => {
            a.user_agent = AI_HONEST_UA.into();
            a.robots_token = Some(AI_HONEST_TOKEN.into());
            a.bot_key = Some(ai_key);
            a.addresses = vec![net::AI_CRAWLER.address(rng)];
            a.intents = crawl(platform, requests, rng);
        }
        Class::AiIgnoring => {
            a.user_agent = AI_IGNORING_UA.into();
            a.robots_token = Some(AI_IGNORING_TOKEN.into());
            a.addresses = addresses_in(&net::HOSTING, params.addresses, rng);
            a.intents = crawl(platform, requests, rng);
        }
        Class::StealthDc | Class::SlowLow => {
            a.user_agent = rng.pick(&BROWSERS).to_string();
            a.addresses = addresses_in(&net::HOSTING, params.addresses.div_ceil(params.count.max(1)), rng);
            a.intents = permalinks(platform, requests, rng);
        }
        Class::HeadlessFleet => {
            a.user_agent = HEADLESS.into();
            a.addresses = addresses_in(&net::HOSTING, params.addresses.div_ceil(params.count.max(1)), rng);
            a.intents = permalinks(platform, requests, rng);
        }
        Class::ResidentialSwarm => {
            // The swarm's addresses are dealt to its workers; each makes
            // `requests_per_address` requests from each of its addresses,
            // the swarm's posts split between the workers.
            let mine = params.addresses / params.count.max(1) + u32::from(n < params.addresses % params.count.max(1));
            a.user_agent = rng.pick(&STALE).to_string();
            a.disguise = a.user_agent.clone();
            a.addresses = addresses_in(&net::RESIDENTIAL, mine, rng);
            let total = mine as usize * params.requests_per_address.max(1) as usize;
            let total = if requests > 0 { total.min(requests as usize) } else { total };
            a.intents = (0..total)
                .map(|i| platform.permalink((n as usize + i * params.count.max(1) as usize) % platform.posts.len()))
                .collect();
        }
        Class::IdEnumerator => {
            a.user_agent = SCRIPT_UA.into();
            a.addresses = addresses_in(&net::HOSTING, params.addresses, rng);
            let start = rng.index(platform.posts.len());
            a.intents = (0..requests as usize)
                .map(|i| {
                    let post = if params.sequential {
                        (start + i) % platform.posts.len()
                    } else {
                        rng.index(platform.posts.len())
                    };
                    platform.permalink(post)
                })
                .collect();
        }
        Class::KeyFarm => {
            a.key = keys.farm.get(used.2 % keys.farm.len().max(1)).cloned();
            used.2 += 1;
            a.addresses = vec![shared[n as usize % shared.len().max(1)]];
            a.user_agent = "farm-client/0.9".into();
            // Key n takes the n-th slice of the id space, in batches.
            let slice = platform.posts.len().div_ceil(params.count.max(1) as usize);
            let ids: Vec<u64> = platform.posts.iter().skip(n as usize * slice).take(slice).map(|p| p.0).collect();
            a.intents = ids
                .chunks(params.batch.max(1) as usize)
                .take(requests as usize)
                .map(|c| format!("/2/tweets?ids={}", c.iter().map(u64::to_string).collect::<Vec<_>>().join(",")))
                .collect();
        }
        Class::Adaptive => {
            // Starts as a script from one cloud address; its other addresses
            // are the residential proxies it turns to.
            a.user_agent = SCRIPT_UA.into();
            let mut addrs = addresses_in(&net::HOSTING, 1, rng);
            addrs.extend(addresses_in(&net::RESIDENTIAL, params.addresses, rng));
            a.addresses = addrs;
            a.intents = permalinks(platform, requests, rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            standard: vec!["s1".into(), "s2".into(), "s3".into()],
            partner: vec!["p1".into(), "p2".into()],
            farm: (0..8).map(|i| format!("f{i}")).collect(),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let platform = Platform::synthetic(30, 20);
        let mix = Mix::standard();
        let a = Plan::new(7, &mix, &platform, &keys(), 5000);
        let b = Plan::new(7, &mix, &platform, &keys(), 5000);
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.crawlers_toml(), b.crawlers_toml());
        let c = Plan::new(8, &mix, &platform, &keys(), 5000);
        assert_ne!(a.digest(), c.digest());
        assert_ne!(a.crawlers_toml(), c.crawlers_toml());
        // A class's actors do not depend on another class's count.
        let mut fewer = Mix::standard();
        fewer.set_counts("stealth-dc=0").unwrap();
        let d = Plan::new(7, &fewer, &platform, &keys(), 5000);
        let people = |p: &Plan| {
            p.actors
                .iter()
                .filter(|x| x.class == Class::PeopleHome)
                .cloned()
                .map(|mut x| {
                    x.id = 0;
                    x
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(people(&a), people(&d));
    }

    #[test]
    fn the_plan_has_the_shapes_the_classes_promise() {
        let platform = Platform::synthetic(30, 20);
        let mut mix = Mix::standard();
        mix.set_counts("residential-swarm=4").unwrap();
        let plan = Plan::new(1, &mix, &platform, &keys(), 0);
        let of = |c: Class| plan.actors.iter().filter(move |a| a.class == c);
        // Mobile people share a handful of addresses.
        let mobile: std::collections::BTreeSet<_> = of(Class::PeopleMobile).map(|a| a.addresses[0]).collect();
        assert!(mobile.len() <= 4 && of(Class::PeopleMobile).count() == 40);
        // The swarm spreads over all its addresses, two requests each.
        let swarm: usize = of(Class::ResidentialSwarm).map(|a| a.addresses.len()).sum();
        assert_eq!(swarm, 10_000);
        assert!(of(Class::ResidentialSwarm).all(|a| a.intents.len() == a.addresses.len() * 2));
        // The key farm's keys split the id space without overlap, from one /24.
        let farm: Vec<&ActorPlan> = of(Class::KeyFarm).collect();
        assert_eq!(farm.iter().filter_map(|a| a.key.clone()).collect::<Vec<_>>(), keys().farm);
        let nets: std::collections::BTreeSet<u32> = farm.iter().map(|a| u32::from(a.addresses[0]) >> 8).collect();
        assert_eq!(nets.len(), 1);
        let ids: Vec<&str> = farm.iter().flat_map(|a| a.intents.iter()).flat_map(|i| i[13..].split(',')).collect();
        let distinct: std::collections::BTreeSet<&&str> = ids.iter().collect();
        assert_eq!((ids.len(), distinct.len()), (600, 600));
        // Verified search crawlers either crawl from the published range or sign.
        for a in of(Class::SearchVerified) {
            assert!(a.bot_key.is_some() || a.addresses.iter().all(|x| net::SEARCH_CRAWLER.contains(*x)));
        }
        assert!(of(Class::SearchImpersonator).all(|a| a.bot_key.is_none() && a.user_agent == SEARCH_UA));
        assert!(plan.crawlers_toml().contains("[[crawler]]\nname = \"Searchbot\"\nagent = \"Searchbot\"\nkind = \"search\"\nranges = [\"66.249.64.0/20\"]\nkeys = [\""));
        // What it writes is what the guard reads, as the operator's files.
        let crawlers = tollgate_guard::identity::parse_crawlers(&plan.crawlers_toml(), "crawlers.toml").unwrap();
        assert!(crawlers.iter().any(|c| c.name == "Searchbot"), "{crawlers:?}");
        tollgate_guard::PrefixTable::parse(&crate::net::prefix_table_csv(), "prefix-table.csv").unwrap();
    }

    #[test]
    fn the_platform_is_read_from_the_generators_files() {
        let dir = std::env::temp_dir().join(format!("tollgate-simulate-platform-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let accounts = [
            r#"{"id":11,"handle":"ann","protected":false,"status":"active","ai_preferences":{}}"#,
            r#"{"id":12,"handle":"bob","protected":true,"status":"active"}"#,
            r#"{"id":"13","handle":"cat","protected":false,"status":"suspended"}"#,
            r#"{"id":14,"handle":"dan","protected":false,"status":"active","is_minor":true}"#,
            r#"{"id":15,"handle":"eve","protected":false,"status":"active"}"#,
        ];
        let posts = [
            r#"{"id":900,"author_id":11,"text":"a"}"#,
            r#"{"id":"800","author_id":"11","text":"b"}"#,
            r#"{"id":700,"author_id":12,"text":"protected"}"#,
            r#"{"id":600,"author_id":13,"text":"suspended"}"#,
            r#"{"id":500,"author_id":14,"text":"minor"}"#,
            r#"{"id":400,"author_id":15,"text":"c"}"#,
        ];
        std::fs::write(dir.join("accounts.jsonl"), accounts.join("\n")).unwrap();
        std::fs::write(dir.join("posts.jsonl"), posts.join("\n")).unwrap();
        let p = Platform::load(&dir, 100).unwrap();
        let handles: Vec<&str> = p.authors.iter().map(|a| a.handle.as_str()).collect();
        assert_eq!(handles, ["ann", "eve"]);
        assert_eq!(p.posts, vec![(400, 1), (800, 0), (900, 0)]);
        assert_eq!(p.permalink(1), "/ann/status/800");
        // At most max_posts posts, in file order.
        assert_eq!(Platform::load(&dir, 1).unwrap().posts, vec![(900, 0)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mix_file_overrides_some_parameters() {
        let mix = Mix::from_toml("[residential-swarm]\naddresses = 100000\n[people-home]\ncount = 3\n").unwrap();
        assert_eq!(mix.classes[&Class::ResidentialSwarm].addresses, 100_000);
        assert_eq!(mix.classes[&Class::ResidentialSwarm].count, 16);
        assert_eq!(mix.classes[&Class::PeopleHome].count, 3);
        assert!(matches!(Mix::from_toml("[nobody]\ncount = 1\n"), Err(MixError::UnknownClass(_))));
        assert!(matches!(Mix::from_toml("[people-home]\ncolour = 1\n"), Err(MixError::Params { .. })));
        assert!(matches!(Mix::standard().set_counts("people-home"), Err(MixError::NotAPair(_))));
    }
}
