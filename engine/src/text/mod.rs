//! SMS text encoding and segmentation. This module owns the GSM 03.38 default alphabet and its
//! extension table, the choice between GSM-7 and UCS-2, how many parts a text needs (160/153
//! septets, 70/67 UTF-16 units, never splitting an escape pair or a surrogate pair), the bytes of
//! each part, and septet packing for the SMPP channel. Pricing and the accept path rely on
//! [`analyse`] and [`split`] agreeing on the part count, so both use the same fill rule.

pub mod template;

use std::fmt;

/// Septets in a single-part GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 message (the user data header takes the other 7).
pub const GSM7_MULTI: usize = 153;
/// UTF-16 units in a single-part UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 message.
pub const UCS2_MULTI: usize = 67;
/// Default `max_parts`: 6 × 153 = 918 GSM-7 characters, 6 × 67 = 402 UCS-2 units.
pub const DEFAULT_MAX_PARTS: usize = 6;

/// The septet that announces a character from the extension table.
pub const ESC: u8 = 0x1B;

/// GSM 03.38 default alphabet, indexed by septet. 0x1B is the escape to the extension table; it
/// has no character of its own and decodes as a space when it stands alone.
pub const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table: (character, code sent after [`ESC`]). Each costs two septets.
pub const GSM7_EXTENSION: [(char, u8); 10] = [
    ('\u{0C}', 0x0A), // form feed
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// For ASCII input (almost all traffic) a table lookup replaces searching both tables:
/// 0 = not in GSM-7, 1 = basic (code in [`ASCII_CODE`]), 2 = extension.
const ASCII_COST: [u8; 128] = {
    let mut cost = [0_u8; 128];
    let mut code = 0;
    while code < 128 {
        let c = GSM7_BASIC[code];
        if (c as u32) < 128 && code != ESC as usize {
            cost[c as usize] = 1;
        }
        code += 1;
    }
    let mut i = 0;
    while i < GSM7_EXTENSION.len() {
        let c = GSM7_EXTENSION[i].0;
        if (c as u32) < 128 {
            cost[c as usize] = 2;
        }
        i += 1;
    }
    cost
};

/// Septet for each ASCII character (basic table code, or the code after ESC for extensions).
const ASCII_CODE: [u8; 128] = {
    let mut table = [0_u8; 128];
    let mut code = 0;
    while code < 128 {
        let c = GSM7_BASIC[code];
        if (c as u32) < 128 && code != ESC as usize {
            table[c as usize] = code as u8;
        }
        code += 1;
    }
    let mut i = 0;
    while i < GSM7_EXTENSION.len() {
        let (c, ext) = GSM7_EXTENSION[i];
        if (c as u32) < 128 {
            table[c as usize] = ext;
        }
        i += 1;
    }
    table
};

/// GSM-7 cost and code of one character: `Some((1, code))` for the basic table, `Some((2, ext))`
/// for the extension table, `None` when the text has to go as UCS-2.
#[inline]
fn gsm7_char(c: char) -> Option<(u8, u8)> {
    let u = c as u32;
    if u < 128 {
        let cost = ASCII_COST[u as usize];
        return (cost != 0).then_some((cost, ASCII_CODE[u as usize]));
    }
    // The non-ASCII members of both tables, written out so the compiler can build a jump table.
    let code = match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        '€' => return Some((2, 0x65)),
        _ => return None,
    };
    Some((1, code))
}

/// Whether every character of `text` is in the GSM 03.38 default alphabet or its extension.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_char(c).is_some())
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TextInfo {
    pub encoding: Encoding,
    /// Characters as the user sees them (Unicode scalar values).
    pub length: usize,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    pub parts: usize,
}

/// Counts the parts of a concatenated message as they are filled: an item of `cost` units (an
/// escape pair, a surrogate pair) that does not fit in what is left of the part starts the next
/// one. `analyse` and `split` both go through it so their counts cannot drift apart.
#[derive(Copy, Clone)]
struct Filler {
    per_part: usize,
    parts: usize,
    fill: usize,
}

