//! HTTP tests: the real `flit` server on a random loopback port, spoken to over TCP, where a
//! socket is part of what is tested, and the same router called in process everywhere else
//! (`common` says which is which).

mod abuse;
mod admin;
mod admin_cli;
mod auth;
mod backlog;
mod bad_input;
mod browser;
mod cancel;
mod carrier;
mod cli;
mod common;
mod console;
mod console_operator;
mod console_pages;
mod contacts;
mod credits;
mod devices;
mod faults;
mod flowstates;
mod health;
mod limits;
mod logs;
mod native;
mod offboarding;
mod openapi;
mod personalised;
mod phone_lifecycle;
mod phones;
mod private;
mod readme;
mod restart;
mod schema;
mod seed_flixy;
mod smpp_accounts;
mod smpp_clients;
mod smpp_node;
mod smpp_server;
mod smpp_sim;
mod templates;
mod tls;
mod users;
mod webhooks;
