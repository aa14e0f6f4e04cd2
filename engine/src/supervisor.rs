//! The root supervisor: parent of every tenant actor, and the place their restart policy lives.
//!
//! ractor's default is to stop the parent when any child exits; Flit's policy instead is:
//! a tenant actor that exits for any reason (panic, error, kill) is restarted at once with its
//! state read back from storage, up to `MAX_RESTARTS_PER_MINUTE` times a minute; past that it
//! stays down (sends to that tenant answer 503) so a poisoned tenant cannot spin the whole
//! process. Only after `SupervisorMsg::ShuttingDown` do exits stay exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flit_storage::Store;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use crate::ids::TenantId;
use crate::tenant::{TenantActor, TenantArgs, TenantMsg, TenantShared};

const MAX_RESTARTS_PER_MINUTE: usize = 10;

pub enum SupervisorMsg {
    /// Start (or restart) a tenant actor; the reply carries its handle.
    StartTenant(
        TenantId,
        Arc<TenantShared>,
        Arc<TenantSlot>,
        RpcReplyPort<Result<(), String>>,
    ),
    /// The process is stopping: children that exit from now on are not restarted.
    ShuttingDown(RpcReplyPort<()>),
}

/// Where the current actor of a tenant is published, swapped on restart.
#[derive(Default)]
pub struct TenantSlot {
    actor: std::sync::RwLock<Option<ActorRef<TenantMsg>>>,
}

impl TenantSlot {
    pub fn get(&self) -> Option<ActorRef<TenantMsg>> {
        self.actor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
    fn set(&self, actor: Option<ActorRef<TenantMsg>>) {
        *self
            .actor
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = actor;
    }
}

pub struct RootSupervisor;

pub struct SupervisorState {
    store: Store,
    children: HashMap<ActorId, Child>,
    shutting_down: bool,
}

struct Child {
    tenant: TenantId,
    shared: Arc<TenantShared>,
    slot: Arc<TenantSlot>,
    restarts: Vec<Instant>,
}

impl Actor for RootSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Store;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        store: Store,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            store,
            children: HashMap::new(),
            shutting_down: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::StartTenant(tenant, shared, slot, reply) => {
                let child = Child {
                    tenant,
                    shared,
                    slot,
                    restarts: Vec::new(),
                };
                let result = state.spawn(myself.get_cell(), child).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::ShuttingDown(reply) => {
                state.shutting_down = true;
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".to_string()))
            }
            _ => return Ok(()),
        };
        let Some(mut child) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        child.slot.set(None);
        if state.shutting_down {
            tracing::debug!(tenant = %child.tenant, %reason, "tenant actor stopped");
            return Ok(());
        }
        let now = Instant::now();
        child
            .restarts
            .retain(|at| now.duration_since(*at) < Duration::from_secs(60));
        if child.restarts.len() >= MAX_RESTARTS_PER_MINUTE {
            tracing::error!(tenant = %child.tenant, %reason, "tenant actor keeps failing; leaving it stopped");
            return Ok(());
        }
        child.restarts.push(now);
        tracing::warn!(tenant = %child.tenant, %reason, "tenant actor exited; restarting");
        if let Err(error) = state.spawn(myself.get_cell(), child).await {
            tracing::error!(%error, "tenant actor could not be restarted");
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn spawn(&mut self, supervisor: ActorCell, child: Child) -> Result<(), String> {
        let args = TenantArgs {
            tenant: child.tenant,
            store: self.store.clone(),
            shared: child.shared.clone(),
        };
        let (actor, _join) = Actor::spawn_linked(None, TenantActor, args, supervisor)
            .await
            .map_err(|error| error.to_string())?;
        child.slot.set(Some(actor.clone()));
        self.children.insert(actor.get_id(), child);
        Ok(())
    }
}
