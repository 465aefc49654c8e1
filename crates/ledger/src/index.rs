//! What the ledger hands its store to index: the indexable fields of each
//! entry (`EntryIndex`) and, for every block of `FILTER_BLOCK` entries, an
//! exact posting list of the delivered post ids, split into `FILTER_SHARDS`
//! shards by hash so that a lookup of one post reads one small shard per
//! block and then exactly the entries that delivered it.
//!
//! The index is not covered by the Merkle tree or the chain: `verify`
//! compares the per-entry fields (`entry_index`) stored beside each row with
//! the hashed body, and everything here is rebuilt from the entries by
//! `Audit::reindex`.
//!
//! ## The posting list of one (shard, block)
//!
//! ```text
//! format     1 byte   POSTINGS_FORMAT (1)
//! posts      varint   K, the distinct posts of the shard delivered in the block
//! K times, by ascending post id:
//!   id       varint   the post id minus the previous one (the first: the id itself)
//!   count    varint   n >= 1, the entries of the block that delivered it
//!   n times: varint   the entry's offset in the block (0..FILTER_BLOCK) minus the
//!                     previous offset, ascending (the first: the offset itself)
//! ```
//!
//! Varints are LEB128 (7 bits a byte, low bits first, at most 10 bytes). An
//! empty list (`K = 0`) is stored too: it says the block delivered no post of
//! the shard, where a missing list says nothing and the block is searched.

use crate::db::{EntryIndex, PostFilter};
use tollgate_domain::PostId;

use crate::varint;
use crate::{Entry, Outcome};

/// Entries per block (the store's `LEDGER_BLOCK`, so that its per-block data
/// covers the same entries). A lookup reads one posting list per block and
/// then only the entries the list names; 1,024 entries per block keep the
/// lists of a 10M-entry ledger at about 10,000 per shard.
pub const FILTER_BLOCK: u64 = crate::db::LEDGER_BLOCK;
/// Shards per block: a lookup reads 1/256 of each block's postings (about a
/// kilobyte a block for entries of 50 posts).
pub const FILTER_SHARDS: u32 = 256;
/// The first byte of every posting list.
const POSTINGS_FORMAT: u8 = 1;

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

/// A 64-bit mix of a post id (splitmix64's finalizer); the shard is its top
/// bits, so that posts with nearby ids spread over the shards.
fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard a post's id falls in.
pub(crate) fn shard_of(post: PostId) -> u32 {
    (mix(post.0) >> 56) as u32 % FILTER_SHARDS
}

/// A posting list that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CorruptPostings(String);

fn corrupt(what: impl Into<String>) -> CorruptPostings {
    CorruptPostings(what.into())
}

