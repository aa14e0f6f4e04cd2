//! The work queue of a bind. It lives outside the session (shared by `Arc`) so a session that
//! dies or restarts loses nothing that was queued, and several sessions may drain one queue.
//! Whoever fills it may take work back after queueing it (a cancel): it says so through a
//! [`Withdrawn`] check the queue runs as each submit is taken, so no session sees that work.

use crossbeam::queue::SegQueue;
use tokio::sync::Notify;

use super::Submit;

/// Says whether a queued submit was withdrawn by whoever queued it; the queue then drops it.
pub type Withdrawn = Box<dyn Fn(&Submit) -> bool + Send + Sync>;

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
    /// Run on each submit as it is taken: work withdrawn since it was queued is skipped.
    withdrawn: Option<Withdrawn>,
}

impl SubmitQueue {
    /// A queue whose `pop` skips the submits `withdrawn` names.
    pub fn with_withdrawals(withdrawn: Withdrawn) -> Self {
        SubmitQueue {
            withdrawn: Some(withdrawn),
            ..Self::default()
        }
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
        let submit = loop {
            let submit = self.retry.pop().or_else(|| self.fresh.pop())?;
            if !self
                .withdrawn
                .as_ref()
                .is_some_and(|withdrawn| withdrawn(&submit))
            {
                break submit;
            }
        };
        if !self.is_empty() {
            // Pass the wake-up on, so a second session waiting on this queue gets to work.
            self.ready.notify_one();
        }
        Some(submit)
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
            recipient: None,
            valid_until: None,
            sim: None,
        }
    }

    #[tokio::test]
    async fn requeued_work_comes_first_and_pushes_wake() {
        let queue = SubmitQueue::default();
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

    #[test]
    fn withdrawn_work_is_skipped_when_taken() {
        let queue = SubmitQueue::with_withdrawals(Box::new(|submit| submit.id % 2 == 0));
        for id in 1..=5 {
            queue.push(submit(id));
        }
        queue.requeue(submit(6));
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop()).map(|s| s.id).collect();
        assert_eq!(order, vec![1, 3, 5]);
        assert!(queue.is_empty());
    }
}
