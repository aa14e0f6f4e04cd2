//! `/templates`: reusable texts with `{{variable}}` placeholders (seed 001, Templates).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::TemplateRecord;
use flit_engine::ids::TemplateId;
use flit_engine::text::template::variables;
use serde::{Deserialize, Serialize};

use super::{DeletedData, blocking, ok};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam};
use crate::state::AppState;
use crate::timefmt::iso;

/// A new template.
// The fields are `Option`s so that a missing one gets the native error shape from the
// handler; `value_type` shows them as required.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TemplateBody {
    /// Unique among the tenant's templates.
    #[schema(value_type = String)]
    name: Option<String>,
    /// The text, with `{{placeholders}}`.
    #[schema(value_type = String)]
    content: Option<String>,
}

/// A template's changes: absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct TemplatePatchBody {
    name: Option<String>,
    content: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateData {
    id: String,
    name: String,
    content: String,
    variables: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl From<TemplateRecord> for TemplateData {
    fn from(template: TemplateRecord) -> Self {
        TemplateData {
            id: template.id.to_string(),
            variables: variables(&template.content),
            name: template.name,
            content: template.content,
            created_at: iso(template.created_at),
            updated_at: iso(template.updated_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplatesData {
    templates: Vec<TemplateData>,
}

#[utoipa::path(
    get,
    path = "/api/v1/templates",
    operation_id = "list_templates",
    tag = "Templates",
    summary = "List templates",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TemplatesData>),
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let engine = state.engine.clone();
    let templates = blocking(move || engine.templates(caller.key.tenant)).await?;
    Ok(ok(TemplatesData {
        templates: templates.into_iter().map(TemplateData::from).collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/templates",
    operation_id = "create_template",
    tag = "Templates",
    summary = "Create a template",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = TemplateBody,
        content_type = "application/json",
        example = json!({"name": "Welcome", "content": "Hi {{firstName}}, welcome to {{shop}}!"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<TemplateData>),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<TemplateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let name = body
        .name
        .ok_or_else(|| ApiError::bad_request("missing_name", "`name` is required"))?;
    let content = body
        .content
        .ok_or_else(|| ApiError::bad_request("missing_content", "`content` is required"))?;
    let template = state
        .engine
        .create_template(caller.key.tenant, &name, &content)
        .await?;
    Ok((StatusCode::CREATED, ok(TemplateData::from(template))))
}

#[utoipa::path(
    get,
    path = "/api/v1/templates/{template_id}",
    operation_id = "get_template",
    tag = "Templates",
    summary = "Get a template",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("template_id" = String, Path, description = "The template's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TemplateData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(template_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = template_id_param(&template_id)?;
    let template = state
        .engine
        .template(caller.key.tenant, id)?
        .ok_or_else(|| ApiError::not_found("template"))?;
    Ok(ok(TemplateData::from(template)))
}

#[utoipa::path(
    put,
    path = "/api/v1/templates/{template_id}",
    operation_id = "update_template",
    tag = "Templates",
    summary = "Update a template",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("template_id" = String, Path, description = "The template's id"),
    ),
    request_body(
        content = TemplatePatchBody,
        content_type = "application/json",
        example = json!({"content": "Hello {{firstName}}!"}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<TemplateData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(template_id): PathParam<String>,
    body: JsonBody<TemplatePatchBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = template_id_param(&template_id)?;
    let body = body.value;
    let template = state
        .engine
        .update_template(
            caller.key.tenant,
            id,
            body.name.as_deref(),
            body.content.as_deref(),
        )
        .await?;
    Ok(ok(TemplateData::from(template)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/templates/{template_id}",
    operation_id = "delete_template",
    tag = "Templates",
    summary = "Delete a template",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("template_id" = String, Path, description = "The template's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(template_id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = template_id_param(&template_id)?;
    state.engine.delete_template(caller.key.tenant, id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}

fn template_id_param(raw: &str) -> Result<TemplateId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("template"))
}
