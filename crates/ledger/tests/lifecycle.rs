//! The writer across restarts and crashes, checkpoint timing, and inclusion
//! proofs against old and new checkpoints.

mod common;

use std::time::Duration;

use common::Fixture;
use tollgate_ledger::{
    CheckpointPolicy, LedgerError, LedgerWriter, ProofTarget, VerifyOptions, leaf_hash, root_from_inclusion,
};

fn time(i: u64) -> i64 {
    1_750_000_000_000 + i as i64
}

#[test]
fn a_restarted_writer_continues_the_tree_and_old_checkpoints_stay_provable() {
    let f = Fixture::new("restart");
    let w = f.writer(64);
    f.record(&w, 0, 300, 64, time);
    drop(w); // the last handle: a clean shutdown signs the end
    let first = f.ledger().latest_checkpoint().unwrap().unwrap().0;
    assert_eq!(first.size, 300);

    let w = f.writer(64);
    f.record(&w, 300, 777, 100, time);
    w.shutdown();
    assert_eq!(w.record_blocking(common::entry(1, 1)).unwrap_err().to_string(), LedgerError::Stopped.to_string());

    let ledger = f.ledger();
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!(r.entries, 777);
    assert_eq!(r.checkpoints_matched, r.checkpoints);

    for seq in [0, 1, 63, 64, 150, 299] {
        let old = ledger.prove(seq, ProofTarget::Size(300)).unwrap();
        assert_eq!(old.checkpoint, first);
        old.verify().unwrap();
    }
    for seq in [0, 299, 300, 511, 512, 776] {
        let p = ledger.prove(seq, ProofTarget::Latest).unwrap();
        assert_eq!(p.checkpoint.size, 777);
        p.verify().unwrap();
        assert_eq!(p.body, f.body(seq));
    }
    assert!(matches!(ledger.prove(777, ProofTarget::Latest), Err(LedgerError::Invalid(_))));
    assert!(matches!(ledger.prove(5, ProofTarget::Size(301)), Err(LedgerError::Invalid(_))));
}

#[test]
fn every_leaf_of_small_trees_is_provable_and_a_tampered_proof_fails() {
    for n in [1u64, 2, 3, 5, 8, 13] {
        let f = Fixture::new("small");
        let w = f.writer(u64::MAX);
        f.record(&w, 0, n, n, time);
        w.shutdown();
        let ledger = f.ledger();
        for seq in 0..n {
            let p = ledger.prove(seq, ProofTarget::Latest).unwrap();
            p.verify().unwrap();

            let mut body = p.clone();
            body.body[5] ^= 1;
            assert!(body.verify().is_err(), "a changed body fails");
            if !p.path.is_empty() {
                let mut path = p.clone();
                path.path[0][0] ^= 1;
                assert!(path.verify().is_err(), "a changed path fails");
                let mut short = p.clone();
                short.path.pop();
                assert!(short.verify().is_err(), "a shortened path fails");
            }
            let mut moved = p.clone();
            moved.seq = (seq + 1) % n;
            if n > 1 {
                assert!(moved.verify().is_err(), "the proof is for one position only");
            }
            let mut root = p.clone();
            root.checkpoint.root[0] ^= 1;
            assert!(root.verify().is_err(), "a changed root breaks the signature");
            assert_eq!(
                root_from_inclusion(p.seq, p.checkpoint.size, &leaf_hash(&p.body), &p.path),
                Some(p.checkpoint.root)
            );
        }
    }
}

