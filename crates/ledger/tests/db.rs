//! What `LedgerDb`, the store's copy of the ledger and its audit index in
//! `ledger.db`, must do: continuity of appends, the summaries and post lists
//! the audit questions read, retention's deletions keeping the index exact,
//! its schema migrations, and independence from the platform's writer.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tollgate_domain::{AccountId, AppId, Post, PostId, Purpose, Timestamp};
use tollgate_ledger::{
    AuthorDeliveries, BodyPlace, DAY_MILLIS, DaySummary, EntryColumns, EntryIndex, LEDGER_BLOCK, LEDGER_FILE,
    LEDGER_SCHEMA_VERSION, LedgerCounts, LedgerCursor, LedgerDb, LedgerIndex, LedgerRemoval, LedgerRow, LedgerSelect,
    PostFilter, StoredColumns,
};
use tollgate_store::{BulkWriter, Store, StoreError};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>, expected_field: &str) {
    match result {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, expected_field, "wrong field named"),
        other => panic!("expected Invalid {{ field: {expected_field} }}, got {other:?}"),
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

/// Appends rows that deliver nothing.
fn append(store: &LedgerDb, rows: &[LedgerRow]) -> tollgate_store::Result<()> {
    store.ledger_append(rows, &vec![EntryIndex::default(); rows.len()])
}

/// Appends rows and then indexes them, as the ledger's writer and indexer do.
fn append_indexed(store: &LedgerDb, rows: &[LedgerRow], index: &LedgerIndex) {
    store.ledger_append(rows, &index.entries).unwrap();
    store.ledger_index_rows(rows, index).unwrap();
}

fn ledger_row(seq: u64) -> LedgerRow {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&seq.to_be_bytes());
    hash[31] = 0xff;
    LedgerRow {
        seq,
        time: ts(1_700_000_000_000 + seq as i64),
        app_id: if seq.is_multiple_of(2) { Some(AppId(seq + 1)) } else { None },
        body: vec![0, 1, 2, 0xfe, seq as u8, 0],
        hash,
        place: None,
    }
}

/// Appends must continue the ledger exactly (from seq 0); a gap or an overlap
/// anywhere in a call refuses the whole call.
fn ledger_append_continuity(store: &LedgerDb) {
    assert_conflict(append(store, &[ledger_row(1)]));
    assert_eq!(store.ledger_last().unwrap(), None, "the first row is seq 0");
    append(store, &[ledger_row(0), ledger_row(1), ledger_row(2)]).unwrap();
    assert_conflict(append(store, &[ledger_row(4)]));
    assert_conflict(append(store, &[ledger_row(2)]));
    assert_conflict(append(store, &[ledger_row(1), ledger_row(2), ledger_row(3)]));
    assert_conflict(append(store, &[ledger_row(3), ledger_row(5)]));
    assert_conflict(append(store, &[ledger_row(3), ledger_row(4), ledger_row(4)]));
    assert_eq!(store.ledger_last().unwrap(), Some(ledger_row(2)), "refused calls write nothing");
    assert_eq!(store.ledger_end().unwrap(), 3);
    append(store, &[]).unwrap();
    append(store, &[ledger_row(3), ledger_row(4)]).unwrap();
    append(store, &[ledger_row(5)]).unwrap();
    assert_eq!(store.ledger_last().unwrap(), Some(ledger_row(5)));
    assert_eq!(store.ledger_read(0, 100).unwrap(), (0..=5).map(ledger_row).collect::<Vec<_>>());
}

/// Rows come back byte for byte, in seq order, from a position, in pages.
fn ledger_read_and_last(store: &LedgerDb) {
    assert!(store.ledger_read(0, 10).unwrap().is_empty());
    assert_eq!(store.ledger_last().unwrap(), None);
    let rows: Vec<LedgerRow> = (0..10).map(ledger_row).collect();
    append(store, &rows[..7]).unwrap();
    append(store, &rows[7..]).unwrap();
    assert_eq!(store.ledger_read(0, 100).unwrap(), rows);
    assert_eq!(store.ledger_read(3, 2).unwrap(), rows[3..5].to_vec());
    assert_eq!(store.ledger_read(8, 100).unwrap(), rows[8..].to_vec());
    assert!(store.ledger_read(10, 100).unwrap().is_empty());
    assert!(store.ledger_read(u64::MAX, 100).unwrap().is_empty());
    assert!(store.ledger_read(0, 0).unwrap().is_empty());
    assert_eq!(store.ledger_last().unwrap(), Some(rows[9].clone()));
    let big = LedgerRow { body: vec![0xab; 100_000], app_id: Some(AppId(u64::from(u32::MAX) + 1)), ..ledger_row(10) };
    append(store, std::slice::from_ref(&big)).unwrap();
    assert_eq!(store.ledger_last().unwrap(), Some(big));
}

/// A day of indexed traffic: row `i` at `DAY0 + i` hours; app 1 (even rows)
/// or an anonymous client of app 2 (odd rows); display or search by thirds;
/// every fifth refused; authors 10 and 10 + i % 3; policy `p1` then `p2`.
const DAY0: i64 = 1_700_006_400_000 - 1_700_006_400_000 % DAY_MILLIS;

