//! How fast a session may send: the pause an SMSC imposes with throttle answers (0x58, 0x14),
//! doubling per episode and reset by success, and the TPS limit as a token bucket of parts.

use std::time::Duration;

use tokio::time::Instant;

/// First pause after a 0x58/0x14 response; doubles on each further one, up to the maximum.
const THROTTLE_PAUSE_MIN: Duration = Duration::from_secs(1);
const THROTTLE_PAUSE_MAX: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(super) struct Throttle {
    /// The pause the next throttle response causes; `None` after success.
    pub(super) next: Option<Duration>,
    pub(super) until: Option<Instant>,
    /// When the current pause began: answers to parts sent before it belong to it.
    since: Option<Instant>,
}

impl Throttle {
    /// A throttle answer to a part sent at `sent_at`: a new pause (doubling the last one), or
    /// `None` when the part left before the current pause began (same episode, one window of
    /// throttle answers must not double the pause once per answer).
    pub(super) fn hit(&mut self, now: Instant, sent_at: Instant) -> Option<Duration> {
        if self.since.is_some_and(|since| sent_at <= since) {
            return None;
        }
        let pause = self.next.unwrap_or(THROTTLE_PAUSE_MIN);
        self.next = Some((pause * 2).min(THROTTLE_PAUSE_MAX));
        self.until = Some(now + pause);
        self.since = Some(now);
        Some(pause)
    }

    pub(super) fn paused(&self, now: Instant) -> bool {
        self.until.is_some_and(|until| until > now)
    }
}

/// Token bucket by parts; one second of burst.
#[derive(Default)]
pub(crate) struct TokenBucket {
    tokens: f64,
    refilled: Option<Instant>,
}

impl TokenBucket {
    fn refill(&mut self, tps: u32, now: Instant) {
        let rate = f64::from(tps);
        match self.refilled {
            None => self.tokens = rate,
            Some(last) => {
                let earned = now.saturating_duration_since(last).as_secs_f64() * rate;
                self.tokens = (self.tokens + earned).min(rate);
            }
        }
        self.refilled = Some(now);
    }

    pub(crate) fn try_take(&mut self, tps: u32, now: Instant) -> bool {
        if tps == 0 {
            return true;
        }
        self.refill(tps, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token will be there.
    pub(super) fn next_token(&self, tps: u32, now: Instant) -> Instant {
        if tps == 0 || self.tokens >= 1.0 {
            return now;
        }
        now + Duration::from_secs_f64((1.0 - self.tokens) / f64::from(tps))
    }
}
