//! Behaviour specific to the SQLite backend: its file, schema versions,
//! reads during a bulk load, recovery from a panicking bulk load, and FTS5
//! corner cases.

mod common;

use common::Dir;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tollgate_domain::{AccountId, Post, PostId, Timestamp};
use tollgate_store::{BulkWriter, SearchExpr, SearchQuery, Store, StoreError, TimelineQuery};
use tollgate_store_sqlite::{PLATFORM_FILE, PLATFORM_SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};

/// A fresh directory whose parent does not exist yet either.
fn dir() -> Dir {
    Dir(common::dir("sqlite-test").0.join("nested"))
}

fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, &SqliteOptions::default()).unwrap()
}

fn post(id: u64, text: &str) -> Post {
    Post {
        id: PostId(id),
        author_id: AccountId(1),
        created_at: Timestamp::from_millis(id as i64),
        text: text.into(),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

fn search(store: &SqliteStore, expr: SearchExpr) -> Result<Vec<u64>, StoreError> {
    let q = SearchQuery::new(expr, 50);
    Ok(store.search(&q)?.iter().map(|p| p.id.0).collect())
}

fn pragma<T: rusqlite::types::FromSql>(path: &Path, name: &str) -> T {
    let conn = Connection::open(path).unwrap();
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

#[test]
fn a_wal_file_at_the_current_schema_version() {
    let d = dir();
    drop(open(&d.0));
    let path = d.0.join(PLATFORM_FILE);
    assert!(path.is_file());
    assert_eq!(pragma::<String>(&path, "journal_mode").to_lowercase(), "wal");
    assert_eq!(pragma::<u32>(&path, "user_version"), PLATFORM_SCHEMA_VERSION);
    assert_eq!(pragma::<i32>(&path, "application_id"), 0x546f_6c6c);
    // Reopening an up-to-date store migrates nothing and loses nothing.
    let store = open(&d.0);
    store.upsert_posts(&[post(1, "kept")]).unwrap();
    drop(store);
    assert_eq!(search(&open(&d.0), SearchExpr::Term("kept".into())).unwrap(), vec![1]);
}

#[test]
fn a_newer_schema_is_refused() {
    let d = dir();
    drop(open(&d.0));
    Connection::open(d.0.join(PLATFORM_FILE)).unwrap().pragma_update(None, "user_version", 99).unwrap();
    match SqliteStore::open(&d.0, &SqliteOptions::default()) {
        Err(StoreError::TooNew { found: 99, supported }) => assert_eq!(supported, PLATFORM_SCHEMA_VERSION),
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn another_applications_database_is_refused() {
    let d = dir();
    std::fs::create_dir_all(&d.0).unwrap();
    let conn = Connection::open(d.0.join(PLATFORM_FILE)).unwrap();
    conn.execute_batch("PRAGMA application_id = 1234; CREATE TABLE t (x);").unwrap();
    drop(conn);
    let err = SqliteStore::open(&d.0, &SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Backend(ref m) if m.contains("another application")), "{err}");
}

#[test]
fn options_are_applied() {
    let d = dir();
    let options = SqliteOptions {
        synchronous: Synchronous::Normal,
        ledger_synchronous: Synchronous::Normal,
        read_connections: 0,
        cache_mib: 1,
        search_walk_limit: 5,
    };
    let store = SqliteStore::open(&d.0, &options).unwrap();
    store.upsert_posts(&[post(1, "normal sync")]).unwrap();
    assert_eq!(store.posts(&[PostId(1)]).unwrap().len(), 1, "zero readers means one");
    assert_eq!(store.dir(), d.0.as_path());
}

/// A bulk load holds the platform writer for as long as it runs; reads and
/// stats go on meanwhile, and see nothing of the load until it commits.
#[test]
fn a_long_bulk_load_does_not_block_readers() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    store.upsert_posts(&[post(1, "before")]).unwrap();
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let store = &store;
        let loader = s.spawn(move || {
            store.bulk_load(&mut |w: &mut dyn BulkWriter| {
                w.put_post(&post(2, "during"))?;
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(())
            })
        });
        started.recv().unwrap();
        let t = Instant::now();
        assert_eq!(store.posts(&[PostId(1), PostId(2)]).unwrap().len(), 1, "the load is not visible yet");
        assert_eq!(store.stats().unwrap().posts, 1);
        assert_eq!(search(store, SearchExpr::Term("during".into())).unwrap(), Vec::<u64>::new());
        assert!(t.elapsed() < Duration::from_secs(4), "waited on the bulk load: {:?}", t.elapsed());
        release.send(()).unwrap();
        loader.join().unwrap().unwrap();
    });
    assert_eq!(store.posts(&[PostId(2)]).unwrap().len(), 1);
    assert_eq!(search(&store, SearchExpr::Term("during".into())).unwrap(), vec![2]);
}

/// A panic inside a bulk load rolls it back and leaves the store usable.
#[test]
fn a_panicking_bulk_load_leaves_nothing_and_the_store_usable() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.bulk_load(&mut |w: &mut dyn BulkWriter| {
            w.put_post(&post(1, "doomed"))?;
            panic!("the import crashed");
        })
    }));
    assert!(outcome.is_err());
    assert!(store.posts(&[PostId(1)]).unwrap().is_empty());
    store.upsert_posts(&[post(2, "after")]).unwrap();
    assert_eq!(store.stats().unwrap().posts, 1);
    assert_eq!(search(&store, SearchExpr::Term("after".into())).unwrap(), vec![2]);
}

