//! The root supervisor: parent of every long-lived actor (tenants, the router, the status
//! writer, one per bind) and the place their restart policy lives.
//!
//! ractor's default is to stop the parent when any child exits; Flit's policy instead is: a
//! child that exits for any reason (panic, error, kill) is restarted at once, its state read
//! back from storage and from the lock-free queues it left behind, up to
//! `MAX_RESTARTS_PER_MINUTE` times a minute; past that it stays down so a poisoned actor cannot
//! spin the whole process, and the supervisor says so where someone will see it: the engine's
//! `EngineHealth` turns unhealthy with a reason naming the actor (sends are refused and
//! `GET /health` answers 503 from then on), one error is logged, and
//! `flit_actor_gave_up_total{actor}` counts it (`flit_actor_restarts_total{actor}` counts every
//! restart). A child that cannot be restarted at all is given up on the same way. A bind
//! removed by the operator is not restarted, and after `SupervisorMsg::ShuttingDown` no child is.
//!
//! The minute is measured on tokio's clock, so tests can run it with paused time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use flit_storage::Store;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use tokio::time::Instant;

use crate::channel::bind::BindShared;
use crate::channel::bind::{BindActor, BindArgs};
use crate::dispatch::DispatchShared;
use crate::dispatch::router::RouterActor;
use crate::dispatch::status::StatusActor;
use crate::health::EngineHealth;
use crate::ids::TenantId;
use crate::slot::TenantSlot;
use crate::tenants::actor::{TenantActor, TenantArgs, TenantShared};

const MAX_RESTARTS_PER_MINUTE: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

pub enum SupervisorMsg {
    /// Start a tenant actor.
    StartTenant(
        TenantId,
        Arc<TenantShared>,
        Arc<TenantSlot>,
        RpcReplyPort<Result<(), String>>,
    ),
    /// Start the router and the status writer.
    StartDispatch(Arc<DispatchShared>, RpcReplyPort<Result<(), String>>),
    /// Start the actor of a bind.
    StartBind(Arc<BindShared>, RpcReplyPort<Result<(), String>>),
    /// The process is stopping: children that exit from now on are not restarted.
    ShuttingDown(RpcReplyPort<()>),
}

pub struct RootSupervisor;

/// What the supervisor is started with.
pub struct SupervisorArgs {
    pub store: Store,
    /// Where the supervisor records giving up on a child; the engine reads it.
    pub health: Arc<EngineHealth>,
}

pub struct SupervisorState {
    store: Store,
    health: Arc<EngineHealth>,
    dispatch: Option<Arc<DispatchShared>>,
    children: HashMap<ActorId, Child>,
    shutting_down: bool,
}

struct Child {
    kind: ChildKind,
    restarts: RestartBudget,
}

/// The restarts of one child within the last `RESTART_WINDOW`, oldest first.
#[derive(Default)]
struct RestartBudget {
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// Counts a failure now: `Ok` when it may be restarted, or `Err(failures)`, the failures
    /// within the window (this one included), when that would pass `MAX_RESTARTS_PER_MINUTE`.
    fn admit(&mut self) -> Result<(), usize> {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RESTART_WINDOW)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_RESTARTS_PER_MINUTE {
            return Err(self.recent.len() + 1);
        }
        self.recent.push_back(now);
        Ok(())
    }
}

enum ChildKind {
    Tenant {
        tenant: TenantId,
        shared: Arc<TenantShared>,
        slot: Arc<TenantSlot>,
    },
    Router(Arc<DispatchShared>),
    Status(Arc<DispatchShared>),
    Bind(Arc<DispatchShared>, Arc<BindShared>),
}

impl ChildKind {
    fn describe(&self) -> String {
        match self {
            ChildKind::Tenant { tenant, .. } => format!("tenant {tenant}"),
            ChildKind::Router(_) => "router".to_string(),
            ChildKind::Status(_) => "status writer".to_string(),
            ChildKind::Bind(_, bind) => format!("bind {}", bind.id),
        }
    }

    /// The `actor` label of the restart metrics: the kind only, so the label set stays small.
    fn label(&self) -> &'static str {
        match self {
            ChildKind::Tenant { .. } => "tenant",
            ChildKind::Router(_) => "router",
            ChildKind::Status(_) => "status_writer",
            ChildKind::Bind(..) => "bind",
        }
    }

    /// Unpublishes the actor that just exited.
    fn vacate(&self) {
        match self {
            ChildKind::Tenant { slot, .. } => slot.set(None),
            ChildKind::Router(shared) => shared.router.set(None),
            ChildKind::Status(shared) => shared.status.set(None),
            ChildKind::Bind(_, bind) => bind.actor.set(None),
        }
    }

    /// Whether this child is gone for good by the operator's choice.
    fn retired(&self) -> bool {
        matches!(self, ChildKind::Bind(_, bind) if bind.is_removed())
    }
}

