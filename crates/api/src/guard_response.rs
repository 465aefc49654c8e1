//! The guard's own answers, as HTTP responses: throttle (429), license (402,
//! pay per crawl's offer), challenge (403, a form people pass without
//! JavaScript, and the handler of `POST /_tg/challenge`), tarpit (held, then
//! 429; beyond its bound, 403) and block (403); and pay per crawl's prices
//! (`crawler-exact-price`, `crawler-max-price`, `crawler-charged`).
//!
//! Pure functions of their inputs (the time is a parameter), so that each
//! answer is tested alone; the guard's middleware chooses which to give
//! (`tollgate_policy::GuardPolicy`) and records it. Every answer carries
//! `tollgate-guard: <action>` (docs/guard.md, "Responses").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Semaphore;
use tollgate_domain::GuardAction;

use crate::error::{X_CLIENT_FORBIDDEN, X_USAGE_CAPPED};

/// The header naming the guard's answer.
pub const GUARD_HEADER: HeaderName = HeaderName::from_static("tollgate-guard");
/// Pay per crawl: the asking price, on a 402.
pub const CRAWLER_PRICE: HeaderName = HeaderName::from_static("crawler-price");
/// Pay per crawl: the crawler pays exactly this (it must equal the price).
pub const CRAWLER_EXACT_PRICE: HeaderName = HeaderName::from_static("crawler-exact-price");
/// Pay per crawl: the crawler pays up to this.
pub const CRAWLER_MAX_PRICE: HeaderName = HeaderName::from_static("crawler-max-price");
/// Pay per crawl: what the crawler was charged, on a served response.
pub const CRAWLER_CHARGED: HeaderName = HeaderName::from_static("crawler-charged");

/// The path of the challenge form's target.
pub const CHALLENGE_PATH: &str = "/_tg/challenge";
/// How long a challenge form may be submitted after it was served.
pub const CHALLENGE_TTL_SECS: u64 = 600;
/// How long a pass lasts (`Max-Age` of `tg_pass`).
pub const PASS_MAX_AGE_SECS: u64 = 3600;
/// The `Retry-After` of a tarpit's 429.
pub const TARPIT_RETRY_AFTER_SECS: u64 = 60;
/// The longest return path a challenge carries.
const MAX_RETURN_LEN: usize = 2048;

/// A price of pay per crawl: a currency (three upper-case letters) and an
/// amount in millionths of its unit, exact (no floating point anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    currency: [u8; 3],
    micros: u64,
}

/// Why a configured price was refused.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a price: expected a currency code and an amount with at most six decimals, such as `USD 0.01`")]
pub struct PriceError(String);

impl Price {
    /// The default price, `USD 0.01`.
    pub const DEFAULT: Price = Price { currency: *b"USD", micros: 10_000 };

    /// `USD 0.01`: a currency code of three upper-case ASCII letters, one
    /// space, and a decimal amount (digits, at most one `.`, at most six
    /// decimals, no sign or exponent), surrounding spaces ignored. `None`
    /// for anything else.
    pub fn parse(text: &str) -> Option<Price> {
        let (currency, amount) = text.trim().split_once(' ')?;
        let currency: [u8; 3] = currency.as_bytes().try_into().ok()?;
        if !currency.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || fraction.len() > 6 || !digits(whole) || !digits(fraction) {
            return None;
        }
        if amount.ends_with('.') {
            return None;
        }
        let whole: u64 = whole.parse().ok()?;
        let fraction: u64 = format!("{fraction:0<6}").parse().ok()?;
        Some(Price { currency, micros: whole * 1_000_000 + fraction })
    }

    pub fn currency(&self) -> &str {
        std::str::from_utf8(&self.currency).unwrap_or("???")
    }

    pub fn micros(&self) -> u64 {
        self.micros
    }

    /// The amount in decimal (`0.01`): at least two decimals, no trailing
    /// zeros beyond them.
    pub fn amount(&self) -> String {
        let fraction = format!("{:06}", self.micros % 1_000_000);
        let trimmed = fraction.trim_end_matches('0');
        let shown = if trimmed.len() < 2 { &fraction[..2] } else { trimmed };
        format!("{}.{shown}", self.micros / 1_000_000)
    }

