//! The guard in the request path: every request for content (the API's
//! post and user endpoints, the public pages), for the terms, or for the
//! guard's own paths is judged before it is routed.
//!
//! For each, the middleware identifies the client (`tollgate_guard::Resolver`),
//! attributes it to an actor and computes the signals that fire
//! (`tollgate_guard::Guard`), asks the guard policy what to answer
//! (`tollgate_policy::GuardPolicy`, cached per `GuardClass`), and either
//! lets the request through, carrying what the guard knew of its client
//! (`GuardFacts`, recorded in the ledger entry the handler writes; for
//! pages, the `Visitor` they decide for), or answers it itself
//! (`crate::guard_response`), recording the refused attempt in the ledger
//! first. What a response released (`tollgate_deliver::Served`, a response
//! extension) goes back into the actor's counters.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tollgate_deliver::{Request as Delivery, Served, Visitor};
use tollgate_domain::{ClientKind, GuardAction, GuardClass, Purpose, Resource, Timestamp};
use tollgate_guard::{Access, Observation, QuotaUse};
use tollgate_ledger::Channel;

use crate::ApiState;
use crate::guard_response::{ChallengeKey, GuardResponses, Price, Tarpit};

/// The guard's parts, built once at startup (`tollgate serve`).
pub struct GuardRuntime {
    pub resolver: tollgate_guard::Resolver,
    pub signals: tollgate_guard::Guard,
    pub policy: tollgate_policy::GuardPolicy,
    pub responses: GuardResponses,
    pub tarpit: Tarpit,
    pub challenge_key: ChallengeKey,
    /// Seconds a throttled client is told to wait (`Retry-After`).
    pub retry_after_secs: u64,
    /// Makes each page's hidden link unique.
    nonce: AtomicU64,
    /// Each key's use of its quota as its last answer stated it
    /// (`x-rate-limit-*`): what the guard's quota pacing reads.
    quotas: std::sync::Mutex<std::collections::HashMap<u64, QuotaUse>>,
}