impl Actor for RootSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        SupervisorArgs { store, health }: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            store,
            health,
            dispatch: None,
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
        let cell = myself.get_cell();
        match message {
            SupervisorMsg::StartTenant(tenant, shared, slot, reply) => {
                let kind = ChildKind::Tenant {
                    tenant,
                    shared,
                    slot,
                };
                let _ = reply.send(state.spawn(cell, Child::new(kind)).await);
            }
            SupervisorMsg::StartDispatch(shared, reply) => {
                state.dispatch = Some(shared.clone());
                let mut result = state
                    .spawn(cell.clone(), Child::new(ChildKind::Status(shared.clone())))
                    .await;
                if result.is_ok() {
                    result = state
                        .spawn(cell, Child::new(ChildKind::Router(shared)))
                        .await;
                }
                let _ = reply.send(result);
            }
            SupervisorMsg::StartBind(bind, reply) => {
                let result = match state.dispatch.clone() {
                    Some(shared) => {
                        state
                            .spawn(cell, Child::new(ChildKind::Bind(shared, bind)))
                            .await
                    }
                    None => Err("dispatch is not started".to_string()),
                };
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
        child.kind.vacate();
        let what = child.kind.describe();
        if state.shutting_down || child.kind.retired() {
            tracing::debug!(%what, %reason, "actor stopped");
            return Ok(());
        }
        let label = child.kind.label();
        if let Err(failures) = child.restarts.admit() {
            tracing::error!(%what, %reason, failures, "actor keeps failing; leaving it stopped");
            state.give_up(
                label,
                format!("the {what} actor failed {failures} times in a minute"),
            );
            return Ok(());
        }
        tracing::warn!(%what, %reason, "actor exited; restarting");
        metrics::counter!("flit_actor_restarts_total", "actor" => label).increment(1);
        if let Err(error) = state.spawn(myself.get_cell(), child).await {
            tracing::error!(%what, %error, "actor could not be restarted; leaving it stopped");
            state.give_up(
                label,
                format!("the {what} actor could not be restarted: {error}"),
            );
        }
        Ok(())
    }
}

impl Child {
    fn new(kind: ChildKind) -> Child {
        Child {
            kind,
            restarts: RestartBudget::default(),
        }
    }
}

impl SupervisorState {
    /// A child is down for good: the engine turns unhealthy and says which.
    fn give_up(&self, label: &'static str, reason: String) {
        metrics::counter!("flit_actor_gave_up_total", "actor" => label).increment(1);
        self.health.gave_up(reason);
    }

    async fn spawn(&mut self, supervisor: ActorCell, child: Child) -> Result<(), String> {
        let id = match &child.kind {
            ChildKind::Tenant {
                tenant,
                shared,
                slot,
            } => {
                let args = TenantArgs {
                    tenant: *tenant,
                    store: self.store.clone(),
                    shared: shared.clone(),
                };
                let (actor, _) = Actor::spawn_linked(None, TenantActor, args, supervisor)
                    .await
                    .map_err(|error| error.to_string())?;
                slot.set(Some(actor.clone()));
                actor.get_id()
            }
            ChildKind::Router(shared) => {
                let (actor, _) = Actor::spawn_linked(None, RouterActor, shared.clone(), supervisor)
                    .await
                    .map_err(|error| error.to_string())?;
                shared.router.set(Some(actor.clone()));
                // Pushes made while no router was published found no one to kick.
                shared.kick_router();
                actor.get_id()
            }
            ChildKind::Status(shared) => {
                let (actor, _) = Actor::spawn_linked(None, StatusActor, shared.clone(), supervisor)
                    .await
                    .map_err(|error| error.to_string())?;
                shared.status.set(Some(actor.clone()));
                actor.get_id()
            }
            ChildKind::Bind(shared, bind) => {
                let args = BindArgs {
                    shared: shared.clone(),
                    bind: bind.clone(),
                };
                let (actor, _) = Actor::spawn_linked(None, BindActor, args, supervisor)
                    .await
                    .map_err(|error| error.to_string())?;
                bind.actor.set(Some(actor.clone()));
                actor.get_id()
            }
        };
        self.children.insert(id, child);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_restarts_a_minute_pass_and_the_eleventh_failure_does_not() {
        let mut budget = RestartBudget::default();
        for _ in 0..MAX_RESTARTS_PER_MINUTE {
            assert_eq!(budget.admit(), Ok(()));
            tokio::time::advance(Duration::from_secs(5)).await;
        }
        // 50 s after the first restart: still inside its minute.
        assert_eq!(budget.admit(), Err(11));
        // A refused failure is not counted: the next is the eleventh again.
        assert_eq!(budget.admit(), Err(11));
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_older_than_a_minute_stop_counting() {
        let mut budget = RestartBudget::default();
        for _ in 0..MAX_RESTARTS_PER_MINUTE {
            assert_eq!(budget.admit(), Ok(()));
        }
        tokio::time::advance(RESTART_WINDOW - Duration::from_millis(1)).await;
        assert_eq!(
            budget.admit(),
            Err(11),
            "one millisecond short of the minute"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        // The first ten aged out together: a whole new budget.
        for _ in 0..MAX_RESTARTS_PER_MINUTE {
            assert_eq!(budget.admit(), Ok(()));
        }
        assert_eq!(budget.admit(), Err(11));
    }
}
