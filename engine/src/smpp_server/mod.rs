//! The SMPP server (SPEC §14): Flit as the SMSC of its customers' own software. A customer
//! binds with one of its tenant's SMPP accounts (`tenants/smpp_accounts.rs`), submits over the
//! same accept path as HTTP (`submit.rs`, with the parts of a concatenated message held on disk
//! in `parts.rs` until the last one makes the message), and gets its receipts and the tenant's
//! inbound SMS back as `deliver_sm` from the account's outbox, which `deliver.rs` hands to its
//! receiver binds; `notify/smpp.rs` writes that outbox. `session.rs` is one connection; `pdu.rs`
//! the server's side of the codec; `receipt.rs` what a held `deliver_sm` says.
//!
//! It is an entry into the engine, as the HTTP API is, not a channel: the router never hands it
//! a job. It reuses the client's framing and coding (`channel/smpp/`). The API owns the listener
//! (and TLS) and hands each accepted connection to [`Engine::serve_smpp`].

mod deliver;
mod parts;
mod pdu;
mod receipt;
mod session;
mod submit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, watch};

use crate::channel::smpp::pdu::BindKind;
use crate::channel::smpp::session::TokenBucket;
use crate::engine::Engine;
use crate::ids::{SmppAccountId, TenantId};
use crate::store::records::{SmppAccountRecord, UnixMillis};
use crate::store::{Key, off_async, tables};
use deliver::DeliverRequest;
use flit_storage::Batch;
use parts::Parts;
use std::ops::Bound;

/// The server's timers.
#[derive(Clone, Debug)]
pub struct SmppServerSettings {
    /// A connection that has not bound within this time is closed.
    pub bind_timeout: Duration,
    /// Silence from the customer after which the server sends an enquire_link.
    pub enquire_link: Duration,
    /// How long a `deliver_sm`, an enquire_link or an unbind may wait for its response; a
    /// customer that leaves an enquire_link unanswered this long is dropped.
    pub response_timeout: Duration,
    /// A held `deliver_sm` the customer refused or left unanswered is offered again after this.
    pub retry: Duration,
    /// Parts of a concatenated submit whose message is not complete within this time are
    /// given up.
    pub parts_timeout: Duration,
    /// A receipt or inbound SMS no receiver of its account took within this time is given
    /// up, and a message whose receipt was asked for and never came is told UNKNOWN.
    pub held_for: Duration,
}

impl Default for SmppServerSettings {
    fn default() -> Self {
        SmppServerSettings {
            bind_timeout: Duration::from_secs(30),
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            retry: Duration::from_secs(5),
            parts_timeout: Duration::from_secs(600),
            held_for: Duration::from_secs(72 * 3600),
        }
    }
}

/// A live bind of an SMPP account, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmppBindSnapshot {
    pub session: u64,
    /// `transmitter`, `receiver` or `transceiver`.
    pub mode: &'static str,
    pub peer: SocketAddr,
    pub bound_at: UnixMillis,
}

/// What the server shares between its sessions and the deliveries of the accounts' outboxes.
#[derive(Default)]
pub(crate) struct ServerShared {
    accounts: DashMap<SmppAccountId, AccountLive>,
    /// Concatenated submits waiting for their parts, per account (read from disk on first use).
    parts: DashMap<SmppAccountId, Arc<tokio::sync::Mutex<Parts>>>,
    next_session: AtomicU64,
    /// Set once the server is closing: sessions unbind and end.
    closing: watch::Sender<bool>,
}

/// The live binds of one account and what they share.
struct AccountLive {
    system_id: String,
    binds: Vec<LiveBind>,
    /// Submits per second over all of the account's binds.
    bucket: Arc<std::sync::Mutex<TokenBucket>>,
    /// Whether the delivery of the account's outbox runs (it ends once no receiver is bound).
    delivering: bool,
}

#[derive(Clone)]
struct LiveBind {
    session: u64,
    kind: BindKind,
    peer: SocketAddr,
    bound_at: UnixMillis,
    /// `deliver_sm` for this bind to send (receivers and transceivers only).
    deliver: Option<mpsc::Sender<DeliverRequest>>,
    /// Ends the session (its account was deleted).
    close: Arc<Notify>,
}

impl ServerShared {
    /// Registers a bound session, unless the account already has `max_binds`.
    fn register(&self, account: &SmppAccountRecord, bind: LiveBind) -> Result<bool, ()> {
        let mut live = self
            .accounts
            .entry(account.id)
            .or_insert_with(|| AccountLive {
                system_id: account.system_id.clone(),
                binds: Vec::new(),
                bucket: Arc::default(),
                delivering: false,
            });
        if live.binds.len() >= account.max_binds as usize {
            return Err(());
        }
        let receives = bind.deliver.is_some();
        live.binds.push(bind);
        let start_delivery = receives && !live.delivering;
        if start_delivery {
            live.delivering = true;
        }
        metrics::gauge!("flit_smpp_server_binds", "account" => account.system_id.clone())
            .set(live.binds.len() as f64);
        Ok(start_delivery)
    }

    fn unregister(&self, account: &SmppAccountRecord, session: u64) {
        if let Some(mut live) = self.accounts.get_mut(&account.id) {
            live.binds.retain(|bind| bind.session != session);
            metrics::gauge!("flit_smpp_server_binds", "account" => account.system_id.clone())
                .set(live.binds.len() as f64);
        }
    }

