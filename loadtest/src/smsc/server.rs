//! The SMSC's shared state, its accept loop and the handle callers hold.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use rusmpp::pdus::DeliverSm;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::udhs::concatenation::ConcatenatedShortMessage8Bit;
use rusmpp::values::{DataCoding, EsmClass, Npi, Ton};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::config::{IdFormat, SmscConfig};
use super::received::{ReceivedSms, SessionId};
use super::session::{Outbound, Session};
use super::stats::{Counters, SmscStats};
use super::text::encode_and_split;

/// Locks a mutex, carrying on through poisoning: every critical section here leaves the data
/// consistent (pushes and removals), so a panic elsewhere must not wedge the SMSC.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a `deliver_sm` is a receipt or a mobile-originated message (they count apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliverKind {
    Receipt,
    Inbound,
}

/// A `deliver_sm` on its way to a receiver.
#[derive(Debug, Clone)]
pub(crate) struct Deliver {
    /// Receivers of this system_id may take it; `None`: any receiver.
    pub system_id: Option<String>,
    /// The session to try first (the transceiver that submitted the message).
    pub preferred: Option<SessionId>,
    pub kind: DeliverKind,
    pub pdu: DeliverSm,
}

struct Receiver {
    system_id: String,
    tx: mpsc::UnboundedSender<Outbound>,
}

/// Which bound sessions can take a `deliver_sm`, and what waits for one to bind. One lock for
/// both so that a deliver is never queued while a receiver that could take it binds.
#[derive(Default)]
struct Router {
    receivers: HashMap<SessionId, Receiver>,
    pending: VecDeque<Deliver>,
}

impl Router {
    fn matches(deliver: &Deliver, system_id: &str) -> bool {
        deliver
            .system_id
            .as_deref()
            .is_none_or(|wanted| wanted == system_id)
    }

    fn pick(&self, deliver: &Deliver) -> Option<&Receiver> {
        deliver
            .preferred
            .and_then(|id| self.receivers.get(&id))
            .filter(|r| Self::matches(deliver, &r.system_id))
            .or_else(|| {
                self.receivers
                    .values()
                    .find(|r| Self::matches(deliver, &r.system_id))
            })
    }
}

/// State shared by the accept loop, every session and the handle.
pub(crate) struct Shared {
    /// Swapped whole by `set_config`; sessions take a cheap `Arc` snapshot per event.
    config: RwLock<Arc<SmscConfig>>,
    pub counters: Counters,
    received: Mutex<Vec<ReceivedSms>>,
    router: Mutex<Router>,
    /// Message ids: a per-start base (seconds since the epoch, shifted) plus a counter, so ids
    /// from two runs of the SMSC against one Flit do not collide.
    next_message_id: AtomicU64,
    /// 1-based ordinal of submits over the whole server, for the `*_every` faults.
    submit_ordinal: AtomicU64,
    next_session: AtomicU64,
    /// Concatenation reference for mobile-originated messages.
    next_inbound_ref: AtomicU8,
    /// Bumped by `disconnect_all` and by restarts; every session watches it.
    kick: watch::Sender<u64>,
    /// Asks the accept loop to restart (the `restart_every` fault, `SmscHandle::restart`).
    restart: Notify,
}

