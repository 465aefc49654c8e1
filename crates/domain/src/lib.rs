//! The Tollgate domain: ids, accounts, posts, apps, purposes, preferences and
//! decisions. No IO lives here: the policy engine, the store and every delivery
//! channel speak in these types, and none of them leaks its own types back in.

pub mod account;
pub mod agreement;
pub mod app;
pub mod class;
pub mod decision;
pub mod event;
pub mod guard;
pub mod ids;
pub mod post;
pub mod prefs;
pub mod purpose;
pub mod time;

pub use account::{Account, AccountStatus};
pub use agreement::{Agreement, AgreementState};
pub use app::{ApiKey, App, AppStatus, Tier};
pub use class::{AuthorFacts, ContentClass, ItemFacts, PostFacts};
pub use decision::{Decision, Reason};
pub use event::{Event, EventChange, Notice, NoticeReason, NoticeState};
pub use guard::{ClientKind, GuardAction, GuardClass, NetClass, Resource, Signal, SignalSet};
pub use ids::{AccountId, AppId, IdHash, IdHasher, IdMap, IdSet, KeyId, PostId};
pub use post::Post;
pub use prefs::{AiPreferences, ConsentDefaults, Preference, PreferenceChange, RegionGroup, RegionSet, Tri};
pub use purpose::{AIPREF_TERMS, CONTENT_SIGNAL_TERMS, Category, Purpose, RSL_USAGE_TERMS, Scope, UsageTerm};
pub use time::Timestamp;

/// An error in a value given to the domain: what was wrong and with which input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: {expected}")]
pub struct ParseError {
    /// The kind of value, e.g. `purpose`.
    pub what: &'static str,
    /// The offending input, as given.
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl ParseError {
    pub fn new(what: &'static str, value: &str, expected: impl Into<String>) -> Self {
        ParseError { what, value: value.to_owned(), expected: expected.into() }
    }
}
