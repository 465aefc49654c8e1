//! Signals of harvesting: for each request, the actor it is counted
//! against and the `tollgate_domain::Signal`s that fire for it.
//!
//! `Guard::observe` is called once per guarded request, before the guard
//! policy decides; `Guard::served` once the request was served, with what
//! it received. Signals that depend on what was served (breadth, volume,
//! enumeration, key farms walking ids) are kept as per-actor flags for the
//! day and fire from the actor's next request on. Every rule, its default
//! threshold and its configuration name are in docs/guard.md, "Actors and
//! signals".
//!
//! The event path allocates nothing and takes no global lock: every count
//! lives in `Counters`, keyed by hashes; time is always passed in.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use memchr::memmem;
use sha2::Sha256;
use tollgate_domain::{AccountId, ClientKind, GuardAction, GuardClass, NetClass, PostId, Resource, Signal, SignalSet};
use tollgate_ledger::GuardFacts;

use crate::actors::{ActorId, ActorKind, attribute, basis_strings, group_of, ip_bits, prefix_bits};
use crate::counters::{CounterKey, Counters, Ns, Window};
use crate::identity::Client;
use crate::sketch::{mix, mix2};

/// Thresholds of the signals. Rates are per minute (sliding), distinct
/// counts per UTC day unless named otherwise. Address, prefix and
/// autonomous-system thresholds are multiplied by the network's scale
/// (`scale_*`): one mobile /24 is shared by thousands of people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalConfig {
    pub rate_key_per_minute: u32,
    pub rate_ip_per_minute: u32,
    pub rate_prefix_per_minute: u32,
    pub rate_asn_per_minute: u32,
    pub rate_actor_per_minute: u32,
    pub scale_unknown: u32,
    pub scale_residential: u32,
    pub scale_mobile: u32,
    pub scale_hosting: u32,
    pub scale_vpn: u32,
    /// A fingerprint is a fleet's on a kind of network (people's: home,
    /// mobile, VPN, unknown) when it made at least this many requests there
    /// in the last hour that could have sent a cookie back (with a cookie,
    /// or from an address it was seen on before in the hour) ...
    pub fleet_min_requests_per_hour: u32,
    /// ... (on hosting networks, where people seldom browse from and a
    /// fleet is never diluted by them: this many) ...
    pub fleet_hosting_min_requests_per_hour: u32,
    /// ... and fewer than this percent of them sent a cookie back (this
    /// share also judges `cookies_dropped_min_requests_per_hour`).
    pub fleet_cookie_return_percent: u32,
    /// One fingerprint on one address drops its cookies when it made at
    /// least this many requests there in the last hour (times the network's
    /// scale) that could have sent a cookie back, and fewer than
    /// `fleet_cookie_return_percent` of them did.
    pub cookies_dropped_min_requests_per_hour: u32,
    pub breadth_posts_per_day: u32,
    pub breadth_authors_per_day: u32,
    /// Distinct posts and authors are counted only for actors served at
    /// least this many posts today (below it, they cannot be over).
    pub breadth_gate_posts: u32,
    /// A post is in the long tail when it was asked for at most this many
    /// times today, by anyone ...
    pub breadth_tail_reads: u32,
    /// ... and an actor is broad when at least this percent of its posts
    /// were, over at least `breadth_tail_min_posts`.
    pub breadth_tail_percent: u32,
    pub breadth_tail_min_posts: u32,
    /// Ids asked by id that did not exist, per actor per hour, and their
    /// least share of the ids asked.
    pub enumeration_misses_per_hour: u32,
    pub enumeration_miss_percent: u32,
    /// Successive ids asked at most this far apart are a step of a walk ...
    pub enumeration_walk_max_step: u64,
    /// ... as are, for actors other than apps, steps that go on in the
    /// direction of the step before (ids asked in order, however far apart:
    /// ids with a timestamp in them, such as posts', are far apart even
    /// when consecutive) ...
    /// ... and this many steps per hour, this share of the ids asked, a walk.
    pub enumeration_walk_steps_per_hour: u32,
    pub enumeration_walk_percent: u32,
    /// Distinct /24 (or /48) prefixes one key is used from in an hour.
    pub key_networks_per_hour: u32,
    /// Distinct keys of one app used in a day.
    pub key_farm_keys_per_app: u32,
    /// Distinct apps whose keys are used by one fingerprint on one prefix
    /// in a day.
    pub key_farm_apps_per_group: u32,
    /// Distinct apps walking ids from one fingerprint on one prefix in a day.
    pub key_farm_walking_apps: u32,
    /// A key's day counts toward pacing when its use in a quota window
    /// reached this percent of the quota ...
    pub quota_pacing_percent: u32,
    /// ... and the signal fires after this many such days in a row.
    pub quota_pacing_days: u32,
    /// Posts served to one actor in 24 hours (sliding).
    pub volume_posts_per_day: u32,
    /// User-agent tokens of crawlers that verify themselves (by published
    /// ranges or Web Bot Auth); matched without case.
    pub verifying_crawlers: Vec<String>,
}

