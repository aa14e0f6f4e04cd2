//! The router: picks a bind for each job and hands it to that bind's queue.
//!
//! Route choice (SPEC §10): among routes whose prefix starts the destination, the longest
//! prefix wins, then the highest priority; within a route, binds are chosen by weight among
//! those that are bound. A route whose binds are all down gives way to the next best route. With
//! no usable route, a job waits (and is retried) rather than failing: carriers come back.
//!
//! Restart policy: restarted by the root supervisor at once; its work is in `DispatchShared`'s
//! ready queue, so a crash loses at most the job in hand (which storage still holds PENDING).

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use std::sync::Arc;

use super::{DispatchShared, Job};
use crate::channel::Submit;
use crate::ids::BindId;
use crate::store::records::{DeviceRoute, RouteRecord};
use crate::supervisor::ChildSpec;
use futures::future::BoxFuture;

pub enum RouterMsg {
    /// The ready queue has jobs.
    Kick,
}

pub struct RouterActor;

/// How the supervisor starts (and restarts) the router.
pub(crate) struct RouterChild(pub Arc<DispatchShared>);

impl ChildSpec for RouterChild {
    fn describe(&self) -> String {
        "router".to_string()
    }

    fn label(&self) -> &'static str {
        "router"
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, String>> {
        Box::pin(async move {
            let shared = &self.0;
            let cell = shared
                .router
                .start(RouterActor, shared.clone(), supervisor)
                .await?;
            // Pushes made while no router was published found no one to kick.
            shared.kick_router();
            Ok(cell)
        })
    }

    fn vacate(&self) {
        self.0.router.set(None);
    }
}

pub struct RouterState {
    shared: Arc<DispatchShared>,
    /// Drives weighted choice deterministically (no RNG in the hot loop).
    turn: u64,
}

impl Actor for RouterActor {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = Arc<DispatchShared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        shared: Arc<DispatchShared>,
    ) -> Result<RouterState, ActorProcessingErr> {
        Ok(RouterState { shared, turn: 0 })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        // Whatever was queued while no router ran.
        state.drain();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<RouterMsg>,
        message: RouterMsg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RouterMsg::Kick => state.drain(),
        }
        Ok(())
    }
}

impl RouterState {
    fn drain(&mut self) {
        self.shared.ready.clear_kick();
        let routes = self
            .shared
            .routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let now = self.shared.clock.now_millis();
        while let Some(job) = self.shared.ready.pop() {
            self.turn = self.turn.wrapping_add(1);
            if self.shared.withdrawn.drops(&job) {
                continue;
            }
            if job.validity_until().is_some_and(|until| now >= until) {
                self.shared.report(super::StatusEvent::Expired { job });
                continue;
            }
            if let Some(job) = self.give_back(job) {
                match self.choose(&routes, &job) {
                    Some(bind) => {
                        let submit = self.submit_for(&job);
                        bind.jobs
                            .insert(submit.id, crate::dispatch::bind::InFlight::new(job));
                        bind.queue.push(submit);
                    }
                    None => self.shared.parked.push(job),
                }
            }
        }
    }

    fn submit_for(&self, job: &Job) -> Submit {
        Submit {
            id: self.shared.next_submit_id(),
            source: job.sender().to_string(),
            destination: job.msisdn.to_string(),
            text: job.text().to_string(),
            registered_delivery: true,
            recipient: Some((job.message(), job.index)),
            valid_until: job.validity_until(),
            sim: job.message.device.and_then(|route| route.sim),
        }
    }

    /// A job its channel took in an earlier run goes back to that channel, straight into
    /// what the channel holds rather than its queue; `None` once it has. Any other job comes
    /// back to be routed.
    fn give_back(&self, job: Job) -> Option<Job> {
        if self.shared.pinned.is_empty() {
            return Some(job);
        }
        let Some((_, bind)) = self.shared.pinned.remove(&(job.message(), job.index)) else {
            return Some(job);
        };
        let bind = self.shared.binds.get(&bind).map(|bind| bind.clone());
        let Some(link) = bind.as_ref().and_then(|bind| bind.kind.device()) else {
            return Some(job);
        };
        let submit = self.submit_for(&job);
        if let Some(bind) = &bind {
            bind.jobs
                .insert(submit.id, crate::dispatch::bind::InFlight::new(job));
        }
        link.adopt(submit);
        None
    }

