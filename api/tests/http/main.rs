//! HTTP tests: the real `flit` server on a random loopback port, spoken to over TCP.

mod admin;
mod auth;
mod bad_input;
mod common;
mod contacts;
mod credits;
mod native;
mod openapi;
mod personalised;
mod restart;
mod smpp_node;
mod smpp_sim;
mod templates;
