//! Dispatch at start: the router, the status writer and the sandbox bind start, stored binds
//! reconnect, and what a previous run left is handed back: refunds owed are paid and every
//! recipient still PENDING (its message's `DISPATCH` marker is on disk) is queued again.

use std::sync::Arc;

use crate::channel::ChannelKind;
use crate::dispatch::bind::{BindChild, BindShared};
use crate::dispatch::router::RouterChild;
use crate::dispatch::status::StatusChild;
use crate::dispatch::{DispatchShared, StatusMsg, jobs_for};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ids::MessageId;
use crate::numbers::Msisdn;
use crate::store::records::RecipientStatus;
use crate::store::tables;

impl Engine {
    /// Starts the router, the status writer and the sandbox bind, then hands back to dispatch
    /// what a previous run left: refunds owed and recipients not yet sent.
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
        );
        dispatch.binds.insert(sandbox.id, sandbox.clone());
        self.supervise(Arc::new(BindChild {
            dispatch: dispatch.clone(),
            bind: sandbox,
        }))
        .await?;
        self.start_stored_binds().await?;
        // A sweep that hands parked work back to the router now and then (so jobs whose
        // validity ran out while every bind was down are expired rather than kept), and lets
        // the status writer retry receipts still waiting for their SMSC id.
        let sweep = Arc::downgrade(&dispatch);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
            loop {
                tick.tick().await;
                let Some(dispatch) = sweep.upgrade() else {
                    break;
                };
                dispatch.unpark();
                if let Some(status) = dispatch.status.get() {
                    let _ = status.cast(StatusMsg::Tick);
                }
            }
        });
        dispatch.pay_owed_refunds().await?;
        let mut requeued = 0;
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
            let pending: Vec<(u32, Msisdn, u16, Option<Arc<str>>)> = self
                .recipient_records(message.id)?
                .into_iter()
                .enumerate()
                .filter(|(_, recipient)| recipient.status == RecipientStatus::Pending)
                .map(|(index, recipient)| {
                    (
                        index as u32,
                        recipient.msisdn,
                        recipient.parts,
                        recipient.text.map(Arc::from),
                    )
                })
                .collect();
            requeued += pending.len();
            dispatch.enqueue_at(jobs_for(&message, pending), message.scheduled_at);
        }
        if requeued > 0 {
            tracing::info!(
                recipients = requeued,
                "re-queued recipients left pending by the last run"
            );
        }
        Ok(())
    }
}