impl GuardRuntime {
    pub fn new(
        resolver: tollgate_guard::Resolver,
        signals: tollgate_guard::Guard,
        policy: tollgate_policy::GuardPolicy,
        responses: GuardResponses,
        tarpit: Tarpit,
        challenge_key: ChallengeKey,
    ) -> GuardRuntime {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        GuardRuntime {
            resolver,
            signals,
            policy,
            responses,
            tarpit,
            challenge_key,
            retry_after_secs: 60,
            nonce: AtomicU64::new(seed as u64),
            quotas: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn price(&self) -> &Price {
        &self.responses.price
    }

    fn quota(&self, key: u64) -> Option<QuotaUse> {
        self.quotas.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied()
    }

    /// Keeps the quota use a keyed answer states, for the key's next request.
    fn note_quota(&self, key: u64, headers: &HeaderMap) {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.parse::<u64>().ok();
        if let (Some(limit), Some(remaining)) = (number("x-rate-limit-limit"), number("x-rate-limit-remaining")) {
            let used = limit.saturating_sub(remaining);
            self.quotas.lock().unwrap_or_else(|e| e.into_inner()).insert(key, QuotaUse { used, limit });
        }
    }
}

/// What a path is, for the guard; `None`: not guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guarded {
    /// The developer API's post and user endpoints.
    Api,
    /// A public page: a profile or a post.
    Page,
    /// robots.txt, tdmrep.json, license.xml, the agreement.
    Terms,
    /// A hidden link of a page (`/_tg/l/<token>`).
    HiddenLink,
    /// The challenge's form target (`/_tg/challenge`).
    Challenge,
}

impl Guarded {
    fn resource(self) -> Resource {
        match self {
            Guarded::Api | Guarded::Page | Guarded::HiddenLink => Resource::Content,
            Guarded::Terms => Resource::Terms,
            Guarded::Challenge => Resource::Other,
        }
    }
}

/// Single-segment paths that are the service's, never a handle.
const RESERVED: [&str; 5] = ["healthz", "metrics", "settings", "agreement", "internal"];

fn classify(path: &str) -> Option<Guarded> {
    match path {
        "/robots.txt" | "/.well-known/tdmrep.json" | "/license.xml" => return Some(Guarded::Terms),
        "/_tg/challenge" => return Some(Guarded::Challenge),
        _ => {}
    }
    if path == "/agreement" || path.starts_with("/agreement/") {
        return Some(Guarded::Terms);
    }
    if path.starts_with("/_tg/l/") {
        return Some(Guarded::HiddenLink);
    }
    if let Some(rest) = path.strip_prefix("/2/") {
        let content =
            (rest == "tweets" || rest.starts_with("tweets/") || rest == "users" || rest.starts_with("users/"))
                && !rest.ends_with("/compliance/stream");
        return content.then_some(Guarded::Api);
    }
    let mut segments = path.strip_prefix('/')?.split('/');
    let handle = segments.next()?;
    let is_handle = (1..=15).contains(&handle.len())
        && handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !RESERVED.contains(&handle);
    if !is_handle {
        return None;
    }
    match (segments.next(), segments.next(), segments.next()) {
        (None, _, _) | (Some(""), None, _) => Some(Guarded::Page),
        (Some("status"), Some(id), None) if !id.is_empty() => Some(Guarded::Page),
        _ => None,
    }
}

/// The middleware, run inside the access log's (`router_with_web`'s front
/// layer), so that the request's id and facts are known; `next` runs the
/// rest of the request.
pub(crate) async fn guard<F, Fut>(state: Arc<ApiState>, mut request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let Some(g) = state.guard.as_deref() else { return next(request).await };
    let Some(guarded) = classify(request.uri().path()) else { return next(request).await };
    let now = Timestamp::now();
    let secs = (now.millis() / 1000) as u64;
    let peer =
        request.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    let headers = request.headers();
    let key = key_of(&state, headers, now);
    let client = g.resolver.identify(peer, headers, key, secs);
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    // A new client gets its continuity cookie with its first answer; an
    // app's key is its continuity (API clients keep no cookies).
    let new_cookie = (client.cookie.is_none() && client.key.is_none()).then(|| g.resolver.new_cookie());
    let cookie = client.cookie.or(new_cookie.as_ref().map(|(id, _)| *id)).unwrap_or(0);

    if guarded == Guarded::Challenge {
        let request_line = format!("{} {target}", request.method());
        let answer = if request.method() != Method::POST {
            g.responses.challenge(&g.challenge_key, cookie, "/", secs)
        } else {
            match axum::body::to_bytes(request.into_body(), 4096).await {
                Ok(form) => {
                    let issue = |id: u64| pass_value(&g.resolver.issue_pass(id, secs));
                    g.responses.challenge_answer(&g.challenge_key, &issue, cookie, &form, secs)
                }
                Err(_) => g.responses.challenge(&g.challenge_key, cookie, "/", secs),
            }
        };
        // INVARIANT (attempts-recorded): an answer to the challenge is an
        // attempt too: a pass given (served) or a fresh challenge (refused).
        let passed = answer.status() == StatusCode::SEE_OTHER;
        let observation = g.signals.observe(&client, &Access::default(), secs);
        let action = if passed { GuardAction::Allow } else { GuardAction::Challenge };
        let facts = observation.facts(&client, &request_line, action, None, None);
        let visitor = Visitor {
            client: observation.actor.to_string(),
            purpose: Purpose::Display,
            licensed: false,
            guard: Some(Arc::new(facts)),
        };
        let refused = (!passed).then_some("guard_challenge");
        if let Err(response) = record(&state, &visitor, None, (&method, &path), refused, now).await {
            return response;
        }
        return with_cookie(answer, &new_cookie);
    }

    let agent = client.declared_ai.as_ref().map(|(token, _)| token.as_str());
    // The developer API is governed by keys and the agreement, not by
    // robots.txt (which disallows it to crawlers because it needs a key).
    let disallowed = guarded != Guarded::Api && state.terms.disallows(agent, &path);
    let hidden_link = guarded == Guarded::HiddenLink
        && path.strip_prefix("/_tg/l/").is_some_and(|token| g.signals.trap_followed(token, secs).is_some());
    let quota = client.key.and_then(|(_, key)| g.quota(key.0));
    let access = Access { robots_fetch: path == "/robots.txt", disallowed, hidden_link, quota };
    let observation = g.signals.observe(&client, &access, secs);
    if let Some((id, _)) = &new_cookie {
        g.signals.cookie_issued(&access, *id, secs);
    }
    let offers_price = client.verified.is_some() && crate::guard_response::offers_price(headers, g.price());
    let class = observation.class(&client, guarded.resource(), disallowed, offers_price);
    let decision = g.policy.decide(&class);
    let action = enforce(decision.action, &class, guarded);

    // A keyed API request let through on which no signal fired leaves no
    // trace of the guard (no facts in its ledger entry, no visitor: the
    // API's handlers record the app): the facts, their dozen strings and
    // the request line are made only for the requests that keep them.
    if guarded == Guarded::Api && client.key.is_some() && observation.signals.is_empty() && action == GuardAction::Allow
    {
        let credentials = Credentials::of(request.headers());
        let (response, recorded) = tollgate_deliver::recording(next(request)).await;
        let mut response = if recorded {
            response
        } else {
            let visitor = Visitor {
                client: observation.actor.to_string(),
                purpose: Purpose::Display,
                licensed: false,
                guard: None,
            };
            record_answer(&state, &visitor, &credentials, (&method, &path), response, now).await
        };
        note_served(g, &observation, &mut response, secs);
        if let Some((_, key)) = client.key {
            g.note_quota(key.0, response.headers());
        }
        return with_cookie(response, &new_cookie);
    }

    let request_line = format!("{} {target}", request.method());
    let charged = (action == GuardAction::Charge).then(|| g.price().to_string());
    let facts = Arc::new(observation.facts(&client, &request_line, action, decision.policy_id.clone(), charged));
    let purpose = match &client.declared_ai {
        Some((_, purpose)) => *purpose,
        None if client.kind.is_verified() => Purpose::Search,
        None => Purpose::Display,
    };
    let visitor_with = |facts: Arc<tollgate_ledger::GuardFacts>| Visitor {
        client: observation.actor.to_string(),
        purpose,
        licensed: action == GuardAction::Charge,
        guard: Some(facts),
    };
    let visitor = visitor_with(facts.clone());

    if !matches!(action, GuardAction::Allow | GuardAction::Charge) {
        // INVARIANT (attempts-recorded): a refused attempt is in the ledger
        // before it is answered.
        let reason = format!("guard_{}", action.as_str());
        if let Err(response) = record(
            &state,
            &visitor,
            client.key.is_some().then_some(request.headers()),
            (&method, &path),
            Some(&reason),
            now,
        )
        .await
        {
            return response;
        }
        let response = match action {
            GuardAction::Throttle => g.responses.throttle(&path, g.retry_after_secs),
            GuardAction::License => g.responses.license(&path),
            GuardAction::Challenge => {
                let back = if guarded == Guarded::Page { target } else { "/" };
                g.responses.challenge(&g.challenge_key, cookie, back, secs)
            }
            GuardAction::Tarpit => g.tarpit.answer(&g.responses, &path).await,
            _ => g.responses.block(&path),
        };
        return with_cookie(response, &new_cookie);
    }

    // Let through: the terms are recorded here (they release no post); the
    // handlers of content record their own entries, with the guard's facts.
    if guarded == Guarded::Terms
        && let Err(response) =
            record(&state, &visitor, client.key.is_some().then_some(request.headers()), (&method, &path), None, now)
                .await
    {
        return response;
    }
    if client.key.is_none() || !observation.signals.is_empty() || action != GuardAction::Allow {
        crate::access::note_guard(facts.clone());
    }
    if guarded == Guarded::Page {
        let nonce = g.nonce.fetch_add(1, Ordering::Relaxed);
        request.extensions_mut().insert(tollgate_deliver::HiddenLink(g.signals.trap_token(observation.actor, nonce)));
    }
    let credentials = if client.key.is_some() { Credentials::of(request.headers()) } else { Credentials::default() };
    request.extensions_mut().insert(visitor);
    let (response, recorded) = tollgate_deliver::recording(next(request)).await;
    // A fetch of the terms was recorded above, whatever its answer. The
    // visitor went to the handler: the rare answer to record gets its own.
    let mut response = if recorded || guarded == Guarded::Terms {
        response
    } else {
        record_answer(&state, &visitor_with(facts), &credentials, (&method, &path), response, now).await
    };
    note_served(g, &observation, &mut response, secs);
    if let Some((_, key)) = client.key {
        g.note_quota(key.0, response.headers());
    }
    if action == GuardAction::Charge {
        crate::guard_response::mark_charged(&mut response, g.price());
    }
    with_cookie(response, &new_cookie)
}

/// Counts what the response released against the actor.
fn note_served(g: &GuardRuntime, observation: &Observation, response: &mut Response, secs: u64) {
    if let Some(served) = response.extensions_mut().remove::<Served>() {
        g.signals.served(observation, &served.posts, &served.authors, &served.asked, served.found, secs);
    }
}

/// Adds the new continuity cookie, if the client had none.
fn with_cookie(mut response: Response, new_cookie: &Option<(u64, String)>) -> Response {
    if let Some((_, set_cookie)) = new_cookie
        && let Ok(v) = HeaderValue::from_str(set_cookie)
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The value of a `tg_pass=<value>; ...` cookie header.
fn pass_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or("");
    pair.strip_prefix("tg_pass=").unwrap_or(pair).to_owned()
}

/// The action taken, after what no policy may change: the terms are never
/// refused (a crawler must be able to read what it is told), and a
/// verified search crawler is never tarpitted or blocked (it is throttled
/// instead); a hidden link is never served.
fn enforce(action: GuardAction, class: &GuardClass, guarded: Guarded) -> GuardAction {
    if guarded == Guarded::Terms {
        return GuardAction::Allow;
    }
    let action = match action {
        // INVARIANT (search-crawlers-never-trapped): see docs/guard.md.
        GuardAction::Tarpit | GuardAction::Block if class.kind == ClientKind::VerifiedSearch => GuardAction::Throttle,
        // A charge is taken only from an identity that can be billed, for
        // a price it offered.
        GuardAction::Charge if !(class.kind.is_verified() && class.offers_price) => GuardAction::License,
        other => other,
    };
    if guarded == Guarded::HiddenLink && matches!(action, GuardAction::Allow | GuardAction::Charge) {
        return GuardAction::Block;
    }
    action
}

/// The app and key of a request's bearer token, if it names a usable one;
/// a bad token is the handler's to refuse.
fn key_of(
    state: &ApiState,
    headers: &HeaderMap,
    now: Timestamp,
) -> Option<(tollgate_domain::AppId, tollgate_domain::KeyId)> {
    let token = crate::params::bearer_token(headers).ok().flatten()?;
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    // Every change acknowledged before this request is in force for it: the
    // handler takes this lookup instead of its own (`note_credentials`), so
    // it must not be older than the handler's would be. (A failure to read
    // the changes leaves the key to the handler, whose own read fails too.)
    state.cache.sync().ok()?;
    let credentials = state.cache.credentials(&hash).ok().flatten()?;
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        crate::access::note_credentials(authorization.clone(), Arc::clone(&credentials));
    }
    if credentials.key.unusable_at(now).is_some() {
        return None;
    }
    Some((credentials.app.as_ref()?.id, credentials.key.id))
}

