//! The window and the outbox: a submit becomes parts in the outbox, parts go out while the
//! window (in flight plus answered but not yet recorded), the throttle pause and the TPS bucket
//! allow, and leave the window as their answers come in. Whatever a lost connection or a
//! shutdown leaves in flight or unsent is handed back to the caller.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::SinkExt;
use rusmpp::pdus::SubmitSm;
use rusmpp::{Command, CommandStatus};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::stats::{SessionErrorKind, describe_status};
use super::{Connection, Session};
use crate::channel::smpp::coding;
use crate::channel::smpp::pdu;
use crate::channel::smpp::status;
use crate::channel::smpp::{SessionEvent, Submit};

/// How a submit was answered.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Answer {
    SubmitSmResp,
    GenericNack,
    /// A `submit_sm_resp` whose body could not be decoded (its message id is lost).
    Unreadable,
}

/// A part built and waiting for window, TPS and throttle to allow it.
pub(super) struct OutPart {
    submit: Arc<Submit>,
    part: u8,
    parts: u8,
    pdu: SubmitSm,
}

/// A part sent and awaiting its `submit_sm_resp`.
pub(super) struct InFlight {
    pub(super) id: u64,
    pub(super) part: u8,
    pub(super) parts: u8,
    pub(super) sent_at: Instant,
    pub(super) deadline: Instant,
}

impl Session {
    /// Parts in the window: awaiting their answer, or answered but not yet recorded on disk.
    pub(super) fn window_used(&self, connection: &Connection) -> usize {
        connection.pending.len() + self.stats.unrecorded()
    }

    /// Nothing in flight, yet the window is full of answers waiting to be recorded.
    pub(super) fn waiting_for_records(&self, connection: &Connection) -> bool {
        connection.pending.is_empty()
            && (self.stats.unrecorded() >= self.config.window_size.max(1)
                || !connection.unanswered.is_empty())
    }

    pub(super) fn can_send(&self, connection: &Connection, now: Instant) -> bool {
        self.window_used(connection) < self.config.window_size.max(1) && !self.throttle.paused(now)
    }

    /// Sends parts while window, throttle and TPS allow, taking new work from the queue.
    pub(super) async fn fill(&mut self, connection: &mut Connection) -> Result<(), String> {
        let mut sent = false;
        loop {
            let now = Instant::now();
            if !self.can_send(connection, now) {
                break;
            }
            if self.outbox.is_empty() {
                match self.queue.pop() {
                    Some(submit) => {
                        self.prepare(submit).await;
                        continue;
                    }
                    None => break,
                }
            }
            if !self.bucket.try_take(self.config.tps, now) {
                break;
            }
            let Some(out) = self.outbox.pop_front() else {
                break;
            };
            let sequence = connection.tx.next_sequence();
            connection.tx.last_activity = now;
            connection
                .tx
                .framed
                .feed(Command::new(CommandStatus::EsmeRok, sequence, out.pdu))
                .await
                .map_err(|err| format!("write failed: {err}"))?;
            sent = true;
            connection.pending.insert(
                sequence,
                InFlight {
                    id: out.submit.id,
                    part: out.part,
                    parts: out.parts,
                    sent_at: now,
                    deadline: now + self.config.response_timeout,
                },
            );
            self.shared
                .in_flight
                .store(connection.pending.len(), Ordering::Relaxed);
        }
        if sent {
            // CommandCodec encodes both `Command` and `&Command`, so flush must name the item.
            SinkExt::<Command>::flush(&mut connection.tx.framed)
                .await
                .map_err(|err| format!("write failed: {err}"))?;
        }
        Ok(())
    }

