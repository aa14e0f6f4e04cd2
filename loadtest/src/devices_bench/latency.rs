//! Pairs each accepted send with the pull that carried its message to a phone, and the
//! `MessageEnqueued` event that led to that pull, and summarises the gaps.
//!
//! The event carries no message id (PROTOCOL.md: its data is empty), so the attribution is the
//! phone's own: a pull answers every `MessageEnqueued` that arrived since the phone's previous
//! pull, and the oldest of them is the one that woke the phone. With many phones and a modest
//! rate a phone has one message at a time and the attribution is exact; the report counts the
//! pulls that answered several events, and events that arrived before the send's answer (the
//! server may tell the phone before the client has read its 2xx).

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::api::SendOutcome;
use super::ids::phone_message_id;
use crate::devices::PullRecord;

/// A distribution of signed gaps, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub count: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Distribution {
    /// Nearest-rank percentiles of `micros` (signed microseconds).
    pub fn of(micros: &[i64]) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        let mut sorted = micros.to_vec();
        sorted.sort_unstable();
        let ms = |micros: i64| micros as f64 / 1000.0;
        let rank = |q: f64| {
            let index = (q * sorted.len() as f64).ceil() as usize;
            ms(sorted[index.clamp(1, sorted.len()) - 1])
        };
        Self {
            count: sorted.len(),
            min_ms: ms(sorted[0]),
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            max_ms: ms(sorted[sorted.len() - 1]),
        }
    }
}

/// `to - from` in signed microseconds.
pub fn signed_micros(from: Instant, to: Instant) -> i64 {
    let micros = |gap: Duration| i64::try_from(gap.as_micros()).unwrap_or(i64::MAX);
    if to >= from {
        micros(to - from)
    } else {
        -micros(from - to)
    }
}

/// What the pairing found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pairing {
    /// Accepted sends.
    pub accepted: usize,
    /// Accepted sends whose message a phone pulled.
    pub pulled: usize,
    /// Of those, pulled on a `MessageEnqueued` (the rest on the stream opening or a retry).
    pub pulled_on_event: usize,
    /// Accepted sends no phone pulled.
    pub never_pulled: usize,
    /// Pulls on an event whose oldest event arrived before the send's 2xx had.
    pub event_before_answer: usize,
    /// Pulls (of these messages) that answered more than one event.
    pub pulls_answering_several_events: usize,
    /// The send's 2xx → the phone's stream reader has the `MessageEnqueued`.
    pub answer_to_event: Distribution,
    /// The send's request → the phone's stream reader has the `MessageEnqueued`.
    pub request_to_event: Distribution,
    /// The send's 2xx → the answer of the pull that carried it.
    pub answer_to_pull: Distribution,
}

/// Pairs `sends` with the pulls in `log`.
pub fn pair(sends: &[SendOutcome], log: &[PullRecord]) -> Pairing {
    let by_id: HashMap<&str, &PullRecord> = log
        .iter()
        .map(|record| (record.message_id.as_str(), record))
        .collect();
    let mut pairing = Pairing::default();
    let mut answer_to_event = Vec::new();
    let mut request_to_event = Vec::new();
    let mut answer_to_pull = Vec::new();
    for send in sends {
        let Some(uuid) = &send.message_id else {
            continue;
        };
        pairing.accepted += 1;
        let record = phone_message_id(uuid, 0).and_then(|id| by_id.get(id.as_str()).copied());
        let Some(record) = record else {
            pairing.never_pulled += 1;
            continue;
        };
        pairing.pulled += 1;
        answer_to_pull.push(signed_micros(send.answered_at, record.pulled_at));
        let Some(event_at) = record.event_at else {
            continue;
        };
        pairing.pulled_on_event += 1;
        if record.events > 1 {
            pairing.pulls_answering_several_events += 1;
        }
        let gap = signed_micros(send.answered_at, event_at);
        if gap < 0 {
            pairing.event_before_answer += 1;
        }
        answer_to_event.push(gap);
        request_to_event.push(signed_micros(send.requested_at, event_at));
    }
    pairing.answer_to_event = Distribution::of(&answer_to_event);
    pairing.request_to_event = Distribution::of(&request_to_event);
    pairing.answer_to_pull = Distribution::of(&answer_to_pull);
    pairing
}

