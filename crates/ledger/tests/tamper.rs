//! Every kind of alteration an attacker with write access to `ledger.db`
//! could make is detected, and located at the entry where it happened.

mod common;

use common::Fixture;
use tollgate_ledger::{BreakKind, VerifyOptions, VerifyReport, chain_hash, leaf_hash};

const N: u64 = 1000;
const EVERY: u64 = 100;

fn verify(f: &Fixture) -> VerifyReport {
    f.ledger().verify(&VerifyOptions::default()).unwrap()
}

fn assert_break(report: &VerifyReport, entry: u64, kind: BreakKind) {
    let b = report.first_break().unwrap_or_else(|| panic!("the alteration went unnoticed: {report:?}"));
    assert_eq!((b.entry, b.kind), (Some(entry), kind), "{}", b.reason);
}

#[test]
fn an_untouched_ledger_verifies_against_all_its_checkpoints() {
    let f = Fixture::filled("clean", N, EVERY);
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    assert_eq!(r.entries, N);
    assert_eq!(r.stored, N);
    assert!(r.checkpoints >= 2, "checkpoints were signed along the way: {}", r.checkpoints);
    assert_eq!(r.checkpoints_matched, r.checkpoints);
    let latest = r.latest_checkpoint.unwrap();
    assert_eq!((latest.size, latest.root), (N, r.root), "the clean shutdown signed the end");
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    // The store-only check agrees.
    assert!(tollgate_ledger::verify(f.store.as_ref()).unwrap().ok());
}

