//! Every field and expansion name X defines for the objects Tollgate serves,
//! in both generations of X's naming, as one table: the lists the developer
//! API accepts are read from it, and so is the generation a request uses.
//!
//! X's OpenAPI document 2.167 renamed what it calls tweets to posts:
//! `tweet.fields` became `post.fields`, `referenced_tweets.id` became
//! `referenced_posts`, the bodies' `edit_history_tweet_ids` became
//! `edit_history_post_ids`, and so on; it also added names
//! (`article_title`, `subscribes_to_you`, ...) and dropped some
//! (`entities.note.mentions.username`, ...). Clients written against the
//! document before it (tweepy, twarc, twitter-api-v2) send the old names and
//! read the old properties; X's own SDK (`xdk`, generated from 2.167) sends
//! and reads the new ones. Tollgate accepts every name of either document and
//! answers in the generation the request used (`params::Asked::resolve`
//! decides it; docs/api.md, "Two generations of names").
//!
//! The facts here are X's (names, and which document defines each); the
//! columns `twin` and `serves` are Tollgate's reading of them. The table is
//! sorted by list, then name, so that a lookup is a binary search, with no
//! allocation on the request's path (`INVARIANT (names-sorted)`, checked by
//! the tests below).

/// The version of X's OpenAPI document that renamed tweets to posts.
pub const CURRENT: &str = "2.167";
/// The document before it (xdk's `openapi.json`, whose version reads `latest`).
pub const PREVIOUS: &str = "before 2.167";

/// The generation of X's naming a request uses, and its answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    /// The names of the documents before 2.167 (`tweet.fields`,
    /// `edit_history_tweet_ids`, `includes.tweets`): the default, so that
    /// clients that name neither generation are answered as before.
    #[default]
    Tweets,
    /// The names of document 2.167 (`post.fields`, `edit_history_post_ids`,
    /// `includes.posts`).
    Posts,
}

/// Which of X's documents define a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defined {
    /// Only the document before 2.167.
    Previous,
    /// Only document 2.167.
    Current,
    /// Both.
    Both,
}

impl Defined {
    pub fn in_previous(self) -> bool {
        matches!(self, Defined::Previous | Defined::Both)
    }

    pub fn in_current(self) -> bool {
        matches!(self, Defined::Current | Defined::Both)
    }
}

/// The lists of names X defines: the list-valued query parameters
/// themselves, and the names each of them takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    /// The names of the list-valued query parameters.
    Parameters,
    /// `tweet.fields` (before 2.167) and `post.fields` (2.167).
    PostFields,
    /// `user.fields`.
    UserFields,
    /// `media.fields`: Tollgate keeps no media.
    MediaFields,
    /// `place.fields`: Tollgate keeps no places.
    PlaceFields,
    /// `poll.fields`: Tollgate keeps no polls.
    PollFields,
    /// `expansions` on the post endpoints.
    PostExpansions,
    /// `expansions` on the user endpoints.
    UserExpansions,
}

/// What Tollgate renders for a name, one bit each in `render::Fields`. Names
/// with none are accepted and render nothing: Tollgate keeps no such data (a
/// default would be a value the platform never gave), or always writes it
/// (`id`, `text`, the edit history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Part {
    AuthorId,
    CreatedAt,
    Lang,
    ConversationId,
    InReplyToUserId,
    /// `referenced_tweets` / `referenced_posts` (a reply's parent).
    Referenced,
    UserCreatedAt,
    UserDescription,
    UserProtected,
    /// The users of `author_id` in `includes.users`.
    ExpandAuthors,
    /// The users of `in_reply_to_user_id` in `includes.users`.
    ExpandReplyUsers,
    /// The posts replied to in `includes.tweets` / `includes.posts`.
    ExpandReferenced,
}

impl Part {
    pub const fn bit(self) -> u16 {
        1 << self as u8
    }
}

/// One name X defines.
#[derive(Debug, Clone, Copy)]
pub struct XName {
    pub list: List,
    pub name: &'static str,
    pub defined: Defined,
    /// For a name of one generation only that 2.167 renamed: its name in the
    /// other generation, in the same list or, where the other generation has
    /// it in no list, as a property of the bodies (`PROPERTIES`). Such a name
    /// says which generation a request uses; the others do not.
    pub twin: Option<&'static str>,
    pub serves: Option<Part>,
}

const fn both(list: List, name: &'static str) -> XName {
    XName { list, name, defined: Defined::Both, twin: None, serves: None }
}

