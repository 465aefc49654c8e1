//! The edge of the service: the request size limits, and X's JSON error
//! shape for every error produced below the handlers.
//!
//! axum answers some requests before a handler runs, or with a rejection of
//! its own: a method the path does not take (`405`), a path segment that is
//! not UTF-8 once percent-decoded (`400`), a body over the limit (`413`).
//! Those come with no body or a plain-text one. `edge` checks the limits a
//! handler cannot (the query string's and the headers' size) and rewrites any
//! error response that is neither JSON nor HTML (the settings pages' own)
//! into `ApiError`'s shape, keeping its status, its headers and its message.
//!
//! What it cannot reach: hyper parses the request head before the router
//! sees it, and answers a head it cannot parse (bytes outside ASCII in the
//! request line, a malformed header) or one over its hard limits with a bare
//! status and no body. `HttpLimits::hard_head_bytes` and `hard_headers` set
//! those well above the limits checked here, so that only requests far over
//! a documented limit meet them (docs/api.md, "Limits").

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Request size limits (configuration keys of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The largest request body (`PUT /internal/...`); larger ones get `413`.
    pub max_body_bytes: usize,
    /// The longest query string (after `?`, as sent); longer ones get `414`.
    pub max_query_bytes: usize,
    /// The most header bytes (names, values and 4 bytes of framing per
    /// header); more get `431`.
    pub max_header_bytes: usize,
    /// The most header fields; more get `431`.
    pub max_headers: usize,
}

impl HttpLimits {
    pub const DEFAULT: HttpLimits =
        HttpLimits { max_body_bytes: 2 << 20, max_query_bytes: 16 << 10, max_header_bytes: 32 << 10, max_headers: 50 };

    /// The request head (request line and headers) the HTTP layer buffers at
    /// most: twice what the limits allow, plus room for the path. A head
    /// over this is cut off by hyper with a bare `431`, before `edge` runs.
    pub fn hard_head_bytes(&self) -> usize {
        2 * (self.max_query_bytes + self.max_header_bytes) + (16 << 10)
    }

    /// The header fields the HTTP layer parses at most (hyper's default, 100,
    /// or twice `max_headers` if that is more); more get a bare `431`.
    pub fn hard_headers(&self) -> usize {
        (2 * self.max_headers).max(100)
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::DEFAULT
    }
}

/// Checks the limits, runs the request, and gives any error answer that is
/// not JSON X's shape.
pub async fn edge<F, Fut>(limits: HttpLimits, request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if let Some(error) = over_limit(&limits, &request) {
        return error.into_response();
    }
    let method = request.method().clone();
    let response = next(request).await;
    let status = response.status();
    // JSON is the API's own shape; HTML is the settings pages' own error page.
    let is_own = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_own {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        // axum adds the `Allow` header outside this layer, so it is not read here.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("The method {method} is not allowed on this path; the `Allow` header lists those that are")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("The request body is larger than the limit of {} bytes (`max_body_bytes`)", limits.max_body_bytes)
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("Error").to_owned(),
        _ => text,
    };
    let error = if status == StatusCode::BAD_REQUEST {
        ApiError::InvalidRequest(message)
    } else {
        ApiError::Http { status, message }
    };
    let mut rewritten = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().append(name, value.clone());
        }
    }
    rewritten
}

/// The error for a request over a size limit a handler cannot check.
fn over_limit(limits: &HttpLimits, request: &Request<Body>) -> Option<ApiError> {
    if let Some(query) = request.uri().query()
        && query.len() > limits.max_query_bytes
    {
        return Some(ApiError::Http {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "The query string is {} bytes long, more than the limit of {} bytes (`max_query_bytes`)",
                query.len(),
                limits.max_query_bytes
            ),
        });
    }
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return Some(ApiError::Http {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "The request has {} header fields, more than the limit of {} (`max_headers`)",
                headers.len(),
                limits.max_headers
            ),
        });
    }
    let bytes: usize = headers.iter().map(|(n, v): (_, &HeaderValue)| n.as_str().len() + v.len() + 4).sum();
    if bytes > limits.max_header_bytes {
        return Some(ApiError::Http {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "The request's headers take {bytes} bytes, more than the limit of {} bytes (`max_header_bytes`)",
                limits.max_header_bytes
            ),
        });
    }
    None
}
