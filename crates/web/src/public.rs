//! The public pages: a post (`GET /{handle}/status/{id}`) and a profile with
//! its posts (`GET /{handle}`, newest first, 20 a page), server-rendered
//! HTML for anyone, people and crawlers alike.
//!
//! Every page is a release like a developer API response: the candidates
//! come from the platform cache (after `PlatformCache::sync`, so a change
//! acknowledged before the request is in force for it), and only what
//! `tollgate_deliver::Deliverer` returns is rendered, on the `web` channel,
//! for the recipient the visitor is taken to be (`Visitor::recipient`). The
//! guard (in front of these pages) says who the visitor is with a request
//! extension `Visitor`; without one, the visitor is a person reading.
//!
//! The statuses follow what X answers for the same situations: `200` for a
//! page shown; `404` for what does not exist here (an unknown handle, an
//! unknown post, a deleted post, a deactivated account, a post whose author
//! has another handle, a malformed handle or id); `403` for what exists but
//! the policy withholds from this visitor, or a request refused whole (the
//! page names the reason code); `400` for a `cursor` this site did not issue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tollgate_cache::PlatformCache;
use tollgate_deliver::{
    Deliverer, Delivery, Expand, HiddenLink, Recipient, Request, RequestTag, Timings, UsageTerms, Visitor,
};
use tollgate_domain::{Account, IdMap, PostId, Reason, Timestamp};
use tollgate_ledger::Channel;
use tollgate_store::TimelineQuery;

use crate::public_html::{self as render, Frame};

/// The endpoint a post page's ledger entries name.
pub const POST_ENDPOINT: &str = "GET /:handle/status/:id";
/// The endpoint a profile page's ledger entries name.
pub const PROFILE_ENDPOINT: &str = "GET /:handle";
/// Posts on a profile page.
pub const PAGE_SIZE: usize = 20;

/// What the public pages share.
pub struct PagesState {
    cache: Arc<PlatformCache>,
    deliverer: Arc<Deliverer>,
    /// The public URL without its final `/`.
    public_url: String,
    /// `Link: <{public_url}/license.xml>; rel="license"`.
    license_link: HeaderValue,
    /// `tdm-policy`'s value when the use is reserved.
    tdm_policy: HeaderValue,
    /// The pages' Content Security Policy: no script, the one inline
    /// stylesheet by its hash.
    csp: HeaderValue,
    /// Request ids for pages served without the API's edge (tests).
    next_request: AtomicU64,
}

impl PagesState {
    pub fn new(cache: Arc<PlatformCache>, deliverer: Arc<Deliverer>, public_url: &str) -> PagesState {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let value = |text: String| HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""));
        let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(render::STYLE.as_bytes()));
        PagesState {
            license_link: value(format!("<{public_url}/license.xml>; rel=\"license\"")),
            tdm_policy: value(format!("{public_url}{}", UsageTerms::RESERVED.tdm_policy_path().unwrap_or(""))),
            csp: value(format!(
                "default-src 'none'; style-src 'sha256-{style_hash}'; img-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'"
            )),
            public_url,
            cache,
            deliverer,
            next_request: AtomicU64::new(1),
        }
    }
}

/// The public pages' routes, mounted on the API's router by
/// `tollgate_api::router_with_web` (its static routes take precedence over
/// these patterns, and a handle is never a word the service reserves, since
/// reserved paths hold characters or lengths a handle cannot).
pub fn pages_router(state: Arc<PagesState>) -> Router {
    Router::new()
        .route("/{handle}", get(profile))
        .route("/{handle}/status/{id}", get(post))
        .fallback(unrouted)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// A path parameter, as sent (not percent-decoded: a handle or an id that
/// needed encoding is not one). By name, since the router these pages are
/// mounted on matched the same pattern and passes its parameters along.
fn param<'a>(params: &'a RawPathParams, name: &str) -> &'a str {
    params.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v)
}

