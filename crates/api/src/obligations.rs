//! Notices and obligations: who must be told of each event of the change
//! log, and what they must do by when (docs/compliance.md).
//!
//! `open_notices` follows the log from where it last stopped. For each event
//! that concerns data a recipient may hold (a post deleted or marked
//! `no_ai`, an account protected, suspended, deactivated or deleted, an AI
//! preference withdrawn), it asks the ledger which apps received the post,
//! or any post of the account, and opens one notice per app: an obligation
//! with a deadline from the developer agreement's terms when the app must
//! act, or an informational notice (a post edited or restored, an account
//! unprotected or reactivated) when it need not. Compliance streams and
//! webhooks send the notices; `POST /2/compliance/acks` acknowledges them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_domain::{
    AccountId, AccountStatus, AppId, AuthorFacts, Category, ConsentDefaults, Event, EventChange, Notice, NoticeReason,
    PostId, Purpose, Scope, Tier, Timestamp, event::status_event_name,
};
use tollgate_ledger::{Audit, LedgerDb, LedgerError, MAX_PAGE};
use tollgate_store::{NoticeAcks, Store, StoreError};

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::{Method, Table};

/// How long a recipient has to act on an obligation, by the app's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Hours for `standard`, `partner` and `first-party` apps.
    pub hours: [u32; 3],
}

impl Default for Deadlines {
    /// X's developer agreement: 24 hours for every recipient.
    fn default() -> Self {
        Deadlines { hours: [24; 3] }
    }
}

impl Deadlines {
    pub fn hours_for(&self, tier: Tier) -> u32 {
        self.hours[match tier {
            Tier::Standard => 0,
            Tier::Partner => 1,
            Tier::FirstParty => 2,
        }]
    }
}

/// What the notices step needs.
pub struct Noticer<'a> {
    /// The node the ledger is this node's: each node examines every event
    /// against its own ledger, and keeps its own progress.
    pub node: &'a str,
    pub store: &'a dyn Store,
    pub ledger: &'a LedgerDb,
    pub defaults: &'a ConsentDefaults,
    pub deadlines: Deadlines,
}

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Whether any app received a post of an author, as far as one batch of
/// events has asked.
type AuthorsReceived = std::collections::HashMap<AccountId, bool>;

/// Events examined per batch.
const BATCH: usize = 512;

