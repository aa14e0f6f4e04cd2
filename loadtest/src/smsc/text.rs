//! Text handling the SMSC needs: decoding what ESMEs submit (for the receipt's `text:` field and
//! for tests), encoding and splitting mobile-originated messages, and the receipt text itself.

use time::OffsetDateTime;

/// GSM 03.38 default alphabet, indexed by septet. 0x1B is the escape to the extension table.
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table: (septet after 0x1B, character).
const GSM7_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

const ESCAPE: u8 = 0x1B;

/// Decodes unpacked GSM 7-bit (one septet per octet), the SMPP `data_coding` 0 default.
pub fn decode_gsm7_unpacked(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().map(|b| b & 0x7F);
    while let Some(septet) = iter.next() {
        if septet == ESCAPE {
            let Some(next) = iter.next() else { break };
            let ext = GSM7_EXTENSION.iter().find(|(code, _)| *code == next);
            out.push(ext.map_or(' ', |(_, c)| *c));
        } else {
            out.push(GSM7_BASIC[usize::from(septet)]);
        }
    }
    out
}

/// Septets for one character in the GSM 7-bit alphabet (one, or escape + one), if it has any.
fn gsm7_septets(c: char) -> Option<Vec<u8>> {
    if c != '\u{1b}'
        && let Some(pos) = GSM7_BASIC.iter().position(|b| *b == c)
    {
        return u8::try_from(pos).ok().map(|septet| vec![septet]);
    }
    GSM7_EXTENSION
        .iter()
        .find(|(_, ext)| *ext == c)
        .map(|(code, _)| vec![ESCAPE, *code])
}

/// Decodes `user_data` by SMPP `data_coding`: 8 is UCS-2 (big-endian UTF-16), 3 Latin-1,
/// 0 and 1 GSM 7-bit unpacked; anything else is shown as Latin-1, which never fails.
pub fn decode_user_data(data_coding: u8, user_data: &[u8]) -> String {
    match data_coding {
        0x08 => {
            let units: Vec<u16> = user_data
                .chunks(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        0x00 | 0x01 => decode_gsm7_unpacked(user_data),
        _ => user_data.iter().map(|b| char::from(*b)).collect(),
    }
}

/// One encoded part of a mobile-originated message, before any UDH is put in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPart {
    pub data_coding: u8,
    pub user_data: Vec<u8>,
}

/// Encodes `text` as GSM 7-bit unpacked when every character has septets, else as UCS-2, and
/// splits it into parts that fit one SMS each: 160 septets / 70 UTF-16 units when it fits in
/// one, 153 / 67 per part when a concatenation UDH is needed. An escape pair or a surrogate pair
/// is never split across parts.
pub fn encode_and_split(text: &str) -> Vec<EncodedPart> {
    let gsm: Option<Vec<Vec<u8>>> = text.chars().map(gsm7_septets).collect();
    let (data_coding, units, single, per_part): (u8, Vec<Vec<u8>>, usize, usize) = match gsm {
        Some(units) => (0x00, units, 160, 153),
        None => {
            let units = text
                .chars()
                .map(|c| {
                    let mut buf = [0u16; 2];
                    c.encode_utf16(&mut buf)
                        .iter()
                        .flat_map(|u| u.to_be_bytes())
                        .collect()
                })
                .collect();
            // Counted in octets: 140 per SMS, 134 when a 6-octet UDH is in front.
            (0x08, units, 140, 134)
        }
    };
    let total: usize = units.iter().map(Vec::len).sum();
    let limit = if total <= single { single } else { per_part };
    let mut parts = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for unit in units {
        if current.len() + unit.len() > limit {
            parts.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(&unit);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
        .into_iter()
        .map(|user_data| EncodedPart {
            data_coding,
            user_data,
        })
        .collect()
}

/// `YYMMDDhhmm`, the date format of SMPP receipt texts.
pub fn receipt_date(at: OffsetDateTime) -> String {
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        at.year().rem_euclid(100),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// What a receipt reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStatus {
    Delivered,
    Undeliverable,
}

/// The de-facto standard receipt text (SMPP 3.4 appendix B).
pub fn receipt_text(
    id: &str,
    status: ReceiptStatus,
    submitted: OffsetDateTime,
    done: OffsetDateTime,
    original_text: &str,
) -> String {
    let (dlvrd, stat, err) = match status {
        ReceiptStatus::Delivered => ("001", "DELIVRD", "000"),
        ReceiptStatus::Undeliverable => ("000", "UNDELIV", "001"),
    };
    // Control characters would break naive parsers of the text; keep it to one printable line.
    let text: String = original_text
        .chars()
        .take(20)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "id:{id} sub:001 dlvrd:{dlvrd} submit date:{} done date:{} stat:{stat} err:{err} text:{text}",
        receipt_date(submitted),
        receipt_date(done),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_round_trips_basic_and_extension() {
        let text = "Hello @ {world} €5 ñ";
        let parts = encode_and_split(text);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].data_coding, 0);
        assert_eq!(decode_gsm7_unpacked(&parts[0].user_data), text);
    }

    #[test]
    fn long_gsm7_splits_at_153_without_breaking_escapes() {
        let text = "a".repeat(152) + "€" + &"b".repeat(10);
        let parts = encode_and_split(&text);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].user_data.len(), 152);
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.user_data.clone()).collect();
        assert_eq!(decode_gsm7_unpacked(&joined), text);
    }

    #[test]
    fn ucs2_when_not_gsm() {
        let parts = encode_and_split("Привет 😀");
        assert_eq!(parts[0].data_coding, 8);
        assert_eq!(decode_user_data(8, &parts[0].user_data), "Привет 😀");
        let long = "😀".repeat(40); // 160 octets: two parts, surrogate pairs intact
        let parts = encode_and_split(&long);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.user_data.len() % 4 == 0));
    }

    #[test]
    fn receipt_text_has_the_standard_shape() {
        let at = time::macros::datetime!(2025-03-04 05:06 UTC);
        let text = receipt_text(
            "1a",
            ReceiptStatus::Delivered,
            at,
            at,
            "hello\nworld, this is long",
        );
        assert_eq!(
            text,
            "id:1a sub:001 dlvrd:001 submit date:2503040506 done date:2503040506 stat:DELIVRD err:000 text:hello world, this is"
        );
    }
}