    /// The value of `crawler-price` and `crawler-charged`.
    pub fn header_value(&self) -> HeaderValue {
        // Upper-case letters, digits, a space and a dot: always a valid value.
        HeaderValue::from_str(&self.to_string()).unwrap_or(HeaderValue::from_static("USD 0.01"))
    }
}

impl std::str::FromStr for Price {
    type Err = PriceError;
    fn from_str(s: &str) -> Result<Price, PriceError> {
        Price::parse(s).ok_or_else(|| PriceError(s.to_owned()))
    }
}

impl fmt::Display for Price {
    /// `USD 0.01`: the currency and the amount.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency(), self.amount())
    }
}

/// Whether a request offers at least `price`: exactly one of
/// `crawler-exact-price` (equal to the price) or `crawler-max-price` (the
/// same currency, at least the price), given once. Both headers, a repeated
/// one, or a malformed value are no offer (the crawler is offered the
/// license again rather than charged what it did not clearly accept).
pub fn offers_price(headers: &HeaderMap, price: &Price) -> bool {
    let single = |name: &HeaderName| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => Some(v.to_str().ok().and_then(Price::parse)),
            (None, _) => None,
            (Some(_), Some(_)) => Some(None),
        }
    };
    match (single(&CRAWLER_EXACT_PRICE), single(&CRAWLER_MAX_PRICE)) {
        (Some(Some(exact)), None) => exact == *price,
        (None, Some(Some(max))) => max.currency == price.currency && max.micros >= price.micros,
        _ => false,
    }
}

/// Marks a served response as paid: `crawler-charged: <price>` and
/// `tollgate-guard: charge`.
pub fn mark_charged(response: &mut Response, price: &Price) {
    let headers = response.headers_mut();
    headers.insert(CRAWLER_CHARGED, price.header_value());
    headers.insert(GUARD_HEADER, action_value(GuardAction::Charge));
}

fn action_value(action: GuardAction) -> HeaderValue {
    HeaderValue::from_static(action.as_str())
}

/// What the guard's answers say and link to.
#[derive(Debug, Clone)]
pub struct GuardResponses {
    /// `{public_url}/license.xml`.
    pub license_url: String,
    /// Where licensable uses are licensed.
    pub partner_program_url: String,
    /// The price of one page (`guard_crawl_price`).
    pub price: Price,
}

impl GuardResponses {
    /// `partner_program_url` defaults to `{public_url}/agreement`, as in the terms.
    pub fn new(public_url: &str, partner_program_url: Option<&str>, price: Price) -> GuardResponses {
        let base = public_url.trim_end_matches('/');
        GuardResponses {
            license_url: format!("{base}/license.xml"),
            partner_program_url: partner_program_url.map_or_else(|| format!("{base}/agreement"), str::to_owned),
            price,
        }
    }

    /// `429` with `Retry-After`: X's JSON error under `/2/`, a short page elsewhere.
    pub fn throttle(&self, path: &str, retry_after_secs: u64) -> Response {
        too_many(GuardAction::Throttle, path, retry_after_secs)
    }

    /// `402` with the price and a link to the license: the offer of pay per crawl.
    pub fn license(&self, path: &str) -> Response {
        let detail = format!(
            "Using this content for your purpose needs a license: see {} and the partner program at {}. \
             A verified crawler may pay {} per page (crawler-exact-price or crawler-max-price).",
            self.license_url, self.partner_program_url, self.price
        );
        let mut response = if is_api(path) {
            let body = json!({
                "title": "Payment Required",
                "detail": detail,
                "type": "about:blank",
                "status": 402,
                "license": self.license_url,
                "partner_program": self.partner_program_url,
                "price": self.price.to_string(),
            });
            (StatusCode::PAYMENT_REQUIRED, axum::Json(body)).into_response()
        } else {
            let body = format!(
                "<p>Using this content for your purpose needs a license. The terms are in \
                 <a href=\"{license}\">{license}</a>; licenses are granted through the \
                 <a href=\"{partner}\">partner program</a>.</p>\n<p>A verified crawler may pay {price} per page \
                 by sending <code>crawler-exact-price: {price}</code>.</p>",
                license = esc(&self.license_url),
                partner = esc(&self.partner_program_url),
                price = esc(&self.price.to_string()),
            );
            html(StatusCode::PAYMENT_REQUIRED, "License required", "A license is required", &body)
        };
        let headers = response.headers_mut();
        headers.insert(CRAWLER_PRICE, self.price.header_value());
        if let Ok(link) = HeaderValue::from_str(&format!("<{}>; rel=\"license\"", self.license_url)) {
            headers.insert(header::LINK, link);
        }
        mark(response, GuardAction::License)
    }

