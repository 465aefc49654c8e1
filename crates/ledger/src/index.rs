//! What the ledger hands its store to index: the indexable fields of each
//! entry (`EntryIndex`) and, for every block of `FILTER_BLOCK` entries, a
//! Bloom filter of the delivered post ids, split into `FILTER_SHARDS` shards
//! by hash so that a lookup of one post reads one small shard per block.
//!
//! The index is not covered by the Merkle tree or the chain: nothing here is
//! trusted by `verify`, and everything here is rebuilt from the entries by
//! `Ledger::reindex`.

use tollgate_domain::PostId;
use tollgate_store::{EntryIndex, PostFilter};

use crate::{Entry, Outcome};

/// Entries per filter block. A lookup decodes the entries of the blocks
/// whose filter matches; 1,024 keeps that to a few milliseconds a block
/// while the filters of a 10M-entry ledger stay at about 10,000 per shard.
pub const FILTER_BLOCK: u64 = 1024;
/// Shards per block filter.
pub const FILTER_SHARDS: u32 = 64;
/// Filter bits per distinct post in a shard: with `FILTER_HASHES` probes,
/// a false positive rate of about 0.05%, so a lookup over 10,000 blocks
/// decodes about five blocks in vain.
const BITS_PER_POST: usize = 16;
const FILTER_HASHES: u64 = 11;

/// The index fields of an entry.
pub(crate) fn entry_index(entry: &Entry) -> EntryIndex {
    EntryIndex {
        client: entry.client.clone(),
        purpose: entry.purpose,
        refused: matches!(entry.outcome, Outcome::Refused(_)),
        policy_version: entry.policy_version.clone(),
        posts: u32::try_from(entry.posts.len()).unwrap_or(u32::MAX),
        authors: entry.authors.clone(),
    }
}

/// A 64-bit mix of a post id (splitmix64's finalizer): the shard is its top
/// bits, the Bloom probes come from the rest.
fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard a post's id falls in.
pub(crate) fn shard_of(post: PostId) -> u32 {
    (mix(post.0) >> 58) as u32 % FILTER_SHARDS
}

fn probes(hash: u64, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = hash & 0xffff_ffff;
    let h2 = (mix(hash) & 0xffff_ffff) | 1;
    (0..FILTER_HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Builds one shard's filter over distinct hashes.
fn build(hashes: &[u64]) -> Vec<u8> {
    let bytes = (hashes.len() * BITS_PER_POST).div_ceil(8).max(8);
    let mut out = vec![0u8; bytes];
    let bits = bytes as u64 * 8;
    for &h in hashes {
        for p in probes(h, bits) {
            out[(p / 8) as usize] |= 1 << (p % 8);
        }
    }
    out
}

/// Whether a shard's filter may hold `post` (false: it certainly does not).
pub(crate) fn may_contain(filter: &[u8], post: PostId) -> bool {
    if filter.is_empty() {
        return false;
    }
    let bits = filter.len() as u64 * 8;
    probes(mix(post.0), bits).all(|p| filter[(p / 8) as usize] & (1 << (p % 8)) != 0)
}

/// The posts of the current block, kept until it fills.
#[derive(Debug)]
pub(crate) struct BlockFilters {
    /// The seq the current block's entries start at.
    block: u64,
    /// Hashes of the posts delivered in it, per shard.
    shards: Vec<Vec<u64>>,
}

impl BlockFilters {
    /// An empty accumulator for the block holding entry `next`; the entries
    /// of that block before `next` must be `add`ed before anything else.
    pub(crate) fn at(next: u64) -> BlockFilters {
        BlockFilters { block: next / FILTER_BLOCK, shards: vec![Vec::new(); FILTER_SHARDS as usize] }
    }

    /// The block `seq` starts.
    pub(crate) fn block_start(seq: u64) -> u64 {
        seq / FILTER_BLOCK * FILTER_BLOCK
    }

    /// Adds entry `seq`; when it is the last of its block, pushes the block's
    /// filters onto `out` and starts the next block.
    ///
    /// INVARIANT (whole-block-filters): a block's filters are written only
    /// once every entry of the block was added, so a stored filter never
    /// misses a post of its block.
    pub(crate) fn add(&mut self, seq: u64, posts: &[PostId], out: &mut Vec<PostFilter>) {
        debug_assert_eq!(seq / FILTER_BLOCK, self.block);
        for p in posts {
            let h = mix(p.0);
            self.shards[((h >> 58) as u32 % FILTER_SHARDS) as usize].push(h);
        }
        if (seq + 1).is_multiple_of(FILTER_BLOCK) {
            for (shard, hashes) in self.shards.iter_mut().enumerate() {
                hashes.sort_unstable();
                hashes.dedup();
                out.push(PostFilter { block: self.block, shard: shard as u32, bits: build(hashes) });
                hashes.clear();
            }
            self.block += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_hold_their_posts_and_few_others() {
        let mut f = BlockFilters::at(0);
        let mut out = Vec::new();
        for seq in 0..FILTER_BLOCK {
            let posts: Vec<PostId> = (0..20).map(|i| PostId(seq * 1000 + i)).collect();
            f.add(seq, &posts, &mut out);
        }
        assert_eq!(out.len(), FILTER_SHARDS as usize);
        let get = |p: PostId| &out[shard_of(p) as usize].bits;
        for seq in 0..FILTER_BLOCK {
            for i in 0..20 {
                let p = PostId(seq * 1000 + i);
                assert!(may_contain(get(p), p));
            }
        }
        let false_hits =
            (0..100_000u64).map(|i| PostId(5_000_000_000 + i)).filter(|p| may_contain(get(*p), *p)).count();
        assert!(false_hits < 200, "{false_hits} false positives in 100,000");
    }
}
