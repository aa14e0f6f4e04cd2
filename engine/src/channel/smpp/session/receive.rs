//! What a bound session does with each frame from the SMSC, as [`inbound::classify`] reads
//! it: responses are matched to the window or to an enquire_link, operations are answered, and a
//! delivery is reported at once but answered (`deliver_sm_resp`) only once it is recorded, so a
//! crash never loses what the SMSC believes delivered.

use rusmpp::Pdu;
use rusmpp::tokio_codec::DecodeError;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::stats::SessionErrorKind;
use super::window::Answer;
use super::{Connection, Session, Side};
use crate::channel::smpp::frame::{Frame, Malformed};
use crate::channel::smpp::inbound::{self, Delivery, Inbound};
use crate::channel::smpp::pdu;
use crate::channel::smpp::status;

impl Session {
    /// One read from the link on `side`. `Err` ends the connection: bytes that cannot be
    /// framed, the SMSC closing it, or an unbind from the SMSC.
    pub(super) async fn handle(
        &mut self,
        connection: &mut Connection,
        side: Side,
        frame: Option<Result<Frame, DecodeError>>,
    ) -> Result<(), String> {
        let frame = match frame {
            Some(Ok(frame)) => frame,
            // rusmpp's codec cannot resynchronise after a bad frame, and neither could we.
            Some(Err(err)) => return Err(format!("undecodable frame: {err}")),
            None => return Err("connection closed by the SMSC".into()),
        };
        let inbound = inbound::classify(
            frame,
            self.config.gsm7,
            &mut self.reassembler,
            Instant::now(),
        );
        if let Some(malformed) = inbound.malformed() {
            self.record_malformed(malformed);
        }
        let Some(link) = connection.link(side) else {
            return Ok(());
        };
        link.last_activity = Instant::now();
        match inbound {
            Inbound::SubmitSmResp {
                sequence,
                command_status,
                smsc_message_id,
            } => {
                self.on_submit_response(
                    connection,
                    sequence,
                    command_status,
                    Answer::SubmitSmResp,
                    Some(smsc_message_id),
                )
                .await;
            }
            Inbound::GenericNack {
                sequence,
                command_status,
            } => {
                if link.enquire.is_some_and(|(s, _)| s == sequence) {
                    link.enquire = None;
                } else {
                    self.on_submit_response(
                        connection,
                        sequence,
                        command_status,
                        Answer::GenericNack,
                        None,
                    )
                    .await;
                }
            }
            Inbound::DeliverSm { sequence, delivery } => match delivery {
                // Answered once recorded (`answer_recorded_deliveries`).
                Some(delivery) => {
                    let number = self.on_delivery(delivery).await;
                    connection.unanswered.push_back((number, side, sequence));
                }
                None => link.send(pdu::deliver_sm_resp(sequence)).await?,
            },
            Inbound::EnquireLink { sequence } => {
                link.send(pdu::response(sequence, Pdu::EnquireLinkResp))
                    .await?;
            }
            Inbound::EnquireLinkResp { sequence } => {
                if link.enquire.is_some_and(|(s, _)| s == sequence) {
                    link.enquire = None;
                }
            }
            Inbound::Unbind { sequence } => {
                link.send(pdu::response(sequence, Pdu::UnbindResp)).await?;
                return Err("unbind from the SMSC".into());
            }
            Inbound::Unsupported { sequence, id } => {
                debug!(?id, "unsupported PDU from the SMSC");
                link.send(pdu::generic_nack(sequence, status::INVALID_COMMAND_ID))
                    .await?;
            }
            Inbound::Unexpected { sequence, id } => {
                debug!(?id, sequence, "unexpected response ignored");
            }
            // Skipped, never fatal. An operation gets a `generic_nack` (the SMSC may send it
            // again); an unreadable `submit_sm_resp` leaves its part's fate unknown, so the
            // part is rejected temporary and sent again.
            Inbound::MalformedOperation(malformed) => {
                link.send(pdu::generic_nack(
                    malformed.sequence,
                    status::INVALID_COMMAND_LENGTH,
                ))
                .await?;
            }
            Inbound::MalformedSubmitSmResp(malformed) => {
                self.on_submit_response(
                    connection,
                    malformed.sequence,
                    malformed.command_status,
                    Answer::Unreadable,
                    None,
                )
                .await;
            }
            Inbound::MalformedResponse(_) => {}
        }
        Ok(())
    }

    /// A well-framed PDU rusmpp could not decode is counted, whatever it was.
    fn record_malformed(&self, malformed: &Malformed) {
        let Malformed {
            command_id,
            command_status,
            sequence,
            error,
        } = malformed;
        warn!(
            command_id = format!("{command_id:#010x}"),
            sequence, %error, "undecodable PDU from the SMSC skipped"
        );
        self.stats.record(
            SessionErrorKind::MalformedPdu,
            format!("malformed PDU skipped (command_id {command_id:#010x}, sequence {sequence}): {error}"),
            (*command_status != 0).then_some(*command_status),
        );
    }

    /// Reports a receipt or a (reassembled) inbound SMS; returns its delivery number.
    async fn on_delivery(&mut self, delivery: Delivery) -> u64 {
        let number = self.stats.next_delivery();
        self.emit(delivery.into()).await;
        number
    }

    /// Sends the `deliver_sm_resp` of every delivery recorded by now.
    pub(super) async fn answer_recorded_deliveries(
        &mut self,
        connection: &mut Connection,
    ) -> Result<(), String> {
        let recorded = self.stats.deliveries_recorded();
        while let Some(&(number, side, sequence)) = connection.unanswered.front() {
            if number > recorded {
                break;
            }
            connection.unanswered.pop_front();
            if let Some(link) = connection.link(side) {
                link.send(pdu::deliver_sm_resp(sequence)).await?;
            }
        }
        Ok(())
    }
}