impl Default for SignalConfig {
    fn default() -> SignalConfig {
        SignalConfig {
            // Off: a key's rate is its app's quota, which the API enforces
            // (`rate_limit_*`); set it for a ceiling of the guard's own.
            rate_key_per_minute: 0,
            rate_ip_per_minute: 120,
            rate_prefix_per_minute: 600,
            rate_asn_per_minute: 6_000,
            rate_actor_per_minute: 120,
            scale_unknown: 4,
            scale_residential: 2,
            scale_mobile: 32,
            scale_hosting: 1,
            scale_vpn: 8,
            fleet_min_requests_per_hour: 500,
            fleet_hosting_min_requests_per_hour: 10,
            fleet_cookie_return_percent: 5,
            cookies_dropped_min_requests_per_hour: 10,
            breadth_posts_per_day: 20_000,
            breadth_authors_per_day: 5_000,
            breadth_gate_posts: 2_000,
            breadth_tail_reads: 2,
            breadth_tail_percent: 80,
            breadth_tail_min_posts: 2_000,
            enumeration_misses_per_hour: 200,
            enumeration_miss_percent: 50,
            enumeration_walk_max_step: 1_000,
            enumeration_walk_steps_per_hour: 50,
            enumeration_walk_percent: 80,
            key_networks_per_hour: 50,
            key_farm_keys_per_app: 5,
            // One program on one network using a few apps' keys is also an
            // integrator, or an office: ten a day is a farm.
            key_farm_apps_per_group: 10,
            key_farm_walking_apps: 2,
            quota_pacing_percent: 90,
            quota_pacing_days: 3,
            volume_posts_per_day: 1_000_000,
            verifying_crawlers: ["Googlebot", "bingbot", "Applebot", "DuckDuckBot", "YandexBot"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl SignalConfig {
    /// The multiplier of address, prefix and autonomous-system thresholds
    /// for a network class.
    pub fn scale(&self, network: NetClass) -> u32 {
        match network {
            NetClass::Unknown => self.scale_unknown,
            NetClass::Residential => self.scale_residential,
            NetClass::Mobile => self.scale_mobile,
            NetClass::Hosting => self.scale_hosting,
            NetClass::Vpn => self.scale_vpn,
        }
        .max(1)
    }
}

/// A key's use of its quota in its current quota window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaUse {
    pub used: u64,
    pub limit: u64,
}

/// What the caller knows of a request beyond its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// The request fetches robots.txt.
    pub robots_fetch: bool,
    /// Robots.txt disallows the request's path for the client's agent.
    pub disallowed: bool,
    /// The request follows a hidden link (`/_tg/l/<token>` with a token
    /// `Guard::check_trap` accepts).
    pub hidden_link: bool,
    /// The key's quota use, for keyed requests.
    pub quota: Option<QuotaUse>,
}

/// The guard's view of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub actor: ActorId,
    /// Which rule attributed the request; `ActorKind::basis` is the basis.
    pub kind: ActorKind,
    pub signals: SignalSet,
    /// The client's fingerprint on its prefix (`actors::group_of`).
    pub group: u64,
}

impl Observation {
    /// The class the guard policy decides: this observation's signals, the
    /// client's kind, network and challenge pass, and the request's facts.
    pub fn class(&self, client: &Client, resource: Resource, disallowed: bool, offers_price: bool) -> GuardClass {
        GuardClass {
            signals: self.signals,
            kind: client.kind,
            network: client.network,
            resource,
            disallowed,
            offers_price,
            passed_challenge: client.passed_challenge,
        }
    }

