//! Strict query-parameter and header parsing, answering bad input the way X
//! does: the parameter, the offending value and what would have been accepted.
//!
//! The query string is decoded here, not by axum's `Query`: that one keeps a
//! `%` not followed by two hex digits as text and turns bytes that are not
//! UTF-8 into U+FFFD, so a broken query would be answered as if it were a
//! different, valid one.

use std::collections::BTreeSet;
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderValue, header};
use tollgate_domain::{PostId, Timestamp};

use crate::error::ApiError;
use crate::x_names::{self, Generation, List};

/// The parsed query string of one request.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes the raw query string, then checks that every parameter is one
    /// of `allowed` and none is repeated.
    pub fn new(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let pairs = decode_query(raw.unwrap_or(""))?;
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
                        format!(
                            "Invalid '{key}':'{v}'. '{key}' must be an RFC 3339 date-time such as \
                             2026-01-01T00:00:00Z or 2026-01-01T01:00:00+01:00"
                        ),
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

    /// Reads the list parameter `key` (`tweet.fields`, `expansions`, ...)
    /// into `asked`: every item must be a name X defines in `list`, in either
    /// generation (`x_names`). Looked up in the sorted table, nothing allocated.
    pub fn names<'a>(&'a self, key: &'a str, list: List, asked: &mut Asked<'a>) -> Result<(), ApiError> {
        let Some(value) = self.get(key) else { return Ok(()) };
        if let Some(generation) = x_names::lookup(List::Parameters, key).and_then(|p| p.generation()) {
            asked.mark(generation, key, value, key);
        }
        for item in value.split(',') {
            let Some(name) = x_names::lookup(list, item) else {
                let accepted: Vec<&str> = x_names::list(list).iter().map(|n| n.name).collect();
                return Err(ApiError::param(
                    key,
                    item,
                    format!("The `{key}` query parameter value [{item}] is not one of [{}]", accepted.join(",")),
                ));
            };
            if let Some(part) = name.serves {
                asked.parts |= part.bit();
            }
            if let Some(generation) = name.generation() {
                asked.mark(generation, key, item, item);
            }
        }
        Ok(())
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

/// The field and expansion names of a request: what they ask Tollgate to
/// render, and the first name of each generation of X's naming they use.
#[derive(Debug, Default)]
pub struct Asked<'a> {
    parts: u16,
    previous: Option<Marker<'a>>,
    current: Option<Marker<'a>>,
}

/// Where a request names a generation: the parameter, its value (or the
/// item) as sent, and the name that says it (the parameter's or the item's).
#[derive(Debug, Clone, Copy)]
struct Marker<'a> {
    parameter: &'a str,
    value: &'a str,
    name: &'a str,
}

impl Marker<'_> {
    fn shown(&self) -> String {
        if self.name == self.parameter {
            format!("`{}`", self.parameter)
        } else {
            format!("`{}` in `{}`", self.name, self.parameter)
        }
    }
}

impl<'a> Asked<'a> {
    fn mark(&mut self, generation: Generation, parameter: &'a str, value: &'a str, name: &'a str) {
        let slot = match generation {
            Generation::Tweets => &mut self.previous,
            Generation::Posts => &mut self.current,
        };
        slot.get_or_insert(Marker { parameter, value, name });
    }

    /// The parts to render (`x_names::Part` bits), and the generation the
    /// answer is written in: 2.167's if a name only 2.167 has says so
    /// (`post.fields`, `referenced_posts`, ...), else the one before it, the
    /// default, which names without a generation (`author_id`) keep. Names of
    /// both generations in one request are a `400` naming one of each: the
    /// answer could honour only one of them.
    pub fn resolve(self) -> Result<(u16, Generation), ApiError> {
        match (self.previous, self.current) {
            (Some(old), Some(new)) => Err(ApiError::InvalidParameters {
                parameters: vec![
                    (old.parameter.to_owned(), old.value.to_owned()),
                    (new.parameter.to_owned(), new.value.to_owned()),
                ],
                message: format!(
                    "The request mixes X's names from {} ({}) with those of version {} ({}); \
                     use the names of one version",
                    x_names::PREVIOUS,
                    old.shown(),
                    x_names::CURRENT,
                    new.shown(),
                ),
            }),
            (_, current) => {
                let generation = if current.is_some() { Generation::Posts } else { Generation::Tweets };
                Ok((self.parts, generation))
            }
        }
    }
}

