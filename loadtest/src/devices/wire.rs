//! The JSON the SMS Gate app writes and reads on `/mobile/v1`, field for field as `PROTOCOL.md`
//! pins it (Gson without `serializeNulls`: a missing value is an absent key, never `null`), its
//! date format, and the two values it computes itself: the `sms:received` message id (a Java
//! `hashCode`) and the webhook signature.
//!
//! These types are the simulator's own reading of the contract, not `flit-api`'s: the point of a
//! simulated phone is to check what Flit sends against what the app would accept.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac as _};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// SSE event names the app routes (`ExternalEventType.kt`); a stream event without an `event:`
/// line is read as [`EVENT_MESSAGE_ENQUEUED`].
pub const EVENT_MESSAGE_ENQUEUED: &str = "MessageEnqueued";
pub const EVENT_MESSAGE_CANCELLED: &str = "MessageCancelled";
pub const EVENT_WEBHOOKS_UPDATED: &str = "WebhooksUpdated";
pub const EVENT_SETTINGS_UPDATED: &str = "SettingsUpdated";
pub const EVENT_MESSAGES_EXPORT_REQUESTED: &str = "MessagesExportRequested";

/// The webhook event a phone posts for a received SMS.
pub const WEBHOOK_SMS_RECEIVED: &str = "sms:received";
/// The headers of a signed webhook POST (`PayloadSingingPlugin.kt`).
pub const SIGNATURE_HEADER: &str = "x-signature";
pub const TIMESTAMP_HEADER: &str = "x-timestamp";

/// A message's or recipient's state, by the names the app serialises (`ProcessingState.kt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProcessingState {
    Pending,
    Cancelling,
    Cancelled,
    Processed,
    Sent,
    Delivered,
    Failed,
}

impl ProcessingState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Cancelling => "Cancelling",
            Self::Cancelled => "Cancelled",
            Self::Processed => "Processed",
            Self::Sent => "Sent",
            Self::Delivered => "Delivered",
            Self::Failed => "Failed",
        }
    }

    /// The message-level state the app reports for these recipient states
    /// (`MessageWithRecipients.state`): a mix of Delivered and Failed is `Sent`.
    pub fn aggregate(recipients: impl IntoIterator<Item = Self> + Clone) -> Self {
        let any = |wanted: Self| recipients.clone().into_iter().any(|s| s == wanted);
        let all = |wanted: Self| recipients.clone().into_iter().all(|s| s == wanted);
        if any(Self::Pending) {
            Self::Pending
        } else if any(Self::Cancelling) {
            Self::Cancelling
        } else if any(Self::Cancelled) {
            Self::Cancelled
        } else if any(Self::Processed) {
            Self::Processed
        } else if all(Self::Failed) {
            Self::Failed
        } else if all(Self::Delivered) {
            Self::Delivered
        } else {
            Self::Sent
        }
    }
}

/// `POST /device` body (`GatewayApi.DeviceRegisterRequest`). A phone without an FCM token,
/// which is every simulated one, sends no `pushToken` key at all.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    pub sim_cards: Vec<SimCard>,
}

/// A SIM as the app reports it on registration: numbers and names redacted to their last four
/// characters ([`redact`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCard {
    pub slot_index: u32,
    pub sim_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
}

/// `POST /device` answer (`GatewayApi.DeviceRegisterResponse`); `login` is required.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisterResponse {
    pub id: String,
    pub token: String,
    pub login: String,
    #[serde(default)]
    pub password: Option<String>,
}

/// `PATCH /device` body (`GatewayApi.DevicePatchRequest`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePatchRequest {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_token: Option<String>,
    pub sim_cards: Vec<SimCard>,
}

