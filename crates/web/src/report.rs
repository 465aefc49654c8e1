//! The transparency report: which apps received an account's posts, for what
//! purpose, how often and when, from the ledger's audit index; and the
//! deletion requests sent to them.

use std::collections::BTreeMap;

use tollgate_domain::{AccountId, App, AppId, Purpose, Tier, Timestamp};
use tollgate_ledger::{Audit, LedgerDb, LedgerError};

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
pub fn recipients(ledger: &LedgerDb, apps: &[App], account: AccountId) -> Result<Vec<AppReport>, LedgerError> {
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

/// The deletion requests about an account's posts sent to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionStatus {
    pub app_name: String,
    /// Requests the recipient has not yet confirmed, within their deadline.
    pub pending: u64,
    /// Requests the recipient confirmed.
    pub done: u64,
    /// Requests past their deadline without confirmation.
    pub overdue: u64,
    /// The earliest deadline of the pending ones.
    pub next_deadline: Option<Timestamp>,
}

/// Where the page reads deletion requests from.
///
/// MERGE: the main line adds the notices and obligations per recipient
/// (`Store::notices` and what goes with it); the implementation that reads
/// them replaces `NoNoticesYet` in `WebState::new`, and the page's section
/// (`page::deletions`) is already worded for what it returns.
pub trait DeletionNotices: Send + Sync {
    fn deletions(&self, account: AccountId) -> Vec<DeletionStatus>;
}

/// No notices are tracked yet: the section says that none were sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNoticesYet;

impl DeletionNotices for NoNoticesYet {
    fn deletions(&self, _account: AccountId) -> Vec<DeletionStatus> {
        Vec::new()
    }
}
