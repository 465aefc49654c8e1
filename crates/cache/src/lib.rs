//! The platform's hot data in memory, kept current by the store's change log.
//!
//! Every channel reads accounts, posts, apps and keys through a
//! `PlatformCache` instead of the store. A request first calls
//! [`PlatformCache::sync`], which asks the store for the sequence number of
//! its last change (`Store::change_seq`, a cheap check) and, if the cache is
//! behind, reads the changes after the last one it applied and drops what they
//! name. So every write acknowledged before a request started (through this
//! process's internal API, the CLI in another process, or, with a shared
//! backend, another node) is in force for that request, with no invalidation
//! call between processes and no time-to-live.
//!
//! What is kept, each bounded (`CacheConfig`):
//!
//! - credentials: the key and app of each bearer token hash seen (dropped
//!   whole on any app, key or agreement change, which are rare);
//! - the latest developer agreement;
//! - accounts by id (decoded once: no per-request JSON decoding of stored
//!   preferences), and the id of each handle looked up (in lower case),
//!   which is only a hint: an answer by handle is the account the hint
//!   names, read by id (so current), only if it still has that handle;
//!   otherwise the store answers;
//! - posts by id;
//! - the newest `timeline_window` posts of each author read recently, from
//!   which timeline pages are answered while they fall inside the window.
//!
//! Nothing computed from the time of a request is kept (whether an author is
//! a minor is decided per request from the cached account), and no decision
//! or response is cached: the policy decides every post of every request.
//!
//! `INVARIANT (cache-follows-log)`: an entry is inserted only if no change
//! was applied between the moment its load began and its insertion;
//! otherwise it serves the request that loaded it and is not kept. A load
//! that began after a change was applied reads data at least as new as that
//! change; a change committed after the load read is applied later and drops
//! the entry. Either way no entry older than an applied change survives.

mod generations;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tollgate_domain::{Account, AccountId, Agreement, ApiKey, App, Post, PostId};
use tollgate_store::{Change, Result, Store, TimelineQuery};

use crate::generations::Generations;

/// How much the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Accounts held at most.
    pub accounts: usize,
    /// Posts held at most, by id and in timelines together.
    pub posts: usize,
    /// The newest posts of an author kept for timelines.
    pub timeline_window: usize,
}

impl CacheConfig {
    /// The defaults: room for 500,000 accounts and 1,000,000 posts (about
    /// 600 MiB on the generated platform), and the newest 800 posts of each
    /// author (X serves the newest 3,200 of a timeline; a page is at most 100).
    pub const DEFAULT: CacheConfig = CacheConfig { accounts: 500_000, posts: 1_000_000, timeline_window: 800 };
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::DEFAULT
    }
}

/// A bearer token's key and the app it belongs to (`None` if the app no
/// longer exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key: ApiKey,
    pub app: Option<App>,
}

/// The newest posts of one author, newest first (by id, as the store
/// orders timelines).
struct Timeline {
    posts: Vec<Arc<Post>>,
    /// The author has no older posts than these.
    complete: bool,
}

impl Timeline {
    /// The page `q` asks for, if the window holds all of it: the same posts
    /// in the same order as `Store::timeline`.
    fn answer(&self, q: &TimelineQuery) -> Option<Vec<Arc<Post>>> {
        let mut out = Vec::with_capacity(q.limit.min(self.posts.len()));
        if q.limit == 0 {
            return Some(out);
        }
        for post in &self.posts {
            if q.since_id.is_some_and(|since| post.id <= since) {
                // Ids only fall from here on: nothing further qualifies.
                return Some(out);
            }
            let above = |bound: Option<PostId>| bound.is_some_and(|b| post.id >= b);
            if above(q.until_id)
                || above(q.before_id)
                || q.start_time.is_some_and(|t| post.created_at < t)
                || q.end_time.is_some_and(|t| post.created_at >= t)
                || (q.exclude_replies && post.in_reply_to.is_some())
            {
                continue;
            }
            out.push(Arc::clone(post));
            if out.len() == q.limit {
                return Some(out);
            }
        }
        self.complete.then_some(out)
    }
}

struct State {
    /// The last change applied.
    applied: u64,
    credentials: HashMap<String, Arc<Credentials>>,
    /// `None` until read; then the latest agreement, if any.
    agreement: Option<Option<Arc<Agreement>>>,
    accounts: Generations<AccountId, Arc<Account>>,
    /// The account id of a handle (lower case) found in the store: a hint,
    /// checked against the account on every use.
    handles: Generations<String, AccountId>,
    posts: Generations<PostId, Arc<Post>>,
    timelines: Generations<AccountId, Arc<Timeline>>,
}

