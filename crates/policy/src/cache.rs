//! The compiled path's memory: for each distinct `AppFacts`, one slot per
//! (purpose, content class) holding the decision Cedar gave for it.
//!
//! A decision is a pure function of (app facts, purpose, item facts) and
//! `ContentClass` packs the facts of a post or a profile losslessly, so a slot
//! filled once is right forever for the same engine. Slots are atomics:
//! concurrent readers never block, and two threads filling the same slot
//! write the same value.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
/// is asked for, so an app that only ever asks for `display` costs 20 KiB,
/// not 180 KiB, and a full map stays in the tens of megabytes.
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

/// The map from app facts to their table. Keys come from the app registry,
/// not from request input, so a fast non-keyed hash is safe here; SipHash
/// over an `AppFacts` would cost more than the rest of a cached decision.
type Tables = HashMap<AppFacts, Arc<Table>, BuildHasherDefault<FxHasher>>;

#[derive(Default)]
pub(crate) struct DecisionCache {
    tables: RwLock<Tables>,
}

impl DecisionCache {
    /// The cached code for (app, purpose, class), if there is one: the whole
    /// hit path of `decide`, under one read lock and without touching the
    /// table's reference count.
    #[inline]
    pub(crate) fn lookup(&self, app: &AppFacts, purpose: Purpose, class: ContentClass) -> Option<u16> {
        let tables = self.tables.read().unwrap_or_else(PoisonError::into_inner);
        let row = tables.get(app)?.rows[purpose.index()].get()?;
        Some(row.get(class)).filter(|code| *code != EMPTY)
    }

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

/// The multiply-rotate hash of rustc's `FxHasher`: a few instructions per
/// word, which is all a key of small integers needs.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut word = [0u8; 8];
        let rest = chunks.remainder();
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
