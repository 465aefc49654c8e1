//! The settings pages driven through the whole service (the API's router
//! with the pages mounted, as `tollgate serve` runs them) with `oneshot`:
//! sign-in, sessions, CSRF, the forms, escaping, and that a change made on
//! the page is in force for the next API request.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_api::{ApiConfig, ApiState, HttpLimits, RateLimits};
use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_deliver::Deliverer;
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, Category, ConsentDefaults, Notice, NoticeReason, Post,
    PostId, Purpose, Scope, Tier, Timestamp, Tri,
};
use tollgate_ledger::LedgerWriter;
use tollgate_policy::PolicyEngine;
use tollgate_store::{NewApp, NewKey, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};
use tollgate_web::jwt::{self, Expect, Keys};
use tollgate_web::{SessionKey, WebConfig, WebState};
use tower::ServiceExt;

const SECRET: &[u8] = b"the platform's secret of 32 bytes or more";

struct Fixture {
    store: Arc<dyn Store>,
    service: axum::Router,
    _ledger: LedgerWriter,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn account(id: u64, handle: &str, name: &str, region: &str) -> Account {
    Account {
        id: AccountId(id),
        handle: handle.into(),
        display_name: name.into(),
        description: String::new(),
        created_at: Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
        region: region.into(),
        birth_year: None,
        is_minor: None,
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
        text: format!("post {n}"),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

/// Account 1: an adult in the US (default: allow), with a name that is
/// markup; 2: an adult in Germany (default: deny); 3: a minor. Five posts
/// each, on the first five days of 2025.
fn fixture(name: &str, secure_cookie: bool) -> Fixture {
    fixture_with_keys(name, secure_cookie, Keys { hs256_secret: Some(SECRET.to_vec()), ed25519_public_key: None })
}

/// `fixture`, checking sign-in tokens with `keys`.
fn fixture_with_keys(name: &str, secure_cookie: bool, keys: Keys) -> Fixture {
    let dir = std::env::temp_dir().join(format!("tollgate-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    let mut minor = account(3, "kid", "Kid", "US");
    minor.is_minor = Some(true);
    store
        .upsert_accounts(&[
            account(1, "ada", "<script>alert(1)</script> & Ada", "US"),
            account(2, "bea", "Bea", "DE"),
            minor,
        ])
        .unwrap();
    store.upsert_posts(&(1..=3).flat_map(|a| (1..=5).map(move |n| post(a, n))).collect::<Vec<_>>()).unwrap();
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
    let ledger_db = Arc::new(tollgate_ledger::LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
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
    let api = Arc::new(ApiState::new(cache, ledger_db.clone(), deliverer.clone(), config));
    let web = WebState::new(
        store.clone(),
        ledger_db,
        deliverer.defaults().clone(),
        WebConfig {
            keys,
            expect: Expect::default(),
            session_key: SessionKey([9; 32]),
            session_secs: 3600,
            secure_cookie,
            public_url: "http://tollgate.test".into(),
        },
    );
    let service = tollgate_api::router_with_settings(api, Some(tollgate_web::router(Arc::new(web))));
    Fixture { store, service, _ledger: ledger, dir }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.service.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Answer {
        let mut req = Request::builder().uri(uri).header(header::HOST, "tollgate.test");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, cookie: &str, form: &str, extra: &[(&str, &str)]) -> Answer {
        let mut req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::HOST, "tollgate.test")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap()).await
    }

    /// Signs in as `account`; returns the `Cookie` header value and the page's CSRF token.
    async fn sign_in(&self, account: u64) -> (String, String) {
        let token = jwt::issue_hs256(SECRET, AccountId(account), Timestamp::now().seconds(), 300, None, None);
        let a = self.get(&format!("/settings/sign-in?token={token}"), None).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let set = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = self.get("/settings", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        (cookie, csrf_of(&page.body))
    }

    fn preference(&self, account: u64, c: Category, s: Scope) -> Tri {
        self.store.account(AccountId(account)).unwrap().unwrap().ai_preferences.get(c, s).value
    }

    fn app(&self, name: &str, tier: Tier, purposes: &[Purpose], licensed: &[Purpose]) -> String {
        let app = self
            .store
            .create_app(&NewApp {
                name: name.into(),
                tier,
                purposes: purposes.to_vec(),
                licensed_purposes: licensed.to_vec(),
                agreement_version: Some(1),
                created_at: Timestamp::now(),
            })
            .unwrap();
        let token = format!("tg_test_{}", app.id);
        self.store
            .add_key(&NewKey {
                app_id: app.id,
                hash: hex::encode(Sha256::digest(token.as_bytes())),
                prefix: token[..8].into(),
                created_at: Timestamp::now(),
                expires_at: None,
            })
            .unwrap();
        token
    }

    async fn api(&self, uri: &str, token: &str, purpose: &str) -> Value {
        let req = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header("tollgate-purpose", purpose)
            .body(Body::empty())
            .unwrap();
        let a = self.send(req).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_owned()
}

const ALL_UNSET: &str = "unset,unset,unset,unset,unset,unset";

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_token_begins_a_session_with_a_locked_down_cookie() {
    let f = fixture("sign-in", false);
    let token = jwt::issue_hs256(SECRET, AccountId(2), Timestamp::now().seconds(), 300, None, None);
    let a = f.get(&format!("/settings/sign-in?token={token}"), None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/settings?status=signed-in");
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    for part in ["tollgate_settings=2.", "Path=/settings", "HttpOnly", "SameSite=Lax", "Max-Age=3600"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "a loopback listener has no HTTPS: {cookie}");
    let page = f.get("/settings?status=signed-in", Some(cookie.split(';').next().unwrap())).await;
    assert!(page.body.contains("role=\"status\"><p>You are signed in.</p>"));
    assert!(page.body.contains("Signed in as <strong>Bea</strong>"));

    let secure = fixture("sign-in-secure", true);
    let a = secure.get(&format!("/settings/sign-in?token={token}"), None).await;
    assert!(a.headers[header::SET_COOKIE].to_str().unwrap().ends_with("; Secure"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_forged_and_malformed_tokens_get_401_and_no_session() {
    let f = fixture("bad-tokens", false);
    let now = Timestamp::now().seconds();
    let expired = jwt::issue_hs256(SECRET, AccountId(1), now - 1000, 300, None, None);
    let forged = jwt::issue_hs256(b"another secret entirely, 32+ bytes", AccountId(1), now, 300, None, None);
    let long = jwt::issue_hs256(SECRET, AccountId(1), now, 86_400, None, None);
    let genuine = jwt::issue_hs256(SECRET, AccountId(1), now, 300, None, None);
    let claims = genuine.split('.').nth(1).unwrap();
    // {"alg":"none"}, the genuine claims, no signature.
    let none = format!("eyJhbGciOiJub25lIn0.{claims}.");
    let unknown = jwt::issue_hs256(SECRET, AccountId(99), now, 300, None, None);
    for (token, says) in [
        (expired.as_str(), "has expired"),
        (forged.as_str(), "signature is not valid"),
        (long.as_str(), "longer than a sign-in link may be"),
        (none.as_str(), "algorithm `none`"),
        ("not-a-token", "malformed"),
        ("", "holds no token"),
        (unknown.as_str(), "does not know"),
    ] {
        let a = f.get(&format!("/settings/sign-in?token={token}"), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(a.headers.get(header::SET_COOKIE).is_none(), "{token}");
        assert!(a.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{token}");
        assert!(a.body.contains(says), "{says} in {}", a.body);
    }
    let a = f.get("/settings", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("You are not signed in"));
    let forged_cookie = "tollgate_settings=1.9999999999.00000000000000000000000000000000.00";
    assert_eq!(f.get("/settings", Some(forged_cookie)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_value_on_the_page_is_escaped() {
    let f = fixture("escaping", false);
    let (cookie, _) = f.sign_in(1).await;
    let page = f.get("/settings", Some(&cookie)).await;
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Ada"), "{}", page.body);
    assert!(!page.body.contains("<script"), "no markup from data, and no script of its own");
    assert!(page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'none'"));
    // Not `no-referrer`, under which browsers send `Origin: null` with the page's own forms.
    assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
    // What a form sent back is escaped too.
    let a = f
        .post(
            "/settings/posts",
            &cookie,
            &format!("csrf={}&which=range&from=%3Cb%3Ex&until=&no_ai=true", csrf_of(&page.body)),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("`&lt;b&gt;x` is not a date"), "{}", a.body);
    assert!(!a.body.contains("<b>x"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_without_its_sessions_csrf_token_or_from_another_site_changes_nothing() {
    let f = fixture("csrf", false);
    let (cookie, csrf) = f.sign_in(1).await;
    let (other_cookie, other_csrf) = f.sign_in(1).await;
    assert_ne!(csrf, other_csrf);
    let change = "train-genai.third-parties=deny";
    let right = format!("csrf={csrf}&shown={ALL_UNSET}&{change}");
    // (form, extra headers): each refused with 403.
    let cases = [
        (format!("shown={ALL_UNSET}&{change}"), vec![]),
        (format!("csrf=&shown={ALL_UNSET}&{change}"), vec![]),
        (format!("csrf={other_csrf}&shown={ALL_UNSET}&{change}"), vec![]),
        (right.clone(), vec![("origin", "https://evil.example")]),
        (right.clone(), vec![("origin", "null")]),
        (right.clone(), vec![("sec-fetch-site", "cross-site")]),
    ];
    for (form, extra) in &cases {
        let a = f.post("/settings/preferences", &cookie, form, extra).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form} {extra:?}: {}", a.body);
        assert!(a.body.contains("Nothing was changed"));
    }
    assert_eq!(f.preference(1, Category::TrainGenai, Scope::ThirdParties), Tri::Unset);
    // No session at all.
    let a = f.post("/settings/preferences", "", &format!("csrf={csrf}&shown={ALL_UNSET}&{change}"), &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.preference(1, Category::TrainGenai, Scope::ThirdParties), Tri::Unset);
    // The other session's own token, from the same origin, works.
    let a = f
        .post(
            "/settings/preferences",
            &other_cookie,
            &format!("csrf={other_csrf}&shown={ALL_UNSET}&{change}"),
            &[("origin", "http://tollgate.test"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(f.preference(1, Category::TrainGenai, Scope::ThirdParties), Tri::Deny);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_preference_forms_get_400_and_change_nothing() {
    let f = fixture("bad-prefs", false);
    let (cookie, csrf) = f.sign_in(1).await;
    for form in [
        format!("csrf={csrf}&shown={ALL_UNSET}&train-genai.third-parties=deny&train-ai.first-party=sometimes"),
        format!("csrf={csrf}&shown={ALL_UNSET}&train-genai.third-parties=deny&train-genai.everyone=deny"),
        format!("csrf={csrf}&train-genai.third-parties=deny"),
        format!("csrf={csrf}&shown={ALL_UNSET}&train-genai.third-parties=deny&train-genai.third-parties=allow"),
    ] {
        let a = f.post("/settings/preferences", &cookie, &form, &[]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{form}");
        assert!(a.body.contains("Nothing was changed"));
        assert_eq!(f.preference(1, Category::TrainGenai, Scope::ThirdParties), Tri::Unset, "{form}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preference_changed_on_the_page_is_in_force_for_the_next_api_request() {
    let f = fixture("in-force", false);
    let partner = f.app("Acme Models", Tier::Partner, &[Purpose::Display, Purpose::TrainGenai], &[Purpose::TrainGenai]);
    let uri = "/2/users/1/tweets?max_results=5";
    // Ada is in the US with nothing set: the default allows training.
    let before = f.api(uri, &partner, "train-genai").await;
    assert_eq!(before["meta"]["result_count"], 5, "{before}");
    let (cookie, csrf) = f.sign_in(1).await;
    let page = f.get("/settings", Some(&cookie)).await;
    assert!(page.body.contains("Acme Models"), "the report names the app that received the posts");
    assert!(page.body.contains("training generative AI"));
    let a = f
        .post(
            "/settings/preferences",
            &cookie,
            &format!("csrf={csrf}&shown={ALL_UNSET}&train-genai.third-parties=deny"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/settings?status=saved");
    let after = f.api(uri, &partner, "train-genai").await;
    assert!(after.get("data").is_none(), "every post withheld: {after}");
    assert_eq!(after["meta"]["result_count"], 0, "{after}");
    // The same form sent again changes nothing more.
    let shown = "unset,deny,unset,unset,unset,unset";
    let a = f
        .post(
            "/settings/preferences",
            &cookie,
            &format!("csrf={csrf}&shown={shown}&train-genai.third-parties=deny"),
            &[],
        )
        .await;
    assert_eq!(a.headers[header::LOCATION], "/settings?status=unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_of_a_date_range_are_marked_and_the_api_withholds_them() {
    let f = fixture("no-ai", false);
    let partner = f.app("Acme Models", Tier::Partner, &[Purpose::TrainGenai], &[Purpose::TrainGenai]);
    let (cookie, csrf) = f.sign_in(1).await;
    // Days 2 to 4 of 2025: three of the five posts.
    let a = f
        .post(
            "/settings/posts",
            &cookie,
            &format!("csrf={csrf}&which=range&from=2025-01-02&until=2025-01-04&no_ai=true"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], "/settings?status=posts&changed=3&no_ai=true");
    let marked: Vec<u64> = f
        .store
        .posts(&(101..=105).map(PostId).collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .filter(|p| p.no_ai)
        .map(|p| p.id.0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(marked, [102, 103, 104]);
    let page = f.get("/settings?status=posts&changed=3&no_ai=true", Some(&cookie)).await;
    assert!(page.body.contains("3 posts are now marked"));
    let got = f.api("/2/users/1/tweets?max_results=5", &partner, "train-genai").await;
    let ids: Vec<&str> = got["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["105", "101"]);
    // All posts, unmarked again.
    let a = f.post("/settings/posts", &cookie, &format!("csrf={csrf}&which=all&from=&until=&no_ai=false"), &[]).await;
    assert_eq!(a.headers[header::LOCATION], "/settings?status=posts&changed=3&no_ai=false");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_date_is_a_400_tied_to_its_field_and_changes_nothing() {
    let f = fixture("bad-date", false);
    let (cookie, csrf) = f.sign_in(1).await;
    let a = f
        .post(
            "/settings/posts",
            &cookie,
            &format!("csrf={csrf}&which=range&from=2025-01-05&until=2025-01-01&no_ai=true"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("role=\"alert\""));
    assert!(a.body.contains("<p class=\"error\" id=\"until-error\">"), "{}", a.body);
    assert!(a.body.contains("aria-describedby=\"until-hint until-error\" aria-invalid=\"true\""));
    assert!(a.body.contains("value=\"2025-01-05\""), "the form keeps what was sent");
    assert!(f.store.posts(&[PostId(101), PostId(105)]).unwrap().iter().all(|p| !p.no_ai));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_explains_the_regional_default_and_the_minor_rule() {
    let f = fixture("explain", false);
    let (eu, _) = f.sign_in(2).await;
    let page = f.get("/settings", Some(&eu)).await;
    assert!(page.body.contains("Your region, DE, is one where the default is deny"), "{}", page.body);
    assert!(page.body.contains("Platform default (now: deny)"));
    let (us, _) = f.sign_in(1).await;
    assert!(f.get("/settings", Some(&us)).await.body.contains("For your region, US, the default is allow"));
    let (kid, _) = f.sign_in(3).await;
    let page = f.get("/settings", Some(&kid)).await;
    assert!(page.body.contains("Your account belongs to a minor."));
    assert!(page.body.contains("never used for any AI purpose"));
    assert!(!page.body.contains("<td>Allowed</td>"));
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_out_ends_the_session() {
    let f = fixture("sign-out", false);
    let (cookie, csrf) = f.sign_in(1).await;
    let a = f.post("/settings/sign-out", &cookie, &format!("csrf={csrf}"), &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/settings/signed-out");
    assert!(a.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(f.get("/settings", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED, "the old cookie is refused");
    assert_eq!(f.get("/settings/signed-out", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_leave_the_api_as_it_was() {
    let f = fixture("api-intact", false);
    let a = f.get("/settings/nothing-here", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let a = f.get("/2/nothing-here", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let a = f.get("/settings/preferences", None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(a.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let a = f.get("/settings/", None).await;
    assert_eq!((a.status, &a.headers[header::LOCATION]), (StatusCode::SEE_OTHER, &"/settings".parse().unwrap()));
    let css = f.get("/settings/style.css", None).await;
    assert!(css.body.contains(":focus-visible"));
    assert!(!tollgate_api::routes().iter().any(|r| r.path.starts_with("/settings")), "not in the OpenAPI route table");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eddsa_token_signs_in_where_only_the_platforms_public_key_is_configured() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::{Signer, SigningKey};

    let platform = SigningKey::from_bytes(&[3u8; 32]);
    let keys = Keys { hs256_secret: None, ed25519_public_key: Some(platform.verifying_key()) };
    let f = fixture_with_keys("eddsa", false, keys);
    let now = Timestamp::now().seconds();
    let claims = serde_json::json!({ "sub": "2", "iat": now, "exp": now + 120 }).to_string();
    let signed =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#), URL_SAFE_NO_PAD.encode(claims));
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(platform.sign(signed.as_bytes()).to_bytes()));
    let a = f.get(&format!("/settings/sign-in?token={token}"), None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // An HS256 token is refused here, whatever secret signed it.
    let hs = jwt::issue_hs256(SECRET, AccountId(2), now, 120, None, None);
    let a = f.get(&format!("/settings/sign-in?token={hs}"), None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("algorithm `HS256`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_lists_what_apps_were_asked_to_do_per_app() {
    let f = fixture("requests", false);
    let partner = f.app("Acme Models", Tier::Partner, &[Purpose::TrainGenai], &[Purpose::TrainGenai]);
    f.api("/2/users/1/tweets?max_results=5", &partner, "train-genai").await;
    let (cookie, _) = f.sign_in(1).await;
    assert!(f.get("/settings", Some(&cookie)).await.body.contains("No app has been asked to do anything"));
    let app = f.store.apps().unwrap().into_iter().find(|a| a.name == "Acme Models").unwrap().id;
    let now = Timestamp::now();
    let hour = 3_600_000;
    let notice = |seq: u64, reason: NoticeReason, deadline: i64| Notice {
        app_id: app,
        event_seq: seq,
        event_time: now,
        event: "test".into(),
        account_id: AccountId(1),
        post_id: Some(PostId(101)),
        reason: Some(reason),
        deadline: Some(Timestamp::from_millis(now.millis() + deadline)),
        acked_at: None,
    };
    f.store
        .open_notices(
            "test",
            3,
            &[
                notice(1, NoticeReason::AiConsentWithdrawn, 24 * hour),
                notice(2, NoticeReason::AiConsentWithdrawn, -hour),
                notice(3, NoticeReason::Deleted, 24 * hour),
            ],
        )
        .unwrap();
    let acks = tollgate_store::NoticeAcks { event_seqs: vec![3], ..tollgate_store::NoticeAcks::default() };
    f.store.ack_notices(app, &acks, now).unwrap();
    let page = f.get("/settings", Some(&cookie)).await.body;
    assert!(
        page.contains("<tr><th scope=\"row\">Acme Models</th><td>delete its copies</td><td>0</td><td>1</td><td>0</td>"),
        "{page}"
    );
    assert!(
        page.contains(
            "<tr><th scope=\"row\">Acme Models</th><td>stop using them for AI</td><td>1</td><td>0</td><td>1</td>"
        ),
        "{page}"
    );
}
