//! Delivery receipts: matched to the recipient part by SMSC id (its canonical spelling first,
//! the other base only after a wait), or held, on disk too, until the `submit_sm_resp` naming
//! the id arrives, and dropped after `HOLD_RECEIPTS_FOR`.

use super::*;

impl StatusState {
    /// Retries receipts held for their mapping; those that waited `ALTERNATE_AFTER` are also
    /// tried under their id's other-base spellings.
    pub(super) fn retry_held(&mut self, drain: &mut Drain) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let due: Vec<(BindId, String)> = self
            .held
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) >= ALTERNATE_AFTER)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some((receipt, since)) = self.held.remove(&key) else {
                continue;
            };
            if self.receipt(key.0, receipt.clone(), true, drain)? {
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &key);
            } else {
                // Still unknown: keep waiting (until HOLD_RECEIPTS_FOR).
                self.held.insert(key, (receipt, since));
            }
        }
        Ok(())
    }

    /// Applies a receipt; `Ok(false)` when its id is not known (yet). A fresh receipt is held
    /// for its mapping; `alternates` also tries the id's other-base spellings.
    pub(super) fn receipt(
        &mut self,
        bind: BindId,
        receipt: Receipt,
        alternates: bool,
        drain: &mut Drain,
    ) -> Result<bool, ActorProcessingErr> {
        if !receipt.state.is_final() {
            return Ok(true);
        }
        let canonical = normalise_smsc_id(&receipt.smsc_message_id);
        let mut keys = vec![canonical.clone()];
        if alternates {
            keys.extend(alternate_smsc_ids(&receipt.smsc_message_id));
        }
        let mut found = None;
        for key in &keys {
            if let Some(mapping) = self.mappings.get(&(bind, key.clone())) {
                found = Some(mapping.clone());
                break;
            }
            if let Some(mapping) = tables::SMSC_IDS.get(&self.shared.store, &(bind, key.clone()))? {
                found = Some(mapping);
                break;
            }
        }
        let Some(mapping) = found else {
            if !alternates {
                // The submit_sm_resp may still be on its way: hold the receipt for it, on disk
                // too (the SMSC is told it arrived once this drain is recorded).
                let held = HeldReceipt {
                    receipt,
                    held_at: now_millis(),
                };
                tables::HELD_RECEIPTS.put(&mut drain.batch, &(bind, canonical.clone()), &held);
                self.held
                    .insert((bind, canonical), (held.receipt, Instant::now()));
                metrics::counter!("flit_receipts_total", "result" => "held").increment(1);
            }
            return Ok(false);
        };
        for key in &mapping.keys {
            self.mappings.remove(&(bind, key.clone()));
            tables::SMSC_IDS.delete(&mut drain.batch, &(bind, key.clone()));
        }
        if self.shared.withdrawn.is_tenant_deleted(mapping.tenant) {
            metrics::counter!("flit_receipts_total", "result" => "unmatched").increment(1);
            return Ok(true);
        }
        let job_key = RecipientRef {
            tenant: mapping.tenant,
            message: mapping.message,
            index: mapping.index,
        };
        let Some(mut recipient) = self.recipient(job_key)? else {
            metrics::counter!("flit_receipts_total", "result" => "unmatched").increment(1);
            return Ok(true);
        };
        if is_final(recipient.status) {
            // Already settled (failed by validity, say): the receipt changes nothing.
            metrics::counter!("flit_receipts_total", "result" => "unmatched").increment(1);
            return Ok(true);
        }
        if receipt.state.is_success() {
            recipient.delivered_parts |= mapping.part_bits;
        } else {
            recipient.failed_parts |= mapping.part_bits;
            recipient.error = Some(format!(
                "{:?}{}",
                receipt.state,
                receipt
                    .error
                    .as_deref()
                    .map(|err| format!(" err:{err}"))
                    .unwrap_or_default()
            ));
        }
        metrics::counter!("flit_receipts_total", "result" => if receipt.state.is_success() { "delivered" } else { "failed" })
            .increment(1);
        let all_parts = full_mask(recipient.parts);
        let reported = recipient.delivered_parts | recipient.failed_parts;
        if recipient.accepted_parts & all_parts == all_parts && reported & all_parts == all_parts {
            recipient.done_at = Some(now_millis());
            let status = if recipient.failed_parts & all_parts == 0 {
                RecipientStatus::Delivered
            } else {
                RecipientStatus::Failed
            };
            self.set_status(job_key, &mut recipient, status, drain)?;
        }
        self.store_recipient(job_key, recipient, drain)?;
        Ok(true)
    }

    /// Receipts held longer than `HOLD_RECEIPTS_FOR` will never match: drop and count them.
    pub(super) fn expire_held(&mut self, drain: &mut Drain) {
        let now = Instant::now();
        let held = self.held.len();
        self.held.retain(|(bind, id), (_, since)| {
            let keep = now.duration_since(*since) < HOLD_RECEIPTS_FOR;
            if !keep {
                tables::HELD_RECEIPTS.delete(&mut drain.batch, &(*bind, id.clone()));
            }
            keep
        });
        let expired = held - self.held.len();
        if expired > 0 {
            // Held in vain: no submit_sm_resp ever named their SMSC id.
            metrics::counter!("flit_receipts_total", "result" => "unmatched")
                .increment(expired as u64);
        }
    }
}

/// The receipts a previous run held for their SMSC ids, with the time they have waited.
pub(super) fn load_held(shared: &DispatchShared) -> Result<HeldReceipts, ActorProcessingErr> {
    let mut held = HashMap::new();
    let now = (Instant::now(), now_millis());
    for (key, value) in shared.store.scan(&tables::HELD_RECEIPTS.scan(&()))?.items {
        let (Some(bind), Some(id)) = (
            key.get(0..16).and_then(|b| <[u8; 16]>::try_from(b).ok()),
            key.get(16..).and_then(|b| std::str::from_utf8(b).ok()),
        ) else {
            continue;
        };
        let stored = tables::HELD_RECEIPTS.decode(&value)?;
        let waited = Duration::from_millis(u64::try_from(now.1 - stored.held_at).unwrap_or(0));
        let since = now.0.checked_sub(waited).unwrap_or(now.0);
        held.insert(
            (BindId::from_bytes(bind), id.to_string()),
            (stored.receipt, since),
        );
    }
    Ok(held)
}