impl Shared {
    pub fn config(&self) -> Arc<SmscConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn next_submit_ordinal(&self) -> u64 {
        self.submit_ordinal.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn next_message_id(&self) -> u64 {
        self.next_message_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn record(&self, config: &SmscConfig, sms: ReceivedSms) {
        if config.record_received {
            lock(&self.received).push(sms);
        }
    }

    /// Asks the accept loop to restart: drop every session, close the listener for
    /// `restart_downtime`, listen again on the same address.
    pub fn request_restart(&self) {
        self.restart.notify_one();
    }

    pub fn subscribe_kick(&self) -> watch::Receiver<u64> {
        self.kick.subscribe()
    }

    /// Sends a deliver to a receiver that can take it, or queues it until one binds.
    pub fn route(&self, deliver: Deliver) {
        let mut router = lock(&self.router);
        let deliver = match router.pick(&deliver) {
            Some(receiver) => match receiver.tx.send(Outbound::Deliver(deliver)) {
                Ok(()) => return,
                // The session is ending and will deregister; keep the deliver for the next one.
                Err(mpsc::error::SendError(Outbound::Deliver(deliver))) => deliver,
                Err(_) => return,
            },
            None => deliver,
        };
        router.pending.push_back(deliver);
    }

    /// Puts delivers back in the queue (a session ended before they were acknowledged).
    pub fn requeue(&self, delivers: impl IntoIterator<Item = Deliver>) {
        let mut router = lock(&self.router);
        for deliver in delivers {
            let deliver = match router.pick(&deliver) {
                Some(receiver) => match receiver.tx.send(Outbound::Deliver(deliver)) {
                    Ok(()) => continue,
                    Err(mpsc::error::SendError(Outbound::Deliver(deliver))) => deliver,
                    Err(_) => continue,
                },
                None => deliver,
            };
            router.pending.push_back(deliver);
        }
    }

    /// Makes a bound receiver reachable and hands it what waited for its system_id.
    pub fn register_receiver(
        &self,
        session: SessionId,
        system_id: &str,
        tx: mpsc::UnboundedSender<Outbound>,
    ) {
        let mut router = lock(&self.router);
        let waiting = std::mem::take(&mut router.pending);
        for deliver in waiting {
            if Router::matches(&deliver, system_id) {
                if let Err(mpsc::error::SendError(Outbound::Deliver(deliver))) =
                    tx.send(Outbound::Deliver(deliver))
                {
                    router.pending.push_back(deliver);
                }
            } else {
                router.pending.push_back(deliver);
            }
        }
        router.receivers.insert(
            session,
            Receiver {
                system_id: system_id.to_owned(),
                tx,
            },
        );
    }

    pub fn unregister_receiver(&self, session: SessionId) {
        lock(&self.router).receivers.remove(&session);
    }

    fn pending_len(&self) -> u64 {
        u64::try_from(lock(&self.router).pending.len()).unwrap_or(u64::MAX)
    }
}

/// Formats a numeric message id for `submit_sm_resp` and the receipt TLV.
pub(crate) fn format_resp_id(format: IdFormat, id: u64) -> String {
    match format {
        IdFormat::Hex | IdFormat::HexRespDecimalReceipt => format!("{id:x}"),
        IdFormat::Decimal => id.to_string(),
    }
}

/// Formats a numeric message id for the receipt text's `id:` field.
pub(crate) fn format_receipt_text_id(format: IdFormat, id: u64) -> String {
    match format {
        IdFormat::Hex => format!("{id:x}"),
        IdFormat::Decimal | IdFormat::HexRespDecimalReceipt => id.to_string(),
    }
}

/// A running simulated SMSC. Dropping it stops accepting and closes every session; `stop`
/// does the same and waits for them.
pub struct SmscHandle {
    /// The address the SMSC listens on (the real port when `listen` had port 0).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    accept_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SmscHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Binds `config.listen` and starts serving SMPP sessions.
pub async fn start(config: SmscConfig) -> anyhow::Result<SmscHandle> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the SMSC to {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the SMSC's local address")?;
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs())
        << 16;
    let shared = Arc::new(Shared {
        config: RwLock::new(Arc::new(config)),
        counters: Counters::default(),
        received: Mutex::new(Vec::new()),
        router: Mutex::new(Router::default()),
        next_message_id: AtomicU64::new(base),
        submit_ordinal: AtomicU64::new(0),
        next_session: AtomicU64::new(1),
        next_inbound_ref: AtomicU8::new(rand::random()),
        kick: watch::Sender::new(0),
        restart: Notify::new(),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_rx));
    Ok(SmscHandle {
        addr,
        shared,
        shutdown,
        accept_task: Some(accept_task),
    })
}

async fn accept_loop(
    mut listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            // Err: the handle was dropped, which also means stop.
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            () = shared.restart.notified() => {
                match restart(listener, &shared, &mut sessions, &mut shutdown).await {
                    Some(reopened) => listener = reopened,
                    None => return,
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    super::stats::bump(&shared.counters.connections);
                    let id = SessionId(shared.next_session.fetch_add(1, Ordering::Relaxed));
                    tracing::debug!(%id, %peer, "SMSC accepted a connection");
                    let session = Session::new(id, stream, Arc::clone(&shared), shutdown.clone());
                    sessions.spawn(session.run());
                }
                Err(error) => {
                    // Usually EMFILE under load; back off instead of spinning.
                    tracing::warn!(%error, "SMSC accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while sessions.try_join_next().is_some() {}
    }
    drop(listener);
    sessions.join_all().await;
}

/// Closes the listener, drops every session, waits `restart_downtime` and listens again on
/// the same address. `None`: shutdown came first, or the address could not be taken back.
async fn restart(
    listener: TcpListener,
    shared: &Shared,
    sessions: &mut JoinSet<()>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<TcpListener> {
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            tracing::warn!(%error, "SMSC cannot restart: its address is unknown");
            return Some(listener);
        }
    };
    drop(listener);
    shared.kick.send_modify(|generation| *generation += 1);
    while sessions.join_next().await.is_some() {}
    tracing::debug!(%addr, "SMSC restarting");
    let downtime = shared.config().restart_downtime;
    tokio::select! {
        () = tokio::time::sleep(downtime) => {}
        _ = shutdown.changed() => return None,
    }
    // The port was ours a moment ago; a few tries cover a slow release.
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                super::stats::bump(&shared.counters.restarts);
                return Some(listener);
            }
            Err(error) => {
                tracing::debug!(%error, "SMSC cannot listen again yet");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    tracing::warn!(%addr, "SMSC could not listen again after a restart");
    None
}

impl SmscHandle {
    /// Restarts the SMSC as the `restart_every` fault does (every session dropped, the listener
    /// closed for `restart_downtime`) and returns once it listens again on the same port.
    pub async fn restart(&self) -> anyhow::Result<()> {
        let before = self.shared.counters.restarts.load(Ordering::Relaxed);
        self.shared.request_restart();
        let deadline = tokio::time::Instant::now()
            + self.shared.config().restart_downtime
            + Duration::from_secs(5);
        while self.shared.counters.restarts.load(Ordering::Relaxed) == before {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the SMSC did not listen again on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SmscStats {
        self.shared.counters.snapshot(self.shared.pending_len())
    }

    /// Every `submit_sm` received so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedSms> {
        lock(&self.shared.received).clone()
    }

    /// Forgets the received submits (counters are kept).
    pub fn clear_received(&self) {
        lock(&self.shared.received).clear();
    }

    /// The configuration in force.
    pub fn config(&self) -> SmscConfig {
        (*self.shared.config()).clone()
    }

    /// Replaces the configuration; applies to the next event of every session. `listen` is
    /// ignored (the socket stays where it is).
    pub fn set_config(&self, config: SmscConfig) {
        *self
            .shared
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
    }

    /// Changes part of the configuration, e.g. `smsc.update_config(|c| c.throttle_rate = 0.5)`.
    pub fn update_config(&self, change: impl FnOnce(&mut SmscConfig)) {
        let mut guard = self
            .shared
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut config = (**guard).clone();
        change(&mut config);
        *guard = Arc::new(config);
    }

    /// Drops every open connection at once (counted as disconnects); the listener stays up.
    pub fn disconnect_all(&self) {
        self.shared.kick.send_modify(|generation| *generation += 1);
    }

    /// Polls the counters until `done` holds, or fails after `timeout` (tokio time, so it
    /// works with a paused clock).
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        done: impl Fn(&SmscStats) -> bool,
    ) -> anyhow::Result<SmscStats> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return Ok(stats);
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "SMSC stats did not reach the expected state in {timeout:?}: {stats:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a mobile-originated message as `deliver_sm` (UDH-concatenated parts when long,
    /// GSM 7-bit unpacked when the text allows, else UCS-2) to a bound receiver of the configured
    /// system_id (any receiver when none is configured), queued until one binds. Returns the
    /// number of parts.
    pub async fn send_inbound(
        &self,
        source: &str,
        destination: &str,
        text: &str,
    ) -> anyhow::Result<usize> {
        let (source_ton, source_npi, source) = address_kind(source);
        let (dest_ton, dest_npi, destination) = address_kind(destination);
        let source_addr = COctetString::<1, 21>::from_str(source)
            .map_err(|e| anyhow::anyhow!("source {source:?} is not a valid address: {e:?}"))?;
        let destination_addr = COctetString::<1, 21>::from_str(destination).map_err(|e| {
            anyhow::anyhow!("destination {destination:?} is not a valid address: {e:?}")
        })?;
        let parts = encode_and_split(text);
        let total = u8::try_from(parts.len()).context("inbound text needs more than 255 parts")?;
        let reference = self.shared.next_inbound_ref.fetch_add(1, Ordering::Relaxed);
        let system_id = self.shared.config().system_id.clone();
        for (index, part) in parts.iter().enumerate() {
            let mut short_message = Vec::with_capacity(part.user_data.len() + 6);
            let mut esm_class = 0u8;
            if total > 1 {
                let number = u8::try_from(index + 1).context("part number above 255")?;
                let udh = ConcatenatedShortMessage8Bit::new(reference, total, number)
                    .map_err(|e| anyhow::anyhow!("building the concatenation UDH: {e:?}"))?;
                short_message.extend_from_slice(&udh.udh_bytes());
                esm_class |= 0x40;
            }
            short_message.extend_from_slice(&part.user_data);
            let short_message = OctetString::from_vec(short_message)
                .map_err(|e| anyhow::anyhow!("inbound part does not fit: {e:?}"))?;
            let pdu = DeliverSm::builder()
                .source_addr_ton(Ton::from(source_ton))
                .source_addr_npi(Npi::from(source_npi))
                .source_addr(source_addr.clone())
                .dest_addr_ton(Ton::from(dest_ton))
                .dest_addr_npi(Npi::from(dest_npi))
                .destination_addr(destination_addr.clone())
                .esm_class(EsmClass::from(esm_class))
                .data_coding(DataCoding::from(part.data_coding))
                .short_message(short_message)
                .build();
            self.shared.route(Deliver {
                system_id: system_id.clone(),
                preferred: None,
                kind: DeliverKind::Inbound,
                pdu,
            });
        }
        Ok(parts.len())
    }

    /// Stops accepting, closes every session and waits for them to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.accept_task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "SMSC accept loop ended abnormally");
        }
    }
}

impl Drop for SmscHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// TON/NPI for an address and the address as it goes in the PDU: international 1/1 for
/// digits (a leading `+` dropped), else alphanumeric 5/0.
fn address_kind(address: &str) -> (u8, u8, &str) {
    let digits = address.strip_prefix('+').unwrap_or(address);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        (1, 1, digits)
    } else {
        (5, 0, address)
    }
}
