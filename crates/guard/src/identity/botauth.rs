//! Web Bot Auth: a crawler proves who it is by signing each request
//! (HTTP Message Signatures, RFC 9421, with Ed25519), under a key it
//! publishes and the operator configures.
//!
//! A request carries `Signature-Agent` (where the crawler's keys are
//! published), `Signature-Input` (what is signed and under which key) and
//! `Signature`:
//!
//! ```text
//! Signature-Input: sig1=("@authority" "signature-agent");created=1765000000;expires=1765000300;keyid="<thumbprint>";alg="ed25519";tag="web-bot-auth"
//! Signature: sig1=:<base64 of the 64-byte Ed25519 signature>:
//! ```
//!
//! The guard accepts a signature when its tag is `web-bot-auth`, it covers
//! `@authority` (so it cannot be replayed to another site) and
//! `signature-agent` when that header is sent, it was created and has not
//! expired (within `SKEW_SECONDS`) and is valid for at most a day, its `keyid` is the RFC 7638 thumbprint
//! of a configured crawler key, and the Ed25519 signature over the RFC 9421
//! signature base verifies (strictly: no malleable signatures). The
//! crawler's published key directory (`Signature-Agent`'s URL) is never
//! fetched: keys come from configuration, so a request can never make the
//! guard call out.
//!
//! Replays within a signature's validity window are not detected (no nonce
//! store): a replayed signature still only vouches for the crawler that
//! made it, on this site.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// How far `created` may be in the future and `expires` in the past:
/// clocks differ.
pub const SKEW_SECONDS: u64 = 60;

/// The longest validity (`expires` - `created`) accepted: a signature
/// valid for longer could be replayed for longer than Web Bot Auth means
/// (its signatures live minutes).
pub const MAX_VALIDITY_SECONDS: u64 = 86_400;

/// The longest `Signature-Input` or `Signature` header read; longer ones are
/// refused unread.
const MAX_HEADER: usize = 4096;

/// An Ed25519 public key of a verified crawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlerKey(VerifyingKey);

/// Why text is not an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key `{0}` is not base64url")]
    Encoding(String),
    #[error("the key `{0}` is not 32 bytes long (an Ed25519 public key, JWK `x`)")]
    Length(String),
    #[error("the key `{0}` is not a valid Ed25519 public key")]
    Point(String),
}

