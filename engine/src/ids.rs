//! Typed, time-sortable identifiers. This module owns the 128-bit [`Id`] (a ULID layout that is
//! also a valid UUIDv7), the process-wide generator that keeps ids made in the same millisecond in
//! creation order, their Crockford base32 and UUID text forms, and the prefixed newtypes
//! (`MessageId` → `msg_…`, `TenantId` → `ten_…`, …) that every other module passes around instead
//! of bare strings.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Length of the Crockford base32 form of an [`Id`].
pub const ENCODED_LEN: usize = 26;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Maps an ASCII byte to its Crockford value, 0xFF when it is not a digit of the alphabet. Upper
/// and lower case both decode; the ambiguous aliases (`i`, `l`, `o`, `u`) are refused so that one
/// id has exactly one spelling and can be used as a cache or map key in text form.
const CROCKFORD_DECODE: [u8; 128] = {
    let mut table = [0xFF_u8; 128];
    let mut i = 0;
    while i < 32 {
        let c = CROCKFORD[i];
        table[c as usize] = i as u8;
        table[c.to_ascii_uppercase() as usize] = i as u8;
        i += 1;
    }
    table
};

const TIMESTAMP_SHIFT: u32 = 80;
const RANDOM_MASK: u128 = (1 << 80) - 1;

// The 80 random bits are laid out so the id is also a UUIDv7 (RFC 9562): bits 76..80 hold the
// version (0b0111) and bits 62..64 the variant (0b10). Keeping those six bits fixed inside every
// id means `uuid_v7_string` and `from_uuid_str` round-trip exactly instead of losing bits.
const VERSION_SHIFT: u32 = 76;
const VERSION_BITS: u128 = 0x7 << VERSION_SHIFT;
const VARIANT_SHIFT: u32 = 62;
const VARIANT_BITS: u128 = 0b10 << VARIANT_SHIFT;
const RAND_A_MASK: u128 = 0xFFF; // 12 bits between the version and the variant
const RAND_B_MASK: u128 = (1 << 62) - 1;

/// A 128-bit identifier: 48 bits of unix milliseconds then 80 bits that are random for the first id
/// of a millisecond and incremented for the next ones, so ids sort in creation order within one
/// process (as text, as `u128` and as big-endian bytes).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(u128);

/// The last id handed out, so the next one can be made strictly greater even when the clock has
/// not moved (or has moved backwards, e.g. after an NTP step).
static LAST: Mutex<u128> = Mutex::new(0);

impl Id {
    /// A fresh id, strictly greater than every id made before it in this process.
    #[allow(clippy::new_without_default)] // a `Default` that is different on every call would surprise
    pub fn new() -> Id {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            & ((1 << 48) - 1);
        // A poisoned lock only means another thread panicked between two plain integer writes; the
        // value inside is still a valid previous id.
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = if now_ms > (*last >> TIMESTAMP_SHIFT) {
            let random = rand::random::<u128>();
            with_fixed_bits((now_ms << TIMESTAMP_SHIFT) | (random & RANDOM_MASK))
        } else {
            increment(*last)
        };
        *last = next;
        Id(next)
    }

    /// Makes every id generated from now on greater than `seen`: called with the newest id
    /// found on disk, so order survives a restart whose wall clock is behind the last run's.
    pub fn observe(seen: Id) {
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.0 > *last {
            *last = seen.0;
        }
    }

