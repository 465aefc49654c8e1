//! Ledger entries and their canonical encoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tollgate_domain::{AccountId, AppId, KeyId, PostId, Purpose, Timestamp};

/// The channel a release went out through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The developer API (`/2/...`).
    Api,
    /// Public web pages.
    Web,
    /// Licensed dataset exports.
    Export,
    /// Compliance streams and jobs.
    Compliance,
}

/// Whether the request was served (possibly with posts withheld) or refused whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "reason")]
pub enum Outcome {
    Served,
    Refused(String),
}

/// One release: who received which posts, when, for what and under which policy.
///
/// Ids only, never post text: the ledger proves what was released without
/// becoming a second copy of the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Encoding version of this entry.
    pub v: u32,
    pub time: Timestamp,
    pub request_id: String,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<AppId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// For anonymous clients: the identity the guard assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    pub outcome: Outcome,
    /// Delivered post ids, ascending; encoded compactly (`id_list`).
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "id_list")]
    pub posts: Vec<PostId>,
    /// The distinct authors of the delivered posts, ascending: what the
    /// per-author index is built from, so that an account can learn who
    /// received its posts without a lookup of every post.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "id_list")]
    pub authors: Vec<AccountId>,
    /// Delivered account (user object) ids, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "id_list")]
    pub accounts: Vec<AccountId>,
    /// Withheld posts counted by reason code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub withheld: BTreeMap<String, u32>,
    /// For a compliance notice (`Channel::Compliance`): the sequence numbers
    /// of the change log's events the recipient was told of, ascending. The
    /// evidence that notice was given; no post is released by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "id_list")]
    pub notices: Vec<u64>,
    pub policy_version: String,
    /// What the guard knew of the client and what it answered: the basis on
    /// which the request is attributed to an actor. Present for every
    /// request without an API key, and for a keyed one the guard did more
    /// than allow or on which a signal fired (a key is its own basis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<std::sync::Arc<GuardFacts>>,
}

/// The guard's view of one request: who made it, on what basis, and what it
/// was answered. The evidence `tollgate guard report` is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardFacts {
    /// The actor the request was attributed to (the guard's stable id).
    pub actor: String,
    /// Why it was attributed to that actor, strongest first: `key`,
    /// `web-bot-auth:<agent>`, `ip-range:<crawler>`, `cookie`,
    /// `fingerprint`, `ip`.
    pub basis: Vec<String>,
    /// The client's address (after trusted proxies) and its network prefix
    /// (/24 or /48).
    pub ip: String,
    pub prefix: String,
    /// The prefix's autonomous system and network class, where the
    /// operator's prefix table names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The `User-Agent` as sent (cut to 256 bytes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The request's method and target (cut to 512 bytes): a sample request.
    pub request: String,
    /// The signals that fired, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<String>,
    /// The response: `allow`, `throttle`, `license`, `challenge`, `tarpit`
    /// or `block`; `charge` for a pay-per-crawl request served at a price.
    pub action: String,
    /// The guard policy that chose the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a request served at a price: the price the crawler accepted, as
    /// `crawler-charged` states it (`USD 0.01`), ready for billing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<String>,
}

impl Entry {
    /// 2: id lists compact (`id_list`); 1: id lists as JSON arrays of
    /// numbers, still decoded.
    pub const VERSION: u32 = 2;

    /// The canonical encoding: compact JSON with fields in declaration order and
    /// sorted maps, so the same entry always hashes the same. An entry that
    /// cannot be encoded is an error, never an empty body: nothing is
    /// recorded for it.
    pub fn encode(&self) -> Result<Vec<u8>, crate::LedgerError> {
        // INVARIANT (canonical-encoding): struct fields serialize in declaration
        // order and `withheld` is a BTreeMap, so encoding is deterministic.
        crate::to_json_bytes("a ledger entry", self)
    }

