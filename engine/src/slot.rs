//! `ActorSlot`: where the current incarnation of a supervised actor is published. The
//! supervisor swaps it on every restart; everyone else reads it and never holds an actor
//! reference across a restart. A leaf module, so that the supervisor and the actors it starts
//! need not import each other.

use ractor::{Actor, ActorCell, ActorRef};

/// Where the current incarnation of a singleton actor is published (swapped on restart).
pub struct ActorSlot<M: ractor::Message> {
    actor: std::sync::RwLock<Option<ActorRef<M>>>,
}

impl<M: ractor::Message> Default for ActorSlot<M> {
    fn default() -> Self {
        ActorSlot {
            actor: std::sync::RwLock::new(None),
        }
    }
}

impl<M: ractor::Message> ActorSlot<M> {
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.actor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
    /// Starts `actor` linked to `supervisor` and publishes it here: what every supervised
    /// child does to start.
    pub async fn start<A: Actor<Msg = M>>(
        &self,
        actor: A,
        args: A::Arguments,
        supervisor: ActorCell,
    ) -> Result<ActorCell, String> {
        let (actor, _) = Actor::spawn_linked(None, actor, args, supervisor)
            .await
            .map_err(|error| error.to_string())?;
        self.set(Some(actor.clone()));
        Ok(actor.get_cell())
    }

    pub fn set(&self, actor: Option<ActorRef<M>>) {
        *self
            .actor
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = actor;
    }
}
