//! Durability under `kill -9`: a child process writes and acknowledges each
//! write on stdout once the call returned; the parent kills it with SIGKILL
//! at an arbitrary moment, reopens the store and checks that every
//! acknowledged write is there, and that an interrupted bulk load left
//! nothing behind.
//!
//! The child is this very test binary, re-invoked with `CHILD_MODE` set so
//! that the `child_process` test runs the writer instead of returning.

mod common;

use common::Dir;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use rusqlite::Connection;
use tollgate_domain::{AccountId, Post, PostId, Timestamp};
use tollgate_store::{BulkWriter, SearchExpr, SearchQuery, Store, StoreError};
use tollgate_store_sqlite::{PLATFORM_FILE, SqliteOptions, SqliteStore};

const CHILD_MODE: &str = "TOLLGATE_KILL_TEST_MODE";
const CHILD_DIR: &str = "TOLLGATE_KILL_TEST_DIR";

/// How many acknowledged writes the parent waits for before killing.
const ACKS: u64 = 300;
/// How many posts the interrupted bulk load puts before the kill; with 19 KB
/// of text each they overflow the bulk load's page cache, so uncommitted
/// pages of the load are in the WAL file when the process dies.
const BULK_PUTS: u64 = 20_000;

fn dir() -> Dir {
    common::dir("kill-test")
}

fn post(id: u64, text: String) -> Post {
    Post {
        id: PostId(id),
        author_id: AccountId(id % 7 + 1),
        created_at: Timestamp::from_millis(1_700_000_000_000 + id as i64),
        text,
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

fn search(store: &SqliteStore, word: &str) -> Vec<Post> {
    let q = SearchQuery::new(SearchExpr::Term(word.into()), 10);
    store.search(&q).unwrap()
}

// -- the child ------------------------------------------------------------------

/// The writer side; does nothing unless re-invoked by a parent below.
#[test]
fn child_process() {
    let (Ok(mode), Ok(dir)) = (std::env::var(CHILD_MODE), std::env::var(CHILD_DIR)) else { return };
    let store = SqliteStore::open(Path::new(&dir), &SqliteOptions::default()).unwrap();
    // Straight to the process's stdout, past the test harness's capture.
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| writeln!(out, "{line}").and_then(|()| out.flush()).is_ok();
    match mode.as_str() {
        "upserts" => {
            for id in 1.. {
                store.upsert_posts(&[post(id, format!("acknowledged{id} post"))]).unwrap();
                // A failed write means the parent is gone: stop.
                if !say(format!("ack {id}")) {
                    return;
                }
            }
        }
        "bulk" => {
            store.upsert_posts(&[post(1, "committed before the load".into())]).unwrap();
            let filler = "-".repeat(19_000);
            let result = store.bulk_load(&mut |w: &mut dyn BulkWriter| {
                for id in 2..BULK_PUTS + 2 {
                    w.put_post(&post(id, format!("uncommitted{id} {filler}")))?;
                    if id % 1000 == 0 && !say(format!("put {id}")) {
                        return Err(StoreError::Aborted("the parent is gone".into()));
                    }
                }
                say("waiting".into());
                // Block until killed; should the parent die first, stdin
                // closes and the load is abandoned.
                let _ = std::io::stdin().read(&mut [0]);
                Err(StoreError::Aborted("the parent is gone".into()))
            });
            assert!(result.is_err());
        }
        other => panic!("unknown child mode {other}"),
    }
}

// -- the parent -----------------------------------------------------------------

/// Kills the child if the parent's test fails before it does.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(mode: &str, dir: &Path) -> (Killed, BufReader<ChildStdout>) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env(CHILD_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (Killed(child), stdout)
}

/// Reads the child's lines with `prefix` until `until` returns true for one;
/// returns the last such number.
fn read_until(stdout: &mut BufReader<ChildStdout>, prefix: &str, until: impl Fn(u64) -> bool) -> u64 {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the child stopped early");
        if let Some(n) = line.trim().strip_prefix(prefix).and_then(|n| n.parse().ok())
            && until(n)
        {
            return n;
        }
    }
}

/// SIGKILL: no destructor, no rollback, no close of the database runs.
fn kill(mut child: Killed) {
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "{status:?}");
}

fn integrity_ok(dir: &Path) {
    let conn = Connection::open(dir.join(PLATFORM_FILE)).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('integrity-check')", []).unwrap();
}

#[test]
fn acknowledged_upserts_survive_kill_9() {
    let d = dir();
    let (child, mut stdout) = spawn("upserts", &d.0);
    let last = read_until(&mut stdout, "ack ", |n| n >= ACKS);
    kill(child);

    let store = SqliteStore::open(&d.0, &SqliteOptions::default()).unwrap();
    let ids: Vec<PostId> = (1..=last).map(PostId).collect();
    let found = store.posts(&ids).unwrap();
    assert_eq!(found.len() as u64, last, "every acknowledged post is there");
    assert!(store.stats().unwrap().posts >= last);
    assert_eq!(search(&store, &format!("acknowledged{last}")).len(), 1, "and indexed");
    store.upsert_posts(&[post(u64::from(u32::MAX), "after the crash".into())]).unwrap();
    drop(store);
    integrity_ok(&d.0);
}

#[test]
fn a_bulk_load_killed_midway_leaves_nothing() {
    let d = dir();
    let (child, mut stdout) = spawn("bulk", &d.0);
    read_until(&mut stdout, "put ", |n| n >= BULK_PUTS);
    let wal = std::fs::metadata(d.0.join(format!("{PLATFORM_FILE}-wal"))).map(|m| m.len()).unwrap_or(0);
    assert!(wal > 50 << 20, "the load should have spilled uncommitted pages to the WAL: {wal} bytes");
    kill(child);

    let store = SqliteStore::open(&d.0, &SqliteOptions::default()).unwrap();
    assert_eq!(store.stats().unwrap().posts, 1, "only the post committed before the load");
    assert_eq!(store.posts(&[PostId(1)]).unwrap().len(), 1);
    assert!(store.posts(&[PostId(2), PostId(1000), PostId(BULK_PUTS)]).unwrap().is_empty());
    assert!(search(&store, "uncommitted2").is_empty());
    assert_eq!(search(&store, "committed").len(), 1);
    drop(store);
    integrity_ok(&d.0);
}