    /// `403`: refused, with where a license can be had.
    pub fn block(&self, path: &str) -> Response {
        let detail = format!(
            "This client is refused. Access to the content is licensed through the partner program at {}; \
             the terms are in {}.",
            self.partner_program_url, self.license_url
        );
        let response = if is_api(path) {
            let body = json!({
                "title": "Forbidden",
                "detail": detail,
                "type": X_CLIENT_FORBIDDEN,
                "status": 403,
                "reason": "guard_block",
                "license": self.license_url,
                "partner_program": self.partner_program_url,
            });
            (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
        } else {
            let body = format!(
                "<p>This client is refused. Access to the content is licensed through the \
                 <a href=\"{partner}\">partner program</a>; the terms are in <a href=\"{license}\">{license}</a>.</p>",
                license = esc(&self.license_url),
                partner = esc(&self.partner_program_url),
            );
            html(StatusCode::FORBIDDEN, "Access refused", "Access refused", &body)
        };
        mark(response, GuardAction::Block)
    }

    /// `403` with the challenge form: hidden `token` (signed; binds the
    /// client's continuity cookie, the return path and an expiry) and
    /// `return`, and one submit button. A return path that is not a
    /// same-origin path becomes `/`.
    pub fn challenge(&self, key: &ChallengeKey, cookie: u64, return_path: &str, now: u64) -> Response {
        let return_path = if safe_return(return_path) { return_path } else { "/" };
        let token = key.token(cookie, return_path, now + CHALLENGE_TTL_SECS);
        let body = format!(
            "<p>Many automated clients ask for these pages. To go on to the page you asked for, press the \
             button below. It needs no JavaScript; your browser keeps a cookie so that you are not asked \
             again for an hour.</p>\n\
             <form method=\"post\" action=\"{CHALLENGE_PATH}\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
             <input type=\"hidden\" name=\"return\" value=\"{ret}\">\n\
             <button type=\"submit\">Continue to the page</button>\n\
             </form>",
            token = esc(&token),
            ret = esc(return_path),
        );
        let response = html(StatusCode::FORBIDDEN, "A quick check", "A quick check before you go on", &body);
        mark(response, GuardAction::Challenge)
    }

    /// The answer to `POST /_tg/challenge` (a form-urlencoded `token` and
    /// `return`) from the client whose continuity cookie is `cookie`: `303`
    /// to the return path with a pass (`issuer`) if the token is genuine,
    /// bound to this cookie and this return path, and not expired; else a
    /// fresh challenge.
    pub fn challenge_answer(
        &self,
        key: &ChallengeKey,
        issuer: &dyn PassIssuer,
        cookie: u64,
        form: &[u8],
        now: u64,
    ) -> Response {
        let (mut token, mut return_path) = (None, None);
        for (name, value) in form_urlencoded::parse(form) {
            match name.as_ref() {
                "token" if token.is_none() => token = Some(value.into_owned()),
                "return" if return_path.is_none() => return_path = Some(value.into_owned()),
                _ => {}
            }
        }
        let return_path = return_path.filter(|r| safe_return(r)).unwrap_or_else(|| "/".to_owned());
        let checked = token.as_deref().map_or(Err(TokenError::Missing), |t| key.verify(t, cookie, &return_path, now));
        if let Err(e) = checked {
            tracing::debug!(target: "tollgate::guard", "challenge answer refused: {e}");
            return self.challenge(key, cookie, &return_path, now);
        }
        let pass = issuer.issue_pass(cookie);
        let cookie_header = format!("tg_pass={pass}; Path=/; HttpOnly; SameSite=Lax; Max-Age={PASS_MAX_AGE_SECS}");
        let (Ok(location), Ok(set_cookie)) =
            (HeaderValue::from_str(&return_path), HeaderValue::from_str(&cookie_header))
        else {
            tracing::error!(target: "tollgate::guard", "a pass or a return path is not a valid header value");
            return self.challenge(key, cookie, "/", now);
        };
        let mut response = StatusCode::SEE_OTHER.into_response();
        let headers = response.headers_mut();
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, set_cookie);
        mark(response, GuardAction::Challenge)
    }
}

