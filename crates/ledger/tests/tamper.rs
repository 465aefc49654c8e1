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
fn an_edited_place_of_a_body_is_located() {
    let f = Fixture::filled("place", N, EVERY);
    // Pointed at another entry's body: the body no longer matches the hash.
    f.exec(
        "UPDATE ledger SET body_file = (SELECT body_file FROM ledger WHERE seq = 612),
                           body_at = (SELECT body_at FROM ledger WHERE seq = 612) WHERE seq = 437",
    );
    assert_break(&verify(&f), 437, BreakKind::Modified);
    // Pointed where no body is.
    f.exec("UPDATE ledger SET body_at = 1 << 40 WHERE seq = 437");
    let r = verify(&f);
    assert_break(&r, 437, BreakKind::Missing);
    assert!(r.first_break().unwrap().reason.contains("not at its place"), "{}", r.first_break().unwrap().reason);
    // Into the middle of a body: what is read there is not the entry.
    f.exec(
        "UPDATE ledger SET body_file = (SELECT body_file FROM ledger WHERE seq = 612),
                              body_at = (SELECT body_at + 9 FROM ledger WHERE seq = 612) WHERE seq = 437",
    );
    let r = verify(&f);
    assert_eq!(r.first_break().map(|b| b.entry), Some(Some(437)), "{:?}", r.breaks);
}

#[test]
fn swapped_places_of_bodies_are_located() {
    let f = Fixture::filled("swap-places", N, EVERY);
    f.exec(
        "UPDATE ledger SET body_at = CASE seq
             WHEN 437 THEN (SELECT body_at FROM ledger WHERE seq = 612)
             ELSE (SELECT body_at FROM ledger WHERE seq = 437) END
         WHERE seq IN (437, 612)",
    );
    assert_eq!(verify(&f).first_break().unwrap().entry, Some(437));
}

