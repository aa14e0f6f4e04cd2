//! `ActorSlot`: where the current incarnation of a supervised actor is published. The
//! supervisor swaps it on every restart; everyone else reads it and never holds an actor
//! reference across a restart. A leaf module, so that the supervisor and the actors it starts
//! need not import each other.

use ractor::ActorRef;

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
    pub fn set(&self, actor: Option<ActorRef<M>>) {
        *self
            .actor
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = actor;
    }
}
