//! Batch compliance jobs in `tollgate.db` (migration 5): the metadata in
//! `compliance_jobs`, a job's uploaded ids and its results as one blob each
//! in `compliance_job_data`, the URL-signing secret in `compliance_secret`.
//!
//! Ids are kept as 8-byte little-endian integers in one blob rather than a
//! row each: a million ids are written and read back in one statement (8 MB)
//! instead of a million inserts, and a job's ids are only ever read whole.
//! Job writes touch no platform data, so they append nothing to the change
//! log: no cache holds jobs.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tollgate_domain::{AppId, Timestamp};
use tollgate_store::{ComplianceJob, JobKind, JobStatus, NewComplianceJob, Result, StoreError};

use crate::codec::{Ctx, conversion, id_from_sql, id_to_sql, lookup_id, timestamp};

const JOB_COLUMNS: &str = "id, app_id, kind, name, resumable, status, created_at, upload_expires_at, \
    download_expires_at, uploaded, results, error";

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a job kind or status this build knows")]
struct Unknown(String);

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<ComplianceJob> {
    let kind: String = row.get(2)?;
    let status: String = row.get(5)?;
    Ok(ComplianceJob {
        id: id_from_sql(row.get(0)?),
        app_id: AppId(id_from_sql(row.get(1)?)),
        kind: kind.parse().map_err(|()| conversion(2, rusqlite::types::Type::Text, Unknown(kind.clone())))?,
        name: row.get(3)?,
        resumable: row.get(4)?,
        status: status.parse().map_err(|()| conversion(5, rusqlite::types::Type::Text, Unknown(status.clone())))?,
        created_at: timestamp(row, 6)?,
        upload_expires_at: timestamp(row, 7)?,
        download_expires_at: timestamp(row, 8)?,
        uploaded: row.get::<_, i64>(9)? as u64,
        results: row.get::<_, i64>(10)? as u64,
        error: row.get(11)?,
    })
}

pub(crate) fn create(tx: &Connection, job: &NewComplianceJob) -> Result<ComplianceJob> {
    let app = id_to_sql(job.app_id.0, "app_id")?;
    tx.prepare_cached(
        "INSERT INTO compliance_jobs (app_id, kind, name, resumable, status, created_at, upload_expires_at, \
         download_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            app,
            job.kind.as_str(),
            job.name,
            job.resumable,
            JobStatus::Created.as_str(),
            job.created_at.millis(),
            job.upload_expires_at.millis(),
            job.download_expires_at.millis(),
        ])
    })
    .ctx("creating a compliance job")?;
    let id = tx.last_insert_rowid();
    tx.execute("INSERT INTO compliance_job_data (job_id) VALUES (?1)", [id]).ctx("creating a compliance job")?;
    get(tx, id)?.ok_or_else(|| StoreError::Backend(format!("compliance job {id} vanished as it was created")))
}

pub(crate) fn get(conn: &Connection, id: i64) -> Result<Option<ComplianceJob>> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM compliance_jobs WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], job_from_row).optional())
        .ctx(format_args!("reading compliance job {id}"))
}

pub(crate) fn list(
    conn: &Connection,
    app: AppId,
    kind: JobKind,
    status: Option<JobStatus>,
) -> Result<Vec<ComplianceJob>> {
    let Some(app) = lookup_id(app.0) else { return Ok(Vec::new()) };
    conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM compliance_jobs WHERE app_id = ?1 AND kind = ?2 \
         AND (?3 IS NULL OR status = ?3) ORDER BY id DESC"
    ))
    .and_then(|mut s| s.query_map(params![app, kind.as_str(), status.map(JobStatus::as_str)], job_from_row)?.collect())
    .ctx("listing compliance jobs")
}

/// Moves job `id` from status `from` to `to`, setting the other columns
/// `set` names; whether it was in `from`.
fn transition(tx: &Connection, id: i64, from: JobStatus, to: JobStatus, set: &str) -> Result<bool> {
    let sql = format!("UPDATE compliance_jobs SET status = ?3{set} WHERE id = ?1 AND status = ?2");
    let n = tx
        .prepare_cached(&sql)
        .and_then(|mut s| s.execute(params![id, from.as_str(), to.as_str()]))
        .ctx(format_args!("moving compliance job {id} to {to}"))?;
    Ok(n == 1)
}

pub(crate) fn upload(tx: &Connection, id: u64, ids: &[u64]) -> Result<()> {
    let Some(id) = lookup_id(id) else { return Err(StoreError::NotFound(format!("compliance job {id}"))) };
    let Some(job) = get(tx, id)? else { return Err(StoreError::NotFound(format!("compliance job {id}"))) };
    let count = ids.len() as i64;
    if !transition(tx, id, JobStatus::Created, JobStatus::InProgress, &format!(", uploaded = {count}"))? {
        return Err(StoreError::Conflict(format!(
            "compliance job {id} is {}, not created: it takes no upload",
            job.status
        )));
    }
    let mut blob = Vec::with_capacity(ids.len() * 8);
    for id in ids {
        blob.extend_from_slice(&id.to_le_bytes());
    }
    tx.prepare_cached("UPDATE compliance_job_data SET ids = ?2 WHERE job_id = ?1")
        .and_then(|mut s| s.execute(params![id, blob]))
        .ctx(format_args!("storing the ids of compliance job {id}"))?;
    Ok(())
}