    pub fn decode(body: &[u8]) -> Result<Entry, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The id lists by field name, as numbers: what the compact form holds.
    pub fn id_lists(&self) -> [(&'static str, Vec<u64>); 4] {
        [
            ("posts", self.posts.iter().map(|p| p.0).collect()),
            ("authors", self.authors.iter().map(|a| a.0).collect()),
            ("accounts", self.accounts.iter().map(|a| a.0).collect()),
            ("notices", self.notices.clone()),
        ]
    }

    /// The entry as JSON for reading: as encoded, but with the id lists as
    /// arrays of numbers instead of their compact form.
    pub fn to_readable_json(&self) -> Result<serde_json::Value, crate::LedgerError> {
        let mut v =
            serde_json::to_value(self).map_err(|e| crate::LedgerError::Encode("a ledger entry", e.to_string()))?;
        for (field, ids) in self.id_lists() {
            if !ids.is_empty() {
                v[field] = serde_json::Value::from(ids);
            }
        }
        Ok(v)
    }

    pub fn app(&self) -> Option<AppId> {
        self.app_id
    }
}

/// An id that is a 64-bit number.
trait NumericId: Copy {
    fn get(self) -> u64;
    fn of(v: u64) -> Self;
}

impl NumericId for PostId {
    fn get(self) -> u64 {
        self.0
    }
    fn of(v: u64) -> Self {
        PostId(v)
    }
}

impl NumericId for u64 {
    fn get(self) -> u64 {
        self
    }
    fn of(v: u64) -> Self {
        v
    }
}

impl NumericId for AccountId {
    fn get(self) -> u64 {
        self.0
    }
    fn of(v: u64) -> Self {
        AccountId(v)
    }
}

/// The compact form of an id list (entry version 2): the first id, then the
/// difference of each id from the one before (modulo 2^64, so any order
/// encodes, though only ascending lists are short), each as an unsigned
/// LEB128 varint (`crate::varint`), the bytes in base64url without padding (RFC 4648 §5).
///
/// Ascending ids differ by much less than their size: 100 posts of one
/// author take about 900 characters instead of 2,000 as decimal JSON. The
/// decoder also takes a JSON array of numbers (version 1 entries).
pub mod id_list {
    use std::fmt;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    use super::NumericId;

