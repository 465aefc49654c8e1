//! Marking an author's posts `no_ai`, all of them or those of a date range.

use tollgate_domain::{AccountId, Timestamp};
use tollgate_store::{Result, Store, TimelineQuery};

/// Posts read per timeline page.
const PAGE: usize = 1000;

/// Sets `no_ai` on the author's posts created in `[from, until)` (either
/// bound open), and returns how many changed.
///
/// MERGE: this stands in for `Store::set_posts_no_ai(author, from, until,
/// no_ai, at)`, which does the same in one store transaction; when that
/// method is on the main line, this function's body becomes that one call.
/// Until then each post is its own write (`Store::set_post_no_ai`), each in
/// force for the next request as it commits, so a failure part way leaves
/// the posts before it changed and says so.
pub fn set_posts_no_ai(
    store: &dyn Store,
    author: AccountId,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    no_ai: bool,
    _at: Timestamp,
) -> Result<u64> {
    let mut changed = 0;
    let mut before_id = None;
    loop {
        let query =
            TimelineQuery { start_time: from, end_time: until, before_id, limit: PAGE, ..TimelineQuery::default() };
        let page = store.timeline(author, &query)?;
        for post in page.iter().filter(|p| p.no_ai != no_ai) {
            if store.set_post_no_ai(post.id, no_ai)? {
                changed += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => before_id = Some(last.id),
            _ => return Ok(changed),
        }
    }
}