    /// The facts the ledger records for the request: `request` is its
    /// method and target (cut to 512 bytes here), `action` what it was
    /// answered, `rule` the guard policy that chose it, `charged` the price
    /// of a pay-per-crawl request (the action is then recorded as
    /// `charge`).
    pub fn facts(
        &self,
        client: &Client,
        request: &str,
        action: GuardAction,
        rule: Option<String>,
        charged: Option<String>,
    ) -> GuardFacts {
        GuardFacts {
            actor: self.actor.to_string(),
            basis: basis_strings(self.kind, client),
            ip: client.ip.to_string(),
            prefix: client.prefix.to_string(),
            asn: client.asn,
            network: (client.network != NetClass::Unknown).then(|| client.network.as_str().to_owned()),
            user_agent: cut(&client.user_agent, 256).to_owned(),
            request: cut(request, 512).to_owned(),
            signals: self.signals.iter().map(|s| s.as_str().to_owned()).collect(),
            action: action.as_str().to_owned(),
            rule,
            charged,
        }
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Per-actor flags for the day (`Ns::ActorFlags`).
mod flag {
    pub const ROBOTS_FETCHED: u32 = 1 << 0;
    pub const ROBOTS_IGNORED: u32 = 1 << 1;
    pub const HIDDEN_LINK: u32 = 1 << 2;
    pub const BREADTH: u32 = 1 << 3;
    pub const ENUMERATION: u32 = 1 << 4;
    pub const VOLUME: u32 = 1 << 5;
    pub const KEY_FARM: u32 = 1 << 6;
    /// Per key (`Ns::KeyFlags`).
    pub const QUOTA_PACING: u32 = 1 << 0;
    pub const SEEN: u32 = 1 << 0;
}

const FLAG_SIGNALS: [(u32, Signal); 6] = [
    (flag::ROBOTS_IGNORED, Signal::RobotsIgnored),
    (flag::HIDDEN_LINK, Signal::HiddenLink),
    (flag::BREADTH, Signal::Breadth),
    (flag::ENUMERATION, Signal::Enumeration),
    (flag::VOLUME, Signal::Volume),
    (flag::KEY_FARM, Signal::KeyFarm),
];

type HmacSha256 = Hmac<Sha256>;

/// The top bit of the last id an actor asked (`Ns::WalkLast`): the step to
/// it went down.
const WALK_DOWN: u64 = 1 << 63;

/// One in this many of a browser's requests with a cookie is counted on its
/// address, for this many (`cookies-dropped`).
const RETURN_SAMPLE: u32 = 8;

/// Posts whose counters `Guard::served` asks for ahead together: their 32
/// blocks of 128 bytes fit the first-level cache together.
const READS_BATCH: usize = 32;

/// Where a fingerprint's cookie return rate is counted: per kind of
/// network (`NetClass`), each apart.
fn fleet_scope(fp: u64, network: NetClass) -> u64 {
    mix2(fp, 0x666c_6565_7400 | network as u64)
}

/// The guard's signal engine: configuration, counters and the secret of
/// hidden-link tokens.
pub struct Guard {
    config: SignalConfig,
    counters: Arc<dyn Counters>,
    /// The HMAC of hidden links, keyed once with the guard's secret: every
    /// page makes a token, and keying costs two of the four SHA-256 blocks
    /// a token takes.
    trap_key: HmacSha256,
    /// `config.verifying_crawlers`, lower case.
    crawler_tokens: Vec<memmem::Finder<'static>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(config: SignalConfig, counters: Arc<dyn Counters>, secret: [u8; 32]) -> Guard {
        let crawler_tokens = config
            .verifying_crawlers
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| memmem::Finder::new(t.to_ascii_lowercase().as_bytes()).into_owned())
            .collect();
        let trap_key = HmacSha256::new_from_slice(&secret).expect("HMAC takes keys of any length");
        Guard { config, counters, trap_key, crawler_tokens }
    }

    pub fn config(&self) -> &SignalConfig {
        &self.config
    }

