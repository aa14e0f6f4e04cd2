//! The engine's clock: wall-clock milliseconds for what is stored (due times of scheduled
//! messages and webhook retries), and sleeping until such an instant.
//!
//! `Clock::System` reads the system clock. `Clock::Tokio` follows tokio's clock from the wall
//! time it was made at, so tests that pause and advance tokio's time move the scheduler and the
//! webhook retries with it; tests that reopen an engine pass the same clock to both opens.

use std::time::Duration;

use crate::store::records::{UnixMillis, now_millis};

#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// Wall time `wall` at tokio instant `at`, moving as tokio's clock moves.
    Tokio {
        wall: UnixMillis,
        at: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's (paused or not) from now on. Call it inside a runtime.
    pub fn tokio() -> Clock {
        Clock::Tokio {
            wall: now_millis(),
            at: tokio::time::Instant::now(),
        }
    }

    pub fn now_millis(&self) -> UnixMillis {
        match self {
            Clock::System => now_millis(),
            Clock::Tokio { wall, at } => {
                let elapsed = i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX);
                wall.saturating_add(elapsed)
            }
        }
    }

    /// How long from now until `instant` (zero if it has passed).
    pub fn until(&self, instant: UnixMillis) -> Duration {
        Duration::from_millis(u64::try_from(instant - self.now_millis()).unwrap_or(0))
    }

    /// Sleeps until `instant` on this clock.
    pub async fn sleep_until(&self, instant: UnixMillis) {
        tokio::time::sleep(self.until(instant)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_paused_time() {
        let clock = Clock::tokio();
        let start = clock.now_millis();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_millis() - start, 3_600_000);
        assert_eq!(clock.until(start + 3_601_000), Duration::from_secs(1));
        assert_eq!(clock.until(start), Duration::ZERO);
    }
}
