//! Sketches: the approximate counters behind the guard's in-process
//! `Counters` (`counters::LocalCounters`), sized once and never grown, so the
//! guard's memory does not depend on how many clients it sees.
//!
//! - `CountMin`: a Count-Min sketch with conservative update over fixed
//!   windows (two generations, current and previous), giving a sliding
//!   estimate. Each key's 4 cells lie in one 64-byte line and its two
//!   generations in adjacent lines (a "blocked" sketch): one add is one cache
//!   miss, which is what lets the guard count millions of events per second
//!   per core. The price is accuracy: a key sharing its line with a heavy
//!   one takes the heavy one's count when all its 4 cells are among the
//!   heavy one's, 1 chance in 1,820 (`COMBOS`), where a textbook sketch's
//!   rows would make that 1 in width^4. Estimates never undercount (except
//!   for the racy writes below); they overcount by the weight of colliding
//!   keys.
//! - `HllTable`: HyperLogLog counters (p = 10, 1024 registers, about 3 %
//!   standard error) in a fixed table of slots, claimed by the keys that ask
//!   and evicted smallest first, with a running sum so that an estimate is
//!   O(1).
//! - `FlagTable`: 32 bits of flags per key and window in a fixed table of
//!   one-word entries (a tag and the bits), for "has this actor ever...".
//! - `ValueTable`: one 64-bit value per key, under sharded locks, for the
//!   few read-modify-write states (last id asked, quota streaks).
//!
//! Writes are relaxed and some are racy by design (a load then a store): two
//! threads adding to one cell at once may lose one of the adds. A sketch
//! already approximates; a lost add is one request out of many, and no lock
//! or read-modify-write instruction on the hot path is worth that much. The
//! one lock of a sketch is taken when a window begins, to clear the
//! generation it reuses.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use prefetch_index::prefetch_index;

const RELAXED: Ordering = Ordering::Relaxed;

/// A 64-bit mixer (the SplitMix64 finalizer): keys are spread over the
/// sketches by it, seeded per process so that nobody can aim collisions at
/// another client's counters.
pub const fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Two values mixed into one hash, order-sensitive.
pub fn mix2(a: u64, b: u64) -> u64 {
    mix(a ^ salt(b))
}

/// What `mix2` mixes its second value into: for small constants (a
/// namespace, a window), `SALTS` has it ready.
pub const fn salt(b: u64) -> u64 {
    mix(b).rotate_left(23)
}

/// `salt` of 0 to 63.
pub static SALTS: [u64; 64] = {
    let mut out = [0; 64];
    let mut i = 0;
    while i < 64 {
        out[i] = salt(i as u64);
        i += 1;
    }
    out
};

/// Bytes hashed (FNV-1a, then mixed): for names, where there are no ids.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// Cells in a line: 16 `u32`, one line of 64 bytes; a key counts in 4 of
/// them.
const LINE: usize = 16;
const KEY_CELLS: usize = 4;

/// The ways of choosing 4 distinct cells of 16.
const COMBOS_LEN: usize = 1_820;

/// How far apart in `COMBOS` the keys of one group take their cells: far,
/// and never a multiple of `COMBOS_LEN` for offsets up to 7.
const COMBO_STRIDE: usize = 607;

/// Every set of 4 distinct cells of a line. A key's cells are one of them:
/// a key whose line holds a heavy one is overestimated only when all four
/// of its cells are among the heavy key's, 1 chance in 1,820 (rows of 4
/// cells each, the textbook layout squeezed into a line, would make it 1 in
/// 256).
static COMBOS: [[u8; KEY_CELLS]; COMBOS_LEN] = combos();

const fn combos() -> [[u8; KEY_CELLS]; COMBOS_LEN] {
    let mut out = [[0u8; KEY_CELLS]; COMBOS_LEN];
    let mut n = 0;
    let mut a = 0;
    while a < LINE {
        let mut b = a + 1;
        while b < LINE {
            let mut c = b + 1;
            while c < LINE {
                let mut d = c + 1;
                while d < LINE {
                    out[n] = [a as u8, b as u8, c as u8, d as u8];
                    n += 1;
                    d += 1;
                }
                c += 1;
            }
            b += 1;
        }
        a += 1;
    }
    out
}

/// The 4 cells of `h` in its line (`CountMin::cells_of`).
fn cells_in_line(h: u64) -> &'static [u8; KEY_CELLS] {
    let off = (h >> 32) as usize & 7;
    &COMBOS[((h >> 40) as usize + off * COMBO_STRIDE) % COMBOS_LEN]
}

