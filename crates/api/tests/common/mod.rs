//! The harness the router-level tests share: a platform in a temporary
//! store, the built-in policy, a real ledger writer, and the router, driven
//! with `oneshot` and no socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_api::{ApiConfig, ApiState, ComplianceConfig, HttpLimits, JobLimits, RateLimits, router};
use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_deliver::Deliverer;
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, AppId, ConsentDefaults, Post, PostId, Purpose, Tier,
    Timestamp,
};
use tollgate_ledger::LedgerWriter;
use tollgate_policy::PolicyEngine;
use tollgate_store::{NewApp, NewKey, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};
use tower::ServiceExt;

/// The internal API's service token in every fixture.
pub const INTERNAL: &str = "internal-secret";

pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub ledger_db: Arc<tollgate_ledger::LedgerDb>,
    pub app: axum::Router,
    /// The state the router serves.
    #[allow(dead_code, reason = "the compliance tests use it; the others share this module and do not")]
    pub state: Arc<ApiState>,
    /// The ledger's writer the router records through.
    #[allow(dead_code, reason = "one test binary stops it; the others share this module and do not")]
    pub ledger: LedgerWriter,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unlimited() -> RateLimits {
    RateLimits { window_secs: 900, standard: 0, partner: 0, first_party: 0 }
}

/// An adult, active, public account with no preferences set.
pub fn account(id: u64, handle: &str, region: &str) -> Account {
    Account {
        id: AccountId(id),
        handle: handle.into(),
        display_name: handle.to_uppercase(),
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

/// Post ids are `author * 100 + n`; times follow ids.
pub fn post(author: u64, n: u64, text: &str) -> Post {
    Post {
        id: PostId(author * 100 + n),
        author_id: AccountId(author),
        created_at: Timestamp::from_millis(1_700_000_000_000 + (author * 100 + n) as i64 * 1000),
        text: text.into(),
        lang: "en".into(),
        in_reply_to: None,
        in_reply_to_user_id: None,
        conversation_id: None,
        no_ai: false,
        deleted_at: None,
    }
}

/// A served platform holding `accounts` and `posts` and agreement version 1.
pub fn fixture(name: &str, accounts: &[Account], posts: &[Post], limits: RateLimits) -> Fixture {
    fixture_with_limits(name, accounts, posts, limits, HttpLimits::DEFAULT)
}

/// `fixture`, serving with the request size limits `http_limits`.
pub fn fixture_with_limits(
    name: &str,
    accounts: &[Account],
    posts: &[Post],
    limits: RateLimits,
    http_limits: HttpLimits,
) -> Fixture {
    fixture_with_options(name, accounts, posts, limits, http_limits, &SqliteOptions::default())
}

/// `fixture_with_limits`, with the store opened with `options`.
pub fn fixture_with_options(
    name: &str,
    accounts: &[Account],
    posts: &[Post],
    limits: RateLimits,
    http_limits: HttpLimits,
    options: &SqliteOptions,
) -> Fixture {
    fixture_with_everything(
        name,
        accounts,
        posts,
        limits,
        http_limits,
        options,
        ComplianceConfig::DEFAULT,
        JobLimits::DEFAULT,
    )
}

/// `fixture_with_options`, taking compliance job uploads up to `job_limits`.
#[allow(dead_code, reason = "the compliance job tests use it; the others share this module and do not")]
pub fn fixture_with_job_limits(
    name: &str,
    accounts: &[Account],
    posts: &[Post],
    limits: RateLimits,
    http_limits: HttpLimits,
    options: &SqliteOptions,
    job_limits: JobLimits,
) -> Fixture {
    fixture_with_everything(name, accounts, posts, limits, http_limits, options, ComplianceConfig::DEFAULT, job_limits)
}

/// `fixture`, with the compliance streams' and webhooks' settings `compliance`.
#[allow(dead_code, reason = "the compliance tests use it; the others share this module and do not")]
pub fn fixture_with_compliance(
    name: &str,
    accounts: &[Account],
    posts: &[Post],
    compliance: ComplianceConfig,
) -> Fixture {
    fixture_with_everything(
        name,
        accounts,
        posts,
        unlimited(),
        HttpLimits::DEFAULT,
        &SqliteOptions::default(),
        compliance,
        JobLimits::DEFAULT,
    )
}

#[expect(clippy::too_many_arguments, reason = "every setting a fixture varies, each callers' wrapper fixing the rest")]
fn fixture_with_everything(
    name: &str,
    accounts: &[Account],
    posts: &[Post],
    limits: RateLimits,
    http_limits: HttpLimits,
    options: &SqliteOptions,
    compliance: ComplianceConfig,
    job_limits: JobLimits,
) -> Fixture {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tollgate-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, options).unwrap());
    store.upsert_accounts(accounts).unwrap();
    store.upsert_posts(posts).unwrap();
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
        internal_token: Some(INTERNAL.into()),
        rate_limits: limits,
        http_limits,
        access_log: true,
        health: tollgate_api::HealthLimits::DEFAULT,
    };
    let cache = Arc::new(PlatformCache::new(store.clone(), CacheConfig::DEFAULT).unwrap());
    let state = Arc::new(
        ApiState::new(cache, ledger_db.clone(), deliverer, config)
            .with_compliance(compliance)
            .with_job_limits(job_limits),
    );
    let app = router(state.clone());
    Fixture { store, ledger_db, app, state, ledger, dir }
}

impl Fixture {
    /// An app on agreement version 1 and its bearer token.
    pub fn new_app(&self, name: &str, tier: Tier, purposes: &[Purpose], licensed: &[Purpose]) -> (AppId, String) {
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
        let token = format!("tg_test_{}_{}", app.id, tier);
        self.store
            .add_key(&NewKey {
                app_id: app.id,
                hash: hex::encode(Sha256::digest(token.as_bytes())),
                prefix: token[..8].into(),
                created_at: Timestamp::now(),
                expires_at: None,
            })
            .unwrap();
        (app.id, token)
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        purpose: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        if let Some(p) = purpose {
            req = req.header("tollgate-purpose", p);
        }
        let req = req.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, value)
    }
}
