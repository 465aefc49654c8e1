//! The guard in front of keyed API requests: a request on which no signal
//! fired leaves no trace of the guard in its ledger entry (the middleware
//! skips the facts for it), one on which a signal fired carries the guard's
//! facts, and both are served with the continuity cookie. An answer the
//! handler gave without recording it (an unknown key, a malformed
//! parameter) is recorded by the guard, as a refused attempt.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tollgate_api::guard_response::{ChallengeKey, GuardResponses, Price, Tarpit};
use tollgate_api::{ApiConfig, ApiState, GuardRuntime, HttpLimits, RateLimits, router};
use tollgate_cache::{CacheConfig, PlatformCache};
use tollgate_deliver::Deliverer;
use tollgate_domain::{
    Account, AccountId, AccountStatus, Agreement, AiPreferences, ConsentDefaults, Post, PostId, Purpose, Tier,
    Timestamp,
};
use tollgate_guard::{Guard, IdentityConfig, LocalCounters, LocalSizes, Resolver, SignalConfig};
use tollgate_ledger::{Entry, LedgerDb, LedgerWriter, Outcome};
use tollgate_policy::{GuardPolicy, PolicyEngine};
use tollgate_store::{NewApp, NewKey, Store};
use tollgate_store_sqlite::{SqliteOptions, SqliteStore};
use tower::ServiceExt;

