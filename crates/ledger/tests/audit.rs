//! The audit index as the writer maintains it (across a restart in the middle
//! of a filter block) and as `reindex` rebuilds it, checked against a
//! straightforward scan of the entries.

mod common;

use std::collections::BTreeMap;

use common::Fixture;
use tollgate_domain::{AccountId, AppId, PostId, Purpose, Timestamp};
use tollgate_ledger::{Audit, Channel, Entry, FILTER_BLOCK, FILTER_SHARDS, Identity, LedgerWriter, Outcome, Recipient};

const N: u64 = 2600;

/// Entry `i`: app 1 + i % 4, display or search, a post of its own and one of
/// 50 popular posts, by author 1 + i % 7; every 13th is refused.
fn entry(i: u64) -> Entry {
    let refused = i % 13 == 12;
    let mut posts = vec![PostId(5_000 + i % 50), PostId(1_000_000 + i)];
    posts.sort_unstable();
    Entry {
        v: Entry::VERSION,
        time: Timestamp::from_millis(1_750_000_000_000 + i as i64 * 60_000),
        request_id: format!("req-{i}"),
        channel: Channel::Api,
        app_id: Some(AppId(1 + i % 4)),
        key_id: None,
        client: None,
        endpoint: "/2/tweets".into(),
        purpose: Some(if i.is_multiple_of(2) { Purpose::Display } else { Purpose::Search }),
        outcome: if refused { Outcome::Refused("not_permitted".into()) } else { Outcome::Served },
        posts: if refused { Vec::new() } else { posts },
        authors: if refused { Vec::new() } else { vec![AccountId(1 + i % 7)] },
        accounts: Vec::new(),
        withheld: Default::default(),
        notices: Vec::new(),
        policy_version: if i < 2000 { "p1" } else { "p2" }.into(),
        guard: None,
    }
}

fn record(w: &LedgerWriter, range: std::ops::Range<u64>) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let ids: Vec<u64> = range.collect();
        for chunk in ids.chunks(300) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let w = w.clone();
                    tokio::spawn(async move { w.record(entry(i)).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
    });
}

/// The recipients of a post by scanning every entry.
fn scan_post(post: PostId) -> (Vec<Recipient>, Vec<u64>) {
    let mut by: BTreeMap<(u64, &str), Recipient> = BTreeMap::new();
    let mut seqs = Vec::new();
    for i in 0..N {
        let e = entry(i);
        if !e.posts.contains(&post) {
            continue;
        }
        seqs.push(i);
        let r = by.entry((e.app_id.unwrap().0, e.purpose.unwrap().as_str())).or_insert(Recipient {
            app_id: e.app_id,
            client: None,
            purpose: e.purpose,
            first_time: e.time,
            last_time: e.time,
            deliveries: 0,
        });
        r.last_time = e.time;
        r.deliveries += 1;
    }
    (by.into_values().collect(), seqs)
}

