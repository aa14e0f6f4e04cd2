//! One SMPP session: a TCP connection from bind to close. A single task owns the socket; timers
//! (latency, receipts) and other sessions reach it through its channel, so writes never race.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{SinkExt, StreamExt as _};
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue as DeliverTlv;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{EsmClass, InterfaceVersion, MessageState, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_util::codec::Framed;

use super::config::{SmscConfig, fault_fires};
use super::received::{ReceivedSms, SessionId, SubmitOutcome};
use super::server::{Deliver, DeliverKind, Shared, format_receipt_text_id, format_resp_id};
use super::stats::bump;
use super::text::{ReceiptStatus, receipt_text};

/// The system_id the SMSC gives in its bind responses.
const SMSC_SYSTEM_ID: &str = "flit-smsc";

/// What reaches a session from outside its read loop.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A delayed `submit_sm_resp`; writing it closes one outstanding submit.
    SubmitResp(Command),
    /// Garbage in place of a `submit_sm_resp`; also closes one outstanding submit.
    Garbage,
    /// A well-framed `submit_sm_resp` with an undecodable body, for this sequence number;
    /// also closes one outstanding submit.
    Malformed(u32),
    /// A receipt or inbound message to write and track until its `deliver_sm_resp`.
    Deliver(Deliver),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindMode {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindMode {
    fn can_submit(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }

    fn can_receive(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }
}

struct Bound {
    system_id: String,
    mode: BindMode,
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session {
    id: SessionId,
    shared: Arc<Shared>,
    framed: Framed<TcpStream, CommandCodec>,
    /// A sender to ourselves, cloned into latency timers.
    tx: mpsc::UnboundedSender<Outbound>,
    rx: mpsc::UnboundedReceiver<Outbound>,
    shutdown: watch::Receiver<bool>,
    kick: watch::Receiver<u64>,
    bound: Option<Bound>,
    /// Submits received and not answered yet: the client's window as the SMSC sees it.
    outstanding_submits: u64,
    /// Sequence numbers for PDUs the SMSC originates.
    next_sequence: u32,
    /// Delivers written and not yet acknowledged, by sequence number; requeued if we close.
    in_flight: HashMap<u32, Deliver>,
}

impl Session {
    pub fn new(
        id: SessionId,
        stream: TcpStream,
        shared: Arc<Shared>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut kick = shared.subscribe_kick();
        kick.mark_unchanged();
        Self {
            id,
            framed: Framed::new(stream, CommandCodec::new()),
            shared,
            tx,
            rx,
            shutdown,
            kick,
            bound: None,
            outstanding_submits: 0,
            next_sequence: 1,
            in_flight: HashMap::new(),
        }
    }

    pub async fn run(mut self) {
        loop {
            let flow = tokio::select! {
                changed = self.shutdown.changed() => {
                    if changed.is_err() || *self.shutdown.borrow() { Flow::Close } else { Flow::Continue }
                }
                _ = self.kick.changed() => {
                    bump(&self.shared.counters.disconnects);
                    Flow::Close
                }
                Some(outbound) = self.rx.recv() => self.handle_outbound(outbound).await,
                frame = self.framed.next() => match frame {
                    Some(Ok(command)) => self.handle_command(command).await,
                    Some(Err(error)) => {
                        tracing::debug!(id = %self.id, %error, "SMSC could not decode a PDU; closing");
                        Flow::Close
                    }
                    None => Flow::Close,
                },
            };
            if flow == Flow::Close {
                break;
            }
        }
        self.close();
    }

    /// Deregisters, and gives back every deliver this session took but did not get acked.
    fn close(mut self) {
        if let Some(bound) = &self.bound {
            if bound.mode.can_receive() {
                self.shared.unregister_receiver(self.id);
            }
            self.shared
                .counters
                .bound_sessions
                .fetch_sub(1, Ordering::Relaxed);
        }
        // No new delivers can arrive once deregistered (routing happens under the router lock).
        self.rx.close();
        let mut unacked: Vec<Deliver> = self.in_flight.drain().map(|(_, d)| d).collect();
        while let Ok(outbound) = self.rx.try_recv() {
            if let Outbound::Deliver(deliver) = outbound {
                unacked.push(deliver);
            }
        }
        if !unacked.is_empty() {
            self.shared.requeue(unacked);
        }
        tracing::debug!(id = %self.id, "SMSC session closed");
    }

    async fn write(&mut self, command: Command) -> Flow {
        match self.framed.send(command).await {
            Ok(()) => Flow::Continue,
            Err(error) => {
                tracing::debug!(id = %self.id, %error, "SMSC write failed; closing");
                Flow::Close
            }
        }
    }

    fn next_sequence(&mut self) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = if sequence >= 0x7FFF_FFFF {
            1
        } else {
            sequence + 1
        };
        sequence
    }

    async fn handle_outbound(&mut self, outbound: Outbound) -> Flow {
        match outbound {
            Outbound::SubmitResp(command) => {
                self.outstanding_submits = self.outstanding_submits.saturating_sub(1);
                self.write(command).await
            }
            Outbound::Garbage => {
                self.outstanding_submits = self.outstanding_submits.saturating_sub(1);
                self.write_garbage().await
            }
            Outbound::Malformed(sequence) => {
                self.outstanding_submits = self.outstanding_submits.saturating_sub(1);
                self.write_malformed(sequence).await
            }
            Outbound::Deliver(deliver) => {
                let sequence = self.next_sequence();
                let command = Command::new(CommandStatus::EsmeRok, sequence, deliver.pdu.clone());
                let counter = match deliver.kind {
                    DeliverKind::Receipt => &self.shared.counters.receipts_sent,
                    DeliverKind::Inbound => &self.shared.counters.inbound_sent,
                };
                bump(counter);
                self.in_flight.insert(sequence, deliver);
                self.write(command).await
            }
        }
    }

    /// Writes bytes that cannot start a PDU: a command_length below the 16-octet header, then
    /// noise, so a client's decoder fails at once instead of waiting for more bytes.
    async fn write_garbage(&mut self) -> Flow {
        let mut bytes = vec![0u8, 0, 0, rand::random_range(1..16)];
        let noise = rand::random_range(12..48);
        bytes.extend((0..noise).map(|_| rand::random::<u8>()));
        bump(&self.shared.counters.garbage_sent);
        self.write_raw(&bytes).await
    }

    /// Writes a `submit_sm_resp` whose header is sound but whose message_id runs past the 65
    /// octets SMPP allows without a NUL terminator: the frame can be skipped, not decoded.
    async fn write_malformed(&mut self, sequence: u32) -> Flow {
        const BODY: usize = 70;
        let length = u32::try_from(16 + BODY).unwrap_or(u32::MAX);
        let mut bytes = Vec::with_capacity(16 + BODY);
        for word in [length, u32::from(CommandId::SubmitSmResp), 0, sequence] {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        bytes.extend(std::iter::repeat_n(b'7', BODY));
        bump(&self.shared.counters.malformed_sent);
        self.write_raw(&bytes).await
    }

    /// Writes bytes as they are, after whatever PDUs the codec still buffers.
    async fn write_raw(&mut self, bytes: &[u8]) -> Flow {
        if let Err(error) = SinkExt::<Command>::flush(&mut self.framed).await {
            tracing::debug!(id = %self.id, %error, "SMSC flush failed; closing");
            return Flow::Close;
        }
        let stream = self.framed.get_mut();
        match stream.write_all(bytes).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn handle_command(&mut self, command: Command) -> Flow {
        let status = command.status();
        let parts = command.into_parts();
        let (id, sequence) = (parts.id, parts.sequence_number);
        match parts.pdu {
            Some(Pdu::BindTransmitter(bind)) => {
                let (system_id, password) = (bind.system_id.to_string(), bind.password.to_string());
                self.bind(BindMode::Transmitter, &system_id, &password, sequence)
                    .await
            }
            Some(Pdu::BindReceiver(bind)) => {
                let (system_id, password) = (bind.system_id.to_string(), bind.password.to_string());
                self.bind(BindMode::Receiver, &system_id, &password, sequence)
                    .await
            }
            Some(Pdu::BindTransceiver(bind)) => {
                let (system_id, password) = (bind.system_id.to_string(), bind.password.to_string());
                self.bind(BindMode::Transceiver, &system_id, &password, sequence)
                    .await
            }
            Some(Pdu::EnquireLink) => {
                bump(&self.shared.counters.enquire_links);
                self.write(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::EnquireLinkResp,
                ))
                .await
            }
            Some(Pdu::Unbind) => {
                bump(&self.shared.counters.unbinds);
                let _ = self
                    .write(Command::new(
                        CommandStatus::EsmeRok,
                        sequence,
                        Pdu::UnbindResp,
                    ))
                    .await;
                Flow::Close
            }
            Some(Pdu::SubmitSm(submit)) => self.submit(&submit, sequence).await,
            // Header-only or bodied, a deliver_sm_resp is matched by sequence number.
            _ if id == CommandId::DeliverSmResp => {
                self.deliver_acknowledged(sequence, status);
                Flow::Continue
            }
            // Responses (and generic_nack) are never answered.
            _ if u32::from(id) & 0x8000_0000 != 0 => Flow::Continue,
            _ => {
                bump(&self.shared.counters.generic_nacks);
                self.write(Command::new(
                    CommandStatus::EsmeRinvcmdid,
                    sequence,
                    Pdu::GenericNack,
                ))
                .await
            }
        }
    }

    fn deliver_acknowledged(&mut self, sequence: u32, status: CommandStatus) {
        let Some(deliver) = self.in_flight.remove(&sequence) else {
            return;
        };
        let counters = &self.shared.counters;
        match (status, deliver.kind) {
            (CommandStatus::EsmeRok, DeliverKind::Receipt) => bump(&counters.receipts_acked),
            (CommandStatus::EsmeRok, DeliverKind::Inbound) => bump(&counters.inbound_acked),
            _ => bump(&counters.deliver_errors),
        }
    }

    async fn bind(
        &mut self,
        mode: BindMode,
        system_id: &str,
        password: &str,
        sequence: u32,
    ) -> Flow {
        let response_id = match mode {
            BindMode::Transmitter => CommandId::BindTransmitterResp,
            BindMode::Receiver => CommandId::BindReceiverResp,
            BindMode::Transceiver => CommandId::BindTransceiverResp,
        };
        let config = self.shared.config();
        let refusal = if self.bound.is_some() {
            Some(CommandStatus::EsmeRalybnd)
        } else if config
            .system_id
            .as_deref()
            .is_some_and(|want| want != system_id)
        {
            Some(CommandStatus::EsmeRinvsysid)
        } else if config
            .password
            .as_deref()
            .is_some_and(|want| want != password)
        {
            Some(CommandStatus::EsmeRinvpaswd)
        } else {
            None
        };
        if let Some(status) = refusal {
            bump(&self.shared.counters.bind_failures);
            tracing::debug!(id = %self.id, system_id, ?status, "SMSC refused a bind");
            return self.write(header_only(response_id, status, sequence)).await;
        }
        let smsc_id = COctetString::from_str(SMSC_SYSTEM_ID).unwrap_or_default();
        let version = Some(InterfaceVersion::Smpp3_4);
        let pdu: Pdu = match mode {
            BindMode::Transmitter => BindTransmitterResp::new(smsc_id, version).into(),
            BindMode::Receiver => BindReceiverResp::new(smsc_id, version).into(),
            BindMode::Transceiver => BindTransceiverResp::new(smsc_id, version).into(),
        };
        // Answer before registering, so the bind_resp precedes any queued deliver_sm.
        let flow = self
            .write(Command::new(CommandStatus::EsmeRok, sequence, pdu))
            .await;
        self.bound = Some(Bound {
            system_id: system_id.to_owned(),
            mode,
        });
        bump(&self.shared.counters.binds);
        bump(&self.shared.counters.bound_sessions);
        if mode.can_receive() {
            self.shared
                .register_receiver(self.id, system_id, self.tx.clone());
        }
        flow
    }

    async fn submit(&mut self, submit: &SubmitSm, sequence: u32) -> Flow {
        let system_id = match &self.bound {
            Some(bound) if bound.mode.can_submit() => bound.system_id.clone(),
            _ => {
                let refusal = header_only(
                    CommandId::SubmitSmResp,
                    CommandStatus::EsmeRinvbndsts,
                    sequence,
                );
                return self.write(refusal).await;
            }
        };
        let config = self.shared.config();
        let counters = &self.shared.counters;
        let ordinal = self.shared.next_submit_ordinal();
        bump(&counters.submits);
        self.outstanding_submits += 1;
        counters
            .max_outstanding_seen
            .fetch_max(self.outstanding_submits, Ordering::Relaxed);
        if config
            .max_window_check
            .is_some_and(|max| self.outstanding_submits > max)
        {
            bump(&counters.window_violations);
        }
        let mut record = ReceivedSms::from_submit(self.id, &system_id, sequence, submit);

        if fault_fires(config.disconnect_every, config.disconnect_rate, ordinal) {
            record.outcome = SubmitOutcome::Disconnected;
            self.shared.record(&config, record);
            bump(&counters.disconnects);
            tracing::debug!(id = %self.id, ordinal, "SMSC drops the connection after a submit");
            return Flow::Close;
        }
        if fault_fires(config.restart_every, 0.0, ordinal) {
            record.outcome = SubmitOutcome::Restarted;
            self.shared.record(&config, record);
            tracing::debug!(id = %self.id, ordinal, "SMSC restarts after a submit");
            self.shared.request_restart();
            return Flow::Close;
        }
        if config.silent {
            record.outcome = SubmitOutcome::Ignored;
            self.shared.record(&config, record);
            bump(&counters.ignored);
            return Flow::Continue;
        }
        if fault_fires(config.garbage_every, config.garbage_rate, ordinal) {
            record.outcome = SubmitOutcome::Garbage;
            self.shared.record(&config, record);
            return self.respond(Outbound::Garbage, &config).await;
        }
        if fault_fires(config.generic_nack_every, 0.0, ordinal) {
            record.outcome = SubmitOutcome::Nacked;
            self.shared.record(&config, record);
            bump(&counters.nacked_submits);
            let status = CommandStatus::from(config.generic_nack_status);
            let nack = header_only(CommandId::GenericNack, status, sequence);
            return self.respond(Outbound::SubmitResp(nack), &config).await;
        }
        let storm = config
            .throttle_storm
            .is_some_and(|storm| storm.covers(ordinal));
        if storm || fault_fires(config.throttle_every, config.throttle_rate, ordinal) {
            record.outcome = SubmitOutcome::Throttled;
            self.shared.record(&config, record);
            bump(&counters.throttled);
            let response = header_only(
                CommandId::SubmitSmResp,
                CommandStatus::EsmeRthrottled,
                sequence,
            );
            return self.respond(Outbound::SubmitResp(response), &config).await;
        }

        if config
            .reject_suffix
            .as_deref()
            .is_some_and(|suffix| record.destination.ends_with(suffix))
        {
            record.outcome = SubmitOutcome::Rejected;
            self.shared.record(&config, record);
            let response = header_only(
                CommandId::SubmitSmResp,
                CommandStatus::EsmeRinvdstadr,
                sequence,
            );
            return self.respond(Outbound::SubmitResp(response), &config).await;
        }

        let number = self.shared.next_message_id();
        let message_id = format_resp_id(config.id_format, number);
        let Ok(id_field) = COctetString::<1, 65>::from_str(&message_id) else {
            // Unreachable: ids are at most 20 digits.
            return Flow::Close;
        };
        let accepted = counters.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        match &record.concat {
            Some(concat) => {
                bump(&counters.parts);
                if concat.part == 1 {
                    bump(&counters.messages);
                }
            }
            None => bump(&counters.messages),
        }
        let malformed = fault_fires(config.malformed_every, 0.0, ordinal);
        record.outcome = if malformed {
            SubmitOutcome::Malformed
        } else {
            SubmitOutcome::Accepted
        };
        record.message_id = Some(message_id);
        let mut receipts: Vec<Deliver> = self
            .receipt_for(&config, &record, number)
            .into_iter()
            .collect();
        if fault_fires(config.stray_receipts_every, 0.0, accepted) {
            // The top bits are never set in the ids handed out (seconds << 16 plus a counter).
            let stray = 0xF1F1_0000_0000_0000 | accepted;
            if let Some(deliver) = self.receipt_for(&config, &record, stray) {
                bump(&counters.stray_receipts);
                receipts.push(deliver);
            }
        }
        self.shared.record(&config, record);
        let response = if malformed {
            Outbound::Malformed(sequence)
        } else {
            Outbound::SubmitResp(Command::new(
                CommandStatus::EsmeRok,
                sequence,
                SubmitSmResp::builder().message_id(id_field).build(),
            ))
        };
        for deliver in receipts {
            let shared = Arc::clone(&self.shared);
            let delay = if config.receipts_before_response {
                std::time::Duration::ZERO
            } else {
                config.latency + config.receipt_delay
            };
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                shared.route(deliver);
            });
        }
        self.respond(response, &config).await
    }

    /// Answers at once when there is no latency, else from a timer through our own channel.
    async fn respond(&mut self, outbound: Outbound, config: &SmscConfig) -> Flow {
        if config.latency.is_zero() {
            return self.handle_outbound(outbound).await;
        }
        let tx = self.tx.clone();
        let latency = config.latency;
        tokio::spawn(async move {
            tokio::time::sleep(latency).await;
            // Err: the session is gone, and its response with it.
            let _ = tx.send(outbound);
        });
        Flow::Continue
    }

    /// The receipt `deliver_sm` for an accepted submit, when one is due.
    fn receipt_for(
        &self,
        config: &SmscConfig,
        record: &ReceivedSms,
        number: u64,
    ) -> Option<Deliver> {
        let failed = config
            .fail_suffix
            .as_deref()
            .is_some_and(|suffix| !suffix.is_empty() && record.destination.ends_with(suffix));
        let wanted = match record.registered_delivery & 0x03 {
            0x01 => true,
            0x02 => failed,
            0x03 => !failed,
            _ => false,
        };
        if !config.receipts || !wanted {
            return None;
        }
        let (status, state) = if failed {
            (ReceiptStatus::Undeliverable, MessageState::Undeliverable)
        } else {
            (ReceiptStatus::Delivered, MessageState::Delivered)
        };
        let submitted = OffsetDateTime::now_utc();
        let done = submitted + config.latency + config.receipt_delay;
        let text = receipt_text(
            &format_receipt_text_id(config.id_format, number),
            status,
            submitted,
            done,
            &record.text(),
        );
        // Receipt texts go out as data_coding 0; keep them to ASCII so GSM and ASCII agree.
        let text: Vec<u8> = text
            .chars()
            .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
            .collect();
        let short_message = OctetString::from_vec(text).ok()?;
        let receipted_id =
            COctetString::from_str(&format_resp_id(config.id_format, number)).ok()?;
        // A receipt travels back: from the recipient to the original sender.
        let pdu = DeliverSm::builder()
            .source_addr_ton(Ton::from(record.dest_ton))
            .source_addr_npi(Npi::from(record.dest_npi))
            .source_addr(COctetString::from_str(&record.destination).ok()?)
            .dest_addr_ton(Ton::from(record.source_ton))
            .dest_addr_npi(Npi::from(record.source_npi))
            .destination_addr(COctetString::from_str(&record.source).ok()?)
            .esm_class(EsmClass::from(0x04))
            .short_message(short_message)
            .push_tlv(DeliverTlv::ReceiptedMessageId(receipted_id))
            .push_tlv(DeliverTlv::MessageState(state))
            .build();
        let preferred = self
            .bound
            .as_ref()
            .filter(|b| b.mode.can_receive())
            .map(|_| self.id);
        Some(Deliver {
            system_id: Some(record.system_id.clone()),
            preferred,
            kind: DeliverKind::Receipt,
            pdu,
        })
    }
}

/// A response with no body, as SMPP 3.4 wants for a non-zero command_status. Rusmpp's typed
/// PDUs always encode a body, so this goes through `Pdu::Other` with an empty body, whose
/// command_id is what it is given.
fn header_only(id: CommandId, status: CommandStatus, sequence: u32) -> Command {
    Command::new(
        status,
        sequence,
        Pdu::Other {
            command_id: id,
            body: AnyOctetString::empty(),
        },
    )
}
