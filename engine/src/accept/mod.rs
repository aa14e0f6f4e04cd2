//! The accept path (SPEC §9): validate → collect, normalise and dedupe recipients from every
//! source → render and segment each distinct text → price → the tenant actor charges → durable
//! batches → answer.
//!
//! Planning touches storage only to read contacts, groups and templates (off the async threads
//! when a contact source is involved); the tenant actor only does the arithmetic and submits
//! the charge; the caller then waits for the group commit that makes it durable. Sends of more
//! than `CHUNK` recipients write their recipient rows first, a durable batch per chunk, and make
//! them visible with the final batch that holds the message and the charge: a crash in between
//! leaves only unreferenced rows, never a charge without its recipients.
//!
//! A message scheduled for later is written with an entry in the schedule index instead of the
//! `DISPATCH` marker, in the same batch: no job is built for it, and the scheduler, told once
//! it is durable, hands its recipients to dispatch when it is due (`schedule/`).

mod plan;

use plan::{Planned, analyse_text};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use flit_storage::Batch;
use ractor::ActorRef;
use ractor::rpc::CallResult;

use crate::engine::{Engine, read};
use crate::error::{EngineError, Invalid, Unavailable};
use crate::ids::{ContactId, GroupId, MessageId, SmppAccountId, TemplateId, TenantId};
use crate::numbers::Validation;
use crate::store::records::{
    DeviceRoute, MessageRecord, RecipientRecord, SendOutcome, SmppOrigin, StatusCounts, UnixMillis,
};
use crate::store::tables;
use crate::tenants::TenantEntry;
use crate::tenants::actor::{Charge, Claimed, IdempotencyClaim, TenantMsg};
use crate::tenants::credits::credits_for;
use crate::text::TextInfo;

/// Explicit recipients a single request may carry (FlashSMS limit).
pub const MAX_EXPLICIT_RECIPIENTS: usize = 1_000;
/// Recipients one send may reach through groups and contacts.
pub const MAX_TOTAL_RECIPIENTS: usize = 100_000;
/// Recipient count an estimate may ask about.
pub const MAX_ESTIMATE_RECIPIENTS: u64 = 10_000;
/// No phone number in any written form is longer; longer input is listed invalid, truncated.
pub const MAX_RECIPIENT_INPUT_BYTES: usize = 32;
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 100;
/// How far ahead a send may be scheduled.
pub const MAX_SCHEDULE_AHEAD_MS: i64 = 366 * 24 * 3600 * 1000;
/// Recipient rows per durable batch for large sends (bounds memory and batch size).
pub const CHUNK: usize = 5_000;
const _: () = assert!(CHUNK.is_multiple_of(tables::RECIPIENT_BLOCK as usize));
/// Placeholders every contact fills.
pub const CONTACT_VARIABLES: [&str; 4] = ["firstName", "lastName", "phone", "email"];

#[derive(Clone, Debug, Default)]
pub struct SendRequest {
    /// Explicit numbers, at most `MAX_EXPLICIT_RECIPIENTS`.
    pub recipients: Vec<String>,
    pub group_ids: Vec<GroupId>,
    pub contact_ids: Vec<ContactId>,
    pub all_contacts: bool,
    /// What the message says: its text, or a template's.
    pub content: Content,
    /// Values for the text's `{{placeholders}}` beyond the contact fields.
    pub variables: HashMap<String, String>,
    /// Must name one of the tenant's approved sender IDs; `None` takes the first approved.
    pub sender: Option<String>,
    pub campaign: Option<String>,
    pub schedule_at: Option<UnixMillis>,
    /// How long the message may wait for a channel, from when it is due (now, or its
    /// schedule), before it expires instead of going out late.
    pub validity: Option<Duration>,
    /// The calling API's default number check; the tenant's own setting wins over it.
    pub validation: Option<Validation>,
    pub idempotency: Option<IdempotencyClaim>,
    /// Through the tenant's own phones (one, or the least loaded online one) rather than a
    /// carrier; refused with `Unavailable::NoDevice` when none is online.
    pub device: Option<DeviceRoute>,
}

