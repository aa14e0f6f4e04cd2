//! A test's SMPP client (ESME) for Flit's SMPP server: one TCP connection, PDUs through
//! rusmpp's codec, each request awaited for its own response while whatever else the server
//! sends (receipts, enquire_links) is answered or kept for the test to read.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub const BIND_TRANSMITTER: u8 = 0;
pub const BIND_RECEIVER: u8 = 1;
pub const BIND_TRANSCEIVER: u8 = 2;

/// A receipt as the server delivered it.
#[derive(Clone, Debug)]
pub struct ReceiptSeen {
    pub id: String,
    pub message_state: Option<u8>,
    pub text: String,
    pub source: String,
    pub destination: String,
}

/// What an ESME speaks over: TCP, or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

pub struct Esme {
    link: Framed<Box<dyn Stream>, CommandCodec>,
    sequence: u32,
    /// `deliver_sm` read while waiting for something else, answered already.
    pub delivered: Vec<Command>,
    /// Whether `deliver_sm` are answered (status 0) as they are read.
    pub answer_deliveries: bool,
    /// Responses read while waiting for another, by sequence number.
    responses: std::collections::HashMap<u32, Command>,
}

/// One part of a message: `short_message` octets, and its UDH flag or SAR values.
pub struct Part {
    pub data_coding: u8,
    pub short_message: Vec<u8>,
    pub udhi: bool,
    pub sar: Option<(u16, u8, u8)>,
    pub payload: Option<Vec<u8>>,
}

impl Part {
    pub fn text(data_coding: u8, octets: Vec<u8>) -> Part {
        Part {
            data_coding,
            short_message: octets,
            udhi: false,
            sar: None,
            payload: None,
        }
    }
}

impl Esme {
    pub async fn connect(addr: SocketAddr) -> Esme {
        let stream = TcpStream::connect(addr).await.expect("connect to SMPP");
        stream.set_nodelay(true).expect("nodelay");
        Esme::over(Box::new(stream))
    }

    /// SMPP over TLS, trusting only the CA certificate in the PEM file `ca`.
    pub async fn connect_tls(addr: SocketAddr, ca: &std::path::Path) -> Esme {
        let stream = super::HttpsClient::trusting(ca)
            .connect(addr)
            .await
            .expect("TLS handshake with the SMPP server");
        Esme::over(Box::new(stream))
    }

    fn over(stream: Box<dyn Stream>) -> Esme {
        Esme {
            link: Framed::new(stream, CommandCodec::new()),
            sequence: 0,
            delivered: Vec::new(),
            answer_deliveries: true,
            responses: std::collections::HashMap::new(),
        }
    }

    fn next_sequence(&mut self) -> u32 {
        self.sequence += 1;
        self.sequence
    }

    /// Sends `pdu` and returns the response to it (status, PDU).
    pub async fn request(&mut self, pdu: impl Into<Pdu>) -> Command {
        let sequence = self.send(pdu).await;
        self.response(sequence).await
    }

    pub async fn send(&mut self, pdu: impl Into<Pdu>) -> u32 {
        let sequence = self.next_sequence();
        self.link
            .send(Command::new(CommandStatus::EsmeRok, sequence, pdu))
            .await
            .expect("send PDU");
        sequence
    }

    /// The response to `sequence`, answering and keeping what comes before it.
    pub async fn response(&mut self, sequence: u32) -> Command {
        if let Some(command) = self.responses.remove(&sequence) {
            return command;
        }
        loop {
            let command = self.read(Duration::from_secs(20)).await.unwrap_or_else(|| {
                panic!("no response to sequence {sequence}: the connection ended or went quiet")
            });
            if !command.id().is_operation() {
                if command.sequence_number() == sequence {
                    return command;
                }
                self.responses.insert(command.sequence_number(), command);
                continue;
            }
            self.keep(command).await;
        }
    }

