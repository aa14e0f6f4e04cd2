//! Secrets: API keys and the admin token are random, shown once, and stored only as SHA-256.
//!
//! Keys carry 190 bits of randomness, so a plain SHA-256 (not a slow password hash) is the
//! right cost: a lookup by hash never compares the secret itself, and the one comparison of a
//! presented token against a stored hash is constant-time.

use rand::Rng;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "flt_live_";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A fresh secret: `prefix` and 32 base-62 characters.
pub fn generate_secret(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut secret = String::with_capacity(prefix.len() + 32);
    secret.push_str(prefix);
    for _ in 0..32 {
        secret.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    secret
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `presented` is the secret whose SHA-256 is `stored`. Every check of a presented
/// secret against a stored one (the admin token's, for one) goes through here, so none can
/// leak through its timing how much of the stored value it matched.
pub fn secret_matches(presented: &[u8], stored: &[u8; 32]) -> bool {
    constant_time_eq(&sha256(presented), stored)
}

/// Equality that takes the same time wherever the first difference is: every byte is looked
/// at, and `black_box` keeps the optimiser from turning the loop into an early exit.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b) {
        difference |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(difference) == 0
}

/// The last four characters, shown in key listings so keys can be told apart.
pub fn hint(secret: &str) -> String {
    let start = secret.len().saturating_sub(4);
    secret.get(start..).unwrap_or_default().to_string()
}

/// Whether `signature` (lowercase or uppercase hex) is the HMAC-SHA256 under `key` of the
/// concatenation of `parts`, compared in constant time.
pub fn hmac_sha256_hex_matches(key: &[u8], parts: &[&[u8]], signature: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    let Some(given) = decode_hex_32(signature.trim()) else {
        return false;
    };
    constant_time_eq(&expected, &given)
}

fn decode_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_distinct() {
        let a = generate_secret(API_KEY_PREFIX);
        let b = generate_secret(API_KEY_PREFIX);
        assert!(a.starts_with("flt_live_"));
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 32);
        assert_ne!(a, b);
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = sha256(b"one");
        assert!(constant_time_eq(&a, &a));
        for index in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[index] ^= 1 << bit;
                assert!(!constant_time_eq(&a, &b), "byte {index} bit {bit}");
            }
        }
    }

    #[test]
    fn a_secret_matches_only_its_own_hash() {
        let secret = generate_secret("flt_admin_");
        let stored = sha256(secret.as_bytes());
        assert!(secret_matches(secret.as_bytes(), &stored));
        assert!(!secret_matches(b"", &stored));
        assert!(!secret_matches(&secret.as_bytes()[1..], &stored));
        let mut longer = secret.clone();
        longer.push('x');
        assert!(!secret_matches(longer.as_bytes(), &stored));
    }
}
