//! The developer API (X API v2 shapes), the platform-facing internal API, and
//! the operational endpoints, as one axum `Router`.
//!
//! `router(state)` builds the whole service, so tests drive it with
//! `tower::ServiceExt::oneshot` without a socket. Handlers never filter posts
//! themselves: they fetch candidates from the store and hand them to
//! `tollgate_deliver::Deliverer`, the one path that decides and records.

mod access;
mod audit;
mod compliance_jobs;
mod content;
mod edge;
mod error;
mod guard;
pub mod guard_response;
mod health;
mod internal;
mod metrics;
pub mod obligations;
mod params;
mod query;
mod ratelimit;
mod render;
mod routes;
mod streams;
pub mod terms;
mod webhooks;
pub mod x_names;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_cache::PlatformCache;
use tollgate_deliver::Deliverer;
use tollgate_store::Store;

pub use access::{ACCESS_TARGET, RequestId};
pub use compliance_jobs::JobLimits;
pub use edge::HttpLimits;
pub use error::{ApiError, Failed};
pub use guard::GuardRuntime;
pub use health::HealthLimits;
pub use metrics::Metrics;
/// The pagination tokens of `next_token` and `pagination_token`, public for
/// the fuzz targets (crates/fuzz), which check that decoding never panics and
/// that every token it accepts is the one `encode` gives.
pub use params::token as pagination_token;
pub use query::{MAX_GROUP_DEPTH, MAX_QUERY_LEN, parse as parse_query};
pub use ratelimit::{RateLimiter, RateLimits};
pub use routes::{Method, Route};
pub use streams::ComplianceConfig;
pub use webhooks::{SECRET_HEADER as WEBHOOK_SECRET_HEADER, SIGNATURE_HEADER as WEBHOOK_SIGNATURE_HEADER, signature};

/// Starts the deliverer of webhooks on the current runtime; it stops with
/// `ApiState::close_streams`.
pub fn start_webhooks(state: Arc<ApiState>) -> tokio::task::JoinHandle<()> {
    webhooks::start(state)
}

use routes::Table;

/// Settings the API needs from configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The address clients reach this server at, for links in responses.
    pub public_url: String,
    /// The bearer token of `/internal/`; the internal API is off without one.
    pub internal_token: Option<String>,
    pub rate_limits: RateLimits,
    /// Sizes of requests the server takes (`max_body_bytes`, ...).
    pub http_limits: HttpLimits,
    /// Whether every request is logged (target `tollgate::access`).
    pub access_log: bool,
    /// When `/healthz` calls the ledger unhealthy.
    pub health: HealthLimits,
}

pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// The store's copy of the ledger and its audit index, which the audit
    /// questions read.
    pub ledger_db: Arc<tollgate_ledger::LedgerDb>,
    /// The platform data every content request reads, kept current by the
    /// store's change log (`tollgate-cache`).
    pub cache: Arc<PlatformCache>,
    pub deliverer: Arc<Deliverer>,
    pub config: ApiConfig,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    /// The sizes a compliance job's upload may have.
    pub job_limits: JobLimits,
    /// The key the ledger's checkpoints are signed with, published at
    /// `/.well-known/tollgate-ledger-key`; set once, when the ledger starts.
    ledger_key: std::sync::OnceLock<tollgate_ledger::PublicKey>,
    /// The fan-out of notices to the connected compliance streams.
    streams: streams::Hub,
    /// Wakes the deliverer of webhooks (a replay, a webhook checked again).
    webhooks_wake: tokio::sync::Notify,
    /// The platform's terms in machine-readable forms, generated once from
    /// the policy and its defaults (`terms`).
    terms: terms::Terms,
    /// The guard, when it is on (`with_guard`).
    guard: Option<Arc<guard::GuardRuntime>>,
    instance: String,
    next_request: AtomicU64,
}

impl ApiState {
    pub fn new(
        cache: Arc<PlatformCache>,
        ledger_db: Arc<tollgate_ledger::LedgerDb>,
        deliverer: Arc<Deliverer>,
        config: ApiConfig,
    ) -> ApiState {
        let mut seed = [0u8; 4];
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        seed.copy_from_slice(&(nanos as u32 ^ std::process::id()).to_le_bytes());
        let terms =
            terms::Terms::new(deliverer.policy(), deliverer.defaults(), &config.public_url, &Default::default());
        ApiState {
            store: Arc::clone(cache.store()),
            ledger_db,
            cache,
            deliverer,
            limiter: RateLimiter::new(config.rate_limits),
            config,
            metrics: Metrics::default(),
            job_limits: JobLimits::DEFAULT,
            ledger_key: std::sync::OnceLock::new(),
            streams: streams::Hub::new(ComplianceConfig::DEFAULT),
            webhooks_wake: tokio::sync::Notify::new(),
            terms,
            guard: None,
            instance: hex::encode(seed),
            next_request: AtomicU64::new(1),
        }
    }

