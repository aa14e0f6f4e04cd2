//! Hooks for tests, fuzz targets and benchmarks (feature `test-support`), not part of the
//! API: the live actors, so tests can kill them and watch the supervisor bring them back, and
//! the SMPP codec functions a bound session runs, so fuzzing and benchmarks reach the code
//! that handles carrier bytes.

use crate::engine::Engine;
use crate::ids::TenantId;

impl Engine {
    /// The tenant's actor as it runs now (`None` while it is being restarted).
    pub fn tenant_actor(&self, tenant: TenantId) -> Option<ractor::ActorCell> {
        self.entry(tenant)
            .ok()
            .and_then(|entry| entry.slot.get())
            .map(|actor| actor.get_cell())
    }

    /// The dispatch actors as they run now (router, status writer, scheduler, each bind).
    pub fn dispatch_actors(&self) -> Vec<(String, ractor::ActorCell)> {
        let dispatch = self.dispatch();
        let mut actors = Vec::new();
        if let Some(scheduler) = self.schedule().actor.get() {
            actors.push(("scheduler".to_string(), scheduler.get_cell()));
        }
        if let Some(router) = dispatch.router.get() {
            actors.push(("router".to_string(), router.get_cell()));
        }
        if let Some(status) = dispatch.status.get() {
            actors.push(("status".to_string(), status.get_cell()));
        }
        for bind in dispatch.binds.iter() {
            if let Some(actor) = bind.actor.get() {
                actors.push((format!("bind {}", bind.name), actor.get_cell()));
            }
        }
        actors
    }

    /// Recipients accepted and not yet answered by a carrier, on disk or in memory: what the
    /// backlog cap is checked against.
    pub fn backlog(&self) -> usize {
        self.dispatch().backlog()
    }

    /// Jobs held in memory: ready, parked, and queued or in flight at a bind.
    pub fn jobs_in_memory(&self) -> usize {
        self.dispatch().jobs_in_memory()
    }
}

/// The SMPP channel's codec: PDU building, framing and the classification of inbound PDUs
/// (what a bound session makes of each frame), data coding, receipts.
pub mod smpp {
    pub use crate::channel::smpp::frame::{Frame, Malformed, read_frames};
    pub use crate::channel::smpp::inbound::{Delivery, Inbound, classify};
    pub use crate::channel::smpp::receipt::{ReceiptState, parse_receipt_text};
    pub use crate::channel::smpp::{
        Concatenation, Gsm7Mode, InboundSms, Receipt, Submit, alternate_smsc_ids, coding,
        normalise_smsc_id, pdu,
    };
}