#[test]
fn a_truncated_tail_is_located_against_the_latest_checkpoint() {
    let f = Fixture::filled("truncate", N, EVERY);
    // Cut from the store alone, the entries are still in the segment files.
    f.exec("DELETE FROM ledger WHERE seq >= 900");
    assert!(verify(&f).ok());
    // Cut from both.
    let cut = f.frame_boundary_near(900);
    f.exec(&format!("DELETE FROM ledger WHERE seq >= {cut}"));
    f.cut_segments_from(cut);
    let r = verify(&f);
    assert_break(&r, cut, BreakKind::Truncated);
    assert!(r.first_break().unwrap().reason.contains(&format!("{cut}..999")), "{}", r.first_break().unwrap().reason);
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
fn the_tail_replaced_after_the_last_checkpoint_shows_against_the_segment_files_and_an_escrowed_checkpoint() {
    let f = Fixture::filled("escrow", N, EVERY);
    let (escrowed, key) = f.ledger().latest_checkpoint().unwrap().unwrap();
    // The attacker rewrites the tail in the store and removes the local
    // checkpoints that cover it...
    let body = String::from_utf8(f.body(990)).unwrap().replace("/2/tweets", "/2/tweetz");
    f.raw().execute("UPDATE ledger SET body = ?1 WHERE seq = 990", [body.as_bytes()]).unwrap();
    f.rewrite_chain(990);
    f.drop_checkpoints_of_size(N);
    // ...and puts back an older head, signed before the rewritten entries.
    let log = std::fs::read_to_string(f.files().checkpoints_path()).unwrap();
    std::fs::write(f.files().head_path(), format!("{}\n", log.lines().last().unwrap())).unwrap();
    // The segment files hold the entries as they were, and a head over them.
    let r = verify(&f);
    assert!(r.breaks.iter().any(|b| b.entry == Some(990) && b.kind == BreakKind::Modified), "{:?}", r.breaks);
    // Cutting the segment files before the rewritten entries (their bodies
    // first put into the rows, which would otherwise read them from there)
    // leaves these in the store alone: in no segment file.
    let cut = f.frame_boundary_near(990);
    f.bodies_into_rows();
    f.cut_segments_from(cut);
    let r = verify(&f);
    assert!(
        r.breaks.iter().any(|b| b.kind == BreakKind::Missing && b.reason.contains("in no segment file")),
        "{:?}",
        r.breaks
    );
    // And against a checkpoint kept elsewhere.
    let options = VerifyOptions { key: Some(key), extra_checkpoints: vec![escrowed], all_heads: false };
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
    let r = f
        .ledger()
        .verify(&VerifyOptions { key: Some(other), extra_checkpoints: Vec::new(), all_heads: false })
        .unwrap();
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

    // The segment files gone, `head.json` there: the entries' bodies, kept
    // there, are gone with them, and so are the heads.
    let segments = f.files().segments_dir();
    let segments_aside = f.dir.join("segments.aside");
    std::fs::rename(&segments, &segments_aside).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("missing segment files went unnoticed: {r:?}"));
    assert_eq!((b.entry, b.kind), (Some(0), BreakKind::Missing), "{}", b.reason);
    assert!(b.reason.contains("not at its place in the segment files"), "{}", b.reason);
    assert!(
        r.breaks.iter().any(|b| b.kind == BreakKind::MissingCheckpoint && b.reason.contains("no segment file")),
        "{:?}",
        r.breaks
    );

    // Every checkpoint gone: the heads in `head.json` and in the segment
    // files, and the history.
    std::fs::rename(&head, &aside).unwrap();
    std::fs::write(&log, "").unwrap();
    let no_checkpoint = |r: &VerifyReport| {
        r.breaks.iter().any(|b| b.kind == BreakKind::MissingCheckpoint && b.reason.contains("no checkpoint"))
    };
    let r = verify(&f);
    assert!(no_checkpoint(&r), "no checkpoint at all went unnoticed: {:?}", r.breaks);
    std::fs::remove_file(&log).unwrap();
    assert!(no_checkpoint(&verify(&f)));
    std::fs::rename(&segments_aside, &segments).unwrap();

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

/// A writer that writes neither `head.json` (after its first) nor the
/// history while it runs: what a process killed before either was due
/// leaves behind. Every commit's frame holds its head.
fn frames_only_writer(f: &Fixture) -> tollgate_ledger::LedgerWriter {
    let hour = std::time::Duration::from_secs(3600);
    let policy = tollgate_ledger::CheckpointPolicy {
        every_entries: u64::MAX,
        log_interval: hour,
        head_file_interval: hour,
        ..Default::default()
    };
    tollgate_ledger::LedgerWriter::start_with(f.store.clone(), &f.files(), policy).unwrap()
}

/// A ledger of `n` entries recorded one commit each, their frames the only
/// heads (the history and `head.json` left behind).
fn one_frame_per_entry(name: &str, n: u64) -> Fixture {
    let f = Fixture::new(name);
    let w = frames_only_writer(&f);
    for i in 0..n {
        w.record_blocking(common::entry(i, 1_750_000_000_000 + i as i64)).unwrap();
    }
    drop(w);
    f
}

#[test]
fn a_torn_last_frame_is_ignored_but_damage_anywhere_in_the_segment_files_is_located() {
    let f = Fixture::new("torn-frame");
    let w = frames_only_writer(&f);
    for i in 0..40 {
        w.record_blocking(common::entry(i, 1_750_000_000_000 + i as i64)).unwrap();
    }
    // One commit each: the newest head covers every answered record, while
    // `head.json` is at size 0.
    assert_eq!(f.newest_segment_head(), 40);
    assert_eq!(f.ledger().latest_checkpoint().unwrap().unwrap().0.size, 40);
    drop(w);
    let path = f.segment_files().pop().unwrap();
    let clean = std::fs::read(&path).unwrap();

    let frames: Vec<_> = f.frames().into_iter().filter(|fr| fr.path == path).collect();

    // Half a frame after the last one, as a crash in the middle of its
    // write leaves it (here, half a copy of the last frame).
    let last = frames.last().unwrap().clone();
    let (start, end) = (last.offset as usize, (last.offset + last.len) as usize);
    let mut torn = clean.clone();
    let half = (end - start) / 2;
    torn[end..end + half].copy_from_slice(&clean[start..start + half]);
    std::fs::write(&path, &torn).unwrap();
    let r = verify(&f);
    assert!(r.ok(), "{:?}", r.breaks);
    assert!(r.notes.iter().any(|n| n.contains("interrupted write")), "{:?}", r.notes);

    // Any byte of any whole frame changed: located, never excused.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..60 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let frame = &frames[(rng % frames.len() as u64) as usize];
        let offset = frame.offset + (rng >> 20) % frame.len;
        let mut bytes = clean.clone();
        bytes[offset as usize] ^= 1 << ((rng >> 40) % 8);
        std::fs::write(&path, &bytes).unwrap();
        let r = verify(&f);
        assert!(!r.ok(), "a changed byte at offset {offset} (frame at {}) went unnoticed", frame.offset);
        let located = r.breaks.iter().any(|b| {
            b.reason.contains(&format!("offset {}", frame.offset))
                || (frame.count > 0 && b.entry.is_some_and(|e| e >= frame.first && e < frame.first + frame.count))
        });
        assert!(located, "offset {offset} of the frame at {}: {:?}", frame.offset, r.breaks);
    }
    std::fs::write(&path, &clean).unwrap();
    assert!(verify(&f).ok());
}