    /// Attributes a request to its actor, counts it, and returns the
    /// signals that fire for it.
    pub fn observe(&self, client: &Client, access: &Access, now: u64) -> Observation {
        let c = &*self.counters;
        let cfg = &self.config;
        let mut signals = SignalSet::EMPTY;

        // Every counter this request touches is known up front but the
        // actor's (which may turn out to be the fingerprint's): their memory
        // is asked for at once, not one counter after the other.
        let fp = client.fingerprint;
        let ip_key = CounterKey::new(Ns::Ip, ip_bits(client.ip));
        let prefix_key = CounterKey::new(Ns::Prefix, prefix_bits(client.prefix));
        let asn_key = client.asn.map(|asn| CounterKey::new(Ns::Asn, u64::from(asn)));
        let key_key = client.key.map(|(_, key)| CounterKey::new(Ns::Key, key.0));
        let (likely, _) = attribute(client, false);
        let fp_net = fleet_scope(fp, client.network);
        let mut ahead = [(ip_key, Window::Minute); 9];
        let mut n = 0;
        for k in [
            Some((ip_key, Window::Minute)),
            Some((prefix_key, Window::Minute)),
            asn_key.map(|k| (k, Window::Minute)),
            key_key.map(|k| (k, Window::Minute)),
            Some((CounterKey::new(Ns::Actor, likely.0), Window::Minute)),
            (fp != 0).then(|| (CounterKey::new(Ns::FpRequests, fp_net), Window::Hour)),
            // For `served`, which follows.
            Some((CounterKey::new(Ns::Served, likely.0), Window::Day)),
        ]
        .into_iter()
        .flatten()
        {
            ahead[n] = k;
            n += 1;
        }
        let fp_ip = mix2(fp, ip_key.id);
        let fp_ip_seen = CounterKey::new(Ns::FpIpSeen, fp_ip);
        let anonymous = fp != 0 && client.key.is_none() && client.verified.is_none();
        // Only browsers are expected to keep a cookie: clients whose user
        // agent names a browser and its version (an unknown string is
        // `Browser` by default, but may be any script). Their requests with
        // one are counted on the address one in `RETURN_SAMPLE` (by the
        // cookie and the second), each for `RETURN_SAMPLE`: people's returned
        // cookies are many wherever their first visits add up, so the
        // estimate of their share holds, and most people's requests touch
        // one counter fewer.
        let count_here = anonymous
            && client.kind == ClientKind::Browser
            && client.agent_version.is_some()
            && client.cookie.is_none_or(|id| mix(id ^ now).is_multiple_of(u64::from(RETURN_SAMPLE)));
        if count_here {
            ahead[n] = (CounterKey::new(Ns::FpIpRequests, fp_ip), Window::Hour);
            n += 1;
        }
        // Whether the fingerprint was seen on this address before: asked by
        // the fleet's count on people's networks (on hosting networks every
        // request counts) and by the address's count.
        let ask_seen = anonymous && client.cookie.is_none() && (client.network != NetClass::Hosting || count_here);
        if ask_seen {
            c.prefetch_flags(fp_ip_seen, Window::Hour, now);
        }
        let group = group_of(client);
        if client.key.is_some() {
            ahead[n] = (CounterKey::new(Ns::GroupApps, group), Window::Day);
            n += 1;
        }
        c.prefetch_many(&ahead[..n], now);
        c.prefetch_flags(CounterKey::new(Ns::ActorFlags, likely.0), Window::Day, now);
        let key_flags = client.key.map(|(_, key)| CounterKey::new(Ns::KeyFlags, key.0));
        let key_net_seen =
            client.key.map(|(_, key)| CounterKey::new(Ns::KeyNetSeen, mix2(key.0, prefix_bits(client.prefix))));
        let group_app_seen = client.key.map(|(app, _)| CounterKey::new(Ns::GroupAppSeen, mix2(app.0, group)));
        if let (Some(kf), Some(kn), Some(ga)) = (key_flags, key_net_seen, group_app_seen) {
            c.prefetch_flags(kf, Window::Day, now);
            c.prefetch_flags(kn, Window::Hour, now);
            c.prefetch_flags(ga, Window::Day, now);
        }

        // The fingerprint's cookie return rate on the client's kind of
        // network: a fleet of fresh clients. Counted apart per kind of
        // network, so that a data-centre fleet copying a popular browser's
        // headers neither hides among the people using that browser at home
        // nor makes suspects of them (nor they of it). On people's networks
        // only requests that could have sent a cookie back count: those with
        // one, and those without one from an address this fingerprint was
        // already seen on this hour (so was given one). A first visit is no
        // evidence there: many people's first visits (a link shared widely,
        // each reader reading one page) must not make their browser's
        // fingerprint a fleet. People seldom browse from hosting networks,
        // where every request counts.
        //
        // The same on one address, for one fingerprint: people's browsers
        // send back the cookie they were given, so requests that could have
        // and did not, over and over from one address, are a client that
        // drops its cookies (a scraper passing for a person's first visit
        // at each request), whatever the people sharing its browser do
        // elsewhere. Scaled by the network: many people behind one carrier
        // address each make a first visit, and each visit after the first
        // person's could have returned a cookie. Browsers only: a tool is
        // not expected to keep cookies (its fleets are the fingerprint's).
        let mut fleet = false;
        let scale = cfg.scale(client.network);
        if anonymous {
            let seen_here = ask_seen && c.mark(fp_ip_seen, Window::Hour, now, flag::SEEN) & flag::SEEN != 0;
            let could_return = client.network == NetClass::Hosting || client.cookie.is_some() || seen_here;
            if count_here {
                let mut out = [0u32; 2];
                c.add_many(
                    &[
                        (
                            CounterKey::new(Ns::FpIpRequests, fp_ip),
                            if client.cookie.is_some() { RETURN_SAMPLE } else { u32::from(seen_here) },
                        ),
                        (CounterKey::new(Ns::FpIpCookies, fp_ip), RETURN_SAMPLE * u32::from(client.cookie.is_some())),
                    ],
                    Window::Hour,
                    now,
                    &mut out,
                );
                let [here, returned_here] = out;
                if client.cookie.is_none()
                    && here >= cfg.cookies_dropped_min_requests_per_hour.saturating_mul(scale).max(1)
                    && u64::from(returned_here) * 100 < u64::from(here) * u64::from(cfg.fleet_cookie_return_percent)
                {
                    signals.insert(Signal::CookiesDropped);
                }
            }
            let mut out = [0u32; 2];
            c.add_many(
                &[
                    (CounterKey::new(Ns::FpRequests, fp_net), u32::from(could_return)),
                    (CounterKey::new(Ns::FpCookies, fp_net), u32::from(client.cookie.is_some())),
                ],
                Window::Hour,
                now,
                &mut out,
            );
            let [total, returned] = out;
            let least = if client.network == NetClass::Hosting {
                cfg.fleet_hosting_min_requests_per_hour
            } else {
                cfg.fleet_min_requests_per_hour
            };
            fleet = total >= least.max(1)
                && u64::from(returned) * 100 < u64::from(total) * u64::from(cfg.fleet_cookie_return_percent);
            if fleet && client.cookie.is_none() {
                signals.insert(Signal::CookiesNeverReused);
            }
        }
        let (actor, kind) = attribute(client, fleet);

        // Rates.
        let over = |key, limit: u32| c.add(key, Window::Minute, now, 1) > limit;
        if let Some(k) = key_key
            && cfg.rate_key_per_minute > 0
            && over(k, cfg.rate_key_per_minute)
        {
            signals.insert(Signal::RateKey);
        }
        if over(ip_key, cfg.rate_ip_per_minute.saturating_mul(scale)) {
            signals.insert(Signal::RateIp);
        }
        if over(prefix_key, cfg.rate_prefix_per_minute.saturating_mul(scale)) {
            signals.insert(Signal::RatePrefix);
        }
        if let Some(k) = asn_key
            && over(k, cfg.rate_asn_per_minute.saturating_mul(scale))
        {
            signals.insert(Signal::RateAsn);
        }
        // An actor standing for many people (one fingerprint on one
        // network, or one address) gets the network's scale too.
        let actor_scale = if matches!(kind, ActorKind::Group | ActorKind::Address) { scale } else { 1 };
        if over(CounterKey::new(Ns::Actor, actor.0), cfg.rate_actor_per_minute.saturating_mul(actor_scale)) {
            signals.insert(Signal::RateActor);
        }

        // Per-actor flags: robots.txt, hidden links, and what `served` found.
        let flags_key = CounterKey::new(Ns::ActorFlags, actor.0);
        let mut flags = c.marked(flags_key, Window::Day, now);
        let mut new = 0;
        if access.robots_fetch {
            new |= flag::ROBOTS_FETCHED;
        }
        if access.disallowed && (flags | new) & flag::ROBOTS_FETCHED != 0 {
            new |= flag::ROBOTS_IGNORED;
        }
        if access.hidden_link {
            new |= flag::HIDDEN_LINK;
        }
        if new & !flags != 0 {
            c.mark(flags_key, Window::Day, now, new);
        }
        flags |= new;

        // Keys: networks, farms, quota pacing.
        if let (Some((app, key)), Some(key_net_seen), Some(group_app_seen), Some(key_flags)) =
            (client.key, key_net_seen, group_app_seen, key_flags)
        {
            let net_seen = c.mark(key_net_seen, Window::Hour, now, flag::SEEN);
            let nets = c.add(CounterKey::new(Ns::KeyNets, key.0), Window::Hour, now, u32::from(net_seen == 0));
            if nets > cfg.key_networks_per_hour {
                signals.insert(Signal::KeyManyNetworks);
            }
            let key_seen = c.mark(CounterKey::new(Ns::AppKeySeen, mix2(app.0, key.0)), Window::Day, now, flag::SEEN);
            let keys = c.add(CounterKey::new(Ns::AppKeys, app.0), Window::Day, now, u32::from(key_seen == 0));
            let app_seen = c.mark(group_app_seen, Window::Day, now, flag::SEEN);
            let apps = c.add(CounterKey::new(Ns::GroupApps, group), Window::Day, now, u32::from(app_seen == 0));
            if keys >= cfg.key_farm_keys_per_app
                || (cfg.key_farm_apps_per_group > 0 && apps >= cfg.key_farm_apps_per_group)
            {
                signals.insert(Signal::KeyFarm);
            }
            let mut kf = c.marked(key_flags, Window::Day, now);
            if let Some(q) = access.quota
                && q.limit > 0
                && q.used.saturating_mul(100) >= q.limit.saturating_mul(u64::from(cfg.quota_pacing_percent))
                && kf & flag::QUOTA_PACING == 0
            {
                let day = Window::Day.index(now) as u32;
                if c.streak(CounterKey::new(Ns::QuotaStreak, key.0), day) >= cfg.quota_pacing_days {
                    c.mark(key_flags, Window::Day, now, flag::QUOTA_PACING);
                    kf |= flag::QUOTA_PACING;
                }
            }
            if kf & flag::QUOTA_PACING != 0 {
                signals.insert(Signal::QuotaPacing);
            }
        }

        for (bit, signal) in FLAG_SIGNALS {
            if flags & bit != 0 {
                signals.insert(signal);
            }
        }
        if client.declared_ai.is_some() && access.disallowed {
            signals.insert(Signal::DeclaredAiAgent);
        }
        if client.stale_agent && client.kind == ClientKind::Browser {
            signals.insert(Signal::StaleBrowser);
        }
        if client.verified.is_none() && self.claims_verifying_crawler(&client.user_agent) {
            signals.insert(Signal::Impersonation);
        }
        Observation { actor, kind, signals, group }
    }

