//! `/admin/v1/tenants/{id}/smpp-accounts` (SPEC §14): the SMPP accounts a tenant's own
//! software binds to Flit's SMPP server with. The password goes in once and never comes out:
//! no answer, export or log line carries it or its hash.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::ids::SmppAccountId;
use flit_engine::{NewSmppAccount, SmppAccountRecord};
use serde::{Deserialize, Serialize};

use crate::admin::tenant_id_param;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::native::ok;
use crate::state::AppState;
use crate::timefmt::iso;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSmppAccountBody {
    // `systemId` and `password` are `Option`s so that a missing one gets the native error
    // shape from the handler; `value_type` shows them as required.
    /// What the customer's bind sends as `system_id`: 1 to 15 printable ASCII characters, no
    /// spaces (SMPP 3.4), unique across tenants, compared exactly (case included).
    #[schema(value_type = String, min_length = 1, max_length = 15, pattern = "^[!-~]{1,15}$")]
    system_id: Option<String>,
    /// 1 to 8 printable ASCII characters (SMPP 3.4). Stored only as its argon2id hash, and
    /// never shown again.
    #[schema(value_type = String, min_length = 1, max_length = 8, pattern = "^[ -~]{1,8}$")]
    password: Option<String>,
    /// Sessions bound at once (default 2).
    #[schema(minimum = 1, maximum = 100)]
    max_binds: Option<u32>,
    /// Submits a session may have unanswered at once (default 100).
    #[schema(minimum = 1, maximum = 1000)]
    window_size: Option<u32>,
    /// Submits per second over all of the account's sessions; 0 = unlimited (the default).
    #[schema(minimum = 0, maximum = 100_000)]
    tps: Option<u32>,
}

/// An SMPP account as the admin API shows it: never its password or the password's hash.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmppAccountData {
    id: String,
    tenant_id: String,
    system_id: String,
    max_binds: u32,
    window_size: u32,
    /// 0 = unlimited.
    tps: u32,
    created_at: String,
    /// Its sessions bound now.
    binds: Vec<SmppBindData>,
}

/// A live bind of an SMPP account.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmppBindData {
    /// The session's number since the server started.
    session: u64,
    /// `transmitter`, `receiver` or `transceiver`.
    mode: &'static str,
    /// The customer's address and port.
    peer: String,
    bound_at: String,
}

impl SmppAccountData {
    fn with_binds(account: SmppAccountRecord, engine: &flit_engine::Engine) -> Self {
        let binds = engine
            .smpp_binds(account.id)
            .into_iter()
            .map(|bind| SmppBindData {
                session: bind.session,
                mode: bind.mode,
                peer: bind.peer.to_string(),
                bound_at: iso(bind.bound_at),
            })
            .collect();
        SmppAccountData {
            binds,
            ..SmppAccountData::from(account)
        }
    }
}

impl From<SmppAccountRecord> for SmppAccountData {
    fn from(account: SmppAccountRecord) -> Self {
        SmppAccountData {
            binds: Vec::new(),
            id: account.id.to_string(),
            tenant_id: account.tenant.to_string(),
            system_id: account.system_id,
            max_binds: account.max_binds,
            window_size: account.window,
            tps: account.tps,
            created_at: iso(account.created_at),
        }
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/smpp-accounts",
    tag = "Admin",
    summary = "Create an SMPP account (system_id and password to bind with)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. The password is stored as its argon2id hash and never shown again; `systemId`s are unique across tenants (409 `system_id_exists`).",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    request_body(
        content = NewSmppAccountBody,
        content_type = "application/json",
        example = json!({"systemId": "acme_esme", "password": "s3cret", "maxBinds": 2, "windowSize": 100, "tps": 50}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<SmppAccountData>,
            example = json!({"success": true, "data": {"id": "smp_01jz8k2m4n5p6q7r8s9t0v1w2x", "tenantId": "ten_01jz8k2m4n5p6q7r8s9t0v1w2y", "systemId": "acme_esme", "maxBinds": 2, "windowSize": 100, "tps": 50, "createdAt": "2025-07-01T12:00:00.000Z", "binds": []}})),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "An account of that `systemId` exists (of any tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_smpp_account(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    body: JsonBody<NewSmppAccountBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let system_id = body
        .system_id
        .ok_or_else(|| ApiError::bad_request("missing_system_id", "`systemId` is required"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::bad_request("missing_password", "`password` is required"))?;
    let account = state
        .engine
        .create_smpp_account(
            tenant_id_param(&tenant_id)?,
            NewSmppAccount {
                system_id,
                password,
                max_binds: body.max_binds,
                window: body.window_size,
                tps: body.tps,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, ok(SmppAccountData::from(account))))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmppAccountsData {
    smpp_accounts: Vec<SmppAccountData>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/smpp-accounts",
    tag = "Admin",
    summary = "List a tenant's SMPP accounts with their live binds",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. Oldest first; no password or hash.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<SmppAccountsData>,
            example = json!({"success": true, "data": {"smppAccounts": [{"id": "smp_01jz8k2m4n5p6q7r8s9t0v1w2x", "tenantId": "ten_01jz8k2m4n5p6q7r8s9t0v1w2y", "systemId": "acme_esme", "maxBinds": 2, "windowSize": 100, "tps": 0, "createdAt": "2025-07-01T12:00:00.000Z", "binds": [{"session": 3, "mode": "transceiver", "peer": "203.0.113.7:51234", "boundAt": "2025-07-01T12:05:00.000Z"}]}]}})),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn list_smpp_accounts(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let accounts = state.engine.smpp_accounts(tenant_id_param(&tenant_id)?)?;
    Ok(ok(SmppAccountsData {
        smpp_accounts: accounts
            .into_iter()
            .map(|account| SmppAccountData::with_binds(account, &state.engine))
            .collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeletedData {
    id: String,
    deleted: bool,
}

impl DeletedData {
    pub(crate) fn new(id: String) -> DeletedData {
        DeletedData { id, deleted: true }
    }
}

#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant_id}/smpp-accounts/{account_id}",
    tag = "Admin",
    summary = "Delete an SMPP account (no new bind with it succeeds)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. Its `systemId` is free again at once.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("account_id" = String, Path, description = "The SMPP account's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>,
            example = json!({"success": true, "data": {"id": "smp_01jz8k2m4n5p6q7r8s9t0v1w2x", "deleted": true}})),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn delete_smpp_account(
    State(state): State<Arc<AppState>>,
    PathParam((tenant_id, account_id)): PathParam<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    let id: SmppAccountId = account_id
        .parse()
        .map_err(|_| ApiError::not_found("SMPP account"))?;
    state.engine.delete_smpp_account(tenant, id).await?;
    Ok(ok(DeletedData {
        id: id.to_string(),
        deleted: true,
    }))
}