impl Filler {
    const fn new(per_part: usize) -> Filler {
        Filler {
            per_part,
            parts: 1,
            fill: 0,
        }
    }

    /// Adds an item; returns true when it opened a new part.
    #[inline]
    fn push(&mut self, cost: usize) -> bool {
        let opened = self.fill + cost > self.per_part;
        if opened {
            self.parts += 1;
            self.fill = 0;
        }
        self.fill += cost;
        opened
    }

    /// Adds `count` items of cost 1 at once; the same as `count` calls to `push(1)`.
    #[inline]
    fn push_run(&mut self, count: usize) {
        self.fill += count;
        if self.fill > self.per_part {
            let extra = (self.fill - 1) / self.per_part;
            self.parts += extra;
            self.fill -= extra * self.per_part;
        }
    }
}

/// Encoding, length and part count of `text`, in one pass and without allocating.
pub fn analyse(text: &str) -> TextInfo {
    let bytes = text.as_bytes();
    let mut length = 0;
    let mut septets = 0;
    let mut gsm = Filler::new(GSM7_MULTI);
    let mut i = 0;
    while i < bytes.len() {
        // Runs of basic-table ASCII (most traffic) go 8 bytes at a time: one septet each, so
        // no escape pair can be involved in a part boundary inside the run.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let basic = chunk.iter().fold(true, |all, &b| {
                all & (b < 0x80) & (ASCII_COST[usize::from(b & 0x7F)] == 1)
            });
            if basic {
                gsm.push_run(8);
                septets += 8;
                length += 8;
                i += 8;
                continue;
            }
        }
        // `i` only ever advances by whole characters, so it is a char boundary.
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let Some((cost, _)) = gsm7_char(c) else {
            return analyse_ucs2(text, i, length);
        };
        septets += usize::from(cost);
        gsm.push(usize::from(cost));
        length += 1;
        i += c.len_utf8();
    }
    TextInfo {
        encoding: Encoding::Gsm7,
        length,
        units: septets,
        parts: if septets <= GSM7_SINGLE { 1 } else { gsm.parts },
    }
}

/// Finishes [`analyse`] once a character outside GSM-7 turns up at byte `from`: the `length`
/// characters before it were all GSM-7, hence all in the BMP and one UTF-16 unit each.
fn analyse_ucs2(text: &str, from: usize, mut length: usize) -> TextInfo {
    let mut ucs = Filler::new(UCS2_MULTI);
    ucs.push_run(length);
    let mut units = length;
    for c in text[from..].chars() {
        let width = c.len_utf16();
        length += 1;
        units += width;
        ucs.push(width);
    }
    TextInfo {
        encoding: Encoding::Ucs2,
        length,
        units,
        parts: if units <= UCS2_SINGLE { 1 } else { ucs.parts },
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub encoding: Encoding,
    /// GSM-7: unpacked septets, one byte each (ESC then the code for extension characters).
    /// UCS-2: UTF-16BE.
    pub parts: Vec<Vec<u8>>,
}

/// The bytes of each part; `split(t).parts.len() == analyse(t).parts` for every text.
pub fn split(text: &str) -> Split {
    let info = analyse(text);
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(info.parts);
    match info.encoding {
        Encoding::Gsm7 => {
            let per_part = if info.parts == 1 {
                GSM7_SINGLE
            } else {
                GSM7_MULTI
            };
            let mut filler = Filler::new(per_part);
            let mut current = Vec::with_capacity(per_part.min(info.units));
            for c in text.chars() {
                // analyse said every char is GSM-7; a miss would be a bug, and skipping keeps
                // the output well-formed rather than panicking on the hot path.
                let Some((cost, code)) = gsm7_char(c) else {
                    continue;
                };
                if filler.push(usize::from(cost)) {
                    parts.push(std::mem::replace(
                        &mut current,
                        Vec::with_capacity(per_part),
                    ));
                }
                if cost == 2 {
                    current.push(ESC);
                }
                current.push(code);
            }
            parts.push(current);
        }
        Encoding::Ucs2 => {
            let per_part = if info.parts == 1 {
                UCS2_SINGLE
            } else {
                UCS2_MULTI
            };
            let mut filler = Filler::new(per_part);
            let mut current = Vec::with_capacity(2 * per_part.min(info.units));
            let mut buf = [0_u16; 2];
            for c in text.chars() {
                let units = c.encode_utf16(&mut buf);
                if filler.push(units.len()) {
                    parts.push(std::mem::replace(
                        &mut current,
                        Vec::with_capacity(2 * per_part),
                    ));
                }
                for unit in units.iter() {
                    current.extend_from_slice(&unit.to_be_bytes());
                }
            }
            parts.push(current);
        }
    }
    Split {
        encoding: info.encoding,
        parts,
    }
}

/// Unpacked septets for `text`, or `None` if some character is not in GSM-7.
pub fn gsm7_encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (cost, code) = gsm7_char(c)?;
        if cost == 2 {
            out.push(ESC);
        }
        out.push(code);
    }
    Some(out)
}