/// Issues the pass a client gets for a solved challenge (the `tg_pass`
/// cookie's value, signed by whoever checks it later), for the client with
/// continuity cookie `cookie`. The value must be a valid cookie value.
pub trait PassIssuer {
    fn issue_pass(&self, cookie: u64) -> String;
}

impl<F: Fn(u64) -> String> PassIssuer for F {
    fn issue_pass(&self, cookie: u64) -> String {
        self(cookie)
    }
}

/// The key challenge tokens are signed with (HMAC-SHA256).
#[derive(Clone)]
pub struct ChallengeKey(Vec<u8>);

impl fmt::Debug for ChallengeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengeKey(<hidden>)")
    }
}

/// Why a challenge token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token expired")]
    Expired,
    #[error("the token's signature does not match this client and return path")]
    Forged,
}

impl ChallengeKey {
    pub fn new(secret: &[u8]) -> ChallengeKey {
        ChallengeKey(secret.to_vec())
    }

    fn mac(&self, cookie: u64, return_path: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        // Fixed-size fields first, then the one variable one: no two inputs
        // frame alike.
        mac.update(b"tollgate-challenge-v1\n");
        mac.update(&cookie.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac.update(return_path.as_bytes());
        mac
    }

    /// `<expires>.<base64url of the MAC>`.
    pub fn token(&self, cookie: u64, return_path: &str, expires: u64) -> String {
        let tag = self.mac(cookie, return_path, expires).finalize().into_bytes();
        format!("{expires}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a token for this cookie and return path at `now` (seconds
    /// since the epoch), the MAC compared in constant time.
    pub fn verify(&self, token: &str, cookie: u64, return_path: &str, now: u64) -> Result<(), TokenError> {
        let (expires, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Malformed)?;
        self.mac(cookie, return_path, expires).verify_slice(&tag).map_err(|_| TokenError::Forged)?;
        if now >= expires {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// The tarpit: holds an answer `hold`, then `429`; at most `max` held at
/// once, beyond which the answer is an immediate `403` block.
#[derive(Debug, Clone)]
pub struct Tarpit {
    permits: Arc<Semaphore>,
    max: usize,
    hold: Duration,
}

impl Tarpit {
    pub fn new(max_concurrent: usize, hold: Duration) -> Tarpit {
        Tarpit { permits: Arc::new(Semaphore::new(max_concurrent)), max: max_concurrent, hold }
    }

    /// How many answers are being held now.
    pub fn held(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    pub async fn answer(&self, responses: &GuardResponses, path: &str) -> Response {
        // INVARIANT (tarpit-bounded): an answer is held only with a permit,
        // so at most `max` are held at once; the permit goes with the hold.
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return responses.block(path);
        };
        tokio::time::sleep(self.hold).await;
        drop(permit);
        too_many(GuardAction::Tarpit, path, TARPIT_RETRY_AFTER_SECS)
    }
}

/// `429`, `Retry-After`, for a throttle or a tarpit.
fn too_many(action: GuardAction, path: &str, retry_after_secs: u64) -> Response {
    let mut response = if is_api(path) {
        let body = json!({
            "title": "Too Many Requests",
            "detail": format!("Too Many Requests: retry after {retry_after_secs} seconds."),
            "type": X_USAGE_CAPPED,
            "status": 429,
        });
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    } else {
        let body =
            format!("<p>Too many requests came from your network. Please try again in {retry_after_secs} seconds.</p>");
        html(StatusCode::TOO_MANY_REQUESTS, "Too many requests", "Too many requests", &body)
    };
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    mark(response, action)
}

/// Adds `tollgate-guard` and keeps the answer out of shared caches: it is
/// for this client, now.
fn mark(mut response: Response, action: GuardAction) -> Response {
    let headers = response.headers_mut();
    headers.insert(GUARD_HEADER, action_value(action));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn is_api(path: &str) -> bool {
    path.starts_with("/2/")
}

/// A same-origin path: starts with one `/` (never `//`, which is another
/// host), no backslash (which browsers read as `/`), only visible ASCII.
pub fn safe_return(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_RETURN_LEN
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// A short page: one language, one title, one `h1`, no script.
fn html(status: StatusCode, title: &str, h1: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n</head>\n\
         <body>\n<main>\n<h1>{}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        esc(title),
        esc(h1)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// Escapes text for HTML content and quoted attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn responses() -> GuardResponses {
        GuardResponses::new("http://127.0.0.1:8080/", None, Price::DEFAULT)
    }

    async fn body(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response.headers().get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// One page of the guard's: the shape an accessible page needs.
    fn assert_accessible(page: &str) {
        assert!(page.starts_with("<!doctype html>") && page.contains("<html lang=\"en\">"), "{page}");
        assert_eq!(page.matches("<title>").count(), 1, "{page}");
        assert_eq!(page.matches("<h1>").count(), 1, "{page}");
        assert!(!page.contains("<script"), "{page}");
    }

    #[test]
    fn prices_parse_exactly_and_print_canonically() {
        assert_eq!(Price::parse("USD 0.01"), Some(Price::DEFAULT));
        assert_eq!(Price::parse(" USD 0.010000 "), Some(Price::DEFAULT));
        assert_eq!(
            Price::parse("EUR 12").map(|p| (p.currency().to_owned(), p.micros())),
            Some(("EUR".into(), 12_000_000))
        );
        assert_eq!(Price::parse("USD 1.5").unwrap().to_string(), "USD 1.50");
        assert_eq!(Price::parse("USD 0.123456").unwrap().to_string(), "USD 0.123456");
        assert_eq!(Price::DEFAULT.to_string(), "USD 0.01");
        assert_eq!(Price::parse("USD 0").unwrap().to_string(), "USD 0.00");
        for bad in [
            "",
            "USD",
            "0.01",
            "usd 0.01",
            "US 0.01",
            "USDX 0.01",
            "USD  0.01",
            "USD -0.01",
            "USD +0.01",
            "USD 0.0000001",
            "USD 1e-2",
            "USD .01",
            "USD 1.",
            "USD 0,01",
            "USD 0.01 extra",
            "USD 9999999999999",
            "USD 0x10",
            "ÜSD 0.01",
        ] {
            assert_eq!(Price::parse(bad), None, "{bad:?}");
        }
        assert!("USD abc".parse::<Price>().unwrap_err().to_string().contains("`USD abc`"));
    }

    #[test]
    fn an_offer_is_the_exact_price_or_a_maximum_at_least_it() {
        let offer = |pairs: &[(&HeaderName, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append((*name).clone(), HeaderValue::from_str(value).unwrap());
            }
            offers_price(&headers, &Price::DEFAULT)
        };
        assert!(offer(&[(&CRAWLER_EXACT_PRICE, "USD 0.01")]));
        assert!(offer(&[(&CRAWLER_EXACT_PRICE, "USD 0.010")]), "the same amount, written longer");
        assert!(!offer(&[(&CRAWLER_EXACT_PRICE, "USD 0.02")]), "exact means equal");
        assert!(!offer(&[(&CRAWLER_EXACT_PRICE, "EUR 0.01")]));
        assert!(offer(&[(&CRAWLER_MAX_PRICE, "USD 0.01")]));
        assert!(offer(&[(&CRAWLER_MAX_PRICE, "USD 5")]));
        assert!(!offer(&[(&CRAWLER_MAX_PRICE, "USD 0.009999")]));
        assert!(!offer(&[(&CRAWLER_MAX_PRICE, "EUR 5")]), "another currency is no offer");
        assert!(!offer(&[]));
        assert!(!offer(&[(&CRAWLER_MAX_PRICE, "five dollars")]), "malformed is no offer");
        assert!(!offer(&[(&CRAWLER_MAX_PRICE, "USD 1e3")]));
        assert!(!offer(&[(&CRAWLER_EXACT_PRICE, "USD 0.01"), (&CRAWLER_MAX_PRICE, "USD 1")]), "conflicting");
        assert!(!offer(&[(&CRAWLER_MAX_PRICE, "USD 1"), (&CRAWLER_MAX_PRICE, "USD 2")]), "repeated");
        let mut headers = HeaderMap::new();
        headers.insert(CRAWLER_MAX_PRICE, HeaderValue::from_bytes(b"USD \xff").unwrap());
        assert!(!offers_price(&headers, &Price::DEFAULT), "not UTF-8");
    }

    #[tokio::test]
    async fn a_paid_response_says_what_was_charged() {
        let mut response = (StatusCode::OK, "content").into_response();
        mark_charged(&mut response, &Price::DEFAULT);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "crawler-charged"), "USD 0.01");
        assert_eq!(header(&response, "tollgate-guard"), "charge");
        assert_eq!(body(response).await, "content");
    }

    #[tokio::test]
    async fn throttle_is_429_with_retry_after_in_x_shape_or_html() {
        let api = responses().throttle("/2/tweets", 30);
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&api, "retry-after"), "30");
        assert_eq!(header(&api, "tollgate-guard"), "throttle");
        assert!(header(&api, "content-type").starts_with("application/json"));
        let json: serde_json::Value = serde_json::from_str(&body(api).await).unwrap();
        assert_eq!((json["status"].as_u64(), json["type"].as_str()), (Some(429), Some(X_USAGE_CAPPED)));
        assert_eq!(json["title"], "Too Many Requests");

        let page = responses().throttle("/alice", 30);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "tollgate-guard"), "throttle");
        let text = body(page).await;
        assert_accessible(&text);
        assert!(text.contains("30 seconds"), "{text}");
    }

    #[tokio::test]
    async fn license_is_402_with_the_price_and_a_link_to_the_license() {
        let r = GuardResponses::new("https://x.example", Some("https://x.example/partners"), Price::DEFAULT);
        let page = r.license("/alice/status/1");
        assert_eq!(page.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(header(&page, "crawler-price"), "USD 0.01");
        assert_eq!(header(&page, "link"), "<https://x.example/license.xml>; rel=\"license\"");
        assert_eq!(header(&page, "tollgate-guard"), "license");
        let text = body(page).await;
        assert_accessible(&text);
        assert!(
            text.contains("https://x.example/partners") && text.contains("https://x.example/license.xml"),
            "{text}"
        );

        let api = r.license("/2/tweets/1");
        assert_eq!(api.status(), StatusCode::PAYMENT_REQUIRED);
        let json: serde_json::Value = serde_json::from_str(&body(api).await).unwrap();
        assert_eq!(json["status"], 402);
        assert_eq!(json["license"], "https://x.example/license.xml");
        assert_eq!(json["partner_program"], "https://x.example/partners");
    }

    #[tokio::test]
    async fn block_is_403_naming_the_partner_program_and_the_license() {
        let page = responses().block("/alice");
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&page, "tollgate-guard"), "block");
        let text = body(page).await;
        assert_accessible(&text);
        assert!(text.contains("http://127.0.0.1:8080/agreement") && text.contains("/license.xml"), "{text}");
        let api = responses().block("/2/users/by/username/alice");
        let json: serde_json::Value = serde_json::from_str(&body(api).await).unwrap();
        assert_eq!((json["status"].as_u64(), json["type"].as_str()), (Some(403), Some(X_CLIENT_FORBIDDEN)));
    }

    /// The value of a hidden input of the page.
    fn input(page: &str, name: &str) -> String {
        let at = page.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        let value = &page[at..at + page[at..].find('"').unwrap()];
        value
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    }

    const NOW: u64 = 1_780_000_000;

    fn form(token: &str, ret: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("return", ret)
            .finish()
            .into_bytes()
    }

    fn pass(cookie: u64) -> String {
        format!("pass-{cookie}")
    }

    #[tokio::test]
    async fn the_challenge_is_a_form_people_submit_without_javascript() {
        let key = ChallengeKey::new(b"k");
        let page = responses().challenge(&key, 42, "/alice/status/7?x=1&y=\"2\"", NOW);
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&page, "tollgate-guard"), "challenge");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        let text = body(page).await;
        assert_accessible(&text);
        assert!(text.contains("<form method=\"post\" action=\"/_tg/challenge\">"), "{text}");
        assert_eq!(text.matches("<button type=\"submit\">").count(), 1);
        assert!(text.contains(">Continue to the page</button>"), "the button has a label: {text}");
        let (token, ret) = (input(&text, "token"), input(&text, "return"));
        assert_eq!(ret, "/alice/status/7?x=1&y=\"2\"");

