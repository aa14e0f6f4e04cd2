//! One customer connection: it must bind first (an account's `system_id` and password, within
//! `bind_timeout`, and within the account's `max_binds`); bound, it takes `submit_sm` within the
//! account's window and TPS (each accepted through `submit.rs` in a task of its own, answered
//! when durable, in whatever order they finish), sends the `deliver_sm` its account's delivery
//! hands it and awaits their responses, keeps the link alive with enquire_link, and ends on an
//! unbind from either side, an account deleted, the server closing, a silent peer, or bytes
//! that cannot be framed. A PDU that is framed but not understood costs that PDU only
//! (`generic_nack`), never the session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use rusmpp::{Command, CommandId, Pdu};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use super::deliver::{self, DeliverRequest, Outcome};
use super::pdu::{self, BindRequest};
use super::{LiveBind, ServerShared, SmppServerSettings, mode_name, receipt, submit};
use crate::channel::smpp::frame::{Frame, FrameCodec};
use crate::channel::smpp::pdu::BindKind;
use crate::engine::Engine;
use crate::store::records::SmppAccountRecord;

/// Sequence numbers run 1..=0x7FFFFFFF (SMPP 3.4 §5.1.4).
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;
/// Failed binds a connection may try before it is closed.
const MAX_BIND_ATTEMPTS: u32 = 3;

type Link<S> = Framed<S, FrameCodec>;

pub(super) struct Session {
    engine: Engine,
    shared: Arc<ServerShared>,
    id: u64,
    peer: SocketAddr,
    settings: SmppServerSettings,
}

/// A bound session's account and bind.
struct Bound {
    account: SmppAccountRecord,
    kind: BindKind,
    deliveries: Option<mpsc::Receiver<DeliverRequest>>,
    close: Arc<Notify>,
    _registered: Registered,
}

/// The session's place among its account's live binds, given up however the session ends
/// (a failed write of its bind_resp, an error, a panic).
struct Registered {
    shared: Arc<ServerShared>,
    account: SmppAccountRecord,
    session: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared.unregister(&self.account, self.session);
    }
}

/// A `submit_sm` answered: its sequence number, status and message id.
type Answer = (u32, u32, String);

impl Session {
    pub(super) fn new(
        engine: Engine,
        shared: Arc<ServerShared>,
        id: u64,
        peer: SocketAddr,
    ) -> Session {
        let settings = engine.config().smpp_server.clone();
        Session {
            engine,
            shared,
            id,
            peer,
            settings,
        }
    }