    /// The next response of any sequence within `within` (answering what the server asks
    /// meanwhile); `None` when the connection ended or nothing came.
    pub async fn next_response(&mut self, within: Duration) -> Option<Command> {
        if let Some(sequence) = self.responses.keys().next().copied() {
            return self.responses.remove(&sequence);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let command = match tokio::time::timeout(left, self.link.next()).await {
                Ok(Some(Ok(command))) => command,
                _ => return None,
            };
            if !command.id().is_operation() {
                return Some(command);
            }
            self.keep(command).await;
        }
    }

    /// The next PDU within `within`; `None` if the connection ended or nothing came.
    pub async fn read(&mut self, within: Duration) -> Option<Command> {
        match tokio::time::timeout(within, self.link.next()).await {
            Ok(Some(Ok(command))) => Some(command),
            Ok(Some(Err(error))) => panic!("undecodable PDU from Flit: {error}"),
            Ok(None) | Err(_) => None,
        }
    }

    /// Answers what the server asks (enquire_link, and deliver_sm when `answer_deliveries`)
    /// and keeps each deliver_sm.
    async fn keep(&mut self, command: Command) {
        let sequence = command.sequence_number();
        match command.id() {
            CommandId::EnquireLink => {
                self.reply(sequence, Pdu::EnquireLinkResp).await;
            }
            CommandId::DeliverSm => {
                if self.answer_deliveries {
                    self.reply(sequence, DeliverSmResp::default().into()).await;
                }
                self.delivered.push(command);
            }
            _ => {}
        }
    }

    /// Answers a `deliver_sm` with `status`.
    pub async fn link_reply(&mut self, sequence: u32, status: u32) {
        self.link
            .send(Command::new(
                CommandStatus::from(status),
                sequence,
                DeliverSmResp::default(),
            ))
            .await
            .expect("send deliver_sm_resp");
    }

    pub async fn reply(&mut self, sequence: u32, pdu: Pdu) {
        self.link
            .send(Command::new(CommandStatus::EsmeRok, sequence, pdu))
            .await
            .expect("send response");
    }

    /// Binds as `kind` and returns the bind response's status.
    pub async fn bind(&mut self, kind: u8, system_id: &str, password: &str) -> u32 {
        let id = COctetString::from_str(system_id).expect("system_id");
        let password = COctetString::from_str(password).expect("password");
        let (version, range) = (InterfaceVersion::Smpp3_4, COctetString::empty());
        let empty = COctetString::empty();
        let pdu: Pdu = match kind {
            BIND_TRANSMITTER => BindTransmitter::new(
                id,
                password,
                empty,
                version,
                Ton::Unknown,
                Npi::Unknown,
                range,
            )
            .into(),
            BIND_RECEIVER => BindReceiver::new(
                id,
                password,
                empty,
                version,
                Ton::Unknown,
                Npi::Unknown,
                range,
            )
            .into(),
            _ => BindTransceiver::new(
                id,
                password,
                empty,
                version,
                Ton::Unknown,
                Npi::Unknown,
                range,
            )
            .into(),
        };
        u32::from(self.request(pdu).await.status())
    }

