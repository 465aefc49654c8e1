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

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tollgate_deliver::{Request as Delivery, Served, Visitor};
use tollgate_domain::{ClientKind, GuardAction, GuardClass, Purpose, Resource, Timestamp};
use tollgate_ledger::{Channel, GuardFacts};

use crate::ApiState;
use crate::guard_response::{self, Price, Responder};

/// The guard's parts, built once at startup.
pub struct GuardRuntime {
    pub resolver: tollgate_guard::Resolver,
    pub signals: tollgate_guard::Guard,
    pub policy: tollgate_policy::GuardPolicy,
    pub responder: Responder,
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
        let content = (rest == "tweets" || rest.starts_with("tweets/") || rest == "users" || rest.starts_with("users/"))
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

/// The middleware (an axum layer inside the access log's, so that the
/// request's id and facts are known).
pub(crate) async fn guard(state: Arc<ApiState>, mut request: Request, next: Next) -> Response {
    let Some(g) = state.guard.as_deref() else { return next.run(request).await };
    let Some(guarded) = classify(request.uri().path()) else { return next.run(request).await };
    let now = Timestamp::now();
    let secs = (now.as_millis() / 1000) as u64;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let headers = request.headers();
    let key = key_of(&state, headers, now);
    let client = g.resolver.identify(peer, headers, key, secs);
    let path = request.uri().path().to_owned();
    let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request_line = cut(&format!("{} {target}", request.method()), 512);

    if guarded == Guarded::Challenge && request.method() == Method::POST {
        return g.responder.solve_challenge(request, &g.resolver, secs).await;
    }

    let agent = client.declared_ai.as_ref().map(|(token, _)| token.as_str());
    let disallowed = state.terms.disallows(agent, &path);
    let access = tollgate_guard::Access {
        resource: guarded.resource(),
        disallowed,
        robots_fetch: path == "/robots.txt",
        hidden_link: guarded == Guarded::HiddenLink,
    };
    let observation = g.signals.observe(&client, &access, secs);
    let offer = guard_response::price_offer(headers);
    let offers_price = offer.is_some_and(|o| o.covers(g.responder.price()));
    let class = GuardClass {
        signals: observation.signals,
        kind: client.kind,
        network: client.network,
        resource: guarded.resource(),
        disallowed,
        offers_price,
        passed_challenge: client.passed_challenge,
    };
    let decision = g.policy.decide(&class);
    let action = enforce(decision.action, &class, guarded);

    let charged = (action == GuardAction::Charge).then(|| g.responder.price().to_string());
    let facts = Arc::new(GuardFacts {
        actor: observation.actor.to_string(),
        basis: observation.basis.clone(),
        ip: client.ip.to_string(),
        prefix: client.prefix.to_string(),
        asn: client.asn,
        network: (client.network != tollgate_domain::NetClass::Unknown).then(|| client.network.as_str().to_owned()),
        user_agent: client.user_agent.clone(),
        request: request_line,
        signals: observation.signals.iter().map(|s| s.as_str().to_owned()).collect(),
        action: action.as_str().to_owned(),
        rule: decision.policy_id.clone(),
        charged: charged.clone(),
    });
    let purpose = match &client.declared_ai {
        Some((_, purpose)) => *purpose,
        None if client.kind.is_verified() => Purpose::Search,
        None => Purpose::Display,
    };
    let visitor = Visitor {
        client: observation.actor.to_string(),
        purpose,
        licensed: action == GuardAction::Charge,
        guard: Some(facts.clone()),
    };

    match action {
        GuardAction::Allow | GuardAction::Charge => {}
        _ => {
            let recorded = record(&state, &visitor, &path, Some(&format!("guard_{}", action.as_str())), now).await;
            if let Err(response) = recorded {
                return response;
            }
            return g.responder.respond(action, &path, client.cookie, secs).await;
        }
    }

    // Let through: the handler records the entry, with the guard's facts.
    if guarded == Guarded::Terms {
        if let Err(response) = record(&state, &visitor, &path, None, now).await {
            return response;
        }
    }
    let keyed = client.key.is_some();
    if !keyed || !observation.signals.is_empty() || action != GuardAction::Allow {
        crate::access::note_guard(facts);
    }
    request.extensions_mut().insert(visitor);
    let mut response = next.run(request).await;
    if let Some(served) = response.extensions_mut().remove::<Served>() {
        g.signals.served(observation.actor, &served.posts, &served.authors, served.asked, served.found, secs);
    }
    let h = response.headers_mut();
    if let Some(price) = charged
        && let Ok(v) = HeaderValue::from_str(&price)
    {
        h.insert("crawler-charged", v);
    }
    if client.cookie.is_none() && client.key.is_none() {
        let (_, cookie) = g.resolver.new_cookie();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "tg_id={cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000"
        )) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
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
    let credentials = state.cache.credentials(&hash).ok().flatten()?;
    if credentials.key.unusable_at(now).is_some() {
        return None;
    }
    Some((credentials.app.as_ref()?.id, credentials.key.id))
}

/// Records an attempt the guard answered itself, or a fetch of the terms;
/// an answer that cannot be recorded is not given.
async fn record(
    state: &ApiState,
    visitor: &Visitor,
    path: &str,
    refused: Option<&str>,
    now: Timestamp,
) -> Result<(), Response> {
    let recipient = visitor.recipient();
    let id = crate::access::request_id();
    let req = Delivery {
        recipient: &recipient,
        purpose: visitor.purpose,
        channel: if path.starts_with("/2/") { Channel::Api } else { Channel::Web },
        endpoint: endpoint_of(path),
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
        Some(Guarded::Challenge) => "/_tg/challenge",
        Some(Guarded::Page) if path.contains("/status/") => "GET /:handle/status/:id",
        Some(Guarded::Page) => "GET /:handle",
        Some(Guarded::Api) | None => "GET /2/...",
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
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
}