/// One item of `GET /message` (`GatewayApi.Message`). Dates stay strings here so that the
/// phone can tell a date the app would misread from one it would not ([`parse_server_date`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PulledMessage {
    pub id: String,
    #[serde(default)]
    pub text_message: Option<TextMessage>,
    #[serde(default)]
    pub data_message: Option<DataMessage>,
    #[serde(default)]
    pub message: Option<String>,
    pub phone_numbers: Vec<String>,
    #[serde(default)]
    pub sim_number: Option<i32>,
    #[serde(default)]
    pub with_delivery_report: Option<bool>,
    #[serde(default)]
    pub is_encrypted: Option<bool>,
    /// A Kotlin `Byte` on the phone; anything outside −128..127 (the range the reference
    /// server and client-go allow) fails the whole list here.
    #[serde(default)]
    pub priority: Option<i8>,
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub schedule_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    /// Gson reads an unknown name as null, which the app treats as `Pending`.
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TextMessage {
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataMessage {
    pub data: String,
    pub port: u16,
}

impl PulledMessage {
    /// The content the app would send, `None` where it throws "Invalid message content".
    pub fn has_content(&self) -> bool {
        self.data_message.is_some() || self.text_message.is_some() || self.message.is_some()
    }

    /// The state the app acts on: an absent or unknown name is `Pending`.
    pub fn listed_state(&self) -> ProcessingState {
        match self.state.as_deref() {
            Some("Cancelling") => ProcessingState::Cancelling,
            Some("Cancelled") => ProcessingState::Cancelled,
            Some("Processed") => ProcessingState::Processed,
            Some("Sent") => ProcessingState::Sent,
            Some("Delivered") => ProcessingState::Delivered,
            Some("Failed") => ProcessingState::Failed,
            _ => ProcessingState::Pending,
        }
    }
}

/// One `PATCH /message` item (`GatewayApi.MessagePatchRequest`); the body is a one-item array.
#[derive(Debug, Clone, Serialize)]
pub struct MessagePatch {
    pub id: String,
    pub state: ProcessingState,
    pub recipients: Vec<RecipientReport>,
    /// Every state the message has been in, with the first time it got there.
    pub states: BTreeMap<ProcessingState, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientReport {
    pub phone_number: String,
    pub state: ProcessingState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One item of `GET /webhooks`; the app requires `id` and reads `url` and `event`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEntry {
    #[serde(default)]
    pub id: Option<String>,
    pub url: String,
    pub event: String,
}

/// The body of every webhook the app posts (`WebHookEventDTO.kt`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEnvelope<P> {
    /// A fresh 21-character NanoId, the same on every retry of this delivery.
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub device_id: String,
    pub payload: P,
}

/// The `sms:received` payload in Gson's field order (the subclass's fields, then the base
/// class's), null fields left out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsReceivedPayload {
    pub message: String,
    pub received_at: String,
    pub message_id: String,
    pub sender: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim_number: Option<u32>,
    /// Deprecated by the app, still sent: the sender for received messages.
    pub phone_number: String,
}

/// The settings the simulated phone acts on, read out of `GET /settings` the way the app
/// imports them (`SettingsService.update`); `violations` lists what the app would reject.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhoneSettings {
    pub signing_key: Option<String>,
    pub processing_order: Option<PullOrder>,
    /// `messages.send_interval_min`/`max` in seconds, when a max is set and min ≤ max.
    pub send_interval: Option<(u64, u64)>,
    pub violations: Vec<String>,
}

/// The `order` of `GET /message`, from the `messages.processing_order` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PullOrder {
    #[default]
    Fifo,
    Lifo,
}

impl PullOrder {
    pub fn as_query(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::Lifo => "lifo",
        }
    }
}

