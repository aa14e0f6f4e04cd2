//! The inbound direction up to reassembly: how a received `short_message` is read
//! (`data_coding` to alphabet), whether a `deliver_sm` is a receipt and which receipt, and the
//! fragment a message part becomes (its concatenation from SAR TLVs or the UDH, septets
//! unpacked when the bind packs them).

use super::packing::{udh_fill_bits, unpack_septets};
use super::{
    DATA_CODING_DEFAULT, ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION, ESM_UDHI, Sar,
};
use crate::channel::smpp::Gsm7Mode;
use crate::channel::smpp::receipt::{Receipt, ReceiptState, parse_receipt_text};
use crate::text;

/// How the octets of a received `short_message` are to be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Alphabet {
    Gsm7,
    /// IA5/ASCII, Latin-1 and 8-bit data: one octet, one character.
    Latin1,
    Ucs2,
}

/// SMPP 3.4 §5.2.19 values below 0x10; GSM 03.38 coding groups for the rest.
pub fn alphabet(data_coding: u8) -> Alphabet {
    match data_coding {
        0x00 => Alphabet::Gsm7,
        0x08 | 0x0E => Alphabet::Ucs2,
        0x01..=0x0F => Alphabet::Latin1,
        // General data coding groups 00xx and 01xx: bits 3-2 give the alphabet.
        0x10..=0x7F => match (data_coding >> 2) & 0x03 {
            0 => Alphabet::Gsm7,
            2 => Alphabet::Ucs2,
            _ => Alphabet::Latin1,
        },
        0xC0..=0xDF => Alphabet::Gsm7,
        0xE0..=0xEF => Alphabet::Ucs2,
        0xF0..=0xFF if data_coding & 0x04 == 0 => Alphabet::Gsm7,
        _ => Alphabet::Latin1,
    }
}

/// The fields of a `deliver_sm` that Flit reads, lifted out of rusmpp's types by
/// [`crate::channel::smpp::pdu::deliver_content`] so everything below is plain data and unit-testable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliverContent {
    pub source: String,
    pub destination: String,
    pub esm_class: u8,
    pub data_coding: u8,
    pub short_message: Vec<u8>,
    pub message_payload: Option<Vec<u8>>,
    pub sar: Option<Sar>,
    pub receipted_message_id: Option<String>,
    pub message_state: Option<u8>,
    /// `network_error_code` TLV: (network type, error code).
    pub network_error_code: Option<(u8, u16)>,
}

impl DeliverContent {
    pub fn is_receipt(&self) -> bool {
        self.esm_class & (ESM_DELIVERY_RECEIPT | ESM_INTERMEDIATE_NOTIFICATION) != 0
            || self.receipted_message_id.is_some()
    }
}

/// The receipt a `deliver_sm` carries, or `None` when neither TLVs nor text give an id and a
/// state.
pub fn receipt_from(content: &DeliverContent) -> Option<Receipt> {
    let raw = content
        .message_payload
        .as_deref()
        .unwrap_or(&content.short_message);
    // Receipt text is ASCII in practice whatever data_coding says; reading it as Latin-1 keeps
    // `_` and `@` as written, which GSM-7 decoding would not.
    let text = match alphabet(content.data_coding) {
        Alphabet::Ucs2 => text::ucs2_decode(raw),
        Alphabet::Gsm7 | Alphabet::Latin1 => raw.iter().map(|&b| char::from(b)).collect(),
    };
    let parsed = parse_receipt_text(&text).unwrap_or_default();
    let smsc_message_id = content
        .receipted_message_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .or(parsed.id)?;
    let state = content
        .message_state
        .and_then(ReceiptState::from_message_state)
        .or(parsed.state)?;
    Some(Receipt {
        smsc_message_id,
        state,
        error: parsed.err.or_else(|| {
            content
                .network_error_code
                .map(|(kind, code)| format!("{kind}:{code}"))
        }),
        submit_date: parsed.submit_date,
        done_date: parsed.done_date,
        delivered: parsed.delivered,
        text: parsed.text,
    })
}

/// One received part, its payload still in units of its alphabet (septets, or octets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub source: String,
    pub destination: String,
    pub alphabet: Alphabet,
    /// Unpacked septets for GSM-7, else the octets.
    pub units: Vec<u8>,
    /// (reference, total, seq) when this is a part of a concatenated message.
    pub concat: Option<(u16, u8, u8)>,
}

/// Splits a non-receipt `deliver_sm` into header information and content. `gsm7` says how
/// `data_coding` 0 octets are laid out on this bind (packed or not, as for sending).
pub fn fragment_from(content: &DeliverContent, gsm7: Gsm7Mode) -> Fragment {
    let alphabet = alphabet(content.data_coding);
    let packed = matches!(gsm7, Gsm7Mode::Packed) && content.data_coding == DATA_CODING_DEFAULT;
    let mut concat = content.sar.map(|s| (s.reference, s.total, s.seq));
    let (raw, header_octets) = match &content.message_payload {
        Some(payload) => (payload.as_slice(), 0),
        None if content.esm_class & ESM_UDHI != 0 && !content.short_message.is_empty() => {
            let udhl = usize::from(content.short_message[0]);
            let end = (1 + udhl).min(content.short_message.len());
            if let Some(found) = concat_from_udh(&content.short_message[1..end]) {
                concat = Some(found);
            }
            (&content.short_message[end..], end)
        }
        None => (content.short_message.as_slice(), 0),
    };
    let units = match alphabet {
        Alphabet::Gsm7 if packed => unpack_septets(raw, udh_fill_bits(header_octets)),
        _ => raw.to_vec(),
    };
    Fragment {
        source: content.source.clone(),
        destination: content.destination.clone(),
        alphabet,
        units,
        concat: concat.filter(|(_, total, seq)| *total > 1 && *seq >= 1 && seq <= total),
    }
}

/// The concatenation information element of a UDH (without its length octet): IEI 0x00
/// (8-bit reference) or 0x08 (16-bit reference). Other elements are skipped.
pub fn concat_from_udh(udh: &[u8]) -> Option<(u16, u8, u8)> {
    let mut rest = udh;
    while rest.len() >= 2 {
        let (iei, len) = (rest[0], usize::from(rest[1]));
        let data = rest.get(2..2 + len)?;
        match (iei, data) {
            (0x00, &[reference, total, seq]) => return Some((u16::from(reference), total, seq)),
            (0x08, &[high, low, total, seq]) => {
                return Some((u16::from_be_bytes([high, low]), total, seq));
            }
            _ => rest = &rest[2 + len..],
        }
    }
    None
}