        // Submitting the form: 303 to the return path with a pass.
        let answer = responses().challenge_answer(&key, &pass, 42, &form(&token, &ret), NOW + 5);
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&answer, "location"), ret);
        assert_eq!(header(&answer, "set-cookie"), "tg_pass=pass-42; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600");
        assert_eq!(header(&answer, "tollgate-guard"), "challenge");
    }

    #[tokio::test]
    async fn forged_expired_or_borrowed_tokens_get_a_fresh_challenge() {
        let key = ChallengeKey::new(b"k");
        let ret = "/alice";
        let token = key.token(42, ret, NOW + CHALLENGE_TTL_SECS);
        let refused = |token: &str, cookie: u64, ret: &str, now: u64| {
            let answer = responses().challenge_answer(&key, &pass, cookie, &form(token, ret), now);
            (answer.status(), header(&answer, "set-cookie").to_owned(), header(&answer, "tollgate-guard").to_owned())
        };
        let again = (StatusCode::FORBIDDEN, String::new(), "challenge".to_owned());
        assert_eq!(refused(&token, 42, ret, NOW + CHALLENGE_TTL_SECS), again, "expired");
        assert_eq!(refused(&token, 43, ret, NOW), again, "another client's token");
        assert_eq!(refused(&token, 42, "/bob", NOW), again, "another return path");
        assert_eq!(refused(&ChallengeKey::new(b"other").token(42, ret, NOW + 600), 42, ret, NOW), again, "another key");
        let later = token.replacen(&(NOW + CHALLENGE_TTL_SECS).to_string(), &(NOW + 99_999).to_string(), 1);
        assert_eq!(refused(&later, 42, ret, NOW + CHALLENGE_TTL_SECS), again, "a pushed-back expiry");
        for bad in ["", "x", "1.", ".abc", "12.!!", "-1.abc"] {
            assert_eq!(refused(bad, 42, ret, NOW), again, "{bad:?}");
        }
        let answer = responses().challenge_answer(&key, &pass, 42, b"return=%2Falice", NOW);
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "no token");
        assert_eq!(key.verify(&token, 42, ret, NOW), Ok(()));
        assert_eq!(key.verify(&token, 43, ret, NOW), Err(TokenError::Forged));
        assert_eq!(key.verify(&token, 42, ret, NOW + 600), Err(TokenError::Expired));
    }

    #[tokio::test]
    async fn the_return_path_never_leaves_the_site() {
        let key = ChallengeKey::new(b"k");
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/a b", "/a\nb", ""] {
            assert!(!safe_return(evil), "{evil:?}");
            // The form carries `/` instead...
            let text = body(responses().challenge(&key, 1, evil, NOW)).await;
            assert_eq!(input(&text, "return"), "/", "{evil:?}");
            // ...and a token signed for the evil path does not redirect there.
            let token = key.token(1, evil, NOW + 600);
            let answer = responses().challenge_answer(&key, &pass, 1, &form(&token, evil), NOW);
            assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{evil:?}");
            assert!(answer.headers().get("location").is_none());
        }
        assert!(safe_return("/alice/status/1?lang=en"));
    }

    #[tokio::test]
    async fn the_tarpit_holds_within_its_bound_and_blocks_beyond_it() {
        let r = responses();
        let tarpit = Tarpit::new(1, Duration::ZERO);
        let answer = tarpit.answer(&r, "/alice").await;
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&answer, "tollgate-guard"), "tarpit");
        assert_eq!(header(&answer, "retry-after"), TARPIT_RETRY_AFTER_SECS.to_string());
        assert_eq!(tarpit.held(), 0, "the permit is given back");

        // One answer held (for an hour), the bound is 1: the next is blocked at once.
        let holding = Tarpit::new(1, Duration::from_secs(3600));
        let held = tokio::spawn({
            let (t, r) = (holding.clone(), r.clone());
            async move { t.answer(&r, "/alice").await }
        });
        while holding.held() == 0 {
            tokio::task::yield_now().await;
        }
        let over = holding.answer(&r, "/2/tweets").await;
        assert_eq!(over.status(), StatusCode::FORBIDDEN);
        assert_eq!(header(&over, "tollgate-guard"), "block");
        held.abort();
        let _ = held.await;
        assert_eq!(holding.held(), 0, "an abandoned hold gives its permit back");
    }
}
