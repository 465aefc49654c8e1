//! Batch compliance jobs through the router: creating, listing and reading
//! jobs with an app's token, uploading ids and downloading results through
//! the signed URLs, the results each reason gives, who may see a job, and
//! every kind of bad input.

#[expect(dead_code, reason = "the shared fixture has helpers this file does not need")]
mod common;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Fixture, account, post, unlimited};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_api::{HttpLimits, JobLimits};
use tollgate_domain::{
    AccountId, AccountStatus, AppId, Category, PostId, PreferenceChange, Purpose, Scope, Tier, Timestamp, Tri,
};
use tollgate_store::{JobKind, NewComplianceJob};
use tollgate_store_sqlite::SqliteOptions;
use tower::ServiceExt;

/// Authors 1 to 7, one post each (`author * 100 + 1`), and a second and
/// third post of author 1 (102, 103). Author 1 and 7 are in good standing;
/// the others are what their handle says, as is each of author 1's posts
/// once `change` has run.
fn platform(job_limits: JobLimits) -> Fixture {
    let mut accounts = vec![account(1, "ada", "US")];
    for (id, handle) in [(2, "suspended"), (3, "protected"), (4, "deactivated"), (5, "gone"), (6, "optout"), (7, "gus")]
    {
        accounts.push(account(id, handle, "US"));
    }
    let mut posts: Vec<_> = (1..=7).map(|a| post(a, 1, &format!("post of author {a}"))).collect();
    posts.push(post(1, 2, "deleted later"));
    posts.push(post(1, 3, "marked no-ai later"));
    common::fixture_with_job_limits(
        "jobs-test",
        &accounts,
        &posts,
        unlimited(),
        HttpLimits::DEFAULT,
        &SqliteOptions::default(),
        job_limits,
    )
}

/// Changes the platform's state after the posts were received.
fn change(f: &Fixture) {
    let s = &f.store;
    assert!(s.set_account_status(AccountId(2), AccountStatus::Suspended).unwrap());
    assert!(s.set_account_status(AccountId(4), AccountStatus::Deactivated).unwrap());
    assert!(s.set_account_status(AccountId(5), AccountStatus::Deleted).unwrap());
    let mut protected = s.account(AccountId(3)).unwrap().unwrap();
    protected.protected = true;
    s.upsert_accounts(&[protected]).unwrap();
    let withdrawn = PreferenceChange { category: Category::TrainGenai, scope: Scope::ThirdParties, value: Tri::Deny };
    s.set_preferences(AccountId(6), &[withdrawn], Timestamp::from_millis(1_750_000_000_000)).unwrap();
    assert!(s.delete_post(PostId(102), Timestamp::from_millis(1_760_000_000_000)).unwrap());
    assert!(s.set_post_no_ai(PostId(103), true).unwrap());
}

/// A partner that declared display and train-genai (licensed for it).
fn trainer(f: &Fixture) -> (AppId, String) {
    f.new_app("trainer", Tier::Partner, &[Purpose::Display, Purpose::TrainGenai], &[Purpose::TrainGenai])
}

