//! Flit against an SMSC it did not write: node-smpp's `smpp.createServer`, driven by
//! `interop/smsc.js`, which prints every `submit_sm` it takes (raw `short_message` bytes, TLVs)
//! and every receipt Flit acknowledged. The texts must come out of the wire byte-exact.
//!
//! Needs Node.js and `npm ci` in `interop/`. Without them each test says why on stderr and
//! passes; with `FLIT_REQUIRE_NODE=1` (CI's `.ci/run` sets it, after installing them) it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flit_engine::text;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::carrier::bind_state;
use crate::common::{Api, TestServer};

/// `interop/smsc.js` running under node, killed on drop.
struct NodeSmsc {
    port: u16,
    /// Raw stdout lines after `LISTENING`.
    lines: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

/// Why node's SMSC cannot run here, if it cannot: no `node` to run, or no `npm ci` done.
fn node_missing(interop: &Path) -> Option<String> {
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|status| status.success()) {
        return Some("`node` does not run here (install Node.js >= 18)".to_string());
    }
    if !interop.join("node_modules/smpp").is_dir() {
        return Some("interop/node_modules/smpp is missing".to_string());
    }
    None
}

impl NodeSmsc {
    /// Starts `interop/smsc.js`; `None` when node or its packages are missing, after saying
    /// so, unless `FLIT_REQUIRE_NODE=1` asks for the test to fail instead.
    async fn start() -> Option<NodeSmsc> {
        let interop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop");
        if let Some(reason) = node_missing(&interop) {
            let advice = "run `(cd interop && npm ci)`";
            assert!(
                std::env::var("FLIT_REQUIRE_NODE").as_deref() != Ok("1"),
                "FLIT_REQUIRE_NODE=1 and {reason}: {advice}"
            );
            let test = std::thread::current()
                .name()
                .unwrap_or("a node-smpp test")
                .to_string();
            // Straight to stderr, not `eprintln!`: the test harness hides a passing test's
            // captured output, and a skip must be seen.
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}, {advice}");
            return None;
        }
        let mut child = Command::new("node")
            .arg(interop.join("smsc.js"))
            .args(["--port", "0", "--system-id", "flit", "--password", "secret"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("`node` runs interop/smsc.js");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let line = reader
                    .next_line()
                    .await
                    .expect("read smsc.js stdout")
                    .expect("smsc.js exited before LISTENING");
                if let Some(port) = line.strip_prefix("LISTENING ") {
                    return port.trim().parse::<u16>().expect("LISTENING <port>");
                }
            }
        })
        .await
        .expect("smsc.js prints LISTENING within 10 s");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("node-smsc: {line}");
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Some(NodeSmsc {
            port,
            lines,
            _child: child,
        })
    }

    /// The JSON of every stdout line of `kind` (`SUBMIT`, `RECEIPT`) so far.
    fn events(&self, kind: &str) -> Vec<Value> {
        let prefix = format!("{kind} ");
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix))
            .map(|json| serde_json::from_str(json).expect("smsc.js prints JSON"))
            .collect()
    }

    fn submits(&self) -> Vec<Value> {
        self.events("SUBMIT")
    }

    fn receipts(&self) -> Vec<Value> {
        self.events("RECEIPT")
    }

    /// Waits until every submit has had its receipt acknowledged by Flit.
    async fn receipts_settle(&self, submits: usize) {
        for _ in 0..150 {
            if self.submits().len() == submits && self.receipts().len() == submits {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "expected {submits} submits and receipts, got {} and {}",
            self.submits().len(),
            self.receipts().len()
        );
    }
}

