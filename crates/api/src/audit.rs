//! Audit queries over the delivery ledger under `/internal/ledger/`, and the
//! transparency view of an account's deliveries, behind the internal service
//! token. The answers come from the ledger's index (`tollgate_ledger::Audit`),
//! with the same JSON as `tollgate ledger query --json`.
//!
//! Queries run on the blocking pool: a lookup of a post decodes candidate
//! blocks of entries and must not hold up the request workers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tollgate_domain::{AccountId, AppId, PostId, Timestamp};
use tollgate_ledger::{Audit, Identity, LedgerError};

use crate::ApiState;
use crate::error::ApiError;
use crate::internal::{authorize, path_id, store_error};
use crate::routes::{Method, Table};

/// The raw query string, decoded strictly by `Params::new`.
type Pairs = RawQuery;

/// Items per page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;

/// Adds the audit queries' routes.
pub(crate) fn routes(table: Table) -> Table {
    use Method::Get;
    table
        .add(Get, "/internal/ledger/posts/{id}/recipients", post_recipients)
        .add(Get, "/internal/ledger/accounts/{id}/recipients", author_recipients)
        .add(Get, "/internal/ledger/apps/{id}/deliveries", app_deliveries)
        .add(Get, "/internal/ledger/attempts", attempts)
        .add(Get, "/internal/ledger/policies/{version}/deliveries", policy_deliveries)
        .add(Get, "/internal/accounts/{id}/deliveries", account_deliveries)
}

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::Invalid(m) => ApiError::InvalidRequest(m),
        other => ApiError::ledger(other),
    }
}

/// The query parameters, refusing any the endpoint does not take and any
/// given twice: like the developer API's (`crate::params::Params`), a
/// repeated parameter is a `400`, never resolved by taking one of its values.
struct Params(BTreeMap<String, String>);

impl Params {
    fn new(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let mut out = BTreeMap::new();
        for (k, v) in crate::params::decode_query(raw.unwrap_or(""))? {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::param(&k, &v, format!("`{k}` is not a parameter of this endpoint")));
            }
            if out.contains_key(&k) {
                return Err(ApiError::param(&k, &v, format!("The query parameter [{k}] may be given only once")));
            }
            out.insert(k, v);
        }
        Ok(Params(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(name)
            .map(|v| {
                Timestamp::parse(v).map_err(|_| {
                    ApiError::param(
                        name,
                        v,
                        format!(
                            "`{name}` must be an RFC 3339 time such as 2025-06-05T00:00:00Z or 2025-06-05T02:00:00+02:00"
                        ),
                    )
                })
            })
            .transpose()
    }

    fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=tollgate_ledger::MAX_PAGE).contains(&n) => Ok(n),
                _ => Err(ApiError::param(
                    "limit",
                    v,
                    format!("`limit` must be a number from 1 to {}", tollgate_ledger::MAX_PAGE),
                )),
            },
        }
    }

    fn cursor(&self) -> Option<String> {
        self.get("cursor").map(str::to_owned)
    }
}

/// Authorizes, then runs `query` on the blocking pool and answers its JSON.
async fn answer<T: Serialize + Send + 'static>(
    state: Arc<ApiState>,
    headers: &HeaderMap,
    query: impl FnOnce(&ApiState) -> Result<T, ApiError> + Send + 'static,
) -> Response {
    if let Err(e) = authorize(&state, headers) {
        return e.into_response();
    }
    match tokio::task::spawn_blocking(move || query(&state)).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::Internal(format!("a ledger query task failed: {e}")).into_response(),
    }
}

async fn post_recipients(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    answer(state, &headers, move |state| {
        let id: PostId = path_id(&id, "post")?;
        let p = Params::new(pairs.as_deref(), &["limit", "cursor"])?;
        Audit::new(state.ledger_db.as_ref())
            .post_recipients(id, p.cursor().as_deref(), p.limit()?)
            .map_err(ledger_error)
    })
    .await
}

