//! Value encoding: serde + bincode (standard config) behind one leading format-version byte, so a
//! later build can tell old values from new ones and migrate instead of misreading them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StorageError;

/// The version byte written in front of every encoded value.
pub const FORMAT_VERSION: u8 = 1;

/// Encodes `value` as `[FORMAT_VERSION] ++ bincode(value)`.
///
/// # Panics
///
/// Panics if `value`'s `Serialize` impl is one bincode cannot represent (a sequence or map of
/// unknown length, e.g. `#[serde(flatten)]`) or that itself fails. That is a bug in the type,
/// found by the first test that stores one; use [`try_encode`] to get it as an error instead.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match try_encode(value) {
        Ok(bytes) => bytes,
        Err(error) => panic!("{} cannot be stored: {error}", std::any::type_name::<T>()),
    }
}

/// Like [`encode`], but reports a type bincode cannot represent as [`StorageError::Codec`].
pub fn try_encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StorageError> {
    let mut out = vec![FORMAT_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, bincode::config::standard())
        .map_err(|error| StorageError::Codec(error.to_string()))?;
    Ok(out)
}

/// Decodes a value written by [`encode`]. Rejects an empty slice, an unknown version byte
/// ([`StorageError::UnknownFormatVersion`]) and trailing bytes after the value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| StorageError::Codec("empty value (no format version byte)".to_owned()))?;
    if version != FORMAT_VERSION {
        return Err(StorageError::UnknownFormatVersion(version));
    }
    let (value, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|error| StorageError::Codec(error.to_string()))?;
    if read != body.len() {
        return Err(StorageError::Codec(format!(
            "{} trailing bytes after value",
            body.len() - read
        )));
    }
    Ok(value)
}
