//! Retention: whole expired segments are sealed in a signed record and their
//! rows deleted, with their part of the audit index. The ledger still
//! verifies, later entries are still provable, the writer still resumes, the
//! audit answers are those of a rebuilt index, and a prune interrupted
//! between the record and the deletion is finished by the next one.

mod common;

use common::Fixture;
use tollgate_domain::{AccountId, AppId, PostId, Purpose, Timestamp};
use tollgate_ledger::{
    Audit, AuthorRecipients, BreakKind, Entry, EntryIndex, GENESIS, Identity, LedgerDb, LedgerError, LedgerRow,
    Outcome, ProofTarget, SEGMENT_SIZE, VerifyOptions, chain_hash, leaf_hash,
};

/// Two old segments, then recent entries.
const OLD: u64 = 2 * SEGMENT_SIZE;
const TOTAL: u64 = OLD + 1500;
const OLD_TIME: i64 = 1_600_000_000_000;
const NEW_TIME: i64 = 1_750_000_000_000;
/// A post delivered now and then, before and after the cut.
const OFTEN: PostId = PostId(7);

fn time(i: u64) -> i64 {
    if i < OLD { OLD_TIME + i as i64 } else { NEW_TIME + i as i64 }
}

/// An entry with something for every audit question: three apps and two
/// anonymous clients, two purposes, refusals, two policy versions, two
/// authors per served entry.
fn entry(i: u64) -> Entry {
    let mut e = common::entry(i, time(i));
    if i % 7 == 3 {
        e.app_id = None;
        e.client = Some(format!("guest-{}", i % 2));
    }
    e.purpose = Some(if i.is_multiple_of(3) { Purpose::Search } else { Purpose::Display });
    if i % 11 == 5 {
        e.outcome = Outcome::Refused("rate-limited".into());
        e.posts.clear();
    } else {
        e.authors = vec![AccountId(100 + i % 5), AccountId(200 + i % 13)];
        if i.is_multiple_of(1000) {
            e.posts.insert(0, OFTEN);
        }
    }
    e.policy_version = if i < SEGMENT_SIZE + 500 { "p1" } else { "p2" }.into();
    e
}

/// Appends entries `from..to` straight through the store, chained as the
/// writer chains them, in large batches: much faster than recording them.
/// The audit index follows when a writer starts or a question is asked.
fn append(f: &Fixture, from: u64, to: u64) {
    let mut chain = if from == 0 { GENESIS } else { f.hash(from - 1) };
    for start in (from..to).step_by(8192) {
        let mut rows = Vec::new();
        let mut index = Vec::new();
        for i in start..(start + 8192).min(to) {
            let e = entry(i);
            let body = e.encode().unwrap();
            chain = chain_hash(&chain, &leaf_hash(&body));
            index.push(EntryIndex {
                client: e.client.clone(),
                purpose: e.purpose,
                refused: matches!(e.outcome, Outcome::Refused(_)),
                policy_version: e.policy_version.clone(),
                posts: e.posts.len() as u32,
                authors: e.authors.clone(),
            });
            rows.push(LedgerRow { seq: i, time: e.time, app_id: e.app_id, body, hash: chain, place: None });
        }
        f.store.ledger_append(&rows, &index).unwrap();
    }
}

/// Signs a checkpoint over everything stored: a writer's start and stop.
fn sign(f: &Fixture) {
    f.writer(u64::MAX).shutdown();
}

fn first_stored(f: &Fixture) -> u64 {
    f.store.ledger_read(0, 1).unwrap()[0].seq
}

/// Every audit answer but the per-author ones, and those apart.
fn answers(store: &LedgerDb) -> (serde_json::Value, Vec<AuthorRecipients>) {
    let audit = Audit::new(store);
    let mut all = Vec::new();
    for app in 1..=3 {
        let app = AppId(app);
        all.push(serde_json::to_value(audit.app_deliveries(app, Timestamp::from_millis(0), None, None, 1000).unwrap()));
        all.push(serde_json::to_value(
            audit.attempts(Identity::AppId(app), Timestamp::from_millis(0), None, 100).unwrap(),
        ));
    }
    for client in ["guest-0", "guest-1"] {
        let identity = Identity::Client(client.into());
        all.push(serde_json::to_value(audit.attempts(identity, Timestamp::from_millis(0), None, 100).unwrap()));
    }
    for version in ["p1", "p2"] {
        all.push(serde_json::to_value(audit.policy_deliveries(version, None, 100).unwrap()));
    }
    for post in [OFTEN, PostId(1000 + SEGMENT_SIZE + 1), PostId(2000 + OLD + 1)] {
        all.push(serde_json::to_value(audit.post_recipients(post, None, 100).unwrap()));
    }
    let all = all.into_iter().collect::<Result<Vec<_>, _>>().unwrap();
    let authors = (100..105).chain(200..213).map(|a| audit.author_recipients(AccountId(a)).unwrap()).collect();
    (serde_json::Value::Array(all), authors)
}

