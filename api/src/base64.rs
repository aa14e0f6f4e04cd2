//! Standard base64 (RFC 4648, padded or not) decoding, just enough for a Basic credential and
//! a `FLIT_SECRET_KEY`.

/// The bytes `text` encodes, or `None` for a character outside the standard alphabet.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn base64_decodes_padded_and_unpadded_text() {
        assert_eq!(decode("QUJDOjEyMw==").as_deref(), Some(&b"ABC:123"[..]));
        assert_eq!(decode("QUJDOjEyMw").as_deref(), Some(&b"ABC:123"[..]));
        assert_eq!(decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode("").as_deref(), Some(&b""[..]));
        assert_eq!(decode("not base64!"), None);
    }
}
