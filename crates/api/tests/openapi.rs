//! The OpenAPI contract, checked against the router: the document served at
//! `/2/openapi.json` names exactly the routes `tollgate_api::router` serves
//! (`INVARIANT (routes-documented)`), and states the parts of the contract
//! every content and internal operation shares. What each operation accepts
//! and answers is checked against a running server by the end-to-end
//! contract test (`tests/e2e/test_contract.py`, schemathesis).

#[expect(dead_code, reason = "the shared fixture has helpers for data and apps this file does not need")]
mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{Fixture, account, unlimited};
use serde_json::Value;
use tollgate_domain::Purpose;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn served_document() -> Value {
    let f: Fixture = common::fixture("openapi-test", &[account(1, "ada", "US")], &[], unlimited());
    let (status, _, document) = f.call("GET", "/2/openapi.json", "", None, None).await;
    assert_eq!(status, StatusCode::OK);
    document
}

/// Every (METHOD, path template) the document describes.
fn documented(document: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("`paths` is an object") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The operations of the document: (METHOD, path, operation).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("`paths` is an object") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A `$ref` resolved within the document (one level is all it uses).
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            document.pointer(pointer.trim_start_matches('#')).unwrap_or_else(|| panic!("{pointer} dangles"))
        }
        None => value,
    }
}

fn parameters<'a>(document: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    op["parameters"].as_array().map(|ps| ps.iter().map(|p| resolve(document, p)).collect()).unwrap_or_default()
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let document = served_document().await;
    let served: BTreeSet<(String, String)> =
        tollgate_api::routes().iter().map(|r| (r.method.as_str().to_owned(), r.path.to_owned())).collect();
    assert_eq!(served.len(), tollgate_api::routes().len(), "a route is added twice");
    let documented = documented(&document);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in /2/openapi.json: {undocumented:?}");
    assert!(missing.is_empty(), "in /2/openapi.json but not served: {missing:?}");
}

#[tokio::test]
async fn the_route_table_is_what_the_router_serves() {
    // A documented route the table lists but the router did not get would
    // answer the fallback's 404; every route must reach a handler instead.
    let f: Fixture = common::fixture("openapi-routes-test", &[account(1, "ada", "US")], &[], unlimited());
    for route in tollgate_api::routes() {
        let uri = route.path.replace("{id}", "1").replace("{username}", "ada").replace("{version}", "1");
        let (status, _, body) = f.call(route.method.as_str(), &uri, "", None, None).await;
        let fell_through = status == StatusCode::NOT_FOUND && body["detail"] == "Sorry, that page does not exist";
        assert!(!fell_through, "{} {uri} is not routed", route.method.as_str());
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{} {uri}", route.method.as_str());
    }
}

#[tokio::test]
async fn path_parameters_match_the_templates() {
    let document = served_document().await;
    for (method, path, op) in operations(&document) {
        let in_template: BTreeSet<String> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned)).collect();
        let declared: BTreeSet<String> = parameters(&document, &op)
            .into_iter()
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
            .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(in_template, declared, "{method} {path}");
    }
}

