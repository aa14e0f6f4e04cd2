//! One bind: a TCP connection to the SMPP server, bound as a transceiver, that keeps up to a
//! window of `submit_sm` awaiting their answers, answers the server's own requests at once,
//! and unbinds when told to. A writer task owns the socket's write half and the session loop
//! its read half, so the loop never waits on a write: a server that stops reading while it
//! writes to us can slow the run down but never deadlock it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{SinkExt, StreamExt as _};
use hdrhistogram::Histogram;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::pdu::{self, SubmitTemplate};
use super::receipts::Receipts;
use crate::e2e::NumberPlan;

/// How long connecting and binding may take.
const BIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server has to answer our `unbind`.
const UNBIND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often submits are checked against the response timeout.
const EXPIRY_TICK: Duration = Duration::from_millis(250);
/// The largest sequence number SMPP allows; the next one wraps to 1.
const MAX_SEQUENCE: u32 = 0x7FFF_FFFF;

/// What every bind of a run shares.
#[derive(Debug)]
pub(crate) struct Settings {
    pub system_id: String,
    pub password: String,
    /// Submits awaiting their answer at most, per bind.
    pub window: usize,
    pub template: SubmitTemplate,
    /// How long a bind holds back after `ESME_RTHROTTLED` or `ESME_RMSGQFUL`.
    pub throttle_pause: Duration,
    /// How long a submit may wait for its answer before it is given up (counted, not retried).
    pub response_timeout: Duration,
}

/// The run's messages, handed out one index at a time to whichever bind has room, so that a
/// fast bind takes more of them and every destination is used exactly once.
#[derive(Debug)]
pub(crate) struct Work {
    next: AtomicU64,
    total: u64,
    plan: NumberPlan,
}

impl Work {
    pub(crate) fn new(total: u64, plan: NumberPlan) -> Self {
        Self {
            next: AtomicU64::new(0),
            total,
            plan,
        }
    }

    fn take(&self) -> Option<u64> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.total).then_some(index)
    }
}

/// What one bind saw from bind to close.
#[derive(Debug)]
pub(crate) struct BindReport {
    /// Microseconds from each `submit_sm` to its answer, whatever the answer said.
    pub latency: Histogram<u64>,
    /// `submit_sm` written, retries included.
    pub submits: u64,
    pub accepted: u64,
    /// Accepted answers with no message id to match a receipt against.
    pub accepted_without_id: u64,
    /// Answers `ESME_RTHROTTLED` or `ESME_RMSGQFUL` (each retried).
    pub throttled: u64,
    /// Other refusals (`generic_nack` included), by command_status.
    pub refused: BTreeMap<u32, u64>,
    /// Submits given up after the response timeout.
    pub timed_out: u64,
    /// Submits still awaiting an answer or a retry when the bind ended before it was done.
    pub lost: u64,
    /// Answers to no submit awaiting one (a late answer after its timeout, or a wrong sequence).
    pub unexpected_answers: u64,
    /// `deliver_sm` that were not receipts (mobile-originated messages).
    pub inbound: u64,
    /// `enquire_link` from the server, answered.
    pub enquire_links: u64,
    /// Why the bind ended before it was told to unbind.
    pub ended_early: Option<String>,
    /// Whether our `unbind` got its `unbind_resp`.
    pub unbound: bool,
}

impl BindReport {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs to 10 min, 3 significant digits, as the other modes.
            latency: Histogram::new_with_bounds(1, 600_000_000, 3)?,
            submits: 0,
            accepted: 0,
            accepted_without_id: 0,
            throttled: 0,
            refused: BTreeMap::new(),
            timed_out: 0,
            lost: 0,
            unexpected_answers: 0,
            inbound: 0,
            enquire_links: 0,
            ended_early: None,
            unbound: false,
        })
    }
}

/// A submit awaiting its answer.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    /// The message's index in the run (its destination), to retry it.
    index: u64,
    sent: Instant,
}

