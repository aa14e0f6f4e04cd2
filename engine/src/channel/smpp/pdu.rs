//! The boundary with `rusmpp`: the only module that builds or takes apart its types. Outgoing
//! PDUs are built from Flit's plain data ([`BindConfig`], [`Submit`], [`EncodedPart`]); incoming
//! `deliver_sm` are flattened into [`DeliverContent`].
//!
//! rusmpp's string types enforce SMPP sizes with the NUL terminator counted (`system_id` 16 =
//! 15 characters), so building can fail; failures name the field.

use std::str::FromStr;

use rusmpp::pdus::{
    BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm,
};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, Tlv, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};
use rusmpp::{Command, CommandStatus, Pdu};

use super::coding::{self, DeliverContent, EncodedPart, Sar};
use super::{BindConfig, Submit};

use super::status;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("{field} {value:?} does not fit SMPP ({reason})")]
    Field {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// Said without the password, which this error may end up in a log line and the bind's
    /// state beside.
    #[error("the password does not fit SMPP ({0})")]
    Password(String),
    /// The stored password does not open with the engine's secret key.
    #[error("the stored password cannot be unsealed with the secret key")]
    SealedPassword,
}

impl PduError {
    /// The SMPP status an SMSC would have answered for this field.
    pub fn command_status(&self) -> u32 {
        match self {
            PduError::Field {
                field: "source_addr",
                ..
            } => status::INVALID_SOURCE_ADDRESS,
            PduError::Field {
                field: "destination_addr",
                ..
            } => status::INVALID_DESTINATION_ADDRESS,
            PduError::Field { .. } => status::INVALID_MESSAGE_LENGTH,
            PduError::Password(_) | PduError::SealedPassword => status::INVALID_PASSWORD,
        }
    }
}

fn c_string<const MIN: usize, const MAX: usize>(
    field: &'static str,
    value: &str,
) -> Result<COctetString<MIN, MAX>, PduError> {
    COctetString::from_str(value).map_err(|err| PduError::Field {
        field,
        value: value.to_string(),
        reason: err.to_string(),
    })
}

/// Which of the three binds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BindKind {
    Transceiver,
    Transmitter,
    Receiver,
}

/// A bind request: system_id, password and system_type from `config`, interface_version 0x34,
/// address range empty.
pub fn bind(config: &BindConfig, kind: BindKind) -> Result<Pdu, PduError> {
    let system_id = c_string("system_id", &config.system_id)?;
    // Opened here, for this request only.
    let password = config
        .password
        .reveal()
        .map_err(|_| PduError::SealedPassword)?;
    let password =
        COctetString::from_str(&password).map_err(|err| PduError::Password(err.to_string()))?;
    let system_type = c_string("system_type", &config.system_type)?;
    let version = InterfaceVersion::Smpp3_4;
    let range = COctetString::empty();
    Ok(match kind {
        BindKind::Transceiver => BindTransceiver::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )
        .into(),
        BindKind::Transmitter => BindTransmitter::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )
        .into(),
        BindKind::Receiver => BindReceiver::new(
            system_id,
            password,
            system_type,
            version,
            Ton::Unknown,
            Npi::Unknown,
            range,
        )
        .into(),
    })
}

/// The `system_id` of a positive bind response, if the PDU is one.
pub fn bind_resp_system_id(pdu: Option<&Pdu>) -> Option<String> {
    match pdu? {
        Pdu::BindTransceiverResp(r) => Some(r.system_id.as_str().to_string()),
        Pdu::BindTransmitterResp(r) => Some(r.system_id.as_str().to_string()),
        Pdu::BindReceiverResp(r) => Some(r.system_id.as_str().to_string()),
        _ => None,
    }
}