/// Text for unpacked septets. An escape followed by a code the extension table does not define
/// shows the basic character for that code, as 3GPP TS 23.038 asks of receivers; a trailing lone
/// escape is dropped.
pub fn gsm7_decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut iter = septets.iter().map(|s| s & 0x7F);
    while let Some(s) = iter.next() {
        if s == ESC {
            let Some(ext) = iter.next() else { break };
            match GSM7_EXTENSION.iter().find(|(_, code)| *code == ext) {
                Some((c, _)) => out.push(*c),
                None => out.push(GSM7_BASIC[usize::from(ext)]),
            }
        } else {
            out.push(GSM7_BASIC[usize::from(s)]);
        }
    }
    out
}

/// Packs septets 8 into 7 bytes, least significant bit first (3GPP TS 23.038 §6.1.2.1.1). When
/// the count is ≡ 7 mod 8 the last byte carries one zero padding bit that a receiver cannot tell
/// from `@`; callers pass the septet count alongside (as SMPP's `sm_length` and UDL do).
pub fn gsm7_pack(septets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity((septets.len() * 7).div_ceil(8));
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &s in septets {
        acc |= u32::from(s & 0x7F) << bits;
        bits += 7;
        while bits >= 8 {
            out.push((acc & 0xFF) as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push((acc & 0xFF) as u8);
    }
    out
}

/// The first `septets` septets of packed data (fewer if the data runs out).
pub fn gsm7_unpack(packed: &[u8], septets: usize) -> Vec<u8> {
    let available = packed.len() * 8 / 7;
    let count = septets.min(available);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let bit = i * 7;
        let byte = bit / 8;
        let shift = bit % 8;
        let low = u16::from(packed[byte]);
        let high = packed.get(byte + 1).map_or(0, |b| u16::from(*b));
        out.push((((high << 8 | low) >> shift) & 0x7F) as u8);
    }
    out
}

/// Text for UTF-16BE bytes; unpaired surrogates and an odd trailing byte become U+FFFD.
pub fn ucs2_decode(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error(
        "the message needs {parts} {encoding} parts but at most {max_parts} are allowed \
         ({max_parts} parts hold {max_chars} {encoding} characters)"
    )]
    TooManyParts {
        parts: usize,
        max_parts: usize,
        encoding: Encoding,
        /// What fits in `max_parts`, counting extension characters and emoji as two.
        max_chars: usize,
    },
}

/// Refuses a text that needs more than `max_parts` parts.
pub fn check_max_parts(info: &TextInfo, max_parts: usize) -> Result<(), SegmentError> {
    if info.parts <= max_parts {
        return Ok(());
    }
    let max_chars = match (info.encoding, max_parts) {
        (Encoding::Gsm7, 0 | 1) => GSM7_SINGLE * max_parts,
        (Encoding::Gsm7, n) => n * GSM7_MULTI,
        (Encoding::Ucs2, 0 | 1) => UCS2_SINGLE * max_parts,
        (Encoding::Ucs2, n) => n * UCS2_MULTI,
    };
    Err(SegmentError::TooManyParts {
        parts: info.parts,
        max_parts,
        encoding: info.encoding,
        max_chars,
    })
}

#[cfg(test)]
mod tests;
