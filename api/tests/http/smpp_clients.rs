//! Flit's SMPP server with customers' clients Flit did not write (SPEC §14): python's
//! `smpplib` sends GSM-7, UCS-2 and a concatenated message and reads their receipts; a
//! node-smpp client sent faster than its account's TPS is throttled; Kannel (Debian's
//! bearerbox and smsbox) bound as an ESME sends what its sendsms interface is given through
//! Flit and calls its DLR URL with the final status. Without python's smpplib, node's packages
//! or Kannel each test says so and passes; with `FLIT_REQUIRE_NODE=1` (CI's `.ci/run` sets it
//! after installing them) it fails instead.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::smpp_server::{customer, smpp_addr, smpp_server};

const TO: &str = "233241234567";

fn interop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

/// Whether the test must go on: a missing tool skips it (said on stderr), unless CI requires it.
fn present(missing: Option<String>) -> bool {
    let Some(reason) = missing else { return true };
    assert!(
        std::env::var("FLIT_REQUIRE_NODE").as_deref() != Ok("1"),
        "FLIT_REQUIRE_NODE=1 and {reason}"
    );
    let test = std::thread::current()
        .name()
        .unwrap_or("an SMPP client test")
        .to_string();
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
    false
}

fn runs(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs a client to its end and reads the one JSON object it prints.
async fn json_of(command: &mut Command) -> (bool, Value) {
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("the client finishes within 90 s")
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|error| {
        panic!(
            "not one JSON object ({error}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_sends_every_alphabet_and_reads_its_receipts() {
    let missing = (!runs("python3", &["-c", "import smpplib"])).then(|| {
        "python3 with smpplib does not run here (pip install -r interop/requirements.txt)"
            .to_string()
    });
    if !present(missing) {
        return;
    }
    let server = smpp_server().await;
    let customer = customer(&server, 100, "smpplib", json!({})).await;
    let port = smpp_addr(&server).port().to_string();
    let (ok, report) = json_of(
        Command::new("python3")
            .arg(interop().join("esme_smpplib.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--system-id",
                "smpplib",
            ])
            .args([
                "--password",
                "s3cret",
                "--from",
                "Acme",
                "--to",
                TO,
                "--timeout",
                "30",
            ]),
    )
    .await;
    assert!(ok, "{report}");
    let submits = report["submits"].as_array().expect("submits");
    let kinds: Vec<&str> = submits.iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["gsm7", "ucs2", "concat", "concat"], "{report}");
    assert!(submits.iter().all(|s| s["status"] == 0), "{report}");
    assert_eq!(report["missing"], json!([]), "{report}");
    let receipts = report["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 4, "a receipt per submit: {report}");
    assert!(
        receipts
            .iter()
            .all(|r| r["stat"] == "DELIVRD" && r["message_state"] == 2),
        "{report}"
    );

    // What Flit made of them, through the HTTP API.
    let id = |k: usize| submits[k]["message_id"].as_str().expect("id").to_string();
    assert_eq!(
        customer.message(&server, &id(0)).await["message"],
        "Hello from smpplib @ £"
    );
    assert_eq!(
        customer.message(&server, &id(1)).await["message"],
        "Привет 👋"
    );
    let long = id(2).strip_suffix("-1").expect("part 1's id").to_string();
    assert_eq!(id(3), format!("{long}-2"));
    let text = customer.message(&server, &long).await["message"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(
        text.starts_with("Concatenated GSM-7 message from smpplib") && text.ends_with("The end."),
        "{text}"
    );
    assert_eq!(
        customer.message_count(&server).await,
        3,
        "four submits, three messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_smpp_is_throttled_past_its_accounts_tps() {
    let missing = if !runs("node", &["--version"]) {
        Some("`node` does not run here".to_string())
    } else if !interop().join("node_modules/smpp").is_dir() {
        Some("interop/node_modules/smpp is missing (run `(cd interop && npm ci)`)".to_string())
    } else {
        None
    };
    if !present(missing) {
        return;
    }
    let server = smpp_server().await;
    let customer = customer(&server, 1_000, "nodesmpp", json!({"tps": 10})).await;
    let port = smpp_addr(&server).port().to_string();
    let (_, report) = json_of(
        Command::new("node")
            .arg(interop().join("esme.js"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--system-id",
                "nodesmpp",
            ])
            .args([
                "--password",
                "s3cret",
                "--rate",
                "0",
                "--count",
                "60",
                "--from",
                "Acme",
                "--to",
                TO,
            ]),
    )
    .await;
    assert_eq!(report["bind_status"], 0, "{report}");
    let (accepted, throttled) = (
        report["ok"].as_u64().unwrap_or(0),
        report["throttled"].as_u64().unwrap_or(0),
    );
    assert_eq!(
        accepted + throttled,
        60,
        "every submit answered, accepted or throttled: {report}"
    );
    assert!(throttled >= 40, "60 at once against 10 a second: {report}");
    assert!(accepted >= 10, "{report}");
    assert_eq!(
        customer.message_count(&server).await,
        accepted,
        "one message per accepted submit"
    );
}

/// A DLR URL's receiver: every request line it is sent.
async fn dlr_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lines = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                if let Some(line) = text.lines().next() {
                    lines.lock().expect("lines").push(line.to_string());
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (port, seen)
}

async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_as_a_customer_sends_through_flit_and_gets_its_dlr() {
    let missing = (!runs("sh", &["-c", "command -v bearerbox && command -v smsbox"])).then(|| {
        "Kannel's bearerbox and smsbox are not installed (apt-get install kannel)".to_string()
    });
    if !present(missing) {
        return;
    }
    let server = smpp_server().await;
    let customer = customer(&server, 100, "kannel", json!({})).await;
    let (dlr_port, dlrs) = dlr_receiver().await;
    let (http, admin, boxes) = (free_port().await, free_port().await, free_port().await);
    let workdir = tempfile::tempdir().expect("workdir");
    let mut kannel = Command::new("bash")
        .arg(interop().join("kannel_esme.sh"))
        .args(["--smpp-port", &smpp_addr(&server).port().to_string()])
        .args(["--system-id", "kannel", "--password", "s3cret"])
        .args([
            "--http-port",
            &http.to_string(),
            "--admin-port",
            &admin.to_string(),
        ])
        .args(["--box-port", &boxes.to_string()])
        .args([
            "--dlr-url",
            &format!("http://127.0.0.1:{dlr_port}/dlr?type=%d&smsc_id=%F"),
        ])
        .arg("--workdir")
        .arg(workdir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kannel_esme.sh runs");
    let mut lines = BufReader::new(kannel.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "READY" {
                return true;
            }
        }
        false
    })
    .await;
    let stop = |kannel: &tokio::process::Child| {
        if let Some(pid) = kannel.id() {
            // The script stops both boxes on SIGTERM.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    };
    if ready != Ok(true) {
        stop(&kannel);
        let log = std::fs::read_to_string(workdir.path().join("bearerbox.log")).unwrap_or_default();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        panic!("Kannel did not bind to Flit within 60 s; bearerbox.log, last lines first:\n{tail}");
    }

    let sendsms = format!(
        "http://127.0.0.1:{http}/cgi-bin/sendsms?username=esme&password=esme&from=Acme&to=%2B{TO}\
         &text=Hello+from+Kannel&dlr-mask=3"
    );
    let answer = reqwest::get(&sendsms).await.expect("sendsms");
    let body = answer.text().await.unwrap_or_default();
    assert!(body.contains("Accepted"), "{body}");

    let mut delivered = None;
    for _ in 0..150 {
        delivered = dlrs
            .lock()
            .expect("lines")
            .iter()
            .find(|line| line.contains("type=1"))
            .cloned();
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(&kannel);
    let _ = tokio::time::timeout(Duration::from_secs(10), kannel.wait()).await;
    let delivered = delivered.unwrap_or_else(|| {
        panic!(
            "no DLR type 1 within 15 s; DLR calls: {:?}",
            dlrs.lock().expect("lines")
        )
    });
    // The smsc_id Kannel kept is the message id Flit answered, and the HTTP API shows it.
    let id = delivered
        .split("smsc_id=")
        .nth(1)
        .and_then(|rest| rest.split([' ', '&']).next())
        .expect("smsc_id in the DLR call")
        .to_string();
    assert!(id.starts_with("msg_"), "{delivered}");
    let message = customer.message(&server, &id).await;
    assert_eq!(message["message"], "Hello from Kannel", "{message}");
    assert_eq!(message["status"], "DELIVERED", "{message}");
}
