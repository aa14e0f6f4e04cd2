//! How text becomes `short_message` bytes and back. This module owns the SMPP side of coding:
//! `data_coding`, source TON/NPI detection, concatenation (UDH with an 8-bit reference, SAR TLVs
//! or one `message_payload`), septet packing with UDH fill bits, and the inbound direction:
//! classifying a `deliver_sm` as receipt or message, decoding it, and reassembling parts.
//! The GSM 03.38 alphabet and the split into parts belong to [`crate::text`]; this module
//! never re-decides a part boundary, so what was priced is what is sent.
//!
//! Size check, per part of a concatenated message (air interface limit 140 octets):
//! - GSM-7, 153 septets: UDH 6 octets + 1 fill bit + 153 × 7 bits = 6 + 134 = 140 octets when
//!   packed. Unpacked and Latin-1 are SMPP transport forms (one octet per septet/character, up
//!   to 6 + 153 = 159 ≤ 254 octets of `short_message`); the SMSC packs them, and the septet
//!   count is what limits the air interface.
//! - UCS-2, 67 units: 6 + 134 = 140 octets.
//! - Single parts: 160 septets = 140 octets packed; 70 units = 140 octets.

use std::collections::HashMap;
use std::time::Duration;

use rusmpp::values::{Npi, Ton};
use tokio::time::Instant;

use super::receipt::{Receipt, ReceiptState, parse_receipt_text};
use super::{Concatenation, Gsm7Mode, InboundSms};
use crate::text::{self, Encoding};

/// `data_coding` values Flit sends.
pub const DATA_CODING_DEFAULT: u8 = 0x00;
pub const DATA_CODING_LATIN1: u8 = 0x03;
pub const DATA_CODING_UCS2: u8 = 0x08;

/// `esm_class` bit: `short_message` starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// `esm_class` message type: SMSC delivery receipt.
pub const ESM_DELIVERY_RECEIPT: u8 = 0x04;
/// `esm_class` message type: intermediate delivery notification (also a receipt, mostly ENROUTE).
pub const ESM_INTERMEDIATE_NOTIFICATION: u8 = 0x20;

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

/// Fill bits between a UDH of `header_octets` (UDHL included) and the first packed septet.
pub fn udh_fill_bits(header_octets: usize) -> usize {
    (7 - (header_octets * 8) % 7) % 7
}

/// Packs septets after `fill` zero bits (3GPP TS 23.040 §9.2.3.24: septets after a UDH start on
/// a septet boundary). Built on [`text::gsm7_pack`], shifted. When the last octet would end
/// with 7 spare bits, they hold CR rather than zeros, which a receiver would read as `@`
/// (TS 23.038 §6.1.2.3.1).
pub fn pack_septets(septets: &[u8], fill: usize) -> Vec<u8> {
    let packed = text::gsm7_pack(septets);
    let total_bits = fill + 7 * septets.len();
    let mut out = vec![0_u8; total_bits.div_ceil(8)];
    if fill == 0 {
        out[..packed.len()].copy_from_slice(&packed);
    } else {
        for (i, byte) in packed.iter().enumerate() {
            let wide = u16::from(*byte) << fill;
            out[i] |= (wide & 0xFF) as u8;
            if let Some(next) = out.get_mut(i + 1) {
                *next |= (wide >> 8) as u8;
            }
        }
    }
    if total_bits % 8 == 1
        && let Some(last) = out.last_mut()
    {
        *last |= 0x0D << 1;
    }
    out
}

/// User data octets of one SMS on the air interface, the UDH included.
const MAX_USER_DATA_OCTETS: usize = 140;

/// [`pack_septets`] after a UDH of `header_octets` (0 for none). A CR that is the last septet
/// and ends on an octet boundary looks like CR padding, which a receiver drops, so a second CR
/// follows it (CR CR means CR; TS 23.038 §6.1.2.3.1), if the user data has room for one.
fn pack_user_data(septets: &[u8], header_octets: usize) -> Vec<u8> {
    let fill = udh_fill_bits(header_octets);
    let mut packed = pack_septets(septets, fill);
    if (fill + 7 * septets.len()).is_multiple_of(8)
        && septets.last() == Some(&0x0D)
        && header_octets + packed.len() < MAX_USER_DATA_OCTETS
    {
        packed.push(0x0D);
    }
    packed
}

/// Septets packed after `fill` bits; a trailing CR that only pads the last octet is dropped.
pub fn unpack_septets(packed: &[u8], fill: usize) -> Vec<u8> {
    let bits = (packed.len() * 8).saturating_sub(fill);
    let count = bits / 7;
    let aligned: Vec<u8> = if fill == 0 {
        packed.to_vec()
    } else {
        (0..packed.len())
            .map(|i| {
                let low = packed[i] >> fill;
                let high = packed.get(i + 1).map_or(0, |b| b << (8 - fill));
                low | high
            })
            .collect()
    };
    let mut septets = text::gsm7_unpack(&aligned, count);
    if bits.is_multiple_of(7) && septets.last() == Some(&0x0D) && count > 0 {
        septets.pop();
    }
    septets
}

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
/// [`super::pdu::deliver_content`] so everything below is plain data and unit-testable.
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

fn decode_units(alphabet: Alphabet, units: &[u8]) -> String {
    match alphabet {
        Alphabet::Gsm7 => text::gsm7_decode(units),
        Alphabet::Ucs2 => text::ucs2_decode(units),
        Alphabet::Latin1 => units.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parts not completed within this time are dropped (the SMSC will not send them any more).
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on incomplete messages held, so a peer sending stray parts cannot grow memory.
const REASSEMBLY_MAX_PENDING: usize = 4096;

type ReassemblyKey = (String, String, u16, u8);

struct PendingMessage {
    alphabet: Alphabet,
    parts: Vec<Option<Vec<u8>>>,
    first_seen: Instant,
}

/// Holds parts of concatenated inbound messages until all have arrived. Parts are joined as
/// units (septets or octets) and decoded once, so an escape or a surrogate pair that a sender
/// split across parts still decodes.
#[derive(Default)]
pub struct Reassembler {
    pending: HashMap<ReassemblyKey, PendingMessage>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages waiting for more parts (tests and fuzzing bound it).
    #[cfg(any(test, feature = "test-support"))]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The complete message, once this fragment completes one (at once for a single part).
    pub fn push(&mut self, fragment: Fragment, now: Instant) -> Option<InboundSms> {
        let Some((reference, total, seq)) = fragment.concat else {
            return Some(InboundSms {
                text: decode_units(fragment.alphabet, &fragment.units),
                source: fragment.source,
                destination: fragment.destination,
                parts: 1,
            });
        };
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.first_seen) < REASSEMBLY_TIMEOUT);
        let key = (
            fragment.source.clone(),
            fragment.destination.clone(),
            reference,
            total,
        );
        if !self.pending.contains_key(&key)
            && self.pending.len() >= REASSEMBLY_MAX_PENDING
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone())
        {
            self.pending.remove(&oldest);
        }
        let entry = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| PendingMessage {
                alphabet: fragment.alphabet,
                parts: vec![None; usize::from(total)],
                first_seen: now,
            });
        // A repeated part (the SMSC resending after a lost deliver_sm_resp) overwrites itself.
        entry.parts[usize::from(seq - 1)] = Some(fragment.units);
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.pending.remove(&key)?;
        let units: Vec<u8> = done.parts.into_iter().flatten().flatten().collect();
        Some(InboundSms {
            text: decode_units(done.alphabet, &units),
            source: fragment.source,
            destination: fragment.destination,
            parts: total,
        })
    }
}

#[cfg(test)]
mod tests;
