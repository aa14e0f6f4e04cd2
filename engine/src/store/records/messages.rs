//! Messages, their recipients' states, and inbound SMS.

use super::*;

#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum RecipientStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl RecipientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "PENDING",
            RecipientStatus::Sent => "SENT",
            RecipientStatus::Delivered => "DELIVERED",
            RecipientStatus::Failed => "FAILED",
            RecipientStatus::Cancelled => "CANCELLED",
        }
    }
}

/// A message's status, derived from its recipients (SPEC §4).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Cancelled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 5] = [
        MessageStatus::Pending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Failed,
        MessageStatus::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "PENDING",
            MessageStatus::Sent => "SENT",
            MessageStatus::Delivered => "DELIVERED",
            MessageStatus::Failed => "FAILED",
            MessageStatus::Cancelled => "CANCELLED",
        }
    }
}

impl std::str::FromStr for MessageStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        MessageStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// How many recipients of a message are in each state; kept on the message record so status
/// queries and history listings never read the recipients.
#[derive(Copy, Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct StatusCounts {
    pub pending: u32,
    pub sent: u32,
    pub delivered: u32,
    pub failed: u32,
    pub cancelled: u32,
}

impl StatusCounts {
    pub fn status(&self) -> MessageStatus {
        if self.pending > 0 {
            MessageStatus::Pending
        } else if self.sent > 0 {
            MessageStatus::Sent
        } else if self.delivered > 0 {
            MessageStatus::Delivered
        } else if self.failed > 0 {
            MessageStatus::Failed
        } else if self.cancelled > 0 {
            MessageStatus::Cancelled
        } else {
            MessageStatus::Pending
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub tenant: TenantId,
    pub text: String,
    pub sender: String,
    pub campaign: Option<String>,
    pub recipient_count: u32,
    pub credits: i64,
    /// The price per part when accepted: what a refund gives back per part.
    pub price_per_part: i64,
    pub counts: StatusCounts,
    pub scheduled_at: Option<UnixMillis>,
    pub validity_until: Option<UnixMillis>,
    pub sent_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RecipientRecord {
    pub msisdn: Msisdn,
    pub parts: u16,
    pub status: RecipientStatus,
    pub sent_at: Option<UnixMillis>,
    pub done_at: Option<UnixMillis>,
    pub error: Option<String>,
    /// Submissions so far (a temporary failure is retried).
    pub attempts: u16,
    /// Bit i: part i+1 was accepted by a carrier in some attempt (never refunded).
    pub accepted_parts: u64,
    /// Bit i: a final receipt said part i+1 was delivered / was not.
    pub delivered_parts: u64,
    pub failed_parts: u64,
    /// This recipient's own text when the send was personalised; `None` = the message text.
    pub text: Option<String>,
}

impl RecipientRecord {
    pub fn new(msisdn: Msisdn, parts: u16) -> RecipientRecord {
        RecipientRecord {
            msisdn,
            parts,
            status: RecipientStatus::Pending,
            sent_at: None,
            done_at: None,
            error: None,
            attempts: 0,
            accepted_parts: 0,
            delivered_parts: 0,
            failed_parts: 0,
            text: None,
        }
    }

    /// Parts no carrier ever accepted: what a final failure refunds.
    pub fn parts_never_accepted(&self) -> u16 {
        self.parts
            .saturating_sub(self.accepted_parts.count_ones() as u16)
    }
}

impl StatusCounts {
    pub fn count_mut(&mut self, status: RecipientStatus) -> &mut u32 {
        match status {
            RecipientStatus::Pending => &mut self.pending,
            RecipientStatus::Sent => &mut self.sent,
            RecipientStatus::Delivered => &mut self.delivered,
            RecipientStatus::Failed => &mut self.failed,
            RecipientStatus::Cancelled => &mut self.cancelled,
        }
    }

    /// Moves one recipient from one state to another.
    pub fn shift(&mut self, from: RecipientStatus, to: RecipientStatus) {
        let old = self.count_mut(from);
        *old = old.saturating_sub(1);
        *self.count_mut(to) += 1;
    }
}

/// An SMS received for a tenant (a non-receipt `deliver_sm`, parts reassembled).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InboundRecord {
    pub id: InboundId,
    pub tenant: TenantId,
    pub from: String,
    pub to: String,
    pub text: String,
    pub parts: u8,
    /// The bind it arrived on.
    pub bind: Option<BindId>,
    pub received_at: UnixMillis,
}
