//! The platform's change log: every change to accounts, posts, apps, keys and
//! agreements is one event, numbered in commit order.
//!
//! The log serves three readers. The caches of the delivery path follow it
//! to drop what changed. The compliance machinery reads the events that
//! oblige recipients to act (a deletion, a withdrawal of consent) and opens
//! a notice for every recipient that holds what changed. And a store can be
//! rebuilt from its imported base by applying the log again
//! (`tollgate events apply`), because every event about an account or a
//! post carries the new value whole.
//!
//! The wire form is one JSON object per event, tagged by `type`; it is both
//! what `tollgate events list` prints and what `tollgate events apply`
//! reads (docs/compliance.md has the table).

use serde::{Deserialize, Serialize};

use crate::{Account, AccountId, AccountStatus, AppId, Category, Post, PostId, Scope, Timestamp, Tri};

/// One committed change, with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The log's sequence number: increasing in commit order, never reused.
    pub seq: u64,
    /// When the change was committed.
    pub time: Timestamp,
    #[serde(flatten)]
    pub change: EventChange,
}

/// What changed. Account and post events carry what a replay needs to make
/// the same change again; `old` values are recorded by the store, and ignored
/// when an event is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventChange {
    /// A new account, whole.
    AccountCreated {
        account: Account,
    },
    /// An account's profile (handle, names, description, region, age) changed;
    /// the account as it now is. Its status, protection and preferences, when
    /// they changed in the same write, have events of their own.
    AccountProfileChanged {
        account: Account,
    },
    AccountProtected {
        account_id: AccountId,
    },
    AccountUnprotected {
        account_id: AccountId,
    },
    /// Suspended, unsuspended, deactivated, reactivated, deleted or restored:
    /// `status_event_name` gives the one word.
    AccountStatusChanged {
        account_id: AccountId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<AccountStatus>,
        new: AccountStatus,
    },
    /// One AI preference (category and scope) changed.
    AiPreferenceChanged {
        account_id: AccountId,
        category: Category,
        scope: Scope,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old: Option<Tri>,
        new: Tri,
    },
    /// A new post, whole.
    PostCreated {
        post: Post,
    },
    /// A post's text, language, thread or author changed; the post as it now is.
    PostEdited {
        post: Post,
    },
    PostDeleted {
        post_id: PostId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author_id: Option<AccountId>,
    },
    /// A deleted post was restored.
    PostRestored {
        post_id: PostId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author_id: Option<AccountId>,
    },
    /// The author withheld the post from every AI purpose.
    PostNoAiSet {
        post_id: PostId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author_id: Option<AccountId>,
    },
    PostNoAiCleared {
        post_id: PostId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        author_id: Option<AccountId>,
    },
    /// A bulk import: any account or post may have changed. Its new rows are
    /// the base a replay starts from; rows it changed have events of their own.
    Imported {
        accounts: u64,
        posts: u64,
    },
    /// An app's settings, or one of its keys.
    AppChanged {
        app_id: AppId,
    },
    KeyChanged {
        app_id: AppId,
    },
    AgreementPublished {
        version: u32,
    },
}

