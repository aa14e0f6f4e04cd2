//! The body of a webhook POST as Flit sends it, read leniently: unknown fields anywhere are
//! ignored, and a `data` that does not fit its event type is kept raw instead of refused, so
//! that a receiver started against a newer Flit still counts what it gets.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The event types whose `data` describes one recipient of a sent message.
const MESSAGE_TYPES: [&str; 4] = [
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.cancelled",
];

/// The event type of an inbound (mobile-originated) message.
const RECEIVED_TYPE: &str = "message.received";

/// The types after which a recipient's state no longer changes.
const FINAL_TYPES: [&str; 3] = ["message.delivered", "message.failed", "message.cancelled"];

/// Whether events of `event_type` put a recipient in a final state.
pub fn is_final_type(event_type: &str) -> bool {
    FINAL_TYPES.contains(&event_type)
}

/// One accepted event, as the receiver keeps it for assertions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookEvent {
    /// `evt_…`, the same on every retry of the event.
    pub id: String,
    /// `message.sent`, `message.delivered`, … (kept as sent, known or not).
    pub event_type: String,
    /// RFC 3339 as sent, not parsed: the receiver checks delivery, not clocks.
    pub created_at: Option<String>,
    pub data: EventData,
}

/// The `data` of an event, by its type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// `message.sent|delivered|failed|cancelled`.
    Message(MessageData),
    /// `message.received`.
    Inbound(InboundData),
    /// An unknown type, or a `data` that did not fit its type.
    Other(Value),
}

/// One recipient of a sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageData {
    pub message_id: String,
    pub recipient: String,
    pub status: String,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub parts: Option<u32>,
}

/// An inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundData {
    pub inbound_id: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub received_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    data: Value,
}

impl WebhookEvent {
    /// Reads a POST body. Only `id` and `type` are required; an error means the body is not an
    /// event at all (the receiver answers 400).
    pub fn parse(body: &[u8]) -> serde_json::Result<Self> {
        let envelope: Envelope = serde_json::from_slice(body)?;
        let event_type = envelope.event_type.as_str();
        let data = if MESSAGE_TYPES.contains(&event_type) {
            serde_json::from_value(envelope.data.clone())
                .map_or(EventData::Other(envelope.data), EventData::Message)
        } else if event_type == RECEIVED_TYPE {
            serde_json::from_value(envelope.data.clone())
                .map_or(EventData::Other(envelope.data), EventData::Inbound)
        } else {
            EventData::Other(envelope.data)
        };
        Ok(Self {
            id: envelope.id,
            event_type: envelope.event_type,
            created_at: envelope.created_at,
            data,
        })
    }

    /// The message data, when this is a message event.
    pub fn message(&self) -> Option<&MessageData> {
        match &self.data {
            EventData::Message(message) => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_message_event_and_ignores_unknown_fields() {
        let body =
            br#"{"id":"evt_1","type":"message.delivered","createdAt":"2025-01-02T03:04:05.678Z",
            "apiVersion":"v9","data":{"messageId":"msg_1","recipient":"233201234567",
            "status":"DELIVERED","errorCode":null,"parts":2,"carrier":"x"}}"#;
        let event = WebhookEvent::parse(body).expect("an event");
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.event_type, "message.delivered");
        assert_eq!(
            event.created_at.as_deref(),
            Some("2025-01-02T03:04:05.678Z")
        );
        assert_eq!(
            event.message(),
            Some(&MessageData {
                message_id: "msg_1".into(),
                recipient: "233201234567".into(),
                status: "DELIVERED".into(),
                error_code: None,
                parts: Some(2),
            })
        );
    }

    #[test]
    fn reads_an_inbound_event() {
        let body = br#"{"id":"evt_2","type":"message.received","createdAt":"t","data":{
            "inboundId":"inb_1","from":"233201234567","to":"LoadTest","text":"hi","receivedAt":"t"}}"#;
        let event = WebhookEvent::parse(body).expect("an event");
        let EventData::Inbound(inbound) = &event.data else {
            panic!("not inbound: {event:?}");
        };
        assert_eq!(inbound.inbound_id, "inb_1");
        assert_eq!(inbound.text, "hi");
    }

    #[test]
    fn keeps_unfitting_or_unknown_data_raw() {
        let odd = WebhookEvent::parse(br#"{"id":"e","type":"message.failed","data":{"x":1}}"#)
            .expect("an event");
        assert_eq!(odd.data, EventData::Other(serde_json::json!({"x": 1})));
        let unknown =
            WebhookEvent::parse(br#"{"id":"e","type":"tenant.updated"}"#).expect("an event");
        assert_eq!(unknown.data, EventData::Other(Value::Null));
        assert!(WebhookEvent::parse(br#"{"type":"message.sent"}"#).is_err());
        assert!(WebhookEvent::parse(b"not json").is_err());
    }
}