/// The headers that name a keyed request's app and purpose, kept from a
/// request the handler takes, in case its answer must be recorded after it.
#[derive(Default)]
struct Credentials {
    authorization: Option<HeaderValue>,
    purpose: Option<HeaderValue>,
}

impl Credentials {
    fn of(headers: &HeaderMap) -> Credentials {
        Credentials {
            authorization: headers.get(header::AUTHORIZATION).cloned(),
            purpose: headers.get(crate::content::PURPOSE_HEADER).cloned(),
        }
    }

    fn headers(&self) -> Option<HeaderMap> {
        let authorization = self.authorization.clone()?;
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization);
        if let Some(purpose) = &self.purpose {
            headers.insert(crate::content::PURPOSE_HEADER, purpose.clone());
        }
        Some(headers)
    }
}

/// An answer a handler gave without recording it in the ledger: refused
/// before anything was decided (a malformed parameter or page address, an
/// unknown or revoked key, an app over its quota). INVARIANT
/// (attempts-recorded): it is recorded here, as a refused attempt with a
/// reason named after its status, before it is sent; an answer that cannot
/// be recorded is not given. A success a handler did not record released
/// nothing (a stream's rules; a stream records what it sends as it sends
/// it) and is not an attempt at content.
async fn record_answer(
    state: &ApiState,
    visitor: &Visitor,
    credentials: &Credentials,
    request: (&Method, &str),
    response: Response,
    now: Timestamp,
) -> Response {
    let Some(reason) = unrecorded_reason(response.status()) else { return response };
    let headers = credentials.headers();
    match record(state, visitor, headers.as_ref(), request, Some(&reason), now).await {
        Ok(()) => response,
        Err(failed) => failed,
    }
}

