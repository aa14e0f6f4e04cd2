//! Watches the simulated SMSCs while the run goes: samples their counters every few
//! milliseconds to time the first and last submit and receipt, and prints a progress line
//! every second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::smsc::{SmscHandle, SmscStats};

const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// Sums of the SMSCs' counters that matter here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub submits: u64,
    pub accepted: u64,
    pub receipts_sent: u64,
    pub receipts_acked: u64,
}

impl Totals {
    pub fn of(stats: &[SmscStats]) -> Self {
        stats.iter().fold(Self::default(), |sum, s| Self {
            submits: sum.submits + s.submits,
            accepted: sum.accepted + s.accepted,
            receipts_sent: sum.receipts_sent + s.receipts_sent,
            receipts_acked: sum.receipts_acked + s.receipts_acked,
        })
    }
}

/// When counters first moved and last moved, as seen by the sampler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline {
    pub totals: Totals,
    pub first_submit: Option<Instant>,
    pub last_submit: Option<Instant>,
    pub first_receipt: Option<Instant>,
    pub last_receipt: Option<Instant>,
}

impl Timeline {
    fn observe(&mut self, totals: Totals, now: Instant) {
        if totals.submits > self.totals.submits {
            self.first_submit.get_or_insert(now);
            self.last_submit = Some(now);
        }
        if totals.receipts_acked > self.totals.receipts_acked {
            self.first_receipt.get_or_insert(now);
            self.last_receipt = Some(now);
        }
        self.totals = totals;
    }
}

/// The running sampler; dropped or [`Monitor::stop`]ped at the end.
#[derive(Debug)]
pub struct Monitor {
    timeline: Arc<Mutex<Timeline>>,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Starts sampling `smscs`; `accepted` is the HTTP phase's running count of accepted
    /// recipients, `target` the number offered, both for the progress line.
    pub fn start(
        smscs: Arc<Vec<SmscHandle>>,
        accepted: Arc<AtomicU64>,
        target: u64,
        quiet: bool,
    ) -> Self {
        let timeline = Arc::new(Mutex::new(Timeline::default()));
        let shared = Arc::clone(&timeline);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(SAMPLE_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut next_print = started + Duration::from_secs(1);
            let mut printed = (started, Totals::default(), 0u64);
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let stats: Vec<SmscStats> = smscs.iter().map(SmscHandle::stats).collect();
                let totals = Totals::of(&stats);
                shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .observe(totals, now);
                if now >= next_print {
                    next_print += Duration::from_secs(1);
                    let accepted_now = accepted.load(Ordering::Relaxed);
                    let (then, before, accepted_before) = printed;
                    let secs = now.duration_since(then).as_secs_f64().max(1e-9);
                    if !quiet {
                        eprintln!(
                            "[{:>5.1}s] accepted {accepted_now}/{target} (+{:.0}/s)  submit_sm {} ({:.0}/s)  receipts {} ({:.0}/s)",
                            now.duration_since(started).as_secs_f64(),
                            (accepted_now - accepted_before) as f64 / secs,
                            totals.submits,
                            (totals.submits - before.submits) as f64 / secs,
                            totals.receipts_acked,
                            (totals.receipts_acked - before.receipts_acked) as f64 / secs,
                        );
                    }
                    printed = (now, totals, accepted_now);
                }
            }
        });
        Self { timeline, task }
    }

    /// The latest sample.
    pub fn timeline(&self) -> Timeline {
        *self.timeline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `done` holds for the sampled totals, or `deadline` passes. Returns the
    /// timeline at that moment and whether `done` held.
    pub async fn wait_until(
        &self,
        deadline: Instant,
        done: impl Fn(&Totals) -> bool,
    ) -> (Timeline, bool) {
        loop {
            let timeline = self.timeline();
            if done(&timeline.totals) {
                return (timeline, true);
            }
            if Instant::now() >= deadline {
                return (timeline, false);
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_keeps_first_and_last_movement() {
        let t0 = Instant::now();
        let mut timeline = Timeline::default();
        let at = |ms| t0 + Duration::from_millis(ms);
        let totals = |submits, receipts_acked| Totals {
            submits,
            accepted: submits,
            receipts_sent: receipts_acked,
            receipts_acked,
        };
        timeline.observe(totals(0, 0), at(0));
        timeline.observe(totals(10, 0), at(5));
        timeline.observe(totals(20, 5), at(10));
        timeline.observe(totals(20, 20), at(15));
        timeline.observe(totals(20, 20), at(20));
        assert_eq!(timeline.first_submit, Some(at(5)));
        assert_eq!(timeline.last_submit, Some(at(10)));
        assert_eq!(timeline.first_receipt, Some(at(10)));
        assert_eq!(timeline.last_receipt, Some(at(15)));
    }
}
