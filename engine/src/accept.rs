//! The accept path (SPEC §9): validate → normalise and dedupe → segment once → price →
//! the tenant actor charges → one durable batch → answer.
//!
//! Everything up to the charge runs on the caller's task and touches no storage, so sends of
//! many tenants proceed in parallel; the tenant actor only does the arithmetic and submits the
//! batch; the caller then waits for the group commit that makes it durable.

use std::collections::HashSet;

use flit_storage::{Batch, codec};
use ractor::rpc::CallResult;

use crate::engine::{Engine, read};
use crate::error::EngineError;
use crate::ids::MessageId;
use crate::layout;
use crate::model::{
    MessageRecord, RecipientRecord, SendOutcome, StatusCounts, UnixMillis, now_millis,
};
use crate::msisdn::{Msisdn, Validation};
use crate::segment::{self, TextInfo};
use crate::tenant::{Charge, IdempotencyClaim, TenantMsg};

/// Explicit recipients a single request may carry (FlashSMS limit).
pub const MAX_EXPLICIT_RECIPIENTS: usize = 1_000;
/// Recipient count an estimate may ask about.
pub const MAX_ESTIMATE_RECIPIENTS: u64 = 10_000;
/// No phone number in any written form is longer; longer input is listed invalid, truncated.
pub const MAX_RECIPIENT_INPUT_BYTES: usize = 32;
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 100;
/// How far ahead a send may be scheduled.
pub const MAX_SCHEDULE_AHEAD_MS: i64 = 366 * 24 * 3600 * 1000;

#[derive(Clone, Debug, Default)]
pub struct SendRequest {
    pub recipients: Vec<String>,
    pub text: String,
    /// Must name one of the tenant's approved sender IDs; `None` takes the first approved.
    pub sender: Option<String>,
    pub campaign: Option<String>,
    pub schedule_at: Option<UnixMillis>,
    pub validity_until: Option<UnixMillis>,
    /// The calling API's default number check; the tenant's own setting wins over it.
    pub validation: Option<Validation>,
    pub idempotency: Option<IdempotencyClaim>,
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
    /// the request would no longer validate (its schedule date has passed, say).
    pub async fn send(
        &self,
        tenant: crate::ids::TenantId,
        request: SendRequest,
    ) -> Result<SendOutcome, EngineError> {
        let claim = request.idempotency;
        match self.accept(tenant, request).await {
            Err(error @ EngineError::Invalid { .. }) => match claim {
                Some(claim) => Ok(self.replay(tenant, claim).await?.ok_or(error)?),
                None => Err(error),
            },
            other => other,
        }
    }

