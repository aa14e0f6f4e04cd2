//! `ApiError`: every failure a client can see, rendered once as the native error shape
//! `{"success": false, "error": "<sentence>", "code": "<snake_case>"}`. Clients never see
//! internals: storage and actor failures become a 503 with a generic sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flit_engine::EngineError;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Always `false`.
    pub success: bool,
    /// A human sentence.
    pub error: &'a str,
    /// A stable snake_case code.
    pub code: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid { code, message } => ApiError::bad_request(code, message),
            EngineError::NotFound { what } => ApiError::not_found(what),
            EngineError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            EngineError::InsufficientCredits { required, balance } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("Insufficient credits: {required} required, {balance} available"),
            ),
            EngineError::IdempotencyConflict => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request body",
            ),
            EngineError::Unavailable(message) => ApiError::unavailable(message),
            // The reason names internal actors: it is for operators, on `GET /health`. Nothing
            // comes back in this process, so the retry is meant for after a restart.
            EngineError::Unhealthy { .. } => ApiError {
                retry_after: Some(30),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "engine_unhealthy",
                    "Flit is unhealthy and refuses sends until it is restarted; \
                     GET /health says why",
                )
            },
            error @ EngineError::BacklogFull { .. } => ApiError {
                retry_after: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backlog_full",
                    error.to_string(),
                )
            },
            EngineError::Storage(error) => {
                tracing::error!(%error, "storage failure");
                ApiError::unavailable("storage is unavailable; retry shortly")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            error: &self.message,
            code: self.code,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
