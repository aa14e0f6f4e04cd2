//! The operator's API, `/admin/v1` (SPEC §8): tenants (with their suspension and deletion; the
//! export is `export.rs`), API keys, credits and the ledger, sender IDs, a tenant's SMPP
//! accounts (in `smpp_accounts.rs`), and (in `carriers.rs`) binds and routes.
//! Authenticated by the admin token; answers in the native `{success, data}` envelope.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use flit_engine::ids::{ApiKeyId, TenantId};
use flit_engine::{ApiKeyRecord, Scopes, SuspensionRecord, TenantRecord, TransactionKind};
use flit_engine::{Country, Validation};
use flit_engine::{NewTenant, TenantPatch};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::admin_layer;
use crate::carriers;
use crate::error::ApiError;
use crate::extract::{IdempotencyScope, JsonBody, PathParam, QueryParams, idempotency_claim};
use crate::native::account::{SenderIdData, SenderIdsData, TransactionData, ledger};
use crate::native::ok;
use crate::smpp_accounts;
use crate::state::AppState;
use crate::timefmt::{iso, iso_opt};
use crate::users;

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/tenants/{tenant_id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/tenants/{tenant_id}/suspend", post(suspend_tenant))
        .route("/tenants/{tenant_id}/resume", post(resume_tenant))
        .route(
            "/tenants/{tenant_id}/export",
            get(crate::export::export_tenant),
        )
        .route("/tenants/{tenant_id}/transactions", get(list_transactions))
        .route("/tenants/{tenant_id}/keys", post(create_key).get(list_keys))
        .route("/tenants/{tenant_id}/keys/{key_id}", delete(revoke_key))
        .route("/tenants/{tenant_id}/credits", post(add_credits))
        .route(
            "/tenants/{tenant_id}/sender-ids",
            post(create_sender_id).get(list_sender_ids),
        )
        .route(
            "/tenants/{tenant_id}/smpp-accounts",
            post(smpp_accounts::create_smpp_account).get(smpp_accounts::list_smpp_accounts),
        )
        .route(
            "/tenants/{tenant_id}/smpp-accounts/{account_id}",
            delete(smpp_accounts::delete_smpp_account),
        )
        .route(
            "/tenants/{tenant_id}/users",
            post(users::create_user).get(users::list_users),
        )
        .route(
            "/tenants/{tenant_id}/users/{user_id}",
            delete(users::delete_user),
        )
        .route(
            "/operators",
            post(users::create_operator).get(users::list_operators),
        )
        .route("/operators/{user_id}", delete(users::delete_operator))
        .route(
            "/binds",
            post(carriers::create_bind).get(carriers::list_binds),
        )
        .route(
            "/binds/{bind_id}",
            get(carriers::get_bind).delete(carriers::delete_bind),
        )
        .route(
            "/routes",
            post(carriers::create_route).get(carriers::list_routes),
        )
        .route("/routes/{route_id}", delete(carriers::delete_route))
        .route_layer(middleware::from_fn_with_state(state, admin_layer))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantData {
    id: String,
    name: String,
    phone: Option<String>,
    default_country: String,
    rate_limit_per_minute: u32,
    price_per_part: i64,
    allow_device_failover: bool,
    number_validation: Option<String>,
    max_parts: u32,
    balance: i64,
    /// While true, the tenant's API keys answer 403 `account_suspended` and it sends
    /// nothing new; what it sent before still goes out.
    suspended: bool,
    suspended_at: Option<String>,
    created_at: String,
}

fn tenant_data(state: &AppState, tenant: TenantRecord) -> TenantData {
    let balance = state.engine.balance(tenant.id).unwrap_or(0);
    let suspension = state.engine.suspension(tenant.id);
    tenant_data_of(tenant, suspension, balance)
}

/// A tenant as the admin API shows it (and a tenant export's first line).
pub(crate) fn tenant_data_of(
    tenant: TenantRecord,
    suspension: Option<SuspensionRecord>,
    balance: i64,
) -> TenantData {
    TenantData {
        balance,
        suspended: suspension.is_some(),
        suspended_at: suspension.map(|suspension| iso(suspension.suspended_at)),
        id: tenant.id.to_string(),
        name: tenant.name,
        phone: tenant.phone,
        default_country: tenant.default_country.to_string(),
        rate_limit_per_minute: tenant.rate_limit_per_minute,
        price_per_part: tenant.price_per_part,
        allow_device_failover: tenant.allow_device_failover,
        number_validation: tenant.number_validation.map(|v| v.to_string()),
        max_parts: tenant.max_parts,
        created_at: iso(tenant.created_at),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewTenantBody {
    // The required fields of the admin bodies are `Option`s so that a missing one gets the
    // native error shape from the handler; `value_type` shows them as required.
    #[schema(value_type = String, min_length = 1)]
    name: Option<String>,
    phone: Option<String>,
    /// ISO 3166 alpha-2 code for local number forms (default: the server's, `GH`).
    default_country: Option<String>,
    /// Requests per minute per API key (default 100).
    #[schema(minimum = 1)]
    rate_limit_per_minute: Option<u32>,
    /// Credits per SMS part (default 1).
    #[schema(minimum = 0, maximum = 1_000_000)]
    price_per_part: Option<i64>,
    allow_device_failover: Option<bool>,
    #[schema(schema_with = number_validation_schema)]
    number_validation: Option<String>,
    /// Opening balance, recorded as a BONUS transaction.
    #[schema(minimum = 0, maximum = 1_000_000_000_000i64)]
    credits: Option<i64>,
    /// Sender IDs approved with the tenant (each up to 11 letters and digits, or a number of
    /// up to 15 digits); the first is its default. Absent: one made from the name (its letters
    /// and digits, at most 11; `SMS` for a name without a letter), so the first send works;
    /// `[]`: none.
    #[schema(max_items = 100)]
    sender_ids: Option<Vec<String>>,
}

fn number_validation_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "How numbers are checked: `strict` (valid per libphonenumber) or `structural`",
        &["strict", "structural"],
    )
}

fn number_validation_patch_schema() -> utoipa::openapi::Object {
    crate::openapi::nullable_string_enum(
        "`strict`, `structural`, or `null` for the server's default",
        &["strict", "structural"],
    )
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants",
    tag = "Admin",
    summary = "Create a tenant",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = NewTenantBody,
        content_type = "application/json",
        example = json!({"name": "Acme Ltd", "phone": "233201234567", "defaultCountry": "GH", "credits": 500, "senderIds": ["Acme"]}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<TenantData>),
        (status = 409, description = "`senderIds` names one sender ID twice", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_tenant(
    State(state): State<Arc<AppState>>,
    body: JsonBody<NewTenantBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let name = body
        .name
        .ok_or_else(|| ApiError::bad_request("missing_name", "`name` is required"))?;
    check_rate_limit(body.rate_limit_per_minute)?;
    // Checked before anything is created, so a refused request leaves no tenant behind.
    if body
        .credits
        .is_some_and(|credits| !(0..=flit_engine::MAX_CREDIT_AMOUNT).contains(&credits))
    {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!(
                "`credits` must be from 0 to {}",
                flit_engine::MAX_CREDIT_AMOUNT
            ),
        ));
    }
    let tenant = state
        .engine
        .create_tenant(NewTenant {
            name,
            phone: body.phone,
            default_country: body
                .default_country
                .as_deref()
                .map(parse_country)
                .transpose()?,
            rate_limit_per_minute: body.rate_limit_per_minute,
            price_per_part: body.price_per_part,
            allow_device_failover: body.allow_device_failover,
            number_validation: body
                .number_validation
                .as_deref()
                .map(parse_validation)
                .transpose()?,
            sender_ids: body.sender_ids,
        })
        .await?;
    if let Some(credits) = body.credits.filter(|credits| *credits != 0) {
        state
            .engine
            .add_credits(
                tenant.id,
                TransactionKind::Bonus,
                credits,
                "Opening balance".to_string(),
                None,
            )
            .await?;
    }
    Ok((StatusCode::CREATED, ok(tenant_data(&state, tenant))))
}

#[derive(Serialize, utoipa::ToSchema)]
struct TenantsData {
    tenants: Vec<TenantData>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants",
    tag = "Admin",
    summary = "List tenants",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TenantsData>),
    ),
)]
pub(crate) async fn list_tenants(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let tenants = state
        .engine
        .tenants()
        .into_iter()
        .map(|tenant| tenant_data(&state, tenant))
        .collect();
    ok(TenantsData { tenants })
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}",
    tag = "Admin",
    summary = "Get a tenant",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TenantData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn get_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = state
        .engine
        .tenant(tenant_id_param(&tenant_id)?)
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(ok(tenant_data(&state, tenant)))
}