#[test]
fn an_edited_body_is_located() {
    let f = Fixture::filled("edit", N, EVERY);
    let body = String::from_utf8(f.body(437)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 437", [body.as_bytes()]).unwrap();
    assert_break(&verify(&f), 437, BreakKind::Modified);
}

#[test]
fn an_edited_index_column_is_located() {
    let f = Fixture::filled("column", N, EVERY);
    // Every column kept beside the body for the audit questions, edited one
    // at a time and put back (the entries hold no client: NULL is right).
    for (column, forged, original) in [
        ("time", "1", "1750000000512"),
        ("app_id", "99", "1 + 512 % 3"),
        ("client", "'guest-1'", "NULL"),
        ("purpose", "'train-genai'", "'display'"),
        ("purpose", "NULL", "'display'"),
        ("refused", "1", "0"),
        ("refused", "'no'", "0"),
        ("posts", "0", "2"),
        ("policy_version", "'p0'", "'p1'"),
    ] {
        f.exec(&format!("UPDATE ledger SET {column} = {forged} WHERE seq = 512"));
        let r = verify(&f);
        assert_break(&r, 512, BreakKind::Modified);
        let reason = &r.first_break().unwrap().reason;
        assert!(["time", "app_id"].contains(&column) || reason.contains(column), "{column}: {reason}");
        f.exec(&format!("UPDATE ledger SET {column} = {original} WHERE seq = 512"));
        assert!(verify(&f).ok(), "{column} put back");
    }
    // Unset columns pass for a row the index has not reached, not for one it covers.
    f.exec(
        "UPDATE ledger SET client = NULL, purpose = NULL, refused = NULL, posts = NULL, policy_version = NULL
         WHERE seq = 512",
    );
    let r = verify(&f);
    assert_break(&r, 512, BreakKind::Modified);
    assert!(r.first_break().unwrap().reason.contains("unset"), "{}", r.first_break().unwrap().reason);
    f.exec("UPDATE ledger_index_state SET indexed_end = 512");
    assert!(verify(&f).ok(), "an entry the index has not reached");
}

#[test]
fn an_edited_packed_copy_of_the_columns_is_located() {
    // More than a block of entries, so that the first block has its packed copy.
    let f = Fixture::filled("column-copy", 1100, EVERY);
    let blocks: i64 = f.raw().query_row("SELECT count(*) FROM ledger_blocks", [], |r| r.get(0)).unwrap();
    assert_eq!(blocks, 1);
    // The recipient number of app 2 (entries 1, 4, 7...) now says another purpose.
    f.exec("UPDATE ledger_recipients SET purpose = 'train-genai' WHERE app_id = 2");
    let r = verify(&f);
    assert_break(&r, 1, BreakKind::Modified);
    assert!(r.first_break().unwrap().reason.contains("packed copy"), "{}", r.first_break().unwrap().reason);
}

#[test]
fn a_deleted_entry_is_located() {
    let f = Fixture::filled("delete", N, EVERY);
    f.exec("DELETE FROM ledger WHERE seq = 437");
    assert_break(&verify(&f), 437, BreakKind::Missing);
}

#[test]
fn a_deleted_entry_with_the_rest_renumbered_is_located() {
    let f = Fixture::filled("delete-renumber", N, EVERY);
    f.exec(
        "DELETE FROM ledger WHERE seq = 437;
         UPDATE ledger SET seq = -seq WHERE seq > 437;
         UPDATE ledger SET seq = -seq - 1 WHERE seq < 0;",
    );
    let r = verify(&f);
    assert_break(&r, 437, BreakKind::Modified);
    assert!(r.first_break().unwrap().reason.contains("removed"), "the reason names removal as a possibility");
}

#[test]
fn an_inserted_entry_is_located() {
    let f = Fixture::filled("insert", N, EVERY);
    let forged = common::entry(9999, 1_750_000_000_437).encode().unwrap();
    f.exec("UPDATE ledger SET seq = -seq WHERE seq >= 437; UPDATE ledger SET seq = -seq + 1 WHERE seq < 0;");
    f.raw()
        .execute(
            "INSERT INTO ledger (seq, time, app_id, body, hash) VALUES (437, 1750000000437, 1, ?1, ?2)",
            rusqlite::params![forged, vec![7u8; 32]],
        )
        .unwrap();
    assert_break(&verify(&f), 437, BreakKind::Inserted);
}

#[test]
fn an_inserted_entry_with_a_correct_chain_hash_is_located() {
    let f = Fixture::filled("insert-chained", N, EVERY);
    let forged = common::entry(9999, 1_750_000_000_437).encode().unwrap();
    let hash = chain_hash(&f.hash(436), &leaf_hash(&forged));
    f.exec("UPDATE ledger SET seq = -seq WHERE seq >= 437; UPDATE ledger SET seq = -seq + 1 WHERE seq < 0;");
    f.raw()
        .execute(
            "INSERT INTO ledger (seq, time, app_id, body, hash) VALUES (437, 1750000000437, 1, ?1, ?2)",
            rusqlite::params![forged, hash.to_vec()],
        )
        .unwrap();
    assert_break(&verify(&f), 437, BreakKind::Inserted);
}

fn swap(f: &Fixture, a: u64, b: u64) {
    f.exec(&format!(
        "UPDATE ledger SET seq = -1 WHERE seq = {a}; UPDATE ledger SET seq = {a} WHERE seq = {b}; UPDATE ledger SET seq = {b} WHERE seq = -1;"
    ));
}

#[test]
fn two_swapped_neighbours_are_located() {
    let f = Fixture::filled("swap-adjacent", N, EVERY);
    swap(&f, 437, 438);
    assert_break(&verify(&f), 437, BreakKind::Reordered);
}

#[test]
fn two_swapped_distant_entries_are_located() {
    let f = Fixture::filled("swap-distant", N, EVERY);
    swap(&f, 437, 612);
    let r = verify(&f);
    assert_break(&r, 437, BreakKind::Reordered);
    assert!(r.first_break().unwrap().reason.contains("612"), "{}", r.first_break().unwrap().reason);
}

#[test]
fn swapped_bodies_are_located() {
    let f = Fixture::filled("swap-bodies", N, EVERY);
    let (a, b) = (f.body(437), f.body(612));
    let conn = f.raw();
    conn.execute("UPDATE ledger SET body = ?1 WHERE seq = 437", [&b]).unwrap();
    conn.execute("UPDATE ledger SET body = ?1 WHERE seq = 612", [&a]).unwrap();
    assert_eq!(verify(&f).first_break().unwrap().entry, Some(437));
}

#[test]
fn a_truncated_tail_is_located_against_the_latest_checkpoint() {
    let f = Fixture::filled("truncate", N, EVERY);
    f.exec("DELETE FROM ledger WHERE seq >= 900");
    let r = verify(&f);
    assert_break(&r, 900, BreakKind::Truncated);
    assert!(r.first_break().unwrap().reason.contains("900..999"), "{}", r.first_break().unwrap().reason);
    // The store-only check cannot see it: that is what checkpoints are for.
    assert!(tollgate_ledger::verify(f.store.as_ref()).unwrap().ok());
}

#[test]
fn an_edit_hidden_by_a_rewritten_chain_is_bounded_by_the_checkpoints_around_it() {
    let f = Fixture::filled("rewrite", N, EVERY);
    let sizes: Vec<u64> = f.ledger().checkpoints().unwrap().iter().map(|c| c.size).collect();
    let body = String::from_utf8(f.body(437)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 437", [body.as_bytes()]).unwrap();
    f.rewrite_chain(437);
    assert!(tollgate_ledger::verify(f.store.as_ref()).unwrap().ok(), "the chain alone no longer shows it");
    let before = sizes.iter().copied().filter(|&s| s <= 437).max().unwrap_or(0);
    let r = verify(&f);
    assert_break(&r, before, BreakKind::Diverged);
    let after = sizes.iter().copied().filter(|&s| s > 437).min().unwrap();
    assert!(r.first_break().unwrap().reason.contains(&format!("{before}..{}", after - 1)), "{:?}", r.breaks);
}

#[test]
fn the_tail_replaced_after_the_last_checkpoint_is_caught_by_an_escrowed_checkpoint() {
    // Entries after the latest checkpoint in the data directory are covered
    // only by a checkpoint kept elsewhere: here, the one exported at the end.
    let f = Fixture::filled("escrow", N, EVERY);
    let (escrowed, key) = f.ledger().latest_checkpoint().unwrap().unwrap();
    // The attacker rewrites the tail and removes the local checkpoints that cover it.
    let body = String::from_utf8(f.body(990)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 990", [body.as_bytes()]).unwrap();
    f.rewrite_chain(990);
    f.drop_checkpoints_of_size(N);
    // ...and puts back an older head, signed before the rewritten entries.
    let log = std::fs::read_to_string(f.files().checkpoints_path()).unwrap();
    std::fs::write(f.files().head_path(), format!("{}\n", log.lines().last().unwrap())).unwrap();
    assert!(verify(&f).ok(), "locally, nothing shows");
    let options = VerifyOptions { key: Some(key), extra_checkpoints: vec![escrowed] };
    let r = f.ledger().verify(&options).unwrap();
    assert_eq!(r.first_break().unwrap().kind, BreakKind::Diverged, "{:?}", r.breaks);
}

#[test]
fn a_forged_or_reordered_checkpoint_fails_but_an_interrupted_last_line_does_not() {
    let f = Fixture::filled("checkpoint-log", N, EVERY);
    let path = f.files().checkpoints_path();
    let clean = std::fs::read_to_string(&path).unwrap();

    // A torn last write, as a crash leaves it: ignored, with a note.
    std::fs::write(&path, format!("{clean}{{\"size\":2000,\"ti")).unwrap();
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    assert!(r.notes.iter().any(|n| n.contains("interrupted write")), "{:?}", r.notes);

    // A forged size with the old signature.
    let lines: Vec<&str> = clean.lines().collect();
    let forged = lines[0].replacen("\"size\":", "\"size\":1", 1);
    std::fs::write(&path, format!("{forged}\n{}\n", lines[1..].join("\n"))).unwrap();
    let r = verify(&f);
    assert_eq!(r.first_break().unwrap().kind, BreakKind::BadCheckpoint, "{:?}", r.breaks);

    // Garbage in the middle is not excused as a torn write.
    std::fs::write(&path, format!("{}\nnot a checkpoint\n{}\n", lines[0], lines[1..].join("\n"))).unwrap();
    assert_eq!(verify(&f).first_break().unwrap().kind, BreakKind::MalformedLog);

    // Checkpoints only grow.
    let mut reordered = lines.clone();
    reordered.swap(0, 1);
    std::fs::write(&path, reordered.join("\n") + "\n").unwrap();
    assert_eq!(verify(&f).first_break().unwrap().kind, BreakKind::BadCheckpoint);
}

#[test]
fn checkpoints_signed_with_another_key_fail() {
    let f = Fixture::filled("other-key", 200, EVERY);
    let other = tollgate_ledger::LedgerKey::from_seed([9u8; 32]).public();
    let r = f.ledger().verify(&VerifyOptions { key: Some(other), extra_checkpoints: Vec::new() }).unwrap();
    assert_eq!(r.first_break().unwrap().kind, BreakKind::BadCheckpoint);
    assert!(r.breaks.iter().all(|b| b.kind == BreakKind::BadCheckpoint));
}

#[test]
fn a_missing_head_or_history_with_entries_stored_fails() {
    let f = Fixture::filled("no-head", N, EVERY);
    let (head, log) = (f.files().head_path(), f.files().checkpoints_path());
    let aside = f.dir.join("head.json.aside");
    std::fs::rename(&head, &aside).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("a missing head went unnoticed: {r:?}"));
    assert_eq!((b.entry, b.kind), (None, BreakKind::MissingCheckpoint), "{}", b.reason);
    assert!(b.reason.contains("head.json"), "{}", b.reason);
    std::fs::rename(&aside, &head).unwrap();

    // The head slots gone, `head.json` there.
    let slots = f.files().head_slots_path();
    let slots_aside = f.dir.join("head.slots.aside");
    std::fs::rename(&slots, &slots_aside).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("missing head slots went unnoticed: {r:?}"));
    assert_eq!((b.entry, b.kind), (None, BreakKind::MissingCheckpoint), "{}", b.reason);
    assert!(b.reason.contains("head.slots"), "{}", b.reason);

    // Every checkpoint gone: both heads and the history.
    std::fs::rename(&head, &aside).unwrap();
    std::fs::write(&log, "").unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("no checkpoint at all went unnoticed: {r:?}"));
    assert_eq!(b.kind, BreakKind::MissingCheckpoint, "{}", b.reason);
    assert!(b.reason.contains("no checkpoint"), "{}", b.reason);
    std::fs::remove_file(&log).unwrap();
    assert_eq!(verify(&f).first_break().unwrap().kind, BreakKind::MissingCheckpoint);

    // The store-only check has no checkpoints to miss.
    assert!(tollgate_ledger::verify(f.store.as_ref()).unwrap().ok());
    // An empty ledger needs none.
    let empty = Fixture::new("no-head-empty");
    assert!(verify(&empty).ok());
}