/// Changes a byte of the signed fields of `frame`'s head (in the bytes of
/// its file) and recomputes the frame's checksum: not something a crash
/// does, and the signature no longer verifies.
fn forge_head(bytes: &mut [u8], frame: &common::RawFrame) {
    let (start, end) = (frame.offset as usize, (frame.offset + frame.len) as usize);
    bytes[end - 32 - 182 + 50] ^= 1;
    let sum: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&bytes[start..end - 32]).into();
    bytes[end - 32..end].copy_from_slice(&sum);
}

#[test]
fn a_frame_with_a_valid_checksum_and_a_forged_head_fails() {
    let f = one_frame_per_entry("forged-frame", 3);
    let frame = f.frames().into_iter().rfind(|fr| fr.head.is_some() && fr.count > 0).unwrap();
    let mut bytes = std::fs::read(&frame.path).unwrap();
    forge_head(&mut bytes, &frame);
    std::fs::write(&frame.path, &bytes).unwrap();
    let r = verify(&f);
    let b = r.first_break().unwrap_or_else(|| panic!("a forged head went unnoticed: {r:?}"));
    assert_eq!(b.kind, BreakKind::BadCheckpoint, "{}", b.reason);
    assert!(b.reason.contains(&format!("offset {}", frame.offset)), "{}", b.reason);
    // A header that is not the format's: not a segment file.
    bytes[5] = b'X';
    std::fs::write(&frame.path, &bytes).unwrap();
    let r = verify(&f);
    assert!(r.breaks.iter().any(|b| b.reason.contains("is not a segment file")), "{:?}", r.breaks);
}

/// With every head's signature checked (`all_heads`), in batches after the
/// frames that hold them are read: a forged head is still the finding,
/// ahead of damage in a later frame, as checking each head in turn would
/// have found it. By default only the newest head's signature is checked:
/// the forged one, superseded, is not found, but the damage after it is.
#[test]
fn a_forged_head_is_found_before_damage_after_it() {
    let f = one_frame_per_entry("forged-then-damaged", 6);
    let frames: Vec<_> = f.frames().into_iter().filter(|fr| fr.head.is_some() && fr.count > 0).collect();
    let (early, late) = (&frames[1], frames.last().unwrap());
    assert_eq!(early.path, late.path);
    let mut bytes = std::fs::read(&early.path).unwrap();
    forge_head(&mut bytes, early);
    bytes[(late.offset + 30) as usize] ^= 1;
    std::fs::write(&early.path, &bytes).unwrap();
    let options = VerifyOptions { all_heads: true, ..Default::default() };
    let r = f.ledger().verify(&options).unwrap();
    let segment_findings: Vec<_> = r.breaks.iter().filter(|b| b.reason.contains("offset")).collect();
    assert_eq!(segment_findings.len(), 1, "{:?}", r.breaks);
    assert_eq!(segment_findings[0].kind, BreakKind::BadCheckpoint, "{:?}", r.breaks);
    assert!(segment_findings[0].reason.contains(&format!("offset {}", early.offset)), "{:?}", r.breaks);
    // (The damaged frame ends the files: read as an interrupted write, its
    // entry is in the store alone.)
    let r = verify(&f);
    assert!(r.breaks.iter().all(|b| b.kind != BreakKind::BadCheckpoint), "{:?}", r.breaks);
    assert_eq!(r.first_break().map(|b| b.entry), Some(Some(late.first)), "{:?}", r.breaks);
}
