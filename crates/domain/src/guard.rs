//! The guard's vocabulary: what it may know of a client and a request
//! (`GuardClass`), and what it may answer (`GuardAction`).
//!
//! The guard (`crates/guard`) turns each request into a `GuardClass`: the
//! signals that fired for its actor, how the client was identified, and what
//! it asked for. The guard policy (Cedar, `crates/policy`) turns a class into
//! an action. A class takes few values, so the policy is asked once per class
//! and the answer cached, exactly as the content policy is per content class:
//! nothing of a request reaches the policy except through its class
//! (`GuardClass::bits` is lossless).

use std::fmt;

/// A signal: one observation about an actor that may mean harvesting. Each
/// is computed on its own, by the guard, from the actor's recent requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// More requests per minute from one API key than its configured rate.
    RateKey,
    /// ... from one client address.
    RateIp,
    /// ... from one /24 (IPv4) or /48 (IPv6) prefix.
    RatePrefix,
    /// ... from one autonomous system of the prefix table.
    RateAsn,
    /// ... from one actor, however many addresses it uses.
    RateActor,
    /// The actor fetched robots.txt and then fetched what it disallows for
    /// its user agent.
    RobotsIgnored,
    /// The actor followed a hidden link: one that only a parser finds.
    HiddenLink,
    /// Too many distinct posts or authors per actor per day, or a long tail
    /// (mostly posts nobody else asks for).
    Breadth,
    /// Post or account ids asked for in sequence, or at random, many of
    /// which do not exist.
    Enumeration,
    /// A user agent of the known AI crawlers, asking for content its
    /// operator's use is not granted for.
    DeclaredAiAgent,
    /// A browser version far older than current ones.
    StaleBrowser,
    /// An actor's cookies are never sent back: a fleet of fresh clients.
    CookiesNeverReused,
    /// One fingerprint on one address keeps coming back without the cookie
    /// it was given: a client that drops its cookies, where people's
    /// browsers keep them.
    CookiesDropped,
    /// One API key used from many networks at once.
    KeyManyNetworks,
    /// Several keys that split one id space between them, or that share
    /// their clients' fingerprints: one operator behind many keys.
    KeyFarm,
    /// A key using nearly all of its quota, window after window, for days.
    QuotaPacing,
    /// More than 1,000,000 posts to one actor in 24 hours.
    Volume,
    /// A user agent of a crawler that verifies itself, from a client that
    /// did not verify.
    Impersonation,
}

impl Signal {
    pub const ALL: [Signal; 18] = [
        Signal::RateKey,
        Signal::RateIp,
        Signal::RatePrefix,
        Signal::RateAsn,
        Signal::RateActor,
        Signal::RobotsIgnored,
        Signal::HiddenLink,
        Signal::Breadth,
        Signal::Enumeration,
        Signal::DeclaredAiAgent,
        Signal::StaleBrowser,
        Signal::CookiesNeverReused,
        Signal::CookiesDropped,
        Signal::KeyManyNetworks,
        Signal::KeyFarm,
        Signal::QuotaPacing,
        Signal::Volume,
        Signal::Impersonation,
    ];

