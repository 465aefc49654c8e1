//! Versioned schema migrations for the two database files.
//!
//! Each file carries its schema version in `PRAGMA user_version` (part of the
//! database header, so it changes in the same transaction as the migration
//! itself). Migrations are append-only: a released `(version, SQL)` pair is
//! never edited, a change to the schema is a new pair at the end of the list.
//! A file whose version is newer than the last migration this build knows was
//! written by a newer Tollgate and is refused with `StoreError::TooNew` rather
//! than read with the wrong assumptions. `docs/storage.md` documents the
//! resulting schema.

use rusqlite::{Connection, TransactionBehavior};
use tollgate_store::{Result, StoreError};

use crate::codec::Ctx;

/// Marks both files as Tollgate's (`Toll` in ASCII), so that opening some other
/// application's SQLite database by mistake is refused instead of migrated.
pub(crate) const APPLICATION_ID: i32 = 0x546f_6c6c;

/// Migrations of `tollgate.db`, the platform data.
pub(crate) const PLATFORM: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    handle        TEXT    NOT NULL,
    handle_lower  TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    region        TEXT    NOT NULL,
    birth_year    INTEGER,
    is_minor      INTEGER,
    protected     INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    prefs         TEXT    NOT NULL
);
CREATE UNIQUE INDEX accounts_handle_lower ON accounts (handle_lower);

CREATE TABLE posts (
    id                  INTEGER PRIMARY KEY,
    author_id           INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    text                TEXT    NOT NULL,
    lang                TEXT    NOT NULL,
    in_reply_to         INTEGER,
    in_reply_to_user_id INTEGER,
    conversation_id     INTEGER,
    no_ai               INTEGER NOT NULL,
    deleted_at          INTEGER
);
CREATE INDEX posts_author_id ON posts (author_id, id DESC);

CREATE VIRTUAL TABLE posts_fts USING fts5 (
    text,
    content = 'posts',
    content_rowid = 'id',
    tokenize = 'unicode61',
    columnsize = 0
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF text ON posts WHEN old.text IS NOT new.text BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO posts_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE apps (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL,
    tier              TEXT    NOT NULL,
    purposes          TEXT    NOT NULL,
    licensed_purposes TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    agreement_version INTEGER,
    created_at        INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     INTEGER NOT NULL REFERENCES apps (id),
    hash       TEXT    NOT NULL UNIQUE,
    prefix     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX api_keys_app_id ON api_keys (app_id);

CREATE TABLE agreements (
    version      INTEGER PRIMARY KEY,
    text         TEXT    NOT NULL,
    terms_json   TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    grace_until  INTEGER NOT NULL
);
"#,
    ),
    // The change log (docs/storage.md, "The change log"): what every write
    // changed, for the caches of every node to follow. `author` is set for
    // posts. A log created by this migration starts empty; caches start cold.
    (
        2,
        r#"
CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind   INTEGER NOT NULL,
    id     INTEGER NOT NULL,
    author INTEGER
);
"#,
    ),
    // Search by the operators that name a post or an account
    // (docs/storage.md, "Indexes"): `to:` (replies to an account),
    // `in_reply_to_tweet_id:` (replies to a post), `conversation_id:` (a
    // thread, its first post included). Each is walked newest first, as the
    // author index is for `from:`; the first two hold replies only.
    (
        3,
        r#"
CREATE INDEX posts_in_reply_to_user ON posts (in_reply_to_user_id, id DESC) WHERE in_reply_to_user_id IS NOT NULL;
CREATE INDEX posts_in_reply_to ON posts (in_reply_to, id DESC) WHERE in_reply_to IS NOT NULL;
CREATE INDEX posts_conversation ON posts (coalesce(conversation_id, id), id DESC);
"#,
    ),
    // The event log and the notices (docs/compliance.md): the change log's
    // rows gain the event they record (JSON) and its time, and are no longer
    // trimmed; a row without an event only tells caches what to drop. A
    // notice is one recipient told of one event, an obligation when it has
    // a deadline; `notices_progress` is how far each node (each ledger) has
    // examined the log.
    (
        4,
        r#"
ALTER TABLE changes ADD COLUMN time INTEGER;
ALTER TABLE changes ADD COLUMN event TEXT;
CREATE TABLE notices (
    app_id     INTEGER NOT NULL,
    event_seq  INTEGER NOT NULL,
    event_time INTEGER NOT NULL,
    event      TEXT NOT NULL,
    account_id INTEGER NOT NULL,
    post_id    INTEGER,
    reason     TEXT,
    deadline   INTEGER,
    acked_at   INTEGER,
    PRIMARY KEY (app_id, event_seq)
) WITHOUT ROWID;
CREATE INDEX notices_by_event ON notices (event_seq);
CREATE INDEX notices_by_account ON notices (account_id, event_seq);
CREATE INDEX notices_open_by_post ON notices (app_id, post_id) WHERE deadline IS NOT NULL AND acked_at IS NULL;
CREATE TABLE notices_progress (
    node TEXT PRIMARY KEY,
    upto INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    ),
    // Batch compliance jobs (docs/storage.md, "Compliance jobs"): a job's
    // metadata, and its uploaded ids and results as one blob each (ids as
    // 8-byte little-endian integers, results as JSON lines), read and written
    // whole. The secret the job URLs are signed with is made here, once.
    (
        5,
        r#"
CREATE TABLE compliance_jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id              INTEGER NOT NULL,
    kind                TEXT    NOT NULL,
    name                TEXT,
    resumable           INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    upload_expires_at   INTEGER NOT NULL,
    download_expires_at INTEGER NOT NULL,
    uploaded            INTEGER NOT NULL DEFAULT 0,
    results             INTEGER NOT NULL DEFAULT 0,
    error               TEXT
);
CREATE INDEX compliance_jobs_app ON compliance_jobs (app_id, kind, id DESC);
CREATE INDEX compliance_jobs_expiry ON compliance_jobs (download_expires_at) WHERE status <> 'expired';

CREATE TABLE compliance_job_data (
    job_id  INTEGER PRIMARY KEY REFERENCES compliance_jobs (id),
    ids     BLOB,
    results BLOB
);

CREATE TABLE compliance_secret (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    secret    BLOB    NOT NULL
);
INSERT INTO compliance_secret (singleton, secret) VALUES (1, randomblob(32));
"#,
    ),
    // Webhooks (docs/compliance.md, "Webhooks"): each recipient's endpoints
    // for compliance notices by push, with the signing secret every delivery
    // is signed with and how far delivery has come; and the batches given up
    // on after every retry, with the event sequence numbers they held (JSON).
    (
        6,
        r#"
CREATE TABLE webhooks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id         INTEGER NOT NULL,
    url            TEXT    NOT NULL,
    secret         TEXT    NOT NULL,
    valid          INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    delivered_upto INTEGER NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app_id);
