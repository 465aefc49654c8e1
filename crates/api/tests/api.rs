//! The developer and internal APIs driven through the router, without a socket:
//! policy outcomes, X's shapes and errors, and the ledger behind every answer.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Fixture, INTERNAL, account, post, unlimited};
use serde_json::{Value, json};
use tollgate_api::RateLimits;
use tollgate_domain::{AccountId, Agreement, Category, PostId, Purpose, Scope, Tier, Timestamp, Tri};
use tower::ServiceExt;

/// ada (US, unset: allowed), bert (DE, unset: denied by the regional default),
/// carl (US, explicitly denied third-party train-genai), minnie (a minor),
/// pat (protected); five posts each.
fn fixture(limits: RateLimits) -> Fixture {
    let mut carl = account(3, "carl", "US");
    carl.ai_preferences.set(Category::TrainGenai, Scope::ThirdParties, Tri::Deny, Timestamp::from_millis(1));
    let mut minnie = account(4, "minnie", "US");
    minnie.is_minor = Some(true);
    let mut pat = account(5, "pat", "US");
    pat.protected = true;
    let accounts = [account(1, "ada", "US"), account(2, "bert", "DE"), carl, minnie, pat];
    let mut posts = Vec::new();
    for author in 1..=5 {
        for n in 1..=5 {
            posts.push(post(author, n, &format!("hello world number {n} from author {author}")));
        }
    }
    common::fixture("api-test", &accounts, &posts, limits)
}

impl Fixture {
    fn partner(&self) -> String {
        self.new_app("test", Tier::Partner, &[Purpose::Display, Purpose::TrainGenai], &[Purpose::TrainGenai]).1
    }

    fn display(&self) -> String {
        self.new_app("test", Tier::Standard, &[Purpose::Display, Purpose::Search], &[]).1
    }

    async fn get(&self, uri: &str, token: &str, purpose: Option<&str>) -> (StatusCode, Value) {
        let (s, _, v) = self.call("GET", uri, token, purpose, None).await;
        (s, v)
    }

    fn ledger_len(&self) -> u64 {
        self.ledger_db.ledger_last().unwrap().map_or(0, |r| r.seq + 1)
    }
}

fn ids(v: &Value) -> Vec<String> {
    v["data"].as_array().map(|a| a.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn opted_out_author_is_withheld_from_partner_training_but_served_for_display() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (s, v) = f.get("/2/users/3/tweets", &partner, Some("train-genai")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["meta"]["result_count"], 0);
    assert_eq!(v["meta"]["withheld_count"], 5);
    assert_eq!(v["meta"]["withheld_by_reason"], json!({"author_opted_out": 5}));
    let (s, v) = f.get("/2/users/3/tweets", &partner, Some("display")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&v).len(), 5);
    assert!(v["meta"].get("withheld_count").is_none());
}

#[tokio::test]
async fn regional_default_minor_and_protected_posts_are_withheld_from_training() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (_, v) = f.get("/2/tweets?ids=101,201,401,501", &partner, Some("train-genai")).await;
    assert_eq!(ids(&v), vec!["101"]);
    let reasons: Vec<(String, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["resource_id"].as_str().unwrap().to_owned(), e["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("201".into(), "author_opted_out".into()),
            ("401".into(), "minor".into()),
            ("501".into(), "protected_account".into())
        ]
    );
}

#[tokio::test]
async fn standard_app_asking_for_train_genai_is_refused_and_the_attempt_recorded() {
    let f = fixture(unlimited());
    let (_, token) = f.new_app("test", Tier::Standard, &[Purpose::Display, Purpose::TrainGenai], &[]);
    let before = f.ledger_len();
    let (s, v) = f.get("/2/tweets/101", &token, Some("train-genai")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["reason"], "agreement_prohibits");
    assert_eq!(v["agreement_url"], "http://tollgate.test/agreement");
    assert_eq!(f.ledger_len(), before + 1, "the refusal is evidence and is recorded");
    let row = f.ledger_db.ledger_last().unwrap().unwrap();
    let entry = tollgate_ledger::Entry::decode(&row.body).unwrap();
    assert_eq!(entry.outcome, tollgate_ledger::Outcome::Refused("agreement_prohibits".into()));
    assert!(entry.posts.is_empty());
}

#[tokio::test]
async fn undeclared_purpose_is_refused() {
    let f = fixture(unlimited());
    let display = f.display();
    let (s, v) = f.get("/2/tweets/101", &display, Some("ai-input")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["reason"], "purpose_not_declared");
}

