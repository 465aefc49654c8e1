//! The compiled path's memory: for each distinct `AppFacts`, one slot per
//! (purpose, content class) holding the decision Cedar gave for it.
//!
//! A decision is a pure function of (app facts, purpose, post facts) and
//! `ContentClass` packs post facts losslessly, so a slot filled once is right
//! forever for the same engine. Slots are atomics: concurrent readers never
//! block, and two threads filling the same slot write the same value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tollgate_domain::{ContentClass, Purpose};

use crate::AppFacts;

/// Beyond this many distinct app facts the map is dropped and refilled; apps
/// are few, so only a churn of facts (or an attack on them) gets here.
pub(crate) const MAX_TABLES: usize = 4096;

/// An empty slot; any other value is an encoded `Decision` (see the engine).
pub(crate) const EMPTY: u16 = 0;

/// The decisions for one `AppFacts`: `Purpose::ALL.len()` rows of
/// `ContentClass::COUNT` slots. A row is allocated the first time its purpose
/// is asked for, so an app that only ever asks for `display` costs 16 KiB,
/// not 144 KiB, and a full map stays in the tens of megabytes.
pub(crate) struct Table {
    rows: [OnceLock<Row>; Purpose::ALL.len()],
}

/// The slots of one purpose, indexed by `ContentClass::index`.
pub(crate) struct Row {
    slots: Box<[AtomicU16]>,
}

impl Table {
    fn new() -> Table {
        Table { rows: std::array::from_fn(|_| OnceLock::new()) }
    }

    /// The row for `purpose`, allocated empty on first use.
    #[inline]
    pub(crate) fn row(&self, purpose: Purpose) -> &Row {
        // `Purpose::index` is the enum discriminant, below `Purpose::ALL.len()`.
        self.rows[purpose.index()]
            .get_or_init(|| Row { slots: (0..ContentClass::COUNT).map(|_| AtomicU16::new(EMPTY)).collect() })
    }
}

impl Row {
    /// `ContentClass::index` is below `ContentClass::COUNT`, the row's length.
    #[inline]
    pub(crate) fn get(&self, class: ContentClass) -> u16 {
        self.slots[class.index()].load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set(&self, class: ContentClass, code: u16) {
        self.slots[class.index()].store(code, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub(crate) struct DecisionCache {
    tables: RwLock<HashMap<AppFacts, Arc<Table>>>,
}

impl DecisionCache {
    /// The table for `app`, created empty on first use. Takes the read lock
    /// once; the write lock only the first time an `AppFacts` is seen.
    pub(crate) fn table(&self, app: &AppFacts) -> Arc<Table> {
        if let Some(t) = self.tables.read().unwrap_or_else(PoisonError::into_inner).get(app) {
            return Arc::clone(t);
        }
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if !tables.contains_key(app) && tables.len() >= MAX_TABLES {
            tables.clear();
        }
        Arc::clone(tables.entry(app.clone()).or_insert_with(|| Arc::new(Table::new())))
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}