/// Terms that the tokenizer reduces to nothing match nothing, and do not
/// disturb the expression around them.
#[test]
fn terms_without_words_match_nothing() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    store.upsert_posts(&[post(1, "fox !!! \"quoted\""), post(2, "dog")]).unwrap();
    let t = |s: &str| SearchExpr::Term(s.into());
    for empty in ["", "!!!", "\"", "\"\"", " ", "*", "-"] {
        assert_eq!(search(&store, t(empty)).unwrap(), Vec::<u64>::new(), "{empty:?}");
        assert_eq!(search(&store, SearchExpr::Or(vec![t(empty), t("fox")])).unwrap(), vec![1], "{empty:?}");
        assert_eq!(
            search(&store, SearchExpr::And(vec![t("fox"), SearchExpr::Not(Box::new(t(empty)))])).unwrap(),
            vec![1],
            "{empty:?}"
        );
        assert_eq!(search(&store, SearchExpr::Not(Box::new(t(empty)))).unwrap(), vec![2, 1], "{empty:?}");
    }
    assert_eq!(search(&store, t("\"quoted\"")).unwrap(), vec![1]);
    assert_eq!(search(&store, SearchExpr::And(vec![])).unwrap(), vec![2, 1]);
    assert_eq!(search(&store, SearchExpr::Or(vec![])).unwrap(), Vec::<u64>::new());
}

/// Words are matched after Unicode case and diacritics folding.
#[test]
fn non_ascii_words_fold_case() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    store.upsert_posts(&[post(1, "ÜBER Straße"), post(2, "Ελληνικά")]).unwrap();
    assert_eq!(search(&store, SearchExpr::Term("über".into())).unwrap(), vec![1]);
    assert_eq!(search(&store, SearchExpr::Term("uber".into())).unwrap(), vec![1], "diacritics fold too");
    assert_eq!(search(&store, SearchExpr::Term("ελληνικά".into())).unwrap(), vec![2]);
}

#[test]
fn timeline_of_a_large_author_pages_quickly() {
    let store = SqliteStore::open_in_memory_for_tests().unwrap();
    store
        .bulk_load(&mut |w: &mut dyn BulkWriter| {
            for i in 1..=20_000u64 {
                w.put_post(&Post { author_id: AccountId(i % 2 + 1), ..post(i, "common text in every post") })?;
            }
            Ok(())
        })
        .unwrap();
    let t = Instant::now();
    let page = store
        .timeline(
            AccountId(1),
            &TimelineQuery { before_id: Some(PostId(10_001)), limit: 100, ..TimelineQuery::default() },
        )
        .unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0].id, PostId(10_000), "author 1 has the even ids");
    let hits = search(&store, SearchExpr::Term("common".into())).unwrap();
    assert_eq!(hits.len(), 50);
    assert_eq!(hits[0], 20_000);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// `change_seq` sees commits of another writer of the same files (a CLI
