//! The simulated internet: the networks the simulator's actors send from, as
//! the operator's prefix table describes them (`prefix,asn,class`, written by
//! `tollgate-simulate --write-inputs`). The blocks and numbers are synthetic:
//! the autonomous system numbers are from the private-use range (RFC 6996),
//! so no row claims a real operator's number; the addresses only ever travel
//! in `X-Forwarded-For` to a server on loopback.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::rng::Rng;

/// One network of the simulated internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub name: &'static str,
    pub base: [u8; 4],
    pub len: u8,
    pub asn: u32,
    /// The prefix table's class: `residential`, `mobile`, `hosting` or `vpn`.
    pub class: &'static str,
}

const fn net(name: &'static str, base: [u8; 4], len: u8, asn: u32, class: &'static str) -> Network {
    Network { name, base, len, asn, class }
}

/// Residential broadband: people at home, and the residential proxy swarm
/// (about a million addresses, room for a swarm of 100,000 spread thinly).
pub const RESIDENTIAL: [Network; 4] = [
    net("res-a", [24, 16, 0, 0], 13, 64601, "residential"),
    net("res-b", [73, 0, 0, 0], 12, 64602, "residential"),
    net("res-c", [98, 192, 0, 0], 13, 64603, "residential"),
    net("res-d", [81, 0, 0, 0], 13, 64604, "residential"),
];
/// Mobile carriers: carrier-grade NAT puts many people behind one address.
pub const MOBILE: [Network; 2] =
    [net("mobile-a", [172, 56, 0, 0], 16, 64611, "mobile"), net("mobile-b", [37, 160, 0, 0], 16, 64612, "mobile")];
/// Data centres and clouds.
pub const HOSTING: [Network; 3] = [
    net("hosting-a", [34, 64, 0, 0], 12, 64621, "hosting"),
    net("hosting-b", [52, 0, 0, 0], 13, 64622, "hosting"),
    net("hosting-c", [159, 65, 0, 0], 16, 64623, "hosting"),
];
/// A commercial VPN's exits.
pub const VPN: Network = net("vpn-a", [185, 220, 0, 0], 20, 64631, "vpn");
/// The verified search crawler's published range (it crawls from its own
/// data centre).
pub const SEARCH_CRAWLER: Network = net("searchbot", [66, 249, 64, 0], 20, 64641, "hosting");
/// The honest AI crawler's published range.
pub const AI_CRAWLER: Network = net("aibot", [20, 171, 206, 0], 24, 64642, "hosting");

/// Every network, in the order of the prefix table.
pub fn all() -> Vec<Network> {
    let mut out = Vec::new();
    out.extend(RESIDENTIAL);
    out.extend(MOBILE);
    out.extend(HOSTING);
    out.push(VPN);
    out.push(SEARCH_CRAWLER);
    out.push(AI_CRAWLER);
    out
}

impl Network {
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.len)
    }

    /// An address of the network, not its first or last of a /24 (so every
    /// address looks like a host).
    pub fn address(&self, rng: &mut Rng) -> Ipv4Addr {
        let base = u32::from_be_bytes(self.base);
        let size = 1u64 << (32 - u32::from(self.len));
        loop {
            let a = base + rng.below(size) as u32;
            let last = a & 0xff;
            if last != 0 && last != 255 {
                return Ipv4Addr::from(a);
            }
        }
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len)) };
        u32::from(addr) & mask == u32::from_be_bytes(self.base) & mask
    }
}

/// The prefix table the simulator assumes the operator has: a header line
/// `prefix,asn,class`, then one network per line.
pub fn prefix_table_csv() -> String {
    let mut out = String::from("prefix,asn,class\n");
    for n in all() {
        let _ = writeln!(out, "{},{},{}", n.cidr(), n.asn, n.class);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_fall_in_their_network_and_networks_do_not_overlap() {
        let mut rng = Rng::new(1, 1);
        let all = all();
        for n in &all {
            for _ in 0..100 {
                let a = n.address(&mut rng);
                assert!(n.contains(a), "{a} outside {}", n.cidr());
                assert_eq!(all.iter().filter(|m| m.contains(a)).count(), 1, "{a} in two networks");
            }
        }
        let csv = prefix_table_csv();
        assert!(csv.starts_with("prefix,asn,class\n24.16.0.0/13,64601,residential\n"), "{csv}");
    }
}