    /// The same state with other compliance job upload limits (for tests of
    /// the limits without uploads of a hundred megabytes).
    pub fn with_job_limits(mut self, limits: JobLimits) -> ApiState {
        self.job_limits = limits;
        self
    }

    /// Publishes the ledger's public key (the first key set stays).
    pub fn publish_ledger_key(&self, key: tollgate_ledger::PublicKey) {
        let _ = self.ledger_key.set(key);
    }

    /// Tells whoever waits for notices (compliance streams, webhooks) that
    /// every node has opened those of the events up to `upto`.
    pub fn notices_opened(&self, upto: u64) {
        self.streams.progress().send_if_modified(|seen| {
            let newer = upto > *seen;
            *seen = (*seen).max(upto);
            newer
        });
    }

    /// The same state with the compliance streams' and webhooks' settings `config`.
    pub fn with_compliance(mut self, config: ComplianceConfig) -> ApiState {
        self.streams = streams::Hub::new(config);
        self
    }

    /// The same state with the terms generated from `config` (the AI
    /// crawlers robots.txt names, the partner program's address).
    pub fn with_terms(mut self, config: &terms::TermsConfig) -> ApiState {
        self.terms =
            terms::Terms::new(self.deliverer.policy(), self.deliverer.defaults(), &self.config.public_url, config);
        self
    }

    /// The same state with the guard judging every request for content,
    /// for the terms and for the guard's own paths (docs/guard.md).
    pub fn with_guard(mut self, guard: GuardRuntime) -> ApiState {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// The terms in force: what robots.txt disallows, and to whom.
    pub fn terms(&self) -> &terms::Terms {
        &self.terms
    }

    /// A sender of the notices' progress: whatever opens notices sends the
    /// sequence number up to which it opened them (`Store::open_notices`'s
    /// `upto`) once they are durable, and the compliance streams read them at
    /// once. Without it they still find them, within `poll_interval`.
    pub fn notices_progress(&self) -> tokio::sync::watch::Sender<u64> {
        self.streams.progress()
    }

    /// Ends every compliance stream (each with an error line naming where to
    /// resume) and refuses none after: called when the server stops, since
    /// a stream never finishes on its own.
    pub fn close_streams(&self) {
        self.streams.close();
    }

    /// How many compliance stream clients are connected.
    pub fn stream_clients(&self) -> usize {
        self.streams.clients()
    }

    /// A request id unique to this process run: instance prefix and counter.
    fn request_id(&self) -> RequestId {
        RequestId::new(&self.instance, self.next_request.fetch_add(1, Ordering::Relaxed))
    }
}

/// Runs a blocking store call without holding up the async worker's other
/// requests (see `tollgate_cache::offload`).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tollgate_cache::offload(f)
}

/// Every route the service answers, in the order `router` adds them: the
/// list the OpenAPI contract test checks `/2/openapi.json` against.
pub fn routes() -> Vec<Route> {
    table().finish().1
}

/// The routes of the developer API, the operational endpoints, the internal
/// API and its audit queries, added to one table (see `routes.rs`).
fn table() -> Table {
    use Method::Get;
    let table = Table::new()
        .add(Get, "/2/tweets", content::tweets_lookup)
        .add(Get, "/2/tweets/search/recent", content::search_recent)
        .add(Get, "/2/tweets/{id}", content::tweet_lookup)
        .add(Get, "/2/users", content::users_lookup)
        .add(Get, "/2/users/by", content::users_by_usernames)
        .add(Get, "/2/users/by/username/{username}", content::user_by_username)
        .add(Get, "/2/users/{id}", content::user_lookup)
        .add(Get, "/2/users/{id}/tweets", content::user_timeline)
        .add(Get, "/2/tweets/compliance/stream", streams::tweets_stream)
        .add(Get, "/2/users/compliance/stream", streams::users_stream)
        .add(Get, "/2/openapi.json", openapi)
        .add(Get, "/healthz", healthz)
        .add(Get, "/metrics", metrics)
        .add(Get, "/agreement", agreement_latest)
        .add(Get, "/agreement/{version}", agreement_version)
        .add(Get, "/.well-known/tollgate-ledger-key", ledger_key)
        .add(Get, "/robots.txt", terms::robots)
        .add(Get, "/.well-known/tdmrep.json", terms::tdmrep)
        .add(Get, "/license.xml", terms::license);
    obligations::routes(webhooks::routes(audit::routes(internal::routes(compliance_jobs::routes(table)))))
}

