//! Webhooks: compliance notices pushed to a recipient's endpoint, for apps
//! that prefer push to holding a stream open (docs/compliance.md,
//! "Webhooks").
//!
//! The management routes follow X's v2 webhooks API (`POST`, `GET`,
//! `DELETE /2/webhooks`, `PUT /2/webhooks/{id}` to run the challenge-response
//! check again); Tollgate adds the dead letters and a replay from a sequence
//! number. Every webhook has a signing secret of its own, made at
//! registration and returned once, with which the receiver answers the
//! challenge-response check (CRC) and checks each delivery's signature, as an
//! X receiver does with its app's consumer secret. Tollgate keeps only the
//! hashes of an app's keys, so it cannot sign with those.
//!
//! Delivery is at least once, in event order per webhook, from the progress
//! the store keeps (`Webhook::delivered_upto`); each event carries its
//! sequence number for the receiver to drop a repeat.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};
use sha2::Sha256;
use tollgate_deliver::Recipient;
use tollgate_domain::{AgreementState, AppId, Timestamp};
use tollgate_policy::AppFacts;
use tollgate_store::{DeadLetter, NewWebhook, NoticeQuery, Webhook};

use crate::ApiState;
use crate::content::{Ctx, handle};
use crate::error::ApiError;
use crate::internal::store_error;
use crate::routes::{Method as RouteMethod, Table};
use crate::streams::{event_object, record_notices};

/// The signature header of every delivery, X's name.
pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";
/// The header of the registration's check that carries the new secret.
pub const SECRET_HEADER: &str = "tollgate-webhook-secret";
/// The most webhooks one app may have.
pub const MAX_PER_APP: usize = 5;
/// The most bytes of a receiver's answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(crate) fn routes(table: Table) -> Table {
    use RouteMethod::{Delete, Get, Post, Put};
    table
        .add(Post, "/2/webhooks", register)
        .add(Get, "/2/webhooks", list)
        .add(Delete, "/2/webhooks/{id}", delete)
        .add(Put, "/2/webhooks/{id}", revalidate)
        .add(Get, "/2/webhooks/{id}/dead-letters", dead_letters)
        .add(Post, "/2/webhooks/{id}/replay", replay)
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// `sha256=` and the base64 of the HMAC: the CRC's answer and a delivery's signature.
pub fn signature(secret: &str, message: &[u8]) -> String {
    format!("sha256={}", base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret.as_bytes(), message)))
}

fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Where a webhook's URL points.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    authority: String,
    path_and_query: String,
}