/// A key's block: its line of each generation. Aligned to the pair of
/// cache lines it fills, so that each generation's cells are one cache line
/// (an allocator's alignment for `u32` cells would split most lines over
/// two) and the processor's fetch of a line's pair brings the other.
#[repr(C, align(128))]
struct Block([[AtomicU32; LINE]; 2]);

/// A windowed Count-Min sketch with conservative update: `lines` blocks of
/// two lines (current and previous generation) of 16 `u32` cells.
pub struct CountMin {
    window_secs: u64,
    mask: usize,
    blocks: Box<[Block]>,
    /// The window index (+ 1; 0 is "never") each generation counts.
    gens: [AtomicU64; 2],
    rotating: Mutex<()>,
}

impl CountMin {
    /// A sketch of `2^lines_log2` blocks (128 bytes each) over windows of
    /// `window_secs`.
    pub fn new(window_secs: u64, lines_log2: u32) -> CountMin {
        let lines = 1usize << lines_log2.min(31);
        CountMin {
            window_secs: window_secs.max(1),
            mask: lines - 1,
            blocks: (0..lines).map(|_| Block(Default::default())).collect(),
            gens: [AtomicU64::new(0), AtomicU64::new(0)],
            rotating: Mutex::new(()),
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.blocks)
    }

    /// Makes the generation of window `idx` count that window; false when
    /// it already counts a later one (a late event, not counted).
    fn ensure(&self, idx: u64) -> bool {
        let g = (idx & 1) as usize;
        let held = self.gens[g].load(Ordering::Acquire);
        if held == idx + 1 {
            return true;
        }
        if held > idx + 1 {
            return false;
        }
        // INVARIANT (one-rotation): only the thread holding `rotating`
        // clears a generation, and it marks it as counting the new window
        // only once cleared; the other threads reaching the new window wait
        // for it (once per window and sketch, a fraction of a millisecond)
        // rather than count into cells about to be cleared.
        let _guard = self.rotating.lock().unwrap_or_else(|e| e.into_inner());
        if self.gens[g].load(Ordering::Acquire) < idx + 1 {
            for block in self.blocks.iter() {
                for cell in &block.0[g] {
                    cell.store(0, RELAXED);
                }
            }
            self.gens[g].store(idx + 1, Ordering::Release);
        }
        self.gens[g].load(Ordering::Acquire) == idx + 1
    }

    /// The cells of `h`: its line from its low 32 bits, its 4 cells of the
    /// line from bits 40 and up (`COMBOS`), the choice moved on by the
    /// offset in bits 32 to 34. Keys of one group share a line and differ
    /// only in their offsets (0, 1, 2): each takes another set of 4 cells,
    /// so no two of them share all their cells, and they share no more than
    /// any two keys of one line do. (Turning one set by the offset instead
    /// would keep three of its four cells: a group's small counter would
    /// read as its large one.)
    fn cells_of(&self, h: u64, g: usize) -> [&AtomicU32; KEY_CELLS] {
        let line = &self.blocks[h as u32 as usize & self.mask].0[g];
        let combo = cells_in_line(h);
        std::array::from_fn(|i| &line[combo[i] as usize])
    }

    /// Asks for the cache lines of `h` ahead of an `add`: a prefetch hint,
    /// which neither waits for the lines nor holds the processor's reorder
    /// window while they come, so that the lines of several keys are in
    /// flight together and the work between overlaps them.
    pub fn touch(&self, h: u64) {
        let block = &self.blocks[h as u32 as usize & self.mask].0;
        prefetch_index(block, 0);
        prefetch_index(block, 1);
    }

    /// Adds `n` to `h` in the window of `now_secs`, and returns the sliding
    /// estimate: the current window's count plus the previous window's,
    /// weighted by the share of the previous window still inside the last
    /// `window_secs`.
    pub fn add(&self, h: u64, now_secs: u64, n: u32) -> u32 {
        // The usual windows by constants, so that the divisions below are
        // multiplications: they were a third of the time of an add.
        match self.window_secs {
            60 => self.add_in(60, h, now_secs, n),
            3_600 => self.add_in(3_600, h, now_secs, n),
            86_400 => self.add_in(86_400, h, now_secs, n),
            w => self.add_in(w, h, now_secs, n),
        }
    }