#[test]
fn the_head_is_signed_before_each_commit_is_answered_and_head_json_and_the_history_at_their_own_pace() {
    let f = Fixture::new("interval");
    let policy =
        CheckpointPolicy { every_entries: u64::MAX, log_interval: Duration::from_millis(1500), ..Default::default() };
    let w = LedgerWriter::start_with(f.store.clone(), &f.files(), policy).unwrap();
    let history = || std::fs::read_to_string(f.files().checkpoints_path()).unwrap_or_default().lines().count();
    let started = std::time::Instant::now();
    // Each record returns only once a signed head covers it: no waiting here.
    for i in 0..10 {
        w.record_blocking(common::entry(i, time(i))).unwrap();
        let (head, _) = f.ledger().latest_checkpoint().unwrap().expect("a head");
        assert_eq!(head.size, i + 1, "the head covers every answered record");
    }
    f.record(&w, 10, 12, 2, time);
    assert_eq!(f.ledger().latest_checkpoint().unwrap().unwrap().0.size, 12);
    // `head.json` (readable, replaced as a file) follows at its own pace.
    let filed =
        |size: u64| std::fs::read_to_string(f.files().head_path()).unwrap().contains(&format!("\"size\":{size},"));
    if started.elapsed() < Duration::from_millis(900) {
        assert!(filed(0), "head.json is not replaced with every commit");
    }
    if started.elapsed() < Duration::from_millis(1400) {
        assert_eq!(history(), 0, "the history waits for its own interval");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while history() == 0 {
        assert!(std::time::Instant::now() < deadline, "the history was not written");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.elapsed() >= Duration::from_millis(1400), "the history was not written before its interval");
    // It is replaced with the history's checkpoint (right after the line is
    // synced), if not before.
    while !filed(12) {
        assert!(std::time::Instant::now() < deadline, "head.json did not follow the entries");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing new, nothing signed: idle, neither grows.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(history(), 1);
    let head = std::fs::read(f.files().head_path()).unwrap();
    drop(w);
    assert_eq!(history(), 1, "the end was in the history already");
    assert_eq!(std::fs::read(f.files().head_path()).unwrap(), head);
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.checkpoints == 1, "the head repeats the history's last: {r:?}");
}

#[test]
fn a_new_ledger_has_its_head_before_its_first_entry() {
    // So that a ledger with entries and no head is never what a crash
    // leaves: `verify` fails on that.
    let f = Fixture::new("first-head");
    let w = f.writer(100);
    let (head, _) = f.ledger().latest_checkpoint().unwrap().expect("a head at start");
    assert_eq!(head.size, 0);
    let frames = f.frames();
    assert_eq!((frames.len(), frames[0].count, frames[0].head), (1, 0, Some(0)), "{frames:?}");
    drop(w);
    assert_eq!(f.ledger().latest_checkpoint().unwrap().unwrap().0.size, 0, "nothing new to sign at the end");
    // An entry in the store's copy alone is in no segment file: not one the
    // writer made durable, so not a ledger entry.
    let e = common::entry(0, time(0));
    let body = e.encode().unwrap();
    let chain = tollgate_ledger::chain_hash(&tollgate_ledger::GENESIS, &leaf_hash(&body));
    let row = tollgate_ledger::LedgerRow { seq: 0, time: e.time, app_id: e.app_id, body, hash: chain, place: None };
    f.store.ledger_append(&[row], &[tollgate_ledger::EntryIndex::default()]).unwrap();
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    let b = r.breaks.iter().find(|b| b.kind == tollgate_ledger::BreakKind::Missing).expect("a finding");
    assert!(b.reason.contains("in no segment file"), "{:?}", r.breaks);
}

#[test]
fn a_restart_copies_into_the_store_what_a_crash_left_in_the_segment_files_only() {
    let f = Fixture::filled("store-behind", 100, 50);
    assert_eq!(f.newest_segment_head(), 100);
    // As a crash between a commit's frame and the store's copy leaves it.
    let cut = f.frame_boundary_near(50);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert!(r.notes.iter().any(|n| n.contains("not yet in the store")), "{:?}", r.notes);
    assert_eq!(r.entries, 100, "the entries in the segment files alone are checked too");
    let w = f.writer(1000);
    assert_eq!(f.store.ledger_last().unwrap().unwrap().seq, 99, "copied back at start");
    w.record_blocking(common::entry(100, time(100))).unwrap();
    assert_eq!(f.ledger().latest_checkpoint().unwrap().unwrap().0.size, 101);
    drop(w);
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.notes.is_empty(), "{:?} {:?}", r.breaks, r.notes);
}

