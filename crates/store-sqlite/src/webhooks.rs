//! Webhooks: the endpoints recipients registered for compliance notices by
//! push, how far each one's delivery has come, and the batches given up on
//! (docs/compliance.md, "Webhooks"). The progress lives here, not in a
//! deliverer's memory, so that delivery resumes after a restart, on any node.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tollgate_domain::{AppId, Timestamp};
use tollgate_store::{DeadLetter, NewWebhook, Result, StoreError, Webhook};

use crate::codec::{Ctx, id_from_sql, id_to_sql, lookup_id, timestamp};

const COLUMNS: &str = "id, app_id, url, secret, valid, created_at, delivered_upto";

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: id_from_sql(row.get(0)?),
        app_id: AppId(id_from_sql(row.get(1)?)),
        url: row.get(2)?,
        secret: row.get(3)?,
        valid: row.get(4)?,
        created_at: timestamp(row, 5)?,
        delivered_upto: row.get::<_, i64>(6)? as u64,
    })
}

fn seq_to_sql(seq: u64) -> Result<i64> {
    i64::try_from(seq)
        .map_err(|_| StoreError::Invalid { field: "after_seq", reason: format!("`{seq}` is past the event log") })
}

pub(crate) fn create(tx: &Connection, w: &NewWebhook) -> Result<Webhook> {
    let (app, upto) = (id_to_sql(w.app_id.0, "app_id")?, seq_to_sql(w.delivered_upto)?);
    tx.prepare_cached(
        "INSERT INTO webhooks (app_id, url, secret, valid, created_at, delivered_upto) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![app, w.url, w.secret, w.created_at.millis(), upto]))
    .ctx(format_args!("registering the webhook `{}`", w.url))?;
    Ok(Webhook {
        id: tx.last_insert_rowid() as u64,
        app_id: w.app_id,
        url: w.url.clone(),
        secret: w.secret.clone(),
        valid: true,
        created_at: w.created_at,
        delivered_upto: w.delivered_upto,
    })
}

pub(crate) fn one(conn: &Connection, id: u64) -> Result<Option<Webhook>> {
    let Some(id) = lookup_id(id) else { return Ok(None) };
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], webhook_from_row).optional())
        .ctx("reading a webhook")
}

pub(crate) fn list(conn: &Connection, app: Option<AppId>) -> Result<Vec<Webhook>> {
    match app {
        Some(app) => {
            let Some(app) = lookup_id(app.0) else { return Ok(Vec::new()) };
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks WHERE app_id = ?1 ORDER BY id"))
                .and_then(|mut s| s.query_map([app], webhook_from_row)?.collect())
        }
        None => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"))
            .and_then(|mut s| s.query_map([], webhook_from_row)?.collect()),
    }
    .ctx("listing webhooks")
}

pub(crate) fn delete(tx: &Connection, id: u64) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    tx.execute("DELETE FROM webhook_dead_letters WHERE webhook_id = ?1", [id]).ctx("deleting dead letters")?;
    Ok(tx.execute("DELETE FROM webhooks WHERE id = ?1", [id]).ctx("deleting a webhook")? > 0)
}

pub(crate) fn set_valid(tx: &Connection, id: u64, valid: bool) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    Ok(tx.execute("UPDATE webhooks SET valid = ?1 WHERE id = ?2", params![valid, id]).ctx("marking a webhook")? > 0)
}

pub(crate) fn advance(tx: &Connection, id: u64, from: u64, to: u64, dead: Option<&DeadLetter>) -> Result<bool> {
    let Some(sql_id) = lookup_id(id) else { return Ok(false) };
    let moved = tx
        .execute(
            "UPDATE webhooks SET delivered_upto = ?1 WHERE id = ?2 AND delivered_upto = ?3",
            params![seq_to_sql(to)?, sql_id, seq_to_sql(from)?],
        )
        .ctx("recording a webhook's progress")?;
    if moved == 0 {
        return Ok(false);
    }
    if let Some(d) = dead {
        let seqs = serde_json::to_string(&d.event_seqs)
            .map_err(|e| StoreError::Backend(format!("encoding a dead letter's notices: {e}")))?;
        tx.prepare_cached(
            "INSERT INTO webhook_dead_letters (webhook_id, event_seqs, attempts, error, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![sql_id, seqs, d.attempts, d.error, d.at.millis()]))
        .ctx("recording a dead letter")?;
    }
    Ok(true)
}

pub(crate) fn rewind(tx: &Connection, id: u64, to: u64) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    Ok(tx
        .execute("UPDATE webhooks SET delivered_upto = ?1 WHERE id = ?2", params![seq_to_sql(to)?, id])
        .ctx("rewinding a webhook")?
        > 0)
}

pub(crate) fn dead_letters(conn: &Connection, webhook: u64, after: u64, limit: usize) -> Result<Vec<DeadLetter>> {
    let Some(webhook) = lookup_id(webhook) else { return Ok(Vec::new()) };
    let rows: Vec<(i64, String, u32, String, Timestamp)> = conn
        .prepare_cached(
            "SELECT id, event_seqs, attempts, error, at FROM webhook_dead_letters \
             WHERE webhook_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .and_then(|mut s| {
            s.query_map(
                params![webhook, i64::try_from(after).unwrap_or(i64::MAX), limit.min(i64::MAX as usize) as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, timestamp(r, 4)?)),
            )?
            .collect()
        })
        .ctx("listing dead letters")?;
    rows.into_iter()
        .map(|(id, seqs, attempts, error, at)| {
            let event_seqs = serde_json::from_str(&seqs)
                .map_err(|e| StoreError::Backend(format!("dead letter {id} holds unreadable notices: {e}")))?;
            Ok(DeadLetter { id: id as u64, webhook_id: webhook as u64, event_seqs, attempts, error, at })
        })
        .collect()
}