    /// Counts what a request was served: `posts` and their `authors`, and
    /// for lookups by id, the ids `asked` (posts or accounts) and how many
    /// of them existed.
    pub fn served(
        &self,
        obs: &Observation,
        posts: &[PostId],
        authors: &[AccountId],
        asked: &[u64],
        found: usize,
        now: u64,
    ) {
        let c = &*self.counters;
        let cfg = &self.config;
        let actor = obs.actor.0;
        let mut bits = 0;

        // Volume and the long tail. Each batch's lines are asked for together
        // before its adds (the actor's own with the first batch), so that a
        // page of 100 posts waits for memory a few times, not 100.
        let mut ahead = [(CounterKey::new(Ns::Served, actor), Window::Day); 1 + READS_BATCH];
        if posts.is_empty() {
            c.prefetch_many(&ahead[..1], now);
        }
        let mut tail = 0u32;
        for (i, batch) in posts.chunks(READS_BATCH).enumerate() {
            for (a, p) in ahead[1..].iter_mut().zip(batch) {
                *a = (CounterKey::new(Ns::PostReads, p.0), Window::Day);
            }
            c.prefetch_many(&ahead[usize::from(i > 0)..1 + batch.len()], now);
            for p in batch {
                if c.add(CounterKey::new(Ns::PostReads, p.0), Window::Day, now, 1) <= cfg.breadth_tail_reads {
                    tail += 1;
                }
            }
        }
        let n = u32::try_from(posts.len()).unwrap_or(u32::MAX);
        let mut out = [0u32; 2];
        c.add_many(
            &[(CounterKey::new(Ns::Served, actor), n), (CounterKey::new(Ns::Tail, actor), tail)],
            Window::Day,
            now,
            &mut out,
        );
        let [volume, tails] = out;
        if volume > cfg.volume_posts_per_day {
            bits |= flag::VOLUME;
        }
        if volume >= cfg.breadth_tail_min_posts
            && u64::from(tails) * 100 >= u64::from(volume) * u64::from(cfg.breadth_tail_percent)
        {
            bits |= flag::BREADTH;
        }
        // Breadth: distinct posts and authors, for actors past the gate.
        if volume >= cfg.breadth_gate_posts && !posts.is_empty() {
            let dp = c.add_distinct_many(
                CounterKey::new(Ns::DistinctPosts, actor),
                Window::Day,
                now,
                &mut posts.iter().map(|p| p.0),
            );
            let da = c.add_distinct_many(
                CounterKey::new(Ns::DistinctAuthors, actor),
                Window::Day,
                now,
                &mut authors.iter().map(|a| a.0),
            );
            if dp > cfg.breadth_posts_per_day || da > cfg.breadth_authors_per_day {
                bits |= flag::BREADTH;
            }
        }

        // Enumeration: misses, and walks: small steps, or (but for apps,
        // whose batches of ids are often sorted) steps going on in one
        // direction.
        if let Some(&last) = asked.last() {
            let app = matches!(obs.kind, ActorKind::App(_));
            let (mut steps, mut onward) = (0u32, 0u32);
            // The last id asked, and whether the step to it went down (the
            // top bit: ids are compared in 63 bits). Stored going up first
            // and set right below when the walk went down: a race between
            // two requests of one actor costs a step at most.
            let walk_key = CounterKey::new(Ns::WalkLast, actor);
            let prev = c.swap(walk_key, last & !WALK_DOWN);
            let mut before = prev.map(|v| v & !WALK_DOWN);
            let mut went_down = prev.map(|v| v & WALK_DOWN != 0);
            for &id in asked {
                let id = id & !WALK_DOWN;
                if let Some(b) = before {
                    let d = id.abs_diff(b);
                    if d > 0 && d <= cfg.enumeration_walk_max_step {
                        steps += 1;
                    }
                    if d > 0 {
                        let down = id < b;
                        if !app && went_down == Some(down) {
                            onward += 1;
                        }
                        went_down = Some(down);
                    }
                }
                before = Some(id);
            }
            if went_down == Some(true) {
                c.swap(walk_key, last | WALK_DOWN);
            }
            let k = u32::try_from(asked.len()).unwrap_or(u32::MAX);
            let misses = k.saturating_sub(u32::try_from(found).unwrap_or(u32::MAX));
            let mut out = [0u32; 4];
            c.add_many(
                &[
                    (CounterKey::new(Ns::Asked, actor), k),
                    (CounterKey::new(Ns::Misses, actor), misses),
                    (CounterKey::new(Ns::WalkSteps, actor), steps),
                    (CounterKey::new(Ns::WalkOnward, actor), onward),
                ],
                Window::Hour,
                now,
                &mut out,
            );
            let [total, missed, walked, onward] = out.map(u64::from);
            let walked = walked.max(onward);
            let many_misses = missed >= u64::from(cfg.enumeration_misses_per_hour)
                && missed * 100 >= total * u64::from(cfg.enumeration_miss_percent);
            let walk = walked >= u64::from(cfg.enumeration_walk_steps_per_hour)
                && walked * 100 >= total * u64::from(cfg.enumeration_walk_percent);
            if many_misses || walk {
                bits |= flag::ENUMERATION;
            }
            // Key farm: several apps walking ids from one fingerprint and
            // prefix split the id space between them.
            if let ActorKind::App(app) = obs.kind
                && steps > 0
            {
                let seen =
                    c.mark(CounterKey::new(Ns::GroupWalkerSeen, mix2(app.0, obs.group)), Window::Day, now, flag::SEEN);
                let walkers =
                    c.add(CounterKey::new(Ns::GroupWalkers, obs.group), Window::Day, now, u32::from(seen == 0));
                if walkers >= cfg.key_farm_walking_apps {
                    bits |= flag::KEY_FARM;
                }
            }
        }
        if bits != 0 {
            c.mark(CounterKey::new(Ns::ActorFlags, actor), Window::Day, now, bits);
        }
    }