    /// The compact form of `ids`.
    pub fn encode(ids: impl IntoIterator<Item = u64>) -> String {
        let mut bytes = Vec::new();
        let mut previous = 0u64;
        for id in ids {
            crate::varint::put(&mut bytes, id.wrapping_sub(previous));
            previous = id;
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The ids of a compact form.
    pub fn decode(text: &str) -> Result<Vec<u64>, String> {
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|e| format!("not base64url without padding: {e}"))?;
        let mut out = Vec::with_capacity(bytes.len() / 4);
        let (mut at, mut previous) = (0, 0u64);
        while at < bytes.len() {
            let delta = crate::varint::get(&bytes, &mut at).map_err(|bad| match bad {
                crate::varint::Bad::Cut => "the last varint is cut short".to_owned(),
                crate::varint::Bad::Overflow => format!("the varint ending at byte {} is longer than 64 bits", at - 1),
            })?;
            previous = previous.wrapping_add(delta);
            out.push(previous);
        }
        Ok(out)
    }

    pub(super) fn serialize<S: Serializer, T: NumericId>(ids: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(ids.iter().map(|id| id.get())))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: NumericId>(d: D) -> Result<Vec<T>, D::Error> {
        struct Ids<T>(std::marker::PhantomData<T>);
        impl<'de, T: NumericId> Visitor<'de> for Ids<T> {
            type Value = Vec<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a compact id list (base64url varints) or an array of ids")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
                decode(text).map(|ids| ids.into_iter().map(T::of).collect()).map_err(E::custom)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element::<u64>()? {
                    out.push(T::of(v));
                }
                Ok(out)
            }
        }
        d.deserialize_any(Ids(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(posts: Vec<PostId>) -> Entry {
        Entry {
            v: Entry::VERSION,
            time: Timestamp::from_millis(1_795_000_000_000),
            request_id: "r".into(),
            channel: Channel::Api,
            app_id: Some(AppId(3)),
            key_id: None,
            client: None,
            endpoint: "GET /2/tweets".into(),
            purpose: Some(Purpose::Display),
            outcome: Outcome::Served,
            authors: posts.iter().map(|p| AccountId(p.0 >> 22)).collect(),
            posts,
            accounts: vec![AccountId(0), AccountId(u64::MAX)],
            withheld: BTreeMap::new(),
            notices: Vec::new(),
            policy_version: "p".into(),
            guard: None,
        }
    }

    #[test]
    fn id_lists_round_trip_whatever_their_order() {
        // A deterministic spread of lists: sorted, unsorted, extremes, empty.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state
        };
        let mut lists: Vec<Vec<u64>> =
            vec![vec![], vec![0], vec![u64::MAX], vec![u64::MAX, 0, u64::MAX], vec![1 << 63, (1 << 63) - 1]];
        for n in 1..200 {
            let mut l: Vec<u64> = (0..n).map(|_| next() >> (next() % 64)).collect();
            if n % 2 == 0 {
                l.sort_unstable();
            }
            lists.push(l);
        }
        for l in lists {
            assert_eq!(id_list::decode(&id_list::encode(l.iter().copied())).unwrap(), l);
        }
    }

    #[test]
    fn entries_round_trip_and_old_entries_still_decode() {
        let posts: Vec<PostId> = (0..100).map(|i| PostId(1_950_000_000_000_000_000 + i * 7_340_032_123)).collect();
        let e = entry(posts.clone());
        let body = e.encode().unwrap();
        assert_eq!(Entry::decode(&body).unwrap(), e);
        let decimal: usize = posts.iter().map(|p| p.0.to_string().len() + 1).sum();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(
            text.len() < decimal,
            "{} bytes for an entry whose post ids alone take {decimal} in decimal",
            text.len()
        );
        let readable = e.to_readable_json().unwrap();
        assert_eq!(readable["posts"][99], serde_json::json!(posts[99].0));
        assert_eq!(readable["accounts"], serde_json::json!([0, u64::MAX]));
        assert_eq!(readable["request_id"], "r");
        // Version 1: the lists as arrays of numbers.
        let mut v1: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v1["v"] = 1.into();
        v1["posts"] = serde_json::json!([5, 9]);
        v1["authors"] = serde_json::json!([1]);
        v1["accounts"] = serde_json::json!([2]);
        let old = Entry::decode(&serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!(
            (old.posts, old.authors, old.accounts),
            (vec![PostId(5), PostId(9)], vec![AccountId(1)], vec![AccountId(2)])
        );
    }

    #[test]
    fn guard_facts_are_hashed_with_the_entry_and_absent_ones_change_no_encoding() {
        let plain = entry(vec![PostId(5)]);
        let body = String::from_utf8(plain.encode().unwrap()).unwrap();
        assert!(!body.contains("guard"), "{body}");
        let mut guarded = plain.clone();
        guarded.guard = Some(std::sync::Arc::new(GuardFacts {
            actor: "a1".into(),
            basis: vec!["cookie".into(), "ip".into()],
            ip: "198.51.100.7".into(),
            prefix: "198.51.100.0/24".into(),
            asn: Some(64_500),
            network: Some("hosting".into()),
            user_agent: "GPTBot/1.2".into(),
            request: "GET /alice/status/5".into(),
            signals: vec!["declared-ai-agent".into()],
            action: "block".into(),
            rule: Some("declared-ai-crawlers-are-refused".into()),
            charged: None,
        }));
        let encoded = guarded.encode().unwrap();
        assert_ne!(encoded, plain.encode().unwrap());
        assert_eq!(Entry::decode(&encoded).unwrap(), guarded);
    }

    #[test]
    fn a_damaged_id_list_is_an_error() {
        let mut body: serde_json::Value = serde_json::from_slice(&entry(vec![PostId(1)]).encode().unwrap()).unwrap();
        for bad in ["!!", "gA", "_____________w", "A"] {
            body["posts"] = bad.into();
            assert!(Entry::decode(&serde_json::to_vec(&body).unwrap()).is_err(), "{bad} decoded");
        }
    }
}
