//! The PDUs the client writes, and what it reads out of those it receives, all through
//! `rusmpp`: `bind_transceiver`, `submit_sm`, the answers to the server's own requests, and
//! the message id a delivery receipt names.

use std::str::FromStr;

use anyhow::Context as _;
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, Npi, RegisteredDelivery, ReplaceIfPresentFlag, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use crate::smsc::decode_user_data;

/// esm_class bits 2–5 of a `deliver_sm` that carries an MC delivery receipt (SMPP 3.4 §5.2.12).
const ESM_CLASS_RECEIPT: u8 = 0x04;

/// A `bind_transceiver` for SMPP 3.4 with the account's credentials.
pub(crate) fn bind_transceiver(system_id: &str, password: &str) -> anyhow::Result<BindTransceiver> {
    Ok(BindTransceiver::builder()
        .system_id(
            COctetString::from_str(system_id)
                .with_context(|| format!("system_id {system_id:?} (at most 15 characters)"))?,
        )
        .password(COctetString::from_str(password).context("the password (at most 8 characters)")?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .build())
}

/// What every `submit_sm` of a run has in common; only the destination changes.
#[derive(Debug, Clone)]
pub(crate) struct SubmitTemplate {
    source: COctetString<1, 21>,
    short_message: OctetString<0, 255>,
    registered_delivery: u8,
}

impl SubmitTemplate {
    /// `source` goes out alphanumeric (TON 5, NPI 0); `user_data` is the text already encoded
    /// (GSM 7-bit, one septet an octet) and fits one `short_message`.
    pub(crate) fn new(source: &str, user_data: Vec<u8>, receipts: bool) -> anyhow::Result<Self> {
        Ok(Self {
            source: COctetString::from_str(source)
                .with_context(|| format!("source address {source:?} (at most 20 characters)"))?,
            short_message: OctetString::from_vec(user_data)
                .context("the text does not fit one short_message")?,
            registered_delivery: u8::from(receipts),
        })
    }

    /// The `submit_sm` to one international number (TON 1, NPI 1), data_coding 0.
    pub(crate) fn to(&self, destination: &str) -> anyhow::Result<SubmitSm> {
        Ok(SubmitSm::builder()
            .source_addr_ton(Ton::Alphanumeric)
            .source_addr_npi(Npi::Unknown)
            .source_addr(self.source.clone())
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(
                COctetString::from_str(destination)
                    .with_context(|| format!("destination {destination:?}"))?,
            )
            .esm_class(EsmClass::from(0))
            .registered_delivery(RegisteredDelivery::from(self.registered_delivery))
            .replace_if_present_flag(ReplaceIfPresentFlag::DoNotReplace)
            .data_coding(DataCoding::from(0))
            .short_message(self.short_message.clone())
            .build())
    }
}

/// The `deliver_sm_resp` to the `deliver_sm` of `sequence`.
pub(crate) fn deliver_sm_resp(sequence: u32) -> Command {
    Command::new(
        CommandStatus::EsmeRok,
        sequence,
        DeliverSmResp::builder().build(),
    )
}

/// A `generic_nack` answering a request the client does not serve.
pub(crate) fn generic_nack(sequence: u32) -> Command {
    Command::new(
        CommandStatus::EsmeRinvcmdid,
        sequence,
        Pdu::Other {
            command_id: CommandId::GenericNack,
            body: AnyOctetString::empty(),
        },
    )
}

/// Whether a `deliver_sm` is a delivery receipt rather than a mobile-originated message.
pub fn is_receipt(deliver: &DeliverSm) -> bool {
    u8::from(deliver.esm_class) & ESM_CLASS_RECEIPT != 0
}

/// The message id a receipt reports on: the `receipted_message_id` TLV when present and not
/// empty, else the `id:` field of its text (`id:<ID> sub:… stat:…`). `None` when it names none.
pub fn receipt_id(deliver: &DeliverSm) -> Option<String> {
    let from_tlv = deliver.tlvs().iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::ReceiptedMessageId(id)) if !id.to_string().is_empty() => {
            Some(id.to_string())
        }
        _ => None,
    });
    from_tlv.or_else(|| {
        let text = decode_user_data(
            u8::from(deliver.data_coding),
            deliver.short_message().as_ref(),
        );
        receipt_id_from_text(&text).map(str::to_owned)
    })
}