    pub(super) async fn run<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut link = Framed::new(stream, FrameCodec::new());
        let Some(bound) = self.bind(&mut link).await else {
            return;
        };
        let account = bound.account.clone();
        info!(session = self.id, peer = %self.peer, system_id = %account.system_id,
            mode = mode_name(bound.kind), "SMPP customer bound");
        self.serve(&mut link, bound).await;
        info!(session = self.id, system_id = %account.system_id, "SMPP customer session ended");
    }

    /// Reads until a bind succeeds; `None` when the connection ends first.
    async fn bind<S>(&self, link: &mut Link<S>) -> Option<Bound>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let deadline = Instant::now() + self.settings.bind_timeout;
        let mut closing = self.shared.closing.subscribe();
        let mut failures = 0;
        loop {
            let frame = tokio::select! {
                frame = link.next() => frame,
                _ = sleep_until(deadline) => {
                    debug!(peer = %self.peer, "no bind in time; closing");
                    return None;
                }
                _ = closed(&mut closing) => return None,
            };
            let command = match frame? {
                Ok(Frame::Command(command)) => command,
                Ok(Frame::Malformed(malformed)) => {
                    if malformed.command_id & 0x8000_0000 == 0 {
                        let nack = pdu::generic_nack(malformed.sequence, nack_status(&malformed));
                        self.write(link, nack).await.then_some(())?;
                    }
                    continue;
                }
                Err(error) => {
                    debug!(peer = %self.peer, %error, "bytes that cannot be framed; closing");
                    return None;
                }
            };
            let sequence = command.sequence_number();
            if let Some(request) = pdu::bind_request(&command) {
                match self.authenticate(&request).await {
                    Ok(bound) => {
                        self.write(link, pdu::bind_resp(request.kind, sequence, pdu::OK))
                            .await
                            .then_some(())?;
                        metrics::counter!("flit_smpp_server_bind_attempts_total", "result" => "bound")
                            .increment(1);
                        return Some(bound);
                    }
                    Err(status) => {
                        metrics::counter!("flit_smpp_server_bind_attempts_total", "result" => bind_failure(status))
                            .increment(1);
                        info!(peer = %self.peer, system_id = %request.system_id,
                            status = format_args!("{status:#04x}"), "SMPP bind refused");
                        self.write(link, pdu::bind_resp(request.kind, sequence, status))
                            .await
                            .then_some(())?;
                        failures += 1;
                        if failures >= MAX_BIND_ATTEMPTS {
                            return None;
                        }
                        continue;
                    }
                }
            }
            match command.id() {
                CommandId::EnquireLink => {
                    self.write(link, pdu::bare(sequence, Pdu::EnquireLinkResp))
                        .await
                        .then_some(())?;
                }
                CommandId::Unbind => {
                    self.write(link, pdu::bare(sequence, Pdu::UnbindResp)).await;
                    return None;
                }
                id if id.is_operation() => {
                    self.write(link, pdu::generic_nack(sequence, pdu::INVALID_BIND_STATUS))
                        .await
                        .then_some(())?;
                }
                _ => {}
            }
        }
    }

    /// Checks the credentials and the account's limits; the status to refuse with otherwise.
    async fn authenticate(&self, request: &BindRequest) -> Result<Bound, u32> {
        let account = match self
            .engine
            .authenticate_smpp(&request.system_id, &request.password)
            .await
        {
            Ok(Some(account)) => account,
            // An unknown system_id answers as a wrong password does: which ones exist is
            // nobody's business.
            Ok(None) => return Err(pdu::INVALID_PASSWORD),
            Err(error) => {
                warn!(%error, "SMPP bind could not be checked");
                return Err(pdu::SYSTEM_ERROR);
            }
        };
        let suspended = self
            .engine
            .entry(account.tenant)
            .map_or(true, |entry| entry.is_suspended());
        if suspended {
            return Err(pdu::BIND_FAILED);
        }
        let (deliver, deliveries) = match request.kind {
            BindKind::Transmitter => (None, None),
            BindKind::Receiver | BindKind::Transceiver => {
                let (sender, receiver) = mpsc::channel(account.window.max(1) as usize);
                (Some(sender), Some(receiver))
            }
        };
        let close = Arc::new(Notify::new());
        let bind = LiveBind {
            session: self.id,
            kind: request.kind,
            peer: self.peer,
            bound_at: self.engine.clock().now_millis(),
            deliver,
            close: close.clone(),
        };
        let start_delivery = self
            .shared
            .register(&account, bind)
            .map_err(|()| pdu::BIND_FAILED)?;
        let registered = Registered {
            shared: self.shared.clone(),
            account: account.clone(),
            session: self.id,
        };
        // Deleted while its password was being checked: its binds were closed before this one
        // registered, so this one must not stay.
        if !self.engine.smpp_account_exists(&account) {
            return Err(pdu::BIND_FAILED);
        }
        if start_delivery {
            deliver::start(
                self.engine.clone(),
                self.shared.clone(),
                account.id,
                account.window as usize,
            );
        }
        Ok(Bound {
            account,
            kind: request.kind,
            deliveries,
            close,
            _registered: registered,
        })
    }

    /// The bound session, until it ends.
    async fn serve<S>(&self, link: &mut Link<S>, mut bound: Bound)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (answers, mut answered) = mpsc::unbounded_channel::<Answer>();
        let mut state = State::new();
        let mut closing = self.shared.closing.subscribe();
        loop {
            // Either side's unbind ends the session once every submit it took is answered.
            if let Some(sequence) = state.unbind_asked
                && state.submits == 0
            {
                self.write(link, pdu::bare(sequence, Pdu::UnbindResp)).await;
                return;
            }
            if state.unbound && state.submits == 0 {
                return;
            }
            let wake = state.next_wake(&self.settings);
            let deliveries = bound.deliveries.as_mut();
            let taking_deliveries =
                deliveries.is_some() && state.unbinding.is_none() && state.unbind_asked.is_none();
            tokio::select! {
                frame = link.next() => {
                    let Some(frame) = frame else { return };
                    state.heard = Instant::now();
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(error) => {
                            warn!(session = self.id, %error, "bytes that cannot be framed; closing");
                            return;
                        }
                    };
                    let reply = self.on_frame(frame, &bound, &mut state, &answers);
                    if let Some(reply) = reply
                        && !self.write(link, reply).await
                    {
                        return;
                    }
                }
                Some((sequence, status, id)) = answered.recv() => {
                    state.submits -= 1;
                    if !self.write(link, pdu::submit_sm_resp(sequence, status, &id)).await {
                        return;
                    }
                }
                Some(request) = async { deliveries?.recv().await }, if taking_deliveries => {
                    let wire = receipt::deliver_of(&request.held.what);
                    match pdu::deliver_sm(&wire) {
                        Ok(deliver) => {
                            let sequence = state.sequence();
                            let command = Command::new(rusmpp::CommandStatus::EsmeRok, sequence, deliver);
                            if !self.write(link, command).await {
                                let _ = request.reply.send(Outcome::Lost);
                                return;
                            }
                            state.delivering.insert(
                                sequence,
                                (request.reply, Instant::now() + self.settings.response_timeout),
                            );
                        }
                        Err(error) => {
                            warn!(session = self.id, %error, "held deliver_sm cannot be sent; dropped");
                            let _ = request.reply.send(Outcome::Drop);
                        }
                    }
                }
                _ = sleep_until(wake) => {
                    if !self.on_timers(link, &mut state).await {
                        return;
                    }
                }
                _ = bound.close.notified(), if state.unbinding.is_none() => {
                    info!(session = self.id, "SMPP account deleted; unbinding");
                    if !self.start_unbind(link, &mut state).await {
                        return;
                    }
                }
                _ = closed(&mut closing), if state.unbinding.is_none() => {
                    if !self.start_unbind(link, &mut state).await {
                        return;
                    }
                }
            }
        }
    }

    /// What one PDU from the customer does; the answer to write, if one is due at once.
    fn on_frame(
        &self,
        frame: Frame,
        bound: &Bound,
        state: &mut State,
        answers: &mpsc::UnboundedSender<Answer>,
    ) -> Option<Command> {
        let command = match frame {
            Frame::Command(command) => command,
            Frame::Malformed(malformed) => {
                metrics::counter!("flit_smpp_server_malformed_total").increment(1);
                if malformed.command_id & 0x8000_0000 == 0 {
                    return Some(pdu::generic_nack(
                        malformed.sequence,
                        nack_status(&malformed),
                    ));
                }
                // A response whose body is unreadable: a deliver_sm it answered is retried.
                if let Some((reply, _)) = state.delivering.remove(&malformed.sequence) {
                    let _ = reply.send(Outcome::Unanswered);
                }
                return None;
            }
        };
        let sequence = command.sequence_number();
        let status = u32::from(command.status());
        match command.id() {
            CommandId::SubmitSm => {
                let Some(Pdu::SubmitSm(submit_sm)) = command.pdu() else {
                    return Some(pdu::generic_nack(sequence, pdu::INVALID_COMMAND_ID));
                };
                if let Some(refusal) = self.refusal(bound, state) {
                    return Some(pdu::submit_sm_resp(sequence, refusal, ""));
                }
                let content = pdu::submit_content(submit_sm);
                state.submits += 1;
                let (engine, shared, account) = (
                    self.engine.clone(),
                    self.shared.clone(),
                    bound.account.clone(),
                );
                let answers = answers.clone();
                tokio::spawn(async move {
                    let (status, id) =
                        match submit::submit(&engine, &shared, &account, content).await {
                            Ok(id) => (pdu::OK, id),
                            Err(status) => (status, String::new()),
                        };
                    let _ = answers.send((sequence, status, id));
                });
                None
            }
            CommandId::DeliverSmResp => {
                if let Some((reply, _)) = state.delivering.remove(&sequence) {
                    let outcome = if status == pdu::OK {
                        Outcome::Delivered
                    } else {
                        Outcome::Refused(status)
                    };
                    let _ = reply.send(outcome);
                }
                None
            }
            CommandId::GenericNack => {
                if let Some((reply, _)) = state.delivering.remove(&sequence) {
                    let _ = reply.send(Outcome::Refused(status));
                }
                if state.enquiring.is_some_and(|(asked, _)| asked == sequence) {
                    state.enquiring = None;
                }
                None
            }
            CommandId::EnquireLink => Some(pdu::bare(sequence, Pdu::EnquireLinkResp)),
            CommandId::EnquireLinkResp => {
                if state.enquiring.is_some_and(|(asked, _)| asked == sequence) {
                    state.enquiring = None;
                }
                None
            }
            CommandId::Unbind => {
                state.unbind_asked = Some(sequence);
                None
            }
            CommandId::UnbindResp => {
                if state.unbinding.is_some() {
                    state.unbound = true;
                }
                None
            }
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver => {
                let kind = pdu::bind_request(&command).map_or(bound.kind, |request| request.kind);
                Some(pdu::bind_resp(kind, sequence, pdu::ALREADY_BOUND))
            }
            id if id.is_operation() => Some(pdu::unsupported(sequence)),
            _ => None,
        }
    }

    /// Why a `submit_sm` is refused before it is even read, if it is.
    fn refusal(&self, bound: &Bound, state: &State) -> Option<u32> {
        if bound.kind == BindKind::Receiver
            || state.unbinding.is_some()
            || state.unbind_asked.is_some()
        {
            return Some(pdu::INVALID_BIND_STATUS);
        }
        if state.submits >= bound.account.window as usize {
            metrics::counter!("flit_smpp_server_throttled_total", "reason" => "window")
                .increment(1);
            return Some(pdu::THROTTLED);
        }
        if bound.account.tps > 0 {
            // No live entry: the account was deleted and this session is being closed.
            let Some(bucket) = self.shared.bucket(bound.account.id) else {
                return Some(pdu::INVALID_BIND_STATUS);
            };
            let taken = bucket
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .try_take(bound.account.tps, Instant::now());
            if !taken {
                metrics::counter!("flit_smpp_server_throttled_total", "reason" => "tps")
                    .increment(1);
                return Some(pdu::THROTTLED);
            }
        }
        None
    }

    /// Timeouts and keep-alive; `false` when the session is to end.
    async fn on_timers<S>(&self, link: &mut Link<S>, state: &mut State) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let now = Instant::now();
        if state.enquiring.is_some_and(|(_, deadline)| deadline <= now) {
            info!(
                session = self.id,
                "SMPP customer left an enquire_link unanswered; dropping it"
            );
            return false;
        }
        if state.unbinding.is_some_and(|deadline| deadline <= now) {
            return false;
        }
        let overdue: Vec<u32> = state
            .delivering
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in overdue {
            if let Some((reply, _)) = state.delivering.remove(&sequence) {
                let _ = reply.send(Outcome::Unanswered);
            }
        }
        if state.enquiring.is_none() && state.heard + self.settings.enquire_link <= now {
            let sequence = state.sequence();
            if link
                .send(pdu::bare(sequence, Pdu::EnquireLink))
                .await
                .is_err()
            {
                return false;
            }
            state.enquiring = Some((sequence, now + self.settings.response_timeout));
        }
        true
    }

    /// Sends an unbind; the session ends at its response or after `response_timeout`.
    async fn start_unbind<S>(&self, link: &mut Link<S>, state: &mut State) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let sequence = state.sequence();
        state.unbinding = Some(Instant::now() + self.settings.response_timeout);
        self.write(link, pdu::bare(sequence, Pdu::Unbind)).await
    }

    /// Writes one PDU; `false` when the connection failed or the customer did not take it
    /// within `response_timeout` (a peer that stopped reading), which ends the session.
    async fn write<S>(&self, link: &mut Link<S>, command: Command) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(self.settings.response_timeout, link.send(command)).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                debug!(session = self.id, %error, "writing to the SMPP customer failed");
                false
            }
            Err(_) => {
                info!(
                    session = self.id,
                    "SMPP customer stopped reading; dropping it"
                );
                false
            }
        }
    }
}

