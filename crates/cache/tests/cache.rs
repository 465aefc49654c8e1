//! The cache against the store it follows: every answer equals the store's,
//! every acknowledged write is seen by the next sync, and concurrent writes
//! never leave a stale entry behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, AppStatus, Category, Post, PostId, PreferenceChange,
    Purpose, Scope, Tier, Timestamp, Tri,
};
use tollgate_store::{AppUpdate, BulkWriter, NewApp, NewKey, Store, TimelineQuery};
use tollgate_store_sqlite::SqliteStore;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn account(id: u64) -> Account {
    Account {
        id: AccountId(id),
        handle: format!("user{id}"),
        display_name: format!("User {id}"),
        description: String::new(),
        created_at: ts(1_600_000_000_000),
        region: "US".into(),
        birth_year: None,
        is_minor: None,
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

fn post(id: u64, author: u64, created_ms: i64) -> Post {
    Post {
        id: PostId(id),
        author_id: AccountId(author),
        created_at: ts(created_ms),
        text: format!("post {id}"),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

fn store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_in_memory_for_tests().unwrap())
}

fn cache(store: &Arc<dyn Store>, config: CacheConfig) -> PlatformCache {
    PlatformCache::new(Arc::clone(store), config).unwrap()
}

fn ids(posts: &[impl std::borrow::Borrow<Post>]) -> Vec<u64> {
    posts.iter().map(|p| p.borrow().id.0).collect()
}

/// A small deterministic generator (xorshift), so that failures repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn maybe(&mut self, n: u64) -> Option<u64> {
        (self.below(3) == 0).then(|| self.below(n))
    }
}

/// Timelines answered from an author's window are exactly the store's, for
/// every kind of bound, inside the window and past it.
#[test]
fn timeline_pages_equal_the_stores() {
    let store = store();
    store.upsert_accounts(&[account(1), account(2), account(3)]).unwrap();
    let mut posts = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Author 1 has more posts than the window; author 2 fewer; ids and times
    // are not in the same order, and some posts are replies or deleted.
    for id in 1..=120u64 {
        let author = if id % 5 == 0 { 2 } else { 1 };
        let mut p = post(id * 10, author, 1_000 + rng.below(2_000) as i64);
        if rng.below(4) == 0 {
            p.in_reply_to = Some(PostId(10));
            p.in_reply_to_user_id = Some(AccountId(2));
        }
        if rng.below(9) == 0 {
            p.deleted_at = Some(ts(5_000));
        }
        posts.push(p);
    }
    store.upsert_posts(&posts).unwrap();
    let cache = cache(&store, CacheConfig { timeline_window: 30, ..CacheConfig::DEFAULT });
    for case in 0..3_000 {
        let author = AccountId(1 + rng.below(3));
        let q = TimelineQuery {
            since_id: rng.maybe(1_300).map(PostId),
            until_id: rng.maybe(1_300).map(PostId),
            start_time: rng.maybe(3_000).map(|t| ts(t as i64)),
            end_time: rng.maybe(3_000).map(|t| ts(t as i64)),
            before_id: rng.maybe(1_300).map(PostId),
            exclude_replies: rng.below(2) == 0,
            limit: rng.below(40) as usize,
        };
        cache.sync().unwrap();
        let want = store.timeline(author, &q).unwrap();
        let got = cache.timeline(author, &q).unwrap();
        assert_eq!(ids(&got), ids(&want), "case {case}: {author:?} {q:?}");
        assert!(got.iter().zip(&want).all(|(g, w)| **g == *w), "case {case}: same posts");
    }
    assert!(cache.stats().hits > 2_000, "pages were answered from the windows: {:?}", cache.stats());
}