/// Reads a `GET /settings` answer as the app would import it.
pub fn read_settings(value: &serde_json::Value) -> PhoneSettings {
    let mut settings = PhoneSettings::default();
    let Some(sections) = value.as_object() else {
        settings
            .violations
            .push("settings are not a JSON object".to_owned());
        return settings;
    };
    let section = |name: &str| sections.get(name).and_then(serde_json::Value::as_object);
    // `valueOf` on these throws for any other name and aborts the import half-way.
    let enums: [(&str, &str, &[&str]); 4] = [
        (
            "messages",
            "limit_period",
            &["Disabled", "PerMinute", "Per30Minutes", "PerHour", "PerDay"],
        ),
        (
            "messages",
            "sim_selection_mode",
            &["OSDefault", "RoundRobin", "Random"],
        ),
        ("messages", "processing_order", &["LIFO", "FIFO"]),
        ("gateway", "notification_channel", &["AUTO", "SSE_ONLY"]),
    ];
    for (section_name, key, allowed) in enums {
        let Some(value) = section(section_name).and_then(|s| s.get(key)) else {
            continue;
        };
        match value.as_str() {
            Some(name) if allowed.contains(&name) => {}
            None if value.is_null() => {}
            _ => settings.violations.push(format!(
                "{section_name}.{key} = {value} is no name the app knows"
            )),
        }
    }
    if let Some(gateway) = section("gateway") {
        for key in ["cloud_url", "private_token"] {
            if gateway.contains_key(key) {
                // cloud_url: null sends the phone to the public cloud; either key rewires it.
                settings
                    .violations
                    .push(format!("gateway.{key} must never be sent to a phone"));
            }
        }
    }
    if let Some(webhooks) = section("webhooks") {
        settings.signing_key = match webhooks.get("signing_key") {
            Some(serde_json::Value::String(key)) => Some(key.clone()),
            Some(serde_json::Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
    }
    if let Some(messages) = section("messages") {
        settings.processing_order = match messages.get("processing_order").and_then(|v| v.as_str())
        {
            Some("FIFO") => Some(PullOrder::Fifo),
            Some("LIFO") => Some(PullOrder::Lifo),
            _ => None,
        };
        let seconds = |key: &str| messages.get(key).and_then(number_like);
        let min = seconds("send_interval_min").unwrap_or(0);
        if let Some(max) = seconds("send_interval_max")
            && min <= max
        {
            settings.send_interval = Some((min, max));
        }
    }
    settings
}

/// A settings number as the app reads it: `toString().toFloat().toInt()`, so `"5"` and `5.0`
/// both count.
fn number_like(value: &serde_json::Value) -> Option<u64> {
    let float = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (float >= 0.0).then_some(float as u64)
}

/// A date as the app writes it: milliseconds and the phone's own offset, `Z` for UTC
/// (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`).
pub fn app_date(at: OffsetDateTime, offset: UtcOffset) -> String {
    let at = at.to_offset(offset);
    let zone = if offset.is_utc() {
        "Z".to_owned()
    } else {
        let (hours, minutes, _) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            hours.unsigned_abs(),
            minutes.unsigned_abs()
        )
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{zone}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond(),
    )
}

/// Why a date from the server would not read right on a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateProblem {
    /// Not a date at all: the app fails the whole list.
    Unparsable(String),
    /// A fraction of other than 3 digits: SimpleDateFormat reads it as that many milliseconds,
    /// so the app would see another instant than the one meant.
    Misread(String),
}

/// Reads a date the server sent, and says whether the app would read the same instant.
pub fn parse_server_date(text: &str) -> Result<OffsetDateTime, DateProblem> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| DateProblem::Unparsable(text.to_owned()))?;
    let fraction_digits = text
        .split_once('.')
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).count());
    match fraction_digits {
        None | Some(3) => Ok(parsed),
        Some(_) => Err(DateProblem::Misread(text.to_owned())),
    }
}

/// `String.hashCode()` in Java: over UTF-16 code units, wrapping.
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `messageId` the app gives a received SMS: the unsigned hex of
/// `InboxMessage.Text.hashCode()` over (sender, date in ms, subscription id, text)
/// (`ReceiverService.process`, `InboxMessage.kt`).
pub fn received_message_id(sender: &str, date_ms: i64, subscription_id: i32, text: &str) -> String {
    // java.util.Date.hashCode(): (int) (ms ^ (ms >>> 32)).
    let date_hash = (date_ms ^ ((date_ms as u64) >> 32) as i64) as i32;
    let mut hash = java_string_hash(sender);
    hash = hash.wrapping_mul(31).wrapping_add(date_hash);
    hash = hash.wrapping_mul(31).wrapping_add(subscription_id);
    hash = hash.wrapping_mul(31).wrapping_add(java_string_hash(text));
    format!("{:x}", hash as u32)
}

