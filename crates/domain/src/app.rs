//! Developer apps, their tiers and their keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{AppId, KeyId, ParseError, Purpose, Scope, Timestamp};

/// An app's commercial relationship with the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Anyone who signed the developer agreement.
    Standard,
    /// A licensee with a contract; may hold licensed purposes.
    Partner,
    /// The platform's own teams.
    FirstParty,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Standard, Tier::Partner, Tier::FirstParty];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Partner => "partner",
            Tier::FirstParty => "first-party",
        }
    }

    /// The preference scope an author's consent is asked under for this tier.
    pub fn scope(self) -> Scope {
        match self {
            Tier::FirstParty => Scope::FirstParty,
            Tier::Standard | Tier::Partner => Scope::ThirdParties,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError::new("tier", s, "one of standard, partner, first-party"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppStatus {
    Active,
    Suspended,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Active => "active",
            AppStatus::Suspended => "suspended",
        }
    }
}

impl FromStr for AppStatus {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "active" => Ok(AppStatus::Active),
            "suspended" => Ok(AppStatus::Suspended),
            _ => Err(ParseError::new("app status", s, "one of active, suspended")),
        }
    }
}

/// A developer app: the principal of every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub tier: Tier,
    /// Purposes the developer declared; requests for others are refused.
    pub purposes: Vec<Purpose>,
    /// Purposes a partner's license covers (empty for other tiers).
    pub licensed_purposes: Vec<Purpose>,
    pub status: AppStatus,
    /// The developer agreement version the app accepted, if any.
    pub agreement_version: Option<u32>,
    pub created_at: Timestamp,
}

impl App {
    pub fn scope(&self) -> Scope {
        self.tier.scope()
    }
}

/// A bearer token's record. The token itself is shown once and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub app_id: AppId,
    /// SHA-256 of the token, lower-case hex.
    pub hash: String,
    /// The token's first characters, to tell keys apart in listings.
    pub prefix: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl ApiKey {
    /// Why the key cannot be used at `now`, if it cannot.
    pub fn unusable_at(&self, now: Timestamp) -> Option<&'static str> {
        if self.revoked_at.is_some_and(|t| t <= now) {
            Some("revoked")
        } else if self.expires_at.is_some_and(|t| t <= now) {
            Some("expired")
        } else {
            None
        }
    }
}