    /// The signal's name in the guard policy, the ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::RateKey => "rate-key",
            Signal::RateIp => "rate-ip",
            Signal::RatePrefix => "rate-prefix",
            Signal::RateAsn => "rate-asn",
            Signal::RateActor => "rate-actor",
            Signal::RobotsIgnored => "robots-ignored",
            Signal::HiddenLink => "hidden-link",
            Signal::Breadth => "breadth",
            Signal::Enumeration => "enumeration",
            Signal::DeclaredAiAgent => "declared-ai-agent",
            Signal::StaleBrowser => "stale-browser",
            Signal::CookiesNeverReused => "cookies-never-reused",
            Signal::CookiesDropped => "cookies-dropped",
            Signal::KeyManyNetworks => "key-many-networks",
            Signal::KeyFarm => "key-farm",
            Signal::QuotaPacing => "quota-pacing",
            Signal::Volume => "volume",
            Signal::Impersonation => "impersonation",
        }
    }

    pub fn parse(name: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of signals, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SignalSet(u32);

impl SignalSet {
    pub const EMPTY: SignalSet = SignalSet(0);

    pub fn insert(&mut self, s: Signal) {
        self.0 |= s.bit();
    }

    pub fn contains(self, s: Signal) -> bool {
        self.0 & s.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Signal> {
        Signal::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Signal> for SignalSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SignalSet {
        let mut set = SignalSet::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

/// The class of network a client's address is in, from the operator's
/// prefix table; `Unknown` where the table says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetClass {
    #[default]
    Unknown,
    Residential,
    Mobile,
    Hosting,
    Vpn,
}

impl NetClass {
    pub const ALL: [NetClass; 5] =
        [NetClass::Unknown, NetClass::Residential, NetClass::Mobile, NetClass::Hosting, NetClass::Vpn];

    pub fn as_str(self) -> &'static str {
        match self {
            NetClass::Unknown => "unknown",
            NetClass::Residential => "residential",
            NetClass::Mobile => "mobile",
            NetClass::Hosting => "hosting",
            NetClass::Vpn => "vpn",
        }
    }

    pub fn parse(name: &str) -> Option<NetClass> {
        NetClass::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// What a client is, as far as the guard can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientKind {
    /// A browser, or anything that is not one of the kinds below.
    #[default]
    Browser,
    /// A request with an API key of a registered app.
    App,
    /// A known AI crawler by its user agent (unverified).
    AiCrawler,
    /// A crawler whose identity is verified (its published address ranges,
    /// or a Web Bot Auth signature), with a search use.
    VerifiedSearch,
    /// A verified crawler with an AI use (training, AI input).
    VerifiedAi,
    /// Any other automated client that says so (a library's user agent,
    /// `curl`, a generic bot).
    Tool,
}

impl ClientKind {
    pub const ALL: [ClientKind; 6] = [
        ClientKind::Browser,
        ClientKind::App,
        ClientKind::AiCrawler,
        ClientKind::VerifiedSearch,
        ClientKind::VerifiedAi,
        ClientKind::Tool,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Browser => "browser",
            ClientKind::App => "app",
            ClientKind::AiCrawler => "ai-crawler",
            ClientKind::VerifiedSearch => "verified-search",
            ClientKind::VerifiedAi => "verified-ai",
            ClientKind::Tool => "tool",
        }
    }

    pub fn parse(name: &str) -> Option<ClientKind> {
        ClientKind::ALL.into_iter().find(|c| c.as_str() == name)
    }

    pub fn is_verified(self) -> bool {
        matches!(self, ClientKind::VerifiedSearch | ClientKind::VerifiedAi)
    }
}

/// What a request asks for, as the guard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Resource {
    /// Posts or profiles: the API's content endpoints, the public pages.
    #[default]
    Content,
    /// robots.txt, tdmrep.json, license.xml, the agreement: always served.
    Terms,
    /// Anything else the guard sees (health checks and the like).
    Other,
}

impl Resource {
    pub const ALL: [Resource; 3] = [Resource::Content, Resource::Terms, Resource::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Content => "content",
            Resource::Terms => "terms",
            Resource::Other => "other",
        }
    }
}

/// Everything the guard policy may know of a request, packed losslessly
/// into `bits` so that the policy's answer can be cached per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GuardClass {
    pub signals: SignalSet,
    pub kind: ClientKind,
    pub network: NetClass,
    pub resource: Resource,
    /// Robots.txt disallows this path for the client's user agent (for a
    /// known AI crawler: the operator's use is not granted by default).
    pub disallowed: bool,
    /// The request offers a price (`crawler-exact-price` or
    /// `crawler-max-price`) at least the asking one.
    pub offers_price: bool,
    /// The client carries a pass from a challenge it solved.
    pub passed_challenge: bool,
}

impl GuardClass {
    /// The class as one integer: a bit per signal (`SIGNAL_BITS`), then the
    /// kind (3 bits), the network (3), the resource (2) and the three flags.
    pub fn bits(&self) -> u64 {
        let mut b = u64::from(self.signals.0);
        b |= (self.kind as u64) << Self::KIND;
        b |= (self.network as u64) << Self::NETWORK;
        b |= (self.resource as u64) << Self::RESOURCE;
        b |= u64::from(self.disallowed) << Self::DISALLOWED;
        b |= u64::from(self.offers_price) << Self::OFFERS_PRICE;
        b |= u64::from(self.passed_challenge) << Self::PASSED;
        b
    }