/// A NanoId as jnanoid makes them: 21 characters of `_-0-9a-zA-Z`.
pub fn nano_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..21)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The app's webhook signature: lowercase hex of HMAC-SHA256 keyed with the UTF-8 bytes of the
/// signing key, over the raw body followed by the `X-Timestamp` value, no separator.
pub fn sign(signing_key: &str, body: &str, timestamp: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256>>::new_from_slice(signing_key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body.as_bytes());
    mac.update(timestamp.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The app's redaction of SIM details: all but the last four characters become `*`, and four
/// or fewer become `****` (`GatewayService.redact`).
pub fn redact(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "****".to_owned();
    }
    let hidden = chars.len() - 4;
    "*".repeat(hidden) + &chars[hidden..].iter().collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_carry_milliseconds_and_the_phone_offset() {
        let at = datetime!(2026-11-22 10:30:00.123456 UTC);
        assert_eq!(app_date(at, UtcOffset::UTC), "2026-11-22T10:30:00.123Z");
        let east = UtcOffset::from_hms(3, 0, 0).expect("valid offset");
        assert_eq!(app_date(at, east), "2026-11-22T13:30:00.123+03:00");
        let west = UtcOffset::from_hms(-5, -30, 0).expect("valid offset");
        assert_eq!(app_date(at, west), "2026-11-22T05:00:00.123-05:30");
    }

    #[test]
    fn server_dates_with_other_than_three_fraction_digits_are_misread() {
        assert!(parse_server_date("2026-11-22T10:30:00.123Z").is_ok());
        assert!(parse_server_date("2026-11-22T10:30:00Z").is_ok());
        assert!(parse_server_date("2026-11-22T10:30:00.123+03:00").is_ok());
        assert!(matches!(
            parse_server_date("2026-11-22T10:30:00.123456789Z"),
            Err(DateProblem::Misread(_))
        ));
        assert!(matches!(
            parse_server_date("2026-11-22T10:30:00.5Z"),
            Err(DateProblem::Misread(_))
        ));
        assert!(matches!(
            parse_server_date("22/11/2026"),
            Err(DateProblem::Unparsable(_))
        ));
    }

    #[test]
    fn aggregate_follows_the_app() {
        use ProcessingState::*;
        assert_eq!(ProcessingState::aggregate([Pending, Sent]), Pending);
        assert_eq!(ProcessingState::aggregate([Processed, Sent]), Processed);
        assert_eq!(
            ProcessingState::aggregate([Delivered, Delivered]),
            Delivered
        );
        assert_eq!(ProcessingState::aggregate([Failed, Failed]), Failed);
        assert_eq!(ProcessingState::aggregate([Delivered, Failed]), Sent);
        assert_eq!(ProcessingState::aggregate([Cancelled]), Cancelled);
    }

    #[test]
    fn java_hashes_match_the_jvm() {
        // The JVM's "hello".hashCode() and friends (the same fold over UTF-16 units in Python).
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("Привет"), 1_177_014_952);
        // Integer wrap: a long string must not panic.
        let _ = java_string_hash(&"z".repeat(1000));
        let id = received_message_id("+233201234567", 1_795_000_000_123, 1, "STOP");
        assert!(id.len() <= 8 && id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn signature_is_hmac_of_body_then_timestamp() {
        // Reference: python3 -c 'import hmac,hashlib;
        //   print(hmac.new(b"key", b"{\"a\":1}1700000000", hashlib.sha256).hexdigest())'
        assert_eq!(
            sign("key", "{\"a\":1}", "1700000000"),
            "5cff791334e7fd8344cc05c2398964f60329f4edd6ab1087ed1ba6c34eefeeca"
        );
    }

    #[test]
    fn redaction_keeps_the_last_four() {
        assert_eq!(redact("+233501234567"), "*********4567");
        assert_eq!(redact("MTN"), "****");
        assert_eq!(redact("Voda"), "****");
    }

    #[test]
    fn settings_are_read_as_the_app_imports_them() {
        let value = serde_json::json!({
            "messages": {"processing_order": "LIFO", "send_interval_min": "1", "send_interval_max": 3.0,
                         "limit_period": "PerFortnight"},
            "webhooks": {"signing_key": "k3y"},
            "gateway": {"cloud_url": null},
            "receiver": {"content_provider_enabled": true}
        });
        let settings = read_settings(&value);
        assert_eq!(settings.signing_key.as_deref(), Some("k3y"));
        assert_eq!(settings.processing_order, Some(PullOrder::Lifo));
        assert_eq!(settings.send_interval, Some((1, 3)));
        assert_eq!(settings.violations.len(), 2, "{:?}", settings.violations);
    }

    #[test]
    fn nothing_null_is_written() {
        let body = serde_json::to_value(RegisterRequest {
            name: "flit-sim/phone-0001".to_owned(),
            push_token: None,
            sim_cards: vec![],
        })
        .expect("serialisable");
        assert_eq!(
            body,
            serde_json::json!({"name": "flit-sim/phone-0001", "simCards": []})
        );
        let report = serde_json::to_value(RecipientReport {
            phone_number: "+1".to_owned(),
            state: ProcessingState::Sent,
            error: None,
        })
        .expect("serialisable");
        assert_eq!(
            report,
            serde_json::json!({"phoneNumber": "+1", "state": "Sent"})
        );
    }
}
