//! The fingerprint of a request's header shape: what the clients of one
//! fleet share.
//!
//! A fleet of scrapers runs one program, so its requests look alike however
//! many addresses they come from: the same user agent string, the same
//! `Accept`, `Accept-Language` and `Accept-Encoding`, the same client hints
//! (`Sec-CH-UA`, `Sec-CH-UA-Platform`) or their absence, and above all the
//! same header names in the same order, which an HTTP library fixes and a
//! browser fixes differently. People using one browser version share a
//! fingerprint too, so a fingerprint groups clients into actors only
//! together with other evidence (the signals decide that); on its own it
//! says nothing bad of anyone.
//!
//! Headers that come and go with the state of one client rather than with
//! its program (cookies, credentials, conditional requests, the referrer)
//! or that a proxy adds (`X-Forwarded-For`, `Forwarded`, `Via`) are left
//! out of the order, so a client keeps its fingerprint from its first
//! request to its next.
//!
//! The hash is not cryptographic: it is fast (8 bytes at a time) and well
//! mixed, which is all grouping needs. A client that wants another
//! fingerprint changes its headers; no hash prevents that.

use http::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE};
use http::{HeaderMap, HeaderName};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
const K: u64 = 0x9e37_79b9_7f4a_7c15;

/// Header names left out of the order (see the module comment).
fn volatile(name: &str) -> bool {
    matches!(
        name,
        "cookie"
            | "authorization"
            | "referer"
            | "if-none-match"
            | "if-modified-since"
            | "content-length"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "x-real-ip"
            | "forwarded"
            | "via"
            | "signature"
            | "signature-input"
    )
}

const SEC_CH_UA: HeaderName = HeaderName::from_static("sec-ch-ua");
const SEC_CH_UA_PLATFORM: HeaderName = HeaderName::from_static("sec-ch-ua-platform");

/// The fingerprint of a request: its user agent as sent (`ua`: the caller
/// has it already), the values of `Accept`, `Accept-Language`,
/// `Accept-Encoding`, `Sec-CH-UA`, `Sec-CH-UA-Platform`, and the order of
/// its header names (lower case, as `http` keeps them; each name once, at
/// its first place), less the volatile ones.
///
/// The order is `HeaderMap`'s order of names, which is the order they were
/// first inserted in (hyper inserts them as they came on the wire); the
/// tests below pin that it is not sorted.
pub fn fingerprint(ua: &[u8], headers: &HeaderMap) -> u64 {
    let mut h = SEED;
    h = field(h, Some(ua));
    for name in [&ACCEPT, &ACCEPT_LANGUAGE, &ACCEPT_ENCODING, &SEC_CH_UA, &SEC_CH_UA_PLATFORM] {
        h = field(h, headers.get(name).map(|v| v.as_bytes()));
    }
    for name in headers.keys() {
        let name = name.as_str();
        if !volatile(name) {
            h = field(h, Some(name.as_bytes()));
        }
    }
    finish(h)
}

/// One field: its bytes and its length (so that `ab`,`c` and `a`,`bc`
/// differ), or a marker for an absent one (which differs from empty).
fn field(h: u64, bytes: Option<&[u8]>) -> u64 {
    match bytes {
        Some(bytes) => step(mix_bytes(h, bytes), bytes.len() as u64),
        None => step(h, u64::MAX),
    }
}

fn step(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(K)
}

/// Mixes in bytes 8 at a time, the last few zero-padded.
pub(crate) fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = step(h, u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(word) ^ (rest.len() as u64) << 59);
    }
    h
}

/// Spreads every input bit over the output (MurmurHash3's finalizer).
pub(crate) fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ h >> 33
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const UA: &[u8] = b"Mozilla/5.0 Chrome/142.0.0.0";

    #[test]
    fn clients_of_one_program_share_a_fingerprint_whatever_their_state() {
        let first = request(&[("host", "x"), ("user-agent", "ua"), ("accept", "*/*"), ("accept-language", "en")]);
        let later = request(&[
            ("host", "x"),
            ("user-agent", "ua"),
            ("cookie", "tg_id=1"),
            ("accept", "*/*"),
            ("referer", "https://x/"),
            ("accept-language", "en"),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        assert_eq!(fingerprint(UA, &first), fingerprint(UA, &later));
    }

    #[test]
    fn each_part_of_the_shape_changes_the_fingerprint() {
        let base = [("host", "x"), ("user-agent", "ua"), ("accept", "*/*"), ("accept-language", "en")];
        let fp = fingerprint(UA, &request(&base));
        let variants: [&[(&str, &str)]; 7] = [
            &[("host", "x"), ("accept", "*/*"), ("user-agent", "ua"), ("accept-language", "en")],
            &[("host", "x"), ("user-agent", "ua"), ("accept", "text/html"), ("accept-language", "en")],
            &[("host", "x"), ("user-agent", "ua"), ("accept", "*/*"), ("accept-language", "de")],
            &[("host", "x"), ("user-agent", "ua"), ("accept", "*/*")],
            &[
                ("host", "x"),
                ("user-agent", "ua"),
                ("accept", "*/*"),
                ("accept-language", "en"),
                ("accept-encoding", "gzip"),
            ],
            &[
                ("host", "x"),
                ("user-agent", "ua"),
                ("accept", "*/*"),
                ("accept-language", "en"),
                ("sec-ch-ua", "\"Chromium\";v=\"142\""),
            ],
            &[
                ("host", "x"),
                ("user-agent", "ua"),
                ("accept", "*/*"),
                ("accept-language", "en"),
                ("sec-ch-ua-platform", "\"Linux\""),
            ],
        ];
        for variant in variants {
            let pairs: Vec<(&'static str, &'static str)> = variant.to_vec();
            assert_ne!(fingerprint(UA, &request(&pairs)), fp, "{variant:?}");
        }
        assert_ne!(fingerprint(b"Mozilla/5.0 Chrome/141.0.0.0", &request(&base)), fp);
        // An empty value differs from an absent one; values do not run together.
        assert_ne!(field(0, Some(b"")), field(0, None));
        assert_ne!(field(field(0, Some(b"ab")), Some(b"c")), field(field(0, Some(b"a")), Some(b"bc")));
    }
}
