//! The guard's cookies: continuity (`tg_id`) and a solved challenge
//! (`tg_pass`), both signed with the operator's cookie key.
//!
//! `tg_id=<id>.<mac>` gives a client an id it can keep: a client that sends
//! it back is the same client as before (continuity), whatever its address.
//! Fleets of fresh clients never send it back. `tg_pass=<id>.<expires>.<mac>`
//! says the client with that `tg_id` passed a challenge, until `expires`
//! (one hour after it was issued); a pass is worthless with another
//! `tg_id`, so passes cannot be shared across a fleet without the id too.
//!
//! The MAC is HMAC-SHA256 over a label (`tg_id` or `tg_pass`, so that one
//! cookie cannot stand in for the other) and the cookie's fields, cut to 128
//! bits and written base64url. A cookie whose MAC does not verify, or that
//! does not parse, is ignored, as if absent: the client simply has no
//! continuity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// The continuity cookie's name.
pub const ID_COOKIE: &str = "tg_id";
/// The challenge pass cookie's name.
pub const PASS_COOKIE: &str = "tg_pass";
/// How long a continuity cookie is kept by the client: a year.
pub const ID_MAX_AGE: u64 = 31_536_000;
/// How long a pass is valid: an hour.
pub const PASS_SECONDS: u64 = 3600;

/// Bytes of MAC kept: 128 bits is beyond guessing, and keeps cookies short.
const MAC_BYTES: usize = 16;

/// The cookie key, ready to MAC (HMAC's key schedule done once).
#[derive(Clone)]
pub(crate) struct CookieKeys {
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKeys(..)")
    }
}

impl CookieKeys {
    pub(crate) fn new(key: &[u8; 32]) -> CookieKeys {
        CookieKeys { keyed: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length") }
    }

    fn mac(&self, label: &str, id: u64, expires: Option<u64>) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(&id.to_be_bytes());
        if let Some(expires) = expires {
            mac.update(&expires.to_be_bytes());
        }
        mac
    }

    fn tag(&self, label: &str, id: u64, expires: Option<u64>) -> String {
        let full = self.mac(label, id, expires).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&full[..MAC_BYTES])
    }

    fn check(&self, label: &str, id: u64, expires: Option<u64>, tag: &str) -> bool {
        let mut raw = [0u8; 24];
        match URL_SAFE_NO_PAD.decode_slice(tag, &mut raw) {
            // Constant time: `verify_truncated_left` compares all bytes.
            Ok(MAC_BYTES) => self.mac(label, id, expires).verify_truncated_left(&raw[..MAC_BYTES]).is_ok(),
            _ => false,
        }
    }

    /// The `tg_id` cookie's value for `id`: `<id as 16 hex digits>.<mac>`.
    pub(crate) fn id_value(&self, id: u64) -> String {
        format!("{id:016x}.{}", self.tag(ID_COOKIE, id, None))
    }

    /// The `tg_pass` cookie's value: `<id>.<expires>.<mac>`.
    pub(crate) fn pass_value(&self, id: u64, expires: u64) -> String {
        format!("{id:016x}.{expires}.{}", self.tag(PASS_COOKIE, id, Some(expires)))
    }

    /// The id of a valid `tg_id` value.
    pub(crate) fn read_id(&self, value: &str) -> Option<u64> {
        let (id, tag) = value.split_once('.')?;
        let id = parse_hex(id)?;
        self.check(ID_COOKIE, id, None, tag).then_some(id)
    }

    /// Whether a `tg_pass` value is a valid pass for `id` at `now`.
    pub(crate) fn pass_holds(&self, value: &str, id: u64, now: u64) -> bool {
        let mut parts = value.splitn(3, '.');
        let (Some(pass_id), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let (Some(pass_id), Ok(expires)) = (parse_hex(pass_id), expires.parse::<u64>()) else { return false };
        // INVARIANT (pass-bound): a pass holds only with the `tg_id` it was
        // issued for, and only until it expires.
        pass_id == id && now < expires && self.check(PASS_COOKIE, id, Some(expires), tag)
    }

    /// The first valid `tg_id` among the request's cookies, and whether
    /// some `tg_pass` among them holds for it at `now`.
    pub(crate) fn read(&self, headers: &HeaderMap, now: u64) -> (Option<u64>, bool) {
        let Some(id) = cookies(headers, ID_COOKIE).find_map(|v| self.read_id(v)) else { return (None, false) };
        let passed = cookies(headers, PASS_COOKIE).any(|v| self.pass_holds(v, id, now));
        (Some(id), passed)
    }
}

