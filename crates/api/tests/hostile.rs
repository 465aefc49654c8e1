//! Hostile and malformed requests driven through the router: each is answered
//! with a precise error in X's JSON shape, records nothing it should not, and
//! changes nothing; and concurrent consent writes lose no acknowledged change.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use common::{Fixture, INTERNAL, account, post, unlimited};
use http_body_util::BodyExt;
use serde_json::Value;
use tollgate_api::HttpLimits;
use tollgate_domain::{AccountId, Category, Purpose, Scope, Tier, Tri};
use tower::ServiceExt;

const X_INVALID_REQUEST: &str = "https://api.x.com/2/problems/invalid-request";

fn fixture() -> Fixture {
    let posts: Vec<_> = (1..=5).map(|n| post(1, n, &format!("hello world number {n}"))).collect();
    common::fixture("hostile", &[account(1, "ada", "US"), account(2, "bert", "US")], &posts, unlimited())
}

impl Fixture {
    fn display(&self) -> String {
        self.new_app("hostile", Tier::Standard, &[Purpose::Display, Purpose::Search], &[]).1
    }

    fn ledger_len(&self) -> u64 {
        self.ledger_db.ledger_last().unwrap().map_or(0, |r| r.seq + 1)
    }

    /// Sends a request built by hand (repeated headers, odd methods, bodies).
    async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{status}: the body is not JSON: {:?}", String::from_utf8_lossy(&bytes)));
        (status, headers, value)
    }
}

/// X's shape of an error: a title, a detail and a type, `errors` where X has it.
fn assert_x_error(v: &Value, status: StatusCode) {
    assert!(v["title"].is_string() && v["detail"].is_string() && v["type"].is_string(), "{status}: {v}");
    if status == StatusCode::BAD_REQUEST {
        assert_eq!(v["type"], X_INVALID_REQUEST, "{v}");
        assert!(v["errors"][0]["message"].is_string(), "{v}");
    } else {
        assert_eq!(v["status"], status.as_u16(), "{v}");
    }
}