/// One `submit_sm` for one encoded part of `submit`.
pub fn submit_sm(
    submit: &Submit,
    data_coding: u8,
    part: &EncodedPart,
) -> Result<SubmitSm, PduError> {
    let (source_ton, source_npi, source) = coding::source_address(&submit.source);
    let (dest_ton, dest_npi, destination) = coding::destination_address(&submit.destination);
    let short_message =
        OctetString::from_slice(&part.short_message).map_err(|err| PduError::Field {
            field: "short_message",
            value: format!("{} octets", part.short_message.len()),
            reason: err.to_string(),
        })?;
    // Built from explicit octets: rusmpp 0.4's `EsmClass::default()` is 0x08 (its ANSI-41
    // "delivery acknowledgement" is the default), which must never go out on a submit_sm.
    let esm_class = EsmClass::from(if part.udhi { coding::ESM_UDHI } else { 0 });
    let registered_delivery = RegisteredDelivery::from(u8::from(submit.registered_delivery));
    let mut tlvs = Vec::new();
    if let Some(Sar {
        reference,
        total,
        seq,
    }) = part.sar
    {
        tlvs.push(MessageSubmissionRequestTlvValue::SarMsgRefNum(reference));
        tlvs.push(MessageSubmissionRequestTlvValue::SarTotalSegments(total));
        tlvs.push(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq));
    }
    if let Some(payload) = &part.message_payload {
        tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(payload)),
        ));
    }
    Ok(SubmitSm::new(
        ServiceType::null(),
        source_ton,
        source_npi,
        c_string("source_addr", &source)?,
        dest_ton,
        dest_npi,
        c_string("destination_addr", &destination)?,
        esm_class,
        0,
        PriorityFlag::from(0),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        registered_delivery,
        ReplaceIfPresentFlag::from(0),
        DataCoding::from(data_coding),
        0,
        short_message,
        tlvs,
    ))
}

/// The id in a `submit_sm_resp`, empty if the SMSC sent none.
pub fn submit_sm_resp_id(pdu: Option<&Pdu>) -> String {
    match pdu {
        Some(Pdu::SubmitSmResp(r)) => r.message_id().as_str().to_string(),
        _ => String::new(),
    }
}

/// The fields of a `deliver_sm` that [`coding`] reads.
pub fn deliver_content(deliver: &DeliverSm) -> DeliverContent {
    content_of(
        DeliverContent {
            source: deliver.source_addr.as_str().to_string(),
            destination: deliver.destination_addr.as_str().to_string(),
            esm_class: u8::from(deliver.esm_class),
            data_coding: u8::from(deliver.data_coding),
            short_message: deliver.short_message().to_vec(),
            ..DeliverContent::default()
        },
        deliver.tlvs(),
    )
}

/// `content` with what its PDU's TLVs add: `message_payload`, the SAR values (all three, or
/// none), and a receipt's id, state and network error. The server reads a customer's
/// `submit_sm` through it too.
pub fn content_of(mut content: DeliverContent, tlvs: &[Tlv]) -> DeliverContent {
    let (mut reference, mut total, mut seq) = (None, None, None);
    for tlv in tlvs {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => {
                content.receipted_message_id = Some(id.as_str().to_string());
            }
            Some(TlvValue::MessageState(state)) => content.message_state = Some(u8::from(*state)),
            Some(TlvValue::MessagePayload(payload)) => {
                content.message_payload = Some(payload.value.to_vec());
            }
            Some(TlvValue::NetworkErrorCode(code)) => {
                content.network_error_code = Some((u8::from(code.network_type), code.error_code));
            }
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => seq = Some(*v),
            _ => {}
        }
    }
    if let (Some(reference), Some(total), Some(seq)) = (reference, total, seq) {
        content.sar = Some(Sar {
            reference,
            total,
            seq,
        });
    }
    content
}

pub fn response(sequence_number: u32, pdu: impl Into<Pdu>) -> Command {
    Command::new(CommandStatus::EsmeRok, sequence_number, pdu)
}

pub fn deliver_sm_resp(sequence_number: u32) -> Command {
    response(sequence_number, DeliverSmResp::default())
}