/// The `id:` field of a receipt text (SMPP 3.4 appendix B), matched case-insensitively as a
/// whole word, so that `submit date:` and the like never pass for it.
pub fn receipt_id_from_text(text: &str) -> Option<&str> {
    text.split_whitespace().find_map(|word| {
        let (name, value) = word.split_once(':')?;
        (name.eq_ignore_ascii_case("id") && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use rusmpp::tlvs::MessageDeliveryRequestTlvValue;

    use super::*;

    fn receipt(text: &str, tlv_id: Option<&str>) -> DeliverSm {
        let mut builder = DeliverSm::builder()
            .esm_class(EsmClass::from(ESM_CLASS_RECEIPT))
            .short_message(OctetString::from_vec(text.as_bytes().to_vec()).expect("fits"));
        if let Some(id) = tlv_id {
            builder = builder.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_str(id).expect("valid id"),
            ));
        }
        builder.build()
    }

    const TEXT: &str = "id:1a2b sub:001 dlvrd:001 submit date:2503040506 done date:2503040507 stat:DELIVRD err:000 text:hello";

    #[test]
    fn the_tlv_wins_over_the_text() {
        assert_eq!(
            receipt_id(&receipt(TEXT, Some("ff00"))).as_deref(),
            Some("ff00")
        );
    }

    #[test]
    fn without_the_tlv_the_id_comes_from_the_text() {
        assert_eq!(receipt_id(&receipt(TEXT, None)).as_deref(), Some("1a2b"));
        assert_eq!(
            receipt_id(&receipt(TEXT, Some(""))).as_deref(),
            Some("1a2b")
        );
    }

    #[test]
    fn a_receipt_naming_no_id_has_none() {
        assert_eq!(receipt_id(&receipt("stat:DELIVRD err:000", None)), None);
        assert_eq!(receipt_id(&receipt("id: sub:001", None)), None);
    }

    #[test]
    fn the_text_id_is_a_whole_word_in_any_case() {
        assert_eq!(receipt_id_from_text("ID:42 stat:DELIVRD"), Some("42"));
        assert_eq!(receipt_id_from_text("  id:abc-1"), Some("abc-1"));
        assert_eq!(
            receipt_id_from_text("submit date:2503040506 id:7"),
            Some("7")
        );
        assert_eq!(receipt_id_from_text("msgid:9 stat:DELIVRD"), None);
        assert_eq!(receipt_id_from_text(""), None);
    }

    #[test]
    fn receipts_are_told_by_esm_class() {
        assert!(is_receipt(&receipt(TEXT, None)));
        let inbound = DeliverSm::builder().esm_class(EsmClass::from(0)).build();
        assert!(!is_receipt(&inbound));
    }

    #[test]
    fn submits_carry_the_agreed_addressing_and_coding() {
        let template = SubmitTemplate::new("LoadTest", b"hi".to_vec(), true).expect("valid");
        let submit = template.to("233201234567").expect("valid");
        assert_eq!(submit.source_addr_ton, Ton::Alphanumeric);
        assert_eq!(submit.dest_addr_ton, Ton::International);
        assert_eq!(submit.dest_addr_npi, Npi::Isdn);
        assert_eq!(u8::from(submit.registered_delivery), 1);
        assert_eq!(u8::from(submit.data_coding), 0);
        assert_eq!(submit.short_message().as_ref(), b"hi");
        assert!(bind_transceiver("a_system_id_too_long", "pw").is_err());
        assert!(bind_transceiver("esme", "password9").is_err());
    }
}
