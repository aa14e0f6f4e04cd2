//! Session tests against a tiny SMSC written here with rusmpp's codec over real loopback TCP.
//! Each test scripts the SMSC side step by step and asserts the events the session reports.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{BindTransceiverResp, DeliverSm, SubmitSmResp};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use super::*;
use crate::channel::smpp::receipt::ReceiptState;
use crate::channel::smpp::session::SessionStats;

type Smsc = Framed<TcpStream, CommandCodec>;

const WAIT: Duration = Duration::from_secs(5);

struct TestSmsc {
    listener: TcpListener,
}

impl TestSmsc {
    async fn start() -> TestSmsc {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        TestSmsc { listener }
    }

    fn config(&self) -> BindConfig {
        BindConfig {
            host: "127.0.0.1".into(),
            port: self.listener.local_addr().expect("addr").port(),
            system_id: "flit".into(),
            password: config::BindPassword::for_tests("secret"),
            response_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(20),
            reconnect_max: Duration::from_millis(100),
            ..BindConfig::default()
        }
    }

    async fn accept(&self) -> Smsc {
        let (stream, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("the session connects")
            .expect("accept");
        Framed::new(stream, CommandCodec::new())
    }

    /// Accepts a connection and answers its bind with `status`.
    async fn accept_bind(&self, status: u32) -> Smsc {
        let mut smsc = self.accept().await;
        let bind = recv(&mut smsc).await;
        let Some(Pdu::BindTransceiver(b)) = bind.pdu() else {
            panic!("expected bind_transceiver, got {bind:?}")
        };
        assert_eq!(
            (b.system_id.as_str(), b.password.as_str()),
            ("flit", "secret")
        );
        assert_eq!(u8::from(b.interface_version), 0x34);
        let resp = BindTransceiverResp::builder()
            .system_id(COctetString::from_str("TestSMSC").expect("id"))
            .build();
        send(
            &mut smsc,
            Command::new(CommandStatus::from(status), bind.sequence_number(), resp),
        )
        .await;
        smsc
    }
}

async fn recv(smsc: &mut Smsc) -> Command {
    tokio::time::timeout(WAIT, smsc.next())
        .await
        .expect("a PDU in time")
        .expect("connection open")
        .expect("decodable")
}

/// The next PDU that is not an enquire_link (those are answered).
async fn recv_work(smsc: &mut Smsc) -> Command {
    loop {
        let command = recv(smsc).await;
        if command.id() == CommandId::EnquireLink {
            send(
                smsc,
                Command::new(
                    CommandStatus::EsmeRok,
                    command.sequence_number(),
                    Pdu::EnquireLinkResp,
                ),
            )
            .await;
            continue;
        }
        return command;
    }
}

async fn send(smsc: &mut Smsc, command: Command) {
    SinkExt::<Command>::send(smsc, command).await.expect("send");
}

fn submit_resp(sequence: u32, status: u32, id: &str) -> Command {
    let resp = SubmitSmResp::builder()
        .message_id(COctetString::from_str(id).expect("id"))
        .build();
    Command::new(CommandStatus::from(status), sequence, resp)
}

fn submit(id: u64, text: &str) -> Submit {
    Submit {
        id,
        source: "Flit".into(),
        destination: "447700900123".into(),
        text: text.into(),
        registered_delivery: true,
        recipient: None,
        valid_until: None,
        sim: None,
    }
}

async fn event(events: &mut mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("session alive")
}

fn spawn(
    config: BindConfig,
) -> (
    SessionHandle,
    Arc<SubmitQueue>,
    mpsc::Receiver<SessionEvent>,
) {
    let queue = Arc::new(SubmitQueue::default());
    let (tx, rx) = mpsc::channel(1024);
    let stats = Arc::new(SessionStats::default());
    let (owner_tx, mut owner_rx) = mpsc::channel(1024);
    // The owner: records every answer and delivery at once (as the status writer does once
    // its batch is on disk), then hands the event to the test.
    let recorder = stats.clone();
    tokio::spawn(async move {
        let (mut answers, mut deliveries) = (0, 0);
        while let Some(event) = owner_rx.recv().await {
            match &event {
                SessionEvent::PartAccepted { .. } | SessionEvent::PartRejected { .. } => {
                    answers += 1;
                    recorder.record_answers(answers);
                }
                SessionEvent::Receipt(_) | SessionEvent::Inbound(_) => {
                    deliveries += 1;
                    recorder.record_deliveries(deliveries);
                }
                _ => {}
            }
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    (
        SessionHandle::spawn(config, queue.clone(), owner_tx, stats),
        queue,
        rx,
    )
}

/// A session whose owner records nothing until the test says so.
fn spawn_unrecorded(
    config: BindConfig,
) -> (
    SessionHandle,
    Arc<SubmitQueue>,
    mpsc::Receiver<SessionEvent>,
    Arc<SessionStats>,
) {
    let queue = Arc::new(SubmitQueue::default());
    let (tx, rx) = mpsc::channel(1024);
    let stats = Arc::new(SessionStats::default());
    let session = SessionHandle::spawn(config, queue.clone(), tx, stats.clone());
    (session, queue, rx, stats)
}

async fn expect_bound(events: &mut mpsc::Receiver<SessionEvent>) {
    assert_eq!(
        event(events).await,
        SessionEvent::Bound {
            system_id: "TestSMSC".into()
        }
    );
}

#[tokio::test]
async fn submits_are_acked_and_receipts_and_inbound_reported() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(smsc.config());
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    assert!(session.is_bound());

    queue.push(submit(1, "hello"));
    queue.push(submit(2, &"x".repeat(200)));
    let mut ids = Vec::new();
    for n in 0..3 {
        let command = recv_work(&mut conn).await;
        let Some(Pdu::SubmitSm(sm)) = command.pdu() else {
            panic!("expected submit_sm")
        };
        assert_eq!(u8::from(sm.registered_delivery), 1);
        let id = format!("{:X}", 0xA0 + n);
        send(&mut conn, submit_resp(command.sequence_number(), 0, &id)).await;
        ids.push(id);
    }
    let mut accepted = Vec::new();
    for _ in 0..3 {
        match event(&mut events).await {
            SessionEvent::PartAccepted {
                id,
                part,
                parts,
                smsc_message_id,
            } => accepted.push((id, part, parts, smsc_message_id)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        accepted,
        vec![
            (1, 1, 1, "A0".to_string()),
            (2, 1, 2, "A1".to_string()),
            (2, 2, 2, "A2".to_string()),
        ]
    );

    // A receipt by TLVs, one by text only, and an inbound message.
    let receipt = DeliverSm::builder()
        .source_addr(COctetString::from_str("447700900123").expect("addr"))
        .destination_addr(COctetString::from_str("Flit").expect("addr"))
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_str("id:160 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 text:hello").expect("sm"))
        .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(COctetString::from_str("A0").expect("id")))
        .push_tlv(MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered))
        .build();
    send(
        &mut conn,
        Command::new(CommandStatus::EsmeRok, 900, receipt),
    )
    .await;
    let text_only = DeliverSm::builder()
        .source_addr(COctetString::from_str("447700900123").expect("addr"))
        .destination_addr(COctetString::from_str("Flit").expect("addr"))
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_str("id:161 stat:UNDELIV err:001").expect("sm"))
        .build();
    send(
        &mut conn,
        Command::new(CommandStatus::EsmeRok, 901, text_only),
    )
    .await;
    let inbound = DeliverSm::builder()
        .source_addr(COctetString::from_str("447700900999").expect("addr"))
        .destination_addr(COctetString::from_str("12345").expect("addr"))
        .esm_class(EsmClass::from(0x00))
        .push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            rusmpp::values::MessagePayload::new(AnyOctetString::from_slice(&[
                0x00, 0x48, 0x00, 0x69, 0xD8, 0x3D, 0xDE, 0x00,
            ])),
        ))
        .data_coding(rusmpp::values::DataCoding::from(8))
        .build();
    send(
        &mut conn,
        Command::new(CommandStatus::EsmeRok, 902, inbound),
    )
    .await;
    for sequence in [900, 901, 902] {
        let resp = recv_work(&mut conn).await;
        assert_eq!(
            (resp.id(), resp.sequence_number(), resp.status()),
            (CommandId::DeliverSmResp, sequence, CommandStatus::EsmeRok)
        );
    }
    let SessionEvent::Receipt(r) = event(&mut events).await else {
        panic!("receipt")
    };
    assert_eq!(
        (r.smsc_message_id.as_str(), r.state, r.delivered),
        ("A0", ReceiptState::Delivered, Some(1))
    );
    let SessionEvent::Receipt(r) = event(&mut events).await else {
        panic!("receipt")
    };
    assert_eq!(
        (r.smsc_message_id.as_str(), r.state, r.error.as_deref()),
        ("161", ReceiptState::Undeliverable, Some("001"))
    );
    assert_eq!(
        event(&mut events).await,
        SessionEvent::Inbound(InboundSms {
            source: "447700900999".into(),
            destination: "12345".into(),
            text: "Hi😀".into(),
            parts: 1,
        })
    );
    assert_eq!(session.in_flight(), 0);
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn the_window_is_never_exceeded() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(BindConfig {
        window_size: 3,
        ..smsc.config()
    });
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    for id in 0..10 {
        queue.push(submit(id, "window"));
    }
    let (mut outstanding, mut most, mut answered) = (Vec::new(), 0, 0);
    while answered < 10 {
        // Collect what arrives until the session stops sending (window full), then answer.
        match tokio::time::timeout(Duration::from_millis(100), conn.next()).await {
            Ok(Some(Ok(command))) if command.id() == CommandId::SubmitSm => {
                outstanding.push(command.sequence_number());
                most = most.max(outstanding.len());
                assert!(
                    outstanding.len() <= 3,
                    "window exceeded: {}",
                    outstanding.len()
                );
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {
                assert!(!outstanding.is_empty(), "session stalled");
                assert_eq!(session.in_flight(), outstanding.len());
                for sequence in outstanding.drain(..) {
                    send(&mut conn, submit_resp(sequence, 0, &format!("{sequence}"))).await;
                    answered += 1;
                }
            }
        }
    }
    assert_eq!(most, 3, "the window was used");
    for _ in 0..10 {
        assert!(matches!(
            event(&mut events).await,
            SessionEvent::PartAccepted { .. }
        ));
    }
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn a_silent_smsc_times_the_part_out() {
    let smsc = TestSmsc::start().await;
    let config = BindConfig {
        response_timeout: Duration::from_millis(300),
        ..smsc.config()
    };
    let (session, queue, mut events) = spawn(config);
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(7, "anyone there?"));
    let command = recv_work(&mut conn).await;
    assert_eq!(command.id(), CommandId::SubmitSm);
    assert_eq!(
        event(&mut events).await,
        SessionEvent::PartRejected {
            id: 7,
            part: 1,
            parts: 1,
            command_status: 0,
            temporary: true
        }
    );
    assert_eq!(session.in_flight(), 0);
    // A late response is ignored.
    send(&mut conn, submit_resp(command.sequence_number(), 0, "late")).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err()
    );
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn throttling_pauses_then_success_resets() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(smsc.config());
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(1, "first"));
    let command = recv_work(&mut conn).await;
    send(&mut conn, submit_resp(command.sequence_number(), 0x58, "")).await;
    assert_eq!(
        event(&mut events).await,
        SessionEvent::PartRejected {
            id: 1,
            part: 1,
            parts: 1,
            command_status: 0x58,
            temporary: true
        }
    );
    assert_eq!(
        event(&mut events).await,
        SessionEvent::Throttled {
            pause: Duration::from_secs(1)
        }
    );
    let throttled_at = tokio::time::Instant::now();
    queue.requeue(submit(1, "first"));
    let command = recv_work(&mut conn).await;
    assert!(
        throttled_at.elapsed() >= Duration::from_millis(900),
        "sent after {:?}",
        throttled_at.elapsed()
    );
    send(&mut conn, submit_resp(command.sequence_number(), 0x58, "")).await;
    event(&mut events).await;
    assert_eq!(
        event(&mut events).await,
        SessionEvent::Throttled {
            pause: Duration::from_secs(2)
        },
        "doubles"
    );
    queue.requeue(submit(1, "first"));
    let command = recv_work(&mut conn).await;
    send(&mut conn, submit_resp(command.sequence_number(), 0, "ok")).await;
    assert!(matches!(
        event(&mut events).await,
        SessionEvent::PartAccepted { id: 1, .. }
    ));
    queue.push(submit(2, "second"));
    let command = recv_work(&mut conn).await;
    send(&mut conn, submit_resp(command.sequence_number(), 0x14, "")).await;
    event(&mut events).await;
    assert_eq!(
        event(&mut events).await,
        SessionEvent::Throttled {
            pause: Duration::from_secs(1)
        },
        "reset by success"
    );
    // A permanent error is not temporary and does not pause.
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn permanent_rejections_are_not_temporary() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(smsc.config());
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(3, "bad"));
    let command = recv_work(&mut conn).await;
    send(&mut conn, submit_resp(command.sequence_number(), 0x0B, "")).await;
    assert_eq!(
        event(&mut events).await,
        SessionEvent::PartRejected {
            id: 3,
            part: 1,
            parts: 1,
            command_status: 0x0B,
            temporary: false
        }
    );
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn losing_the_connection_mid_window_rejects_in_flight_and_reconnects() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(smsc.config());
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(1, "one"));
    queue.push(submit(2, "two"));
    recv_work(&mut conn).await;
    recv_work(&mut conn).await;
    drop(conn);
    let mut rejected = Vec::new();
    for _ in 0..2 {
        match event(&mut events).await {
            SessionEvent::PartRejected {
                id,
                command_status: 0,
                temporary: true,
                ..
            } => rejected.push(id),
            other => panic!("unexpected {other:?}"),
        }
    }
    rejected.sort();
    assert_eq!(rejected, vec![1, 2]);
    assert!(matches!(
        event(&mut events).await,
        SessionEvent::Disconnected { .. }
    ));
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(3, "three"));
    let command = recv_work(&mut conn).await;
    send(&mut conn, submit_resp(command.sequence_number(), 0, "X")).await;
    assert!(matches!(
        event(&mut events).await,
        SessionEvent::PartAccepted { id: 3, .. }
    ));
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn a_refused_bind_is_reported_and_retried() {
    let smsc = TestSmsc::start().await;
    let (session, _queue, mut events) = spawn(smsc.config());
    for _ in 0..2 {
        let _conn = smsc.accept_bind(0x0E).await;
        assert_eq!(
            event(&mut events).await,
            SessionEvent::BindRefused {
                command_status: 0x0E
            }
        );
        assert!(!session.is_bound());
    }
    let _conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    session.shutdown().await;
}

