//! Webhooks: a tenant's endpoints, the events they report, and each event's way to each
//! endpoint (a delivery, with every attempt).

use super::*;

/// What a webhook can be told about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    MessageSent,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    MessageCancelled,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::MessageSent,
        EventKind::MessageDelivered,
        EventKind::MessageFailed,
        EventKind::MessageReceived,
        EventKind::MessageCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageSent => "message.sent",
            EventKind::MessageDelivered => "message.delivered",
            EventKind::MessageFailed => "message.failed",
            EventKind::MessageReceived => "message.received",
            EventKind::MessageCancelled => "message.cancelled",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = UnknownEvent;

    fn from_str(name: &str) -> Result<EventKind, UnknownEvent> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownEvent(name.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown event `{0}`")]
pub struct UnknownEvent(pub String);

/// A set of event kinds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventKinds(u8);

impl EventKinds {
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn insert(&mut self, kind: EventKind) {
        self.0 |= kind.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }
}

impl FromIterator<EventKind> for EventKinds {
    fn from_iter<I: IntoIterator<Item = EventKind>>(kinds: I) -> EventKinds {
        let mut set = EventKinds::default();
        for kind in kinds {
            set.insert(kind);
        }
        set
    }
}

/// A tenant's endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub tenant: TenantId,
    pub url: String,
    pub events: EventKinds,
    /// Signs every attempt.
    pub secret: String,
    /// The secret before the last rotation, which also signs until `previous_until`.
    pub previous_secret: Option<String>,
    pub previous_until: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

/// What an event says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum EventData {
    /// A recipient of a message reached a new state (or, for `message.cancelled`, the
    /// message's pending recipients were cancelled: `recipient` is `None`).
    Message {
        message: MessageId,
        recipient: Option<Msisdn>,
        status: RecipientStatus,
        error: Option<String>,
        parts: u16,
        /// Recipients the event covers (1 for a recipient's own event).
        recipients: u32,
    },
    Received(InboundRecord),
}

/// One event: the same on every attempt and every webhook.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WebhookEvent {
    pub id: EventId,
    pub kind: EventKind,
    pub created_at: UnixMillis,
    pub data: EventData,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Given up: a refusal that is not worth retrying, or every attempt used.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One attempt to deliver: what the endpoint answered, or why there was no answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub at: UnixMillis,
    pub status: Option<u16>,
    pub latency_ms: u32,
    pub error: Option<String>,
    /// When the next attempt was planned for, if this one is to be retried.
    pub retry_at: Option<UnixMillis>,
}

/// One event on its way to one webhook.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub webhook: WebhookId,
    pub event: WebhookEvent,
    pub state: DeliveryState,
    /// Attempts since it was created or last redelivered by hand (what the retry budget
    /// counts); `attempts` keeps them all, the oldest dropped past a cap.
    pub round_attempts: u16,
    pub attempts: Vec<AttemptRecord>,
    pub next_attempt_at: Option<UnixMillis>,
}