/// The whole service.
pub fn router(state: Arc<ApiState>) -> Router {
    router_with_settings(state, None)
}

/// The whole service, with the account holders' settings pages
/// (`tollgate_web::router`) answering every path under `/settings` behind
/// the same edge, access log and limits. Those pages are HTML, not part of
/// the developer API: they are not in the route table or the OpenAPI document.
pub fn router_with_settings(state: Arc<ApiState>, settings: Option<Router>) -> Router {
    router_with_web(state, settings, None)
}

/// `router_with_settings`, with the public pages too
/// (`tollgate_web::pages_router`): `/{handle}` and `/{handle}/status/{id}`,
/// behind the same edge. Every static route of the table wins over those
/// patterns (axum prefers a static segment to a parameter), so no page can
/// shadow an endpoint; the pages answer their own 404 for a path that is
/// not a handle. Each page request carries its id (`RequestTag`) for the
/// ledger entry, as the API's handlers do.
pub fn router_with_web(state: Arc<ApiState>, settings: Option<Router>, pages: Option<Router>) -> Router {
    let limits = state.config.http_limits;
    let access_log = state.config.access_log;
    let front = state.clone();
    let (mut routes, _) = table().finish();
    if let Some(pages) = settings {
        routes = routes
            .route_service("/settings", pages.clone())
            .route_service("/settings/", pages.clone())
            .route_service("/settings/{*page}", pages);
    }
    if let Some(pages) = pages {
        let pages = pages.layer(axum::middleware::from_fn(access::tag_request));
        routes = routes.route_service("/{handle}", pages.clone()).route_service("/{handle}/status/{id}", pages);
    }
    routes
        .route_layer(axum::middleware::from_fn(access::route))
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        // The access log, then the edge's limits, then the guard: one layer
        // calling the three in turn, not three layers (each of axum's
        // `from_fn` layers boxes the request's future and clones the service
        // inside it on every request).
        .layer(axum::middleware::from_fn(move |request: axum::extract::Request, next: axum::middleware::Next| {
            let state = front.clone();
            access::observe(state.clone(), access_log, request, move |request| {
                edge::edge(limits, request, move |request| {
                    guard::guard(state, request, move |request| next.run(request))
                })
            })
        }))
        .with_state(state)
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked; the request was answered with 500");
    let body = serde_json::json!({
        "title": "Internal Error", "detail": "The server failed to answer this request.", "type": "about:blank", "status": 500,
    });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

async fn not_found() -> ApiError {
    access::note_unrouted();
    ApiError::NotFound("Sorry, that page does not exist".into())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

async fn healthz(State(state): State<Arc<ApiState>>) -> Response {
    health::healthz(&state).await
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let mut body =
        state.metrics.render(state.deliverer.ledger_stats(), health::index_lag(&state).await, state.cache.stats());
    body.push_str(&format!(
        "# HELP tollgate_compliance_stream_clients Compliance stream clients connected.\n\
         # TYPE tollgate_compliance_stream_clients gauge\n\
         tollgate_compliance_stream_clients {}\n",
        state.streams.clients()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn ledger_key(State(state): State<Arc<ApiState>>) -> Response {
    match state.ledger_key.get() {
        Some(key) => axum::Json(key.to_json()).into_response(),
        None => ApiError::NotFound("this server publishes no ledger key".into()).into_response(),
    }
}

async fn agreement_latest(State(state): State<Arc<ApiState>>) -> Response {
    agreement_text(&state, None)
}

async fn agreement_version(State(state): State<Arc<ApiState>>, Path(version): Path<String>) -> Response {
    match version.parse::<u32>() {
        Ok(v) => agreement_text(&state, Some(v)),
        Err(_) => ApiError::InvalidRequest(format!("`{version}` is not an agreement version number")).into_response(),
    }
}

fn agreement_text(state: &ApiState, version: Option<u32>) -> Response {
    let found = match version {
        Some(v) => crate::blocking(|| state.store.agreement(v)),
        None => crate::blocking(|| state.store.latest_agreement()),
    };
    match found {
        Ok(Some(a)) => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], a.text).into_response(),
        Ok(None) => ApiError::NotFound("no such agreement version".into()).into_response(),
        Err(e) => ApiError::store(e).into_response(),
    }
}
