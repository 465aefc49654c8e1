//! A map bounded by weight that forgets its least recently inserted half.
//!
//! Entries go into the *young* generation; when its weight reaches half the
//! budget, the *old* generation is dropped and the young one becomes old.
//! Lookups read both. So at most the whole budget is held, a lookup is two
//! hash probes, and nothing is written on a hit, which keeps hits under a
//! shared read lock. The cost: an entry that is hit often but was inserted
//! long ago is dropped with its generation and loaded once more. The road not
//! taken, an exact LRU, writes on every hit.

use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct Generations<K, V> {
    young: HashMap<K, (V, usize)>,
    old: HashMap<K, (V, usize)>,
    young_weight: usize,
    old_weight: usize,
    /// The most weight one generation holds: half the budget.
    half: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    pub(crate) fn new(budget: usize) -> Generations<K, V> {
        Generations {
            young: HashMap::new(),
            old: HashMap::new(),
            young_weight: 0,
            old_weight: 0,
            half: (budget / 2).max(1),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.young.get(key).or_else(|| self.old.get(key)).map(|(v, _)| v)
    }

    /// Inserts an entry of the given weight (an entry heavier than half the
    /// budget is not kept at all).
    pub(crate) fn insert(&mut self, key: K, value: V, weight: usize) {
        if weight > self.half {
            return;
        }
        self.remove(&key);
        if self.young_weight + weight > self.half {
            self.old = std::mem::take(&mut self.young);
            self.old_weight = std::mem::take(&mut self.young_weight);
        }
        self.young_weight += weight;
        self.young.insert(key, (value, weight));
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if let Some((_, w)) = self.young.remove(key) {
            self.young_weight -= w;
        }
        if let Some((_, w)) = self.old.remove(key) {
            self.old_weight -= w;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
        self.young_weight = 0;
        self.old_weight = 0;
    }

    /// The weight held.
    pub(crate) fn weight(&self) -> usize {
        self.young_weight + self.old_weight
    }

    pub(crate) fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_the_budget_and_forgets_the_oldest_half() {
        let mut g = Generations::new(10);
        for i in 0..5 {
            g.insert(i, i, 1);
        }
        assert_eq!((g.len(), g.weight()), (5, 5));
        g.insert(5, 5, 1);
        assert_eq!(g.weight(), 6, "the young generation turned old");
        for i in 6..10 {
            g.insert(i, i, 1);
        }
        assert!(g.weight() <= 10);
        g.insert(10, 10, 1);
        assert!(g.get(&0).is_none(), "the oldest generation went");
        assert_eq!(g.get(&10), Some(&10));
        assert_eq!(g.get(&9), Some(&9));
        assert!(g.weight() <= 10);
    }

    #[test]
    fn replaces_and_removes_by_key_with_their_weight() {
        let mut g = Generations::new(100);
        g.insert("a", 1, 10);
        g.insert("a", 2, 20);
        assert_eq!((g.get(&"a"), g.weight()), (Some(&2), 20));
        g.remove(&"a");
        assert_eq!((g.get(&"a"), g.weight(), g.len()), (None, 0, 0));
        g.insert("heavy", 3, 51);
        assert_eq!(g.get(&"heavy"), None, "heavier than half the budget: not kept");
    }
}