#[tokio::test]
async fn preference_change_is_in_force_on_the_next_request() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("train-genai")).await;
    assert_eq!(ids(&v).len(), 5);
    let body = r#"{"train-genai": {"third-parties": "deny"}}"#;
    let (s, _, v) = f.call("PATCH", "/internal/accounts/1/ai-preferences", INTERNAL, None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["effective_ai_preferences"]["train-genai"]["third-parties"], "deny");
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("train-genai")).await;
    assert_eq!(ids(&v).len(), 0);
    assert_eq!(v["meta"]["withheld_by_reason"]["author_opted_out"], 5);
    // Display is a different purpose: still served.
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("display")).await;
    assert_eq!(ids(&v).len(), 5);
    let body = r#"{"train-genai": {"third-parties": "unset"}}"#;
    f.call("PATCH", "/internal/accounts/1/ai-preferences", INTERNAL, None, Some(body)).await;
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("train-genai")).await;
    assert_eq!(ids(&v).len(), 5, "unset falls back to the regional default (allow in the US)");
}

#[tokio::test]
async fn post_no_ai_and_deletion_and_suspension_take_effect_at_once() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (s, _, _) = f.call("PUT", "/internal/posts/102/no-ai", INTERNAL, None, Some(r#"{"no_ai": true}"#)).await;
    assert_eq!(s, StatusCode::OK);
    f.call("DELETE", "/internal/posts/103", INTERNAL, None, None).await;
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("train-genai")).await;
    assert_eq!(v["meta"]["withheld_by_reason"], json!({"post_no_ai": 1, "deleted": 1}));
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("display")).await;
    assert_eq!(v["meta"]["withheld_by_reason"], json!({"deleted": 1}), "no_ai does not affect display");
    f.call("PUT", "/internal/accounts/1/status", INTERNAL, None, Some(r#"{"status": "suspended"}"#)).await;
    let (_, v) = f.get("/2/users/1/tweets", &partner, Some("display")).await;
    assert_eq!(ids(&v).len(), 0);
    let (_, v) = f.get("/2/users/1", &partner, Some("display")).await;
    assert_eq!(v["errors"][0]["reason"], "author_suspended");
}

#[tokio::test]
async fn timeline_pages_neither_repeat_nor_skip() {
    let f = fixture(unlimited());
    let display = f.display();
    let mut seen = Vec::new();
    let mut uri = "/2/users/2/tweets?max_results=5".to_owned();
    // bert's five posts, five at a time, then ada's via since/until bounds.
    loop {
        let (s, v) = f.get(&uri, &display, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        seen.extend(ids(&v));
        match v["meta"]["next_token"].as_str() {
            Some(t) => uri = format!("/2/users/2/tweets?max_results=5&pagination_token={t}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["205", "204", "203", "202", "201"]);
    let (_, v) = f.get("/2/users/1/tweets?since_id=102&until_id=105", &display, None).await;
    assert_eq!(ids(&v), vec!["104", "103"]);
}

#[tokio::test]
async fn search_understands_the_documented_query_subset() {
    let f = fixture(unlimited());
    let display = f.display();
    let (s, v) =
        f.get("/2/tweets/search/recent?query=%22number%203%22%20(from:ada%20OR%20from:BERT)", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), vec!["203", "103"]);
    let (s, v) = f.get("/2/tweets/search/recent?query=has:media", &display, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("`has:media` is a conjunction-required operator"), "{v}");
    assert!(message.ends_with("(at position 1)"), "{v}");
}

/// A query no index narrows (an emoji alone) walks a bounded window of posts
/// per page: a page may hold fewer posts than asked for, even none, and still
/// carry a `next_token`; paging on finds every match once, in order.
#[tokio::test]
async fn a_search_no_index_narrows_pages_through_bounded_walks() {
    let accounts = [account(1, "ada", "US")];
    let posts: Vec<_> = (1..=30).map(|n| post(1, n, if n % 10 == 3 { "tea ☕" } else { "tea" })).collect();
    let options = tollgate_store_sqlite::SqliteOptions { search_walk_limit: 8, ..Default::default() };
    let f = common::fixture_with_options(
        "api-walk",
        &accounts,
        &posts,
        unlimited(),
        tollgate_api::HttpLimits::DEFAULT,
        &options,
    );
    let display = f.display();
    let mut uri = "/2/tweets/search/recent?query=%E2%98%95&max_results=10".to_owned();
    let (mut found, mut pages) = (Vec::new(), Vec::new());
    loop {
        let (s, v) = f.get(&uri, &display, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages.push(ids(&v).len());
        found.extend(ids(&v));
        match v["meta"]["next_token"].as_str() {
            Some(t) => uri = format!("/2/tweets/search/recent?query=%E2%98%95&max_results=10&next_token={t}"),
            None => break,
        }
    }
    assert_eq!(found, ["123", "113", "103"]);
    // 130..123, 122..115, 114..107, 106..101: an empty page still goes on.
    assert_eq!(pages, [1, 0, 1, 1]);
}

/// Operators about data Tollgate does not keep match nothing: their
/// negation keeps every post (tweepy's `coffee -is:retweet`), the operator
/// itself none; a numeric `from:` is an account id.
#[tokio::test]
async fn search_operators_over_what_tollgate_keeps() {
    let f = fixture(unlimited());
    let display = f.display();
    let (s, plain) = f.get("/2/tweets/search/recent?query=%22number%203%22", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{plain}");
    assert!(!ids(&plain).is_empty(), "{plain}");
    for q in ["%22number%203%22%20-is:retweet", "%22number%203%22%20-is:nullcast%20-has:media%20-place_country:DE"] {
        let before = f.ledger_len();
        let (s, v) = f.get(&format!("/2/tweets/search/recent?query={q}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_eq!(ids(&v), ids(&plain), "{q}");
        assert_eq!(v["meta"], plain["meta"], "the same decisions, the same withheld counts: {q}");
        assert_eq!(f.ledger_len(), before + 1, "the answer is recorded: {q}");
    }
    let (s, v) = f.get("/2/tweets/search/recent?query=%22number%203%22%20has:media", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(ids(&v).is_empty(), "{v}");
    let (s, v) = f.get("/2/tweets/search/recent?query=number%20from:2%20-is:reply", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), vec!["205", "204", "203", "202", "201"]);
    let long = format!("number {}", "a ".repeat(2_000));
    let (s, v) = f.get(&format!("/2/tweets/search/recent?query={}", long.replace(' ', "%20")), &display, None).await;
    assert_eq!(s, StatusCode::OK, "a query of {} characters: {v}", long.len());
}

#[tokio::test]
async fn expansions_include_authors_of_delivered_posts_only() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (_, v) = f
        .get(
            "/2/tweets?ids=101,301&expansions=author_id&tweet.fields=author_id,created_at",
            &partner,
            Some("train-genai"),
        )
        .await;
    assert_eq!(ids(&v), vec!["101"]);
    assert_eq!(v["data"][0]["author_id"], "1");
    assert_eq!(v["data"][0]["created_at"], Timestamp::from_millis(1_700_000_101_000).to_string());
    let users: Vec<&str> =
        v["includes"]["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(users, vec!["ada"]);
}

#[tokio::test]
async fn bad_parameters_get_precise_errors_and_change_nothing() {
    let f = fixture(unlimited());
    let display = f.display();
    let before = f.ledger_len();
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let cases = [
        ("/2/tweets/abc".to_owned(), "id", "abc"),
        ("/2/tweets?ids=1,x".to_owned(), "ids", "x"),
        (format!("/2/tweets?ids={}", too_many.join(",")), "ids", ""),
        ("/2/tweets/101?foo=bar".to_owned(), "foo", "bar"),
        ("/2/tweets/101?tweet.fields=bogus".to_owned(), "tweet.fields", "bogus"),
        ("/2/users/1/tweets?max_results=1000".to_owned(), "max_results", "1000"),
        ("/2/users/1/tweets?pagination_token=zzz".to_owned(), "pagination_token", "zzz"),
        ("/2/users/1/tweets?start_time=yesterday".to_owned(), "start_time", "yesterday"),
        ("/2/tweets/search/recent".to_owned(), "query", ""),
    ];
    for (uri, parameter, value) in cases {
        let (s, v) = f.get(&uri, &display, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_eq!(v["title"], "Invalid Request", "{uri}");
        let params = &v["errors"][0]["parameters"][parameter];
        assert!(params.is_array(), "{uri}: {v}");
        if !value.is_empty() {
            assert_eq!(params[0], value, "{uri}");
        }
    }
    let (s, v) = f.get("/2/tweets/101", &display, Some("training")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("train-genai"), "lists the vocabulary: {v}");
    assert_eq!(f.ledger_len(), before, "nothing was released, nothing recorded");
}

#[tokio::test]
async fn unknown_revoked_and_expired_tokens_are_unauthorized() {
    let f = fixture(unlimited());
    let (app, token) = f.new_app("test", Tier::Standard, &[Purpose::Display], &[]);
    let (s, _) = f.get("/2/tweets/101", "tg_nope", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let req = Request::builder().uri("/2/tweets/101").body(Body::empty()).unwrap();
    assert_eq!(f.app.clone().oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(f.get("/2/tweets/101", &token, None).await.0, StatusCode::OK);
    f.store.expire_keys(app, None, Timestamp::from_millis(1)).unwrap();
    let (s, v) = f.get("/2/tweets/101", &token, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["detail"].as_str().unwrap().contains("expired"), "{v}");
    let (app2, token2) = f.new_app("test", Tier::Standard, &[Purpose::Display], &[]);
    f.store.revoke_keys(app2, None, Timestamp::now()).unwrap();
    let (s, v) = f.get("/2/tweets/101", &token2, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["detail"].as_str().unwrap().contains("revoked"), "{v}");
}

#[tokio::test]
async fn rate_limit_answers_429_with_x_headers() {
    let f = fixture(RateLimits { window_secs: 900, standard: 2, partner: 0, first_party: 0 });
    let display = f.display();
    for remaining in ["1", "0"] {
        let (s, h, _) = f.call("GET", "/2/tweets/101", &display, None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h["x-rate-limit-limit"], "2");
        assert_eq!(h["x-rate-limit-remaining"], remaining);
    }
    let (s, h, v) = f.call("GET", "/2/tweets/101", &display, None, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(h["x-rate-limit-remaining"], "0");
    assert!(h["x-rate-limit-reset"].to_str().unwrap().parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn lapsed_agreement_is_refused_with_a_link_and_grace_is_honoured() {
    let f = fixture(unlimited());
    let display = f.display();
    let now = Timestamp::now().millis();
    let publish = |grace_ms: i64, version: u32| Agreement {
        version,
        text: format!("# Agreement v{version}"),
        terms_json: "{}".into(),
        published_at: Timestamp::from_millis(now),
        grace_until: Timestamp::from_millis(now + grace_ms),
    };
    f.store.publish_agreement(&publish(3_600_000, 2)).unwrap();
    assert_eq!(f.get("/2/tweets/101", &display, None).await.0, StatusCode::OK, "within the grace period");
    f.store.publish_agreement(&publish(-1, 3)).unwrap();
    let (s, v) = f.get("/2/tweets/101", &display, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["reason"], "agreement_not_accepted");
    assert_eq!(v["agreement_url"], "http://tollgate.test/agreement");
}

#[tokio::test]
async fn content_responses_state_usage_terms_in_headers() {
    let f = fixture(unlimited());
    let (_, h, _) = f.call("GET", "/2/tweets/101", &f.display(), None, None).await;
    assert_eq!(h["content-usage"], "train-ai=n");
    assert_eq!(h["tdm-reservation"], "1");
    assert_eq!(h["x-robots-tag"], "noai, noimageai");
    assert!(h.contains_key("x-request-id"));
}

#[tokio::test]
async fn every_served_response_is_in_the_ledger_with_its_posts() {
    let f = fixture(unlimited());
    let partner = f.partner();
    let (_, h, v) = f.call("GET", "/2/users/1/tweets?max_results=5", &partner, Some("train-genai"), None).await;
    let row = f.ledger_db.ledger_last().unwrap().unwrap();
    let entry = tollgate_ledger::Entry::decode(&row.body).unwrap();
    assert_eq!(entry.request_id, h["x-request-id"].to_str().unwrap());
    assert_eq!(entry.purpose, Some(Purpose::TrainGenai));
    let mut delivered: Vec<u64> = ids(&v).iter().map(|s| s.parse().unwrap()).collect();
    delivered.sort_unstable();
    assert_eq!(entry.posts.iter().map(|p| p.0).collect::<Vec<_>>(), delivered);
    assert_eq!(entry.policy_version.len(), 64);
    assert!(tollgate_ledger::verify(f.ledger_db.as_ref()).unwrap().ok());
}

#[tokio::test]
async fn internal_api_refuses_bad_input_and_changes_nothing() {
    let f = fixture(unlimited());
    let (s, _, v) = f.call("PUT", "/internal/posts", INTERNAL, None, Some("{\"id\": 1,")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["detail"].as_str().unwrap().contains("line 1"), "{v}");
    let batch = r#"[{"id": 900, "author_id": 1, "created_at": "2024-01-01T00:00:00Z", "text": "ok"},
                    {"id": 901, "author_id": 77, "created_at": "2024-01-01T00:00:00Z", "text": "no such author"}]"#;
    let (s, _, v) = f.call("PUT", "/internal/posts", INTERNAL, None, Some(batch)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(f.store.posts(&[PostId(900)]).unwrap().is_empty(), "all or nothing");
    let (s, _, _) = f
        .call(
            "PATCH",
            "/internal/accounts/1/ai-preferences",
            INTERNAL,
            None,
            Some(r#"{"train": {"third-parties": "deny"}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = f.call("PATCH", "/internal/accounts/1/ai-preferences", "wrong", None, Some("{}")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A profile update without preferences keeps the author's choices.
    let carl = r#"{"id": 3, "handle": "carl", "display_name": "Carl II", "created_at": "2020-01-01T00:00:00Z", "region": "US"}"#;
    let (s, _, _) = f.call("PUT", "/internal/accounts", INTERNAL, None, Some(carl)).await;
    assert_eq!(s, StatusCode::OK);
    let carl = f.store.account(AccountId(3)).unwrap().unwrap();
    assert_eq!(carl.display_name, "Carl II");
    assert_eq!(carl.ai_preferences.get(Category::TrainGenai, Scope::ThirdParties).value, Tri::Deny);
}

#[tokio::test]
async fn users_lookups_follow_x_shapes() {
    let f = fixture(unlimited());
    let display = f.display();
    let (_, v) = f.get("/2/users/by/username/ADA?user.fields=created_at,protected", &display, None).await;
    assert_eq!(v["data"]["id"], "1");
    assert_eq!(v["data"]["protected"], false);
    let (_, v) = f.get("/2/users?ids=1,2,99", &display, None).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["errors"][0]["resource_id"], "99");
    assert_eq!(v["errors"][0]["title"], "Not Found Error");
    // pat is protected: like pat's posts, the profile goes to no third party.
    let (_, v) = f.get("/2/users?ids=5", &display, None).await;
    assert_eq!(v["errors"][0]["resource_id"], "5");
    assert_eq!(v["errors"][0]["reason"], "protected_account");
}

#[tokio::test]
async fn client_library_defaults_are_accepted() {
    let f = fixture(unlimited());
    let display = f.display();
    // twarc asks for every expansion by default; those that do not apply are left out.
    let uri = "/2/tweets?ids=101&expansions=author_id,referenced_tweets.id,attachments.media_keys,geo.place_id";
    let (s, v) = f.get(uri, &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["includes"]["users"][0]["id"], "1");
    let (s, v) = f.get("/2/users/1?expansions=pinned_tweet_id", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = f.get("/2/tweets/search/recent?query=hello&sort_order=relevancy", &display, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn usernames_lookup_exclude_replies_and_numeric_from() {
    let f = fixture(unlimited());
    let display = f.display();
    let (_, v) = f.get("/2/users/by?usernames=ada,CARL,nobody", &display, None).await;
    let names: Vec<&str> = v["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["ada", "carl"]);
    assert_eq!(v["errors"][0]["value"], "nobody");
    let (s, _) = f.get("/2/users/by?usernames=not%20valid", &display, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let reply = r#"{"id": 106, "author_id": 1, "created_at": "2024-01-01T00:00:00Z", "text": "a reply", "in_reply_to": 201, "in_reply_to_user_id": 2}"#;
    f.call("PUT", "/internal/posts", INTERNAL, None, Some(reply)).await;
    let (_, v) = f.get("/2/users/1/tweets", &display, None).await;
    assert_eq!(ids(&v).len(), 6);
    let (_, v) = f.get("/2/users/1/tweets?exclude=replies,retweets", &display, None).await;
    assert_eq!(ids(&v).len(), 5);
    let (s, _) = f.get("/2/users/1/tweets?exclude=likes", &display, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (_, v) = f.get("/2/tweets/search/recent?query=from:2%20%22number%201%22", &display, None).await;
    assert_eq!(ids(&v), vec!["201"]);
}

#[tokio::test]
async fn metrics_count_the_ledgers_commits_and_entries() {
    let f = fixture(unlimited());
    let display = f.display();
    for id in ["101", "102"] {
        let (s, v) = f.get(&format!("/2/tweets/{id}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let response =
        f.app.clone().oneshot(Request::builder().uri("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} is missing from {text}"))
    };
    // Two requests, one at a time: two entries, one commit each.
    assert_eq!(value("tollgate_ledger_entries_total"), 2);
    assert_eq!(value("tollgate_ledger_commits_total"), 2);
    // The second request found the key, the agreement and the author in memory.
    assert!(value("tollgate_cache_hits_total") >= 3, "{text}");
    assert!(value("tollgate_cache_misses_total") >= 1, "{text}");
}

/// `expansions=referenced_tweets.id` puts the posts the delivered ones reply
/// to in `includes.tweets`, each decided on its own for this request, and
/// records them in the ledger entry; a withheld one is left out.
#[tokio::test]
async fn referenced_posts_are_included_when_the_policy_allows_each() {
    let f = fixture(unlimited());
    let reply = |n: u64, to_author: u64, to: u64| tollgate_domain::Post {
        in_reply_to: Some(tollgate_domain::PostId(to)),
        in_reply_to_user_id: Some(tollgate_domain::AccountId(to_author)),
        conversation_id: Some(tollgate_domain::PostId(to)),
        ..common::post(1, n, "a reply")
    };
    // Ada replies to carl (opted out of third-party training) and to herself.
    f.store.upsert_posts(&[reply(60, 3, 301), reply(61, 1, 102)]).unwrap();
    let partner = f.partner();
    let uri = "/2/tweets?ids=160,161&expansions=referenced_tweets.id";
    let included = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v["includes"]["tweets"]
            .as_array()
            .map(|a| a.iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    };

    let (status, v) = f.get(uri, &partner, Some("train-genai")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), vec!["160", "161"]);
    assert_eq!(v["data"][0]["referenced_tweets"][0]["id"], "301", "the expansion adds the field it joins on");
    assert_eq!(included(&v), vec!["102"], "carl's post is withheld from training, ada's is not");
    let entry = tollgate_ledger::Entry::decode(&f.ledger_db.ledger_last().unwrap().unwrap().body).unwrap();
    assert_eq!(entry.posts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![102, 160, 161]);

    let (_, v) = f.get(uri, &partner, Some("display")).await;
    assert_eq!(included(&v), vec!["102", "301"]);
    let entry = tollgate_ledger::Entry::decode(&f.ledger_db.ledger_last().unwrap().unwrap().body).unwrap();
    assert_eq!(entry.posts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![102, 160, 161, 301]);

    let (_, v) = f.get("/2/tweets?ids=160", &partner, Some("display")).await;
    assert!(v.get("includes").is_none(), "nothing included without the expansion: {v}");
}

/// `media.fields`, `place.fields` and `poll.fields` take X's names and refuse
/// others, like `tweet.fields`; user endpoints validate `tweet.fields` and
/// their expansions too.
#[tokio::test]
async fn every_field_list_is_validated_against_x_names() {
    let f = fixture(unlimited());
    let display = f.display();
    for ok in [
        "/2/tweets/101?media.fields=url,alt_text,variants",
        "/2/tweets?ids=101&place.fields=country_code,geo&poll.fields=options,voting_status",
        "/2/users/1/tweets?media.fields=preview_image_url",
        "/2/users/1?tweet.fields=lang&expansions=pinned_tweet_id",
    ] {
        let (status, v) = f.get(ok, &display, None).await;
        assert_eq!(status, StatusCode::OK, "{ok}: {v}");
    }
    for (bad, parameter) in [
        ("/2/tweets/101?media.fields=url,colour", "media.fields"),
        ("/2/tweets?ids=101&place.fields=planet", "place.fields"),
        ("/2/users/1/tweets?poll.fields=winner", "poll.fields"),
        ("/2/users/1?tweet.fields=mood", "tweet.fields"),
        ("/2/users/1?expansions=author_id", "expansions"),
    ] {
        let (status, v) = f.get(bad, &display, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["errors"][0]["parameters"].get(parameter).is_some(), "{bad} names {parameter}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_lists_its_checks_and_fails_when_the_ledger_writer_stops() {
    let f = fixture(unlimited());
    let display = f.display();
    let (s, _) = f.get("/2/tweets/101", &display, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f.get("/healthz", "", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["ledger_entries"], 1);
    for check in ["store", "ledger_writer", "ledger_signer", "ledger_indexer"] {
        assert_eq!(v["checks"][check]["status"], "ok", "{check}: {v}");
    }
    // Nothing can be released once the writer is gone: the server says so.
    f.ledger.shutdown();
    let (s, v) = f.get("/healthz", "", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["ledger_writer"]["status"], "failing", "{v}");
    assert_eq!(v["checks"]["store"]["status"], "ok", "{v}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let f = fixture(unlimited());
    let display = f.display();
    let mut ids = Vec::new();
    for uri in ["/2/tweets/101", "/healthz", "/no/such/path"] {
        let (_, headers, _) = f.call("GET", uri, &display, None, None).await;
        ids.push(headers["x-request-id"].to_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "one id per request: {ids:?}");
}

/// Every name of X's document before 2.167 and of 2.167, each list asked for
/// whole in its own generation (a client asking for "all fields"): accepted,
/// and answered under that generation's property names.
#[tokio::test]
async fn every_name_x_defines_is_accepted_in_its_generation() {
    use tollgate_api::x_names::{self, Defined, List};
    let f = fixture(unlimited());
    let display = f.display();
    let reply = tollgate_domain::Post {
        in_reply_to: Some(PostId(102)),
        in_reply_to_user_id: Some(AccountId(1)),
        conversation_id: Some(PostId(102)),
        ..common::post(1, 60, "a reply")
    };
    f.store.upsert_posts(&[reply]).unwrap();
    let all = |list: List, defined: fn(Defined) -> bool| {
        x_names::list(list).iter().filter(|n| defined(n.defined)).map(|n| n.name).collect::<Vec<_>>().join(",")
    };
    for (defined, fields_key, edit, referenced, included) in [
        (
            Defined::in_previous as fn(Defined) -> bool,
            "tweet.fields",
            "edit_history_tweet_ids",
            "referenced_tweets",
            "tweets",
        ),
        (Defined::in_current, "post.fields", "edit_history_post_ids", "referenced_posts", "posts"),
    ] {
        let lists = format!(
            "{fields_key}={}&user.fields={}&expansions={}&media.fields={}&place.fields={}&poll.fields={}",
            all(List::PostFields, defined),
            all(List::UserFields, defined),
            all(List::PostExpansions, defined),
            all(List::MediaFields, defined),
            all(List::PlaceFields, defined),
            all(List::PollFields, defined),
        );
        let (s, v) = f.get(&format!("/2/tweets?ids=160&{lists}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{fields_key}: {v}");
        let post = &v["data"][0];
        assert_eq!(post[edit], json!(["160"]), "{v}");
        assert_eq!(post[referenced], json!([{"type": "replied_to", "id": "102"}]), "{v}");
        assert_eq!(post["author_id"], "1", "{v}");
        assert_eq!(v["includes"][included][0]["id"], "102", "{v}");
        assert_eq!(v["includes"]["users"][0]["created_at"], "2020-01-01T00:00:00.000Z", "{v}");
        // The other generation's names appear nowhere, and nothing is invented.
        let other = [("edit_history_tweet_ids", "edit_history_post_ids"), ("referenced_tweets", "referenced_posts")];
        for (old, new) in other {
            assert!(post.get(if fields_key == "tweet.fields" { new } else { old }).is_none(), "{v}");
        }
        for invented in
            ["possibly_sensitive", "article_title", "suggested_source_links", "public_metrics", "note_tweet"]
        {
            assert!(post.get(invented).is_none(), "{invented}: {v}");
        }
        let users = format!(
            "user.fields={}&expansions={}&{fields_key}={}",
            all(List::UserFields, defined),
            all(List::UserExpansions, defined),
            all(List::PostFields, defined)
        );
        let (s, v) = f.get(&format!("/2/users/1?{users}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{users}: {v}");
        assert!(v["data"]["description"].is_string(), "{v}");
        for invented in ["confirmed_email", "subscribes_to_you", "pinned_tweet_id", "pinned_post_id", "verified"] {
            assert!(v["data"].get(invented).is_none(), "{invented}: {v}");
        }
    }
}

/// The generation of an answer: 2.167's property names when a name only 2.167
/// has says so, wherever it is; otherwise the names before it, as before.
#[tokio::test]
async fn the_answer_takes_the_generation_of_the_request() {
    let f = fixture(unlimited());
    let display = f.display();
    for (uri, edit) in [
        ("/2/tweets/101", "edit_history_tweet_ids"),
        ("/2/tweets/101?expansions=author_id&user.fields=created_at", "edit_history_tweet_ids"),
        ("/2/tweets/101?tweet.fields=lang", "edit_history_tweet_ids"),
        ("/2/tweets/101?post.fields=lang", "edit_history_post_ids"),
        ("/2/tweets/101?expansions=edit_history_post_ids", "edit_history_post_ids"),
        ("/2/tweets/101?user.fields=subscribes_to_you&expansions=referenced_posts", "edit_history_post_ids"),
        ("/2/users/1/tweets?post.fields=created_at&max_results=5", "edit_history_post_ids"),
        ("/2/tweets/search/recent?query=hello&post.fields=author_id", "edit_history_post_ids"),
    ] {
        let (s, v) = f.get(uri, &display, None).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        let post = if v["data"].is_array() { &v["data"][0] } else { &v["data"] };
        assert_eq!(post[edit][0], post["id"], "{uri}: {v}");
        let other = if edit == "edit_history_tweet_ids" { "edit_history_post_ids" } else { "edit_history_tweet_ids" };
        assert!(post.get(other).is_none(), "{uri}: {v}");
    }
}

/// Names of both generations in one request are a `400` naming one of each,
/// and nothing is recorded.
#[tokio::test]
async fn names_of_both_generations_in_one_request_are_a_400_naming_both() {
    let f = fixture(unlimited());
    let display = f.display();
    let before = f.ledger_len();
    for (uri, old, new) in [
        (
            "/2/tweets/101?tweet.fields=lang&expansions=referenced_posts",
            ("tweet.fields", "lang"),
            ("expansions", "referenced_posts"),
        ),
        ("/2/tweets?ids=101&tweet.fields=lang&post.fields=lang", ("tweet.fields", "lang"), ("post.fields", "lang")),
        ("/2/tweets/101?post.fields=note_tweet", ("post.fields", "note_tweet"), ("post.fields", "post.fields")),
        (
            "/2/users/1/tweets?expansions=referenced_tweets.id,edit_history_post_ids",
            ("expansions", "referenced_tweets.id"),
            ("expansions", "edit_history_post_ids"),
        ),
        (
            "/2/users/1?expansions=pinned_tweet_id,most_recent_post_id",
            ("expansions", "pinned_tweet_id"),
            ("expansions", "most_recent_post_id"),
        ),
    ] {
        let (s, v) = f.get(uri, &display, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert_eq!(v["type"], "https://api.x.com/2/problems/invalid-request", "{v}");
        let parameters = &v["errors"][0]["parameters"];
        for (key, value) in [old, new] {
            let values = parameters[key].as_array().unwrap_or_else(|| panic!("{uri}: {key} is not named: {v}"));
            let shown = if key == value { f_value(uri, key) } else { value.to_owned() };
            assert!(values.iter().any(|x| x == shown.as_str()), "{uri}: {key}={shown}: {v}");
        }
        let message = v["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("before 2.167") && message.contains("2.167"), "{message}");
    }
    assert_eq!(f.ledger_len(), before, "nothing was recorded");
}

/// The value of `key` in `uri`'s query.
fn f_value(uri: &str, key: &str) -> String {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    query.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))).unwrap_or_default().to_owned()
}

/// `start_time` and `end_time` take any RFC 3339 offset and mean the UTC
/// instant it names.
#[tokio::test]
async fn times_with_an_offset_mean_their_utc_instant() {
    let f = fixture(unlimited());
    let display = f.display();
    // ada's posts 101..105 are at 2023-11-14T22:15:01Z .. 22:15:05Z.
    for time in ["2023-11-14T22:15:03Z", "2023-11-14T23:15:03+01:00", "2023-11-14T21:45:03.000-00:30"] {
        let encoded = time.replace('+', "%2B");
        let (s, v) = f.get(&format!("/2/users/1/tweets?start_time={encoded}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{time}: {v}");
        assert_eq!(ids(&v), vec!["105", "104", "103"], "{time}");
        let (s, v) = f.get(&format!("/2/users/1/tweets?end_time={encoded}"), &display, None).await;
        assert_eq!(s, StatusCode::OK, "{time}: {v}");
        assert_eq!(ids(&v), vec!["102", "101"], "{time}");
    }
    for bad in ["2023-11-14T23:15:03+24:00", "2023-11-14T23:15:03+0100", "2023-11-14T23:15:03"] {
        let (s, v) = f.get(&format!("/2/users/1/tweets?start_time={}", bad.replace('+', "%2B")), &display, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        let message = v["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("RFC 3339"), "{message}");
    }
}
