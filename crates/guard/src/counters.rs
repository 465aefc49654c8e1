//! Counters that every node of a deployment must share: request counts per
//! window, distinct counts, flags and small states, keyed by 64-bit hashes in
//! namespaces.
//!
//! `Counters` is the seam between the guard's rules (`signals`) and where the
//! counts live. `LocalCounters` keeps them in this process, in sketches of a
//! fixed size (`sketch`). A shared implementation (Redis) fits the same
//! trait: a key is `tg:{namespace}:{window}:{window index}:{id}`; `add` is
//! `INCRBY` with an expiry of two windows (the previous window is read for the
//! sliding estimate), `add_many` a pipeline of them, `add_distinct` is
//! `PFADD` + `PFCOUNT`, `mark` is an `OR` of bits (`BITFIELD`) with an expiry,
//! and `swap` and `streak` are `GETSET` and a short script. Time is a
//! parameter of every call, never read here, so that tests are exact and
//! nodes agree on windows. `conformance` is the suite every implementation
//! runs.

use crate::sketch::{CountMin, FlagTable, HllTable, SALTS, ValueTable, mix, mix2};

/// A fixed counting window. Estimates of `add` slide over the last window's
/// length; distinct counts and flags are per fixed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    pub fn secs(self) -> u64 {
        match self {
            Window::Minute => 60,
            Window::Hour => 3_600,
            Window::Day => 86_400,
        }
    }

    /// The window's index: windows start at multiples of their length since
    /// the Unix epoch, so every node agrees on them.
    pub fn index(self, now_secs: u64) -> u64 {
        now_secs / self.secs()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Minute => "m",
            Window::Hour => "h",
            Window::Day => "d",
        }
    }
}

/// What a counter counts. Its number is part of every key's hash (and the
/// name part of a shared store's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Ns {
    /// Requests per API key, address, prefix, autonomous system, actor.
    Key = 1,
    Ip,
    Prefix,
    Asn,
    Actor,
    /// Requests per fingerprint that could have sent a cookie back, and
    /// those that did.
    FpRequests,
    FpCookies,
    /// Flags per actor and per key (`signals::flag`).
    ActorFlags,
    KeyFlags,
    /// Posts served per actor, the ones few others asked for, and requests
    /// per post.
    Served,
    Tail,
    PostReads,
    /// Distinct posts and authors per actor.
    DistinctPosts,
    DistinctAuthors,
    /// Ids asked by id, those that did not exist, small steps between
    /// successive ids, and steps going on in the direction of the step
    /// before, per actor; the last id asked.
    Asked,
    Misses,
    WalkSteps,
    WalkLast,
    /// First sight of a fingerprint on an address (without cookie).
    FpIpSeen,
    /// First sight of a (key, prefix), and networks per key.
    KeyNetSeen,
    KeyNets,
    /// First sight of a (app, key), and keys per app.
    AppKeySeen,
    AppKeys,
    /// First sight of an (app, fingerprint + prefix), and apps per group.
    GroupAppSeen,
    GroupApps,
    /// First sight of an app walking ids from a group, and walking apps
    /// per group.
    GroupWalkerSeen,
    GroupWalkers,
    /// A key's days near its quota.
    QuotaStreak,
    /// Steps between successive ids that go on in the direction of the
    /// step before (a walk in order, however far apart the ids).
    WalkOnward,
    /// Requests per fingerprint on one address that could have sent a
    /// cookie back, and those that did.
    FpIpRequests,
    FpIpCookies,
}

impl Ns {
    /// First sights, kept apart from the actors' flags: there are many
    /// more of them, and they must not push those out.
    pub fn is_sight(self) -> bool {
        matches!(self, Ns::FpIpSeen | Ns::KeyNetSeen | Ns::AppKeySeen | Ns::GroupAppSeen | Ns::GroupWalkerSeen)
    }

    /// The namespace's group and its place in it: counters of one id in
    /// one group are counted in one cache line of a sketch (and never in
    /// the same cell), since they are always counted together.
    pub fn group(self) -> (Ns, u8) {
        match self {
            Ns::FpCookies => (Ns::FpRequests, 1),
            Ns::Tail => (Ns::Served, 1),
            Ns::Misses => (Ns::Asked, 1),
            Ns::WalkSteps => (Ns::Asked, 2),
            Ns::WalkOnward => (Ns::Asked, 3),
            Ns::FpIpCookies => (Ns::FpIpRequests, 1),
            ns => (ns, 0),
        }
    }
}

/// A counter's key: a namespace and a 64-bit id (an id, or a hash of
/// several).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub ns: Ns,
    pub id: u64,
}

impl CounterKey {
    pub fn new(ns: Ns, id: u64) -> CounterKey {
        CounterKey { ns, id }
    }
}

