//! `flit admin …`: the admin API (`/admin/v1`) from the command line. Each subcommand is one
//! or a few HTTP calls to a running server (naming a tenant or a bind by its name is a listing
//! first), so the CLI and the API can never disagree; answers are printed as the API's JSON.
//! A failure is one line on stderr (`error: …`) and a non-zero exit.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What `flit admin --help` shows after the commands: the first session, start to end.
const WALKTHROUGH: &str = "\
Walkthrough, against a running `flit serve` (the admin token is read from
./flit-data/admin-token, or give --token / FLIT_ADMIN_TOKEN, and --url for another server):

  flit admin tenants create --name \"Acme Ltd\" --credits 1000 --sender-id Acme
  flit admin keys create \"Acme Ltd\" --name production     # the key is shown once: keep it
  flit admin binds create --name carrier-a --host smsc.example.com --port 2775 \\
      --system-id acme --password secret
  flit admin routes create --bind carrier-a                # every destination, through carrier-a
  flit admin tenants show \"Acme Ltd\"

A tenant (or a bind) is named by its name or its id (ten_…, bnd_…). At the end of a tenant:

  flit admin tenants suspend \"Acme Ltd\"                    # its keys answer 403 from now on
  flit admin tenants export \"Acme Ltd\" --out acme.ndjson
  flit admin tenants delete \"Acme Ltd\"                     # type its name to confirm

A customer whose own software speaks SMPP binds with an SMPP account of its tenant:

  flit admin smpp-accounts create \"Acme Ltd\" --system-id acme_esme --password s3cret

The web console (/console) signs in with accounts; an operator account runs the operator side:

  FLIT_OPERATOR_PASSWORD=... flit admin operators create --email ops@example.com

Every command has its own --help.";