    pub const fn from_u128(value: u128) -> Id {
        Id(value)
    }

    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Milliseconds since the unix epoch at which the id was made.
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> TIMESTAMP_SHIFT) as u64
    }

    /// Big-endian, so that byte order is time order for storage keys.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub const fn from_bytes(bytes: [u8; 16]) -> Id {
        Id(u128::from_be_bytes(bytes))
    }

    /// The 26-character lowercase Crockford base32 form, without allocating.
    pub fn encode(self) -> [u8; ENCODED_LEN] {
        let mut out = [0_u8; ENCODED_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            // 26 × 5 = 130 bits: the first character carries only the top 3 bits.
            let shift = 5 * (ENCODED_LEN - 1 - i);
            *slot = CROCKFORD[((self.0 >> shift) & 0x1F) as usize];
        }
        out
    }

    /// Parses the 26-character Crockford form, in either case.
    pub fn decode(text: &str) -> Result<Id, IdParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != ENCODED_LEN {
            return Err(IdParseError::Length { found: bytes.len() });
        }
        let mut value: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let digit = CROCKFORD_DECODE.get(b as usize).copied().unwrap_or(0xFF);
            if digit == 0xFF {
                return Err(IdParseError::Character {
                    found: text[i..].chars().next().unwrap_or('?'),
                });
            }
            if i == 0 && digit > 7 {
                return Err(IdParseError::Overflow);
            }
            value = (value << 5) | u128::from(digit);
        }
        Ok(Id(value))
    }

    /// Parses a hyphenated UUID (8-4-4-4-12 hex, either case). The version is not checked: a UUID
    /// from elsewhere is still a 128-bit key, and ids made here always carry version 7.
    pub fn from_uuid_str(text: &str) -> Result<Id, IdParseError> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(IdParseError::Uuid);
        }
        let mut value: u128 = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b != b'-' {
                    return Err(IdParseError::Uuid);
                }
                continue;
            }
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(IdParseError::Uuid),
            };
            value = (value << 4) | u128::from(digit);
        }
        Ok(Id(value))
    }
}

/// Forces the UUIDv7 version and variant bits.
const fn with_fixed_bits(value: u128) -> u128 {
    (value & !(0xF << VERSION_SHIFT) & !(0b11 << VARIANT_SHIFT)) | VERSION_BITS | VARIANT_BITS
}

/// The next id after `value` in the same millisecond: the 74 free random bits are one counter, and
/// if it wraps the carry goes into the timestamp, which keeps ids increasing.
const fn increment(value: u128) -> u128 {
    let timestamp = value >> TIMESTAMP_SHIFT;
    let rand_a = (value >> 64) & RAND_A_MASK;
    let rand_b = value & RAND_B_MASK;
    let counter = ((rand_a << 62) | rand_b).wrapping_add(1) & ((1 << 74) - 1);
    let timestamp = if counter == 0 {
        timestamp + 1
    } else {
        timestamp
    };
    let rand_a = counter >> 62;
    let rand_b = counter & RAND_B_MASK;
    with_fixed_bits((timestamp << TIMESTAMP_SHIFT) | (rand_a << 64) | rand_b)
}

/// The id's 128 bits as a hyphenated lowercase UUID; ids made by [`Id::new`] are valid UUIDv7s.
pub fn uuid_v7_string(id: Id) -> String {
    let id = Id(with_fixed_bits(id.0));
    let hex = format!("{:032x}", id.0);
    let mut out = String::with_capacity(36);
    for (i, range) in [0..8, 8..12, 12..16, 16..20, 20..32]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        out.push_str(&hex[range]);
    }
    out
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        f.write_str(std::str::from_utf8(&encoded).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl FromStr for Id {
    type Err = IdParseError;

    fn from_str(s: &str) -> Result<Id, IdParseError> {
        Id::decode(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("expected an id starting with `{expected}_`")]
    Prefix { expected: &'static str },
    #[error("an id has 26 characters after its prefix, found {found}")]
    Length { found: usize },
    #[error("`{found}` is not a base32 character in an id")]
    Character { found: char },
    #[error("the id is out of range: its first character must be 0-7")]
    Overflow,
    #[error("expected a UUID like 01890a5d-ac96-774b-bcce-b302099a8057")]
    Uuid,
}

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Id);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            #[allow(clippy::new_without_default)]
            pub fn new() -> $name {
                $name(Id::new())
            }

            pub const fn from_id(id: Id) -> $name {
                $name(id)
            }

            pub const fn id(self) -> Id {
                self.0
            }

            pub const fn timestamp_ms(self) -> u64 {
                self.0.timestamp_ms()
            }

            pub const fn to_bytes(self) -> [u8; 16] {
                self.0.to_bytes()
            }

            pub const fn from_bytes(bytes: [u8; 16]) -> $name {
                $name(Id::from_bytes(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "_{}"), self.0)
            }
        }

        // Debug shows the text form: a log line with `msg_01j…` can be pasted into an API call.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<$name, IdParseError> {
                let rest = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or(IdParseError::Prefix { expected: $prefix })?;
                Id::decode(rest).map($name)
            }
        }

        impl From<$name> for Id {
            fn from(typed: $name) -> Id {
                typed.0
            }
        }
    };
}