/// Every kind of write is in force at the next sync.
#[test]
fn every_acknowledged_write_is_seen_by_the_next_sync() {
    let store = store();
    store.upsert_accounts(&[account(1), account(2)]).unwrap();
    store.upsert_posts(&[post(10, 1, 10), post(11, 1, 11)]).unwrap();
    let app = store
        .create_app(&NewApp {
            name: "app".into(),
            tier: Tier::Standard,
            purposes: vec![Purpose::Display],
            licensed_purposes: vec![],
            agreement_version: None,
            created_at: ts(1),
        })
        .unwrap();
    let key = store
        .add_key(&NewKey { app_id: app.id, hash: "h1".into(), prefix: "p".into(), created_at: ts(1), expires_at: None })
        .unwrap();
    let cache = cache(&store, CacheConfig::DEFAULT);
    let timeline = TimelineQuery { limit: 10, ..TimelineQuery::default() };
    let read_all = |cache: &PlatformCache| {
        cache.sync().unwrap();
        (
            cache.account(AccountId(1)).unwrap().map(|a| (*a).clone()),
            ids(&cache.timeline(AccountId(1), &timeline).unwrap()),
            cache.posts(&[PostId(10)]).unwrap().first().map(|p| (**p).clone()),
            cache.credentials("h1").unwrap().map(|c| (*c).clone()),
            cache.latest_agreement().unwrap().map(|a| a.version),
        )
    };
    let first = read_all(&cache);
    assert_eq!(read_all(&cache), first, "a second read is the same, from memory");
    let hits = cache.stats().hits;
    read_all(&cache);
    assert!(cache.stats().hits >= hits + 5);

    let deny = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    store.set_preferences(AccountId(1), &[deny], ts(2)).unwrap();
    let seen = read_all(&cache).0.unwrap();
    assert_eq!(seen.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value, Tri::Deny);

    store.set_account_status(AccountId(1), AccountStatus::Suspended).unwrap();
    assert_eq!(read_all(&cache).0.unwrap().status, AccountStatus::Suspended);

    store.set_post_no_ai(PostId(10), true).unwrap();
    assert!(read_all(&cache).2.unwrap().no_ai);
    store.delete_post(PostId(10), ts(3)).unwrap();
    assert_eq!(read_all(&cache).2.unwrap().deleted_at, Some(ts(3)));
    store.upsert_posts(&[post(12, 1, 12)]).unwrap();
    assert_eq!(read_all(&cache).1, vec![12, 11, 10], "a new post is in its author's timeline");
    store.upsert_posts(&[post(12, 2, 12)]).unwrap();
    assert_eq!(read_all(&cache).1, vec![11, 10], "a post moved away leaves it");

    store.revoke_keys(app.id, Some(key.id), ts(4)).unwrap();
    assert_eq!(read_all(&cache).3.unwrap().key.revoked_at, Some(ts(4)));
    store.update_app(app.id, &AppUpdate { status: Some(AppStatus::Suspended), ..AppUpdate::default() }).unwrap();
    assert_eq!(read_all(&cache).3.unwrap().app.unwrap().status, AppStatus::Suspended);
    store
        .publish_agreement(&Agreement {
            version: 1,
            text: "t".into(),
            terms_json: "{}".into(),
            published_at: ts(5),
            grace_until: ts(6),
        })
        .unwrap();
    assert_eq!(read_all(&cache).4, Some(1));

    store.bulk_load(&mut |w: &mut dyn BulkWriter| w.put_post(&post(13, 1, 13))).unwrap();
    assert_eq!(read_all(&cache).1, vec![13, 11, 10], "a bulk load drops everything");
}

