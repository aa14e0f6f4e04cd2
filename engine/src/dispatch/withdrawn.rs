//! Work taken back after it was queued: the messages cancelled in this run and the tenants
//! deleted in it. Their jobs still in memory (ready, parked, waiting out a retry, queued at a
//! bind) are dropped where they surface rather than searched for: the router checks before it
//! hands a job to a bind, each bind's queue before its session takes a submit, and the
//! scheduler before it feeds a released message. The status writer applies nothing of a
//! deleted tenant any more, so nothing of it is written again once it is gone.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::{DashMap, DashSet};
use ractor::rpc::CallResult;

use crate::dispatch::{Job, StatusMsg};
use crate::engine::Engine;
use crate::error::{EngineError, Unavailable};
use crate::ids::{MessageId, TenantId};
use crate::store::records::UnixMillis;

/// Messages cancelled in this run (with when) and tenants deleted in it.
#[derive(Default)]
pub struct Withdrawn {
    messages: DashMap<MessageId, UnixMillis>,
    /// Kept for the life of the process: a deleted tenant's jobs may surface late (parked a
    /// day with every carrier down), and it is one id per deletion.
    tenants: DashSet<TenantId>,
    /// How many of both are held: the hot paths skip the maps entirely while nothing is.
    held: AtomicUsize,
}

impl Withdrawn {
    /// `message` was cancelled at `at`.
    pub fn cancel(&self, message: MessageId, at: UnixMillis) {
        if self.messages.insert(message, at).is_none() {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn is_cancelled(&self, message: MessageId) -> bool {
        !self.is_empty() && self.messages.contains_key(&message)
    }

    /// `tenant` is being deleted: none of its work goes on.
    pub fn delete_tenant(&self, tenant: TenantId) {
        if self.tenants.insert(tenant) {
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A deletion that could not go through: the tenant's work goes on.
    fn restore_tenant(&self, tenant: TenantId) {
        if self.tenants.remove(&tenant).is_some() {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn is_tenant_deleted(&self, tenant: TenantId) -> bool {
        !self.is_empty() && self.tenants.contains(&tenant)
    }

    /// Whether `job` is to be dropped: its message was cancelled or its tenant deleted.
    pub fn drops(&self, job: &Job) -> bool {
        !self.is_empty()
            && (self.messages.contains_key(&job.message()) || self.tenants.contains(&job.tenant()))
    }

    pub fn is_empty(&self) -> bool {
        self.held.load(Ordering::Relaxed) == 0
    }

    /// Forgets the messages cancelled before `before`.
    pub fn forget_before(&self, before: UnixMillis) {
        if self.messages.is_empty() {
            return;
        }
        self.messages.retain(|_, at| {
            let keep = *at >= before;
            if !keep {
                self.held.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
    }
}

impl Engine {
    /// Stops dispatch working for a tenant that is being deleted: its jobs are dropped from
    /// now on, its numbers and refunds are no longer routed to it, and once this returns the
    /// status writer has written its last record of the tenant and holds none in memory.
    pub(crate) async fn withdraw_tenant(&self, tenant: TenantId) -> Result<(), EngineError> {
        let dispatch = self.dispatch();
        dispatch.withdrawn.delete_tenant(tenant);
        let forgotten = match dispatch.status.get() {
            Some(status) => matches!(
                status
                    .call(|reply| StatusMsg::ForgetTenant { tenant, reply }, None)
                    .await,
                Ok(CallResult::Success(()))
            ),
            None => false,
        };
        if !forgotten {
            // Nothing is removed yet: the tenant goes on as it was, and the deletion can be
            // asked for again.
            dispatch.withdrawn.restore_tenant(tenant);
            return Err(Unavailable::Interrupted.into());
        }
        dispatch.tenants.remove(&tenant);
        dispatch.numbers.retain(|_, owner| *owner != tenant);
        Ok(())
    }
}
