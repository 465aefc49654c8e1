//! The transparency report: which apps received an account's posts, for what
//! purpose, how often and when, from the ledger's audit index; and what
//! they were asked to do about them since (the store's notices).

use std::collections::BTreeMap;

use tollgate_domain::{AccountId, App, AppId, NoticeReason, NoticeState, Purpose, Tier, Timestamp};
use tollgate_ledger::{Audit, LedgerDb, LedgerError};
use tollgate_store::{NoticeQuery, Result, Store};

/// One recipient of an account's posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReport {
    /// `None`: clients that named no app.
    pub app_id: Option<AppId>,
    pub name: Option<String>,
    pub tier: Option<Tier>,
    pub purposes: Vec<PurposeReport>,
}

/// What one app received for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurposeReport {
    pub purpose: Option<Purpose>,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Responses that delivered at least one of the account's posts.
    pub deliveries: u64,
}

/// Who received the account's posts, one row per app, anonymous clients of
/// one app merged (as `/internal/accounts/{id}/deliveries` does); app names
/// from `apps`. A blocking call: the ledger's index is read.
pub fn recipients(
    ledger: &LedgerDb,
    apps: &[App],
    account: AccountId,
) -> std::result::Result<Vec<AppReport>, LedgerError> {
    let found = Audit::new(ledger).author_recipients(account)?.recipients;
    let mut by_app: BTreeMap<Option<AppId>, BTreeMap<Option<Purpose>, PurposeReport>> = BTreeMap::new();
    for r in found {
        let entry = by_app.entry(r.app_id).or_default().entry(r.purpose).or_insert(PurposeReport {
            purpose: r.purpose,
            first: r.first_time,
            last: r.last_time,
            deliveries: 0,
        });
        entry.first = entry.first.min(r.first_time);
        entry.last = entry.last.max(r.last_time);
        entry.deliveries += r.deliveries;
    }
    Ok(by_app
        .into_iter()
        .map(|(app_id, purposes)| {
            let app = app_id.and_then(|id| apps.iter().find(|a| a.id == id));
            AppReport {
                app_id,
                name: app.map(|a| a.name.clone()),
                tier: app.map(|a| a.tier),
                purposes: purposes.into_values().collect(),
            }
        })
        .collect())
}

/// What the apps that received an account's posts were asked to do about
/// them, per app and kind of request: the obligations the notices worker of
/// `serve` opens from the change log (docs/compliance.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStatus {
    pub app_id: AppId,
    pub app_name: Option<String>,
    pub kind: RequestKind,
    /// Requests within their deadline, not yet confirmed.
    pub pending: u64,
    /// Requests the app confirmed.
    pub done: u64,
    /// Requests past their deadline without confirmation.
    pub overdue: u64,
    /// The earliest deadline of the pending ones.
    pub next_deadline: Option<Timestamp>,
}

/// What a request asks of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestKind {
    /// Delete its copies: the post or account was deleted, suspended,
    /// deactivated or protected.
    Delete,
    /// Stop using the posts for AI: consent withdrawn, or marked `no_ai`.
    StopAiUse,
}

impl RequestKind {
    fn of(reason: NoticeReason) -> RequestKind {
        match reason {
            NoticeReason::AiConsentWithdrawn | NoticeReason::NoAi => RequestKind::StopAiUse,
            NoticeReason::Deleted | NoticeReason::Suspended | NoticeReason::Protected | NoticeReason::Deactivated => {
                RequestKind::Delete
            }
        }
    }
}

/// The most obligations read for one page.
pub const MAX_REQUESTS: usize = 100_000;

/// The obligations about `account` (its own events and its posts'), counted
/// per app and kind as they stand at `now`. A blocking call.
pub fn requests(store: &dyn Store, apps: &[App], account: AccountId, now: Timestamp) -> Result<Vec<RequestStatus>> {
    let notices = store.notices(&NoticeQuery {
        account: Some(account),
        obligations_only: true,
        limit: MAX_REQUESTS,
        ..NoticeQuery::default()
    })?;
    let mut rows: BTreeMap<(AppId, RequestKind), RequestStatus> = BTreeMap::new();
    for n in notices {
        let Some(reason) = n.reason else { continue };
        let kind = RequestKind::of(reason);
        let row = rows.entry((n.app_id, kind)).or_insert_with(|| RequestStatus {
            app_id: n.app_id,
            app_name: apps.iter().find(|a| a.id == n.app_id).map(|a| a.name.clone()),
            kind,
            pending: 0,
            done: 0,
            overdue: 0,
            next_deadline: None,
        });
        match n.state(now) {
            NoticeState::Pending => {
                row.pending += 1;
                if let Some(d) = n.deadline {
                    row.next_deadline = Some(row.next_deadline.map_or(d, |next| next.min(d)));
                }
            }
            NoticeState::Overdue => row.overdue += 1,
            NoticeState::Done => row.done += 1,
            NoticeState::Informed => {}
        }
    }
    Ok(rows.into_values().collect())
}