/// A cache that follows another writer of the same files (another process,
/// or another node of a shared store) sees its writes at the next sync.
#[test]
fn writes_of_another_writer_are_seen() {
    let dir = std::env::temp_dir().join(format!("tollgate-cache-{}-{}", std::process::id(), line!()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = tollgate_store_sqlite::SqliteOptions::default();
    let serving: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &options).unwrap());
    let other = SqliteStore::open(&dir, &options).unwrap();
    other.upsert_accounts(&[account(1)]).unwrap();
    let cache = cache(&serving, CacheConfig::DEFAULT);
    cache.sync().unwrap();
    assert_eq!(cache.account(AccountId(1)).unwrap().unwrap().status, AccountStatus::Active);
    other.set_account_status(AccountId(1), AccountStatus::Deactivated).unwrap();
    cache.sync().unwrap();
    assert_eq!(cache.account(AccountId(1)).unwrap().unwrap().status, AccountStatus::Deactivated);
    drop((cache, serving, other));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writers rename accounts (the name counts the writes) while readers read
/// them through the cache: every read returns a write at least as new as
/// the last one acknowledged before the reader's sync, and after the writers
/// stop the cache holds the final one (no stale entry survives a race
/// between a load and a change).
#[test]
fn concurrent_writes_never_leave_a_stale_entry() {
    const ACCOUNTS: u64 = 4;
    const WRITES: u64 = 400;
    let store = store();
    store.upsert_accounts(&(1..=ACCOUNTS).map(account).collect::<Vec<_>>()).unwrap();
    // Room for fewer accounts than are read: loads and evictions race too.
    let cache = Arc::new(cache(&store, CacheConfig { accounts: 3, ..CacheConfig::DEFAULT }));
    // Per account: the last write acknowledged, published after the store
    // acknowledged it.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..=ACCOUNTS).map(|_| AtomicU64::new(0)).collect());
    let writers_done = Arc::new(AtomicU64::new(0));
    let reads = AtomicU64::new(0);
    let stale = AtomicU64::new(0);
    let named = |id: u64, n: u64| Account { display_name: n.to_string(), ..account(id) };
    std::thread::scope(|s| {
        for writer in 1..=ACCOUNTS {
            let (store, acked, writers_done) = (Arc::clone(&store), Arc::clone(&acked), Arc::clone(&writers_done));
            s.spawn(move || {
                for n in 1..=WRITES {
                    store.upsert_accounts(&[named(writer, n)]).unwrap();
                    acked[writer as usize].store(n, Ordering::SeqCst);
                }
                writers_done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for reader in 0..3u64 {
            let (cache, acked, writers_done) = (Arc::clone(&cache), Arc::clone(&acked), Arc::clone(&writers_done));
            let (reads, stale) = (&reads, &stale);
            s.spawn(move || {
                let mut rng = Rng(reader + 7);
                while writers_done.load(Ordering::SeqCst) < ACCOUNTS {
                    let id = 1 + rng.below(ACCOUNTS);
                    let before = acked[id as usize].load(Ordering::SeqCst);
                    cache.sync().unwrap();
                    let name = cache.account(AccountId(id)).unwrap().unwrap().display_name.clone();
                    let n: u64 = name.parse().unwrap_or(0);
                    reads.fetch_add(1, Ordering::SeqCst);
                    if n < before {
                        stale.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert!(reads.load(Ordering::SeqCst) > 100, "the readers ran alongside the writers");
    assert_eq!(stale.load(Ordering::SeqCst), 0, "reads older than an acknowledged write");
    cache.sync().unwrap();
    for id in 1..=ACCOUNTS {
        assert_eq!(cache.account(AccountId(id)).unwrap().unwrap().display_name, WRITES.to_string(), "account {id}");
    }
}

#[test]
fn handles_are_answered_from_the_cache_and_follow_renames() {
    let store = store();
    store.upsert_accounts(&[account(1), account(2)]).unwrap();
    let c = cache(&store, CacheConfig::DEFAULT);
    c.sync().unwrap();
    assert_eq!(c.account_by_handle("USER1").unwrap().map(|a| a.id), Some(AccountId(1)));
    let misses = c.stats().misses;
    assert_eq!(c.account_by_handle("User1").unwrap().map(|a| a.id), Some(AccountId(1)));
    assert_eq!(c.stats().misses, misses, "a handle seen before reads nothing from the store");

    // Account 1 is renamed and account 2 takes its old handle: the hint
    // the cache kept names the wrong account now, and must not be used.
    let mut renamed = account(1);
    renamed.handle = "renamed".into();
    store.upsert_accounts(&[renamed]).unwrap();
    let mut taker = account(2);
    taker.handle = "user1".into();
    store.upsert_accounts(&[taker]).unwrap();
    c.sync().unwrap();
    assert_eq!(c.account_by_handle("user1").unwrap().map(|a| a.id), Some(AccountId(2)));
    assert_eq!(c.account_by_handle("RENAMED").unwrap().map(|a| a.id), Some(AccountId(1)));
    assert_eq!(c.account_by_handle("user2").unwrap().map(|a| a.id), None);
    assert_eq!(c.account_by_handle("nobody").unwrap().map(|a| a.id), None);
}