fn indexed_rows(range: std::ops::Range<u64>) -> (Vec<LedgerRow>, LedgerIndex) {
    let mut rows = Vec::new();
    let mut index = LedgerIndex::default();
    for i in range {
        let anonymous = i % 2 == 1;
        rows.push(LedgerRow {
            time: ts(DAY0 + i as i64 * 3_600_000),
            app_id: Some(AppId(if anonymous { 2 } else { 1 })),
            ..ledger_row(i)
        });
        let refused = i % 5 == 4;
        index.entries.push(EntryIndex {
            client: anonymous.then(|| "guest-7".to_owned()),
            purpose: Some(if i % 3 == 0 { Purpose::Search } else { Purpose::Display }),
            refused,
            policy_version: if i < 30 { "p1" } else { "p2" }.into(),
            posts: if refused { 0 } else { 1 + i as u32 % 4 },
            authors: if refused {
                Vec::new()
            } else {
                let mut a = vec![AccountId(10), AccountId(10 + i % 3)];
                a.dedup();
                a
            },
        });
    }
    (rows, index)
}

/// Summaries computed by a straightforward scan of `indexed_rows`.
fn expected_app_days(app: u64, from: i64, until: i64, n: u64) -> Vec<DaySummary> {
    let (rows, index) = indexed_rows(0..n);
    let mut out: std::collections::BTreeMap<(i64, &str, bool), (u64, u64)> = Default::default();
    for (r, e) in rows.iter().zip(&index.entries) {
        let t = r.time.millis();
        if r.app_id != Some(AppId(app)) || t < from || t >= until {
            continue;
        }
        let v = out.entry((t.div_euclid(DAY_MILLIS), e.purpose.unwrap().as_str(), e.refused)).or_default();
        v.0 += 1;
        v.1 += u64::from(e.posts);
    }
    out.into_iter()
        .map(|((day, purpose, refused), (entries, posts))| DaySummary {
            day: ts(day * DAY_MILLIS),
            purpose: Some(purpose.parse().unwrap()),
            refused,
            entries,
            posts,
        })
        .collect()
}

/// The per-author and per-day summaries and the counts follow the appended
/// index, however the rows were batched.
fn ledger_index_summaries(store: &LedgerDb) {
    assert_eq!(store.ledger_indexed_end().unwrap(), 0);
    for range in [0..1, 1..17, 17..40, 40..50] {
        let (rows, index) = indexed_rows(range);
        append_indexed(store, &rows, &index);
    }
    assert_eq!(store.ledger_indexed_end().unwrap(), 50);
    // Author 12 is in served rows with i % 3 == 2.
    let served = |i: &u64| i % 5 != 4;
    let mine: Vec<u64> = (0..50).filter(|i| i % 3 == 2 && served(i)).collect();
    let got = store.ledger_author_deliveries(AccountId(12)).unwrap();
    let span = |app: u64| {
        let times: Vec<i64> = mine.iter().filter(|i| *i % 2 == app - 1).map(|i| DAY0 + *i as i64 * 3_600_000).collect();
        (times.len() as u64, ts(*times.iter().min().unwrap()), ts(*times.iter().max().unwrap()))
    };
    let (n1, f1, l1) = span(1);
    let (n2, f2, l2) = span(2);
    assert_eq!(
        got,
        vec![
            AuthorDeliveries {
                app_id: Some(AppId(1)),
                client: None,
                purpose: Some(Purpose::Display),
                first: f1,
                last: l1,
                deliveries: n1
            },
            AuthorDeliveries {
                app_id: Some(AppId(2)),
                client: Some("guest-7".into()),
                purpose: Some(Purpose::Display),
                first: f2,
                last: l2,
                deliveries: n2
            },
        ]
    );
    assert!(store.ledger_author_deliveries(AccountId(99)).unwrap().is_empty());
    // Whole days, partial days at both ends, and an empty range.
    for (from, until) in [
        (0, i64::MAX),
        (DAY0 + 5 * 3_600_000, DAY0 + 2 * DAY_MILLIS + 1),
        (DAY0 + DAY_MILLIS, DAY0 + 2 * DAY_MILLIS),
        (DAY0 + 3_600_000, DAY0 + 2 * 3_600_000),
        (DAY0, DAY0),
    ] {
        let until_ts = (until != i64::MAX).then(|| ts(until));
        assert_eq!(
            store.ledger_app_days(AppId(1), ts(from), until_ts).unwrap(),
            expected_app_days(1, from, until, 50),
            "app days from {from} until {until}"
        );
    }
    let policy = store.ledger_count(&LedgerSelect::Policy { version: "p1".into() }).unwrap();
    let (p1_refused, p1_served) = (0..30u64).fold((0, 0), |(r, s), i| if served(&i) { (r, s + 1) } else { (r + 1, s) });
    let p1_posts: u64 = (0..30u64).filter(served).map(|i| 1 + i % 4).sum();
    assert_eq!(policy, LedgerCounts { served: p1_served, refused: p1_refused, posts: p1_posts });
    let client = store
        .ledger_count(&LedgerSelect::Client { client: "guest-7".into(), from: ts(DAY0 + 10 * 3_600_000), until: None })
        .unwrap();
    let odd: Vec<u64> = (10..50).filter(|i| i % 2 == 1).collect();
    assert_eq!(client.served + client.refused, odd.len() as u64);
    assert_eq!(client.refused, odd.iter().filter(|i| !served(i)).count() as u64);
    assert_eq!(store.ledger_count(&LedgerSelect::Policy { version: "p9".into() }).unwrap(), LedgerCounts::default());
}

