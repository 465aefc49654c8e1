//! The sign-in token: a JSON Web Token (RFC 7519) in compact form that the
//! platform issues for one account, valid for a few minutes.
//!
//! Two algorithms, each only if configured: `HS256` (HMAC-SHA256 with a
//! shared secret) and `EdDSA` (Ed25519, RFC 8037, checked with the
//! platform's public key, so that Tollgate holds nothing that can issue a
//! token). The algorithm a token names must be one configured; `none` and
//! every other algorithm are refused, so a token cannot choose a weaker check
//! than the server's. Claims: `sub` (the account id, a decimal string), `exp`
//! and `iat` (required), `nbf` (optional), `iss` and `aud` (checked when
//! configured). A token valid for longer than `MAX_LIFETIME_SECS` ahead is
//! refused: a sign-in link must not be a long-lived credential.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};
use tollgate_domain::AccountId;

use crate::mac;

/// An Ed25519 public key, as `Keys` holds it.
pub type PublicKey = VerifyingKey;

/// How far ahead of now a token's `exp` may lie.
pub const MAX_LIFETIME_SECS: i64 = 15 * 60;

/// The clock difference tolerated between the platform and Tollgate.
pub const LEEWAY_SECS: i64 = 30;

/// The longest token read: far more than any sign-in token needs.
const MAX_TOKEN_BYTES: usize = 4096;

/// The keys tokens are checked with; an algorithm without a key is refused.
#[derive(Clone, Default)]
pub struct Keys {
    pub hs256_secret: Option<Vec<u8>>,
    pub ed25519_public_key: Option<VerifyingKey>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("Keys")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<set>"))
            .field("ed25519_public_key", &self.ed25519_public_key.map(|k| hex::encode(k.as_bytes())))
            .finish()
    }
}

impl Keys {
    /// Whether any algorithm is configured: without one, nobody can sign in.
    pub fn any(&self) -> bool {
        self.hs256_secret.is_some() || self.ed25519_public_key.is_some()
    }
}

/// What a token's claims must say besides its lifetime.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The `iss` a token must carry, if set.
    pub issuer: Option<String>,
    /// A value `aud` must hold, if set.
    pub audience: Option<String>,
}

/// The verified claims Tollgate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    pub account: AccountId,
    /// Unix seconds.
    pub expires: i64,
}

/// Why a token was refused. The messages are shown to the person who
/// followed the link, so they say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this server accepts no sign-in links: its operator has configured no key to check them with")]
    NotConfigured,
    #[error("the sign-in link holds no token")]
    Missing,
    #[error("the sign-in token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the sign-in token uses the algorithm `{0}`, which this server does not accept")]
    Algorithm(String),
    #[error("the sign-in token's signature is not valid")]
    Signature,
    #[error("the sign-in link has expired: ask the platform for a new one")]
    Expired,
    #[error("the sign-in token is valid for more than {} minutes ahead, longer than a sign-in link may be", MAX_LIFETIME_SECS / 60)]
    TooLong,
    #[error("the sign-in token is not valid yet (its `iat` or `nbf` lies in the future)")]
    NotYetValid,
    #[error("the sign-in token was not issued for this server (its `iss` or `aud` does not match)")]
    WrongParty,
}