#[cfg(test)]
mod tests {
    use hyper::StatusCode;

    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let micros: Vec<i64> = (1..=100).map(|n| n * 1000).collect();
        let d = Distribution::of(&micros);
        assert_eq!(
            (d.count, d.min_ms, d.p50_ms, d.p90_ms, d.p99_ms, d.max_ms),
            (100, 1.0, 50.0, 90.0, 99.0, 100.0)
        );
        let one = Distribution::of(&[-2500]);
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (-2.5, -2.5, -2.5));
        assert_eq!(Distribution::of(&[]), Distribution::default());
    }

    #[test]
    fn gaps_keep_their_sign() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(3);
        assert_eq!(signed_micros(t0, t1), 3000);
        assert_eq!(signed_micros(t1, t0), -3000);
    }

    fn send(at: Instant, uuid: Option<&str>) -> SendOutcome {
        SendOutcome {
            requested_at: at,
            answered_at: at + Duration::from_millis(2),
            status: Some(StatusCode::OK),
            message_id: uuid.map(str::to_owned),
            error: None,
        }
    }

    #[test]
    fn each_send_is_paired_with_the_event_that_led_to_its_pull() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let a = "019af2c4-93c1-7d4a-b1c8-53a9e0b5cf27";
        let b = "019af2c4-93c1-7d4a-b1c8-53a9e0b5cf28";
        let c = "019af2c4-93c1-7d4a-b1c8-53a9e0b5cf29";
        let d = "019af2c4-93c1-7d4a-b1c8-53a9e0b5cf2a";
        let record =
            |uuid: &str, event_at: Option<Instant>, events: u32, pulled_at: Instant| PullRecord {
                phone: 0,
                message_id: phone_message_id(uuid, 0).unwrap_or_default(),
                event_at,
                events,
                pulled_at,
            };
        let sends = [
            send(ms(0), Some(a)),
            send(ms(10), Some(b)),
            send(ms(20), Some(c)),
            send(ms(30), Some(d)),
            send(ms(40), None),
        ];
        let log = [
            // a: answered at 2 ms, event at 7 ms, pulled at 9 ms.
            record(a, Some(ms(7)), 1, ms(9)),
            // b: the event came before the 2xx (at 11 ms, answered at 12 ms), with another.
            record(b, Some(ms(11)), 2, ms(14)),
            // c: pulled when a stream opened, no event.
            record(c, None, 0, ms(25)),
            // d was never pulled; someone else's message was.
            record(
                "019af2c4-93c1-7d4a-b1c8-53a9e0b5cf99",
                Some(ms(1)),
                1,
                ms(2),
            ),
        ];
        let pairing = pair(&sends, &log);
        assert_eq!(
            (
                pairing.accepted,
                pairing.pulled,
                pairing.pulled_on_event,
                pairing.never_pulled,
                pairing.event_before_answer,
                pairing.pulls_answering_several_events,
            ),
            (4, 3, 2, 1, 1, 1)
        );
        assert_eq!(pairing.answer_to_event.count, 2);
        assert_eq!(pairing.answer_to_event.min_ms, -1.0);
        assert_eq!(pairing.answer_to_event.max_ms, 5.0);
        assert_eq!(pairing.request_to_event.min_ms, 1.0);
        assert_eq!(pairing.request_to_event.max_ms, 7.0);
        assert_eq!(pairing.answer_to_pull.count, 3);
        assert_eq!(pairing.answer_to_pull.max_ms, 7.0);
    }
}
