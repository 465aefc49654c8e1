//! The platform's change log: every write to `tollgate.db` appends what it
//! changed to the `changes` table in its own transaction, and readers follow
//! the log by sequence number (`Store::change_seq`, `Store::changes_since`,
//! `Store::events_since`).
//!
//! A row is one change: its kind and ids, which the caches read to drop what
//! changed, and, for every change but a cache-only one, the event
//! (`tollgate_domain::EventChange`) as JSON with its time, which compliance
//! and replay read. The log is the record of every change that obliged a
//! recipient to act, so it is not trimmed.
//!
//! Asking for the latest sequence number is on every request's path, so it
//! does not read the table: a dedicated connection asks SQLite whether the
//! file changed since it last looked (`PRAGMA data_version`, which sees
//! commits by any connection of any process) and reads the table's end only
//! when it did. Before even that (a read transaction: a lock and its file
//! locks), it reads the header of the WAL index (`tollgate.db-shm`), which
//! every commit of any connection rewrites before it returns
//! (<https://www.sqlite.org/walformat.html>, "The WAL-Index Header"): an
//! unchanged header means no commit since the last look.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use tollgate_domain::{AccountId, AppId, Event, EventChange, PostId, Timestamp};
use tollgate_store::{Change, Changes, Result, StoreError};

use crate::codec::{Ctx, conversion};

const EVERYTHING: i64 = 0;
const ACCOUNT: i64 = 1;
const POST: i64 = 2;
const APP: i64 = 3;
const KEY: i64 = 4;
const AGREEMENT: i64 = 5;

fn row_of(change: Change) -> (i64, i64, Option<i64>) {
    match change {
        Change::Everything => (EVERYTHING, 0, None),
        Change::Account(a) => (ACCOUNT, a.0 as i64, None),
        Change::Post { id, author } => (POST, id.0 as i64, Some(author.0 as i64)),
        Change::App(a) => (APP, a.0 as i64, None),
        Change::Key(a) => (KEY, a.0 as i64, None),
        Change::Agreement => (AGREEMENT, 0, None),
    }
}

/// What a cache drops for an event.
fn cache_change(event: &EventChange) -> Result<Change> {
    Ok(match event {
        EventChange::Imported { .. } => Change::Everything,
        EventChange::AppChanged { app_id } => Change::App(*app_id),
        EventChange::KeyChanged { app_id } => Change::Key(*app_id),
        EventChange::AgreementPublished { .. } => Change::Agreement,
        e => match (e.post(), e.account()) {
            (Some(id), Some(author)) => Change::Post { id, author },
            (None, Some(account)) => Change::Account(account),
            _ => {
                return Err(StoreError::Backend(format!(
                    "a `{}` event without its author cannot be recorded",
                    e.type_name()
                )));
            }
        },
    })
}

/// Appends changes that only caches read (no event) inside the caller's
/// write transaction.
pub(crate) fn record(tx: &Connection, changes: impl IntoIterator<Item = Change>) -> Result<()> {
    let mut insert = tx
        .prepare_cached("INSERT INTO changes (kind, id, author) VALUES (?1, ?2, ?3)")
        .ctx("preparing a change log insert")?;
    for change in changes {
        let (kind, id, author) = row_of(change);
        insert.execute(params![kind, id, author]).ctx("appending to the change log")?;
    }
    Ok(())
}

/// Appends events, committed at `time`, inside the caller's write transaction.
pub(crate) fn record_events<'e>(
    tx: &Connection,
    time: Timestamp,
    events: impl IntoIterator<Item = &'e EventChange>,
) -> Result<u64> {
    let mut insert = tx
        .prepare_cached("INSERT INTO changes (kind, id, author, time, event) VALUES (?1, ?2, ?3, ?4, ?5)")
        .ctx("preparing a change log insert")?;
    let mut n = 0;
    for event in events {
        let (kind, id, author) = row_of(cache_change(event)?);
        let json = serde_json::to_string(event)
            .map_err(|e| StoreError::Backend(format!("encoding a `{}` event: {e}", event.type_name())))?;
        insert.execute(params![kind, id, author, time.millis(), json]).ctx("appending to the change log")?;
        n += 1;
    }
    Ok(n)
}

