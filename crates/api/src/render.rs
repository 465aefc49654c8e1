//! X API v2 object shapes: posts as "tweets", accounts as "users", with field
//! selection. Ids are strings; times are X's millisecond RFC 3339.
//!
//! Objects are serialized from the domain types straight into the response
//! body: no intermediate `serde_json::Value`, and ids and times are written
//! as strings from stack buffers (`Str`), without a `String` or a formatter
//! each. Fields come in the order X documents them (id, text, edit history,
//! then the optional fields). The properties 2.167 renamed are written under
//! the names of the request's generation (`x_names::Property`), picked per
//! property, not rewritten after.
//!
//! The renderers take only `Released` items, which only the deliverer
//! constructs: a post or a profile the policy did not allow for this request,
//! or that the ledger did not record, cannot be rendered.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

pub use serde::ser::SerializeMap as Members;
use tollgate_deliver::Released;
use tollgate_domain::{Account, AccountId, Post, PostId, Reason, Timestamp};

use crate::x_names::{self, Generation, Part};

/// Which optional fields a response carries, and in which generation of X's
/// names it is written (`x_names`): a set of bits and a flag, nothing
/// allocated per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields {
    parts: u16,
    generation: Generation,
}

/// The post field each expansion joins on: X adds it to every post of a
/// response that asks for the expansion, so that clients can match
/// `includes` to the posts, whether the fields list names it or not.
const JOINS: [(Part, Part); 3] = [
    (Part::ExpandAuthors, Part::AuthorId),
    (Part::ExpandReplyUsers, Part::InReplyToUserId),
    (Part::ExpandReferenced, Part::Referenced),
];

impl Fields {
    /// From the parts the validated field and expansion lists ask for
    /// (`x_names::Part` bits; names Tollgate keeps no data for have none) and
    /// the generation of the request's names.
    pub fn new(parts: u16, generation: Generation) -> Fields {
        let joined = JOINS.iter().filter(|(e, _)| parts & e.bit() != 0).fold(0, |bits, (_, f)| bits | f.bit());
        Fields { parts: parts | joined, generation }
    }

    fn has(&self, part: Part) -> bool {
        self.parts & part.bit() != 0
    }

    pub fn expands(&self, part: Part) -> bool {
        self.has(part)
    }
}

/// A value X writes as a JSON string: ids (their decimal digits) and times.
pub struct Str<T>(pub T);

/// What `Str` can hold, and how it is written: straight into the body as one
/// string, without going through `Display` and a formatter (a response of
/// 100 posts writes 200 ids or more).
pub trait AsStr {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

macro_rules! id_as_str {
    ($($id:ty),*) => {$(
        impl AsStr for $id {
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(itoa::Buffer::new().format(self.0))
            }
        }
    )*};
}

id_as_str!(PostId, AccountId);

impl AsStr for Timestamp {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A timestamp serializes as the string X writes (RFC 3339, ms).
        self.serialize(s)
    }
}

impl<T: AsStr + ?Sized> AsStr for &T {
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).write(s)
    }
}

impl<T: AsStr> Serialize for Str<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(s)
    }
}

/// X's `referenced_tweets` (`referenced_posts`) entry of a reply.
struct RepliedTo<T>(T);

impl<T: AsStr> Serialize for RepliedTo<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&ReplyRef(&self.0))?;
        seq.end()
    }
}

struct ReplyRef<'a, T>(&'a T);

impl<T: AsStr> Serialize for ReplyRef<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", "replied_to")?;
        map.serialize_entry("id", &Str(self.0))?;
        map.end()
    }
}

/// A released post as an X tweet object.
pub struct Tweet<'a>(pub &'a Released<Post>, pub &'a Fields);

impl Serialize for Tweet<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TweetOf(self.0, self.1).serialize(s)
    }
}

/// The tweet object of a post.
struct TweetOf<'a>(&'a Post, &'a Fields);