/// What a send says, decided once by the caller.
#[derive(Clone, Debug)]
pub enum Content {
    Text(String),
    /// One of the tenant's templates (404 if it has none by that id).
    Template(TemplateId),
}

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl SendRequest {
    fn uses_contacts(&self) -> bool {
        self.all_contacts || !self.group_ids.is_empty() || !self.contact_ids.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub text: TextInfo,
    pub recipient_count: u64,
    pub credits_required: i64,
    pub current_balance: i64,
    pub can_afford: bool,
}

impl Engine {
    /// Accepts a send: on `Ok` the message, its recipients and the charge are durable.
    ///
    /// A retry with the `Idempotency-Key` of an accepted send gets the first answer even when
    /// the request would no longer pass (its schedule date has passed, the credits it took are
    /// spent). While the engine is unhealthy (see `EngineHealth`) every send is refused with
    /// `EngineError::Unhealthy`, before anything is claimed, planned or charged.
    pub async fn send(
        &self,
        tenant: TenantId,
        request: SendRequest,
    ) -> Result<SendOutcome, EngineError> {
        let entry = self.admit(tenant)?;
        let Some(claim) = request.idempotency else {
            return self
                .accept(tenant, &entry, request, None, AcceptExtras::default())
                .await;
        };
        // The key is claimed before any planning: a retry of a send already accepted (or still
        // being accepted) never plans, writes or charges anything.
        let actor = self.actor(&entry)?;
        let claimed = match actor
            .call(|reply| TenantMsg::Claim(claim, reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result?,
            _ => return Err(restarting()),
        };
        match claimed {
            Claimed::Replay(first) => {
                first.durable.await?;
                Ok(first.outcome)
            }
            Claimed::Fresh => {
                let guard = ClaimGuard {
                    actor,
                    key_hash: claim.key_hash,
                    held: true,
                };
                self.accept(
                    tenant,
                    &entry,
                    request,
                    Some(guard),
                    AcceptExtras::default(),
                )
                .await
            }
        }
    }

    /// A send from the SMPP server: the checks of [`Engine::send`] (no `Idempotency-Key`: a
    /// submit has none), with what SMPP adds to the message's batch.
    pub(crate) async fn send_over_smpp(
        &self,
        tenant: TenantId,
        request: SendRequest,
        extras: AcceptExtras,
    ) -> Result<SendOutcome, EngineError> {
        let entry = self.admit(tenant)?;
        self.accept(tenant, &entry, request, None, extras).await
    }

    /// The tenant's entry, if a send of its may be taken at all: the engine is healthy (one
    /// missing an actor for good would take the send and never deliver it) and the tenant is
    /// not suspended.
    fn admit(&self, tenant: TenantId) -> Result<Arc<TenantEntry>, EngineError> {
        if let Err(error) = self.health().check() {
            metrics::counter!("flit_sends_refused_total", "reason" => "engine_unhealthy")
                .increment(1);
            return Err(error);
        }
        let entry = self.entry(tenant)?;
        if entry.is_suspended() {
            metrics::counter!("flit_sends_refused_total", "reason" => "account_suspended")
                .increment(1);
            return Err(EngineError::Suspended);
        }
        Ok(entry)
    }

    /// Plans, charges and stores a send; `claim` holds its `Idempotency-Key` until the charge
    /// is recorded (dropping it on any early return lets the key go).
    async fn accept(
        &self,
        tenant: TenantId,
        entry: &Arc<TenantEntry>,
        mut request: SendRequest,
        claim: Option<ClaimGuard>,
        extras: AcceptExtras,
    ) -> Result<SendOutcome, EngineError> {
        if let Some(campaign) = &request.campaign
            && campaign.chars().count() > MAX_CAMPAIGN_NAME_CHARS
        {
            return Err(EngineError::from(Invalid::CampaignName {
                max: MAX_CAMPAIGN_NAME_CHARS,
            }));
        }
        let now = self.clock().now_millis();
        check_schedule(request.schedule_at, now)?;
        let sender = entry.resolve_sender(request.sender.as_deref())?;
        if let Some(route) = request.device.as_mut() {
            // Failover is the tenant's choice at the time of the send, for messages that may
            // go through any of its phones.
            route.failover = route.device.is_none()
                && entry
                    .record
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .allow_device_failover;
            self.check_device_route(tenant, *route)?;
        }
        let request = Arc::new(request);
        let plan = self.plan_send(tenant, entry, request.clone()).await?;
        let cost = plan.credits()?;
        if cost > entry.shared.balance() {
            // The actor decides for real below; this spares writing rows for a sure 402.
            return Err(EngineError::InsufficientCredits {
                required: cost,
                balance: entry.shared.balance(),
            });
        }

        let count = plan.recipients.len();
        let (queued, cap) = (self.dispatch().backlog(), self.config().max_backlog);
        if queued + count > cap {
            metrics::counter!("flit_sends_refused_total", "reason" => "backlog_full").increment(1);
            return Err(EngineError::BacklogFull { queued, cap });
        }
        let message_id = extras.message_id.unwrap_or_else(MessageId::new);
        let message = MessageRecord {
            id: message_id,
            tenant,
            text: plan.text.clone(),
            sender,
            campaign: request.campaign.clone(),
            recipient_count: count as u32,
            credits: cost,
            price_per_part: plan.price,
            counts: StatusCounts {
                pending: count as u32,
                ..StatusCounts::default()
            },
            scheduled_at: request.schedule_at,
            validity_until: request.validity.map(|validity| {
                let due = request.schedule_at.unwrap_or(now);
                due.saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX))
            }),
            sent_at: None,
            created_at: now,
        };
        const BLOCK: usize = tables::RECIPIENT_BLOCK as usize;
        // Block `number`: the recipients from index `number * BLOCK` on.
        let put_block = |batch: &mut Batch, number: usize, planned: &[Planned]| {
            let records: Vec<RecipientRecord> = planned
                .iter()
                .map(|planned| {
                    let mut recipient = RecipientRecord::new(planned.msisdn, planned.parts);
                    recipient.text = planned.text.as_deref().map(str::to_string);
                    recipient
                })
                .collect();
            tables::RECIPIENTS.put(batch, &(message_id, number as u32), &records);
        };
        let mut batch = Batch::with_capacity(count.min(CHUNK) / BLOCK + 5);
        if count <= CHUNK {
            for (number, planned) in plan.recipients.chunks(BLOCK).enumerate() {
                put_block(&mut batch, number, planned);
            }
        } else {
            // Not yet referenced by any message: invisible until the final batch lands.
            for (chunk, planned) in plan.recipients.chunks(CHUNK).enumerate() {
                let mut rows = Batch::with_capacity(CHUNK / BLOCK);
                for (offset, planned) in planned.chunks(BLOCK).enumerate() {
                    put_block(&mut rows, chunk * (CHUNK / BLOCK) + offset, planned);
                }
                self.store().commit(rows).await?;
            }
        }
        tables::MESSAGES.put(&mut batch, &(tenant, message_id), &message);
        // Checked against this instant, not the one the request was validated at: a schedule
        // that fell due while planning goes out now.
        let due_later = message
            .scheduled_at
            .filter(|due| *due > self.clock().now_millis());
        match due_later {
            Some(due) => {
                tables::SCHEDULE.put(&mut batch, &tables::schedule_key(due, message_id), &tenant);
                // Waiting on disk, counted in the backlog from before the charge on, so
                // concurrent sends see it.
                self.dispatch().unfed_add(count);
            }
            // Until every recipient is handed to a channel, a restart re-queues it from here.
            None => tables::DISPATCH.put(&mut batch, &message_id, &tenant),
        }
        if let Some(route) = &request.device {
            tables::DEVICE_ROUTES.put(&mut batch, &message_id, route);
        }
        let origin = extras.smpp_origin.map(|origin| SmppOrigin {
            message: message_id,
            ..origin
        });
        if let Some(origin) = &origin {
            tables::SMPP_ORIGINS.put(&mut batch, &message_id, origin);
        }
        for part in &extras.smpp_parts {
            tables::SMPP_PARTS.delete(&mut batch, part);
        }
        // What the backlog counted for a scheduled send that ends up not accepted.
        let uncount = || {
            if due_later.is_some() {
                self.dispatch().unfed_sub(count);
            }
        };
        let description = format!(
            "{} SMS: {} ({} recipient{})",
            extras.via,
            request.campaign.as_deref().unwrap_or("message"),
            count,
            if count == 1 { "" } else { "s" }
        );
        let charge = Charge {
            message_id,
            cost,
            description,
            batch,
            outcome: SendOutcome {
                message_id,
                recipients_sent: count as u32,
                invalid_recipients: plan.invalid.clone(),
                credits_used: cost,
                remaining_credits: 0,
                scheduled_at: request.schedule_at,
                created_at: now,
            },
            idempotency: request.idempotency,
        };

        let actor = self.actor(entry)?;
        let charged = match actor
            .call(|reply| TenantMsg::Charge(Box::new(charge), reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result,
            _ => Err(crate::tenants::actor::ChargeError::Storage(
                flit_storage::StorageError::Closed,
            )),
        };
        let charged = match charged {
            Ok(charged) => {
                // The actor holds the answer under the key from here on.
                if let Some(claim) = claim {
                    claim.disarm();
                }
                charged
            }
            Err(error) => {
                uncount();
                if count > CHUNK {
                    self.forget_rows(message_id, count);
                }
                return Err(match error {
                    crate::tenants::actor::ChargeError::Storage(
                        flit_storage::StorageError::Closed,
                    ) => restarting(),
                    other => other.into(),
                });
            }
        };
        if charged.replayed {
            // Another request under the same key made the message (and counted it).
            uncount();
        }
        if let Err(error) = charged.durable.await {
            if !charged.replayed {
                uncount();
            }
            let _ = actor.cast(TenantMsg::Resync);
            return Err(error.into());
        }
        if !charged.replayed {
            metrics::counter!("flit_messages_accepted_total").increment(1);
            metrics::counter!("flit_segments_accepted_total").increment(plan.parts as u64);
            metrics::counter!("flit_credits_charged_total").increment(cost.max(0) as u64);
            if let Some(origin) = origin {
                // Before any job exists, so no receipt can come first.
                self.notify().smpp.awaiting(message_id, origin);
            }
            match due_later {
                Some(due) => self.schedule().scheduled(due),
                None => {
                    let jobs = crate::dispatch::jobs_of(
                        &crate::dispatch::JobMessage::of(&message, request.device),
                        plan.recipients
                            .into_iter()
                            .enumerate()
                            .map(|(index, planned)| {
                                (index as u32, planned.msisdn, planned.parts, planned.text)
                            }),
                    );
                    self.dispatch().enqueue(jobs);
                }
            }
        }
        Ok(charged.outcome)
    }

    /// Deletes the recipient rows of a large send whose charge was refused (best effort:
    /// unreferenced rows are harmless).
    fn forget_rows(&self, message: MessageId, count: usize) {
        let blocks = count.div_ceil(tables::RECIPIENT_BLOCK as usize);
        let mut batch = Batch::with_capacity(blocks);
        for block in 0..blocks {
            tables::RECIPIENTS.delete(&mut batch, &(message, block as u32));
        }
        drop(self.store().submit(batch));
    }

    /// What a send of `text` to `recipient_count` numbers would cost; charges nothing.
    pub fn estimate(
        &self,
        tenant: TenantId,
        text: &str,
        recipient_count: u64,
    ) -> Result<Estimate, EngineError> {
        let entry = self.entry(tenant)?;
        let (price, max_parts) = {
            let record = read(&entry.record);
            (record.price_per_part, record.max_parts as usize)
        };
        let info = analyse_text(text, max_parts)?;
        if !(1..=MAX_ESTIMATE_RECIPIENTS).contains(&recipient_count) {
            return Err(EngineError::from(Invalid::RecipientCount {
                max: MAX_ESTIMATE_RECIPIENTS,
            }));
        }
        let credits_required = credits_for(info.parts as i64 * recipient_count as i64, price)?;
        let current_balance = entry.shared.balance();
        Ok(Estimate {
            text: info,
            recipient_count,
            credits_required,
            current_balance,
            can_afford: credits_required <= current_balance,
        })
    }

    /// The real cost of a send as it would go out now: every source resolved, every
    /// personalised text segmented and priced on its own.
    pub async fn estimate_send(
        &self,
        tenant: TenantId,
        request: SendRequest,
    ) -> Result<Estimate, EngineError> {
        let entry = self.entry(tenant)?;
        let plan = self.plan_send(tenant, &entry, Arc::new(request)).await?;
        let current_balance = entry.shared.balance();
        let credits_required = plan.credits()?;
        Ok(Estimate {
            text: plan.info,
            recipient_count: plan.recipients.len() as u64,
            credits_required,
            current_balance,
            can_afford: credits_required <= current_balance,
        })
    }
}

/// What a send through another entry than the HTTP API adds to the accept path.
pub(crate) struct AcceptExtras {
    /// The id the message must have (a customer was given it before the send completed).
    pub message_id: Option<MessageId>,
    /// Where its receipt goes, written with the message (its `message` is set here).
    pub smpp_origin: Option<SmppOrigin>,
    /// The parts of a concatenated SMPP submit this message completes, deleted with it.
    pub smpp_parts: Vec<(SmppAccountId, String)>,
    /// The entry, as the ledger line names it.
    pub via: &'static str,
}

impl Default for AcceptExtras {
    fn default() -> Self {
        AcceptExtras {
            message_id: None,
            smpp_origin: None,
            smpp_parts: Vec::new(),
            via: "API",
        }
    }
}

/// An `Idempotency-Key` this request holds in its tenant's actor; dropped before the charge
/// is recorded (an error, a refusal, a cancelled request), it lets the key go.
struct ClaimGuard {
    actor: ActorRef<TenantMsg>,
    key_hash: [u8; 32],
    held: bool,
}

impl ClaimGuard {
    /// The charge is recorded: the actor answers retries from its own record now.
    fn disarm(mut self) {
        self.held = false;
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if self.held {
            // A dead actor took its claims with it: nothing to release then.
            let _ = self.actor.cast(TenantMsg::Release(self.key_hash));
        }
    }
}

fn restarting() -> EngineError {
    EngineError::from(Unavailable::TenantRestarting)
}

fn check_schedule(at: Option<UnixMillis>, now: UnixMillis) -> Result<(), EngineError> {
    let Some(at) = at else { return Ok(()) };
    if at <= now {
        return Err(EngineError::from(Invalid::ScheduleInPast));
    }
    if at - now > MAX_SCHEDULE_AHEAD_MS {
        return Err(EngineError::from(Invalid::ScheduleTooFar));
    }
    Ok(())
}