impl State {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Everything => {
                self.credentials.clear();
                self.agreement = None;
                self.accounts.clear();
                self.handles.clear();
                self.posts.clear();
                self.timelines.clear();
            }
            Change::Account(id) => self.accounts.remove(&id),
            Change::Post { id, author } => {
                self.posts.remove(&id);
                self.timelines.remove(&author);
            }
            Change::App(_) | Change::Key(_) => self.credentials.clear(),
            Change::Agreement => {
                self.agreement = None;
                // An app's agreement state is computed per request from the
                // latest agreement; credentials hold none of it.
            }
        }
    }
}

/// Counters for the metrics endpoint.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Changes applied from the log.
    pub changes: u64,
    /// The last change applied.
    pub applied: u64,
    pub accounts: u64,
    pub posts: u64,
    pub timelines: u64,
}

pub struct PlatformCache {
    store: Arc<dyn Store>,
    config: CacheConfig,
    state: RwLock<State>,
    /// One reader of the log at a time.
    syncing: Mutex<()>,
    hits: AtomicU64,
    misses: AtomicU64,
    changes: AtomicU64,
}

/// Changes read from the log at a time.
const CHANGE_BATCH: usize = 4096;

impl PlatformCache {
    /// An empty cache that follows the store's log from its current end.
    pub fn new(store: Arc<dyn Store>, config: CacheConfig) -> Result<PlatformCache> {
        let applied = store.change_seq()?;
        Ok(PlatformCache {
            state: RwLock::new(State {
                applied,
                credentials: HashMap::new(),
                agreement: None,
                accounts: Generations::new(config.accounts),
                handles: Generations::new(config.accounts),
                // Posts are held by id and in timelines: each gets half.
                posts: Generations::new(config.posts / 2),
                timelines: Generations::new(config.posts / 2),
            }),
            store,
            config,
            syncing: Mutex::new(()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            changes: AtomicU64::new(0),
        })
    }

    /// The store behind the cache, for what the cache does not hold (writes,
    /// search, the ledger).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies every change committed before this call. Call it once when a
    /// request starts, before anything else is read.
    pub fn sync(&self) -> Result<()> {
        let latest = self.store.change_seq()?;
        if latest <= self.read().applied {
            return Ok(());
        }
        let _one = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let applied = self.read().applied;
            if applied >= latest {
                return Ok(());
            }
            let batch = offload(|| self.store.changes_since(applied, CHANGE_BATCH))?;
            if batch.upto <= applied {
                // The log ends before `latest` said: nothing more to apply.
                return Ok(());
            }
            let mut state = self.write();
            for change in &batch.changes {
                state.apply(*change);
            }
            state.applied = batch.upto;
            self.changes.fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
        }
    }