    /// The bind for `job`, or `None` when no bind that could take it is up.
    fn choose(&self, routes: &[RouteRecord], job: &Job) -> Option<Arc<super::BindShared>> {
        if let Some(route) = job.message.device {
            let phone = self.choose_phone(job, route);
            // No phone of the tenant is online: its carriers take it where it said so.
            if phone.is_some() || !route.failover {
                return phone;
            }
        }
        let destination = job.msisdn.to_string();
        let usable = |id: &BindId| {
            self.shared
                .binds
                .get(id)
                .map(|bind| bind.clone())
                .filter(|bind| bind.accepts_work())
        };
        if routes.is_empty() {
            // No routing table: any bound bind; the sandbox simulator only while it is the
            // only bind there is.
            let sandbox = self.shared.is_sandbox();
            let binds: Vec<Arc<super::BindShared>> = self
                .shared
                .binds
                .iter()
                .map(|bind| bind.clone())
                .filter(|bind| sandbox || !DispatchShared::is_sandbox_bind(bind.id))
                .filter(|bind| bind.kind.device().is_none())
                .filter(|bind| bind.accepts_work())
                .collect();
            let preferred: Vec<&Arc<super::BindShared>> =
                binds.iter().filter(|bind| !job.avoids(bind.id)).collect();
            let pool = if preferred.is_empty() {
                binds.iter().collect()
            } else {
                preferred
            };
            if pool.is_empty() {
                return None;
            }
            return Some(pool[(self.turn % pool.len() as u64) as usize].clone());
        }
        for route in rank_routes(routes, &destination) {
            let candidates: Vec<(Arc<super::BindShared>, u32)> = route
                .binds
                .iter()
                .enumerate()
                .filter_map(|(i, id)| {
                    let weight = route.weights.get(i).copied().unwrap_or(1);
                    usable(id).map(|bind| (bind, weight))
                })
                .filter(|(_, weight)| *weight > 0)
                .collect();
            let preferred: Vec<&(Arc<super::BindShared>, u32)> = candidates
                .iter()
                .filter(|(bind, _)| !job.avoids(bind.id))
                .collect();
            let pool = if preferred.is_empty() {
                candidates.iter().collect()
            } else {
                preferred
            };
            if let Some(bind) = pick_weighted(&pool, self.turn) {
                return Some(bind);
            }
        }
        None
    }
}

impl RouterState {
    /// The phone for a job that goes through the tenant's phones: the one it names, or the
    /// online phone of its tenant with no stuck messages and the least work (a phone that
    /// failed its last attempt only if no other is there).
    fn choose_phone(&self, job: &Job, route: DeviceRoute) -> Option<Arc<super::BindShared>> {
        let phones: Vec<Arc<super::BindShared>> = self
            .shared
            .binds
            .iter()
            .filter(|bind| {
                bind.kind.device().is_some_and(|link| {
                    link.tenant == job.tenant()
                        && route.device.is_none_or(|device| link.device == device)
                })
            })
            .filter(|bind| bind.accepts_work())
            .map(|bind| bind.clone())
            .collect();
        // Healthy first (a phone sitting on messages it took may be out of credit or
        // blocked), then by the work it has plus what it took in the last minute: phones
        // that finish quickly still share the work, and none runs into its per-minute limit
        // first.
        let minute_ago = self.shared.clock.now_millis() - 60_000;
        let load = |bind: &Arc<super::BindShared>| {
            bind.kind.device().map_or((false, 0), |link| {
                (
                    link.stuck() > 0,
                    link.load() + link.handed_since(minute_ago),
                )
            })
        };
        phones
            .iter()
            .filter(|bind| !job.avoids(bind.id))
            .min_by_key(|bind| load(bind))
            .or_else(|| phones.iter().min_by_key(|bind| load(bind)))
            .cloned()
    }
}

/// Routes that match `destination`, best first: longest prefix, then highest priority.
pub fn rank_routes<'a>(routes: &'a [RouteRecord], destination: &str) -> Vec<&'a RouteRecord> {
    let mut matching: Vec<&RouteRecord> = routes
        .iter()
        .filter(|route| destination.starts_with(route.prefix.as_str()))
        .collect();
    matching.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(b.priority.cmp(&a.priority))
    });
    matching
}

/// Weighted round robin: `turn` walks the cumulative weights.
fn pick_weighted(
    pool: &[&(Arc<super::BindShared>, u32)],
    turn: u64,
) -> Option<Arc<super::BindShared>> {
    let total: u64 = pool.iter().map(|(_, weight)| u64::from(*weight)).sum();
    if total == 0 {
        return None;
    }
    let mut point = turn % total;
    for (bind, weight) in pool {
        if point < u64::from(*weight) {
            return Some(bind.clone());
        }
        point -= u64::from(*weight);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RouteId;

    fn route(prefix: &str, priority: i32) -> RouteRecord {
        RouteRecord {
            id: RouteId::new(),
            prefix: prefix.to_string(),
            binds: Vec::new(),
            priority,
            weights: Vec::new(),
        }
    }

    #[test]
    fn longest_prefix_then_priority() {
        let routes = vec![
            route("", 0),
            route("233", 1),
            route("23320", 0),
            route("23320", 5),
            route("44", 9),
        ];
        let ranked: Vec<(&str, i32)> = rank_routes(&routes, "233201234567")
            .iter()
            .map(|r| (r.prefix.as_str(), r.priority))
            .collect();
        assert_eq!(ranked, [("23320", 5), ("23320", 0), ("233", 1), ("", 0)]);
        assert!(rank_routes(&routes[1..], "14155552671").is_empty());
    }
}