/// Exactly 16 lower-case hex digits, as `id_value` writes them.
fn parse_hex(text: &str) -> Option<u64> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

/// The values of the cookies named `name` in the request's `Cookie`
/// headers (`a=1; b=2`; HTTP/2 may send several headers).
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(
        move |pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then(|| v.trim().trim_matches('"'))
        },
    )
}

/// The `Set-Cookie` value that gives a client the continuity cookie.
pub(crate) fn set_id_cookie(value: &str) -> String {
    format!("{ID_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ID_MAX_AGE}")
}

/// The `Set-Cookie` value that gives a client its pass.
pub(crate) fn set_pass_cookie(value: &str) -> String {
    format!("{PASS_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={PASS_SECONDS}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys() -> CookieKeys {
        CookieKeys::new(&[7; 32])
    }

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn an_issued_id_reads_back_and_nothing_else_does() {
        let k = keys();
        let value = k.id_value(0x0123_4567_89ab_cdef);
        assert_eq!(k.read_id(&value), Some(0x0123_4567_89ab_cdef));
        assert_eq!(k.read(&with_cookie(&format!("a=b; tg_id={value}; c=d")), 0), (Some(0x0123_4567_89ab_cdef), false));
        // Another id under the same MAC, a flipped MAC, another key, garbage.
        let (_, tag) = value.split_once('.').unwrap();
        assert_eq!(k.read_id(&format!("0123456789abcdee.{tag}")), None);
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(k.read_id(std::str::from_utf8(&flipped).unwrap()), None);
        assert_eq!(CookieKeys::new(&[8; 32]).read_id(&value), None);
        for bad in ["", ".", "x.y", "0123456789abcdef", "0123456789ABCDEF.", "123.abc", "0123456789abcdef.!!!!"] {
            assert_eq!(k.read_id(bad), None, "{bad}");
        }
        // A truncated MAC is refused, not compared on fewer bytes.
        assert_eq!(k.read_id(&value[..value.len() - 2]), None);
        // A pass is not an id.
        assert_eq!(k.read_id(&k.pass_value(1, 10)), None);
    }

    #[test]
    fn a_pass_holds_for_its_id_for_an_hour() {
        let k = keys();
        let id_value = k.id_value(42);
        let pass = k.pass_value(42, 1000 + PASS_SECONDS);
        let both = format!("tg_id={id_value}; tg_pass={pass}");
        assert_eq!(k.read(&with_cookie(&both), 1000), (Some(42), true));
        assert_eq!(k.read(&with_cookie(&both), 1000 + PASS_SECONDS - 1), (Some(42), true));
        assert_eq!(k.read(&with_cookie(&both), 1000 + PASS_SECONDS), (Some(42), false), "expired");
        // The pass with another client's id.
        let other = format!("tg_id={}; tg_pass={pass}", k.id_value(43));
        assert_eq!(k.read(&with_cookie(&other), 1000), (Some(43), false));
        // The pass alone: no continuity, no pass.
        assert_eq!(k.read(&with_cookie(&format!("tg_pass={pass}")), 1000), (None, false));
        // A pass whose expiry was moved.
        let moved = pass.replace(&format!(".{}.", 1000 + PASS_SECONDS), &format!(".{}.", 1000 + 10 * PASS_SECONDS));
        assert_ne!(moved, pass);
        assert_eq!(k.read(&with_cookie(&format!("tg_id={id_value}; tg_pass={moved}")), 5000), (Some(42), false));
        assert!(!k.pass_holds("garbage", 42, 0) && !k.pass_holds("a.b.c", 42, 0));
    }

    #[test]
    fn set_cookie_headers_follow_the_contract() {
        assert_eq!(set_id_cookie("v"), "tg_id=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000");
        assert_eq!(set_pass_cookie("v"), "tg_pass=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600");
    }
}
