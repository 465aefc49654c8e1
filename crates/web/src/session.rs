//! Sessions and CSRF tokens, signed rather than stored.
//!
//! A session is a cookie `ACCOUNT.EXPIRES.NONCE.MAC`: the account signed in,
//! when the session ends (Unix seconds), 128 random bits, and an
//! HMAC-SHA256 of the three under the data directory's session key
//! (`DATA/settings-session-key`). Nothing is kept per session on the server,
//! so any node holding the same key accepts a session another node began,
//! and a restart ends no session. The road not taken, a random id in a table
//! in memory, would tie every session to the node that began it.
//!
//! The cost of keeping nothing: a session cannot be revoked everywhere
//! before it expires. Signing out clears the cookie in the browser, and this
//! node refuses the signed-out session until it expires (`SignedOut`);
//! `settings_session_minutes` bounds what a copied cookie is worth.
//!
//! A form's CSRF token is the HMAC of the session cookie under the same key
//! with another label: bound to one session, unknown to another site (which
//! cannot read the cookie), and checked on every POST.

use std::collections::HashMap;
use std::sync::Mutex;

use tollgate_domain::AccountId;

use crate::mac;

/// The cookie's name.
pub const COOKIE: &str = "tollgate_settings";

/// The labels that keep a session's MAC and its CSRF token apart.
const SESSION_LABEL: &[u8] = b"tollgate settings session\0";
const CSRF_LABEL: &[u8] = b"tollgate settings csrf\0";

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account: AccountId,
    /// Unix seconds.
    pub expires: i64,
    /// The cookie's value, as the browser sends it.
    pub cookie: String,
}

/// The key sessions and CSRF tokens are signed with.
#[derive(Clone)]
pub struct SessionKey(pub [u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<secret>)")
    }
}

impl SessionKey {
    /// A new session for `account`, ending at `expires`.
    pub fn begin(&self, account: AccountId, expires: i64) -> Result<Session, getrandom::Error> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)?;
        let body = format!("{}.{expires}.{}", account.0, hex::encode(nonce));
        let mac = hex::encode(mac::hmac_sha256(&self.0, &[SESSION_LABEL, body.as_bytes()]));
        Ok(Session { account, expires, cookie: format!("{body}.{mac}") })
    }

    /// The session `cookie` holds, if its MAC is this key's and it has not
    /// expired at `now`.
    pub fn check(&self, cookie: &str, now: i64) -> Option<Session> {
        let (body, mac_hex) = cookie.rsplit_once('.')?;
        let given = hex::decode(mac_hex).ok()?;
        if !mac::same(&mac::hmac_sha256(&self.0, &[SESSION_LABEL, body.as_bytes()]), &given) {
            return None;
        }
        let mut parts = body.split('.');
        let account = AccountId(parts.next()?.parse().ok()?);
        let expires: i64 = parts.next()?.parse().ok()?;
        parts.next()?;
        if parts.next().is_some() || expires <= now {
            return None;
        }
        Some(Session { account, expires, cookie: cookie.to_owned() })
    }

    /// The CSRF token of the forms shown in `session`.
    pub fn csrf(&self, session: &Session) -> String {
        hex::encode(mac::hmac_sha256(&self.0, &[CSRF_LABEL, session.cookie.as_bytes()]))
    }

    /// Whether `token` is the CSRF token of `session`.
    pub fn csrf_holds(&self, session: &Session, token: &str) -> bool {
        mac::same(self.csrf(session).as_bytes(), token.as_bytes())
    }
}

/// The sessions signed out on this node, refused until they would have
/// expired anyway.
#[derive(Debug, Default)]
pub struct SignedOut(Mutex<HashMap<String, i64>>);

impl SignedOut {
    pub fn add(&self, session: &Session, now: i64) {
        let mut ended = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ended.retain(|_, expires| *expires > now);
        ended.insert(session.cookie.clone(), session.expires);
    }

    pub fn contains(&self, session: &Session) -> bool {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&session.cookie)
    }
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_session_round_trips_and_expires() {
        let key = SessionKey([1; 32]);
        let s = key.begin(AccountId(5), NOW + 60).unwrap();
        assert_eq!(key.check(&s.cookie, NOW), Some(s.clone()));
        assert_eq!(key.check(&s.cookie, NOW + 60), None, "expired");
        assert_eq!(SessionKey([2; 32]).check(&s.cookie, NOW), None, "another key");
    }

    #[test]
    fn a_changed_cookie_is_refused() {
        let key = SessionKey([1; 32]);
        let s = key.begin(AccountId(5), NOW + 60).unwrap();
        let other_account = s.cookie.replacen("5.", "6.", 1);
        assert_eq!(key.check(&other_account, NOW), None);
        let longer = s.cookie.replacen(&(NOW + 60).to_string(), &(NOW + 6000).to_string(), 1);
        assert_eq!(key.check(&longer, NOW), None);
        for junk in ["", ".", "5.1.2", "5.x.y.zz", "a.b.c.d.e"] {
            assert_eq!(key.check(junk, NOW), None, "{junk}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let key = SessionKey([1; 32]);
        let a = key.begin(AccountId(5), NOW + 60).unwrap();
        let b = key.begin(AccountId(5), NOW + 60).unwrap();
        assert!(key.csrf_holds(&a, &key.csrf(&a)));
        assert!(!key.csrf_holds(&a, &key.csrf(&b)), "another session's token");
        assert!(!key.csrf_holds(&a, ""));
        assert_ne!(key.csrf(&a), SessionKey([2; 32]).csrf(&a));
    }

    #[test]
    fn signed_out_sessions_are_remembered_until_they_expire() {
        let key = SessionKey([1; 32]);
        let a = key.begin(AccountId(5), NOW + 60).unwrap();
        let signed_out = SignedOut::default();
        signed_out.add(&a, NOW);
        assert!(signed_out.contains(&a));
        let b = key.begin(AccountId(5), NOW + 600).unwrap();
        signed_out.add(&b, NOW + 61);
        assert!(!signed_out.contains(&a), "pruned once expired");
    }

    #[test]
    fn cookie_values_are_found_by_exact_name() {
        assert_eq!(cookie_value("a=1; tollgate_settings=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie_value("tollgate_settings_old=1", COOKIE), None);
        assert_eq!(cookie_value("", COOKIE), None);
    }
}