    #[inline(always)]
    fn add_in(&self, window_secs: u64, h: u64, now_secs: u64, n: u32) -> u32 {
        let idx = now_secs / window_secs;
        if !self.ensure(idx) {
            return 0;
        }
        let g = (idx & 1) as usize;
        let cur = self.cells_of(h, g);
        let min = cur.iter().map(|c| c.load(RELAXED)).min().unwrap_or(0);
        let target = min.saturating_add(n);
        if n > 0 {
            // Conservative update: raise each cell only to the new minimum.
            for c in cur {
                if c.load(RELAXED) < target {
                    c.store(target, RELAXED);
                }
            }
        }
        let prev = if idx > 0 && self.gens[1 - g].load(Ordering::Acquire) == idx {
            self.cells_of(h, 1 - g).iter().map(|c| c.load(RELAXED)).min().unwrap_or(0)
        } else {
            0
        };
        let left = window_secs - now_secs % window_secs;
        let weighted = u64::from(prev) * left / window_secs;
        target.saturating_add(weighted.min(u64::from(u32::MAX)) as u32)
    }
}

/// HyperLogLog precision: 2^10 registers.
pub const HLL_P: u32 = 10;
const HLL_M: usize = 1 << HLL_P;
/// The fixed point of the running sum of 2^-register.
const ONE: u64 = 1 << 32;

struct HllSlot {
    /// The key and window it counts (0: free).
    tag: AtomicU64,
    window: AtomicU64,
    /// The sum of 2^(32 - register) over the registers, kept as they change.
    sum: AtomicU64,
    zeros: AtomicU32,
    regs: Box<[AtomicU8]>,
}

impl HllSlot {
    fn reset(&self, window: u64) {
        for r in self.regs.iter() {
            r.store(0, RELAXED);
        }
        self.sum.store(HLL_M as u64 * ONE, RELAXED);
        self.zeros.store(HLL_M as u32, RELAXED);
        self.window.store(window, RELAXED);
    }

    fn estimate(&self) -> u32 {
        let m = HLL_M as f64;
        let sum = self.sum.load(RELAXED).max(1) as f64 / ONE as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let zeros = self.zeros.load(RELAXED);
        let e = if raw <= 2.5 * m && zeros > 0 { m * (m / f64::from(zeros)).ln() } else { raw };
        e.round().min(f64::from(u32::MAX)) as u32
    }
}

/// A fixed table of HyperLogLog counters, one per (key, window) that asks,
/// each key in one of two slots; a key finding both taken by live keys
/// evicts the one with the smaller estimate.
pub struct HllTable {
    slots: Box<[HllSlot]>,
    mask: usize,
}

impl HllTable {
    pub fn new(slots_log2: u32) -> HllTable {
        let n = 1usize << slots_log2;
        let slots = (0..n)
            .map(|_| HllSlot {
                tag: AtomicU64::new(0),
                window: AtomicU64::new(0),
                sum: AtomicU64::new(HLL_M as u64 * ONE),
                zeros: AtomicU32::new(HLL_M as u32),
                regs: (0..HLL_M).map(|_| AtomicU8::new(0)).collect(),
            })
            .collect();
        HllTable { slots, mask: n - 1 }
    }

    pub fn bytes(&self) -> usize {
        self.slots.len() * (HLL_M + std::mem::size_of::<HllSlot>())
    }

    fn slot(&self, key: u64, window: u64) -> Option<&HllSlot> {
        let tag = mix2(key, window) | 1;
        let a = &self.slots[key as usize & self.mask];
        let b = &self.slots[(key >> 32) as usize & self.mask];
        for s in [a, b] {
            if s.tag.load(Ordering::Acquire) == tag {
                return Some(s);
            }
        }
        // Free or stale first, then the smaller count.
        let rank = |s: &HllSlot| {
            let t = s.tag.load(RELAXED);
            if t == 0 || s.window.load(RELAXED) < window { 0 } else { u64::from(s.estimate()) + 1 }
        };
        let victim = if rank(a) <= rank(b) { a } else { b };
        let old = victim.tag.load(RELAXED);
        if victim.tag.compare_exchange(old, tag, Ordering::AcqRel, RELAXED).is_ok() {
            victim.reset(window);
            return Some(victim);
        }
        (victim.tag.load(Ordering::Acquire) == tag).then_some(victim)
    }

    /// Adds `item` (a hash) to the distinct count of `key` in `window`, and
    /// returns the estimate.
    pub fn add(&self, key: u64, window: u64, item: u64) -> u32 {
        self.add_many(key, window, &mut std::iter::once(item))
    }

