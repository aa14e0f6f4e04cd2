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

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use tokio::time::Instant;

use futures::future::BoxFuture;

use crate::health::EngineHealth;

const MAX_RESTARTS_PER_MINUTE: usize = 10;
const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// A child the supervisor starts and restarts. Each concern says how its own actor starts
/// (`tenants`, `dispatch`, `channel`), so the supervisor knows no actor type and imports none
/// of them.
pub(crate) trait ChildSpec: Send + Sync + 'static {
    /// Names the child in logs and in the health reason ("router", "tenant ten_…").
    fn describe(&self) -> String;
    /// The `actor` label of the restart metrics: the kind only, so the label set stays small.
    fn label(&self) -> &'static str;
    /// Starts the actor linked to `supervisor` and publishes it where its users find it.
    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>>;
    /// Unpublishes the actor that just exited.
    fn vacate(&self);
    /// Whether this child is gone for good by the operator's choice (not restarted).
    fn retired(&self) -> bool {
        false
    }
}

pub enum SupervisorMsg {
    /// Start a child (and restart it whenever it exits, within the policy).
    Start(Arc<dyn ChildSpec>, RpcReplyPort<Result<(), String>>),
    /// The process is stopping: children that exit from now on are not restarted.
    ShuttingDown(RpcReplyPort<()>),
}

pub struct RootSupervisor;

pub struct SupervisorState {
    /// Where the supervisor records giving up on a child; the engine reads it.
    health: Arc<EngineHealth>,
    children: HashMap<ActorId, Child>,
    shutting_down: bool,
}

struct Child {
    spec: Arc<dyn ChildSpec>,
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

impl Actor for RootSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Arc<EngineHealth>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        health: Arc<EngineHealth>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            health,
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
            SupervisorMsg::Start(spec, reply) => {
                let child = Child {
                    spec,
                    restarts: RestartBudget::default(),
                };
                let _ = reply.send(state.spawn(cell, child).await);
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
        child.spec.vacate();
        let what = child.spec.describe();
        if state.shutting_down || child.spec.retired() {
            tracing::debug!(%what, %reason, "actor stopped");
            return Ok(());
        }
        let label = child.spec.label();
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

impl SupervisorState {
    /// A child is down for good: the engine turns unhealthy and says which.
    fn give_up(&self, label: &'static str, reason: String) {
        metrics::counter!("flit_actor_gave_up_total", "actor" => label).increment(1);
        self.health.gave_up(reason);
    }

    async fn spawn(&mut self, supervisor: ActorCell, child: Child) -> Result<(), String> {
        let actor = child.spec.spawn(supervisor).await?;
        self.children.insert(actor.get_id(), child);
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