/// Selections come back in order, in pages that neither repeat nor skip.
/// They need only the append, not the summaries.
fn ledger_index_selections_page(store: &LedgerDb) {
    let (rows, index) = indexed_rows(0..50);
    store.ledger_append(&rows, &index.entries).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 0);
    let all = |select: &LedgerSelect, page: usize| {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let got = store.ledger_select(select, after, page).unwrap();
            assert!(got.len() <= page);
            let Some(last) = got.last() else { break };
            after = Some(LedgerCursor { time: last.time, seq: last.seq });
            out.extend(got.iter().map(|r| r.seq));
        }
        out
    };
    let app =
        LedgerSelect::App { app: AppId(1), from: ts(DAY0 + 3 * 3_600_000), until: Some(ts(DAY0 + 40 * 3_600_000)) };
    let want: Vec<u64> = (3..40).filter(|i| i % 2 == 0).collect();
    assert_eq!(all(&app, 4), want);
    assert_eq!(all(&app, 1000), want);
    let client = LedgerSelect::Client { client: "guest-7".into(), from: ts(0), until: None };
    assert_eq!(all(&client, 3), (0..50).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    let policy = LedgerSelect::Policy { version: "p2".into() };
    assert_eq!(all(&policy, 7), (30..50).filter(|i| i % 5 != 4).collect::<Vec<_>>());
    let rows_back = store.ledger_select(&policy, None, 1).unwrap();
    assert_eq!(rows_back, vec![rows[30].clone()], "selected rows come back whole");
    assert!(
        store
            .ledger_select(&LedgerSelect::App { app: AppId(7), from: ts(0), until: None }, None, 10)
            .unwrap()
            .is_empty()
    );
}

/// Appended rows stay out of the summaries until indexed in order; the
/// selections see them at once; a clear and a rebuild give the same answers.
fn ledger_index_lags_and_rebuilds(store: &LedgerDb) {
    let (rows, index) = indexed_rows(0..20);
    let part = |r: std::ops::Range<usize>| LedgerIndex { entries: index.entries[r].to_vec(), filters: Vec::new() };
    append_indexed(store, &rows[..10], &part(0..10));
    let before = store.ledger_author_deliveries(AccountId(10)).unwrap();
    assert!(!before.is_empty());
    let guest = LedgerSelect::Client { client: "guest-7".into(), from: ts(0), until: None };
    assert_eq!(store.ledger_count(&guest).unwrap().served + store.ledger_count(&guest).unwrap().refused, 5);
    store.ledger_index_clear().unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 0);
    assert!(store.ledger_author_deliveries(AccountId(10)).unwrap().is_empty());
    // Appended, not indexed: in the selections, not in the summaries.
    store.ledger_append(&rows[10..], &index.entries[10..]).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 0);
    assert!(store.ledger_author_deliveries(AccountId(10)).unwrap().is_empty());
    let selected = store.ledger_select(&guest, None, 100).unwrap();
    assert_eq!(selected.iter().map(|r| r.seq).collect::<Vec<_>>(), (10..20).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    // Indexing must continue the indexed prefix, with one entry per row.
    assert_conflict(store.ledger_index_rows(&rows[5..10], &part(5..10)));
    assert!(matches!(store.ledger_index_rows(&rows[..5], &part(0..4)), Err(StoreError::Invalid { .. })));
    assert!(matches!(store.ledger_append(&rows[..1], &[]), Err(StoreError::Invalid { .. })));
    store.ledger_index_rows(&rows[..10], &part(0..10)).unwrap();
    assert_eq!(store.ledger_author_deliveries(AccountId(10)).unwrap(), before);
    assert_eq!(store.ledger_count(&guest).unwrap().served + store.ledger_count(&guest).unwrap().refused, 10);
    store.ledger_index_rows(&rows[10..], &part(10..20)).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 20);
    assert_eq!(store.ledger_app_days(AppId(1), ts(0), None).unwrap(), expected_app_days(1, 0, i64::MAX, 20));
    // Rows not stored cannot be indexed.
    let (more, more_index) = indexed_rows(20..21);
    assert!(matches!(store.ledger_index_rows(&more, &more_index), Err(StoreError::NotFound(_))));
    assert_eq!(store.ledger_indexed_end().unwrap(), 20);
    append_indexed(store, &more, &more_index);
    assert_eq!(store.ledger_indexed_end().unwrap(), 21);
}

/// Filters come back by shard and block, ascending, from a block on; a
/// filter written again replaces the earlier one.
fn ledger_post_filters_by_shard(store: &LedgerDb) {
    let filter = |block: u64, shard: u32, b: u8| PostFilter { block, shard, bits: vec![b; 8 + block as usize] };
    let (rows, mut index) = indexed_rows(0..4);
    index.filters = vec![filter(0, 0, 1), filter(0, 1, 2), filter(1, 0, 3), filter(2, 0, 4)];
    append_indexed(store, &rows, &index);
    assert_eq!(store.ledger_post_filters(0, 0, 10).unwrap(), vec![filter(0, 0, 1), filter(1, 0, 3), filter(2, 0, 4)]);
    assert_eq!(store.ledger_post_filters(0, 1, 1).unwrap(), vec![filter(1, 0, 3)]);
    assert_eq!(store.ledger_post_filters(1, 0, 10).unwrap(), vec![filter(0, 1, 2)]);
    assert!(store.ledger_post_filters(2, 0, 10).unwrap().is_empty());
    assert!(store.ledger_post_filters(0, u64::MAX, 10).unwrap().is_empty());
    let (more, mut more_index) = indexed_rows(4..5);
    more_index.filters = vec![filter(2, 0, 9)];
    append_indexed(store, &more, &more_index);
    assert_eq!(store.ledger_post_filters(0, 2, 10).unwrap(), vec![filter(2, 0, 9)]);
}