#[tokio::test]
async fn enquire_links_both_ways_and_unknown_pdus_get_generic_nack() {
    let smsc = TestSmsc::start().await;
    let config = BindConfig {
        enquire_link_interval: Duration::from_millis(200),
        ..smsc.config()
    };
    let (session, _queue, mut events) = spawn(config);
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    send(
        &mut conn,
        Command::new(CommandStatus::EsmeRok, 77, Pdu::EnquireLink),
    )
    .await;
    let resp = recv(&mut conn).await;
    assert_eq!(
        (resp.id(), resp.sequence_number()),
        (CommandId::EnquireLinkResp, 77)
    );
    let unknown = Pdu::Other {
        command_id: CommandId::from(0x0000_0099),
        body: AnyOctetString::from_slice(b"??"),
    };
    send(&mut conn, Command::new(CommandStatus::EsmeRok, 78, unknown)).await;
    let nack = recv(&mut conn).await;
    assert_eq!(
        (nack.id(), nack.sequence_number(), u32::from(nack.status())),
        (CommandId::GenericNack, 78, 0x03)
    );
    // Idle: the session asks; answering keeps it bound.
    let ping = recv(&mut conn).await;
    assert_eq!(ping.id(), CommandId::EnquireLink);
    send(
        &mut conn,
        Command::new(
            CommandStatus::EsmeRok,
            ping.sequence_number(),
            Pdu::EnquireLinkResp,
        ),
    )
    .await;
    let ping = recv(&mut conn).await;
    assert_eq!(
        ping.id(),
        CommandId::EnquireLink,
        "asks again after the next idle interval"
    );
    // Not answering within response_timeout kills the session.
    let config_timeout = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    assert!(
        matches!(event(&mut events).await, SessionEvent::Disconnected { reason } if reason.contains("enquire_link"))
    );
    assert!(started.elapsed() >= config_timeout - Duration::from_millis(300));
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn a_garbage_frame_kills_the_connection() {
    let smsc = TestSmsc::start().await;
    let (session, _queue, mut events) = spawn(smsc.config());
    let conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    let mut stream = conn.into_inner();
    // command_length 4 is below the 16-octet header.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1])
        .await
        .expect("write");
    assert!(
        matches!(event(&mut events).await, SessionEvent::Disconnected { reason } if reason.contains("undecodable"))
    );
    let _conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    session.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_waits_for_in_flight_then_unbinds() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(smsc.config());
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    queue.push(submit(1, "in flight"));
    let command = recv_work(&mut conn).await;
    let smsc_side = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send(&mut conn, submit_resp(command.sequence_number(), 0, "done")).await;
        let unbind = recv_work(&mut conn).await;
        assert_eq!(unbind.id(), CommandId::Unbind);
        send(
            &mut conn,
            Command::new(
                CommandStatus::EsmeRok,
                unbind.sequence_number(),
                Pdu::UnbindResp,
            ),
        )
        .await;
        // The session closes its side afterwards.
        assert!(
            tokio::time::timeout(WAIT, conn.next())
                .await
                .expect("closed in time")
                .is_none()
        );
    });
    tokio::time::timeout(WAIT, session.shutdown())
        .await
        .expect("shutdown in time");
    assert!(
        matches!(
            event(&mut events).await,
            SessionEvent::PartAccepted { id: 1, .. }
        ),
        "response awaited before unbind"
    );
    smsc_side.await.expect("smsc script");
    // Work pushed after shutdown stays queued for another session.
    queue.push(submit(2, "later"));
    assert_eq!(queue.len(), 1);
}

