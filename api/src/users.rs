//! `/admin/v1/tenants/{id}/users` and `/admin/v1/operators` (SPEC §13): the people who sign in
//! to the console. A tenant's user is its `admin` (everything of the tenant) or a `member`
//! (sends, book and history; no keys, webhooks or users); an operator runs the whole service.
//! The password goes in once and never comes out; deleting a person ends their sessions.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::ids::{TenantId, UserId};
use flit_engine::{NewUser, Role, UserRecord};
use serde::{Deserialize, Serialize};

use crate::admin::tenant_id_param;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::native::ok;
use crate::smpp_accounts::DeletedData;
use crate::state::AppState;
use crate::timefmt::iso;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewUserBody {
    /// Their sign-in name, unique across every tenant and the operator (compared without
    /// case).
    #[schema(value_type = String, format = "email", max_length = 254)]
    email: Option<String>,
    /// 10 to 256 characters; stored only as its argon2id hash.
    #[schema(value_type = String, min_length = 10, max_length = 256)]
    password: Option<String>,
    /// `admin` or `member` (default `member`); ignored for an operator.
    #[schema(value_type = Option<String>, example = "member")]
    role: Option<String>,
}

/// A person as the admin API shows them: never their password or its hash.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    id: String,
    /// Absent for an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    email: String,
    /// `admin`, `member` or `operator`.
    role: &'static str,
    created_at: String,
}

impl From<UserRecord> for UserData {
    fn from(user: UserRecord) -> Self {
        UserData {
            id: user.id.to_string(),
            tenant_id: user.tenant.map(|tenant| tenant.to_string()),
            email: user.email,
            role: user.role.as_str(),
            created_at: iso(user.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersData {
    users: Vec<UserData>,
}

fn new_user(body: NewUserBody) -> Result<NewUser, ApiError> {
    let email = body
        .email
        .ok_or_else(|| ApiError::bad_request("missing_email", "`email` is required"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::bad_request("missing_password", "`password` is required"))?;
    let role = match body.role.as_deref() {
        None | Some("member") => Role::Member,
        Some("admin") => Role::Admin,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_role",
                format!("`role` must be `admin` or `member`, not `{other}`"),
            ));
        }
    };
    Ok(NewUser {
        email,
        password,
        role,
    })
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("user"))
}

async fn create(
    state: &AppState,
    tenant: Option<TenantId>,
    body: NewUserBody,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let user = state.engine.create_user(tenant, new_user(body)?).await?;
    Ok((StatusCode::CREATED, ok(UserData::from(user))))
}

#[utoipa::path(
    post,
    path = "/admin/v1/tenants/{tenant_id}/users",
    tag = "Admin",
    summary = "Add a console user to a tenant",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. Emails are unique across tenants and operators (409 `email_exists`).",
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    request_body(content = NewUserBody, content_type = "application/json",
        example = json!({"email": "ama@acme.example", "password": "correct horse battery", "role": "admin"})),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<UserData>,
            example = json!({"success": true, "data": {"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "tenantId": "ten_01jz8k2m4n5p6q7r8s9t0v1w2y", "email": "ama@acme.example", "role": "admin", "createdAt": "2025-07-01T12:00:00.000Z"}})),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
        (status = 409, description = "Someone has that email", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_user(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
    body: JsonBody<NewUserBody>,
) -> Result<impl IntoResponse, ApiError> {
    create(&state, Some(tenant_id_param(&tenant_id)?), body.value).await
}

#[utoipa::path(
    get,
    path = "/admin/v1/tenants/{tenant_id}/users",
    tag = "Admin",
    summary = "List a tenant's console users",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. Oldest first.",
    params(("tenant_id" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<UsersData>,
            example = json!({"success": true, "data": {"users": [{"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "tenantId": "ten_01jz8k2m4n5p6q7r8s9t0v1w2y", "email": "ama@acme.example", "role": "admin", "createdAt": "2025-07-01T12:00:00.000Z"}]}})),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn list_users(
    State(state): State<Arc<AppState>>,
    PathParam(tenant_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let users = state.engine.users(tenant_id_param(&tenant_id)?)?;
    Ok(ok(UsersData {
        users: users.into_iter().map(UserData::from).collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/tenants/{tenant_id}/users/{user_id}",
    tag = "Admin",
    summary = "Remove a tenant's console user (their sessions end)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("tenant_id" = String, Path, description = "The tenant's id"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>,
            example = json!({"success": true, "data": {"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "deleted": true}})),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn delete_user(
    State(state): State<Arc<AppState>>,
    PathParam((tenant_id, user)): PathParam<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = tenant_id_param(&tenant_id)?;
    let id = user_id(&user)?;
    state.engine.delete_user(Some(tenant), id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}

#[utoipa::path(
    post,
    path = "/admin/v1/operators",
    tag = "Admin",
    summary = "Add an operator account (signs in to the console's operator side)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`. `role` is ignored.",
    request_body(content = NewUserBody, content_type = "application/json",
        example = json!({"email": "ops@flit.example", "password": "correct horse battery"})),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<UserData>,
            example = json!({"success": true, "data": {"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "email": "ops@flit.example", "role": "operator", "createdAt": "2025-07-01T12:00:00.000Z"}})),
        (status = 409, description = "Someone has that email", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn create_operator(
    State(state): State<Arc<AppState>>,
    body: JsonBody<NewUserBody>,
) -> Result<impl IntoResponse, ApiError> {
    create(&state, None, body.value).await
}

#[utoipa::path(
    get,
    path = "/admin/v1/operators",
    tag = "Admin",
    summary = "List the operator accounts",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<UsersData>,
            example = json!({"success": true, "data": {"users": [{"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "email": "ops@flit.example", "role": "operator", "createdAt": "2025-07-01T12:00:00.000Z"}]}})),
    ),
)]
pub(crate) async fn list_operators(
    State(state): State<Arc<AppState>>,
) -> Result<impl IntoResponse, ApiError> {
    let users = state.engine.operators()?;
    Ok(ok(UsersData {
        users: users.into_iter().map(UserData::from).collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/admin/v1/operators/{user_id}",
    tag = "Admin",
    summary = "Remove an operator account (its sessions end)",
    description = "Admin token required. Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(("user_id" = String, Path, description = "The operator's id")),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>,
            example = json!({"success": true, "data": {"id": "usr_01jz8k2m4n5p6q7r8s9t0v1w2x", "deleted": true}})),
        (status = 404, description = "Not found", body = crate::error::ErrorBody),
    ),
)]
pub(crate) async fn delete_operator(
    State(state): State<Arc<AppState>>,
    PathParam(user): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = user_id(&user)?;
    state.engine.delete_user(None, id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}