    /// Submits one part to `to` (international digits) from `from` and returns the
    /// response's status and message id.
    pub async fn submit(
        &mut self,
        from: &str,
        to: &str,
        part: Part,
        registered_delivery: u8,
    ) -> (u32, String) {
        let response = self
            .request(submit_sm(from, to, part, registered_delivery))
            .await;
        let id = match response.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_string(),
            _ => String::new(),
        };
        (u32::from(response.status()), id)
    }

    /// Submits `text` in the default alphabet (ASCII here: one octet per character).
    pub async fn submit_text(
        &mut self,
        from: &str,
        to: &str,
        text: &str,
        registered_delivery: u8,
    ) -> (u32, String) {
        self.submit(
            from,
            to,
            Part::text(0, text.as_bytes().to_vec()),
            registered_delivery,
        )
        .await
    }

    /// Reads until `count` receipts arrived (answering each), or panics after `within`.
    pub async fn receipts(&mut self, count: usize, within: Duration) -> Vec<ReceiptSeen> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let receipts: Vec<ReceiptSeen> = self.delivered.iter().filter_map(receipt_of).collect();
            if receipts.len() >= count {
                return receipts;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {count} receipts within {within:?}",
                receipts.len()
            );
            if let Some(command) = self.read(left).await {
                self.keep(command).await;
            }
        }
    }

    /// Unbinds and waits for the answer.
    pub async fn unbind(&mut self) -> u32 {
        u32::from(self.request(Pdu::Unbind).await.status())
    }

    /// Whether the server ended the connection within `within` with no PDU before (bytes
    /// that are none, such as a TLS alert, are not one), read without answering anything.
    pub async fn dropped_within(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.link.next()).await {
            Ok(None) | Ok(Some(Err(_))) => true,
            Ok(Some(Ok(_))) | Err(_) => false,
        }
    }

    /// Raw bytes on the connection (a test's garbage).
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.link.get_mut().write_all(bytes).await.expect("write");
    }

    /// Whether the server ended the connection within `within` (after an unbind of its own,
    /// which is answered).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            match tokio::time::timeout(left, self.link.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(command))) => {
                    if command.id() == CommandId::Unbind {
                        self.reply(command.sequence_number(), Pdu::UnbindResp).await;
                    } else {
                        self.keep(command).await;
                    }
                }
                Err(_) => return false,
            }
        }
    }
}

pub fn submit_sm(from: &str, to: &str, part: Part, registered_delivery: u8) -> SubmitSm {
    let mut tlvs = Vec::new();
    if let Some((reference, total, seq)) = part.sar {
        tlvs.push(MessageSubmissionRequestTlvValue::SarMsgRefNum(reference));
        tlvs.push(MessageSubmissionRequestTlvValue::SarTotalSegments(total));
        tlvs.push(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq));
    }
    if let Some(payload) = part.payload {
        tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(&payload)),
        ));
    }
    let source_ton = if from.bytes().all(|b| b.is_ascii_digit()) {
        Ton::International
    } else {
        Ton::Alphanumeric
    };
    SubmitSm::new(
        ServiceType::null(),
        source_ton,
        Npi::Unknown,
        COctetString::from_str(from).expect("from"),
        Ton::International,
        Npi::Isdn,
        COctetString::from_str(to).expect("to"),
        EsmClass::from(if part.udhi { 0x40 } else { 0 }),
        0,
        PriorityFlag::from(0),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        RegisteredDelivery::from(registered_delivery),
        ReplaceIfPresentFlag::from(0),
        DataCoding::from(part.data_coding),
        0,
        OctetString::from_slice(&part.short_message).expect("short_message"),
        tlvs,
    )
}

/// The message id of a `submit_sm_resp`, empty for anything else.
pub fn message_id(response: &Command) -> String {
    match response.pdu() {
        Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_string(),
        _ => String::new(),
    }
}

/// The receipt a `deliver_sm` carries, if it is one.
pub fn receipt_of(command: &Command) -> Option<ReceiptSeen> {
    let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
        return None;
    };
    if u8::from(deliver.esm_class) & 0x04 == 0 {
        return None;
    }
    let mut id = None;
    let mut message_state = None;
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(value)) => id = Some(value.as_str().to_string()),
            Some(TlvValue::MessageState(state)) => message_state = Some(u8::from(*state)),
            _ => {}
        }
    }
    Some(ReceiptSeen {
        id: id?,
        message_state,
        text: String::from_utf8_lossy(deliver.short_message().as_ref()).into_owned(),
        source: deliver.source_addr.as_str().to_string(),
        destination: deliver.destination_addr.as_str().to_string(),
    })
}
