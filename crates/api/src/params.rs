//! Strict query-parameter parsing, answering bad input the way X does: the
//! parameter, the offending value and what would have been accepted.

use std::collections::BTreeSet;
use std::str::FromStr;

use tollgate_domain::{PostId, Timestamp};

use crate::error::ApiError;

/// Tweet fields X defines. Fields Tollgate does not keep are accepted and left out.
pub const TWEET_FIELDS: &[&str] = &[
    "article",
    "attachments",
    "author_id",
    "card_uri",
    "community_id",
    "context_annotations",
    "conversation_id",
    "created_at",
    "display_text_range",
    "edit_controls",
    "edit_history_tweet_ids",
    "entities",
    "geo",
    "id",
    "in_reply_to_user_id",
    "lang",
    "media_metadata",
    "non_public_metrics",
    "note_tweet",
    "organic_metrics",
    "possibly_sensitive",
    "promoted_metrics",
    "public_metrics",
    "referenced_tweets",
    "reply_settings",
    "scopes",
    "source",
    "text",
    "withheld",
];

/// User fields X defines. Fields Tollgate does not keep are accepted and left out.
pub const USER_FIELDS: &[&str] = &[
    "affiliation",
    "connection_status",
    "created_at",
    "description",
    "entities",
    "id",
    "is_identity_verified",
    "location",
    "most_recent_tweet_id",
    "name",
    "parody",
    "pinned_tweet_id",
    "profile_banner_url",
    "profile_image_url",
    "protected",
    "public_metrics",
    "receives_your_dm",
    "subscription",
    "subscription_type",
    "url",
    "username",
    "verified",
    "verified_followers_count",
    "verified_type",
    "withheld",
];

/// Expansions X defines on post endpoints. Tollgate serves `author_id` and
/// `in_reply_to_user_id`; the others name objects it does not keep (media,
/// polls, places) or posts a client can look up by id, and are left out, as X
/// leaves out expansions that do not apply. Client libraries such as twarc ask
/// for all of them by default.
pub const TWEET_EXPANSIONS: &[&str] = &[
    "attachments.media_keys",
    "attachments.media_source_tweet",
    "attachments.poll_ids",
    "author_id",
    "edit_history_tweet_ids",
    "entities.mentions.username",
    "entities.note.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys",
    "referenced_tweets.id.author_id",
];

/// Expansions X defines on user endpoints; none applies to what Tollgate keeps.
pub const USER_EXPANSIONS: &[&str] = &["affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"];

/// The parsed query string of one request.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Checks that every parameter is one of `allowed` and none is repeated.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut seen = BTreeSet::new();
        for (key, value) in &pairs {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::param(
                    key,
                    value,
                    format!("The query parameter [{key}] is not one of [{}]", allowed.join(",")),
                ));
            }
            if !seen.insert(key.as_str()) {
                return Err(ApiError::param(key, value, format!("The query parameter [{key}] may be given only once")));
            }
        }
        Ok(Params { pairs })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key).ok_or_else(|| ApiError::InvalidParameter {
            parameter: key.to_owned(),
            values: Vec::new(),
            message: format!("The `{key}` query parameter can not be empty"),
        })
    }

    pub fn post_id(&self, key: &str) -> Result<Option<PostId>, ApiError> {
        self.get(key).map(|v| parse_id(key, v)).transpose()
    }

    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(key)
            .map(|v| {
                Timestamp::parse(v).map_err(|_| {
                    ApiError::param(
                        key,
                        v,
                        format!("Invalid '{key}':'{v}'. '{key}' must be a date-time of the form YYYY-MM-DDTHH:mm:ssZ"),
                    )
                })
            })
            .transpose()
    }

    /// An integer in `min..=max`, or `default`.
    pub fn int(&self, key: &str, min: usize, max: usize, default: usize) -> Result<usize, ApiError> {
        let Some(v) = self.get(key) else { return Ok(default) };
        match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::param(
                key,
                v,
                format!("The `{key}` query parameter value [{v}] is not between {min} and {max}"),
            )),
        }
    }

    /// A comma-separated list whose every item is one of `allowed`.
    pub fn list(&self, key: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let Some(v) = self.get(key) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for item in v.split(',') {
            if !allowed.contains(&item) {
                return Err(ApiError::param(
                    key,
                    item,
                    format!("The `{key}` query parameter value [{item}] is not one of [{}]", allowed.join(",")),
                ));
            }
            if !out.iter().any(|o| o == item) {
                out.push(item.to_owned());
            }
        }
        Ok(out)
    }

    /// `ids=1,2,3`: 1 to `max` ids.
    pub fn ids<T: FromStr>(&self, key: &str, max: usize) -> Result<Vec<T>, ApiError> {
        let raw = self.required(key)?;
        let items: Vec<&str> = raw.split(',').collect();
        if items.len() > max {
            return Err(ApiError::param(
                key,
                raw,
                format!(
                    "The `{key}` query parameter value [{raw}] must contain at most {max} ids, not {}",
                    items.len()
                ),
            ));
        }
        items.into_iter().map(|v| parse_id(key, v)).collect()
    }
}

/// A decimal id as X accepts it, or X's error naming the parameter.
pub fn parse_id<T: FromStr>(key: &str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| {
        ApiError::param(key, v, format!("The `{key}` query parameter value [{v}] does not match ^[0-9]{{1,19}}$"))
    })
}

/// Opaque pagination tokens: the boundary id, masked, with a check value, so a
/// token that was not minted here is refused rather than misread.
pub mod token {
    use tollgate_domain::PostId;

    const MASK: u64 = 0x5d1c_3a97_e24b_860f;

    pub fn encode(id: PostId) -> String {
        let masked = id.0 ^ MASK;
        format!("{masked:016x}{:04x}", check(masked))
    }

    pub fn decode(token: &str) -> Option<PostId> {
        if token.len() != 20 || !token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        let masked = u64::from_str_radix(&token[..16], 16).ok()?;
        let sum = u16::from_str_radix(&token[16..], 16).ok()?;
        (check(masked) == sum).then_some(PostId(masked ^ MASK))
    }

    /// Fletcher-16 over the masked id's bytes.
    fn check(v: u64) -> u16 {
        let (mut a, mut b) = (0u16, 0u16);
        for byte in v.to_le_bytes() {
            a = (a + u16::from(byte)) % 255;
            b = (b + a) % 255;
        }
        (b << 8) | a
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tokens_round_trip_and_refuse_tampering() {
            for id in [0u64, 1, 1_800_000_000_000_000_000, u64::MAX >> 1] {
                let t = encode(PostId(id));
                assert_eq!(decode(&t), Some(PostId(id)));
                let mut bad = t.into_bytes();
                bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
                assert_eq!(decode(std::str::from_utf8(&bad).unwrap()), None);
            }
            assert_eq!(decode("not-a-token"), None);
        }
    }
}
