//! The `X-Flit-Signature` scheme: `sha256=<lowercase hex HMAC-SHA256 of "<timestamp>.<body>">`
//! keyed with the webhook secret, several of them comma-separated while a secret is rotated.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (long keys are hashed first), so this cannot fail.
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of every length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// One signature as Flit writes it: `sha256=<hex>`. Tests sign with it what they send.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + digest.len() * 2);
    out.push_str(PREFIX);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Whether any signature in `header` (comma-separated `sha256=<hex>`) is the HMAC of
/// `timestamp.body` under any of `secrets`. Uppercase hex and other schemes never match: the
/// format is fixed, and a receiver that tolerated drift would hide it. The comparison is
/// constant-time, as a real receiver's must be.
pub fn verify(header: &str, timestamp: &str, body: &[u8], secrets: &[String]) -> bool {
    let candidates: Vec<Vec<u8>> = header
        .split(',')
        .filter_map(|part| decode_hex(part.trim().strip_prefix(PREFIX)?))
        .collect();
    secrets.iter().any(|secret| {
        candidates
            .iter()
            .any(|candidate| mac(secret, timestamp, body).verify_slice(candidate).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed apart from this code, with Python's `hmac` module:
    // hmac.new(b"whsec_test", b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
    const KNOWN: &str = "sha256=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn signs_the_timestamp_a_dot_and_the_body() {
        assert_eq!(sign("whsec_test", "1700000000", BODY), KNOWN);
    }

    #[test]
    fn verifies_any_listed_signature_under_any_known_secret() {
        let good = secrets(&["whsec_test"]);
        assert!(verify(KNOWN, "1700000000", BODY, &good));
        assert!(
            !verify(KNOWN, "1700000001", BODY, &good),
            "timestamp is signed"
        );
        assert!(!verify(KNOWN, "1700000000", b"{}", &good), "body is signed");
        assert!(!verify(KNOWN, "1700000000", BODY, &secrets(&["other"])));
        assert!(verify(
            KNOWN,
            "1700000000",
            BODY,
            &secrets(&["old", "whsec_test"])
        ));
        let rotated = format!("sha256=00ff,{KNOWN}");
        assert!(verify(&rotated, "1700000000", BODY, &good));
        assert!(verify(
            &format!("{KNOWN}, sha256=ab"),
            "1700000000",
            BODY,
            &good
        ));
    }

    #[test]
    fn rejects_what_is_not_the_fixed_format() {
        let good = secrets(&["whsec_test"]);
        assert!(!verify("", "1700000000", BODY, &good));
        assert!(!verify(&KNOWN.to_uppercase(), "1700000000", BODY, &good));
        assert!(!verify(
            KNOWN.trim_start_matches("sha256="),
            "1700000000",
            BODY,
            &good
        ));
        assert!(!verify(
            &KNOWN.replace("sha256=", "sha1="),
            "1700000000",
            BODY,
            &good
        ));
        assert!(!verify(
            &KNOWN[..KNOWN.len() - 1],
            "1700000000",
            BODY,
            &good
        ));
        assert!(!verify(KNOWN, "1700000000", BODY, &[]));
    }
}
