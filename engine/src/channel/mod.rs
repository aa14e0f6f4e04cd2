//! Channels: what the router hands jobs to. Each bind is one channel actor running a session:
//! an SMPP client (`smpp`) or the sandbox simulator (`sandbox`).

pub mod bind;
pub mod sandbox;
pub mod smpp;
