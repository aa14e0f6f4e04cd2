//! The server's side of the `rusmpp` boundary: what a customer's bind and `submit_sm` say, as
//! plain data, and the PDUs the server answers and delivers with. The client's module
//! (`channel/smpp/pdu.rs`) builds the other direction; the coding both share (alphabets,
//! concatenation, packing) is `channel/smpp/coding`.

use std::str::FromStr;

use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp,
};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, MessageState, PriorityFlag,
    RegisteredDelivery, ReplaceIfPresentFlag, ServiceType,
};
use rusmpp::{Command, CommandStatus, Pdu};

use crate::channel::smpp::coding::{self, DeliverContent};
use crate::channel::smpp::pdu::{self as client, BindKind};

pub use crate::channel::smpp::status::*;

/// The `system_id` Flit answers binds with.
pub const SYSTEM_ID: &str = "Flit";

/// A bind request, as plain data.
#[derive(Clone, Debug)]
pub struct BindRequest {
    pub kind: BindKind,
    pub system_id: String,
    pub password: String,
}

/// The bind `command` asks for, if it is a bind.
pub fn bind_request(command: &Command) -> Option<BindRequest> {
    let (kind, system_id, password) = match command.pdu()? {
        Pdu::BindTransmitter(b) => (BindKind::Transmitter, &b.system_id, &b.password),
        Pdu::BindReceiver(b) => (BindKind::Receiver, &b.system_id, &b.password),
        Pdu::BindTransceiver(b) => (BindKind::Transceiver, &b.system_id, &b.password),
        _ => return None,
    };
    Some(BindRequest {
        kind,
        system_id: system_id.as_str().to_string(),
        password: password.as_str().to_string(),
    })
}

/// The answer to a bind of `kind`.
pub fn bind_resp(kind: BindKind, sequence: u32, status: u32) -> Command {
    let system_id = COctetString::from_str(SYSTEM_ID).unwrap_or_default();
    let version = Some(InterfaceVersion::Smpp3_4);
    let pdu: Pdu = match kind {
        BindKind::Transmitter => BindTransmitterResp::new(system_id, version).into(),
        BindKind::Receiver => BindReceiverResp::new(system_id, version).into(),
        BindKind::Transceiver => BindTransceiverResp::new(system_id, version).into(),
    };
    Command::new(CommandStatus::from(status), sequence, pdu)
}

/// What a customer's `submit_sm` says, as plain data. The content fields are those of a
/// `deliver_sm` ([`DeliverContent`]), so the client's reading of alphabets and concatenation
/// serves both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitContent {
    pub content: DeliverContent,
    pub source_ton: u8,
    pub destination_ton: u8,
    pub registered_delivery: u8,
}

pub fn submit_content(submit: &SubmitSm) -> SubmitContent {
    let content = client::content_of(
        DeliverContent {
            source: submit.source_addr.as_str().to_string(),
            destination: submit.destination_addr.as_str().to_string(),
            esm_class: u8::from(submit.esm_class),
            data_coding: u8::from(submit.data_coding),
            short_message: submit.short_message().to_vec(),
            ..DeliverContent::default()
        },
        submit.tlvs(),
    );
    SubmitContent {
        content,
        source_ton: u8::from(submit.source_addr_ton),
        destination_ton: u8::from(submit.dest_addr_ton),
        registered_delivery: u8::from(submit.registered_delivery),
    }
}

/// `submit_sm_resp`: the message id when accepted, none otherwise (SMPP 3.4 §4.4.2).
pub fn submit_sm_resp(sequence: u32, status: u32, message_id: &str) -> Command {
    let id = if status == OK {
        COctetString::from_str(message_id).unwrap_or_default()
    } else {
        COctetString::default()
    };
    Command::new(
        CommandStatus::from(status),
        sequence,
        SubmitSmResp::new(id, Vec::new()),
    )
}

pub fn generic_nack(sequence: u32, status: u32) -> Command {
    Command::new(CommandStatus::from(status), sequence, Pdu::GenericNack)
}

/// A bodyless response (`enquire_link_resp`, `unbind_resp`) or request (`enquire_link`,
/// `unbind`).
pub fn bare(sequence: u32, pdu: Pdu) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence, pdu)
}

/// The answer an operation the server does not take gets (`query_sm`, `cancel_sm`,
/// `submit_multi`, …): `generic_nack` with ESME_RINVCMDID, which every client reads.
pub fn unsupported(sequence: u32) -> Command {
    generic_nack(sequence, INVALID_COMMAND_ID)
}

/// Why a `deliver_sm` could not be built (an address longer than SMPP allows).
#[derive(Debug, thiserror::Error)]
#[error("{0} does not fit a deliver_sm")]
pub struct DeliverError(&'static str);

fn address(field: &'static str, value: &str) -> Result<COctetString<1, 21>, DeliverError> {
    COctetString::from_str(value).map_err(|_| DeliverError(field))
}

/// A `deliver_sm` as the server sends one: addresses typed the way the client side reads
/// them, the text in `short_message` or, past 254 octets, in `message_payload`.
pub struct Deliver {
    pub source: String,
    pub destination: String,
    pub esm_class: u8,
    pub data_coding: u8,
    pub octets: Vec<u8>,
    /// `receipted_message_id` and `message_state`, for a receipt.
    pub receipt: Option<(String, u8)>,
}

pub fn deliver_sm(deliver: &Deliver) -> Result<DeliverSm, DeliverError> {
    let (source_ton, source_npi, source) = coding::source_address(&deliver.source);
    let (dest_ton, dest_npi, destination) = coding::source_address(&deliver.destination);
    let mut tlvs = Vec::new();
    let short_message = if deliver.octets.len() <= 254 {
        OctetString::from_slice(&deliver.octets).map_err(|_| DeliverError("short_message"))?
    } else {
        tlvs.push(MessageDeliveryRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(&deliver.octets)),
        ));
        OctetString::empty()
    };
    if let Some((id, state)) = &deliver.receipt {
        let id = COctetString::from_str(id).map_err(|_| DeliverError("receipted_message_id"))?;
        tlvs.push(MessageDeliveryRequestTlvValue::ReceiptedMessageId(id));
        tlvs.push(MessageDeliveryRequestTlvValue::MessageState(
            MessageState::from(*state),
        ));
    }
    Ok(DeliverSm::new(
        ServiceType::null(),
        source_ton,
        source_npi,
        address("source_addr", &source)?,
        dest_ton,
        dest_npi,
        address("destination_addr", &destination)?,
        EsmClass::from(deliver.esm_class),
        0,
        PriorityFlag::from(0),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        RegisteredDelivery::from(0),
        ReplaceIfPresentFlag::from(0),
        DataCoding::from(deliver.data_coding),
        0,
        short_message,
        tlvs,
    ))
}
