//! The scheduler at start: what the previous run left is put back where it belongs before
//! the scheduler runs. A message with a `DISPATCH` marker and a `scheduled_at` still ahead
//! was written by the code before the schedule index (which kept it in memory): it moves to
//! `SCHEDULE`. Every other message with a `DISPATCH` marker has PENDING recipients to feed;
//! those, and the recipients of every scheduled message, count as waiting on disk.

use std::sync::Arc;

use flit_storage::Batch;

use super::{SchedulerArgs, SchedulerChild, decode_entry};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::MessageId;
use crate::store::tables;

impl Engine {
    /// Moves old scheduled messages to the index, queues what the last run left for feeding,
    /// counts what waits on disk, then starts the scheduler under the root supervisor.
    pub(crate) async fn start_scheduler(&self) -> Result<(), EngineError> {
        let now = self.clock().now_millis();
        let dispatch = self.dispatch();
        let mut migration = Batch::new();
        let (mut left, mut moved) = (0usize, 0usize);
        for (key, value) in self.store().scan(&tables::DISPATCH.scan(&()))?.items {
            let (Ok(message), Ok(tenant)) = (
                <[u8; 16]>::try_from(key.as_slice()),
                tables::DISPATCH.decode(&value),
            ) else {
                continue;
            };
            let Some(message) = self.message(tenant, MessageId::from_bytes(message))? else {
                continue;
            };
            match message.scheduled_at.filter(|due| *due > now) {
                Some(due) => {
                    tables::DISPATCH.delete(&mut migration, &message.id);
                    tables::SCHEDULE.put(
                        &mut migration,
                        &tables::schedule_key(due, message.id),
                        &tenant,
                    );
                    moved += 1;
                }
                None => {
                    let pending = message.counts.pending as usize;
                    dispatch.unfed_add(pending);
                    self.schedule().released(self.store(), &message)?;
                    left += pending;
                }
            }
        }
        if moved > 0 {
            self.store().commit(migration).await?;
            tracing::info!(
                messages = moved,
                "moved scheduled messages to the schedule index"
            );
        }
        if left > 0 {
            tracing::info!(
                recipients = left,
                "re-queueing recipients left pending by the last run"
            );
        }
        let mut scheduled = 0usize;
        for (key, value) in self.store().scan(&tables::SCHEDULE.scan(&()))?.items {
            let Some(due) = decode_entry(&key, &value)? else {
                continue;
            };
            if let Some(message) = self.message(due.tenant, due.message)? {
                scheduled += message.counts.pending as usize;
            }
        }
        dispatch.unfed_add(scheduled);
        self.supervise(Arc::new(SchedulerChild(SchedulerArgs {
            dispatch: dispatch.clone(),
            schedule: self.schedule().clone(),
            clock: self.clock(),
            low_water: self.config().feed_low_water,
        })))
        .await
    }
}