/// What the index says, as far as the trait shows it: per-author rows of
/// authors 10 to 12 and 99, day summaries of apps 1 and 2, policy counts of
/// `p1` and `p2`, and the filters of shards 0 and 3.
type IndexView = (Vec<Vec<AuthorDeliveries>>, Vec<Vec<DaySummary>>, Vec<LedgerCounts>, Vec<PostFilter>);

fn index_view(store: &LedgerDb) -> IndexView {
    (
        [10, 11, 12, 99].map(|a| store.ledger_author_deliveries(AccountId(a)).unwrap()).to_vec(),
        [1, 2].map(|a| store.ledger_app_days(AppId(a), ts(0), None).unwrap()).to_vec(),
        ["p1", "p2"].map(|v| store.ledger_count(&LedgerSelect::Policy { version: v.into() }).unwrap()).to_vec(),
        [0, 3].iter().flat_map(|s| store.ledger_post_filters(*s, 0, 100).unwrap()).collect(),
    )
}

/// Retention deletes the oldest rows and takes them out of the index: what
/// is left is what a rebuild from the remaining rows gives, except that a
/// per-author row that keeps deliveries starts at the oldest remaining entry
/// (a lower bound of its exact first time). Rows the index does not cover
/// yet go unindexed, and the index resumes after them. A repeated call
/// deletes nothing; a refused call changes nothing.
fn ledger_delete_before_keeps_the_index_exact(store: &LedgerDb) {
    let (rows, mut index) = indexed_rows(0..50);
    // Author 99 is delivered only by rows that go.
    for e in index.entries.iter_mut().take(20).filter(|e| !e.authors.is_empty()) {
        e.authors.push(AccountId(99));
    }
    append_indexed(store, &rows[..35], &LedgerIndex { entries: index.entries[..35].to_vec(), filters: Vec::new() });
    // The last 15 rows are stored but not indexed yet.
    store.ledger_append(&rows[35..], &index.entries[35..]).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 35);
    let removal = |before: u64, from: usize, upto: usize| LedgerRemoval {
        before,
        from: from as u64,
        entries: index.entries[from..upto].to_vec(),
    };

    // Refused calls change nothing.
    let untouched = index_view(store);
    assert!(!untouched.0[3].is_empty());
    assert_invalid(store.ledger_delete_before(&removal(50, 0, 35)), "before");
    assert_invalid(store.ledger_delete_before(&LedgerRemoval { before: u64::MAX, ..removal(0, 0, 0) }), "before");
    assert_conflict(store.ledger_delete_before(&removal(24, 0, 23)));
    assert_conflict(store.ledger_delete_before(&removal(24, 1, 25)));
    let mut foreign = removal(24, 0, 24);
    foreign.entries[3].authors.push(AccountId(12_345));
    assert_invalid(store.ledger_delete_before(&foreign), "entries");
    assert_eq!(store.ledger_read(0, 100).unwrap(), rows, "refused calls delete no row");
    assert_eq!(index_view(store), untouched, "refused calls leave the index as it was");
    assert_eq!(store.ledger_indexed_end().unwrap(), 35);

    // The first UTC day (rows 0..24) goes whole, with author 99.
    assert_eq!(store.ledger_delete_before(&removal(24, 0, 24)).unwrap(), 24);
    assert_eq!(store.ledger_read(0, 100).unwrap(), rows[24..].to_vec(), "later rows are intact");
    assert_eq!(store.ledger_last().unwrap(), Some(rows[49].clone()));
    assert_eq!(store.ledger_end().unwrap(), 50, "positions are not renumbered");
    let (authors, days, policies, _) = index_view(store);
    assert!(authors[3].is_empty(), "a per-author row that reaches zero is deleted");
    let indexed_days = |app: u64, from: u64| -> Vec<DaySummary> {
        expected_app_days(app, 0, i64::MAX, 35)
            .into_iter()
            .filter(|d| d.day >= ts(DAY0 + from as i64 * 3_600_000))
            .collect()
    };
    assert_eq!(days, vec![indexed_days(1, 24), indexed_days(2, 24)], "empty days are deleted, the others exact");
    let served = |i: &u64| i % 5 != 4;
    let counts = |range: std::ops::Range<u64>| LedgerCounts {
        served: range.clone().filter(served).count() as u64,
        refused: range.clone().filter(|i| !served(i)).count() as u64,
        posts: range.filter(served).map(|i| 1 + i % 4).sum(),
    };
    assert_eq!(policies, vec![counts(24..30), counts(30..35)]);

    // Nothing is left below the cut: a repeated call deletes nothing.
    let now = index_view(store);
    assert_eq!(store.ledger_delete_before(&removal(24, 24, 24)).unwrap(), 0);
    assert_eq!(store.ledger_delete_before(&removal(10, 0, 0)).unwrap(), 0);
    assert_conflict(store.ledger_delete_before(&removal(24, 0, 24)));
    assert_eq!((store.ledger_read(0, 100).unwrap().len(), index_view(store)), (26, now));

    // Once the rest is indexed, a rebuild from the remaining rows gives the
    // same index, but for first times: a per-author row that kept
    // deliveries of deleted entries starts at the oldest remaining entry
    // (row 24), the others are exact.
    let unfiltered =
        |r: std::ops::Range<usize>| LedgerIndex { entries: index.entries[r].to_vec(), filters: Vec::new() };
    store.ledger_index_rows(&rows[35..], &unfiltered(35..50)).unwrap();
    let pruned = index_view(store);
    store.ledger_index_clear().unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 24, "a cleared index starts at the first stored row");
    store.ledger_index_rows(&rows[24..], &unfiltered(24..50)).unwrap();
    let rebuilt = index_view(store);
    assert_eq!((&pruned.1, &pruned.2), (&rebuilt.1, &rebuilt.2));
    let oldest = rows[24].time;
    let mut raised = 0;
    for (kept, exact) in pruned.0.iter().zip(&rebuilt.0) {
        assert_eq!(kept.len(), exact.len());
        for (k, e) in kept.iter().zip(exact) {
            assert_eq!(AuthorDeliveries { first: e.first, ..k.clone() }, *e);
            assert!(k.first == e.first || (k.first == oldest && oldest < e.first), "{k:?} against {e:?}");
            raised += usize::from(k.first != e.first);
        }
    }
    assert!(raised > 0, "some per-author row kept deliveries of deleted entries");

    // A cut past the end of the index (30): rows 24..30 are taken out of
    // it, rows 30..40 go unindexed, and the index resumes at 40.
    store.ledger_index_clear().unwrap();
    store.ledger_index_rows(&rows[24..30], &unfiltered(24..30)).unwrap();
    assert_eq!(store.ledger_delete_before(&removal(40, 24, 30)).unwrap(), 16);
    assert_eq!(store.ledger_read(0, 100).unwrap(), rows[40..].to_vec());
    assert_eq!(store.ledger_indexed_end().unwrap(), 40);
    assert_conflict(store.ledger_index_rows(&rows[30..], &unfiltered(30..50)));
    store.ledger_index_rows(&rows[40..], &unfiltered(40..50)).unwrap();
    let pruned = index_view(store);
    store.ledger_index_clear().unwrap();
    store.ledger_index_rows(&rows[40..], &unfiltered(40..50)).unwrap();
    assert_eq!(pruned, index_view(store));
}

