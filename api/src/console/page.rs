//! What every console page shares: the frame around it (`Chrome`: title, navigation for the
//! viewer's role, the signed-in person, the CSRF token for the sign-out forms), rendering a
//! template into an answer, and the page a refusal or an error is shown as.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use flit_engine::Role;

use super::auth::Viewer;

/// One link of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame of a signed-in page.
pub struct Chrome {
    pub title: String,
    pub email: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: Vec<NavItem>,
}

/// The tenant pages every member sees, then those only its admins do.
const TENANT_PAGES: &[(&str, &str)] = &[
    ("/console/overview", "Overview"),
    ("/console/send", "Send"),
    ("/console/history", "History"),
    ("/console/contacts", "Contacts"),
    ("/console/groups", "Groups"),
    ("/console/templates", "Templates"),
    ("/console/sender-ids", "Sender IDs"),
    ("/console/devices", "Devices"),
    ("/console/inbound", "Inbound"),
    ("/console/transactions", "Transactions"),
];
const ADMIN_PAGES: &[(&str, &str)] = &[
    ("/console/keys", "API keys"),
    ("/console/webhooks", "Webhooks"),
    ("/console/users", "Users"),
];
const OPERATOR_PAGES: &[(&str, &str)] = &[
    ("/console/op/tenants", "Tenants"),
    ("/console/op/binds", "Binds & routes"),
    ("/console/op/smpp", "SMPP accounts"),
    ("/console/op/health", "Health"),
];

impl Chrome {
    /// The frame for `viewer` on the page at `here`.
    pub fn new(viewer: &Viewer, title: impl Into<String>, here: &str) -> Chrome {
        let pages: Vec<&(&str, &str)> = match viewer.user.role {
            Role::Operator => OPERATOR_PAGES.iter().collect(),
            Role::Admin => TENANT_PAGES.iter().chain(ADMIN_PAGES).collect(),
            Role::Member => TENANT_PAGES.iter().collect(),
        };
        Chrome {
            title: title.into(),
            email: viewer.user.email.clone(),
            role: viewer.user.role.as_str(),
            csrf: viewer.csrf.clone(),
            nav: pages
                .into_iter()
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    current: here.starts_with(href),
                })
                .collect(),
        }
    }
}

/// Renders `template` as an HTML answer (a template that fails to render is a bug: 500).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
                ),
            ],
            Html(html),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a console page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be drawn").into_response()
        }
    }
}

/// An error shown as a page of its own.
#[derive(Template)]
#[template(path = "console/problem.html")]
pub struct ProblemPage {
    pub status: u16,
    pub message: String,
}

pub struct Problem {
    status: StatusCode,
    message: String,
}

pub fn problem(status: StatusCode, message: impl Into<String>) -> Problem {
    Problem {
        status,
        message: message.into(),
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = render(&ProblemPage {
            status: self.status.as_u16(),
            message: self.message,
        });
        *response.status_mut() = self.status;
        response
    }
}

impl From<flit_engine::EngineError> for Problem {
    fn from(error: flit_engine::EngineError) -> Problem {
        let api = crate::error::ApiError::from(error);
        problem(api.status, api.message)
    }
}

/// One checkbox of a fixed list (an API key's scopes, a webhook's events).
pub struct Checkbox {
    pub name: &'static str,
    pub checked: bool,
}

/// A box per name, ticked when `ticked` (what a refused form posted) has it, or every box
/// when there is nothing posted yet.
pub fn checkboxes(
    names: impl IntoIterator<Item = &'static str>,
    ticked: Option<&[String]>,
) -> Vec<Checkbox> {
    names
        .into_iter()
        .map(|name| Checkbox {
            name,
            checked: ticked.is_none_or(|ticked| ticked.iter().any(|t| t == name)),
        })
        .collect()
}

/// Figures as people read them: `12,345`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// A time as the console shows it: `2026-12-06 14:51 UTC`.
pub fn when(at: i64) -> String {
    let iso = crate::timefmt::iso(at);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// Renders `template` with `status` (a form shown again with what was wrong with it).
pub fn render_status(status: StatusCode, template: &impl Template) -> Response {
    let mut response = render(template);
    if response.status().is_success() {
        *response.status_mut() = status;
    }
    response
}

/// An engine error as a form's problem: the status and the sentence the API would answer.
pub fn refusal(error: flit_engine::EngineError) -> (StatusCode, String) {
    let api = crate::error::ApiError::from(error);
    (api.status, api.message)
}

/// Post/Redirect/Get: back to `path` (303), with a `notice` code its page knows.
pub fn back(path: &str, notice: &str) -> Response {
    axum::response::Redirect::to(&format!("{path}?notice={notice}")).into_response()
}

/// The fixed message of a `?notice=` code among a page's `known` ones; any other text is
/// ignored, so a link can never make a page say what it likes.
pub fn notice(code: Option<&str>, known: &[(&str, &'static str)]) -> Option<&'static str> {
    let code = code?;
    known
        .iter()
        .find(|(name, _)| *name == code)
        .map(|(_, message)| *message)
}

/// `total` items at `per_page` a page: how many pages (at least one).
pub fn pages(total: u64, per_page: u32) -> u64 {
    total.div_ceil(u64::from(per_page)).max(1)
}
