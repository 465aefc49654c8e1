//! The developer agreement: versioned Markdown text with machine-readable terms.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub version: u32,
    /// Markdown.
    pub text: String,
    /// Machine-readable terms as a JSON object (see `docs/agreement.md`).
    pub terms_json: String,
    pub published_at: Timestamp,
    /// Until this instant, apps on the previous version are still served.
    pub grace_until: Timestamp,
}

/// Where an app stands with respect to the latest agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementState {
    /// Accepted the latest version.
    Current,
    /// Accepted an earlier version; the grace period of the latest still runs.
    Grace,
    /// Accepted an earlier version (or none) and the grace period is over.
    Lapsed,
}

impl AgreementState {
    /// The state of an app that accepted `accepted` at `now`, given the latest
    /// agreement. Without any published agreement every app is current.
    pub fn of(accepted: Option<u32>, latest: Option<&Agreement>, now: Timestamp) -> AgreementState {
        let Some(latest) = latest else { return AgreementState::Current };
        match accepted {
            Some(v) if v >= latest.version => AgreementState::Current,
            Some(_) if now < latest.grace_until => AgreementState::Grace,
            _ => AgreementState::Lapsed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgreementState::Current => "current",
            AgreementState::Grace => "grace",
            AgreementState::Lapsed => "lapsed",
        }
    }

    /// Whether requests are served in this state.
    pub fn in_force(self) -> bool {
        !matches!(self, AgreementState::Lapsed)
    }
}
