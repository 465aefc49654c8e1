//! Client identity: what the guard knows of the client behind a request.
//!
//! `Resolver::identify` turns one request (peer address, headers, the API
//! key it authenticated with) into a `Client`. Its parts, each in its own
//! module: the client's address behind trusted proxies (`cidr`), the
//! operator's prefix table (`prefixes`), the user agent (`agent`), verified
//! crawlers (`crawlers`, `botauth`: Web Bot Auth), the guard's cookies
//! (`cookies`) and the header-shape fingerprint (`fingerprint`).

mod agent;
mod botauth;
mod cidr;
mod cookies;
mod crawlers;
mod fingerprint;
mod prefixes;
mod resolver;

pub use agent::{Currency, StaleAgents};
pub use botauth::{CrawlerKey, KeyError, MAX_VALIDITY_SECONDS, SKEW_SECONDS, WebBotAuthSigner};
pub use cidr::{Cidr, CidrError};
pub use cookies::{ID_COOKIE, ID_MAX_AGE, PASS_COOKIE, PASS_SECONDS};
pub use crawlers::{CrawlerConfig, CrawlerKind, CrawlersError, load_crawlers, parse_crawlers};
pub use fingerprint::fingerprint;
pub use prefixes::{PrefixInfo, PrefixTable, PrefixTableError};
pub use resolver::{IdentityConfig, MAX_USER_AGENT, Resolver};

use std::fmt;
use std::net::IpAddr;

use tollgate_domain::{AppId, ClientKind, KeyId, NetClass, Purpose};

/// The client behind one request, as far as the guard can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the last untrusted address of `X-Forwarded-For`.
    pub ip: IpAddr,
    /// Its /24 (IPv4) or /48 (IPv6) prefix.
    pub prefix: Prefix,
    /// The autonomous system and network class of the longest matching
    /// prefix of the operator's prefix table, if any.
    pub asn: Option<u32>,
    pub network: NetClass,
    /// The `User-Agent` as sent, cut to 256 bytes.
    pub user_agent: String,
    /// The user agent's family (`chrome`, `firefox`, `safari`, `gptbot`,
    /// `python-requests`, ...) and major version, if it names one.
    pub agent_family: String,
    pub agent_version: Option<u32>,
    /// A browser version far older than current ones.
    pub stale_agent: bool,
    /// The known AI crawler the user agent names (its token), and the use
    /// its operator declares.
    pub declared_ai: Option<(String, Purpose)>,
    pub kind: ClientKind,
    /// The crawler identity, when verified.
    pub verified: Option<Verified>,
    /// The API key and its app, when the request carries a valid one.
    pub key: Option<(AppId, KeyId)>,
    /// The guard's continuity cookie, when the client sent back a valid one.
    pub cookie: Option<u64>,
    /// The client carries a valid pass from a challenge it solved.
    pub passed_challenge: bool,
    /// A hash of the request's header shape (user agent, `Accept*`,
    /// `Sec-CH-UA*`, the order of header names): clients of one fleet share
    /// it.
    pub fingerprint: u64,
}

/// A verified crawler identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The crawler's name in configuration (`Googlebot`).
    pub crawler: String,
    pub by: VerifiedBy,
}

/// How a crawler's identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedBy {
    /// The address is in the crawler's published ranges.
    IpRange,
    /// A Web Bot Auth signature (RFC 9421, Ed25519) by one of its keys.
    WebBotAuth,
}

/// A network prefix: an address with the bits past `len` cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// The /24 of an IPv4 address, the /48 of an IPv6 one: the block one
    /// customer of a network usually has.
    pub fn of(ip: IpAddr) -> Prefix {
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4) & !((1u32 << 8) - 1);
                Prefix { addr: IpAddr::V4(bits.into()), len: 24 }
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 80) - 1);
                Prefix { addr: IpAddr::V6(bits.into()), len: 48 }
            }
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_the_customer_block() {
        assert_eq!(Prefix::of("198.51.100.77".parse().unwrap()).to_string(), "198.51.100.0/24");
        assert_eq!(Prefix::of("2001:db8:1:2:3::9".parse().unwrap()).to_string(), "2001:db8:1::/48");
    }
}