    /// Adds `items` (hashes) to the distinct count of `key` in `window`,
    /// and returns the estimate: one slot lookup and one estimate for all.
    pub fn add_many(&self, key: u64, window: u64, items: &mut dyn Iterator<Item = u64>) -> u32 {
        let Some(slot) = self.slot(key, window) else { return 0 };
        for item in items {
            let j = (item >> (64 - HLL_P)) as usize;
            let rank = (((item << HLL_P) | (1 << (HLL_P - 1))).leading_zeros() as u8 + 1).min(31);
            let reg = &slot.regs[j];
            if reg.load(RELAXED) < rank {
                let old = reg.fetch_max(rank, RELAXED);
                if old < rank {
                    slot.sum.fetch_sub((ONE >> old) - (ONE >> rank), RELAXED);
                    if old == 0 {
                        slot.zeros.fetch_sub(1, RELAXED);
                    }
                }
            }
        }
        slot.estimate()
    }
}

const BUCKET: usize = 8;

/// Flags per (key, window), one word each: a 32-bit tag and 32 bits.
/// Buckets of 8 words, one cache line; a full bucket loses a pseudo-random
/// entry, so under pressure a flag may be forgotten (never invented, but for
/// a tag collision: 2^-32 per lookup).
pub struct FlagTable {
    buckets: Box<[Bucket]>,
    mask: usize,
}

/// A bucket, aligned to the cache line it fills.
#[repr(C, align(64))]
struct Bucket([AtomicU64; BUCKET]);

impl FlagTable {
    pub fn new(buckets_log2: u32) -> FlagTable {
        let n = 1usize << buckets_log2;
        FlagTable { buckets: (0..n).map(|_| Bucket(Default::default())).collect(), mask: n - 1 }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    fn bucket(&self, key: u64) -> &[AtomicU64] {
        &self.buckets[key as usize & self.mask].0
    }

    fn tag(h: u64) -> u64 {
        ((h >> 32) | 1) << 32
    }

    /// Asks for the bucket of `key` ahead of use (see `CountMin::touch`).
    pub fn touch(&self, key: u64) {
        prefetch_index(&*self.buckets, key as usize & self.mask);
    }

    /// The flags of `key` under the tags `a` and `b` (hashes of the key and
    /// two windows), or-ed: one bucket holds all windows of a key, so that
    /// this is one cache line.
    pub fn get(&self, key: u64, a: u64, b: u64) -> u32 {
        let (a, b) = (Self::tag(a), Self::tag(b));
        let mut flags = 0;
        for w in self.bucket(key) {
            let v = w.load(RELAXED);
            let t = v & !0xffff_ffff;
            if t == a || t == b {
                flags |= v as u32;
            }
        }
        flags
    }

    /// Sets `bits` in the flags of `key` under tag `h`, and returns the
    /// flags as they were.
    pub fn set(&self, key: u64, h: u64, bits: u32) -> u32 {
        let bucket = self.bucket(key);
        let tag = Self::tag(h);
        for w in bucket {
            let v = w.load(RELAXED);
            if v & !0xffff_ffff == tag {
                if !(v as u32) & bits != 0 {
                    w.fetch_or(u64::from(bits), RELAXED);
                }
                return v as u32;
            }
        }
        if bits == 0 {
            return 0;
        }
        let word = tag | u64::from(bits);
        for w in bucket {
            if w.load(RELAXED) == 0 && w.compare_exchange(0, word, RELAXED, RELAXED).is_ok() {
                return 0;
            }
        }
        bucket[(h >> 8) as usize % BUCKET].store(word, RELAXED);
        0
    }
}

/// One 64-bit value per key, in shards of open-addressed entries under a
/// lock each (uncontended: one shard per key hash). A full probe loses the
/// oldest-placed entry of the probe.
pub struct ValueTable {
    shards: Box<[Shard]>,
    shard_mask: usize,
    entry_mask: usize,
}

const PROBE: usize = 4;

/// A shard of a `ValueTable`: (tag, value) entries, tag 0 free.
type Shard = Mutex<Box<[(u64, u64)]>>;

impl ValueTable {
    pub fn new(shards_log2: u32, entries_log2: u32) -> ValueTable {
        let entries = 1usize << entries_log2;
        ValueTable {
            shards: (0..1usize << shards_log2)
                .map(|_| Mutex::new(vec![(0u64, 0u64); entries].into_boxed_slice()))
                .collect(),
            shard_mask: (1 << shards_log2) - 1,
            entry_mask: entries - 1,
        }
    }

    pub fn bytes(&self) -> usize {
        self.shards.len() * (self.entry_mask + 1) * 16
    }

