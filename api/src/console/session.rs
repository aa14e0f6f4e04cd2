//! Signing in and out. A sign-in is refused alike for an unknown email and a wrong password
//! (both take an argon2id check), and refused before any check once the email or the address
//! failed too often lately (`SignInLimiter`). A person of a suspended tenant cannot sign in.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Viewer, session_cookie};
use super::form::Fields;
use super::page::{Problem, render};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only a path inside the console may be come back to (never another site), in visible ASCII
/// (a redirect's header holds nothing else).
fn safe_next(next: Option<&str>) -> String {
    next.filter(|next| {
        next.starts_with("/console")
            && !next.starts_with("//")
            && next.bytes().all(|b| b.is_ascii_graphic())
    })
    .unwrap_or("/console")
    .to_string()
}

pub async fn login_page(viewer: Option<Viewer>, Query(query): Query<LoginQuery>) -> Response {
    if viewer.is_some() {
        return Redirect::to(&safe_next(query.next.as_deref())).into_response();
    }
    render(&LoginPage {
        next: safe_next(query.next.as_deref()),
        email: String::new(),
        error: None,
    })
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    super::auth::same_site(&headers)?;
    let fields = Fields::read(&body)?;
    let email = flit_engine::normalise_email(&fields.text("email"));
    let next = safe_next(fields.get("next"));
    let address = connect.map(|Extension(ConnectInfo(peer))| peer.ip());
    let refuse = |status: StatusCode, error: String| {
        let mut page = render(&LoginPage {
            next: next.clone(),
            email: email.clone(),
            error: Some(error),
        });
        *page.status_mut() = status;
        page
    };
    if email.chars().count() > flit_engine::MAX_USER_EMAIL_CHARS {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "That email and password do not match.".to_string(),
        ));
    }
    if let Err(wait) = state.sign_ins.attempt(&email, address) {
        metrics::counter!("flit_console_sign_ins_total", "result" => "limited").increment(1);
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed attempts. Try again in {minutes} minute(s)."),
        ));
    }
    let password = fields.get("password").unwrap_or_default();
    let user = state.engine.check_password(&email, password).await?;
    let Some(user) = user else {
        metrics::counter!("flit_console_sign_ins_total", "result" => "refused").increment(1);
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "That email and password do not match.".to_string(),
        ));
    };
    if let Some(tenant) = user.tenant
        && state.engine.is_suspended(tenant)
    {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "This account is suspended; contact the operator of this service.".to_string(),
        ));
    }
    state.sign_ins.succeeded(&email, address);
    let session = state.engine.start_session(&user).await?;
    metrics::counter!("flit_console_sign_ins_total", "result" => "signed_in").increment(1);
    let cookie = session_cookie(
        &session.token,
        flit_engine::SESSION_LIFETIME.as_secs(),
        super::auth::secure(&state),
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

fn signed_out(state: &AppState) -> Response {
    (
        [(
            header::SET_COOKIE,
            session_cookie("", 0, super::auth::secure(state)),
        )],
        Redirect::to("/console/login"),
    )
        .into_response()
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    state.engine.end_session(&viewer.token).await?;
    Ok(signed_out(&state))
}

pub async fn logout_everywhere(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    state.engine.end_sessions(viewer.user.id).await?;
    Ok(signed_out(&state))
}
