//! Shared fixtures of the ledger's integration tests: a real SQLite store in a
//! temporary data directory, a writer, and a raw connection to `ledger.db`
//! for the edits an attacker with access to the file could make.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tollgate_domain::{AppId, PostId, Purpose, Timestamp};
use tollgate_ledger::LedgerDb;
use tollgate_ledger::{
    Channel, Checkpoint, CheckpointPolicy, Entry, Ledger, LedgerFiles, LedgerWriter, Outcome, chain_hash, leaf_hash,
};
use tollgate_store_sqlite::{SqliteOptions, Synchronous};

pub struct Fixture {
    pub dir: PathBuf,
    pub store: Arc<LedgerDb>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-ledger-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let options =
            SqliteOptions { synchronous: Synchronous::Normal, read_connections: 2, ..SqliteOptions::default() };
        let store = Arc::new(LedgerDb::open(&dir, &options).unwrap());
        Fixture { dir, store }
    }

    pub fn files(&self) -> LedgerFiles {
        LedgerFiles::in_data_dir(&self.dir)
    }

    pub fn ledger(&self) -> Ledger {
        Ledger::new(self.store.clone(), &self.dir)
    }

    /// A writer that adds to the history after every `every` entries (and
    /// when it stops); it signs the head with every commit.
    pub fn writer(&self, every: u64) -> LedgerWriter {
        let hour = Duration::from_secs(3600);
        let policy = CheckpointPolicy { every_entries: every, log_interval: hour, ..Default::default() };
        LedgerWriter::start_with(self.store.clone(), &self.files(), policy).unwrap()
    }

    /// Records entries `from..to` in chunks of `chunk`, each chunk awaited
    /// before the next, so that checkpoints fall on chunk boundaries.
    pub fn record(&self, writer: &LedgerWriter, from: u64, to: u64, chunk: u64, time: impl Fn(u64) -> i64) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut at = from;
            while at < to {
                let end = (at + chunk).min(to);
                let mut tasks = Vec::new();
                for i in at..end {
                    let w = writer.clone();
                    let e = entry(i, time(i));
                    tasks.push(tokio::spawn(async move { w.record(e).await }));
                }
                for t in tasks {
                    t.await.unwrap().unwrap();
                }
                at = end;
            }
        });
    }

    /// A ledger of `n` entries with checkpoints every `every`, writer stopped.
    pub fn filled(name: &str, n: u64, every: u64) -> Fixture {
        let f = Fixture::new(name);
        let w = f.writer(every);
        f.record(&w, 0, n, every, |i| 1_750_000_000_000 + i as i64);
        w.shutdown();
        f
    }

    pub fn raw(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.dir.join("ledger.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn
    }

    /// Removes the history lines of checkpoints of size `size`, and the head
    /// if it has that size, and puts the head slots back to the newest
    /// checkpoint left: what a crash before they were written, or an
    /// attacker, leaves.
    pub fn drop_checkpoints_of_size(&self, size: u64) {
        let files = self.files();
        let log = std::fs::read_to_string(files.checkpoints_path()).unwrap();
        let kept: Vec<&str> = log.lines().filter(|l| !l.contains(&format!("\"size\":{size},"))).collect();
        std::fs::write(files.checkpoints_path(), kept.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        if std::fs::read_to_string(files.head_path()).is_ok_and(|h| h.contains(&format!("\"size\":{size},"))) {
            std::fs::remove_file(files.head_path()).unwrap();
        }
        let head = std::fs::read_to_string(files.head_path()).ok();
        match head.as_deref().map(str::trim_end).or(kept.last().copied()) {
            Some(line) => self.put_head_slots(line),
            None => std::fs::remove_file(files.head_slots_path()).unwrap(),
        }
    }

    /// Writes `head.slots` anew with the checkpoint record `line` (a line of
    /// the history) in slot 0 and slot 1 empty, built from the layout that
    /// docs/ledger.md gives, as anyone could without the key.
    pub fn put_head_slots(&self, line: &str) {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let hex_of = |name: &str| hex::decode(r[name].as_str().unwrap()).unwrap();
        let message = Checkpoint::message(
            r["size"].as_u64().unwrap(),
            Timestamp::from_millis(r["time"].as_i64().unwrap()),
            &hex_of("root").try_into().unwrap(),
            &hex_of("chain").try_into().unwrap(),
            &hex_of("key_id").try_into().unwrap(),
        );
        let mut slot = message;
        slot.extend_from_slice(&hex_of("signature"));
        let frontier = r["frontier"].as_array().unwrap();
        slot.push(frontier.len() as u8);
        for node in frontier {
            slot.extend_from_slice(&hex::decode(node.as_str().unwrap()).unwrap());
        }
        slot.resize(4064, 0);
        slot.extend_from_slice(&Sha256::digest(&slot));
        let mut file = b"tollgate-ledger-head-slots\n\0".to_vec();
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(&4096u32.to_be_bytes());
        file.extend_from_slice(&2u32.to_be_bytes());
        file.resize(4096, 0);
        file.extend_from_slice(&slot);
        file.resize(3 * 4096, 0);
        std::fs::write(self.files().head_slots_path(), file).unwrap();
    }

    /// The size in each head slot, as stored (checksum and signature not checked).
    pub fn head_slot_sizes(&self) -> [u64; 2] {
        let bytes = std::fs::read(self.files().head_slots_path()).unwrap();
        let size = |slot: usize| {
            let at = 4096 * (1 + slot) + 38;
            u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
        };
        [size(0), size(1)]
    }

    /// Overwrites bytes `range` of head slot `slot` with `with`.
    pub fn scribble_on_head_slot(&self, slot: usize, range: std::ops::Range<usize>, with: u8) {
        let path = self.files().head_slots_path();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = 4096 * (1 + slot);
        bytes[at + range.start..at + range.end].fill(with);
        std::fs::write(path, bytes).unwrap();
    }

    pub fn exec(&self, sql: &str) {
        self.raw().execute_batch(sql).unwrap();
    }

    /// The body of entry `seq`, as the store reads it (from its place in
    /// the segment files, or from the row for a row that keeps its body).
    pub fn body(&self, seq: u64) -> Vec<u8> {
        let rows = self.store.ledger_rows(&[seq]).unwrap();
        assert_eq!(rows.len(), 1, "entry {seq} is stored");
        rows[0].body.clone()
    }

    pub fn hash(&self, seq: u64) -> [u8; 32] {
        let v: Vec<u8> =
            self.raw().query_row("SELECT hash FROM ledger WHERE seq = ?1", [seq as i64], |r| r.get(0)).unwrap();
        v.try_into().unwrap()
    }

    /// Puts every body into its row, as a Tollgate before segment files
    /// stored them.
    pub fn bodies_into_rows(&self) {
        let rows = self.store.ledger_read(0, usize::MAX).unwrap();
        let conn = self.raw();
        conn.execute_batch("BEGIN").unwrap();
        for row in rows {
            conn.execute(
                "UPDATE ledger SET body = ?1, body_file = NULL, body_at = NULL WHERE seq = ?2",
                rusqlite::params![row.body, row.seq as i64],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    /// Recomputes and stores every chain hash from `from` on, as an attacker
    /// who knows the scheme would after an edit.
    pub fn rewrite_chain(&self, from: u64) {
        let conn = self.raw();
        let mut chain = if from == 0 { [0u8; 32] } else { self.hash(from - 1) };
        let rows = self.store.ledger_read(from, usize::MAX).unwrap();
        // One transaction: a sealed segment is 65,536 rows.
        conn.execute_batch("BEGIN").unwrap();
        for row in rows {
            chain = chain_hash(&chain, &leaf_hash(&row.body));
            conn.execute(
                "UPDATE ledger SET hash = ?1 WHERE seq = ?2",
                rusqlite::params![chain.to_vec(), row.seq as i64],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }
}

/// A plausible entry, distinct per `i`.
pub fn entry(i: u64, time_ms: i64) -> Entry {
    Entry {
        v: Entry::VERSION,
        time: Timestamp::from_millis(time_ms),
        request_id: format!("test-{i:x}"),
        channel: Channel::Api,
        app_id: Some(AppId(1 + i % 3)),
        key_id: None,
        client: None,
        endpoint: "/2/tweets".into(),
        purpose: Some(Purpose::Display),
        outcome: Outcome::Served,
        posts: vec![PostId(1000 + i), PostId(2000 + i)],
        authors: Vec::new(),
        accounts: Vec::new(),
        withheld: Default::default(),
        notices: Vec::new(),
        policy_version: "p1".into(),
        guard: None,
    }
}

/// One frame of a segment file, read with the layout docs/ledger.md gives
/// (not with the crate's reader), checksum not checked.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    pub first: u64,
    pub count: u64,
    /// The size of the signed head it ends with, if it has one.
    pub head: Option<u64>,
}

impl Fixture {
    /// The segment files, in order.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.files().segments_dir())
            .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "seg")).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Every whole frame of every segment file.
    pub fn frames(&self) -> Vec<RawFrame> {
        let mut out = Vec::new();
        for path in self.segment_files() {
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(&bytes[..24], b"tollgate-ledger-segment\n");
            let mut at = 32usize;
            while at + 4 <= bytes.len() {
                let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                // Zeros: the room a file is created with, after its frames.
                if len == 0 || at + len > bytes.len() {
                    break;
                }
                let f = &bytes[at..at + len];
                let first = u64::from_be_bytes(f[5..13].try_into().unwrap());
                let count = u64::from(u32::from_be_bytes(f[13..17].try_into().unwrap()));
                let head = (f[4] & 1 == 1).then(|| {
                    let h = &f[len - 32 - 182..];
                    u64::from_be_bytes(h[38..46].try_into().unwrap())
                });
                out.push(RawFrame { path: path.clone(), offset: at as u64, len: len as u64, first, count, head });
                at += len;
            }
        }
        out
    }

    /// The size of the newest head signed into the segment files.
    pub fn newest_segment_head(&self) -> u64 {
        self.frames().iter().filter_map(|f| f.head).max().expect("a head in the segment files")
    }

    /// The start of the last frame of entries that starts at or before `seq`.
    pub fn frame_boundary_near(&self, seq: u64) -> u64 {
        self.frames().iter().filter(|f| f.count > 0 && f.first <= seq).map(|f| f.first).max().expect("a frame there")
    }

    /// Cuts the segment files at the frame that starts at entry `seq`: that
    /// frame and everything after it go, as an attacker could cut them.
    pub fn cut_segments_from(&self, seq: u64) {
        let frames = self.frames();
        let at = frames.iter().position(|f| f.first == seq && f.count > 0).expect("a frame starting there");
        let cut = &frames[at];
        let file = std::fs::OpenOptions::new().write(true).open(&cut.path).unwrap();
        file.set_len(cut.offset).unwrap();
        for later in self.segment_files().into_iter().filter(|p| *p > cut.path) {
            std::fs::remove_file(later).unwrap();
        }
    }

    /// Flips the bits of `mask` in byte `offset` of segment file `path`.
    pub fn flip_segment_byte(&self, path: &std::path::Path, offset: u64, mask: u8) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[offset as usize] ^= mask;
        std::fs::write(path, bytes).unwrap();
    }
}