/// How many events the log holds after `seq`.
pub(crate) fn events_after(conn: &Connection, seq: u64) -> Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM changes WHERE seq > ?1 AND event IS NOT NULL")
        .and_then(|mut s| s.query_row([seq as i64], |r| r.get::<_, i64>(0)))
        .map(|n| n as u64)
        .ctx("counting events")
}

pub(crate) fn events_since(conn: &Connection, after: u64, limit: usize) -> Result<Vec<Event>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, time, event FROM changes WHERE seq > ?1 AND event IS NOT NULL ORDER BY seq LIMIT ?2",
        )
        .ctx("preparing an event log read")?;
    stmt.query_map(params![after, limit.min(i64::MAX as usize) as i64], |r| {
        let json: String = r.get(2)?;
        Ok(Event {
            seq: r.get::<_, i64>(0)? as u64,
            time: Timestamp::from_millis(r.get(1)?),
            change: serde_json::from_str(&json).map_err(|e| conversion(2, rusqlite::types::Type::Text, e))?,
        })
    })
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .ctx("reading the event log")
}

/// The last sequence number in the log (0 for an empty log that never had one).
pub(crate) fn last_seq(conn: &Connection) -> Result<u64> {
    conn.prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)).optional())
        .map(|seq| seq.unwrap_or(0) as u64)
        .ctx("reading the end of the change log")
}

