//! A session's life around its bound connections: connect (TCP_NODELAY) and bind each link,
//! serve, then unbind on shutdown; on a failure or a refused bind, report it and reconnect after
//! a backoff with equal jitter that a successful bind resets.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use super::stats::{SessionErrorKind, describe_status};
use super::window::InFlight;
use super::{Connection, Link, Session, Side};
use crate::channel::smpp::frame::{Frame, FrameCodec, Malformed};
use crate::channel::smpp::pdu::{self, BindKind};
use crate::channel::smpp::{BindMode, SessionEvent};

/// Why a connection ended.
enum Ended {
    Shutdown,
    Refused(u32),
    Failed { reason: String, was_bound: bool },
}

impl Session {
    pub(super) async fn run(mut self) {
        loop {
            if self.stopping || *self.stop.borrow() {
                break;
            }
            let ended = self.connect_and_serve().await;
            self.shared.bound.store(false, Ordering::Relaxed);
            self.shared.in_flight.store(0, Ordering::Relaxed);
            match ended {
                Ended::Shutdown => break,
                Ended::Refused(command_status) => {
                    warn!(command_status, "SMSC refused the bind");
                    self.stats.record(
                        SessionErrorKind::BindRefused,
                        format!("bind refused: {}", describe_status(command_status)),
                        Some(command_status),
                    );
                    self.emit(SessionEvent::BindRefused { command_status })
                        .await;
                }
                Ended::Failed { reason, was_bound } => {
                    info!(%reason, "SMPP session lost");
                    if was_bound {
                        self.backoff = self.config.reconnect_min;
                        self.stats.record(
                            SessionErrorKind::Disconnected,
                            format!("connection lost: {reason}"),
                            None,
                        );
                    } else {
                        self.stats
                            .record(SessionErrorKind::ConnectFailed, reason.clone(), None);
                    }
                    self.emit(SessionEvent::Disconnected { reason }).await;
                }
            }
            let delay = self.next_backoff();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => break,
            }
        }
        self.abandon_outbox().await;
    }

    /// Equal jitter: half the current backoff fixed, half random; then double it.
    fn next_backoff(&mut self) -> Duration {
        let current = self.backoff.max(self.config.reconnect_min);
        self.backoff = (current * 2).min(self.config.reconnect_max.max(self.config.reconnect_min));
        let half = current / 2;
        half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

    async fn connect_and_serve(&mut self) -> Ended {
        let (tx_kind, rx_kind) = match self.config.bind_mode {
            BindMode::Transceiver => (BindKind::Transceiver, None),
            BindMode::TransmitterReceiver => (BindKind::Transmitter, Some(BindKind::Receiver)),
        };
        let (tx, system_id) = match self.open(tx_kind).await {
            Ok(opened) => opened,
            Err(ended) => return ended,
        };
        let rx = match rx_kind {
            Some(kind) => match self.open(kind).await {
                Ok((link, _)) => Some(link),
                Err(ended) => return ended,
            },
            None => None,
        };
        self.shared.bound.store(true, Ordering::Relaxed);
        self.stats.binds.fetch_add(1, Ordering::Relaxed);
        info!(%system_id, "SMPP session bound");
        self.emit(SessionEvent::Bound { system_id }).await;
        let mut connection = Connection {
            tx,
            rx,
            pending: HashMap::new(),
            unanswered: VecDeque::new(),
        };
        match self.serve(&mut connection).await {
            Ok(()) => {
                self.unbind(&mut connection).await;
                Ended::Shutdown
            }
            Err(reason) => {
                self.fail_in_flight(&mut connection).await;
                Ended::Failed {
                    reason,
                    was_bound: true,
                }
            }
        }
    }

    /// Connects and binds one link; returns it with the SMSC's system_id.
    async fn open(&mut self, kind: BindKind) -> Result<(Link, String), Ended> {
        let failed = |reason: String| Ended::Failed {
            reason,
            was_bound: false,
        };
        let bind = pdu::bind(&self.config, kind)
            .map_err(|err| failed(format!("invalid bind configuration: {err}")))?;
        let address = (self.config.host.as_str(), self.config.port);
        let deadline = Instant::now() + self.config.response_timeout;
        let stream = tokio::select! {
            connected = tokio::time::timeout_at(deadline, TcpStream::connect(address)) => match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(failed(format!("connect failed: {err}"))),
                Err(_) => return Err(failed("connect timed out".into())),
            },
            _ = self.stop.changed() => return Err(Ended::Shutdown),
        };
        if let Err(err) = stream.set_nodelay(true) {
            warn!(%err, "could not set TCP_NODELAY");
        }
        let mut link = Link {
            framed: Framed::new(stream, FrameCodec::new()),
            sequence: 0,
            last_activity: Instant::now(),
            enquire: None,
        };
        let sequence = link.next_sequence();
        link.send(Command::new(CommandStatus::EsmeRok, sequence, bind))
            .await
            .map_err(failed)?;
        loop {
            let frame = tokio::select! {
                frame = link.framed.next() => frame,
                _ = sleep_until(deadline) => return Err(failed("bind timed out".into())),
                _ = self.stop.changed() => return Err(Ended::Shutdown),
            };
            let command = match frame {
                Some(Ok(Frame::Command(command))) => command,
                Some(Ok(Frame::Malformed(Malformed {
                    sequence: got,
                    error,
                    ..
                }))) => {
                    if got == sequence {
                        return Err(failed(format!("undecodable bind response: {error}")));
                    }
                    continue;
                }
                Some(Err(err)) => return Err(failed(format!("undecodable frame: {err}"))),
                None => return Err(failed("connection closed during bind".into())),
            };
            let is_answer = matches!(
                command.id(),
                CommandId::BindTransceiverResp
                    | CommandId::BindTransmitterResp
                    | CommandId::BindReceiverResp
                    | CommandId::GenericNack
            );
            if is_answer && command.sequence_number() == sequence {
                let status = u32::from(command.status());
                if status != 0 {
                    return Err(Ended::Refused(status));
                }
                let system_id = pdu::bind_resp_system_id(command.pdu()).unwrap_or_default();
                return Ok((link, system_id));
            }
            if command.id() == CommandId::EnquireLink {
                link.send(pdu::response(
                    command.sequence_number(),
                    Pdu::EnquireLinkResp,
                ))
                .await
                .map_err(failed)?;
            }
        }
    }

    async fn unbind(&mut self, connection: &mut Connection) {
        let remaining: Vec<InFlight> = connection.pending.drain().map(|(_, f)| f).collect();
        for in_flight in &remaining {
            self.reject(in_flight, 0, true).await;
        }
        self.shared.in_flight.store(0, Ordering::Relaxed);
        for side in [Side::Tx, Side::Rx] {
            let timeout = self.config.response_timeout;
            let Some(link) = connection.link(side) else {
                continue;
            };
            let sequence = link.next_sequence();
            if link
                .send(Command::new(CommandStatus::EsmeRok, sequence, Pdu::Unbind))
                .await
                .is_err()
            {
                continue;
            }
            let deadline = Instant::now() + timeout;
            loop {
                let frame = tokio::select! {
                    frame = link.framed.next() => frame,
                    _ = sleep_until(deadline) => break,
                };
                match frame {
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::UnbindResp => {
                        break;
                    }
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::DeliverSm => {
                        // Not acknowledged: the SMSC will deliver it again on the next bind.
                        debug!("deliver_sm during unbind left for the next session");
                    }
                    Some(Ok(Frame::Command(command))) if command.id() == CommandId::EnquireLink => {
                        let _ = link
                            .send(pdu::response(
                                command.sequence_number(),
                                Pdu::EnquireLinkResp,
                            ))
                            .await;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            let _ = SinkExt::<Command>::close(&mut link.framed).await;
        }
        info!("SMPP session unbound");
    }
}