    /// Where each part of `bits` starts.
    const SIGNAL_BITS: u32 = Signal::ALL.len() as u32;
    const KIND: u32 = Self::SIGNAL_BITS;
    const NETWORK: u32 = Self::KIND + 3;
    const RESOURCE: u32 = Self::NETWORK + 3;
    const DISALLOWED: u32 = Self::RESOURCE + 2;
    const OFFERS_PRICE: u32 = Self::DISALLOWED + 1;
    const PASSED: u32 = Self::OFFERS_PRICE + 1;

    /// The class `bits` was made from; `None` for bits no class gives.
    pub fn from_bits(b: u64) -> Option<GuardClass> {
        let signals = (b & ((1 << Self::SIGNAL_BITS) - 1)) as u32;
        let kind = *ClientKind::ALL.get(((b >> Self::KIND) & 7) as usize)?;
        let network = *NetClass::ALL.get(((b >> Self::NETWORK) & 7) as usize)?;
        let resource = *Resource::ALL.get(((b >> Self::RESOURCE) & 3) as usize)?;
        if b >> (Self::PASSED + 1) != 0 {
            return None;
        }
        Some(GuardClass {
            signals: SignalSet(signals),
            kind,
            network,
            resource,
            disallowed: b >> Self::DISALLOWED & 1 == 1,
            offers_price: b >> Self::OFFERS_PRICE & 1 == 1,
            passed_challenge: b >> Self::PASSED & 1 == 1,
        })
    }
}

/// The guard's responses, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GuardAction {
    /// Served as asked.
    Allow,
    /// Served at the asking price (pay per crawl): `crawler-charged`.
    Charge,
    /// `429` with `Retry-After`.
    Throttle,
    /// `402` with a license offer (`crawler-price`, a link to `/license.xml`).
    License,
    /// A challenge page that people pass without JavaScript.
    Challenge,
    /// A slow, bounded answer, for confirmed disguised fleets only.
    Tarpit,
    /// `403`.
    Block,
}

impl GuardAction {
    pub const ALL: [GuardAction; 7] = [
        GuardAction::Allow,
        GuardAction::Charge,
        GuardAction::Throttle,
        GuardAction::License,
        GuardAction::Challenge,
        GuardAction::Tarpit,
        GuardAction::Block,
    ];

    /// The action's name in the guard policy (`Guard::Action::"block"`), the
    /// ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardAction::Allow => "allow",
            GuardAction::Charge => "charge",
            GuardAction::Throttle => "throttle",
            GuardAction::License => "license",
            GuardAction::Challenge => "challenge",
            GuardAction::Tarpit => "tarpit",
            GuardAction::Block => "block",
        }
    }

    pub fn parse(name: &str) -> Option<GuardAction> {
        GuardAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_packs_losslessly() {
        for kind in ClientKind::ALL {
            for network in NetClass::ALL {
                for resource in Resource::ALL {
                    for flags in 0..8u8 {
                        for signals in [SignalSet::EMPTY, Signal::ALL.into_iter().collect(), SignalSet(0b1010_0101)] {
                            let c = GuardClass {
                                signals,
                                kind,
                                network,
                                resource,
                                disallowed: flags & 1 != 0,
                                offers_price: flags & 2 != 0,
                                passed_challenge: flags & 4 != 0,
                            };
                            assert_eq!(GuardClass::from_bits(c.bits()), Some(c));
                        }
                    }
                }
            }
        }
        assert_eq!(GuardClass::from_bits(1 << 40), None);
    }

    #[test]
    fn names_parse_back() {
        for s in Signal::ALL {
            assert_eq!(Signal::parse(s.as_str()), Some(s));
        }
        for a in GuardAction::ALL {
            assert_eq!(GuardAction::parse(a.as_str()), Some(a));
        }
    }
}