impl Serialize for TweetOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let TweetOf(post, f) = *self;
        let mut o = s.serialize_map(None)?;
        o.serialize_entry("id", &Str(post.id))?;
        o.serialize_entry("text", &post.text)?;
        // X includes the edit history by default; clients rely on it.
        o.serialize_entry(x_names::EDIT_HISTORY.name(f.generation), &[Str(post.id)])?;
        if f.has(Part::AuthorId) {
            o.serialize_entry("author_id", &Str(post.author_id))?;
        }
        if f.has(Part::CreatedAt) {
            o.serialize_entry("created_at", &Str(post.created_at))?;
        }
        if f.has(Part::Lang) {
            o.serialize_entry("lang", &post.lang)?;
        }
        if f.has(Part::ConversationId) {
            o.serialize_entry("conversation_id", &Str(post.conversation()))?;
        }
        if f.has(Part::InReplyToUserId)
            && let Some(u) = post.in_reply_to_user_id
        {
            o.serialize_entry("in_reply_to_user_id", &Str(u))?;
        }
        if f.has(Part::Referenced)
            && let Some(parent) = post.in_reply_to
        {
            o.serialize_entry(x_names::REFERENCED.name(f.generation), &RepliedTo(parent))?;
        }
        o.end()
    }
}

/// A released profile as an X user object.
pub struct User<'a>(pub &'a Released<Account>, pub &'a Fields);

impl Serialize for User<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        UserOf(self.0, self.1).serialize(s)
    }
}

/// The user object of an account.
struct UserOf<'a>(&'a Account, &'a Fields);

impl Serialize for UserOf<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let UserOf(account, f) = *self;
        let mut o = s.serialize_map(None)?;
        o.serialize_entry("id", &Str(account.id))?;
        o.serialize_entry("name", &account.display_name)?;
        o.serialize_entry("username", &account.handle)?;
        if f.has(Part::UserCreatedAt) {
            o.serialize_entry("created_at", &Str(account.created_at))?;
        }
        if f.has(Part::UserDescription) {
            o.serialize_entry("description", &account.description)?;
        }
        if f.has(Part::UserProtected) {
            o.serialize_entry("protected", &account.protected)?;
        }
        o.end()
    }
}

/// Released posts as an array of tweet objects.
pub struct Tweets<'a>(pub &'a [Released<Post>], pub &'a Fields);

impl Serialize for Tweets<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for post in self.0 {
            seq.serialize_element(&Tweet(post, self.1))?;
        }
        seq.end()
    }
}

/// Released profiles (or references to them) as an array of user objects.
pub struct Users<'a, T>(pub &'a [T], pub &'a Fields);

impl<T: std::borrow::Borrow<Released<Account>>> Serialize for Users<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for account in self.0 {
            seq.serialize_element(&User(account.borrow(), self.1))?;
        }
        seq.end()
    }
}

/// X's `includes` object: the expanded users and the referenced posts
/// (`tweets` or `posts`, by the request's generation), each member present
/// only when it has items.
pub struct Includes<'a> {
    pub users: Users<'a, Released<Account>>,
    pub tweets: Tweets<'a>,
}

impl Serialize for Includes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_map(None)?;
        if !self.users.0.is_empty() {
            o.serialize_entry("users", &self.users)?;
        }
        if !self.tweets.0.is_empty() {
            o.serialize_entry(x_names::INCLUDED_POSTS.name(self.tweets.1.generation), &self.tweets)?;
        }
        o.end()
    }
}

/// Withheld counts by reason code.
pub struct ByReason<'a>(pub &'a BTreeMap<Reason, u32>);

impl Serialize for ByReason<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(r, n)| (r.as_str(), n)))
    }
}

