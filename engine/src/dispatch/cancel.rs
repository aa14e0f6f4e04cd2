//! Cancelling a message that is scheduled or still queued (SPEC §4, `POST /sms/:id/cancel`).
//!
//! The work is the status writer's (`status/cancel.rs`), the single writer of recipient
//! states: in order with its drains it takes the message out of the schedule, marks every
//! PENDING recipient CANCELLED, owes back the parts never accepted, commits, pays the refund,
//! and only then answers. Jobs of the message still in memory are dropped where they surface,
//! through `Withdrawn` (`withdrawn.rs`): the router checks it before handing a job to a bind,
//! and each bind's queue before its session takes a submit (`bind.rs`). A submit already at the carrier
//! finishes: what the carrier accepts of a cancelled recipient is recorded as sent and its
//! refund charged back (`status/answers.rs`).

use ractor::rpc::CallResult;

use crate::dispatch::StatusMsg;
use crate::engine::Engine;
use crate::error::{EngineError, Unavailable};
use crate::ids::{MessageId, TenantId};
use crate::store::records::{MessageStatus, UnixMillis};

/// How long a cancelled message is remembered in memory. Jobs are rebuilt at start only from
/// PENDING recipients, so none of a cancelled message outlives the process; within it, a job
/// that surfaces later still (parked a day with every carrier down) is sent, and what the
/// carrier takes is charged back.
pub const REMEMBER_CANCELLED_MS: UnixMillis = 24 * 3600 * 1000;

/// What a cancel did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancellation {
    pub message_id: MessageId,
    /// The message's status once cancelled: `Cancelled` unless some recipients had already
    /// gone to a carrier.
    pub status: MessageStatus,
    pub cancelled_recipients: u32,
    /// Credits owed back for the parts never sent, paid as one REFUND entry.
    pub credits_refunded: i64,
}

impl Engine {
    /// Cancels what of a message is still waiting: scheduled, or queued for a carrier. Answers
    /// once the cancel and its refund are durable. `NotFound(Message)` for an id that is not
    /// the tenant's; `Conflict::NotCancellable` when every recipient was already handed to a
    /// carrier or is final (nothing is changed then).
    pub async fn cancel(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<Cancellation, EngineError> {
        self.entry(tenant)?;
        let Some(status) = self.dispatch().status.get() else {
            return Err(EngineError::from(Unavailable::Interrupted));
        };
        let answer = match status
            .call(
                |reply| StatusMsg::Cancel {
                    tenant,
                    message,
                    reply,
                },
                None,
            )
            .await
        {
            Ok(CallResult::Success(answer)) => answer?,
            _ => return Err(EngineError::from(Unavailable::Interrupted)),
        };
        if let Some(refund) = answer.refund {
            refund.await?;
        }
        // A phone that took some of it and has not sent them is told (it drops those still
        // waiting on it).
        for bind in self.dispatch().binds.iter() {
            if let Some(phone) = bind.kind.device() {
                phone.cancelled(message);
            }
        }
        metrics::counter!("flit_messages_cancelled_total").increment(1);
        Ok(answer.cancellation)
    }
}
