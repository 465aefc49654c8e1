//! Written notices to the guard's actors (`Store::record_guard_notice`):
//! one row each, never changed. The rules a notice meets are checked by the
//! caller before it comes here (`tollgate_store::guard_notices::check`).

use rusqlite::{Connection, Row, params};
use tollgate_store::{GuardNotice, NewGuardNotice, Result};

use crate::codec::{Ctx, id_from_sql, timestamp};

const COLUMNS: &str = "id, actor, date, text, reference, recorded_at";

fn notice_from_row(row: &Row<'_>) -> rusqlite::Result<GuardNotice> {
    Ok(GuardNotice {
        id: id_from_sql(row.get(0)?),
        actor: row.get(1)?,
        date: row.get(2)?,
        text: row.get(3)?,
        reference: row.get(4)?,
        recorded_at: timestamp(row, 5)?,
    })
}

pub(crate) fn record(tx: &Connection, n: &NewGuardNotice) -> Result<GuardNotice> {
    tx.prepare_cached(
        "INSERT INTO guard_notices (actor, date, text, reference, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![n.actor, n.date, n.text, n.reference, n.recorded_at.millis()]))
    .ctx(format_args!("recording a notice to `{}`", n.actor))?;
    Ok(GuardNotice {
        id: tx.last_insert_rowid() as u64,
        actor: n.actor.clone(),
        date: n.date.clone(),
        text: n.text.clone(),
        reference: n.reference.clone(),
        recorded_at: n.recorded_at,
    })
}

pub(crate) fn list(conn: &Connection, actor: Option<&str>) -> Result<Vec<GuardNotice>> {
    match actor {
        Some(actor) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM guard_notices WHERE actor = ?1 ORDER BY date, id"))
            .and_then(|mut s| s.query_map([actor], notice_from_row)?.collect()),
        None => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM guard_notices ORDER BY date, id"))
            .and_then(|mut s| s.query_map([], notice_from_row)?.collect()),
    }
    .ctx("listing the notices to actors")
}
