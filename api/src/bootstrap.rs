//! First start: the admin token, and on an empty data dir the `default` tenant with 1000
//! credits, approved sender IDs and an all-scopes key, written to `bootstrap.json` (0600) and
//! printed once, so `curl` works at once (SPEC §2).
//!
//! Each step is idempotent, so a start that dies half-way finishes the job next time.

use anyhow::Context;
use flit_engine::secrets;
use flit_engine::{Engine, NewTenant};
use flit_engine::{Scopes, TransactionKind};
use serde::Serialize;

use crate::config::Config;
use crate::data_dir::write_private;

pub const BOOTSTRAP_TENANT: &str = "default";
pub const BOOTSTRAP_CREDITS: i64 = 1000;

/// Makes sure an admin token exists and returns its hash.
pub async fn admin_token(engine: &Engine, config: &Config) -> anyhow::Result<[u8; 32]> {
    if let Some(token) = &config.admin_token {
        engine.set_admin_token(token).await?;
        return Ok(secrets::sha256(token.as_bytes()));
    }
    if let Some(hash) = engine.admin_token_hash()? {
        return Ok(hash);
    }
    let token = secrets::generate_secret("flt_admin_");
    let path = config.data_dir.join("admin-token");
    write_private(&path, format!("{token}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    engine.set_admin_token(&token).await?;
    tracing::info!(path = %path.display(), "generated an admin token");
    Ok(secrets::sha256(token.as_bytes()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapFile {
    pub tenant_id: String,
    pub tenant_name: String,
    pub api_key: String,
    pub scopes: Vec<&'static str>,
    pub credits: i64,
    pub sender_ids: Vec<String>,
    pub base_url: String,
}

/// On a data dir never bootstrapped: creates the default tenant and its key.
/// `listening` is the address actually bound, for the base URL written to `bootstrap.json`.
pub async fn default_tenant(
    engine: &Engine,
    config: &Config,
    listening: std::net::SocketAddr,
) -> anyhow::Result<()> {
    if engine.is_bootstrapped()? {
        return Ok(());
    }
    let tenant = match engine
        .tenants()
        .into_iter()
        .find(|tenant| tenant.name == BOOTSTRAP_TENANT)
    {
        Some(tenant) => tenant,
        None => {
            engine
                .create_tenant(NewTenant {
                    name: BOOTSTRAP_TENANT.to_string(),
                    default_country: Some(config.default_country),
                    // The ones the APIs' own examples use (below, for a tenant made earlier).
                    sender_ids: Some(config.bootstrap_sender_ids.clone()),
                    ..NewTenant::default()
                })
                .await?
        }
    };
    if engine.ledger(tenant.id)?.is_empty() {
        engine
            .add_credits(
                tenant.id,
                TransactionKind::Bonus,
                BOOTSTRAP_CREDITS,
                "Welcome credits".to_string(),
                None,
            )
            .await?;
    }
    let existing = engine.approved_sender_ids(tenant.id)?;
    for name in &config.bootstrap_sender_ids {
        if !existing
            .iter()
            .any(|sender| sender.name.eq_ignore_ascii_case(name))
        {
            engine.create_sender_id(tenant.id, name).await?;
        }
    }
    let scopes = Scopes::all();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let (_, secret) = engine
        .create_api_key(tenant.id, "bootstrap".to_string(), scopes)
        .await?;
    let file = BootstrapFile {
        tenant_id: tenant.id.to_string(),
        tenant_name: tenant.name,
        api_key: secret,
        scopes: scopes.iter().map(|scope| scope.as_str()).collect(),
        credits: engine.balance(tenant.id)?,
        sender_ids: engine
            .approved_sender_ids(tenant.id)?
            .into_iter()
            .map(|sender| sender.name)
            .collect(),
        base_url: format!("{scheme}://{listening}/api/v1"),
    };
    let json = serde_json::to_string_pretty(&file)?;
    let path = config.data_dir.join("bootstrap.json");
    write_private(&path, json.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    engine.mark_bootstrapped().await?;
    // On stderr: stdout is the log stream (JSON lines with `--log-format json`), and this is a
    // message to the person starting Flit, not a log event.
    eprintln!(
        "First start: tenant `{}` has {} credits and this API key (shown once, also in {}):\n  {}",
        BOOTSTRAP_TENANT,
        file.credits,
        path.display(),
        file.api_key
    );
    Ok(())
}

/// While no operator account exists: a fresh one-time link that makes the first one (the
/// last start's link stops working), logged as one line. Returns the link.
pub async fn operator_setup(
    engine: &Engine,
    config: &Config,
    listening: std::net::SocketAddr,
) -> anyhow::Result<Option<String>> {
    let Some(token) = engine.open_operator_setup().await? else {
        return Ok(None);
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    // A server listening on every address is reached on this machine at the loopback one.
    let mut address = listening;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("{scheme}://{address}/console/setup?token={token}");
    tracing::info!(
        "no operator account yet: open {url} within 24 hours to make one (it works once; or use `flit admin operators create`)"
    );
    Ok(Some(url))
}
