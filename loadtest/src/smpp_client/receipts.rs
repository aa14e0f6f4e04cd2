//! The run's ledger of accepted message ids and the receipts that name them. A receipt may
//! come on any bind of the account, and before the `submit_sm_resp` that gives its id (the
//! server's answer and its receipt race), so the ledger is shared by every bind, and a receipt
//! for an id not accepted yet is held until the end of the run in case its answer follows.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Receipt counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiptCounts {
    /// Receipt `deliver_sm`s received, duplicates and unknown ones included.
    pub received: u64,
    /// Accepted submits whose first receipt came.
    pub matched: u64,
    /// Accepted submits still without a receipt.
    pub missing: u64,
    /// Receipts for an id no accepted submit was given (or naming no id at all).
    pub unknown: u64,
    /// Receipts for an id whose receipt had already come.
    pub duplicates: u64,
    /// Accepted answers that repeated an id given before (its receipt is matched once).
    pub repeated_ids: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    /// Every accepted id, and whether its receipt came.
    accepted: HashMap<String, bool>,
    /// Receipts whose id no accepted answer had given when they came, by id.
    early: HashMap<String, u64>,
    counts: ReceiptCounts,
    /// When the last receipt was matched.
    last_match: Option<Instant>,
}

/// The shared ledger; see the module documentation.
#[derive(Debug, Default)]
pub struct Receipts {
    ledger: Mutex<Ledger>,
}

impl Receipts {
    /// Every critical section leaves the ledger consistent (counter bumps and map updates), so
    /// a panic elsewhere must not stop the other binds from counting.
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an accepted `submit_sm_resp`'s message id.
    pub fn accepted(&self, id: String) {
        let mut ledger = self.ledger();
        if ledger.accepted.contains_key(&id) {
            ledger.counts.repeated_ids += 1;
            return;
        }
        let early = ledger.early.remove(&id).unwrap_or(0);
        if early > 0 {
            // Its receipt overtook its answer: matched now, the extra ones were duplicates.
            ledger.counts.unknown -= early;
            ledger.counts.matched += 1;
            ledger.counts.duplicates += early - 1;
            ledger.last_match = Some(Instant::now());
        } else {
            ledger.counts.missing += 1;
        }
        ledger.accepted.insert(id, early > 0);
    }

    /// Records a receipt naming `id` (`None`: it named no id).
    pub fn receipt(&self, id: Option<String>) {
        let mut ledger = self.ledger();
        ledger.counts.received += 1;
        let Some(id) = id else {
            ledger.counts.unknown += 1;
            return;
        };
        match ledger.accepted.get_mut(&id) {
            Some(seen @ false) => {
                *seen = true;
                ledger.counts.matched += 1;
                ledger.counts.missing -= 1;
                ledger.last_match = Some(Instant::now());
            }
            Some(true) => ledger.counts.duplicates += 1,
            None => {
                *ledger.early.entry(id).or_default() += 1;
                ledger.counts.unknown += 1;
            }
        }
    }

    pub fn counts(&self) -> ReceiptCounts {
        self.ledger().counts
    }

    /// When the last receipt was matched, if one was.
    pub fn last_match(&self) -> Option<Instant> {
        self.ledger().last_match
    }

    /// Waits until no accepted submit misses its receipt, or `timeout` passes; whether none
    /// is missing. Call it once every submit has its answer, or it may return early.
    pub async fn wait_all_matched(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.counts().missing == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_match_accepted_ids_once() {
        let receipts = Receipts::default();
        receipts.accepted("a".into());
        receipts.accepted("b".into());
        receipts.receipt(Some("a".into()));
        receipts.receipt(Some("a".into()));
        receipts.receipt(Some("zz".into()));
        receipts.receipt(None);
        let counts = receipts.counts();
        assert_eq!(
            counts,
            ReceiptCounts {
                received: 4,
                matched: 1,
                missing: 1,
                unknown: 2,
                duplicates: 1,
                repeated_ids: 0,
            }
        );
    }

    #[test]
    fn a_receipt_before_its_answer_is_matched_when_the_answer_comes() {
        let receipts = Receipts::default();
        receipts.receipt(Some("x".into()));
        assert_eq!(receipts.counts().unknown, 1);
        receipts.accepted("x".into());
        receipts.accepted("x".into());
        let counts = receipts.counts();
        assert_eq!((counts.matched, counts.missing, counts.unknown), (1, 0, 0));
        assert_eq!(counts.repeated_ids, 1);
        assert!(receipts.last_match().is_some());
    }

    #[tokio::test]
    async fn waiting_ends_at_the_timeout_or_when_all_matched() {
        let receipts = Receipts::default();
        receipts.accepted("a".into());
        assert!(!receipts.wait_all_matched(Duration::from_millis(30)).await);
        receipts.receipt(Some("a".into()));
        assert!(receipts.wait_all_matched(Duration::ZERO).await);
    }
}
