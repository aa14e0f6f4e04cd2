//! Feeding released messages to the router: their PENDING recipients read a block at a time
//! (`tables::RECIPIENTS` holds blocks of 250) and handed to the ready queue as jobs, while
//! the jobs in memory stay under the low-water mark. Each message's text and sender are held
//! once for all its jobs. A message whose validity ended is fed to the status writer as
//! expired jobs instead, which it fails and refunds.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use flit_storage::StorageError;

use super::ScheduleShared;
use crate::clock::Clock;
use crate::dispatch::{DispatchShared, JobMessage, JobRecipient, StatusEvent, jobs_of};
use crate::store::records::{MessageRecord, RecipientStatus};
use crate::store::tables;

/// A released message being fed.
pub(super) struct Release {
    message: Arc<JobMessage>,
    /// The next recipient block to read, and how many there are.
    next_block: u32,
    blocks: u32,
    /// Its recipients still counted as waiting on disk (`DispatchShared::unfed_add`).
    unfed: usize,
}

impl ScheduleShared {
    /// `message` was released: its PENDING recipients are fed after those released before.
    /// They are already counted as waiting on disk.
    pub(crate) fn released(
        &self,
        store: &flit_storage::Store,
        message: &MessageRecord,
    ) -> Result<(), StorageError> {
        let job_message = JobMessage::read(store, message)?;
        lock(&self.releases).push_back(Release {
            message: job_message,
            next_block: 0,
            blocks: message.recipient_count.div_ceil(tables::RECIPIENT_BLOCK),
            unfed: message.counts.pending as usize,
        });
        Ok(())
    }

    /// Feeds released messages' PENDING recipients to the router, a block at a time, until
    /// none are left or the jobs in memory reach `low_water`. True when feeding paused with
    /// some left.
    pub(super) fn feed(
        &self,
        dispatch: &DispatchShared,
        clock: Clock,
        low_water: usize,
    ) -> Result<bool, StorageError> {
        let mut releases = lock(&self.releases);
        while let Some(release) = releases.front_mut() {
            let id = release.message.id;
            let withdrawn = dispatch.withdrawn.is_cancelled(id)
                || dispatch.withdrawn.is_tenant_deleted(release.message.tenant);
            if release.next_block >= release.blocks || withdrawn {
                // Whatever was counted and not found PENDING went out, was cancelled or is
                // being deleted with its tenant.
                dispatch.unfed_sub(release.unfed);
                releases.pop_front();
                continue;
            }
            if dispatch.jobs_in_memory() + dispatch.status_events.len() >= low_water {
                return Ok(true);
            }
            let block = release.next_block;
            release.next_block += 1;
            let Some(records) = tables::RECIPIENTS.get(&dispatch.store, &(id, block))? else {
                continue;
            };
            let first = block * tables::RECIPIENT_BLOCK;
            let pending: Vec<JobRecipient> = records
                .into_iter()
                .enumerate()
                .filter(|(_, recipient)| recipient.status == RecipientStatus::Pending)
                .map(|(offset, recipient)| {
                    (
                        first + offset as u32,
                        recipient.msisdn,
                        recipient.parts,
                        recipient.text.map(Arc::from),
                    )
                })
                .collect();
            let fed = pending.len().min(release.unfed);
            release.unfed -= fed;
            dispatch.unfed_sub(fed);
            let jobs = jobs_of(&release.message, pending);
            let expired = release
                .message
                .validity_until
                .is_some_and(|until| clock.now_millis() >= until);
            if expired {
                for job in jobs {
                    dispatch.report(StatusEvent::Expired { job });
                }
            } else {
                dispatch.enqueue(jobs);
            }
        }
        Ok(false)
    }
}

/// The releases, whoever last held them: each step under the lock leaves them whole.
fn lock(releases: &Mutex<VecDeque<Release>>) -> MutexGuard<'_, VecDeque<Release>> {
    releases.lock().unwrap_or_else(PoisonError::into_inner)
}