#[test]
fn a_reader_of_a_signed_head_waits_for_a_running_writers_copy() {
    let f = Fixture::filled("copy-through", 100, 50);
    let w = f.writer(1000);
    let patience = std::time::Duration::from_millis(200);
    f.ledger().copy_through(100, patience).unwrap();
    // As a server leaves it between signing its head and copying the entries.
    let cut = f.frame_boundary_near(50);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    let err = f.ledger().copy_through(100, patience).unwrap_err().to_string();
    assert!(err.contains(&format!("up to {cut}")) && err.contains("covers 100"), "{err}");
    // The writer's copy is waited for; here the writer stops, and the reader
    // copies the rest itself.
    let stop = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(w);
    });
    f.ledger().copy_through(100, std::time::Duration::from_secs(10)).unwrap();
    stop.join().unwrap();
    assert_eq!(f.store.ledger_last().unwrap().unwrap().seq, 99);
}

#[test]
fn readers_outside_a_server_catch_the_store_up_to_the_segment_files() {
    let f = Fixture::filled("catch-up", 100, 50);
    let cut = f.frame_boundary_near(50);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    // While a writer runs (here: holds the lock), its own copy is left alone.
    let w = f.writer(1000);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    assert!(!f.ledger().catch_up_copy().unwrap());
    assert_eq!(f.store.ledger_last().unwrap().unwrap().seq, cut - 1);
    drop(w);
    assert!(f.ledger().catch_up_copy().unwrap());
    assert_eq!(f.store.ledger_last().unwrap().unwrap().seq, 99, "copied from the segment files");
    assert!(f.ledger().catch_up_copy().unwrap(), "and again: nothing to do");
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.notes.is_empty(), "{:?} {:?}", r.breaks, r.notes);
}

#[test]
fn after_a_crash_mid_checkpoint_the_ledger_verifies_and_the_writer_cuts_the_torn_line() {
    let f = Fixture::filled("crash", 200, 50);
    let path = f.files().checkpoints_path();
    let clean = std::fs::read(&path).unwrap();
    // What a kill -9 during the write of a checkpoint line can leave behind.
    let mut torn = clean.clone();
    torn.extend_from_slice(b"{\"size\":250,\"time\":17500");
    std::fs::write(&path, &torn).unwrap();
    assert!(f.ledger().verify(&VerifyOptions::default()).unwrap().ok());

    let w = f.writer(50);
    f.record(&w, 200, 260, 60, time);
    w.shutdown();
    let after = std::fs::read(&path).unwrap();
    assert!(after.starts_with(&clean) && !after[clean.len()..].starts_with(b"{\"size\":250,\"time\":17500"));
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.notes.is_empty(), "{:?} {:?}", r.breaks, r.notes);
    assert_eq!(r.latest_checkpoint.unwrap().size, 260);
}

#[test]
fn the_writer_refuses_a_ledger_that_lost_signed_entries() {
    let f = Fixture::filled("refuse", 300, 100);
    // Cut from the store and from the segment files: `head.json` and the
    // history still cover them.
    let cut = f.frame_boundary_near(250);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    f.cut_segments_from(cut);
    let err = LedgerWriter::start(f.store.clone(), &f.dir).unwrap_err();
    assert!(matches!(err, LedgerError::Altered(_)), "{err}");
    assert!(err.to_string().contains(&format!("holds {cut} entries")), "{err}");
    // Cut from the store alone: the writer copies them back.
    let f = Fixture::filled("refuse-not", 300, 100);
    f.exec("DELETE FROM ledger WHERE seq >= 250");
    drop(LedgerWriter::start(f.store.clone(), &f.dir).unwrap());
    assert_eq!(f.store.ledger_last().unwrap().unwrap().seq, 299);
}