const fn previous(list: List, name: &'static str) -> XName {
    XName { list, name, defined: Defined::Previous, twin: None, serves: None }
}

const fn current(list: List, name: &'static str) -> XName {
    XName { list, name, defined: Defined::Current, twin: None, serves: None }
}

impl XName {
    const fn renamed(self, twin: &'static str) -> XName {
        XName { twin: Some(twin), ..self }
    }

    const fn serves(self, part: Part) -> XName {
        XName { serves: Some(part), ..self }
    }

    /// The generation this name belongs to, if it says (a renamed name).
    pub fn generation(&self) -> Option<Generation> {
        match (self.twin, self.defined) {
            (Some(_), Defined::Previous) => Some(Generation::Tweets),
            (Some(_), Defined::Current) => Some(Generation::Posts),
            _ => None,
        }
    }
}

use List::{MediaFields, Parameters, PlaceFields, PollFields, PostExpansions, PostFields, UserExpansions, UserFields};

/// Every name X defines in the lists Tollgate takes, sorted by list and name.
#[rustfmt::skip]
pub const NAMES: &[XName] = &[
    both(Parameters, "expansions"),
    both(Parameters, "media.fields"),
    both(Parameters, "place.fields"),
    both(Parameters, "poll.fields"),
    current(Parameters, "post.fields").renamed("tweet.fields"),
    previous(Parameters, "tweet.fields").renamed("post.fields"),
    both(Parameters, "user.fields"),

    both(PostFields, "article"),
    current(PostFields, "article_title"),
    both(PostFields, "attachments"),
    previous(PostFields, "author_id").serves(Part::AuthorId),
    both(PostFields, "card_uri"),
    both(PostFields, "community_id"),
    both(PostFields, "context_annotations"),
    both(PostFields, "conversation_id").serves(Part::ConversationId),
    both(PostFields, "created_at").serves(Part::CreatedAt),
    both(PostFields, "display_text_range"),
    both(PostFields, "edit_controls"),
    previous(PostFields, "edit_history_tweet_ids").renamed("edit_history_post_ids"),
    both(PostFields, "entities"),
    both(PostFields, "geo"),
    both(PostFields, "id"),
    previous(PostFields, "in_reply_to_user_id").serves(Part::InReplyToUserId),
    both(PostFields, "lang").serves(Part::Lang),
    current(PostFields, "matched_media_notes"),
    both(PostFields, "media_metadata"),
    both(PostFields, "non_public_metrics"),
    current(PostFields, "note_post").renamed("note_tweet"),
    current(PostFields, "note_request_suggestions"),
    previous(PostFields, "note_tweet").renamed("note_post"),
    both(PostFields, "organic_metrics"),
    current(PostFields, "paid_partnership"),
    both(PostFields, "possibly_sensitive"),
    both(PostFields, "promoted_metrics"),
    both(PostFields, "public_metrics"),
    previous(PostFields, "referenced_tweets").renamed("referenced_posts").serves(Part::Referenced),
    both(PostFields, "reply_settings"),
    both(PostFields, "scopes"),
    both(PostFields, "source"),
    current(PostFields, "suggested_source_links"),
    current(PostFields, "suggested_source_links_with_counts"),
    both(PostFields, "text"),
    both(PostFields, "withheld"),

    previous(UserFields, "affiliation"),
    both(UserFields, "confirmed_email"),
    both(UserFields, "connection_status"),
    both(UserFields, "created_at").serves(Part::UserCreatedAt),
    both(UserFields, "description").serves(Part::UserDescription),
    both(UserFields, "entities"),
    both(UserFields, "id"),
    both(UserFields, "is_identity_verified"),
    both(UserFields, "location"),
    previous(UserFields, "most_recent_tweet_id").renamed("most_recent_post_id"),
    both(UserFields, "name"),
    both(UserFields, "parody"),
    previous(UserFields, "pinned_tweet_id").renamed("pinned_post_id"),
    both(UserFields, "profile_banner_url"),
    both(UserFields, "profile_image_url"),
    both(UserFields, "protected").serves(Part::UserProtected),
    both(UserFields, "public_metrics"),
    both(UserFields, "receives_your_dm"),
    current(UserFields, "subscribes_to_you"),
    both(UserFields, "subscription"),
    both(UserFields, "subscription_type"),
    both(UserFields, "url"),
    both(UserFields, "username"),
    both(UserFields, "verified"),
    both(UserFields, "verified_followers_count"),
    both(UserFields, "verified_type"),
    both(UserFields, "withheld"),

    both(MediaFields, "alt_text"),
    both(MediaFields, "duration_ms"),
    both(MediaFields, "height"),
    both(MediaFields, "media_key"),
    both(MediaFields, "non_public_metrics"),
    both(MediaFields, "organic_metrics"),
    both(MediaFields, "preview_image_url"),
    both(MediaFields, "promoted_metrics"),
    both(MediaFields, "public_metrics"),
    both(MediaFields, "type"),
    both(MediaFields, "url"),
    both(MediaFields, "variants"),
    both(MediaFields, "width"),

    both(PlaceFields, "contained_within"),
    both(PlaceFields, "country"),
    both(PlaceFields, "country_code"),
    both(PlaceFields, "full_name"),
    both(PlaceFields, "geo"),
    both(PlaceFields, "id"),
    both(PlaceFields, "name"),
    both(PlaceFields, "place_type"),

    both(PollFields, "duration_minutes"),
    both(PollFields, "end_datetime"),
    both(PollFields, "id"),
    both(PollFields, "options"),
    both(PollFields, "voting_status"),

    both(PostExpansions, "article.cover_media"),
    both(PostExpansions, "article.media_entities"),
    both(PostExpansions, "attachments.media_keys"),
    both(PostExpansions, "attachments.media_source_tweet"),
    both(PostExpansions, "attachments.poll_ids"),
    both(PostExpansions, "author_id").serves(Part::ExpandAuthors),
    current(PostExpansions, "edit_history_post_ids").renamed("edit_history_tweet_ids"),
    previous(PostExpansions, "edit_history_tweet_ids").renamed("edit_history_post_ids"),
    both(PostExpansions, "entities.mentions.username"),
    previous(PostExpansions, "entities.note.mentions.username"),
    both(PostExpansions, "geo.place_id"),
    both(PostExpansions, "in_reply_to_user_id").serves(Part::ExpandReplyUsers),
    current(PostExpansions, "referenced_posts").renamed("referenced_tweets.id").serves(Part::ExpandReferenced),
    previous(PostExpansions, "referenced_tweets.id").renamed("referenced_posts").serves(Part::ExpandReferenced),
    previous(PostExpansions, "referenced_tweets.id.attachments.media_keys"),
    previous(PostExpansions, "referenced_tweets.id.author_id"),
    current(PostExpansions, "username"),

    current(UserExpansions, "affiliation").renamed("affiliation.user_id"),
    previous(UserExpansions, "affiliation.user_id").renamed("affiliation"),
    current(UserExpansions, "most_recent_post_id").renamed("most_recent_tweet_id"),
    previous(UserExpansions, "most_recent_tweet_id").renamed("most_recent_post_id"),
    current(UserExpansions, "pinned_post_id").renamed("pinned_tweet_id"),
    previous(UserExpansions, "pinned_tweet_id").renamed("pinned_post_id"),
];

