//! `flit admin …`: the admin API from the command line. Each subcommand is one HTTP call to a
//! running server, so the CLI and the API can never disagree; the answer is printed as JSON.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Args)]
pub struct AdminArgs {
    /// Base URL of the running server.
    #[arg(long, env = "FLIT_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin token; else `FLIT_ADMIN_TOKEN`, else `<data-dir>/admin-token`.
    #[arg(long, env = "FLIT_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Data dir whose `admin-token` file to read when no token is given.
    #[arg(long, env = "FLIT_DATA_DIR", default_value = "./flit-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Tenants: list, show, create.
    #[command(subcommand)]
    Tenants(TenantCommand),
    /// API keys of a tenant: list, create, revoke.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// Add credits to a tenant (a ledger transaction).
    Credits {
        tenant: String,
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// PURCHASE, BONUS, ADJUSTMENT or REFUND.
        #[arg(long = "type", default_value = "PURCHASE")]
        kind: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Approve a sender ID for a tenant.
    SenderId {
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    List,
    Show {
        tenant: String,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        default_country: Option<String>,
        #[arg(long)]
        rate_limit_per_minute: Option<u32>,
        #[arg(long)]
        price_per_part: Option<i64>,
        /// Opening balance (a BONUS transaction).
        #[arg(long)]
        credits: Option<i64>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    List {
        tenant: String,
    },
    Create {
        tenant: String,
        #[arg(long)]
        name: String,
        /// Comma-separated scopes; all scopes when absent.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
    Revoke {
        tenant: String,
        key: String,
    },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let token = match args.token {
        Some(token) => token,
        None => {
            let path = args.data_dir.join("admin-token");
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!("no admin token given and {} is unreadable", path.display())
                })?
                .trim()
                .to_string()
        }
    };
    let (method, path, body) = match args.command {
        AdminCommand::Tenants(TenantCommand::List) => ("GET", "/tenants".to_string(), None),
        AdminCommand::Tenants(TenantCommand::Show { tenant }) => {
            ("GET", format!("/tenants/{tenant}"), None)
        }
        AdminCommand::Tenants(TenantCommand::Create {
            name,
            phone,
            default_country,
            rate_limit_per_minute,
            price_per_part,
            credits,
        }) => (
            "POST",
            "/tenants".to_string(),
            Some(json!({
                "name": name,
                "phone": phone,
                "defaultCountry": default_country,
                "rateLimitPerMinute": rate_limit_per_minute,
                "pricePerPart": price_per_part,
                "credits": credits,
            })),
        ),
        AdminCommand::Keys(KeyCommand::List { tenant }) => {
            ("GET", format!("/tenants/{tenant}/keys"), None)
        }
        AdminCommand::Keys(KeyCommand::Create {
            tenant,
            name,
            scopes,
        }) => (
            "POST",
            format!("/tenants/{tenant}/keys"),
            Some(json!({"name": name, "scopes": scopes})),
        ),
        AdminCommand::Keys(KeyCommand::Revoke { tenant, key }) => {
            ("DELETE", format!("/tenants/{tenant}/keys/{key}"), None)
        }
        AdminCommand::Credits {
            tenant,
            amount,
            kind,
            description,
        } => (
            "POST",
            format!("/tenants/{tenant}/credits"),
            Some(json!({"amount": amount, "type": kind, "description": description})),
        ),
        AdminCommand::SenderId { tenant, name } => (
            "POST",
            format!("/tenants/{tenant}/sender-ids"),
            Some(json!({"name": name})),
        ),
    };
    let url = format!("{}/admin/v1{path}", args.url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().context("HTTP method")?, &url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&strip_nulls(body));
    }
    let response = request
        .send()
        .await
        // The URL is said once, here, rather than again in reqwest's own words.
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let answer = serde_json::from_str::<Value>(&text).ok();
    if !status.is_success() {
        bail!(
            "{method} {url} answered {status}: {}",
            refusal(answer.as_ref(), &text)
        );
    }
    let shown = answer
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or(text);
    println!("{shown}");
    Ok(())
}

/// Why the server refused, in one line: the native error's sentence and code, else the body.
fn refusal(answer: Option<&Value>, text: &str) -> String {
    match answer {
        Some(body) => match (body["error"].as_str(), body["code"].as_str()) {
            (Some(error), Some(code)) => format!("{error} ({code})"),
            (Some(error), None) => error.to_string(),
            _ => body.to_string(),
        },
        None => text.trim().to_string(),
    }
}

/// Absent options are left out of the body rather than sent as `null`.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}
