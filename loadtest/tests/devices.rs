//! Simulated phones against a small fake of the server side of `/mobile/v1`, written from
//! `loadtest/src/devices/PROTOCOL.md` and nothing else: registration, the event stream, pulls,
//! state reports, cancels, signed inbound webhooks, a revoked token.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use flit_loadtest::devices::{DevicePool, DeviceStats, DevicesConfig};
use hmac::{Hmac, Mac as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const REGISTRATION_TOKEN: &str = "regtok-tenant-1";
const PAIRING_CODE: &str = "k7m2qx";
const SIGNING_KEY: &str = "sekret-signing-key";

/// One request the fake saw, with what the test needs of it.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: Value,
}

#[derive(Default)]
struct FakeState {
    base: String,
    codes: HashSet<String>,
    /// Device token → device id.
    tokens: HashMap<String, String>,
    next_device: u32,
    registrations: Vec<Seen>,
    device_patches: Vec<Seen>,
    /// Device id → its messages (id, JSON as listed, state).
    messages: HashMap<String, Vec<(String, Value, String)>>,
    pulls: Vec<(String, HashMap<String, String>)>,
    /// Every `PATCH /message` body, with the device it came from.
    patches: Vec<(String, Value)>,
    /// Device id → the sender of its newest open stream.
    streams: HashMap<String, mpsc::UnboundedSender<Bytes>>,
    inbound: Vec<(HeaderMap, String)>,
}

type Shared = Arc<Mutex<FakeState>>;