impl CrawlerKey {
    /// A key from its JWK `x` value: the 32-byte public key, base64url
    /// without padding (padding is tolerated).
    pub fn from_jwk_x(x: &str) -> Result<CrawlerKey, KeyError> {
        let bytes = URL_SAFE_NO_PAD.decode(x.trim_end_matches('=')).map_err(|_| KeyError::Encoding(x.to_owned()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length(x.to_owned()))?;
        VerifyingKey::from_bytes(&bytes).map(CrawlerKey).map_err(|_| KeyError::Point(x.to_owned()))
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<CrawlerKey, KeyError> {
        VerifyingKey::from_bytes(bytes).map(CrawlerKey).map_err(|_| KeyError::Point(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The key's RFC 7638 JWK thumbprint: SHA-256 of the canonical JSON of
    /// its OKP JWK (members `crv`, `kty`, `x` in that order, no spaces),
    /// base64url without padding. Web Bot Auth's `keyid`.
    pub fn thumbprint(&self) -> String {
        let x = URL_SAFE_NO_PAD.encode(self.0.as_bytes());
        let jwk = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes()))
    }
}

/// The crawler's side of Web Bot Auth: signs a request's headers the way
/// the guard verifies them. For the traffic simulator and tests (a real
/// crawler signs with its own software); kept here so that signer and
/// verifier cannot drift apart.
pub struct WebBotAuthSigner {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for WebBotAuthSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebBotAuthSigner({})", self.public_key().thumbprint())
    }
}

impl WebBotAuthSigner {
    /// The signer of the Ed25519 private key `seed` (RFC 8032's 32 bytes).
    pub fn from_seed(seed: &[u8; 32]) -> WebBotAuthSigner {
        WebBotAuthSigner { key: ed25519_dalek::SigningKey::from_bytes(seed) }
    }

    pub fn public_key(&self) -> CrawlerKey {
        CrawlerKey(self.key.verifying_key())
    }

    /// The public key as the crawlers file lists it (JWK `x`).
    pub fn jwk_x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The headers that sign a request to `authority` (the `Host` header's
    /// value, lower case): `Signature-Agent` (as given, normally a quoted
    /// URL), `Signature-Input` and `Signature`, valid from `created` to
    /// `expires` (Unix seconds).
    pub fn sign(
        &self,
        authority: &str,
        signature_agent: &str,
        created: u64,
        expires: u64,
    ) -> [(&'static str, String); 3] {
        use ed25519_dalek::Signer;
        let keyid = self.public_key().thumbprint();
        let input = format!(
            r#"("@authority" "signature-agent");created={created};expires={expires};keyid="{keyid}";alg="ed25519";tag="web-bot-auth""#
        );
        let base = format!(
            "\"@authority\": {authority}\n\"signature-agent\": {signature_agent}\n\"@signature-params\": {input}"
        );
        let signature = STANDARD.encode(self.key.sign(base.as_bytes()).to_bytes());
        [
            ("signature-agent", signature_agent.to_owned()),
            ("signature-input", format!("sig1={input}")),
            ("signature", format!("sig1=:{signature}:")),
        ]
    }
}

/// The configured keys by thumbprint, each with the index of its crawler.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keyring {
    by_keyid: HashMap<String, (usize, CrawlerKey)>,
}

impl Keyring {
    /// The first crawler to list a key keeps it.
    pub(crate) fn new<'a>(keys: impl IntoIterator<Item = (usize, &'a CrawlerKey)>) -> Keyring {
        let mut by_keyid = HashMap::new();
        for (crawler, key) in keys {
            by_keyid.entry(key.thumbprint()).or_insert((crawler, *key));
        }
        Keyring { by_keyid }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_keyid.is_empty()
    }
}

/// Why a request's Web Bot Auth signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No `Signature-Input` or no `Signature` header.
    Unsigned,
    /// A header that is not RFC 8941 structured fields as RFC 9421 wants.
    Malformed,
    /// No signature tagged `web-bot-auth`.
    NotWebBotAuth,
    /// No `created` or no `expires`.
    Undated,
    /// Created in the future, expired, or valid for more than
    /// `MAX_VALIDITY_SECONDS`.
    OutOfTime,
    /// `@authority`, or `signature-agent` when sent, is not covered.
    Uncovered,
    /// A covered component the guard cannot reproduce (`@method`, `@path`:
    /// the guard sees headers only), or a covered header that is absent.
    Component,
    /// An `alg` other than `ed25519`.
    Algorithm,
    /// A `keyid` of no configured key.
    UnknownKey,
    /// The signature does not verify.
    Forged,
}

/// What RFC 9421's derived components are read from: the guard sees only
/// headers (`@authority` is the `Host` header); tests can add the rest.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Derived<'a> {
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
}

/// The crawler (its index) whose key made a valid Web Bot Auth signature of
/// the request.
pub(crate) fn verify(headers: &HeaderMap, keys: &Keyring, now: u64) -> Result<usize, Rejection> {
    verify_with(headers, Derived::default(), keys, now, true)
}

fn verify_with(
    headers: &HeaderMap,
    derived: Derived<'_>,
    keys: &Keyring,
    now: u64,
    web_bot_auth: bool,
) -> Result<usize, Rejection> {
    let input = joined(headers, "signature-input").ok_or(Rejection::Unsigned)?;
    let signatures = joined(headers, "signature").ok_or(Rejection::Unsigned)?;
    if input.len() > MAX_HEADER || signatures.len() > MAX_HEADER {
        return Err(Rejection::Malformed);
    }
    let inputs = parse_dictionary(&input).ok_or(Rejection::Malformed)?;
    let signatures = parse_dictionary(&signatures).ok_or(Rejection::Malformed)?;
    let mut first_error = Rejection::NotWebBotAuth;
    for member in &inputs {
        let tagged = member.param("tag").is_some_and(|t| t.as_str() == Some("web-bot-auth"));
        if web_bot_auth && !tagged {
            continue;
        }
        let outcome = check_one(member, &signatures, headers, derived, keys, now, web_bot_auth);
        match outcome {
            Ok(crawler) => return Ok(crawler),
            Err(e) if first_error == Rejection::NotWebBotAuth => first_error = e,
            Err(_) => {}
        }
    }
    Err(first_error)
}

