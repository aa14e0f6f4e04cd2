//! A bind record read as an SMPP session's configuration, checked against SMPP's field limits,
//! and the bind's password as the session holds it: sealed until it builds a bind request.

use std::fmt;

use super::BindConfig;
use crate::error::{EngineError, Invalid};
use crate::ids::BindId;
use crate::secrets::{Sealed, SecretKey, Unsealable};
use crate::store::records::BindRecord;

/// The most submits a bind may have in flight.
pub const MAX_WINDOW_SIZE: u32 = 1000;

/// The longest SMPP 3.4 password (a C-string of 9 octets).
pub const MAX_PASSWORD_LEN: usize = 8;

/// A bind's password as its session holds it: sealed under the engine's secret key for its
/// bind (the bind id is the associated data), and opened only to build a bind request, so
/// the clear text lives no longer than that request. The default is the empty password.
#[derive(Clone, Default)]
pub struct BindPassword(Option<SealedPassword>);

#[derive(Clone)]
struct SealedPassword {
    key: SecretKey,
    bind: BindId,
    sealed: Sealed,
}

impl BindPassword {
    /// `plain` sealed as the password of `bind`, for its record.
    pub(crate) fn seal(key: &SecretKey, bind: BindId, plain: &str) -> Sealed {
        key.seal(plain.as_bytes(), &bind.to_bytes())
    }

    /// The stored password of `bind`, to be opened with `key`.
    pub(crate) fn sealed(key: SecretKey, bind: BindId, sealed: Sealed) -> BindPassword {
        BindPassword(Some(SealedPassword { key, bind, sealed }))
    }

    /// The password in clear, for the bind request being built.
    pub(crate) fn reveal(&self) -> Result<String, Unsealable> {
        let Some(password) = &self.0 else {
            return Ok(String::new());
        };
        let plain = password
            .key
            .open(&password.sealed, &password.bind.to_bytes())?;
        String::from_utf8(plain).map_err(|_| Unsealable)
    }

    /// `plain` sealed under a key of its own, for tests that build a session by hand.
    #[cfg(test)]
    pub(crate) fn for_tests(plain: &str) -> BindPassword {
        let key = SecretKey::from_bytes(&SecretKey::generate_bytes());
        let bind = BindId::new();
        BindPassword::sealed(key.clone(), bind, BindPassword::seal(&key, bind, plain))
    }
}

/// Never the password, sealed or not.
impl fmt::Debug for BindPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whether `password` fits SMPP 3.4's `password` field: at most 8 ASCII characters, no NUL.
pub(crate) fn check_password(password: &str) -> Result<(), EngineError> {
    if password.len() > MAX_PASSWORD_LEN || !password.is_ascii() || password.contains('\0') {
        return Err(EngineError::from(Invalid::Password));
    }
    Ok(())
}

/// The session configuration of a bind record, checked against SMPP's field limits; its
/// password stays sealed under `key`.
pub fn bind_config(record: &BindRecord, key: &SecretKey) -> Result<BindConfig, EngineError> {
    if record.name.is_empty() {
        return Err(EngineError::from(Invalid::BindName));
    }
    if record.host.is_empty() || record.port == 0 {
        return Err(EngineError::from(Invalid::BindAddress));
    }
    if record.system_id.is_empty() || record.system_id.len() > 15 {
        return Err(EngineError::from(Invalid::SystemId));
    }
    if record.system_type.len() > 12 {
        return Err(EngineError::from(Invalid::SystemType));
    }
    if !(1..=MAX_WINDOW_SIZE).contains(&record.window_size) {
        return Err(EngineError::from(Invalid::WindowSize {
            max: MAX_WINDOW_SIZE,
        }));
    }
    Ok(BindConfig {
        host: record.host.clone(),
        port: record.port,
        system_id: record.system_id.clone(),
        password: BindPassword::sealed(key.clone(), record.id, record.password.clone()),
        system_type: record.system_type.clone(),
        bind_mode: record.bind_mode,
        window_size: record.window_size as usize,
        tps: record.tps,
        gsm7: record.gsm7,
        concatenation: record.concatenation,
        ..BindConfig::default()
    })
}