/// A request without a token (as a client sends to a signed URL); the
/// status and the body as text.
async fn plain(f: &Fixture, method: &str, url: &str, body: Vec<u8>) -> (StatusCode, String) {
    let uri = url.strip_prefix("http://tollgate.test").unwrap_or(url);
    let req =
        Request::builder().method(method).uri(uri).header("content-type", "text/plain").body(Body::from(body)).unwrap();
    let response = f.app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn create(f: &Fixture, token: &str, body: &str) -> Value {
    let (status, _, v) = f.call("POST", "/2/compliance/jobs", token, None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["data"].clone()
}

async fn get_job(f: &Fixture, token: &str, id: &str) -> Value {
    let (status, _, v) = f.call("GET", &format!("/2/compliance/jobs/{id}"), token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["data"].clone()
}

/// Polls the job until it is no longer in progress (bounded; processing a
/// handful of ids takes milliseconds).
async fn finished(f: &Fixture, token: &str, id: &str) -> Value {
    for _ in 0..500 {
        let job = get_job(f, token, id).await;
        if job["status"] != "in_progress" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("job {id} did not finish");
}

/// Creates a job of `kind`, uploads `ids`, waits for it, downloads the
/// results: each line by id.
async fn run_job(f: &Fixture, token: &str, kind: &str, ids: &str) -> BTreeMap<String, Value> {
    let job = create(f, token, &format!(r#"{{"type": "{kind}"}}"#)).await;
    let (status, body) = plain(f, "PUT", job["upload_url"].as_str().unwrap(), ids.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = finished(f, token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "complete", "{done}");
    let (status, body) = plain(f, "GET", done["download_url"].as_str().unwrap(), Vec::new()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

fn summary(lines: &BTreeMap<String, Value>) -> BTreeMap<String, (String, String, Value)> {
    lines
        .iter()
        .map(|(id, v)| {
            let action = v["action"].as_str().unwrap_or_default().to_owned();
            let reason = v["reason"].as_str().unwrap_or_default().to_owned();
            (id.clone(), (action, reason, v.get("purposes").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

fn line(action: &str, reason: &str, purposes: Value) -> (String, String, Value) {
    (action.to_owned(), reason.to_owned(), purposes)
}

#[tokio::test]
async fn a_job_is_created_with_signed_urls_x_shaped() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "tweets", "name": "nightly", "resumable": true}"#).await;
    assert_eq!(job["type"], "tweets");
    assert_eq!(job["name"], "nightly");
    assert_eq!(job["resumable"], true);
    assert_eq!(job["status"], "created");
    let id = job["id"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    let upload = job["upload_url"].as_str().unwrap();
    let download = job["download_url"].as_str().unwrap();
    assert!(upload.starts_with(&format!("http://tollgate.test/2/compliance/jobs/{id}/upload?expires=")), "{upload}");
    assert!(download.starts_with(&format!("http://tollgate.test/2/compliance/jobs/{id}/download?expires=")));
    let created = Timestamp::parse(job["created_at"].as_str().unwrap()).unwrap();
    let upload_expires = Timestamp::parse(job["upload_expires_at"].as_str().unwrap()).unwrap();
    let download_expires = Timestamp::parse(job["download_expires_at"].as_str().unwrap()).unwrap();
    // 15 minutes and one week, to the second.
    assert!((upload_expires.seconds() - created.seconds() - 900).abs() <= 1);
    assert!((download_expires.seconds() - created.seconds() - 604_800).abs() <= 1);
    // Times in X's form, milliseconds included, as twarc parses them.
    assert!(job["created_at"].as_str().unwrap().ends_with('Z') && job["created_at"].as_str().unwrap().len() == 24);
    assert_eq!(get_job(&f, &token, id).await, job, "reading the job gives what creating it answered");
}

#[tokio::test]
async fn tweets_job_reports_each_reason_and_only_ids_with_an_event() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    change(&f);
    // Every post, a duplicate, an unknown id, CRLF and a blank line.
    let lines = run_job(&f, &token, "tweets", "101\r\n102\n103\n201\n301\n401\n501\n601\n701\n\n999999\n101\n").await;
    let expected: BTreeMap<String, _> = [
        ("102", line("delete", "deleted", Value::Null)),
        ("103", line("restrict", "no_ai", serde_json::json!(["train-genai"]))),
        ("201", line("delete", "suspended", Value::Null)),
        ("301", line("delete", "protected", Value::Null)),
        ("401", line("delete", "deactivated", Value::Null)),
        ("501", line("delete", "deleted", Value::Null)),
        ("601", line("restrict", "ai_consent_withdrawn", serde_json::json!(["train-genai"]))),
    ]
    .into_iter()
    .map(|(id, l)| (id.to_owned(), l))
    .collect();
    assert_eq!(summary(&lines), expected, "101 and 701 are deliverable and 999999 unknown: no line");
    // X's fields, with the post's creation time and when the change happened where it is known.
    let deleted = &lines["102"];
    let fields: Vec<&str> = deleted.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["id", "action", "created_at", "redacted_at", "reason"]);
    assert_eq!(deleted["created_at"], Timestamp::from_millis(1_700_000_102_000).to_string());
    assert_eq!(deleted["redacted_at"], Timestamp::from_millis(1_760_000_000_000).to_string());
    assert_eq!(lines["601"]["redacted_at"], Timestamp::from_millis(1_750_000_000_000).to_string());
    // A suspension's time is not known: the line leaves it out.
    assert_eq!(lines["201"].get("redacted_at"), None, "{}", lines["201"]);
}

#[tokio::test]
async fn an_app_declaring_only_ai_is_told_to_delete_what_consent_no_longer_covers() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = f.new_app("genai", Tier::Partner, &[Purpose::TrainGenai], &[Purpose::TrainGenai]);
    change(&f);
    let lines = run_job(&f, &token, "tweets", "101\n103\n601\n701\n").await;
    let expected: BTreeMap<String, _> = [
        ("103".to_owned(), line("delete", "no_ai", Value::Null)),
        ("601".to_owned(), line("delete", "ai_consent_withdrawn", Value::Null)),
    ]
    .into_iter()
    .collect();
    assert_eq!(summary(&lines), expected);
}

#[tokio::test]
async fn users_job_reports_each_account_with_an_event() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    change(&f);
    let lines = run_job(&f, &token, "users", "1\n2\n3\n4\n5\n6\n7\n424242\n").await;
    let expected: BTreeMap<String, _> = [
        ("2", line("delete", "suspended", Value::Null)),
        ("3", line("delete", "protected", Value::Null)),
        ("4", line("delete", "deactivated", Value::Null)),
        ("5", line("delete", "deleted", Value::Null)),
        ("6", line("restrict", "ai_consent_withdrawn", serde_json::json!(["train-genai"]))),
    ]
    .into_iter()
    .map(|(id, l)| (id.to_owned(), l))
    .collect();
    assert_eq!(summary(&lines), expected);
    assert_eq!(lines["2"]["created_at"], "2020-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn a_job_with_nothing_changed_completes_with_no_lines() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    assert!(run_job(&f, &token, "tweets", "101\n701\n").await.is_empty());
    assert!(run_job(&f, &token, "tweets", "").await.is_empty(), "an empty upload is a job with nothing to say");
}

#[tokio::test]
async fn each_download_is_a_notice_in_the_ledger_listing_no_post() {
    let f = platform(JobLimits::DEFAULT);
    let (app, token) = trainer(&f);
    change(&f);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    plain(&f, "PUT", job["upload_url"].as_str().unwrap(), b"102\n201\n".to_vec()).await;
    let id = job["id"].as_str().unwrap();
    finished(&f, &token, id).await;
    for _ in 0..2 {
        let before = f.ledger_db.ledger_last().unwrap().map_or(0, |r| r.seq + 1);
        let (status, _) = plain(&f, "GET", job["download_url"].as_str().unwrap(), Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        let row = f.ledger_db.ledger_last().unwrap().unwrap();
        assert_eq!(row.seq, before, "one entry per download");
        let entry = tollgate_ledger::Entry::decode(&row.body).unwrap();
        assert_eq!(entry.channel, tollgate_ledger::Channel::Compliance);
        assert_eq!(entry.app_id, Some(app));
        assert_eq!(entry.endpoint, format!("GET /2/compliance/jobs/{id}/download (2 results)"));
        assert!(entry.posts.is_empty() && entry.accounts.is_empty(), "a notice is no delivery");
        assert_eq!(entry.purpose, None);
    }
    assert!(tollgate_ledger::verify(f.ledger_db.as_ref()).unwrap().ok());
}

#[tokio::test]
async fn jobs_are_listed_by_type_and_status() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let first = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let second = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let users = create(&f, &token, r#"{"type": "users"}"#).await;
    plain(&f, "PUT", first["upload_url"].as_str().unwrap(), b"101\n".to_vec()).await;
    finished(&f, &token, first["id"].as_str().unwrap()).await;
    let ids = |v: &Value| -> Vec<String> {
        v["data"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()).collect()
    };
    let (s, _, v) = f.call("GET", "/2/compliance/jobs?type=tweets", &token, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&v), [second["id"].as_str().unwrap(), first["id"].as_str().unwrap()], "newest first");
    assert_eq!(v["meta"]["result_count"], 2);
    let (_, _, v) = f.call("GET", "/2/compliance/jobs?type=tweets&status=complete", &token, None, None).await;
    assert_eq!(ids(&v), [first["id"].as_str().unwrap()]);
    let (_, _, v) = f.call("GET", "/2/compliance/jobs?type=users", &token, None, None).await;
    assert_eq!(ids(&v), [users["id"].as_str().unwrap()]);
    let (_, _, v) = f.call("GET", "/2/compliance/jobs?type=users&status=failed", &token, None, None).await;
    assert_eq!(v["data"], serde_json::json!([]), "an empty list is still `data`, as twarc expects");
}

#[tokio::test]
async fn a_job_is_seen_by_its_app_only() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let (_, other) = f.new_app("other", Tier::Standard, &[Purpose::Display], &[]);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let id = job["id"].as_str().unwrap();
    for method in ["GET", "DELETE"] {
        let (s, _, v) = f.call(method, &format!("/2/compliance/jobs/{id}"), &other, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method}: another app's job is not found, not forbidden");
        assert_eq!(v["title"], "Not Found Error");
        assert_eq!(v["detail"], format!("Could not find compliance job with id: [{id}]."));
    }
    let (_, _, v) = f.call("GET", "/2/compliance/jobs?type=tweets", &other, None, None).await;
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(get_job(&f, &token, id).await["status"], "created", "the owner still sees it");
}

#[tokio::test]
async fn a_deleted_job_is_gone() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "users"}"#).await;
    let id = job["id"].as_str().unwrap();
    let (s, _, v) = f.call("DELETE", &format!("/2/compliance/jobs/{id}"), &token, None, None).await;
    assert_eq!((s, v["data"]["deleted"].clone()), (StatusCode::OK, Value::Bool(true)));
    let (s, _, _) = f.call("GET", &format!("/2/compliance/jobs/{id}"), &token, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = plain(&f, "PUT", job["upload_url"].as_str().unwrap(), b"1\n".to_vec()).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn bad_requests_are_x_errors() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    for (body, needle) in [
        (r#"{"type": "spaces"}"#, "[spaces] is not one of [tweets,users]"),
        (r#"{"name": "x"}"#, "missing field `type`"),
        (r#"{"type": "tweets", "colour": "red"}"#, "unknown field `colour`"),
        ("not json", "malformed JSON body"),
        (r#"["tweets"]"#, "must be a JSON object"),
        (r#"{"type": "tweets", "resumable": null}"#, "`resumable` field must be"),
        (r#"{"type": "tweets", "name": 7}"#, "`name` field must be a string"),
        (r#"{"type": null}"#, "`type` field must be a string"),
        (&format!(r#"{{"type": "tweets", "name": "{}"}}"#, "n".repeat(65)), "more than the 64"),
    ] {
        let (s, _, v) = f.call("POST", "/2/compliance/jobs", &token, None, Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["type"], "https://api.x.com/2/problems/invalid-request");
        assert!(v["detail"].as_str().unwrap_or_default().contains(needle), "{body}: {v}");
    }
    for (uri, parameter) in [
        ("/2/compliance/jobs", "type"),
        ("/2/compliance/jobs?type=posts", "type"),
        ("/2/compliance/jobs?type=tweets&status=done", "status"),
        ("/2/compliance/jobs?type=tweets&colour=red", "colour"),
    ] {
        let (s, _, v) = f.call("GET", uri, &token, None, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(v["errors"][0]["parameters"].get(parameter).is_some(), "{uri}: {v}");
    }
    let (s, _, _) = f.call("GET", "/2/compliance/jobs/abc", &token, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, v) = f.call("GET", "/2/compliance/jobs/987654321", &token, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["detail"], "Could not find compliance job with id: [987654321].");
    let (s, _, _) = f.call("POST", "/2/compliance/jobs", "not-a-token", None, Some(r#"{"type": "tweets"}"#)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the job routes take the app's token");
}

#[tokio::test]
async fn a_malformed_upload_names_its_line_and_stores_nothing() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let url = job["upload_url"].as_str().unwrap();
    for (body, line) in [("101\n102\nabc\n", 3), ("101\n\n12345678901234567890\n", 3), ("1e5\n", 1), ("101,102\n", 1)] {
        let (s, text) = plain(&f, "PUT", url, body.as_bytes().to_vec()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["detail"].as_str().unwrap().starts_with(&format!("line {line}: ")), "{body}: {v}");
        assert_eq!(get_job(&f, &token, job["id"].as_str().unwrap()).await["status"], "created", "nothing stored");
    }
    // The same URL still takes a good upload, once.
    let (s, _) = plain(&f, "PUT", url, b"101\n".to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, text) = plain(&f, "PUT", url, b"102\n".to_vec()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("an upload is taken once"), "{text}");
    let done = finished(&f, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "complete");
}

#[tokio::test]
async fn uploads_over_the_limits_are_refused() {
    let f = platform(JobLimits { max_ids: 3, max_upload_bytes: 64 });
    let (_, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let url = job["upload_url"].as_str().unwrap();
    let (s, text) = plain(&f, "PUT", url, b"1\n2\n3\n4\n".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(text.contains("more than 3 ids"), "{text}");
    let (s, text) = plain(&f, "PUT", url, vec![b'1'; 65]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text.contains("larger than the limit of 64 bytes"), "{text}");
    assert_eq!(get_job(&f, &token, job["id"].as_str().unwrap()).await["status"], "created");
    let (s, _) = plain(&f, "PUT", url, b"1\n2\n3\n".to_vec()).await;
    assert_eq!(s, StatusCode::OK, "at the limits is within them");
}

/// The signature the server gives: HMAC-SHA256 of `action job expires` with
/// the store's secret (computed here on its own, RFC 2104).
fn sign(secret: &[u8; 32], message: &str) -> String {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in secret.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(message.as_bytes()).finalize();
    hex::encode(Sha256::new().chain_update(opad).chain_update(inner).finalize())
}

#[tokio::test]
async fn forged_missing_and_expired_signatures_are_refused() {
    let f = platform(JobLimits::DEFAULT);
    let (_, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let id = job["id"].as_str().unwrap();
    let upload = job["upload_url"].as_str().unwrap();
    let download = job["download_url"].as_str().unwrap();
    let expires = upload.split("expires=").nth(1).unwrap().split('&').next().unwrap();
    let secret = f.store.compliance_secret().unwrap();
    assert_eq!(upload.split("signature=").nth(1).unwrap(), sign(&secret, &format!("upload {id} {expires}")));

    let forged = format!("/2/compliance/jobs/{id}/upload?expires={expires}&signature={}", "0".repeat(64));
    let later = format!(
        "/2/compliance/jobs/{id}/upload?expires=9999999999&signature={}",
        upload.split("signature=").nth(1).unwrap()
    );
    let other_job = upload.replace(&format!("/jobs/{id}/"), &format!("/jobs/{}/", id.parse::<u64>().unwrap() + 1));
    let download_as_upload = download.replace("/download?", "/upload?");
    for url in
        [forged.as_str(), later.as_str(), &other_job, &download_as_upload, &format!("/2/compliance/jobs/{id}/upload")]
    {
        let (s, text) = plain(&f, "PUT", url, b"101\n".to_vec()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{url}: {text}");
    }
    // A correctly signed URL whose time has passed.
    let past = Timestamp::now().seconds() - 1;
    let expired = format!(
        "/2/compliance/jobs/{id}/upload?expires={past}&signature={}",
        sign(&secret, &format!("upload {id} {past}"))
    );
    let (s, text) = plain(&f, "PUT", &expired, b"101\n".to_vec()).await;
    assert_eq!(s, StatusCode::GONE, "{text}");
    assert!(text.contains("expired"), "{text}");
    assert_eq!(get_job(&f, &token, id).await["status"], "created", "no refused upload stored anything");
    // A bearer token is no signature.
    let (s, _, _) = f.call("PUT", &format!("/2/compliance/jobs/{id}/upload"), &token, None, Some("101\n")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn results_are_downloadable_only_when_complete_and_until_they_expire() {
    let f = platform(JobLimits::DEFAULT);
    let (app, token) = trainer(&f);
    let job = create(&f, &token, r#"{"type": "tweets"}"#).await;
    let (s, text) = plain(&f, "GET", job["download_url"].as_str().unwrap(), Vec::new()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("it is created"), "{text}");

    // Jobs made a week ago: one complete, one never uploaded.
    let week = 604_800_000;
    let old = Timestamp::from_millis(Timestamp::now().millis() - week - 1000);
    let made = |kind| NewComplianceJob {
        app_id: app,
        kind,
        name: None,
        resumable: false,
        created_at: old,
        upload_expires_at: Timestamp::from_millis(old.millis() + 900_000),
        download_expires_at: Timestamp::from_millis(old.millis() + week),
    };
    let complete = f.store.create_compliance_job(&made(JobKind::Tweets)).unwrap();
    f.store.upload_compliance_ids(complete.id, &[102]).unwrap();
    assert!(f.store.complete_compliance_job(complete.id, b"{}\n", 1).unwrap());
    let never = f.store.create_compliance_job(&made(JobKind::Users)).unwrap();
    for id in [complete.id, never.id] {
        let v = get_job(&f, &token, &id.to_string()).await;
        assert_eq!(v["status"], "expired", "{v}");
    }
    assert_eq!(f.store.compliance_job_results(complete.id).unwrap(), None, "expired results are dropped");
    let (_, _, v) = f.call("GET", "/2/compliance/jobs?type=tweets&status=expired", &token, None, None).await;
    assert_eq!(v["meta"]["result_count"], 1);
}

/// A finished job acknowledges the app's open obligations about the ids its
/// results list, and the download's ledger entry names their events; the
/// obligations of ids the job did not list stay open.
#[tokio::test]
async fn a_downloaded_job_acknowledges_the_obligations_it_lists() {
    let f = platform(JobLimits::DEFAULT);
    let (app, token) = trainer(&f);
    let (status, _, body) = f.call("GET", "/2/tweets?ids=101,102,103", &token, Some("train-genai"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    change(&f);
    let defaults = tollgate_domain::ConsentDefaults::default();
    let noticer = tollgate_api::obligations::Noticer {
        node: "test",
        store: f.store.as_ref(),
        ledger: &f.ledger_db,
        defaults: &defaults,
        deadlines: tollgate_api::obligations::Deadlines::default(),
    };
    noticer.open_notices().unwrap();
    let open = |f: &Fixture| {
        f.store
            .notices(&tollgate_store::NoticeQuery {
                app: Some(app),
                unacknowledged_only: true,
                limit: 100,
                ..tollgate_store::NoticeQuery::default()
            })
            .unwrap()
    };
    let before = open(&f);
    let about = |post: u64| before.iter().find(|n| n.post_id == Some(PostId(post))).map(|n| n.event_seq);
    let (deleted, marked) = (about(102).expect("post 102's deletion"), about(103).expect("post 103's no_ai"));

    // A job listing only post 102.
    let lines = run_job(&f, &token, "tweets", "102\n").await;
    assert_eq!(lines.keys().collect::<Vec<_>>(), ["102"]);
    let left: Vec<u64> = open(&f).iter().map(|n| n.event_seq).collect();
    assert!(!left.contains(&deleted), "post 102's obligation is acknowledged");
    assert!(left.contains(&marked), "post 103's is not: the job did not list it");
    let row = f.ledger_db.ledger_last().unwrap().unwrap();
    let entry = tollgate_ledger::Entry::decode(&row.body).unwrap();
    assert_eq!(entry.notices, [deleted], "the download's entry names the events it acknowledged");
}
