//! Per-key request limits: a fixed one-minute window per API key, counted in memory.
//!
//! Counting is a sharded-map update, no lock shared across keys. Windows are not persisted: a
//! restart gives every key a fresh minute, which errs on the side of serving.

use dashmap::DashMap;
use flit_engine::ids::ApiKeyId;

const WINDOW_SECONDS: u64 = 60;

#[derive(Default)]
pub struct RateLimiter {
    windows: DashMap<ApiKeyId, Window>,
}

struct Window {
    started_at: u64,
    count: u32,
}

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the window resets.
    pub reset_at: u64,
    pub retry_after: u64,
}

impl RateLimiter {
    /// Counts one request of `key` at `now` (unix seconds) against `limit` per minute.
    pub fn check(&self, key: ApiKeyId, limit: u32, now: u64) -> Decision {
        let mut window = self.windows.entry(key).or_insert(Window {
            started_at: now,
            count: 0,
        });
        if now >= window.started_at + WINDOW_SECONDS {
            window.started_at = now;
            window.count = 0;
        }
        let reset_at = window.started_at + WINDOW_SECONDS;
        let allowed = window.count < limit;
        if allowed {
            window.count += 1;
        }
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(window.count),
            reset_at,
            retry_after: reset_at.saturating_sub(now).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_then_refuses_until_the_window_resets() {
        let limiter = RateLimiter::default();
        let key = ApiKeyId::new();
        for i in 0..3 {
            let decision = limiter.check(key, 3, 1000);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, 2 - i);
            assert_eq!(decision.reset_at, 1060);
        }
        let refused = limiter.check(key, 3, 1030);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 30);
        let next_window = limiter.check(key, 3, 1060);
        assert!(next_window.allowed);
        assert_eq!(next_window.reset_at, 1120);
    }

    #[test]
    fn threads_racing_on_one_key_never_overshoot_the_limit() {
        let limiter = std::sync::Arc::new(RateLimiter::default());
        let key = ApiKeyId::new();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .filter(|_| limiter.check(key, 1000, 5000).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads
            .into_iter()
            .map(|thread| thread.join().expect("thread"))
            .sum();
        assert_eq!(allowed, 1000);
        let after = limiter.check(key, 1000, 5000);
        assert!(!after.allowed);
        assert_eq!(after.remaining, 0);
    }

    #[test]
    fn keys_are_counted_apart() {
        let limiter = RateLimiter::default();
        let (a, b) = (ApiKeyId::new(), ApiKeyId::new());
        assert!(limiter.check(a, 1, 0).allowed);
        assert!(!limiter.check(a, 1, 0).allowed);
        assert!(limiter.check(b, 1, 0).allowed);
    }
}
