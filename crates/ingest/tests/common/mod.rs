//! Helpers shared by the integration tests: temporary directories, a fresh
//! SQLite store, small generated platforms and snapshots of a store's content.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_domain::{Account, AccountId, Post, PostId};
use tollgate_ingest::{GenerateOptions, GenerateSummary, demo_defaults, generate};
use tollgate_store::{Stats, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tollgate-ingest-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn open_store(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, &SqliteOptions::default()).unwrap()
}

pub fn small(seed: u64, accounts: u64, posts: u64) -> GenerateOptions {
    GenerateOptions { accounts, posts, seed, ..demo_defaults() }
}

pub fn generate_into(dir: &Path, options: &GenerateOptions) -> GenerateSummary {
    generate(options, dir).unwrap()
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

pub fn read_accounts(path: &Path) -> Vec<Account> {
    read_lines(path).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn read_posts(path: &Path) -> Vec<Post> {
    read_lines(path).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What a test compares to tell whether a store changed: its counts and a
/// sample of records, fetched back in a fixed order.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub stats: Stats,
    pub accounts: Vec<Account>,
    pub posts: Vec<Post>,
}

pub fn snapshot(store: &dyn Store, account_ids: &[AccountId], post_ids: &[PostId]) -> Snapshot {
    let mut accounts = store.accounts(account_ids).unwrap();
    accounts.sort_by_key(|a| a.id);
    let mut posts = store.posts(post_ids).unwrap();
    posts.sort_by_key(|p| p.id);
    Snapshot { stats: store.stats().unwrap(), accounts, posts }
}

/// Every 7th account and post id in the files, and a few that are not there.
pub fn sample_ids(accounts: &Path, posts: &Path) -> (Vec<AccountId>, Vec<PostId>) {
    let mut a: Vec<AccountId> = read_accounts(accounts).iter().step_by(7).map(|a| a.id).collect();
    let mut p: Vec<PostId> = read_posts(posts).iter().step_by(7).map(|p| p.id).collect();
    a.push(AccountId(1));
    p.push(PostId(1));
    (a, p)
}

/// Rewrites line `n` (1-based) of a file.
pub fn replace_line(path: &Path, n: usize, f: impl FnOnce(&str) -> String) {
    let mut lines = read_lines(path);
    lines[n - 1] = f(&lines[n - 1]);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}
