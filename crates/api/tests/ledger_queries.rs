//! The ledger's audit queries through the router: deliveries are made through
//! the developer API, then every question is asked of `/internal/ledger/...`
//! and its answer compared with what the responses actually delivered.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use common::{Fixture, INTERNAL, account, post, unlimited};
use serde_json::Value;
use tollgate_domain::{AppId, Purpose, Tier};

/// Two authors (1 and 2) with posts `author * 100 + n`, n in 1..=5.
fn fixture() -> Fixture {
    let mut posts = Vec::new();
    for author in 1..=2u64 {
        for n in 1..=5u64 {
            posts.push(post(author, n, &format!("post {n} of author {author}")));
        }
    }
    common::fixture("ledger-query-test", &[account(1, "ada", "US"), account(2, "bo", "US")], &posts, unlimited())
}

impl Fixture {
    async fn get(&self, uri: &str, token: &str, purpose: Option<&str>) -> (StatusCode, String, Value) {
        let (status, headers, value) = self.call("GET", uri, token, purpose, None).await;
        let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, request_id, value)
    }

    async fn internal(&self, uri: &str) -> Value {
        let (s, _, v) = self.get(uri, INTERNAL, None).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        v
    }
}

fn post_ids(v: &Value) -> Vec<u64> {
    let data = match &v["data"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    data.iter().map(|t| t["id"].as_str().unwrap().parse().unwrap()).collect()
}

/// One response: its request id and the post ids it delivered.
type Response = (String, Vec<u64>);

/// What the responses delivered, per (app, purpose).
#[derive(Default)]
struct Delivered {
    requests: BTreeMap<(u64, &'static str), Vec<Response>>,
}

impl Delivered {
    async fn call(&mut self, f: &Fixture, app: AppId, token: &str, purpose: &'static str, uri: &str) {
        let (s, request_id, v) = f.get(uri, token, Some(purpose)).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        self.requests.entry((app.0, purpose)).or_default().push((request_id, post_ids(&v)));
    }

    fn of_post(&self, post: u64) -> BTreeMap<(u64, &'static str), Vec<String>> {
        let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
        for (key, reqs) in &self.requests {
            for (id, posts) in reqs {
                if posts.contains(&post) {
                    out.entry(*key).or_default().push(id.clone());
                }
            }
        }
        out
    }
}

#[tokio::test]
async fn every_audit_question_matches_what_was_delivered() {
    let f = fixture();
    let (partner, partner_token) =
        f.new_app("Partner Labs", Tier::Partner, &[Purpose::Display, Purpose::TrainGenai], &[Purpose::TrainGenai]);
    let (viewer, viewer_token) = f.new_app("Viewer", Tier::Standard, &[Purpose::Display, Purpose::TrainGenai], &[]);
    let mut d = Delivered::default();
    d.call(&f, partner, &partner_token, "display", "/2/users/1/tweets").await;
    d.call(&f, partner, &partner_token, "train-genai", "/2/tweets?ids=101,102,201").await;
    d.call(&f, partner, &partner_token, "train-genai", "/2/tweets?ids=101").await;
    d.call(&f, viewer, &viewer_token, "display", "/2/tweets/101").await;
    d.call(&f, viewer, &viewer_token, "display", "/2/tweets?ids=202,203").await;
    // The standard app may not train: refused, and recorded.
    let (s, _, _) = f.get("/2/tweets/101", &viewer_token, Some("train-genai")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // 1. Who received post 101: per (app, purpose), and the entries.
    let expected = d.of_post(101);
    let mut got: BTreeMap<(u64, String), u64> = BTreeMap::new();
    let mut request_ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/internal/ledger/posts/101/recipients?limit=1&cursor={c}"),
            None => "/internal/ledger/posts/101/recipients?limit=1".to_owned(),
        };
        let v = f.internal(&uri).await;
        if cursor.is_none() {
            for r in v["recipients"].as_array().unwrap() {
                got.insert(
                    (r["app_id"].as_u64().unwrap(), r["purpose"].as_str().unwrap().to_owned()),
                    r["deliveries"].as_u64().unwrap(),
                );
            }
        }
        let entries = v["entries"].as_array().unwrap();
        assert!(entries.len() <= 1);
        for e in entries {
            assert!(request_ids.insert(e["request_id"].as_str().unwrap().to_owned()), "pages repeat");
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want: BTreeMap<(u64, String), u64> =
        expected.iter().map(|((app, p), ids)| ((*app, (*p).to_owned()), ids.len() as u64)).collect();
    assert_eq!(got, want);
    let want_ids: BTreeSet<String> = expected.values().flatten().cloned().collect();
    assert_eq!(request_ids, want_ids);

    // ... and of any post of account 2.
    let v = f.internal("/internal/ledger/accounts/2/recipients").await;
    let mut got: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for r in v["recipients"].as_array().unwrap() {
        got.insert(
            (r["app_id"].as_u64().unwrap(), r["purpose"].as_str().unwrap().to_owned()),
            r["deliveries"].as_u64().unwrap(),
        );
    }
    let mut want: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for ((app, purpose), reqs) in &d.requests {
        let n = reqs.iter().filter(|(_, posts)| posts.iter().any(|p| p / 100 == 2)).count() as u64;
        if n > 0 {
            want.insert((*app, (*purpose).to_owned()), n);
        }
    }
    assert_eq!(got, want);

    // The transparency view names the apps.
    let v = f.internal("/internal/accounts/2/deliveries").await;
    let apps = v["apps"].as_array().unwrap();
    let names: BTreeSet<&str> = apps.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["Partner Labs", "Viewer"]));
    assert!(apps.iter().any(|a| a["tier"] == "partner"));

    // 2. Everything the partner received, paged two posts at a time.
    let mut posts = Vec::new();
    let mut cursor: Option<String> = None;
    let mut totals: Value;
    loop {
        let mut uri = format!("/internal/ledger/apps/{partner}/deliveries?limit=2");
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={c}"));
        }
        let v = f.internal(&uri).await;
        totals = v["totals"].clone();
        assert!(v["days"].as_array().unwrap().iter().all(|d| d["day"].as_str().unwrap().len() == 10));
        posts.extend(v["posts"].as_array().unwrap().iter().map(|p| p["post_id"].as_u64().unwrap()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut want: Vec<u64> = Vec::new();
    for purpose in ["display", "train-genai"] {
        for (_, p) in &d.requests[&(partner.0, purpose)] {
            let mut p = p.clone();
            p.sort_unstable();
            want.extend(p);
        }
    }
    posts.sort_unstable();
    want.sort_unstable();
    assert_eq!(posts, want);
    assert_eq!(totals["served"], 3);
    assert_eq!(totals["posts"].as_u64().unwrap(), want.len() as u64);
    assert_eq!(totals["refused"], 0);
    // A range that ends before everything holds nothing.
    let v = f.internal(&format!("/internal/ledger/apps/{partner}/deliveries?end_time=2001-01-01T00:00:00Z")).await;
    assert_eq!(v["totals"]["served"], 0);
    assert!(v["posts"].as_array().unwrap().is_empty());

    // 3. Attempts by the viewer: two served, one refused.
    let v = f.internal(&format!("/internal/ledger/attempts?app_id={viewer}&since=2020-01-01T00:00:00Z")).await;
    assert_eq!(v["app_id"], viewer.0);
    assert_eq!((v["counts"]["served"].as_u64(), v["counts"]["refused"].as_u64()), (Some(2), Some(1)));
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["outcome"], "refused");
    assert_eq!(entries[2]["reason"], "agreement_prohibits");
    // After a notice given in the future, nothing.
    let v = f.internal(&format!("/internal/ledger/attempts?app_id={viewer}&since=2100-01-01T00:00:00Z")).await;
    assert_eq!(v["counts"]["served"], 0);

    // 4. Deliveries under the policy version in force.
    let row = f.ledger_db.ledger_last().unwrap().unwrap();
    let version = tollgate_ledger::Entry::decode(&row.body).unwrap().policy_version;
    let v = f.internal(&format!("/internal/ledger/policies/{version}/deliveries?limit=3")).await;
    assert_eq!(v["counts"]["served"], 5);
    assert_eq!(v["counts"]["refused"], 1);
    assert_eq!(v["entries"].as_array().unwrap().len(), 3);
    let c = v["next_cursor"].as_str().unwrap().to_owned();
    let v = f.internal(&format!("/internal/ledger/policies/{version}/deliveries?limit=3&cursor={c}")).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert!(v["next_cursor"].is_null());
}

#[tokio::test]
async fn audit_endpoints_need_the_service_token_and_valid_parameters() {
    let f = fixture();
    let (s, _, _) = f.get("/internal/ledger/posts/101/recipients", "wrong", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = f.get("/internal/accounts/1/deliveries", "", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = f.get("/internal/ledger/posts/101/recipients?limit=0", INTERNAL, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = f.get("/internal/ledger/posts/101/recipients?cursor=x", INTERNAL, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = f.get("/internal/ledger/attempts?since=2020-01-01T00:00:00Z", INTERNAL, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = f.get("/internal/ledger/apps/1/deliveries?start_time=yesterday", INTERNAL, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = f.get("/internal/accounts/99/deliveries", INTERNAL, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // An account nobody received anything of.
    let (s, _, v) = f.get("/internal/accounts/1/deliveries", INTERNAL, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["apps"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn audit_queries_refuse_a_repeated_parameter_rather_than_take_one() {
    let f = fixture();
    for uri in [
        "/internal/ledger/posts/101/recipients?limit=1&limit=2",
        "/internal/ledger/apps/1/deliveries?start_time=2020-01-01T00:00:00Z&start_time=2030-01-01T00:00:00Z",
        "/internal/ledger/attempts?app_id=1&app_id=2",
        "/internal/ledger/attempts?client=a&since=2020-01-01T00:00:00Z&since=2020-01-01T00:00:00Z",
        "/internal/ledger/policies/abc/deliveries?cursor=1&cursor=1",
    ] {
        let (s, _, v) = f.get(uri, INTERNAL, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        let message = v["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("may be given only once"), "{uri}: {v}");
        assert!(v["errors"][0]["parameters"].is_object(), "{uri}: {v}");
    }
}
