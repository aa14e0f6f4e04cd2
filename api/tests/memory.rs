//! Memory stays bounded under authenticated abuse, on the real `flit` binary (its resident
//! memory read from `/proc`): 40 slow readers of the delivery report of a 100,000-recipient
//! message, and 400 connections that each announce a 4 MB body and stall, both at once
//! (arriving over one second, then holding on for ten), while `/health` keeps answering
//! within 50 ms. Before the bounds, these two took the
//! server from about 0.1–0.3 GB to 1.7 and 2.2 GB.
//!
//! Its own test binary, so nothing else runs beside it and the timings are the server's.

use std::path::PathBuf;
use std::time::Duration;

use flit_loadtest::crash::process::{FlitProcess, ServeCommand};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const ADMIN_TOKEN: &str = "memory-test-admin-token";
/// What the attacks may add to the server's resident memory.
const BOUND_BYTES: u64 = 100 * 1024 * 1024;
const RECIPIENTS: usize = 100_000;

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

fn month_ahead() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    flit_api::timefmt::iso(now + 30 * 24 * 3600 * 1000)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {body}");
    body
}

/// A request head announcing a 4 MB body, then all of it but the last byte (as long as the
/// server takes it), then nothing. `true` when the server took it all and waits for the rest.
async fn stall(addr: String, path: &'static str, key: String) -> (Option<TcpStream>, bool) {
    const LENGTH: usize = 4 * 1024 * 1024;
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return (None, false);
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {LENGTH}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return (None, false);
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < LENGTH - 1 {
        let size = chunk.len().min(LENGTH - 1 - sent);
        match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&chunk[..size])).await {
            Ok(Ok(())) => sent += size,
            // Refused (the server answered and closed), or it stopped reading.
            _ => return (Some(stream), false),
        }
    }
    (Some(stream), true)
}

