//! The account the run binds with: given on the command line, or made through the admin API
//! (a throwaway tenant with credits, as `e2e` and `http` make one, and an SMPP account of it)
//! and deleted again at the end. The tenant stays, as theirs do.

use std::fmt;

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e::client::{self, Created, Flit};

/// The credentials a bind sends.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub system_id: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An SMPP account the run made, to delete at the end.
#[derive(Debug)]
pub(crate) struct MadeAccount {
    flit: Flit,
    admin_token: String,
    pub tenant_id: String,
    pub account_id: String,
}

/// What an account made for the run is allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccountLimits {
    pub binds: usize,
    pub window: u32,
    pub credits: i64,
}

/// Makes a tenant and an SMPP account of it with a fresh system_id and password, allowed
/// `limits.binds` binds of `limits.window` and no TPS limit.
pub(crate) async fn make(
    url: &str,
    admin_token: &str,
    limits: AccountLimits,
) -> anyhow::Result<(Credentials, MadeAccount)> {
    let flit = Flit::new(url, 2)?;
    let tag = format!("{:08x}", rand::random::<u32>());
    let tenant_name = format!("loadtest-smpp-{tag}");
    let mut created = Created::default();
    client::create_tenant(
        &flit,
        admin_token,
        &tenant_name,
        limits.credits,
        &mut created,
    )
    .await?;
    let tenant_id = created.tenant_id.context("the setup made no tenant id")?;
    let credentials = Credentials {
        // At most 15 and 8 characters (SMPP 3.4).
        system_id: format!("lt{tag}"),
        password: format!("{:08x}", rand::random::<u32>()),
    };
    let account = flit
        .call(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant_id}/smpp-accounts"),
            admin_token,
            Some(&json!({
                "systemId": credentials.system_id,
                "password": credentials.password,
                "maxBinds": limits.binds,
                "windowSize": limits.window,
                "tps": 0,
            })),
        )
        .await
        .with_context(|| format!("creating an SMPP account for tenant {tenant_id}"))?;
    let account_id = account
        .get("id")
        .and_then(Value::as_str)
        .with_context(|| format!("the SMPP account answer has no `id`: {account}"))?
        .to_owned();
    eprintln!(
        "smpp-client: tenant {tenant_name} ({tenant_id}), SMPP account {account_id} as {}",
        credentials.system_id
    );
    Ok((
        credentials,
        MadeAccount {
            flit,
            admin_token: admin_token.to_owned(),
            tenant_id,
            account_id,
        },
    ))
}

impl MadeAccount {
    /// Deletes the SMPP account; the problem, if that failed.
    pub(crate) async fn delete(&self) -> Option<String> {
        let path = format!(
            "/admin/v1/tenants/{}/smpp-accounts/{}",
            self.tenant_id, self.account_id
        );
        self.flit
            .call(Method::DELETE, &path, &self.admin_token, None)
            .await
            .err()
            .map(|error| format!("deleting SMPP account {}: {error:#}", self.account_id))
    }
}
