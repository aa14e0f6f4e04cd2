//! Final failures, cancels and their refunds: a recipient that fails or is cancelled owes back
//! the parts no carrier accepted, written as a debt (`refunds_due`) in the same batch; the
//! tenant actor pays it with a REFUND entry in the batch that deletes the debt. A cancelled
//! recipient whose parts a carrier accepts after all (the submit was in flight when the cancel
//! ran) owes the refund of those parts back: a negative debt, paid as a USAGE entry.

use super::*;

/// Why credits are owed: what the ledger entry paying them says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Debt {
    /// Parts no carrier accepted of a recipient that failed for good: a REFUND.
    Failed,
    /// Parts never sent of a recipient cancelled: a REFUND.
    Cancelled,
    /// Parts of a cancelled recipient that a carrier accepted after all: their refund taken
    /// back, a USAGE entry (owed whatever the balance, since the SMS went out).
    ChargeBack,
}

impl Debt {
    fn kind(self) -> TransactionKind {
        match self {
            Debt::Failed | Debt::Cancelled => TransactionKind::Refund,
            Debt::ChargeBack => TransactionKind::Usage,
        }
    }

    fn describe(self, parts: u64) -> String {
        let parts = format!("{parts} part{}", if parts == 1 { "" } else { "s" });
        match self {
            Debt::Failed => format!("Refund: {parts} not accepted by a carrier"),
            Debt::Cancelled => format!("Refund: {parts} of a cancelled message, never sent"),
            Debt::ChargeBack => {
                format!(
                    "Charge-back: {parts} of a cancelled message accepted by a carrier after all"
                )
            }
        }
    }
}

/// Credits owed for one message for one reason: the parts they pay for and the debts they
/// settle.
#[derive(Default)]
pub(super) struct Owed {
    pub(super) credits: i64,
    pub(super) parts: u64,
    pub(super) debts: Vec<RefundDue>,
}

/// What one message owes, by reason.
pub(super) type OwedBy = HashMap<(TenantId, MessageId, Debt), Owed>;

impl Drain {
    /// Records `amount` owed under `key`: the debt row is written by this drain's batch, and
    /// paid (with the others of its message and reason) once the batch is submitted.
    fn owe(
        &mut self,
        key: RefundDue,
        debt: Debt,
        amount: i64,
        parts: u64,
    ) -> Result<(), ActorProcessingErr> {
        const OUT_OF_RANGE: &str = "refund beyond the representable range";
        let first = !self.debts.contains_key(&key);
        let row = self.debts.entry(key).or_default();
        *row = row.checked_add(amount).ok_or(OUT_OF_RANGE)?;
        let owed = self.refunds.entry((key.0, key.1, debt)).or_default();
        owed.credits = owed.credits.checked_add(amount).ok_or(OUT_OF_RANGE)?;
        owed.parts += parts;
        if first {
            owed.debts.push(key);
        }
        Ok(())
    }
}

impl StatusState {
    /// Final failure: FAILED, and the parts never accepted owed back in the same batch.
    pub(super) fn fail(
        &mut self,
        job: RecipientRef,
        recipient: &mut RecipientRecord,
        error: &str,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        recipient.error = Some(error.to_string());
        recipient.done_at = Some(now_millis());
        self.set_status(job, recipient, RecipientStatus::Failed, drain)?;
        self.owe_unsent(job, recipient, Debt::Failed, drain)
    }

    /// Cancelled before a carrier took it: CANCELLED, and the parts never accepted owed back
    /// in the same batch, as for a failure.
    pub(super) fn withdraw(
        &mut self,
        job: RecipientRef,
        recipient: &mut RecipientRecord,
        at: UnixMillis,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        recipient.error = Some("cancelled".to_string());
        recipient.done_at = Some(at);
        self.set_status(job, recipient, RecipientStatus::Cancelled, drain)?;
        self.owe_unsent(job, recipient, Debt::Cancelled, drain)
    }

    /// A carrier accepted `parts` parts of a cancelled recipient whose refund was owed: that
    /// much is owed back by the tenant, in the same batch as the acceptance.
    pub(super) fn charge_back(
        &mut self,
        job: RecipientRef,
        parts: u32,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let amount = crate::tenants::credits::credits_for(i64::from(parts), self.price(job)?)?;
        if amount > 0 {
            let key = (job.tenant, job.message, job.index | tables::CHARGE_BACK);
            drain.owe(key, Debt::ChargeBack, -amount, u64::from(parts))?;
        }
        Ok(())
    }

