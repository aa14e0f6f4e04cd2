//! The tenant and admin calls `devices-bench` makes, on the phones' own client stack (hyper on
//! rustls) so that a server on https with a private CA is reached the same way by both. Answers
//! are `{"success", "data"}`; every call but the timed send reads them whole.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::devices::{HttpsClient, error_chain, https_client};

/// No call of a benchmark should take this long; one that does has hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Error bodies are cut to this many characters in messages.
const BODY_EXCERPT: usize = 300;

/// One server's tenant and admin API.
#[derive(Clone)]
pub struct BenchApi {
    http: HttpsClient,
    /// `http(s)://host:port`, no trailing slash.
    base: Arc<str>,
}

/// One timed FlixySMS send.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// Just before the request was handed to the client.
    pub requested_at: Instant,
    /// When the answer's head had arrived (for a 2xx: the message is durable and queued).
    pub answered_at: Instant,
    /// `None` when no answer came (transport error or timeout).
    pub status: Option<StatusCode>,
    /// `data.message_id` of a 2xx (a UUID).
    pub message_id: Option<String>,
    /// What went wrong, for anything but a readable 2xx.
    pub error: Option<String>,
}

impl SendOutcome {
    pub fn accepted(&self) -> bool {
        self.message_id.is_some()
    }
}

/// Whether the server let the phones' limits be lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiftOutcome {
    Lifted,
    /// `PATCH /api/v1/devices/{id}` is not served (405): a server older than the route.
    NotServed,
}

impl BenchApi {
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        Ok(Self {
            http: https_client(ca_pem)?,
            base: base.trim_end_matches('/').into(),
        })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(value) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(serde_json::to_vec(value)?))
            }
            None => Full::new(Bytes::new()),
        };
        builder.body(body).context("building a request")
    }

    /// One call: its status and its body as JSON (`Null` when it is not JSON).
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value, String)> {
        let request = self.request(method.clone(), path, token, body)?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .context("reading the answer")?
                .to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {CALL_TIMEOUT:?}"))
            .and_then(|result| result)
            .with_context(|| format!("{method} {path}"))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value, text))
    }

    /// `data` of a 2xx answer; any other status is an error carrying the body.
    async fn data(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, value, text) = self.call(method.clone(), path, token, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: HTTP {status}: {}", excerpt(&text));
        }
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    }

    /// A throwaway tenant through the admin API: `credits` at one a part, a rate limit no
    /// benchmark reaches, an approved sender ID (a send needs one, even through a phone) and
    /// an all-scopes key, which it returns.
    pub async fn create_tenant(
        &self,
        admin_token: &str,
        name: &str,
        credits: u64,
    ) -> anyhow::Result<String> {
        let tenant = self
            .data(
                Method::POST,
                "/admin/v1/tenants",
                admin_token,
                Some(&json!({
                    "name": name,
                    "credits": credits,
                    "rateLimitPerMinute": 100_000_000,
                    "pricePerPart": 1,
                })),
            )
            .await
            .context("creating the tenant")?;
        let tenant_id = string_at(&tenant, "/id")?;
        let key = self
            .data(
                Method::POST,
                &format!("/admin/v1/tenants/{tenant_id}/keys"),
                admin_token,
                Some(&json!({ "name": "devices-bench" })),
            )
            .await
            .context("creating the API key")?;
        self.data(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/sender-ids"),
            admin_token,
            Some(&json!({ "name": "DevBench" })),
        )
        .await
        .context("creating the sender ID")?;
        string_at(&key, "/key")
    }

    /// `POST /api/v1/devices/registration-token`: the token every phone registers with.
    pub async fn registration_token(&self, key: &str) -> anyhow::Result<String> {
        let data = self
            .data(
                Method::POST,
                "/api/v1/devices/registration-token",
                key,
                None,
            )
            .await
            .context("creating a device registration token (the key needs devices:write)")?;
        string_at(&data, "/token")
    }

    /// `POST /api/v1/devices/pairing-code`: a code that pairs one phone with the key's tenant
    /// within a minute.
    pub async fn pairing_code(&self, key: &str) -> anyhow::Result<String> {
        let data = self
            .data(Method::POST, "/api/v1/devices/pairing-code", key, None)
            .await
            .context("creating a pairing code (the key needs devices:write)")?;
        string_at(&data, "/code")
    }

    /// `PATCH /api/v1/devices/{id}` with every limit 0 (no limit).
    pub async fn lift_limits(&self, key: &str, device_id: &str) -> anyhow::Result<LiftOutcome> {
        let path = format!("/api/v1/devices/{device_id}");
        let body = json!({ "limits": { "perMinute": 0, "perHour": 0, "perDay": 0 } });
        let (status, _, text) = self.call(Method::PATCH, &path, key, Some(&body)).await?;
        match status {
            status if status.is_success() => Ok(LiftOutcome::Lifted),
            StatusCode::METHOD_NOT_ALLOWED => Ok(LiftOutcome::NotServed),
            status => bail!("PATCH {path}: HTTP {status}: {}", excerpt(&text)),
        }
    }

    /// One FlixySMS send (`POST /flixy/api/v1/sms/send`, no `device_id`: the server picks the
    /// least loaded online phone of the tenant), timed from the request to the answer's head.
    pub async fn send(&self, key: &str, to: &str, text: &str) -> SendOutcome {
        let body = json!({ "to": to, "message": text });
        let requested_at = Instant::now();
        let failed = |error: String| SendOutcome {
            requested_at,
            answered_at: Instant::now(),
            status: None,
            message_id: None,
            error: Some(error),
        };
        let request = match self.request(Method::POST, "/flixy/api/v1/sms/send", key, Some(&body)) {
            Ok(request) => request,
            Err(error) => return failed(format!("{error:#}")),
        };
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let answered_at = Instant::now();
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {}", error_chain(&e)))?
                .to_bytes();
            Ok::<_, String>((answered_at, status, bytes))
        };
        let (answered_at, status, bytes) = match tokio::time::timeout(CALL_TIMEOUT, exchange).await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return failed(error),
            Err(_) => return failed(format!("no answer within {CALL_TIMEOUT:?}")),
        };
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message_id = status
            .is_success()
            .then(|| value.pointer("/data/message_id").and_then(Value::as_str))
            .flatten()
            .map(str::to_owned);
        let error = message_id.is_none().then(|| {
            format!(
                "HTTP {status}: {}",
                excerpt(&String::from_utf8_lossy(&bytes))
            )
        });
        SendOutcome {
            requested_at,
            answered_at,
            status: Some(status),
            message_id,
            error,
        }
    }

    /// How many of the tenant's messages created at or after `since` are DELIVERED
    /// (`GET /api/v1/sms?status=DELIVERED`, its `pagination.total`).
    pub async fn delivered_since(&self, key: &str, since: OffsetDateTime) -> anyhow::Result<u64> {
        let since = since
            .format(&Rfc3339)
            .context("formatting the run's start")?;
        let data = self
            .data(
                Method::GET,
                &format!("/api/v1/sms?status=DELIVERED&limit=1&startDate={since}"),
                key,
                None,
            )
            .await?;
        data.pointer("/pagination/total")
            .and_then(Value::as_u64)
            .with_context(|| format!("no pagination.total in {data}"))
    }
}

fn string_at(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at `{pointer}` in {value}"))
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= BODY_EXCERPT {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(BODY_EXCERPT).collect();
        out.push('…');
        out
    }
}
