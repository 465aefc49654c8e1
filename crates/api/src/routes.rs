//! The route table: every (method, path template) the service answers, built
//! in one place so that it can be listed as well as served.
//!
//! An axum `Router` cannot be asked which routes it holds. So routes are not
//! added to it directly: `Table::add` adds each to the router *and* records
//! it, and `crate::routes()` returns the record of the very table
//! `crate::router` serves. The OpenAPI contract test
//! (`crates/api/tests/openapi.rs`) compares that list with the paths of
//! `/2/openapi.json` both ways, so a route cannot go undocumented and a
//! documented route cannot be missing (`INVARIANT (routes-documented)`).

use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use crate::ApiState;

/// The methods the service routes (a `GET` route answers `HEAD` too, as
/// HTTP requires; that is not a route of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Patch => MethodFilter::PATCH,
            Method::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route: its method and its path template, in axum's syntax, which is
/// OpenAPI's (`/2/tweets/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

/// A router under construction and the routes added to it.
pub(crate) struct Table {
    router: Router<Arc<ApiState>>,
    served: Vec<Route>,
}

impl Table {
    pub fn new() -> Table {
        Table { router: Router::new(), served: Vec::new() }
    }

    /// Serves `handler` for `method` on `path`, and records the route.
    pub fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Table
    where
        H: Handler<T, Arc<ApiState>>,
        T: 'static,
    {
        // INVARIANT (routes-documented): every route the router serves is in `served`.
        self.router = self.router.route(path, on(method.filter(), handler));
        self.served.push(Route { method, path });
        self
    }

    /// The router and the routes it serves.
    pub fn finish(self) -> (Router<Arc<ApiState>>, Vec<Route>) {
        (self.router, self.served)
    }
}