#[test]
fn a_complete_last_line_of_the_history_that_does_not_parse_fails() {
    let f = Fixture::filled("bad-last-line", N, EVERY);
    let path = f.files().checkpoints_path();
    let clean = std::fs::read_to_string(&path).unwrap();
    let lines = clean.lines().count();
    // Ends in a newline: written whole, so not an interrupted write.
    std::fs::write(&path, format!("{clean}{{\"size\":2000,\"ti\n")).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("a bad complete line went unnoticed: {r:?}"));
    assert_eq!(b.kind, BreakKind::MalformedLog, "{}", b.reason);
    assert!(b.reason.contains(&format!("line {}", lines + 1)), "{}", b.reason);
    // A last line of zeros without a newline, as a crash can leave it: a note.
    std::fs::write(&path, format!("{clean}\0\0\0\0")).unwrap();
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    assert!(r.notes.iter().any(|n| n.contains("interrupted write")), "{:?}", r.notes);
}

/// A writer that signs the head of every commit into the head slots, and
/// writes neither `head.json` (after its first) nor the history while it runs:
/// what a process killed before either was due leaves behind.
fn slots_only_writer(f: &Fixture) -> tollgate_ledger::LedgerWriter {
    let hour = std::time::Duration::from_secs(3600);
    let policy = tollgate_ledger::CheckpointPolicy {
        every_entries: u64::MAX,
        log_interval: hour,
        head_file_interval: hour,
        ..Default::default()
    };
    tollgate_ledger::LedgerWriter::start_with(f.store.clone(), &f.files(), policy).unwrap()
}

