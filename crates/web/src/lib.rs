//! The web channel: the public pages (a post, a profile with its posts;
//! `public`) and the account holder's AI settings page, under `/settings`:
//! server-rendered HTML with plain forms (no JavaScript), served by
//! `tollgate serve` on the API's listener.
//!
//! The public pages release posts and profiles like the developer API does:
//! candidates from the platform cache, decided and recorded by
//! `tollgate_deliver::Deliverer` on the `web` channel, rendered only as the
//! `Released` values it returns.
//!
//! A person arrives with a sign-in link the platform issued (`jwt`), gets a
//! signed session cookie (`session`), and sees and changes their AI
//! preferences and their posts' `no_ai` marks, through the `Store` the API's
//! caches follow, so a change is in force for the next API request. The page
//! also shows which apps received their posts, from the ledger's audit
//! questions (`tollgate_ledger::Audit`) and nothing else of the ledger, and
//! what those apps were asked to do about them since (`Store::notices`).
//!
//! The settings page releases no posts: it shows an account holder their
//! own settings and the ledger's record about them, never another
//! account's posts, so it does not go through `tollgate_deliver`.

mod handlers;
pub mod html;
pub mod jwt;
mod mac;
mod page;
mod public;
mod public_html;
mod report;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tollgate_domain::{AccountId, ConsentDefaults, Timestamp};
use tollgate_store::Store;

pub use public::{PAGE_SIZE, POST_ENDPOINT, PROFILE_ENDPOINT, PagesState, cursor, is_handle, pages_router};
pub use report::{RequestKind, RequestStatus};
pub use session::SessionKey;
pub use tollgate_deliver::HiddenLink;

/// The page's settings, from configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The keys sign-in tokens are checked with.
    pub keys: jwt::Keys,
    /// The `iss` and `aud` sign-in tokens must carry.
    pub expect: jwt::Expect,
    /// The key of session cookies and CSRF tokens.
    pub session_key: SessionKey,
    /// How long a session lasts after sign-in, in seconds.
    pub session_secs: i64,
    /// Whether the session cookie is `Secure` (HTTPS only): everywhere but
    /// on a loopback listener.
    pub secure_cookie: bool,
    /// The URL the server is reached at: forms posted from its origin are
    /// accepted, besides the request's own `Host`.
    pub public_url: String,
}

/// What the page's handlers share.
pub struct WebState {
    pub store: Arc<dyn Store>,
    /// The ledger's store, for the audit question the transparency report asks.
    pub ledger_db: Arc<tollgate_ledger::LedgerDb>,
    /// What an unset preference means (the deliverer's `defaults()`).
    pub defaults: ConsentDefaults,
    pub config: WebConfig,
    signed_out: session::SignedOut,
}

impl WebState {
    pub fn new(
        store: Arc<dyn Store>,
        ledger_db: Arc<tollgate_ledger::LedgerDb>,
        defaults: ConsentDefaults,
        config: WebConfig,
    ) -> WebState {
        WebState { store, ledger_db, defaults, config, signed_out: session::SignedOut::default() }
    }
}

/// The settings page's routes, every path under `/settings`; mounted on the
/// API's router by `tollgate_api::router_with_settings`.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/settings", get(handlers::home))
        .route("/settings/", get(handlers::to_home))
        .route("/settings/sign-in", get(handlers::sign_in))
        .route("/settings/preferences", post(handlers::preferences))
        .route("/settings/posts", post(handlers::posts))
        .route("/settings/sign-out", post(handlers::sign_out))
        .route("/settings/signed-out", get(handlers::signed_out))
        .route("/settings/style.css", get(handlers::style))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}

/// A sign-in link for `account`, valid for `lifetime_secs`, signed with the
/// HS256 secret: what `tollgate settings sign-in-link` and the demo print.
pub fn sign_in_link(
    public_url: &str,
    secret: &[u8],
    expect: &jwt::Expect,
    account: AccountId,
    lifetime_secs: i64,
) -> String {
    let token = jwt::issue_hs256(
        secret,
        account,
        Timestamp::now().seconds(),
        lifetime_secs.min(jwt::MAX_LIFETIME_SECS),
        expect.issuer.as_deref(),
        expect.audience.as_deref(),
    );
    format!("{}/settings/sign-in?token={token}", public_url.trim_end_matches('/'))
}
