//! The outbound direction: which `data_coding` a text goes out in, the TON/NPI of its
//! addresses, and how its parts are concatenated (UDH with an 8-bit reference, SAR TLVs or one
//! `message_payload`). The split into parts is [`crate::text`]'s; this module never re-decides a
//! part boundary, so what was priced is what is sent.
//!
//! Size check, per part of a concatenated message (air interface limit 140 octets):
//! - GSM-7, 153 septets: UDH 6 octets + 1 fill bit + 153 × 7 bits = 6 + 134 = 140 octets when
//!   packed. Unpacked and Latin-1 are SMPP transport forms (one octet per septet/character, up
//!   to 6 + 153 = 159 ≤ 254 octets of `short_message`); the SMSC packs them, and the septet
//!   count is what limits the air interface.
//! - UCS-2, 67 units: 6 + 134 = 140 octets.
//! - Single parts: 160 septets = 140 octets packed; 70 units = 140 octets.

use rusmpp::values::{Npi, Ton};

use super::packing::pack_user_data;
use super::{DATA_CODING_DEFAULT, DATA_CODING_LATIN1, DATA_CODING_UCS2};
use crate::channel::smpp::{Concatenation, Gsm7Mode};
use crate::text::{self, Encoding};

/// Longest sender ID that counts as a short code rather than an international number.
const SHORT_CODE_MAX_DIGITS: usize = 8;

/// TON/NPI for a sender ID as given: alphanumeric 5/0, a short code (≤ 8 digits) 3/0, anything
/// else all-digit (an optional leading `+` is dropped) international 1/1. Returns the address
/// to send, without `+`.
pub fn source_address(source: &str) -> (Ton, Npi, String) {
    let trimmed = source.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() <= SHORT_CODE_MAX_DIGITS && !trimmed.starts_with('+') {
            (Ton::NetworkSpecific, Npi::Unknown, digits.to_string())
        } else {
            (Ton::International, Npi::Isdn, digits.to_string())
        }
    } else {
        (Ton::Alphanumeric, Npi::Unknown, trimmed.to_string())
    }
}

/// Destinations are international numbers: 1/1, without `+`.
pub fn destination_address(destination: &str) -> (Ton, Npi, String) {
    let trimmed = destination.trim();
    (
        Ton::International,
        Npi::Isdn,
        trimmed.strip_prefix('+').unwrap_or(trimmed).to_string(),
    )
}

/// SAR TLV values of one part.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Sar {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// One `submit_sm` worth of content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedPart {
    /// `short_message`, the UDH included when `udhi`.
    pub short_message: Vec<u8>,
    /// Set `esm_class` bit 0x40.
    pub udhi: bool,
    pub sar: Option<Sar>,
    /// The whole message for [`Concatenation::Payload`]; `short_message` is then empty.
    pub message_payload: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedMessage {
    pub data_coding: u8,
    pub parts: Vec<EncodedPart>,
}

/// The bytes to send for `text`. `reference` identifies the concatenated message (its low 8
/// bits for UDH, all 16 for SAR); callers vary it per message.
///
/// [`Gsm7Mode::Latin1`] sends `data_coding` 3, one octet per character, but only if every
/// character exists in ISO-8859-1: GSM-7 has a few that do not (`€`, `Δ`, `Φ`, `Γ`, `Λ`, `Ω`,
/// `Π`, `Ψ`, `Σ`, `Θ`, `Ξ`); such a text goes as unpacked GSM-7 with the same parts instead,
/// which any SMSC accepts, rather than changing the part count the customer paid for.
pub fn encode_message(
    text: &str,
    gsm7: Gsm7Mode,
    concatenation: Concatenation,
    reference: u16,
) -> EncodedMessage {
    let split = text::split(text);
    let latin1 = matches!(gsm7, Gsm7Mode::Latin1) && text.chars().all(|c| u32::from(c) <= 0xFF);
    let (data_coding, gsm7) = match (split.encoding, gsm7) {
        (Encoding::Ucs2, _) => (DATA_CODING_UCS2, gsm7),
        (Encoding::Gsm7, Gsm7Mode::Latin1) if latin1 => (DATA_CODING_LATIN1, Gsm7Mode::Latin1),
        (Encoding::Gsm7, Gsm7Mode::Latin1) => (DATA_CODING_DEFAULT, Gsm7Mode::Unpacked),
        (Encoding::Gsm7, mode) => (DATA_CODING_DEFAULT, mode),
    };
    // Body bytes of `units` (septets or UTF-16BE) after a UDH of `header_octets`.
    let body = |units: &[u8], header_octets: usize| -> Vec<u8> {
        match (split.encoding, gsm7) {
            (Encoding::Ucs2, _) | (Encoding::Gsm7, Gsm7Mode::Unpacked) => units.to_vec(),
            (Encoding::Gsm7, Gsm7Mode::Packed) => pack_user_data(units, header_octets),
            (Encoding::Gsm7, Gsm7Mode::Latin1) => text::gsm7_decode(units)
                .chars()
                // Checked above: every char is ≤ U+00FF, so this keeps them all.
                .filter_map(|c| u8::try_from(u32::from(c)).ok())
                .collect(),
        }
    };

    if matches!(concatenation, Concatenation::Payload) {
        let all: Vec<u8> = split.parts.concat();
        return EncodedMessage {
            data_coding,
            parts: vec![EncodedPart {
                short_message: Vec::new(),
                udhi: false,
                sar: None,
                message_payload: Some(body(&all, 0)),
            }],
        };
    }

    let total = split.parts.len();
    if total == 1 {
        let only = split.parts.first().map(Vec::as_slice).unwrap_or_default();
        return EncodedMessage {
            data_coding,
            parts: vec![EncodedPart {
                short_message: body(only, 0),
                udhi: false,
                sar: None,
                message_payload: None,
            }],
        };
    }
    // segment's max_parts keeps real traffic far below 255 parts; clamp rather than wrap.
    let total_u8 = u8::try_from(total).unwrap_or(u8::MAX);
    let parts = split
        .parts
        .iter()
        .enumerate()
        .map(|(index, units)| {
            let seq = u8::try_from(index + 1).unwrap_or(u8::MAX);
            match concatenation {
                Concatenation::Udh => {
                    let [_, reference_low] = reference.to_be_bytes();
                    let mut short_message = vec![0x05, 0x00, 0x03, reference_low, total_u8, seq];
                    // 6 header octets = 48 bits; septets start on the next septet boundary
                    // (49 bits), so one fill bit.
                    short_message.extend(body(units, short_message.len()));
                    EncodedPart {
                        short_message,
                        udhi: true,
                        sar: None,
                        message_payload: None,
                    }
                }
                Concatenation::Sar | Concatenation::Payload => EncodedPart {
                    short_message: body(units, 0),
                    udhi: false,
                    sar: Some(Sar {
                        reference,
                        total: total_u8,
                        seq,
                    }),
                    message_payload: None,
                },
            }
        })
        .collect();
    EncodedMessage { data_coding, parts }
}
