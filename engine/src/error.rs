//! The engine's error type: each variant is one kind of answer the API gives.

use flit_storage::StorageError;

use crate::tenants::actor::ChargeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request breaks a rule of the domain; `code` is a stable snake_case name.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("insufficient credits: {required} required, {balance} available")]
    InsufficientCredits { required: i64, balance: i64 },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyConflict,
    /// A part of the engine is down (actor restarting, store failing); the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The supervisor gave up on an actor (it kept failing), so the engine refuses sends until
    /// the process restarts; `reason` names the actor (see `EngineHealth`).
    #[error("the engine is unhealthy: {reason}")]
    Unhealthy { reason: String },
    /// Accepting the send would take the dispatch backlog past its configured cap.
    #[error("{queued} recipients are waiting for a carrier (cap {cap}); retry later")]
    BacklogFull { queued: usize, cap: usize },
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

impl EngineError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<ChargeError> for EngineError {
    fn from(error: ChargeError) -> Self {
        match error {
            ChargeError::InsufficientCredits { required, balance } => {
                EngineError::InsufficientCredits { required, balance }
            }
            ChargeError::IdempotencyConflict => EngineError::IdempotencyConflict,
            ChargeError::BalanceOverflow => EngineError::invalid(
                "invalid_amount",
                "the balance would leave the representable range",
            ),
            ChargeError::Storage(error) => EngineError::Storage(error),
        }
    }
}