fn check_one(
    member: &Member,
    signatures: &[Member],
    headers: &HeaderMap,
    derived: Derived<'_>,
    keys: &Keyring,
    now: u64,
    web_bot_auth: bool,
) -> Result<usize, Rejection> {
    let Value::InnerList(components) = &member.value else { return Err(Rejection::Malformed) };
    if web_bot_auth {
        let created = member.param("created").and_then(Bare::as_int);
        let expires = member.param("expires").and_then(Bare::as_int);
        let (Some(created), Some(expires)) = (created, expires) else { return Err(Rejection::Undated) };
        if created > now.saturating_add(SKEW_SECONDS)
            || expires.saturating_add(SKEW_SECONDS) < now
            || expires.saturating_sub(created) > MAX_VALIDITY_SECONDS
        {
            return Err(Rejection::OutOfTime);
        }
        let covers = |name: &str| components.iter().any(|(c, _)| c.as_str() == Some(name));
        if !covers("@authority") || (headers.contains_key("signature-agent") && !covers("signature-agent")) {
            return Err(Rejection::Uncovered);
        }
    }
    if let Some(alg) = member.param("alg")
        && alg.as_str() != Some("ed25519")
    {
        return Err(Rejection::Algorithm);
    }
    let keyid = member.param("keyid").and_then(Bare::as_str).ok_or(Rejection::UnknownKey)?;
    let &(crawler, key) = keys.by_keyid.get(keyid).ok_or(Rejection::UnknownKey)?;
    let signature = signatures
        .iter()
        .find(|s| s.key == member.key)
        .and_then(|s| match &s.value {
            Value::Item(Bare::Bytes(b64)) => Some(*b64),
            _ => None,
        })
        .ok_or(Rejection::Malformed)?;
    let mut raw = [0u8; 72];
    let n = STANDARD.decode_slice(signature, &mut raw).map_err(|_| Rejection::Malformed)?;
    let bytes: [u8; 64] = raw[..n].try_into().map_err(|_| Rejection::Malformed)?;
    let base = signature_base(member, components, headers, derived)?;
    key.0.verify_strict(base.as_bytes(), &Signature::from_bytes(&bytes)).map_err(|_| Rejection::Forged)?;
    Ok(crawler)
}

/// The signature base (RFC 9421 section 2.5): one line per covered
/// component, `"name": value`, then the `@signature-params` line, which
/// is the member's inner list and parameters serialized again.
fn signature_base(
    member: &Member,
    components: &[(Bare, Vec<Param>)],
    headers: &HeaderMap,
    derived: Derived<'_>,
) -> Result<String, Rejection> {
    let mut base = String::with_capacity(256);
    let mut seen: Vec<&str> = Vec::with_capacity(components.len());
    for (component, params) in components {
        let Some(name) = component.as_str() else { return Err(Rejection::Malformed) };
        // Component parameters (`;sf`, `;key`, `;req`, ...) are not needed
        // by Web Bot Auth; refusing them is safer than reading them wrong.
        if !params.is_empty() || seen.contains(&name) || name == "@signature-params" {
            return Err(Rejection::Component);
        }
        seen.push(name);
        let value = match name {
            "@authority" => {
                headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).map(|h| h.trim().to_ascii_lowercase())
            }
            "@method" => derived.method.map(str::to_owned),
            "@path" => derived.path.map(str::to_owned),
            _ if name.starts_with('@') || name.bytes().any(|b| b.is_ascii_uppercase()) => None,
            _ => joined(headers, name),
        };
        let value = value.ok_or(Rejection::Component)?;
        base.push('"');
        base.push_str(name);
        base.push_str("\": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    serialize_inner_list(&mut base, components, &member.params);
    Ok(base)
}

/// A header's values, each trimmed, joined by `, ` (RFC 9421 section 2.1);
/// `None` when absent or not visible ASCII.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?.trim();
        match &mut out {
            None => out = Some(text.to_owned()),
            Some(all) => {
                all.push_str(", ");
                all.push_str(text);
            }
        }
    }
    out
}

// --- RFC 8941 structured fields: the part RFC 9421 needs -----------------