/// Counters shared by the nodes of a deployment. Every estimate may
/// overcount a little (sketches) and a shared store may lag; no rule may
/// depend on exactness.
pub trait Counters: Send + Sync {
    /// Adds `n` to `key` in the window of `now_secs` and returns the sliding
    /// estimate over the last window's length (`n = 0` reads).
    fn add(&self, key: CounterKey, window: Window, now_secs: u64, n: u32) -> u32;

    /// `add` for several keys at once (one round trip to a shared store),
    /// the estimates in `out`, in order.
    fn add_many(&self, adds: &[(CounterKey, u32)], window: Window, now_secs: u64, out: &mut [u32]) {
        for ((key, n), o) in adds.iter().zip(out.iter_mut()) {
            *o = self.add(*key, window, now_secs, *n);
        }
    }

    /// A hint that `key` is about to be counted in `window`: an in-process
    /// implementation asks for its memory now (a prefetch, which does not
    /// wait), so that the misses of several keys overlap with each other
    /// and with the work before the counts; a shared store ignores it.
    fn prefetch(&self, _key: CounterKey, _window: Window, _now_secs: u64) {}

    /// The same hint for `mark` and `marked`.
    fn prefetch_flags(&self, _key: CounterKey, _window: Window, _now_secs: u64) {}

    /// `prefetch` of several counters at once: a request's hints issued
    /// together, so that their misses are in flight together.
    fn prefetch_many(&self, keys: &[(CounterKey, Window)], now_secs: u64) {
        for &(key, window) in keys {
            self.prefetch(key, window, now_secs);
        }
    }

    /// Adds `item` (a hash) to the distinct items of `key` in the fixed
    /// window of `now_secs`, and returns the estimated number of them.
    fn add_distinct(&self, key: CounterKey, window: Window, now_secs: u64, item: u64) -> u32;

    /// `add_distinct` of several items at once, returning the estimate
    /// after the last (one round trip, one estimate).
    fn add_distinct_many(
        &self,
        key: CounterKey,
        window: Window,
        now_secs: u64,
        items: &mut dyn Iterator<Item = u64>,
    ) -> u32 {
        let mut estimate = 0;
        for item in items {
            estimate = self.add_distinct(key, window, now_secs, item);
        }
        estimate
    }

    /// Sets `bits` in the flags of `key` for the fixed window of `now_secs`,
    /// and returns that window's flags as they were before.
    fn mark(&self, key: CounterKey, window: Window, now_secs: u64, bits: u32) -> u32;

    /// The flags of `key` in the window of `now_secs` and the one before.
    fn marked(&self, key: CounterKey, window: Window, now_secs: u64) -> u32;

    /// Stores `value` for `key` and returns the value it had.
    fn swap(&self, key: CounterKey, value: u64) -> Option<u64>;

    /// Records that `key` qualified in `period` (a day number, say) and
    /// returns the number of consecutive periods, ending with this one, in
    /// which it qualified.
    fn streak(&self, key: CounterKey, period: u32) -> u32;
}

/// Sizes of the in-process counters. Memory is fixed by these alone, not by
/// the number of clients: see `LocalCounters::bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSizes {
    /// Count-Min blocks (128 bytes each) per window: 2^16 is 8 MiB a
    /// window, 24 MiB for the three.
    pub sketch_lines_log2: u32,
    /// HyperLogLog slots (1 KiB each): 2^12 is 4 MiB.
    pub distinct_slots_log2: u32,
    /// Flag buckets (64 bytes each, 8 entries: a key's entries of all its
    /// windows share its bucket): 2^16 is 4 MiB.
    pub flag_buckets_log2: u32,
    /// Buckets of first sights (`Ns::is_sight`), as flags: 2^16 is 4 MiB.
    pub sight_buckets_log2: u32,
    /// Value entries (16 bytes each): 2^16 is 1 MiB.
    pub value_entries_log2: u32,
}

impl Default for LocalSizes {
    fn default() -> LocalSizes {
        LocalSizes {
            sketch_lines_log2: 16,
            distinct_slots_log2: 12,
            flag_buckets_log2: 16,
            sight_buckets_log2: 16,
            value_entries_log2: 16,
        }
    }
}

/// The counters of one process: sketches of fixed size (about 37 MiB with
/// the default sizes, whatever the number of clients).
pub struct LocalCounters {
    seed: u64,
    minute: CountMin,
    hour: CountMin,
    day: CountMin,
    distinct: HllTable,
    flags: FlagTable,
    sights: FlagTable,
    values: ValueTable,
}

const VALUE_SHARDS_LOG2: u32 = 8;

