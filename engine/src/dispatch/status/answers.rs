//! Carrier answers to submits: a part accepted (its SMSC id mapped to the recipient, and any
//! receipt that raced ahead of it applied), or refused for now (retried with backoff, on
//! another bind if there is one) or for good (the recipient fails).

use super::*;

impl StatusState {
    pub(super) fn accepted(
        &mut self,
        job: Job,
        bind: BindId,
        part: u8,
        parts: u8,
        smsc_id: String,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let bits = part_bits(part, parts, job.parts);
        // A cancelled recipient whose submit was already at the carrier when the cancel ran:
        // what the carrier took is recorded as it is, and its refund charged back.
        if let Some(mut recipient) = self.recipient(job.recipient_ref())?
            && (!is_final(recipient.status) || recipient.status == RecipientStatus::Cancelled)
        {
            let all_parts = full_mask(job.parts);
            let newly = bits & all_parts & !recipient.accepted_parts;
            recipient.accepted_parts |= bits;
            let cancelled = recipient.status == RecipientStatus::Cancelled;
            if cancelled && newly != 0 {
                self.charge_back(job.recipient_ref(), newly.count_ones(), drain)?;
            }
            // SENT once a carrier holds every part: a recipient left with some parts accepted
            // stays PENDING, so a restart sends it again rather than leaving it stuck (or
            // CANCELLED, charged for the parts that went out).
            if matches!(
                recipient.status,
                RecipientStatus::Pending | RecipientStatus::Cancelled
            ) && recipient.accepted_parts & all_parts == all_parts
            {
                let now = now_millis();
                recipient.sent_at = Some(now);
                if cancelled {
                    recipient.error = None;
                    recipient.done_at = None;
                }
                self.set_status(
                    job.recipient_ref(),
                    &mut recipient,
                    RecipientStatus::Sent,
                    drain,
                )?;
                if let Some(message) = self.messages.get_mut(&job.message()) {
                    message.sent_at.get_or_insert(now);
                }
            }
            self.store_recipient(job.recipient_ref(), recipient, drain)?;
            let keys = vec![normalise_smsc_id(&smsc_id)];
            let mapping = SmscMapping {
                tenant: job.tenant(),
                message: job.message(),
                index: job.index,
                part_bits: bits,
                keys: keys.clone(),
            };
            for key in &keys {
                tables::SMSC_IDS.put(&mut drain.batch, &(bind, key.clone()), &mapping);
                self.mappings.insert((bind, key.clone()), mapping.clone());
            }
            // A receipt that raced ahead of this answer.
            let early = keys.iter().find_map(|key| {
                let receipt = self.held.remove(&(bind, key.clone()))?;
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &(bind, key.clone()));
                Some(receipt)
            });
            if let Some((receipt, _)) = early {
                self.receipt(bind, receipt, false, drain)?;
            }
        }
        self.attempts
            .entry((job.message(), job.index))
            .or_default()
            .bind = Some(bind);
        self.answered(job, parts, drain)
    }

    /// One part of the current attempt is answered; decide when all are.
    pub(super) fn answered(
        &mut self,
        job: Job,
        parts: u8,
        drain: &mut Drain,
    ) -> Result<(), ActorProcessingErr> {
        let key = (job.message(), job.index);
        let attempt = self.attempts.entry(key).or_default();
        attempt.answered = attempt.answered.saturating_add(1);
        if attempt.answered < parts.max(1) {
            return Ok(());
        }
        let Some(attempt) = self.attempts.remove(&key) else {
            return Ok(());
        };
        let Some(mut recipient) = self.recipient(job.recipient_ref())? else {
            return Ok(());
        };
        if is_final(recipient.status) {
            return Ok(());
        }
        recipient.attempts = recipient.attempts.saturating_add(1);
        let all_parts = full_mask(job.parts);
        if let Some(code) = attempt.permanent {
            self.fail(
                job.recipient_ref(),
                &mut recipient,
                &format!("SMPP error {code:#010x}"),
                drain,
            )?;
        } else if attempt.temporary && recipient.accepted_parts & all_parts != all_parts {
            let now = self.shared.clock.now_millis();
            let expired = job.validity_until().is_some_and(|until| now >= until);
            if expired {
                self.fail(
                    job.recipient_ref(),
                    &mut recipient,
                    "validity period expired",
                    drain,
                )?;
            } else if recipient.attempts >= MAX_ATTEMPTS {
                let reason = format!("no carrier took it after {} attempts", recipient.attempts);
                self.fail(job.recipient_ref(), &mut recipient, &reason, drain)?;
            } else {
                let mut retry = job.clone();
                retry.attempt = recipient.attempts;
                retry.set_avoid(attempt.bind);
                self.shared
                    .enqueue_later(retry, backoff(recipient.attempts));
            }
        }
        self.store_recipient(job.recipient_ref(), recipient, drain)?;
        Ok(())
    }
}
