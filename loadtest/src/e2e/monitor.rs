//! Watches the simulated SMSCs while the run goes: samples their counters every few
//! milliseconds to time the first and last submit and receipt, keeps a sample of the counters
//! every second (for the per-second rates and the plot), and prints a progress line every
//! second.

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

/// The counters at one whole second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the monitor started.
    pub secs: f64,
    /// Recipients the HTTP phase had had accepted.
    pub accepted: u64,
    pub totals: Totals,
}

/// One second's rates, between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SecondRates {
    /// Seconds since the monitor started at which the second begins.
    pub second: f64,
    pub accepted_per_sec: f64,
    pub submit_sm_per_sec: f64,
    pub receipts_per_sec: f64,
}

/// The rates between consecutive samples, leaving out the idle tail after the last second in
/// which anything moved.
pub fn rates(samples: &[Sample]) -> Vec<SecondRates> {
    let mut out: Vec<SecondRates> = samples
        .windows(2)
        .map(|pair| {
            let (a, b) = (pair[0], pair[1]);
            let secs = (b.secs - a.secs).max(1e-9);
            let rate = |after: u64, before: u64| after.saturating_sub(before) as f64 / secs;
            SecondRates {
                second: a.secs,
                accepted_per_sec: rate(b.accepted, a.accepted),
                submit_sm_per_sec: rate(b.totals.submits, a.totals.submits),
                receipts_per_sec: rate(b.totals.receipts_acked, a.totals.receipts_acked),
            }
        })
        .collect();
    let busy = |r: &SecondRates| {
        r.accepted_per_sec > 0.0 || r.submit_sm_per_sec > 0.0 || r.receipts_per_sec > 0.0
    };
    // Keep one idle second after the last busy one, so the chart shows the drop to zero.
    let keep = out.iter().rposition(busy).map_or(0, |last| last + 2);
    out.truncate(keep);
    out
}

/// The running sampler; dropped or [`Monitor::stop`]ped at the end.
#[derive(Debug)]
pub struct Monitor {
    timeline: Arc<Mutex<Timeline>>,
    samples: Arc<Mutex<Vec<Sample>>>,
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
        let samples = Arc::new(Mutex::new(vec![Sample::default()]));
        let shared_samples = Arc::clone(&samples);
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
                    shared_samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Sample {
                            secs: now.duration_since(started).as_secs_f64(),
                            accepted: accepted_now,
                            totals,
                        });
                }
            }
        });
        Self {
            timeline,
            samples,
            task,
        }
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

    /// The per-second samples so far (the first is the start, all zero).
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_consecutive_samples_without_the_idle_tail() {
        let sample = |secs: f64, accepted, submits, receipts_acked| Sample {
            secs,
            accepted,
            totals: Totals {
                submits,
                accepted: submits,
                receipts_sent: receipts_acked,
                receipts_acked,
            },
        };
        let samples = [
            sample(0.0, 0, 0, 0),
            sample(1.0, 1000, 800, 0),
            sample(2.0, 2000, 2000, 900),
            // The sampler ran late: 1.5 s since the last sample.
            sample(3.5, 2000, 2000, 2000),
            sample(4.5, 2000, 2000, 2000),
            sample(5.5, 2000, 2000, 2000),
            sample(6.5, 2000, 2000, 2000),
        ];
        let rates = rates(&samples);
        assert_eq!(rates.len(), 4, "{rates:?}");
        assert_eq!(
            rates[0],
            SecondRates {
                second: 0.0,
                accepted_per_sec: 1000.0,
                submit_sm_per_sec: 800.0,
                receipts_per_sec: 0.0,
            }
        );
        assert_eq!(rates[1].submit_sm_per_sec, 1200.0);
        assert_eq!(rates[1].receipts_per_sec, 900.0);
        assert!((rates[2].receipts_per_sec - 1100.0 / 1.5).abs() < 1e-9);
        assert_eq!(rates[3].second, 3.5);
        assert_eq!(rates[3].receipts_per_sec, 0.0);
        assert!(super::rates(&samples[..1]).is_empty());
        assert!(super::rates(&[sample(0.0, 0, 0, 0), sample(1.0, 0, 0, 0)]).is_empty());
    }

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