/// The moving parts of a bound session.
struct State {
    next_sequence: u32,
    /// Submits being accepted, not yet answered.
    submits: usize,
    /// `deliver_sm` sent and not yet answered, with when they are given up.
    delivering: HashMap<u32, (oneshot::Sender<Outcome>, Instant)>,
    /// The enquire_link sent and when the customer counts as silent.
    enquiring: Option<(u32, Instant)>,
    /// When the customer last sent anything.
    heard: Instant,
    /// The customer asked to unbind (answered once its submits are).
    unbind_asked: Option<u32>,
    /// The server asked to unbind, and when it stops waiting for the answer.
    unbinding: Option<Instant>,
    unbound: bool,
}

impl State {
    fn new() -> State {
        State {
            next_sequence: 0,
            submits: 0,
            delivering: HashMap::new(),
            enquiring: None,
            heard: Instant::now(),
            unbind_asked: None,
            unbinding: None,
            unbound: false,
        }
    }

    fn sequence(&mut self) -> u32 {
        self.next_sequence = self.next_sequence % MAX_SEQUENCE + 1;
        self.next_sequence
    }

    fn next_wake(&self, settings: &SmppServerSettings) -> Instant {
        let mut wake = match self.enquiring {
            Some((_, deadline)) => deadline,
            None => self.heard + settings.enquire_link,
        };
        if let Some(deadline) = self.unbinding {
            wake = wake.min(deadline);
        }
        if let Some(deadline) = self
            .delivering
            .values()
            .map(|(_, deadline)| *deadline)
            .min()
        {
            wake = wake.min(deadline);
        }
        wake
    }
}

/// Waits until the server is closing (the guard `wait_for` returns is not held across awaits).
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

/// The status a `generic_nack` gives an operation whose body could not be read.
fn nack_status(malformed: &crate::channel::smpp::frame::Malformed) -> u32 {
    match CommandId::from(malformed.command_id) {
        CommandId::Other(_) => pdu::INVALID_COMMAND_ID,
        _ => pdu::INVALID_COMMAND_LENGTH,
    }
}

fn bind_failure(status: u32) -> &'static str {
    match status {
        pdu::INVALID_PASSWORD => "invalid_password",
        pdu::BIND_FAILED => "refused",
        _ => "error",
    }
}