/// The `name=value` pairs of a raw query string (`application/x-www-form-urlencoded`),
/// refusing a `%` that is not followed by two hex digits and percent-encoded
/// bytes that are not UTF-8 (overlong forms included): the error names the
/// parameter and shows the value as sent.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let key = decode_component(name).map_err(|why| {
            ApiError::param(name, value, format!("The query parameter name [{name}] is not valid: {why}"))
        })?;
        let decoded = decode_component(value).map_err(|why| {
            ApiError::param(&key, value, format!("The `{key}` query parameter value [{value}] is not valid: {why}"))
        })?;
        pairs.push((key, decoded));
    }
    Ok(pairs)
}

/// One percent-encoded component, `+` standing for a space.
fn decode_component(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    if memchr::memchr2(b'%', b'+', bytes).is_none() {
        return Ok(text.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(hex) = hex else {
                    return Err(format!("`%` at byte {i} is not followed by two hexadecimal digits"));
                };
                let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(digit(hex[0]) << 4 | digit(hex[1]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        format!(
            "the percent-encoded bytes are not UTF-8 (the decoded value is invalid from byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The value of a header that may be given at most once; a repeated one is a
/// `400` (`shown` is the header's name as documented). Values are echoed only
/// for headers that carry no secret.
pub fn single_header<'a>(headers: &'a HeaderMap, name: &str, shown: &str) -> Result<Option<&'a HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    let repeated = values.count();
    if repeated == 0 {
        return Ok(first);
    }
    let message = format!("The `{shown}` header may be given only once, not {} times", repeated + 1);
    if name.eq_ignore_ascii_case(header::AUTHORIZATION.as_str()) {
        return Err(ApiError::InvalidRequest(message));
    }
    Err(ApiError::InvalidParameter {
        parameter: shown.to_owned(),
        values: headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect(),
        message,
    })
}

/// The token of `Authorization: Bearer <token>`, `None` if there is no such
/// header or it is not a bearer credential. The scheme is matched without
/// regard to case (RFC 7235, section 2.1: `bearer` and `BEARER` are `Bearer`),
/// and may be followed by more than one space. A repeated header is a `400`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = single_header(headers, header::AUTHORIZATION.as_str(), "Authorization")? else {
        return Ok(None);
    };
    let Ok(value) = value.to_str() else { return Ok(None) };
    let Some((scheme, token)) = value.split_once(' ') else { return Ok(None) };
    let token = token.trim();
    Ok((scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> String {
        match decode_query(raw) {
            Err(ApiError::InvalidParameter { parameter, message, .. }) => format!("{parameter}: {message}"),
            other => panic!("`{raw}` was not refused: {other:?}"),
        }
    }

    #[test]
    fn queries_decode_plus_and_percent() {
        let pairs = decode_query("query=a+b%20c%22&&max_results=10&flag").unwrap();
        let expected = [("query", "a b c\""), ("max_results", "10"), ("flag", "")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(decode_query("query=caf%C3%A9").unwrap()[0].1, "caf\u{e9}");
    }

    #[test]
    fn broken_percent_encoding_is_refused_naming_the_parameter() {
        for raw in ["query=%ZZ", "query=ab%2", "query=%FF%FE", "query=%C0%AF", "query=%ED%A0%80"] {
            let err = refused(raw);
            assert!(err.starts_with("query: "), "{raw}: {err}");
        }
        assert!(refused("query=%ZZ").contains("two hexadecimal digits"));
        assert!(refused("query=%C0%AF").contains("not UTF-8"));
        assert!(refused("%FF=1").contains("name"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc "] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert_eq!(bearer_token(&h).unwrap(), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc"] {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            assert_eq!(bearer_token(&h).unwrap(), None, "{value}");
        }
    }
}