/// Adds a transceiver bind to the node SMSC, routes everything to it and waits until bound.
async fn bind(server: &TestServer, port: u16, concatenation: &str) -> String {
    let created = server
        .admin(
            Method::POST,
            "/binds",
            Some(json!({
                "name": "node", "host": "127.0.0.1", "port": port,
                "systemId": "flit", "password": "secret", "bindMode": "transceiver",
                "windowSize": 10, "tps": 0, "gsm7": "unpacked", "concatenation": concatenation
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["success"], true);
    let data = &created.body["data"];
    for field in [
        "bound",
        "inFlight",
        "queued",
        "submitted",
        "accepted",
        "rejected",
        "receipts",
        "errors",
    ] {
        assert!(data["state"].get(field).is_some(), "state.{field}: {data}");
    }
    let id = data["id"].as_str().expect("data.id").to_string();
    let route = server
        .admin(
            Method::POST,
            "/routes",
            Some(json!({"prefix": "", "bindIds": [id], "priority": 0})),
        )
        .await;
    assert_eq!(route.status, StatusCode::CREATED, "{}", route.body);
    for _ in 0..200 {
        let state = server
            .admin(Method::GET, &format!("/binds/{id}"), None)
            .await;
        assert_eq!(state.status, StatusCode::OK, "{}", state.body);
        if state.body["data"]["state"]["bound"] == true {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bind {id} to node-smpp never bound");
}

/// Sends `text` to one number; returns (message id, credits used).
async fn send(server: &TestServer, phone: &str, text: &str) -> (String, i64) {
    let sent = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": [phone], "message": text}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let data = &sent.body["data"];
    (
        data["messageId"].as_str().expect("messageId").to_string(),
        data["creditsUsed"].as_i64().expect("creditsUsed"),
    )
}

fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// How a submit says it belongs to a longer message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carrier {
    Single,
    Udh,
    Sar,
    Payload,
}

/// One `submit_sm` as node-smpp saw it, its concatenation header taken apart.
#[derive(Debug)]
struct Part {
    carrier: Carrier,
    /// (reference, total, seq).
    concat: Option<(u16, u8, u8)>,
    data_coding: u8,
    esm_class: u8,
    /// The text bytes: `short_message` after the UDH, or `message_payload`.
    body: Vec<u8>,
}

fn field(submit: &Value, name: &str) -> u64 {
    submit[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {submit}"))
}

fn part(submit: &Value) -> Part {
    let short_message = unhex(submit["short_message_hex"].as_str().expect("hex"));
    let esm_class = u8::try_from(field(submit, "esm_class")).expect("u8");
    let data_coding = u8::try_from(field(submit, "data_coding")).expect("u8");
    let base = |carrier, concat, body| Part {
        carrier,
        concat,
        data_coding,
        esm_class,
        body,
    };
    if let Some(payload) = submit["message_payload_hex"].as_str() {
        assert!(
            short_message.is_empty(),
            "payload and short_message: {submit}"
        );
        assert!(submit.get("sar_msg_ref_num").is_none(), "{submit}");
        return base(Carrier::Payload, None, unhex(payload));
    }
    if esm_class & 0x40 != 0 {
        // 05 00 03 ref total seq: UDHL 5, IE "concatenated SMS, 8-bit reference", length 3.
        assert!(short_message.len() > 6, "UDH part too short: {submit}");
        assert_eq!(
            short_message[..3],
            [0x05, 0x00, 0x03],
            "concatenation UDH: {submit}"
        );
        let concat = (
            u16::from(short_message[3]),
            short_message[4],
            short_message[5],
        );
        return base(Carrier::Udh, Some(concat), short_message[6..].to_vec());
    }
    if submit.get("sar_msg_ref_num").is_some() {
        let concat = (
            u16::try_from(field(submit, "sar_msg_ref_num")).expect("u16"),
            u8::try_from(field(submit, "sar_total_segments")).expect("u8"),
            u8::try_from(field(submit, "sar_segment_seqnum")).expect("u8"),
        );
        return base(Carrier::Sar, Some(concat), short_message);
    }
    base(Carrier::Single, None, short_message)
}

fn decode(part: &Part) -> String {
    match part.data_coding {
        0 => text::gsm7_decode(&part.body),
        8 => text::ucs2_decode(&part.body),
        other => panic!("unexpected data_coding {other}"),
    }
}

/// The texts on the wire: submits grouped per message (by UDH or SAR reference), ordered by
/// sequence number and each part decoded on its own (so a character split across parts shows).
fn messages_on_the_wire(submits: &[Value]) -> Vec<(String, Vec<Part>)> {
    let mut groups: BTreeMap<(u16, usize), Vec<Part>> = BTreeMap::new();
    for (index, submit) in submits.iter().enumerate() {
        assert_eq!(submit["destination_addr"], "233201234567", "{submit}");
        assert_eq!(field(submit, "dest_addr_ton"), 1, "international: {submit}");
        assert_eq!(field(submit, "dest_addr_npi"), 1, "ISDN: {submit}");
        assert_eq!(
            field(submit, "source_addr_ton"),
            5,
            "alphanumeric: {submit}"
        );
        assert_eq!(field(submit, "source_addr_npi"), 0, "{submit}");
        assert_eq!(
            field(submit, "registered_delivery") & 0x01,
            1,
            "receipt requested: {submit}"
        );
        let part = part(submit);
        let key = match part.concat {
            Some((reference, _, _)) => (reference, usize::MAX),
            None => (0, index),
        };
        groups.entry(key).or_default().push(part);
    }
    groups
        .into_values()
        .map(|mut parts| {
            parts.sort_by_key(|p| p.concat.map(|(_, _, seq)| seq));
            if let Some((_, total, _)) = parts[0].concat {
                let seqs: Vec<u8> = parts.iter().filter_map(|p| p.concat).map(|c| c.2).collect();
                assert_eq!(
                    seqs,
                    (1..=total).collect::<Vec<u8>>(),
                    "one part per seq, 1..={total}: {parts:?}"
                );
                assert!(parts.iter().all(|p| p.concat.map(|c| c.1) == Some(total)));
                assert!(parts.iter().all(|p| p.data_coding == parts[0].data_coding));
            }
            let text: String = parts.iter().map(decode).collect();
            (text, parts)
        })
        .collect()
}

/// GSM-7 single part; 3-part GSM-7 with `€` and `{}` each one septet short of a 153-septet
/// boundary (a 2-septet character must not be split); 2-part UCS-2 with an emoji one UTF-16
/// unit short of the 67-unit boundary (a surrogate pair must not be split).
fn texts() -> Vec<String> {
    let texts = vec![
        "Hello @ node-smpp! £5 ¥ èé ñ Ä ß _ 100%".to_string(),
        format!(
            "{}€{}{{}}{}",
            "a".repeat(152),
            "b".repeat(150),
            "c".repeat(100)
        ),
        format!("{}😀{}", "ɛ".repeat(66), "ɔ".repeat(40)),
    ];
    let shapes: Vec<(text::Encoding, usize)> = texts
        .iter()
        .map(|t| (text::analyse(t).encoding, text::analyse(t).parts))
        .collect();
    let (gsm7, ucs2) = (text::Encoding::Gsm7, text::Encoding::Ucs2);
    assert_eq!(
        shapes,
        [(gsm7, 1), (gsm7, 3), (ucs2, 2)],
        "the texts sit where meant"
    );
    texts
}

/// Sends [`texts`] through a bind with `concatenation` and checks what node-smpp received.
async fn round_trip(concatenation: &str) {
    let Some(smsc) = NodeSmsc::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let bind = bind(&server, smsc.port, concatenation).await;
    let before = server.balance().await;

    let texts = texts();
    let mut sent = Vec::new();
    for text in &texts {
        sent.push(send(&server, "0201234567", text).await);
    }
    for (id, _) in &sent {
        let report = server.settled(id, Duration::from_secs(15)).await;
        assert_eq!(report["status"], "DELIVERED", "{report}");
        assert_eq!(report["recipients"][0]["status"], "DELIVERED", "{report}");
    }
    let credits: i64 = sent.iter().map(|(_, credits)| credits).sum();
    assert_eq!(server.balance().await, before - credits);

    let submits = smsc.submits();
    let expected_submits = if concatenation == "payload" {
        texts.len()
    } else {
        usize::try_from(credits).expect("credits")
    };
    assert_eq!(submits.len(), expected_submits, "{submits:#?}");
    smsc.receipts_settle(submits.len()).await;

    let wire = messages_on_the_wire(&submits);
    assert_eq!(wire.len(), texts.len(), "one group per message");
    for (text, (_, credits)) in texts.iter().zip(&sent) {
        let (_, parts) = wire
            .iter()
            .find(|(decoded, _)| decoded == text)
            .unwrap_or_else(|| {
                let seen: Vec<&String> = wire.iter().map(|(t, _)| t).collect();
                panic!("{text:?} not on the wire byte-exact; saw {seen:#?}")
            });
        let info = text::analyse(text);
        let parts_priced = usize::try_from(*credits).expect("credits");
        assert_eq!(parts_priced, info.parts, "{text:?} priced per part");
        let ucs2 = info.encoding == text::Encoding::Ucs2;
        let expected_coding = if ucs2 { 8 } else { 0 };
        // The concatenated bodies are exactly the text's unpacked septets / UTF-16BE.
        let bytes: Vec<u8> = parts.iter().flat_map(|p| p.body.clone()).collect();
        let encoded = if ucs2 {
            text.encode_utf16().flat_map(u16::to_be_bytes).collect()
        } else {
            text::gsm7_encode(text).expect("GSM-7 text")
        };
        assert_eq!(bytes, encoded, "{text:?}");
        for part in parts {
            assert_eq!(part.data_coding, expected_coding, "{text:?}");
            let limit = match (ucs2, info.parts) {
                (false, 1) => 160,
                (false, _) => 153,
                (true, 1) => 140,
                (true, _) => 134,
            };
            if part.carrier != Carrier::Payload {
                assert!(part.body.len() <= limit, "{text:?}: part over {limit}");
            }
        }
        let carriers: Vec<Carrier> = parts.iter().map(|p| p.carrier).collect();
        match (concatenation, info.parts) {
            ("payload", _) => assert_eq!(carriers, [Carrier::Payload]),
            (_, 1) => assert_eq!(carriers, [Carrier::Single]),
            ("udh", n) => assert_eq!(carriers, vec![Carrier::Udh; n]),
            ("sar", n) => assert_eq!(carriers, vec![Carrier::Sar; n]),
            other => panic!("unexpected {other:?}"),
        }
        for part in parts {
            let udhi = part.esm_class & 0x40 != 0;
            assert_eq!(udhi, part.carrier == Carrier::Udh, "UDHI bit: {part:?}");
        }
    }

    let receipts = smsc.receipts();
    for receipt in &receipts {
        assert_eq!(receipt["stat"], "DELIVRD");
        assert_eq!(receipt["command_status"], 0, "Flit acked the receipt");
    }
    let mut submitted: Vec<&Value> = submits.iter().map(|s| &s["message_id"]).collect();
    let mut receipted: Vec<&Value> = receipts.iter().map(|r| &r["message_id"]).collect();
    submitted.sort_by_key(|v| v.to_string());
    receipted.sort_by_key(|v| v.to_string());
    assert_eq!(submitted, receipted, "one receipt per submit");

    let state = bind_state(&server, &bind).await;
    assert_eq!(state["accepted"], submits.len(), "{state}");
    assert_eq!(state["rejected"], 0, "{state}");
    assert_eq!(state["inFlight"], 0, "{state}");
    server.assert_ledger_balanced().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_gets_byte_exact_udh_parts_and_receipts_deliver() {
    round_trip("udh").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_gets_byte_exact_sar_parts() {
    round_trip("sar").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_gets_one_message_payload_per_message() {
    round_trip("payload").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_receipt_fails_the_recipient_without_a_refund() {
    let Some(smsc) = NodeSmsc::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let bind = bind(&server, smsc.port, "udh").await;
    let before = server.balance().await;

    let text = "x".repeat(200);
    let (id, credits) = send(&server, "0201230000", &text).await;
    assert_eq!(credits, 2);
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["recipients"][0]["status"], "FAILED", "{report}");
    assert_eq!(report["status"], "FAILED", "{report}");

    smsc.receipts_settle(2).await;
    let submits = smsc.submits();
    assert!(
        submits
            .iter()
            .all(|s| s["destination_addr"] == "233201230000"),
        "{submits:#?}"
    );
    for receipt in smsc.receipts() {
        assert_eq!(receipt["stat"], "UNDELIV");
        assert_eq!(receipt["command_status"], 0);
    }

    // The SMSC accepted the parts, so they were used: no refund.
    assert_eq!(server.balance().await, before - credits);
    let refunds = server.get("/api/v1/transactions?type=REFUND").await;
    assert_eq!(refunds.status, StatusCode::OK, "{}", refunds.body);
    assert_eq!(
        refunds.body["data"]["transactions"],
        json!([]),
        "{}",
        refunds.body
    );
    let state = bind_state(&server, &bind).await;
    assert_eq!(state["accepted"], 2, "{state}");
    assert_eq!(state["receipts"], 2, "{state}");
    server.assert_ledger_balanced().await;
}
