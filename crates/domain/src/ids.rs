//! Identifiers. Post ids are time-ordered 64-bit "snowflakes" in X's layout
//! (milliseconds since X's epoch in the top 42 bits), so `since_id`, `until_id`
//! and `start_time` agree with each other exactly as they do on X.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ParseError, Timestamp};

/// X's snowflake epoch, 2010-11-04T01:42:54.657Z, in Unix milliseconds.
pub const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Without padding or width (ids are written plainly, many to
                // a response), the digits straight from `itoa`.
                if f.width().is_none() && f.precision().is_none() {
                    f.write_str(itoa::Buffer::new().format(self.0))
                } else {
                    self.0.fmt(f)
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let bad = || ParseError::new($what, s, "a decimal number of 1 to 19 digits");
                if s.is_empty() || s.len() > 19 {
                    return Err(bad());
                }
                // Nineteen digits never overflow a u64.
                let mut n = 0u64;
                for b in s.bytes() {
                    if !b.is_ascii_digit() {
                        return Err(bad());
                    }
                    n = n * 10 + u64::from(b - b'0');
                }
                Ok($name(n))
            }
        }
    };
}

id_type!(
    /// A post (X: tweet) id.
    PostId,
    "post id"
);
id_type!(
    /// An account (X: user) id.
    AccountId,
    "account id"
);
id_type!(
    /// A developer app id.
    AppId,
    "app id"
);
id_type!(
    /// An API key id; the key's secret is never stored, only its hash.
    KeyId,
    "key id"
);

impl PostId {
    /// The smallest id that could have been minted at `t`.
    pub fn first_at(t: Timestamp) -> PostId {
        let ms = (t.millis() - SNOWFLAKE_EPOCH_MS).max(0) as u64;
        PostId(ms << 22)
    }

    /// A snowflake for `t` with a 22-bit sequence (worker and counter bits).
    pub fn mint(t: Timestamp, sequence: u32) -> PostId {
        let ms = (t.millis() - SNOWFLAKE_EPOCH_MS).max(0) as u64;
        PostId((ms << 22) | u64::from(sequence & 0x3f_ffff))
    }

    /// The time the id was minted at.
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_millis((self.0 >> 22) as i64 + SNOWFLAKE_EPOCH_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_as_their_number() {
        for n in [0, 1, 9, 10, 99, 1_800_000_000_000_000_000, u64::MAX] {
            assert_eq!(PostId(n).to_string(), n.to_string());
        }
        assert_eq!(format!("{:>4}", AccountId(7)), "   7");
    }

    #[test]
    fn snowflake_round_trips_its_time() {
        let t = Timestamp::parse("2025-06-05T12:00:00.123Z").unwrap();
        let id = PostId::mint(t, 7);
        assert_eq!(id.timestamp(), t);
        assert!(PostId::first_at(t) <= id);
    }

    #[test]
    fn ids_reject_non_numbers() {
        assert!("12a".parse::<PostId>().is_err());
        assert!("".parse::<PostId>().is_err());
        assert!("-1".parse::<PostId>().is_err());
        assert!("99999999999999999999".parse::<PostId>().is_err());
        assert_eq!("0042".parse::<PostId>().unwrap(), PostId(42));
    }
}

/// A hasher for maps keyed by ids: one multiplication per id, where the
/// standard SipHash spends tens of nanoseconds. The ids in one request are
/// at most a few hundred (lookups take 100 ids), so a key chosen to collide
/// can slow a request by little; maps that grow without such a bound keep
/// the standard hasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the rotation brings the well-mixed high bits to
        // the low ones, which a hash table's buckets use.
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(26);
    }
}

/// Builds `IdHasher`s.
pub type IdHash = std::hash::BuildHasherDefault<IdHasher>;
/// A map keyed by ids, for the bounded maps of one request.
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdHash>;
/// A set of ids, for the bounded sets of one request.
pub type IdSet<K> = std::collections::HashSet<K, IdHash>;

#[cfg(test)]
mod hasher_tests {
    use super::*;

    #[test]
    fn id_maps_spread_consecutive_and_strided_ids() {
        use std::hash::BuildHasher;
        // Post ids share their low bits (snowflake sequence numbers are often
        // zero): the buckets, taken from the low bits, must still differ.
        let hashes: IdSet<u64> = (0..1000u64).map(|i| IdHash::default().hash_one(PostId(i << 22)) & 0xfff).collect();
        assert!(hashes.len() > 700, "{} distinct low bit patterns of 1000", hashes.len());
        let map: IdMap<PostId, u64> = (0..100).map(|i| (PostId(i), i)).collect();
        assert_eq!(map.get(&PostId(42)), Some(&42));
    }
}