#[derive(Args)]
#[command(after_help = WALKTHROUGH)]
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
    /// Tenants: list, show, create, update, suspend, resume, export, delete.
    #[command(subcommand)]
    Tenants(TenantCommand),
    /// A tenant's API keys: list, create (the secret is shown once), revoke.
    #[command(subcommand)]
    Keys(KeyCommand),
    /// A tenant's credits: add (or adjust) them, read the ledger.
    #[command(subcommand)]
    Credits(CreditCommand),
    /// A tenant's sender IDs: list, add (approved at once).
    #[command(subcommand, name = "sender-ids")]
    SenderIds(SenderIdCommand),
    /// SMPP binds to carriers: list, show (with live state), create, delete.
    #[command(subcommand)]
    Binds(BindCommand),
    /// Routes from destination prefixes to binds: list, create, delete.
    #[command(subcommand)]
    Routes(RouteCommand),
    /// A tenant's SMPP accounts, which its own software binds to Flit with: list, create,
    /// delete.
    #[command(subcommand, name = "smpp-accounts")]
    SmppAccounts(SmppAccountCommand),
    /// Operator accounts, which sign in to the console's operator side: list, create, delete.
    #[command(subcommand)]
    Operators(OperatorCommand),
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Every operator account (never a password).
    List,
    /// A new operator account.
    Create {
        /// What they sign in with; unique across operators and tenants' users.
        #[arg(long)]
        email: String,
        /// 10 to 256 characters; stored hashed. Give it in FLIT_OPERATOR_PASSWORD to keep it
        /// off the command line.
        #[arg(long, env = "FLIT_OPERATOR_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Delete an operator account; their console sessions end.
    Delete {
        /// The account's id (usr_…) or its email.
        operator: String,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Every tenant, with its balance and whether it is suspended.
    List,
    /// One tenant.
    Show {
        /// The tenant's name or id.
        tenant: String,
    },
    /// A new tenant; it gets an approved sender ID (given, or made from its name).
    Create {
        /// Its name (what the operator calls it; need not be unique, but a unique one can be
        /// used in place of its id).
        #[arg(long)]
        name: String,
        /// A contact phone number.
        #[arg(long)]
        phone: Option<String>,
        /// ISO 3166 code of the country its local numbers are read in (default: the server's).
        #[arg(long)]
        default_country: Option<String>,
        /// Requests per minute allowed to each of its API keys (default 100).
        #[arg(long)]
        rate_limit_per_minute: Option<u32>,
        /// Credits per SMS part (default 1).
        #[arg(long)]
        price_per_part: Option<i64>,
        /// Opening balance (a BONUS transaction).
        #[arg(long)]
        credits: Option<i64>,
        /// A sender ID to approve (repeat for more; the first is the default). Without one,
        /// a sender ID is made from the name.
        #[arg(long = "sender-id", value_name = "NAME")]
        sender_ids: Vec<String>,
        /// Approve no sender ID at all (sends then need one added first).
        #[arg(long, conflicts_with = "sender_ids")]
        no_sender_id: bool,
        /// Let its carriers take sends meant for its phones while none is online.
        #[arg(long)]
        allow_device_failover: bool,
        /// How its numbers are checked: strict (valid per libphonenumber) or structural.
        #[arg(long, value_parser = ["strict", "structural"])]
        number_validation: Option<String>,
    },
    /// Change a tenant's settings; what is not given stays as it is.
    Update {
        /// The tenant's name or id.
        tenant: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new contact phone number.
        #[arg(long, conflicts_with = "clear_phone")]
        phone: Option<String>,
        /// Remove the contact phone number.
        #[arg(long)]
        clear_phone: bool,
        /// ISO 3166 code of the country its local numbers are read in.
        #[arg(long)]
        default_country: Option<String>,
        /// Requests per minute allowed to each of its API keys.
        #[arg(long)]
        rate_limit_per_minute: Option<u32>,
        /// Credits per SMS part.
        #[arg(long)]
        price_per_part: Option<i64>,
        /// Whether its carriers take sends meant for its phones while none is online.
        #[arg(long)]
        allow_device_failover: Option<bool>,
        /// strict, structural, or default (the server's own default for each API).
        #[arg(long, value_parser = ["strict", "structural", "default"])]
        number_validation: Option<String>,
    },
    /// Suspend a tenant: its API keys answer 403 `account_suspended` on every API, it sends
    /// nothing new; what it already sent still goes out.
    Suspend {
        /// The tenant's name or id.
        tenant: String,
    },
    /// Lift a tenant's suspension.
    Resume {
        /// The tenant's name or id.
        tenant: String,
    },
    /// Every record of a tenant as NDJSON (one JSON object per line, with its `type`).
    Export {
        /// The tenant's name or id.
        tenant: String,
        /// Write to this file (created with mode 0600, replaced if it exists) instead of
        /// stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete a suspended tenant and every record it owns, for good (export it first).
    Delete {
        /// The tenant's name or id.
        tenant: String,
        /// Do not ask: delete without typing the tenant's name.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// A tenant's API keys (never their secrets).
    List {
        /// The tenant's name or id.
        tenant: String,
    },
    /// A new API key; its secret (`data.key`) is shown this once.
    Create {
        /// The tenant's name or id.
        tenant: String,
        /// What the key is for.
        #[arg(long, default_value = "API key")]
        name: String,
        /// Comma-separated scopes (e.g. sms:send,sms:read); all scopes when absent.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
    /// Revoke an API key: it stops working at once.
    Revoke {
        /// The tenant's name or id.
        tenant: String,
        /// The key's id (key_…, from `keys list`).
        key: String,
    },
}

#[derive(Subcommand)]
enum CreditCommand {
    /// Add credits to a tenant (or take some back with a negative ADJUSTMENT).
    Add {
        /// The tenant's name or id.
        tenant: String,
        /// Credits to add; negative only with --type ADJUSTMENT.
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
        /// PURCHASE, BONUS, ADJUSTMENT or REFUND.
        #[arg(long = "type", default_value = "PURCHASE")]
        kind: String,
        /// What the ledger entry says (default: the type, "by operator").
        #[arg(long)]
        description: Option<String>,
        /// Makes a retry safe: the same key and amount is applied once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// A tenant's ledger, newest first.
    Ledger {
        /// The tenant's name or id.
        tenant: String,
        /// Page number, from 1.
        #[arg(long, default_value_t = 1)]
        page: u32,
        /// Entries per page, 1 to 100.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this type: PURCHASE, USAGE, REFUND, BONUS or ADJUSTMENT.
        #[arg(long = "type")]
        kind: Option<String>,
    },
}

#[derive(Subcommand)]
enum SenderIdCommand {
    /// A tenant's approved sender IDs (the first is its default).
    List {
        /// The tenant's name or id.
        tenant: String,
    },
    /// Approve a sender ID for a tenant.
    Add {
        /// The tenant's name or id.
        tenant: String,
        /// Up to 11 letters and digits, or a phone number of up to 15 digits.
        name: String,
    },
}

#[derive(Subcommand)]
enum SmppAccountCommand {
    /// A tenant's SMPP accounts with their limits (never their passwords).
    List {
        /// The tenant's name or id.
        tenant: String,
    },
    /// A new SMPP account: the system_id and password a customer's bind sends.
    Create {
        /// The tenant's name or id.
        tenant: String,
        /// 1 to 15 printable ASCII characters, no spaces; unique across tenants.
        #[arg(long)]
        system_id: String,
        /// 1 to 8 printable ASCII characters; stored hashed, never shown again. Give it in
        /// FLIT_SMPP_PASSWORD to keep it off the command line.
        #[arg(long, env = "FLIT_SMPP_PASSWORD", hide_env_values = true)]
        password: String,
        /// Sessions bound at once, 1 to 100 (default 2).
        #[arg(long)]
        max_binds: Option<u32>,
        /// Submits a session may have unanswered, 1 to 1000 (default 100).
        #[arg(long)]
        window_size: Option<u32>,
        /// Submits per second over all its sessions, 0 = unlimited (the default).
        #[arg(long)]
        tps: Option<u32>,
    },
    /// Delete an SMPP account: no new bind with it succeeds, its system_id is free again.
    Delete {
        /// The tenant's name or id.
        tenant: String,
        /// The account's id (smp_…) or its system_id.
        account: String,
    },
}

#[derive(Subcommand)]
enum BindCommand {
    /// Every SMPP bind, with its live state.
    List,
    /// One bind, with its live state (bound, in flight, queued, errors).
    Show {
        /// The bind's name or id.
        bind: String,
    },
    /// Add an SMPP bind; it connects at once (sandbox mode ends with the first one).
    Create(Box<NewBind>),
    /// Remove a bind: it unbinds at once and its queued work goes to other binds.
    Delete {
        /// The bind's name or id.
        bind: String,
    },
}

/// A bind as `binds create` takes it.
#[derive(Args)]
struct NewBind {
    /// A name to know it by (and to name it in routes).
    #[arg(long)]
    name: String,
    /// The carrier's SMSC host.
    #[arg(long)]
    host: String,
    /// The SMSC's port.
    #[arg(long)]
    port: u16,
    /// The system_id the carrier gave (1 to 15 characters).
    #[arg(long)]
    system_id: String,
    /// The password the carrier gave (at most 8 characters).
    #[arg(long)]
    password: Option<String>,
    /// The system_type, if the carrier asks for one (at most 12 characters).
    #[arg(long)]
    system_type: Option<String>,
    /// transceiver, or transmitter_receiver (two sessions).
    #[arg(long, value_parser = ["transceiver", "transmitter_receiver"])]
    bind_mode: Option<String>,
    /// Submits in flight at once (default 50).
    #[arg(long)]
    window_size: Option<u32>,
    /// Submits per second, 0 for no limit (the default).
    #[arg(long)]
    tps: Option<u32>,
    /// How GSM-7 text goes on the wire: unpacked, packed or latin1.
    #[arg(long, value_parser = ["unpacked", "packed", "latin1"])]
    gsm7: Option<String>,
    /// How long texts are split: udh, sar or payload.
    #[arg(long, value_parser = ["udh", "sar", "payload"])]
    concatenation: Option<String>,
    /// The tenant (name or id) that gets the SMS arriving on this bind.
    #[arg(long)]
    tenant: Option<String>,
}

#[derive(Subcommand)]
enum RouteCommand {
    /// Every route.
    List,
    /// A route: destinations starting with a prefix go through its binds.
    Create {
        /// Leading digits of the international number (e.g. 233); empty (the default) matches
        /// every number.
        #[arg(long, default_value = "")]
        prefix: String,
        /// A bind (name or id) the route sends through; repeat for more.
        #[arg(long = "bind", value_name = "BIND", required = true)]
        binds: Vec<String>,
        /// Higher wins among routes of the same prefix length (default 0).
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i32>,
        /// One weight per --bind, sharing traffic between them (default: equal).
        #[arg(long = "weight", value_name = "WEIGHT")]
        weights: Vec<u32>,
    },
    /// Delete a route.
    Delete {
        /// The route's id (rte_…, from `routes list`).
        route: String,
    },
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let token = match args.token {
        Some(token) => token,
        None => {
            let path = args.data_dir.join("admin-token");
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "no admin token given (--token or FLIT_ADMIN_TOKEN) and {} is unreadable",
                        path.display()
                    )
                })?
                .trim()
                .to_string()
        }
    };
    let admin = Admin {
        http: reqwest::Client::new(),
        base: format!("{}/admin/v1", args.url.trim_end_matches('/')),
        token,
    };
    let answer = match args.command {
        AdminCommand::Tenants(command) => admin.tenants(command).await?,
        AdminCommand::Keys(command) => admin.keys(command).await?,
        AdminCommand::Credits(command) => admin.credits(command).await?,
        AdminCommand::SenderIds(command) => admin.sender_ids(command).await?,
        AdminCommand::SmppAccounts(command) => admin.smpp_accounts(command).await?,
        AdminCommand::Operators(command) => admin.operators(command).await?,
        AdminCommand::Binds(command) => admin.binds(command).await?,
        AdminCommand::Routes(command) => admin.routes(command).await?,
    };
    if let Some(answer) = answer {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    Ok(())
}

/// The admin API of one server.
struct Admin {
    http: reqwest::Client,
    /// `<url>/admin/v1`.
    base: String,
    token: String,
}

impl Admin {
    async fn tenants(&self, command: TenantCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            TenantCommand::List => self.get("/tenants").await?,
            TenantCommand::Show { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.get(&format!("/tenants/{id}")).await?
            }
            TenantCommand::Create {
                name,
                phone,
                default_country,
                rate_limit_per_minute,
                price_per_part,
                credits,
                sender_ids,
                no_sender_id,
                allow_device_failover,
                number_validation,
            } => {
                let sender_ids = match (no_sender_id, sender_ids.is_empty()) {
                    (true, _) => Some(Vec::new()),
                    (false, true) => None,
                    (false, false) => Some(sender_ids),
                };
                let body = json!({
                    "name": name,
                    "phone": phone,
                    "defaultCountry": default_country,
                    "rateLimitPerMinute": rate_limit_per_minute,
                    "pricePerPart": price_per_part,
                    "credits": credits,
                    "senderIds": sender_ids,
                    "allowDeviceFailover": allow_device_failover.then_some(true),
                    "numberValidation": number_validation,
                });
                self.send(Method::POST, "/tenants", Some(strip_nulls(body)))
                    .await?
            }
            TenantCommand::Update {
                tenant,
                name,
                phone,
                clear_phone,
                default_country,
                rate_limit_per_minute,
                price_per_part,
                allow_device_failover,
                number_validation,
            } => {
                let id = self.tenant_id(&tenant).await?;
                let mut body = strip_nulls(json!({
                    "name": name,
                    "phone": phone,
                    "defaultCountry": default_country,
                    "rateLimitPerMinute": rate_limit_per_minute,
                    "pricePerPart": price_per_part,
                    "allowDeviceFailover": allow_device_failover,
                    "numberValidation": number_validation.as_deref().filter(|v| *v != "default"),
                }));
                // `null` clears these two.
                if clear_phone {
                    body["phone"] = Value::Null;
                }
                if number_validation.as_deref() == Some("default") {
                    body["numberValidation"] = Value::Null;
                }
                if body.as_object().is_some_and(|fields| fields.is_empty()) {
                    bail!("nothing to change: give at least one setting (see --help)");
                }
                self.send(Method::PATCH, &format!("/tenants/{id}"), Some(body))
                    .await?
            }
            TenantCommand::Suspend { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.send(Method::POST, &format!("/tenants/{id}/suspend"), None)
                    .await?
            }
            TenantCommand::Resume { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.send(Method::POST, &format!("/tenants/{id}/resume"), None)
                    .await?
            }
            TenantCommand::Export { tenant, out } => {
                let id = self.tenant_id(&tenant).await?;
                self.export(&id, out).await?;
                return Ok(None);
            }
            TenantCommand::Delete { tenant, yes } => {
                let id = self.tenant_id(&tenant).await?;
                let shown = self.get(&format!("/tenants/{id}")).await?;
                let name = shown["data"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if shown["data"]["suspended"] != Value::Bool(true) {
                    bail!(
                        "tenant {name:?} ({id}) is active: suspend it first \
                         (flit admin tenants suspend {id})"
                    );
                }
                if !yes {
                    confirm(&name, &id)?;
                }
                self.send(Method::DELETE, &format!("/tenants/{id}"), None)
                    .await?
            }
        }))
    }

    async fn keys(&self, command: KeyCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            KeyCommand::List { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.get(&format!("/tenants/{id}/keys")).await?
            }
            KeyCommand::Create {
                tenant,
                name,
                scopes,
            } => {
                let id = self.tenant_id(&tenant).await?;
                let body = strip_nulls(json!({"name": name, "scopes": scopes}));
                self.send(Method::POST, &format!("/tenants/{id}/keys"), Some(body))
                    .await?
            }
            KeyCommand::Revoke { tenant, key } => {
                let id = self.tenant_id(&tenant).await?;
                self.send(Method::DELETE, &format!("/tenants/{id}/keys/{key}"), None)
                    .await?
            }
        }))
    }

    async fn credits(&self, command: CreditCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            CreditCommand::Add {
                tenant,
                amount,
                kind,
                description,
                idempotency_key,
            } => {
                let id = self.tenant_id(&tenant).await?;
                let body = strip_nulls(json!({
                    "amount": amount,
                    "type": kind,
                    "description": description,
                }));
                let mut request = self.request(Method::POST, &format!("/tenants/{id}/credits"));
                if let Some(key) = idempotency_key {
                    request = request.header("Idempotency-Key", key);
                }
                self.answer(request.json(&body)).await?
            }
            CreditCommand::Ledger {
                tenant,
                page,
                limit,
                kind,
            } => {
                let id = self.tenant_id(&tenant).await?;
                let mut path = format!("/tenants/{id}/transactions?page={page}&limit={limit}");
                if let Some(kind) = kind {
                    // The types are plain words; anything else is refused by the server.
                    path.push_str(&format!("&type={}", kind.trim()));
                }
                self.get(&path).await?
            }
        }))
    }

    async fn sender_ids(&self, command: SenderIdCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            SenderIdCommand::List { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.get(&format!("/tenants/{id}/sender-ids")).await?
            }
            SenderIdCommand::Add { tenant, name } => {
                let id = self.tenant_id(&tenant).await?;
                let body = json!({"name": name});
                self.send(
                    Method::POST,
                    &format!("/tenants/{id}/sender-ids"),
                    Some(body),
                )
                .await?
            }
        }))
    }

    async fn smpp_accounts(&self, command: SmppAccountCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            SmppAccountCommand::List { tenant } => {
                let id = self.tenant_id(&tenant).await?;
                self.get(&format!("/tenants/{id}/smpp-accounts")).await?
            }
            SmppAccountCommand::Create {
                tenant,
                system_id,
                password,
                max_binds,
                window_size,
                tps,
            } => {
                let id = self.tenant_id(&tenant).await?;
                let body = strip_nulls(json!({
                    "systemId": system_id,
                    "password": password,
                    "maxBinds": max_binds,
                    "windowSize": window_size,
                    "tps": tps,
                }));
                self.send(
                    Method::POST,
                    &format!("/tenants/{id}/smpp-accounts"),
                    Some(body),
                )
                .await?
            }
            SmppAccountCommand::Delete { tenant, account } => {
                let id = self.tenant_id(&tenant).await?;
                let account = self.smpp_account_id(&id, &account).await?;
                self.send(
                    Method::DELETE,
                    &format!("/tenants/{id}/smpp-accounts/{account}"),
                    None,
                )
                .await?
            }
        }))
    }

    async fn operators(&self, command: OperatorCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            OperatorCommand::List => self.get("/operators").await?,
            OperatorCommand::Create { email, password } => {
                let body = json!({"email": email, "password": password});
                self.send(Method::POST, "/operators", Some(body)).await?
            }
            OperatorCommand::Delete { operator } => {
                let id = self.operator_id(&operator).await?;
                self.send(Method::DELETE, &format!("/operators/{id}"), None)
                    .await?
            }
        }))
    }

    /// The id of the operator account `named` (its id, or its email, compared without case).
    async fn operator_id(&self, named: &str) -> anyhow::Result<String> {
        if named.starts_with("usr_") {
            return Ok(named.to_string());
        }
        let listed = self.get("/operators").await?;
        let wanted = named.trim().to_lowercase();
        listed["data"]["users"]
            .as_array()
            .ok_or_else(|| anyhow!("the operator list could not be read"))?
            .iter()
            .find(|user| user["email"].as_str() == Some(wanted.as_str()))
            .and_then(|user| user["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no operator account has the email {named:?}"))
    }

    async fn binds(&self, command: BindCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            BindCommand::List => self.get("/binds").await?,
            BindCommand::Show { bind } => {
                let id = self.bind_id(&bind).await?;
                self.get(&format!("/binds/{id}")).await?
            }
            BindCommand::Create(new) => {
                let NewBind {
                    name,
                    host,
                    port,
                    system_id,
                    password,
                    system_type,
                    bind_mode,
                    window_size,
                    tps,
                    gsm7,
                    concatenation,
                    tenant,
                } = *new;
                let tenant = match tenant {
                    Some(tenant) => Some(self.tenant_id(&tenant).await?),
                    None => None,
                };
                let body = strip_nulls(json!({
                    "name": name,
                    "host": host,
                    "port": port,
                    "systemId": system_id,
                    "password": password,
                    "systemType": system_type,
                    "bindMode": bind_mode,
                    "windowSize": window_size,
                    "tps": tps,
                    "gsm7": gsm7,
                    "concatenation": concatenation,
                    "tenantId": tenant,
                }));
                self.send(Method::POST, "/binds", Some(body)).await?
            }
            BindCommand::Delete { bind } => {
                let id = self.bind_id(&bind).await?;
                self.send(Method::DELETE, &format!("/binds/{id}"), None)
                    .await?
            }
        }))
    }

    async fn routes(&self, command: RouteCommand) -> anyhow::Result<Option<Value>> {
        Ok(Some(match command {
            RouteCommand::List => self.get("/routes").await?,
            RouteCommand::Create {
                prefix,
                binds,
                priority,
                weights,
            } => {
                if !weights.is_empty() && weights.len() != binds.len() {
                    bail!(
                        "{} --weight for {} --bind: give one weight per bind, or none",
                        weights.len(),
                        binds.len()
                    );
                }
                let mut bind_ids = Vec::with_capacity(binds.len());
                for bind in &binds {
                    bind_ids.push(self.bind_id(bind).await?);
                }
                let body = strip_nulls(json!({
                    "prefix": prefix,
                    "bindIds": bind_ids,
                    "priority": priority,
                    "weights": (!weights.is_empty()).then_some(weights),
                }));
                self.send(Method::POST, "/routes", Some(body)).await?
            }
            RouteCommand::Delete { route } => {
                self.send(Method::DELETE, &format!("/routes/{route}"), None)
                    .await?
            }
        }))
    }

    /// The id of the tenant `named` (its id, or a name that one tenant has).
    async fn tenant_id(&self, named: &str) -> anyhow::Result<String> {
        if named.starts_with("ten_") {
            return Ok(named.to_string());
        }
        let listed = self.get("/tenants").await?;
        resolve("tenant", named, listed["data"]["tenants"].as_array())
    }

    /// The id of the bind `named` (its id, or a name that one bind has).
    async fn bind_id(&self, named: &str) -> anyhow::Result<String> {
        if named.starts_with("bnd_") {
            return Ok(named.to_string());
        }
        let listed = self.get("/binds").await?;
        resolve("bind", named, listed["data"]["binds"].as_array())
    }

    /// The id of the tenant's SMPP account `named` (its id, or its exact system_id).
    async fn smpp_account_id(&self, tenant: &str, named: &str) -> anyhow::Result<String> {
        if named.starts_with("smp_") {
            return Ok(named.to_string());
        }
        let listed = self
            .get(&format!("/tenants/{tenant}/smpp-accounts"))
            .await?;
        listed["data"]["smppAccounts"]
            .as_array()
            .ok_or_else(|| anyhow!("the SMPP account list could not be read"))?
            .iter()
            .find(|account| account["systemId"] == named)
            .and_then(|account| account["id"].as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the tenant has no SMPP account with system_id {named:?}"))
    }

    /// Streams a tenant's export to `out` (mode 0600) or stdout, a chunk at a time.
    async fn export(&self, id: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
        let url = format!("{}/tenants/{id}/export", self.base);
        let mut response = self
            .request(Method::GET, &format!("/tenants/{id}/export"))
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("cannot reach {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(failure(status, &text));
        }
        let mut sink: Box<dyn Write> = match &out {
            Some(path) => Box::new(private_file(path)?),
            None => Box::new(std::io::stdout().lock()),
        };
        let mut lines = 0usize;
        while let Some(chunk) = response
            .chunk()
            .await
            .context("the export was cut short; the output is incomplete")?
        {
            lines += chunk.iter().filter(|byte| **byte == b'\n').count();
            sink.write_all(&chunk)?;
        }
        sink.flush()?;
        if let Some(path) = out {
            eprintln!("wrote {lines} records to {}", path.display());
        }
        Ok(())
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.answer(self.request(Method::GET, path)).await
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.answer(request).await
    }

    /// The JSON answer of a successful request; a failure as one line.
    async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let request = request.build().context("building the request")?;
        let url = request.url().clone();
        let response = self
            .http
            .execute(request)
            .await
            // The URL is said once, here, rather than again in reqwest's own words.
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(failure(status, &text));
        }
        serde_json::from_str(&text).with_context(|| format!("{status}: an answer that is not JSON"))
    }
}