type Param<'a> = (&'a str, Bare<'a>);

#[derive(Debug, Clone, PartialEq)]
enum Bare<'a> {
    Int(i64),
    Decimal(&'a str),
    String(String),
    Token(&'a str),
    Bytes(&'a str),
    Bool(bool),
}

impl Bare<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Bare::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<u64> {
        match self {
            Bare::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value<'a> {
    Item(Bare<'a>),
    InnerList(Vec<(Bare<'a>, Vec<Param<'a>>)>),
}

#[derive(Debug, Clone, PartialEq)]
struct Member<'a> {
    key: &'a str,
    value: Value<'a>,
    params: Vec<Param<'a>>,
}

impl<'a> Member<'a> {
    fn param(&self, name: &str) -> Option<&Bare<'a>> {
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

/// An RFC 8941 dictionary; `None` when malformed. A key given twice keeps
/// its last value, as RFC 8941 says.
fn parse_dictionary(text: &str) -> Option<Vec<Member<'_>>> {
    let mut p = Parser { text, at: 0 };
    let mut members: Vec<Member> = Vec::new();
    p.skip(|b| b == b' ' || b == b'\t');
    while !p.done() {
        let key = p.key()?;
        let (value, params) = if p.eat(b'=') {
            if p.peek() == Some(b'(') {
                let list = p.inner_list()?;
                (Value::InnerList(list), p.params()?)
            } else {
                let bare = p.bare()?;
                (Value::Item(bare), p.params()?)
            }
        } else {
            (Value::Item(Bare::Bool(true)), p.params()?)
        };
        members.retain(|m| m.key != key);
        members.push(Member { key, value, params });
        p.skip(|b| b == b' ' || b == b'\t');
        if p.done() {
            break;
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip(|b| b == b' ' || b == b'\t');
        if p.done() || members.len() > 16 {
            return None;
        }
    }
    Some(members)
}

impl<'a> Parser<'a> {
    fn done(&self) -> bool {
        self.at >= self.text.len()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    fn key(&mut self) -> Option<&'a str> {
        let first = self.peek()?;
        if !(first.is_ascii_lowercase() || first == b'*') {
            return None;
        }
        Some(self.skip(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')))
    }

    fn params(&mut self) -> Option<Vec<Param<'a>>> {
        let mut params: Vec<Param> = Vec::new();
        while self.eat(b';') {
            self.skip(|b| b == b' ');
            let key = self.key()?;
            let value = if self.eat(b'=') { self.bare()? } else { Bare::Bool(true) };
            params.retain(|(k, _)| *k != key);
            params.push((key, value));
            if params.len() > 16 {
                return None;
            }
        }
        Some(params)
    }

    fn inner_list(&mut self) -> Option<Vec<(Bare<'a>, Vec<Param<'a>>)>> {
        if !self.eat(b'(') {
            return None;
        }
        let mut items = Vec::new();
        loop {
            self.skip(|b| b == b' ');
            if self.eat(b')') {
                return Some(items);
            }
            let bare = self.bare()?;
            let params = self.params()?;
            items.push((bare, params));
            if items.len() > 32 {
                return None;
            }
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return None;
            }
        }
    }

    fn bare(&mut self) -> Option<Bare<'a>> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string(),
            b':' => {
                self.at += 1;
                let b64 = self.skip(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
                self.eat(b':').then_some(Bare::Bytes(b64))
            }
            b'?' => {
                self.at += 1;
                let bit = self.peek()?;
                self.at += 1;
                match bit {
                    b'0' => Some(Bare::Bool(false)),
                    b'1' => Some(Bare::Bool(true)),
                    _ => None,
                }
            }
            b if b.is_ascii_alphabetic() || b == b'*' => {
                Some(Bare::Token(self.skip(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b))))
            }
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Bare<'a>> {
        let start = self.at;
        self.eat(b'-');
        let int = self.skip(|b| b.is_ascii_digit());
        if int.is_empty() {
            return None;
        }
        if self.eat(b'.') {
            let frac = self.skip(|b| b.is_ascii_digit());
            if int.len() > 12 || frac.is_empty() || frac.len() > 3 {
                return None;
            }
            return Some(Bare::Decimal(&self.text[start..self.at]));
        }
        if int.len() > 15 {
            return None;
        }
        self.text[start..self.at].parse().ok().map(Bare::Int)
    }

    fn string(&mut self) -> Option<Bare<'a>> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return Some(Bare::String(out)),
                b'\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    if escaped != b'"' && escaped != b'\\' {
                        return None;
                    }
                    out.push(escaped as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => return None,
            }
        }
    }
}