/// Verifies a compact JWT at `now` (Unix seconds) and returns its claims.
pub fn verify(token: &str, keys: &Keys, expect: &Expect, now: i64) -> Result<Claims, TokenError> {
    if !keys.any() {
        return Err(TokenError::NotConfigured);
    }
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("it is too long"));
    }
    let mut parts = token.split('.');
    let (Some(head64), Some(body64), Some(sig64), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("it must be three base64url parts separated by dots"));
    };
    let header = object(head64, "its header is not a base64url JSON object")?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        _ => return Err(TokenError::Malformed("its header names no algorithm (`alg`)")),
    };
    if header.contains_key("crit") {
        // RFC 7515 4.1.11: extensions the recipient must understand; none is.
        return Err(TokenError::Malformed("its header lists critical extensions (`crit`) this server does not know"));
    }
    if let Some(typ) = header.get("typ")
        && !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT"))
    {
        return Err(TokenError::Malformed("its type (`typ`) is not `JWT`"));
    }
    let signature =
        URL_SAFE_NO_PAD.decode(sig64).map_err(|_| TokenError::Malformed("its signature is not base64url"))?;
    let signed = &token.as_bytes()[..head64.len() + 1 + body64.len()];
    // INVARIANT (configured-algorithm): the token's `alg` only selects among
    // the keys configured; a name without a key is refused before any check.
    match (alg, &keys.hs256_secret, &keys.ed25519_public_key) {
        ("HS256", Some(secret), _) => {
            if !mac::same(&mac::hmac_sha256(secret, &[signed]), &signature) {
                return Err(TokenError::Signature);
            }
        }
        ("EdDSA", _, Some(key)) => {
            let signature = Signature::from_slice(&signature).map_err(|_| TokenError::Signature)?;
            key.verify_strict(signed, &signature).map_err(|_| TokenError::Signature)?;
        }
        (other, ..) => return Err(TokenError::Algorithm(other.chars().take(20).collect())),
    }
    // Only a signed body is read.
    let claims = object(body64, "its claims are not a base64url JSON object")?;
    check_claims(&claims, expect, now)
}

fn object(part: &str, what: &'static str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::Malformed(what)),
    }
}

fn check_claims(claims: &Map<String, Value>, expect: &Expect, now: i64) -> Result<Claims, TokenError> {
    let time = |name: &str| -> Result<Option<i64>, TokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f.floor() as i64))
                .map(Some)
                .ok_or(TokenError::Malformed("a time claim is not a number of seconds")),
            Some(_) => Err(TokenError::Malformed("a time claim is not a number of seconds")),
        }
    };
    let expires = time("exp")?.ok_or(TokenError::Malformed("it has no expiry (`exp`)"))?;
    let issued = time("iat")?.ok_or(TokenError::Malformed("it has no issue time (`iat`)"))?;
    if expires <= now - LEEWAY_SECS {
        return Err(TokenError::Expired);
    }
    if expires > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(TokenError::TooLong);
    }
    if issued > now + LEEWAY_SECS || time("nbf")?.is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(TokenError::NotYetValid);
    }
    if let Some(issuer) = &expect.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
    {
        return Err(TokenError::WrongParty);
    }
    if let Some(audience) = &expect.audience {
        let holds = match claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience.as_str())),
            _ => false,
        };
        if !holds {
            return Err(TokenError::WrongParty);
        }
    }
    let account = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u64>()
            .map(AccountId)
            .map_err(|_| TokenError::Malformed("its subject (`sub`) is not an account id"))?,
        _ => return Err(TokenError::Malformed("its subject (`sub`) is not an account id as a decimal string")),
    };
    Ok(Claims { account, expires })
}

/// An Ed25519 public key written as 64 hex digits or as base64 (standard or
/// URL-safe, padded or not) of its 32 bytes.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, &'static str> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD].iter().find_map(|e| e.decode(text).ok())
    };
    let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or("not 32 bytes in hex or base64")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not an Ed25519 public key")
}

