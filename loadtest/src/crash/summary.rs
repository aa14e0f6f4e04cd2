//! The figures of a crash run, the list of what it found wrong, and how both are printed (a
//! table, or JSON).

use std::fmt::Write as _;

use serde::Serialize;

use super::check::{LedgerCheck, SmscCheck};

/// Where a kill was aimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KillAim {
    /// A random moment of the steady load (commits going on all the time).
    Steady,
    /// Right after a group send was issued, while it is being accepted and written.
    GroupSend,
    /// While receipts stream in for a group send's recipients.
    ReceiptBurst,
    /// While the bind's window is busy with submits.
    MidWindow,
}

impl KillAim {
    /// The order kills cycle through.
    pub const CYCLE: [KillAim; 4] = [
        KillAim::GroupSend,
        KillAim::Steady,
        KillAim::ReceiptBurst,
        KillAim::MidWindow,
    ];
}

/// One kill.
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    pub aim: KillAim,
    /// Whether the moment aimed for was reached before the kill (else it fell back to a
    /// random moment).
    pub on_target: bool,
    /// Seconds since the first start.
    pub at_secs: f64,
    /// Submits the SMSC had accepted by then.
    pub smsc_accepted: u64,
    /// Spawn to the first 200 from `/health` of the start that followed.
    pub restart_ms: f64,
    /// Submits the SMSC accepted again after this kill (and before the next).
    pub duplicates: u64,
}

/// One tenant's ledger.
#[derive(Debug, Clone, Serialize)]
pub struct TenantLedger {
    pub tenant: String,
    #[serde(flatten)]
    pub check: LedgerCheck,
    /// Charges (of unacknowledged messages) whose message does not exist.
    pub charges_without_message: Vec<String>,
}

/// Everything a crash run measured and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CrashSummary {
    pub storage: String,
    /// Seed of the kill schedule (pass it as `--seed` to repeat the moments).
    pub seed: u64,
    pub kills: Vec<Kill>,
    pub elapsed_secs: f64,
    pub attempts: u64,
    pub cut_off: u64,
    pub transport_errors: u64,
    pub server_errors: u64,
    pub rejected: u64,
    pub abandoned: u64,
    /// Requests answered 2xx.
    pub acknowledged: u64,
    pub acknowledged_recipients: u64,
    pub acknowledged_group_sends: u64,
    /// Acknowledged requests that took more than one attempt.
    pub acknowledged_after_retry: u64,
    /// Acknowledged messages missing or not final at the end.
    pub lost: u64,
    pub missing: u64,
    pub not_final: u64,
    pub count_mismatch: u64,
    pub delivered_messages: u64,
    pub failed_messages: u64,
    /// Messages charged more than once, over every tenant.
    pub double_charged: u64,
    pub charges_without_message: u64,
    pub charged_unacknowledged: u64,
    pub uncharged: u64,
    pub ledgers: Vec<TenantLedger>,
    /// Messages in the tenants' history that no 2xx answered.
    pub unacknowledged_messages: u64,
    pub replayed: u64,
    pub replay_mismatches: u64,
    pub smsc: SmscCheck,
    /// The bound on SMSC duplicates: window × kills.
    pub duplicate_bound: u64,
    pub window_violations: u64,
    pub restart_ms_median: f64,
    pub restart_ms_max: f64,
    pub drain_secs: f64,
    /// Everything that breaks the test's rules; empty on a pass.
    pub violations: Vec<String>,
    /// Samples of what went wrong, for diagnosis.
    pub samples: Vec<String>,
}

