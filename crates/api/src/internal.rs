//! The platform-facing write API under `/internal/`: the platform pushes
//! accounts, posts, statuses and AI preferences here. Every write is durable
//! when it is answered, and the next request decides with it: nothing about
//! accounts or posts is cached between requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tollgate_domain::{
    Account, AccountId, AccountStatus, AuthorFacts, Category, PostId, PreferenceChange, Scope, Timestamp, Tri,
};

use tollgate_store::AccountUpsert;

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::{Method, Table};

/// Adds the internal API's write and read routes.
pub(crate) fn routes(table: Table) -> Table {
    use Method::{Delete, Get, Patch, Put};
    table
        .add(Put, "/internal/accounts", put_accounts)
        .add(Get, "/internal/accounts/{id}", get_account)
        .add(Delete, "/internal/accounts/{id}", delete_account)
        .add(Put, "/internal/accounts/{id}/status", put_status)
        .add(Patch, "/internal/accounts/{id}/ai-preferences", patch_preferences)
        .add(Put, "/internal/accounts/{id}/ai-preferences", patch_preferences)
        .add(Put, "/internal/posts", put_posts)
        .add(Delete, "/internal/posts/{id}", delete_post)
        .add(Put, "/internal/posts/{id}/no-ai", put_no_ai)
}

pub(crate) fn authorize(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.config.internal_token.as_deref() else {
        return Err(ApiError::Unauthorized("the internal API is disabled: set `internal_token` to enable it".into()));
    };
    let given = crate::params::bearer_token(headers)?.unwrap_or("");
    if same_secret(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("Unauthorized: the internal service token is wrong".into()))
    }
}

/// Whether a secret given equals the one expected, compared in time
/// independent of where they differ (their lengths are not secret).
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::InvalidRequest(format!(
            "malformed JSON body at line {} column {}: {}; nothing was changed",
            e.line(),
            e.column(),
            e.to_string().split(" at line ").next().unwrap_or_default()
        ))
    })
}

/// A body that must be one JSON object. serde reads a struct from a JSON
/// array as well, field by field in order (`["suspended"]` as
/// `{"status": "suspended"}`), which no client means and the API does not
/// document; so the body's shape is checked before it is read.
fn object_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = json_body(body)?;
    if !value.is_object() {
        return Err(ApiError::InvalidRequest(format!(
            "malformed JSON body: it must be a JSON object, not {}; nothing was changed",
            kind(&value)
        )));
    }
    // Read again from the bytes, so that an error names its line and column.
    json_body(body)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One object or an array of them.
fn one_or_many(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    match json_body::<Value>(body)? {
        Value::Array(items) => Ok(items),
        item @ Value::Object(_) => Ok(vec![item]),
        _ => Err(ApiError::InvalidRequest("the body must be a JSON object or an array of objects".into())),
    }
}

fn item<T: DeserializeOwned>(index: usize, value: Value) -> Result<T, ApiError> {
    // As in `object_body`: an array is not read as a struct's fields in order.
    if !value.is_object() {
        return Err(ApiError::InvalidRequest(format!(
            "item {index} of the body must be a JSON object, not {}; nothing was changed",
            kind(&value)
        )));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::InvalidRequest(format!("item {index} of the body: {e}; nothing was changed")))
}

pub(crate) fn store_error(e: tollgate_store::StoreError) -> ApiError {
    match e {
        tollgate_store::StoreError::Invalid { field, reason } => {
            ApiError::InvalidRequest(format!("invalid `{field}`: {reason}; nothing was changed"))
        }
        // A well-formed write the platform's data refuses (a handle another
        // account holds): the client's to resolve, not a failure of the store.
        tollgate_store::StoreError::Conflict(why) => ApiError::Conflict(format!("{why}; nothing was changed")),
        other => ApiError::store(other),
    }
}

pub(crate) fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::InvalidRequest(format!("`{raw}` is not a valid {what} id: use a decimal number")))
}

/// The account as the settings page shows it: stored preferences and what
/// they resolve to for each category and scope.
fn account_view(state: &ApiState, account: &Account) -> Value {
    let facts = AuthorFacts::of(account, state.deliverer.defaults(), Timestamp::now());
    let mut effective = BTreeMap::new();
    for c in Category::ALL {
        let mut scopes = BTreeMap::new();
        for s in Scope::ALL {
            scopes.insert(s.as_str(), if facts.consents(c, s) { "allow" } else { "deny" });
        }
        effective.insert(c.as_str(), scopes);
    }
    json!({ "account": account, "effective_ai_preferences": effective, "minor": facts.minor })
}

