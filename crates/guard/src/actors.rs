//! Actors: who the guard counts a request against.
//!
//! An actor is the guard's best idea of one operator: an app (whatever keys
//! it uses), a verified crawler, a browser with a continuity cookie, or, for
//! clients without one, a fingerprint seen on one network. The rules, their
//! order and how each can fail are in docs/guard.md, "Actors and signals";
//! in short, strongest evidence first:
//!
//! 1. a valid API key: the key's app (basis `key`);
//! 2. a verified crawler identity: the crawler (`web-bot-auth:<crawler>`,
//!    `ip-range:<crawler>`);
//! 3. a continuity cookie sent back: the cookie, across addresses (`cookie`);
//! 4. a fingerprint whose clients never send cookies back (a fleet): the
//!    fingerprint, across networks (`fingerprint`);
//! 5. any other fingerprint: the fingerprint on the client's network, its
//!    /24 (or /48) for residential, mobile and unknown networks, its
//!    autonomous system for hosting and VPN networks (`fingerprint`, `ip`);
//! 6. no fingerprint: the address (`ip`).
//!
//! A fingerprint alone never makes an actor of people: a popular browser's
//! header shape is shared by millions, so rule 5 links by fingerprint only
//! within one network, and rule 4 only when that fingerprint's clients, all
//! of them, fail to keep cookies, which browsers people use do.

use std::fmt;
use std::net::IpAddr;

use tollgate_domain::{AppId, NetClass};

use crate::identity::{Client, Prefix, VerifiedBy};
use crate::sketch::{hash_bytes, mix, mix2};

/// An actor's id: a hash of what it was attributed by (stable across
/// nodes and restarts, since no secret goes into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub u64);

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What an actor is: which rule attributed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// An app, by its API key.
    App(AppId),
    /// A verified crawler.
    Crawler(VerifiedBy),
    /// A client with a continuity cookie.
    Cookie,
    /// A fingerprint whose clients never send cookies back.
    Fleet,
    /// A fingerprint on one network (prefix or autonomous system).
    Group,
    /// An address.
    Address,
}

/// The basis of an attribution, strongest first, as `GuardFacts.basis`
/// records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    Key,
    WebBotAuth,
    IpRange,
    Cookie,
    Fingerprint,
    Ip,
}

impl ActorKind {
    /// The evidence the attribution rests on, strongest first.
    pub fn basis(self) -> &'static [Basis] {
        match self {
            ActorKind::App(_) => &[Basis::Key],
            ActorKind::Crawler(VerifiedBy::WebBotAuth) => &[Basis::WebBotAuth],
            ActorKind::Crawler(VerifiedBy::IpRange) => &[Basis::IpRange],
            ActorKind::Cookie => &[Basis::Cookie],
            ActorKind::Fleet => &[Basis::Fingerprint],
            ActorKind::Group => &[Basis::Fingerprint, Basis::Ip],
            ActorKind::Address => &[Basis::Ip],
        }
    }
}

/// The basis as `GuardFacts.basis` writes it: `web-bot-auth:<crawler>` and
/// `ip-range:<crawler>` name the crawler.
pub fn basis_strings(kind: ActorKind, client: &Client) -> Vec<String> {
    let crawler = client.verified.as_ref().map_or("", |v| v.crawler.as_str());
    kind.basis()
        .iter()
        .map(|b| match b {
            Basis::Key => "key".to_owned(),
            Basis::WebBotAuth => format!("web-bot-auth:{crawler}"),
            Basis::IpRange => format!("ip-range:{crawler}"),
            Basis::Cookie => "cookie".to_owned(),
            Basis::Fingerprint => "fingerprint".to_owned(),
            Basis::Ip => "ip".to_owned(),
        })
        .collect()
}

// Domain separation of the actor hashes, one per rule.
const APP: u64 = 1;
const CRAWLER: u64 = 2;
const COOKIE: u64 = 3;
const FLEET: u64 = 4;
const GROUP_PREFIX: u64 = 5;
const GROUP_ASN: u64 = 6;
const ADDRESS: u64 = 7;

/// An address as the guard counts it, in 64 bits: an IPv4 address, or the
/// /64 of an IPv6 one (one host or one home's subnet, whose interface bits
/// the client chooses freely: counting them apart would let one client
/// spread over 2^64 addresses).
pub fn ip_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => mix((u128::from(v6) >> 64) as u64),
    }
}

pub fn prefix_bits(p: Prefix) -> u64 {
    let addr = match p.addr {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => mix((u128::from(v6) >> 64) as u64) ^ u128::from(v6) as u64,
    };
    mix2(addr, u64::from(p.len))
}

/// The fingerprint on the client's prefix: where the keys of a key farm
/// meet, and the unit of rule 5 for residential and mobile networks.
pub fn group_of(client: &Client) -> u64 {
    mix2(client.fingerprint, prefix_bits(client.prefix))
}

/// The actor of a client that sends the continuity cookie `cookie` back
/// (and has no key and no verified identity): what `attribute` gives it.
pub fn cookie_actor(cookie: u64) -> ActorId {
    ActorId(mix2(COOKIE, cookie))
}

