//! The secret key the engine seals the SMPP bind passwords with (the passwords Flit must send
//! its carriers in clear, so they cannot be hashed like API keys). It is kept apart from the
//! store: `FLIT_SECRET_KEY` (64 hex digits or base64 of 32 bytes) when set, else the key file
//! `<data dir>/secret.key` (32 random bytes, 0600), made at the first start. A copy of the
//! store alone (a backup, a stolen disk image of `store/`) then holds only sealed passwords.
//!
//! A key file that was missing while the store holds sealed passwords is not silently
//! replaced: the engine refuses the new key, the new file is removed again, and the start
//! stops with a message naming the file and the variable.

use std::path::{Path, PathBuf};

use flit_engine::SecretKeyError;
use flit_engine::secrets::SecretKey;

use crate::config::Config;

/// The key file's name in the data dir, beside the admin token (outside `store/`).
pub const KEY_FILE: &str = "secret.key";

/// The environment variable that gives the key instead of the key file.
pub const KEY_ENV: &str = "FLIT_SECRET_KEY";

/// The key for this start, and where it came from.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: SecretKey,
    pub source: KeySource,
}

/// Where a key came from: what an error about it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `FLIT_SECRET_KEY`.
    Environment,
    /// The key file; `created` when this start made it.
    File { path: PathBuf, created: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the secret key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the secret key file {path} does not hold a key (32 bytes, or 64 hex digits, or base64 \
         of 32 bytes): restore it from its backup, or set {KEY_ENV}"
    )]
    Malformed { path: PathBuf },
    #[error("cannot create the secret key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A key written as text: 64 hex digits, or the standard base64 of 32 bytes (padded or not);
/// whitespace around it is ignored.
pub fn parse_key_text(text: &str) -> Option<SecretKey> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        crate::base64::decode(text)?
    };
    let bytes: [u8; SecretKey::LEN] = bytes.try_into().ok()?;
    Some(SecretKey::from_bytes(&bytes))
}

/// The key `config` names: `FLIT_SECRET_KEY` if set, else the key file in the data dir,
/// created with a fresh random key if it does not exist.
pub fn load_or_create(config: &Config) -> Result<LoadedKey, KeyFileError> {
    if let Some(key) = &config.secret_key {
        return Ok(LoadedKey {
            key: key.clone(),
            source: KeySource::Environment,
        });
    }
    let path = config.data_dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(LoadedKey {
            key: key_from_file(&path, &bytes)?,
            source: KeySource::File {
                path,
                created: false,
            },
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let bytes = SecretKey::generate_bytes();
            crate::data_dir::create_private(&path, &bytes).map_err(|source| {
                KeyFileError::Create {
                    path: path.clone(),
                    source,
                }
            })?;
            tracing::info!(path = %path.display(), "generated the secret key; back it up apart from the store");
            Ok(LoadedKey {
                key: SecretKey::from_bytes(&bytes),
                source: KeySource::File {
                    path,
                    created: true,
                },
            })
        }
        Err(source) => Err(KeyFileError::Read { path, source }),
    }
}

/// A key file holds the 32 bytes themselves, or (written by hand) the key as text.
fn key_from_file(path: &Path, bytes: &[u8]) -> Result<SecretKey, KeyFileError> {
    if let Ok(raw) = <[u8; SecretKey::LEN]>::try_from(bytes) {
        return Ok(SecretKey::from_bytes(&raw));
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(parse_key_text)
        .ok_or_else(|| KeyFileError::Malformed {
            path: path.to_path_buf(),
        })
}

impl LoadedKey {
    /// Words the engine's refusal of this key for the operator, naming where the key came
    /// from. A key file this start created (so the right one was missing) is removed again,
    /// so the next start does not take the wrong key for the right one.
    pub fn refused(&self, error: SecretKeyError, store: &Path) -> anyhow::Error {
        let store = store.display();
        match (&self.source, error) {
            (_, SecretKeyError::Missing) => anyhow::anyhow!("{error}"),
            (KeySource::Environment, SecretKeyError::Mismatch) => anyhow::anyhow!(
                "{KEY_ENV} is not the key the SMPP bind passwords in {store} were sealed with: \
                 set it to that key, or unset it to use the key file in the data dir"
            ),
            (
                KeySource::File {
                    path,
                    created: false,
                },
                SecretKeyError::Mismatch,
            ) => anyhow::anyhow!(
                "the key in {} is not the key the SMPP bind passwords in {store} were sealed \
                 with: put back the key file of this store (from its backup), or set {KEY_ENV} \
                 to that key",
                path.display()
            ),
            (
                KeySource::File {
                    path,
                    created: true,
                },
                SecretKeyError::Mismatch,
            ) => {
                if let Err(error) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), %error, "cannot remove the key file made for this start");
                }
                anyhow::anyhow!(
                    "the secret key file {} is missing, and the SMPP bind passwords in {store} \
                     are sealed with the key it held: restore it from its backup, or set \
                     {KEY_ENV} to that key",
                    path.display()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_key_is_read_as_hex_or_base64_of_32_bytes() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        assert!(parse_key_text(hex).is_some());
        assert!(parse_key_text(&format!(" {hex}\n")).is_some());
        // 32 bytes of 0x00..0x1f in base64, padded and not.
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert!(parse_key_text(b64).is_some());
        assert!(parse_key_text(b64.trim_end_matches('=')).is_some());
        assert!(parse_key_text(&hex[2..]).is_none(), "31 bytes");
        assert!(parse_key_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==").is_none());
        assert!(parse_key_text("not a key").is_none());
        assert!(parse_key_text("").is_none());
    }

    #[test]
    fn a_key_file_holds_the_bytes_or_the_key_as_text() {
        let path = Path::new("secret.key");
        assert!(key_from_file(path, &[9; 32]).is_ok());
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        assert!(key_from_file(path, hex.as_bytes()).is_ok());
        let error = key_from_file(path, &[9; 31]).err().unwrap();
        assert!(error.to_string().contains("secret.key"), "{error}");
    }
}
