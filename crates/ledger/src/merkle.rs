//! Merkle trees as Certificate Transparency builds them (RFC 6962 §2.1, restated
//! in RFC 9162 §2.1): the hashing, an incremental tree that needs only
//! O(log n) memory, audit paths and their verification.
//!
//! The tree over leaves `D[0:n]` is `MTH({}) = SHA-256()`, `MTH({d}) =
//! SHA-256(0x00 || d)`, and for `n > 1`, with `k` the largest power of two
//! smaller than `n`, `MTH(D[0:n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`.
//! The 0x00/0x01 prefixes keep a leaf from ever being mistaken for a node.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// RFC 6962 leaf hash of an entry body: `SHA-256(0x00 || body)`.
pub fn leaf_hash(body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n`; `n` must be at least 2.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// A Merkle tree that grows at the right edge and keeps only what it needs to:
/// the roots of the perfect subtrees that make up its leaves, one per set bit
/// of its size (a "compact range" from 0).
///
/// This is what lets the writer sign a checkpoint after every batch without
/// rereading the ledger, and lets `verify` and `prove` stream millions of
/// entries in constant memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // INVARIANT (frontier): `nodes.len() == size.count_ones()`, and `nodes[i]`
    // is the root of the perfect subtree for the i-th set bit of `size`, from
    // the most significant bit down, so the subtrees are in leaf order.
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds a frontier from stored parts; `None` if they cannot be one.
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, left to right.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends one leaf hash.
    pub fn push_leaf(&mut self, leaf: Hash) {
        self.push_subtree(0, leaf).unwrap_or_else(|| unreachable!("a leaf always fits"));
    }

    /// Appends the root of a perfect subtree of `2^height` leaves. It must start
    /// at a multiple of its width, as a subtree of the final tree does;
    /// `None` (and nothing changed) otherwise.
    pub fn push_subtree(&mut self, height: u32, root: Hash) -> Option<()> {
        if height >= 63 {
            return None;
        }
        let width = 1u64 << height;
        if !self.size.is_multiple_of(width) {
            return None;
        }
        let mut hash = root;
        let mut level = height;
        // Adding `width` carries through every set bit from `height` up: each
        // carry merges the rightmost subtree (of that height) with the new one.
        while self.size & (1u64 << level) != 0 {
            let left = self.nodes.pop()?;
            hash = node_hash(&left, &hash);
            level += 1;
        }
        self.nodes.push(hash);
        self.size += width;
        Some(())
    }

    /// `MTH` of the leaves so far: the subtree roots folded from the right,
    /// which is exactly RFC 6962's split at the largest power of two.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else { return empty_root() };
        nodes.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// The leaf ranges `[start, end)` whose tree hashes make up the audit path of
/// leaf `index` in a tree of `size` leaves, in path order (the leaf's sibling
/// first, the root's child last). This is RFC 6962 §2.1.1's `PATH(m, D[n])`
/// with each `MTH(D[a:b])` left as its range.
pub fn audit_path_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = Vec::new();
    if index >= size {
        return ranges;
    }
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges.reverse();
    ranges
}

/// The root an audit path leads to, walked as RFC 9162 §2.1.3.2 prescribes;
/// `None` if the path does not fit the index and size (too short or too long).
pub fn root_from_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's MTH, written as the recursion it is defined by.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962's PATH, written as the recursion it is defined by.
    fn naive_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &leaves[..k]);
            p.push(naive_root(&leaves[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &leaves[k..]);
            p.push(naive_root(&leaves[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    #[test]
    fn the_incremental_root_equals_the_recursive_definition_for_every_size_to_300() {
        let all = leaves(300);
        let mut f = Frontier::new();
        assert_eq!(f.root(), naive_root(&[]));
        for n in 1..=300 {
            f.push_leaf(all[n - 1]);
            assert_eq!(f.size(), n as u64);
            assert_eq!(f.nodes().len(), n.count_ones() as usize);
            assert_eq!(f.root(), naive_root(&all[..n]), "size {n}");
            let rebuilt = Frontier::from_parts(f.size(), f.nodes().to_vec()).unwrap();
            assert_eq!(rebuilt.root(), f.root());
        }
    }

    #[test]
    fn known_answers_from_the_rfc_shape() {
        // Three leaves: node(node(l0, l1), l2), not a balanced padding.
        let l = leaves(3);
        let mut f = Frontier::new();
        l.iter().for_each(|h| f.push_leaf(*h));
        assert_eq!(f.root(), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(leaf_hash(b""), <[u8; 32]>::from(Sha256::digest([0u8])));
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn audit_paths_match_the_recursive_definition_and_verify_for_every_leaf() {
        let all = leaves(300);
        for n in (1..=70).chain([127, 128, 129, 255, 256, 257, 300]) {
            let tree = &all[..n];
            let root = naive_root(tree);
            for m in 0..n {
                let ranges = audit_path_ranges(m as u64, n as u64);
                let path: Vec<Hash> = ranges.iter().map(|&(a, b)| naive_root(&tree[a as usize..b as usize])).collect();
                assert_eq!(path, naive_path(m, tree), "size {n} leaf {m}");
                assert_eq!(root_from_inclusion(m as u64, n as u64, &tree[m], &path), Some(root), "size {n} leaf {m}");
                // A wrong leaf, a wrong index, a shortened or lengthened path all fail.
                let other = leaf_hash(b"not in the tree");
                assert_ne!(root_from_inclusion(m as u64, n as u64, &other, &path), Some(root));
                if n > 1 {
                    let wrong = (m + 1) % n;
                    if tree[wrong] != tree[m] {
                        assert_ne!(root_from_inclusion(wrong as u64, n as u64, &tree[m], &path), Some(root));
                    }
                    assert_eq!(root_from_inclusion(m as u64, n as u64, &tree[m], &path[..path.len() - 1]), None);
                }
                let mut longer = path.clone();
                longer.push(root);
                assert_eq!(root_from_inclusion(m as u64, n as u64, &tree[m], &longer), None);
                // The ranges and the leaf partition the tree.
                let mut covered: Vec<(u64, u64)> = ranges.clone();
                covered.push((m as u64, m as u64 + 1));
                covered.sort();
                assert_eq!(covered.first().map(|r| r.0), Some(0));
                assert!(covered.windows(2).all(|w| w[0].1 == w[1].0));
                assert_eq!(covered.last().map(|r| r.1), Some(n as u64));
            }
            assert_eq!(root_from_inclusion(n as u64, n as u64, &tree[0], &[]), None);
        }
    }

    #[test]
    fn perfect_subtrees_can_stand_in_for_their_leaves() {
        let all = leaves(300);
        for width_log in 0..5u32 {
            let w = 1usize << width_log;
            for n in (0..=300).step_by(w) {
                let mut f = Frontier::new();
                for chunk in all[..n].chunks(w) {
                    f.push_subtree(width_log, naive_root(chunk)).unwrap();
                }
                assert_eq!(f.root(), naive_root(&all[..n]));
            }
        }
        let mut f = Frontier::new();
        f.push_leaf(all[0]);
        assert_eq!(f.push_subtree(1, all[1]), None, "a subtree must start at a multiple of its width");
        assert_eq!(f.size(), 1);
    }
}