/// Retention drops the per-block data (post lists, column copies) of every
/// block that loses a row: what is left of a block cut in part is read row
/// by row.
fn ledger_delete_before_drops_the_data_of_cut_blocks(store: &LedgerDb) {
    let n = 2 * LEDGER_BLOCK + 100;
    let rows: Vec<LedgerRow> = (0..n).map(ledger_row).collect();
    let served = EntryIndex { policy_version: "p1".into(), ..EntryIndex::default() };
    let list = |block: u64, shard: u32| PostFilter { block, shard, bits: vec![block as u8 + 1; 8] };
    let index = LedgerIndex {
        entries: vec![served; n as usize],
        filters: (0..3).flat_map(|block| [list(block, 0), list(block, 5)]).collect(),
    };
    append_indexed(store, &rows, &index);
    let lists = |shard| store.ledger_post_filters(shard, 0, 10).unwrap().iter().map(|f| f.block).collect::<Vec<_>>();
    let columns = |seqs: &[u64]| store.ledger_entry_columns(seqs).unwrap().iter().map(|c| c.seq).collect::<Vec<_>>();
    let probe = [5, LEDGER_BLOCK + 50, 2 * LEDGER_BLOCK + 5];
    assert_eq!(columns(&probe), probe);
    let removal = |before: u64, from: u64| LedgerRemoval {
        before,
        from,
        entries: index.entries[from as usize..before as usize].to_vec(),
    };
    // A cut inside block 1 drops the data of blocks 0 and 1.
    assert_eq!(store.ledger_delete_before(&removal(LEDGER_BLOCK + 10, 0)).unwrap(), LEDGER_BLOCK + 10);
    assert_eq!((lists(0), lists(5)), (vec![2], vec![2]));
    assert_eq!(columns(&[LEDGER_BLOCK + 9, LEDGER_BLOCK + 10]), [LEDGER_BLOCK + 10]);
    assert_eq!(columns(&probe), probe[1..]);
    assert_eq!(store.ledger_delete_before(&removal(2 * LEDGER_BLOCK, LEDGER_BLOCK + 10)).unwrap(), LEDGER_BLOCK - 10);
    assert_eq!((lists(0), lists(5)), (vec![2], vec![2]));
    assert_eq!(columns(&probe), probe[2..]);
    assert_eq!(store.ledger_count(&LedgerSelect::Policy { version: "p1".into() }).unwrap().served, 100);
}

