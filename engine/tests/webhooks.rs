//! Webhooks end to end inside the engine, on tokio's paused clock: the retry schedule, what is
//! retried and what is not, the private-network rule on names that resolve (or come to
//! resolve) to loopback, isolation between tenants, one `message.delivered` per multi-part
//! recipient, and a restart that loses no event.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flit_engine::ids::{TenantId, WebhookId};
use flit_engine::{
    BackendKind, Clock, Content, DeliveryState, Engine, EngineConfig, EngineError, Invalid,
    Resolve, SendRequest, WebhookEvent, WebhookRequest, WebhookSettings, WebhookTransport,
};
use futures::future::BoxFuture;
use tokio::time::Instant;

mod common;
use common::funded_tenant;

/// One attempt the fake endpoint saw.
#[derive(Clone, Debug)]
struct Call {
    at: Instant,
    host: String,
    address: SocketAddr,
    event_id: String,
    kind: String,
    signature: String,
}

type Answer = dyn Fn(&Call, usize) -> Option<Result<u16, String>> + Send + Sync;

/// An endpoint that answers as `answer` says, given the call and how many attempts its event
/// had before (`None`: never answer).
struct FakeEndpoint {
    calls: Mutex<Vec<Call>>,
    answer: Box<Answer>,
}

impl FakeEndpoint {
    fn new(
        answer: impl Fn(&Call, usize) -> Option<Result<u16, String>> + Send + Sync + 'static,
    ) -> Arc<FakeEndpoint> {
        Arc::new(FakeEndpoint {
            calls: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// The calls of each event id, in order.
    fn by_event(&self) -> HashMap<String, Vec<Call>> {
        let mut events: HashMap<String, Vec<Call>> = HashMap::new();
        for call in self.calls() {
            events.entry(call.event_id.clone()).or_default().push(call);
        }
        events
    }
}

impl WebhookTransport for FakeEndpoint {
    fn body(&self, event: &WebhookEvent) -> Vec<u8> {
        format!("{}|{}", event.id, event.kind).into_bytes()
    }

    fn post(&self, request: WebhookRequest) -> BoxFuture<'static, Result<u16, String>> {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let call = Call {
            at: Instant::now(),
            host: request.target.host.clone(),
            address: request.address,
            event_id: header("x-flit-event-id"),
            kind: header("x-flit-event"),
            signature: header("x-flit-signature"),
        };
        let mut calls = self.calls.lock().expect("lock");
        let before = calls.iter().filter(|c| c.event_id == call.event_id).count();
        let answer = (self.answer)(&call, before);
        calls.push(call);
        Box::pin(async move {
            match answer {
                Some(answer) => answer,
                None => std::future::pending().await,
            }
        })
    }
}

/// Names and what they resolve to; can be changed while the engine runs.
#[derive(Default)]
struct Names(Mutex<HashMap<String, SocketAddr>>);

impl Names {
    fn set(&self, name: &str, ip: &str) {
        self.0.lock().expect("lock").insert(
            name.to_string(),
            SocketAddr::new(ip.parse().expect("ip"), 0),
        );
    }
}

impl Resolve for Names {
    fn resolve(
        &self,
        host: String,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let found = self.0.lock().expect("lock").get(&host).copied();
        Box::pin(async move {
            match found {
                Some(address) => Ok(vec![SocketAddr::new(address.ip(), port)]),
                None => Err(std::io::Error::other("no such host")),
            }
        })
    }
}

async fn open(
    dir: &std::path::Path,
    clock: Clock,
    endpoint: Arc<FakeEndpoint>,
    names: Arc<Names>,
    adjust: impl FnOnce(WebhookSettings) -> WebhookSettings,
) -> Engine {
    let webhooks = adjust(WebhookSettings {
        transport: Some(endpoint),
        resolver: names,
        ..WebhookSettings::default()
    });
    Engine::open(
        dir,
        BackendKind::Redb,
        EngineConfig {
            clock,
            webhooks,
            ..EngineConfig::default()
        },
    )
    .await
    .expect("engine opens")
}

fn public_names() -> Arc<Names> {
    let names = Arc::new(Names::default());
    names.set("hooks.example.com", "93.184.216.34");
    names.set("other.example.com", "93.184.216.35");
    names
}

async fn subscribe(engine: &Engine, tenant: TenantId, url: &str, events: &[&str]) -> WebhookId {
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    engine
        .create_webhook(tenant, url, &events)
        .await
        .expect("webhook")
        .id
}

async fn send(engine: &Engine, tenant: TenantId, numbers: &[&str], text: &str) {
    engine
        .send(
            tenant,
            SendRequest {
                recipients: numbers.iter().map(|n| n.to_string()).collect(),
                content: Content::Text(text.to_string()),
                ..SendRequest::default()
            },
        )
        .await
        .expect("accepted");
}

/// Waits until `done` holds, or fails after `within` of real time. (On a paused clock, tokio
/// moves time on to the next timer whenever every task waits, also while the store syncs to
/// disk on its own thread: how much paused time passes while real work is done is not
/// something a test can bound.)
async fn eventually(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_endpoint_gets_twelve_attempts_on_the_backoff_schedule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = FakeEndpoint::new(|_, _| Some(Ok(503)));
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        public_names(),
        |s| s,
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    let webhook = subscribe(
        &engine,
        tenant,
        "https://hooks.example.com/flit",
        &["message.sent"],
    )
    .await;
    send(&engine, tenant, &["0201234567"], "hello").await;

    eventually(Duration::from_secs(6 * 3600), "twelve attempts", || {
        endpoint.calls().len() >= 12
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4 * 3600)).await;
    let calls = endpoint.calls();
    assert_eq!(calls.len(), 12, "no attempt beyond the twelfth");
    assert!(calls.iter().all(|c| c.kind == "message.sent"));
    assert!(
        calls.iter().all(|c| c.event_id == calls[0].event_id),
        "one event id on every attempt"
    );
    let deliveries = engine
        .webhook_deliveries(
            tenant,
            webhook,
            None,
            flit_engine::PageRequest { page: 1, limit: 10 },
        )
        .expect("deliveries");
    let attempts = &deliveries.items[0].attempts;
    // Each retry was planned 10 s × 2^(n-1) after the attempt ended, capped at one hour,
    // within ±25 % jitter, and no attempt came before its plan.
    for (n, pair) in attempts.windows(2).enumerate() {
        let retry_at = pair[0].retry_at.expect("a retry was planned");
        let planned = retry_at - pair[0].at - i64::from(pair[0].latency_ms);
        let nominal = (10_000i64 << n).min(3_600_000);
        assert!(
            (nominal * 3 / 4 - 1..=nominal * 5 / 4 + 1).contains(&planned),
            "retry {n}: planned {planned} ms after the attempt, nominal {nominal} ms"
        );
        assert!(pair[1].at >= retry_at, "attempt {} came early", n + 2);
    }
    assert_eq!(
        attempts[11].retry_at, None,
        "the last attempt plans no retry"
    );
    assert_eq!(deliveries.total, 1);
    let delivery = &deliveries.items[0];
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(delivery.attempts.len(), 12, "every attempt recorded");
    assert!(delivery.attempts.iter().all(|a| a.status == Some(503)));
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn server_errors_timeouts_and_throttling_are_retried_other_refusals_are_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    // message.sent: 500, no answer (times out), 429, 408, then 200.
    // message.delivered: 404 at once.
    let endpoint = FakeEndpoint::new(|call, before| match (call.kind.as_str(), before) {
        ("message.sent", 0) => Some(Ok(500)),
        ("message.sent", 1) => None,
        ("message.sent", 2) => Some(Ok(429)),
        ("message.sent", 3) => Some(Ok(408)),
        ("message.sent", _) => Some(Ok(200)),
        _ => Some(Ok(404)),
    });
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        public_names(),
        |s| s,
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    let webhook = subscribe(
        &engine,
        tenant,
        "https://hooks.example.com/flit",
        &["message.sent", "message.delivered"],
    )
    .await;
    send(&engine, tenant, &["0201234567"], "hello").await;
    let page = flit_engine::PageRequest { page: 1, limit: 10 };
    eventually(Duration::from_secs(3600), "both events settled", || {
        engine
            .webhook_deliveries(tenant, webhook, Some(DeliveryState::Pending), page)
            .is_ok_and(|pending| pending.total == 0)
            && endpoint.calls().len() >= 6
    })
    .await;
    let by_event = endpoint.by_event();
    let mut attempts: Vec<(String, usize)> = by_event
        .values()
        .map(|calls| (calls[0].kind.clone(), calls.len()))
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [
            ("message.delivered".to_string(), 1),
            ("message.sent".to_string(), 5)
        ]
    );
    let deliveries = engine
        .webhook_deliveries(tenant, webhook, None, page)
        .expect("list");
    for delivery in &deliveries.items {
        match delivery.event.kind.as_str() {
            "message.sent" => {
                assert_eq!(delivery.state, DeliveryState::Delivered);
                let statuses: Vec<Option<u16>> =
                    delivery.attempts.iter().map(|a| a.status).collect();
                assert_eq!(statuses, [Some(500), None, Some(429), Some(408), Some(200)]);
                assert!(
                    delivery.attempts[1]
                        .error
                        .as_deref()
                        .is_some_and(|e| e.contains("no answer"))
                );
            }
            _ => {
                assert_eq!(delivery.state, DeliveryState::Failed);
                assert_eq!(delivery.attempts.len(), 1);
            }
        }
    }
    // A failed event can be sent again by hand, with the same event id.
    let failed = deliveries
        .items
        .iter()
        .find(|d| d.state == DeliveryState::Failed)
        .expect("the refused one");
    let again = engine
        .redeliver(tenant, webhook, failed.id)
        .await
        .expect("redeliver");
    assert_eq!(again.state, DeliveryState::Pending);
    eventually(Duration::from_secs(60), "the redelivery", || {
        endpoint.by_event()[&failed.event.id.to_string()].len() == 2
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn private_targets_are_refused_at_registration_and_at_every_attempt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = FakeEndpoint::new(|_, _| Some(Ok(200)));
    let names = public_names();
    names.set("evil.example.com", "127.0.0.1");
    names.set("internal.example.com", "10.0.0.7");
    names.set("rebind.example.com", "93.184.216.40");
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        names.clone(),
        |s| s,
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    let events = vec!["message.sent".to_string()];
    for url in [
        "http://evil.example.com/hook",
        "http://internal.example.com/hook",
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "ftp://hooks.example.com/",
    ] {
        let refused = engine.create_webhook(tenant, url, &events).await;
        assert!(
            matches!(refused, Err(EngineError::Invalid(Invalid::WebhookUrl(_)))),
            "{url}: {refused:?}"
        );
    }
    assert!(
        engine.webhooks(tenant).expect("list").is_empty(),
        "nothing registered"
    );

    // A name that was public at registration and resolves to loopback later is refused at
    // the attempt, and the transport is never called.
    let webhook = subscribe(
        &engine,
        tenant,
        "http://rebind.example.com/hook",
        &["message.sent"],
    )
    .await;
    names.set("rebind.example.com", "127.0.0.1");
    send(&engine, tenant, &["0201234567"], "hello").await;
    let page = flit_engine::PageRequest { page: 1, limit: 10 };
    eventually(Duration::from_secs(60), "the refused attempt", || {
        engine
            .webhook_deliveries(tenant, webhook, Some(DeliveryState::Failed), page)
            .is_ok_and(|failed| failed.total == 1)
    })
    .await;
    assert!(endpoint.calls().is_empty(), "nothing sent to 127.0.0.1");
    let failed = engine
        .webhook_deliveries(tenant, webhook, None, page)
        .expect("list");
    let error = failed.items[0].attempts[0]
        .error
        .clone()
        .unwrap_or_default();
    assert!(
        error.contains("127.0.0.1") && error.contains("private"),
        "{error}"
    );
    engine.shutdown().await;

    // With private networks allowed, the same name is called at the address it resolves to.
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        names.clone(),
        |s| WebhookSettings {
            allow_private_networks: true,
            ..s
        },
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    subscribe(
        &engine,
        tenant,
        "http://evil.example.com:9000/hook",
        &["message.sent"],
    )
    .await;
    send(&engine, tenant, &["0201234567"], "hello").await;
    eventually(Duration::from_secs(60), "the allowed attempt", || {
        !endpoint.calls().is_empty()
    })
    .await;
    let call = &endpoint.calls()[0];
    assert_eq!(call.host, "evil.example.com");
    assert_eq!(
        call.address,
        "127.0.0.1:9000".parse::<SocketAddr>().expect("addr")
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_of_one_tenant_never_delays_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    // other.example.com never answers: every attempt runs into the 10 s timeout.
    let endpoint =
        FakeEndpoint::new(|call, _| (call.host != "other.example.com").then_some(Ok(200)));
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        public_names(),
        |s| s,
    )
    .await;
    let stuck = funded_tenant(&engine, 10_000).await;
    let healthy = funded_tenant(&engine, 10_000).await;
    subscribe(
        &engine,
        stuck,
        "https://other.example.com/hook",
        &["message.sent"],
    )
    .await;
    subscribe(
        &engine,
        healthy,
        "https://hooks.example.com/hook",
        &["message.sent"],
    )
    .await;
    let numbers: Vec<String> = (0..200).map(|i| format!("0201{i:06}")).collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    send(&engine, stuck, &numbers, "flood").await;
    let started = Instant::now();
    send(&engine, healthy, &["0209999999"], "hello").await;
    eventually(
        Duration::from_secs(60),
        "the healthy tenant's event",
        || {
            endpoint
                .calls()
                .iter()
                .any(|c| c.host == "hooks.example.com")
        },
    )
    .await;
    let delivered_at = endpoint
        .calls()
        .iter()
        .find(|c| c.host == "hooks.example.com")
        .map(|c| c.at)
        .expect("a call");
    assert!(
        delivered_at - started < Duration::from_secs(5),
        "the healthy tenant waited {:?} behind the dead endpoint",
        delivered_at - started
    );
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_multi_part_recipient_is_delivered_once_when_every_part_is() {
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = FakeEndpoint::new(|_, _| Some(Ok(204)));
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        public_names(),
        |s| s,
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    subscribe(
        &engine,
        tenant,
        "https://hooks.example.com/hook",
        &["message.sent", "message.delivered", "message.failed"],
    )
    .await;
    let long = "Three parts of text. ".repeat(20);
    send(&engine, tenant, &["0201234567", "0201230000"], &long).await;
    eventually(Duration::from_secs(120), "four events", || {
        endpoint.calls().len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut kinds: Vec<String> = endpoint.calls().iter().map(|c| c.kind.clone()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "message.delivered",
            "message.failed",
            "message.sent",
            "message.sent"
        ],
        "one sent and one final event per recipient, whatever the parts"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_loses_no_event_and_sends_none_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Clock::System;
    let quick = |settings: WebhookSettings| WebhookSettings {
        backoff: flit_engine::Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(1),
        },
        ..settings
    };
    // First run: the endpoint is down.
    let down = FakeEndpoint::new(|_, _| Some(Err("connection refused".to_string())));
    let engine = open(dir.path(), clock, down.clone(), public_names(), quick).await;
    let tenant = funded_tenant(&engine, 1_000).await;
    let webhook = subscribe(
        &engine,
        tenant,
        "https://hooks.example.com/hook",
        &["message.delivered"],
    )
    .await;
    // None ends in 0000 (the sandbox fails those).
    let numbers: Vec<String> = (1..=50).map(|i| format!("020123{i:04}")).collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    send(&engine, tenant, &numbers, "hello").await;
    eventually(Duration::from_secs(120), "first attempts", || {
        down.by_event().len() == 50
    })
    .await;
    engine.shutdown().await;
    drop(engine);

    // Second run: the endpoint is up; every event arrives once.
    let up = FakeEndpoint::new(|_, _| Some(Ok(200)));
    let engine = open(dir.path(), clock, up.clone(), public_names(), quick).await;
    eventually(Duration::from_secs(60), "every event", || {
        up.by_event().len() == 50
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by_event = up.by_event();
    assert_eq!(by_event.len(), 50);
    assert!(
        by_event.values().all(|calls| calls.len() == 1),
        "an event sent twice"
    );
    let before = down.by_event();
    assert!(
        by_event.keys().all(|id| before.contains_key(id)),
        "the same event ids as before the restart"
    );
    let page = flit_engine::PageRequest {
        page: 1,
        limit: 100,
    };
    let delivered = engine
        .webhook_deliveries(tenant, webhook, Some(DeliveryState::Delivered), page)
        .expect("list");
    assert_eq!(delivered.total, 50);
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_rotated_secret_signs_beside_the_new_one_during_its_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let endpoint = FakeEndpoint::new(|_, _| Some(Ok(200)));
    let engine = open(
        dir.path(),
        Clock::tokio(),
        endpoint.clone(),
        public_names(),
        |s| s,
    )
    .await;
    let tenant = funded_tenant(&engine, 100).await;
    let webhook = subscribe(
        &engine,
        tenant,
        "https://hooks.example.com/hook",
        &["message.sent"],
    )
    .await;
    send(&engine, tenant, &["0201234567"], "one").await;
    eventually(Duration::from_secs(60), "first event", || {
        endpoint.calls().len() == 1
    })
    .await;
    assert_eq!(endpoint.calls()[0].signature.matches("sha256=").count(), 1);
    let rotated = engine
        .rotate_webhook_secret(tenant, webhook)
        .await
        .expect("rotate");
    assert!(rotated.previous_secret.is_some());
    send(&engine, tenant, &["0201234568"], "two").await;
    eventually(Duration::from_secs(60), "second event", || {
        endpoint.calls().len() == 2
    })
    .await;
    assert_eq!(
        endpoint.calls()[1].signature.matches("sha256=").count(),
        2,
        "old and new sign"
    );
    tokio::time::sleep(Duration::from_secs(25 * 3600)).await;
    send(&engine, tenant, &["0201234569"], "three").await;
    eventually(Duration::from_secs(60), "third event", || {
        endpoint.calls().len() == 3
    })
    .await;
    assert_eq!(
        endpoint.calls()[2].signature.matches("sha256=").count(),
        1,
        "the grace is over"
    );
    engine.shutdown().await;
}