fn serialize_inner_list(out: &mut String, items: &[(Bare, Vec<Param>)], params: &[Param]) {
    out.push('(');
    for (i, (bare, item_params)) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        serialize_bare(out, bare);
        serialize_params(out, item_params);
    }
    out.push(')');
    serialize_params(out, params);
}

fn serialize_params(out: &mut String, params: &[Param]) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != Bare::Bool(true) {
            out.push('=');
            serialize_bare(out, value);
        }
    }
}

fn serialize_bare(out: &mut String, bare: &Bare) {
    use std::fmt::Write;
    match bare {
        Bare::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Bare::Decimal(d) | Bare::Token(d) => out.push_str(d),
        Bare::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Bare::Bytes(b) => {
            out.push(':');
            out.push_str(b);
            out.push(':');
        }
        Bare::Bool(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use http::HeaderValue;

    /// RFC 9421 Appendix B.1.4's `test-key-ed25519`: the JWK `d` (seed) and
    /// `x` (public key).
    const B14_SEED: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
    const B14_X: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// RFC 9421 Appendix B.2.6: the signature base of the test request and
    /// its Ed25519 signature, verified with the B.1.4 key, in the general
    /// RFC 9421 mode (no Web Bot Auth rules: the example has no tag and no
    /// expiry).
    #[test]
    fn rfc_9421_b_2_6_ed25519_example_verifies() {
        let request = headers(&[
            ("host", "example.com"),
            ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
            ("content-type", "application/json"),
            ("content-length", "18"),
            (
                "signature-input",
                r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
            ),
            (
                "signature",
                "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
            ),
        ]);
        let derived = Derived { method: Some("POST"), path: Some("/foo") };
        let inputs = parse_dictionary(request.get("signature-input").unwrap().to_str().unwrap()).unwrap();
        let Value::InnerList(components) = &inputs[0].value else { panic!() };
        let base = signature_base(&inputs[0], components, &request, derived).unwrap();
        assert_eq!(
            base,
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\
             \"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \
             \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        );
        // The example's keyid is a name, not a thumbprint: file the key under it.
        let key = CrawlerKey::from_jwk_x(B14_X).unwrap();
        let keys = Keyring { by_keyid: HashMap::from([("test-key-ed25519".to_owned(), (7, key))]) };
        assert_eq!(verify_with(&request, derived, &keys, 1618884473, false), Ok(7));
        // Our signing key reproduces the RFC's signature (Ed25519 is deterministic).
        let seed: [u8; 32] = URL_SAFE_NO_PAD.decode(B14_SEED).unwrap().try_into().unwrap();
        let signing = SigningKey::from_bytes(&seed);
        assert_eq!(signing.verifying_key().as_bytes(), key.0.as_bytes());
        assert_eq!(
            STANDARD.encode(signing.sign(base.as_bytes()).to_bytes()),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
        // One byte of the request changed: the signature no longer holds.
        let mut changed = request.clone();
        changed.insert("content-length", HeaderValue::from_static("19"));
        assert_eq!(verify_with(&changed, derived, &keys, 1618884473, false), Err(Rejection::Forged));
        // Without the request line, `@method` cannot be reproduced.
        assert_eq!(verify_with(&request, Derived::default(), &keys, 1618884473, false), Err(Rejection::Component));
        // And as Web Bot Auth, the example is refused: no tag.
        assert_eq!(verify_with(&request, derived, &keys, 1618884473, true), Err(Rejection::NotWebBotAuth));
    }

    /// RFC 8037 Appendix A.3: the thumbprint of its example Ed25519 key.
    #[test]
    fn thumbprints_follow_rfc_7638() {
        let key = CrawlerKey::from_jwk_x("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(matches!(CrawlerKey::from_jwk_x("not base64!"), Err(KeyError::Encoding(_))));
        assert!(matches!(CrawlerKey::from_jwk_x("AAAA"), Err(KeyError::Length(_))));
        assert!(CrawlerKey::from_jwk_x(&format!("{B14_X}=")).is_ok());
    }

    /// A signer of Web Bot Auth requests, for tests here and in the resolver.
    pub(crate) struct BotSigner {
        pub key: SigningKey,
    }

    impl BotSigner {
        pub(crate) fn new(seed: u8) -> BotSigner {
            BotSigner { key: SigningKey::from_bytes(&[seed; 32]) }
        }

        pub(crate) fn public(&self) -> CrawlerKey {
            CrawlerKey(self.key.verifying_key())
        }

        /// Signs `@authority` and `signature-agent` as the contract shows,
        /// with the parameters given (`params`: after the inner list).
        pub(crate) fn sign(&self, authority: &str, agent: &str, params: &str) -> Vec<(&'static str, String)> {
            let input = format!(r#"("@authority" "signature-agent"){params}"#);
            let base =
                format!("\"@authority\": {authority}\n\"signature-agent\": {agent}\n\"@signature-params\": {input}");
            let signature = STANDARD.encode(self.key.sign(base.as_bytes()).to_bytes());
            vec![
                ("host", authority.to_owned()),
                ("signature-agent", agent.to_owned()),
                ("signature-input", format!("sig1={input}")),
                ("signature", format!("sig1=:{signature}:")),
            ]
        }

        pub(crate) fn params(&self, created: u64, expires: u64, tag: &str) -> String {
            let keyid = self.public().thumbprint();
            format!(r#";created={created};expires={expires};keyid="{keyid}";alg="ed25519";tag="{tag}""#)
        }
    }

    fn map(pairs: Vec<(&'static str, String)>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_str(&value).unwrap());
        }
        map
    }

    const NOW: u64 = 1_765_000_000;
    const AGENT: &str = "\"https://crawler.example/.well-known/http-message-signatures-directory\"";

    #[test]
    fn the_public_signer_signs_what_the_verifier_accepts() {
        let signer = WebBotAuthSigner::from_seed(&[3; 32]);
        let key = CrawlerKey::from_jwk_x(&signer.jwk_x()).unwrap();
        assert_eq!(key, signer.public_key());
        let keys = Keyring::new([(4, &key)]);
        let mut request = HeaderMap::new();
        request.insert("host", HeaderValue::from_static("tollgate.example"));
        for (name, value) in signer.sign("tollgate.example", AGENT, NOW, NOW + 60) {
            request.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        assert_eq!(verify(&request, &keys, NOW), Ok(4));
        request.insert("host", HeaderValue::from_static("elsewhere.example"));
        assert_eq!(verify(&request, &keys, NOW), Err(Rejection::Forged));
        assert!(!format!("{signer:?}").contains("3, 3"));
    }

    #[test]
    fn web_bot_auth_accepts_a_fresh_tagged_signature_of_a_known_key() {
        let bot = BotSigner::new(1);
        let keys = Keyring::new([(3, &bot.public())]);
        let request = map(bot.sign("tollgate.example", AGENT, &bot.params(NOW - 10, NOW + 300, "web-bot-auth")));
        assert_eq!(verify(&request, &keys, NOW), Ok(3));
        // Within the clock skew on either side.
        assert_eq!(verify(&request, &keys, NOW - 10 - SKEW_SECONDS), Ok(3));
        assert_eq!(verify(&request, &keys, NOW + 300 + SKEW_SECONDS), Ok(3));
    }

    #[test]
    fn web_bot_auth_refuses_what_it_cannot_trust() {
        let bot = BotSigner::new(1);
        let keys = Keyring::new([(0, &bot.public())]);
        let good = bot.params(NOW, NOW + 300, "web-bot-auth");
        let sign = |params: &str| map(bot.sign("tollgate.example", AGENT, params));

        // Expired, and not yet created.
        assert_eq!(verify(&sign(&good), &keys, NOW + 300 + SKEW_SECONDS + 1), Err(Rejection::OutOfTime));
        assert_eq!(verify(&sign(&good), &keys, NOW - SKEW_SECONDS - 1), Err(Rejection::OutOfTime));
        // Valid for too long.
        let long = bot.params(NOW, NOW + MAX_VALIDITY_SECONDS + 1, "web-bot-auth");
        assert_eq!(verify(&sign(&long), &keys, NOW), Err(Rejection::OutOfTime));
        let day = bot.params(NOW, NOW + MAX_VALIDITY_SECONDS, "web-bot-auth");
        assert_eq!(verify(&sign(&day), &keys, NOW), Ok(0));
        // Another tag, no tag, no expiry.
        assert_eq!(verify(&sign(&bot.params(NOW, NOW + 300, "other")), &keys, NOW), Err(Rejection::NotWebBotAuth));
        let keyid = bot.public().thumbprint();
        assert_eq!(
            verify(&sign(&format!(r#";created={NOW};keyid="{keyid}""#)), &keys, NOW),
            Err(Rejection::NotWebBotAuth)
        );
        let undated = format!(r#";created={NOW};keyid="{keyid}";tag="web-bot-auth""#);
        assert_eq!(verify(&sign(&undated), &keys, NOW), Err(Rejection::Undated));
        // A key nobody configured, though the signature is its own and valid.
        let stranger = BotSigner::new(2);
        let request = map(stranger.sign("tollgate.example", AGENT, &stranger.params(NOW, NOW + 300, "web-bot-auth")));
        assert_eq!(verify(&request, &keys, NOW), Err(Rejection::UnknownKey));
        // A stranger's signature under the known key's id: forged.
        let forged = map(stranger.sign("tollgate.example", AGENT, &good));
        assert_eq!(verify(&forged, &keys, NOW), Err(Rejection::Forged));
        // Signed for another site, replayed here.
        let mut replayed = sign(&good);
        replayed.insert("host", HeaderValue::from_static("other.example"));
        assert_eq!(verify(&replayed, &keys, NOW), Err(Rejection::Forged));
        // Another agent header than signed.
        let mut swapped = sign(&good);
        swapped.insert("signature-agent", HeaderValue::from_static("\"https://evil.example/\""));
        assert_eq!(verify(&swapped, &keys, NOW), Err(Rejection::Forged));
        // Another algorithm named.
        let rsa = good.replace(r#"alg="ed25519""#, r#"alg="rsa-pss-sha512""#);
        assert_eq!(verify(&sign(&rsa), &keys, NOW), Err(Rejection::Algorithm));
        // A signature that does not cover the authority.
        let mut narrow = sign(&good);
        let input = format!(r#"sig1=("signature-agent"){good}"#);
        narrow.insert("signature-input", HeaderValue::from_str(&input).unwrap());
        assert_eq!(verify(&narrow, &keys, NOW), Err(Rejection::Uncovered));
        // Unsigned, and garbage.
        assert_eq!(verify(&HeaderMap::new(), &keys, NOW), Err(Rejection::Unsigned));
        for garbage in
            ["sig1", "sig1=(", "sig1=(\"@authority\"", "SIG=()", "sig1=();created=x", "sig1=(\"\u{7f}\")", "=", ",,"]
        {
            let mut bad = sign(&good);
            if let Ok(v) = HeaderValue::from_str(garbage) {
                bad.insert("signature-input", v);
                assert!(
                    matches!(verify(&bad, &keys, NOW), Err(Rejection::Malformed | Rejection::NotWebBotAuth)),
                    "{garbage}"
                );
            }
        }
        let mut short = sign(&good);
        short.insert("signature", HeaderValue::from_static("sig1=:AAAA:"));
        assert_eq!(verify(&short, &keys, NOW), Err(Rejection::Malformed));
    }

    #[test]
    fn structured_fields_round_trip() {
        let text = r#"sig1=("@authority" "signature-agent");created=1;expires=2;keyid="a\"b\\c";alg="ed25519";tag="web-bot-auth";flag;off=?0;n=-5;d=1.5;t=tok/en"#;
        let members = parse_dictionary(text).unwrap();
        let Value::InnerList(items) = &members[0].value else { panic!() };
        let mut out = String::new();
        serialize_inner_list(&mut out, items, &members[0].params);
        assert_eq!(format!("sig1={out}"), text);
        assert_eq!(members[0].param("keyid").and_then(Bare::as_str), Some(r#"a"b\c"#));
        let two = parse_dictionary("a=1, b=:AAA=:,c").unwrap();
        assert_eq!(two.iter().map(|m| m.key).collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