impl EventChange {
    /// The `type` as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventChange::AccountCreated { .. } => "account_created",
            EventChange::AccountProfileChanged { .. } => "account_profile_changed",
            EventChange::AccountProtected { .. } => "account_protected",
            EventChange::AccountUnprotected { .. } => "account_unprotected",
            EventChange::AccountStatusChanged { .. } => "account_status_changed",
            EventChange::AiPreferenceChanged { .. } => "ai_preference_changed",
            EventChange::PostCreated { .. } => "post_created",
            EventChange::PostEdited { .. } => "post_edited",
            EventChange::PostDeleted { .. } => "post_deleted",
            EventChange::PostRestored { .. } => "post_restored",
            EventChange::PostNoAiSet { .. } => "post_no_ai_set",
            EventChange::PostNoAiCleared { .. } => "post_no_ai_cleared",
            EventChange::Imported { .. } => "imported",
            EventChange::AppChanged { .. } => "app_changed",
            EventChange::KeyChanged { .. } => "key_changed",
            EventChange::AgreementPublished { .. } => "agreement_published",
        }
    }

    /// The account the event is about: the account itself, or a post's author.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            EventChange::AccountCreated { account } | EventChange::AccountProfileChanged { account } => {
                Some(account.id)
            }
            EventChange::AccountProtected { account_id }
            | EventChange::AccountUnprotected { account_id }
            | EventChange::AccountStatusChanged { account_id, .. }
            | EventChange::AiPreferenceChanged { account_id, .. } => Some(*account_id),
            EventChange::PostCreated { post } | EventChange::PostEdited { post } => Some(post.author_id),
            EventChange::PostDeleted { author_id, .. }
            | EventChange::PostRestored { author_id, .. }
            | EventChange::PostNoAiSet { author_id, .. }
            | EventChange::PostNoAiCleared { author_id, .. } => *author_id,
            EventChange::Imported { .. }
            | EventChange::AppChanged { .. }
            | EventChange::KeyChanged { .. }
            | EventChange::AgreementPublished { .. } => None,
        }
    }

    /// The post the event is about.
    pub fn post(&self) -> Option<PostId> {
        match self {
            EventChange::PostCreated { post } | EventChange::PostEdited { post } => Some(post.id),
            EventChange::PostDeleted { post_id, .. }
            | EventChange::PostRestored { post_id, .. }
            | EventChange::PostNoAiSet { post_id, .. }
            | EventChange::PostNoAiCleared { post_id, .. } => Some(*post_id),
            _ => None,
        }
    }

    /// Whether the event changes accounts or posts, and so can be applied
    /// again (`tollgate events apply`). Apps, keys and agreements are
    /// managed by their own commands; an import is replayed by importing.
    pub fn is_platform_data(&self) -> bool {
        !matches!(
            self,
            EventChange::Imported { .. }
                | EventChange::AppChanged { .. }
                | EventChange::KeyChanged { .. }
                | EventChange::AgreementPublished { .. }
        )
    }
}

/// The one word for a status change, as compliance streams name it:
/// `suspended`, `unsuspended`, `deactivated`, `reactivated`, `deleted`,
/// `undeleted`.
pub fn status_event_name(old: Option<AccountStatus>, new: AccountStatus) -> &'static str {
    match (old, new) {
        (_, AccountStatus::Suspended) => "suspended",
        (_, AccountStatus::Deactivated) => "deactivated",
        (_, AccountStatus::Deleted) => "deleted",
        (Some(AccountStatus::Suspended), AccountStatus::Active) => "unsuspended",
        (Some(AccountStatus::Deleted), AccountStatus::Active) => "undeleted",
        (_, AccountStatus::Active) => "reactivated",
    }
}

/// Why a recipient must act on data it holds: X's compliance reasons, and
/// Tollgate's own for data a recipient may keep for display but may no
/// longer use for its declared AI purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeReason {
    Deleted,
    Suspended,
    Protected,
    Deactivated,
    /// The author withdrew consent for the recipient's AI purpose.
    AiConsentWithdrawn,
    /// The author marked the post `no_ai`.
    NoAi,
}

impl NoticeReason {
    pub const ALL: [NoticeReason; 6] = [
        NoticeReason::Deleted,
        NoticeReason::Suspended,
        NoticeReason::Protected,
        NoticeReason::Deactivated,
        NoticeReason::AiConsentWithdrawn,
        NoticeReason::NoAi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeReason::Deleted => "deleted",
            NoticeReason::Suspended => "suspended",
            NoticeReason::Protected => "protected",
            NoticeReason::Deactivated => "deactivated",
            NoticeReason::AiConsentWithdrawn => "ai_consent_withdrawn",
            NoticeReason::NoAi => "no_ai",
        }
    }

    /// Whether the recipient may keep the data for display: only its AI use ends.
    pub fn ai_only(self) -> bool {
        matches!(self, NoticeReason::AiConsentWithdrawn | NoticeReason::NoAi)
    }
}