/// `null` and absent differ for the clearable fields: `Some(None)` clears.
fn clearable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPatchBody {
    #[schema(min_length = 1)]
    name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "clearable")]
    phone: Option<Option<String>>,
    /// ISO 3166 alpha-2 code.
    default_country: Option<String>,
    #[schema(minimum = 1)]
    rate_limit_per_minute: Option<u32>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    price_per_part: Option<i64>,
    allow_device_failover: Option<bool>,
    #[serde(default, deserialize_with = "clearable")]
    #[schema(schema_with = number_validation_patch_schema)]
    number_validation: Option<Option<String>>,
}

#[utoipa::path(
    patch,
    path = "/admin/v1/tenants/{tenant_id}",
    tag = "Admin",
    summary = "Update a tenant's settings",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    request_body(
        content = TenantPatchBody,
        content_type = "application/json",
        example = json!({"rateLimitPerMinute": 600, "pricePerPart": 2}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TenantData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn update_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    body: JsonBody<TenantPatchBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    check_rate_limit(body.rate_limit_per_minute)?;
    let number_validation = match body.number_validation {
        Some(Some(raw)) => Some(Some(parse_validation(&raw)?)),
        Some(None) => Some(None),
        None => None,
    };
    let tenant = state
        .engine
        .update_tenant(
            tenant_id_param(&tenant_id)?,
            TenantPatch {
                name: body.name,
                phone: body.phone,
                default_country: body
                    .default_country
                    .as_deref()
                    .map(parse_country)
                    .transpose()?,
                rate_limit_per_minute: body.rate_limit_per_minute,
                price_per_part: body.price_per_part,
                allow_device_failover: body.allow_device_failover,
                number_validation,
            },
        )
        .await?;
    Ok(ok(tenant_data(&state, tenant)))
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/suspend",
    tag = "Admin",
    summary = "Suspend a tenant",
    description = "Admin token required. From now on every request of the tenant's API keys, on every API (native, Flowstates, FlixySMS), answers 403 `account_suspended`, and no phone registers for it; messages it already sent (and paid for) still go out. Suspending a suspended tenant changes nothing. A tenant must be suspended before it can be deleted. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "The tenant, suspended", body = crate::native::Envelope<TenantData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn suspend_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    state.engine.suspend_tenant(tenant).await?;
    current_tenant(&state, tenant)
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/resume",
    tag = "Admin",
    summary = "Resume a suspended tenant",
    description = "Admin token required. Its API keys work again at once. Resuming an active tenant changes nothing. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "The tenant, active", body = crate::native::Envelope<TenantData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn resume_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    state.engine.resume_tenant(tenant).await?;
    current_tenant(&state, tenant)
}

fn current_tenant(state: &AppState, tenant: TenantId) -> Result<Response, ApiError> {
    let record = state
        .engine
        .tenant(tenant)
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(ok(tenant_data(state, record)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDeletedData {
    id: String,
    deleted: bool,
    /// Messages removed, each with its recipients and delivery state.
    messages: u64,
    /// Every other record removed: ledger entries, contacts, groups, templates, sender IDs,
    /// API keys, webhooks and their deliveries, phones, inbound SMS.
    records: u64,
}

#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant_id}",
    tag = "Admin",
    summary = "Delete a suspended tenant and everything it owns",
    description = "Admin token required. Only a suspended tenant is deleted (409 `tenant_active` otherwise: suspend it first). Its work stops (jobs still queued for carriers or phones are dropped, its phones are unpaired, its webhooks stop), then every record it owns is removed, in bounded batches within this request, which answers once nothing of it is left (a tenant with many messages takes a while; other tenants are served meanwhile). The deletion goes on if the client hangs up; a deletion cut short by a crash leaves the tenant suspended, and asking again finishes it. Take a copy first with `GET /admin/v1/tenants/{tenant_id}/export`. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "Deleted: what was removed", body = crate::native::Envelope<TenantDeletedData>),
        (status = 404, description = "Not found (or already deleted)", body = crate::error::ErrorBody),
        (status = 409, description = "The tenant is active: suspend it first", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    let engine = state.engine.clone();
    // On a task of its own: a client that hangs up does not stop a deletion halfway.
    let removal = tokio::spawn(async move { engine.delete_tenant(tenant).await })
        .await
        .map_err(|_| {
            ApiError::unavailable("the deletion was interrupted; ask again to finish it")
        })??;
    Ok(ok(TenantDeletedData {
        id: tenant.to_string(),
        deleted: true,
        messages: removal.messages,
        records: removal.records,
    }))
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/transactions",
    tag = "Admin",
    summary = "A tenant's credit ledger, newest first",
    description = "Admin token required. The same listing as the tenant's own `GET /api/v1/transactions`. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=100 (default 20)"),
        ("type" = Option<String>, Query, description = "PURCHASE, USAGE, REFUND, BONUS or ADJUSTMENT"),
        ("startDate" = Option<String>, Query, description = "Only items from this date or instant (ISO 8601)"),
        ("endDate" = Option<String>, Query, description = "Only items up to the end of this date or instant (ISO 8601)"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<crate::native::account::TransactionsData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn list_transactions(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    state
        .engine
        .tenant(tenant)
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(ok(ledger(&state, tenant, &query).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKeyBody {
    /// Default `API key`.
    name: Option<String>,
    /// Default: every scope.
    #[schema(schema_with = scopes_schema)]
    scopes: Option<Vec<String>>,
}

fn scopes_schema() -> utoipa::openapi::Array {
    let names: Vec<&str> = flit_engine::Scopes::all()
        .iter()
        .map(|scope| scope.as_str())
        .collect();
    utoipa::openapi::ArrayBuilder::new()
        .items(crate::openapi::string_enum("A permission", &names))
        .description(Some("The key's permissions (default: all of them)"))
        .build()
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyData {
    id: String,
    name: String,
    scopes: Vec<&'static str>,
    /// The secret: present only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    hint: String,
    created_at: String,
    revoked_at: Option<String>,
}

pub(crate) fn key_data(key: ApiKeyRecord, secret: Option<String>) -> KeyData {
    KeyData {
        id: key.id.to_string(),
        name: key.name,
        scopes: key.scopes.iter().map(|scope| scope.as_str()).collect(),
        key: secret,
        hint: key.hint,
        created_at: iso(key.created_at),
        revoked_at: iso_opt(key.revoked_at),
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/keys",
    tag = "Admin",
    summary = "Create an API key (the secret is shown once, at data.key)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    request_body(
        content = NewKeyBody,
        content_type = "application/json",
        example = json!({"name": "reporting", "scopes": ["sms:read", "balance:read"]}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<KeyData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_key(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    body: JsonBody<NewKeyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let scopes = match body.scopes {
        Some(names) => Scopes::parse(names.iter().map(String::as_str))
            .map_err(|error| ApiError::bad_request("invalid_scope", error.to_string()))?,
        None => Scopes::all(),
    };
    let name = body.name.unwrap_or_else(|| "API key".to_string());
    let (key, secret) = state
        .engine
        .create_api_key(tenant_id_param(&tenant_id)?, name, scopes)
        .await?;
    Ok((StatusCode::CREATED, ok(key_data(key, Some(secret)))))
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeysData {
    keys: Vec<KeyData>,
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/keys",
    tag = "Admin",
    summary = "List a tenant's API keys",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<KeysData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    state
        .engine
        .tenant(tenant)
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let keys = state.engine.api_keys(tenant)?;
    Ok(ok(KeysData {
        keys: keys.into_iter().map(|key| key_data(key, None)).collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RevokedData {
    id: String,
    revoked: bool,
}

#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant_id}/keys/{key_id}",
    tag = "Admin",
    summary = "Revoke an API key",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("key_id" = String, Path, description = "The API key's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<RevokedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn revoke_key(
    State(state): State<Arc<AppState>>,
    PathParam((tenant_id, key_id)): PathParam<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let key: ApiKeyId = key_id.parse().map_err(|_| ApiError::not_found("API key"))?;
    state
        .engine
        .revoke_api_key(tenant_id_param(&tenant_id)?, key)
        .await?;
    Ok(ok(RevokedData {
        id: key.to_string(),
        revoked: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreditsBody {
    /// Not zero; negative only for ADJUSTMENT.
    #[schema(value_type = i64, minimum = -1_000_000_000_000i64, maximum = 1_000_000_000_000i64)]
    amount: Option<i64>,
    #[serde(rename = "type")]
    #[schema(schema_with = credit_kind_schema)]
    kind: Option<String>,
    description: Option<String>,
}

fn credit_kind_schema() -> utoipa::openapi::Object {
    crate::openapi::string_enum(
        "The transaction's type (default PURCHASE)",
        &["PURCHASE", "BONUS", "ADJUSTMENT", "REFUND"],
    )
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/credits",
    tag = "Admin",
    summary = "Add (or adjust) a tenant's credits",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the first answer and never sends or charges twice"),
    ),
    request_body(
        content = CreditsBody,
        content_type = "application/json",
        example = json!({"amount": 1000, "type": "PURCHASE", "description": "Invoice 42"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<crate::native::account::TransactionData>),
        (status = 402, description = "A negative ADJUSTMENT larger than the balance", body = crate::error::ErrorBody),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
        (status = 422, description = "Idempotency-Key reused with a different body", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn add_credits(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    headers: HeaderMap,
    body: JsonBody<CreditsBody>,
) -> Result<impl IntoResponse, ApiError> {
    let idempotency = idempotency_claim(&headers, IdempotencyScope::Admin, &body.raw)?;
    let body = body.value;
    let amount = body
        .amount
        .ok_or_else(|| ApiError::bad_request("missing_amount", "`amount` is required"))?;
    let kind = match body.kind.as_deref() {
        None => TransactionKind::Purchase,
        Some(raw) => raw.parse::<TransactionKind>().map_err(|_| {
            ApiError::bad_request(
                "invalid_type",
                "`type` must be one of PURCHASE, BONUS, ADJUSTMENT, REFUND",
            )
        })?,
    };
    let description = body
        .description
        .unwrap_or_else(|| format!("{} by operator", kind.as_str().to_ascii_lowercase()));
    let transaction = state
        .engine
        .add_credits(
            tenant_id_param(&tenant_id)?,
            kind,
            amount,
            description,
            idempotency,
        )
        .await?;
    Ok((StatusCode::CREATED, ok(TransactionData::from(transaction))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SenderIdBody {
    /// Up to 11 letters and digits, or a phone number of up to 15 digits.
    #[schema(value_type = String)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/sender-ids",
    tag = "Admin",
    summary = "Create an APPROVED sender ID",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    request_body(
        content = SenderIdBody,
        content_type = "application/json",
        example = json!({"name": "Acme"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<crate::native::account::SenderIdData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_sender_id(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    body: JsonBody<SenderIdBody>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body
        .value
        .name
        .ok_or_else(|| ApiError::bad_request("missing_name", "`name` is required"))?;
    let sender = state
        .engine
        .create_sender_id(tenant_id_param(&tenant_id)?, &name)
        .await?;
    Ok((StatusCode::CREATED, ok(SenderIdData::from(sender))))
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/sender-ids",
    tag = "Admin",
    summary = "List a tenant's approved sender IDs",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<crate::native::account::SenderIdsData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn list_sender_ids(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let senders = state
        .engine
        .approved_sender_ids(tenant_id_param(&tenant_id)?)?;
    Ok(ok(SenderIdsData {
        sender_ids: senders.into_iter().map(SenderIdData::from).collect(),
    }))
}

pub(crate) fn tenant_id_param(raw: &str) -> Result<TenantId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("tenant"))
}

fn parse_country(raw: &str) -> Result<Country, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_country",
            format!("`{raw}` is not an ISO 3166 country code"),
        )
    })
}

fn parse_validation(raw: &str) -> Result<Validation, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_number_validation",
            "`numberValidation` must be `strict` or `structural`",
        )
    })
}

fn check_rate_limit(limit: Option<u32>) -> Result<(), ApiError> {
    if limit == Some(0) {
        return Err(ApiError::bad_request(
            "invalid_rate_limit",
            "`rateLimitPerMinute` must be at least 1",
        ));
    }
    Ok(())
}