/// Checks a webhook URL: `http` with a host (see docs/compliance.md on `https`).
fn target(url: &str) -> Result<Target, String> {
    let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}`: this server delivers over `http` only (it has no TLS client); \
                 register an `http` URL, behind a TLS-terminating proxy if the receiver is remote"
            ));
        }
        _ => return Err(format!("`{url}` is not an `http` URL")),
    }
    let authority = uri.authority().ok_or_else(|| format!("`{url}` names no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("`{url}` carries credentials; a webhook URL may not"));
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    Ok(Target {
        host,
        port: authority.port_u16().unwrap_or(80),
        authority: authority.as_str().to_owned(),
        path_and_query: uri.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned()),
    })
}

/// One HTTP/1.1 exchange with a receiver, within `timeout`.
async fn exchange(
    target: &Target,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), String> {
    let work = async {
        let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", target.authority))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP with {}: {e}", target.authority))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::HOST, &target.authority)
            .header(header::USER_AGENT, "tollgate-webhooks");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| format!("building the request: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("{}: {e}", target.authority))?;
        let status = response.status();
        let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {}: {e}", target.authority))?
            .to_bytes();
        Ok((status, answer))
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("{} did not answer within {} s", target.authority, timeout.as_secs_f64())))
}

/// The challenge-response check: `GET url?crc_token=...`, answered with
/// `{"response_token": "sha256=" + base64(HMAC-SHA256(secret, crc_token))}`.
/// `disclose` sends the secret along, for the registration's first check.
async fn crc(url: &str, secret: &str, disclose: bool, timeout: Duration) -> Result<(), String> {
    let target = target(url)?;
    let token = random_hex(24).map_err(|_| "no randomness for the check".to_owned())?;
    let separator = if target.path_and_query.contains('?') { '&' } else { '?' };
    let path = format!("{}{separator}crc_token={token}", target.path_and_query);
    let headers: Vec<(&str, String)> = if disclose { vec![(SECRET_HEADER, secret.to_owned())] } else { Vec::new() };
    let (status, answer) = exchange(&target, Method::GET, &path, &headers, Bytes::new(), timeout).await?;
    if !status.is_success() {
        return Err(format!("the receiver answered the check with HTTP {}", status.as_u16()));
    }
    let answer: Value =
        serde_json::from_slice(&answer).map_err(|_| "the receiver's answer to the check is not JSON".to_owned())?;
    let expected = signature(secret, token.as_bytes());
    match answer.get("response_token").and_then(Value::as_str) {
        Some(given) if given == expected => Ok(()),
        Some(_) => Err("the receiver's `response_token` is wrong".into()),
        None => Err("the receiver's answer has no `response_token`".into()),
    }
}

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id.to_string(),
        "url": w.url,
        "valid": w.valid,
        "created_at": w.created_at.to_string(),
        "tollgate": { "delivered_upto_seq": w.delivered_upto },
    })
}

fn body_json(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::InvalidRequest("the request body must be a JSON object".into())),
    }
}

/// The app's own webhook `id`; another app's is not found, as an unknown one.
fn own(state: &ApiState, ctx: &Ctx, id: &str) -> Result<Webhook, ApiError> {
    let not_found = || ApiError::NotFound(format!("no webhook of this app has the id `{id}`"));
    let id: u64 = id.parse().map_err(|_| not_found())?;
    match crate::blocking(|| state.store.webhook(id)).map_err(store_error)? {
        Some(w) if w.app_id == ctx.app.id => Ok(w),
        _ => Err(not_found()),
    }
}

async fn register(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, &headers, "POST /2/webhooks", async |state: &ApiState, ctx: &Ctx| {
        let fields = body_json(&body)?;
        if let Some(other) = fields.keys().find(|k| *k != "url") {
            return Err(ApiError::InvalidRequest(format!("the body's field `{other}` is not one of [url]")));
        }
        let url = fields
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::InvalidRequest("the body needs `url`, a string".into()))?;
        target(url).map_err(ApiError::InvalidRequest)?;
        let app = ctx.app.id;
        if crate::blocking(|| state.store.webhooks(Some(app))).map_err(store_error)?.len() >= MAX_PER_APP {
            return Err(ApiError::Conflict(format!("this app has {MAX_PER_APP} webhooks, the most it may have")));
        }
        let secret = random_hex(32)?;
        // INVARIANT (webhook-checked): nothing is registered unless its receiver passed the check.
        crc(url, &secret, true, state.streams.config().webhook_timeout).await.map_err(|why| {
            ApiError::InvalidRequest(format!("the webhook failed the challenge-response check: {why}"))
        })?;
        let upto = crate::blocking(|| state.store.notices_opened_upto()).map_err(store_error)?;
        let new = NewWebhook { app_id: app, url: url.to_owned(), secret, created_at: ctx.now, delivered_upto: upto };
        let created = crate::blocking(|| state.store.create_webhook(&new)).map_err(store_error)?;
        let mut data = webhook_json(&created);
        data["secret"] = json!(created.secret);
        Ok((StatusCode::OK, axum::Json(json!({ "data": data }))).into_response())
    })
    .await
}

async fn list(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    handle(&state, &headers, "GET /2/webhooks", async |state: &ApiState, ctx: &Ctx| {
        let app = ctx.app.id;
        let hooks = crate::blocking(|| state.store.webhooks(Some(app))).map_err(store_error)?;
        let data: Vec<Value> = hooks.iter().map(webhook_json).collect();
        Ok(axum::Json(json!({ "data": data, "meta": { "result_count": data.len() } })).into_response())
    })
    .await
}

async fn delete(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, "DELETE /2/webhooks/{id}", async |state: &ApiState, ctx: &Ctx| {
        let w = own(state, ctx, &id)?;
        crate::blocking(|| state.store.delete_webhook(w.id)).map_err(store_error)?;
        Ok(axum::Json(json!({ "data": { "deleted": true } })).into_response())
    })
    .await
}

async fn revalidate(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, "PUT /2/webhooks/{id}", async |state: &ApiState, ctx: &Ctx| {
        let w = own(state, ctx, &id)?;
        let outcome = crc(&w.url, &w.secret, false, state.streams.config().webhook_timeout).await;
        let valid = outcome.is_ok();
        crate::blocking(|| state.store.set_webhook_valid(w.id, valid)).map_err(store_error)?;
        if valid {
            state.webhooks_wake.notify_one();
        }
        let mut data = json!({ "attempted": true, "valid": valid });
        if let Err(why) = outcome {
            data["detail"] = json!(why);
        }
        Ok(axum::Json(json!({ "data": data })).into_response())
    })
    .await
}

async fn dead_letters(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, "GET /2/webhooks/{id}/dead-letters", async |state: &ApiState, ctx: &Ctx| {
        let w = own(state, ctx, &id)?;
        let letters = crate::blocking(|| state.store.dead_letters(w.id, 0, 1000)).map_err(store_error)?;
        let data: Vec<Value> = letters
            .iter()
            .map(|d| {
                json!({
                    "id": d.id.to_string(),
                    "event_seqs": d.event_seqs,
                    "attempts": d.attempts,
                    "error": d.error,
                    "at": d.at.to_string(),
                })
            })
            .collect();
        Ok(axum::Json(json!({ "data": data, "meta": { "result_count": data.len() } })).into_response())
    })
    .await
}

async fn replay(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    handle(&state, &headers, "POST /2/webhooks/{id}/replay", async |state: &ApiState, ctx: &Ctx| {
        let w = own(state, ctx, &id)?;
        let fields = body_json(&body)?;
        if let Some(other) = fields.keys().find(|k| *k != "after_seq") {
            return Err(ApiError::InvalidRequest(format!("the body's field `{other}` is not one of [after_seq]")));
        }
        let after = fields
            .get("after_seq")
            .and_then(Value::as_u64)
            .filter(|s| i64::try_from(*s).is_ok())
            .ok_or_else(|| ApiError::InvalidRequest("the body needs `after_seq`, a sequence number".into()))?;
        crate::blocking(|| state.store.rewind_webhook(w.id, after)).map_err(store_error)?;
        state.webhooks_wake.notify_one();
        Ok(axum::Json(json!({ "data": { "id": w.id.to_string(), "after_seq": after } })).into_response())
    })
    .await
}

/// Starts the deliverer of webhooks: a task that, on each wake (the
/// notices' progress, a replay, a check passed, or every `poll_interval`),
/// starts one delivery task per valid webhook behind, none twice at once.
pub fn start(state: Arc<ApiState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let busy: Arc<Mutex<HashSet<u64>>> = Arc::default();
        let mut woken = state.streams.progress().subscribe();
        let mut closing = state.streams.closing();
        let poll = state.streams.config().poll_interval;
        let recheck = state.streams.config().webhook_recheck;
        let mut checked_at = tokio::time::Instant::now();
        let checking = Arc::new(std::sync::atomic::AtomicBool::new(false));
        loop {
            tokio::select! {
                _ = woken.changed() => {}
                _ = state.webhooks_wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = closing.changed() => {}
            }
            if *closing.borrow() {
                return;
            }
            let store = state.store.clone();
            let found = tokio::task::spawn_blocking(move || {
                Ok::<_, tollgate_store::StoreError>((store.notices_opened_upto()?, store.webhooks(None)?))
            })
            .await;
            let (upto, hooks) = match found {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::warn!(target: "tollgate::webhooks", "listing webhooks: {e}");
                    continue;
                }
                Err(_) => continue,
            };
            if checked_at.elapsed() >= recheck && !checking.swap(true, std::sync::atomic::Ordering::AcqRel) {
                checked_at = tokio::time::Instant::now();
                let valid: Vec<Webhook> = hooks.iter().filter(|w| w.valid).cloned().collect();
                let (state, checking) = (state.clone(), checking.clone());
                tokio::spawn(async move {
                    recheck_all(&state, valid).await;
                    checking.store(false, std::sync::atomic::Ordering::Release);
                });
            }
            for w in hooks.into_iter().filter(|w| w.valid && w.delivered_upto < upto) {
                if !busy.lock().unwrap_or_else(|e| e.into_inner()).insert(w.id) {
                    continue;
                }
                let (state, busy) = (state.clone(), busy.clone());
                tokio::spawn(async move {
                    let id = w.id;
                    if let Err(e) = deliver(&state, w, upto).await {
                        tracing::warn!(target: "tollgate::webhooks", webhook = id, "delivering: {e}");
                    }
                    busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                });
            }
        }
    })
}

/// Runs the challenge-response check again on each of `hooks`, as X does
/// hourly; a receiver that fails it is marked invalid and is sent nothing
/// until it passes `PUT /2/webhooks/{id}`.
async fn recheck_all(state: &ApiState, hooks: Vec<Webhook>) {
    let timeout = state.streams.config().webhook_timeout;
    for w in hooks {
        if let Err(why) = crc(&w.url, &w.secret, false, timeout).await {
            tracing::warn!(target: "tollgate::webhooks", webhook = w.id, "the receiver failed its check: {why}");
            let store = state.store.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.set_webhook_valid(w.id, false)).await {
                tracing::warn!(target: "tollgate::webhooks", webhook = w.id, "marking it invalid: {e}");
            }
        }
    }
}

/// Delivers webhook `w`'s notices up to `upto`, batch by batch.
async fn deliver(state: &ApiState, mut w: Webhook, upto: u64) -> Result<(), String> {
    let config = *state.streams.config();
    let target = target(&w.url)?;
    let recipient = recipient(state, w.app_id).await?;
    let endpoint = format!("webhook {}", w.id);
    while w.delivered_upto < upto {
        let from = w.delivered_upto;
        let query = NoticeQuery {
            app: Some(w.app_id),
            after_seq: from,
            limit: config.webhook_batch.max(1),
            ..NoticeQuery::default()
        };
        let store = state.store.clone();
        let mut notices = tokio::task::spawn_blocking(move || store.notices(&query))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let full = notices.len() == config.webhook_batch.max(1);
        notices.retain(|n| n.event_seq <= upto);
        // An app has one notice per event: a page ends with a whole event.
        let to = if full { notices.last().map_or(upto, |n| n.event_seq) } else { upto };
        let mut dead = None;
        if !notices.is_empty() {
            let seqs: Vec<u64> = notices.iter().map(|n| n.event_seq).collect();
            let events: Vec<Value> = notices.iter().map(event_object).collect();
            let body = Bytes::from(serde_json::to_vec(&json!({ "events": events })).map_err(|e| e.to_string())?);
            let sig = signature(&w.secret, &body);
            let mut attempt = 0;
            loop {
                attempt += 1;
                let request_id = format!("webhook-{}-{}-{attempt}", w.id, seqs[0]);
                // INVARIANT (notice-recorded): the ledger records the notices before their bytes leave.
                record_notices(state, &recipient, &endpoint, &request_id, &seqs).await.map_err(|e| format!("{e:?}"))?;
                let headers = [
                    (SIGNATURE_HEADER, sig.clone()),
                    (header::CONTENT_TYPE.as_str(), "application/json".to_owned()),
                    ("tollgate-webhook-id", w.id.to_string()),
                ];
                let outcome = exchange(
                    &target,
                    Method::POST,
                    &target.path_and_query,
                    &headers,
                    body.clone(),
                    config.webhook_timeout,
                )
                .await
                .and_then(|(status, _)| {
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(format!("the receiver answered HTTP {}", status.as_u16()))
                    }
                });
                match outcome {
                    Ok(()) => break,
                    Err(why) if attempt >= config.webhook_max_attempts.max(1) => {
                        dead = Some(DeadLetter {
                            id: 0,
                            webhook_id: w.id,
                            event_seqs: seqs.clone(),
                            attempts: attempt,
                            error: why,
                            at: Timestamp::now(),
                        });
                        break;
                    }
                    Err(_) => tokio::time::sleep(backoff(config.webhook_base_delay, attempt)).await,
                }
            }
        }
        let store = state.store.clone();
        let id = w.id;
        let moved = tokio::task::spawn_blocking(move || store.advance_webhook(id, from, to, dead.as_ref()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !moved {
            // A replay (or another node) moved the progress: the next wake starts from there.
            return Ok(());
        }
        w.delivered_upto = to;
    }
    Ok(())
}

/// The delay before retry `attempt + 1`: `base` doubled per attempt, plus up
/// to half again at random, so that receivers that failed together are not
/// all retried at the same instant.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = doubled.mul_f64(f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX) / 2.0);
    doubled + jitter
}

/// The recipient a webhook's deliveries are recorded for.
async fn recipient(state: &ApiState, app: AppId) -> Result<Recipient, String> {
    let store = state.store.clone();
    let found = tokio::task::spawn_blocking(move || {
        Ok::<_, tollgate_store::StoreError>((store.app(app)?, store.latest_agreement()?))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let (Some(app), latest) = found else { return Err(format!("app {app} no longer exists")) };
    let agreement = AgreementState::of(app.agreement_version, latest.as_ref(), Timestamp::now());
    Ok(Recipient { app: AppFacts::of(&app, agreement), key_id: None, client: None, guard: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_rfc_4231s() {
        // RFC 4231, test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_taken() {
        assert!(target("http://127.0.0.1:8080/hook?x=1").is_ok());
        assert_eq!(target("http://[::1]:9/h").unwrap().host, "::1");
        for bad in ["ftp://x/", "https://example.com/", "/relative", "http://user:pw@host/", "not a url"] {
            assert!(target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_with_at_most_half_again_of_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..6 {
            let d = backoff(base, attempt);
            let floor = base * (1 << (attempt - 1));
            assert!(d >= floor && d <= floor + floor / 2, "{attempt}: {d:?}");
        }
    }
}