    fn owe_unsent(
        &mut self,
        job: RecipientRef,
        recipient: &RecipientRecord,
        debt: Debt,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let owed_parts = recipient.parts_never_accepted();
        let amount = crate::tenants::credits::credits_for(i64::from(owed_parts), self.price(job)?)?;
        if amount > 0 {
            let key = (job.tenant, job.message, job.index);
            drain.owe(key, debt, amount, u64::from(owed_parts))?;
        }
        Ok(())
    }

    /// The price per part the message was charged at.
    fn price(&mut self, job: RecipientRef) -> Result<i64, ActorProcessingErr> {
        Ok(self
            .message(job.tenant, job.message)?
            .map(|message| message.price_per_part)
            .unwrap_or(0))
    }
}

impl DispatchShared {
    /// Pays what `message` owes for one reason through the tenant's actor; the ledger entry
    /// and the deletion of the debts are one batch, whose ticket is returned. Failures leave
    /// the debts for the next start.
    pub(super) async fn pay(
        &self,
        tenant: TenantId,
        message: MessageId,
        debt: Debt,
        owed: Owed,
    ) -> Option<CommitTicket> {
        let Some(actor) = self.tenants.get(&tenant).and_then(|link| link.slot.get()) else {
            tracing::warn!(%tenant, %message, "refund deferred: tenant actor unavailable");
            return None;
        };
        let amount = owed.credits;
        let credit = Credit {
            kind: debt.kind(),
            amount,
            description: debt.describe(owed.parts),
            reference: Some(message.to_string()),
            idempotency: None,
            settles: owed.debts,
            overdraw: debt == Debt::ChargeBack,
        };
        match actor
            .call(|reply| TenantMsg::Credit(credit, reply), None)
            .await
        {
            Ok(CallResult::Success(Ok(credited))) => {
                if debt == Debt::ChargeBack {
                    metrics::counter!("flit_credits_charged_total")
                        .increment(amount.unsigned_abs());
                } else {
                    metrics::counter!("flit_credits_refunded_total").increment(amount as u64);
                }
                Some(credited.durable)
            }
            _ => {
                tracing::warn!(%tenant, %message, "refund deferred: the tenant actor refused");
                None
            }
        }
    }

    /// Pays every refund and charge-back still owed (after a crash between a failure or a
    /// cancel and its payment).
    pub async fn pay_owed_refunds(&self) -> Result<(), crate::EngineError> {
        let page = self.store.scan(&tables::REFUNDS_DUE.scan(&()))?;
        let mut owed: OwedBy = HashMap::new();
        for (key, value) in page.items {
            let (Some(tenant), Some(message), Some(index)) = (
                key.get(0..16).and_then(|b| <[u8; 16]>::try_from(b).ok()),
                key.get(16..32).and_then(|b| <[u8; 16]>::try_from(b).ok()),
                key.get(32..36).and_then(|b| <[u8; 4]>::try_from(b).ok()),
            ) else {
                continue;
            };
            let amount = tables::REFUNDS_DUE.decode(&value)?;
            let (tenant, message) = (TenantId::from_bytes(tenant), MessageId::from_bytes(message));
            let index = u32::from_be_bytes(index);
            let debt = self.debt_of(message, index)?;
            let price = tables::MESSAGES
                .get(&self.store, &(tenant, message))?
                .map(|message| message.price_per_part)
                .filter(|price| *price > 0)
                .unwrap_or(1);
            let entry = owed.entry((tenant, message, debt)).or_default();
            entry.credits = entry.credits.checked_add(amount).ok_or_else(|| {
                StorageError::Codec("refunds owed beyond the representable range".into())
            })?;
            entry.parts += amount.unsigned_abs() / price.unsigned_abs();
            entry.debts.push((tenant, message, index));
        }
        for ((tenant, message, debt), owed) in owed {
            self.pay(tenant, message, debt, owed).await;
        }
        Ok(())
    }

    /// Why the debt under `index` is owed: a charge-back by its key, else what became of the
    /// recipient.
    fn debt_of(&self, message: MessageId, index: u32) -> Result<Debt, StorageError> {
        if index & tables::CHARGE_BACK != 0 {
            return Ok(Debt::ChargeBack);
        }
        let (block, offset) = tables::recipient_block(index);
        let cancelled = tables::RECIPIENTS
            .get(&self.store, &(message, block))?
            .and_then(|records| records.get(offset).map(|record| record.status))
            == Some(RecipientStatus::Cancelled);
        Ok(if cancelled {
            Debt::Cancelled
        } else {
            Debt::Failed
        })
    }
}
