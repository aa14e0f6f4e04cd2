//! `EngineHealth`: whether the engine can still do its work, and if not, why.
//!
//! The root supervisor restarts a failing actor at most `MAX_RESTARTS_PER_MINUTE` times a
//! minute and then leaves it stopped; from then on parts of the engine are dead until the
//! process restarts (a dead router lets every send pile up, a dead tenant actor answers
//! "restarting" for ever). The supervisor records that here, the engine refuses sends while it
//! is so, and `GET /health` reports it, so an operator or an orchestrator learns of it and
//! restarts the process instead of traffic silently going nowhere. Nothing clears it: an actor
//! the supervisor gave up on never comes back in this process.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::EngineError;

/// Shared (`Arc`) by the root supervisor, its only writer, and the engine, which reads it on
/// every send and whenever `GET /health` asks.
#[derive(Debug)]
pub struct EngineHealth {
    /// False once any child is given up on; read alone on the hot path (every send) so that a
    /// healthy engine takes no lock.
    healthy: AtomicBool,
    /// One sentence per child given up on, in the order they fell (each child at most once).
    reasons: RwLock<Vec<String>>,
}

impl EngineHealth {
    pub(crate) fn new() -> EngineHealth {
        metrics::gauge!("flit_engine_healthy").set(1.0);
        EngineHealth {
            healthy: AtomicBool::new(true),
            reasons: RwLock::new(Vec::new()),
        }
    }

    /// True until the supervisor gives up on one of its children.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Why the engine is unhealthy (every child given up on, `; `-separated), or `None`.
    pub fn reason(&self) -> Option<String> {
        if self.is_healthy() {
            return None;
        }
        Some(
            self.reasons
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .join("; "),
        )
    }

    /// Records that a child is down for good. The supervisor calls it once per such child.
    pub(crate) fn gave_up(&self, reason: String) {
        self.reasons
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(reason);
        // After the push, so a reader that sees `false` finds the reason.
        self.healthy.store(false, Ordering::Release);
        metrics::gauge!("flit_engine_healthy").set(0.0);
    }

    /// `Err(EngineError::Unhealthy)` while unhealthy: what a send checks before anything else.
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        match self.reason() {
            None => Ok(()),
            Some(reason) => Err(EngineError::Unhealthy { reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_until_a_child_is_given_up_on_then_says_which() {
        let health = EngineHealth::new();
        assert!(health.is_healthy());
        assert_eq!(health.reason(), None);
        assert!(health.check().is_ok());

        health.gave_up("the router actor failed 11 times in a minute".into());
        health.gave_up("the bind bnd_1 actor could not be restarted: boom".into());
        assert!(!health.is_healthy());
        assert_eq!(
            health.reason().as_deref(),
            Some(
                "the router actor failed 11 times in a minute; \
                 the bind bnd_1 actor could not be restarted: boom"
            )
        );
        assert!(matches!(
            health.check(),
            Err(EngineError::Unhealthy { reason }) if reason.contains("router")
        ));
    }
}
