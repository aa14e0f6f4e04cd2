//! Authentication: API keys for the tenant APIs (three header forms; a suspended tenant's keys
//! are refused), the admin token for `/admin/v1`, and the per-key rate limit with its headers
//! on every authenticated answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flit_engine::ids::{ApiKeyId, DeviceId, TenantId};
use flit_engine::secrets;
use flit_engine::{ApiKeyRecord, Scope};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a tenant API, put in the request extensions by `api_key_layer`.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKeyRecord,
}

impl Caller {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this API key lacks the `{}` permission",
                scope.as_str()
            )))
        }
    }
}

/// Who a request was authenticated as, by ids only, put in the answer's extensions for the
/// access log: the layers that authenticate run inside `telemetry::track_http`, which sees the
/// answer but not the request they enriched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authenticated {
    /// A tenant API's key (the request may still have been rate-limited or refused a scope).
    ApiKey { tenant: TenantId, key: ApiKeyId },
    /// A tenant's phone, by its device token.
    Device { tenant: TenantId, device: DeviceId },
    /// The admin token.
    Admin,
}

impl Authenticated {
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Authenticated::ApiKey { tenant, .. } | Authenticated::Device { tenant, .. } => {
                Some(*tenant)
            }
            Authenticated::Admin => None,
        }
    }

    pub fn key(&self) -> Option<ApiKeyId> {
        match self {
            Authenticated::ApiKey { key, .. } => Some(*key),
            _ => None,
        }
    }

    pub fn device(&self) -> Option<DeviceId> {
        match self {
            Authenticated::Device { device, .. } => Some(*device),
            _ => None,
        }
    }

    /// Marks `response` as answered to this caller.
    pub fn mark(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// The key from `Authorization: Bearer <key>`, `Authorization: X-Api-key <key>` or
/// `X-API-Key: <key>`.
/// An `Authorization` header of another scheme (Basic from a proxy, say) is not ours: the
/// `X-API-Key` header still counts then.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let from_authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(char::is_whitespace))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("x-api-key")
        })
        .map(|(_, key)| key.trim());
    from_authorization
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        })
        .filter(|key| !key.is_empty())
}

/// Per-route scope check, run before the body is read: a key without the scope gets 403
/// whatever it sent.
pub async fn require_scope(State(scope): State<Scope>, request: Request, next: Next) -> Response {
    match request.extensions().get::<Caller>() {
        Some(caller) => match caller.require(scope) {
            Ok(()) => next.run(request).await,
            Err(error) => error.into_response(),
        },
        None => ApiError::unauthorized("missing API key").into_response(),
    }
}

/// Authenticates, rate-limits, refuses the keys of a suspended tenant (403
/// `account_suspended`, on every route of every dialect), and stamps the rate-limit headers on
/// the answer.
pub async fn api_key_layer(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = presented_key(request.headers()) else {
        return ApiError::unauthorized(
            "missing API key: send `Authorization: Bearer <key>`, `Authorization: X-Api-key <key>` \
             or `X-API-Key: <key>`",
        )
        .into_response();
    };
    let Some(key) = state.engine.authenticate(secret) else {
        return ApiError::unauthorized("invalid or revoked API key").into_response();
    };
    let caller = Authenticated::ApiKey {
        tenant: key.tenant,
        key: key.id,
    };
    let limit = state.engine.rate_limit(key.tenant).unwrap_or(0);
    let decision = state.limiter.check(key.id, limit, unix_now());
    // After the rate limit, so the refusal carries the window's headers like any answer
    // to a known key.
    let mut response = if decision.allowed && state.engine.is_suspended(key.tenant) {
        ApiError::suspended().into_response()
    } else if decision.allowed {
        request.extensions_mut().insert(Caller { key });
        next.run(request).await
    } else {
        ApiError {
            retry_after: Some(decision.retry_after),
            ..ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limit of {} requests per minute exceeded; retry after {} s",
                    decision.limit, decision.retry_after
                ),
            )
        }
        .into_response()
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_at));
    caller.mark(response)
}

/// Lets a request through only with `Authorization: Bearer <admin token>`.
pub async fn admin_layer(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(char::is_whitespace))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = presented else {
        return ApiError::unauthorized("missing admin token: send `Authorization: Bearer <token>`")
            .into_response();
    };
    if !secrets::secret_matches(token.as_bytes(), &state.admin_token_hash) {
        return ApiError::unauthorized("invalid admin token").into_response();
    }
    Authenticated::Admin.mark(next.run(request).await)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_three_header_forms_are_accepted() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer k1")])),
            Some("k1")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "X-Api-key k2")])),
            Some("k2")
        );
        assert_eq!(presented_key(&headers(&[("x-api-key", "k3")])), Some("k3"));
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer")])),
            None
        );
        assert_eq!(presented_key(&headers(&[])), None);
    }
}
