//! Users (admins only): the tenant's people and their roles; one invited with an email, a
//! first password to hand over and a role (`Engine::create_user`, its checks); one removed,
//! which ends their sessions. Nobody removes themselves here, so a tenant always keeps the
//! admin doing it.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use flit_engine::ids::{TenantId, UserId};
use flit_engine::{Engine, NewUser, Role};
use serde::Deserialize;

use crate::console::auth::{AdminViewer, Viewer};
use crate::console::form::Fields;
use crate::console::page::{
    Chrome, Problem, back, notice, problem, refusal, render, render_status, when,
};
use crate::state::AppState;

const HERE: &str = "/console/users";

const NOTICES: &[(&str, &str)] = &[
    (
        "invited",
        "User added: give them the console's address, their email and the password you chose.",
    ),
    ("removed", "User removed and signed out everywhere."),
];

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

pub struct Row {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub created: String,
    pub me: bool,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage {
    chrome: Chrome,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<Row>,
    email: String,
    admin: bool,
    min_password: usize,
}

fn users_page(engine: &Engine, viewer: &Viewer, tenant: TenantId) -> Result<UsersPage, Problem> {
    Ok(UsersPage {
        chrome: Chrome::new(viewer, "Users", HERE),
        notice: None,
        error: None,
        rows: engine
            .users(tenant)?
            .into_iter()
            .map(|user| Row {
                id: user.id.to_string(),
                me: user.id == viewer.user.id,
                email: user.email,
                role: user.role.as_str(),
                created: when(user.created_at),
            })
            .collect(),
        email: String::new(),
        admin: false,
        min_password: flit_engine::MIN_USER_PASSWORD_CHARS,
    })
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, Problem> {
    let mut page = users_page(&state.engine, &viewer, tenant)?;
    page.notice = notice(query.notice.as_deref(), NOTICES).map(str::to_string);
    Ok(render(&page))
}

pub async fn invite(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = Fields::checked(&viewer, &body)?;
    let email = fields.text("email");
    let admin = fields.text("role") == "admin";
    let new = NewUser {
        email: email.clone(),
        password: fields.get("password").unwrap_or_default().to_string(),
        role: if admin { Role::Admin } else { Role::Member },
    };
    match state.engine.create_user(Some(tenant), new).await {
        Ok(_) => Ok(back(HERE, "invited")),
        Err(error) => {
            let (status, message) = refusal(error);
            let mut page = users_page(&state.engine, &viewer, tenant)?;
            page.error = Some(message);
            page.email = email;
            page.admin = admin;
            Ok(render_status(status, &page))
        }
    }
}

pub async fn remove(
    State(state): State<Arc<AppState>>,
    AdminViewer(viewer, tenant): AdminViewer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    Fields::checked(&viewer, &body)?;
    let id: UserId = id
        .parse()
        .map_err(|_| problem(StatusCode::NOT_FOUND, "No such user."))?;
    if id == viewer.user.id {
        let mut page = users_page(&state.engine, &viewer, tenant)?;
        page.error = Some("You cannot remove yourself; another admin can.".to_string());
        return Ok(render_status(StatusCode::CONFLICT, &page));
    }
    state.engine.delete_user(Some(tenant), id).await?;
    Ok(back(HERE, "removed"))
}
