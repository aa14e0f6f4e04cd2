//! Inbound concatenated messages: fragments are held, bounded in number and age, until every
//! part of their message is in, then decoded once as a whole.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::deliver::{Alphabet, Fragment};
use crate::channel::smpp::InboundSms;
use crate::text;

/// The text of a message's units (septets one per octet, or octets) in `alphabet`.
pub fn decode_units(alphabet: Alphabet, units: &[u8]) -> String {
    match alphabet {
        Alphabet::Gsm7 => text::gsm7_decode(units),
        Alphabet::Ucs2 => text::ucs2_decode(units),
        Alphabet::Latin1 => units.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Parts not completed within this time are dropped (the SMSC will not send them any more).
pub(super) const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on incomplete messages held, so a peer sending stray parts cannot grow memory.
const REASSEMBLY_MAX_PENDING: usize = 4096;

type ReassemblyKey = (String, String, u16, u8);

struct PendingMessage {
    alphabet: Alphabet,
    parts: Vec<Option<Vec<u8>>>,
    first_seen: Instant,
}

/// Holds parts of concatenated inbound messages until all have arrived. Parts are joined as
/// units (septets or octets) and decoded once, so an escape or a surrogate pair that a sender
/// split across parts still decodes.
#[derive(Default)]
pub struct Reassembler {
    pending: HashMap<ReassemblyKey, PendingMessage>,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages waiting for more parts (tests and fuzzing bound it).
    #[cfg(any(test, feature = "test-support"))]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The complete message, once this fragment completes one (at once for a single part).
    pub fn push(&mut self, fragment: Fragment, now: Instant) -> Option<InboundSms> {
        let Some((reference, total, seq)) = fragment.concat else {
            return Some(InboundSms {
                text: decode_units(fragment.alphabet, &fragment.units),
                source: fragment.source,
                destination: fragment.destination,
                parts: 1,
            });
        };
        self.pending
            .retain(|_, p| now.saturating_duration_since(p.first_seen) < REASSEMBLY_TIMEOUT);
        let key = (
            fragment.source.clone(),
            fragment.destination.clone(),
            reference,
            total,
        );
        if !self.pending.contains_key(&key)
            && self.pending.len() >= REASSEMBLY_MAX_PENDING
            && let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.first_seen)
                .map(|(k, _)| k.clone())
        {
            self.pending.remove(&oldest);
        }
        let entry = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| PendingMessage {
                alphabet: fragment.alphabet,
                parts: vec![None; usize::from(total)],
                first_seen: now,
            });
        // A repeated part (the SMSC resending after a lost deliver_sm_resp) overwrites itself.
        entry.parts[usize::from(seq - 1)] = Some(fragment.units);
        if entry.parts.iter().any(Option::is_none) {
            return None;
        }
        let done = self.pending.remove(&key)?;
        let units: Vec<u8> = done.parts.into_iter().flatten().flatten().collect();
        Some(InboundSms {
            text: decode_units(done.alphabet, &units),
            source: fragment.source,
            destination: fragment.destination,
            parts: total,
        })
    }
}