    /// Splits a submit into parts in the outbox; a part that cannot be built is rejected.
    async fn prepare(&mut self, submit: Submit) {
        self.reference = self.reference.wrapping_add(1);
        let message = coding::encode_message(
            &submit.text,
            self.config.gsm7,
            self.config.concatenation,
            self.reference,
        );
        let parts = u8::try_from(message.parts.len()).unwrap_or(u8::MAX);
        let submit = Arc::new(submit);
        for (index, encoded) in message.parts.iter().enumerate() {
            let part = u8::try_from(index + 1).unwrap_or(u8::MAX);
            match pdu::submit_sm(&submit, message.data_coding, encoded) {
                Ok(pdu) => self.outbox.push_back(OutPart {
                    submit: submit.clone(),
                    part,
                    parts,
                    pdu,
                }),
                Err(err) => {
                    warn!(id = submit.id, %err, "cannot build submit_sm");
                    self.emit(SessionEvent::PartRejected {
                        id: submit.id,
                        part,
                        parts,
                        command_status: err.command_status(),
                        temporary: false,
                    })
                    .await;
                }
            }
        }
    }

    pub(super) async fn on_submit_response(
        &mut self,
        connection: &mut Connection,
        sequence: u32,
        status: u32,
        answer: Answer,
        smsc_message_id: Option<String>,
    ) {
        let Some(in_flight) = connection.pending.remove(&sequence) else {
            debug!(
                sequence,
                "response to no submit in flight (late after a timeout?)"
            );
            return;
        };
        self.shared
            .in_flight
            .store(connection.pending.len(), Ordering::Relaxed);
        if answer == Answer::GenericNack {
            self.stats.record(
                SessionErrorKind::GenericNack,
                format!("generic_nack to submit_sm: {}", describe_status(status)),
                Some(status),
            );
        }
        if status == 0 && answer == Answer::SubmitSmResp {
            self.throttle.next = None;
            self.emit(SessionEvent::PartAccepted {
                id: in_flight.id,
                part: in_flight.part,
                parts: in_flight.parts,
                smsc_message_id: smsc_message_id.unwrap_or_default(),
            })
            .await;
            return;
        }
        // A generic_nack says the SMSC could not take the PDU, not that the message is bad;
        // an unreadable answer says nothing: both are sent again (status writer's attempts).
        let temporary = answer != Answer::SubmitSmResp
            || status == 0
            || matches!(
                status,
                status::THROTTLED | status::MESSAGE_QUEUE_FULL | status::SYSTEM_ERROR
            );
        self.reject(&in_flight, status, temporary).await;
        if matches!(status, status::THROTTLED | status::MESSAGE_QUEUE_FULL) {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            if let Some(pause) = self.throttle.hit(now, in_flight.sent_at) {
                warn!(status, ?pause, "SMSC throttles: pausing submits");
                self.stats.paused(pause);
                self.emit(SessionEvent::Throttled { pause }).await;
            }
        }
    }

    pub(super) async fn reject(&self, in_flight: &InFlight, command_status: u32, temporary: bool) {
        self.emit(SessionEvent::PartRejected {
            id: in_flight.id,
            part: in_flight.part,
            parts: in_flight.parts,
            command_status,
            temporary,
        })
        .await;
    }

    /// After a loss: every part in flight is reported temporary, for the caller to requeue.
    pub(super) async fn fail_in_flight(&mut self, connection: &mut Connection) {
        let mut lost: Vec<InFlight> = connection.pending.drain().map(|(_, f)| f).collect();
        lost.sort_by_key(|f| (f.id, f.part));
        for in_flight in &lost {
            self.reject(in_flight, 0, true).await;
        }
        self.shared.in_flight.store(0, Ordering::Relaxed);
    }

    /// Shutdown with parts not sent: a submit none of whose parts went out goes back to the
    /// queue whole; the remaining parts of a partly sent one are reported temporary. (The
    /// outbox holds the parts of one message at most: the queue is only read when it is empty.)
    pub(super) async fn abandon_outbox(&mut self) {
        let outbox: Vec<OutPart> = std::mem::take(&mut self.outbox).into();
        let Some(first) = outbox.first() else { return };
        if first.part == 1 && outbox.len() == usize::from(first.parts) {
            self.queue.requeue((*first.submit).clone());
            return;
        }
        for out in &outbox {
            self.emit(SessionEvent::PartRejected {
                id: out.submit.id,
                part: out.part,
                parts: out.parts,
                command_status: 0,
                temporary: true,
            })
            .await;
        }
    }
}