/// Rows and their indexed columns come back by seq, ascending, for any set
/// of seqs (unsorted, repeated, beyond the end), across whole blocks and the
/// unfilled last one, and again after the index is cleared and rebuilt.
fn ledger_rows_and_columns_by_seq(store: &LedgerDb) {
    let n = 2 * LEDGER_BLOCK + 5;
    let (rows, index) = indexed_rows(0..n);
    let cut = |a: u64, b: u64| (a as usize)..(b as usize);
    for (a, b) in [(0, 700), (700, LEDGER_BLOCK + 1), (LEDGER_BLOCK + 1, n)] {
        let part = LedgerIndex { entries: index.entries[cut(a, b)].to_vec(), filters: Vec::new() };
        append_indexed(store, &rows[cut(a, b)], &part);
    }
    let columns = |seq: u64| {
        let (r, e) = (&rows[seq as usize], &index.entries[seq as usize]);
        EntryColumns {
            seq,
            time: r.time,
            app_id: r.app_id,
            client: e.client.clone(),
            purpose: e.purpose,
            refused: e.refused,
        }
    };
    let ask =
        [n - 1, 0, 5, 5, LEDGER_BLOCK - 1, LEDGER_BLOCK, 2 * LEDGER_BLOCK - 1, 2 * LEDGER_BLOCK, n, u64::MAX, 1500];
    let mut want: Vec<u64> = ask.iter().copied().filter(|s| *s < n).collect();
    want.sort_unstable();
    want.dedup();
    let check = || {
        assert_eq!(
            store.ledger_rows(&ask).unwrap(),
            want.iter().map(|s| rows[*s as usize].clone()).collect::<Vec<_>>()
        );
        assert_eq!(store.ledger_entry_columns(&ask).unwrap(), want.iter().map(|s| columns(*s)).collect::<Vec<_>>());
        let all: Vec<u64> = (0..n).rev().collect();
        assert_eq!(store.ledger_entry_columns(&all).unwrap(), (0..n).map(columns).collect::<Vec<_>>());
    };
    check();
    assert!(store.ledger_rows(&[]).unwrap().is_empty());
    assert!(store.ledger_entry_columns(&[n, n + 1]).unwrap().is_empty());
    store.ledger_index_clear().unwrap();
    store.ledger_index_rows(&rows, &index).unwrap();
    check();
}

/// The index columns come back as they were stored, with the end of the
/// index; cleared, they are unset, and indexing sets them again.
fn ledger_index_columns_as_stored(store: &LedgerDb) {
    let (rows, index) = indexed_rows(0..12);
    store.ledger_append(&rows, &index.entries).unwrap();
    let page = store.ledger_index_columns(3, 5).unwrap();
    assert_eq!(page.indexed_end, 0);
    assert_eq!(page.rows, (3..8).map(|i| stored_columns(&index.entries[i as usize], i)).collect::<Vec<_>>());
    store
        .ledger_index_rows(&rows[..6], &LedgerIndex { entries: index.entries[..6].to_vec(), filters: Vec::new() })
        .unwrap();
    assert_eq!(store.ledger_index_columns(0, 100).unwrap().indexed_end, 6);
    store.ledger_index_clear().unwrap();
    let page = store.ledger_index_columns(0, 100).unwrap();
    assert_eq!(page.indexed_end, 0);
    assert_eq!(page.rows, (0..12).map(|seq| StoredColumns { seq, ..StoredColumns::default() }).collect::<Vec<_>>());
    store.ledger_index_rows(&rows, &index).unwrap();
    let page = store.ledger_index_columns(0, 100).unwrap();
    assert_eq!(page.indexed_end, 12);
    assert_eq!(page.rows, (0..12).map(|i| stored_columns(&index.entries[i as usize], i)).collect::<Vec<_>>());
    assert!(store.ledger_index_columns(12, 10).unwrap().rows.is_empty());
    assert!(store.ledger_index_columns(u64::MAX, 10).unwrap().rows.is_empty());
}

/// The columns `ledger_index_columns` reads for row `seq` indexed with `e`.
fn stored_columns(e: &EntryIndex, seq: u64) -> StoredColumns {
    StoredColumns {
        seq,
        client: e.client.clone(),
        purpose: e.purpose.map(|p| p.as_str().to_owned()),
        refused: Some(i64::from(e.refused)),
        posts: Some(i64::from(e.posts)),
        policy_version: Some(e.policy_version.clone()),
        wrong_type: None,
    }
}

/// The indexer's own path (`ledger_index_copied`): rows the append stored
/// with their columns are indexed without rewriting them, and rows a clear
/// emptied after their append (a `reindex` racing the indexer) get them back.
fn ledger_index_copied_keeps_or_restores_the_columns(store: &LedgerDb) {
    let (rows, index) = indexed_rows(0..12);
    let part = |r: std::ops::Range<usize>| LedgerIndex { entries: index.entries[r].to_vec(), filters: Vec::new() };
    let stored =
        |range: std::ops::Range<u64>| range.map(|i| stored_columns(&index.entries[i as usize], i)).collect::<Vec<_>>();
    store.ledger_append(&rows[..6], &index.entries[..6]).unwrap();
    store.ledger_index_copied(&rows[..6], &part(0..6)).unwrap();
    let page = store.ledger_index_columns(0, 100).unwrap();
    assert_eq!((page.indexed_end, page.rows), (6, stored(0..6)));
    // Appended, then cleared before the indexer reached them.
    store.ledger_append(&rows[6..], &index.entries[6..]).unwrap();
    store.ledger_index_clear().unwrap();
    store.ledger_index_rows(&rows[..6], &part(0..6)).unwrap();
    store.ledger_index_copied(&rows[6..], &part(6..12)).unwrap();
    let page = store.ledger_index_columns(0, 100).unwrap();
    assert_eq!((page.indexed_end, page.rows), (12, stored(0..12)));
    let mut fresh = LedgerDb::open_temporary().unwrap();
    append_indexed(&fresh, &rows, &index);
    assert_eq!(index_view(store), index_view(&fresh), "the summaries are those of the plain path");
    // Rows not stored cannot be indexed, on this path either.
    let (more, more_index) = indexed_rows(12..13);
    assert!(matches!(store.ledger_index_copied(&more, &more_index), Err(StoreError::NotFound(_))));
    fresh = LedgerDb::open_temporary().unwrap();
    assert!(matches!(fresh.ledger_index_copied(&rows[..1], &part(0..1)), Err(StoreError::NotFound(_))));
}

