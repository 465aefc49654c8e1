//! Retention: whole expired segments are sealed in a signed record; once
//! their rows are removed, the ledger still verifies, later entries are still
//! provable, and the writer still resumes.

mod common;

use common::Fixture;
use tollgate_domain::Timestamp;
use tollgate_ledger::{BreakKind, LedgerError, ProofTarget, SEGMENT_SIZE, VerifyOptions};

/// Two old segments, then recent entries.
const OLD: u64 = 2 * SEGMENT_SIZE;
const TOTAL: u64 = OLD + 1500;
const OLD_TIME: i64 = 1_600_000_000_000;
const NEW_TIME: i64 = 1_750_000_000_000;

fn time(i: u64) -> i64 {
    if i < OLD { OLD_TIME + i as i64 } else { NEW_TIME + i as i64 }
}

#[test]
fn pruned_segments_are_sealed_and_their_removal_still_verifies() {
    let f = Fixture::new("prune");
    let w = f.writer(20_000);
    f.record(&w, 0, TOTAL, 8192, time);
    w.shutdown();
    let ledger = f.ledger();
    let cutoff = Timestamp::from_millis(NEW_TIME);

    // A dry run signs nothing to disk.
    let dry = ledger.prune(cutoff, true).unwrap();
    assert!(!dry.recorded && dry.cut == OLD && !f.files().pruned_path().exists());

    // Only whole segments entirely older than the cut-off go.
    let partial = ledger.prune(Timestamp::from_millis(OLD_TIME + SEGMENT_SIZE as i64 + 10), false).unwrap();
    assert_eq!(partial.record.as_ref().map(|r| (r.from, r.to)), Some((0, SEGMENT_SIZE)));
    let rest = ledger.prune(cutoff, false).unwrap();
    let record = rest.record.unwrap();
    assert_eq!((record.from, record.to, rest.cut, rest.rows_deleted), (SEGMENT_SIZE, OLD, OLD, 0));
    assert_eq!(record.segments.last().unwrap().chain, f.hash(OLD - 1), "the record holds the chain hash at the cut");
    assert!(ledger.prune(cutoff, false).unwrap().record.is_none(), "nothing more expired");

    // Rows still present are checked against their seals.
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!(r.pruned.len(), 2);
    assert!(r.pruned.iter().all(|p| !p.rows_removed));

    let latest_before = ledger.prove(OLD + 7, ProofTarget::Latest).unwrap();

    // What a store method for deleting ledger rows would do.
    f.exec(&format!("DELETE FROM ledger WHERE seq < {OLD}"));
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.stored), (TOTAL, TOTAL - OLD));
    assert!(r.pruned.iter().all(|p| p.rows_removed));
    assert_eq!(r.latest_checkpoint.unwrap().root, r.root);

    // Entries after the cut are still provable, with the same proof.
    let p = ledger.prove(OLD + 7, ProofTarget::Latest).unwrap();
    p.verify().unwrap();
    assert_eq!(p, latest_before);
    ledger.prove(TOTAL - 1, ProofTarget::Latest).unwrap().verify().unwrap();
    ledger.prove(OLD, ProofTarget::Latest).unwrap().verify().unwrap();
    assert!(matches!(ledger.prove(5, ProofTarget::Latest), Err(LedgerError::Invalid(m)) if m.contains("removed")));

    // The writer resumes, from its checkpoint and also from the seals alone.
    let w = f.writer(1000);
    f.record(&w, TOTAL, TOTAL + 10, 10, time);
    drop(w);
    std::fs::remove_file(f.files().checkpoints_path()).unwrap();
    std::fs::remove_file(f.files().head_path()).unwrap();
    let w = f.writer(1000);
    f.record(&w, TOTAL + 10, TOTAL + 20, 10, time);
    drop(w);
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!(r.entries, TOTAL + 20);

    // Removing rows beyond the cut is not pruning.
    f.exec(&format!("DELETE FROM ledger WHERE seq < {}", OLD + 3));
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert_eq!((r.first_break().unwrap().entry, r.first_break().unwrap().kind), (Some(OLD), BreakKind::Missing));
}

#[test]
fn a_sealed_segment_whose_rows_were_rewritten_does_not_verify() {
    let f = Fixture::new("prune-rewrite");
    let w = f.writer(u64::MAX);
    f.record(&w, 0, SEGMENT_SIZE + 10, 8192, |i| OLD_TIME + i as i64);
    w.shutdown();
    f.ledger().prune(Timestamp::from_millis(NEW_TIME), false).unwrap().record.unwrap();
    let body = String::from_utf8(f.body(100)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 100", [body.as_bytes()]).unwrap();
    f.rewrite_chain(100);
    // The rewritten chain ends differently from the sealed one, so the seal
    // catches it at the end of the segment, bounded to that segment.
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    let b = r.first_break().unwrap();
    assert_eq!((b.entry, b.kind), (Some(0), BreakKind::Diverged), "{}", b.reason);
    // And a prune of an altered ledger is refused.
    assert!(matches!(f.ledger().prune(Timestamp::from_millis(NEW_TIME), false), Err(LedgerError::Altered(_))));
}