/// Attributes `client` to an actor. `fleet` says the client's fingerprint
/// is a fleet's (its clients never send cookies back; `signals` decides
/// from counters).
pub fn attribute(client: &Client, fleet: bool) -> (ActorId, ActorKind) {
    if let Some((app, _)) = client.key {
        return (ActorId(mix2(APP, app.0)), ActorKind::App(app));
    }
    if let Some(v) = &client.verified {
        return (ActorId(mix2(CRAWLER, hash_bytes(v.crawler.as_bytes()))), ActorKind::Crawler(v.by));
    }
    if let Some(cookie) = client.cookie {
        return (cookie_actor(cookie), ActorKind::Cookie);
    }
    if client.fingerprint == 0 {
        return (ActorId(mix2(ADDRESS, ip_bits(client.ip))), ActorKind::Address);
    }
    if fleet {
        return (ActorId(mix2(FLEET, client.fingerprint)), ActorKind::Fleet);
    }
    let id = match (client.network, client.asn) {
        (NetClass::Hosting | NetClass::Vpn, Some(asn)) => mix2(GROUP_ASN, mix2(client.fingerprint, u64::from(asn))),
        _ => mix2(GROUP_PREFIX, group_of(client)),
    };
    (ActorId(id), ActorKind::Group)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::Verified;
    use tollgate_domain::{ClientKind, KeyId};

    /// A browser on a residential address, without cookie.
    pub(crate) fn browser(ip: &str) -> Client {
        let ip: IpAddr = ip.parse().unwrap();
        Client {
            ip,
            prefix: Prefix::of(ip),
            asn: Some(64_500),
            network: NetClass::Residential,
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0".into(),
            agent_family: "chrome".into(),
            agent_version: Some(131),
            stale_agent: false,
            declared_ai: None,
            kind: ClientKind::Browser,
            verified: None,
            key: None,
            cookie: None,
            passed_challenge: false,
            fingerprint: 0xf1f1,
        }
    }

    #[test]
    fn keys_of_one_app_are_one_actor() {
        let mut a = browser("198.51.100.1");
        a.key = Some((AppId(7), KeyId(1)));
        let mut b = browser("203.0.113.9");
        b.key = Some((AppId(7), KeyId(2)));
        b.cookie = Some(5);
        assert_eq!(attribute(&a, false), attribute(&b, false));
        assert_eq!(attribute(&a, false).1.basis(), &[Basis::Key]);
        let mut c = a.clone();
        c.key = Some((AppId(8), KeyId(1)));
        assert_ne!(attribute(&a, false).0, attribute(&c, false).0);
    }

    #[test]
    fn a_verified_crawler_is_one_actor_named_in_the_basis() {
        let mut a = browser("66.249.66.1");
        a.verified = Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::IpRange });
        let mut b = browser("66.249.70.1");
        b.verified = Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::IpRange });
        assert_eq!(attribute(&a, false).0, attribute(&b, false).0);
        assert_eq!(basis_strings(attribute(&a, false).1, &a), ["ip-range:Googlebot"]);
        b.verified = Some(Verified { crawler: "Googlebot".into(), by: VerifiedBy::WebBotAuth });
        assert_eq!(basis_strings(attribute(&b, false).1, &b), ["web-bot-auth:Googlebot"]);
    }

    #[test]
    fn a_cookie_follows_its_client_across_addresses() {
        let mut a = browser("198.51.100.1");
        a.cookie = Some(99);
        let mut b = browser("203.0.113.9");
        b.cookie = Some(99);
        b.fingerprint = 0xbeef;
        assert_eq!(attribute(&a, false).0, attribute(&b, false).0);
        b.cookie = Some(100);
        assert_ne!(attribute(&a, false).0, attribute(&b, false).0);
    }

    #[test]
    fn people_sharing_a_browser_fingerprint_are_apart_across_networks() {
        let a = browser("198.51.100.1");
        let b = browser("198.51.100.200");
        let c = browser("203.0.113.9");
        assert_eq!(attribute(&a, false).0, attribute(&b, false).0, "one fingerprint on one /24 is one actor");
        assert_ne!(attribute(&a, false).0, attribute(&c, false).0, "another /24 is another actor");
        assert_eq!(attribute(&a, false).1.basis(), &[Basis::Fingerprint, Basis::Ip]);
        // The same fingerprint in a hosting network links by autonomous system.
        let mut h1 = browser("192.0.2.1");
        h1.network = NetClass::Hosting;
        let mut h2 = browser("192.0.3.1");
        h2.network = NetClass::Hosting;
        assert_eq!(attribute(&h1, false).0, attribute(&h2, false).0);
        h2.asn = Some(64_501);
        assert_ne!(attribute(&h1, false).0, attribute(&h2, false).0);
        // A residential one does not.
        let mut r2 = browser("192.0.3.1");
        r2.network = NetClass::Residential;
        let mut r1 = browser("192.0.2.1");
        r1.network = NetClass::Residential;
        assert_ne!(attribute(&r1, false).0, attribute(&r2, false).0);
    }

    #[test]
    fn a_fleet_fingerprint_is_one_actor_everywhere() {
        let a = browser("198.51.100.1");
        let b = browser("203.0.113.9");
        assert_eq!(attribute(&a, true).0, attribute(&b, true).0);
        assert_eq!(attribute(&a, true).1, ActorKind::Fleet);
        let mut c = a.clone();
        c.fingerprint = 0;
        assert_eq!(attribute(&c, true).1, ActorKind::Address);
    }
}