pub(crate) fn ids(conn: &Connection, id: u64) -> Result<Vec<u64>> {
    let Some(id) = lookup_id(id) else { return Ok(Vec::new()) };
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT ids FROM compliance_job_data WHERE job_id = ?1")
        .and_then(|mut s| s.query_row([id], |row| row.get(0)).optional())
        .ctx(format_args!("reading the ids of compliance job {id}"))?
        .flatten();
    let blob = blob.unwrap_or_default();
    Ok(blob.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default())).collect())
}

pub(crate) fn complete(tx: &Connection, id: u64, results: &[u8], lines: u64) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    if !transition(tx, id, JobStatus::InProgress, JobStatus::Complete, &format!(", results = {}", lines as i64))? {
        return Ok(false);
    }
    tx.prepare_cached("UPDATE compliance_job_data SET ids = NULL, results = ?2 WHERE job_id = ?1")
        .and_then(|mut s| s.execute(params![id, results]))
        .ctx(format_args!("storing the results of compliance job {id}"))?;
    Ok(true)
}

pub(crate) fn fail(tx: &Connection, id: u64, error: &str) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    if !transition(tx, id, JobStatus::InProgress, JobStatus::Failed, "")? {
        return Ok(false);
    }
    tx.execute("UPDATE compliance_jobs SET error = ?2 WHERE id = ?1", params![id, error])
        .and_then(|_| tx.execute("UPDATE compliance_job_data SET ids = NULL WHERE job_id = ?1", [id]))
        .ctx(format_args!("failing compliance job {id}"))?;
    Ok(true)
}

pub(crate) fn results(conn: &Connection, id: u64) -> Result<Option<Vec<u8>>> {
    let Some(id) = lookup_id(id) else { return Ok(None) };
    conn.prepare_cached(
        "SELECT coalesce(d.results, x'') FROM compliance_jobs j JOIN compliance_job_data d ON d.job_id = j.id \
         WHERE j.id = ?1 AND j.status = 'complete'",
    )
    .and_then(|mut s| s.query_row([id], |row| row.get(0)).optional())
    .ctx(format_args!("reading the results of compliance job {id}"))
}

/// The condition of a job due to expire at `?1`.
const DUE: &str =
    "status <> 'expired' AND (download_expires_at <= ?1 OR (status = 'created' AND upload_expires_at <= ?1))";

/// Whether any job is due to expire at `now` (a read: the common answer is no).
pub(crate) fn any_due(conn: &Connection, now: Timestamp) -> Result<bool> {
    conn.prepare_cached(&format!("SELECT EXISTS (SELECT 1 FROM compliance_jobs WHERE {DUE})"))
        .and_then(|mut s| s.query_row([now.millis()], |row| row.get(0)))
        .ctx("looking for expired compliance jobs")
}

pub(crate) fn expire(tx: &Connection, now: Timestamp) -> Result<usize> {
    tx.prepare_cached(&format!(
        "UPDATE compliance_job_data SET ids = NULL, results = NULL \
         WHERE job_id IN (SELECT id FROM compliance_jobs WHERE {DUE})"
    ))
    .and_then(|mut s| s.execute([now.millis()]))
    .ctx("dropping the data of expired compliance jobs")?;
    tx.prepare_cached(&format!("UPDATE compliance_jobs SET status = 'expired' WHERE {DUE}"))
        .and_then(|mut s| s.execute([now.millis()]))
        .ctx("expiring compliance jobs")
}

pub(crate) fn delete(tx: &Connection, id: u64) -> Result<bool> {
    let Some(id) = lookup_id(id) else { return Ok(false) };
    tx.execute("DELETE FROM compliance_job_data WHERE job_id = ?1", [id])
        .and_then(|_| tx.execute("DELETE FROM compliance_jobs WHERE id = ?1", [id]))
        .map(|n| n == 1)
        .ctx(format_args!("deleting compliance job {id}"))
}

pub(crate) fn secret(conn: &Connection) -> Result<[u8; 32]> {
    let blob: Vec<u8> = conn
        .query_row("SELECT secret FROM compliance_secret WHERE singleton = 1", [], |row| row.get(0))
        .ctx("reading the compliance jobs' secret")?;
    blob.try_into().map_err(|_| StoreError::Backend("the compliance jobs' secret is not 32 bytes".into()))
}
