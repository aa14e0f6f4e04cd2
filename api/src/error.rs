//! `ApiError`: every failure a client can see, rendered once as the native error shape
//! `{"success": false, "error": "<sentence>", "code": "<snake_case>"}`. Clients never see
//! internals: storage and actor failures become a 503 with a generic sentence.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flit_engine::{Conflict, ContactField, EngineError, Invalid, Unavailable};
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// Always `false`.
    pub success: bool,
    /// A human sentence.
    pub error: &'a str,
    /// A stable snake_case code.
    pub code: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// The tenant is suspended by the operator: every request of its keys answers this.
    pub fn suspended() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "account_suspended",
            "this account is suspended; contact the operator of this service",
        )
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(reason) => {
                let (code, message) = invalid(reason);
                ApiError::bad_request(code, message)
            }
            EngineError::NotFound(missing) => ApiError::not_found(&missing.to_string()),
            EngineError::Conflict(conflict) => {
                let code = match conflict {
                    Conflict::SenderIdExists(_) => "sender_id_exists",
                    Conflict::ContactExists { .. } => "contact_exists",
                    Conflict::GroupExists(_) => "group_exists",
                    Conflict::TemplateExists(_) => "template_exists",
                    Conflict::SystemIdExists(_) => "system_id_exists",
                    Conflict::EmailExists(_) => "email_exists",
                    Conflict::DeliveryPending => "delivery_pending",
                    Conflict::TenantActive => {
                        return ApiError::new(
                            StatusCode::CONFLICT,
                            "tenant_active",
                            "the tenant is active: suspend it first \
                             (POST /admin/v1/tenants/{id}/suspend), then delete it",
                        );
                    }
                    Conflict::NotCancellable => {
                        return ApiError::new(
                            StatusCode::CONFLICT,
                            "not_cancellable",
                            "the message has nothing left to cancel: every recipient was already \
                             handed to a carrier, delivered, failed or cancelled",
                        );
                    }
                };
                ApiError::new(StatusCode::CONFLICT, code, conflict.to_string())
            }
            EngineError::InsufficientCredits { required, balance } => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("Insufficient credits: {required} required, {balance} available"),
            ),
            EngineError::Suspended => ApiError::suspended(),
            EngineError::IdempotencyConflict => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request body",
            ),
            EngineError::Unavailable(reason) => ApiError::unavailable(match reason {
                Unavailable::TenantRestarting => {
                    "the tenant's account is restarting; retry shortly".to_string()
                }
                Unavailable::Interrupted => "the work was interrupted; retry shortly".to_string(),
                Unavailable::NoDevice => "No devices available to send SMS".to_string(),
                Unavailable::Supervisor(error) => {
                    tracing::error!(%error, "an actor could not be started");
                    "a part of Flit is restarting; retry shortly".to_string()
                }
            }),
            // The reason names internal actors: it is for operators, on `GET /health`. Nothing
            // comes back in this process, so the retry is meant for after a restart.
            EngineError::Unhealthy { .. } => ApiError {
                retry_after: Some(30),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "engine_unhealthy",
                    "Flit is unhealthy and refuses sends until it is restarted; \
                     GET /health says why",
                )
            },
            error @ EngineError::BacklogFull { .. } => ApiError {
                retry_after: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backlog_full",
                    error.to_string(),
                )
            },
            EngineError::Storage(error) => {
                tracing::error!(%error, "storage failure");
                ApiError::unavailable("storage is unavailable; retry shortly")
            }
            // A server always gives the engine its key, and a wrong one stops the start.
            EngineError::SecretKey(error) => {
                tracing::error!(%error, "secret key");
                ApiError::unavailable("the secret key is unavailable; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            error: &self.message,
            code: self.code,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The native dialect's code and sentence for a broken rule: the sentence names the request's
/// JSON fields, which only the API knows.
fn invalid(reason: Invalid) -> (&'static str, String) {
    use Invalid::*;
    match reason {
        TenantName | BindName => ("invalid_name", "`name` must not be empty".into()),
        Price { max } => (
            "invalid_price",
            format!("`pricePerPart` must be between 0 and {max}"),
        ),
        CreditKind => ("invalid_type", "USAGE transactions come from sends only".into()),
        CreditAmount { max } => (
            "invalid_amount",
            format!(
                "`amount` must be positive (only ADJUSTMENT may be negative) and at most {max} in size"
            ),
        ),
        AmountOutOfRange => (
            "invalid_amount",
            "the amount would leave the representable range".into(),
        ),
        SenderIdForm => (
            "invalid_sender_id",
            "a sender ID is up to 11 letters and digits, or a phone number of up to 15 digits"
                .into(),
        ),
        TooManySenderIds { max } => (
            "too_many_sender_ids",
            format!("`senderIds` lists at most {max} sender IDs"),
        ),
        UnknownSenderId(name) => (
            "invalid_sender_id",
            format!("sender ID `{name}` is not one of your approved sender IDs"),
        ),
        NoSenderId => (
            "no_sender_id",
            "this account has no approved sender ID yet; ask the operator to add one".into(),
        ),
        EmptyMessage => ("missing_message", "`message` must not be empty".into()),
        MessageTooLong(error) => ("message_too_long", error.to_string()),
        MissingVariable(name) => (
            "missing_variable",
            format!("the text uses `{{{{{name}}}}}` but no value was given for it in `variables`"),
        ),
        UnfilledVariable(name) => ("missing_variable", format!("no value for `{{{{{name}}}}}`")),
        TooManyNumbers { given, max } => (
            "too_many_recipients",
            format!("{given} recipients given; at most {max} per request"),
        ),
        TooManyRecipients { max } => (
            "too_many_recipients",
            format!("a send may reach at most {max} recipients"),
        ),
        NoRecipients => (
            "missing_recipients",
            "give at least one recipient (recipients, groupId, groupIds, contactIds or sendToAllContacts)"
                .into(),
        ),
        NoValidRecipients(invalid) => (
            "no_valid_recipients",
            format!(
                "none of the recipients is a valid phone number: {}",
                invalid.join(", ")
            ),
        ),
        CampaignName { max } => (
            "invalid_campaign_name",
            format!("`campaignName` may be at most {max} characters"),
        ),
        RecipientCount { max } => (
            "invalid_recipient_count",
            format!("`recipientCount` must be between 1 and {max}"),
        ),
        ScheduleInPast => (
            "invalid_schedule_date",
            "`scheduleDate` must be in the future".into(),
        ),
        ScheduleTooFar => (
            "invalid_schedule_date",
            "`scheduleDate` may be at most one year ahead".into(),
        ),
        ContactName { field, max } => {
            let field = match field {
                ContactField::FirstName => "firstName",
                ContactField::LastName => "lastName",
            };
            (
                "invalid_name",
                format!("`{field}` may be at most {max} characters"),
            )
        }
        Email { max } => (
            "invalid_email",
            format!("`email` must look like name@example.com and be at most {max} characters"),
        ),
        Phone(error) => ("invalid_phone", format!("`phone` is not usable: {error}")),
        GroupName { max } | TemplateName { max } => (
            "invalid_name",
            format!("`name` must be 1 to {max} characters"),
        ),
        MembershipIds { max } => (
            "invalid_contact_ids",
            format!("`contactIds` must hold 1 to {max} contact ids"),
        ),
        TooManyContacts { given, max } => (
            "too_many_contacts",
            format!("{given} contacts given; at most {max} per import"),
        ),
        TemplateContent { max } => (
            "invalid_content",
            format!("`content` must be 1 to {max} characters"),
        ),
        BindAddress => (
            "invalid_address",
            "`host` and a non-zero `port` are required".into(),
        ),
        SystemId => (
            "invalid_system_id",
            "`systemId` must be 1 to 15 characters".into(),
        ),
        Password => (
            "invalid_password",
            "`password` may be at most 8 ASCII characters (SMPP 3.4)".into(),
        ),
        SystemType => (
            "invalid_system_type",
            "`systemType` may be at most 12 characters".into(),
        ),
        WindowSize { max } => (
            "invalid_window_size",
            format!("`windowSize` must be from 1 to {max}"),
        ),
        RoutePrefix => (
            "invalid_prefix",
            "`prefix` must be up to 15 digits of the international number (\"\" = every number)"
                .into(),
        ),
        RouteWithoutBinds => (
            "missing_binds",
            "`bindIds` must name at least one bind".into(),
        ),
        RouteWeights => (
            "invalid_weights",
            "`weights` must have one weight per bind".into(),
        ),
        SmppSystemId { max } => (
            "invalid_system_id",
            format!("`systemId` must be 1 to {max} printable ASCII characters, without spaces"),
        ),
        SmppPassword { max } => (
            "invalid_password",
            format!("`password` must be 1 to {max} printable ASCII characters (SMPP 3.4)"),
        ),
        SmppMaxBinds { max } => (
            "invalid_max_binds",
            format!("`maxBinds` must be from 1 to {max}"),
        ),
        SmppTps { max } => (
            "invalid_tps",
            format!("`tps` must be from 0 (unlimited) to {max}"),
        ),
        UserEmail { max } => (
            "invalid_email",
            format!("`email` must be an address of up to {max} characters"),
        ),
        UserPassword { min, max } => (
            "invalid_password",
            format!("`password` must be {min} to {max} characters"),
        ),
        TooManyUsers { max } => (
            "too_many_users",
            format!("a tenant has at most {max} users"),
        ),
        WebhookUrl(why) => ("invalid_url", format!("`url` {why}")),
        NoWebhookEvents => (
            "invalid_events",
            "`events` must name at least one event".into(),
        ),
        UnknownEvent(name, known) => (
            "invalid_events",
            format!("unknown event `{name}` in `events`; events are {known}"),
        ),
        TooManyDevices { max } => (
            "too_many_devices",
            format!("a tenant may pair at most {max} phones"),
        ),
        DeviceName { max } => (
            "invalid_name",
            format!("`name` may be at most {max} characters"),
        ),
        SimNumber => ("invalid_sim", "`simNumber` is 1, 2 or 3".into()),
        DeviceLimits { max } => (
            "invalid_limits",
            format!("`limits.perMinute`, `perHour` and `perDay` are each 0 (no limit) to {max}"),
        ),
        TooManyWebhooks { max } => (
            "too_many_webhooks",
            format!("a tenant may have at most {max} webhooks"),
        ),
    }
}
