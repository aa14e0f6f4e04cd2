//! The simulated SMSC over real loopback TCP, driven by a tiny rusmpp ESME written here.

use std::collections::VecDeque;
use std::str::FromStr;
use std::time::Duration;

use flit_loadtest::smsc::{self, ConcatKind, SmscConfig, SmscHandle, SubmitOutcome};
use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{
    BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm,
};
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
enum Mode {
    Transmitter,
    Receiver,
    Transceiver,
}

/// A minimal ESME: sends PDUs, reads responses, stashes deliver_sm that arrive in between.
struct Esme {
    framed: Framed<TcpStream, CommandCodec>,
    sequence: u32,
    delivers: VecDeque<(u32, DeliverSm)>,
}

impl Esme {
    async fn connect(smsc: &SmscHandle) -> Self {
        let stream = TcpStream::connect(smsc.addr).await.expect("connect");
        Self {
            framed: Framed::new(stream, CommandCodec::new()),
            sequence: 0,
            delivers: VecDeque::new(),
        }
    }

    async fn bound(smsc: &SmscHandle, mode: Mode) -> Self {
        let mut esme = Self::connect(smsc).await;
        let status = esme.bind(mode, "flit", "secret").await;
        assert_eq!(status, CommandStatus::EsmeRok);
        esme
    }

    async fn send(&mut self, pdu: impl Into<Pdu>) -> u32 {
        self.sequence += 1;
        let command = Command::new(CommandStatus::EsmeRok, self.sequence, pdu);
        self.framed.send(command).await.expect("send");
        self.sequence
    }

    /// The next PDU, or None when the SMSC closed the connection.
    async fn next(&mut self) -> Option<Command> {
        match tokio::time::timeout(WAIT, self.framed.next()).await {
            Ok(Some(Ok(command))) => Some(command),
            Ok(Some(Err(error))) => panic!("decode error: {error}"),
            Ok(None) => None,
            Err(_) => panic!("no PDU within {WAIT:?}"),
        }
    }

    /// The response to `sequence`; deliver_sm arriving first are stashed.
    async fn response(&mut self, sequence: u32) -> Command {
        loop {
            let command = self
                .next()
                .await
                .expect("connection closed before the response");
            if let Some(Pdu::DeliverSm(deliver)) = command.pdu() {
                self.delivers
                    .push_back((command.sequence_number(), deliver.clone()));
                continue;
            }
            assert_eq!(
                command.sequence_number(),
                sequence,
                "unexpected {command:?}"
            );
            return command;
        }
    }

    async fn bind(&mut self, mode: Mode, system_id: &str, password: &str) -> CommandStatus {
        let system_id = COctetString::from_str(system_id).expect("system_id");
        let password = COctetString::from_str(password).expect("password");
        let sequence = match mode {
            Mode::Transmitter => {
                let pdu = BindTransmitter::builder()
                    .system_id(system_id)
                    .password(password)
                    .build();
                self.send(pdu).await
            }
            Mode::Receiver => {
                let pdu = BindReceiver::builder()
                    .system_id(system_id)
                    .password(password)
                    .build();
                self.send(pdu).await
            }
            Mode::Transceiver => {
                let pdu = BindTransceiver::builder()
                    .system_id(system_id)
                    .password(password)
                    .build();
                self.send(pdu).await
            }
        };
        self.response(sequence).await.status()
    }

    async fn submit_pdu(&mut self, destination: &str, short_message: &[u8], esm_class: u8) -> u32 {
        let pdu = SubmitSm::builder()
            .source_addr_ton(Ton::Alphanumeric)
            .source_addr_npi(Npi::Unknown)
            .source_addr(COctetString::from_str("Flit").expect("source"))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(COctetString::from_str(destination).expect("destination"))
            .esm_class(EsmClass::from(esm_class))
            .registered_delivery(RegisteredDelivery::from(1))
            .short_message(OctetString::from_vec(short_message.to_vec()).expect("short message"))
            .build();
        self.send(pdu).await
    }