/// `404 Not Found: tenant not found`: the status and the API's own sentence.
fn failure(status: StatusCode, body: &str) -> anyhow::Error {
    let sentence = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    if status == StatusCode::UNAUTHORIZED {
        return anyhow!("{status}: {sentence} (check --token, FLIT_ADMIN_TOKEN or --data-dir)");
    }
    anyhow!("{status}: {sentence}")
}

/// The id of the one object of `kind` in `listed` whose name is `named` (exactly, else in
/// any case); an unknown or ambiguous name is an error that lists the candidates.
fn resolve(kind: &str, named: &str, listed: Option<&Vec<Value>>) -> anyhow::Result<String> {
    let listed = listed.ok_or_else(|| anyhow!("the {kind} list could not be read"))?;
    let name_of = |object: &Value| object["name"].as_str().unwrap_or_default().to_string();
    let exact: Vec<&Value> = listed.iter().filter(|o| name_of(o) == named).collect();
    let matching = if exact.is_empty() {
        listed
            .iter()
            .filter(|o| name_of(o).eq_ignore_ascii_case(named))
            .collect()
    } else {
        exact
    };
    let describe = |objects: &[&Value]| {
        objects
            .iter()
            .take(10)
            .map(|o| format!("{:?} ({})", name_of(o), o["id"].as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match matching.as_slice() {
        [one] => Ok(one["id"].as_str().unwrap_or_default().to_string()),
        [] => {
            let lower = named.to_lowercase();
            let near: Vec<&Value> = listed
                .iter()
                .filter(|o| {
                    let name = name_of(o).to_lowercase();
                    name.contains(&lower) || lower.contains(&name)
                })
                .collect();
            let candidates = if near.is_empty() {
                listed.iter().collect::<Vec<_>>()
            } else {
                near
            };
            if candidates.is_empty() {
                bail!("{kind} {named:?} not found (there are none)");
            }
            bail!(
                "{kind} {named:?} not found; {}: {}",
                if candidates.len() == listed.len() {
                    format!("{kind}s are")
                } else {
                    "did you mean".to_string()
                },
                describe(&candidates)
            )
        }
        several => bail!(
            "{kind} name {named:?} is ambiguous ({} match: {}); use the id",
            several.len(),
            describe(several)
        ),
    }
}

/// Asks for the tenant's name on stdin before a deletion.
fn confirm(name: &str, id: &str) -> anyhow::Result<()> {
    eprint!(
        "Deleting tenant {name:?} ({id}) removes every record it owns, for good \
         (`flit admin tenants export` keeps a copy).\nType its name to confirm: "
    );
    std::io::stderr().flush()?;
    let mut typed = String::new();
    let stdin = std::io::stdin();
    stdin.lock().read_line(&mut typed)?;
    if !stdin.is_terminal() {
        // Nobody's typing ended the prompt's line.
        eprintln!();
    }
    if typed.trim() != name {
        bail!("the name typed does not match {name:?}; nothing was deleted");
    }
    Ok(())
}

/// A file only its owner reads (an export holds the tenant's data), replacing one that exists.
fn private_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // An existing file keeps its mode on open: narrowed here.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> Vec<Value> {
        vec![
            json!({"id": "ten_1", "name": "Acme"}),
            json!({"id": "ten_2", "name": "acme"}),
            json!({"id": "ten_3", "name": "Kofi Ltd"}),
            json!({"id": "ten_4", "name": "Twin"}),
            json!({"id": "ten_5", "name": "Twin"}),
        ]
    }

    #[test]
    fn names_resolve_exactly_then_in_any_case() {
        let listed = listed();
        assert_eq!(
            resolve("tenant", "Acme", Some(&listed)).expect("one"),
            "ten_1"
        );
        assert_eq!(
            resolve("tenant", "kofi ltd", Some(&listed)).expect("one"),
            "ten_3"
        );
        let twins = resolve("tenant", "Twin", Some(&listed))
            .expect_err("ambiguous")
            .to_string();
        assert!(twins.contains("ambiguous") && twins.contains("ten_4") && twins.contains("ten_5"));
        let both = resolve("tenant", "ACME", Some(&listed))
            .expect_err("ambiguous in any case")
            .to_string();
        assert!(both.contains("ten_1") && both.contains("ten_2"), "{both}");
        let near = resolve("tenant", "Kofi", Some(&listed))
            .expect_err("unknown")
            .to_string();
        assert_eq!(
            near,
            "tenant \"Kofi\" not found; did you mean: \"Kofi Ltd\" (ten_3)"
        );
        let far = resolve("tenant", "Zed", Some(&listed))
            .expect_err("unknown")
            .to_string();
        assert!(
            far.starts_with("tenant \"Zed\" not found; tenants are: "),
            "{far}"
        );
        assert!(!far.contains('\n'));
    }
}