/// The reason code of an unrecorded answer, from its status; `None` for a
/// success or a redirect.
fn unrecorded_reason(status: StatusCode) -> Option<std::borrow::Cow<'static, str>> {
    let code = match status {
        s if !(s.is_client_error() || s.is_server_error()) => return None,
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "server_error",
        s => return Some(format!("http_{}", s.as_u16()).into()),
    };
    Some(code.into())
}

/// Records an attempt the guard answered itself, a fetch of the terms, or
/// an answer a handler gave without recording it; an answer that cannot be
/// recorded is not given.
async fn record(
    state: &ApiState,
    visitor: &Visitor,
    headers: Option<&HeaderMap>,
    (method, path): (&Method, &str),
    refused: Option<&str>,
    now: Timestamp,
) -> Result<(), Response> {
    // A keyed client is recorded as its app, as its deliveries are, for the
    // purpose it asked for where the header names one.
    let keyed = headers.and_then(|h| Some((crate::content::authenticate_app(state, h).ok()?, h)));
    let (recipient, purpose) = match keyed {
        Some((mut r, h)) => {
            r.guard = visitor.guard.clone();
            let asked = h.get(crate::content::PURPOSE_HEADER).and_then(|v| v.to_str().ok()?.trim().parse().ok());
            let purpose = asked.or_else(|| r.app.purposes.first().copied()).unwrap_or(visitor.purpose);
            (r, purpose)
        }
        None => (visitor.recipient(), visitor.purpose),
    };
    let id = crate::access::request_id();
    let req = Delivery {
        recipient: &recipient,
        purpose,
        channel: if path.starts_with("/2/") { Channel::Api } else { Channel::Web },
        endpoint: &endpoint(method, path),
        request_id: id.as_ref().map(|i| i.as_str()).unwrap_or(""),
        now,
    };
    match state.deliverer.record_attempt(&req, refused).await {
        Ok(receipt) => {
            crate::access::note_seq(receipt.seq);
            Ok(())
        }
        Err(e) => Err(crate::ApiError::ledger(e).into_response()),
    }
}

