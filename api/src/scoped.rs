//! The route tables of the tenant APIs (the native API and each dialect): every route an API
//! key reaches, with the one scope it needs. A dialect declares its table once; the router,
//! `/openapi.json` and the scope tests all read it from here, so no tenant route can be served
//! without a scope check.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::middleware;
use axum::routing::MethodRouter;
use flit_engine::Scope;

use crate::auth::{api_key_layer, require_scope};
use crate::state::AppState;

/// One route of a tenant API and the scope a key must carry to use it.
pub struct ScopedRoute {
    pub method: Method,
    /// Where the route's API is mounted (`/api/v1`; empty for a dialect at the root).
    pub prefix: &'static str,
    /// Under `prefix`, with `{param}` segments as the router and `/openapi.json` write them.
    pub path: &'static str,
    pub scope: Scope,
    /// The handler, routed for `method` alone.
    pub(crate) handler: fn() -> MethodRouter<Arc<AppState>>,
}

impl ScopedRoute {
    /// The path as the router serves it and `/openapi.json` writes it, prefix included.
    pub fn full_path(&self) -> String {
        format!("{}{}", self.prefix, self.path)
    }
}

/// `scoped_route!(PREFIX; POST "/sms/send", SmsSend, sms::send)`: one row of a route table,
/// its method named once. Each API wraps it in a `route!` that passes its own prefix.
macro_rules! scoped_route {
    ($prefix:expr; $method:ident $path:literal, $scope:ident, $handler:path) => {
        $crate::scoped::ScopedRoute {
            method: ::axum::http::Method::$method,
            prefix: $prefix,
            path: $path,
            scope: ::flit_engine::Scope::$scope,
            handler: || ::axum::routing::on(::axum::routing::MethodFilter::$method, $handler),
        }
    };
}
pub(crate) use scoped_route;

/// The table of every tenant API.
const TABLES: [&[ScopedRoute]; 3] = [
    crate::native::ROUTES,
    crate::flowstates::ROUTES,
    crate::flixy::ROUTES,
];

/// Every route of every tenant API.
pub fn routes() -> impl Iterator<Item = &'static ScopedRoute> {
    TABLES.into_iter().flatten()
}

/// The scope declared for `method` on `full_path` (as `/openapi.json` writes it).
pub fn declared_scope(method: &Method, full_path: &str) -> Option<Scope> {
    routes()
        .find(|route| route.method == *method && route.full_path() == full_path)
        .map(|route| route.scope)
}

/// Whether `full_path` is a route of a tenant API (served to API keys, rate-limited).
pub fn is_tenant_path(full_path: &str) -> bool {
    routes().any(|route| route.full_path() == full_path)
}

/// A route table as a router at the root (paths carry their prefix): each method behind its
/// own scope check, and every route behind the API-key layer, both run before the body is read.
pub fn router(table: &'static [ScopedRoute], state: Arc<AppState>) -> Router<Arc<AppState>> {
    let mut by_path: BTreeMap<String, MethodRouter<Arc<AppState>>> = BTreeMap::new();
    for route in table {
        let scoped =
            (route.handler)().layer(middleware::from_fn_with_state(route.scope, require_scope));
        let path = route.full_path();
        let methods = match by_path.remove(&path) {
            Some(earlier) => earlier.merge(scoped),
            None => scoped,
        };
        by_path.insert(path, methods);
    }
    by_path
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(&path, methods)
        })
        .route_layer(middleware::from_fn_with_state(state, api_key_layer))
}