fn all_entries(audit: &Audit<'_>, post: PostId, limit: usize) -> (Vec<Recipient>, Vec<u64>) {
    let mut cursor: Option<String> = None;
    let mut seqs = Vec::new();
    let mut recipients = None;
    loop {
        let page = audit.post_recipients(post, cursor.as_deref(), limit).unwrap();
        assert!(page.entries.len() <= limit);
        recipients.get_or_insert(page.recipients);
        seqs.extend(page.entries.iter().map(|e| e.seq));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    (recipients.unwrap(), seqs)
}

fn check(f: &Fixture) {
    let audit = Audit::new(f.store.as_ref());
    for post in [PostId(5_007), PostId(5_049), PostId(1_000_100), PostId(1_000_000 + N - 1), PostId(42)] {
        assert_eq!(all_entries(&audit, post, 7), scan_post(post), "post {post}");
    }
    // Author 3: per (app, purpose), served entries only.
    let mut want: BTreeMap<(u64, &str), (i64, i64, u64)> = BTreeMap::new();
    for i in (0..N).filter(|i| 1 + i % 7 == 3 && i % 13 != 12) {
        let e = entry(i);
        let v = want.entry((e.app_id.unwrap().0, e.purpose.unwrap().as_str())).or_insert((i64::MAX, 0, 0));
        v.0 = v.0.min(e.time.millis());
        v.1 = v.1.max(e.time.millis());
        v.2 += 1;
    }
    let got: BTreeMap<(u64, &str), (i64, i64, u64)> = audit
        .author_recipients(AccountId(3))
        .unwrap()
        .recipients
        .iter()
        .map(|r| {
            (
                (r.app_id.unwrap().0, r.purpose.unwrap().as_str()),
                (r.first_time.millis(), r.last_time.millis(), r.deliveries),
            )
        })
        .collect();
    assert_eq!(got, want);
    // App 2 over a range: the posts, in pages.
    let (from, until) = (entry(100).time, entry(2100).time);
    let mut cursor: Option<String> = None;
    let mut posts = Vec::new();
    loop {
        let page = audit.app_deliveries(AppId(2), from, Some(until), cursor.as_deref(), 5).unwrap();
        posts.extend(page.posts.iter().map(|p| p.post_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<PostId> = (100..2100).filter(|i| 1 + i % 4 == 2).flat_map(|i| entry(i).posts).collect();
    assert_eq!(posts, want);
    // Attempts and policy counts.
    let a = audit.attempts(Identity::AppId(AppId(1)), entry(1000).time, None, 10).unwrap();
    let mine: Vec<u64> = (1000..N).filter(|i| i % 4 == 0).collect();
    assert_eq!(a.counts.served + a.counts.refused, mine.len() as u64);
    assert_eq!(a.counts.refused, mine.iter().filter(|i| *i % 13 == 12).count() as u64);
    assert_eq!(a.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), mine[..10].to_vec());
    let p = audit.policy_deliveries("p2", None, 1000).unwrap();
    assert_eq!(p.counts.served, (2000..N).filter(|i| i % 13 != 12).count() as u64);
    assert_eq!(p.entries.len() as u64, p.counts.served);
}

#[test]
fn the_index_answers_like_a_scan_and_reindex_rebuilds_it() {
    let f = Fixture::new("audit");
    let w = f.writer(u64::MAX);
    record(&w, 0..1500);
    w.shutdown();
    // A restart in the middle of the second filter block.
    let w = f.writer(u64::MAX);
    record(&w, 1500..N);
    w.shutdown();
    let blocks = N / FILTER_BLOCK;
    for shard in 0..FILTER_SHARDS {
        assert_eq!(f.store.ledger_post_filters(shard, 0, 100).unwrap().len() as u64, blocks);
    }
    check(&f);

    f.store.ledger_index_clear().unwrap();
    assert!(f.store.ledger_author_deliveries(AccountId(3)).unwrap().is_empty());
    // A question brings the index up to date before answering.
    check(&f);
    assert_eq!(f.store.ledger_indexed_end().unwrap(), N);
    f.store.ledger_index_clear().unwrap();
    let audit = Audit::new(f.store.as_ref());
    let mut progress = 0;
    let report = audit.reindex(|n| progress = n).unwrap();
    assert_eq!((report.entries, progress), (N, N));
    check(&f);
    // The writer's indexer indexes what it appends.
    let w = f.writer(u64::MAX);
    record(&w, N..N + 1);
    w.shutdown();
    assert_eq!(f.store.ledger_indexed_end().unwrap(), N + 1);
}

/// Served entries of author 3 among entries `0..n`.
fn author3_deliveries(n: u64) -> u64 {
    (0..n).filter(|i| 1 + i % 7 == 3 && i % 13 != 12).count() as u64
}

#[test]
fn questions_asked_while_recording_count_every_acknowledged_entry() {
    let f = Fixture::new("audit-race");
    let w = f.writer(u64::MAX);
    // Entries below this were acknowledged (all of them, in whatever order).
    let acked = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for from in (0..N).step_by(200) {
                record(&w, from..(from + 200).min(N));
                acked.store((from + 200).min(N), std::sync::atomic::Ordering::SeqCst);
            }
        });
        // Questions race the indexer: each indexes what it lacks first.
        let audit = Audit::new(f.store.as_ref());
        loop {
            let before = acked.load(std::sync::atomic::Ordering::SeqCst);
            let got: u64 = audit.author_recipients(AccountId(3)).unwrap().recipients.iter().map(|r| r.deliveries).sum();
            assert!(got >= author3_deliveries(before), "{got} deliveries, {before} entries acknowledged before");
            assert!(got <= author3_deliveries(N));
            if before == N {
                break;
            }
        }
    });
    w.shutdown();
    check(&f);
}