/// What a received PDU means for the session loop.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The server sent `unbind` (answered).
    ServerUnbound,
    /// The answer to our `unbind`, of this sequence number.
    UnbindResp(u32),
}

/// A bound session, ready to [`run`](Session::run).
#[derive(Debug)]
pub(crate) struct Session {
    settings: Arc<Settings>,
    reader: FramedRead<OwnedReadHalf, CommandCodec>,
    /// Everything we write goes through the writer task; closed once that task has failed.
    writer: mpsc::UnboundedSender<Command>,
    writer_task: JoinHandle<()>,
    next_sequence: u32,
    /// By sequence number, which rises with time: the first entry is the oldest submit (until
    /// the sequence wraps, after 2^31 PDUs on one bind).
    in_flight: BTreeMap<u32, InFlight>,
    /// Throttled messages to send again, before any new one.
    retries: VecDeque<u64>,
    /// Set by a throttling answer: nothing is submitted before then.
    paused_until: Option<Instant>,
    /// The run's work is all handed out (to us or other binds).
    drained: bool,
    report: BindReport,
}

/// Connects to `addr` and binds as a transceiver with the settings' credentials.
pub(crate) async fn bind(addr: &str, settings: Arc<Settings>) -> anyhow::Result<Session> {
    let bind = pdu::bind_transceiver(&settings.system_id, &settings.password)?;
    let stream = tokio::time::timeout(BIND_TIMEOUT, TcpStream::connect(addr))
        .await
        .with_context(|| format!("connecting to {addr} took over {BIND_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {addr}"))?;
    stream
        .set_nodelay(true)
        .context("setting TCP_NODELAY on the bind")?;
    let (read, write) = stream.into_split();
    let (writer, commands) = mpsc::unbounded_channel();
    let writer_task = tokio::spawn(write_loop(
        FramedWrite::new(write, CommandCodec::new()),
        commands,
    ));
    let mut session = Session {
        settings,
        reader: FramedRead::new(read, CommandCodec::new()),
        writer,
        writer_task,
        next_sequence: 1,
        in_flight: BTreeMap::new(),
        retries: VecDeque::new(),
        paused_until: None,
        drained: false,
        report: BindReport::new()?,
    };
    let sequence = session.send(bind);
    let status = tokio::time::timeout(BIND_TIMEOUT, session.bind_answer(sequence))
        .await
        .with_context(|| format!("no bind_transceiver_resp from {addr} in {BIND_TIMEOUT:?}"))??;
    if status != CommandStatus::EsmeRok {
        bail!(
            "{addr} refused bind_transceiver as {:?}: {}",
            session.settings.system_id,
            status_name(status)
        );
    }
    Ok(session)
}

/// `0x0000000E (EsmeRinvpaswd)`: the code as the wire has it, and rusmpp's name for it.
fn status_name(status: CommandStatus) -> String {
    format!("0x{:08X} ({status:?})", u32::from(status))
}

/// Writes what the session sends, a batch per flush. Ends when the session drops its sender,
/// or at the first write error (which closes the channel, so the session sees it).
async fn write_loop(
    mut sink: FramedWrite<OwnedWriteHalf, CommandCodec>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    while let Some(command) = commands.recv().await {
        let mut batch = vec![command];
        while let Ok(command) = commands.try_recv() {
            batch.push(command);
        }
        for command in batch {
            if let Err(error) = sink.feed(command).await {
                tracing::debug!(%error, "writing a PDU failed; closing the bind");
                return;
            }
        }
        if let Err(error) = SinkExt::<Command>::flush(&mut sink).await {
            tracing::debug!(%error, "flushing PDUs failed; closing the bind");
            return;
        }
    }
    // Err: the server is gone already; there is nothing left to say to it.
    let _ = SinkExt::<Command>::close(&mut sink).await;
}