CREATE TABLE webhook_dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL,
    event_seqs TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX webhook_dead_letters_by_webhook ON webhook_dead_letters (webhook_id, id);
"#,
    ),
    // Written notices to the guard's actors (docs/guard.md, "Evidence"): what
    // the operator sent to whom on which day, recorded by `tollgate guard
    // notice`, for the evidence report to count what the actor did after.
    (
        7,
        r#"
CREATE TABLE guard_notices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor       TEXT    NOT NULL,
    date        TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    reference   TEXT,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX guard_notices_by_actor ON guard_notices (actor, date, id);
"#,
    ),
];

/// The version a fully migrated file has.
pub(crate) fn latest(migrations: &[(u32, &str)]) -> u32 {
    migrations.last().map_or(0, |(v, _)| *v)
}

/// Brings the file behind `conn` up to the latest version of `migrations`.
///
/// Every pending migration runs in its own immediate transaction together
/// with the version bump, so a crash between two migrations leaves a file at
/// a well-defined version. The version is re-read inside the transaction:
/// two processes opening the same fresh directory at once do not both
/// migrate it.
pub fn migrate(conn: &mut Connection, file: &str, migrations: &[(u32, &str)]) -> Result<()> {
    let supported = latest(migrations);
    check_identity(conn, file)?;
    // The common case, an up-to-date file, needs no write lock: a CLI command
    // opening the store next to a busy server does not wait for it.
    let found = user_version(conn, file)?;
    if found > supported {
        return Err(StoreError::TooNew { found, supported });
    }
    if found == supported {
        return Ok(());
    }
    for &(version, sql) in migrations {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx(format_args!("starting the migration of {file}"))?;
        let found = user_version(&tx, file)?;
        if found > supported {
            return Err(StoreError::TooNew { found, supported });
        }
        if found >= version {
            continue;
        }
        if found != version - 1 {
            return Err(StoreError::Backend(format!(
                "{file} has schema version {found}, which no migration of this build continues"
            )));
        }
        tx.execute_batch(sql).ctx(format_args!("migrating {file} to schema version {version}"))?;
        tx.pragma_update(None, "user_version", version).ctx(format_args!("recording schema version {version}"))?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).ctx(format_args!("marking {file}"))?;
        tx.commit().ctx(format_args!("committing the migration of {file} to version {version}"))?;
    }
    Ok(())
}

fn user_version(conn: &Connection, file: &str) -> Result<u32> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .ctx(format_args!("reading the schema version of {file}"))?;
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("{file} has an impossible schema version {v}")))
}

/// Refuses a database that some other application created.
fn check_identity(conn: &Connection, file: &str) -> Result<()> {
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .ctx(format_args!("reading the application id of {file}"))?;
    if id != 0 && id != APPLICATION_ID {
        return Err(StoreError::Backend(format!(
            "{file} is an SQLite database of another application (application_id {id:#x})"
        )));
    }
    Ok(())
}
