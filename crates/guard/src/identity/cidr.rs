//! Address blocks (`198.51.100.0/24`, `2001:db8::/32`): trusted proxies,
//! verified crawlers' published ranges, and the prefix table's rows.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A block of addresses: an address with no bits set past `len`.
///
/// IPv4 blocks match IPv4 addresses only and IPv6 blocks IPv6 ones; callers
/// turn IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) into IPv4 first
/// (`IpAddr::to_canonical`), as the resolver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// Why text is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IP address or an address block like `192.0.2.0/24`")]
    Syntax(String),
    #[error("`{0}` has a prefix length longer than its address")]
    Length(String),
    #[error("`{text}` has bits set past /{len}: write `{fixed}`")]
    HostBits { text: String, len: u8, fixed: String },
}

impl Cidr {
    /// The block of `len` leading bits of `addr`, bits past `len` cleared.
    /// `None` when `len` is longer than the address.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let addr = addr.to_canonical();
        let (_, max) = range_of(addr);
        (len <= max).then(|| Cidr { addr: from_bits(addr, to_bits(addr) & mask(len, max)), len })
    }

    pub fn addr(self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that make the block.
    pub fn prefix_len(self) -> u8 {
        self.len
    }

    /// Whether `ip` is in the block (same family, same leading bits).
    pub fn contains(self, ip: IpAddr) -> bool {
        let (_, max) = range_of(self.addr);
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                to_bits(ip) & mask(self.len, max) == to_bits(self.addr)
            }
            _ => false,
        }
    }

    /// The first and the last address of the block, as numbers (IPv4 in
    /// the low 32 bits).
    pub(crate) fn bounds(self) -> (u128, u128) {
        let (_, max) = range_of(self.addr);
        let start = to_bits(self.addr);
        (start, start | !mask(self.len, max) & full(max))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `addr/len`, or a bare address (a block of one: /32 or /128). Bits
    /// past `len` must be clear: `10.1.2.3/8` is refused rather than read as
    /// `10.0.0.0/8`, since it is more likely a typo than meant.
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(text.to_owned());
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => {
                let addr = IpAddr::from_str(addr).map_err(|_| syntax())?;
                if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                (addr, len.parse::<u8>().map_err(|_| CidrError::Length(text.to_owned()))?)
            }
            None => {
                let addr = IpAddr::from_str(text).map_err(|_| syntax())?;
                (addr, range_of(addr).1)
            }
        };
        let (_, max) = range_of(addr);
        if len > max {
            return Err(CidrError::Length(text.to_owned()));
        }
        let cidr = Cidr { addr: from_bits(addr, to_bits(addr) & mask(len, max)), len };
        if cidr.addr != addr {
            return Err(CidrError::HostBits { text: text.to_owned(), len, fixed: cidr.to_string() });
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Whether the address is IPv4 (`0`) or IPv6 (`1`), and its length in bits.
fn range_of(ip: IpAddr) -> (u8, u8) {
    match ip {
        IpAddr::V4(_) => (0, 32),
        IpAddr::V6(_) => (1, 128),
    }
}

pub(crate) fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_bits(like: IpAddr, bits: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((bits as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(bits.into()),
    }
}

/// All ones in the low `max` bits.
fn full(max: u8) -> u128 {
    if max == 128 { u128::MAX } else { (1u128 << max) - 1 }
}

/// The `len` leading bits of a `max`-bit address, as a mask.
fn mask(len: u8, max: u8) -> u128 {
    if len == 0 { 0 } else { full(max) & !(full(max - len.min(max))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_their_addresses_and_only_theirs() {
        let v4: Cidr = "198.51.100.0/24".parse().unwrap();
        assert!(v4.contains(ip("198.51.100.0")) && v4.contains(ip("198.51.100.255")));
        assert!(!v4.contains(ip("198.51.101.0")) && !v4.contains(ip("::ffff:198.51.100.1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("198.51.100.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")) && !all.contains(ip("::1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert_eq!(all6.bounds(), (0, u128::MAX));
        let one: Cidr = "::1".parse().unwrap();
        assert_eq!((one.prefix_len(), one.contains(ip("::1")), one.contains(ip("::2"))), (128, true, false));
        assert_eq!("127.0.0.1".parse::<Cidr>().unwrap().to_string(), "127.0.0.1/32");
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().bounds(), (0x0a00_0000, 0x0aff_ffff));
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_reason() {
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap_err().to_string(),
            "`10.1.2.3/8` has bits set past /8: write `10.0.0.0/8`"
        );
        assert!(matches!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::Length(_))));
        assert!(matches!("::/129".parse::<Cidr>(), Err(CidrError::Length(_))));
        for bad in ["", "/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8", "host/8", "10.0.0.0/1234"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(Cidr::new(ip("10.1.2.3"), 8).unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::new(ip("10.1.2.3"), 33), None);
    }
}