impl Session {
    fn send(&mut self, pdu: impl Into<Pdu>) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = if sequence >= MAX_SEQUENCE {
            1
        } else {
            sequence + 1
        };
        self.write(Command::new(CommandStatus::EsmeRok, sequence, pdu));
        sequence
    }

    fn write(&self, command: Command) {
        // Err: the writer task failed; the loop sees the channel closed and ends the bind.
        let _ = self.writer.send(command);
    }

    /// Reads until the answer to our bind, answering `enquire_link` meanwhile.
    async fn bind_answer(&mut self, sequence: u32) -> anyhow::Result<CommandStatus> {
        loop {
            let command = self
                .reader
                .next()
                .await
                .context("the server closed the connection before answering the bind")?
                .context("reading the answer to the bind")?;
            match command.id() {
                CommandId::BindTransceiverResp | CommandId::GenericNack
                    if command.sequence_number() == sequence =>
                {
                    return Ok(command.status());
                }
                CommandId::EnquireLink => self.write(Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    Pdu::EnquireLinkResp,
                )),
                _ => {}
            }
        }
    }

    /// Submits until the run's work is all answered (then `submitted` fires), keeps answering
    /// the server (receipts go on arriving) until `stop` turns true, then unbinds. Ends early,
    /// with the reason in the report, when the server closes or unbinds.
    pub(crate) async fn run(
        mut self,
        work: Arc<Work>,
        receipts: Arc<Receipts>,
        submitted: oneshot::Sender<()>,
        mut stop: watch::Receiver<bool>,
    ) -> BindReport {
        let mut submitted = Some(submitted);
        let mut expiry = tokio::time::interval(EXPIRY_TICK);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if submitted.is_some() {
                self.fill(&work);
                if self.drained && self.retries.is_empty() && self.in_flight.is_empty() {
                    // Err: the run stopped waiting already.
                    let _ = submitted.take().map(|done| done.send(()));
                }
            }
            if self.writer.is_closed() {
                self.report.ended_early = Some("writing to the server failed".into());
                break;
            }
            let paused_until = self.paused_until;
            tokio::select! {
                frame = self.reader.next() => match frame {
                    Some(Ok(command)) => {
                        if self.handle(command, &receipts) == Flow::ServerUnbound {
                            self.report.ended_early = Some("the server unbound".into());
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        self.report.ended_early = Some(format!("undecodable PDU: {error}"));
                        break;
                    }
                    None => {
                        self.report.ended_early = Some("the server closed the connection".into());
                        break;
                    }
                },
                // The deadline is only read when set (the guard disables the branch otherwise).
                () = tokio::time::sleep_until(paused_until.unwrap_or_else(Instant::now)),
                    if paused_until.is_some() => self.paused_until = None,
                _ = expiry.tick() => self.expire(),
                changed = stop.changed(), if submitted.is_none() => {
                    // Err: the run is gone, which also means stop.
                    if changed.is_err() || *stop.borrow() {
                        return self.unbind(&receipts).await;
                    }
                }
            }
        }
        self.finish().await
    }

    /// Submits while the window has room and no throttling pause holds: retries first.
    fn fill(&mut self, work: &Work) {
        while self.in_flight.len() < self.settings.window && self.paused_until.is_none() {
            let index = match self.retries.pop_front() {
                Some(index) => index,
                None if self.drained => return,
                None => match work.take() {
                    Some(index) => index,
                    None => {
                        self.drained = true;
                        return;
                    }
                },
            };
            let destination = work.plan.international(index);
            match self.settings.template.to(&destination) {
                Ok(submit) => {
                    let sequence = self.send(submit);
                    let sent = Instant::now();
                    self.in_flight.insert(sequence, InFlight { index, sent });
                    self.report.submits += 1;
                }
                Err(error) => {
                    // Unreachable with the number plan's 12 digits; counted rather than lost.
                    tracing::warn!(%error, "building a submit_sm failed");
                    self.report.lost += 1;
                }
            }
        }
    }

    /// Gives up on submits older than the response timeout.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some((&sequence, flight)) = self.in_flight.first_key_value() {
            if now.duration_since(flight.sent) < self.settings.response_timeout {
                break;
            }
            self.in_flight.remove(&sequence);
            self.report.timed_out += 1;
        }
    }

    fn handle(&mut self, command: Command, receipts: &Receipts) -> Flow {
        let (id, status, sequence) = (command.id(), command.status(), command.sequence_number());
        match id {
            CommandId::SubmitSmResp | CommandId::GenericNack => {
                let message_id = match command.pdu() {
                    Some(Pdu::SubmitSmResp(answer)) => Some(answer.message_id().to_string()),
                    _ => None,
                };
                self.answered(sequence, status, message_id, receipts);
            }
            CommandId::DeliverSm => {
                self.write(pdu::deliver_sm_resp(sequence));
                match command.pdu() {
                    Some(Pdu::DeliverSm(deliver)) if pdu::is_receipt(deliver) => {
                        receipts.receipt(pdu::receipt_id(deliver));
                    }
                    _ => self.report.inbound += 1,
                }
            }
            CommandId::EnquireLink => {
                self.report.enquire_links += 1;
                self.write(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::EnquireLinkResp,
                ));
            }
            CommandId::Unbind => {
                self.write(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::UnbindResp,
                ));
                return Flow::ServerUnbound;
            }
            CommandId::UnbindResp => return Flow::UnbindResp(sequence),
            // Other answers (enquire_link_resp) need nothing.
            id if u32::from(id) & 0x8000_0000 != 0 => {}
            _ => self.write(pdu::generic_nack(sequence)),
        }
        Flow::Continue
    }

    /// A submit's answer: accepted (its id goes to the ledger), throttled (sent again after a
    /// pause) or refused (counted by status).
    fn answered(
        &mut self,
        sequence: u32,
        status: CommandStatus,
        message_id: Option<String>,
        receipts: &Receipts,
    ) {
        let Some(flight) = self.in_flight.remove(&sequence) else {
            self.report.unexpected_answers += 1;
            return;
        };
        let now = Instant::now();
        let micros = u64::try_from(now.duration_since(flight.sent).as_micros()).unwrap_or(u64::MAX);
        self.report.latency.saturating_record(micros.max(1));
        match status {
            CommandStatus::EsmeRok => {
                self.report.accepted += 1;
                match message_id.filter(|id| !id.is_empty()) {
                    Some(id) => receipts.accepted(id),
                    None => self.report.accepted_without_id += 1,
                }
            }
            CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => {
                self.report.throttled += 1;
                self.retries.push_back(flight.index);
                self.paused_until = Some(now + self.settings.throttle_pause);
            }
            refused => *self.report.refused.entry(u32::from(refused)).or_default() += 1,
        }
    }

    /// Sends `unbind` and waits for its answer, still answering the server meanwhile.
    async fn unbind(mut self, receipts: &Receipts) -> BindReport {
        let sequence = self.send(Pdu::Unbind);
        let deadline = Instant::now() + UNBIND_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.reader.next()).await {
                Ok(Some(Ok(command))) => match self.handle(command, receipts) {
                    Flow::UnbindResp(answered) if answered == sequence => {
                        self.report.unbound = true;
                        break;
                    }
                    Flow::ServerUnbound => break,
                    _ => {}
                },
                Ok(Some(Err(error))) => {
                    self.report.ended_early = Some(format!("undecodable PDU: {error}"));
                    break;
                }
                Ok(None) => {
                    self.report.ended_early =
                        Some("the server closed the connection before unbind_resp".into());
                    break;
                }
                Err(_) => {
                    self.report.ended_early = Some(format!("no unbind_resp in {UNBIND_TIMEOUT:?}"));
                    break;
                }
            }
        }
        self.finish().await
    }

    /// Closes our side (after what is queued is written) and hands over the report.
    async fn finish(mut self) -> BindReport {
        self.report.lost += u64::try_from(self.in_flight.len() + self.retries.len()).unwrap_or(0);
        drop(self.writer);
        // Err: the writer task panicked; there is nothing left to close.
        let _ = self.writer_task.await;
        self.report
    }
}
