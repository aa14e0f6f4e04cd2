//! Secrets: API keys and the admin token are random, shown once, and stored only as SHA-256.
//!
//! Keys carry 190 bits of randomness, so a plain SHA-256 (not a slow password hash) is the
//! right cost: a lookup by hash never compares the secret itself, and the one comparison of a
//! presented token against a stored hash is constant-time.
//!
//! Passwords people choose (an SMPP account's, at most 8 characters) are short enough to
//! guess from a plain hash, so they are stored as argon2id hashes ([`hash_password`]): slow
//! by design, which a bind, made once per session, can afford.
//!
//! What Flit must replay in clear to someone else (an SMPP bind's password, to its carrier)
//! cannot be hashed: it is [`Sealed`] under a [`SecretKey`] kept apart from the store
//! (ChaCha20-Poly1305, a fresh random nonce per value, and the value's owner as associated
//! data, so a sealed value moved onto another record does not open).

use std::fmt;
use std::sync::Arc;

use rand::{Rng, RngCore};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
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

/// Bytes of random salt per password hash (argon2's recommended 16).
const PASSWORD_SALT_LEN: usize = 16;

/// `password` hashed with argon2id (argon2's default cost) under a fresh random salt, as a PHC
/// string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) that carries its own parameters, so a later
/// change of cost still verifies the hashes made before it. Slow on purpose: call it off the
/// async threads.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let mut salt = [0u8; PASSWORD_SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .unwrap_or_else(|_| unreachable!("argon2's defaults take any password and a 16-byte salt"))
        .to_string()
}

/// Whether `password` is the one `hash` (a [`hash_password`] PHC string) was made of. The
/// comparison inside is constant-time; a hash that does not parse matches nothing. Slow on
/// purpose: call it off the async threads.
pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// [`hash_password`] off the async threads.
pub(crate) async fn hash_password_off_thread(
    password: String,
) -> Result<String, crate::error::EngineError> {
    off_thread(move || hash_password(&password)).await
}

/// [`password_matches`] off the async threads; with no hash (nobody by that name) a decoy is
/// checked instead, so a failure takes as long whether or not the name exists.
pub(crate) async fn password_matches_off_thread(
    password: String,
    hash: Option<String>,
) -> Result<bool, crate::error::EngineError> {
    let known = hash.is_some();
    Ok(off_thread(move || {
        let hash = hash.unwrap_or_else(|| decoy_hash().to_string());
        password_matches(&password, &hash)
    })
    .await?
        && known)
}

/// Password hashes and checks running at once, at most: each takes tens of milliseconds and
/// about 19 MiB (argon2's default cost), so a flood of sign-ins or binds waits its turn rather
/// than taking the memory and the blocking threads the store needs.
const PASSWORD_WORK_AT_ONCE: usize = 4;

/// Runs a password hash or check off the async threads, a few at a time.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::error::EngineError> {
    static TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(PASSWORD_WORK_AT_ONCE);
    let interrupted = || crate::error::EngineError::from(crate::error::Unavailable::Interrupted);
    let _turn = TURNS.acquire().await.map_err(|_| interrupted())?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| interrupted())
}

/// A hash no password is known to match (made once, off the async threads, by the first
/// check that needs it).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_secret("")))
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

/// The key secrets are sealed with: 32 bytes, from the operator (a key file or an
/// environment variable, read by the API) and never stored with what it seals. Shared, as
/// every bind's session holds it (ring's expanded key is some 500 bytes).
#[derive(Clone)]
pub struct SecretKey(Arc<LessSafeKey>);

/// A value sealed under a [`SecretKey`]: `nonce ++ ciphertext ++ tag`, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(Vec<u8>);

/// A sealed value that does not open: another key sealed it, it belongs to another owner, or
/// its bytes were changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed value does not open with this key")]
pub struct Unsealable;

impl SecretKey {
    /// Bytes in a key.
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8; SecretKey::LEN]) -> SecretKey {
        // A ChaCha20-Poly1305 key is any 32 bytes, so this cannot fail.
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 takes any 32-byte key"));
        SecretKey(Arc::new(LessSafeKey::new(key)))
    }

    /// 32 fresh random bytes for a new key (the caller keeps them: they are the key).
    pub fn generate_bytes() -> [u8; SecretKey::LEN] {
        let mut bytes = [0u8; SecretKey::LEN];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }

    /// Seals `plain` for `owner` (the associated data: who the value belongs to).
    pub(crate) fn seal(&self, plain: &[u8], owner: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut body = plain.to_vec();
        // Sealing fails only for inputs past ring's limit (256 GiB), far beyond any secret.
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner),
                &mut body,
            )
            .unwrap_or_else(|_| unreachable!("a secret is far below ChaCha20-Poly1305's limit"));
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Sealed(out)
    }

    /// The value `sealed` holds, if this key sealed it for `owner`.
    pub(crate) fn open(&self, sealed: &Sealed, owner: &[u8]) -> Result<Vec<u8>, Unsealable> {
        let (nonce, body) = sealed.0.split_at_checked(NONCE_LEN).ok_or(Unsealable)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(owner), &mut body)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }
}

/// Never the key itself, so no log line or panic message can carry it.
impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_owner() {
        let key = SecretKey::from_bytes(&SecretKey::generate_bytes());
        let sealed = key.seal(b"s3cr3t", b"bind-1");
        assert_eq!(key.open(&sealed, b"bind-1"), Ok(b"s3cr3t".to_vec()));
        assert_eq!(key.open(&sealed, b"bind-2"), Err(Unsealable));
        let other = SecretKey::from_bytes(&SecretKey::generate_bytes());
        assert_eq!(other.open(&sealed, b"bind-1"), Err(Unsealable));
        let mut changed = sealed.clone();
        if let Some(last) = changed.0.last_mut() {
            *last ^= 1;
        }
        assert_eq!(key.open(&changed, b"bind-1"), Err(Unsealable));
        assert_eq!(key.open(&Sealed(vec![1, 2, 3]), b"bind-1"), Err(Unsealable));
    }

    #[test]
    fn sealing_twice_gives_different_bytes_without_the_clear_text() {
        let key = SecretKey::from_bytes(&[7; SecretKey::LEN]);
        let one = key.seal(b"p4ssw0rd", b"owner");
        let two = key.seal(b"p4ssw0rd", b"owner");
        assert_ne!(one, two, "a fresh nonce each time");
        for sealed in [&one, &two] {
            assert_eq!(sealed.0.len(), NONCE_LEN + 8 + 16);
            assert!(!sealed.0.windows(8).any(|window| window == b"p4ssw0rd"));
        }
        assert_eq!(key.open(&two, b"owner"), Ok(b"p4ssw0rd".to_vec()));
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }

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