impl Noticer<'_> {
    /// Opens the notices of every event not yet examined; returns the
    /// sequence number examined up to.
    pub fn open_notices(&self) -> Result<u64, NoticeError> {
        let mut upto = self.store.notices_progress(self.node)?;
        let apps: BTreeMap<AppId, Tier> = self.store.apps()?.into_iter().map(|a| (a.id, a.tier)).collect();
        loop {
            let events = self.store.events_since(upto, BATCH)?;
            let Some(last) = events.last() else { return Ok(upto) };
            let last = last.seq;
            let mut notices = Vec::new();
            let mut authors = AuthorsReceived::new();
            for event in &events {
                self.notices_of(event, &apps, &mut authors, &mut notices)?;
            }
            self.store.open_notices(self.node, last, &notices)?;
            upto = last;
        }
    }

    fn notices_of(
        &self,
        event: &Event,
        apps: &BTreeMap<AppId, Tier>,
        authors: &mut AuthorsReceived,
        out: &mut Vec<Notice>,
    ) -> Result<(), NoticeError> {
        use EventChange as E;
        // What the event obliges a recipient to, given the purposes it
        // received the data for; `None` for no notice at all.
        type Rule = Box<dyn Fn(AppId, &[Purpose]) -> Option<Option<NoticeReason>>>;
        let always = |reason: Option<NoticeReason>| -> Rule { Box::new(move |_, _| Some(reason)) };
        let ai_only = |reason: NoticeReason| -> Rule {
            Box::new(move |_, purposes: &[Purpose]| {
                purposes.iter().any(|p| p.category().is_some()).then_some(Some(reason))
            })
        };
        let (rule, name): (Rule, String) = match &event.change {
            E::PostDeleted { .. } => (always(Some(NoticeReason::Deleted)), "post_deleted".into()),
            E::PostEdited { .. } | E::PostRestored { .. } | E::PostNoAiCleared { .. } => {
                (always(None), event.change.type_name().into())
            }
            E::PostNoAiSet { .. } => (ai_only(NoticeReason::NoAi), "post_no_ai_set".into()),
            E::AccountProtected { .. } => (always(Some(NoticeReason::Protected)), "account_protected".into()),
            E::AccountUnprotected { .. } | E::AccountProfileChanged { .. } => {
                (always(None), event.change.type_name().into())
            }
            E::AccountStatusChanged { old, new, .. } => {
                let reason = match new {
                    AccountStatus::Suspended => Some(NoticeReason::Suspended),
                    AccountStatus::Deactivated => Some(NoticeReason::Deactivated),
                    AccountStatus::Deleted => Some(NoticeReason::Deleted),
                    AccountStatus::Active => None,
                };
                (always(reason), format!("account_{}", status_event_name(*old, *new)))
            }
            E::AiPreferenceChanged { account_id, category, scope, .. } => {
                match self.withdrawn(*account_id, *category, *scope, event.time)? {
                    Some(scope) => {
                        let (category, tiers) = (*category, apps.clone());
                        let rule: Rule = Box::new(move |app, purposes: &[Purpose]| {
                            let app_scope = match tiers.get(&app) {
                                Some(Tier::FirstParty) => Scope::FirstParty,
                                _ => Scope::ThirdParties,
                            };
                            (app_scope == scope && purposes.iter().any(|p| p.category() == Some(category)))
                                .then_some(Some(NoticeReason::AiConsentWithdrawn))
                        });
                        (rule, "ai_preference_changed".into())
                    }
                    None => return Ok(()),
                }
            }
            E::AccountCreated { .. }
            | E::PostCreated { .. }
            | E::Imported { .. }
            | E::AppChanged { .. }
            | E::KeyChanged { .. }
            | E::AgreementPublished { .. } => return Ok(()),
        };
        let Some(account) = event.change.account() else { return Ok(()) };
        let post = event.change.post();
        for (app, purposes) in self.recipients(account, post, authors)? {
            let Some(reason) = rule(app, &purposes) else { continue };
            let Some(&tier) = apps.get(&app) else { continue };
            let deadline = reason.map(|_| {
                Timestamp::from_millis(event.time.millis() + i64::from(self.deadlines.hours_for(tier)) * 3_600_000)
            });
            out.push(Notice {
                app_id: app,
                event_seq: event.seq,
                event_time: event.time,
                event: name.clone(),
                account_id: account,
                post_id: post,
                reason,
                deadline,
                acked_at: None,
            });
        }
        Ok(())
    }

    /// The scope whose consent the change withdrew, if it now denies it.
    fn withdrawn(
        &self,
        account: AccountId,
        category: Category,
        scope: Scope,
        at: Timestamp,
    ) -> Result<Option<Scope>, NoticeError> {
        // The account as it is now: a later change that allows again makes
        // this one moot, and its own event says so.
        let Some(account) = self.store.account(account)? else { return Ok(None) };
        let facts = AuthorFacts::of(&account, self.defaults, at);
        Ok((!facts.consents(category, scope)).then_some(scope))
    }

    /// The apps that received `post` (or any post of `account`), with the
    /// purposes they received it for.
    ///
    /// Who received any post of the account is one row of the ledger's
    /// per-author summary; who received one post is a walk of the post lists
    /// of every block. So a post's recipients are looked for only if some app
    /// received a post of its author, which `authors` remembers for the
    /// batch: marking thousands of an author's posts `no_ai` costs one
    /// summary read when nobody received any of them.
    fn recipients(
        &self,
        account: AccountId,
        post: Option<PostId>,
        authors: &mut AuthorsReceived,
    ) -> Result<BTreeMap<AppId, Vec<Purpose>>, NoticeError> {
        let audit = Audit::new(self.ledger);
        let recipients = match post {
            Some(post) => {
                let received = match authors.get(&account) {
                    Some(&received) => received,
                    None => {
                        let received = audit.author_recipients(account)?.recipients.iter().any(|r| r.app_id.is_some());
                        authors.insert(account, received);
                        received
                    }
                };
                if !received {
                    return Ok(BTreeMap::new());
                }
                audit.post_recipients(post, None, MAX_PAGE)?.recipients
            }
            None => audit.author_recipients(account)?.recipients,
        };
        let mut out: BTreeMap<AppId, Vec<Purpose>> = BTreeMap::new();
        for r in recipients {
            if let Some(app) = r.app_id {
                let purposes = out.entry(app).or_default();
                purposes.extend(r.purpose);
            }
        }
        Ok(out)
    }
}