/// The endpoint a request to a guarded path is recorded under: its method
/// and the path's route template (`DELETE /2/tweets/:id`).
fn endpoint(method: &Method, path: &str) -> std::borrow::Cow<'static, str> {
    let template = endpoint_of(path);
    match template.split_once(' ') {
        Some((m, route)) if m != method.as_str() => format!("{method} {route}").into(),
        _ => template.into(),
    }
}

/// The route template of a guarded path, as ledger entries name endpoints.
fn endpoint_of(path: &str) -> &'static str {
    match classify(path) {
        Some(Guarded::Terms) => match path {
            "/robots.txt" => "GET /robots.txt",
            "/.well-known/tdmrep.json" => "GET /.well-known/tdmrep.json",
            "/license.xml" => "GET /license.xml",
            _ => "GET /agreement",
        },
        Some(Guarded::HiddenLink) => "GET /_tg/l/:token",
        Some(Guarded::Challenge) => "POST /_tg/challenge",
        Some(Guarded::Page) if path.contains("/status/") => "GET /:handle/status/:id",
        Some(Guarded::Page) => "GET /:handle",
        Some(Guarded::Api) => api_endpoint(path),
        None => "GET /2/...",
    }
}

/// The developer API's route template of `path`, as its handlers name their
/// entries (`GET /2/tweets/:id`).
fn api_endpoint(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches("/2/").split('/').collect();
    match segments.as_slice() {
        ["tweets"] => "GET /2/tweets",
        ["tweets", "search", "recent"] => "GET /2/tweets/search/recent",
        ["tweets", _] => "GET /2/tweets/:id",
        ["users"] => "GET /2/users",
        ["users", "by"] => "GET /2/users/by",
        ["users", "by", "username", _] => "GET /2/users/by/username/:username",
        ["users", _] => "GET /2/users/:id",
        ["users", _, "tweets"] => "GET /2/users/:id/tweets",
        _ => "GET /2/...",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guarded_paths_are_content_terms_and_the_guards_own() {
        assert_eq!(classify("/2/tweets"), Some(Guarded::Api));
        assert_eq!(classify("/2/tweets/123"), Some(Guarded::Api));
        assert_eq!(classify("/2/users/by/username/alice"), Some(Guarded::Api));
        assert_eq!(classify("/2/tweets/compliance/stream"), None);
        assert_eq!(classify("/2/compliance/jobs"), None);
        assert_eq!(classify("/alice"), Some(Guarded::Page));
        assert_eq!(classify("/alice/"), Some(Guarded::Page));
        assert_eq!(classify("/alice/status/99"), Some(Guarded::Page));
        assert_eq!(classify("/alice/status/"), None);
        assert_eq!(classify("/alice/likes"), None);
        assert_eq!(classify("/healthz"), None);
        assert_eq!(classify("/settings"), None);
        assert_eq!(classify("/internal/accounts"), None);
        assert_eq!(classify("/robots.txt"), Some(Guarded::Terms));
        assert_eq!(classify("/agreement/2"), Some(Guarded::Terms));
        assert_eq!(classify("/_tg/l/abc"), Some(Guarded::HiddenLink));
        assert_eq!(classify("/_tg/challenge"), Some(Guarded::Challenge));
        assert_eq!(classify("/a_name_far_too_long_for_a_handle"), None);
    }

    #[test]
    fn refused_api_requests_are_recorded_under_their_route() {
        for (path, endpoint) in [
            ("/2/tweets", "GET /2/tweets"),
            ("/2/tweets/search/recent", "GET /2/tweets/search/recent"),
            ("/2/tweets/19", "GET /2/tweets/:id"),
            ("/2/users", "GET /2/users"),
            ("/2/users/by", "GET /2/users/by"),
            ("/2/users/by/username/alice", "GET /2/users/by/username/:username"),
            ("/2/users/7", "GET /2/users/:id"),
            ("/2/users/7/tweets", "GET /2/users/:id/tweets"),
        ] {
            assert_eq!(endpoint_of(path), endpoint, "{path}");
        }
        // Under the method it was sent with.
        assert_eq!(endpoint(&Method::DELETE, "/2/tweets/19"), "DELETE /2/tweets/:id");
        assert_eq!(endpoint(&Method::GET, "/_tg/challenge"), "GET /_tg/challenge");
        assert_eq!(endpoint(&Method::POST, "/_tg/challenge"), "POST /_tg/challenge");
        // Every route the API serves under those paths has its template here.
        for route in crate::routes() {
            let p = route.path;
            if classify(&p.replace("{id}", "1").replace("{username}", "a")) == Some(Guarded::Api) {
                let template = format!("{} {}", route.method.as_str(), p.replace('{', ":").replace('}', ""));
                assert_eq!(endpoint_of(&p.replace("{id}", "1").replace("{username}", "a")), template);
            }
        }
    }
}