/// Reads posting lists, checking every value against the format.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self, what: &str) -> Result<u64, CorruptPostings> {
        let start = self.at;
        varint::get(self.bytes, &mut self.at).map_err(|bad| match bad {
            varint::Bad::Cut => corrupt(format!("it ends inside {what} at byte {}", self.at)),
            varint::Bad::Overflow => corrupt(format!("{what} at byte {start} overflows 64 bits")),
        })
    }

    /// The header: the number of posts.
    fn start(bytes: &[u8]) -> Result<(Reader<'_>, u64), CorruptPostings> {
        match bytes.first() {
            Some(&POSTINGS_FORMAT) => {}
            Some(f) => return Err(corrupt(format!("unknown format {f}"))),
            None => return Err(corrupt("it is empty")),
        }
        let mut r = Reader { bytes, at: 1 };
        let posts = r.varint("the number of posts")?;
        // Every post takes at least three bytes.
        if posts > bytes.len() as u64 {
            return Err(corrupt(format!("it claims {posts} posts in {} bytes", bytes.len())));
        }
        Ok((r, posts))
    }

    /// The next post id, after `prev` (`None` for the first).
    fn post(&mut self, prev: Option<u64>) -> Result<u64, CorruptPostings> {
        let delta = self.varint("a post id")?;
        match prev {
            None => Ok(delta),
            Some(_) if delta == 0 => Err(corrupt(format!("post ids do not ascend at byte {}", self.at))),
            Some(p) => p.checked_add(delta).ok_or_else(|| corrupt("a post id overflows 64 bits")),
        }
    }

    /// The offsets of one post, into `out` (cleared first).
    fn offsets(&mut self, out: &mut Vec<u16>) -> Result<(), CorruptPostings> {
        out.clear();
        let n = self.varint("a count of entries")?;
        if n == 0 || n > FILTER_BLOCK {
            return Err(corrupt(format!("a post is delivered by {n} entries of a block")));
        }
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            let delta = self.varint("an offset")?;
            let off = match prev {
                None => delta,
                Some(_) if delta == 0 => return Err(corrupt("offsets do not ascend")),
                Some(p) => p.saturating_add(delta),
            };
            if off >= FILTER_BLOCK {
                return Err(corrupt(format!("offset {off} is outside a block of {FILTER_BLOCK}")));
            }
            out.push(off as u16);
            prev = Some(off);
        }
        Ok(())
    }

    fn skip_offsets(&mut self) -> Result<(), CorruptPostings> {
        let mut scratch = Vec::new();
        self.offsets(&mut scratch)
    }
}

/// Encodes `(post, offset)` pairs, sorted and without duplicates.
fn encode_postings(pairs: &[(u64, u16)]) -> Vec<u8> {
    debug_assert!(pairs.windows(2).all(|w| w[0] < w[1]));
    let mut out = vec![POSTINGS_FORMAT];
    let posts = pairs.chunk_by(|a, b| a.0 == b.0).count();
    varint::put(&mut out, posts as u64);
    let mut prev_post: Option<u64> = None;
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let post = group[0].0;
        varint::put(&mut out, post - prev_post.unwrap_or(0));
        prev_post = Some(post);
        varint::put(&mut out, group.len() as u64);
        let mut prev = 0;
        for (i, &(_, off)) in group.iter().enumerate() {
            varint::put(&mut out, u64::from(if i == 0 { off } else { off - prev }));
            prev = off;
        }
    }
    out
}

/// The offsets (in its block) of the entries that delivered `post`, from a
/// shard's posting list; empty if none did. Reads the list up to `post`.
pub(crate) fn postings_of(list: &[u8], post: PostId) -> Result<Vec<u16>, CorruptPostings> {
    let (mut r, posts) = Reader::start(list)?;
    let mut prev = None;
    let mut offsets = Vec::new();
    for _ in 0..posts {
        let id = r.post(prev)?;
        prev = Some(id);
        if id == post.0 {
            r.offsets(&mut offsets)?;
            return Ok(offsets);
        }
        if id > post.0 {
            break;
        }
        r.skip_offsets()?;
    }
    Ok(Vec::new())
}

/// A whole posting list, checked to its last byte.
#[cfg(test)]
fn decode_postings(list: &[u8]) -> Result<Vec<(PostId, Vec<u16>)>, CorruptPostings> {
    let (mut r, posts) = Reader::start(list)?;
    let mut out = Vec::new();
    let mut prev = None;
    for _ in 0..posts {
        let id = r.post(prev)?;
        prev = Some(id);
        let mut offsets = Vec::new();
        r.offsets(&mut offsets)?;
        out.push((PostId(id), offsets));
    }
    if r.at != list.len() {
        return Err(corrupt(format!("{} bytes follow the last post", list.len() - r.at)));
    }
    Ok(out)
}

