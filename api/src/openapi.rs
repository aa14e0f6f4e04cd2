//! The OpenAPI 3.1 description of every route Flit serves (`GET /openapi.json`, built once
//! from the handlers' `#[utoipa::path]` annotations) and a self-contained page that renders it
//! (`GET /docs`: no external assets, no CDN).

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Flit",
        description = "Self-hosted SMS dispatch engine. The native API (`/api/v1`, a FlashSMS superset) \
                       answers `{\"success\": true, \"data\": ...}` and fails with \
                       `{\"success\": false, \"error\": \"<sentence>\", \"code\": \"<snake_case>\"}`; the \
                       admin API (`/admin/v1`) uses the same shapes. The Flowstates dialect \
                       (`/messages/...`) answers its own flat shapes and fails in the native one. \
                       Authenticated answers carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` \
                       and `X-RateLimit-Reset`."
    ),
    paths(
        crate::health,
        crate::metrics,
        spec,
        docs,
        crate::native::sms::send,
        crate::native::sms::estimate,
        crate::native::sms::list,
        crate::native::sms::status,
        crate::native::sms::recipients,
        crate::native::sms::cancel,
        crate::native::sms::inbound,
        crate::native::account::balance,
        crate::native::account::sender_ids,
        crate::native::account::transactions,
        crate::native::templates::list,
        crate::native::templates::create,
        crate::native::templates::get,
        crate::native::templates::update,
        crate::native::templates::delete,
        crate::native::contacts::list,
        crate::native::contacts::create,
        crate::native::contacts::get,
        crate::native::contacts::update,
        crate::native::contacts::delete,
        crate::native::contacts::import,
        crate::native::contacts::groups,
        crate::native::contacts::create_group,
        crate::native::contacts::delete_group,
        crate::native::contacts::add_members,
        crate::native::contacts::remove_members,
        crate::native::devices::registration_token,
        crate::native::devices::pairing_code,
        crate::native::devices::list,
        crate::native::devices::update,
        crate::native::devices::delete,
        crate::native::webhooks::list,
        crate::native::webhooks::create,
        crate::native::webhooks::delete,
        crate::native::webhooks::rotate_secret,
        crate::native::webhooks::deliveries,
        crate::native::webhooks::redeliver,
        crate::flixy::send,
        crate::flixy::status,
        crate::flowstates::messages::send,
        crate::flowstates::messages::get,
        crate::flowstates::webhooks::list,
        crate::flowstates::webhooks::create,
        crate::flowstates::webhooks::delete,
        crate::admin::create_tenant,
        crate::admin::list_tenants,
        crate::admin::get_tenant,
        crate::admin::update_tenant,
        crate::admin::delete_tenant,
        crate::admin::suspend_tenant,
        crate::admin::resume_tenant,
        crate::export::export_tenant,
        crate::admin::list_transactions,
        crate::admin::create_key,
        crate::admin::list_keys,
        crate::admin::revoke_key,
        crate::admin::add_credits,
        crate::admin::create_sender_id,
        crate::admin::list_sender_ids,
        crate::smpp_accounts::create_smpp_account,
        crate::smpp_accounts::list_smpp_accounts,
        crate::smpp_accounts::delete_smpp_account,
        crate::users::create_user,
        crate::users::list_users,
        crate::users::delete_user,
        crate::users::create_operator,
        crate::users::list_operators,
        crate::users::delete_operator,
        crate::carriers::create_bind,
        crate::carriers::list_binds,
        crate::carriers::get_bind,
        crate::carriers::delete_bind,
        crate::carriers::create_route,
        crate::carriers::list_routes,
        crate::carriers::delete_route,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&SecuritySchemes, &CommonAnswers),
    tags(
        (name = "SMS", description = "Send, estimate, history, delivery reports, inbound"),
        (name = "Contacts", description = "Contacts, import, groups and membership"),
        (name = "Templates", description = "Message templates with `{{placeholders}}`"),
        (name = "Account", description = "Balance, sender IDs, transactions"),
        (name = "Devices", description = "The tenant's own phones (SMS Gate app): pairing, state, unpairing"),
        (name = "Webhooks", description = "Signed event callbacks, their deliveries and attempts"),
        (name = "FlixySMS", description = "The FlixySMS dialect at /flixy/api/v1: one SMS through the tenant's own phones"),
        (name = "Flowstates", description = "The Flowstates dialect at the root paths: flat JSON, the same keys, scopes and credits"),
        (name = "Admin", description = "Tenants (suspension, export, deletion), API keys, credits and the ledger, sender IDs, SMPP accounts (admin token)"),
        (name = "Carriers", description = "SMPP binds and routes (admin token)"),
        (name = "System", description = "Health, metrics and this description"),
    )
)]
pub struct ApiDoc;

