//! Writes of accounts and posts inside a transaction, each recording the
//! events it makes (`tollgate_store::events` decides which) in the same
//! transaction: the one place where the platform's data and its change log
//! are written together.

use rusqlite::{Connection, OptionalExtension, params};
use tollgate_domain::{Account, AccountId, AccountStatus, EventChange, Post, PostId, PreferenceChange, Timestamp};
use tollgate_store::{Change, Result, StoreError, events};

use crate::changes;
use crate::codec::{self, ACCOUNT_COLUMNS, Ctx, POST_COLUMNS, account_from_row, lookup_id, post_from_row};

pub(crate) fn account(conn: &Connection, id: AccountId) -> Result<Option<Account>> {
    let Some(id) = lookup_id(id.0) else { return Ok(None) };
    conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], account_from_row).optional())
        .ctx(format_args!("reading account {id}"))
}

pub(crate) fn post(conn: &Connection, id: PostId) -> Result<Option<Post>> {
    let Some(id) = lookup_id(id.0) else { return Ok(None) };
    conn.prepare_cached(&format!("SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ?1"))
        .and_then(|mut s| s.query_row([id], post_from_row).optional())
        .ctx(format_args!("reading post {id}"))
}

/// Replaces (or creates) an account; with `keep_preferences` an existing
/// account keeps its stored preferences.
///
/// INVARIANT (consent-read-modify-write): the stored account is read inside
/// the write transaction that replaces it, so no preference change can
/// commit between the read and the write.
pub(crate) fn put_account(tx: &Connection, new: &Account, keep_preferences: bool, at: Timestamp) -> Result<()> {
    let old = account(tx, new.id)?;
    let new = match &old {
        Some(old) if keep_preferences => &Account { ai_preferences: old.ai_preferences, ..new.clone() },
        _ => new,
    };
    codec::put_account(tx, new)?;
    let made = events::account_changes(old.as_ref(), new);
    record(tx, at, &made, old.as_ref() != Some(new), Change::Account(new.id))
}

/// Records `made`; a write that changed the row but made no event (a
/// preference set again to its value, at a new time) still tells caches.
fn record(tx: &Connection, at: Timestamp, made: &[EventChange], changed: bool, change: Change) -> Result<()> {
    if made.is_empty() {
        if changed {
            changes::record(tx, [change])?;
        }
        return Ok(());
    }
    changes::record_events(tx, at, made).map(drop)
}

pub(crate) fn set_preferences(
    tx: &Connection,
    id: AccountId,
    prefs: &[PreferenceChange],
    at: Timestamp,
) -> Result<Option<Account>> {
    let Some(old) = account(tx, id)? else { return Ok(None) };
    let mut new = old.clone();
    for change in prefs {
        new.ai_preferences.apply(change, at);
    }
    let json = codec::prefs_to_json(&new.ai_preferences)?;
    tx.prepare_cached("UPDATE accounts SET prefs = ?1 WHERE id = ?2")
        .and_then(|mut s| s.execute(params![json, id.0 as i64]))
        .ctx(format_args!("writing the preferences of account {id}"))?;
    let made = events::preference_changes(&new, &old.ai_preferences, &new.ai_preferences);
    record(tx, at, &made, old != new, Change::Account(id))?;
    Ok(Some(new))
}