    /// Replaces the value of `h` by `f(old)`, and returns the old value.
    pub fn update(&self, h: u64, f: impl FnOnce(Option<u64>) -> u64) -> Option<u64> {
        let tag = h | 1;
        let mut shard = self.shards[(h >> 48) as usize & self.shard_mask].lock().unwrap_or_else(|e| e.into_inner());
        let start = h as usize & self.entry_mask;
        let mut free = None;
        for i in 0..PROBE {
            let at = (start + i) & self.entry_mask;
            if shard[at].0 == tag {
                let old = shard[at].1;
                shard[at].1 = f(Some(old));
                return Some(old);
            }
            if shard[at].0 == 0 && free.is_none() {
                free = Some(at);
            }
        }
        let at = free.unwrap_or(start);
        shard[at] = (tag, f(None));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_min_counts_and_slides() {
        let cm = CountMin::new(60, 8);
        assert_eq!(cm.add(mix(1), 600, 5), 5);
        assert_eq!(cm.add(mix(1), 630, 5), 10);
        assert_eq!(cm.add(mix(2), 630, 1), 1, "another key is counted on its own");
        // Half-way through the next window, half of the previous one counts.
        assert_eq!(cm.add(mix(1), 690, 1), 1 + 5);
        // Two windows on, nothing of it is left.
        assert_eq!(cm.add(mix(1), 780, 0), 0);
        // A late event of a window already cleared is not counted.
        assert_eq!(cm.add(mix(1), 840, 1), 1);
        assert_eq!(cm.add(mix(1), 600, 1), 0);
    }

    #[test]
    fn combos_are_distinct_cells() {
        for c in COMBOS.iter() {
            assert!(c.windows(2).all(|w| w[0] < w[1]) && c[3] < LINE as u8, "{c:?}");
        }
        assert_eq!(COMBOS[COMBOS_LEN - 1], [12, 13, 14, 15]);
        for off in 1..8 {
            assert_ne!(off * COMBO_STRIDE % COMBOS_LEN, 0);
        }
    }

    #[test]
    fn keys_of_one_group_share_cells_no_more_than_any_two_keys() {
        // Over every choice of cells, the keys of one group (offsets 0, 1,
        // 2) have on average about one cell in common, as two keys at
        // random do (4 x 4 / 16), and never all four.
        for off in 1..3u64 {
            let mut shared = 0;
            for combo in 0..COMBOS_LEN as u64 {
                let a = cells_in_line(combo << 40);
                let b = cells_in_line((combo << 40) | (off << 32));
                let n = a.iter().filter(|c| b.contains(c)).count();
                assert!(n < 4, "combo {combo}");
                shared += n;
            }
            let mean = shared as f64 / COMBOS_LEN as f64;
            assert!(mean < 1.5, "offset {off}: {mean} cells in common on average");
        }
    }

    #[test]
    fn count_min_never_undercounts_under_load() {
        let cm = CountMin::new(60, 10);
        for k in 0..20_000u64 {
            cm.add(mix(k), 0, 1);
        }
        let heavy = cm.add(mix(7), 0, 500);
        assert!((501..=530).contains(&heavy), "{heavy}");
    }

    #[test]
    fn hll_estimates_distinct_items() {
        let t = HllTable::new(4);
        let mut e = 0;
        for i in 0..50_000u64 {
            e = t.add(mix(9), 3, mix(i));
            t.add(mix(9), 3, mix(i % 10));
        }
        assert!((47_000..53_000).contains(&e), "{e}");
        assert_eq!(t.add(mix(9), 4, mix(1)), 1, "a new window starts empty");
        let mut small = 0;
        for i in 0..100u64 {
            small = t.add(mix(10), 4, mix(i));
        }
        assert!((90..=110).contains(&small), "{small}");
    }

    #[test]
    fn flags_are_kept_per_key() {
        let f = FlagTable::new(2);
        assert_eq!(f.set(mix(1), mix(10), 0b01), 0);
        assert_eq!(f.set(mix(1), mix(10), 0b10), 0b01);
        assert_eq!(f.set(mix(1), mix(11), 0b100), 0);
        assert_eq!(f.get(mix(1), mix(10), mix(12)), 0b11);
        assert_eq!(f.get(mix(1), mix(10), mix(11)), 0b111);
        assert_eq!(f.get(mix(2), mix(20), mix(21)), 0);
    }

    #[test]
    fn values_update_in_place() {
        let v = ValueTable::new(2, 4);
        assert_eq!(v.update(mix(1), |_| 7), None);
        assert_eq!(v.update(mix(1), |old| old.unwrap() + 1), Some(7));
        assert_eq!(v.update(mix(1), |old| old.unwrap()), Some(8));
    }
}