/// The three ways to present an API key, and the admin token.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer flt_live_...`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKeyHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "`X-API-Key: flt_live_...`",
            ))),
        );
        components.add_security_scheme(
            "apiKeyAuthorization",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Authorization: X-Api-key flt_live_...`",
            ))),
        );
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer <admin token>`"))
                    .build(),
            ),
        );
    }
}

/// What every operation of an API answers besides its own outcomes (and every operation
/// with a body, 408, 413 and 415), how it is authenticated, and for the tenant APIs the scope
/// their route tables (`scoped`) declare for it: added here once rather than repeated on each
/// handler.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        const BAD_REQUEST: (&str, &str) = (
            "400",
            "Invalid input (malformed JSON, wrong types, unknown values, invalid fields)",
        );
        const UNAUTHORIZED: (&str, &str) = ("401", "Missing or unknown credential");
        const FORBIDDEN: (&str, &str) = (
            "403",
            "The API key lacks the required scope, or its tenant is suspended (`account_suspended`)",
        );
        const RATE_LIMITED: (&str, &str) = ("429", "Rate limit exceeded (see Retry-After)");
        const TOO_LARGE: (&str, &str) = ("413", "Body over the size limit");
        const NOT_JSON: (&str, &str) = ("415", "Body is not JSON");
        const TOO_SLOW: (&str, &str) = ("408", "Body did not arrive in time");
        const UNAVAILABLE: (&str, &str) = (
            "503",
            "Storage or engine temporarily unavailable (see Retry-After)",
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let tenant_api = crate::scoped::is_tenant_path(path);
            let (answers, schemes): (&[(&str, &str)], &[&str]) = if tenant_api {
                (
                    &[
                        BAD_REQUEST,
                        UNAUTHORIZED,
                        FORBIDDEN,
                        RATE_LIMITED,
                        UNAVAILABLE,
                    ],
                    &["apiKey", "apiKeyHeader", "apiKeyAuthorization"],
                )
            } else if path.starts_with("/admin/v1/") {
                (&[BAD_REQUEST, UNAUTHORIZED, UNAVAILABLE], &["adminToken"])
            } else {
                continue;
            };
            let operations = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else {
                    continue;
                };
                let with_body: &[(&str, &str)] = if operation.request_body.is_some() {
                    &[TOO_SLOW, TOO_LARGE, NOT_JSON]
                } else {
                    &[]
                };
                for (status, description) in answers.iter().chain(with_body) {
                    let error = ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build();
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content("application/json", error)
                        .build();
                    operation
                        .responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert(response.into());
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response {
                        add_headers(response, status, tenant_api);
                    }
                }
                // A tenant operation's scope, from the one declaration the router uses: in
                // words for readers, and as the role its security requirements name (OpenAPI
                // 3.1 lets a non-OAuth scheme list the roles an operation needs).
                let scope = crate::scoped::declared_scope(&method, path);
                if let Some(scope) = scope {
                    let sentence = format!("Requires scope `{}`.", scope.as_str());
                    operation.description = Some(match operation.description.take() {
                        Some(rest) => format!("{sentence} {rest}"),
                        None => sentence,
                    });
                }
                let roles: Vec<&str> = scope.iter().map(|scope| scope.as_str()).collect();
                let security = operation.security.get_or_insert_with(Vec::new);
                if security.is_empty() {
                    security.extend(
                        schemes
                            .iter()
                            .map(|scheme| SecurityRequirement::new(*scheme, roles.clone())),
                    );
                }
            }
        }
    }
}