/// command run while `serve` runs), not only its own: every node and process
/// follows one log.
#[test]
fn change_seq_sees_another_writers_commits() {
    let dir = dir();
    let serving = open(&dir.0);
    let other = open(&dir.0);
    let before = serving.change_seq().unwrap();
    assert_eq!(serving.change_seq().unwrap(), before, "nothing changed");
    other.set_post_no_ai(PostId(1), true).unwrap();
    assert_eq!(serving.change_seq().unwrap(), before, "a write that changed nothing logs nothing");
    other.upsert_posts(&[post(1, "from elsewhere")]).unwrap();
    let after = serving.change_seq().unwrap();
    assert_eq!(after, before + 1);
    let got = serving.changes_since(before, 10).unwrap();
    assert_eq!(got.changes, vec![tollgate_store::Change::Post { id: PostId(1), author: AccountId(1) }]);
    assert_eq!(got.upto, after);
}

/// A follower further behind than the log reaches is told to start over.
#[test]
fn change_log_trimmed_past_a_follower_says_everything() {
    let dir = dir();
    let store = open(&dir.0);
    store.upsert_posts(&[post(1, "one"), post(2, "two"), post(3, "three")]).unwrap();
    let end = store.change_seq().unwrap();
    let conn = Connection::open(dir.0.join(PLATFORM_FILE)).unwrap();
    conn.execute("DELETE FROM changes WHERE seq <= ?1", [end as i64 - 1]).unwrap();
    let got = store.changes_since(0, 10).unwrap();
    assert_eq!((got.changes, got.upto), (vec![tollgate_store::Change::Everything], end));
    let got = store.changes_since(end - 1, 10).unwrap();
    assert_eq!(got.changes.len(), 1, "a follower the log still covers reads on");
}

/// A search no index narrows (an emoji alone) examines at most
/// `search_walk_limit` posts per page and says where to resume, so that
/// paging on finds every match and no page walks the whole table; a search
/// an index narrows is not bounded.
#[test]
fn a_search_no_index_narrows_walks_a_bounded_window_and_resumes_below_it() {
    let d = dir();
    let store = SqliteStore::open(&d.0, &SqliteOptions { search_walk_limit: 5, ..SqliteOptions::default() }).unwrap();
    let posts: Vec<Post> =
        (1..=12).map(|i| post(i, if i == 2 || i == 9 { "coffee ☕ time" } else { "coffee time" })).collect();
    store.upsert_posts(&posts).unwrap();
    let page = |expr: SearchExpr, before: Option<u64>| {
        let q = SearchQuery { before_id: before.map(PostId), ..SearchQuery::new(expr, 11) };
        let page = store.search_page(&q).unwrap();
        (page.posts.iter().map(|p| p.id.0).collect::<Vec<_>>(), page.resume_before.map(|id| id.0))
    };
    let emoji = || SearchExpr::Term("☕".into());
    // Posts 12 to 8 are examined: 9 matches, the walk goes on below 8.
    assert_eq!(page(emoji(), None), (vec![9], Some(8)));
    // 7 to 3: nothing, but more to examine below 3.
    assert_eq!(page(emoji(), Some(8)), (vec![], Some(3)));
    // 2 and 1: fewer than the window is left, so the walk is complete.
    assert_eq!(page(emoji(), Some(3)), (vec![2], None));
    // The unbounded search finds both at once.
    assert_eq!(search(&store, emoji()).unwrap(), [9, 2]);
    // A word walks the full-text index: all 12 matches, no resumption.
    let (words, resume) = page(SearchExpr::Term("coffee".into()), None);
    assert_eq!((words.len(), resume), (11, None));
}