impl CrashSummary {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Sets the restart figures from the kills.
    pub fn restart_figures(&mut self) {
        let mut times: Vec<f64> = self.kills.iter().map(|k| k.restart_ms).collect();
        times.sort_by(f64::total_cmp);
        self.restart_ms_max = times.last().copied().unwrap_or(0.0);
        self.restart_ms_median = median(&times);
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let on_target = self.kills.iter().filter(|k| k.on_target).count();
        let by_aim = |aim: KillAim| self.kills.iter().filter(|k| k.aim == aim).count();
        let rows: Vec<(&str, String)> = vec![
            ("storage", self.storage.clone()),
            ("seed", self.seed.to_string()),
            (
                "kills (on target)",
                format!(
                    "{} ({on_target}): {} steady, {} group send, {} receipt burst, {} mid-window",
                    self.kills.len(),
                    by_aim(KillAim::Steady),
                    by_aim(KillAim::GroupSend),
                    by_aim(KillAim::ReceiptBurst),
                    by_aim(KillAim::MidWindow),
                ),
            ),
            ("run time", format!("{:.1} s", self.elapsed_secs)),
            (
                "acknowledged",
                format!(
                    "{} requests ({} group sends, {} after a retry), {} recipients",
                    self.acknowledged,
                    self.acknowledged_group_sends,
                    self.acknowledged_after_retry,
                    self.acknowledged_recipients
                ),
            ),
            (
                "attempts",
                format!(
                    "{} ({} cut off by a kill, {} transport errors, {} 5xx, {} refused, {} abandoned)",
                    self.attempts,
                    self.cut_off,
                    self.transport_errors,
                    self.server_errors,
                    self.rejected,
                    self.abandoned
                ),
            ),
            (
                "lost",
                format!(
                    "{} ({} missing, {} not final)",
                    self.lost, self.missing, self.not_final
                ),
            ),
            (
                "final messages",
                format!(
                    "{} delivered, {} failed",
                    self.delivered_messages, self.failed_messages
                ),
            ),
            ("double-charged", self.double_charged.to_string()),
            (
                "charges without message / unacknowledged / acks uncharged",
                format!(
                    "{} / {} / {}",
                    self.charges_without_message, self.charged_unacknowledged, self.uncharged
                ),
            ),
            (
                "ledgers balanced",
                format!(
                    "{} of {}",
                    self.ledgers.iter().filter(|l| l.check.balances()).count(),
                    self.ledgers.len()
                ),
            ),
            (
                "replays matching the first answer",
                format!(
                    "{} of {}",
                    self.replayed - self.replay_mismatches,
                    self.replayed
                ),
            ),
            (
                "SMSC duplicates (bound)",
                format!(
                    "{} ({} = window × kills), of {} accepted submits",
                    self.smsc.duplicates, self.duplicate_bound, self.smsc.accepted
                ),
            ),
            (
                "SMSC duplicates per kill (max), before any kill",
                format!(
                    "{} ({}), {}",
                    self.kills
                        .iter()
                        .map(|k| k.duplicates.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    self.kills.iter().map(|k| k.duplicates).max().unwrap_or(0),
                    self.smsc.duplicates_without_kill
                ),
            ),
            (
                "SMSC unsent / unknown",
                format!("{} / {}", self.smsc.unsent, self.smsc.unknown),
            ),
            (
                "time to serve after restart",
                format!(
                    "median {:.0} ms, max {:.0} ms",
                    self.restart_ms_median, self.restart_ms_max
                ),
            ),
            ("drain", format!("{:.1} s", self.drain_secs)),
            (
                "result",
                if self.passed() {
                    "PASS".to_owned()
                } else {
                    format!("FAIL ({} violations)", self.violations.len())
                },
            ),
        ];
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        for (name, value) in rows {
            let _ = writeln!(out, "  {name:<width$}  {value}");
        }
        for violation in &self.violations {
            let _ = writeln!(out, "  violation: {violation}");
        }
        for sample in &self.samples {
            let _ = writeln!(out, "  sample: {sample}");
        }
        out
    }
}

/// The median of sorted values (0 when empty).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[1.0, 5.0, 9.0]), 5.0);
        assert_eq!(median(&[1.0, 3.0, 5.0, 9.0]), 4.0);
    }

    #[test]
    fn a_summary_with_violations_fails_and_says_why() {
        let mut summary = CrashSummary {
            storage: "sled".into(),
            ..CrashSummary::default()
        };
        assert!(summary.passed());
        summary.violations.push("1 message lost".into());
        assert!(!summary.passed());
        assert!(summary.table().contains("violation: 1 message lost"));
        assert!(summary.table().contains("FAIL (1 violations)"));
    }
}