    /// The answer to a request of a client without continuity cookie
    /// gives it the cookie `cookie` (`Resolver::new_cookie`): what the
    /// request told the client is carried to the cookie's actor, which a
    /// client that keeps cookies is from its next request on. A robots.txt
    /// fetch marks that actor as having read robots.txt, so that a crawler
    /// reading robots.txt first and keeping its cookie cannot leave the
    /// notice behind with the actor of its first request (`robots-ignored`
    /// would then never fire for it). Call it after `observe`.
    pub fn cookie_issued(&self, access: &Access, cookie: u64, now: u64) {
        if access.robots_fetch {
            let key = CounterKey::new(Ns::ActorFlags, crate::actors::cookie_actor(cookie).0);
            self.counters.mark(key, Window::Day, now, flag::ROBOTS_FETCHED);
        }
    }

    /// A hidden-link token for a response to `actor`, unique per `nonce`
    /// (give each response its own), and unforgeable: an HMAC-SHA256 of
    /// both under the guard's secret. 64 characters, URL-safe (hex).
    pub fn trap_token(&self, actor: ActorId, nonce: u64) -> String {
        let tag = self.trap_mac(actor.0, nonce).finalize().into_bytes();
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&actor.0.to_be_bytes());
        raw[8..16].copy_from_slice(&nonce.to_be_bytes());
        raw[16..].copy_from_slice(&tag[..16]);
        hex::encode(raw)
    }