    /// Submits and returns (status, message id).
    async fn submit(&mut self, destination: &str, text: &str) -> (CommandStatus, Option<String>) {
        let sequence = self.submit_pdu(destination, text.as_bytes(), 0).await;
        let response = self.response(sequence).await;
        assert_eq!(response.id(), CommandId::SubmitSmResp);
        let id = match response.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => Some(resp.message_id().to_string()),
            _ => None,
        };
        (response.status(), id)
    }

    /// The next deliver_sm, acknowledged.
    async fn deliver(&mut self) -> DeliverSm {
        let (sequence, deliver) = match self.delivers.pop_front() {
            Some(stashed) => stashed,
            None => loop {
                let command = self
                    .next()
                    .await
                    .expect("connection closed before a deliver_sm");
                if let Some(Pdu::DeliverSm(deliver)) = command.pdu() {
                    break (command.sequence_number(), deliver.clone());
                }
            },
        };
        let ack = Command::new(CommandStatus::EsmeRok, sequence, DeliverSmResp::default());
        self.framed.send(ack).await.expect("deliver_sm_resp");
        deliver
    }
}

fn config() -> SmscConfig {
    SmscConfig {
        system_id: Some("flit".into()),
        password: Some("secret".into()),
        receipt_delay: Duration::from_millis(100),
        ..SmscConfig::default()
    }
}

async fn start(config: SmscConfig) -> SmscHandle {
    smsc::start(config).await.expect("start the SMSC")
}

fn receipted_id(deliver: &DeliverSm) -> Option<String> {
    deliver.tlvs().iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::ReceiptedMessageId(id)) => Some(id.to_string()),
        _ => None,
    })
}

fn message_state(deliver: &DeliverSm) -> Option<MessageState> {
    deliver.tlvs().iter().find_map(|tlv| match tlv.value() {
        Some(TlvValue::MessageState(state)) => Some(*state),
        _ => None,
    })
}

fn text_of(deliver: &DeliverSm) -> String {
    String::from_utf8(deliver.short_message().to_vec()).expect("ASCII receipt")
}

#[tokio::test]
async fn bind_succeeds_with_the_right_credentials_only() {
    let smsc = start(config()).await;
    let mut esme = Esme::connect(&smsc).await;
    assert_eq!(
        esme.bind(Mode::Transceiver, "flit", "wrong").await,
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        esme.bind(Mode::Transceiver, "other", "secret").await,
        CommandStatus::EsmeRinvsysid
    );
    assert_eq!(
        esme.bind(Mode::Transceiver, "flit", "secret").await,
        CommandStatus::EsmeRok
    );
    assert_eq!(
        esme.bind(Mode::Transceiver, "flit", "secret").await,
        CommandStatus::EsmeRalybnd
    );
    let mut transmitter = Esme::connect(&smsc).await;
    assert_eq!(
        transmitter.bind(Mode::Transmitter, "flit", "secret").await,
        CommandStatus::EsmeRok
    );
    let stats = smsc.stats();
    assert_eq!(
        (stats.binds, stats.bind_failures, stats.bound_sessions),
        (2, 3, 2)
    );
    smsc.stop().await;
}

#[tokio::test]
async fn any_credentials_bind_when_none_are_configured() {
    let smsc = start(SmscConfig::default()).await;
    let mut esme = Esme::connect(&smsc).await;
    assert_eq!(
        esme.bind(Mode::Receiver, "anyone", "x").await,
        CommandStatus::EsmeRok
    );
}