async fn put_accounts(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        authorize(&state, &headers)?;
        let mut accounts = Vec::new();
        for (i, value) in one_or_many(&body)?.into_iter().enumerate() {
            // A profile update that leaves out `ai_preferences` keeps the
            // author's choices: only the settings endpoint changes them.
            let keep_preferences = value.get("ai_preferences").is_none();
            let account: Account = item(i, value)?;
            accounts.push(AccountUpsert { account, keep_preferences });
        }
        // INVARIANT (consent-read-modify-write): the store reads the kept
        // preferences in the transaction that writes the accounts, so a
        // concurrent preference change is never lost.
        crate::blocking(|| state.store.upsert_accounts_keeping_preferences(&accounts)).map_err(store_error)?;
        Ok::<_, ApiError>(axum::Json(json!({ "upserted": accounts.len() })).into_response())
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn get_account(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = (|| {
        authorize(&state, &headers)?;
        let id: AccountId = path_id(&id, "account")?;
        let account = crate::blocking(|| state.store.account(id))
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("account {id} not found")))?;
        Ok::<_, ApiError>(axum::Json(account_view(&state, &account)).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn delete_account(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    set_status(&state, &headers, &id, AccountStatus::Deleted)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: AccountStatus,
}

async fn put_status(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match authorize(&state, &headers).and_then(|()| object_body::<StatusBody>(&body)) {
        Ok(b) => set_status(&state, &headers, &id, b.status),
        Err(e) => e.into_response(),
    }
}

fn set_status(state: &ApiState, headers: &HeaderMap, id: &str, status: AccountStatus) -> Response {
    let result = (|| {
        authorize(state, headers)?;
        let id: AccountId = path_id(id, "account")?;
        if !crate::blocking(|| state.store.set_account_status(id, status)).map_err(store_error)? {
            return Err(ApiError::NotFound(format!("account {id} not found")));
        }
        Ok(axum::Json(json!({ "id": id.to_string(), "status": status })).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn patch_preferences(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = (|| {
        authorize(&state, &headers)?;
        let id: AccountId = path_id(&id, "account")?;
        // `{"train-genai": {"third-parties": "deny"}, ...}`: the settings page's shape.
        let raw: BTreeMap<String, BTreeMap<String, String>> = object_body(&body)?;
        let mut changes = Vec::new();
        for (category, scopes) in &raw {
            let category: Category = category.parse().map_err(|e: tollgate_domain::ParseError| {
                ApiError::InvalidRequest(format!("{e}; nothing was changed"))
            })?;
            for (scope, value) in scopes {
                let scope: Scope = scope.parse().map_err(|e: tollgate_domain::ParseError| {
                    ApiError::InvalidRequest(format!("{e}; nothing was changed"))
                })?;
                let value: Tri = value.parse().map_err(|e: tollgate_domain::ParseError| {
                    ApiError::InvalidRequest(format!("{e}; nothing was changed"))
                })?;
                changes.push(PreferenceChange { category, scope, value });
            }
        }
        if changes.is_empty() {
            return Err(ApiError::InvalidRequest(
                "no preference given: send e.g. {\"train-genai\": {\"third-parties\": \"deny\"}}".into(),
            ));
        }
        let account = crate::blocking(|| state.store.set_preferences(id, &changes, Timestamp::now()))
            .map_err(store_error)?
            .ok_or_else(|| ApiError::NotFound(format!("account {id} not found")))?;
        Ok::<_, ApiError>(axum::Json(account_view(&state, &account)).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn put_posts(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = (|| {
        authorize(&state, &headers)?;
        let posts: Vec<tollgate_domain::Post> =
            one_or_many(&body)?.into_iter().enumerate().map(|(i, v)| item(i, v)).collect::<Result<_, _>>()?;
        let mut authors: Vec<AccountId> = posts.iter().map(|p| p.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let known = crate::blocking(|| state.store.accounts(&authors)).map_err(store_error)?;
        if let Some(missing) = authors.iter().find(|a| !known.iter().any(|k| k.id == **a)) {
            return Err(ApiError::InvalidRequest(format!(
                "invalid `author_id`: account {missing} does not exist; create it first; nothing was changed"
            )));
        }
        crate::blocking(|| state.store.upsert_posts(&posts)).map_err(store_error)?;
        Ok::<_, ApiError>(axum::Json(json!({ "upserted": posts.len() })).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn delete_post(State(state): State<Arc<ApiState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = (|| {
        authorize(&state, &headers)?;
        let id: PostId = path_id(&id, "post")?;
        if !crate::blocking(|| state.store.delete_post(id, Timestamp::now())).map_err(store_error)? {
            return Err(ApiError::NotFound(format!("post {id} not found")));
        }
        Ok::<_, ApiError>(axum::Json(json!({ "id": id.to_string(), "deleted": true })).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoAiBody {
    no_ai: bool,
}

async fn put_no_ai(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = (|| {
        authorize(&state, &headers)?;
        let id: PostId = path_id(&id, "post")?;
        let b: NoAiBody = object_body(&body)?;
        if !crate::blocking(|| state.store.set_post_no_ai(id, b.no_ai)).map_err(store_error)? {
            return Err(ApiError::NotFound(format!("post {id} not found")));
        }
        Ok::<_, ApiError>(axum::Json(json!({ "id": id.to_string(), "no_ai": b.no_ai })).into_response())
    })();
    result.unwrap_or_else(IntoResponse::into_response)
}