typed_id!(
    /// One message to one recipient.
    MessageId,
    "msg"
);
typed_id!(ContactId, "cnt");
typed_id!(GroupId, "grp");
typed_id!(TemplateId, "tpl");
typed_id!(
    /// A registered sender id (the alphanumeric "from"), not a sender's address.
    SenderId,
    "sid"
);
typed_id!(
    /// A ledger entry.
    TransactionId,
    "txn"
);
typed_id!(ApiKeyId, "key");
typed_id!(TenantId, "ten");
typed_id!(WebhookId, "whk");
typed_id!(
    /// One event a webhook reports (`message.delivered`, …): the same id on every attempt
    /// and on every webhook it goes to, so receivers can dedupe.
    EventId,
    "evt"
);
typed_id!(
    /// One event on its way to one webhook, with its attempts.
    DeliveryId,
    "dlv"
);
typed_id!(
    /// One SMPP bind (a session to one SMSC).
    BindId,
    "bnd"
);
typed_id!(
    /// One Android device speaking the device channel.
    DeviceId,
    "dev"
);
typed_id!(RouteId, "rte");
typed_id!(InboundId, "inb");
typed_id!(
    /// A tenant's SMPP account: the `system_id` and password its own software binds with.
    SmppAccountId,
    "smp"
);
typed_id!(
    /// A `deliver_sm` (a receipt or an inbound SMS) held for an SMPP account.
    SmppHeldId,
    "smh"
);
typed_id!(
    /// A person who signs in to the console: a tenant's user or an operator.
    UserId,
    "usr"
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_made_in_a_burst_are_strictly_increasing_in_every_form() {
        let ids: Vec<Id> = (0..10_000).map(|_| Id::new()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_bytes() < pair[1].to_bytes());
            assert!(pair[0].to_string() < pair[1].to_string());
        }
        // Many share a millisecond, so the increment path is exercised.
        let distinct_ms: HashSet<u64> = ids.iter().map(|id| id.timestamp_ms()).collect();
        assert!(distinct_ms.len() < ids.len());
    }

    #[test]
    fn ids_from_many_threads_are_unique() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..5_000).map(|_| Id::new()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for handle in handles {
            for id in handle.join().unwrap() {
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 20_000);
    }

    #[test]
    fn timestamp_is_now() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let id = Id::new();
        assert!(id.timestamp_ms().abs_diff(now) < 5_000);
    }

    #[test]
    fn increment_carries_into_the_timestamp_and_keeps_fixed_bits() {
        let full = with_fixed_bits((5 << TIMESTAMP_SHIFT) | RANDOM_MASK);
        let next = increment(full);
        assert!(next > full);
        assert_eq!(Id(next).timestamp_ms(), 6);
        assert_eq!(with_fixed_bits(next), next);
    }

    #[test]
    fn crockford_round_trip_and_case() {
        for id in [Id(0), Id(u128::MAX), Id(1), Id::new(), Id::new()] {
            let text = id.to_string();
            assert_eq!(text.len(), 26);
            assert_eq!(text, text.to_lowercase());
            assert_eq!(text.parse::<Id>().unwrap(), id);
            assert_eq!(text.to_uppercase().parse::<Id>().unwrap(), id);
        }
        assert_eq!(Id(0).to_string(), "00000000000000000000000000");
        assert_eq!(Id(u128::MAX).to_string(), "7zzzzzzzzzzzzzzzzzzzzzzzzz");
        // Known ULID vector: 01ARZ3NDEKTSV4RRFFQ69G5FAV.
        let ulid: Id = "01ARZ3NDEKTSV4RRFFQ69G5FAV".parse().unwrap();
        assert_eq!(ulid.timestamp_ms(), 1_469_922_850_259);
        assert_eq!(ulid.to_string(), "01arz3ndektsv4rrffq69g5fav");
    }

    #[test]
    fn crockford_rejects_bad_input() {
        assert_eq!("".parse::<Id>(), Err(IdParseError::Length { found: 0 }));
        assert_eq!(
            "8zzzzzzzzzzzzzzzzzzzzzzzzz".parse::<Id>(),
            Err(IdParseError::Overflow)
        );
        assert_eq!(
            "0000000000000000000000000u".parse::<Id>(),
            Err(IdParseError::Character { found: 'u' })
        );
        assert_eq!(
            "000000000000000000000000é".parse::<Id>(),
            Err(IdParseError::Character { found: 'é' })
        );
    }

    #[test]
    fn bytes_round_trip_big_endian() {
        let id = Id::new();
        assert_eq!(Id::from_bytes(id.to_bytes()), id);
        assert_eq!(Id(1).to_bytes()[15], 1);
        let typed = MessageId::new();
        assert_eq!(MessageId::from_bytes(typed.to_bytes()), typed);
    }

    #[test]
    fn uuid_v7_form() {
        let id = Id::new();
        let uuid = uuid_v7_string(id);
        assert_eq!(uuid.len(), 36);
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('7'));
        assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(uuid, uuid.to_lowercase());
        // Ids made here carry the UUIDv7 bits already, so nothing is lost.
        assert_eq!(Id::from_uuid_str(&uuid).unwrap(), id);
        assert_eq!(Id::from_uuid_str(&uuid.to_uppercase()).unwrap(), id);
        // The timestamp prefix is the same 48 bits as the ULID.
        let ms = u64::from_str_radix(&uuid.replace('-', "")[..12], 16).unwrap();
        assert_eq!(ms, id.timestamp_ms());
        assert_eq!(
            Id::from_uuid_str("01890a5d-ac96-774b-bcce-b302099a8057")
                .unwrap()
                .as_u128(),
            0x01890a5d_ac96_774b_bcce_b302099a8057
        );
        assert_eq!(
            Id::from_uuid_str("01890a5dac96774bbcceb302099a8057"),
            Err(IdParseError::Uuid)
        );
        assert_eq!(
            Id::from_uuid_str("01890a5d-ac96-774b-bcce-b302099a805g"),
            Err(IdParseError::Uuid)
        );
    }

    #[test]
    fn typed_ids_display_and_demand_their_prefix() {
        let id = MessageId::new();
        let text = id.to_string();
        assert!(text.starts_with("msg_"));
        assert_eq!(text.len(), 4 + 26);
        assert_eq!(text.parse::<MessageId>().unwrap(), id);
        assert_eq!(
            text.to_uppercase()
                .replace("MSG_", "msg_")
                .parse::<MessageId>()
                .unwrap(),
            id
        );
        assert_eq!(
            text.parse::<TenantId>(),
            Err(IdParseError::Prefix { expected: "ten" })
        );
        assert_eq!(
            text[4..].parse::<MessageId>(),
            Err(IdParseError::Prefix { expected: "msg" })
        );
        assert_eq!(
            "msg_short".parse::<MessageId>(),
            Err(IdParseError::Length { found: 5 })
        );
        assert!(format!("{id:?}").starts_with("MessageId(msg_"));
        assert_eq!(id.timestamp_ms(), id.id().timestamp_ms());
    }

    #[test]
    fn every_prefix() {
        assert_eq!(
            [
                MessageId::PREFIX,
                ContactId::PREFIX,
                GroupId::PREFIX,
                TemplateId::PREFIX,
                SenderId::PREFIX,
                TransactionId::PREFIX,
                ApiKeyId::PREFIX,
                TenantId::PREFIX,
                WebhookId::PREFIX,
                BindId::PREFIX,
                DeviceId::PREFIX,
                RouteId::PREFIX,
                SmppAccountId::PREFIX,
            ],
            [
                "msg", "cnt", "grp", "tpl", "sid", "txn", "key", "ten", "whk", "bnd", "dev", "rte",
                "smp"
            ]
        );
        assert!(DeviceId::new().to_string().starts_with("dev_"));
        assert!(RouteId::new().to_string().starts_with("rte_"));
    }

    #[test]
    fn serde_is_the_raw_u128() {
        // A minimal serializer that records what it was asked to write: the storage format
        // (bincode) must see a bare u128, not a newtype struct or a string.
        struct Probe(Option<u128>);
        type Refused = serde::ser::Impossible<(), serde::de::value::Error>;
        macro_rules! refuse {
            ($($method:ident($($arg:ty),*) -> $ret:ty;)*) => {$(
                fn $method(self, $(_: $arg),*) -> Result<$ret, Self::Error> {
                    Err(serde::ser::Error::custom(stringify!($method)))
                }
            )*};
        }
        impl serde::Serializer for &mut Probe {
            type Ok = ();
            type Error = serde::de::value::Error;
            type SerializeSeq = Refused;
            type SerializeTuple = Refused;
            type SerializeTupleStruct = Refused;
            type SerializeTupleVariant = Refused;
            type SerializeMap = Refused;
            type SerializeStruct = Refused;
            type SerializeStructVariant = Refused;
            fn serialize_u128(self, v: u128) -> Result<(), Self::Error> {
                self.0 = Some(v);
                Ok(())
            }
            fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Self::Error> {
                Err(serde::ser::Error::custom("some"))
            }
            fn serialize_newtype_struct<T: ?Sized + Serialize>(
                self,
                _: &'static str,
                _: &T,
            ) -> Result<(), Self::Error> {
                Err(serde::ser::Error::custom("newtype wrapper leaked"))
            }
            fn serialize_newtype_variant<T: ?Sized + Serialize>(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: &T,
            ) -> Result<(), Self::Error> {
                Err(serde::ser::Error::custom("newtype variant"))
            }
            refuse! {
                serialize_bool(bool) -> (); serialize_i8(i8) -> (); serialize_i16(i16) -> ();
                serialize_i32(i32) -> (); serialize_i64(i64) -> (); serialize_u8(u8) -> ();
                serialize_u16(u16) -> (); serialize_u32(u32) -> (); serialize_u64(u64) -> ();
                serialize_f32(f32) -> (); serialize_f64(f64) -> (); serialize_char(char) -> ();
                serialize_str(&str) -> (); serialize_bytes(&[u8]) -> (); serialize_none() -> ();
                serialize_unit() -> (); serialize_unit_struct(&'static str) -> ();
                serialize_unit_variant(&'static str, u32, &'static str) -> ();
                serialize_seq(Option<usize>) -> Refused; serialize_tuple(usize) -> Refused;
                serialize_tuple_struct(&'static str, usize) -> Refused;
                serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Refused;
                serialize_map(Option<usize>) -> Refused;
                serialize_struct(&'static str, usize) -> Refused;
                serialize_struct_variant(&'static str, u32, &'static str, usize) -> Refused;
            }
        }

        let id = TenantId::new();
        let mut probe = Probe(None);
        id.serialize(&mut probe).unwrap();
        assert_eq!(probe.0, Some(id.id().as_u128()));

        use serde::de::IntoDeserializer;
        let back: Result<TenantId, serde::de::value::Error> =
            TenantId::deserialize(id.id().as_u128().into_deserializer());
        assert_eq!(back.unwrap(), id);
    }
}