/// Whether `handle` is one X allows: 1 to 15 letters, digits or underscores.
pub fn is_handle(handle: &str) -> bool {
    (1..=15).contains(&handle.len()) && handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The opaque `cursor` of a profile's next page: the post id the page
/// continues before, versioned and in URL-safe base64, so that a cursor
/// names no post to the eye and a mistyped one is refused, not misread.
pub mod cursor {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tollgate_domain::PostId;

    const VERSION: u8 = 1;

    pub fn encode(before: PostId) -> String {
        let mut bytes = [0u8; 9];
        bytes[0] = VERSION;
        bytes[1..].copy_from_slice(&before.0.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The post id of a cursor `encode` gave, or `None` for anything else.
    pub fn decode(cursor: &str) -> Option<PostId> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        let (&[version], id) = bytes.split_first_chunk::<1>()?;
        let id = u64::from_be_bytes(id.try_into().ok()?);
        // Only the one spelling `encode` gives is accepted.
        (version == VERSION && id > 0 && encode(PostId(id)) == cursor).then_some(PostId(id))
    }
}

/// One page request: who asks, as the guard said, and the response's hidden link.
struct Ctx {
    visitor: Visitor,
    recipient: Recipient,
    request_id: String,
    now: Timestamp,
    hidden: Option<String>,
}

type Visit = (Option<Extension<Visitor>>, Option<Extension<HiddenLink>>, Option<Extension<RequestTag>>);

impl Ctx {
    fn new(state: &PagesState, (visitor, hidden, tag): Visit) -> Ctx {
        let visitor = visitor.map_or_else(|| Visitor::person("anonymous"), |Extension(v)| v);
        let request_id = tag.map_or_else(
            || format!("web-{:x}", state.next_request.fetch_add(1, Ordering::Relaxed)),
            |Extension(RequestTag(id))| id,
        );
        Ctx {
            recipient: visitor.recipient(),
            visitor,
            request_id,
            now: Timestamp::now(),
            hidden: hidden.map(|Extension(HiddenLink(token))| token),
        }
    }

    fn request<'a>(&'a self, endpoint: &'a str) -> Request<'a> {
        Request {
            recipient: &self.recipient,
            purpose: self.visitor.purpose,
            channel: Channel::Web,
            endpoint,
            request_id: &self.request_id,
            now: self.now,
        }
    }

    fn frame<'a>(&'a self, state: &'a PagesState, title: &'a str, terms: UsageTerms) -> Frame<'a> {
        Frame { title, terms, public_url: &state.public_url, canonical: None, hidden: self.hidden.as_deref() }
    }

    /// The reason the policy refuses this visitor's request whole, recorded
    /// in the ledger before it is answered.
    async fn refusal(&self, state: &PagesState, endpoint: &str) -> Result<Option<Reason>, Response> {
        let Some(reason) = state.deliverer.refusal(&self.recipient, self.visitor.purpose) else { return Ok(None) };
        state
            .deliverer
            .refuse(&self.request(endpoint), reason)
            .await
            .map_err(|e| self.failed(state, "recording", e))?;
        Ok(Some(reason))
    }

    fn failed(&self, state: &PagesState, what: &str, e: impl std::fmt::Display) -> Response {
        tracing::error!("public page: {what}: {e}");
        let frame = self.frame(state, "Something went wrong", UsageTerms::RESERVED);
        respond(
            state,
            StatusCode::INTERNAL_SERVER_ERROR,
            UsageTerms::RESERVED,
            render::message(&frame, MessageKind::Failed),
        )
    }

    fn message(&self, state: &PagesState, status: StatusCode, terms: UsageTerms, kind: MessageKind<'_>) -> Response {
        let frame = self.frame(state, kind.title(), terms);
        respond(state, status, terms, render::message(&frame, kind))
    }
}

/// What a page without content says.
pub(crate) enum MessageKind<'a> {
    /// No such page: an unknown handle or post, or an address no page has.
    NotFound,
    /// A post withheld from this visitor, with the reason.
    PostWithheld(Reason),
    /// An account's profile withheld from this visitor, with the reason.
    ProfileWithheld(&'a str, Reason),
    /// The request refused whole for this visitor's purpose.
    Refused(Reason),
    /// A `cursor` this site did not issue, on `handle`'s profile.
    BadCursor {
        handle: &'a str,
        cursor: &'a str,
    },
    /// A method other than `GET`.
    MethodNotAllowed,
    Failed,
}