pub fn generic_nack(sequence_number: u32, status: u32) -> Command {
    Command::new(
        CommandStatus::from(status),
        sequence_number,
        Pdu::GenericNack,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::smpp::config::BindPassword;
    use crate::channel::smpp::{Concatenation, Gsm7Mode};
    use rusmpp::tokio_codec::CommandCodec;
    use tokio_util::bytes::BytesMut;
    use tokio_util::codec::{Decoder, Encoder};

    fn roundtrip(command: Command) -> Command {
        let mut codec = CommandCodec::new();
        let mut buf = BytesMut::new();
        codec.encode(command, &mut buf).expect("encode");
        codec
            .decode(&mut buf)
            .expect("decode")
            .expect("a whole frame")
    }

    #[test]
    fn submit_sm_carries_what_coding_built() {
        let submit = Submit {
            id: 1,
            source: "Flit".into(),
            destination: "+447700900123".into(),
            text: "x".repeat(200),
            registered_delivery: true,
            recipient: None,
            valid_until: None,
            sim: None,
        };
        let message =
            coding::encode_message(&submit.text, Gsm7Mode::Unpacked, Concatenation::Sar, 77);
        let sm = submit_sm(&submit, message.data_coding, &message.parts[1]).expect("builds");
        let decoded = roundtrip(Command::new(CommandStatus::EsmeRok, 5, sm));
        let Some(Pdu::SubmitSm(sm)) = decoded.pdu() else {
            panic!("not a submit_sm")
        };
        assert_eq!(sm.source_addr.as_str(), "Flit");
        assert_eq!(
            (sm.source_addr_ton, sm.source_addr_npi),
            (Ton::Alphanumeric, Npi::Unknown)
        );
        assert_eq!(sm.destination_addr.as_str(), "447700900123");
        assert_eq!(
            (sm.dest_addr_ton, sm.dest_addr_npi),
            (Ton::International, Npi::Isdn)
        );
        assert_eq!(u8::from(sm.registered_delivery), 1);
        assert_eq!(u8::from(sm.esm_class), 0, "not rusmpp's default 0x08");
        assert_eq!(
            (
                sm.protocol_id,
                sm.priority_flag.value,
                u8::from(sm.replace_if_present_flag),
                sm.sm_default_msg_id
            ),
            (0, 0, 0, 0)
        );
        assert!(sm.schedule_delivery_time.is_empty() && sm.validity_period.is_empty());
        assert_eq!(sm.service_type.value().as_str(), "");
        assert_eq!(
            sm.short_message().as_ref(),
            &message.parts[1].short_message[..]
        );
        let tags: Vec<_> = sm
            .tlvs()
            .iter()
            .filter_map(|t| t.value().cloned())
            .collect();
        assert_eq!(
            tags,
            vec![
                TlvValue::SarMsgRefNum(77),
                TlvValue::SarTotalSegments(2),
                TlvValue::SarSegmentSeqnum(2)
            ]
        );

        let udh = coding::encode_message(&"€".repeat(100), Gsm7Mode::Packed, Concatenation::Udh, 3);
        let sm = submit_sm(&submit, udh.data_coding, &udh.parts[0]).expect("builds");
        assert_eq!(u8::from(sm.esm_class), 0x40);
        assert_eq!(u8::from(sm.data_coding), 0);

        let payload = coding::encode_message(
            &"ж".repeat(100),
            Gsm7Mode::Unpacked,
            Concatenation::Payload,
            3,
        );
        let sm = submit_sm(&submit, payload.data_coding, &payload.parts[0]).expect("builds");
        assert_eq!(u8::from(sm.data_coding), 8);
        assert_eq!(sm.short_message().len(), 0);
        assert!(
            matches!(sm.tlvs()[0].value(), Some(TlvValue::MessagePayload(p)) if p.value.len() == 200)
        );
    }

    #[test]
    fn oversized_fields_are_refused_with_a_status() {
        let submit = Submit {
            id: 1,
            source: "ThisSenderIsFarTooLong".into(),
            destination: "4477".into(),
            text: "x".into(),
            registered_delivery: false,
            recipient: None,
            valid_until: None,
            sim: None,
        };
        let message = coding::encode_message("x", Gsm7Mode::Unpacked, Concatenation::Udh, 1);
        let err = submit_sm(&submit, 0, &message.parts[0]).expect_err("21 octets max");
        assert_eq!(err.command_status(), status::INVALID_SOURCE_ADDRESS);
        let config = BindConfig {
            password: BindPassword::for_tests("12345678é"),
            ..BindConfig::default()
        };
        let err = bind(&config, BindKind::Transceiver).expect_err("8 ASCII characters at most");
        assert!(!err.to_string().contains("12345678"), "{err}");
    }

    #[test]
    fn bind_is_smpp_3_4() {
        let config = BindConfig {
            system_id: "flit".into(),
            password: BindPassword::for_tests("secret"),
            system_type: "SMS".into(),
            ..BindConfig::default()
        };
        let command = roundtrip(Command::new(
            CommandStatus::EsmeRok,
            1,
            bind(&config, BindKind::Transceiver).expect("builds"),
        ));
        let Some(Pdu::BindTransceiver(b)) = command.pdu() else {
            panic!("not a bind")
        };
        assert_eq!(
            (
                b.system_id.as_str(),
                b.password.as_str(),
                b.system_type.as_str()
            ),
            ("flit", "secret", "SMS")
        );
        assert_eq!(u8::from(b.interface_version), 0x34);
    }
}
