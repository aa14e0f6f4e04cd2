//! The work queue of a bind. It lives outside the session (shared by `Arc`) so a session that
//! dies or restarts loses nothing that was queued, and several sessions may drain one queue.

use crossbeam::queue::SegQueue;
use tokio::sync::Notify;

use super::Submit;

/// Lock-free FIFO of [`Submit`]s with a wake-up for the session. Requeued work (taken but not
/// sent, e.g. at shutdown) goes to a retry queue that is drained first, which is as good as
/// pushing to the front without a lock.
#[derive(Default)]
pub struct SubmitQueue {
    fresh: SegQueue<Submit>,
    /// Work a session took but handed back; served before `fresh`.
    retry: SegQueue<Submit>,
    /// Wakes one idle session per push. `Notify` keeps a permit when nobody waits, so a push
    /// between a session's empty `pop` and its wait is not lost.
    ready: Notify,
}

impl SubmitQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, submit: Submit) {
        self.fresh.push(submit);
        self.ready.notify_one();
    }

    /// Puts work back ahead of everything pushed with [`SubmitQueue::push`].
    pub fn requeue(&self, submit: Submit) {
        self.retry.push(submit);
        self.ready.notify_one();
    }

    pub fn pop(&self) -> Option<Submit> {
        let submit = self.retry.pop().or_else(|| self.fresh.pop());
        if submit.is_some() && !self.is_empty() {
            // Pass the wake-up on, so a second session waiting on this queue gets to work.
            self.ready.notify_one();
        }
        submit
    }

    pub fn len(&self) -> usize {
        self.fresh.len() + self.retry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.retry.is_empty()
    }

    /// Resolves after a push (or at once if a push happened since the last wait).
    pub async fn notified(&self) {
        self.ready.notified().await;
    }
}

impl std::fmt::Debug for SubmitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmitQueue")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(id: u64) -> Submit {
        Submit {
            id,
            source: "Flit".into(),
            destination: "4477".into(),
            text: "x".into(),
            registered_delivery: false,
        }
    }

    #[tokio::test]
    async fn requeued_work_comes_first_and_pushes_wake() {
        let queue = SubmitQueue::new();
        queue.push(submit(1));
        queue.push(submit(2));
        queue.requeue(submit(3));
        assert_eq!(queue.len(), 3);
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop()).map(|s| s.id).collect();
        assert_eq!(order, vec![3, 1, 2]);
        assert!(queue.is_empty());
        queue.push(submit(4));
        tokio::time::timeout(std::time::Duration::from_secs(1), queue.notified())
            .await
            .expect("a stored permit");
    }
}
