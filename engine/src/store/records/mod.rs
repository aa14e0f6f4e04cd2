//! Every record Flit stores: tenants, API keys, sender IDs, SMPP accounts, messages, recipients, the ledger,
//! the address book, binds and routes, and what dispatch keeps across restarts. `tables.rs`
//! says which table holds each.
//!
//! These are storage records (serde + bincode through `flit_storage::codec`), not wire types:
//! the HTTP shapes live in `flit-api`. Timestamps are unix milliseconds (`UnixMillis`).

use serde::{Deserialize, Serialize};

use crate::ids::{
    ApiKeyId, BindId, ContactId, DeliveryId, DeviceId, EventId, GroupId, InboundId, MessageId,
    RouteId, SenderId, SmppAccountId, SmppHeldId, TemplateId, TenantId, TransactionId, UserId,
    WebhookId,
};
use crate::numbers::{Country, Msisdn, Validation};
use crate::secrets::Sealed;

/// Settings stored by their names (`strict`, `GH`, `transceiver`, …), so they read the same
/// in the store as on the wire, and are parsed once, when a record is read.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown setting `{text}`")))
    }
}

/// [`as_text`] for a setting that may be absent.
mod as_text_opt {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(T::to_string).serialize(serializer)
    }

    pub fn deserialize<'de, T: FromStr, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                text.parse()
                    .map_err(|_| serde::de::Error::custom(format!("unknown setting `{text}`")))
            })
            .transpose()
    }
}

/// Milliseconds since the unix epoch, UTC.
pub type UnixMillis = i64;

/// Wall-clock now. Ids and records use the same clock so date filters can become id ranges.
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

mod book;
mod carriers;
mod devices;
mod messages;
mod people;
mod receipts;
mod smpp;
mod tenants;
mod webhooks;

pub use book::*;
pub use carriers::*;
pub use devices::*;
pub use messages::*;
pub use people::*;
pub use receipts::*;
pub use smpp::*;
pub use tenants::*;
pub use webhooks::*;
