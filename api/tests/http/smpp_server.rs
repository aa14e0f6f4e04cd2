//! The SMPP server for customers (SPEC §14), over real TCP with a client speaking rusmpp's
//! codec: binds and their refusals, submits in every alphabet and form of concatenation
//! through the accept path (the same message ids and charges as HTTP), receipts back as
//! `deliver_sm`, held across a restart for a receiver that binds later, flow control, and a
//! session that survives garbage.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::esme::{
    BIND_RECEIVER, BIND_TRANSCEIVER, BIND_TRANSMITTER, Esme, Part, message_id, receipt_of,
    submit_sm,
};
use crate::common::{Api, FlitProcess, TestServer};

const PASSWORD: &str = "s3cret";
const TO: &str = "233241234567";

/// A server with its SMPP listener on a free port, retrying held deliveries quickly.
pub async fn smpp_server() -> TestServer {
    TestServer::start_adjusted(listening).await
}

pub fn listening(mut config: flit_api::config::Config) -> flit_api::config::Config {
    config.smpp_server.listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.smpp_server.settings.retry = Duration::from_millis(200);
    config
}

pub fn smpp_addr(server: &TestServer) -> SocketAddr {
    server
        .server
        .as_ref()
        .and_then(|server| server.smpp_addr)
        .expect("the SMPP server listens")
}

/// A tenant with `credits` and the sender ID `Acme`, and an SMPP account of it.
pub async fn customer(server: &impl Api, credits: i64, system_id: &str, limits: Value) -> Customer {
    let (tenant, key) = server.tenant(credits, None).await;
    let mut body = json!({"systemId": system_id, "password": PASSWORD});
    if let (Some(body), Some(limits)) = (body.as_object_mut(), limits.as_object()) {
        body.extend(limits.clone());
    }
    let created = server
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/smpp-accounts"),
            Some(body),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Customer {
        tenant,
        key,
        system_id: system_id.to_string(),
        account: created.body["data"]["id"].as_str().expect("id").to_string(),
    }
}

pub struct Customer {
    pub tenant: String,
    pub key: String,
    pub system_id: String,
    pub account: String,
}

impl Customer {
    pub async fn balance(&self, server: &impl Api) -> i64 {
        let reply = server
            .request(Method::GET, "/api/v1/balance", Some(&self.key), None)
            .await;
        reply.body["data"]["balance"].as_i64().expect("balance")
    }

    /// The tenant's message `id` as the HTTP API shows it.
    pub async fn message(&self, server: &impl Api, id: &str) -> Value {
        let reply = server
            .request(
                Method::GET,
                &format!("/api/v1/sms/status/{id}"),
                Some(&self.key),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.body);
        reply.body["data"].clone()
    }

    pub async fn message_count(&self, server: &impl Api) -> u64 {
        let reply = server
            .request(Method::GET, "/api/v1/sms?limit=1", Some(&self.key), None)
            .await;
        reply.body["data"]["pagination"]["total"]
            .as_u64()
            .expect("total")
    }

