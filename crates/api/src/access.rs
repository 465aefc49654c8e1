//! One span per request and the access log.
//!
//! `observe`, the router's outermost layer, gives every request an id (the
//! `x-request-id` every response carries, and the ledger entry's
//! `request_id`: `request_id()`), runs it inside a `request` span and, if the access log is
//! on, writes one event for it (target `tollgate::access`, level `info`)
//! once it is answered: the route template (never the raw path, which holds
//! ids and query strings), the app and purpose when the request was
//! authenticated, the ledger entry's seq when one was recorded, the status
//! and the latency.
//!
//! The request's facts are gathered twice, cheaply: recorded on the span,
//! so that whatever is logged while the request runs carries them, and
//! kept in a task-local `Facts` (a few words, no allocation), from which
//! the access event takes them as fields of its own. The access event is
//! written outside the span, so that the JSON format never reads the span's
//! fields back (it would decode them per line); see `tollgate-cli`'s logging
//! setup for how the span's fields are kept without decoding either.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tollgate_domain::{AppId, Purpose};
use tracing::Instrument;
use tracing::field::Empty;

use crate::ApiState;

/// The target of the access log's events.
pub const ACCESS_TARGET: &str = "tollgate::access";

/// A request's id, unique to the process run: the instance's prefix and a
/// counter, in hex. Kept inline (no allocation).
#[derive(Clone, Copy)]
pub struct RequestId {
    bytes: [u8; 32],
    len: u8,
}

impl RequestId {
    pub(crate) fn new(instance: &str, n: u64) -> RequestId {
        use std::io::Write;
        let mut bytes = [0u8; 32];
        let mut rest = &mut bytes[..];
        // 8 hex digits, a dash and at most 16 more: always fits.
        let _ = write!(rest, "{instance}-{n:x}");
        let len = (32 - rest.len()) as u8;
        RequestId { bytes, len }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of a request as it runs: a route (a reference count) and
/// a few words, never an allocation.
#[derive(Default)]
struct Facts {
    id: Option<RequestId>,
    endpoint: Option<MatchedPath>,
    unrouted: bool,
    app: Option<AppId>,
    purpose: Option<Purpose>,
    seq: Option<u64>,
    /// What the guard knew of the client, for the ledger entries the
    /// request's handler records (`crate::guard`).
    guard: Option<std::sync::Arc<tollgate_ledger::GuardFacts>>,
    /// The credentials the guard looked up for this request's bearer token
    /// (the `Authorization` value it read), which the handler takes instead
    /// of hashing and looking up the same token again.
    credentials: Option<(HeaderValue, Arc<tollgate_cache::Credentials>)>,
}

tokio::task_local! {
    static FACTS: RefCell<Facts>;
}

fn update(f: impl FnOnce(&mut Facts)) {
    let _ = FACTS.try_with(|cell| f(&mut cell.borrow_mut()));
}

/// Notes the route template the request matched (a route layer: it runs
/// after routing, where `MatchedPath` is known).
pub async fn route(request: Request, next: Next) -> Response {
    if let Some(path) = request.extensions().get::<MatchedPath>() {
        tracing::Span::current().record("endpoint", path.as_str());
        update(|f| f.endpoint = Some(path.clone()));
    }
    next.run(request).await
}

/// Hands the request's id to a handler mounted beside the API (the public
/// pages) as a request extension, for its ledger entry.
pub async fn tag_request(mut request: Request, next: Next) -> Response {
    if let Some(id) = request_id() {
        request.extensions_mut().insert(tollgate_deliver::RequestTag(id.as_str().to_owned()));
    }
    next.run(request).await
}

/// The id of the request being answered (`None` outside `observe`).
pub(crate) fn request_id() -> Option<RequestId> {
    FACTS.try_with(|cell| cell.borrow().id).ok().flatten()
}

/// Notes the authenticated app and the purpose of the request.
pub(crate) fn note_app(app: AppId, purpose: Purpose) {
    let span = tracing::Span::current();
    span.record("app", app.0);
    span.record("purpose", purpose.as_str());
    update(|f| {
        f.app = Some(app);
        f.purpose = Some(purpose);
    });
}

/// Notes the seq of the ledger entry that recorded the request.
pub(crate) fn note_seq(seq: u64) {
    tracing::Span::current().record("seq", seq);
    update(|f| f.seq = Some(seq));
}

/// Notes what the guard knew of the client, for the entries the handler records.
pub(crate) fn note_guard(facts: std::sync::Arc<tollgate_ledger::GuardFacts>) {
    update(|f| f.guard = Some(facts));
}

/// What the guard noted of this request's client (`None` if nothing).
pub(crate) fn guard_facts() -> Option<std::sync::Arc<tollgate_ledger::GuardFacts>> {
    FACTS.try_with(|cell| cell.borrow().guard.clone()).ok().flatten()
}

/// Notes the credentials the guard looked up for the `Authorization` value
/// `authorization`, at the start of this request.
pub(crate) fn note_credentials(authorization: HeaderValue, credentials: Arc<tollgate_cache::Credentials>) {
    update(|f| f.credentials = Some((authorization, credentials)));
}

/// The credentials noted for exactly this `Authorization` value, if any.
pub(crate) fn noted_credentials(authorization: &HeaderValue) -> Option<Arc<tollgate_cache::Credentials>> {
    FACTS
        .try_with(|cell| match &cell.borrow().credentials {
            Some((noted, credentials)) if noted == authorization => Some(Arc::clone(credentials)),
            _ => None,
        })
        .ok()
        .flatten()
}

/// Notes that no route matched (the fallback answers).
pub(crate) fn note_unrouted() {
    tracing::Span::current().record("endpoint", UNROUTED);
    update(|f| f.unrouted = true);
}

/// The endpoint logged for a request no route matched.
const UNROUTED: &str = "none";

/// Runs the request in its span, with its id, and writes its access log line.
pub async fn observe<F, Fut>(state: Arc<ApiState>, access_log: bool, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let id = state.request_id();
    let span = tracing::info_span!(
        "request",
        id = id.as_str(),
        method = request.method().as_str(),
        endpoint = Empty,
        app = Empty,
        purpose = Empty,
        seq = Empty,
        status = Empty,
        latency_us = Empty,
    );
    let method = request.method().clone();
    let (mut response, facts) = FACTS
        .scope(RefCell::new(Facts { id: Some(id), ..Facts::default() }), async move {
            let response = next(request).await;
            (response, FACTS.with(RefCell::take))
        })
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    span.record("status", status);
    span.record("latency_us", latency_us);
    drop(span);
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("x-request-id", v);
    }
    if access_log {
        let endpoint = match &facts.endpoint {
            Some(path) => Some(path.as_str()),
            None => facts.unrouted.then_some(UNROUTED),
        };
        tracing::info!(
            target: ACCESS_TARGET,
            id = id.as_str(),
            method = method.as_str(),
            endpoint,
            app = facts.app.map(|a| a.0),
            purpose = facts.purpose.map(Purpose::as_str),
            seq = facts.seq,
            status,
            latency_us,
            "request"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_fit_inline() {
        assert_eq!(RequestId::new("0a1b2c3d", 1).as_str(), "0a1b2c3d-1");
        assert_eq!(RequestId::new("0a1b2c3d", u64::MAX).as_str(), "0a1b2c3d-ffffffffffffffff");
    }
}