#[tokio::test]
async fn submit_is_acked_with_an_id_and_its_receipt_follows_after_the_delay() {
    let smsc = start(config()).await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let started = tokio::time::Instant::now();
    let (status, id) = esme
        .submit("4915112345678", "Hello from Flit, a fairly long text")
        .await;
    assert_eq!(status, CommandStatus::EsmeRok);
    let id = id.expect("message id");
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );

    let receipt = esme.deliver().await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(u8::from(receipt.esm_class), 0x04);
    assert_eq!(receipted_id(&receipt).as_deref(), Some(id.as_str()));
    assert_eq!(message_state(&receipt), Some(MessageState::Delivered));
    assert_eq!(receipt.source_addr.to_string(), "4915112345678");
    assert_eq!(receipt.destination_addr.to_string(), "Flit");
    let text = text_of(&receipt);
    assert!(
        text.starts_with(&format!("id:{id} sub:001 dlvrd:001 submit date:")),
        "{text}"
    );
    assert!(
        text.contains(" stat:DELIVRD err:000 text:Hello from Flit, a f"),
        "{text}"
    );

    let stats = smsc
        .wait_for_stats(WAIT, |s| s.receipts_acked == 1)
        .await
        .expect("receipt acked");
    assert_eq!(
        (stats.submits, stats.accepted, stats.messages, stats.parts),
        (1, 1, 1, 0)
    );
    assert_eq!(stats.receipts_sent, 1);

    let received = smsc.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].destination, "4915112345678");
    assert_eq!(received[0].source, "Flit");
    assert_eq!((received[0].source_ton, received[0].dest_ton), (5, 1));
    assert_eq!(received[0].text(), "Hello from Flit, a fairly long text");
    assert_eq!(received[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(received[0].outcome, SubmitOutcome::Accepted);
}

#[tokio::test]
async fn ids_are_unique_and_decimal_when_asked() {
    let smsc = start(SmscConfig {
        id_format: smsc::IdFormat::Decimal,
        receipts: false,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(esme.submit("491", "x").await.1.expect("id"));
    }
    assert!(
        ids.iter().all(|id| id.chars().all(|c| c.is_ascii_digit())),
        "{ids:?}"
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn destinations_with_the_fail_suffix_get_undeliv_receipts() {
    let smsc = start(SmscConfig {
        fail_suffix: Some("0000".into()),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let (_, id) = esme.submit("491510000", "doomed").await;
    let receipt = esme.deliver().await;
    assert_eq!(receipted_id(&receipt), id);
    assert_eq!(message_state(&receipt), Some(MessageState::Undeliverable));
    let text = text_of(&receipt);
    assert!(
        text.contains("dlvrd:000") && text.contains("stat:UNDELIV err:001"),
        "{text}"
    );
}

#[tokio::test]
async fn every_second_submit_is_throttled() {
    let smsc = start(SmscConfig {
        throttle_every: Some(2),
        receipts: false,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, id) = esme.submit("491", "t").await;
        assert_eq!(id.is_some(), status == CommandStatus::EsmeRok);
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRthrottled,
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRthrottled
        ]
    );
    let stats = smsc.stats();
    assert_eq!((stats.submits, stats.accepted, stats.throttled), (4, 2, 2));
    let outcomes: Vec<_> = smsc.received().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes[1], SubmitOutcome::Throttled);
}

#[tokio::test]
async fn the_connection_drops_right_after_every_third_submit() {
    let smsc = start(SmscConfig {
        disconnect_every: Some(3),
        receipts: false,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    assert_eq!(esme.submit("491", "1").await.0, CommandStatus::EsmeRok);
    assert_eq!(esme.submit("491", "2").await.0, CommandStatus::EsmeRok);
    esme.submit_pdu("491", b"3", 0).await;
    assert!(
        esme.next().await.is_none(),
        "connection should be closed, unanswered"
    );
    let stats = smsc
        .wait_for_stats(WAIT, |s| s.bound_sessions == 0)
        .await
        .expect("session ended");
    assert_eq!(
        (stats.submits, stats.accepted, stats.disconnects),
        (3, 2, 1)
    );
    assert_eq!(smsc.received()[2].outcome, SubmitOutcome::Disconnected);
    // The SMSC still accepts the reconnect.
    let mut again = Esme::bound(&smsc, Mode::Transceiver).await;
    assert_eq!(again.submit("491", "4").await.0, CommandStatus::EsmeRok);
}

#[tokio::test]
async fn enquire_link_is_answered_bound_or_not() {
    let smsc = start(config()).await;
    let mut esme = Esme::connect(&smsc).await;
    let sequence = esme.send(Pdu::EnquireLink).await;
    let response = esme.response(sequence).await;
    assert_eq!(
        (response.id(), response.status()),
        (CommandId::EnquireLinkResp, CommandStatus::EsmeRok)
    );
    assert_eq!(smsc.stats().enquire_links, 1);
}

#[tokio::test]
async fn unknown_commands_get_generic_nack_and_unbind_closes() {
    let smsc = start(config()).await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let sequence = esme
        .send(Pdu::Other {
            command_id: CommandId::Other(0x0000_0115),
            body: AnyOctetString::empty(),
        })
        .await;
    let response = esme.response(sequence).await;
    assert_eq!(response.id(), CommandId::GenericNack);
    assert_eq!(response.status(), CommandStatus::EsmeRinvcmdid);
    assert_eq!(smsc.stats().generic_nacks, 1);

    let sequence = esme.send(Pdu::Unbind).await;
    assert_eq!(esme.response(sequence).await.id(), CommandId::UnbindResp);
    assert!(esme.next().await.is_none());
    assert_eq!(smsc.stats().unbinds, 1);
}

#[tokio::test]
async fn submit_before_bind_is_refused() {
    let smsc = start(config()).await;
    let mut esme = Esme::connect(&smsc).await;
    assert_eq!(
        esme.submit("491", "x").await.0,
        CommandStatus::EsmeRinvbndsts
    );
    let mut receiver = Esme::bound(&smsc, Mode::Receiver).await;
    assert_eq!(
        receiver.submit("491", "x").await.0,
        CommandStatus::EsmeRinvbndsts
    );
    assert_eq!(smsc.stats().submits, 0);
}

#[tokio::test]
async fn receipts_wait_for_a_receiver_and_are_sent_on_rebind() {
    let smsc = start(SmscConfig {
        receipt_delay: Duration::from_millis(20),
        ..config()
    })
    .await;
    let mut transmitter = Esme::bound(&smsc, Mode::Transmitter).await;
    let (_, first) = transmitter.submit("491", "one").await;
    let (_, second) = transmitter.submit("492", "two").await;
    smsc.wait_for_stats(WAIT, |s| s.receipts_queued == 2)
        .await
        .expect("receipts queued");

    // A receiver of another system_id does not get them.
    let smsc_any = &smsc;
    smsc_any.update_config(|c| {
        c.system_id = None;
        c.password = None;
    });
    let mut stranger = Esme::connect(&smsc).await;
    assert_eq!(
        stranger.bind(Mode::Receiver, "other", "x").await,
        CommandStatus::EsmeRok
    );
    assert_eq!(smsc.stats().receipts_queued, 2);

    let mut receiver = Esme::bound(&smsc, Mode::Receiver).await;
    let mut ids = vec![
        receipted_id(&receiver.deliver().await),
        receipted_id(&receiver.deliver().await),
    ];
    ids.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(ids, expected);
    let stats = smsc
        .wait_for_stats(WAIT, |s| s.receipts_acked == 2)
        .await
        .expect("acked");
    assert_eq!(stats.receipts_queued, 0);
}

#[tokio::test]
async fn unacked_receipts_of_a_dropped_session_are_sent_again_on_rebind() {
    let smsc = start(SmscConfig {
        receipt_delay: Duration::from_millis(10),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let (_, id) = esme.submit("491", "x").await;
    // Read the receipt but never acknowledge it, then vanish.
    loop {
        let command = esme.next().await.expect("receipt");
        if command.id() == CommandId::DeliverSm {
            break;
        }
    }
    drop(esme);
    smsc.wait_for_stats(WAIT, |s| s.bound_sessions == 0 && s.receipts_queued == 1)
        .await
        .expect("requeued");
    let mut again = Esme::bound(&smsc, Mode::Transceiver).await;
    assert_eq!(receipted_id(&again.deliver().await), id);
    let stats = smsc
        .wait_for_stats(WAIT, |s| s.receipts_acked == 1)
        .await
        .expect("acked");
    assert_eq!(stats.receipts_sent, 2);
}

#[tokio::test]
async fn concatenated_parts_are_recorded_and_counted() {
    let smsc = start(SmscConfig {
        receipts: false,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    for part in 1..=3u8 {
        let mut short_message = vec![0x05, 0x00, 0x03, 0x2A, 3, part];
        short_message.extend_from_slice(format!("part {part}").as_bytes());
        let sequence = esme.submit_pdu("491", &short_message, 0x40).await;
        assert_eq!(
            esme.response(sequence).await.status(),
            CommandStatus::EsmeRok
        );
    }
    esme.submit("491", "single").await;
    let stats = smsc.stats();
    assert_eq!(
        (stats.submits, stats.accepted, stats.parts, stats.messages),
        (4, 4, 3, 2)
    );
    let received = smsc.received();
    let concat = received[1].concat.expect("concat info");
    assert_eq!(
        (concat.kind, concat.reference, concat.total, concat.part),
        (ConcatKind::Udh8, 0x2A, 3, 2)
    );
    assert_eq!(
        received[1].udh.as_deref(),
        Some(&[0x05, 0x00, 0x03, 0x2A, 3, 2][..])
    );
    assert_eq!(received[1].text(), "part 2");
    assert!(received[3].concat.is_none());
}

#[tokio::test]
async fn latency_delays_answers_and_the_window_is_measured() {
    let smsc = start(SmscConfig {
        latency: Duration::from_millis(150),
        receipts: false,
        max_window_check: Some(3),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    let started = tokio::time::Instant::now();
    let mut sequences = Vec::new();
    for i in 0..5 {
        sequences.push(esme.submit_pdu("491", format!("{i}").as_bytes(), 0).await);
    }
    for sequence in sequences {
        assert_eq!(
            esme.response(sequence).await.status(),
            CommandStatus::EsmeRok
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(150));
    let stats = smsc.stats();
    assert_eq!(stats.max_outstanding_seen, 5);
    assert_eq!(stats.window_violations, 2);
}

#[tokio::test]
async fn a_silent_smsc_never_answers() {
    let smsc = start(SmscConfig {
        silent: true,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    esme.submit_pdu("491", b"x", 0).await;
    let nothing = tokio::time::timeout(Duration::from_millis(200), esme.framed.next()).await;
    assert!(nothing.is_err(), "expected silence, got {nothing:?}");
    let stats = smsc.stats();
    assert_eq!((stats.submits, stats.ignored, stats.accepted), (1, 1, 0));
}

#[tokio::test]
async fn garbage_breaks_the_client_decoder() {
    let smsc = start(SmscConfig {
        garbage_every: Some(1),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    esme.submit_pdu("491", b"x", 0).await;
    let result = tokio::time::timeout(WAIT, esme.framed.next())
        .await
        .expect("bytes arrive");
    assert!(
        matches!(result, Some(Err(_))),
        "expected a decode error, got {result:?}"
    );
    assert_eq!(smsc.stats().garbage_sent, 1);
}

#[tokio::test]
async fn inbound_messages_are_split_with_udh_and_acked() {
    let smsc = start(config()).await;
    let mut esme = Esme::bound(&smsc, Mode::Receiver).await;
    let text = "Hi [there] ".repeat(20); // 220 chars, 260 septets with escapes: 2 parts
    let parts = smsc
        .send_inbound("+4915112345678", "12345", &text)
        .await
        .expect("inbound");
    assert_eq!(parts, 2);
    let mut joined = Vec::new();
    let mut references = Vec::new();
    for number in 1..=2u8 {
        let deliver = esme.deliver().await;
        assert_eq!(u8::from(deliver.esm_class), 0x40);
        assert_eq!(deliver.source_addr.to_string(), "4915112345678");
        let short_message = deliver.short_message().to_vec();
        assert_eq!(
            &short_message[..5],
            &[0x05, 0x00, 0x03, short_message[3], 2]
        );
        assert_eq!(short_message[5], number);
        references.push(short_message[3]);
        joined.extend_from_slice(&short_message[6..]);
    }
    assert_eq!(references[0], references[1]);
    assert_eq!(smsc::decode_gsm7_unpacked(&joined), text);
    let stats = smsc
        .wait_for_stats(WAIT, |s| s.inbound_acked == 2)
        .await
        .expect("acked");
    assert_eq!(stats.inbound_sent, 2);
}

#[tokio::test]
async fn faults_can_change_at_run_time_and_stop_closes_sessions() {
    let smsc = start(SmscConfig {
        receipts: false,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transmitter).await;
    assert_eq!(esme.submit("491", "a").await.0, CommandStatus::EsmeRok);
    smsc.update_config(|c| c.throttle_rate = 1.0);
    assert_eq!(
        esme.submit("491", "b").await.0,
        CommandStatus::EsmeRthrottled
    );
    smsc.update_config(|c| c.throttle_rate = 0.0);
    assert_eq!(esme.submit("491", "c").await.0, CommandStatus::EsmeRok);
    smsc.disconnect_all();
    assert!(esme.next().await.is_none());
    let mut again = Esme::bound(&smsc, Mode::Transmitter).await;
    smsc.stop().await;
    assert!(again.next().await.is_none());
}

#[tokio::test]
async fn a_throttle_storm_refuses_a_run_of_submits_in_a_row() {
    let smsc = start(SmscConfig {
        throttle_storm: Some("1:3".parse().expect("storm")),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(esme.submit(&format!("23320000000{i}"), "storm").await.0);
    }
    let throttled = CommandStatus::EsmeRthrottled;
    let ok = CommandStatus::EsmeRok;
    assert_eq!(statuses, vec![ok, throttled, throttled, throttled, ok, ok]);
    assert_eq!(smsc.stats().throttled, 3);
}

#[tokio::test]
async fn generic_nack_answers_carry_the_configured_status() {
    let smsc = start(SmscConfig {
        generic_nack_every: Some(2),
        generic_nack_status: 0x08,
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let first = esme.submit_pdu("233200000001", b"one", 0).await;
    assert_eq!(esme.response(first).await.id(), CommandId::SubmitSmResp);
    let second = esme.submit_pdu("233200000002", b"two", 0).await;
    let nack = esme.response(second).await;
    assert_eq!(nack.id(), CommandId::GenericNack);
    assert_eq!(nack.status(), CommandStatus::EsmeRsyserr);
    let stats = smsc.stats();
    assert_eq!((stats.accepted, stats.nacked_submits), (1, 1));
    assert_eq!(smsc.received()[1].outcome, SubmitOutcome::Nacked);
}

#[tokio::test]
async fn a_malformed_response_breaks_the_decoder_but_the_submit_was_taken() {
    let smsc = start(SmscConfig {
        malformed_every: Some(1),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    esme.submit_pdu("233200000001", b"one", 0).await;
    let decoded = tokio::time::timeout(WAIT, esme.framed.next())
        .await
        .expect("an answer");
    assert!(
        matches!(decoded, Some(Err(_))),
        "the message_id runs past 65 octets: {decoded:?}"
    );
    let stats = smsc.stats();
    assert_eq!((stats.accepted, stats.malformed_sent), (1, 1));
    assert_eq!(smsc.received()[0].outcome, SubmitOutcome::Malformed);
}

#[tokio::test]
async fn stray_receipts_name_ids_never_handed_out() {
    let smsc = start(SmscConfig {
        stray_receipts_every: Some(1),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let (status, id) = esme.submit("233200000001", "real").await;
    assert_eq!(status, CommandStatus::EsmeRok);
    let id = id.expect("message id");
    let mut receipted: Vec<String> = Vec::new();
    for _ in 0..2 {
        let deliver = esme.deliver().await;
        receipted.push(receipted_id(&deliver).expect("receipted_message_id"));
    }
    assert!(receipted.contains(&id), "{receipted:?}");
    let stray: Vec<&String> = receipted.iter().filter(|r| **r != id).collect();
    assert_eq!(stray.len(), 1, "{receipted:?}");
    assert!(stray[0].starts_with("f1f1"), "{stray:?}");
    assert_eq!(smsc.stats().stray_receipts, 1);
}

#[tokio::test]
async fn a_restart_drops_sessions_and_listens_again_on_the_same_port() {
    let smsc = start(SmscConfig {
        restart_every: Some(2),
        restart_downtime: Duration::from_millis(100),
        receipt_delay: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let (status, _) = esme.submit("233200000001", "before").await;
    assert_eq!(status, CommandStatus::EsmeRok);
    esme.submit_pdu("233200000002", b"restart", 0).await;
    assert!(
        esme.next().await.is_none(),
        "the restart closes the session"
    );
    smsc.wait_for_stats(WAIT, |stats| stats.restarts == 1)
        .await
        .expect("listening again");
    // The receipt of the submit taken before the restart still comes, to the next session.
    let mut esme = Esme::bound(&smsc, Mode::Transceiver).await;
    let receipt = esme.deliver().await;
    assert!(text_of(&receipt).contains("stat:DELIVRD"));
    smsc.restart().await.expect("restart on request");
    assert_eq!(smsc.stats().restarts, 2);
    // Closed or reset, as the kernel sees fit: either way no PDU comes.
    let after = tokio::time::timeout(WAIT, esme.framed.next())
        .await
        .expect("the session ends");
    assert!(!matches!(after, Some(Ok(_))), "{after:?}");
    let mut again = Esme::bound(&smsc, Mode::Transceiver).await;
    assert_eq!(
        again.submit("233200000003", "after").await.0,
        CommandStatus::EsmeRok
    );
    assert_eq!(smsc.received()[1].outcome, SubmitOutcome::Restarted);
}