#[test]
fn the_indexer_catches_up_at_start_and_shares_the_work_with_a_rebuild() {
    let f = Fixture::new("audit-catch-up");
    let w = f.writer(u64::MAX);
    record(&w, 0..N / 2);
    w.shutdown();
    f.store.ledger_index_clear().unwrap();
    // Started on an index that lags, the writer's indexer catches up by itself.
    let w = f.writer(u64::MAX);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while f.store.ledger_indexed_end().unwrap() < N / 2 {
        assert!(std::time::Instant::now() < deadline, "the index did not catch up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A rebuild while entries are recorded: the two meet wherever they meet.
    std::thread::scope(|s| {
        s.spawn(|| record(&w, N / 2..N));
        Audit::new(f.store.as_ref()).reindex(|_| {}).unwrap();
    });
    w.shutdown();
    assert_eq!(f.store.ledger_indexed_end().unwrap(), N);
    check(&f);
}

/// Blocks whose posting lists or column copies are missing (as in a ledger
/// indexed before they existed) give the same answers, searched or read row
/// by row; stored data that does not decode is an error that says to
/// reindex, not a panic, and a rebuild repairs it.
#[test]
fn missing_post_data_is_searched_and_corrupt_post_data_refused() {
    let f = Fixture::new("audit-postings");
    let w = f.writer(u64::MAX);
    record(&w, 0..N);
    w.shutdown();
    check(&f);
    f.exec("DELETE FROM ledger_filters WHERE block = 0; DELETE FROM ledger_blocks WHERE block = 1;");
    check(&f);

    let audit = Audit::new(f.store.as_ref());
    let reindex_error = |what: &str| {
        let err = audit.post_recipients(PostId(5_007), None, 10).unwrap_err();
        assert!(err.to_string().contains("run `tollgate ledger reindex`"), "{what}: {err}");
    };
    f.exec("UPDATE ledger_filters SET bits = x'01ff' WHERE block = 1;");
    reindex_error("a truncated posting list");
    f.exec("UPDATE ledger_filters SET bits = x'07' WHERE block = 1;");
    reindex_error("an unknown format");
    audit.reindex(|_| {}).unwrap();
    check(&f);
    f.exec("UPDATE ledger_blocks SET columns = x'0102' WHERE block = 0;");
    reindex_error("a truncated column copy");
    audit.reindex(|_| {}).unwrap();
    check(&f);
}

/// A web visitor's entries name the public's app 0 and the visitor's
/// client; the index keeps app 0 as no app. Across a block whose columns
/// are packed and the entries after it, the visitor is one recipient, and
/// `verify` finds the packed copy matching the entries.
#[test]
fn the_publics_app_0_is_one_recipient_across_packed_and_unpacked_blocks() {
    const VISITS: u64 = 1500;
    let f = Fixture::new("audit-public");
    let w = f.writer(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        for chunk in (0..VISITS).collect::<Vec<_>>().chunks(300) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let mut e = entry(i);
                    e.channel = Channel::Web;
                    e.app_id = Some(AppId(0));
                    e.client = Some("visitor-1".into());
                    e.purpose = Some(Purpose::Display);
                    e.outcome = Outcome::Served;
                    e.posts = vec![PostId(77)];
                    e.authors = vec![AccountId(1)];
                    let w = w.clone();
                    tokio::spawn(async move { w.record(e).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
    });
    w.shutdown();
    let r = f.ledger().verify(&tollgate_ledger::VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{:?}", r.breaks);
    let answer = Audit::new(f.store.as_ref()).post_recipients(PostId(77), None, 10).unwrap();
    assert_eq!(answer.recipients.len(), 1, "{:?}", answer.recipients);
    let visitor = &answer.recipients[0];
    assert_eq!((visitor.app_id, visitor.client.as_deref(), visitor.deliveries), (None, Some("visitor-1"), VISITS));
}
