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

/// Whether the console is reached over https: Flit serves it (`[tls]`), or a proxy in front
/// of it does (`devices.public_url` is https). Its cookies are `Secure` then.
pub fn secure(state: &AppState) -> bool {
    state.tls
        || state
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
}

/// Refuses a form posted from another site: a browser says where a POST comes from
/// (`Sec-Fetch-Site`, `Origin`), and a sign-in or a setup posted by another site's page would
/// sign the person in as somebody else.
pub fn same_site(headers: &HeaderMap) -> Result<(), Problem> {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|origin| *origin != "null")
        .zip(host)
        .is_some_and(|(origin, host)| origin.split_once("://").map(|(_, rest)| rest) != Some(host));
    if cross_site || foreign_origin {
        return Err(problem(
            axum::http::StatusCode::FORBIDDEN,
            "This form was posted from another site.",
        ));
    }
    Ok(())
}

/// The `Set-Cookie` of a new session (`max_age` seconds), or of its end (`0`).
pub fn session_cookie(token: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Failed sign-ins allowed within [`WINDOW`]: per email from one address, per address, and per
/// email from anywhere (the last high, so that nobody can lock a person out from afar with a
/// few guesses, and still bounded).
pub const FAILURES_PER_EMAIL_AND_ADDRESS: usize = 5;
pub const FAILURES_PER_ADDRESS: usize = 20;
pub const FAILURES_PER_EMAIL: usize = 100;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries kept before the idle ones are swept out.
const SWEEP_AT: usize = 10_000;

type Failures = Arc<Mutex<VecDeque<Instant>>>;

/// Sign-in attempts in the last [`WINDOW`]. An attempt is counted *before* its password is
/// checked (and taken back if it succeeds), so attempts sent at once cannot all slip under
/// the limit while the checks run.
#[derive(Default)]
pub struct SignInLimiter {
    by_email_and_address: DashMap<(String, Option<IpAddr>), Failures>,
    by_address: DashMap<IpAddr, Failures>,
    by_email: DashMap<String, Failures>,
}

fn recent(failures: &Mutex<VecDeque<Instant>>, now: Instant) -> (usize, Option<Instant>) {
    let mut failures = failures.lock().unwrap_or_else(|p| p.into_inner());
    while failures
        .front()
        .is_some_and(|at| now.duration_since(*at) >= WINDOW)
    {
        failures.pop_front();
    }
    (failures.len(), failures.front().copied())
}

/// Counts one attempt in `failures` unless it is at `limit`; the wait otherwise.
fn take(failures: &Failures, limit: usize, now: Instant) -> Result<(), Duration> {
    let (count, oldest) = recent(failures, now);
    if count >= limit {
        return Err(oldest.map_or(WINDOW, |at| WINDOW.saturating_sub(now.duration_since(at))));
    }
    failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(now);
    Ok(())
}

fn give_back(failures: Option<Failures>) {
    if let Some(failures) = failures {
        failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_back();
    }
}

fn sweep<K: std::hash::Hash + Eq + Clone>(map: &DashMap<K, Failures>, now: Instant) {
    if map.len() >= SWEEP_AT {
        map.retain(|_, failures| recent(failures, now).0 > 0);
    }
}

impl SignInLimiter {
    /// Counts an attempt of `email` from `address`, or says how long until one may be made.
    pub fn attempt(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        sweep(&self.by_email_and_address, now);
        sweep(&self.by_address, now);
        sweep(&self.by_email, now);
        let pair = self
            .by_email_and_address
            .entry((email.to_string(), address))
            .or_default()
            .clone();
        take(&pair, FAILURES_PER_EMAIL_AND_ADDRESS, now)?;
        let by_address = address.map(|a| self.by_address.entry(a).or_default().clone());
        if let Some(failures) = &by_address
            && let Err(wait) = take(failures, FAILURES_PER_ADDRESS, now)
        {
            give_back(Some(pair));
            return Err(wait);
        }
        let by_email = self.by_email.entry(email.to_string()).or_default().clone();
        if let Err(wait) = take(&by_email, FAILURES_PER_EMAIL, now) {
            give_back(Some(pair));
            give_back(by_address);
            return Err(wait);
        }
        Ok(())
    }

    /// The attempt just counted succeeded: the email's failures from that address are
    /// forgotten, and the attempt is taken back from the others.
    pub fn succeeded(&self, email: &str, address: Option<IpAddr>) {
        self.by_email_and_address
            .remove(&(email.to_string(), address));
        give_back(address.and_then(|a| self.by_address.get(&a).map(|f| f.clone())));
        give_back(self.by_email.get(email).map(|f| f.clone()));
    }
}
