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
    /// Delivered post ids, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posts: Vec<PostId>,
    /// The distinct authors of the delivered posts, ascending: what the
    /// per-author index is built from, so that an account can learn who
    /// received its posts without a lookup of every post.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<AccountId>,
    /// Delivered account (user object) ids, ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<AccountId>,
    /// Withheld posts counted by reason code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub withheld: BTreeMap<String, u32>,
    pub policy_version: String,
}

impl Entry {
    pub const VERSION: u32 = 1;

    /// The canonical encoding: compact JSON with fields in declaration order and
    /// sorted maps, so the same entry always hashes the same.
    pub fn encode(&self) -> Vec<u8> {
        // INVARIANT (canonical-encoding): struct fields serialize in declaration
        // order and `withheld` is a BTreeMap, so encoding is deterministic.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(body: &[u8]) -> Result<Entry, serde_json::Error> {
        serde_json::from_slice(body)
    }

    pub fn app(&self) -> Option<AppId> {
        self.app_id
    }
}