impl std::str::FromStr for NoticeReason {
    type Err = crate::ParseError;
    fn from_str(s: &str) -> Result<Self, crate::ParseError> {
        NoticeReason::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            crate::ParseError::new(
                "notice reason",
                s,
                "one of deleted, suspended, protected, deactivated, ai_consent_withdrawn, no_ai",
            )
        })
    }
}

/// One recipient told of one event: the obligation to delete (or to stop
/// using for AI) what the event names, by `deadline`. A notice without a
/// deadline only informs (an account unprotected, a post edited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub app_id: AppId,
    /// The event's sequence number; with `app_id`, the notice's identity.
    pub event_seq: u64,
    /// When the event was committed.
    pub event_time: Timestamp,
    /// The event's `type`, or for a status change its one word
    /// (`account_suspended`...).
    pub event: String,
    pub account_id: AccountId,
    /// Set for an event about one post; an account's event concerns every
    /// post of it the recipient holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<PostId>,
    /// Set when the recipient must act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<NoticeReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// When the recipient acknowledged it (by `POST /2/compliance/acks`, or
    /// a compliance job that listed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<Timestamp>,
}

/// Where a notice stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    /// Informational: nothing to do.
    Informed,
    Pending,
    Overdue,
    Done,
}

impl Notice {
    pub fn state(&self, now: Timestamp) -> NoticeState {
        match (self.deadline, self.acked_at) {
            (None, _) => NoticeState::Informed,
            (Some(_), Some(_)) => NoticeState::Done,
            (Some(deadline), None) if now > deadline => NoticeState::Overdue,
            (Some(_), None) => NoticeState::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_wire_form() {
        let e = Event {
            seq: 7,
            time: Timestamp::from_millis(1_700_000_000_000),
            change: EventChange::AiPreferenceChanged {
                account_id: AccountId(5),
                category: Category::TrainGenai,
                scope: Scope::ThirdParties,
                old: Some(Tri::Unset),
                new: Tri::Deny,
            },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"seq":7,"time":"2023-11-14T22:13:20.000Z","type":"ai_preference_changed","account_id":5,"category":"train-genai","scope":"third-parties","old":"unset","new":"deny"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }

    #[test]
    fn an_applied_event_needs_no_old_value() {
        let c: EventChange =
            serde_json::from_str(r#"{"type":"account_status_changed","account_id":3,"new":"suspended"}"#).unwrap();
        assert_eq!(
            c,
            EventChange::AccountStatusChanged { account_id: AccountId(3), old: None, new: AccountStatus::Suspended }
        );
        assert!(serde_json::from_str::<EventChange>(r#"{"type":"post_deleted","post_id":1,"why":"x"}"#).is_err());
    }

    #[test]
    fn status_changes_have_one_word_each() {
        use AccountStatus::*;
        assert_eq!(status_event_name(Some(Active), Suspended), "suspended");
        assert_eq!(status_event_name(Some(Suspended), Active), "unsuspended");
        assert_eq!(status_event_name(Some(Deactivated), Active), "reactivated");
        assert_eq!(status_event_name(Some(Deleted), Active), "undeleted");
    }

    #[test]
    fn a_notice_is_overdue_only_past_its_deadline_and_unacknowledged() {
        let mut n = Notice {
            app_id: AppId(1),
            event_seq: 1,
            event_time: Timestamp::from_millis(0),
            event: "post_deleted".into(),
            account_id: AccountId(1),
            post_id: Some(PostId(1)),
            reason: Some(NoticeReason::Deleted),
            deadline: Some(Timestamp::from_millis(1000)),
            acked_at: None,
        };
        assert_eq!(n.state(Timestamp::from_millis(1000)), NoticeState::Pending);
        assert_eq!(n.state(Timestamp::from_millis(1001)), NoticeState::Overdue);
        n.acked_at = Some(Timestamp::from_millis(2000));
        assert_eq!(n.state(Timestamp::from_millis(5000)), NoticeState::Done);
        n.deadline = None;
        assert_eq!(n.state(Timestamp::from_millis(5000)), NoticeState::Informed);
    }
}
