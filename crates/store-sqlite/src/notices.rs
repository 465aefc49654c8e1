//! Notices: which recipient was told of which event, and the obligations
//! among them (docs/compliance.md). Keyed by app and event, so that opening
//! a notice again (a node that examines the log again) changes nothing.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use tollgate_domain::{AccountId, AppId, Notice, PostId, Timestamp};
use tollgate_store::{AckOutcome, NoticeAcks, NoticeQuery, Result, StoreError};

use crate::codec::{Ctx, conversion, id_from_sql, lookup_id, timestamp};

const COLUMNS: &str = "app_id, event_seq, event_time, event, account_id, post_id, reason, deadline, acked_at";

pub(crate) fn opened_upto(conn: &Connection) -> Result<u64> {
    conn.prepare_cached("SELECT upto FROM notices_progress WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)).optional())
        .map(|v| v.unwrap_or(0) as u64)
        .ctx("reading how far notices were opened")
}

pub(crate) fn open(tx: &Connection, upto: u64, notices: &[Notice]) -> Result<()> {
    let mut insert = tx
        .prepare_cached(&format!(
            "INSERT INTO notices ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL) \
             ON CONFLICT (app_id, event_seq) DO NOTHING"
        ))
        .ctx("preparing a notice insert")?;
    for n in notices {
        insert
            .execute(params![
                n.app_id.0 as i64,
                n.event_seq as i64,
                n.event_time.millis(),
                n.event,
                n.account_id.0 as i64,
                n.post_id.map(|p| p.0 as i64),
                n.reason.map(|r| r.as_str()),
                n.deadline.map(Timestamp::millis),
            ])
            .ctx(format_args!("opening the notice of event {} for app {}", n.event_seq, n.app_id))?;
    }
    tx.prepare_cached(
        "INSERT INTO notices_progress (id, upto) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET upto = max(upto, excluded.upto)",
    )
    .and_then(|mut s| s.execute([upto as i64]))
    .ctx("recording how far notices were opened")?;
    Ok(())
}

fn notice_from_row(row: &Row<'_>) -> rusqlite::Result<Notice> {
    let reason: Option<String> = row.get(6)?;
    Ok(Notice {
        app_id: AppId(id_from_sql(row.get(0)?)),
        event_seq: row.get::<_, i64>(1)? as u64,
        event_time: timestamp(row, 2)?,
        event: row.get(3)?,
        account_id: AccountId(id_from_sql(row.get(4)?)),
        post_id: row.get::<_, Option<i64>>(5)?.map(|p| PostId(id_from_sql(p))),
        reason: reason.map(|r| r.parse().map_err(|e| conversion(6, rusqlite::types::Type::Text, e))).transpose()?,
        deadline: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        acked_at: row.get::<_, Option<i64>>(8)?.map(Timestamp::from_millis),
    })
}

pub(crate) fn list(conn: &Connection, q: &NoticeQuery) -> Result<Vec<Notice>> {
    let mut sql = format!("SELECT {COLUMNS} FROM notices WHERE event_seq > ?1");
    let mut args: Vec<i64> = vec![i64::try_from(q.after_seq).unwrap_or(i64::MAX)];
    if let Some(app) = q.app {
        let Some(app) = lookup_id(app.0) else { return Ok(Vec::new()) };
        args.push(app);
        sql += &format!(" AND app_id = ?{}", args.len());
    }
    if let Some(account) = q.account {
        let Some(account) = lookup_id(account.0) else { return Ok(Vec::new()) };
        args.push(account);
        sql += &format!(" AND account_id = ?{}", args.len());
    }
    if let Some(since) = q.since {
        args.push(since.millis());
        sql += &format!(" AND event_time >= ?{}", args.len());
    }
    if q.obligations_only || q.unacknowledged_only {
        sql += " AND deadline IS NOT NULL";
    }
    if q.unacknowledged_only {
        sql += " AND acked_at IS NULL";
    }
    args.push(q.limit.min(i64::MAX as usize) as i64);
    sql += &format!(" ORDER BY event_seq, app_id LIMIT ?{}", args.len());
    conn.prepare_cached(&sql)
        .and_then(|mut s| s.query_map(params_from_iter(args.iter()), notice_from_row)?.collect())
        .ctx("listing notices")
}

pub(crate) fn ack(tx: &Connection, app: AppId, acks: &NoticeAcks, at: Timestamp) -> Result<AckOutcome> {
    let Some(app_sql) = lookup_id(app.0) else {
        return Err(StoreError::Invalid { field: "ids", reason: format!("app {app} has no notices") });
    };
    let mut acknowledged = Vec::new();
    let mut unknown = Vec::new();
    let mut already = Vec::new();
    {
        let mut one = tx
            .prepare_cached("SELECT deadline, acked_at FROM notices WHERE app_id = ?1 AND event_seq = ?2")
            .ctx("preparing a notice lookup")?;
        for &seq in &acks.event_seqs {
            let found = one
                .query_row(params![app_sql, i64::try_from(seq).unwrap_or(-1)], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<i64>>(1)?))
                })
                .optional()
                .ctx("reading a notice")?;
            match found {
                Some((Some(_), None)) => acknowledged.push(seq),
                Some((Some(_), Some(when))) => already.push(format!("{seq} (at {})", Timestamp::from_millis(when))),
                // Informational notices, and notices of other apps, are nothing to acknowledge.
                _ => unknown.push(seq.to_string()),
            }
        }
    }
    if !unknown.is_empty() {
        return Err(StoreError::Invalid {
            field: "ids",
            reason: format!("no open obligation of this app has the id {}", unknown.join(", ")),
        });
    }
    if !already.is_empty() {
        return Err(StoreError::Invalid {
            field: "ids",
            reason: format!("already acknowledged: {}", already.join(", ")),
        });
    }
    let mut by_subject = |sql: &str, ids: Vec<i64>| -> Result<()> {
        let mut stmt = tx.prepare_cached(sql).ctx("preparing an acknowledgement")?;
        for id in ids {
            let seqs: Vec<i64> = stmt
                .query_map(params![app_sql, id], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .ctx("finding the obligations to acknowledge")?;
            acknowledged.extend(seqs.into_iter().map(|s| s as u64));
        }
        Ok(())
    };
    by_subject(
        "SELECT event_seq FROM notices WHERE app_id = ?1 AND post_id = ?2 AND deadline IS NOT NULL \
         AND acked_at IS NULL",
        acks.posts.iter().filter_map(|p| lookup_id(p.0)).collect(),
    )?;
    by_subject(
        "SELECT event_seq FROM notices WHERE app_id = ?1 AND account_id = ?2 AND deadline IS NOT NULL \
         AND acked_at IS NULL",
        acks.accounts.iter().filter_map(|a| lookup_id(a.0)).collect(),
    )?;
    acknowledged.sort_unstable();
    acknowledged.dedup();
    let mut update = tx
        .prepare_cached("UPDATE notices SET acked_at = ?1 WHERE app_id = ?2 AND event_seq = ?3")
        .ctx("preparing an acknowledgement")?;
    for &seq in &acknowledged {
        update.execute(params![at.millis(), app_sql, seq as i64]).ctx("acknowledging an obligation")?;
    }
    Ok(AckOutcome { acknowledged })
}
