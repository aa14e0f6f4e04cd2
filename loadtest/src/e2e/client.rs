//! Flit's public HTTP API as e2e uses it: the admin calls that set up and tear down a run, and
//! the native calls that send and read back messages. Answers are `{"success", "data"}`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// A Flit server: its base URL and the HTTP client (connection pool) used for it.
#[derive(Debug, Clone)]
pub struct Flit {
    base: String,
    http: Client,
}

/// What a run created through the admin API, so that it can be removed again.
#[derive(Debug, Default, Clone)]
pub struct Created {
    pub tenant_id: Option<String>,
    pub api_key: Option<String>,
    pub bind_ids: Vec<String>,
    pub route_id: Option<String>,
    /// The webhook registered with `api_key` (`--webhooks`).
    pub webhook_id: Option<String>,
}

/// A JSON answer that came back with a status other than 2xx.
#[derive(Debug)]
pub struct HttpFailure {
    pub status: StatusCode,
    pub body: String,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, truncate(&self.body, 300))
    }
}

impl std::error::Error for HttpFailure {}

pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max).collect();
        out.push('…');
        out
    }
}

impl Flit {
    pub fn new(base: &str, connections: usize) -> anyhow::Result<Self> {
        let http = Client::builder()
            .pool_max_idle_per_host(connections.max(1) * 2)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// One call; the `data` of a 2xx answer, else an [`HttpFailure`] (or a transport error).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        if !status.is_success() {
            return Err(anyhow::Error::new(HttpFailure { status, body: text }))
                .with_context(|| format!("{method} {url}"));
        }
        let value: Value = serde_json::from_str(&text).with_context(|| {
            format!("{method} {url} answered non-JSON: {}", truncate(&text, 200))
        })?;
        Ok(value.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Sends one request's worth of numbers; returns the status and the raw body.
    pub async fn send_sms(
        &self,
        key: &str,
        recipients: &[String],
        text: &str,
    ) -> Result<(StatusCode, String), reqwest::Error> {
        let body = json!({ "recipients": recipients, "message": text });
        let response = self
            .http
            .post(format!("{}/api/v1/sms/send", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, text))
    }
}

fn string_at(value: &Value, pointer: &str, what: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("{what}: no string at `{pointer}` in {value}"))
}

/// Settings of the run's setup.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub admin_token: &'a str,
    pub tenant_name: String,
    pub credits: i64,
    pub smsc_ports: Vec<u16>,
    pub window: u32,
}

/// Creates the tenant, its key and sender ID, one bind per SMSC port and a default route over
/// them. Whatever was created before a failure is recorded in `created`.
pub async fn set_up(flit: &Flit, setup: &Setup<'_>, created: &mut Created) -> anyhow::Result<()> {
    let token = setup.admin_token;
    create_tenant(flit, token, &setup.tenant_name, setup.credits, created).await?;
    for (index, port) in setup.smsc_ports.iter().enumerate() {
        let bind = flit
            .call(
                Method::POST,
                "/admin/v1/binds",
                token,
                Some(&json!({
                    "name": format!("{}-smsc{index}", setup.tenant_name),
                    "host": "127.0.0.1",
                    "port": port,
                    "systemId": "flit",
                    "password": "secret",
                    "windowSize": setup.window,
                    "tps": 0,
                })),
            )
            .await
            .with_context(|| format!("creating the bind to SMSC {index} (port {port})"))?;
        created.bind_ids.push(string_at(&bind, "/id", "bind")?);
    }
    let route = flit
        .call(
            Method::POST,
            "/admin/v1/routes",
            token,
            Some(&json!({ "prefix": "", "bindIds": created.bind_ids, "priority": 0 })),
        )
        .await
        .context("creating the default route")?;
    created.route_id = Some(string_at(&route, "/id", "route")?);
    Ok(())
}

/// Creates a throwaway tenant for a run: `credits` at one credit a part, a rate limit no load
/// test reaches, an API key and the sender ID `LoadTest`. What was created is recorded in
/// `created` (the key in `created.api_key`).
pub async fn create_tenant(
    flit: &Flit,
    token: &str,
    name: &str,
    credits: i64,
    created: &mut Created,
) -> anyhow::Result<()> {
    let tenant = flit
        .call(
            Method::POST,
            "/admin/v1/tenants",
            token,
            Some(&json!({
                "name": name,
                "credits": credits,
                "rateLimitPerMinute": 100_000_000,
                "pricePerPart": 1,
                "senderIds": ["LoadTest"],
            })),
        )
        .await
        .context("creating the tenant")?;
    let tenant_id = string_at(&tenant, "/id", "tenant")?;
    created.tenant_id = Some(tenant_id.clone());
    let key = flit
        .call(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/keys"),
            token,
            Some(&json!({ "name": "loadtest" })),
        )
        .await
        .context("creating the API key")?;
    created.api_key = Some(string_at(&key, "/key", "API key")?);
    Ok(())
}