    /// Runs `load` on a miss and keeps what it returns unless a change was
    /// applied meanwhile (`INVARIANT (cache-follows-log)`).
    fn load<T>(&self, load: impl FnOnce() -> Result<T>, keep: impl FnOnce(&mut State, &T)) -> Result<T> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        let began = self.read().applied;
        let value = offload(load)?;
        let mut state = self.write();
        if state.applied == began {
            keep(&mut state, &value);
        }
        Ok(value)
    }

    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The key of a bearer token's hash and its app; `None` if no key has
    /// that hash. Whether the key is usable now is the caller's to check.
    pub fn credentials(&self, hash: &str) -> Result<Option<Arc<Credentials>>> {
        if let Some(c) = self.read().credentials.get(hash) {
            self.hit();
            return Ok(Some(Arc::clone(c)));
        }
        // Unknown hashes are not remembered: guessing tokens must not fill
        // the cache.
        self.load(
            || {
                let Some(key) = self.store.key_by_hash(hash)? else { return Ok(None) };
                let app = self.store.app(key.app_id)?;
                Ok(Some(Arc::new(Credentials { key, app })))
            },
            |state, found| {
                if let Some(c) = found {
                    state.credentials.insert(hash.to_owned(), Arc::clone(c));
                }
            },
        )
    }

    pub fn latest_agreement(&self) -> Result<Option<Arc<Agreement>>> {
        if let Some(a) = &self.read().agreement {
            self.hit();
            return Ok(a.clone());
        }
        self.load(
            || Ok(self.store.latest_agreement()?.map(Arc::new)),
            |state, found| state.agreement = Some(found.clone()),
        )
    }

    pub fn account(&self, id: AccountId) -> Result<Option<Arc<Account>>> {
        Ok(self.accounts(&[id])?.into_iter().next())
    }

    /// The accounts that exist among `ids`, in no particular order, each once.
    pub fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Arc<Account>>> {
        self.by_ids(ids, |s| &s.accounts, |s| &mut s.accounts, |a| a.id, |missing| self.store.accounts(missing))
    }

    /// The account whose handle is `handle`, matched case-insensitively as
    /// on X (`Store::account_by_handle`). A handle seen before is answered
    /// from the cache: its hint names an account, read by id through the
    /// cache (which follows the log), kept only if it still has the handle;
    /// a renamed or removed account sends the question to the store. Unknown
    /// handles are not remembered: guessing handles must not fill the cache.
    pub fn account_by_handle(&self, handle: &str) -> Result<Option<Arc<Account>>> {
        let key = handle.to_ascii_lowercase();
        let hint = self.read().handles.get(&key).copied();
        if let Some(id) = hint
            && let Some(account) = self.account(id)?
            && account.handle.eq_ignore_ascii_case(handle)
        {
            return Ok(Some(account));
        }
        self.load(
            || Ok(self.store.account_by_handle(handle)?.map(Arc::new)),
            |state, found| {
                if let Some(account) = found {
                    state.handles.insert(key, account.id, 1);
                    state.accounts.insert(account.id, Arc::clone(account), 1);
                }
            },
        )
    }

    /// The posts that exist among `ids` (deleted ones included), in no
    /// particular order, each once.
    pub fn posts(&self, ids: &[PostId]) -> Result<Vec<Arc<Post>>> {
        self.by_ids(ids, |s| &s.posts, |s| &mut s.posts, |p| p.id, |missing| self.store.posts(missing))
    }

    /// The items among `ids` from the map `map` picks (`map_mut` for
    /// insertions), the missing ones read with `read` (distinct, ascending)
    /// and kept.
    fn by_ids<K, V>(
        &self,
        ids: &[K],
        map: fn(&State) -> &Generations<K, Arc<V>>,
        map_mut: fn(&mut State) -> &mut Generations<K, Arc<V>>,
        id: impl Fn(&V) -> K,
        read: impl FnOnce(&[K]) -> Result<Vec<V>>,
    ) -> Result<Vec<Arc<V>>>
    where
        K: Copy + Ord + std::hash::Hash,
    {
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let state = self.read();
            let held = map(&state);
            for key in ids {
                match held.get(key) {
                    Some(item) => found.push(Arc::clone(item)),
                    None => missing.push(*key),
                }
            }
        }
        dedup(&mut found, |item| id(item));
        if missing.is_empty() {
            self.hit();
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let loaded = self.load(
            || Ok(read(&missing)?.into_iter().map(Arc::new).collect::<Vec<_>>()),
            |state, loaded| {
                for item in loaded {
                    map_mut(state).insert(id(item), Arc::clone(item), 1);
                }
            },
        )?;
        found.extend(loaded);
        Ok(found)
    }

    /// An author's posts (deleted ones included), newest first: what
    /// `Store::timeline` returns, from the author's window when it holds the
    /// whole page.
    pub fn timeline(&self, author: AccountId, q: &TimelineQuery) -> Result<Vec<Arc<Post>>> {
        let cached = self.read().timelines.get(&author).cloned();
        let window = match cached {
            Some(window) => {
                self.hit();
                window
            }
            None => {
                let limit = self.config.timeline_window;
                let all = TimelineQuery { limit: limit + 1, ..TimelineQuery::default() };
                self.load(
                    || {
                        let mut posts: Vec<Arc<Post>> =
                            self.store.timeline(author, &all)?.into_iter().map(Arc::new).collect();
                        let complete = posts.len() <= limit;
                        posts.truncate(limit);
                        Ok(Arc::new(Timeline { posts, complete }))
                    },
                    |state, window| state.timelines.insert(author, Arc::clone(window), window.posts.len().max(1)),
                )?
            }
        };
        if let Some(page) = window.answer(q) {
            return Ok(page);
        }
        // Past the window: the store answers.
        self.misses.fetch_add(1, Ordering::Relaxed);
        offload(|| Ok(self.store.timeline(author, q)?.into_iter().map(Arc::new).collect()))
    }

    pub fn stats(&self) -> CacheStats {
        let state = self.read();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            applied: state.applied,
            accounts: state.accounts.len() as u64,
            posts: state.posts.weight() as u64,
            timelines: state.timelines.len() as u64,
        }
    }
}

/// Drops repeated items (by key), keeping the first.
fn dedup<T, K: Eq + std::hash::Hash>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    if items.len() < 2 {
        return;
    }
    let mut seen = tollgate_domain::IdSet::with_capacity_and_hasher(items.len(), Default::default());
    items.retain(|item| seen.insert(key(item)));
}

/// Runs a blocking store call. On a worker of a multi-threaded Tokio
/// runtime, the worker hands its other tasks to another thread first
/// (`block_in_place`), so a slow read never stalls requests queued behind it;
/// elsewhere (tests on a current-thread runtime, the CLI) it simply runs.
pub fn offload<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
