//! What the simulated SMSC does: credentials, timings and faults. The whole struct can be
//! swapped at run time through [`SmscHandle::set_config`](super::SmscHandle::set_config); only
//! `listen` is read once, at start.

use std::net::SocketAddr;
use std::time::Duration;

/// How message ids handed out in `submit_sm_resp` (and echoed in receipts) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdFormat {
    /// Lower-case hexadecimal, e.g. `67a1b2c30001`.
    #[default]
    Hex,
    /// Decimal digits, e.g. `113721548881921`.
    Decimal,
    /// Hex in `submit_sm_resp` and in the `receipted_message_id` TLV, but decimal in the receipt
    /// text `id:` field, as some real SMSCs do; exercises id normalisation in the client.
    HexRespDecimalReceipt,
}

/// Configuration of a simulated SMSC. `Default` is a well-behaved SMSC on `127.0.0.1:0` that
/// accepts any credentials, answers at once and sends `DELIVRD` receipts after one second.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// Address to listen on; port 0 picks a free port (see [`SmscHandle::addr`](super::SmscHandle)).
    pub listen: SocketAddr,
    /// When set, binds must carry this system_id, else `ESME_RINVSYSID` (0x0F).
    pub system_id: Option<String>,
    /// When set, binds must carry this password, else `ESME_RINVPASWD` (0x0E).
    pub password: Option<String>,
    /// Time between the `submit_sm_resp` and its delivery receipt.
    pub receipt_delay: Duration,
    /// Time between receiving a `submit_sm` and answering it.
    pub latency: Duration,
    /// Send each receipt right away, before the (delayed by `latency`) `submit_sm_resp`:
    /// the race some real SMSCs produce, which the client must survive.
    pub receipts_before_response: bool,
    /// Answer every Nth `submit_sm` (counted over the whole server) with `ESME_RTHROTTLED`.
    pub throttle_every: Option<u64>,
    /// Probability in [0, 1] that a `submit_sm` is answered with `ESME_RTHROTTLED`.
    pub throttle_rate: f64,
    /// Drop the TCP connection right after receiving every Nth `submit_sm`, unanswered.
    pub disconnect_every: Option<u64>,
    /// Probability in [0, 1] of dropping the connection right after a `submit_sm`.
    pub disconnect_rate: f64,
    /// Write bytes that are not a PDU instead of every Nth `submit_sm_resp`.
    pub garbage_every: Option<u64>,
    /// Probability in [0, 1] of writing garbage instead of a `submit_sm_resp`.
    pub garbage_rate: f64,
    /// A storm: the `count` submits after the first `after` (counted over the whole server) are
    /// all answered `ESME_RTHROTTLED`, back to back.
    pub throttle_storm: Option<ThrottleStorm>,
    /// Answer every Nth `submit_sm` with a `generic_nack` carrying `generic_nack_status`.
    pub generic_nack_every: Option<u64>,
    /// The command_status of those `generic_nack`s (default `ESME_RINVCMDID`, 0x03).
    pub generic_nack_status: u32,
    /// Answer every Nth `submit_sm` with a well-framed `submit_sm_resp` whose body cannot be
    /// decoded (a message_id with no NUL terminator); the submit counts as accepted, so its
    /// receipt follows under an id the client never read.
    pub malformed_every: Option<u64>,
    /// After every Nth accepted `submit_sm`, also send a receipt for a message id this SMSC
    /// never handed out.
    pub stray_receipts_every: Option<u64>,
    /// Restart the SMSC right after receiving every Nth `submit_sm` (unanswered): every session
    /// is dropped, the listener closes for `restart_downtime`, then listens again on the same
    /// port. Counters, received submits and queued receipts survive, as on a real SMSC.
    pub restart_every: Option<u64>,
    /// How long the listener stays closed during a restart.
    pub restart_downtime: Duration,
    /// Destinations ending with this suffix get an `UNDELIV` receipt (err:001, message_state 5).
    pub fail_suffix: Option<String>,
    /// Destinations with this ending are refused for good at submit (ESME_RINVDSTADR, 0x0B).
    pub reject_suffix: Option<String>,
    /// Send delivery receipts at all (still only when the submit's registered_delivery asks).
    pub receipts: bool,
    /// How message ids are written.
    pub id_format: IdFormat,
    /// Never answer submits: they are recorded and stay outstanding forever (timeouts tests).
    pub silent: bool,
    /// Count a window violation whenever a session has more than N unanswered submits.
    pub max_window_check: Option<u64>,
    /// Keep every submit for [`SmscHandle::received`](super::SmscHandle::received). The CLI turns
    /// this off so that a long benchmark does not grow memory without bound.
    pub record_received: bool,
}

impl Default for SmscConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            system_id: None,
            password: None,
            receipt_delay: Duration::from_secs(1),
            latency: Duration::ZERO,
            receipts_before_response: false,
            throttle_every: None,
            throttle_rate: 0.0,
            disconnect_every: None,
            disconnect_rate: 0.0,
            garbage_every: None,
            garbage_rate: 0.0,
            throttle_storm: None,
            generic_nack_every: None,
            generic_nack_status: 0x03,
            malformed_every: None,
            stray_receipts_every: None,
            restart_every: None,
            restart_downtime: Duration::from_millis(500),
            fail_suffix: None,
            reject_suffix: None,
            receipts: true,
            id_format: IdFormat::Hex,
            silent: false,
            max_window_check: None,
            record_received: true,
        }
    }
}

/// A run of consecutive throttled answers (see [`SmscConfig::throttle_storm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ThrottleStorm {
    /// Submits answered normally before the storm starts.
    pub after: u64,
    /// Submits answered `ESME_RTHROTTLED` in a row.
    pub count: u64,
}

impl ThrottleStorm {
    /// Whether the submit with this 1-based ordinal falls in the storm.
    pub fn covers(&self, ordinal: u64) -> bool {
        ordinal > self.after && ordinal <= self.after.saturating_add(self.count)
    }
}

impl std::str::FromStr for ThrottleStorm {
    type Err = String;

    /// `AFTER:COUNT`, e.g. `10:25`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (after, count) = text
            .split_once(':')
            .ok_or_else(|| format!("expected AFTER:COUNT, got {text:?}"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|err| format!("{part:?} is not a count: {err}"))
        };
        Ok(ThrottleStorm {
            after: number(after)?,
            count: number(count)?,
        })
    }
}

/// One fault rule: fires on every Nth event (by the event's 1-based ordinal) or with a probability.
pub(crate) fn fault_fires(every: Option<u64>, rate: f64, ordinal: u64) -> bool {
    if let Some(every) = every
        && every > 0
        && ordinal.is_multiple_of(every)
    {
        return true;
    }
    rate > 0.0 && rand::random::<f64>() < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fires_on_multiples_only() {
        let fired: Vec<u64> = (1..=6).filter(|n| fault_fires(Some(2), 0.0, *n)).collect();
        assert_eq!(fired, vec![2, 4, 6]);
        assert!(!fault_fires(Some(0), 0.0, 3));
        assert!(!fault_fires(None, 0.0, 3));
        assert!(fault_fires(None, 1.0, 3));
    }

    #[test]
    fn a_storm_covers_its_run_only() {
        let storm: ThrottleStorm = "2:3".parse().expect("parses");
        let covered: Vec<u64> = (1..=7).filter(|n| storm.covers(*n)).collect();
        assert_eq!(covered, vec![3, 4, 5]);
        assert!("3".parse::<ThrottleStorm>().is_err());
        assert!("a:3".parse::<ThrottleStorm>().is_err());
    }
}
