//! `/contacts/...`: contacts, bulk import, groups and group membership (seed 001, Contacts and
//! Contact Groups; membership is Flit's own).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use flit_engine::ids::{ContactId, GroupId};
use flit_engine::{
    Contact, ContactFilter, ContactPatch, GroupRecord, GroupSummary, ImportOutcome,
    MembershipChange, NewContact,
};
use serde::{Deserialize, Deserializer, Serialize};

use super::{DeletedData, Pagination, blocking, ok, page_request};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathParam, QueryParams};
use crate::state::AppState;
use crate::timefmt::iso;

/// A phone as clients send it: text, or a bare number (spreadsheet exports often hold those).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PhoneInput {
    Text(String),
    Number(u64),
}

impl PhoneInput {
    fn into_text(self) -> String {
        match self {
            PhoneInput::Text(text) => text,
            PhoneInput::Number(number) => number.to_string(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// One live contact per phone per tenant.
    // An `Option` so that a missing phone gets the native error shape from the handler;
    // `value_type` shows it as required. So for the other required fields below.
    #[schema(value_type = PhoneInput)]
    phone: Option<PhoneInput>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    group_id: Option<String>,
}

/// Absent fields stay as they are; `null` or `""` clears a name or the email.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    phone: Option<PhoneInput>,
    #[serde(default, deserialize_with = "present")]
    first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    group_id: Option<String>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportRow {
    /// A row without a phone is counted invalid, like a row with a bad one.
    phone: Option<PhoneInput>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportBody {
    /// At most 10,000 rows.
    #[schema(value_type = Vec<ImportRow>, max_items = 10000)]
    contacts: Option<Vec<ImportRow>>,
    group_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct GroupBody {
    /// Unique among the tenant's groups.
    #[schema(value_type = String)]
    name: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembersBody {
    #[schema(value_type = Vec<String>)]
    contact_ids: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupRef {
    id: String,
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactData {
    id: String,
    phone: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    groups: Vec<GroupRef>,
    created_at: String,
    updated_at: String,
}

impl From<Contact> for ContactData {
    fn from(contact: Contact) -> Self {
        let record = contact.record;
        ContactData {
            id: record.id.to_string(),
            phone: record.phone.to_string(),
            first_name: record.first_name,
            last_name: record.last_name,
            email: record.email,
            groups: contact
                .groups
                .into_iter()
                .map(|group| GroupRef {
                    id: group.id.to_string(),
                    name: group.name,
                })
                .collect(),
            created_at: iso(record.created_at),
            updated_at: iso(record.updated_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactsData {
    contacts: Vec<ContactData>,
    pagination: Pagination,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportData {
    imported: u64,
    created: u64,
    skipped: u64,
    invalid: u64,
    total: u64,
}

impl From<ImportOutcome> for ImportData {
    fn from(outcome: ImportOutcome) -> Self {
        ImportData {
            imported: outcome.imported,
            created: outcome.created,
            skipped: outcome.skipped,
            invalid: outcome.invalid,
            total: outcome.total,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupData {
    id: String,
    name: String,
    contact_count: u64,
    created_at: String,
}

impl GroupData {
    fn new(group: GroupRecord, contact_count: u64) -> GroupData {
        GroupData {
            id: group.id.to_string(),
            name: group.name,
            contact_count,
            created_at: iso(group.created_at),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupsData {
    groups: Vec<GroupData>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembersData {
    group_id: String,
    contact_count: u64,
}

// ----- contacts --------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    operation_id = "list_contacts",
    tag = "Contacts",
    summary = "List contacts",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("page" = Option<u32>, Query, description = "Page number, from 1 (default 1)"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1..=200 (default 50)"),
        ("search" = Option<String>, Query, description = "Match on name, phone or email"),
        ("groupId" = Option<String>, Query, description = "Only members of this group"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<ContactsData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    query: QueryParams,
) -> Result<impl IntoResponse, ApiError> {
    let page = page_request(&query, 50, 200)?;
    let filter = ContactFilter {
        search: query.get("search").map(str::to_string),
        group: query.get("groupId").map(group_id).transpose()?,
    };
    let engine = state.engine.clone();
    let listing = blocking(move || engine.contacts(caller.key.tenant, filter, page)).await?;
    Ok(ok(ContactsData {
        contacts: listing.items.into_iter().map(ContactData::from).collect(),
        pagination: Pagination::new(page, listing.total),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts",
    operation_id = "create_contact",
    tag = "Contacts",
    summary = "Create a contact",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = CreateBody,
        content_type = "application/json",
        example = json!({"phone": "0201234567", "firstName": "Ama", "lastName": "Mensah", "email": "ama@example.com"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<ContactData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let phone = body
        .phone
        .ok_or_else(|| ApiError::bad_request("missing_phone", "`phone` is required"))?
        .into_text();
    let group = body.group_id.as_deref().map(group_id).transpose()?;
    let new = NewContact {
        phone,
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
    };
    let contact = state
        .engine
        .create_contact(caller.key.tenant, new, group)
        .await?;
    Ok((StatusCode::CREATED, ok(ContactData::from(contact))))
}

#[utoipa::path(
    get,
    path = "/api/v1/contacts/{contact_id}",
    operation_id = "get_contact",
    tag = "Contacts",
    summary = "Get a contact",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("contact_id" = String, Path, description = "The contact's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<ContactData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(raw): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = contact_id(&raw)?;
    let engine = state.engine.clone();
    let contact = blocking(move || engine.contact(caller.key.tenant, id))
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))?;
    Ok(ok(ContactData::from(contact)))
}

#[utoipa::path(
    put,
    path = "/api/v1/contacts/{contact_id}",
    operation_id = "update_contact",
    tag = "Contacts",
    summary = "Update a contact (absent fields stay; null clears)",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("contact_id" = String, Path, description = "The contact's id"),
    ),
    request_body(
        content = UpdateBody,
        content_type = "application/json",
        example = json!({"firstName": "Akosua", "email": null}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<ContactData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(raw): PathParam<String>,
    body: JsonBody<UpdateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = contact_id(&raw)?;
    let body = body.value;
    let patch = ContactPatch {
        phone: body.phone.map(PhoneInput::into_text),
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        group: body.group_id.as_deref().map(group_id).transpose()?,
    };
    let contact = state
        .engine
        .update_contact(caller.key.tenant, id, patch)
        .await?;
    Ok(ok(ContactData::from(contact)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/contacts/{contact_id}",
    operation_id = "delete_contact",
    tag = "Contacts",
    summary = "Delete a contact",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("contact_id" = String, Path, description = "The contact's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(raw): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = contact_id(&raw)?;
    state.engine.delete_contact(caller.key.tenant, id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/import",
    tag = "Contacts",
    summary = "Import up to 10,000 contacts",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = ImportBody,
        content_type = "application/json",
        example = json!({"contacts": [{"phone": "0201234567", "firstName": "Ama"}, {"phone": "233241234567"}]}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<ImportData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn import(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<ImportBody>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.value;
    let rows = body
        .contacts
        .ok_or_else(|| ApiError::bad_request("missing_contacts", "`contacts` is required"))?;
    let group = body.group_id.as_deref().map(group_id).transpose()?;
    let rows = rows
        .into_iter()
        .map(|row| NewContact {
            phone: row.phone.map(PhoneInput::into_text).unwrap_or_default(),
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
        })
        .collect();
    let outcome = state
        .engine
        .import_contacts(caller.key.tenant, rows, group)
        .await?;
    Ok(ok(ImportData::from(outcome)))
}

// ----- groups ----------------------------------------------------------------------------

#[utoipa::path(
    get,
    path = "/api/v1/contacts/groups",
    tag = "Contacts",
    summary = "List contact groups",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<GroupsData>),
    ),
)]
pub async fn groups(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<impl IntoResponse, ApiError> {
    let engine = state.engine.clone();
    let groups = blocking(move || engine.groups(caller.key.tenant)).await?;
    Ok(ok(GroupsData {
        groups: groups
            .into_iter()
            .map(
                |GroupSummary {
                     group,
                     contact_count,
                 }| GroupData::new(group, contact_count),
            )
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/groups",
    tag = "Contacts",
    summary = "Create a contact group",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    request_body(
        content = GroupBody,
        content_type = "application/json",
        example = json!({"name": "Customers"}),
    ),
    responses(
        (status = 201, description = "Success", body = crate::native::Envelope<GroupData>),
        (status = 409, description = "Conflicts with an existing object", body = crate::error::ErrorBody),
    ),
)]
pub async fn create_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: JsonBody<GroupBody>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body
        .value
        .name
        .ok_or_else(|| ApiError::bad_request("missing_name", "`name` is required"))?;
    let group = state.engine.create_group(caller.key.tenant, &name).await?;
    Ok((StatusCode::CREATED, ok(GroupData::new(group, 0))))
}

#[utoipa::path(
    delete,
    path = "/api/v1/contacts/groups/{group_id}",
    tag = "Contacts",
    summary = "Delete a contact group",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("group_id" = String, Path, description = "The group's id"),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<DeletedData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn delete_group(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(raw): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = group_id(&raw)?;
    state.engine.delete_group(caller.key.tenant, id).await?;
    Ok(ok(DeletedData::new(id.to_string())))
}

#[utoipa::path(
    post,
    path = "/api/v1/contacts/groups/{group_id}/members",
    tag = "Contacts",
    summary = "Add contacts to a group",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("group_id" = String, Path, description = "The group's id"),
    ),
    request_body(
        content = MembersBody,
        content_type = "application/json",
        example = json!({"contactIds": ["cnt_01jx4m3k9v8q2r6t5w7y0z1a2b"]}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<MembersData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn add_members(
    state: State<Arc<AppState>>,
    caller: Extension<Caller>,
    path: PathParam<String>,
    body: JsonBody<MembersBody>,
) -> Result<impl IntoResponse, ApiError> {
    change_members(state, caller, path, body, true).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/contacts/groups/{group_id}/members",
    tag = "Contacts",
    summary = "Remove contacts from a group",
    description = "Answers are `{\"success\": true, \"data\": ...}`; errors `{\"success\": false, \"error\", \"code\"}`.",
    params(
        ("group_id" = String, Path, description = "The group's id"),
    ),
    request_body(
        content = MembersBody,
        content_type = "application/json",
        example = json!({"contactIds": ["cnt_01jx4m3k9v8q2r6t5w7y0z1a2b"]}),
    ),
    responses(
        (status = 200, description = "Success", body = crate::native::Envelope<MembersData>),
        (status = 404, description = "Not found (or belongs to another tenant)", body = crate::error::ErrorBody),
    ),
)]
pub async fn remove_members(
    state: State<Arc<AppState>>,
    caller: Extension<Caller>,
    path: PathParam<String>,
    body: JsonBody<MembersBody>,
) -> Result<impl IntoResponse, ApiError> {
    change_members(state, caller, path, body, false).await
}

async fn change_members(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    PathParam(raw): PathParam<String>,
    body: JsonBody<MembersBody>,
    add: bool,
) -> Result<MembersReply, ApiError> {
    let group = group_id(&raw)?;
    let raw_ids = body
        .value
        .contact_ids
        .ok_or_else(|| ApiError::bad_request("missing_contact_ids", "`contactIds` is required"))?;
    let ids = raw_ids
        .iter()
        .map(|raw| raw.parse::<ContactId>().map_err(|_| contact_not_found(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    let engine = &state.engine;
    let change = if add {
        engine
            .add_group_members(caller.key.tenant, group, ids)
            .await?
    } else {
        engine
            .remove_group_members(caller.key.tenant, group, ids)
            .await?
    };
    match change {
        MembershipChange::Applied { contact_count } => Ok(ok(MembersData {
            group_id: group.to_string(),
            contact_count,
        })),
        MembershipChange::UnknownContact(id) => Err(contact_not_found(&id.to_string())),
    }
}

type MembersReply = axum::Json<super::Envelope<MembersData>>;

fn contact_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("contact {shown} not found"),
    )
}

fn contact_id(raw: &str) -> Result<ContactId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("contact"))
}

fn group_id(raw: &str) -> Result<GroupId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("group"))
}
