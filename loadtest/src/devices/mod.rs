//! Simulated phones speaking the SMS Gate app's private-server protocol (`PROTOCOL.md` in this
//! folder is the contract, read from the app's source). So far the app's wire format (`wire`)
//! and its SSE framing (`sse`).

pub mod sse;
pub mod wire;
