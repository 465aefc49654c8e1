//! The store conformance suite, run against the SQLite backend.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

/// A directory removed when dropped, for the reopen check.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir() -> Dir {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("tollgate-conformance-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    Dir(std::env::temp_dir().join(name))
}

/// Opens the same directory on every call; the directory goes with the opener.
fn opener() -> impl Fn() -> SqliteStore {
    let dir = dir();
    move || SqliteStore::open(&dir.0, &SqliteOptions::default()).expect("open the store")
}

tollgate_store::store_conformance_tests!(
    || SqliteStore::open_in_memory_for_tests().expect("open a temporary store"),
    reopen = opener,
);

/// A factory may hand out `Box<dyn Store>` as well as a concrete store.
#[test]
fn boxed_stores_run_the_checks_too() {
    let boxed: Box<dyn tollgate_store::Store> = Box::new(SqliteStore::open_in_memory_for_tests().unwrap());
    tollgate_store::conformance::account_round_trip(tollgate_store::conformance::AsStore::as_store(&boxed));
}
