//! The store conformance suite, run against the SQLite backend.

mod common;

use common::Dir;

use tollgate_store_sqlite::{SqliteOptions, SqliteStore};

fn dir() -> Dir {
    common::dir("conformance")
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