#[test]
fn a_torn_head_slot_is_ignored_and_the_other_one_used_but_no_valid_slot_fails() {
    let f = Fixture::new("torn-slot");
    let w = slots_only_writer(&f);
    for i in 0..10 {
        w.record_blocking(common::entry(i, 1_750_000_000_000 + i as i64)).unwrap();
    }
    // One commit each: the slots hold the heads of the last two.
    let sizes = f.head_slot_sizes();
    let (newest, older) = if sizes[0] > sizes[1] { (0, 1) } else { (1, 0) };
    assert_eq!((sizes[newest], sizes[older]), (10, 9));
    let latest = || f.ledger().latest_checkpoint().unwrap().unwrap().0.size;
    assert_eq!(latest(), 10, "head.json is at size 0, the slots cover every answered record");
    let clean = std::fs::read(f.files().head_slots_path()).unwrap();

    // Torn as a crash in the middle of the write leaves it: part new bytes.
    f.scribble_on_head_slot(newest, 40..140, 0x5a);
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    assert!(
        r.notes.iter().any(|n| n.contains(&format!("slot {newest}")) && n.contains("interrupted")),
        "{:?}",
        r.notes
    );
    assert_eq!(latest(), 9, "the other slot is the head");
    // Zeros, as a file system may leave a block whose write did not land.
    f.scribble_on_head_slot(newest, 0..4096, 0);
    assert!(verify(&f).ok());
    assert_eq!(latest(), 9);
    // The entry only the torn slot covered can now go unseen; the one
    // before it cannot.
    f.exec("DELETE FROM ledger WHERE seq >= 8");
    let b = verify(&f).first_break().cloned().unwrap();
    assert_eq!((b.entry, b.kind), (Some(8), BreakKind::Truncated), "{}", b.reason);
    std::fs::write(f.files().head_slots_path(), &clean).unwrap();

    // Both slots unusable, entries present: as if there were no head.
    f.scribble_on_head_slot(older, 0..4096, 0);
    f.scribble_on_head_slot(newest, 100..200, 0xff);
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("no valid head slot went unnoticed: {r:?}"));
    assert_eq!((b.entry, b.kind), (None, BreakKind::MissingCheckpoint), "{}", b.reason);
    assert!(b.reason.contains("head.slots"), "{}", b.reason);
    drop(w);
}

