//! One error type for every endpoint, rendered in X API v2's problem shapes so
//! that client libraries raise their usual exceptions. The table of problem
//! types is documented in `docs/api.md`.
//!
//! The `type` of each problem is X's current value (`https://api.x.com/2/problems/...`,
//! as X's document 2.167 fixes them: X's SDK refuses a body whose `type` is
//! another, such as the `api.twitter.com` of older documents); Tollgate's own
//! reason codes go in the extra property `reason`, which X's problem schemas
//! allow (they do not close their properties).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const X_INVALID_REQUEST: &str = "https://api.x.com/2/problems/invalid-request";
pub(crate) const X_USAGE_CAPPED: &str = "https://api.x.com/2/problems/usage-capped";
pub(crate) const X_CLIENT_FORBIDDEN: &str = "https://api.x.com/2/problems/client-forbidden";
const X_RESOURCE_NOT_FOUND: &str = "https://api.x.com/2/problems/resource-not-found";
const X_NOT_AUTHORIZED_FOR_RESOURCE: &str = "https://api.x.com/2/problems/not-authorized-for-resource";

/// The part of the server whose failure made a request unanswerable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The ledger could not record the request.
    Ledger,
    /// The platform's data store could not be read or written.
    Store,
}

/// A request-level failure. Details meant for operators are logged, not sent.
#[derive(Debug)]
pub enum ApiError {
    /// A query parameter failed validation: (parameter, offending values, message).
    InvalidParameter {
        parameter: String,
        values: Vec<String>,
        message: String,
    },
    /// Query parameters that are valid alone but not together: (parameter,
    /// offending value) pairs and the message.
    InvalidParameters {
        parameters: Vec<(String, String)>,
        message: String,
    },
    /// A request body or path segment failed validation.
    InvalidRequest(String),
    Unauthorized(String),
    /// The policy refuses the whole request: (reason code, human detail, optional link).
    Refused {
        reason: String,
        detail: String,
        link: Option<String>,
    },
    NotFound(String),
    /// A write that conflicts with the platform's data (a handle another
    /// account holds); nothing was changed.
    Conflict(String),
    RateLimited {
        limit: u32,
        reset: u64,
    },
    /// The ledger or the store failed; nothing was released. `failed` says
    /// which, so that the client is not told a request went unrecorded when
    /// a read failed.
    Unavailable {
        failed: Failed,
        detail: String,
    },
    /// A fault of the server itself (a response that could not be written).
    Internal(String),
    /// A failure of the HTTP layer below the handlers (a method the path does
    /// not take, a size limit, a body that could not be read), with its status.
    Http {
        status: StatusCode,
        message: String,
    },
}

impl ApiError {
    pub fn param(parameter: &str, value: &str, message: impl Into<String>) -> ApiError {
        ApiError::InvalidParameter {
            parameter: parameter.to_owned(),
            values: vec![value.to_owned()],
            message: message.into(),
        }
    }

    /// The ledger failed: the request could not be recorded.
    pub fn ledger(detail: impl std::fmt::Display) -> ApiError {
        ApiError::Unavailable { failed: Failed::Ledger, detail: detail.to_string() }
    }

    /// The store failed: the platform's data could not be read or written.
    pub fn store(detail: impl std::fmt::Display) -> ApiError {
        ApiError::Unavailable { failed: Failed::Store, detail: detail.to_string() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidParameter { .. } | ApiError::InvalidParameters { .. } | ApiError::InvalidRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Http { status, .. } => *status,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            ApiError::InvalidParameter { parameter, values, message } => json!({
                "errors": [{ "parameters": { parameter: values }, "message": message }],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": X_INVALID_REQUEST,
            }),
            ApiError::InvalidParameters { parameters, message } => {
                let mut named = serde_json::Map::new();
                for (parameter, value) in parameters {
                    let values = named.entry(parameter.clone()).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(values) = values {
                        values.push(Value::String(value.clone()));
                    }
                }
                json!({
                    "errors": [{ "parameters": named, "message": message }],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": X_INVALID_REQUEST,
                })
            }
            ApiError::InvalidRequest(message) => json!({
                "errors": [{ "message": message }],
                "title": "Invalid Request",
                "detail": message,
                "type": X_INVALID_REQUEST,
            }),
            ApiError::Unauthorized(detail) => json!({
                "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": detail,
            }),
            ApiError::Refused { reason, detail, link } => {
                let mut body = json!({
                    "title": "Forbidden",
                    "status": 403,
                    "detail": detail,
                    "reason": reason,
                    "type": X_CLIENT_FORBIDDEN,
                });
                if let Some(link) = link {
                    body["agreement_url"] = Value::String(link.clone());
                }
                body
            }
            ApiError::NotFound(detail) => json!({
                "errors": [{ "message": detail }],
                "title": "Not Found Error", "detail": detail, "type": "about:blank", "status": 404,
            }),
            ApiError::Conflict(detail) => json!({
                "errors": [{ "message": detail }],
                "title": "Conflict", "detail": detail, "type": "about:blank", "status": 409,
            }),
            ApiError::RateLimited { .. } => json!({
                "title": "Too Many Requests", "detail": "Too Many Requests", "type": X_USAGE_CAPPED, "status": 429,
            }),
            ApiError::Unavailable { failed, .. } => json!({
                "title": "Service Unavailable",
                "detail": match failed {
                    Failed::Ledger => "The request could not be recorded in the ledger, so nothing was released. Retry later.",
                    Failed::Store => "The platform's data store failed to answer, so nothing was released or changed. Retry later.",
                },
                "type": "about:blank",
                "status": 503,
            }),
            ApiError::Internal(_) => json!({
                "title": "Internal Error",
                "detail": "The server failed to answer this request.",
                "type": "about:blank",
                "status": 500,
            }),
            ApiError::Http { status, message } => json!({
                "errors": [{ "message": message }],
                "title": status.canonical_reason().unwrap_or("Error"),
                "detail": message,
                "type": "about:blank",
                "status": status.as_u16(),
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unavailable { detail, .. } | ApiError::Internal(detail) = &self {
            tracing::error!("{detail}");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::RateLimited { limit, reset } = self {
            let headers = response.headers_mut();
            headers.insert("x-rate-limit-limit", HeaderValue::from(limit));
            headers.insert("x-rate-limit-remaining", HeaderValue::from(0u32));
            headers.insert("x-rate-limit-reset", HeaderValue::from(reset));
        }
        response
    }
}

/// X's partial error for a resource that does not exist.
pub fn not_found_item(resource_type: &str, parameter: &str, id: &str) -> Value {
    let what = if resource_type == "tweet" { "tweet" } else { "user" };
    json!({
        "value": id,
        "detail": format!("Could not find {what} with {parameter}: [{id}]."),
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": id,
        "type": X_RESOURCE_NOT_FOUND,
    })
}

/// The partial error for a resource the policy withholds from this request:
/// X's `not-authorized-for-resource`, with `section` as X gives it (the item
/// was asked for in `data`), and Tollgate's reason code in `reason`.
pub fn withheld_item(resource_type: &str, parameter: &str, id: &str, reason: &str) -> Value {
    json!({
        "section": "data",
        "value": id,
        "detail": format!("The {resource_type} [{id}] is withheld from this request: {reason}."),
        "title": "Authorization Error",
        "resource_type": resource_type,
        "parameter": parameter,
        "resource_id": id,
        "reason": reason,
        "type": X_NOT_AUTHORIZED_FOR_RESOURCE,
    })
}