/// Adds `POST /2/compliance/acks`.
pub(crate) fn routes(table: Table) -> Table {
    table.add(Method::Post, "/2/compliance/acks", post_acks)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcksBody {
    /// Notice ids: the events' sequence numbers, as strings.
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    tweet_ids: Vec<String>,
    #[serde(default)]
    user_ids: Vec<String>,
}

/// The most ids each list of an acknowledgement names.
const MAX_ACK_IDS: usize = 10_000;

async fn post_acks(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let recipient = crate::content::authenticate_app(&state, &headers)?;
        let body: AcksBody = serde_json::from_slice(&body).map_err(|e| {
            ApiError::InvalidRequest(format!(
                "the body must be a JSON object with `ids`, `tweet_ids` or `user_ids` (arrays of id strings): {e}; \
                 nothing was acknowledged"
            ))
        })?;
        let total = body.ids.len() + body.tweet_ids.len() + body.user_ids.len();
        if total == 0 {
            return Err(ApiError::InvalidRequest(
                "name at least one notice in `ids`, `tweet_ids` or `user_ids`; nothing was acknowledged".into(),
            ));
        }
        for (field, list) in [("ids", &body.ids), ("tweet_ids", &body.tweet_ids), ("user_ids", &body.user_ids)] {
            if list.len() > MAX_ACK_IDS {
                return Err(ApiError::InvalidRequest(format!(
                    "{} ids in `{field}`; at most {MAX_ACK_IDS} per list; nothing was acknowledged",
                    list.len()
                )));
            }
        }
        fn parse<T: std::str::FromStr>(field: &str, raw: &[String]) -> Result<Vec<T>, ApiError> {
            raw.iter()
                .map(|s| {
                    s.parse().map_err(|_| {
                        ApiError::InvalidRequest(format!(
                            "`{s}` in `{field}` is not an id: use a decimal number as a string; nothing was acknowledged"
                        ))
                    })
                })
                .collect()
        }
        let acks = NoticeAcks {
            event_seqs: parse("ids", &body.ids)?,
            posts: parse("tweet_ids", &body.tweet_ids)?,
            accounts: parse("user_ids", &body.user_ids)?,
        };
        let app = recipient.app_id();
        let outcome =
            crate::blocking(|| state.store.ack_notices(app, &acks, Timestamp::now())).map_err(|e| match e {
                StoreError::NotFound(what) => {
                    ApiError::NotFound(format!("there is no open {what}; nothing was acknowledged"))
                }
                StoreError::Conflict(why) => ApiError::Conflict(format!("{why}; nothing was acknowledged")),
                other => ApiError::store(other),
            })?;
        let ids: Vec<String> = outcome.acknowledged.iter().map(u64::to_string).collect();
        Ok::<_, ApiError>(
            axum::Json(json!({ "data": { "acknowledged": ids }, "meta": { "result_count": ids.len() } }))
                .into_response(),
        )
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}