    async fn replay(
        &self,
        tenant: crate::ids::TenantId,
        claim: IdempotencyClaim,
    ) -> Result<Option<SendOutcome>, EngineError> {
        let entry = self.entry(tenant)?;
        let actor = self.actor(&entry)?;
        let replayed = match actor
            .call(|reply| TenantMsg::Replay(claim, reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result?,
            _ => {
                return Err(EngineError::Unavailable(
                    "the tenant's account is restarting".into(),
                ));
            }
        };
        match replayed {
            Some(charged) => {
                charged.durable.await?;
                Ok(Some(charged.outcome))
            }
            None => Ok(None),
        }
    }

    async fn accept(
        &self,
        tenant: crate::ids::TenantId,
        request: SendRequest,
    ) -> Result<SendOutcome, EngineError> {
        let entry = self.entry(tenant)?;
        let (price, max_parts, tenant_validation) = {
            let record = read(&entry.record);
            (
                record.price_per_part,
                record.max_parts as usize,
                record.number_validation.clone(),
            )
        };
        let text = analyse_text(&request.text, max_parts)?;
        if request.recipients.is_empty() {
            return Err(EngineError::invalid(
                "missing_recipients",
                "give at least one recipient",
            ));
        }
        if request.recipients.len() > MAX_EXPLICIT_RECIPIENTS {
            return Err(EngineError::invalid(
                "too_many_recipients",
                format!(
                    "{} recipients given; at most {MAX_EXPLICIT_RECIPIENTS} per request",
                    request.recipients.len()
                ),
            ));
        }
        if let Some(campaign) = &request.campaign
            && campaign.chars().count() > MAX_CAMPAIGN_NAME_CHARS
        {
            return Err(EngineError::invalid(
                "invalid_campaign_name",
                format!("`campaignName` may be at most {MAX_CAMPAIGN_NAME_CHARS} characters"),
            ));
        }
        let now = now_millis();
        check_schedule(request.schedule_at, now)?;
        let sender = self.resolve_sender(&entry, request.sender.as_deref())?;

        let validation = tenant_validation
            .and_then(|v| v.parse().ok())
            .or(request.validation)
            .unwrap_or(Validation::Strict);
        let country = *read(&entry.country);
        let mut seen = HashSet::with_capacity(request.recipients.len());
        let mut numbers = Vec::with_capacity(request.recipients.len());
        let mut invalid = Vec::new();
        for raw in &request.recipients {
            if raw.len() > MAX_RECIPIENT_INPUT_BYTES {
                let shown: String = raw.chars().take(MAX_RECIPIENT_INPUT_BYTES).collect();
                invalid.push(format!("{shown}…"));
                continue;
            }
            match Msisdn::parse(raw, country, validation) {
                Ok(number) => {
                    if seen.insert(number) {
                        numbers.push(number);
                    }
                }
                Err(_) => invalid.push(raw.clone()),
            }
        }
        if numbers.is_empty() {
            return Err(EngineError::invalid(
                "no_valid_recipients",
                format!(
                    "none of the recipients is a valid phone number: {}",
                    invalid.join(", ")
                ),
            ));
        }

        let parts = text.parts as i64;
        let cost = parts * numbers.len() as i64 * price;
        let message_id = MessageId::new();
        let message = MessageRecord {
            id: message_id,
            tenant,
            text: request.text,
            sender,
            campaign: request.campaign.clone(),
            recipient_count: numbers.len() as u32,
            credits: cost,
            price_per_part: price,
            counts: StatusCounts {
                pending: numbers.len() as u32,
                ..StatusCounts::default()
            },
            scheduled_at: request.schedule_at,
            validity_until: request.validity_until,
            sent_at: None,
            created_at: now,
        };
        let mut batch = Batch::with_capacity(numbers.len() + 4);
        batch.put(
            layout::MESSAGES,
            layout::owned_key(tenant, message_id.to_bytes()),
            codec::encode(&message),
        );
        // Until every recipient is handed to a channel, a restart re-queues it from here.
        batch.put(
            layout::DISPATCH,
            message_id.to_bytes().to_vec(),
            codec::encode(&tenant),
        );
        for (index, number) in numbers.iter().enumerate() {
            let recipient = RecipientRecord::new(*number, text.parts as u16);
            batch.put(
                layout::RECIPIENTS,
                layout::recipient_key(message_id, index as u32),
                codec::encode(&recipient),
            );
        }
        let description = format!(
            "API SMS: {} ({} recipient{})",
            request.campaign.as_deref().unwrap_or("message"),
            numbers.len(),
            if numbers.len() == 1 { "" } else { "s" }
        );
        let charge = Charge {
            message_id,
            cost,
            description,
            batch,
            outcome: SendOutcome {
                message_id,
                recipients_sent: numbers.len() as u32,
                invalid_recipients: invalid,
                credits_used: cost,
                remaining_credits: 0,
                scheduled_at: request.schedule_at,
                created_at: now,
            },
            idempotency: request.idempotency,
        };

        let actor = self.actor(&entry)?;
        let charged = match actor
            .call(|reply| TenantMsg::Charge(Box::new(charge), reply), None)
            .await
        {
            Ok(CallResult::Success(result)) => result?,
            _ => {
                return Err(EngineError::Unavailable(
                    "the tenant's account is restarting; retry shortly".into(),
                ));
            }
        };
        if let Err(error) = charged.durable.await {
            let _ = actor.cast(TenantMsg::Resync);
            return Err(error.into());
        }
        if !charged.replayed {
            metrics::counter!("flit_messages_accepted_total").increment(1);
            metrics::counter!("flit_segments_accepted_total")
                .increment(text.parts as u64 * numbers.len() as u64);
            let parts = text.parts as u16;
            let jobs = crate::dispatch::jobs_for(
                &message,
                numbers
                    .iter()
                    .enumerate()
                    .map(|(index, number)| (index as u32, *number, parts)),
            );
            self.dispatch().enqueue_at(jobs, message.scheduled_at);
        }
        Ok(charged.outcome)
    }

    /// What a send of `text` to `recipient_count` numbers would cost; charges nothing.
    pub fn estimate(
        &self,
        tenant: crate::ids::TenantId,
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
            return Err(EngineError::invalid(
                "invalid_recipient_count",
                format!("`recipientCount` must be between 1 and {MAX_ESTIMATE_RECIPIENTS}"),
            ));
        }
        let credits_required = info.parts as i64 * recipient_count as i64 * price;
        let current_balance = entry.shared.balance();
        Ok(Estimate {
            text: info,
            recipient_count,
            credits_required,
            current_balance,
            can_afford: credits_required <= current_balance,
        })
    }

    fn resolve_sender(
        &self,
        entry: &crate::engine::TenantEntry,
        asked: Option<&str>,
    ) -> Result<String, EngineError> {
        let senders = read(&entry.senders);
        let mut approved = senders
            .iter()
            .filter(|sender| sender.status == crate::model::SenderStatus::Approved);
        match asked.map(str::trim).filter(|name| !name.is_empty()) {
            Some(name) => approved
                .find(|sender| sender.name.eq_ignore_ascii_case(name))
                .map(|sender| sender.name.clone())
                .ok_or_else(|| {
                    EngineError::invalid(
                        "invalid_sender_id",
                        format!("sender ID `{name}` is not one of your approved sender IDs"),
                    )
                }),
            None => approved
                .next()
                .map(|sender| sender.name.clone())
                .ok_or_else(|| {
                    EngineError::invalid(
                        "no_sender_id",
                        "this account has no approved sender ID yet; ask the operator to add one",
                    )
                }),
        }
    }
}

fn analyse_text(text: &str, max_parts: usize) -> Result<TextInfo, EngineError> {
    if text.is_empty() {
        return Err(EngineError::invalid(
            "missing_message",
            "`message` must not be empty",
        ));
    }
    let info = segment::analyse(text);
    segment::check_max_parts(&info, max_parts)
        .map_err(|error| EngineError::invalid("message_too_long", error.to_string()))?;
    Ok(info)
}

fn check_schedule(at: Option<UnixMillis>, now: UnixMillis) -> Result<(), EngineError> {
    let Some(at) = at else { return Ok(()) };
    if at <= now {
        return Err(EngineError::invalid(
            "invalid_schedule_date",
            "`scheduleDate` must be in the future",
        ));
    }
    if at - now > MAX_SCHEDULE_AHEAD_MS {
        return Err(EngineError::invalid(
            "invalid_schedule_date",
            "`scheduleDate` may be at most one year ahead",
        ));
    }
    Ok(())
}
