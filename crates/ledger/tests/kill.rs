//! `kill -9` of a process recording entries: every entry whose `record`
//! returned (whose response could have left) is covered by the signed head
//! on disk, so removing any of them from the end of `ledger.db` afterwards
//! is reported as a truncation.
//!
//! The recorder is this very test binary, re-invoked with `CHILD_DIR` set so
//! that the `child_process` test records instead of returning.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Fixture;
use tollgate_ledger::LedgerDb;
use tollgate_ledger::{BreakKind, CheckpointPolicy, LedgerFiles, LedgerWriter, VerifyOptions};
use tollgate_store_sqlite::SqliteOptions;

const CHILD_DIR: &str = "TOLLGATE_LEDGER_KILL_TEST_DIR";
/// Acknowledged entries the parent waits for before killing.
const ACKS: usize = 200;
/// Recording threads in the child, so that commits hold several entries.
const RECORDERS: u64 = 4;

/// The recorder; does nothing unless re-invoked by the parent below.
#[test]
fn child_process() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let dir = Path::new(&dir);
    let store: Arc<LedgerDb> = Arc::new(LedgerDb::open(dir, &SqliteOptions::default()).unwrap());
    // No history checkpoint while it runs: only the head can cover the tail.
    let hour = Duration::from_secs(3600);
    let policy = CheckpointPolicy { every_entries: u64::MAX, log_interval: hour, ..Default::default() };
    let writer = LedgerWriter::start_with(store, &LedgerFiles::in_data_dir(dir), policy).unwrap();
    // Straight to the process's stdout, past the test harness's capture.
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..RECORDERS)
        .map(|t| {
            let (writer, out) = (writer.clone(), out.clone());
            std::thread::spawn(move || {
                for i in (t..).step_by(RECORDERS as usize) {
                    let receipt = writer.record_blocking(common::entry(i, 1_750_000_000_000 + i as i64)).unwrap();
                    let mut out = out.lock().unwrap();
                    // A failed write means the parent is gone: stop.
                    if writeln!(out, "ack {}", receipt.seq).and_then(|()| out.flush()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Kills the child if the parent's test fails before it does.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn entries_acknowledged_before_a_kill_and_then_cut_from_the_end_are_reported_truncated() {
    let f = Fixture::new("kill");
    let exe = std::env::current_exe().unwrap();
    let mut child = Killed(
        Command::new(exe)
            .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &f.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (mut acked, mut last) = (0, 0u64);
    let mut line = String::new();
    while acked < ACKS {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the child stopped early");
        if let Some(seq) = line.trim().strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok()) {
            acked += 1;
            last = last.max(seq);
        }
    }
    // SIGKILL: no destructor runs, so no final checkpoint is signed.
    child.0.kill().unwrap();
    assert!(!child.0.wait().unwrap().success());

    let (head, _) = f.ledger().latest_checkpoint().unwrap().expect("a signed head");
    assert!(head.size > last, "entry {last} was acknowledged, the signed head covers {} entries", head.size);
    // The segment files cover it on their own (`head.json` follows up to a
    // second later): the newest frame's head was durable before the response.
    let head = f.newest_segment_head();
    assert!(head > last, "entry {last} was acknowledged, the newest head in the segment files covers {head} entries");
    assert!(f.ledger().verify(&VerifyOptions::default()).unwrap().ok());

    // The last acknowledged entries, and whatever followed them, cut from
    // the store's copy alone: still in the segment files.
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {}", last - 4));
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.entries > last, "{:?}", r.breaks);
    // Cut from both: `head.json` or the history, if they cover them, show it.
    let cut = f.frame_boundary_near(last - 4);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    f.cut_segments_from(cut);
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    let covered = f.ledger().latest_checkpoint().unwrap().map_or(0, |(c, _)| c.size);
    if covered <= cut {
        // Within the second before `head.json` was replaced: only a head kept
        // elsewhere shows it (docs/ledger.md, "What verify cannot see").
        assert!(r.ok(), "{:?}", r.breaks);
        return;
    }
    let b = r.first_break().unwrap_or_else(|| panic!("the cut tail went unnoticed: {r:?}"));
    assert_eq!((b.entry, b.kind), (Some(cut), BreakKind::Truncated), "{}", b.reason);
    assert!(b.reason.contains(&format!("entries {cut}..")), "{}", b.reason);
}