#[tokio::test]
async fn a_nul_byte_in_a_search_query_is_a_400_naming_the_query() {
    let f = fixture();
    let display = f.display();
    let before = f.ledger_len();
    let (s, _, v) = f.call("GET", "/2/tweets/search/recent?query=a%00b", &display, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_x_error(&v, s);
    assert_eq!(v["errors"][0]["parameters"]["query"][0], "a\0b", "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("U+0000"), "{v}");
    assert_eq!(f.ledger_len(), before, "a bad query records nothing");
}

#[tokio::test]
async fn broken_percent_encoding_in_the_query_is_a_400_naming_the_parameter() {
    let f = fixture();
    let display = f.display();
    let before = f.ledger_len();
    for (raw, words) in [
        ("%ZZ", "two hexadecimal digits"),
        ("hello%2", "two hexadecimal digits"),
        ("%FF%FE", "not UTF-8"),
        ("%C0%AF", "not UTF-8"),
        ("hello%ED%A0%80", "not UTF-8"),
    ] {
        let uri = format!("/2/tweets/search/recent?query={raw}");
        let (s, _, v) = f.call("GET", &uri, &display, None, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{raw}: {v}");
        assert_x_error(&v, s);
        assert_eq!(v["errors"][0]["parameters"]["query"][0], raw, "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains(words), "{raw}: {v}");
    }
    // Any endpoint's parameters, and the internal ledger queries too.
    let (s, _, v) = f.call("GET", "/2/tweets/101?tweet.fields=%FF", &display, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0]["parameters"]["tweet.fields"].is_array(), "{v}");
    let (s, _, v) = f.call("GET", "/internal/ledger/attempts?app_id=%ZZ", INTERNAL, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0]["parameters"]["app_id"].is_array(), "{v}");
    assert_eq!(f.ledger_len(), before, "nothing was recorded");
    // Correct encoding still works.
    let (s, _, v) = f.call("GET", "/2/tweets/search/recent?query=hello+%22number%201%22", &display, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"][0]["id"], "101", "{v}");
}

#[tokio::test]
async fn a_time_with_a_multibyte_character_in_its_fields_is_a_400_naming_the_parameter() {
    // `2026-11-01T00:00:` then a backtick and U+06DB: the seconds field ends
    // inside the two-byte character (a panic and a 500 before).
    let f = fixture();
    let display = f.display();
    let before = f.ledger_len();
    for (path, key) in [
        ("/2/tweets/search/recent?query=hello&start_time=2026-11-01T00:00:%60%DB%9B00Z", "start_time"),
        ("/2/users/1/tweets?end_time=2026-11-01T00:00:%60%DB%9B00Z", "end_time"),
    ] {
        let (s, _, v) = f.call("GET", path, &display, None, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_x_error(&v, s);
        assert_eq!(v["errors"][0]["parameters"][key][0], "2026-11-01T00:00:`\u{6db}00Z", "{v}");
    }
    assert_eq!(f.ledger_len(), before, "nothing was recorded");
}

#[tokio::test]
async fn repeated_policy_headers_are_a_400() {
    let f = fixture();
    let display = f.display();
    let before = f.ledger_len();
    let request = |headers: &[(&str, &str)]| {
        let mut r = Request::builder().uri("/2/tweets/101");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::empty()).unwrap()
    };
    let bearer = format!("Bearer {display}");
    let (s, _, v) = f
        .send(request(&[
            ("authorization", &bearer),
            ("tollgate-purpose", "display"),
            ("tollgate-purpose", "train-genai"),
        ]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_x_error(&v, s);
    assert_eq!(v["errors"][0]["parameters"]["Tollgate-Purpose"], serde_json::json!(["display", "train-genai"]));
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("only once"), "{v}");

    let (s, _, v) = f.send(request(&[("authorization", &bearer), ("authorization", "Bearer other")])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_x_error(&v, s);
    assert!(!v.to_string().contains(&display), "a token is never echoed: {v}");
    assert_eq!(f.ledger_len(), before, "nothing was recorded");

    // The internal API's token is a policy header too.
    let internal = format!("Bearer {INTERNAL}");
    let r = Request::builder()
        .uri("/internal/accounts/1")
        .header("authorization", &internal)
        .header("authorization", &internal)
        .body(Body::empty())
        .unwrap();
    let (s, _, v) = f.send(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let f = fixture();
    let display = f.display();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let r = Request::builder()
            .uri("/2/tweets/101")
            .header("authorization", format!("{scheme} {display}"))
            .body(Body::empty())
            .unwrap();
        let (s, _, v) = f.send(r).await;
        assert_eq!(s, StatusCode::OK, "{scheme}: {v}");
        let r = Request::builder()
            .uri("/internal/accounts/1")
            .header("authorization", format!("{scheme} {INTERNAL}"))
            .body(Body::empty())
            .unwrap();
        let (s, _, v) = f.send(r).await;
        assert_eq!(s, StatusCode::OK, "{scheme}: {v}");
    }
    let r = Request::builder().uri("/2/tweets/101").header("authorization", format!("Basic {display}"));
    let (s, _, _) = f.send(r.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_timeline_of_a_missing_user_is_recorded_like_any_lookup() {
    let f = fixture();
    let display = f.display();
    let before = f.ledger_len();
    let (s, h, v) = f.call("GET", "/2/users/77/tweets", &display, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["errors"][0]["resource_id"], "77", "{v}");
    assert_eq!(v["errors"][0]["title"], "Not Found Error", "{v}");
    assert_eq!(f.ledger_len(), before + 1, "the answered request is in the ledger");
    let row = f.ledger_db.ledger_last().unwrap().unwrap();
    let entry = tollgate_ledger::Entry::decode(&row.body).unwrap();
    assert_eq!(entry.request_id, h["x-request-id"].to_str().unwrap());
    assert_eq!(entry.endpoint, "GET /2/users/:id/tweets");
    assert_eq!(entry.outcome, tollgate_ledger::Outcome::Served);
    assert!(entry.posts.is_empty() && entry.withheld.is_empty(), "{entry:?}");
    // Like a lookup whose ids are all missing.
    f.call("GET", "/2/tweets?ids=9999", &display, None, None).await;
    let lookup = tollgate_ledger::Entry::decode(&f.ledger_db.ledger_last().unwrap().unwrap().body).unwrap();
    assert_eq!((lookup.outcome, lookup.posts.len()), (entry.outcome, 0));
    assert!(h.contains_key("content-usage"), "usage terms are stated as on every content answer");
}

#[tokio::test]
async fn errors_below_the_handlers_have_x_json_shape() {
    let limits = HttpLimits { max_body_bytes: 1000, max_query_bytes: 200, max_header_bytes: 2000, max_headers: 20 };
    let f = common::fixture_with_limits("hostile-edge", &[account(1, "ada", "US")], &[], unlimited(), limits);
    let display = f.display();

    // A method the path does not take.
    let r = Request::builder().method(Method::POST).uri("/2/tweets/101").body(Body::empty()).unwrap();
    let (s, h, v) = f.send(r).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_x_error(&v, s);
    assert!(h.contains_key("allow"), "{h:?}");
    assert!(v["detail"].as_str().unwrap().contains("POST"), "{v}");

    // A path segment that is not UTF-8 once decoded.
    let (s, _, v) = f.call("GET", "/2/tweets/%FF", &display, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_x_error(&v, s);

    // An internal body over `max_body_bytes`.
    let big = format!("[{}]", vec![r#"{"id": 1}"#; 200].join(","));
    let (s, _, v) = f.call("PUT", "/internal/posts", INTERNAL, None, Some(&big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_x_error(&v, s);
    assert!(v["detail"].as_str().unwrap().contains("max_body_bytes"), "{v}");

    // A query string over `max_query_bytes`.
    let long = format!("/2/tweets/search/recent?query={}", "a".repeat(300));
    let (s, _, v) = f.call("GET", &long, &display, None, None).await;
    assert_eq!(s, StatusCode::URI_TOO_LONG, "{v}");
    assert_x_error(&v, s);
    assert!(v["detail"].as_str().unwrap().contains("max_query_bytes"), "{v}");

    // Headers over `max_header_bytes`, and too many of them.
    let r = Request::builder().uri("/2/tweets/101").header("x-padding", "p".repeat(3000)).body(Body::empty()).unwrap();
    let (s, _, v) = f.send(r).await;
    assert_eq!(s, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{v}");
    assert_x_error(&v, s);
    assert!(v["detail"].as_str().unwrap().contains("max_header_bytes"), "{v}");
    let mut r = Request::builder().uri("/2/tweets/101");
    for i in 0..21 {
        r = r.header(format!("x-h{i}"), "1");
    }
    let (s, _, v) = f.send(r.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("max_headers"), "{v}");

    // Within the limits, everything works as before.
    let (s, _, v) = f.call("GET", "/2/users/1", &display, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ok =
        r#"{"id": 2, "handle": "bert", "display_name": "Bert", "created_at": "2020-01-01T00:00:00Z", "region": "US"}"#;
    let (s, _, v) = f.call("PUT", "/internal/accounts", INTERNAL, None, Some(ok)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// `PUT /internal/accounts` without preferences races preference changes of
/// the same account: every change the settings endpoint acknowledged is what
/// the store holds afterwards, never the value it replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn profile_updates_never_undo_an_acknowledged_preference_change() {
    let f = Arc::new(fixture());
    let profile =
        r#"{"id": 1, "handle": "ada", "display_name": "Ada", "created_at": "2020-01-01T00:00:00Z", "region": "US"}"#;
    for round in 0..60 {
        let value = if round % 2 == 0 { "deny" } else { "allow" };
        let body = format!(r#"{{"train-genai": {{"third-parties": "{value}"}}}}"#);
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let f = f.clone();
            tasks.push(tokio::spawn(async move {
                let (s, _, v) = f.call("PUT", "/internal/accounts", INTERNAL, None, Some(profile)).await;
                assert_eq!(s, StatusCode::OK, "{v}");
            }));
        }
        let patch = {
            let f = f.clone();
            tokio::spawn(async move {
                f.call("PATCH", "/internal/accounts/1/ai-preferences", INTERNAL, None, Some(&body)).await.0
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(patch.await.unwrap(), StatusCode::OK);
        let stored = f.store.account(AccountId(1)).unwrap().unwrap();
        let got = stored.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value;
        let want = if value == "deny" { Tri::Deny } else { Tri::Allow };
        assert_eq!(got, want, "round {round}: an acknowledged preference change was lost");
    }
}

#[tokio::test]
async fn a_time_with_a_multibyte_character_is_a_400_not_a_panic() {
    let f = fixture();
    let token = f.display();
    // `é` (two bytes) across the end of the seconds: the parser cut the
    // fields by byte offsets and panicked on it (a 500).
    for uri in [
        "/2/users/1/tweets?start_time=2024-06-01T12:00:0%C3%A9Z",
        "/2/tweets/search/recent?query=hello&end_time=2024-06-01T12:00:0%C3%A9Z",
    ] {
        let (s, _, v) = f.call("GET", uri, &token, None, None).await;
        assert_x_error(&v, StatusCode::BAD_REQUEST);
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
    }
    let uri = "/internal/ledger/apps/1/deliveries?start_time=2024-06-01T12:00:0%C3%A9Z";
    let (s, _, v) = f.call("GET", uri, INTERNAL, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn a_handle_another_account_holds_is_a_409_and_changes_nothing() {
    let f = fixture();
    // bert (2) asks for ada's handle: the store's conflict was answered 503,
    // as if the store had failed.
    let body = r#"[{"id": 3, "handle": "cleo", "display_name": "Cleo", "created_at": "2020-01-01T00:00:00Z", "region": "US"},
                   {"id": 2, "handle": "ada", "display_name": "Bert", "created_at": "2020-01-01T00:00:00Z", "region": "US"}]"#;
    let (s, _, v) = f.call("PUT", "/internal/accounts", INTERNAL, None, Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["title"], "Conflict");
    assert_eq!(v["status"], 409);
    assert!(v["detail"].as_str().unwrap().contains("`ada`"), "{v}");
    assert_eq!(f.store.account(AccountId(2)).unwrap().unwrap().handle, "bert");
    assert!(f.store.account(AccountId(3)).unwrap().is_none(), "all or nothing");
}

#[tokio::test]
async fn an_internal_body_that_is_an_array_where_an_object_belongs_is_a_400() {
    let f = fixture();
    // serde reads a struct from a JSON array too, field by field in order, so
    // these were taken as `{"status": "suspended"}`, `{"no_ai": true}` and a post.
    for (method, uri, body) in [
        ("PUT", "/internal/accounts/2/status", r#"["suspended"]"#),
        ("PUT", "/internal/posts/101/no-ai", "[true]"),
        ("PUT", "/internal/posts", r#"[[900, 1, "2024-01-01T00:00:00Z", "positional"]]"#),
        ("PUT", "/internal/accounts", r#"[[7, "gus", "Gus", "", "2020-01-01T00:00:00Z", "US"]]"#),
    ] {
        let (s, _, v) = f.call(method, uri, INTERNAL, None, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {uri} {body}: {v}");
        assert_x_error(&v, s);
    }
    let bert = f.store.account(AccountId(2)).unwrap().unwrap();
    assert_eq!(bert.status, tollgate_domain::AccountStatus::Active);
    assert!(f.store.posts(&[tollgate_domain::PostId(900)]).unwrap().is_empty());
    assert!(!f.store.posts(&[tollgate_domain::PostId(101)]).unwrap()[0].no_ai);
    assert!(f.store.account(AccountId(7)).unwrap().is_none());
}