/// Polls every bind until `data.state.bound` is true for all of them.
pub async fn wait_bound(
    flit: &Flit,
    admin_token: &str,
    bind_ids: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut unbound = Vec::new();
        for id in bind_ids {
            let bind = flit
                .call(
                    Method::GET,
                    &format!("/admin/v1/binds/{id}"),
                    admin_token,
                    None,
                )
                .await
                .with_context(|| format!("reading bind {id}"))?;
            if bind.pointer("/state/bound").and_then(Value::as_bool) != Some(true) {
                unbound.push(id.clone());
            }
        }
        if unbound.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("binds still not bound after {timeout:?}: {unbound:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the webhook, the route and the binds the run created (tenant and key stay).
/// Reports every failure but goes on with the rest.
pub async fn tear_down(flit: &Flit, admin_token: &str, created: &Created) -> Vec<String> {
    let mut problems = Vec::new();
    // The webhook first, so that Flit stops posting to a receiver about to go.
    if let (Some(webhook), Some(key)) = (&created.webhook_id, &created.api_key)
        && let Err(error) = flit
            .call(
                Method::DELETE,
                &format!("/api/v1/webhooks/{webhook}"),
                key,
                None,
            )
            .await
    {
        problems.push(format!("deleting webhook {webhook}: {error:#}"));
    }
    if let Some(route) = &created.route_id
        && let Err(error) = flit
            .call(
                Method::DELETE,
                &format!("/admin/v1/routes/{route}"),
                admin_token,
                None,
            )
            .await
    {
        problems.push(format!("deleting route {route}: {error:#}"));
    }
    for bind in &created.bind_ids {
        if let Err(error) = flit
            .call(
                Method::DELETE,
                &format!("/admin/v1/binds/{bind}"),
                admin_token,
                None,
            )
            .await
        {
            problems.push(format!("deleting bind {bind}: {error:#}"));
        }
    }
    problems
}

/// One message of the tenant's history.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub status: String,
}

/// The whole history of the key's tenant, paging with `limit=100`.
pub async fn list_messages(flit: &Flit, key: &str) -> anyhow::Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut page = 1u64;
    loop {
        let data = flit
            .call(
                Method::GET,
                &format!("/api/v1/sms?limit=100&page={page}"),
                key,
                None,
            )
            .await
            .with_context(|| format!("listing page {page} of the history"))?;
        let messages = data
            .get("messages")
            .and_then(Value::as_array)
            .with_context(|| format!("history page {page} has no `messages`: {data}"))?;
        for message in messages {
            out.push(Listed {
                id: string_at(message, "/id", "history message")?,
                status: string_at(message, "/status", "history message")?,
            });
        }
        let has_more = data
            .pointer("/pagination/hasMore")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !has_more || messages.is_empty() {
            return Ok(out);
        }
        page += 1;
    }
}

/// Recipient counts of one message by final state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecipientCounts {
    pub delivered: u64,
    pub failed: u64,
    pub pending: u64,
}

/// Counts a message's recipients by status through `GET /api/v1/sms/{id}/recipients`.
pub async fn recipient_counts(flit: &Flit, key: &str, id: &str) -> anyhow::Result<RecipientCounts> {
    let data = flit
        .call(
            Method::GET,
            &format!("/api/v1/sms/{id}/recipients"),
            key,
            None,
        )
        .await
        .with_context(|| format!("reading the recipients of {id}"))?;
    let recipients = data
        .get("recipients")
        .and_then(Value::as_array)
        .with_context(|| format!("no `recipients` for {id}: {data}"))?;
    let mut counts = RecipientCounts::default();
    for recipient in recipients {
        match recipient.get("status").and_then(Value::as_str) {
            Some("DELIVERED") => counts.delivered += 1,
            Some("FAILED" | "CANCELLED") => counts.failed += 1,
            _ => counts.pending += 1,
        }
    }
    Ok(counts)
}