impl LocalCounters {
    /// Counters of the given sizes; `seed` spreads keys (derive it from a
    /// secret so that clients cannot aim collisions at others' counters).
    pub fn new(sizes: LocalSizes, seed: u64) -> LocalCounters {
        LocalCounters {
            seed,
            minute: CountMin::new(60, sizes.sketch_lines_log2),
            hour: CountMin::new(3_600, sizes.sketch_lines_log2),
            day: CountMin::new(86_400, sizes.sketch_lines_log2),
            distinct: HllTable::new(sizes.distinct_slots_log2),
            flags: FlagTable::new(sizes.flag_buckets_log2),
            sights: FlagTable::new(sizes.sight_buckets_log2),
            values: ValueTable::new(VALUE_SHARDS_LOG2, sizes.value_entries_log2.saturating_sub(VALUE_SHARDS_LOG2)),
        }
    }

    /// The memory the counters hold, in bytes.
    pub fn bytes(&self) -> usize {
        self.minute.bytes()
            + self.hour.bytes()
            + self.day.bytes()
            + self.distinct.bytes()
            + self.flags.bytes()
            + self.sights.bytes()
            + self.values.bytes()
    }

    fn hash(&self, key: CounterKey) -> u64 {
        // mix2(id ^ seed, ns), the namespace's salt from the table.
        mix(key.id ^ self.seed ^ SALTS[key.ns as usize])
    }

    /// A key's hash in a sketch: its group's line and cells, turned by its
    /// place in the group (`CountMin::cells_of`).
    fn sketch_hash(&self, key: CounterKey) -> u64 {
        let (group, place) = key.ns.group();
        let h = mix(key.id ^ self.seed ^ SALTS[group as usize]);
        (h & !(0xff << 32)) | (u64::from(place) << 32)
    }

    fn flag_table(&self, ns: Ns) -> &FlagTable {
        if ns.is_sight() { &self.sights } else { &self.flags }
    }

    fn sketch(&self, window: Window) -> &CountMin {
        match window {
            Window::Minute => &self.minute,
            Window::Hour => &self.hour,
            Window::Day => &self.day,
        }
    }

    /// A key's bucket in the flag table (the same for all its windows) and
    /// its tag for window `idx`.
    fn flag_hashes(&self, key: CounterKey, window: Window, idx: u64) -> (u64, u64) {
        let h = self.hash(key);
        (mix(h ^ SALTS[window as usize]), mix2(h, idx.wrapping_mul(4) + window as u64))
    }
}

impl Counters for LocalCounters {
    fn add(&self, key: CounterKey, window: Window, now_secs: u64, n: u32) -> u32 {
        self.sketch(window).add(self.sketch_hash(key), now_secs, n)
    }

    fn add_many(&self, adds: &[(CounterKey, u32)], window: Window, now_secs: u64, out: &mut [u32]) {
        let sketch = self.sketch(window);
        for (key, _) in adds {
            sketch.touch(self.sketch_hash(*key));
        }
        for ((key, n), o) in adds.iter().zip(out.iter_mut()) {
            *o = sketch.add(self.sketch_hash(*key), now_secs, *n);
        }
    }

    fn prefetch(&self, key: CounterKey, window: Window, _now_secs: u64) {
        self.sketch(window).touch(self.sketch_hash(key));
    }

    fn prefetch_flags(&self, key: CounterKey, window: Window, now_secs: u64) {
        let (bucket, _) = self.flag_hashes(key, window, window.index(now_secs));
        self.flag_table(key.ns).touch(bucket);
    }

    fn add_distinct(&self, key: CounterKey, window: Window, now_secs: u64, item: u64) -> u32 {
        let idx = window.index(now_secs) * 4 + window as u64;
        self.distinct.add(self.hash(key), idx, mix(item ^ self.seed))
    }

    fn add_distinct_many(
        &self,
        key: CounterKey,
        window: Window,
        now_secs: u64,
        items: &mut dyn Iterator<Item = u64>,
    ) -> u32 {
        let idx = window.index(now_secs) * 4 + window as u64;
        let seed = self.seed;
        self.distinct.add_many(self.hash(key), idx, &mut items.map(|i| mix(i ^ seed)))
    }

    fn mark(&self, key: CounterKey, window: Window, now_secs: u64, bits: u32) -> u32 {
        let (bucket, tag) = self.flag_hashes(key, window, window.index(now_secs));
        self.flag_table(key.ns).set(bucket, tag, bits)
    }

    fn marked(&self, key: CounterKey, window: Window, now_secs: u64) -> u32 {
        let idx = window.index(now_secs);
        let (bucket, cur) = self.flag_hashes(key, window, idx);
        // Window 0 has no previous one; its own tag stands in.
        let (_, prev) = self.flag_hashes(key, window, idx.saturating_sub(1));
        self.flag_table(key.ns).get(bucket, cur, prev)
    }