pub(crate) fn since(conn: &Connection, after: u64, limit: usize) -> Result<Changes> {
    let end = last_seq(conn)?;
    if after >= end {
        return Ok(Changes { changes: Vec::new(), upto: after });
    }
    let first: Option<i64> = conn
        .prepare_cached("SELECT min(seq) FROM changes")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("reading the start of the change log")?;
    if first.is_none_or(|first| first as u64 > after + 1) {
        // Trimmed past `after`: what changed in between is not known.
        return Ok(Changes { changes: vec![Change::Everything], upto: end });
    }
    let mut stmt = conn
        .prepare_cached("SELECT seq, kind, id, author FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .ctx("preparing a change log read")?;
    let rows = stmt
        .query_map(params![after as i64, limit.max(1) as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx("reading the change log")?;
    let mut out = Changes { changes: Vec::with_capacity(rows.len()), upto: after };
    for (seq, kind, id, author) in rows {
        let id = id as u64;
        out.changes.push(match kind {
            ACCOUNT => Change::Account(AccountId(id)),
            POST => Change::Post { id: PostId(id), author: AccountId(author.unwrap_or_default() as u64) },
            APP => Change::App(AppId(id)),
            KEY => Change::Key(AppId(id)),
            AGREEMENT => Change::Agreement,
            // EVERYTHING, and any kind a newer build may write.
            _ => Change::Everything,
        });
        out.upto = seq as u64;
    }
    Ok(out)
}

/// The connection that watches the file for commits, and what it last saw.
pub(crate) struct Watch {
    state: Mutex<WatchState>,
    /// The WAL index of the watched file, if it could be opened: its header
    /// says, without a transaction, whether anything was committed.
    shm: Option<File>,
}

/// The bytes of the WAL index's header that a commit changes: the first of
/// its two copies (48 bytes: the change counter, the WAL's last frame and
/// salts, the checksums).
const WAL_INDEX_HEADER: usize = 48;
/// The header's "initialized" byte: a header without it says nothing.
const WAL_INDEX_IS_INIT: usize = 12;

struct WatchState {
    conn: Connection,
    /// `PRAGMA data_version` when `seq` was read.
    version: Option<i64>,
    /// The WAL index's header as read before `seq` was.
    header: Option<[u8; WAL_INDEX_HEADER]>,
    seq: u64,
    /// How many times `seq` asked SQLite (not answered by the header alone).
    asked: u64,
}

impl Watch {
    /// Watches the file `path` is open on, with `conn`.
    pub(crate) fn new(path: &Path, conn: Connection) -> Watch {
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        let shm = File::open(shm).ok();
        Watch { state: Mutex::new(WatchState { conn, version: None, header: None, seq: 0, asked: 0 }), shm }
    }

    pub(crate) fn seq(&self) -> Result<u64> {
        // The header first: a commit after this read changes what it read,
        // so a sequence read after it is never older than the header says.
        let header = self.header();
        let mut w = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if header.is_some() && header == w.header {
            return Ok(w.seq);
        }
        w.asked += 1;
        let version: i64 = w
            .conn
            .prepare_cached("PRAGMA main.data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ctx("asking whether the platform data changed")?;
        if w.version != Some(version) {
            // A commit between the two reads makes the version stale, never
            // the sequence: the next call reads the sequence again.
            w.seq = last_seq(&w.conn)?;
            w.version = Some(version);
        }
        w.header = header;
        Ok(w.seq)
    }

    /// The WAL index's header now, if it can be read and is initialized.
    fn header(&self) -> Option<[u8; WAL_INDEX_HEADER]> {
        let mut header = [0; WAL_INDEX_HEADER];
        self.shm.as_ref()?.read_exact_at(&mut header, 0).ok()?;
        (header[WAL_INDEX_IS_INIT] != 0).then_some(header)
    }

    /// How many calls of `seq` asked SQLite.
    #[cfg(test)]
    fn asked(&self) -> u64 {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{open_reader, open_writer};
    use crate::{Synchronous, TempDir};

    fn log(dir: &TempDir) -> (std::path::PathBuf, Connection) {
        let path = dir.path().join("watched.db");
        let writer = open_writer(&path, Synchronous::Full, 1).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL);
                 INSERT INTO changes (kind) VALUES (1);",
            )
            .unwrap();
        (path, writer)
    }

    /// While nothing is committed the WAL index's header answers, without a
    /// transaction; a commit by another connection (another process, a CLI
    /// command) is seen by the very next call, which asks SQLite once.
    #[test]
    fn an_unchanged_wal_index_answers_and_a_commit_is_seen_by_the_next_call() {
        let dir = TempDir::new().unwrap();
        let (path, _writer) = log(&dir);
        let watch = Watch::new(&path, open_reader(&path, &[], 1).unwrap());
        assert!(watch.shm.is_some(), "the WAL index is readable");
        assert_eq!(watch.seq().unwrap(), 1);
        let asked = watch.asked();
        for _ in 0..10 {
            assert_eq!(watch.seq().unwrap(), 1);
        }
        assert_eq!(watch.asked(), asked, "nothing was committed: the header answered");

        let other = Connection::open(&path).unwrap();
        other.execute("INSERT INTO changes (kind) VALUES (2)", []).unwrap();
        assert_eq!(watch.seq().unwrap(), 2, "the commit is seen at once");
        assert_eq!(watch.seq().unwrap(), 2);
        assert_eq!(watch.asked(), asked + 1, "asked once for the commit");

        // A checkpoint that restarts the WAL rewrites the header: asked
        // again, the same answer.
        other.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        other.execute("INSERT INTO changes (kind) VALUES (3)", []).unwrap();
        assert_eq!(watch.seq().unwrap(), 3);
    }

    /// Without a WAL index to read, every call asks SQLite.
    #[test]
    fn without_a_wal_index_every_call_asks() {
        let dir = TempDir::new().unwrap();
        let (path, writer) = log(&dir);
        let mut watch = Watch::new(&path, open_reader(&path, &[], 1).unwrap());
        watch.shm = None;
        assert_eq!(watch.seq().unwrap(), 1);
        assert_eq!(watch.seq().unwrap(), 1);
        assert_eq!(watch.asked(), 2);
        writer.execute("INSERT INTO changes (kind) VALUES (2)", []).unwrap();
        assert_eq!(watch.seq().unwrap(), 2);
    }
}