#[test]
fn a_head_slot_with_a_valid_checksum_and_a_forged_checkpoint_fails() {
    let f = Fixture::new("forged-slot");
    let w = slots_only_writer(&f);
    for i in 0..3 {
        w.record_blocking(common::entry(i, 1_750_000_000_000 + i as i64)).unwrap();
    }
    drop(w);
    // A larger size, and the checksum recomputed: not something a crash does.
    let path = f.files().head_slots_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let newest = if f.head_slot_sizes()[0] == 3 { 0 } else { 1 };
    let slot = &mut bytes[4096 * (1 + newest)..4096 * (2 + newest)];
    slot[38..46].copy_from_slice(&4u64.to_be_bytes());
    let sum: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&slot[..4064]).into();
    slot[4064..].copy_from_slice(&sum);
    std::fs::write(&path, &bytes).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("a forged slot went unnoticed: {r:?}"));
    assert_eq!(b.kind, BreakKind::BadCheckpoint, "{}", b.reason);
    assert!(b.reason.contains(&format!("slot {newest}")), "{}", b.reason);
    // A header that is not the format's: not a head slot file.
    bytes[5] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(verify(&f).first_break().unwrap().kind, BreakKind::MalformedLog);
}

#[test]
fn head_slots_rolled_back_with_the_tail_cut_show_where_another_checkpoint_covers_the_tail() {
    let f = Fixture::new("slot-rollback");
    let w = slots_only_writer(&f);
    let time = |i: u64| 1_750_000_000_000 + i as i64;
    for i in 0..20 {
        w.record_blocking(common::entry(i, time(i))).unwrap();
    }
    // What an attacker keeps to put back later: the heads at 20 entries,
    // `head.json` (signed at start, size 0) and no history.
    let old_slots = std::fs::read(f.files().head_slots_path()).unwrap();
    let old_head = std::fs::read(f.files().head_path()).unwrap();
    for i in 20..50 {
        w.record_blocking(common::entry(i, time(i))).unwrap();
    }
    let (escrowed, key) = f.ledger().latest_checkpoint().unwrap().unwrap();
    assert_eq!(escrowed.size, 50);
    // A clean stop: `head.json` and the history cover all 50.
    w.shutdown();

    // The slots put back alone, entries intact: nothing is wrong.
    std::fs::write(f.files().head_slots_path(), &old_slots).unwrap();
    assert!(verify(&f).ok());
    // The slots put back and the tail cut: `head.json` and the history
    // still cover it.
    f.exec("DELETE FROM ledger WHERE seq >= 30");
    let b = verify(&f).first_break().cloned().unwrap();
    assert_eq!((b.entry, b.kind), (Some(30), BreakKind::Truncated), "{}", b.reason);

    // Every local checkpoint put back as it was at 20 entries: not
    // detectable from the data directory alone...
    std::fs::write(f.files().head_path(), &old_head).unwrap();
    std::fs::remove_file(f.files().checkpoints_path()).unwrap();
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    // ...only against a checkpoint kept elsewhere.
    let options = VerifyOptions { key: Some(key), extra_checkpoints: vec![escrowed] };
    let b = f.ledger().verify(&options).unwrap().first_break().cloned().unwrap();
    assert_eq!((b.entry, b.kind), (Some(30), BreakKind::Truncated), "{}", b.reason);
}