/// Checks the answers after a prune against those of a rebuilt index: the
/// same, but that a recipient of an author who kept deliveries of deleted
/// entries may show as first served at the oldest remaining entry, `oldest`,
/// earlier than the exact first time (a lower bound). Returns how many did.
fn same_as_rebuilt(store: &LedgerDb, oldest: Timestamp) -> usize {
    let (pruned, pruned_authors) = answers(store);
    Audit::new(store).reindex(|_| {}).unwrap();
    let (rebuilt, rebuilt_authors) = answers(store);
    assert_eq!(pruned, rebuilt);
    let mut bounded = 0;
    for (p, r) in pruned_authors.iter().zip(&rebuilt_authors) {
        assert_eq!(p.recipients.len(), r.recipients.len(), "{p:?} against {r:?}");
        for (p, r) in p.recipients.iter().zip(&r.recipients) {
            let mut exact = p.clone();
            exact.first_time = r.first_time;
            assert_eq!(&exact, r);
            assert!(p.first_time == r.first_time || (p.first_time == oldest && oldest < r.first_time), "{p:?}");
            bounded += usize::from(p.first_time != r.first_time);
        }
    }
    assert!(!pruned_authors.iter().all(|a| a.recipients.is_empty()));
    bounded
}

#[test]
fn prune_deletes_the_sealed_rows_and_the_ledger_still_verifies_proves_resumes_and_answers() {
    let f = Fixture::new("prune");
    append(&f, 0, TOTAL);
    sign(&f);
    let ledger = f.ledger();
    let cutoff = Timestamp::from_millis(NEW_TIME);
    let proof_before = ledger.prove(OLD + 7, ProofTarget::Latest).unwrap();
    let chain_at_cut = f.hash(OLD - 1);
    // The index covers every entry: a prune takes them out of it.
    let (_, authors) = answers(f.store.as_ref());
    assert!(authors.iter().any(|a| !a.recipients.is_empty()));
    assert_eq!(f.store.ledger_indexed_end().unwrap(), TOTAL);

    // A dry run writes and deletes nothing, and says what it would delete.
    let dry = ledger.prune(cutoff, true).unwrap();
    assert_eq!((dry.recorded, dry.cut, dry.rows_deleted), (false, OLD, OLD));
    assert!(!f.files().pruned_path().exists());
    assert_eq!(first_stored(&f), 0);

    // Only whole segments entirely older than the cut-off go.
    let partial = ledger.prune(Timestamp::from_millis(OLD_TIME + SEGMENT_SIZE as i64 + 10), false).unwrap();
    assert_eq!(partial.record.as_ref().map(|r| (r.from, r.to)), Some((0, SEGMENT_SIZE)));
    assert_eq!((partial.recorded, partial.rows_deleted, partial.cut), (true, SEGMENT_SIZE, SEGMENT_SIZE));
    assert_eq!(first_stored(&f), SEGMENT_SIZE);
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.stored, r.pruned.len(), r.pruned[0].rows_removed), (TOTAL, TOTAL - SEGMENT_SIZE, 1, true));
    // The index lost exactly the deleted entries: the answers are those of a
    // rebuild from the remaining ones, but for first times, which start at
    // the oldest remaining entry for the recipients that kept deliveries.
    let oldest = Timestamp::from_millis(time(SEGMENT_SIZE));
    assert!(same_as_rebuilt(f.store.as_ref(), oldest) > 0);

    // With the index gone (cleared, not yet rebuilt), the rows go unindexed
    // and the index resumes after them.
    f.store.ledger_index_clear().unwrap();
    let rest = ledger.prune(cutoff, false).unwrap();
    let record = rest.record.unwrap();
    assert_eq!((record.from, record.to, rest.cut, rest.rows_deleted), (SEGMENT_SIZE, OLD, OLD, SEGMENT_SIZE));
    assert_eq!(record.segments.last().unwrap().chain, chain_at_cut, "the record holds the chain hash at the cut");
    assert_eq!((first_stored(&f), f.store.ledger_indexed_end().unwrap()), (OLD, OLD));
    // The segment files that held only sealed entries went with the rows.
    let frames = f.frames();
    let first_file = frames.iter().filter(|fr| fr.path == frames[0].path).map(|fr| fr.first).min().unwrap();
    let second_file = frames.iter().find(|fr| fr.path != frames[0].path).map_or(u64::MAX, |fr| fr.first);
    assert!(first_file <= OLD && second_file > OLD, "{first_file} {second_file}");
    assert_eq!(same_as_rebuilt(f.store.as_ref(), Timestamp::from_millis(time(OLD))), 0);
    let again = ledger.prune(cutoff, false).unwrap();
    assert_eq!((again.record, again.rows_deleted, again.cut), (None, 0, OLD), "nothing more expired or stored");

    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.stored), (TOTAL, TOTAL - OLD));
    assert!(r.pruned.len() == 2 && r.pruned.iter().all(|p| p.rows_removed));
    assert_eq!(r.latest_checkpoint.unwrap().root, r.root);

    // Entries after the cut are still provable, with the same proof; removed
    // ones are not.
    let p = ledger.prove(OLD + 7, ProofTarget::Latest).unwrap();
    p.verify().unwrap();
    assert_eq!(p, proof_before);
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

