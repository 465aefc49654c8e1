//! Posts (X: tweets).

use serde::{Deserialize, Serialize};

use crate::{AccountId, PostId, Timestamp};

/// A post. This is also the JSON-lines import format (see `docs/import.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Post {
    pub id: PostId,
    pub author_id: AccountId,
    pub created_at: Timestamp,
    pub text: String,
    /// BCP 47 language tag as X reports it (`en`, `de`, `und`, ...).
    #[serde(default = "undetermined")]
    pub lang: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<PostId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to_user_id: Option<AccountId>,
    /// The id of the thread's first post; a post that starts a thread has its own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<PostId>,
    /// The author withheld this post from every AI purpose.
    #[serde(default)]
    pub no_ai: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
}

fn undetermined() -> String {
    "und".to_owned()
}

impl Post {
    pub fn conversation(&self) -> PostId {
        self.conversation_id.unwrap_or(self.id)
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Checks the fields a store must not accept; returns the field and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.text.chars().count() > 25_000 {
            return Err(("text", "must be at most 25,000 characters".into()));
        }
        let lang = &self.lang;
        if lang.is_empty() || lang.len() > 35 || !lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(("lang", format!("`{lang}` must be a BCP 47 tag such as `en` or `und`")));
        }
        if self.in_reply_to == Some(self.id) {
            return Err(("in_reply_to", "a post cannot reply to itself".into()));
        }
        Ok(())
    }
}
