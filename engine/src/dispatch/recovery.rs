//! Dispatch at start: the router, the status writer and the sandbox bind start, stored binds
//! reconnect, and refunds a previous run owed are paid. Recipients it left PENDING (their
//! message's `DISPATCH` marker is on disk) are the scheduler's to feed again, once dispatch
//! runs (`schedule/recovery.rs`).

use std::sync::Arc;

use crate::channel::ChannelKind;
use crate::dispatch::bind::{BindChild, BindShared};
use crate::dispatch::cancel::REMEMBER_CANCELLED_MS;
use crate::dispatch::router::RouterChild;
use crate::dispatch::status::StatusChild;
use crate::dispatch::{DispatchShared, StatusMsg};
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// Starts the router, the status writer and the sandbox bind, then pays the refunds a
    /// previous run owed.
    pub(crate) async fn start_dispatch(&self) -> Result<(), EngineError> {
        let dispatch = self.dispatch().clone();
        // The status writer first: the router's first jobs may already be answered.
        self.supervise(Arc::new(StatusChild(dispatch.clone())))
            .await?;
        self.supervise(Arc::new(RouterChild(dispatch.clone())))
            .await?;
        let sandbox = BindShared::new(
            DispatchShared::sandbox_bind_id(),
            "sandbox".to_string(),
            ChannelKind::Sandbox,
            None,
            dispatch.withdrawn.clone(),
        );
        dispatch.binds.insert(sandbox.id, sandbox.clone());
        self.supervise(Arc::new(BindChild {
            dispatch: dispatch.clone(),
            bind: sandbox,
        }))
        .await?;
        self.start_stored_binds().await?;
        // A sweep that hands parked work back to the router now and then (so jobs whose
        // validity ran out while every bind was down are expired rather than kept), lets the
        // status writer retry receipts still waiting for their SMSC id, and forgets messages
        // cancelled long ago.
        let sweep = Arc::downgrade(&dispatch);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            loop {
                tick.tick().await;
                let Some(dispatch) = sweep.upgrade() else {
                    break;
                };
                dispatch.unpark();
                let cancelled_before = dispatch.clock.now_millis() - REMEMBER_CANCELLED_MS;
                dispatch.withdrawn.forget_before(cancelled_before);
                if let Some(status) = dispatch.status.get() {
                    let _ = status.cast(StatusMsg::Tick);
                }
            }
        });
        dispatch.pay_owed_refunds().await?;
        Ok(())
    }
}