/// A property of the response bodies that 2.167 renamed, by generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub previous: &'static str,
    pub current: &'static str,
}

impl Property {
    pub const fn name(self, generation: Generation) -> &'static str {
        match generation {
            Generation::Tweets => self.previous,
            Generation::Posts => self.current,
        }
    }
}

/// A post's edit history (always written).
pub const EDIT_HISTORY: Property = Property { previous: "edit_history_tweet_ids", current: "edit_history_post_ids" };
/// The posts a post refers to (a reply's parent).
pub const REFERENCED: Property = Property { previous: "referenced_tweets", current: "referenced_posts" };
/// A long post's full text (Tollgate keeps none apart from `text`).
pub const NOTE: Property = Property { previous: "note_tweet", current: "note_post" };
/// A user's most recent post (not kept).
pub const MOST_RECENT: Property = Property { previous: "most_recent_tweet_id", current: "most_recent_post_id" };
/// A user's pinned post (not kept).
pub const PINNED: Property = Property { previous: "pinned_tweet_id", current: "pinned_post_id" };
/// The expanded posts in `includes`.
pub const INCLUDED_POSTS: Property = Property { previous: "tweets", current: "posts" };

/// Every property of the bodies 2.167 renamed.
pub const PROPERTIES: &[Property] = &[EDIT_HISTORY, REFERENCED, NOTE, MOST_RECENT, PINNED, INCLUDED_POSTS];

/// The names of one list.
pub fn list(list: List) -> &'static [XName] {
    let start = NAMES.partition_point(|n| n.list < list);
    let end = NAMES.partition_point(|n| n.list <= list);
    &NAMES[start..end]
}