/// The posts of the current block, kept until it fills.
#[derive(Debug)]
pub(crate) struct BlockFilters {
    /// The number of the current block (its first seq / `FILTER_BLOCK`).
    block: u64,
    /// (post id, offset in the block) of the posts delivered in it, per shard.
    shards: Vec<Vec<(u64, u16)>>,
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
    /// posting lists (one per shard, empty ones included) onto `out` and
    /// starts the next block.
    ///
    /// INVARIANT (whole-block-filters): a block's posting lists are written
    /// only once every entry of the block was added, so a stored list names
    /// every entry of its block that delivered each of its posts.
    pub(crate) fn add(&mut self, seq: u64, posts: &[PostId], out: &mut Vec<PostFilter>) {
        debug_assert_eq!(seq / FILTER_BLOCK, self.block);
        let offset = (seq % FILTER_BLOCK) as u16;
        for p in posts {
            self.shards[shard_of(*p) as usize].push((p.0, offset));
        }
        if (seq + 1).is_multiple_of(FILTER_BLOCK) {
            for (shard, pairs) in self.shards.iter_mut().enumerate() {
                pairs.sort_unstable();
                pairs.dedup();
                out.push(PostFilter { block: self.block, shard: shard as u32, bits: encode_postings(pairs) });
                pairs.clear();
            }
            self.block += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// splitmix64, for repeatable random cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix(self.0)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The lists of one block of `entries` (posts per offset), by shard.
    fn block_of(first: u64, entries: &[Vec<PostId>]) -> Vec<PostFilter> {
        let mut f = BlockFilters::at(first);
        let mut out = Vec::new();
        for (i, posts) in entries.iter().enumerate() {
            f.add(first + i as u64, posts, &mut out);
        }
        out
    }

    /// What the lists of a block must say: per post, the offsets delivering it.
    fn expected(entries: &[Vec<PostId>]) -> BTreeMap<PostId, Vec<u16>> {
        let mut want: BTreeMap<PostId, Vec<u16>> = BTreeMap::new();
        for (off, posts) in entries.iter().enumerate() {
            for p in posts {
                let v = want.entry(*p).or_default();
                if v.last() != Some(&(off as u16)) {
                    v.push(off as u16);
                }
            }
        }
        want
    }

    fn check_block(entries: &[Vec<PostId>], absent: &[PostId]) {
        let out = block_of(FILTER_BLOCK * 3, entries);
        assert_eq!(out.len(), FILTER_SHARDS as usize);
        let want = expected(entries);
        let mut decoded = BTreeMap::new();
        for (shard, f) in out.iter().enumerate() {
            assert_eq!((f.block, f.shard), (3, shard as u32));
            for (post, offsets) in decode_postings(&f.bits).unwrap() {
                assert_eq!(shard_of(post), shard as u32);
                decoded.insert(post, offsets);
            }
        }
        assert_eq!(decoded, want);
        for (post, offsets) in &want {
            assert_eq!(&postings_of(&out[shard_of(*post) as usize].bits, *post).unwrap(), offsets);
        }
        for post in absent.iter().filter(|p| !want.contains_key(p)) {
            assert!(postings_of(&out[shard_of(*post) as usize].bits, *post).unwrap().is_empty());
        }
    }

    #[test]
    fn postings_round_trip_over_random_blocks() {
        let mut rng = Rng(5);
        for case in 0..40 {
            // Few distinct posts (many entries each) to many (one entry each),
            // ids from small to near the top of u64.
            let distinct = [1, 10, 1000, 1 << 20, u64::MAX / 2][case % 5];
            let base = [0, 1 << 40, u64::MAX - (1 << 21)][case % 3];
            let entries: Vec<Vec<PostId>> = (0..FILTER_BLOCK)
                .map(|_| {
                    let n = rng.below(60) as usize;
                    let mut posts: Vec<PostId> =
                        (0..n).map(|_| PostId(base.saturating_add(rng.below(distinct)))).collect();
                    posts.sort_unstable();
                    posts.dedup();
                    posts
                })
                .collect();
            let absent: Vec<PostId> = (0..200).map(|_| PostId(rng.next())).collect();
            check_block(&entries, &absent);
        }
    }

    #[test]
    fn empty_block_stores_empty_lists() {
        let entries = vec![Vec::new(); FILTER_BLOCK as usize];
        let out = block_of(0, &entries);
        assert_eq!(out.len(), FILTER_SHARDS as usize);
        for f in &out {
            assert_eq!(f.bits, vec![POSTINGS_FORMAT, 0]);
            assert_eq!(decode_postings(&f.bits).unwrap(), Vec::new());
        }
        assert!(postings_of(&out[0].bits, PostId(7)).unwrap().is_empty());
    }

    #[test]
    fn single_post_and_extreme_offsets_and_ids() {
        let mut entries = vec![Vec::new(); FILTER_BLOCK as usize];
        entries[0] = vec![PostId(0), PostId(u64::MAX)];
        entries[FILTER_BLOCK as usize - 1] = vec![PostId(0), PostId(u64::MAX)];
        check_block(&entries, &[PostId(1), PostId(u64::MAX - 1)]);
        let out = block_of(0, &entries);
        assert_eq!(
            postings_of(&out[shard_of(PostId(u64::MAX)) as usize].bits, PostId(u64::MAX)).unwrap(),
            vec![0, 1023]
        );
        // One post delivered by every entry of the block.
        let all = vec![vec![PostId(42)]; FILTER_BLOCK as usize];
        check_block(&all, &[PostId(41), PostId(43)]);
        let out = block_of(0, &all);
        assert_eq!(
            postings_of(&out[shard_of(PostId(42)) as usize].bits, PostId(42)).unwrap(),
            (0..FILTER_BLOCK as u16).collect::<Vec<_>>()
        );
    }

    #[test]
    fn corrupt_lists_are_errors_not_panics() {
        let good = encode_postings(&[(5, 0), (5, 9), (70_000, 3), (u64::MAX, 1023)]);
        assert_eq!(decode_postings(&good).unwrap().len(), 3);
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("format", vec![2, 0]),
            ("no count", vec![POSTINGS_FORMAT]),
            ("too many posts", vec![POSTINGS_FORMAT, 100, 1, 1, 0]),
            ("endless varint", [vec![POSTINGS_FORMAT, 1], vec![0xff; 12]].concat()),
            ("overflowing varint", [vec![POSTINGS_FORMAT, 1], vec![0xff; 9], vec![0x7f]].concat()),
            ("zero count", vec![POSTINGS_FORMAT, 1, 5, 0]),
            ("count above the block", vec![POSTINGS_FORMAT, 1, 5, 0x81, 0x08, 0]),
            ("offset outside the block", vec![POSTINGS_FORMAT, 1, 5, 1, 0x80, 0x08]),
            ("offsets not ascending", vec![POSTINGS_FORMAT, 1, 5, 2, 3, 0]),
            ("posts not ascending", vec![POSTINGS_FORMAT, 2, 5, 1, 0, 0, 1, 0]),
            ("post id overflow", [vec![POSTINGS_FORMAT, 2], vec![0xff; 9], vec![1, 1, 0, 1, 1, 0]].concat()),
            ("trailing bytes", [good.clone(), vec![0]].concat()),
        ];
        for (what, list) in bad {
            assert!(decode_postings(&list).is_err(), "{what}: {list:?}");
        }
        // Every truncation of a valid list is refused, whatever is looked up.
        for cut in 0..good.len() {
            let list = &good[..cut];
            assert!(decode_postings(list).is_err(), "cut at {cut}");
            let _ = postings_of(list, PostId(u64::MAX));
        }
        // Random bytes: never a panic.
        let mut rng = Rng(9);
        for _ in 0..10_000 {
            let len = rng.below(40) as usize;
            let mut list: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Some(b) = list.first_mut() {
                *b = POSTINGS_FORMAT;
            }
            let _ = decode_postings(&list);
            let _ = postings_of(&list, PostId(rng.below(1000)));
        }
        assert!(postings_of(&[2, 0], PostId(1)).unwrap_err().to_string().contains("unknown format 2"));
    }
}