#[test]
fn the_writer_refuses_segment_files_damaged_before_their_end() {
    let f = Fixture::new("refuse-damaged");
    let w = f.writer(100);
    f.record(&w, 0, 100, 100, time);
    f.record(&w, 100, 150, 50, time);
    drop(w);
    let frame = f.frames().into_iter().find(|fr| fr.first <= 50 && fr.first + fr.count > 50).unwrap();
    f.flip_segment_byte(&frame.path, frame.offset + 30, 0x20);
    let err = LedgerWriter::start(f.store.clone(), &f.dir).unwrap_err();
    assert!(matches!(err, LedgerError::Altered(_)), "{err}");
    assert!(err.to_string().contains(&format!("offset {}", frame.offset)), "{err}");
    // Damage to the last frame looks like an interrupted write, but the
    // store's copy holds its entries: refused too.
    f.flip_segment_byte(&frame.path, frame.offset + 30, 0x20);
    let last = f.frames().into_iter().rfind(|fr| fr.count > 0).unwrap();
    f.flip_segment_byte(&last.path, last.offset + 30, 0x20);
    let err = LedgerWriter::start(f.store.clone(), &f.dir).unwrap_err();
    assert!(err.to_string().contains("in no segment file"), "{err}");
}

#[test]
fn a_ledger_kept_in_the_store_alone_is_copied_into_segment_files_when_the_writer_starts() {
    // As a data directory written before segment files existed.
    let f = Fixture::filled("migrate", 300, 100);
    f.bodies_into_rows();
    std::fs::remove_dir_all(f.files().segments_dir()).unwrap();
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.breaks.iter().any(|b| b.reason.contains("no segment file")), "{:?}", r.breaks);
    let w = f.writer(1000);
    f.record(&w, 300, 310, 10, time);
    drop(w);
    let frames = f.frames();
    assert!(frames[0].head.is_none() && frames[0].first == 0, "{frames:?}");
    assert_eq!(f.newest_segment_head(), 310);
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.notes.is_empty(), "{:?} {:?}", r.breaks, r.notes);
}

#[test]
fn one_writer_per_ledger() {
    let f = Fixture::new("busy");
    let w = f.writer(100);
    let err = LedgerWriter::start(f.store.clone(), &f.dir).unwrap_err();
    assert!(matches!(err, LedgerError::Busy(..)), "{err}");
    drop(w);
    LedgerWriter::start(f.store.clone(), &f.dir).unwrap();
}

#[test]
fn a_writer_without_its_checkpoint_log_rebuilds_the_tree_from_the_rows() {
    let f = Fixture::filled("rebuild", 500, 100);
    let before = f.ledger().latest_checkpoint().unwrap().unwrap().0;
    std::fs::rename(f.files().checkpoints_path(), f.dir.join("checkpoints.log.aside")).unwrap();
    std::fs::rename(f.files().head_path(), f.dir.join("head.json.aside")).unwrap();
    let w = f.writer(1000);
    f.record(&w, 500, 510, 10, time);
    drop(w);
    let r = f.ledger().verify(&VerifyOptions { key: None, extra_checkpoints: vec![before], all_heads: false }).unwrap();
    assert!(r.ok(), "the rebuilt tree extends the old one: {:?}", r.breaks);
    assert_eq!(r.checkpoints_matched, r.checkpoints);
    assert!(r.checkpoints >= 2, "{r:?}");
}

#[test]
fn concurrent_records_share_commits_and_a_lone_client_never_waits_for_company() {
    let f = Fixture::new("commits");
    let w = f.writer(u64::MAX);
    // One at a time: every record is a commit of its own, made at once.
    for i in 0..40 {
        w.record_blocking(common::entry(i, time(i))).unwrap();
    }
    let stats = w.stats();
    assert_eq!((stats.commits, stats.entries), (40, 40));
    // A record returns once a signed head covers it: nothing is left unsigned.
    assert!(stats.running && stats.end == 40 && stats.signed == 40, "{stats:?}");
    // Many at once: they share commits.
    f.record(&w, 40, 2040, 2000, time);
    let stats = w.stats();
    assert_eq!(stats.entries, 2040);
    assert!(stats.commits - 40 <= 1000, "{} commits for 2,000 concurrent entries", stats.commits - 40);
    assert_eq!((stats.end, stats.signed), (2040, 2040));
    w.shutdown();
    assert!(!w.stats().running, "a writer that was shut down says so");
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok() && r.entries == 2040, "{:?}", r.breaks);
}