    /// Waits until message `id` has no recipient pending.
    pub async fn settled(&self, server: &impl Api, id: &str) {
        for _ in 0..150 {
            let reply = server
                .request(
                    Method::GET,
                    &format!("/api/v1/sms/{id}/recipients"),
                    Some(&self.key),
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            if reply.body["data"]["stats"]["pending"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {id} still pending after 15 s");
    }

    pub async fn bound(&self, server: &TestServer, kind: u8) -> Esme {
        let mut esme = Esme::connect(smpp_addr(server)).await;
        assert_eq!(esme.bind(kind, &self.system_id, PASSWORD).await, 0, "bind");
        esme
    }
}

#[tokio::test]
async fn a_customer_submits_over_smpp_and_gets_its_receipt() {
    let server = smpp_server().await;
    let customer = customer(&server, 100, "acme", json!({})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;

    let (status, id) = esme.submit_text("Acme", TO, "Hello over SMPP", 1).await;
    assert_eq!(status, 0);
    assert!(
        id.starts_with("msg_") && id.len() == 30,
        "the HTTP API's id: {id}"
    );
    let message = customer.message(&server, &id).await;
    assert_eq!(message["message"], "Hello over SMPP", "{message}");
    assert_eq!(
        customer.balance(&server).await,
        99,
        "charged once, as over HTTP"
    );

    let receipts = esme.receipts(1, Duration::from_secs(15)).await;
    let receipt = &receipts[0];
    assert_eq!(receipt.id, id);
    assert_eq!(receipt.message_state, Some(2), "DELIVERED");
    assert!(
        receipt
            .text
            .starts_with(&format!("id:{id} sub:001 dlvrd:001 submit date:")),
        "{}",
        receipt.text
    );
    assert!(
        receipt
            .text
            .contains(" stat:DELIVRD err:000 text:Hello over SMPP"),
        "{}",
        receipt.text
    );
    assert_eq!(
        (receipt.source.as_str(), receipt.destination.as_str()),
        (TO, "Acme")
    );
    assert_eq!(esme.unbind().await, 0);
}

#[tokio::test]
async fn binds_are_checked_and_limited() {
    let server = smpp_server().await;
    let customer = customer(&server, 10, "limited", json!({"maxBinds": 1})).await;
    let addr = smpp_addr(&server);

    let mut wrong = Esme::connect(addr).await;
    assert_eq!(
        wrong.bind(BIND_TRANSCEIVER, "limited", "nope").await,
        0x0E,
        "ESME_RINVPASWD"
    );
    let mut unknown = Esme::connect(addr).await;
    assert_eq!(
        unknown.bind(BIND_TRANSCEIVER, "nobody", PASSWORD).await,
        0x0E,
        "as a wrong password"
    );

    let mut first = Esme::connect(addr).await;
    assert_eq!(first.bind(BIND_TRANSMITTER, "limited", PASSWORD).await, 0);
    assert_eq!(
        first.bind(BIND_TRANSMITTER, "limited", PASSWORD).await,
        0x05,
        "ESME_RALYBND: this session is bound already"
    );
    let mut second = Esme::connect(addr).await;
    assert_eq!(
        second.bind(BIND_RECEIVER, "limited", PASSWORD).await,
        0x0D,
        "ESME_RBINDFAIL: the account's one bind is taken"
    );
    let listed = server
        .admin(
            Method::GET,
            &format!("/tenants/{}/smpp-accounts", customer.tenant),
            None,
        )
        .await;
    let binds = &listed.body["data"]["smppAccounts"][0]["binds"];
    assert_eq!(binds.as_array().map(Vec::len), Some(1), "{}", listed.body);
    assert_eq!(binds[0]["mode"], "transmitter");

    assert_eq!(first.unbind().await, 0);
    let mut receiver = Esme::connect(addr).await;
    assert_eq!(
        receiver.bind(BIND_RECEIVER, "limited", PASSWORD).await,
        0,
        "free again"
    );
    let (status, _) = receiver.submit_text("Acme", TO, "from a receiver", 0).await;
    assert_eq!(status, 0x04, "ESME_RINVBNDSTS: a receiver does not submit");

    let deleted = server
        .admin(
            Method::DELETE,
            &format!(
                "/tenants/{}/smpp-accounts/{}",
                customer.tenant, customer.account
            ),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert!(
        receiver.closed_within(Duration::from_secs(5)).await,
        "its binds are closed"
    );
}

#[tokio::test]
async fn every_alphabet_and_form_of_concatenation_makes_one_message() {
    let server = smpp_server().await;
    let customer = customer(&server, 100, "texts", json!({})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;

    // UCS-2, and Latin-1 (data_coding 3).
    let ucs2: Vec<u8> = "Привет 👋"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let (status, id) = esme.submit("Acme", TO, Part::text(8, ucs2), 0).await;
    assert_eq!(status, 0);
    assert_eq!(customer.message(&server, &id).await["message"], "Привет 👋");
    let (status, id) = esme
        .submit("Acme", TO, Part::text(3, vec![b'c', b'a', b'f', 0xE9]), 0)
        .await;
    assert_eq!(status, 0);
    assert_eq!(customer.message(&server, &id).await["message"], "café");
    // GSM-7 one septet per octet: `@` is 0x00, `£` 0x01, `€` the escape 0x1B 0x65.
    let (status, id) = esme
        .submit(
            "Acme",
            TO,
            Part::text(0, vec![b'A', 0x00, 0x01, 0x1B, 0x65]),
            0,
        )
        .await;
    assert_eq!(status, 0);
    assert_eq!(customer.message(&server, &id).await["message"], "A@£€");

    // Three parts by UDH, answered `<id>-<part>`, one message of the whole text charged three
    // parts, and a receipt per part.
    let text = "x".repeat(153 * 2) + "the end";
    let before = customer.balance(&server).await;
    let mut ids = Vec::new();
    for (seq, chunk) in text.as_bytes().chunks(153).enumerate() {
        let mut octets = vec![0x05, 0x00, 0x03, 0x2A, 3, seq as u8 + 1];
        octets.extend_from_slice(chunk);
        let part = Part {
            udhi: true,
            ..Part::text(0, octets)
        };
        let (status, id) = esme.submit("Acme", TO, part, 1).await;
        assert_eq!(status, 0);
        ids.push(id);
    }
    let message_id = ids[0].strip_suffix("-1").expect("part 1's id").to_string();
    assert_eq!(
        ids,
        vec![
            format!("{message_id}-1"),
            format!("{message_id}-2"),
            format!("{message_id}-3")
        ]
    );
    let message = customer.message(&server, &message_id).await;
    assert_eq!(message["message"], text.as_str());
    assert_eq!(
        before - customer.balance(&server).await,
        3,
        "one message of three parts"
    );
    let receipts = esme.receipts(3, Duration::from_secs(15)).await;
    let mut receipted: Vec<String> = receipts.iter().map(|r| r.id.clone()).collect();
    receipted.sort();
    assert_eq!(receipted, ids);

    // SAR TLVs, parts in reverse order, and message_payload.
    let sar_text = "y".repeat(160) + "z".repeat(40).as_str();
    let chunks: Vec<&[u8]> = sar_text.as_bytes().chunks(160).collect();
    let mut sar_ids = Vec::new();
    for seq in [2u8, 1] {
        let part = Part {
            sar: Some((700, 2, seq)),
            ..Part::text(0, chunks[usize::from(seq - 1)].to_vec())
        };
        let (status, id) = esme.submit("Acme", TO, part, 0).await;
        assert_eq!(status, 0);
        sar_ids.push(id);
    }
    let sar_message = sar_ids[1].strip_suffix("-1").expect("part 1").to_string();
    assert_eq!(sar_ids[0], format!("{sar_message}-2"));
    assert_eq!(
        customer.message(&server, &sar_message).await["message"],
        sar_text.as_str()
    );
    let payload_text = "p".repeat(400);
    let part = Part {
        payload: Some(payload_text.as_bytes().to_vec()),
        ..Part::text(0, Vec::new())
    };
    let (status, id) = esme.submit("Acme", TO, part, 0).await;
    assert_eq!(status, 0);
    assert!(!id.contains('-'), "one submit, one id: {id}");
    assert_eq!(
        customer.message(&server, &id).await["message"],
        payload_text.as_str()
    );
}

#[tokio::test]
async fn refusals_are_smpp_statuses_and_charge_nothing() {
    let server = smpp_server().await;
    let customer = customer(&server, 1, "poor", json!({"tps": 5})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;

    let (status, _) = esme.submit_text("Acme", TO, "the one credit", 0).await;
    assert_eq!(status, 0);
    let (status, id) = esme.submit_text("Acme", TO, "no credit left", 0).await;
    assert_eq!((status, id.as_str()), (0x45, ""), "ESME_RSUBMITFAIL, no id");
    assert_eq!(customer.balance(&server).await, 0);
    assert_eq!(
        customer.message_count(&server).await,
        1,
        "nothing stored for the refusal"
    );
    let (status, _) = esme.submit_text("Nobody", TO, "unknown sender", 0).await;
    assert_eq!(status, 0x0A, "ESME_RINVSRCADR");
    let (status, _) = esme.submit_text("Acme", "12", "bad number", 0).await;
    assert_eq!(status, 0x0B, "ESME_RINVDSTADR");

    // Over the account's 5 submits a second: throttled, the rest answered.
    let mut sequences = Vec::new();
    for _ in 0..20 {
        sequences.push(
            esme.send(submit_sm("Acme", TO, Part::text(0, b"burst".to_vec()), 0))
                .await,
        );
    }
    let mut throttled = 0;
    for sequence in sequences {
        if u32::from(esme.response(sequence).await.status()) == 0x58 {
            throttled += 1;
        }
    }
    assert!(
        throttled >= 10,
        "ESME_RTHROTTLED past 5 a second: {throttled} of 20"
    );
}

#[tokio::test]
async fn garbage_costs_a_pdu_not_the_session() {
    let server = smpp_server().await;
    let customer = customer(&server, 10, "sloppy", json!({})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;

    // A well-framed PDU of a command Flit does not know (0x00000077), sequence 900.
    esme.write_raw(&[0, 0, 0, 16, 0, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0x03, 0x84])
        .await;
    let nack = esme.response(900).await;
    assert_eq!(nack.id(), rusmpp::CommandId::GenericNack);
    assert_eq!(u32::from(nack.status()), 0x03, "ESME_RINVCMDID");
    // A submit_sm whose body is cut short, sequence 901.
    esme.write_raw(&[
        0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x03, 0x85, 0x41, 0x41, 0x41, 0x41,
    ])
    .await;
    let nack = esme.response(901).await;
    assert_eq!(nack.id(), rusmpp::CommandId::GenericNack);
    assert_eq!(
        u32::from(nack.status()),
        0x02,
        "ESME_RINVCMDLEN: its body is not a submit_sm"
    );

    let (status, _) = esme.submit_text("Acme", TO, "still bound", 0).await;
    assert_eq!(status, 0, "the session goes on");
}

#[tokio::test]
async fn receipts_wait_on_disk_for_a_receiver_across_a_restart() {
    let server = smpp_server().await;
    let customer = customer(&server, 10, "later", json!({})).await;
    let mut transmitter = customer.bound(&server, BIND_TRANSMITTER).await;
    let (status, id) = transmitter
        .submit_text("Acme", TO, "tell me later", 1)
        .await;
    assert_eq!(status, 0);
    customer.settled(&server, &id).await;
    drop(transmitter);

    let server = server.restart_adjusted(listening).await;
    let mut receiver = customer.bound(&server, BIND_RECEIVER).await;
    let receipts = receiver.receipts(1, Duration::from_secs(15)).await;
    assert_eq!(receipts[0].id, id);
    assert_eq!(receipts[0].message_state, Some(2));
    // Answered: not sent again to the next receiver.
    assert_eq!(receiver.unbind().await, 0);
    let mut again = customer.bound(&server, BIND_RECEIVER).await;
    assert!(
        again
            .read(Duration::from_secs(2))
            .await
            .and_then(|c| receipt_of(&c))
            .is_none()
    );
}

/// Pipelines `count` submits within `window`, reading answers, until `acked` were accepted;
/// then calls `cut`, sends nothing more, and, when `cut` says so, reads what still comes
/// until the connection ends or goes quiet. The ids accepted.
async fn pipeline(
    esme: &mut Esme,
    count: usize,
    window: usize,
    acked: usize,
    mut cut: impl FnMut() -> bool,
) -> Vec<String> {
    let (mut sent, mut outstanding, mut ids, mut was_cut) = (0, 0, Vec::new(), false);
    loop {
        while !was_cut && outstanding < window && sent < count {
            let text = format!("pipelined {sent}");
            esme.send(submit_sm("Acme", TO, Part::text(0, text.into_bytes()), 1))
                .await;
            sent += 1;
            outstanding += 1;
        }
        let Some(response) = esme.next_response(Duration::from_secs(5)).await else {
            return ids;
        };
        outstanding -= 1;
        if u32::from(response.status()) == 0 {
            ids.push(message_id(&response));
        }
        if !was_cut && ids.len() >= acked {
            was_cut = true;
            if !cut() {
                return ids;
            }
        }
        if outstanding == 0 && (was_cut || sent == count) {
            return ids;
        }
    }
}

/// Every id is a message of the tenant, delivered, and the messages are all that was charged.
async fn assert_each_accepted_once(
    server: &impl Api,
    customer: &Customer,
    ids: &[String],
    credits: i64,
) {
    let mut total = 0;
    for _ in 0..300 {
        total = customer.message_count(server).await;
        let delivered = server
            .request(
                Method::GET,
                "/api/v1/sms?status=DELIVERED&limit=1",
                Some(&customer.key),
                None,
            )
            .await;
        if delivered.body["data"]["pagination"]["total"] == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in ids {
        assert_eq!(
            customer.message(server, id).await["status"],
            "DELIVERED",
            "{id}"
        );
    }
    assert!(
        total >= ids.len() as u64,
        "{total} messages, {} acknowledged",
        ids.len()
    );
    let balance = customer.balance(server).await;
    assert_eq!(
        credits - balance,
        total as i64,
        "one credit per message stored, none twice"
    );
    assert_eq!(
        server.ledger_sum(&customer.key).await,
        balance,
        "the ledger balances"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_window_loses_nothing_it_was_told() {
    let server = smpp_server().await;
    let customer = customer(&server, 10_000, "killed", json!({"windowSize": 100})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;
    // 100 in flight; after the 40th answer the client goes, its socket closed mid-window.
    let ids = pipeline(&mut esme, 400, 100, 40, || false).await;
    drop(esme);
    assert!(ids.len() >= 40);
    assert_each_accepted_once(&server, &customer, &ids, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flit_killed_mid_window_keeps_every_submit_it_answered() {
    let data = tempfile::tempdir().expect("data dir");
    let logs = tempfile::tempdir().expect("logs dir");
    let free = || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").to_string()
    };
    // Fixed addresses: the restarted server must be where the first one was.
    let (http, smpp) = (free(), free());
    let args = ["--listen", http.as_str(), "--smpp-listen", smpp.as_str()];
    let env = [("FLIT_ADMIN_TOKEN", crate::common::ADMIN_TOKEN)];
    let mut flit = FlitProcess::spawn(data.path(), logs.path(), &args, &env);
    flit.ready(data.path()).await;
    let remote = Remote {
        base: flit.base.clone(),
    };
    // A carrier that outlives the kill, so receipts owed for what Flit sent before it still
    // come once Flit binds again (the sandbox's receipts die with the process).
    let carrier = crate::carrier::smsc_with(|_| {}).await;
    let bind = remote
        .admin(
            Method::POST,
            "/binds",
            Some(json!({
                "name": "carrier", "host": "127.0.0.1", "port": carrier.addr.port(),
                "systemId": "flit", "password": "secret", "windowSize": 50
            })),
        )
        .await;
    assert_eq!(bind.status, StatusCode::CREATED, "{}", bind.body);
    let customer = customer(&remote, 10_000, "crashed", json!({"windowSize": 100})).await;

    let mut esme = Esme::connect(smpp.parse().expect("addr")).await;
    assert_eq!(esme.bind(BIND_TRANSCEIVER, "crashed", PASSWORD).await, 0);
    let mut flit = Some(flit);
    // SIGKILL after the 150th answer, with up to 100 submits in flight.
    let ids = pipeline(&mut esme, 2_000, 100, 150, || {
        if let Some(flit) = flit.take() {
            flit.kill();
        }
        true
    })
    .await;
    assert!(ids.len() >= 150, "{}", ids.len());

    let mut flit = FlitProcess::spawn(data.path(), logs.path(), &args, &env);
    flit.ready(data.path()).await;
    let remote = Remote {
        base: flit.base.clone(),
    };
    assert_each_accepted_once(&remote, &customer, &ids, 10_000).await;
    flit.stop().await;
}

/// A `flit serve` child process, called over HTTP like `TestServer`.
struct Remote {
    base: String,
}

impl Api for Remote {
    fn api_key(&self) -> &str {
        ""
    }

    fn tenant_id(&self) -> &str {
        ""
    }

    async fn call(&self, call: crate::common::Call) -> crate::common::Reply {
        let mut request = reqwest::Client::new()
            .request(call.method, format!("{}{}", self.base, call.path))
            .headers(call.headers);
        if let Some(body) = call.body {
            request = request.body(body);
        }
        TestServer::reply(request.send().await.expect("request sent")).await
    }
}

#[tokio::test]
async fn silent_clients_are_dropped_and_live_ones_kept() {
    let server = TestServer::start_adjusted(|config| {
        let mut config = listening(config);
        config.smpp_server.settings.bind_timeout = Duration::from_secs(1);
        config.smpp_server.settings.enquire_link = Duration::from_secs(1);
        config.smpp_server.settings.response_timeout = Duration::from_secs(1);
        config
    })
    .await;
    let customer = customer(&server, 10, "quiet", json!({})).await;
    let addr = smpp_addr(&server);

    let mut never_binds = Esme::connect(addr).await;
    assert!(
        never_binds.dropped_within(Duration::from_secs(3)).await,
        "no bind in time"
    );

    let mut silent = customer.bound(&server, BIND_TRANSCEIVER).await;
    let asked = silent
        .read(Duration::from_secs(3))
        .await
        .expect("an enquire_link");
    assert_eq!(asked.id(), rusmpp::CommandId::EnquireLink);
    assert!(
        silent.dropped_within(Duration::from_secs(3)).await,
        "unanswered: dropped"
    );

    // One that answers the server's enquire_links (and asks its own) stays bound.
    let mut alive = customer.bound(&server, BIND_TRANSCEIVER).await;
    assert!(!alive.closed_within(Duration::from_millis(3500)).await);
    let answer = alive.request(rusmpp::Pdu::EnquireLink).await;
    assert_eq!(answer.id(), rusmpp::CommandId::EnquireLinkResp);
    let (status, _) = alive.submit_text("Acme", TO, "still here", 0).await;
    assert_eq!(status, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sms_of_the_tenant_go_to_its_receiver_binds() {
    let carrier = crate::carrier::smsc_with(|_| {}).await;
    let server = smpp_server().await;
    let customer = customer(&server, 10, "mo", json!({})).await;
    let owned = server
        .admin(
            Method::POST,
            &format!("/tenants/{}/sender-ids", customer.tenant),
            Some(json!({"name": "233501234567"})),
        )
        .await;
    assert_eq!(owned.status, StatusCode::CREATED, "{}", owned.body);
    let bind = crate::carrier::add_bind(&server, "sim", carrier.addr.port(), json!({})).await;
    crate::carrier::wait_bound(&server, &bind).await;

    // Received while no receiver is bound: held, and delivered when one binds.
    carrier
        .send_inbound("233241234567", "233501234567", "Привет, a reply")
        .await
        .expect("inbound sent");
    let long = format!("{} end", "a reply that needs two parts ".repeat(7));
    carrier
        .send_inbound("233241234567", "233501234567", &long)
        .await
        .expect("inbound sent");
    let mut receiver = customer.bound(&server, BIND_RECEIVER).await;
    let mut texts = Vec::new();
    for _ in 0..2 {
        let deliver = loop {
            let command = receiver
                .read(Duration::from_secs(10))
                .await
                .expect("a deliver_sm");
            if command.id() == rusmpp::CommandId::DeliverSm {
                break command;
            }
        };
        receiver
            .reply(
                deliver.sequence_number(),
                rusmpp::pdus::DeliverSmResp::default().into(),
            )
            .await;
        let Some(rusmpp::Pdu::DeliverSm(sm)) = deliver.pdu() else {
            panic!("not a deliver_sm")
        };
        assert_eq!(u8::from(sm.esm_class), 0, "an SMS, not a receipt");
        assert_eq!(sm.source_addr.as_str(), "233241234567");
        assert_eq!(sm.destination_addr.as_str(), "233501234567");
        let octets: Vec<u8> = match sm.tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(rusmpp::tlvs::TlvValue::MessagePayload(payload)) => Some(payload.value.to_vec()),
            _ => None,
        }) {
            Some(payload) => payload,
            None => sm.short_message().to_vec(),
        };
        texts.push(match u8::from(sm.data_coding) {
            8 => String::from_utf16(
                &octets
                    .chunks(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect::<Vec<_>>(),
            )
            .expect("UTF-16"),
            _ => String::from_utf8(octets).expect("plain GSM-7 letters"),
        });
    }
    texts.sort();
    let mut expected = vec!["Привет, a reply".to_string(), long];
    expected.sort();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn the_smpp_server_speaks_tls_with_the_https_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let (files, _) = flit_api::tls_cli::init(&flit_api::tls_cli::InitArgs {
        dir: dir.path().to_path_buf(),
        hosts: vec![flit_api::tls_cli::Host::Ip(
            "127.0.0.1".parse().expect("ip"),
        )],
        force: false,
    })
    .expect("a local CA and certificate");
    let server = TestServer::start_tls(&files.ca_cert, |mut config| {
        config.tls = Some(flit_api::config::TlsConfig {
            cert: files.cert.clone(),
            key: files.key.clone(),
        });
        config.smpp_server.listen = Some("127.0.0.1:0".parse().expect("addr"));
        config.smpp_server.tls = true;
        config
    })
    .await;
    let customer = customer(&server, 10, "secure", json!({})).await;
    let mut esme = Esme::connect_tls(smpp_addr(&server), &files.ca_cert).await;
    assert_eq!(esme.bind(BIND_TRANSCEIVER, "secure", PASSWORD).await, 0);
    let (status, id) = esme.submit_text("Acme", TO, "over TLS", 1).await;
    assert_eq!(status, 0);
    assert_eq!(customer.message(&server, &id).await["message"], "over TLS");
    let receipts = esme.receipts(1, Duration::from_secs(15)).await;
    assert_eq!(receipts[0].id, id);

    // Plain SMPP on the TLS port gets no SMPP back: the handshake fails and the connection
    // ends.
    let mut plain = Esme::connect(smpp_addr(&server)).await;
    plain.send(rusmpp::Pdu::EnquireLink).await;
    assert!(plain.dropped_within(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_refused_receipt_waits_and_comes_again_while_the_rest_go_on() {
    let server = smpp_server().await;
    let customer = customer(&server, 10, "picky", json!({})).await;
    let mut transmitter = customer.bound(&server, BIND_TRANSMITTER).await;
    let (_, first) = transmitter.submit_text("Acme", TO, "first", 1).await;
    customer.settled(&server, &first).await;
    let (_, second) = transmitter.submit_text("Acme", TO, "second", 1).await;
    customer.settled(&server, &second).await;

    let mut receiver = customer.bound(&server, BIND_RECEIVER).await;
    receiver.answer_deliveries = false;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    // `first` is refused (ESME_RX_T_APPN) twice, `second` taken at once; then `first` is taken.
    let mut refusals = 0;
    while tokio::time::Instant::now() < deadline {
        let Some(command) = receiver.read(Duration::from_secs(5)).await else {
            break;
        };
        let Some(receipt) = receipt_of(&command) else {
            continue;
        };
        seen.push(receipt.id.clone());
        let status = if receipt.id == first && refusals < 2 {
            refusals += 1;
            0x64
        } else {
            0
        };
        receiver.link_reply(command.sequence_number(), status).await;
        if status == 0 && receipt.id == first {
            break;
        }
    }
    assert_eq!(refusals, 2, "{seen:?}");
    assert_eq!(
        seen.iter().filter(|id| **id == first).count(),
        3,
        "refused twice, offered again: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|id| **id == second).count(),
        1,
        "not held up behind it: {seen:?}"
    );
    assert!(
        receiver
            .read(Duration::from_secs(1))
            .await
            .and_then(|c| receipt_of(&c))
            .is_none(),
        "both answered"
    );
}

#[tokio::test]
async fn a_full_backlog_and_an_overlong_message_are_refused_at_once() {
    let server = TestServer::start_adjusted(|config| {
        let mut config = listening(config);
        config.max_backlog = 0;
        config
    })
    .await;
    let customer = customer(&server, 10, "full", json!({})).await;
    let mut esme = customer.bound(&server, BIND_TRANSCEIVER).await;
    let (status, _) = esme.submit_text("Acme", TO, "no room", 0).await;
    assert_eq!(status, 0x14, "ESME_RMSGQFUL");
    // 255 parts can never fit the tenant's parts limit: refused at the first one.
    let mut octets = vec![0x05, 0x00, 0x03, 0x01, 255, 1];
    octets.extend_from_slice(b"part one of too many");
    let (status, _) = esme
        .submit(
            "Acme",
            TO,
            Part {
                udhi: true,
                ..Part::text(0, octets)
            },
            0,
        )
        .await;
    assert_eq!(status, 0x01, "ESME_RINVMSGLEN");
    assert_eq!(customer.balance(&server).await, 10);
}

#[tokio::test]
async fn what_no_receiver_takes_in_time_is_given_up() {
    let server = TestServer::start_adjusted(|config| {
        let mut config = listening(config);
        config.smpp_server.settings.held_for = Duration::from_millis(500);
        config
    })
    .await;
    let customer = customer(&server, 10, "absent", json!({})).await;
    let mut transmitter = customer.bound(&server, BIND_TRANSMITTER).await;
    let (_, id) = transmitter
        .submit_text("Acme", TO, "nobody listens", 1)
        .await;
    customer.settled(&server, &id).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let engine = &server.server.as_ref().expect("running").engine;
    engine.expire_smpp_held().await.expect("expiry");
    let mut receiver = customer.bound(&server, BIND_RECEIVER).await;
    assert!(
        receiver
            .read(Duration::from_secs(2))
            .await
            .and_then(|c| receipt_of(&c))
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_binds_submits_throttles_and_held_receipts() {
    use crate::faults::{metric, recorder};
    let server = TestServer::start_with_metrics_adjusted(recorder(), listening).await;
    let customer = customer(&server, 10, "metered", json!({"tps": 1})).await;
    let mut esme = customer.bound(&server, BIND_TRANSMITTER).await;
    assert_eq!(
        metric(&server, "flit_smpp_server_binds", &[("account", "metered")]).await,
        1.0
    );
    let before = metric(
        &server,
        "flit_smpp_server_throttled_total",
        &[("reason", "tps")],
    )
    .await;
    let mut accepted = Vec::new();
    for _ in 0..3 {
        let (status, id) = esme.submit_text("Acme", TO, "metered", 1).await;
        if status == 0 {
            accepted.push(id);
        }
    }
    assert_eq!(accepted.len(), 1, "one a second");
    let throttled = metric(
        &server,
        "flit_smpp_server_throttled_total",
        &[("reason", "tps")],
    )
    .await;
    assert!(throttled - before >= 2.0, "{before} → {throttled}");
    assert!(
        metric(
            &server,
            "flit_smpp_server_submits_total",
            &[("result", "accepted")]
        )
        .await
            >= 1.0
    );
    // Its receipt waits for a receiver: held.
    customer.settled(&server, &accepted[0]).await;
    let mut held = 0.0;
    for _ in 0..50 {
        held = metric(&server, "flit_smpp_server_held", &[]).await;
        if held >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(held >= 1.0, "{held}");
    assert_eq!(esme.unbind().await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        metric(&server, "flit_smpp_server_binds", &[("account", "metered")]).await,
        0.0
    );
}