    /// The account's binds that take `deliver_sm`, and whether any is left. When none is, the
    /// delivery is marked stopped in the same step, so a receiver binding next starts a new one.
    fn receivers(&self, account: SmppAccountId) -> Vec<mpsc::Sender<DeliverRequest>> {
        let Some(mut live) = self.accounts.get_mut(&account) else {
            return Vec::new();
        };
        let receivers: Vec<_> = live
            .binds
            .iter()
            .filter_map(|bind| bind.deliver.clone())
            .collect();
        if receivers.is_empty() {
            live.delivering = false;
        }
        receivers
    }

    fn bucket(&self, account: SmppAccountId) -> Option<Arc<std::sync::Mutex<TokenBucket>>> {
        self.accounts.get(&account).map(|live| live.bucket.clone())
    }

    fn snapshot(&self, account: SmppAccountId) -> Vec<SmppBindSnapshot> {
        let mut binds: Vec<SmppBindSnapshot> = self
            .accounts
            .get(&account)
            .map(|live| {
                live.binds
                    .iter()
                    .map(|bind| SmppBindSnapshot {
                        session: bind.session,
                        mode: mode_name(bind.kind),
                        peer: bind.peer,
                        bound_at: bind.bound_at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        binds.sort_by_key(|bind| bind.session);
        binds
    }

    /// Ends every session of `account` (it was deleted).
    fn close_account(&self, account: SmppAccountId) {
        if let Some((_, live)) = self.accounts.remove(&account) {
            metrics::gauge!("flit_smpp_server_binds", "account" => live.system_id).set(0.0);
            for bind in live.binds {
                bind.close.notify_one();
            }
        }
        self.parts.remove(&account);
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn mode_name(kind: BindKind) -> &'static str {
    match kind {
        BindKind::Transmitter => "transmitter",
        BindKind::Receiver => "receiver",
        BindKind::Transceiver => "transceiver",
    }
}

impl Engine {
    /// Serves one customer connection (TCP, or TLS the API terminated) until it ends: bind,
    /// submits, receipts. Spawn it; it returns when the session is over.
    pub async fn serve_smpp<S>(&self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.smpp_server().clone();
        let session = shared.next_session.fetch_add(1, Ordering::Relaxed) + 1;
        session::Session::new(self.clone(), shared, session, peer)
            .run(stream)
            .await;
    }

    /// Tells every SMPP session to unbind and end (the server is stopping). Sessions answer
    /// the submits they hold first.
    pub fn close_smpp_sessions(&self) {
        self.smpp_server().closing.send_replace(true);
    }

    /// The live binds of one of the tenant's SMPP accounts.
    pub fn smpp_binds(&self, account: SmppAccountId) -> Vec<SmppBindSnapshot> {
        self.smpp_server().snapshot(account)
    }

    /// Forgets a deleted account: its binds are closed, its outbox and its waiting parts
    /// deleted (the account record is already gone, so nothing new reaches them).
    pub(crate) async fn forget_smpp_account(
        &self,
        tenant: TenantId,
        account: SmppAccountId,
    ) -> Result<(), crate::error::EngineError> {
        // Nothing new is written for it from here on, then its binds close, then what it
        // held goes.
        self.notify().smpp.account_removed(tenant, account);
        self.smpp_server().close_account(account);
        let held = tables::SMPP_OUTBOX.clear(self.store(), &account).await?;
        tables::SMPP_PARTS.clear(self.store(), &account).await?;
        self.notify().smpp.delivered(held as usize);
        Ok(())
    }

    /// Gives up what waited too long: held `deliver_sm` older than `held_for`, receipts asked
    /// for that never came within it (told UNKNOWN), and parts of concatenated submits older
    /// than `parts_timeout`. The API calls it now and then while the SMPP server runs.
    pub async fn expire_smpp_held(&self) -> Result<(), crate::error::EngineError> {
        let settings = &self.config().smpp_server;
        let now = self.clock().now_millis();
        let held_cutoff = now.saturating_sub(millis(settings.held_for));
        let mut kicks = crate::notify::Kicks::default();
        let mut batch = Batch::new();
        self.notify()
            .smpp
            .expire_origins(&mut batch, held_cutoff, now, &mut kicks.smpp);
        if !batch.is_empty() {
            self.store().commit(batch).await?;
            self.notify().kick(kicks);
        }
        for account in self.notify().smpp.all_accounts() {
            // Held ids are time-sortable: everything held before the cutoff is one key range.
            let start = account.encode();
            let mut end = start.clone();
            end.extend_from_slice(&((held_cutoff.max(0) as u128) << 80).to_be_bytes());
            let mut scan = tables::SMPP_OUTBOX.range(Bound::Included(start), Bound::Excluded(end));
            scan.limit = 1_000;
            loop {
                let page = scan.clone();
                let expired = off_async(self.store(), move |store| {
                    tables::SMPP_OUTBOX.read(store, &page)
                })
                .await?;
                if expired.is_empty() {
                    break;
                }
                let mut batch = Batch::with_capacity(expired.len());
                for held in &expired {
                    tables::SMPP_OUTBOX.delete(&mut batch, &(account, held.id));
                }
                self.store().commit(batch).await?;
                self.notify().smpp.delivered(expired.len());
                metrics::counter!("flit_smpp_server_delivered_total", "kind" => "any", "result" => "expired")
                    .increment(expired.len() as u64);
            }
        }
        let parts_cutoff = now.saturating_sub(millis(settings.parts_timeout));
        tables::SMPP_PARTS
            .remove_where(self.store(), &(), move |part| {
                part.received_at < parts_cutoff
            })
            .await?;
        for parts in self.smpp_server().parts.iter() {
            parts.value().lock().await.forget_older(parts_cutoff);
        }
        Ok(())
    }
}