    fn swap(&self, key: CounterKey, value: u64) -> Option<u64> {
        self.values.update(self.hash(key), |_| value)
    }

    fn streak(&self, key: CounterKey, period: u32) -> u32 {
        // The value: the last period that qualified (high half) and the
        // streak ending with it (low half).
        let old = self.values.update(self.hash(key), |old| {
            let (last, run) = old.map_or((0, 0), |v| ((v >> 32) as u32, v as u32));
            let run = if old.is_some() && last == period {
                run
            } else if old.is_some() && last.wrapping_add(1) == period {
                run + 1
            } else {
                1
            };
            (u64::from(period) << 32) | u64::from(run)
        });
        match old.map(|v| ((v >> 32) as u32, v as u32)) {
            Some((last, run)) if last == period => run,
            Some((last, run)) if last.wrapping_add(1) == period => run + 1,
            _ => 1,
        }
    }
}

/// The behaviour every `Counters` must have, for each implementation's own
/// tests to run (the in-process one below; a shared store's against a
/// scratch instance): `make` gives a fresh, empty one each call. Panics on
/// the first difference.
pub fn conformance(make: &dyn Fn() -> Box<dyn Counters>) {
    // Namespaces, ids and windows are apart; estimates slide.
    let c = make();
    assert_eq!(c.add(CounterKey::new(Ns::Ip, 1), Window::Minute, 0, 3), 3);
    assert_eq!(c.add(CounterKey::new(Ns::Prefix, 1), Window::Minute, 0, 1), 1);
    assert_eq!(c.add(CounterKey::new(Ns::Ip, 1), Window::Hour, 0, 1), 1);
    let mut out = [0; 2];
    c.add_many(&[(CounterKey::new(Ns::Ip, 1), 1), (CounterKey::new(Ns::Ip, 2), 2)], Window::Minute, 1, &mut out);
    assert_eq!(out, [4, 2]);
    assert_eq!(c.add(CounterKey::new(Ns::Ip, 1), Window::Minute, 90, 0), 2, "half of the last minute's 4");
    assert_eq!(c.add(CounterKey::new(Ns::Ip, 1), Window::Minute, 200, 0), 0);

    // Flags last their window and the next.
    let c = make();
    let k = CounterKey::new(Ns::ActorFlags, 5);
    assert_eq!(c.mark(k, Window::Day, 100, 1), 0);
    assert_eq!(c.mark(k, Window::Day, 200, 2), 1);
    assert_eq!(c.marked(k, Window::Day, 200), 3);
    assert_eq!(c.marked(k, Window::Day, 86_400 + 5), 3, "yesterday's flags still count");
    assert_eq!(c.mark(k, Window::Day, 86_400 + 5, 4), 0, "today's are apart");
    assert_eq!(c.marked(k, Window::Day, 2 * 86_400 + 5), 4);
    assert_eq!(c.marked(k, Window::Day, 3 * 86_400 + 5), 0);
    assert_eq!(c.marked(CounterKey::new(Ns::KeyFlags, 5), Window::Day, 200), 0);

    // Streaks of consecutive periods.
    let c = make();
    let k = CounterKey::new(Ns::QuotaStreak, 9);
    assert_eq!(c.streak(k, 10), 1);
    assert_eq!(c.streak(k, 10), 1);
    assert_eq!(c.streak(k, 11), 2);
    assert_eq!(c.streak(k, 12), 3);
    assert_eq!(c.streak(k, 14), 1, "a day missed starts over");

    // Distinct items per window; swaps.
    let c = make();
    let k = CounterKey::new(Ns::DistinctPosts, 1);
    for i in 0..10 {
        c.add_distinct(k, Window::Day, 0, i);
    }
    assert_eq!(c.add_distinct(k, Window::Day, 0, 3), 10);
    assert_eq!(c.add_distinct_many(k, Window::Day, 0, &mut [3, 11, 12].into_iter()), 12);
    assert_eq!(c.add_distinct(k, Window::Day, 86_400, 1), 1, "a new day starts empty");
    assert_eq!(c.swap(CounterKey::new(Ns::WalkLast, 1), 5), None);
    assert_eq!(c.swap(CounterKey::new(Ns::WalkLast, 1), 6), Some(5));
    assert_eq!(c.swap(CounterKey::new(Ns::WalkSteps, 1), 7), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_counters_conform() {
        conformance(&|| {
            Box::new(LocalCounters::new(
                LocalSizes {
                    sketch_lines_log2: 8,
                    distinct_slots_log2: 4,
                    flag_buckets_log2: 4,
                    sight_buckets_log2: 4,
                    value_entries_log2: 10,
                },
                42,
            ))
        });
    }
}
