//! The figures of an smpp-client run, summed over its binds, and how they are printed (a
//! table, or JSON with snake_case keys like the other modes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::e2e::Latency;

/// Everything the run measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SmppClientSummary {
    /// `host:port` of the SMPP server.
    pub server: String,
    pub system_id: String,
    pub binds: usize,
    pub window: u32,
    /// Messages the run was asked to send (one distinct destination each).
    pub messages: u64,
    /// `submit_sm` written, retries after throttling included.
    pub submits: u64,
    /// Submits answered `ESME_ROK`.
    pub accepted: u64,
    /// Accepted answers without a message id (no receipt can be matched to them).
    pub accepted_without_id: u64,
    /// Answers `ESME_RTHROTTLED` (0x58) or `ESME_RMSGQFUL` (0x14); each was sent again.
    pub throttled: u64,
    /// Submits refused for good (any other status, `generic_nack` included).
    pub refused: u64,
    /// Those refusals by command_status, keyed `0x0000000B`.
    pub refused_by_status: BTreeMap<String, u64>,
    /// Submits given up after `--response-timeout` without an answer.
    pub timed_out: u64,
    /// Submits unanswered or waiting for a retry when their bind ended early.
    pub lost: u64,
    /// Answers to no submit awaiting one.
    pub unexpected_answers: u64,
    /// From the first submit (every bind bound) until every submit had its answer.
    pub submit_secs: f64,
    /// Accepted submits a second over `submit_secs`.
    pub submits_per_sec: f64,
    /// From each `submit_sm` to its answer (every answer, throttled and refused included).
    pub latency: Latency,
    /// Whether receipts were asked for (`--receipts`).
    pub receipts_requested: bool,
    /// Receipt `deliver_sm`s received, duplicates and unknown ones included.
    pub receipts: u64,
    /// Accepted submits whose receipt came.
    pub receipts_matched: u64,
    /// Accepted submits without a receipt at the end (only with `--receipts`).
    pub receipts_missing: u64,
    /// Receipts naming an id no accepted submit was given, or none.
    pub receipts_unknown: u64,
    /// Second and later receipts for one id.
    pub receipts_duplicate: u64,
    /// From the first submit to the last matched receipt.
    pub receipts_secs: f64,
    /// Matched receipts a second over `receipts_secs`.
    pub receipts_per_sec: f64,
    /// `deliver_sm` that were not receipts (mobile-originated messages), answered.
    pub inbound: u64,
    /// `enquire_link` from the server, answered.
    pub enquire_links: u64,
    /// Binds whose `unbind` got its `unbind_resp`.
    pub unbound: usize,
    /// From the first submit to the last bind closed.
    pub elapsed_secs: f64,
    /// Problems seen: binds that ended early, cleanup failures.
    pub notes: Vec<String>,
}

/// `0x0000000B`, the key of a status in `refused_by_status`.
pub fn status_key(status: u32) -> String {
    format!("0x{status:08X}")
}

impl SmppClientSummary {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "  {name:<22} {value:>14}");
        };
        row("server", self.server.clone());
        row("system_id", self.system_id.clone());
        row(
            "binds x window",
            format!("{} x {}", self.binds, self.window),
        );
        row("messages", self.messages.to_string());
        row("submit_sm", self.submits.to_string());
        row("accepted", self.accepted.to_string());
        row("throttled", self.throttled.to_string());
        row("refused", self.refused.to_string());
        for (status, count) in &self.refused_by_status {
            row(&format!("  status {status}"), count.to_string());
        }
        row("timed out", self.timed_out.to_string());
        row("lost", self.lost.to_string());
        row("submit phase (s)", format!("{:.2}", self.submit_secs));
        row("submits/s", format!("{:.0}", self.submits_per_sec));
        row("latency p50 (ms)", format!("{:.2}", self.latency.p50_ms));
        row("latency p90 (ms)", format!("{:.2}", self.latency.p90_ms));
        row("latency p99 (ms)", format!("{:.2}", self.latency.p99_ms));
        row("latency max (ms)", format!("{:.2}", self.latency.max_ms));
        if self.receipts_requested || self.receipts > 0 {
            row("receipts", self.receipts.to_string());
            row("receipts matched", self.receipts_matched.to_string());
            row("receipts missing", self.receipts_missing.to_string());
            row("receipts unknown", self.receipts_unknown.to_string());
            row("receipts duplicate", self.receipts_duplicate.to_string());
            row("receipts/s", format!("{:.0}", self.receipts_per_sec));
        }
        row("elapsed (s)", format!("{:.2}", self.elapsed_secs));
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_headline_figure() {
        let summary = SmppClientSummary {
            receipts_requested: true,
            refused_by_status: BTreeMap::from([(status_key(0x0B), 2)]),
            ..SmppClientSummary::default()
        };
        let table = summary.table();
        for name in [
            "submits/s",
            "latency p50",
            "latency p99",
            "throttled",
            "status 0x0000000B",
            "receipts/s",
            "receipts missing",
            "elapsed",
        ] {
            assert!(table.contains(name), "{name} missing from\n{table}");
        }
    }

    #[test]
    fn json_keys_are_snake_case() {
        let json = serde_json::to_value(SmppClientSummary::default()).expect("serialisable");
        for key in [
            "submits_per_sec",
            "refused_by_status",
            "receipts_matched",
            "receipts_missing",
            "receipts_per_sec",
            "elapsed_secs",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert!(json["latency"].get("p99_ms").is_some(), "{json}");
    }
}