/// The entry of `name` in `list`, if X defines it there.
pub fn lookup(list: List, name: &str) -> Option<&'static XName> {
    // INVARIANT (names-sorted): `NAMES` is sorted by (list, name).
    NAMES.binary_search_by(|n| (n.list, n.name).cmp(&(list, name))).ok().map(|i| &NAMES[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_without_duplicates() {
        // INVARIANT (names-sorted): strictly increasing, so no name twice in a list.
        for pair in NAMES.windows(2) {
            assert!((pair[0].list, pair[0].name) < (pair[1].list, pair[1].name), "{:?} then {:?}", pair[0], pair[1]);
        }
        for n in NAMES {
            assert_eq!(lookup(n.list, n.name).map(|f| f.name), Some(n.name));
        }
        assert!(lookup(PostFields, "nonsense").is_none());
        assert!(lookup(UserFields, "author_id").is_none(), "a name is looked up in its own list only");
    }

    #[test]
    fn every_rename_has_its_twin_in_the_other_generation() {
        for n in NAMES {
            let Some(twin) = n.twin else { continue };
            assert_ne!(n.defined, Defined::Both, "`{}` is in both documents, so it was not renamed", n.name);
            match lookup(n.list, twin) {
                // A twin in the same list is of the other generation and names this one back.
                Some(t) => {
                    assert_eq!(t.twin, Some(n.name), "`{twin}` does not name `{}` back", n.name);
                    assert_ne!(t.defined, n.defined, "`{}` and `{twin}` are of one generation", n.name);
                    assert_eq!(t.serves, n.serves, "`{}` and `{twin}` serve different things", n.name);
                }
                // Otherwise the other generation has it only as a body's property.
                None => {
                    let renamed = PROPERTIES.iter().find(|p| p.previous == n.name || p.current == n.name);
                    let p = renamed.unwrap_or_else(|| panic!("`{}` has no twin `{twin}`", n.name));
                    let expected =
                        if n.defined == Defined::Previous { (p.previous, p.current) } else { (p.current, p.previous) };
                    assert_eq!((n.name, twin), expected);
                }
            }
        }
    }

    #[test]
    fn the_renames_are_the_ones_2_167_made() {
        let mut pairs: Vec<(List, &str, &str)> = NAMES
            .iter()
            .filter(|n| n.defined == Defined::Previous)
            .filter_map(|n| n.twin.map(|t| (n.list, n.name, t)))
            .collect();
        pairs.sort();
        assert_eq!(
            pairs,
            [
                (Parameters, "tweet.fields", "post.fields"),
                (PostFields, "edit_history_tweet_ids", "edit_history_post_ids"),
                (PostFields, "note_tweet", "note_post"),
                (PostFields, "referenced_tweets", "referenced_posts"),
                (UserFields, "most_recent_tweet_id", "most_recent_post_id"),
                (UserFields, "pinned_tweet_id", "pinned_post_id"),
                (PostExpansions, "edit_history_tweet_ids", "edit_history_post_ids"),
                (PostExpansions, "referenced_tweets.id", "referenced_posts"),
                (UserExpansions, "affiliation.user_id", "affiliation"),
                (UserExpansions, "most_recent_tweet_id", "most_recent_post_id"),
                (UserExpansions, "pinned_tweet_id", "pinned_post_id"),
            ]
        );
        // Every renamed property is asked for by a renamed name, but `includes`' member.
        for p in PROPERTIES {
            let named = NAMES.iter().any(|n| n.name == p.previous || n.twin == Some(p.current));
            assert!(named || *p == INCLUDED_POSTS, "{p:?}");
        }
    }

    #[test]
    fn each_document_defines_the_lists_it_does() {
        let count = |l: List, f: fn(Defined) -> bool| list(l).iter().filter(|n| f(n.defined)).count();
        // (list, names before 2.167, names in 2.167)
        for (l, before, now) in [
            (PostFields, 29, 31),
            (UserFields, 26, 24),
            (MediaFields, 13, 13),
            (PlaceFields, 8, 8),
            (PollFields, 5, 5),
            (PostExpansions, 14, 12),
            (UserExpansions, 3, 3),
        ] {
            assert_eq!((count(l, Defined::in_previous), count(l, Defined::in_current)), (before, now), "{l:?}");
        }
        // What Tollgate renders is reachable in both generations.
        for part in [Part::CreatedAt, Part::Lang, Part::ConversationId, Part::UserCreatedAt, Part::ExpandReferenced] {
            for f in [Defined::in_previous, Defined::in_current] {
                assert!(NAMES.iter().any(|n| n.serves == Some(part) && f(n.defined)), "{part:?}");
            }
        }
    }
}