pub(crate) fn set_status(tx: &Connection, id: AccountId, status: AccountStatus, at: Timestamp) -> Result<bool> {
    let Some(old) = account(tx, id)? else { return Ok(false) };
    if old.status != status {
        tx.prepare_cached("UPDATE accounts SET status = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute(params![status.as_str(), id.0 as i64]))
            .ctx(format_args!("setting the status of account {id}"))?;
        let made = events::status_change(&old, old.status, status);
        changes::record_events(tx, at, made.iter())?;
    }
    Ok(true)
}

fn set_protected(tx: &Connection, id: AccountId, protected: bool, at: Timestamp) -> Result<bool> {
    let Some(old) = account(tx, id)? else { return Ok(false) };
    if old.protected != protected {
        put_account(tx, &Account { protected, ..old }, false, at)?;
    }
    Ok(true)
}

/// Replaces (or creates) a post.
pub(crate) fn put_post(tx: &Connection, new: &Post, at: Timestamp) -> Result<()> {
    let old = post(tx, new.id)?;
    codec::put_post(tx, new)?;
    // A post moved to another author leaves the old author's timeline.
    if let Some(old) = &old
        && old.author_id != new.author_id
    {
        changes::record(tx, [Change::Post { id: new.id, author: old.author_id }])?;
    }
    let made = events::post_changes(old.as_ref(), new);
    record(tx, at, &made, old.as_ref() != Some(new), Change::Post { id: new.id, author: new.author_id })
}

/// Changes one stored post with `change`; false if it is unknown.
fn update_post(tx: &Connection, id: PostId, at: Timestamp, change: impl FnOnce(&mut Post)) -> Result<bool> {
    let Some(old) = post(tx, id)? else { return Ok(false) };
    let mut new = old.clone();
    change(&mut new);
    if new != old {
        put_post(tx, &new, at)?;
    }
    Ok(true)
}

pub(crate) fn set_no_ai(tx: &Connection, id: PostId, no_ai: bool, at: Timestamp) -> Result<bool> {
    update_post(tx, id, at, |p| p.no_ai = no_ai)
}

/// A post deleted twice keeps the time of its first deletion.
pub(crate) fn delete_post(tx: &Connection, id: PostId, at: Timestamp) -> Result<bool> {
    update_post(tx, id, at, |p| p.deleted_at = p.deleted_at.or(Some(at)))
}

/// The posts of `author` created in `from <= created_at < until` whose
/// `no_ai` differs from `no_ai`, set to it; how many.
pub(crate) fn set_posts_no_ai(
    tx: &Connection,
    author: AccountId,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    no_ai: bool,
    at: Timestamp,
) -> Result<u64> {
    let Some(author_sql) = lookup_id(author.0) else { return Ok(0) };
    let ids: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM posts WHERE author_id = ?1 AND no_ai <> ?2 \
             AND (?3 IS NULL OR created_at >= ?3) AND (?4 IS NULL OR created_at < ?4)",
        )
        .and_then(|mut s| {
            s.query_map(params![author_sql, no_ai, from.map(Timestamp::millis), until.map(Timestamp::millis)], |r| {
                r.get(0)
            })?
            .collect()
        })
        .ctx(format_args!("finding the posts of account {author} to mark"))?;
    for &id in &ids {
        set_no_ai(tx, PostId(id as u64), no_ai, at)?;
    }
    Ok(ids.len() as u64)
}

/// Makes one change of the log again.
pub(crate) fn apply(tx: &Connection, at: Timestamp, change: &EventChange) -> Result<()> {
    let found = match change {
        EventChange::AccountCreated { account } | EventChange::AccountProfileChanged { account } => {
            put_account(tx, account, false, at)?;
            true
        }
        EventChange::AccountProtected { account_id } => set_protected(tx, *account_id, true, at)?,
        EventChange::AccountUnprotected { account_id } => set_protected(tx, *account_id, false, at)?,
        EventChange::AccountStatusChanged { account_id, new, .. } => set_status(tx, *account_id, *new, at)?,
        EventChange::AiPreferenceChanged { account_id, category, scope, new, .. } => {
            let change = PreferenceChange { category: *category, scope: *scope, value: *new };
            set_preferences(tx, *account_id, &[change], at)?.is_some()
        }
        EventChange::PostCreated { post } | EventChange::PostEdited { post } => {
            if account(tx, post.author_id)?.is_none() {
                return Err(StoreError::Invalid {
                    field: "author_id",
                    reason: format!("account {} of post {} does not exist", post.author_id, post.id),
                });
            }
            put_post(tx, post, at)?;
            true
        }
        EventChange::PostDeleted { post_id, .. } => delete_post(tx, *post_id, at)?,
        EventChange::PostRestored { post_id, .. } => update_post(tx, *post_id, at, |p| p.deleted_at = None)?,
        EventChange::PostNoAiSet { post_id, .. } => set_no_ai(tx, *post_id, true, at)?,
        EventChange::PostNoAiCleared { post_id, .. } => set_no_ai(tx, *post_id, false, at)?,
        other => {
            return Err(StoreError::Invalid {
                field: "type",
                reason: format!(
                    "a `{}` event cannot be applied: only changes to accounts and posts can",
                    other.type_name()
                ),
            });
        }
    };
    if found {
        return Ok(());
    }
    let what = match (change.post(), change.account()) {
        (Some(p), _) => format!("post {p}"),
        (None, Some(a)) => format!("account {a}"),
        _ => "its subject".to_owned(),
    };
    Err(StoreError::NotFound(what))
}
