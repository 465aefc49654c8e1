//! The public pages driven through the whole service (the API's router with
//! the pages and the settings mounted, as `tollgate serve` runs them) with
//! `oneshot`: what a person and an AI crawler get, the ledger's record of
//! each view, the usage terms, pagination, escaping, the hidden link, and
//! that no page shadows an existing route.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tollgate_api::{ApiConfig, ApiState, HttpLimits, RateLimits};
use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_deliver::{Deliverer, Visitor};
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, Category, ConsentDefaults, Post, PostId, Purpose,
    Scope, Timestamp, Tri,
};
use tollgate_ledger::{Channel, Entry, LedgerDb, LedgerWriter, Outcome};
use tollgate_policy::PolicyEngine;
use tollgate_store::Store;
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};
use tollgate_web::jwt::{Expect, Keys};
use tollgate_web::{HiddenLink, PagesState, SessionKey, WebConfig, WebState};
use tower::ServiceExt;

const SCRIPT_TEXT: &str = "<script>alert(\"x\")</script> & 'quoted'";

struct Fixture {
    service: axum::Router,
    ledger_db: Arc<LedgerDb>,
    _ledger: LedgerWriter,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn account(id: u64, handle: &str, name: &str) -> Account {
    Account {
        id: AccountId(id),
        handle: handle.into(),
        display_name: name.into(),
        description: String::new(),
        created_at: Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
        region: "US".into(),
        birth_year: None,
        is_minor: Some(false),
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

/// Post `author * 100 + n`, created on day `n` of 2025 (n from 1).
fn post(author: u64, n: u64) -> Post {
    Post {
        id: PostId(author * 100 + n),
        author_id: AccountId(author),
        created_at: Timestamp::from_millis(
            Timestamp::parse("2025-01-01T12:00:00Z").unwrap().millis() + (n as i64 - 1) * 86_400_000,
        ),
        text: format!("post {n} of {author}"),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

/// Account 1 `Ada`: 25 posts (101..=125), the newest one's text is markup;
/// 2 `bea`: opted out of third-party generative training, 3 posts; 3 `cy`:
/// protected, 1 post; 4 `dee`: 1 deleted post (401).
fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("tollgate-pages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    let mut bea = account(2, "bea", "Bea");
    bea.ai_preferences.set(Category::TrainGenai, Scope::ThirdParties, Tri::Deny, Timestamp::now());
    let mut cy = account(3, "cy", "Cy");
    cy.protected = true;
    store.upsert_accounts(&[account(1, "Ada", "Ada \"<b>\" L."), bea, cy, account(4, "dee", "Dee")]).unwrap();
    let mut posts: Vec<Post> = (1..=25).map(|n| post(1, n)).collect();
    posts[24].text = SCRIPT_TEXT.into();
    posts.extend((1..=3).map(|n| post(2, n)));
    posts.push(post(3, 1));
    let mut deleted = post(4, 1);
    deleted.deleted_at = Some(Timestamp::now());
    posts.push(deleted);
    store.upsert_posts(&posts).unwrap();
    let now = Timestamp::now();
    store
        .publish_agreement(&Agreement {
            version: 1,
            text: "# Agreement v1".into(),
            terms_json: "{}".into(),
            published_at: now,
            grace_until: now,
        })
        .unwrap();
    let policy = Arc::new(PolicyEngine::builtin().unwrap());
    let ledger_db = Arc::new(LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger = LedgerWriter::start(ledger_db.clone(), &dir).unwrap();
    let deliverer = Arc::new(Deliverer::new(policy, ledger.clone(), ConsentDefaults::default()));
    let config = ApiConfig {
        public_url: "http://tollgate.test".into(),
        internal_token: Some("internal".into()),
        rate_limits: RateLimits { window_secs: 900, standard: 0, partner: 0, first_party: 0 },
        http_limits: HttpLimits::DEFAULT,
        access_log: false,
        health: tollgate_api::HealthLimits::DEFAULT,
    };
    let cache = Arc::new(PlatformCache::new(store.clone(), CacheConfig::DEFAULT).unwrap());
    let pages = tollgate_web::pages_router(Arc::new(PagesState::new(
        cache.clone(),
        deliverer.clone(),
        "http://tollgate.test/",
    )));
    let api = Arc::new(ApiState::new(cache, ledger_db.clone(), deliverer.clone(), config));
    let settings = tollgate_web::router(Arc::new(WebState::new(
        store,
        ledger_db.clone(),
        deliverer.defaults().clone(),
        WebConfig {
            keys: Keys {
                hs256_secret: Some(b"a secret of at least thirty-two bytes".to_vec()),
                ed25519_public_key: None,
            },
            expect: Expect::default(),
            session_key: SessionKey([9; 32]),
            session_secs: 3600,
            secure_cookie: false,
            public_url: "http://tollgate.test".into(),
        },
    )));
    let service = tollgate_api::router_with_web(api, Some(settings), Some(pages));
    Fixture { service, ledger_db, _ledger: ledger, dir }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl Fixture {
    async fn get_as(&self, uri: &str, visitor: Option<Visitor>, hidden: Option<&str>) -> Answer {
        let mut request =
            Request::builder().uri(uri).header(header::HOST, "tollgate.test").body(Body::empty()).unwrap();
        // What the guard does in front of the pages: it says who the visitor is.
        if let Some(v) = visitor {
            request.extensions_mut().insert(v);
        }
        if let Some(token) = hidden {
            request.extensions_mut().insert(HiddenLink(token.to_owned()));
        }
        let response = self.service.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.get_as(uri, None, None).await
    }

    fn ledger_len(&self) -> u64 {
        self.ledger_db.ledger_last().unwrap().map_or(0, |r| r.seq + 1)
    }

    fn last_entry(&self) -> Entry {
        Entry::decode(&self.ledger_db.ledger_last().unwrap().unwrap().body).unwrap()
    }
}

fn crawler(purpose: Purpose) -> Visitor {
    Visitor { client: "crawler-1".into(), purpose, licensed: false, guard: None }
}

/// The `rel="next"` link's target, if the page has one.
fn next_link(body: &str) -> Option<String> {
    let at = body.find("rel=\"next\"")?;
    let start = body[..at].rfind("href=\"")? + 6;
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&"))
}

/// The ids of the permalinks on a page, in order.
fn permalinks(body: &str) -> Vec<u64> {
    body.match_indices("/status/")
        .filter_map(|(i, _)| {
            let digits: String = body[i + 8..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

fn assert_reserved_terms(a: &Answer) {
    assert!(a.body.contains("<meta name=\"robots\" content=\"noai, noimageai\">"), "{}", a.body);
    assert!(a.body.contains("<meta name=\"tdm-reservation\" content=\"1\">"), "{}", a.body);
    assert!(a.body.contains("<link rel=\"license\" href=\"http://tollgate.test/license.xml\">"), "{}", a.body);
    assert_eq!(a.header("x-robots-tag"), "noai, noimageai");
    assert_eq!(a.header("tdm-reservation"), "1");
    assert_eq!(a.header("link"), "<http://tollgate.test/license.xml>; rel=\"license\"");
    assert_eq!(a.header("content-usage"), "train-ai=n");
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
}

#[tokio::test]
async fn a_person_reads_an_allowed_post_and_the_view_is_in_the_ledger() {
    let f = fixture("allowed");
    let a = f.get("/bea/status/202").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("<p class=\"text\" lang=\"en\">post 2 of 2</p>"), "{}", a.body);
    assert!(a.body.contains("<title>Bea (@bea) on Tollgate: “post 2 of 2”</title>"), "{}", a.body);
    assert!(a.body.contains("<time datetime=\"2025-01-02T12:00:00.000Z\">"), "{}", a.body);
    assert!(a.body.contains("<a href=\"/bea\" rel=\"author\">Bea</a>"), "{}", a.body);
    assert!(a.body.contains("<a href=\"/bea/status/202\" rel=\"bookmark\">"), "{}", a.body);
    assert_eq!(a.body.matches("<h1").count(), 1);
    assert_reserved_terms(&a);
    assert!(!a.body.contains("/_tg/l/"), "no hidden link unless the guard gives one");

    let entry = f.last_entry();
    assert_eq!(entry.channel, Channel::Web);
    assert_eq!(entry.purpose, Some(Purpose::Display));
    assert_eq!(entry.endpoint, tollgate_web::POST_ENDPOINT);
    assert_eq!(entry.client.as_deref(), Some("anonymous"));
    assert_eq!(entry.outcome, Outcome::Served);
    assert_eq!(entry.posts, vec![PostId(202)]);
    assert_eq!(entry.accounts, vec![AccountId(2)], "the author's profile is released with the post");
    assert!(!a.header("x-request-id").is_empty());
    assert_eq!(entry.request_id, a.header("x-request-id"), "the entry names the response's request id");
}

#[tokio::test]
async fn handles_match_in_any_case_and_a_post_is_only_at_its_authors_handle() {
    let f = fixture("case");
    assert_eq!(f.get("/ADA/status/101").await.status, StatusCode::OK);
    assert_eq!(f.get("/ada/status/101").await.status, StatusCode::OK);
    assert_eq!(f.get("/aDa").await.status, StatusCode::OK);
    let elsewhere = f.get("/bea/status/101").await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert!(!elsewhere.body.contains("post 1 of 1"));
}

#[tokio::test]
async fn a_withheld_post_shows_its_reason_and_no_text() {
    let f = fixture("withheld");
    let a = f.get("/cy/status/301").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("data-reason=\"protected_account\""), "{}", a.body);
    assert!(a.body.contains("<code>protected_account</code>"), "{}", a.body);
    assert!(!a.body.contains("post 1 of 3"), "{}", a.body);
    assert_reserved_terms(&a);
    let entry = f.last_entry();
    assert_eq!(entry.channel, Channel::Web);
    assert!(entry.posts.is_empty());
    assert_eq!(entry.withheld.get("protected_account"), Some(&1));

    let deleted = f.get("/dee/status/401").await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND, "{}", deleted.body);
    assert!(deleted.body.contains("data-reason=\"deleted\""), "{}", deleted.body);
}

#[tokio::test]
async fn an_ai_crawler_gets_no_text_of_an_opted_out_author_and_its_attempt_is_recorded() {
    let f = fixture("crawler");
    let before = f.ledger_len();
    for uri in ["/bea/status/201", "/bea"] {
        let a = f.get_as(uri, Some(crawler(Purpose::TrainGenai)), None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{uri}: {}", a.body);
        assert!(!a.body.contains("post 1 of 2"), "{uri}: {}", a.body);
        assert!(a.body.contains("data-reason=\""), "{uri}: {}", a.body);
        assert_reserved_terms(&a);
        let entry = f.last_entry();
        assert_eq!(entry.channel, Channel::Web);
        assert_eq!(entry.purpose, Some(Purpose::TrainGenai));
        assert_eq!(entry.client.as_deref(), Some("crawler-1"));
        assert!(entry.posts.is_empty());
    }
    assert!(f.ledger_len() > before);
    // The same crawler licensed for training (a paid request) still gets
    // nothing of an author who opted out.
    let licensed = Visitor { licensed: true, ..crawler(Purpose::TrainGenai) };
    let a = f.get_as("/bea/status/201", Some(licensed), None).await;
    assert!(!a.body.contains("post 1 of 2"), "{}", a.body);
    assert!(a.body.contains("data-reason=\"author_opted_out\""), "{}", a.body);
}

#[tokio::test]
async fn a_profile_pages_through_its_posts_newest_first() {
    let f = fixture("pages");
    let first = f.get("/ada").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_reserved_terms(&first);
    let ids = permalinks(&first.body);
    assert_eq!(ids, (106..=125).rev().collect::<Vec<u64>>());
    let entry = f.last_entry();
    assert_eq!((entry.channel, entry.endpoint.as_str()), (Channel::Web, tollgate_web::PROFILE_ENDPOINT));
    assert_eq!(entry.posts.len(), 20);

    let next = next_link(&first.body).expect("a next page");
    assert!(next.starts_with("/Ada?cursor="), "links use the handle as the account spells it: {next}");
    let second = f.get(&next).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(permalinks(&second.body), (101..=105).rev().collect::<Vec<u64>>());
    assert_eq!(next_link(&second.body), None, "the last page has no next one");
    assert!(second.body.contains("<a href=\"/Ada\">Newest posts</a>"));
}

#[tokio::test]
async fn a_bad_cursor_is_a_400_page_and_records_nothing() {
    let f = fixture("cursor");
    let before = f.ledger_len();
    for uri in ["/ada?cursor=nope", "/ada?cursor=AQAAAAAAAAAA", "/ada?cursor=a&cursor=b"] {
        let a = f.get(uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(a.body.contains("<code>cursor</code>"), "{}", a.body);
        assert_reserved_terms(&a);
    }
    assert_eq!(f.ledger_len(), before);
    let cursor = tollgate_web::cursor::encode(PostId(103));
    assert_eq!(f.get(&format!("/ada?cursor={cursor}&utm_source=x")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn everything_from_the_platform_is_escaped() {
    let f = fixture("escape");
    for uri in ["/ada/status/125", "/ada"] {
        let a = f.get(uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert!(!a.body.contains("<script"), "{uri}: {}", a.body);
        assert!(!a.body.contains("<b>"), "{uri}: {}", a.body);
        assert!(
            a.body.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;"),
            "{uri}: {}",
            a.body
        );
        assert!(a.body.contains("Ada &quot;&lt;b&gt;&quot; L."), "{uri}: {}", a.body);
    }
}

#[tokio::test]
async fn an_unknown_handle_or_post_is_a_404_page() {
    let f = fixture("unknown");
    let before = f.ledger_len();
    let a = f.get("/nobody").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("<h1>This page does not exist</h1>"), "{}", a.body);
    assert_reserved_terms(&a);
    assert_eq!(f.ledger_len(), before + 1, "the answered request is recorded, with nothing released");
    assert!(f.last_entry().accounts.is_empty());
    for uri in ["/ada/status/999", "/ada/status/x", "/a.b", "/sixteen_letters_/status/1"] {
        let a = f.get(uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(a.body.contains("<h1>This page does not exist</h1>"), "{uri}: {}", a.body);
    }
}

#[tokio::test]
async fn the_guards_hidden_link_is_rendered_where_no_person_reaches_it() {
    let f = fixture("hidden");
    for uri in ["/ada/status/101", "/ada", "/nobody"] {
        let a = f.get_as(uri, None, Some("t0k\"en")).await;
        assert!(
            a.body.contains(
                "<div hidden aria-hidden=\"true\"><a href=\"/_tg/l/t0k&quot;en\" rel=\"nofollow\" tabindex=\"-1\">"
            ),
            "{uri}: {}",
            a.body
        );
        assert_eq!(a.body.matches("/_tg/l/").count(), 1);
    }
}

#[tokio::test]
async fn no_page_shadows_the_services_own_routes() {
    let f = fixture("routes");
    let robots = f.get("/robots.txt").await;
    assert_eq!(robots.status, StatusCode::OK);
    assert!(robots.header("content-type").starts_with("text/plain"), "{:?}", robots.headers);
    assert!(f.get("/license.xml").await.body.contains("<rsl"));
    assert!(f.get("/.well-known/tdmrep.json").await.body.contains("tdm-reservation"));
    assert_ne!(f.get("/healthz").await.header("content-type"), "text/html; charset=utf-8");
    assert!(f.get("/metrics").await.body.contains("# TYPE"));
    assert!(f.get("/agreement").await.body.contains("# Agreement v1"));
    assert!(f.get("/settings").await.body.contains("settings"));
    let api = f.get("/2/users/1").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.header("content-type"), "application/json");
    assert_eq!(f.get("/2/tweets/search/recent").await.status, StatusCode::UNAUTHORIZED);
    // A handle-shaped path that is no route is a page.
    assert_eq!(f.get("/ada").await.status, StatusCode::OK);
}

#[tokio::test]
async fn pages_answer_get_only() {
    let f = fixture("method");
    let request = Request::builder().method("POST").uri("/ada").body(Body::empty()).unwrap();
    let response = f.service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_licensed_crawler_reading_an_author_who_allows_training_is_told_so_in_meta_and_headers_alike() {
    let f = fixture("licensed");
    let licensed = Visitor { licensed: true, ..crawler(Purpose::TrainGenai) };
    let a = f.get_as("/ada/status/101", Some(licensed), None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("post 1 of 1"), "{}", a.body);
    assert_eq!(a.header("content-usage"), "train-ai=y");
    assert_eq!(a.header("tdm-reservation"), "0");
    assert!(a.body.contains("<meta name=\"tdm-reservation\" content=\"0\">"), "{}", a.body);
    assert_eq!(a.header("x-robots-tag"), "");
    assert!(!a.body.contains("<meta name=\"robots\""), "{}", a.body);
    assert_eq!(a.header("link"), "<http://tollgate.test/license.xml>; rel=\"license\"");
    let entry = f.last_entry();
    assert_eq!((entry.purpose, entry.posts.clone()), (Some(Purpose::TrainGenai), vec![PostId(101)]));
}
