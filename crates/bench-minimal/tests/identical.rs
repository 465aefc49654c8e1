//! The minimal server answers the benchmark's endpoints with the very bytes
//! Tollgate's router answers, on the same database: the benchmark compares
//! the two servers' speed only because their answers are the same.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tollgate_api::{ApiConfig, ApiState, RateLimits};
use tollgate_deliver::Deliverer;
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, ConsentDefaults, Post, PostId, Purpose, Tier,
    Timestamp,
};
use tollgate_ledger::LedgerWriter;
use tollgate_policy::PolicyEngine;
use tollgate_store::{NewApp, NewKey, Store};
use tollgate_store_sqlite::{PLATFORM_FILE, SqliteOptions, SqliteStore};
use tower::ServiceExt;

const TOKEN: &str = "tg_bench_minimal_test";

/// Texts that exercise JSON escaping: quotes, backslashes, control
/// characters, line breaks, non-ASCII and characters outside the BMP.
const TEXTS: &[&str] = &[
    "plain words",
    "a \"quoted\" word and a back\\slash",
    "line one\nline two\tand a tab\r",
    "control \u{1} \u{1f} and delete \u{7f}",
    "accents: café, naïve, Ærø; CJK 漢字; emoji 🦀🎉",
    "html <b>&amp;</b> and a slash /",
    "\u{2028} line and paragraph \u{2029} separators",
];

fn account(id: u64) -> Account {
    Account {
        id: AccountId(id),
        handle: format!("author{id}"),
        display_name: format!("Author {id}"),
        description: String::new(),
        created_at: Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
        region: "US".into(),
        birth_year: None,
        is_minor: None,
        protected: false,
        status: AccountStatus::Active,
        ai_preferences: AiPreferences::default(),
    }
}

fn post(id: u64, author: u64) -> Post {
    Post {
        id: PostId(id),
        author_id: AccountId(author),
        created_at: Timestamp::from_millis(1_700_000_000_000 + (id % 1_000_000_000) as i64),
        text: format!("{} #{id}", TEXTS[id as usize % TEXTS.len()]),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

/// A platform served by Tollgate's router and by the minimal one, from the
/// same directory.
struct Servers {
    tollgate: axum::Router,
    minimal: axum::Router,
    dir: PathBuf,
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Author 7 has 150 posts (more than a page, ids up to 2^63 - 1), author 8
/// three; author 9 exists and has none.
fn servers(name: &str) -> Servers {
    let dir = std::env::temp_dir().join(format!("bench-minimal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    store.upsert_accounts(&[account(7), account(8), account(9)]).unwrap();
    let mut posts: Vec<Post> = (1..150).map(|n| post(1_800_000_000_000_000_000 + n * 977, 7)).collect();
    posts.push(post(i64::MAX as u64, 7));
    posts.extend((1..=3).map(|n| post(n, 8)));
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
    let app = store
        .create_app(&NewApp {
            name: "bench".into(),
            tier: Tier::FirstParty,
            purposes: vec![Purpose::Display],
            licensed_purposes: vec![],
            agreement_version: Some(1),
            created_at: now,
        })
        .unwrap();
    store
        .add_key(&NewKey {
            app_id: app.id,
            hash: hex::encode(Sha256::digest(TOKEN.as_bytes())),
            prefix: TOKEN[..8].into(),
            created_at: now,
            expires_at: None,
        })
        .unwrap();
    let policy = Arc::new(PolicyEngine::builtin().unwrap());
    let ledger_db = Arc::new(tollgate_ledger::LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger = LedgerWriter::start(ledger_db.clone(), &dir).unwrap();
    let deliverer = Arc::new(Deliverer::new(policy, ledger, ConsentDefaults::default()));
    let config = ApiConfig {
        public_url: "http://tollgate.test".into(),
        internal_token: None,
        rate_limits: RateLimits { window_secs: 900, standard: 0, partner: 0, first_party: 0 },
        http_limits: tollgate_api::HttpLimits::DEFAULT,
        access_log: true,
        health: tollgate_api::HealthLimits::DEFAULT,
    };
    let cache = Arc::new(tollgate_cache::PlatformCache::new(store, tollgate_cache::CacheConfig::DEFAULT).unwrap());
    let tollgate = tollgate_api::router(Arc::new(ApiState::new(cache, ledger_db, deliverer, config)));
    let minimal = bench_minimal::router(dir.join(PLATFORM_FILE));
    Servers { tollgate, minimal, dir }
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let request =
        Request::builder().uri(uri).header("authorization", format!("Bearer {TOKEN}")).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// Asks both servers for `uri` and requires the same status, content type and
/// body bytes.
async fn assert_same(s: &Servers, uri: &str) {
    let (t_status, t_type, t_body) = get(&s.tollgate, uri).await;
    let (m_status, m_type, m_body) = get(&s.minimal, uri).await;
    assert_eq!(t_status, StatusCode::OK, "{uri}: Tollgate answered {t_status}: {}", String::from_utf8_lossy(&t_body));
    assert_eq!(m_status, t_status, "{uri}");
    assert_eq!(m_type, t_type, "{uri}");
    assert_eq!(
        String::from_utf8_lossy(&m_body),
        String::from_utf8_lossy(&t_body),
        "{uri}: the minimal server's body differs from Tollgate's"
    );
    assert_eq!(m_body, t_body, "{uri}");
}

#[tokio::test]
async fn timelines_are_the_same_bytes() {
    let s = servers("timelines");
    // A full page with a next token, a page of the default size, a short
    // page without one, an empty one, an unknown user.
    for uri in [
        "/2/users/7/tweets?max_results=100",
        "/2/users/7/tweets",
        "/2/users/8/tweets?max_results=5",
        "/2/users/9/tweets?max_results=100",
        "/2/users/12345/tweets?max_results=100",
    ] {
        assert_same(&s, uri).await;
    }
}

#[tokio::test]
async fn lookups_are_the_same_bytes() {
    let s = servers("lookups");
    let page: Vec<String> = (1..100).map(|n| (1_800_000_000_000_000_000u64 + n * 977).to_string()).collect();
    let ids = page.join(",");
    let max = i64::MAX;
    for uri in [
        format!("/2/tweets?ids={ids}"),
        // Asked order, duplicates once, unknown and unstorable ids as errors.
        format!("/2/tweets?ids=3,{max},1,3,404,2,9999999999999999999"),
        "/2/tweets?ids=404,405".to_owned(),
        "/2/tweets/2".to_owned(),
        format!("/2/tweets/{max}"),
        "/2/tweets/404".to_owned(),
    ] {
        assert_same(&s, &uri).await;
    }
}
