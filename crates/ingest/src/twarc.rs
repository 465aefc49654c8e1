//! X API v2 response pages as twarc2 archives them, one page per line:
//! `{"data": [tweets], "includes": {"users": [...], "tweets": [...]}, "meta":
//! {...}, "__twarc": {...}}`. Only the fields Tollgate keeps are read; X adds
//! fields over time, so unknown ones are ignored here (unlike in Tollgate's own
//! format, where an unknown field is a typo). Pages in the names of X's
//! document 2.167 (`includes.posts`, `referenced_posts`, `note_post`) are read
//! like those before it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tollgate_domain::{Account, AccountId, AccountStatus, AiPreferences, Post, PostId, Timestamp};

/// The top-level keys of a response page. A line whose first key is one of
/// these is a page; Tollgate's own records never start with them.
pub(crate) const PAGE_KEYS: [&str; 5] = ["data", "includes", "meta", "errors", "__twarc"];

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    /// An array for searches and timelines; a single object for a lookup by id.
    #[serde(default, deserialize_with = "one_or_many")]
    pub data: Vec<XTweet>,
    #[serde(default)]
    pub includes: Includes,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Includes {
    #[serde(default)]
    pub users: Vec<XUser>,
    /// Tweets the page's tweets refer to (replied to, quoted, retweeted).
    #[serde(default, alias = "posts")]
    pub tweets: Vec<XTweet>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct XTweet {
    pub id: XId,
    #[serde(default)]
    pub text: String,
    pub author_id: XId,
    /// Missing only when the archive did not ask for it; the id then tells.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<XId>,
    #[serde(default)]
    pub in_reply_to_user_id: Option<XId>,
    #[serde(default, alias = "referenced_posts")]
    pub referenced_tweets: Vec<XReference>,
    /// A long post's full text; `text` then holds only its first 280 characters.
    #[serde(default, alias = "note_post")]
    pub note_tweet: Option<XNoteTweet>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct XReference {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: XId,
}

#[derive(Debug, Deserialize)]
pub(crate) struct XNoteTweet {
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct XUser {
    pub id: XId,
    pub username: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub created_at: Timestamp,
    #[serde(default)]
    pub protected: bool,
}

/// X sends ids as decimal strings (they overflow JavaScript numbers); numbers
/// are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XId(pub u64);

impl<'de> Deserialize<'de> for XId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = XId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id: a string of 1 to 19 digits")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<XId, E> {
                Ok(XId(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<XId, E> {
                v.parse::<PostId>().map(|id| XId(id.0)).map_err(E::custom)
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

fn one_or_many<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    struct OneOrMany<T>(PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of objects or one object")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            Ok(vec![T::deserialize(de::value::MapAccessDeserializer::new(map))?])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(OneOrMany(PhantomData))
}

impl XTweet {
    pub(crate) fn to_post(&self) -> Post {
        let id = PostId(self.id.0);
        let text = self.note_tweet.as_ref().map_or(&self.text, |n| &n.text);
        Post {
            id,
            author_id: AccountId(self.author_id.0),
            created_at: self.created_at.unwrap_or_else(|| id.timestamp()),
            text: text.clone(),
            lang: self.lang.clone().unwrap_or_else(|| "und".to_owned()),
            in_reply_to: self.referenced_tweets.iter().find(|r| r.kind == "replied_to").map(|r| PostId(r.id.0)),
            in_reply_to_user_id: self.in_reply_to_user_id.map(|u| AccountId(u.0)),
            conversation_id: self.conversation_id.map(|c| PostId(c.0)),
            no_ai: false,
            deleted_at: None,
        }
    }
}

impl XUser {
    /// X's user objects say nothing of region, age, status or AI preferences:
    /// the account gets `region` and the defaults for the rest.
    pub(crate) fn to_account(&self, region: &str) -> Account {
        Account {
            id: AccountId(self.id.0),
            handle: self.username.clone(),
            display_name: self.name.clone(),
            description: self.description.clone(),
            created_at: self.created_at,
            region: region.to_owned(),
            birth_year: None,
            is_minor: None,
            protected: self.protected,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        }
    }

    /// The name of an `Account` field in X's vocabulary, for error messages.
    pub(crate) fn x_field(field: &str) -> &str {
        match field {
            "handle" => "username",
            "display_name" => "name",
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_page_with_a_single_object_parses() {
        let page: Page = serde_json::from_str(
            r#"{"data": {"id": "20", "text": "just setting up my twttr", "author_id": "12",
                "created_at": "2006-03-21T20:50:14.000Z", "edit_history_tweet_ids": ["20"]}}"#,
        )
        .unwrap();
        assert_eq!(page.data.len(), 1);
        let post = page.data[0].to_post();
        assert_eq!((post.id, post.author_id, post.lang.as_str()), (PostId(20), AccountId(12), "und"));
    }

    #[test]
    fn a_page_in_the_names_of_2_167_reads_like_one_before_it() {
        let page: Page = serde_json::from_str(
            r#"{"data": [{"id": "21", "text": "short", "author_id": "12", "edit_history_post_ids": ["21"],
                  "referenced_posts": [{"type": "replied_to", "id": "20"}], "note_post": {"text": "long"}}],
                "includes": {"posts": [{"id": "20", "text": "first", "author_id": "12"}]}}"#,
        )
        .unwrap();
        let post = page.data[0].to_post();
        assert_eq!((post.in_reply_to, post.text.as_str()), (Some(PostId(20)), "long"));
        assert_eq!(page.includes.tweets.len(), 1);
    }

    #[test]
    fn a_long_post_keeps_its_full_text_and_a_missing_time_comes_from_the_id() {
        let id = PostId::mint(Timestamp::parse("2024-05-01T10:00:00Z").unwrap(), 3);
        let line = format!(
            r#"{{"id": "{id}", "text": "short…", "author_id": 7, "note_tweet": {{"text": "the whole thing"}}}}"#
        );
        let tweet: XTweet = serde_json::from_str(&line).unwrap();
        let post = tweet.to_post();
        assert_eq!(post.text, "the whole thing");
        assert_eq!(post.created_at, Timestamp::parse("2024-05-01T10:00:00Z").unwrap());
    }
}
