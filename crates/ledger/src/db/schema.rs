//! The migrations of `ledger.db`.

/// Migrations of `ledger.db`, the disclosure ledger.
pub(crate) const LEDGER: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE ledger (
    seq    INTEGER PRIMARY KEY,
    time   INTEGER NOT NULL,
    app_id INTEGER,
    body   BLOB    NOT NULL,
    hash   BLOB    NOT NULL
);
CREATE INDEX ledger_app_time ON ledger (app_id, time);
"#,
    ),
    // The audit index (docs/ledger.md, "Indexes and queries"). Entries stored
    // before it are not indexed: `indexed_end` starts at 0 and
    // `tollgate ledger reindex` fills it in.
    (
        2,
        r#"
ALTER TABLE ledger ADD COLUMN client TEXT;
ALTER TABLE ledger ADD COLUMN purpose TEXT;
ALTER TABLE ledger ADD COLUMN refused INTEGER;
ALTER TABLE ledger ADD COLUMN posts INTEGER;
ALTER TABLE ledger ADD COLUMN policy_version TEXT;
DROP INDEX ledger_app_time;
CREATE INDEX ledger_app_time ON ledger (app_id, time, refused, posts);
CREATE INDEX ledger_client_time ON ledger (client, time, refused, posts) WHERE client IS NOT NULL;
CREATE INDEX ledger_policy ON ledger (policy_version, refused);

CREATE TABLE ledger_days (
    app_id  INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    purpose TEXT    NOT NULL,
    refused INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    posts   INTEGER NOT NULL,
    PRIMARY KEY (app_id, day, purpose, refused)
) WITHOUT ROWID;

-- A recipient is (app, anonymous client, purpose); the per-author summary
-- names it by number, which keeps its rows (one per author and recipient,
-- the largest structure of the index) small.
CREATE TABLE ledger_recipients (
    id      INTEGER PRIMARY KEY,
    app_id  INTEGER NOT NULL,
    client  TEXT    NOT NULL,
    purpose TEXT    NOT NULL,
    UNIQUE (app_id, client, purpose)
);

CREATE TABLE ledger_authors (
    author_id  INTEGER NOT NULL,
    recipient  INTEGER NOT NULL,
    first_time INTEGER NOT NULL,
    last_time  INTEGER NOT NULL,
    deliveries INTEGER NOT NULL,
    PRIMARY KEY (author_id, recipient)
) WITHOUT ROWID;

CREATE TABLE ledger_policies (
    policy_version TEXT    NOT NULL,
    refused        INTEGER NOT NULL,
    entries        INTEGER NOT NULL,
    posts          INTEGER NOT NULL,
    PRIMARY KEY (policy_version, refused)
) WITHOUT ROWID;

CREATE TABLE ledger_filters (
    shard INTEGER NOT NULL,
    block INTEGER NOT NULL,
    bits  BLOB    NOT NULL,
    PRIMARY KEY (shard, block)
) WITHOUT ROWID;

CREATE TABLE ledger_index_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_end INTEGER NOT NULL
);
INSERT INTO ledger_index_state (id, indexed_end) VALUES (1, 0);
"#,
    ),
    // Exact posting lists replace the Bloom filters in `ledger_filters`
    // (same rows, another encoding), and each indexed block gets a compact
    // copy of its columns. The Bloom filters are dropped: a block without a
    // posting list is searched entry by entry, so lookups stay exact, and
    // `tollgate ledger reindex` writes the lists and copies of the blocks
    // indexed before.
    (
        3,
        r#"
DELETE FROM ledger_filters;
CREATE TABLE ledger_blocks (
    block   INTEGER PRIMARY KEY,
    columns BLOB    NOT NULL
);
"#,
    ),
    // An entry's body stays in the segment files, where the writer put it:
    // a row written from now on has an empty `body` and the place of its
    // body (the segment file, named by the seq of its first entry, and the
    // offset of the body's length field). Rows stored before keep theirs.
    (
        4,
        r#"
ALTER TABLE ledger ADD COLUMN body_file INTEGER;
ALTER TABLE ledger ADD COLUMN body_at INTEGER;
"#,
    ),
];