/// What a created object's id leads to: OpenAPI links from each create operation's answer to
/// the operations that take that id, so a client (or a fuzzer) can follow them.
/// One link: from the `status` answer of `method path` to `target_method target_path`,
/// filling the target's parameters (and body) with runtime expressions.
struct LinkSpec {
    from: (&'static str, &'static str, &'static str),
    name: &'static str,
    to: (&'static str, &'static str),
    parameters: &'static [(&'static str, &'static str)],
    body: Option<fn() -> serde_json::Value>,
}

const DATA_ID: &str = "$response.body#/data/id";

const LINKS: &[LinkSpec] = &[
    LinkSpec {
        from: ("post", "/api/v1/sms/send", "200"),
        name: "MessageStatus",
        to: ("get", "/api/v1/sms/status/{message_id}"),
        parameters: &[("message_id", "$response.body#/data/messageId")],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/sms/send", "200"),
        name: "MessageRecipients",
        to: ("get", "/api/v1/sms/{message_id}/recipients"),
        parameters: &[("message_id", "$response.body#/data/messageId")],
        body: None,
    },
    LinkSpec {
        from: ("post", "/messages/send", "201"),
        name: "FlowstatesMessage",
        to: ("get", "/messages/{message_id}"),
        parameters: &[("message_id", "$response.body#/id")],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/sms/send", "200"),
        name: "CancelMessage",
        to: ("post", "/api/v1/sms/{message_id}/cancel"),
        parameters: &[("message_id", "$response.body#/data/messageId")],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/templates", "201"),
        name: "GetTemplate",
        to: ("get", "/api/v1/templates/{template_id}"),
        parameters: &[("template_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/templates", "201"),
        name: "UpdateTemplate",
        to: ("put", "/api/v1/templates/{template_id}"),
        parameters: &[("template_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/templates", "201"),
        name: "DeleteTemplate",
        to: ("delete", "/api/v1/templates/{template_id}"),
        parameters: &[("template_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts", "201"),
        name: "GetContact",
        to: ("get", "/api/v1/contacts/{contact_id}"),
        parameters: &[("contact_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts", "201"),
        name: "UpdateContact",
        to: ("put", "/api/v1/contacts/{contact_id}"),
        parameters: &[("contact_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts", "201"),
        name: "DeleteContact",
        to: ("delete", "/api/v1/contacts/{contact_id}"),
        parameters: &[("contact_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts/groups", "201"),
        name: "DeleteGroup",
        to: ("delete", "/api/v1/contacts/groups/{group_id}"),
        parameters: &[("group_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts/groups", "201"),
        name: "AddMembers",
        to: ("post", "/api/v1/contacts/groups/{group_id}/members"),
        parameters: &[("group_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/api/v1/contacts/groups", "201"),
        name: "RemoveMembers",
        to: ("delete", "/api/v1/contacts/groups/{group_id}/members"),
        parameters: &[("group_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "GetTenant",
        to: ("get", "/admin/v1/tenants/{tenant_id}"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "UpdateTenant",
        to: ("patch", "/admin/v1/tenants/{tenant_id}"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "CreateKey",
        to: ("post", "/admin/v1/tenants/{tenant_id}/keys"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "ListKeys",
        to: ("get", "/admin/v1/tenants/{tenant_id}/keys"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "AddCredits",
        to: ("post", "/admin/v1/tenants/{tenant_id}/credits"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "CreateSenderId",
        to: ("post", "/admin/v1/tenants/{tenant_id}/sender-ids"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants", "201"),
        name: "ListSenderIds",
        to: ("get", "/admin/v1/tenants/{tenant_id}/sender-ids"),
        parameters: &[("tenant_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/tenants/{tenant_id}/keys", "201"),
        name: "RevokeKey",
        to: ("delete", "/admin/v1/tenants/{tenant_id}/keys/{key_id}"),
        parameters: &[
            ("tenant_id", "$request.path.tenant_id"),
            ("key_id", DATA_ID),
        ],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/binds", "201"),
        name: "GetBind",
        to: ("get", "/admin/v1/binds/{bind_id}"),
        parameters: &[("bind_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/binds", "201"),
        name: "DeleteBind",
        to: ("delete", "/admin/v1/binds/{bind_id}"),
        parameters: &[("bind_id", DATA_ID)],
        body: None,
    },
    LinkSpec {
        from: ("post", "/admin/v1/binds", "201"),
        name: "CreateRoute",
        to: ("post", "/admin/v1/routes"),
        parameters: &[],
        body: Some(|| serde_json::json!({ "bindIds": [DATA_ID] })),
    },
    LinkSpec {
        from: ("post", "/admin/v1/routes", "201"),
        name: "DeleteRoute",
        to: ("delete", "/admin/v1/routes/{route_id}"),
        parameters: &[("route_id", DATA_ID)],
        body: None,
    },
];

/// Adds `LINKS` to the rendered document. Done on the JSON because utoipa 5 writes a link's
/// fields in snake_case (`operation_id`), which OpenAPI readers do not recognise.
fn add_links(document: &mut serde_json::Value) {
    for spec in LINKS {
        let (to_method, to_path) = spec.to;
        // A target missing from the document is a mistake in the table above, which
        // `tests/http/schema.rs` catches (every link resolves).
        let Some(target) = document["paths"][to_path][to_method]["operationId"]
            .as_str()
            .map(str::to_string)
        else {
            continue;
        };
        let (method, path, status) = spec.from;
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        );
        let Some(response) = document
            .pointer_mut(&pointer)
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        let mut link = serde_json::Map::new();
        link.insert("operationId".into(), target.into());
        if !spec.parameters.is_empty() {
            let parameters: serde_json::Map<String, serde_json::Value> = spec
                .parameters
                .iter()
                .map(|(name, expression)| (name.to_string(), (*expression).into()))
                .collect();
            link.insert("parameters".into(), parameters.into());
        }
        if let Some(body) = spec.body {
            link.insert("requestBody".into(), body());
        }
        let links = response
            .entry("links")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if let Some(links) = links.as_object_mut() {
            links.insert(spec.name.to_string(), link.into());
        }
    }
}

/// A string field that takes one of `values` (the spellings the handler documents; it also
/// takes them in any case). Used through `#[schema(schema_with = ...)]`, which the derive
/// needs for an `enum` over a plain `String` field.
pub(crate) fn string_enum(description: &str, values: &[&str]) -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

/// As `string_enum`, for a field where `null` means "clear it".
pub(crate) fn nullable_string_enum(description: &str, values: &[&str]) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::SchemaType;
    use utoipa::openapi::{ObjectBuilder, Type};
    let values = values
        .iter()
        .map(|value| serde_json::Value::from(*value))
        .chain([serde_json::Value::Null]);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// The headers an answer carries: the rate-limit window on every answer of an API key's
/// request that got past authentication (all but 401), and `Retry-After` on 429 and 503.
fn add_headers(response: &mut utoipa::openapi::Response, status: &str, rate_limited: bool) {
    use utoipa::openapi::{HeaderBuilder, ObjectBuilder, Type};

    let integer = |description: &str| {
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some(description))
            .build()
    };
    if rate_limited && status != "401" {
        for (name, description) in [
            (
                "X-RateLimit-Limit",
                "Requests allowed per minute for this key",
            ),
            (
                "X-RateLimit-Remaining",
                "Requests left in the current window",
            ),
            (
                "X-RateLimit-Reset",
                "Unix seconds at which the window resets",
            ),
        ] {
            response
                .headers
                .entry(name.to_string())
                .or_insert_with(|| integer(description));
        }
    }
    if status == "429" || status == "503" {
        response
            .headers
            .entry("Retry-After".to_string())
            .or_insert_with(|| integer("Seconds to wait before retrying"));
    }
}

/// The description as JSON, rendered once.
pub fn spec_json() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| {
        let rendered = serde_json::to_value(ApiDoc::openapi()).map(|mut document| {
            add_links(&mut document);
            document.to_string()
        });
        rendered.unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "System",
    summary = "This OpenAPI description",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")),
)]
pub async fn spec() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], spec_json())
}

#[utoipa::path(
    get,
    path = "/docs",
    tag = "System",
    summary = "Human-readable API reference (renders /openapi.json)",
    responses((status = 200, description = "HTML page", content_type = "text/html")),
)]
pub async fn docs() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DOCS_HTML,
    )
}

/// The `/docs` page: plain HTML and inline script that fetches `/openapi.json` and lists every
/// operation with its parameters, request body, the examples the document gives them, a curl
/// command to copy, and its responses. The first script (`docs-lib`) holds the functions that
/// read the document and build what is shown (no page, no network), so a test can run them on
/// the real document without a browser.
pub const DOCS_HTML: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flit API reference</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f7f8fa; }
header { background: #1d2330; color: #fff; padding: 16px 24px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 6px 0 0; color: #c8cdd8; max-width: 70em; }
main { padding: 16px 24px; max-width: 1100px; }
nav a { margin-right: 12px; }
h2 { margin: 28px 0 8px; border-bottom: 1px solid #d5d9e0; padding-bottom: 4px; }
.op { background: #fff; border: 1px solid #d5d9e0; border-radius: 6px; margin: 10px 0; }
.op > summary { cursor: pointer; padding: 8px 12px; list-style: none; }
.op > summary::-webkit-details-marker { display: none; }
.op .body { padding: 4px 14px 12px; border-top: 1px solid #e6e9ee; }
.method { display: inline-block; min-width: 62px; text-align: center; font: bold 12px monospace; color: #fff; border-radius: 4px; padding: 3px 6px; margin-right: 8px; }
.get { background: #2f7dd1; } .post { background: #2b9a56; } .put { background: #c9861a; }
.patch { background: #8a5cc9; } .delete { background: #c9372c; }
.path { font: 600 14px monospace; }
.summary { color: #4b5466; margin-left: 10px; }
table { border-collapse: collapse; margin: 4px 0 10px; }
th, td { text-align: left; border: 1px solid #e0e3e8; padding: 4px 8px; vertical-align: top; font-size: 14px; }
th { background: #f0f2f5; }
code, .schema { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
.schema { background: #f5f6f8; border: 1px solid #e6e9ee; border-radius: 4px; padding: 8px; white-space: pre; overflow-x: auto; margin: 4px 0 8px; }
.status { font: bold 13px monospace; }
.s2 { color: #2b9a56; } .s4 { color: #c9861a; } .s5 { color: #c9372c; }
.muted { color: #6b7385; }
.curl-box { position: relative; }
.curl-box .copy { position: absolute; top: 6px; right: 6px; font: 12px system-ui, sans-serif; cursor: pointer; }
#error { color: #c9372c; font-weight: bold; }
</style>
</head>
<body>
<header><h1 id="title">Flit API reference</h1><p id="intro">Loading <code>/openapi.json</code>&hellip;</p></header>
<main>
<p id="error"></p>
<nav id="nav"></nav>
<p class="muted" id="curl-note">Each operation has a curl command for this server. It reads the API key from
<code>$FLIT_API_KEY</code> (the <code>apiKey</code> of <code>flit-data/bootstrap.json</code> on a first start), the
admin token from <code>$FLIT_ADMIN_TOKEN</code> (<code>flit-data/admin-token</code>), and each id in the path from
a variable named after it (<code>${MESSAGE_ID}</code>): <code>export FLIT_API_KEY=flt_live_&hellip;</code> first.</p>
<div id="ops"></div>
</main>
<script id="docs-lib">
"use strict";
// What the page shows, computed from the document alone: escaping, the examples an operation
// documents, and its curl command. No page and no network here, so a test can run these.
function esc(text) {
  return String(text === undefined || text === null ? "" : text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
function md(text) {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}
// `node`, or what its `$ref` points to in the document.
function follow(doc, node) {
  var seen = 0;
  while (node && node.$ref && seen < 20) {
    var target = doc;
    node.$ref.replace(/^#\//, "").split("/").forEach(function (part) {
      target = target === undefined ? undefined : target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    });
    node = target;
    seen += 1;
  }
  return node || {};
}
// Every example of an operation's request body: [{contentType, name, value}], from each media
// type's `example` and `examples`, else its schema's.
function bodyExamples(doc, op) {
  var found = [];
  if (!op.requestBody) return found;
  var content = follow(doc, op.requestBody).content || {};
  Object.keys(content).forEach(function (type) {
    var media = content[type];
    var before = found.length;
    if (media.example !== undefined) found.push({ contentType: type, name: "", value: media.example });
    Object.keys(media.examples || {}).forEach(function (name) {
      var example = follow(doc, media.examples[name]);
      if (example.value !== undefined) found.push({ contentType: type, name: example.summary || name, value: example.value });
    });
    if (found.length === before) {
      var schema = follow(doc, media.schema);
      if (schema.example !== undefined) found.push({ contentType: type, name: "", value: schema.example });
      else if (Array.isArray(schema.examples) && schema.examples.length) found.push({ contentType: type, name: "", value: schema.examples[0] });
    }
  });
  return found;
}
// A parameter's example, or undefined when the document gives none.
function parameterExample(doc, param) {
  param = follow(doc, param);
  if (param.example !== undefined) return param.example;
  var names = Object.keys(param.examples || {});
  if (names.length) return follow(doc, param.examples[names[0]]).value;
  var schema = follow(doc, param.schema);
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  return undefined;
}
// The shell variable a curl command reads a parameter from: `message_id` is `${MESSAGE_ID}`.
function shellVariable(name) {
  return "${" + String(name).replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "").toUpperCase() + "}";
}
// `text` inside double quotes, where the shell would otherwise expand `$`, `` ` `` and `\`.
function inDoubleQuotes(text) {
  return String(text).replace(/[\\"$`]/g, "\\$&");
}
function singleQuoted(text) {
  return "'" + String(text).replace(/'/g, "'\\''") + "'";
}
// The credential variable an operation's security asks for: the admin token, an API key or none.
function credential(doc, op) {
  var names = [];
  (op.security || doc.security || []).forEach(function (requirement) { names = names.concat(Object.keys(requirement)); });
  if (names.indexOf("adminToken") >= 0) return "$FLIT_ADMIN_TOKEN";
  if (names.some(function (name) { return name.indexOf("apiKey") === 0; })) return "$FLIT_API_KEY";
  return null;
}
function formEncoded(value) {
  if (value === null || typeof value !== "object") return String(value);
  return Object.keys(value).map(function (key) {
    var field = value[key];
    return encodeURIComponent(key) + "=" + encodeURIComponent(typeof field === "object" ? JSON.stringify(field) : String(field));
  }).join("&");
}
// The curl command of one operation against `origin`: its method and URL (path parameters from
// their examples or shell variables, query parameters that are required or have an example),
// the credential its security names, and its first body example (JSON preferred) with its
// content type. One argument per line, ready to paste into a shell.
function curlCommand(doc, origin, path, method, op, shared) {
  var params = (shared || []).concat(op.parameters || []).map(function (param) { return follow(doc, param); });
  var value = function (param) {
    var example = parameterExample(doc, param);
    return example === undefined ? shellVariable(param.name) : inDoubleQuotes(encodeURIComponent(String(example)));
  };
  var url = inDoubleQuotes(origin);
  path.split(/(\{[^}]+\})/).forEach(function (piece) {
    var name = /^\{(.+)\}$/.exec(piece);
    if (!name) { url += inDoubleQuotes(piece); return; }
    var param = params.filter(function (p) { return p.in === "path" && p.name === name[1]; })[0] || { name: name[1] };
    url += value(param);
  });
  var query = params.filter(function (p) {
    return p.in === "query" && (p.required || parameterExample(doc, p) !== undefined);
  }).map(function (p) { return inDoubleQuotes(encodeURIComponent(p.name)) + "=" + value(p); });
  if (query.length) url += "?" + query.join("&");
  var lines = ["curl -X " + method.toUpperCase() + ' "' + url + '"'];
  var token = credential(doc, op);
  if (token) lines.push('-H "Authorization: Bearer ' + token + '"');
  params.filter(function (p) {
    return p.in === "header" && (p.required || parameterExample(doc, p) !== undefined);
  }).forEach(function (p) { lines.push('-H "' + inDoubleQuotes(p.name) + ": " + value(p) + '"'); });
  if (op.requestBody) {
    var examples = bodyExamples(doc, op);
    var chosen = examples.filter(function (e) { return e.contentType === "application/json"; })[0] || examples[0];
    var types = Object.keys(follow(doc, op.requestBody).content || {});
    var type = chosen ? chosen.contentType : (types.indexOf("application/json") >= 0 ? "application/json" : types[0] || "application/json");
    var data = chosen === undefined ? "{}" : /json/.test(type) ? JSON.stringify(chosen.value) : formEncoded(chosen.value);
    lines.push("-H " + singleQuoted("Content-Type: " + type));
    lines.push("-d " + singleQuoted(data));
  }
  return lines.join(" \\\n  ");
}
</script>
<script>
"use strict";
var spec = null;
function resolve(schema) {
  var seen = 0;
  while (schema && schema.$ref && seen < 20) {
    var name = schema.$ref.split("/").pop();
    schema = (spec.components && spec.components.schemas || {})[name];
    seen += 1;
  }
  return schema || {};
}
function typeName(schema) {
  if (!schema) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  var t = schema.type;
  if (Array.isArray(t)) {
    var nonNull = t.filter(function (x) { return x !== "null"; });
    var base = typeName(Object.assign({}, schema, { type: nonNull.length === 1 ? nonNull[0] : nonNull.join(" | ") }));
    return t.indexOf("null") >= 0 ? base + " | null" : base;
  }
  if (t === "array") return "array of " + typeName(schema.items);
  if (schema.oneOf) return schema.oneOf.map(typeName).join(" | ");
  if (schema.anyOf) return schema.anyOf.map(typeName).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeName).join(" & ");
  if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
  if (t === "object" && schema.additionalProperties) return "map of " + typeName(schema.additionalProperties);
  return (t || "any") + (schema.format ? " (" + schema.format + ")" : "");
}
// A readable outline of a schema: one line per field, nested objects indented.
function outline(schema, indent, depth) {
  var lines = [];
  var shown = resolve(schema);
  if (shown.allOf) { shown.allOf.forEach(function (part) { lines = lines.concat(outline(part, indent, depth)); }); return lines; }
  var nonNullTypes = Array.isArray(shown.type) ? shown.type.filter(function (x) { return x !== "null"; }) : [shown.type];
  if (nonNullTypes.indexOf("array") >= 0 && shown.items) {
    var item = resolve(shown.items);
    if (item.properties && depth < 6) {
      lines.push(indent + "[ each: " + typeName(shown.items));
      lines = lines.concat(outline(shown.items, indent + "    ", depth + 1));
      lines.push(indent + "]");
    }
    return lines;
  }
  if (!shown.properties) return lines;
  var required = shown.required || [];
  Object.keys(shown.properties).forEach(function (name) {
    var field = shown.properties[name];
    var fieldShown = resolve(field);
    var line = indent + name + (required.indexOf(name) >= 0 ? "" : "?") + ": " + typeName(field);
    var description = field.description || fieldShown.description;
    if (description && !field.$ref) line += "    // " + description;
    lines.push(line);
    if (depth < 6) lines = lines.concat(outline(field, indent + "    ", depth + 1));
  });
  return lines;
}
function schemaBlock(schema) {
  var head = typeName(schema);
  var body = outline(schema, "  ", 0);
  return '<div class="schema">' + esc(head + (body.length ? " {\n" + body.join("\n") + "\n}" : "")) + "</div>";
}
function contentBlock(content) {
  var html = "";
  Object.keys(content || {}).forEach(function (type) {
    var media = content[type];
    html += '<div class="muted">' + esc(type) + "</div>";
    html += media.schema ? schemaBlock(media.schema) : "";
  });
  return html;
}
function paramsTable(params) {
  if (!params || !params.length) return "";
  var rows = params.map(function (p) {
    p = follow(spec, p);
    var example = parameterExample(spec, p);
    return "<tr><td><code>" + esc(p.name) + "</code></td><td>" + esc(p.in) + "</td><td>" +
      esc(typeName(p.schema)) + "</td><td>" + (p.required ? "yes" : "no") + "</td><td>" + md(p.description) + "</td><td>" +
      (example === undefined ? "" : "<code>" + esc(JSON.stringify(example)) + "</code>") + "</td></tr>";
  });
  return "<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Description</th><th>Example</th></tr>" +
    rows.join("") + "</table>";
}
function examplesBlock(op) {
  var examples = bodyExamples(spec, op);
  if (!examples.length) return "";
  return "<h4>Example" + (examples.length > 1 ? "s" : "") + "</h4>" + examples.map(function (example) {
    var shown = /json/.test(example.contentType) ? JSON.stringify(example.value, null, 2) : formEncoded(example.value);
    return '<div class="muted">' + esc(example.contentType) + (example.name ? " (" + esc(example.name) + ")" : "") + "</div>" +
      '<div class="schema example">' + esc(shown) + "</div>";
  }).join("");
}
function curlBlock(entry) {
  return '<h4>curl</h4><div class="curl-box"><button type="button" class="copy">Copy</button><pre class="schema curl">' +
    esc(curlCommand(spec, location.origin, entry.path, entry.method, entry.op, entry.shared)) + "</pre></div>";
}
// Copies a curl command: the clipboard API where the page is a secure context (https or
// localhost), else the selection and `execCommand`, which plain http on a LAN address allows.
function copy(button) {
  var pre = button.parentNode.querySelector("pre");
  var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(pre.textContent).then(done);
    return;
  }
  var range = document.createRange();
  range.selectNodeContents(pre);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  if (document.execCommand("copy")) done();
}
function securityText(op) {
  var security = op.security || spec.security;
  if (!security || !security.length) return '<p class="muted">No authentication.</p>';
  var names = security.map(function (s) { return Object.keys(s).join(" + "); });
  var schemes = (spec.components && spec.components.securitySchemes) || {};
  return "<p><b>Authentication</b> (any one): " + names.map(function (name) {
    var scheme = schemes[name];
    return "<code>" + esc(name) + "</code>" + (scheme && scheme.description ? " " + md(scheme.description) : "");
  }).join("; ") + "</p>";
}
function render() {
  document.title = (spec.info && spec.info.title || "API") + " API reference";
  document.getElementById("title").textContent = document.title + " (" + (spec.info && spec.info.version || "") + ")";
  document.getElementById("intro").innerHTML = md(spec.info && spec.info.description) +
    ' <a style="color:#9cc4ff" href="/openapi.json">openapi.json</a> (OpenAPI ' + esc(spec.openapi) + ")";
  var groups = {};
  var order = [];
  (spec.tags || []).forEach(function (tag) { groups[tag.name] = { tag: tag, ops: [] }; order.push(tag.name); });
  Object.keys(spec.paths || {}).forEach(function (path) {
    var item = spec.paths[path];
    ["get", "post", "put", "patch", "delete", "head", "options"].forEach(function (method) {
      var op = item[method];
      if (!op) return;
      var tag = (op.tags && op.tags[0]) || "Other";
      if (!groups[tag]) { groups[tag] = { tag: { name: tag }, ops: [] }; order.push(tag); }
      groups[tag].ops.push({ path: path, method: method, op: op, shared: item.parameters || [] });
    });
  });
  var nav = [];
  var html = "";
  var count = 0;
  order.forEach(function (name, index) {
    var group = groups[name];
    if (!group.ops.length) return;
    nav.push('<a href="#tag-' + index + '">' + esc(name) + " (" + group.ops.length + ")</a>");
    html += '<h2 id="tag-' + index + '">' + esc(name) + "</h2>";
    if (group.tag.description) html += "<p>" + md(group.tag.description) + "</p>";
    group.ops.forEach(function (entry) {
      var op = entry.op;
      count += 1;
      html += '<details class="op" data-method="' + entry.method + '" data-path="' + esc(entry.path) + '"><summary>' +
        '<span class="method ' + entry.method + '">' + entry.method.toUpperCase() + "</span>" +
        '<span class="path">' + esc(entry.path) + "</span>" +
        '<span class="summary">' + md(op.summary) + "</span></summary><div class=\"body\">";
      if (op.description) html += "<p>" + md(op.description) + "</p>";
      html += securityText(op);
      html += paramsTable(entry.shared.concat(op.parameters || []));
      if (op.requestBody) {
        var requestBody = op.requestBody.$ref ? resolve(op.requestBody) : op.requestBody;
        html += "<h4>Request body" + (requestBody.required ? " (required)" : "") + "</h4>" +
          (requestBody.description ? "<p>" + md(requestBody.description) + "</p>" : "") + contentBlock(requestBody.content);
        html += examplesBlock(op);
      }
      html += curlBlock(entry);
      html += "<h4>Responses</h4><table><tr><th>Status</th><th>Description</th><th>Body</th></tr>";
      Object.keys(op.responses || {}).forEach(function (status) {
        var response = op.responses[status];
        html += '<tr><td class="status s' + esc(status.charAt(0)) + '">' + esc(status) + "</td><td>" + md(response.description) +
          "</td><td>" + contentBlock(response.content) + "</td></tr>";
      });
      html += "</table></div></details>";
    });
  });
  document.getElementById("nav").innerHTML = nav.join("") +
    ' <a href="#" id="expand">expand all</a> <span class="muted">' + count + " operations</span>";
  document.getElementById("ops").innerHTML = html;
  document.getElementById("ops").addEventListener("click", function (event) {
    if (event.target.classList && event.target.classList.contains("copy")) copy(event.target);
  });
  document.getElementById("expand").addEventListener("click", function (event) {
    event.preventDefault();
    var all = document.querySelectorAll("details.op");
    var open = !all[0] || !all[0].open;
    all.forEach(function (d) { d.open = open; });
  });
  if (location.search.indexOf("expand") >= 0) document.querySelectorAll("details.op").forEach(function (d) { d.open = true; });
}
fetch("/openapi.json")
  .then(function (response) {
    if (!response.ok) throw new Error("GET /openapi.json answered " + response.status);
    return response.json();
  })
  .then(function (body) { spec = body; render(); })
  .catch(function (error) {
    document.getElementById("error").textContent = "Could not load /openapi.json: " + error.message;
  });
</script>
</body>
</html>
"##;