async fn author_recipients(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    answer(state, &headers, move |state| {
        let id: AccountId = path_id(&id, "account")?;
        Params::new(pairs.as_deref(), &[])?;
        Audit::new(state.ledger_db.as_ref()).author_recipients(id).map_err(ledger_error)
    })
    .await
}

async fn app_deliveries(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    answer(state, &headers, move |state| {
        let id: AppId = path_id(&id, "app")?;
        let p = Params::new(pairs.as_deref(), &["start_time", "end_time", "limit", "cursor"])?;
        let from = p.time("start_time")?.unwrap_or(Timestamp::from_millis(0));
        let until = p.time("end_time")?;
        Audit::new(state.ledger_db.as_ref())
            .app_deliveries(id, from, until, p.cursor().as_deref(), p.limit()?)
            .map_err(ledger_error)
    })
    .await
}

async fn attempts(State(state): State<Arc<ApiState>>, headers: HeaderMap, RawQuery(pairs): Pairs) -> Response {
    answer(state, &headers, move |state| {
        let p = Params::new(pairs.as_deref(), &["app_id", "client", "since", "limit", "cursor"])?;
        let identity = match (p.get("app_id"), p.get("client")) {
            (Some(app), None) => Identity::AppId(path_id(app, "app")?),
            (None, Some(client)) if !client.is_empty() => Identity::Client(client.to_owned()),
            _ => return Err(ApiError::InvalidRequest("give exactly one of `app_id` and `client`".into())),
        };
        let since = p.time("since")?.unwrap_or(Timestamp::from_millis(0));
        Audit::new(state.ledger_db.as_ref())
            .attempts(identity, since, p.cursor().as_deref(), p.limit()?)
            .map_err(ledger_error)
    })
    .await
}

async fn policy_deliveries(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(version): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    answer(state, &headers, move |state| {
        let p = Params::new(pairs.as_deref(), &["limit", "cursor"])?;
        Audit::new(state.ledger_db.as_ref())
            .policy_deliveries(&version, p.cursor().as_deref(), p.limit()?)
            .map_err(ledger_error)
    })
    .await
}

/// Which apps received an account's posts, for which purposes, when and how
/// often: what an account holder may see about the releases of their posts.
async fn account_deliveries(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(pairs): Pairs,
) -> Response {
    answer(state, &headers, move |state| {
        let id: AccountId = path_id(&id, "account")?;
        Params::new(pairs.as_deref(), &[])?;
        if state.store.account(id).map_err(store_error)?.is_none() {
            return Err(ApiError::NotFound(format!("account {id} not found")));
        }
        let recipients = Audit::new(state.ledger_db.as_ref()).author_recipients(id).map_err(ledger_error)?.recipients;
        // Anonymous clients of one app are one recipient here: merge them.
        type Span = (Timestamp, Timestamp, u64);
        let mut apps: BTreeMap<Option<AppId>, BTreeMap<Option<tollgate_domain::Purpose>, Span>> = BTreeMap::new();
        for r in recipients {
            let span = apps.entry(r.app_id).or_default().entry(r.purpose).or_insert((r.first_time, r.last_time, 0));
            span.0 = span.0.min(r.first_time);
            span.1 = span.1.max(r.last_time);
            span.2 += r.deliveries;
        }
        let mut out = Vec::with_capacity(apps.len());
        for (app_id, purposes) in apps {
            let app = match app_id {
                Some(a) => state.store.app(a).map_err(store_error)?,
                None => None,
            };
            out.push(json!({
                "app_id": app_id,
                "name": app.as_ref().map(|a| a.name.clone()),
                "tier": app.as_ref().map(|a| a.tier),
                "purposes": purposes
                    .into_iter()
                    .map(|(purpose, (first, last, n))| {
                        json!({ "purpose": purpose, "first_time": first, "last_time": last, "deliveries": n })
                    })
                    .collect::<Vec<Value>>(),
            }));
        }
        Ok(json!({ "account_id": id, "apps": out }))
    })
    .await
}
