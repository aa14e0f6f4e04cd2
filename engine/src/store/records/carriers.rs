//! Binds (with their settings, stored by name) and routes.

use super::*;

/// How the ESME binds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum BindMode {
    /// One connection, `bind_transceiver`.
    #[default]
    Transceiver,
    /// Two connections: `bind_transmitter` for submits, `bind_receiver` for deliveries.
    TransmitterReceiver,
}

/// How GSM-7 text is laid out in `short_message` with `data_coding` 0 (or 3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Gsm7Mode {
    /// One septet per octet, `data_coding` 0 (what most SMSCs expect).
    #[default]
    Unpacked,
    /// 8 septets in 7 octets, `data_coding` 0; septets after a UDH are aligned with fill bits.
    Packed,
    /// ISO-8859-1, `data_coding` 3 (texts with `€` or Greek capitals fall back to unpacked).
    Latin1,
}

/// How a multi-part message is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Concatenation {
    /// `esm_class` 0x40 and the header `05 00 03 ref total seq` in each part.
    #[default]
    Udh,
    /// `sar_msg_ref_num`, `sar_total_segments`, `sar_segment_seqnum` TLVs.
    Sar,
    /// One `submit_sm` with the whole text in `message_payload`.
    Payload,
}

macro_rules! setting_names {
    ($type:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $(<$type>::$variant => $name,)*
                })
            }
        }

        impl std::str::FromStr for $type {
            type Err = UnknownSetting;

            fn from_str(text: &str) -> Result<Self, UnknownSetting> {
                match text {
                    $($name => Ok(<$type>::$variant),)*
                    _ => Err(UnknownSetting),
                }
            }
        }
    };
}

setting_names!(BindMode {
    Transceiver = "transceiver",
    TransmitterReceiver = "transmitter_receiver",
});
setting_names!(Gsm7Mode {
    Unpacked = "unpacked",
    Packed = "packed",
    Latin1 = "latin1",
});
setting_names!(Concatenation {
    Udh = "udh",
    Sar = "sar",
    Payload = "payload",
});

/// A setting's name that is not one of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown setting")]
pub struct UnknownSetting;

/// An SMPP bind to a carrier, as the operator configured it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BindRecord {
    pub id: BindId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    /// Sealed under the engine's secret key for this bind (`BindPassword`), opened only by
    /// the session as it binds; nothing outside the engine sees it, sealed or not.
    pub(crate) password: Sealed,
    pub system_type: String,
    #[serde(with = "as_text")]
    pub bind_mode: BindMode,
    pub window_size: u32,
    /// Parts per second; 0 = unlimited.
    pub tps: u32,
    #[serde(with = "as_text")]
    pub gsm7: Gsm7Mode,
    #[serde(with = "as_text")]
    pub concatenation: Concatenation,
    /// The tenant that owns inbound messages arriving on this bind, if any.
    pub tenant: Option<TenantId>,
    pub created_at: UnixMillis,
}

/// The first form of [`BindRecord`], with the password in clear: read once at start, when
/// its password is sealed and the record moved to the current table.
#[derive(Clone, Serialize, Deserialize)]
pub struct BindRecordV1 {
    pub id: BindId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    #[serde(with = "as_text")]
    pub bind_mode: BindMode,
    pub window_size: u32,
    pub tps: u32,
    #[serde(with = "as_text")]
    pub gsm7: Gsm7Mode,
    #[serde(with = "as_text")]
    pub concatenation: Concatenation,
    pub tenant: Option<TenantId>,
    pub created_at: UnixMillis,
}

impl BindRecordV1 {
    /// The current record, with `password` (this record's, sealed) in its place.
    pub(crate) fn sealed(self, password: Sealed) -> BindRecord {
        BindRecord {
            id: self.id,
            name: self.name,
            host: self.host,
            port: self.port,
            system_id: self.system_id,
            password,
            system_type: self.system_type,
            bind_mode: self.bind_mode,
            window_size: self.window_size,
            tps: self.tps,
            gsm7: self.gsm7,
            concatenation: self.concatenation,
            tenant: self.tenant,
            created_at: self.created_at,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RouteRecord {
    pub id: RouteId,
    /// Leading digits of the international number; empty = every destination.
    pub prefix: String,
    pub binds: Vec<BindId>,
    pub priority: i32,
    /// One weight per bind (same order); empty = equal weights.
    pub weights: Vec<u32>,
}
