//! A simulated SMSC: an SMPP 3.4 server that Flit's tests and benchmarks bind to. It acks
//! `submit_sm` with fresh message ids, sends delivery receipts after a delay (queued while no
//! receiver of the system_id is bound), sends mobile-originated messages on request, and injects
//! faults: latency, throttling (also in storms), dropped connections, garbage bytes, malformed
//! responses, `generic_nack` answers, receipts for ids it never gave, silence and restarts.
//!
//! PDUs are encoded and decoded by `rusmpp` only. `server` owns the shared state and the accept
//! loop, `session` one connection, `received` what tests assert on, `text` receipt text and
//! GSM 7-bit handling, `cli` the `flit-loadtest smsc` subcommand.

pub mod cli;
mod config;
mod received;
mod server;
mod session;
mod stats;
mod text;

pub use config::{IdFormat, SmscConfig, ThrottleStorm};
pub use received::{Concat, ConcatKind, ReceivedSms, SessionId, SubmitOutcome};
pub use server::{SmscHandle, start};
pub use stats::SmscStats;
pub use text::{EncodedPart, decode_gsm7_unpacked, decode_user_data, encode_and_split};
