//! `/console/setup?token=…`: the first operator account, made from the one-time link the
//! server logs at a start with no operator (`bootstrap::operator_setup`). The page asks for
//! an email and a password twice; the post makes the account with the token
//! (`Engine::finish_operator_setup`, which closes the link in the same write) and signs the
//! new operator in. A wrong, used or expired token is refused with 403. No session exists yet
//! to carry a CSRF token: the link's own secret token is what a forged form cannot know.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use flit_engine::{NewUser, Role};
use serde::Deserialize;

use super::auth::session_cookie;
use super::form::Fields;
use super::page::{Problem, problem, render};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage {
    token: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
}

fn closed() -> Problem {
    problem(
        StatusCode::FORBIDDEN,
        "This setup link does not work: it was used already, it expired, or it was mistyped. \
         Make an operator account with `flit admin operators create`, or restart Flit while no \
         operator exists for a new link.",
    )
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SetupQuery>,
) -> Result<Response, Problem> {
    let token = query.token.unwrap_or_default();
    if !state.engine.operator_setup_open(&token)? {
        return Err(closed());
    }
    Ok(render(&SetupPage {
        token,
        email: String::new(),
        error: None,
    }))
}

pub async fn finish(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    super::auth::same_site(&headers)?;
    let fields = Fields::read(&body)?;
    let token = fields.text("token");
    let email = fields.text("email");
    let password = fields.get("password").unwrap_or_default().to_string();
    let again = |status: StatusCode, error: String| {
        let mut page = render(&SetupPage {
            token: token.clone(),
            email: email.clone(),
            error: Some(error),
        });
        *page.status_mut() = status;
        page
    };
    if !state.engine.operator_setup_open(&token)? {
        return Err(closed());
    }
    let repeated = flit_engine::secrets::secret_matches(
        fields.get("repeat").unwrap_or_default().as_bytes(),
        &flit_engine::secrets::sha256(password.as_bytes()),
    );
    if !repeated {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "The two passwords differ.".to_string(),
        ));
    }
    let made = state
        .engine
        .finish_operator_setup(
            &token,
            NewUser {
                email: email.clone(),
                password,
                role: Role::Operator,
            },
        )
        .await;
    let user = match made {
        Ok(Some(user)) => user,
        Ok(None) => return Err(closed()),
        Err(error) => {
            let api = crate::error::ApiError::from(error);
            return Ok(again(api.status, api.message));
        }
    };
    tracing::info!(email = %user.email, "the first operator account was made from the setup link");
    let session = state.engine.start_session(&user).await?;
    let cookie = session_cookie(
        &session.token,
        flit_engine::SESSION_LIFETIME.as_secs(),
        super::auth::secure(&state),
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/op/tenants"),
    )
        .into_response())
}
