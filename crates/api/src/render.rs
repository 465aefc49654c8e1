//! X API v2 object shapes: posts as "tweets", accounts as "users", with field
//! selection. Ids are strings; times are X's millisecond RFC 3339.
//!
//! The renderers take only `Released` items, which only the deliverer
//! constructs: a post or a profile the policy did not allow for this request,
//! or that the ledger did not record, cannot be rendered.

use serde_json::{Map, Value, json};
use tollgate_deliver::Released;
use tollgate_domain::{Account, Post};

/// Which optional fields a response carries.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    pub tweet: Vec<String>,
    pub user: Vec<String>,
    pub expansions: Vec<String>,
}

impl Fields {
    fn tweet_has(&self, f: &str) -> bool {
        self.tweet.iter().any(|x| x == f)
    }

    fn user_has(&self, f: &str) -> bool {
        self.user.iter().any(|x| x == f)
    }

    pub fn expands(&self, e: &str) -> bool {
        self.expansions.iter().any(|x| x == e)
    }
}

pub fn tweet(post: &Released<Post>, fields: &Fields) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(post.id.to_string()));
    o.insert("text".into(), Value::String(post.text.clone()));
    // X includes the edit history by default; clients rely on it.
    o.insert("edit_history_tweet_ids".into(), json!([post.id.to_string()]));
    if fields.tweet_has("author_id") {
        o.insert("author_id".into(), Value::String(post.author_id.to_string()));
    }
    if fields.tweet_has("created_at") {
        o.insert("created_at".into(), Value::String(post.created_at.to_string()));
    }
    if fields.tweet_has("lang") {
        o.insert("lang".into(), Value::String(post.lang.clone()));
    }
    if fields.tweet_has("conversation_id") {
        o.insert("conversation_id".into(), Value::String(post.conversation().to_string()));
    }
    if fields.tweet_has("in_reply_to_user_id")
        && let Some(u) = post.in_reply_to_user_id
    {
        o.insert("in_reply_to_user_id".into(), Value::String(u.to_string()));
    }
    if fields.tweet_has("referenced_tweets")
        && let Some(parent) = post.in_reply_to
    {
        o.insert("referenced_tweets".into(), json!([{ "type": "replied_to", "id": parent.to_string() }]));
    }
    if fields.tweet_has("possibly_sensitive") {
        o.insert("possibly_sensitive".into(), Value::Bool(false));
    }
    if fields.tweet_has("reply_settings") {
        o.insert("reply_settings".into(), Value::String("everyone".into()));
    }
    Value::Object(o)
}

pub fn user(account: &Released<Account>, fields: &Fields) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(account.id.to_string()));
    o.insert("name".into(), Value::String(account.display_name.clone()));
    o.insert("username".into(), Value::String(account.handle.clone()));
    if fields.user_has("created_at") {
        o.insert("created_at".into(), Value::String(account.created_at.to_string()));
    }
    if fields.user_has("description") {
        o.insert("description".into(), Value::String(account.description.clone()));
    }
    if fields.user_has("protected") {
        o.insert("protected".into(), Value::Bool(account.protected));
    }
    if fields.user_has("verified") {
        o.insert("verified".into(), Value::Bool(false));
    }
    Value::Object(o)
}
