//! The ceiling for `benches/peer.sh`: the least an HTTP server can do for Flit's send load (one
//! recipient a request, or a thousand).
//!
//! `POST /api/v1/sms/send` parses the same JSON body Flit's native send takes and answers a JSON
//! body of about the same size as Flit's, on the same stack (tokio's multi-threaded runtime,
//! hyper through axum, mimalloc), and does nothing else: no key check, no store, no dispatch.
//! Run beside Flit under the same load it shows how much of the machine the HTTP exchange itself
//! takes, so Flit's figures can say how close they come to that limit.
//!
//! `ceiling [--listen 127.0.0.1:19601]` (`cargo build --release -p flit-ceiling`) prints
//! `LISTENING <address>` once it accepts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::routing::post;
use serde::{Deserialize, Serialize};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fields of Flit's native send that the benchmark posts.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendBody {
    recipients: Vec<String>,
    #[expect(dead_code, reason = "parsed as Flit parses it, then unused")]
    message: String,
    #[expect(dead_code, reason = "parsed as Flit parses it, then unused")]
    sender_id: Option<String>,
}

/// The shape of Flit's answer to a send (`{"success": true, "data": {...}}`), about its size.
#[derive(Serialize)]
struct SendAnswer {
    success: bool,
    data: SendData,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SendData {
    message_id: String,
    recipients_sent: usize,
    invalid_recipients: Vec<String>,
    credits_used: usize,
    remaining_credits: u64,
    scheduled: bool,
    schedule_date: Option<String>,
}

/// Numbers the answers, so that each one is built like a real one rather than copied.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn send(Json(body): Json<SendBody>) -> Json<SendAnswer> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Json(SendAnswer {
        success: true,
        data: SendData {
            message_id: format!("msg_{id:026}"),
            recipients_sent: body.recipients.len(),
            invalid_recipients: Vec::new(),
            credits_used: body.recipients.len(),
            remaining_credits: u64::MAX - id,
            scheduled: false,
            schedule_date: None,
        },
    })
}

fn listen_address() -> anyhow::Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:19601".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--listen needs an address"))?;
            }
            other => anyhow::bail!("unknown argument `{other}` (usage: ceiling [--listen ADDR])"),
        }
    }
    Ok(listen.parse()?)
}

fn main() -> anyhow::Result<()> {
    let address = listen_address()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address).await?;
        println!("LISTENING {}", listener.local_addr()?);
        let app = Router::new().route("/api/v1/sms/send", post(send));
        axum::serve(listener, app).await?;
        Ok(())
    })
}
