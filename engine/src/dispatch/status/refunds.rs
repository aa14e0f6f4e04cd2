//! Final failures and their refunds: a recipient that fails owes back the parts no carrier
//! accepted, written as a debt (`refunds_due`) in the same batch; the tenant actor pays it
//! with a REFUND entry in the batch that deletes the debt.

use super::*;

/// Credits owed back for one message: the parts they pay for and the debts they settle.
#[derive(Default)]
pub(super) struct Owed {
    pub(super) credits: i64,
    pub(super) parts: u64,
    pub(super) debts: Vec<RefundDue>,
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
        let owed_parts = recipient.parts_never_accepted();
        let price = self
            .message(job.tenant, job.message)?
            .map(|message| message.price_per_part)
            .unwrap_or(0);
        let amount = crate::tenants::credits::credits_for(i64::from(owed_parts), price)?;
        if amount > 0 {
            let key = (job.tenant, job.message, job.index);
            tables::REFUNDS_DUE.put(&mut drain.batch, &key, &amount);
            let owed = drain.refunds.entry((job.tenant, job.message)).or_default();
            owed.credits = owed
                .credits
                .checked_add(amount)
                .ok_or("refund beyond the representable range")?;
            owed.parts += u64::from(owed_parts);
            owed.debts.push(key);
        }
        Ok(())
    }
}

impl DispatchShared {
    /// Pays refunds owed for `message` through the tenant's actor; the ledger entry and the
    /// deletion of the debts are one batch. Failures leave the debts for the next start.
    pub(crate) async fn pay_refund(
        &self,
        tenant: TenantId,
        message: MessageId,
        amount: i64,
        parts: u64,
        settles: Vec<RefundDue>,
    ) {
        let Some(actor) = self.tenants.get(&tenant).and_then(|link| link.slot.get()) else {
            tracing::warn!(%tenant, %message, "refund deferred: tenant actor unavailable");
            return;
        };
        let credit = Credit {
            kind: TransactionKind::Refund,
            amount,
            description: format!(
                "Refund: {parts} part{} not accepted by a carrier",
                if parts == 1 { "" } else { "s" }
            ),
            reference: Some(message.to_string()),
            idempotency: None,
            settles,
        };
        match actor
            .call(|reply| TenantMsg::Credit(credit, reply), None)
            .await
        {
            Ok(CallResult::Success(Ok(_))) => {
                metrics::counter!("flit_credits_refunded_total").increment(amount as u64);
            }
            _ => tracing::warn!(%tenant, %message, "refund deferred: the tenant actor refused"),
        }
    }

    /// Pays every refund still owed (after a crash between a failure and its refund).
    pub async fn pay_owed_refunds(&self) -> Result<(), crate::EngineError> {
        let page = self.store.scan(&tables::REFUNDS_DUE.scan(&()))?;
        let mut owed: HashMap<(TenantId, MessageId), Owed> = HashMap::new();
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
            let entry = owed.entry((tenant, message)).or_default();
            entry.credits = entry.credits.checked_add(amount).ok_or_else(|| {
                StorageError::Codec("refunds owed beyond the representable range".into())
            })?;
            entry.parts += 1;
            entry
                .debts
                .push((tenant, message, u32::from_be_bytes(index)));
        }
        for ((tenant, message), owed) in owed {
            self.pay_refund(tenant, message, owed.credits, owed.parts, owed.debts)
                .await;
        }
        Ok(())
    }
}