/// Issues an `HS256` token for `account`, valid for `lifetime_secs` from
/// `now`: what `tollgate settings sign-in-link` prints, and what tests use.
pub fn issue_hs256(
    secret: &[u8],
    account: AccountId,
    now: i64,
    lifetime_secs: i64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> String {
    let mut claims = serde_json::json!({ "sub": account.0.to_string(), "iat": now, "exp": now + lifetime_secs });
    if let Some(iss) = issuer {
        claims["iss"] = Value::from(iss);
    }
    if let Some(aud) = audience {
        claims["aud"] = Value::from(aud);
    }
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{head}.{body}");
    let signature = URL_SAFE_NO_PAD.encode(mac::hmac_sha256(secret, &[signed.as_bytes()]));
    format!("{signed}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: i64 = 1_800_000_000;
    const SECRET: &[u8] = b"a shared secret of the platform";

    fn hs_keys() -> Keys {
        Keys { hs256_secret: Some(SECRET.to_vec()), ed25519_public_key: None }
    }

    fn b64(v: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    /// A token with any header and claims, HMAC-signed with `secret`.
    fn hs(header: &str, claims: &Value, secret: &[u8]) -> String {
        let signed = format!("{}.{}", b64(header.as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{signed}.{}", b64(&mac::hmac_sha256(secret, &[signed.as_bytes()])))
    }

    fn claims(sub: &str, iat: i64, exp: i64) -> Value {
        serde_json::json!({ "sub": sub, "iat": iat, "exp": exp })
    }

    #[test]
    fn a_fresh_hs256_token_names_its_account() {
        let token = issue_hs256(SECRET, AccountId(42), NOW, 300, None, None);
        let got = verify(&token, &hs_keys(), &Expect::default(), NOW).unwrap();
        assert_eq!(got, Claims { account: AccountId(42), expires: NOW + 300 });
    }

    #[test]
    fn expired_and_long_lived_and_future_tokens_are_refused() {
        let e = Expect::default();
        let old = hs(r#"{"alg":"HS256"}"#, &claims("1", NOW - 900, NOW - 60), SECRET);
        assert_eq!(verify(&old, &hs_keys(), &e, NOW), Err(TokenError::Expired));
        let long = hs(r#"{"alg":"HS256"}"#, &claims("1", NOW, NOW + 3600), SECRET);
        assert_eq!(verify(&long, &hs_keys(), &e, NOW), Err(TokenError::TooLong));
        let future = hs(r#"{"alg":"HS256"}"#, &claims("1", NOW + 600, NOW + 700), SECRET);
        assert_eq!(verify(&future, &hs_keys(), &e, NOW), Err(TokenError::NotYetValid));
        let no_exp = hs(r#"{"alg":"HS256"}"#, &serde_json::json!({"sub": "1", "iat": NOW}), SECRET);
        assert!(matches!(verify(&no_exp, &hs_keys(), &e, NOW), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let e = Expect::default();
        let c = claims("1", NOW, NOW + 60);
        // Another secret.
        let forged = hs(r#"{"alg":"HS256"}"#, &c, b"not the platform's secret");
        assert_eq!(verify(&forged, &hs_keys(), &e, NOW), Err(TokenError::Signature));
        // A genuine token whose claims were changed afterwards.
        let genuine = issue_hs256(SECRET, AccountId(1), NOW, 60, None, None);
        let parts: Vec<&str> = genuine.split('.').collect();
        let other = b64(claims("2", NOW, NOW + 60).to_string().as_bytes());
        let spliced = format!("{}.{other}.{}", parts[0], parts[2]);
        assert_eq!(verify(&spliced, &hs_keys(), &e, NOW), Err(TokenError::Signature));
        // `alg: none` with an empty signature, and with the genuine one.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(c.to_string().as_bytes()));
        assert_eq!(verify(&none, &hs_keys(), &e, NOW), Err(TokenError::Algorithm("none".into())));
        // An algorithm that is not configured (EdDSA without a public key).
        let ed = hs(r#"{"alg":"EdDSA"}"#, &c, SECRET);
        assert_eq!(verify(&ed, &hs_keys(), &e, NOW), Err(TokenError::Algorithm("EdDSA".into())));
        let hs512 = hs(r#"{"alg":"HS512"}"#, &c, SECRET);
        assert_eq!(verify(&hs512, &hs_keys(), &e, NOW), Err(TokenError::Algorithm("HS512".into())));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let e = Expect::default();
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.", "bnVsbA.bnVsbA.AA"] {
            let got = verify(bad, &hs_keys(), &e, NOW);
            assert!(matches!(got, Err(TokenError::Malformed(_) | TokenError::Missing)), "{bad}: {got:?}");
        }
        let bad_sub = hs(r#"{"alg":"HS256"}"#, &claims("alice", NOW, NOW + 60), SECRET);
        assert!(matches!(verify(&bad_sub, &hs_keys(), &e, NOW), Err(TokenError::Malformed(_))));
        let crit = hs(r#"{"alg":"HS256","crit":["x"]}"#, &claims("1", NOW, NOW + 60), SECRET);
        assert!(matches!(verify(&crit, &hs_keys(), &e, NOW), Err(TokenError::Malformed(_))));
        assert_eq!(verify("a.b.c", &Keys::default(), &e, NOW), Err(TokenError::NotConfigured));
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let e = Expect { issuer: Some("https://platform.example".into()), audience: Some("tollgate".into()) };
        let right = issue_hs256(SECRET, AccountId(7), NOW, 60, Some("https://platform.example"), Some("tollgate"));
        assert!(verify(&right, &hs_keys(), &e, NOW).is_ok());
        let listed = hs(
            r#"{"alg":"HS256"}"#,
            &serde_json::json!({"sub": "7", "iat": NOW, "exp": NOW + 60, "iss": "https://platform.example", "aud": ["x", "tollgate"]}),
            SECRET,
        );
        assert!(verify(&listed, &hs_keys(), &e, NOW).is_ok());
        let wrong_aud = issue_hs256(SECRET, AccountId(7), NOW, 60, Some("https://platform.example"), Some("other"));
        assert_eq!(verify(&wrong_aud, &hs_keys(), &e, NOW), Err(TokenError::WrongParty));
        let no_iss = issue_hs256(SECRET, AccountId(7), NOW, 60, None, Some("tollgate"));
        assert_eq!(verify(&no_iss, &hs_keys(), &e, NOW), Err(TokenError::WrongParty));
    }

    #[test]
    fn public_keys_are_read_in_hex_and_base64() {
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let bytes = key.to_bytes();
        assert_eq!(parse_public_key(&hex::encode(bytes)), Ok(key));
        assert_eq!(parse_public_key(&URL_SAFE_NO_PAD.encode(bytes)), Ok(key));
        assert_eq!(parse_public_key(&base64::engine::general_purpose::STANDARD.encode(bytes)), Ok(key));
        assert!(parse_public_key("abcd").is_err());
        assert!(parse_public_key(&hex::encode([0u8; 31])).is_err());
    }

    #[test]
    fn eddsa_tokens_verify_with_the_public_key_only() {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let keys = Keys { hs256_secret: None, ed25519_public_key: Some(signing.verifying_key()) };
        let signed = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA","typ":"JWT"}"#),
            b64(claims("9", NOW, NOW + 120).to_string().as_bytes())
        );
        let token = format!("{signed}.{}", b64(&signing.sign(signed.as_bytes()).to_bytes()));
        assert_eq!(verify(&token, &keys, &Expect::default(), NOW).unwrap().account, AccountId(9));
        // Another key's signature.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let forged = format!("{signed}.{}", b64(&other.sign(signed.as_bytes()).to_bytes()));
        assert_eq!(verify(&forged, &keys, &Expect::default(), NOW), Err(TokenError::Signature));
        // An HS256 token "signed" with the public key as the secret: the
        // classic algorithm confusion, refused because HS256 has no key here.
        let confused = hs(r#"{"alg":"HS256"}"#, &claims("9", NOW, NOW + 60), signing.verifying_key().as_bytes());
        assert_eq!(verify(&confused, &keys, &Expect::default(), NOW), Err(TokenError::Algorithm("HS256".into())));
    }
}