/// Writes a response body, a JSON object, into a buffer sized for it:
/// `entries` adds the object's members.
pub fn object<F>(size_hint: usize, entries: F) -> Result<Vec<u8>, crate::ApiError>
where
    F: FnOnce(
        &mut serde_json::ser::Compound<'_, &mut Vec<u8>, serde_json::ser::CompactFormatter>,
    ) -> serde_json::Result<()>,
{
    let mut out = Vec::with_capacity(size_hint);
    let written = (|| {
        let mut ser = serde_json::Serializer::new(&mut out);
        let mut map = ser.serialize_map(None)?;
        entries(&mut map)?;
        SerializeMap::end(map)
    })();
    written.map_err(|e| crate::ApiError::Internal(format!("writing a response body: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use tollgate_domain::{AccountId, AccountStatus, AiPreferences, PostId, Timestamp};

    use super::*;
    use crate::x_names::List;

    fn post() -> Post {
        Post {
            id: PostId(20),
            author_id: AccountId(7),
            created_at: Timestamp::from_millis(1_700_000_000_123),
            text: "a \"quoted\" word\n".into(),
            lang: "en".into(),
            in_reply_to: Some(PostId(10)),
            in_reply_to_user_id: Some(AccountId(3)),
            conversation_id: Some(PostId(10)),
            no_ai: false,
            deleted_at: None,
        }
    }

    fn account() -> Account {
        Account {
            id: AccountId(7),
            handle: "ada".into(),
            display_name: "Ada ✨".into(),
            description: "analyst".into(),
            created_at: Timestamp::from_millis(1_288_834_974_657),
            region: "GB".into(),
            birth_year: None,
            is_minor: None,
            protected: true,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        }
    }

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// The fields the names of each list ask for, as `Params::names` reads them.
    fn asked(lists: &[(List, &[&str])], generation: Generation) -> Fields {
        let mut parts = 0;
        for (list, names) in lists {
            for name in *names {
                let entry = x_names::lookup(*list, name).unwrap_or_else(|| panic!("{name} is not in {list:?}"));
                parts |= entry.serves.map_or(0, Part::bit);
            }
        }
        Fields::new(parts, generation)
    }

    const ALL_POST_FIELDS: &[&str] = &[
        "author_id",
        "created_at",
        "lang",
        "conversation_id",
        "in_reply_to_user_id",
        "referenced_tweets",
        "possibly_sensitive",
        "reply_settings",
    ];

    #[test]
    fn tweets_carry_the_default_and_the_asked_fields_in_order() {
        let none = Fields::default();
        assert_eq!(
            json(&TweetOf(&post(), &none)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"]}"#
        );
        let all = asked(&[(List::PostFields, ALL_POST_FIELDS)], Generation::Tweets);
        assert_eq!(
            json(&TweetOf(&post(), &all)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"author_id":"7","created_at":"2023-11-14T22:13:20.123Z","lang":"en","conversation_id":"10","in_reply_to_user_id":"3","referenced_tweets":[{"type":"replied_to","id":"10"}]}"#
        );
        let some = asked(&[(List::PostFields, &["lang", "public_metrics"])], Generation::Tweets);
        assert_eq!(
            json(&TweetOf(&post(), &some)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"lang":"en"}"#
        );
    }

    #[test]
    fn posts_of_the_2_167_generation_carry_its_property_names() {
        let fields: &[&str] = &["created_at", "article_title", "note_post"];
        let expansions: &[&str] = &["author_id", "referenced_posts", "edit_history_post_ids"];
        let f = asked(&[(List::PostFields, fields), (List::PostExpansions, expansions)], Generation::Posts);
        assert_eq!(
            json(&TweetOf(&post(), &f)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_post_ids":["20"],"author_id":"7","created_at":"2023-11-14T22:13:20.123Z","referenced_posts":[{"type":"replied_to","id":"10"}]}"#
        );
    }

    #[test]
    fn expansions_add_the_fields_they_join_on() {
        let expansions: &[&str] = &["author_id", "referenced_tweets.id", "in_reply_to_user_id"];
        let expanded = asked(&[(List::PostExpansions, expansions)], Generation::Tweets);
        assert_eq!(
            json(&TweetOf(&post(), &expanded)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"author_id":"7","in_reply_to_user_id":"3","referenced_tweets":[{"type":"replied_to","id":"10"}]}"#
        );
        let invented = asked(
            &[
                (List::PostFields, &["possibly_sensitive", "reply_settings", "suggested_source_links"]),
                (List::UserFields, &["verified", "confirmed_email", "subscribes_to_you"]),
            ],
            Generation::Tweets,
        );
        assert_eq!(
            json(&TweetOf(&post(), &invented)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"]}"#
        );
        assert_eq!(json(&UserOf(&account(), &invented)), r#"{"id":"7","name":"Ada ✨","username":"ada"}"#);
    }

    #[test]
    fn users_carry_the_default_and_the_asked_fields_in_order() {
        let none = Fields::default();
        assert_eq!(json(&UserOf(&account(), &none)), r#"{"id":"7","name":"Ada ✨","username":"ada"}"#);
        let names: &[&str] = &["protected", "verified", "description", "created_at", "pinned_tweet_id"];
        let all = asked(&[(List::UserFields, names)], Generation::Tweets);
        assert_eq!(
            json(&UserOf(&account(), &all)),
            r#"{"id":"7","name":"Ada ✨","username":"ada","created_at":"2010-11-04T01:42:54.657Z","description":"analyst","protected":true}"#
        );
    }

    #[test]
    fn bodies_are_objects_of_the_members_given() {
        let body = object(16, |o| {
            o.serialize_entry("data", &[TweetOf(&post(), &Fields::default())])?;
            o.serialize_entry("meta", &ByReason(&BTreeMap::from([(Reason::DELETED, 2)])))
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"data":[{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"]}],"meta":{"deleted":2}}"#
        );
    }
}
