//! X API v2 object shapes: posts as "tweets", accounts as "users", with field
//! selection. Ids are strings; times are X's millisecond RFC 3339.
//!
//! Objects are serialized from the domain types straight into the response
//! body: no intermediate `serde_json::Value`, and ids and times are written
//! with `collect_str`, without a `String` each. Fields come in the order X
//! documents them (id, text, edit history, then the optional fields).
//!
//! The renderers take only `Released` items, which only the deliverer
//! constructs: a post or a profile the policy did not allow for this request,
//! or that the ledger did not record, cannot be rendered.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

pub use serde::ser::SerializeMap as Members;
use tollgate_deliver::Released;
use tollgate_domain::{Account, Post, Reason};

/// Which optional fields a response carries.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    tweet: u16,
    user: u8,
    expansions: Vec<String>,
}

/// The optional tweet fields Tollgate has data for, in the order they are
/// written. Other names X defines (`possibly_sensitive`, `reply_settings`,
/// metrics...) are accepted and left out: Tollgate does not keep them, and a
/// default would be a value the platform never gave.
const TWEET_FLAGS: [&str; 6] =
    ["author_id", "created_at", "lang", "conversation_id", "in_reply_to_user_id", "referenced_tweets"];
/// The optional user fields Tollgate has data for, in the order they are
/// written (`verified` and the like are left out, as above).
const USER_FLAGS: [&str; 3] = ["created_at", "description", "protected"];

/// The tweet field each expansion joins on: X adds it to every tweet of a
/// response that asks for the expansion, so that clients can match
/// `includes` to the tweets, whether `tweet.fields` names it or not.
const JOIN_FIELDS: [(&str, &str); 3] = [
    ("author_id", "author_id"),
    ("in_reply_to_user_id", "in_reply_to_user_id"),
    ("referenced_tweets.id", "referenced_tweets"),
];

fn flags(names: &[String], table: &[&str]) -> u16 {
    names.iter().filter_map(|n| table.iter().position(|t| t == n)).fold(0, |bits, i| bits | 1 << i)
}

impl Fields {
    /// From the validated `tweet.fields`, `user.fields` and `expansions`
    /// (names outside the rendered ones are accepted and render nothing).
    pub fn new(tweet: &[String], user: &[String], expansions: Vec<String>) -> Fields {
        let joined: Vec<String> = JOIN_FIELDS
            .iter()
            .filter(|(expansion, _)| expansions.iter().any(|e| e == expansion))
            .map(|(_, field)| (*field).to_owned())
            .collect();
        let tweet = flags(tweet, &TWEET_FLAGS) | flags(&joined, &TWEET_FLAGS);
        Fields { tweet, user: flags(user, &USER_FLAGS) as u8, expansions }
    }

    fn tweet_has(&self, f: &str) -> bool {
        TWEET_FLAGS.iter().position(|t| *t == f).is_some_and(|i| self.tweet & (1 << i) != 0)
    }

    fn user_has(&self, f: &str) -> bool {
        USER_FLAGS.iter().position(|t| *t == f).is_some_and(|i| self.user & (1 << i) != 0)
    }

    pub fn expands(&self, e: &str) -> bool {
        self.expansions.iter().any(|x| x == e)
    }
}

/// A value written with its `Display` form as a JSON string (ids, times).
pub struct Str<T>(pub T);

impl<T: Display> Serialize for Str<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// X's `referenced_tweets` entry of a reply.
struct RepliedTo<T>(T);

impl<T: Display> Serialize for RepliedTo<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&ReplyRef(&self.0))?;
        seq.end()
    }
}

struct ReplyRef<'a, T>(&'a T);

impl<T: Display> Serialize for ReplyRef<'_, T> {
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
        o.serialize_entry("edit_history_tweet_ids", &[Str(post.id)])?;
        if f.tweet_has("author_id") {
            o.serialize_entry("author_id", &Str(post.author_id))?;
        }
        if f.tweet_has("created_at") {
            o.serialize_entry("created_at", &Str(post.created_at))?;
        }
        if f.tweet_has("lang") {
            o.serialize_entry("lang", &post.lang)?;
        }
        if f.tweet_has("conversation_id") {
            o.serialize_entry("conversation_id", &Str(post.conversation()))?;
        }
        if f.tweet_has("in_reply_to_user_id")
            && let Some(u) = post.in_reply_to_user_id
        {
            o.serialize_entry("in_reply_to_user_id", &Str(u))?;
        }
        if f.tweet_has("referenced_tweets")
            && let Some(parent) = post.in_reply_to
        {
            o.serialize_entry("referenced_tweets", &RepliedTo(parent))?;
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
        if f.user_has("created_at") {
            o.serialize_entry("created_at", &Str(account.created_at))?;
        }
        if f.user_has("description") {
            o.serialize_entry("description", &account.description)?;
        }
        if f.user_has("protected") {
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

/// X's `includes` object: the expanded users and the referenced posts,
/// each member present only when it has items.
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
            o.serialize_entry("tweets", &self.tweets)?;
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn tweets_carry_the_default_and_the_asked_fields_in_order() {
        let none = Fields::default();
        assert_eq!(
            json(&TweetOf(&post(), &none)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"]}"#
        );
        let mut asked = names(&TWEET_FLAGS);
        asked.extend(names(&["possibly_sensitive", "reply_settings"]));
        let all = Fields::new(&asked, &[], vec![]);
        assert_eq!(
            json(&TweetOf(&post(), &all)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"author_id":"7","created_at":"2023-11-14T22:13:20.123Z","lang":"en","conversation_id":"10","in_reply_to_user_id":"3","referenced_tweets":[{"type":"replied_to","id":"10"}]}"#
        );
        let some = Fields::new(&names(&["lang", "public_metrics"]), &[], vec![]);
        assert_eq!(
            json(&TweetOf(&post(), &some)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"lang":"en"}"#
        );
    }

    #[test]
    fn expansions_add_the_fields_they_join_on() {
        let expanded = Fields::new(&[], &[], names(&["author_id", "referenced_tweets.id", "in_reply_to_user_id"]));
        assert_eq!(
            json(&TweetOf(&post(), &expanded)),
            r#"{"id":"20","text":"a \"quoted\" word\n","edit_history_tweet_ids":["20"],"author_id":"7","in_reply_to_user_id":"3","referenced_tweets":[{"type":"replied_to","id":"10"}]}"#
        );
        let invented = Fields::new(&names(&["possibly_sensitive", "reply_settings"]), &names(&["verified"]), vec![]);
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
        let mut asked = names(&USER_FLAGS);
        asked.push("verified".into());
        let all = Fields::new(&[], &asked, vec![]);
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