/// What a crash between the record's sync and the deletion leaves: a record
/// whose rows are still stored. A trigger makes the deletion fail.
const KEEP_ROWS: &str = "CREATE TRIGGER keep_rows BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'power cut'); END;";

#[test]
fn a_prune_interrupted_after_its_record_is_finished_by_the_next() {
    let f = Fixture::new("prune-interrupted");
    append(&f, 0, SEGMENT_SIZE + 10);
    sign(&f);
    let ledger = f.ledger();
    let cutoff = Timestamp::from_millis(NEW_TIME);
    f.exec(KEEP_ROWS);
    let err = ledger.prune(cutoff, false).unwrap_err().to_string();
    assert!(err.contains("the next prune deletes them"), "{err}");
    // Recorded, still stored: that verifies.
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.pruned.len(), r.pruned[0].rows_removed, r.stored), (1, false, SEGMENT_SIZE + 10));
    ledger.prove(5, ProofTarget::Latest).unwrap().verify().unwrap();

    f.exec("DROP TRIGGER keep_rows");
    let dry = ledger.prune(cutoff, true).unwrap();
    assert_eq!((dry.record, dry.rows_deleted), (None, SEGMENT_SIZE), "a dry run counts the rows left behind");
    let next = ledger.prune(cutoff, false).unwrap();
    assert_eq!((next.record, next.recorded, next.rows_deleted, next.cut), (None, false, SEGMENT_SIZE, SEGMENT_SIZE));
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.pruned.len(), r.pruned[0].rows_removed, r.stored), (1, true, 10));
    assert!(matches!(ledger.prove(5, ProofTarget::Latest), Err(LedgerError::Invalid(_))));
    same_as_rebuilt(f.store.as_ref(), Timestamp::from_millis(time(SEGMENT_SIZE)));
}

#[test]
fn the_segment_holding_the_last_entry_stays_until_entries_follow_it() {
    let f = Fixture::new("prune-end");
    append(&f, 0, OLD);
    sign(&f);
    let ledger = f.ledger();
    let cutoff = Timestamp::from_millis(NEW_TIME);
    let all = ledger.prune(cutoff, false).unwrap();
    assert_eq!((all.record.map(|r| (r.from, r.to)), all.rows_deleted), (Some((0, OLD)), SEGMENT_SIZE));
    assert_eq!(first_stored(&f), SEGMENT_SIZE, "the store reads the end of the ledger from its last row");
    let w = f.writer(u64::MAX);
    f.record(&w, OLD, OLD + 1, 1, time);
    w.shutdown();
    let next = ledger.prune(cutoff, false).unwrap();
    assert_eq!((next.record, next.rows_deleted), (None, SEGMENT_SIZE));
    let r = ledger.verify(&VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!((r.entries, r.stored), (OLD + 1, 1));
}

#[test]
fn a_sealed_segment_whose_rows_were_rewritten_does_not_verify() {
    let f = Fixture::new("prune-rewrite");
    append(&f, 0, SEGMENT_SIZE + 10);
    sign(&f);
    // Sealed, but (as after a crash) not deleted.
    f.exec(KEEP_ROWS);
    assert!(f.ledger().prune(Timestamp::from_millis(NEW_TIME), false).is_err());
    f.exec("DROP TRIGGER keep_rows");
    let body = String::from_utf8(f.body(100)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 100", [body.as_bytes()]).unwrap();
    f.rewrite_chain(100);
    // The rewritten chain ends differently from the sealed one, so the seal
    // catches it at the end of the segment, bounded to that segment.
    let r = f.ledger().verify(&VerifyOptions::default()).unwrap();
    let b = r.first_break().unwrap();
    assert_eq!((b.entry, b.kind), (Some(0), BreakKind::Diverged), "{}", b.reason);
    // And a prune of an altered ledger is refused, deleting nothing.
    assert!(matches!(f.ledger().prune(Timestamp::from_millis(NEW_TIME), false), Err(LedgerError::Altered(_))));
    assert_eq!(first_stored(&f), 0);
}
