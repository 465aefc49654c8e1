//! Webhooks through the router, against a receiver served on loopback in
//! the test: the challenge-response check at registration and on request
//! (passed, failed, forged), signed deliveries, retries with backoff, dead
//! letters, replay, and each app's webhooks its own.

#[expect(dead_code, reason = "the shared fixture has helpers this file does not need")]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use common::{Fixture, account, post};
use serde_json::{Value, json};
use tollgate_api::{ComplianceConfig, WEBHOOK_SECRET_HEADER, WEBHOOK_SIGNATURE_HEADER, signature};
use tollgate_domain::{AppId, Notice, NoticeReason, PostId, Purpose, Tier, Timestamp};

/// A webhook receiver as an app would run it.
#[derive(Default)]
struct Receiver {
    /// Learned from the registration's check.
    secret: Mutex<Option<String>>,
    /// Answer checks with a token made with another secret (a forger's).
    forge: AtomicBool,
    /// Answer the next this many deliveries with HTTP 500.
    failures_left: AtomicU32,
    /// Fail every delivery.
    always_fail: AtomicBool,
    attempts: AtomicU32,
    /// The deliveries accepted: whether the signature checked, and the body.
    accepted: Mutex<Vec<(bool, Value)>>,
}

async fn crc(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> axum::Json<Value> {
    if let Some(secret) = headers.get(WEBHOOK_SECRET_HEADER) {
        *r.secret.lock().unwrap() = Some(secret.to_str().unwrap().to_owned());
    }
    let secret = if r.forge.load(Ordering::SeqCst) {
        "not-the-secret".to_owned()
    } else {
        r.secret.lock().unwrap().clone().unwrap_or_default()
    };
    let token = q.get("crc_token").cloned().unwrap_or_default();
    axum::Json(json!({ "response_token": signature(&secret, token.as_bytes()) }))
}

async fn event(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    if r.always_fail.load(Ordering::SeqCst)
        || r.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let secret = r.secret.lock().unwrap().clone().unwrap_or_default();
    let given = headers.get(WEBHOOK_SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ok = given == signature(&secret, &body);
    r.accepted.lock().unwrap().push((ok, serde_json::from_slice(&body).unwrap()));
    StatusCode::OK
}

/// Serves a receiver on 127.0.0.1 and returns its URL.
async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new().route("/hook", axum::routing::get(crc).post(event)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}

fn fixture(name: &str) -> Fixture {
    let config = ComplianceConfig {
        poll_interval: Duration::from_millis(20),
        webhook_base_delay: Duration::from_millis(5),
        webhook_max_attempts: 3,
        webhook_timeout: Duration::from_secs(5),
        ..ComplianceConfig::DEFAULT
    };
    let posts: Vec<_> = (1..=5).map(|n| post(1, n, "hello")).collect();
    common::fixture_with_compliance(name, &[account(1, "ada", "US")], &posts, config)
}

fn app(f: &Fixture, name: &str) -> (AppId, String) {
    f.new_app(name, Tier::Standard, &[Purpose::Display], &[])
}

/// Deletes post `id` and opens `app`'s notice of it, as the worker would.
fn notify_deleted(f: &Fixture, app: AppId, id: u64) -> u64 {
    let before = f.store.change_seq().unwrap();
    assert!(f.store.delete_post(PostId(id), Timestamp::now()).unwrap());
    let e = f.store.events_since(before, 10).unwrap().into_iter().find(|e| e.change.post().is_some()).unwrap();
    let notice = Notice {
        app_id: app,
        event_seq: e.seq,
        event_time: e.time,
        event: e.change.type_name().into(),
        account_id: e.change.account().unwrap(),
        post_id: e.change.post(),
        reason: Some(NoticeReason::Deleted),
        deadline: Some(Timestamp::from_millis(e.time.millis() + 1000)),
        acked_at: None,
    };
    f.store.open_notices("test", e.seq, &[notice]).unwrap();
    f.state.notices_progress().send_replace(e.seq);
    e.seq
}

/// Waits (at most 10 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not done within 10 s");
}

async fn register(f: &Fixture, token: &str, url: &str) -> (StatusCode, Value) {
    let (status, _, body) = f.call("POST", "/2/webhooks", token, None, Some(&json!({ "url": url }).to_string())).await;
    (status, body)
}

fn seqs(body: &Value) -> Vec<u64> {
    body["events"].as_array().unwrap().iter().map(|e| e["tollgate"]["seq"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_checks_the_receiver_and_returns_the_secret_once() {
    let f = fixture("webhooks-register");
    let (_, token) = app(&f, "a");
    let (r, url) = receiver().await;
    let (status, body) = register(&f, &token, &url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["data"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(r.secret.lock().unwrap().as_deref(), Some(secret.as_str()));
    assert_eq!(body["data"]["url"], url);
    assert_eq!(body["data"]["valid"], true);
    let (status, _, listed) = f.call("GET", "/2/webhooks", &token, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["meta"]["result_count"], 1);
    assert_eq!(listed["data"][0]["id"], body["data"]["id"]);
    assert!(listed["data"][0].get("secret").is_none(), "the secret is shown once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_forged_check_registers_nothing() {
    let f = fixture("webhooks-crc");
    let (_, token) = app(&f, "a");
    let (r, url) = receiver().await;
    r.forge.store(true, Ordering::SeqCst);
    let (status, body) = register(&f, &token, &url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("challenge-response")
            || body.to_string().contains("challenge-response"),
        "{body}"
    );
    // Nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for bad in [format!("http://{closed}/hook"), "ftp://127.0.0.1/hook".into(), "https://127.0.0.1/hook".into()] {
        let (status, body) = register(&f, &token, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _, body) = f.call("POST", "/2/webhooks", &token, None, Some(r#"{"url": 3}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, _, listed) = f.call("GET", "/2/webhooks", &token, None, None).await;
    assert_eq!(listed["meta"]["result_count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_and_retried_until_the_receiver_takes_them() {
    let f = fixture("webhooks-retry");
    let (a, token) = app(&f, "a");
    let (b, _) = app(&f, "b");
    let (r, url) = receiver().await;
    let (status, _) = register(&f, &token, &url).await;
    assert_eq!(status, StatusCode::OK);
    tollgate_api::start_webhooks(f.state.clone());
    r.failures_left.store(2, Ordering::SeqCst);
    let first = notify_deleted(&f, a, 101);
    notify_deleted(&f, b, 102);
    until(|| !r.accepted.lock().unwrap().is_empty()).await;
    assert_eq!(r.attempts.load(Ordering::SeqCst), 3, "two failures, then the delivery taken");
    let (ok, body) = r.accepted.lock().unwrap()[0].clone();
    assert!(ok, "the signature checks with the secret");
    assert_eq!(seqs(&body), [first], "only this app's notices");
    assert_eq!(body["events"][0]["data"]["delete"]["tweet"]["id"], "101");
    // The next notice goes out once, after the first.
    let second = notify_deleted(&f, a, 103);
    until(|| r.accepted.lock().unwrap().len() == 2).await;
    assert_eq!(seqs(&r.accepted.lock().unwrap()[1].1), [second]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_never_taken_is_dead_lettered_and_replay_sends_it_again() {
    let f = fixture("webhooks-dead");
    let (a, token) = app(&f, "a");
    let (r, url) = receiver().await;
    let (_, registered) = register(&f, &token, &url).await;
    let id = registered["data"]["id"].as_str().unwrap().to_owned();
    tollgate_api::start_webhooks(f.state.clone());
    r.always_fail.store(true, Ordering::SeqCst);
    let lost = notify_deleted(&f, a, 101);
    let letters = format!("/2/webhooks/{id}/dead-letters");
    let mut dead = Value::Null;
    for _ in 0..1000 {
        let (_, _, body) = f.call("GET", &letters, &token, None, None).await;
        if body["meta"]["result_count"] == 1 {
            dead = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(dead["data"][0]["event_seqs"], json!([lost]), "{dead}");
    assert_eq!(dead["data"][0]["attempts"], 3);
    assert_eq!(r.attempts.load(Ordering::SeqCst), 3, "bounded attempts");
    // The receiver is back: a replay from before the lost batch delivers it.
    r.always_fail.store(false, Ordering::SeqCst);
    let replay = format!("/2/webhooks/{id}/replay");
    let (status, _, body) =
        f.call("POST", &replay, &token, None, Some(&json!({ "after_seq": lost - 1 }).to_string())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(|| !r.accepted.lock().unwrap().is_empty()).await;
    let (ok, body) = r.accepted.lock().unwrap()[0].clone();
    assert!(ok);
    assert_eq!(seqs(&body), [lost]);
    let (status, _, _) = f.call("POST", &replay, &token, None, Some(r#"{"after_seq": -1}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_a_later_check_is_marked_invalid_and_gets_nothing() {
    let f = fixture("webhooks-invalid");
    let (a, token) = app(&f, "a");
    let (other_app, other) = app(&f, "other");
    let _ = other_app;
    let (r, url) = receiver().await;
    let (_, registered) = register(&f, &token, &url).await;
    let id = registered["data"]["id"].as_str().unwrap().to_owned();
    // Another app's token finds no such webhook.
    for (method, uri) in [("PUT", format!("/2/webhooks/{id}")), ("DELETE", format!("/2/webhooks/{id}"))] {
        let (status, _, _) = f.call(method, &uri, &other, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
    }
    r.forge.store(true, Ordering::SeqCst);
    let (status, _, body) = f.call("PUT", &format!("/2/webhooks/{id}"), &token, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["valid"], false, "{body}");
    let (_, _, listed) = f.call("GET", "/2/webhooks", &token, None, None).await;
    assert_eq!(listed["data"][0]["valid"], false);
    tollgate_api::start_webhooks(f.state.clone());
    notify_deleted(&f, a, 101);
    // Checked again and passed: delivery resumes with what it missed.
    r.forge.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.attempts.load(Ordering::SeqCst), 0, "nothing goes to an invalid webhook");
    let (_, _, body) = f.call("PUT", &format!("/2/webhooks/{id}"), &token, None, None).await;
    assert_eq!(body["data"]["valid"], true, "{body}");
    until(|| r.accepted.lock().unwrap().len() == 1).await;
    let (status, _, body) = f.call("DELETE", &format!("/2/webhooks/{id}"), &token, None, None).await;
    assert_eq!((status, body["data"]["deleted"].clone()), (StatusCode::OK, json!(true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deliverer_checks_receivers_again_and_marks_a_failing_one_invalid() {
    let config = ComplianceConfig {
        poll_interval: Duration::from_millis(20),
        webhook_recheck: Duration::from_millis(50),
        ..ComplianceConfig::DEFAULT
    };
    let f = common::fixture_with_compliance("webhooks-recheck", &[account(1, "ada", "US")], &[], config);
    let (_, token) = app(&f, "a");
    let (r, url) = receiver().await;
    let (status, _) = register(&f, &token, &url).await;
    assert_eq!(status, StatusCode::OK);
    r.forge.store(true, Ordering::SeqCst);
    tollgate_api::start_webhooks(f.state.clone());
    let mut valid = true;
    for _ in 0..1000 {
        let (_, _, listed) = f.call("GET", "/2/webhooks", &token, None, None).await;
        valid = listed["data"][0]["valid"] == true;
        if !valid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!valid, "a receiver answering a forged token is marked invalid");
}