#[tokio::test]
async fn content_operations_state_auth_purpose_and_every_error_status() {
    let document = served_document().await;
    let vocabulary: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
    let mut content = 0;
    let mut compliance_operations = 0;
    for (method, path, op) in operations(&document) {
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} has no responses"));
        // Every error answer has X's shape.
        for (status, response) in responses {
            // (The health check's 503 is a load balancer's answer, with the
            // checks that failed, not an X error.)
            let health = path == "/healthz" && status == "503";
            if (status.starts_with('4') || status.starts_with('5')) && !health {
                let schema = &resolve(&document, response)["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/Problem", "{method} {path} {status}");
            }
        }
        // The edge's limits apply to every route.
        for status in ["414", "431"] {
            assert!(responses.contains_key(status), "{method} {path} does not state {status}");
        }
        // The compliance endpoints (jobs, streams, webhooks, acknowledgements)
        // release no posts: they authenticate an app, but take no purpose.
        let compliance = path.contains("/compliance") || path.starts_with("/2/webhooks");
        if compliance {
            compliance_operations += 1;
        }
        // Compliance jobs: the job routes take the app's token, the signed
        // URLs (upload and download) their signature instead.
        if path.starts_with("/2/compliance/jobs") {
            let signed = path.ends_with("/upload") || path.ends_with("/download");
            let (security, statuses): (Value, &[&str]) = if signed {
                (serde_json::json!([{"signedUrl": []}]), &["200", "400", "401", "404", "409", "410", "503"])
            } else {
                (serde_json::json!([{"bearer": []}]), &["200", "400", "401", "429", "503"])
            };
            assert_eq!(op["security"], security, "{method} {path}");
            for status in statuses {
                assert!(responses.contains_key(*status), "{method} {path} does not state {status}");
            }
            if path.contains("{id}") {
                assert!(responses.contains_key("404"), "{method} {path} does not state 404");
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{method} {path} takes a body but does not state 413");
            }
        } else if compliance {
            assert_eq!(op["security"], serde_json::json!([{"bearer": []}]), "{method} {path}");
            for status in ["200", "400", "401", "503"] {
                assert!(responses.contains_key(status), "{method} {path} does not state {status}");
            }
        }
        if path.starts_with("/2/") && path != "/2/openapi.json" && !compliance {
            content += 1;
            assert_eq!(op["security"], serde_json::json!([{"bearer": []}]), "{method} {path}");
            let purpose = parameters(&document, &op)
                .into_iter()
                .find(|p| p["name"] == "Tollgate-Purpose" && p["in"] == "header")
                .unwrap_or_else(|| panic!("{method} {path} does not take Tollgate-Purpose"));
            assert_eq!(purpose["schema"]["enum"], serde_json::json!(vocabulary), "{method} {path}");
            for status in ["200", "400", "401", "403", "429", "503"] {
                assert!(responses.contains_key(status), "{method} {path} does not state {status}");
            }
        }
        if path.starts_with("/internal/") {
            assert_eq!(op["security"], serde_json::json!([{"internal": []}]), "{method} {path}");
            for status in ["200", "400", "401", "503"] {
                assert!(responses.contains_key(status), "{method} {path} does not state {status}");
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413"), "{method} {path} takes a body but does not state 413");
            }
        }
    }
    assert_eq!(content, 8, "the developer API's content operations");
    assert_eq!(
        compliance_operations, 15,
        "the compliance endpoints: six of jobs, two streams, six of webhooks, acknowledgements"
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["internal"]["scheme"], "bearer");
    assert_eq!(schemes["signedUrl"]["in"], "query");
}

/// The names a list parameter's pattern admits: `^(a|b\.c)(,(a|b\.c))*$`.
fn pattern_names(pattern: &str) -> BTreeSet<String> {
    let alternatives = pattern.strip_prefix("^(").and_then(|p| p.split_once(")(,(")).map(|(a, _)| a);
    let alternatives = alternatives.unwrap_or_else(|| panic!("not a list pattern: {pattern}"));
    alternatives.split('|').map(|n| n.replace("\\.", ".")).collect()
}

/// Each field and expansion list of the document takes exactly the names of
/// `x_names`' table, and names the renamed ones of each generation as it does.
#[tokio::test]
async fn the_field_and_expansion_lists_are_x_names_table() {
    use tollgate_api::x_names::{self, Defined, List};
    let document = served_document().await;
    let parameters = &document["components"]["parameters"];
    for (key, name, list) in [
        ("TweetFields", "tweet.fields", List::PostFields),
        ("PostFields", "post.fields", List::PostFields),
        ("UserFields", "user.fields", List::UserFields),
        ("MediaFields", "media.fields", List::MediaFields),
        ("PlaceFields", "place.fields", List::PlaceFields),
        ("PollFields", "poll.fields", List::PollFields),
        ("TweetExpansions", "expansions", List::PostExpansions),
        ("UserExpansions", "expansions", List::UserExpansions),
    ] {
        let parameter = &parameters[key];
        assert_eq!(parameter["name"], name, "{key}");
        let documented = pattern_names(parameter["schema"]["pattern"].as_str().unwrap_or_default());
        let table: BTreeSet<String> = x_names::list(list).iter().map(|n| n.name.to_owned()).collect();
        assert_eq!(documented, table, "{key}");
        let renamed = |defined: Defined| -> Vec<&str> {
            x_names::list(list).iter().filter(|n| n.twin.is_some() && n.defined == defined).map(|n| n.name).collect()
        };
        let (previous, current) = (renamed(Defined::Previous), renamed(Defined::Current));
        if previous.is_empty() && current.is_empty() {
            assert!(parameter.get("x-tollgate-renamed").is_none(), "{key}");
        } else {
            assert_eq!(parameter["x-tollgate-renamed"]["before 2.167"], serde_json::json!(previous), "{key}");
            assert_eq!(parameter["x-tollgate-renamed"]["2.167"], serde_json::json!(current), "{key}");
        }
        let generation = x_names::lookup(List::Parameters, name).map(|p| p.defined);
        let expected = match generation {
            Some(Defined::Previous) => serde_json::json!("before 2.167"),
            Some(Defined::Current) => serde_json::json!("2.167"),
            _ => Value::Null,
        };
        assert_eq!(parameter.get("x-tollgate-generation").cloned().unwrap_or(Value::Null), expected, "{key}");
    }
}