/// Asks for the report and reads the answer a few hundred bytes at a time, slowly; the
/// bytes it got.
async fn slow_reader(addr: String, path: String, key: String, until: Instant) -> usize {
    let Ok(mut stream) = TcpStream::connect(&addr).await else {
        return 0;
    };
    let head =
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buffer = [0u8; 256];
    let mut got = 0;
    while Instant::now() < until {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                got += read;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_and_stalled_bodies_leave_memory_bounded_and_health_fast() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut flit = FlitProcess::new(ServeCommand {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_flit")),
        data_dir: dir.path().join("data"),
        listen: listen.clone(),
        storage: "redb".into(),
        admin_token: ADMIN_TOKEN.into(),
        log: dir.path().join("flit.log"),
        env: Vec::new(),
    })
    .expect("process");
    flit.start(Duration::from_secs(60))
        .await
        .expect("flit starts");
    let base = flit.base_url();
    let bootstrap: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("data/bootstrap.json")).expect("bootstrap.json"),
    )
    .expect("json");
    let key = bootstrap["apiKey"].as_str().expect("apiKey").to_string();
    let tenant = bootstrap["tenantId"]
        .as_str()
        .expect("tenantId")
        .to_string();
    let client = reqwest::Client::new();
    use reqwest::Method;
    call(
        &client,
        Method::PATCH,
        format!("{base}/admin/v1/tenants/{tenant}"),
        ADMIN_TOKEN,
        Some(json!({"rateLimitPerMinute": 1_000_000})),
    )
    .await;
    call(
        &client,
        Method::POST,
        format!("{base}/admin/v1/tenants/{tenant}/credits"),
        ADMIN_TOKEN,
        Some(json!({"amount": RECIPIENTS * 2, "type": "PURCHASE"})),
    )
    .await;

    // A 100,000-recipient message: ten imports of 10,000 into one group, one send to it.
    let group = call(
        &client,
        Method::POST,
        format!("{base}/api/v1/contacts/groups"),
        &key,
        Some(json!({"name": "everyone"})),
    )
    .await;
    let group = group["data"]["id"].as_str().expect("group id").to_string();
    for chunk in 0..RECIPIENTS / 10_000 {
        let rows: Vec<Value> = (0..10_000)
            .map(|i| json!({"phone": format!("+23324{:07}", chunk * 10_000 + i)}))
            .collect();
        call(
            &client,
            Method::POST,
            format!("{base}/api/v1/contacts/import"),
            &key,
            Some(json!({"contacts": rows, "groupId": group})),
        )
        .await;
    }
    let sent = call(
        &client,
        Method::POST,
        format!("{base}/api/v1/sms/send"),
        &key,
        // Scheduled a month ahead: the sandbox's dispatch does not run during the attacks.
        Some(json!({
            "groupId": group,
            "message": "to everyone",
            "isScheduled": true,
            "scheduleDate": month_ahead(),
        })),
    )
    .await;
    let message = sent["data"]["messageId"]
        .as_str()
        .expect("messageId")
        .to_string();
    let report = format!("/api/v1/sms/{message}/recipients");
    let whole = call(&client, Method::GET, format!("{base}{report}"), &key, None).await;
    assert_eq!(whole["data"]["recipientCount"], RECIPIENTS);
    assert_eq!(whole["data"]["pagination"]["total"], RECIPIENTS);

    let pid = flit.pid().expect("pid");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss(pid);

    // Both attacks at once, for ten seconds.
    let until = Instant::now() + Duration::from_secs(10);
    // The attackers arrive over the first second (one every 2.5 ms), then hold on.
    let attackers = {
        let (listen, report, key) = (listen.clone(), report.clone(), key.clone());
        tokio::spawn(async move {
            let mut readers = Vec::new();
            let mut stalled = Vec::new();
            for i in 0..400 {
                if i % 10 == 0 {
                    readers.push(tokio::spawn(slow_reader(
                        listen.clone(),
                        report.clone(),
                        key.clone(),
                        until,
                    )));
                }
                let path = if i % 2 == 0 {
                    "/api/v1/contacts/import"
                } else {
                    "/api/v1/sms/send"
                };
                stalled.push(tokio::spawn(stall(listen.clone(), path, key.clone())));
                tokio::time::sleep(Duration::from_micros(2500)).await;
            }
            (readers, stalled)
        })
    };
    // Watched from a thread of its own, so the attackers' tasks in this process do not
    // delay the measurement.
    let watch_base = base.clone();
    let watcher = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let health = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client");
            let mut peak = before;
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let asked = Instant::now();
                let answer = health
                    .get(format!("{watch_base}/health"))
                    .send()
                    .await
                    .expect("health answers");
                assert!(answer.status().is_success());
                latencies.push(asked.elapsed());
                peak = peak.max(rss(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (peak, latencies)
        })
    });
    let (peak, mut latencies) = tokio::task::spawn_blocking(move || watcher.join())
        .await
        .expect("joined")
        .expect("the watcher ran");
    let (readers, stalled) = attackers.await.expect("attackers");
    let mut read = 0;
    for reader in readers {
        read += reader.await.unwrap_or(0);
    }
    let mut streams = Vec::new();
    let mut waiting = 0;
    for stall in stalled {
        let (stream, taken) = stall.await.expect("stall");
        waiting += usize::from(taken);
        streams.extend(stream);
    }
    let held = streams.len();
    drop(streams);
    assert!(read > 0, "the slow readers got their report");
    assert!(held > 300, "the stalled connections were made: {held}");
    let grown = peak.saturating_sub(before);
    latencies.sort();
    let slowest = latencies.last().copied().unwrap_or_default();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "resident memory {} MB before, {} MB at the peak (+{} MB); {held} stalling connections, {waiting} of them with a body taken but for its last byte; slow readers read {read} bytes; /health median {median:?}, slowest {slowest:?} of {}",
        before / 1_000_000,
        peak / 1_000_000,
        grown / 1_000_000,
        latencies.len()
    );
    assert!(
        grown <= BOUND_BYTES,
        "the attacks grew resident memory by {} MB (bound {} MB)",
        grown / 1_000_000,
        BOUND_BYTES / 1_000_000
    );
    assert!(
        slowest <= Duration::from_millis(50),
        "/health took {slowest:?} under attack"
    );
    flit.stop().await;
}