/// The fake server on a random loopback port.
struct FakeServer {
    state: Shared,
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, FakeState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The device behind a `Bearer` device token, or 401.
fn device(state: &Shared, headers: &HeaderMap) -> Result<String, StatusCode> {
    let token = authorization(headers)
        .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    lock(state)
        .tokens
        .get(&token)
        .cloned()
        .ok_or(StatusCode::UNAUTHORIZED)
}

async fn register(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = authorization(&headers);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut fake = lock(&state);
    fake.registrations.push(Seen {
        authorization: auth.clone(),
        body,
    });
    let allowed = match auth.as_deref() {
        Some(value) if value == format!("Bearer {REGISTRATION_TOKEN}") => true,
        Some(value) => value
            .strip_prefix("Code ")
            .is_some_and(|code| fake.codes.remove(code)),
        None => false,
    };
    if !allowed {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    fake.next_device += 1;
    let id = format!("dev-{}", fake.next_device);
    let token = format!("devtok-{}", fake.next_device);
    fake.tokens.insert(token.clone(), id.clone());
    (
        StatusCode::CREATED,
        axum::Json(
            json!({"id": id, "token": token, "login": "VQ4GII", "password": "cp2pydvxd2zwpx"}),
        ),
    )
        .into_response()
}

async fn patch_device(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let seen = Seen {
        authorization: authorization(&headers),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    lock(&state).device_patches.push(seen);
    match device(&state, &headers) {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(status) => status,
    }
}

async fn list_messages(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let device = match device(&state, &headers) {
        Ok(device) => device,
        Err(status) => return status.into_response(),
    };
    let mut fake = lock(&state);
    fake.pulls.push((device.clone(), query));
    let listed: Vec<Value> = fake
        .messages
        .get(&device)
        .into_iter()
        .flatten()
        .filter(|(_, _, state)| state == "Pending" || state == "Cancelling")
        .map(|(_, message, state)| {
            let mut message = message.clone();
            message["state"] = json!(state);
            message
        })
        .collect();
    axum::Json(listed).into_response()
}

async fn patch_messages(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let device = match device(&state, &headers) {
        Ok(device) => device,
        Err(status) => return status,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut fake = lock(&state);
    for item in body.as_array().into_iter().flatten() {
        let (Some(id), Some(reported)) = (item["id"].as_str(), item["state"].as_str()) else {
            continue;
        };
        if reported == "Pending" {
            continue;
        }
        for (message_id, _, state) in fake.messages.entry(device.clone()).or_default() {
            if message_id == id {
                *state = reported.to_owned();
            }
        }
    }
    fake.patches.push((device, body));
    StatusCode::NO_CONTENT
}

async fn events(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let device = match device(&state, &headers) {
        Ok(device) => device,
        Err(status) => return status.into_response(),
    };
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    // A first comment, so that the headers (and the phone's pull on open) go out at once.
    let _ = tx.send(Bytes::from_static(b":connected\n\n"));
    lock(&state).streams.insert(device, tx);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::convert::Infallible>(chunk), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn webhooks(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(status) = device(&state, &headers) {
        return status.into_response();
    }
    let url = format!("{}/inbound", lock(&state).base);
    axum::Json(json!([{"id": "wh-1", "deviceId": null, "url": url, "event": "sms:received"}]))
        .into_response()
}

async fn settings(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(status) = device(&state, &headers) {
        return status.into_response();
    }
    axum::Json(json!({
        "messages": {"processing_order": "FIFO", "limit_period": "Disabled"},
        "webhooks": {"signing_key": SIGNING_KEY, "retry_count": 15},
        "gateway": {"notification_channel": "SSE_ONLY"},
    }))
    .into_response()
}

async fn inbound(State(state): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    lock(&state).inbound.push((headers, body));
    StatusCode::OK
}

/// Accepts TLS connections with the test server certificate (`tests/fixtures`, signed by the
/// test CA in `ca.pem`).
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    async fn bind() -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(include_bytes!("fixtures/server.pem"))
                .collect::<Result<_, _>>()
                .expect("server certificate");
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/server.key"))
            .expect("server key");
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("certificate and key match");
        Self {
            tcp: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that does not trust the certificate just fails its handshake.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl FakeServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (state, app) = Self::app(format!("http://{addr}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state }
    }

    async fn start_tls() -> Self {
        let listener = TlsListener::bind().await;
        let addr = listener.tcp.local_addr().expect("local addr");
        let (state, app) = Self::app(format!("https://{addr}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state }
    }

    fn app(base: String) -> (Shared, Router) {
        let state: Shared = Arc::new(Mutex::new(FakeState {
            base,
            codes: HashSet::from([PAIRING_CODE.to_owned()]),
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/mobile/v1/device", post(register).patch(patch_device))
            .route(
                "/mobile/v1/message",
                get(list_messages).patch(patch_messages),
            )
            .route("/mobile/v1/events", get(events))
            .route("/mobile/v1/webhooks", get(webhooks))
            .route("/mobile/v1/settings", get(settings))
            .route("/inbound", post(inbound))
            .with_state(Arc::clone(&state));
        (state, app)
    }

    fn config(&self) -> DevicesConfig {
        DevicesConfig {
            url: lock(&self.state).base.clone(),
            registration_token: Some(REGISTRATION_TOKEN.to_owned()),
            sent_delay: Duration::from_millis(50),
            delivered_delay: Duration::from_millis(50),
            ..DevicesConfig::default()
        }
    }

    /// Makes a message pending for `device`, as the server's send path would.
    fn enqueue(&self, device: &str, id: &str, numbers: &[&str]) {
        let message = json!({
            "id": id,
            "textMessage": {"text": "Your code is 1234"},
            "message": "Your code is 1234",
            "phoneNumbers": numbers,
            "withDeliveryReport": true,
            "priority": 0,
            "createdAt": "2026-01-01T00:00:00.123Z",
        });
        lock(&self.state)
            .messages
            .entry(device.to_owned())
            .or_default()
            .push((id.to_owned(), message, "Pending".to_owned()));
    }

    fn set_state(&self, device: &str, id: &str, new_state: &str) {
        for (message_id, _, state) in lock(&self.state)
            .messages
            .entry(device.to_owned())
            .or_default()
        {
            if message_id == id {
                *state = new_state.to_owned();
            }
        }
    }

    /// Writes one event on `device`'s stream, framed as the reference server frames it.
    fn push_event(&self, device: &str, name: &str, data: &str) {
        let fake = lock(&self.state);
        let stream = fake.streams.get(device).expect("the device has a stream");
        let _ = stream.send(Bytes::from(format!("event: {name}\ndata: {data}\n\n")));
    }

    /// The items reported for message `id`, in the order they arrived.
    fn reports(&self, id: &str) -> Vec<Value> {
        lock(&self.state)
            .patches
            .iter()
            .flat_map(|(_, body)| body.as_array().cloned().unwrap_or_default())
            .filter(|item| item["id"] == id)
            .collect()
    }

    fn reported_states(&self, id: &str) -> Vec<String> {
        self.reports(id)
            .iter()
            .map(|item| item["state"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

/// Polls `condition` until it holds (panics with `what` after 10 s).
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts `config`'s pool and waits until its first phone holds an open stream; returns the
/// pool and that phone's device id.
async fn started(config: DevicesConfig) -> (DevicePool, String) {
    let pool = DevicePool::start(config).expect("pool starts");
    wait_for("an open stream", || pool.stats().sse_connected == 1).await;
    let device = pool.device_ids()[0].clone().expect("registered");
    (pool, device)
}

/// Whether `text` is a date as the app writes it, `yyyy-MM-ddTHH:mm:ss.SSS` then `Z` or
/// `±HH:MM` (checked by hand: no regex crate for one pattern).
fn matches_app_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let fixed = bytes.len() >= 24
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..23);
    let zone = &text[23.min(text.len())..];
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && digits(24..26)
            && bytes[26] == b':'
            && digits(27..29));
    fixed && zone_ok
}

#[test]
fn the_date_check_is_the_pattern() {
    assert!(matches_app_date("2026-11-22T13:30:00.123+03:00"));
    assert!(matches_app_date("2026-11-22T10:30:00.123Z"));
    assert!(!matches_app_date("2026-11-22T10:30:00Z"));
    assert!(!matches_app_date("2026-11-22T10:30:00.123456Z"));
}

#[tokio::test]
async fn a_phone_registers_takes_the_event_pulls_and_reports_processed_sent_delivered() {
    let server = FakeServer::start().await;
    let (pool, device) = started(server.config()).await;

    // Registration as the app sends it: the token, a name, SIMs, and no pushToken key at all.
    {
        let fake = lock(&server.state);
        assert_eq!(fake.registrations.len(), 1);
        let registration = &fake.registrations[0];
        assert_eq!(
            registration.authorization.as_deref(),
            Some(format!("Bearer {REGISTRATION_TOKEN}").as_str())
        );
        assert!(registration.body["name"].is_string());
        assert!(registration.body["simCards"].is_array());
        assert!(
            registration.body.get("pushToken").is_none(),
            "{}",
            registration.body
        );
        // The stream's opening pull, with the order the settings asked for.
        assert_eq!(fake.pulls.len(), 1);
        assert_eq!(
            fake.pulls[0].1.get("order").map(String::as_str),
            Some("fifo")
        );
    }

    server.enqueue(&device, "msg-1", &["+233201234567"]);
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("a Delivered report", || {
        server.reported_states("msg-1").last().map(String::as_str) == Some("Delivered")
    })
    .await;

    assert_eq!(
        server.reported_states("msg-1"),
        ["Processed", "Sent", "Delivered"]
    );
    let fake_patches: Vec<Value> = lock(&server.state)
        .patches
        .iter()
        .map(|(_, body)| body.clone())
        .collect();
    for body in &fake_patches {
        assert_eq!(
            body.as_array().map(Vec::len),
            Some(1),
            "one item per PATCH: {body}"
        );
    }
    let reports = server.reports("msg-1");
    for (report, expected) in reports.iter().zip(["Processed", "Sent", "Delivered"]) {
        assert_eq!(
            report["recipients"],
            json!([{"phoneNumber": "+233201234567", "state": expected}]),
            "no error key while there is no error"
        );
        let states = report["states"].as_object().expect("states is an object");
        for (name, at) in states {
            assert!(
                matches_app_date(at.as_str().unwrap_or("")),
                "{name} at {at} is not in the app's date format"
            );
        }
    }
    let final_states: Vec<&String> = reports[2]["states"]
        .as_object()
        .map(|states| states.keys().collect())
        .unwrap_or_default();
    assert_eq!(final_states, ["Delivered", "Pending", "Processed", "Sent"]);

    let stats = pool.stop().await;
    assert_eq!(
        stats.registered, 0,
        "stopped phones are no longer registered"
    );
    assert_eq!(stats.registrations, 1);
    assert_eq!(stats.messages_pulled, 1);
    assert_eq!(
        (stats.processed, stats.sent, stats.delivered, stats.failed),
        (1, 1, 1, 0)
    );
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.protocol_errors, 0);
    assert_eq!(stats.event_to_pull.count, 1, "{stats:?}");
    assert_eq!(stats.created_to_pull.count, 1);
}

#[tokio::test]
async fn a_kept_pull_log_names_the_event_each_message_was_pulled_on() {
    let server = FakeServer::start().await;
    // Waiting before the phone is there: the pull when its stream opens takes it, on no event.
    server.enqueue("dev-1", "msg-open", &["+233201234560"]);
    let (pool, device) = started(DevicesConfig {
        keep_log: true,
        ..server.config()
    })
    .await;
    assert_eq!(device, "dev-1");
    wait_for("the opening pull", || pool.pull_log().len() == 1).await;
    let opening = &pool.pull_log()[0];
    assert_eq!(
        (
            opening.message_id.as_str(),
            opening.event_at,
            opening.events
        ),
        ("msg-open", None, 0)
    );

    server.enqueue(&device, "msg-a", &["+233201234567"]);
    let before_event = tokio::time::Instant::now();
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("the Delivered report", || {
        server.reported_states("msg-a").last().map(String::as_str) == Some("Delivered")
    })
    .await;
    let log = pool.pull_log();
    assert_eq!(log.len(), 2, "{log:?}");
    let record = &log[1];
    assert_eq!((record.phone, record.message_id.as_str()), (0, "msg-a"));
    assert_eq!(record.events, 1);
    let event_at = record.event_at.expect("pulled on the event");
    assert!(before_event <= event_at && event_at <= record.pulled_at);
    // msg-open's Delivered and msg-a's, once the phone has read the answers.
    wait_for("two final reports taken", || {
        pool.final_report_times().len() == 2
    })
    .await;
    let times = pool.final_report_times();
    let reported = pool.last_final_report().expect("a final report was taken");
    assert!(times[0] <= times[1] && times[1] == reported);
    assert!(record.pulled_at <= reported);
    pool.stop().await;
}

#[tokio::test]
async fn a_message_cancelled_while_queued_is_reported_cancelled_never_sent() {
    let server = FakeServer::start().await;
    let (pool, device) = started(DevicesConfig {
        queue_delay: Duration::from_millis(400),
        ..server.config()
    })
    .await;

    server.enqueue(&device, "msg-c", &["+233201234567"]);
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("the pull", || pool.stats().messages_pulled == 1).await;
    server.set_state(&device, "msg-c", "Cancelling");
    server.push_event(&device, "MessageCancelled", r#"{"messageId":"msg-c"}"#);
    wait_for("a Cancelled report", || !server.reports("msg-c").is_empty()).await;
    // Past the moment the radio would have taken it.
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert_eq!(server.reported_states("msg-c"), ["Cancelled"]);
    let report = &server.reports("msg-c")[0];
    assert_eq!(
        report["recipients"],
        json!([{"phoneNumber": "+233201234567", "state": "Cancelled"}])
    );
    let stats = pool.stop().await;
    assert_eq!((stats.cancelled, stats.processed, stats.sent), (1, 0, 0));
}

#[tokio::test]
async fn a_listed_cancelling_message_the_phone_never_had_is_reported_cancelled() {
    let server = FakeServer::start().await;
    let (pool, device) = started(server.config()).await;

    server.enqueue(&device, "msg-x", &["+233201234567", "+233201234568"]);
    server.set_state(&device, "msg-x", "Cancelling");
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("a Cancelled report", || !server.reports("msg-x").is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert_eq!(server.reported_states("msg-x"), ["Cancelled"]);
    let report = &server.reports("msg-x")[0];
    assert_eq!(report["recipients"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        report["states"]
            .as_object()
            .map(|s| s.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["Cancelled".to_owned()])
    );
    let stats = pool.stop().await;
    assert_eq!(
        (stats.cancelled, stats.messages_pulled, stats.sent),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn the_inbound_webhook_is_signed_as_the_app_signs_it() {
    let server = FakeServer::start().await;
    let (pool, device) = started(DevicesConfig {
        inbound_per_minute: 1200.0,
        ..server.config()
    })
    .await;
    wait_for("an inbound webhook", || {
        !lock(&server.state).inbound.is_empty()
    })
    .await;
    let stats = pool.stop().await;
    assert_eq!(
        stats.inbound_unverifiable, 0,
        "the server's key is the one used"
    );

    let (headers, body) = lock(&server.state).inbound[0].clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("x-timestamp");
    assert!(!timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit()));
    // HMAC-SHA256 keyed with the signing key, over the raw body then the timestamp.
    let mut mac = <Hmac<Sha256>>::new_from_slice(SIGNING_KEY.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    mac.update(timestamp.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(header("x-signature"), expected);
    assert!(header("content-type").starts_with("application/json"));

    let event: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(event["event"], "sms:received");
    assert_eq!(event["webhookId"], "wh-1");
    assert_eq!(event["deviceId"], device.as_str());
    assert_eq!(event["id"].as_str().map(str::len), Some(21));
    let payload = &event["payload"];
    assert!(payload["message"].is_string());
    assert!(matches_app_date(
        payload["receivedAt"].as_str().unwrap_or("")
    ));
    let message_id = payload["messageId"].as_str().unwrap_or("");
    assert!(!message_id.is_empty() && message_id.len() <= 8);
    assert!(message_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(payload["phoneNumber"], payload["sender"]);
    assert!(payload["recipient"].is_string());
    assert_eq!(payload["simNumber"], 1);
}

#[tokio::test]
async fn a_phone_paired_by_code_registers_with_it_once() {
    let server = FakeServer::start().await;
    let (pool, _) = started(DevicesConfig {
        registration_token: None,
        codes: vec![PAIRING_CODE.to_owned()],
        ..server.config()
    })
    .await;
    let stats = pool.stop().await;
    assert_eq!(stats.registrations, 1);
    let fake = lock(&server.state);
    assert_eq!(
        fake.registrations[0].authorization.as_deref(),
        Some(format!("Code {PAIRING_CODE}").as_str())
    );
    assert!(fake.codes.is_empty(), "the code is used up");
}

#[tokio::test]
async fn a_revoked_token_makes_the_phone_register_again_with_the_registration_token() {
    let server = FakeServer::start().await;
    let (pool, device) = started(server.config()).await;

    // The server forgets the device's token, as for a deleted device.
    lock(&server.state).tokens.clear();
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("a second registration", || pool.stats().registrations == 2).await;
    wait_for("a stream with the new token", || {
        pool.stats().sse_connected == 1
    })
    .await;

    let stats: DeviceStats = pool.stop().await;
    assert_eq!(stats.reregistrations, 1);
    assert!(stats.unauthorized >= 1);
    let fake = lock(&server.state);
    // As the app starts its gateway: PATCH /device with the old token first, then POST.
    assert_eq!(fake.device_patches.len(), 1);
    assert_eq!(fake.device_patches[0].body["id"], device.as_str());
    assert!(fake.device_patches[0].body.get("pushToken").is_none());
    assert_eq!(
        fake.registrations[1].authorization.as_deref(),
        Some(format!("Bearer {REGISTRATION_TOKEN}").as_str())
    );
}

#[tokio::test]
async fn over_https_a_phone_trusts_the_ca_file_and_nothing_else() {
    let server = FakeServer::start_tls().await;
    let (pool, device) = started(DevicesConfig {
        ca_pem: Some(include_bytes!("fixtures/ca.pem").to_vec()),
        ..server.config()
    })
    .await;
    server.enqueue(&device, "msg-tls", &["+233201234567"]);
    server.push_event(&device, "MessageEnqueued", "null");
    wait_for("a Delivered report over TLS", || {
        server.reported_states("msg-tls").last().map(String::as_str) == Some("Delivered")
    })
    .await;
    pool.stop().await;

    // Without the CA file the phone trusts only the system's roots, and the test CA is not one.
    let untrusting = DevicePool::start(DevicesConfig {
        ca_pem: None,
        ..server.config()
    })
    .expect("pool starts");
    wait_for("a failed registration", || {
        untrusting.stats().registration_errors >= 1
    })
    .await;
    let stats = untrusting.stop().await;
    assert_eq!(stats.registrations, 0);
    assert_eq!(
        lock(&server.state).registrations.len(),
        1,
        "only the trusting phone got through"
    );
}

#[tokio::test]
async fn a_phone_that_drops_out_comes_back_and_pulls_again() {
    let server = FakeServer::start().await;
    let (pool, device) = started(DevicesConfig {
        dropout_rate: 600.0,
        dropout_duration: Duration::from_millis(100),
        ..server.config()
    })
    .await;
    wait_for("a dropout and a new stream", || {
        let stats = pool.stats();
        stats.dropouts >= 1 && stats.sse_opens >= 2
    })
    .await;
    let stats = pool.stop().await;
    assert_eq!(
        stats.registrations, 1,
        "a dropout is not a new registration"
    );
    let pulls = lock(&server.state)
        .pulls
        .iter()
        .filter(|(pulled_by, _)| *pulled_by == device)
        .count();
    assert!(
        pulls >= 2,
        "every stream that opens is followed by a pull, saw {pulls}"
    );
}