// -- the checks, each on a fresh database ------------------------------------------

#[test]
fn ledger_append_continuity_on_a_fresh_database() {
    ledger_append_continuity(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_read_and_last_on_a_fresh_database() {
    ledger_read_and_last(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_index_summaries_on_a_fresh_database() {
    ledger_index_summaries(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_index_selections_page_on_a_fresh_database() {
    ledger_index_selections_page(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_index_lags_and_rebuilds_on_a_fresh_database() {
    ledger_index_lags_and_rebuilds(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_post_filters_by_shard_on_a_fresh_database() {
    ledger_post_filters_by_shard(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_delete_before_keeps_the_index_exact_on_a_fresh_database() {
    ledger_delete_before_keeps_the_index_exact(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_delete_before_drops_the_data_of_cut_blocks_on_a_fresh_database() {
    ledger_delete_before_drops_the_data_of_cut_blocks(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_rows_and_columns_by_seq_on_a_fresh_database() {
    ledger_rows_and_columns_by_seq(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_index_copied_keeps_or_restores_the_columns_on_a_fresh_database() {
    ledger_index_copied_keeps_or_restores_the_columns(&LedgerDb::open_temporary().unwrap());
}

#[test]
fn ledger_index_columns_as_stored_on_a_fresh_database() {
    ledger_index_columns_as_stored(&LedgerDb::open_temporary().unwrap());
}

// -- the file -------------------------------------------------------------------

/// A fresh directory, removed at the end of the test.
struct Dir(std::path::PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("tollgate-ledger-db-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    Dir(d)
}

fn open(dir: &Path) -> LedgerDb {
    LedgerDb::open(dir, &SqliteOptions::default()).unwrap()
}

fn row(seq: u64) -> LedgerRow {
    LedgerRow { seq, time: Timestamp::from_millis(1), app_id: None, body: vec![1], hash: [7; 32], place: None }
}

fn pragma<T: rusqlite::types::FromSql>(path: &Path, name: &str) -> T {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

#[test]
fn a_wal_file_at_the_current_schema_version_and_a_newer_one_refused() {
    let d = dir("schema");
    drop(open(&d.0));
    let path = d.0.join(LEDGER_FILE);
    assert_eq!(pragma::<String>(&path, "journal_mode").to_lowercase(), "wal");
    assert_eq!(pragma::<u32>(&path, "user_version"), LEDGER_SCHEMA_VERSION);
    assert_eq!(pragma::<i32>(&path, "application_id"), 0x546f_6c6c);
    Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
    match LedgerDb::open(&d.0, &SqliteOptions::default()) {
        Err(StoreError::TooNew { found: 99, supported }) => assert_eq!(supported, LEDGER_SCHEMA_VERSION),
        other => panic!("expected TooNew, got {other:?}"),
    }
}

/// A ledger written before the audit index existed keeps its rows, and the
/// index starts empty: appends wait for a rebuild, which then catches up.
#[test]
fn a_version_1_ledger_is_migrated_with_an_empty_index() {
    let d = dir("v1");
    std::fs::create_dir_all(&d.0).unwrap();
    let conn = Connection::open(d.0.join(LEDGER_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TABLE ledger (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, app_id INTEGER,
                              body BLOB NOT NULL, hash BLOB NOT NULL);
         CREATE INDEX ledger_app_time ON ledger (app_id, time);
         PRAGMA user_version = 1; PRAGMA application_id = 1416588396;",
    )
    .unwrap();
    for seq in 0..3i64 {
        conn.execute("INSERT INTO ledger VALUES (?1, 1, NULL, x'01', ?2)", rusqlite::params![seq, vec![7u8; 32]])
            .unwrap();
    }
    drop(conn);
    let store = open(&d.0);
    assert_eq!(pragma::<u32>(&d.0.join(LEDGER_FILE), "user_version"), LEDGER_SCHEMA_VERSION);
    assert_eq!(store.ledger_read(0, 10).unwrap(), (0..3).map(row).collect::<Vec<_>>());
    assert_eq!(store.ledger_indexed_end().unwrap(), 0);
    store.ledger_append(&[row(3)], &[EntryIndex::default()]).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 0, "appends leave the summaries to the indexer");
    store.ledger_index_rows(&(0..4).map(row).collect::<Vec<_>>(), &LedgerIndex::plain(4)).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 4);
    store.ledger_append(&[row(4)], &[EntryIndex::default()]).unwrap();
    store.ledger_index_rows(&[row(4)], &LedgerIndex::plain(1)).unwrap();
    assert_eq!(store.ledger_indexed_end().unwrap(), 5);
}

/// A version 2 ledger holds Bloom filters where version 3 keeps posting
/// lists: the migration drops them (their blocks are then searched until a
/// rebuild) and keeps the rest of the index.
#[test]
fn a_version_2_ledger_drops_its_bloom_filters() {
    let d = dir("v2");
    let store = open(&d.0);
    store.ledger_append(&(0..3).map(row).collect::<Vec<_>>(), &vec![EntryIndex::default(); 3]).unwrap();
    store.ledger_index_rows(&(0..3).map(row).collect::<Vec<_>>(), &LedgerIndex::plain(3)).unwrap();
    drop(store);
    let conn = Connection::open(d.0.join(LEDGER_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE ledger_blocks;
         ALTER TABLE ledger DROP COLUMN body_file;
         ALTER TABLE ledger DROP COLUMN body_at;
         INSERT INTO ledger_filters (shard, block, bits) VALUES (0, 0, x'ffffffffffffffff'), (1, 0, x'00');
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(conn);
    let store = open(&d.0);
    assert_eq!(pragma::<u32>(&d.0.join(LEDGER_FILE), "user_version"), LEDGER_SCHEMA_VERSION);
    assert!(store.ledger_post_filters(0, 0, 10).unwrap().is_empty());
    assert!(store.ledger_post_filters(1, 0, 10).unwrap().is_empty());
    assert_eq!(store.ledger_indexed_end().unwrap(), 3, "the rest of the index stays");
    assert_eq!(store.ledger_entry_columns(&[0, 1, 2]).unwrap().len(), 3);
}

/// Rows stored before bodies stayed in the segment files keep theirs, and
/// read as before; a row with a place reads its body from there, unless
/// its own `body` is set.
#[test]
fn a_version_3_ledger_keeps_its_bodies_and_placed_rows_read_theirs_from_the_segment_files() {
    let d = dir("v3");
    let store = open(&d.0);
    store.ledger_append(&(0..2).map(row).collect::<Vec<_>>(), &vec![EntryIndex::default(); 2]).unwrap();
    drop(store);
    let conn = Connection::open(d.0.join(LEDGER_FILE)).unwrap();
    conn.execute_batch(
        "ALTER TABLE ledger DROP COLUMN body_file;
         ALTER TABLE ledger DROP COLUMN body_at;
         PRAGMA user_version = 3;",
    )
    .unwrap();
    drop(conn);
    let store = open(&d.0);
    assert_eq!(pragma::<u32>(&d.0.join(LEDGER_FILE), "user_version"), LEDGER_SCHEMA_VERSION);
    assert_eq!(store.ledger_read(0, 10).unwrap(), (0..2).map(row).collect::<Vec<_>>());

    // A row placed in a segment file: the store keeps the place, not the bytes.
    let segments = store.segments_dir().to_owned();
    std::fs::create_dir_all(&segments).unwrap();
    let mut file = vec![0u8; 100];
    file[60..64].copy_from_slice(&5u32.to_be_bytes());
    file[64..69].copy_from_slice(b"hello");
    std::fs::write(segments.join(format!("{:020}.seg", 2)), &file).unwrap();
    let placed =
        |seq, offset| LedgerRow { body: b"hello".to_vec(), place: Some(BodyPlace { file: 2, offset }), ..row(seq) };
    store.ledger_append(&[placed(2, 60), placed(3, 60)], &vec![EntryIndex::default(); 2]).unwrap();
    let raw = Connection::open(d.0.join(LEDGER_FILE)).unwrap();
    let stored: Vec<u8> = raw.query_row("SELECT body FROM ledger WHERE seq = 2", [], |r| r.get(0)).unwrap();
    assert!(stored.is_empty(), "the body stays in the segment file");
    assert_eq!(store.ledger_rows(&[2, 3]).unwrap(), vec![placed(2, 60), placed(3, 60)]);
    assert_eq!(store.ledger_last().unwrap(), Some(placed(3, 60)));
    // A place that holds no body reads as an empty body, which no check
    // accepts; a body set in the row is the row's.
    raw.execute_batch(
        "UPDATE ledger SET body_at = 98 WHERE seq = 2;
         UPDATE ledger SET body = x'0102' WHERE seq = 3;",
    )
    .unwrap();
    let rows = store.ledger_read(2, 2).unwrap();
    assert_eq!((rows[0].body.as_slice(), rows[1].body.as_slice()), (&[][..], &[1, 2][..]));
    raw.execute_batch("UPDATE ledger SET body_file = 7 WHERE seq = 2").unwrap();
    assert!(store.ledger_read(2, 1).unwrap()[0].body.is_empty(), "no such segment file");
}

/// A bulk load holds the platform's writer for as long as it runs; ledger
/// appends and reads go on meanwhile.
#[test]
fn a_long_bulk_load_of_the_platform_does_not_block_the_ledger() {
    let d = dir("bulk");
    let platform = SqliteStore::open(&d.0, &SqliteOptions::default()).unwrap();
    let ledger = open(&d.0);
    let post = Post {
        id: PostId(2),
        author_id: AccountId(1),
        created_at: Timestamp::from_millis(2),
        text: "during".into(),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    };
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let platform = &platform;
        let loader = s.spawn(move || {
            platform.bulk_load(&mut |w: &mut dyn BulkWriter| {
                w.put_post(&post)?;
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(())
            })
        });
        started.recv().unwrap();
        let t = Instant::now();
        for seq in 0..20 {
            ledger.ledger_append(&[row(seq)], &[EntryIndex::default()]).unwrap();
        }
        assert_eq!(ledger.ledger_last().unwrap().map(|r| r.seq), Some(19));
        assert_eq!(ledger.ledger_end().unwrap(), 20);
        assert!(t.elapsed() < Duration::from_secs(4), "waited on the bulk load: {:?}", t.elapsed());
        release.send(()).unwrap();
        loader.join().unwrap().unwrap();
    });
}
