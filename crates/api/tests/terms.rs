//! The terms files (`/robots.txt`, `/.well-known/tdmrep.json`,
//! `/license.xml`) and the terms' headers on content answers, as the router
//! serves them, generated from the built-in policy and the default consent.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use common::{account, post, unlimited};
use http_body_util::BodyExt;
use tollgate_api::terms::{Terms, TermsConfig, builtin_agents, parse_agents};
use tollgate_domain::{ConsentDefaults, Purpose, Tier};
use tollgate_policy::PolicyEngine;
use tower::ServiceExt;

/// An unauthenticated GET: status, headers and body text.
async fn fetch(f: &common::Fixture, uri: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = f.app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The lines of the robots.txt group whose `User-agent:` lines name `agent`.
fn group<'a>(robots: &'a str, agent: &str) -> Vec<&'a str> {
    let groups = robots.split("\n\n");
    for g in groups {
        let lines: Vec<&str> = g.lines().filter(|l| !l.starts_with('#')).collect();
        if lines.iter().any(|l| *l == format!("User-agent: {agent}")) {
            return lines;
        }
    }
    panic!("no group for `{agent}` in:\n{robots}");
}

#[tokio::test]
async fn robots_txt_turns_every_known_ai_crawler_away_and_lets_search_engines_read_public_pages() {
    let f = common::fixture("terms-robots", &[], &[], unlimited());
    let (status, headers, robots) = fetch(&f, "/robots.txt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    for agent in builtin_agents() {
        let lines = group(&robots, &agent.name);
        assert!(lines.contains(&"Disallow: /"), "{}: {lines:?}", agent.name);
        for allowed in ["Allow: /robots.txt", "Allow: /.well-known/tdmrep.json", "Allow: /license.xml"] {
            assert!(lines.contains(&allowed), "{}: {lines:?}", agent.name);
        }
        assert!(robots.contains(&format!("#   {}: {}", agent.name, agent.operator)), "{}", agent.name);
    }
    for name in ["GPTBot", "ClaudeBot", "CCBot", "Google-Extended", "Applebot-Extended", "PerplexityBot"] {
        assert!(robots.contains(&format!("User-agent: {name}\n")), "{name} is not named");
    }
    let everyone = group(&robots, "*");
    for line in ["Allow: /", "Disallow: /2/", "Disallow: /internal/", "Disallow: /settings"] {
        assert!(everyone.contains(&line), "{line}: {everyone:?}");
    }
    assert!(!everyone.contains(&"Disallow: /"), "{everyone:?}");
    // What the built-in policy grants a third party by default: search, and
    // no AI use (EU defaults deny AI use; the agreement denies standard apps
    // generative training).
    assert_eq!(robots.matches("Content-Usage: train-ai=n, train-genai=n, search=y\n").count(), 2, "{robots}");
    assert_eq!(robots.matches("Content-Signal: search=yes, ai-input=no, ai-train=no\n").count(), 2, "{robots}");
    assert!(robots.ends_with("License: http://tollgate.test/license.xml\n"), "{robots}");
    // The terms release no posts: nothing is recorded.
    assert!(f.ledger_db.ledger_last().unwrap().is_none());
}

#[tokio::test]
async fn tdmrep_reserves_mining_and_points_at_the_license() {
    let f = common::fixture("terms-tdmrep", &[], &[], unlimited());
    let (status, headers, body) = fetch(&f, "/.well-known/tdmrep.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        value,
        serde_json::json!([{"location": "/*", "tdm-reservation": 1, "tdm-policy": "http://tollgate.test/license.xml"}])
    );
}

#[tokio::test]
async fn the_license_permits_search_prohibits_ai_use_and_licenses_it_through_the_partner_program() {
    let f = common::fixture("terms-license", &[], &[], unlimited());
    let (status, headers, xml) = fetch(&f, "/license.xml").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/rsl+xml");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
    assert!(xml.contains("<rsl xmlns=\"https://rslstandard.org/rsl\">"), "{xml}");
    assert!(xml.contains("<content url=\"/\">"), "{xml}");
    assert!(xml.contains("<permits type=\"usage\">search</permits>"), "{xml}");
    assert!(xml.contains("<prohibits type=\"usage\">ai-input,ai-train</prohibits>"), "{xml}");
    assert!(xml.contains("<permits type=\"usage\">ai-input,ai-train</permits>"), "{xml}");
    assert!(xml.contains("<custom>http://tollgate.test/agreement</custom>"), "{xml}");
}

#[tokio::test]
async fn content_answers_without_a_delivery_carry_the_default_terms_and_deliveries_keep_their_own() {
    let f = common::fixture("terms-headers", &[account(1, "alice", "US")], &[post(1, 1, "hello")], unlimited());
    let (_, token) = f.new_app("reader", Tier::Standard, &[Purpose::Display], &[]);
    // A refused answer of a content endpoint states the platform's terms.
    let (status, headers, _) = f.call("GET", "/2/users/1", "not-a-token", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-usage"], "train-ai=n, train-genai=n, search=y");
    assert_eq!(headers["tdm-reservation"], "1");
    assert_eq!(headers["tdm-policy"], "http://tollgate.test/license.xml");
    let (status, headers, _) = f.call("GET", "/2/users/1/tweets", &token, Some("train-genai"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["content-usage"], "train-ai=n, train-genai=n, search=y");
    // A delivery states what this app may do with what it got.
    let (status, headers, _) = f.call("GET", "/2/users/1/tweets", &token, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-usage"], "train-ai=n");
    assert_eq!(headers["tdm-reservation"], "1");
    // The operational endpoints are no content.
    let (_, headers, _) = fetch(&f, "/healthz").await;
    assert!(headers.get("content-usage").is_none());
}

#[test]
fn a_robots_json_file_replaces_the_agent_list() {
    let policy = PolicyEngine::builtin().unwrap();
    let agents = parse_agents(r#"{"NewBot": {"operator": "[Newco](https://new.example)"}}"#, "robots.json").unwrap();
    let config = TermsConfig {
        ai_agents: agents,
        partner_program_url: Some("https://partners.example/apply".into()),
        crawl_price: None,
    };
    let terms = Terms::new(&policy, &ConsentDefaults::default(), "http://tollgate.test", &config);
    let robots = terms.robots_txt();
    assert!(robots.contains("User-agent: NewBot\n") && robots.contains("#   NewBot: Newco, ai\n"), "{robots}");
    assert!(!robots.contains("GPTBot"), "{robots}");
    assert!(terms.license_xml().contains("<custom>https://partners.example/apply</custom>"));
}