    /// The actor a hidden-link token was made for, if the token is one of
    /// this guard's.
    pub fn check_trap(&self, token: &str) -> Option<ActorId> {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(token, &mut raw).ok()?;
        let actor = u64::from_be_bytes(raw[..8].try_into().ok()?);
        let nonce = u64::from_be_bytes(raw[8..16].try_into().ok()?);
        self.trap_mac(actor, nonce).verify_truncated_left(&raw[16..]).ok()?;
        Some(ActorId(actor))
    }

    /// A hidden link was followed with `token`: marks the actor the page
    /// was served to (`hidden-link` fires for it from its next request on,
    /// as for the actor that followed it, which the caller flags with
    /// `Access::hidden_link`), and returns it. A fleet that hands the links
    /// its parsers find to other clients is caught at both ends.
    pub fn trap_followed(&self, token: &str, now: u64) -> Option<ActorId> {
        let actor = self.check_trap(token)?;
        self.counters.mark(CounterKey::new(Ns::ActorFlags, actor.0), Window::Day, now, flag::HIDDEN_LINK);
        Some(actor)
    }

    fn trap_mac(&self, actor: u64, nonce: u64) -> HmacSha256 {
        let mut mac = self.trap_key.clone();
        mac.update(b"tollgate-guard-trap\0");
        mac.update(&actor.to_be_bytes());
        mac.update(&nonce.to_be_bytes());
        mac
    }

    /// The user agent names a crawler that verifies itself: the user agent
    /// in lower case (on the stack: user agents are cut to 256 bytes) is
    /// searched for each token.
    fn claims_verifying_crawler(&self, ua: &str) -> bool {
        let mut buf = [0u8; 256];
        let n = ua.len().min(buf.len());
        buf[..n].copy_from_slice(&ua.as_bytes()[..n]);
        buf[..n].make_ascii_lowercase();
        self.crawler_tokens.iter().any(|t| t.find(&buf[..n]).is_some())
    }
}
