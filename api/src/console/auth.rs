//! Who is looking at a console page: the session cookie read into a [`Viewer`], the role
//! each page asks for, the CSRF token every form must carry, and the sign-in rate limit.
//!
//! The cookie holds a random token (`HttpOnly`, `SameSite=Lax`, `Secure` under https, path
//! `/console`); the store keeps only its SHA-256 (`Engine::session`). A form posts its
//! session's CSRF token as `_csrf`; a form without it, or with another session's, is refused
//! with 403 before anything else is read.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use dashmap::DashMap;
use flit_engine::ids::TenantId;
use flit_engine::{Role, UserRecord};

use super::page::{Problem, problem};
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "flit_session";

/// A signed-in person looking at a page.
#[derive(Clone)]
pub struct Viewer {
    pub user: UserRecord,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    /// The cookie's token (to end this session at sign-out).
    pub token: String,
}

impl Viewer {
    /// The tenant whose pages this person sees (`None` for an operator).
    pub fn tenant(&self) -> Option<TenantId> {
        self.user.tenant
    }

    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Checks the `_csrf` a form posted against the session's, in constant time.
    pub fn check_csrf(&self, posted: Option<&str>) -> Result<(), Problem> {
        let matches = posted.is_some_and(|posted| {
            flit_engine::secrets::constant_time_eq(
                &flit_engine::secrets::sha256(posted.as_bytes()),
                &flit_engine::secrets::sha256(self.csrf.as_bytes()),
            )
        });
        if matches {
            Ok(())
        } else {
            Err(problem(
                axum::http::StatusCode::FORBIDDEN,
                "This form has expired or did not come from this console. Go back, reload the page and try again.",
            ))
        }
    }
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Not signed in: to the sign-in page, coming back here after.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String = url_escape(&self.0);
        Redirect::to(&format!("/console/login?next={next}")).into_response()
    }
}

/// Percent-encodes what may go in a query parameter.
pub fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let here = parts
            .uri
            .path_and_query()
            .map_or("/console", |p| p.as_str())
            .to_string();
        let token = token_of(&parts.headers).ok_or_else(|| SignInFirst(here.clone()))?;
        match state.engine.session(&token) {
            Ok(Some((user, session))) => {
                // A suspended tenant's people are signed out of its pages.
                if let Some(tenant) = user.tenant
                    && state
                        .engine
                        .tenant(tenant)
                        .is_none_or(|_| state.engine.is_suspended(tenant))
                {
                    return Err(SignInFirst(here));
                }
                Ok(Viewer {
                    user,
                    csrf: session.csrf,
                    token,
                })
            }
            _ => Err(SignInFirst(here)),
        }
    }
}

impl OptionalFromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Viewer as FromRequestParts<_>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// A tenant's person (admin or member): the tenant pages.
pub struct TenantViewer(pub Viewer, pub TenantId);

/// A tenant's admin: keys, webhooks and users.
pub struct AdminViewer(pub Viewer, pub TenantId);

/// An operator: the operator pages.
pub struct OperatorViewer(pub Viewer);

/// Signed in, but this page is not for this person: 403, never another tenant's data.
pub enum Refused {
    SignIn(SignInFirst),
    Forbidden(Problem),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn(sign_in) => sign_in.into_response(),
            Refused::Forbidden(problem) => problem.into_response(),
        }
    }
}

fn forbidden() -> Refused {
    Refused::Forbidden(problem(
        axum::http::StatusCode::FORBIDDEN,
        "This page is not yours to see.",
    ))
}

impl FromRequestParts<Arc<AppState>> for TenantViewer {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let viewer = <Viewer as FromRequestParts<_>>::from_request_parts(parts, state)
            .await
            .map_err(Refused::SignIn)?;
        let tenant = viewer.tenant().ok_or_else(forbidden)?;
        Ok(TenantViewer(viewer, tenant))
    }
}

impl FromRequestParts<Arc<AppState>> for AdminViewer {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let TenantViewer(viewer, tenant) =
            <TenantViewer as FromRequestParts<_>>::from_request_parts(parts, state).await?;
        if !viewer.is_admin() {
            return Err(forbidden());
        }
        Ok(AdminViewer(viewer, tenant))
    }
}

impl FromRequestParts<Arc<AppState>> for OperatorViewer {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let viewer = <Viewer as FromRequestParts<_>>::from_request_parts(parts, state)
            .await
            .map_err(Refused::SignIn)?;
        if viewer.user.role != Role::Operator {
            return Err(forbidden());
        }
        Ok(OperatorViewer(viewer))
    }
}

/// The `Set-Cookie` of a new session (`max_age` seconds), or of its end (`0`).
pub fn session_cookie(token: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Failed sign-ins allowed per email, and per address, within [`WINDOW`].
pub const FAILURES_PER_EMAIL: usize = 5;
pub const FAILURES_PER_ADDRESS: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed sign-ins in the last [`WINDOW`], by email and by address: past their limit, a
/// sign-in is refused before the password is even checked.
#[derive(Default)]
pub struct SignInLimiter {
    by_email: DashMap<String, Arc<Mutex<VecDeque<Instant>>>>,
    by_address: DashMap<IpAddr, Arc<Mutex<VecDeque<Instant>>>>,
}

fn recent(failures: &Mutex<VecDeque<Instant>>, now: Instant) -> usize {
    let mut failures = failures.lock().unwrap_or_else(|p| p.into_inner());
    while failures
        .front()
        .is_some_and(|at| now.duration_since(*at) >= WINDOW)
    {
        failures.pop_front();
    }
    failures.len()
}

impl SignInLimiter {
    /// How long until `email` from `address` may try again, if it may not now.
    pub fn blocked(&self, email: &str, address: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let wait = |failures: &Mutex<VecDeque<Instant>>, limit: usize| {
            (recent(failures, now) >= limit).then(|| {
                let oldest = failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .front()
                    .copied();
                oldest.map_or(WINDOW, |at| WINDOW.saturating_sub(now.duration_since(at)))
            })
        };
        let by_email = self
            .by_email
            .get(email)
            .and_then(|f| wait(&f, FAILURES_PER_EMAIL));
        let by_address = address
            .and_then(|a| self.by_address.get(&a))
            .and_then(|f| wait(&f, FAILURES_PER_ADDRESS));
        by_email.max(by_address)
    }

    pub fn failed(&self, email: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let push = |failures: &Arc<Mutex<VecDeque<Instant>>>| {
            failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(now);
        };
        push(&self.by_email.entry(email.to_string()).or_default());
        if let Some(address) = address {
            push(&self.by_address.entry(address).or_default());
        }
    }

    pub fn succeeded(&self, email: &str) {
        self.by_email.remove(email);
    }
}
