//! `flit-loadtest`: load generators and simulated peers for Flit.
//!
//! Each subcommand of the `flit-loadtest` binary is one module here, usable as a library so that
//! the tests of other crates can start the same peers in-process:
//!
//! - [`crash`]: the crash test: `flit serve` as a child process killed with SIGKILL again and
//!   again under load, restarted each time, then checked for lost, double-charged and
//!   duplicated messages and for ledgers that do not balance.
//! - [`devices`]: simulated phones running the SMS Gate app's private-server protocol
//!   (`/mobile/v1`): registration, the event stream, pulls, state reports, cancels, signed
//!   inbound webhooks, dropouts; counts every message pulled by two phones.
//! - [`devices_bench`]: phones as a channel, measured: messages/s through N simulated phones,
//!   a send's 2xx to its phone's `MessageEnqueued`, and the server's memory per connected phone.
//! - [`e2e`]: an end-to-end run against a live server: simulated SMSCs bound through the admin
//!   API, HTTP submit load, and a wait for every receipt, with a summary of what was seen.
//! - [`http`]: HTTP submit load (single or bulk, closed or open loop) with a progress bar, a
//!   summary of throughput, latency and status counts, and a PNG chart.
//! - [`smpp_client`]: an ESME that load-tests an SMPP 3.4 server: N transceiver binds with a
//!   window of submits each, latency, throttling and refusals, receipts matched to the ids
//!   the server gave.
//! - [`smsc`]: a simulated SMSC (SMPP 3.4 server) that acks submits, sends delivery receipts and
//!   injects faults.
//! - [`webhook`]: a webhook receiver that checks Flit's signatures, dedupes events by id, counts
//!   what it saw and injects failures and latency.

pub mod crash;
pub mod devices;
pub mod devices_bench;
pub mod e2e;
pub mod http;
pub mod plot;
pub mod smpp_client;
pub mod smsc;
pub mod webhook;