impl MessageKind<'_> {
    pub(crate) fn title(&self) -> &'static str {
        match self {
            MessageKind::NotFound => "This page does not exist",
            MessageKind::PostWithheld(_) => "This post is not available here",
            MessageKind::ProfileWithheld(..) => "This account is not available here",
            MessageKind::Refused(_) => "Not available for this use",
            MessageKind::BadCursor { .. } => "This page address is not valid",
            MessageKind::MethodNotAllowed => "This address only shows pages",
            MessageKind::Failed => "Something went wrong",
        }
    }
}

/// The status of a page withheld for `reason`: `404` for what is gone
/// (deleted, deactivated), as X answers for it; `403` for what exists but
/// is not for this visitor.
fn withheld_status(reason: Reason) -> StatusCode {
    match reason {
        Reason::DELETED | Reason::AUTHOR_DEACTIVATED => StatusCode::NOT_FOUND,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The answer: the page with its usage terms in headers, saying what its
/// `meta` elements say, and the license's link.
fn respond(state: &PagesState, status: StatusCode, terms: UsageTerms, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // Every view is a release the ledger records for its visitor: no cache
    // may hand the page to anyone else, or keep it past a change of consent.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    h.insert("content-usage", HeaderValue::from_static(terms.content_usage()));
    h.insert("tdm-reservation", HeaderValue::from_static(terms.tdm_reservation()));
    if terms.tdm_policy_path().is_some() {
        h.insert("tdm-policy", state.tdm_policy.clone());
    }
    if let Some(robots) = terms.robots() {
        h.insert("x-robots-tag", HeaderValue::from_static(robots));
    }
    h.insert(header::LINK, state.license_link.clone());
    response
}

/// The terms of a page showing two deliveries: free only if both are.
fn both(a: &Delivery, b: &Delivery) -> UsageTerms {
    UsageTerms { genai_allowed: a.genai_allowed && b.genai_allowed }
}

async fn post(
    State(state): State<Arc<PagesState>>,
    params: RawPathParams,
    visitor: Option<Extension<Visitor>>,
    hidden: Option<Extension<HiddenLink>>,
    tag: Option<Extension<RequestTag>>,
) -> Response {
    let ctx = Ctx::new(&state, (visitor, hidden, tag));
    post_page(&state, &ctx, param(&params, "handle"), param(&params, "id")).await.unwrap_or_else(|page| page)
}

async fn post_page(state: &PagesState, ctx: &Ctx, handle: &str, id: &str) -> Result<Response, Response> {
    // A malformed address is no page: answered before anything is read or recorded.
    let Some(id) = id.parse::<PostId>().ok().filter(|_| is_handle(handle)) else {
        return Ok(ctx.message(state, StatusCode::NOT_FOUND, UsageTerms::RESERVED, MessageKind::NotFound));
    };
    state.cache.sync().map_err(|e| ctx.failed(state, "reading the platform's changes", e))?;
    if let Some(reason) = ctx.refusal(state, POST_ENDPOINT).await? {
        return Ok(ctx.message(state, StatusCode::FORBIDDEN, UsageTerms::RESERVED, MessageKind::Refused(reason)));
    }
    let found = state.cache.posts(&[id]).map_err(|e| ctx.failed(state, "reading the post", e))?;
    let author = match found.first() {
        Some(p) => state.cache.account(p.author_id).map_err(|e| ctx.failed(state, "reading the author", e))?,
        None => None,
    };
    // A post is at its author's handle only (in any case, as on X).
    let candidates = match &author {
        Some(a) if a.handle.eq_ignore_ascii_case(handle) => found,
        _ => Vec::new(),
    };
    let accounts: IdMap<_, Arc<Account>> = author.into_iter().map(|a| (a.id, a)).collect();
    let expand = Expand { authors: true, ..Expand::default() };
    let delivery = state
        .deliverer
        .deliver(&ctx.request(POST_ENDPOINT), candidates, Vec::new(), &accounts, expand, &mut Timings::default())
        .await
        .map_err(|e| ctx.failed(state, "recording", e))?;
    let terms = delivery.usage_terms();
    let mut response = if let Some(post) = delivery.posts.first() {
        let author = delivery.accounts.iter().find(|a| a.id == post.author_id);
        let title = render::post_title(post, author, handle);
        let canonical = render::post_url(&state.public_url, author.map_or(handle, |a| &a.handle), post.id);
        let frame = Frame { canonical: Some(&canonical), ..ctx.frame(state, &title, terms) };
        respond(state, StatusCode::OK, terms, render::post(&frame, post, author, handle))
    } else {
        match delivery.withheld.first() {
            Some(&(_, reason)) => ctx.message(state, withheld_status(reason), terms, MessageKind::PostWithheld(reason)),
            None => ctx.message(state, StatusCode::NOT_FOUND, terms, MessageKind::NotFound),
        }
    };
    // What the guard counts: one id asked, whether it exists, what was released.
    let exists = usize::from(!delivery.posts.is_empty() || !delivery.withheld.is_empty());
    response.extensions_mut().insert(delivery.served(vec![id.0], exists));
    Ok(response)
}

async fn profile(
    State(state): State<Arc<PagesState>>,
    params: RawPathParams,
    RawQuery(query): RawQuery,
    visitor: Option<Extension<Visitor>>,
    hidden: Option<Extension<HiddenLink>>,
    tag: Option<Extension<RequestTag>>,
) -> Response {
    let ctx = Ctx::new(&state, (visitor, hidden, tag));
    profile_page(&state, &ctx, param(&params, "handle"), query.as_deref()).await.unwrap_or_else(|page| page)
}

async fn profile_page(state: &PagesState, ctx: &Ctx, handle: &str, query: Option<&str>) -> Result<Response, Response> {
    if !is_handle(handle) {
        return Ok(ctx.message(state, StatusCode::NOT_FOUND, UsageTerms::RESERVED, MessageKind::NotFound));
    }
    // The cursor is checked before anything is read or recorded. Other
    // parameters (a link's tracking tags) are ignored, as on X.
    let cursors: Vec<String> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
        .collect();
    let before = match cursors.as_slice() {
        [] => None,
        [one] => match cursor::decode(one) {
            Some(id) => Some(id),
            None => {
                let kind = MessageKind::BadCursor { handle, cursor: one };
                return Ok(ctx.message(state, StatusCode::BAD_REQUEST, UsageTerms::RESERVED, kind));
            }
        },
        [..] => {
            let kind = MessageKind::BadCursor { handle, cursor: "(given more than once)" };
            return Ok(ctx.message(state, StatusCode::BAD_REQUEST, UsageTerms::RESERVED, kind));
        }
    };
    state.cache.sync().map_err(|e| ctx.failed(state, "reading the platform's changes", e))?;
    if let Some(reason) = ctx.refusal(state, PROFILE_ENDPOINT).await? {
        return Ok(ctx.message(state, StatusCode::FORBIDDEN, UsageTerms::RESERVED, MessageKind::Refused(reason)));
    }
    let account = state.cache.account_by_handle(handle).map_err(|e| ctx.failed(state, "reading the account", e))?;
    let req = ctx.request(PROFILE_ENDPOINT);
    let (profile, refused) = state
        .deliverer
        .deliver_accounts(&req, account.iter().cloned().collect(), &mut Timings::default())
        .await
        .map_err(|e| ctx.failed(state, "recording", e))?;
    let Some(account) = account else {
        // Recorded all the same (a served entry with nothing in it): the
        // ledger holds every answered request, as for the API's lookups.
        return Ok(ctx.message(state, StatusCode::NOT_FOUND, profile.usage_terms(), MessageKind::NotFound));
    };
    if let Some(&(_, reason)) = refused.first() {
        let kind = MessageKind::ProfileWithheld(&account.handle, reason);
        return Ok(ctx.message(state, withheld_status(reason), profile.usage_terms(), kind));
    }
    let q = TimelineQuery { before_id: before, limit: PAGE_SIZE + 1, ..TimelineQuery::default() };
    let mut candidates = state.cache.timeline(account.id, &q).map_err(|e| ctx.failed(state, "reading the posts", e))?;
    // The next page continues before the last candidate, withheld or not,
    // so pages never overlap.
    let next = if candidates.len() > PAGE_SIZE {
        candidates.truncate(PAGE_SIZE);
        candidates.last().map(|p| cursor::encode(p.id))
    } else {
        None
    };
    let accounts: IdMap<_, Arc<Account>> = [(account.id, Arc::clone(&account))].into_iter().collect();
    // The page's posts are a second entry of the same request: the price of
    // a paid page is recorded once, with the first (the profile's).
    let mut unpriced = ctx.recipient.clone();
    if let Some(facts) = unpriced.guard.as_mut().filter(|f| f.charged.is_some()) {
        Arc::make_mut(facts).charged = None;
    }
    let req = Request { recipient: &unpriced, ..req };
    let posts = state
        .deliverer
        .deliver(&req, candidates, Vec::new(), &accounts, Expand::default(), &mut Timings::default())
        .await
        .map_err(|e| ctx.failed(state, "recording", e))?;
    let terms = both(&profile, &posts);
    let Some(owner) = profile.accounts.first() else {
        return Ok(ctx.message(state, StatusCode::NOT_FOUND, terms, MessageKind::NotFound));
    };
    let title = render::profile_title(owner);
    let canonical = format!("{}/{}", state.public_url, owner.handle);
    let frame = Frame { canonical: Some(&canonical), ..ctx.frame(state, &title, terms) };
    let page = render::ProfilePage { owner, posts: &posts, next: next.as_deref(), first: before.is_none() };
    let mut response = respond(state, StatusCode::OK, terms, render::profile(&frame, &page));
    response.extensions_mut().insert(posts.served(Vec::new(), 0));
    Ok(response)
}

/// A path the pages' router was handed but has no page for.
async fn unrouted(State(state): State<Arc<PagesState>>, hidden: Option<Extension<HiddenLink>>) -> Response {
    let ctx = Ctx::new(&state, (None, hidden, None));
    ctx.message(&state, StatusCode::NOT_FOUND, UsageTerms::RESERVED, MessageKind::NotFound)
}

async fn method_not_allowed(State(state): State<Arc<PagesState>>) -> Response {
    let ctx = Ctx::new(&state, (None, None, None));
    let mut response =
        ctx.message(&state, StatusCode::METHOD_NOT_ALLOWED, UsageTerms::RESERVED, MessageKind::MethodNotAllowed);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nothing_else_decodes() {
        for id in [1, 42, u64::MAX] {
            assert_eq!(cursor::decode(&cursor::encode(PostId(id))), Some(PostId(id)));
        }
        let good = cursor::encode(PostId(42));
        for bad in
            ["", "42", "AQ", "AAAAAAAAAAAq", "AgAAAAAAAAAq", "AQAAAAAAAAAA", &format!("{good}="), &format!("{good}A")]
        {
            assert_eq!(cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn handles_are_x_handles() {
        for ok in ["a", "Ada_Lovelace", "123456789012345", "_tg"] {
            assert!(is_handle(ok), "{ok}");
        }
        for bad in ["", "1234567890123456", "a.b", "a-b", "ä", "robots.txt", ".well-known"] {
            assert!(!is_handle(bad), "{bad}");
        }
    }

    #[test]
    fn gone_is_404_and_withheld_is_403() {
        assert_eq!(withheld_status(Reason::DELETED), StatusCode::NOT_FOUND);
        assert_eq!(withheld_status(Reason::AUTHOR_DEACTIVATED), StatusCode::NOT_FOUND);
        assert_eq!(withheld_status(Reason::AUTHOR_OPTED_OUT), StatusCode::FORBIDDEN);
        assert_eq!(withheld_status(Reason::PROTECTED_ACCOUNT), StatusCode::FORBIDDEN);
    }
}