#[tokio::test]
async fn tps_limits_parts_per_second() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events) = spawn(BindConfig {
        tps: 5,
        ..smsc.config()
    });
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    let started = tokio::time::Instant::now();
    for id in 0..10 {
        queue.push(submit(id, "tps"));
    }
    for _ in 0..10 {
        let command = recv_work(&mut conn).await;
        send(&mut conn, submit_resp(command.sequence_number(), 0, "1")).await;
    }
    // A full bucket of 5, then one every 200 ms.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "10 parts at 5/s took {elapsed:?}"
    );
    drop(conn);
    session.shutdown().await;
}

#[tokio::test]
async fn answers_and_receipts_hold_the_window_until_recorded() {
    let smsc = TestSmsc::start().await;
    let (session, queue, mut events, stats) = spawn_unrecorded(BindConfig {
        window_size: 2,
        ..smsc.config()
    });
    let mut conn = smsc.accept_bind(0).await;
    expect_bound(&mut events).await;
    for id in 0..4 {
        queue.push(submit(id, "durable"));
    }
    // Two parts fill the window; answering them does not free it while nothing is recorded.
    let mut sequences = Vec::new();
    for _ in 0..2 {
        let command = recv_work(&mut conn).await;
        assert_eq!(command.id(), CommandId::SubmitSm);
        sequences.push(command.sequence_number());
    }
    for sequence in &sequences {
        send(
            &mut conn,
            submit_resp(*sequence, 0, &format!("M{sequence}")),
        )
        .await;
    }
    for _ in 0..2 {
        assert!(matches!(
            event(&mut events).await,
            SessionEvent::PartAccepted { .. }
        ));
    }
    assert_eq!(stats.unrecorded(), 2);
    match tokio::time::timeout(Duration::from_millis(300), conn.next()).await {
        Err(_) => {}
        Ok(other) => panic!("sent past a window of unrecorded answers: {other:?}"),
    }

    // A receipt is answered only once recorded.
    let receipt = DeliverSm::builder()
        .source_addr(COctetString::from_str("447700900123").expect("addr"))
        .destination_addr(COctetString::from_str("Flit").expect("addr"))
        .esm_class(EsmClass::from(0x04))
        .short_message(OctetString::from_str("id:M1 stat:DELIVRD err:000").expect("sm"))
        .build();
    send(
        &mut conn,
        Command::new(CommandStatus::EsmeRok, 700, receipt),
    )
    .await;
    assert!(matches!(event(&mut events).await, SessionEvent::Receipt(_)));
    match tokio::time::timeout(Duration::from_millis(300), conn.next()).await {
        Err(_) => {}
        Ok(other) => panic!("deliver_sm answered before it was recorded: {other:?}"),
    }
    stats.record_deliveries(1);
    let resp = recv_work(&mut conn).await;
    assert_eq!(
        (resp.id(), resp.sequence_number()),
        (CommandId::DeliverSmResp, 700)
    );

    // Recording the answers frees the window: the next two parts go out.
    stats.record_answers(2);
    for _ in 0..2 {
        assert_eq!(recv_work(&mut conn).await.id(), CommandId::SubmitSm);
    }
    drop(conn);
    session.shutdown().await;
}