struct Served {
    app: axum::Router,
    ledger_db: Arc<LedgerDb>,
    token: String,
    store: Arc<dyn Store>,
    app_id: tollgate_domain::AppId,
    dir: std::path::PathBuf,
    _ledger: LedgerWriter,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One account with one post, one first-party app, and the guard on with
/// `signals`.
fn serve(name: &str, signals: SignalConfig) -> Served {
    let dir = std::env::temp_dir().join(format!("tollgate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir, &SqliteOptions::default()).unwrap());
    store
        .upsert_accounts(&[Account {
            id: AccountId(1),
            handle: "ada".into(),
            display_name: "ADA".into(),
            description: String::new(),
            created_at: Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
            region: "US".into(),
            birth_year: None,
            is_minor: None,
            protected: false,
            status: AccountStatus::Active,
            ai_preferences: AiPreferences::default(),
        }])
        .unwrap();
    store
        .upsert_posts(&[Post {
            id: PostId(101),
            author_id: AccountId(1),
            created_at: Timestamp::from_millis(1_700_000_000_000),
            text: "hello".into(),
            lang: "en".into(),
            in_reply_to: None,
            in_reply_to_user_id: None,
            conversation_id: None,
            no_ai: false,
            deleted_at: None,
        }])
        .unwrap();
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
            name: "reader".into(),
            tier: Tier::FirstParty,
            purposes: vec![Purpose::Display],
            licensed_purposes: vec![],
            agreement_version: Some(1),
            created_at: now,
        })
        .unwrap();
    let token = format!("tg_test_{}", app.id);
    store
        .add_key(&NewKey {
            app_id: app.id,
            hash: hex::encode(Sha256::digest(token.as_bytes())),
            prefix: token[..8].into(),
            created_at: now,
            expires_at: None,
        })
        .unwrap();
    let policy = Arc::new(PolicyEngine::builtin().unwrap());
    let ledger_db = Arc::new(LedgerDb::open(&dir, &SqliteOptions::default()).unwrap());
    let ledger = LedgerWriter::start(ledger_db.clone(), &dir).unwrap();
    let deliverer = Arc::new(Deliverer::new(policy, ledger.clone(), ConsentDefaults::default()));
    let config = ApiConfig {
        public_url: "http://tollgate.test".into(),
        internal_token: None,
        rate_limits: RateLimits { window_secs: 900, standard: 0, partner: 0, first_party: 0 },
        http_limits: HttpLimits::DEFAULT,
        access_log: true,
        health: tollgate_api::HealthLimits::DEFAULT,
    };
    let cache = Arc::new(PlatformCache::new(store.clone(), CacheConfig::DEFAULT).unwrap());
    let counters = Arc::new(LocalCounters::new(LocalSizes::default(), 7));
    let guard = GuardRuntime::new(
        Resolver::new(IdentityConfig::new([1; 32])),
        Guard::new(signals, counters, [2; 32]),
        GuardPolicy::builtin().unwrap(),
        GuardResponses::new("http://tollgate.test", None, Price::DEFAULT),
        Tarpit::new(4, std::time::Duration::from_secs(1)),
        ChallengeKey::new(&[3; 32]),
    );
    let state = Arc::new(ApiState::new(cache, ledger_db.clone(), deliverer, config).with_guard(guard));
    Served { app: router(state), ledger_db, token, store, app_id: app.id, dir, _ledger: ledger }
}

impl Served {
    /// Asks for the post with the app's key: the answer's status, whether
    /// it set a continuity cookie, and the ledger entry it recorded.
    async fn lookup(&self) -> (StatusCode, bool, Entry) {
        let request = Request::builder()
            .uri("/2/tweets/101")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        assert!(response.headers().get("tollgate-guard").is_none(), "the guard answered itself");
        let cookie =
            response.headers().get_all("set-cookie").iter().any(|v| v.to_str().is_ok_and(|v| v.starts_with("tg_id=")));
        response.into_body().collect().await.unwrap();
        let entry = Entry::decode(&self.ledger_db.ledger_last().unwrap().unwrap().body).unwrap();
        (status, cookie, entry)
    }
}

impl Served {
    /// Sends `uri` with `headers`: the answer's status, and the entries the
    /// ledger recorded for it.
    async fn send(&self, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, Vec<Entry>) {
        let before = self.ledger_db.ledger_last().unwrap().map_or(0, |r| r.seq + 1);
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        let rows = self.ledger_db.ledger_read(before, 10).unwrap();
        (status, rows.iter().map(|r| Entry::decode(&r.body).unwrap()).collect())
    }
}

/// The guard looks the key up before the handler does, and the handler
/// takes its lookup: a key revoked before the request began must be refused
/// all the same, though the guard's lookup came first.
#[tokio::test]
async fn a_key_revoked_before_the_request_is_refused_though_the_guard_looked_it_up_first() {
    let served = serve("guard-revoked", SignalConfig::default());
    let bearer = format!("Bearer {}", served.token);
    let (status, _) = served.send("/2/tweets/101", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK, "the key works, and the cache holds it");
    served.store.revoke_keys(served.app_id, None, Timestamp::now()).unwrap();
    let (status, entries) = served.send("/2/tweets/101", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(entries.iter().all(|e| e.posts.is_empty()), "nothing released: {entries:?}");
}

#[tokio::test]
async fn answers_the_handler_did_not_record_are_recorded_as_refused_attempts() {
    let served = serve("guard-unrecorded", SignalConfig::default());
    let bearer = format!("Bearer {}", served.token);

    // An unknown key: the client is anonymous to the guard, and recorded
    // as the actor it was attributed to, with the guard's facts.
    let (status, entries) = served.send("/2/tweets/101", &[("authorization", "Bearer tg_not_a_key")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let [entry] = entries.as_slice() else { panic!("one entry for one answer, got {entries:?}") };
    assert_eq!(entry.outcome, Outcome::Refused("unauthorized".into()));
    assert_eq!(entry.endpoint, "GET /2/tweets/:id");
    assert!(entry.posts.is_empty());
    let facts = entry.guard.as_ref().expect("an anonymous attempt carries the guard's facts");
    assert_eq!(entry.client.as_deref(), Some(facts.actor.as_str()));
    assert_eq!(facts.request, "GET /2/tweets/101");

    // No key at all.
    let (status, entries) = served.send("/2/tweets/101", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, Outcome::Refused("unauthorized".into()));

    // A keyed request with a malformed id: recorded as its app, for the
    // purpose it asked for.
    let (status, entries) = served.send("/2/tweets/abc", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let [entry] = entries.as_slice() else { panic!("one entry for one answer, got {entries:?}") };
    assert_eq!(entry.outcome, Outcome::Refused("invalid_request".into()));
    assert_eq!(entry.app_id.map(|a| a.0), Some(1));
    assert!(entry.key_id.is_some());
    assert_eq!(entry.purpose, Some(Purpose::Display));
    let (status, entries) =
        served.send("/2/tweets/abc", &[("authorization", &bearer), ("tollgate-purpose", "search")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].purpose, Some(Purpose::Search));

    // A served request is recorded once, by its handler.
    let (status, entries) = served.send("/2/tweets/101", &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK);
    let [entry] = entries.as_slice() else { panic!("one entry for one answer, got {entries:?}") };
    assert_eq!(entry.outcome, Outcome::Served);
    assert_eq!(entry.posts, vec![PostId(101)]);
}

#[tokio::test]
async fn a_keyed_request_without_a_signal_records_no_guard_facts() {
    let served = serve("guard-keyed-quiet", SignalConfig::default());
    for _ in 0..3 {
        let (status, cookie, entry) = served.lookup().await;
        assert_eq!(status, StatusCode::OK);
        assert!(!cookie, "a keyed client is known by its key: no continuity cookie");
        assert_eq!(entry.posts, vec![PostId(101)]);
        assert!(entry.guard.is_none(), "no signal fired, yet the entry carries {:?}", entry.guard);
    }
}

#[tokio::test]
async fn a_keyed_request_with_a_signal_records_the_guards_facts() {
    // One request a minute from one address (four on a network of unknown
    // class): the fifth fires `rate-ip`, which the built-in pack lets an
    // app through with.
    let signals = SignalConfig { rate_ip_per_minute: 1, ..SignalConfig::default() };
    let served = serve("guard-keyed-signal", signals);
    for n in 1..=6 {
        let (status, cookie, entry) = served.lookup().await;
        assert_eq!(status, StatusCode::OK);
        assert!(!cookie);
        assert_eq!(entry.posts, vec![PostId(101)]);
        if n <= 4 {
            assert!(entry.guard.is_none(), "request {n}: {:?}", entry.guard);
        } else {
            let facts = entry.guard.unwrap_or_else(|| panic!("request {n} fired rate-ip but recorded no facts"));
            assert_eq!(facts.signals, vec!["rate-ip".to_owned()], "request {n}");
            assert_eq!(facts.action, "allow");
            assert_eq!(facts.basis, vec!["key".to_owned()]);
            assert_eq!(facts.request, "GET /2/tweets/101");
        }
    }
}
