//! Console users through `/admin/v1/tenants/{id}/users` and operators through
//! `/admin/v1/operators` (SPEC §13): created, listed, deleted; emails unique across tenants
//! and operators, compared without case; the password's rules; no password or hash in any
//! answer; another tenant's user out of reach.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, TestApp, assert_error};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn users_and_operators_are_created_listed_and_deleted() {
    let app = TestApp::start().await;
    let (tenant, _) = app.tenant(0, None).await;
    let (other, _) = app.tenant(0, None).await;
    let path = format!("/tenants/{tenant}/users");

    let created = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"email": " Ama@Acme.Example ", "password": PASSWORD, "role": "admin"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let data = &created.body["data"];
    assert_eq!(
        data["email"], "ama@acme.example",
        "stored lowercase, trimmed"
    );
    assert_eq!(
        (data["role"].as_str(), data["tenantId"].as_str()),
        (Some("admin"), Some(tenant.as_str()))
    );
    let id = data["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("usr_"));
    let text = created.body.to_string();
    assert!(
        !text.contains(PASSWORD) && !text.contains("argon2"),
        "{text}"
    );

    let member = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"email": "kofi@acme.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(member.body["data"]["role"], "member", "the default role");

    let taken = app
        .admin(
            Method::POST,
            &format!("/tenants/{other}/users"),
            Some(json!({"email": "AMA@acme.example", "password": PASSWORD})),
        )
        .await;
    assert_error(
        &taken,
        StatusCode::CONFLICT,
        "email_exists",
        "emails are unique across tenants",
    );
    let short = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"email": "x@acme.example", "password": "short"})),
        )
        .await;
    assert_error(
        &short,
        StatusCode::BAD_REQUEST,
        "invalid_password",
        "10 characters at least",
    );
    let bad = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"email": "not an email", "password": PASSWORD})),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_email", "an address");
    let role = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"email": "y@acme.example", "password": PASSWORD, "role": "operator"})),
        )
        .await;
    assert_error(
        &role,
        StatusCode::BAD_REQUEST,
        "invalid_role",
        "admin or member",
    );

    let listed = app.admin(Method::GET, &path, None).await;
    let emails: Vec<&str> = listed.body["data"]["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, ["ama@acme.example", "kofi@acme.example"]);
    let theirs = app
        .admin(Method::GET, &format!("/tenants/{other}/users"), None)
        .await;
    assert_eq!(theirs.body["data"]["users"], json!([]));

    let wrong_tenant = app
        .admin(
            Method::DELETE,
            &format!("/tenants/{other}/users/{id}"),
            None,
        )
        .await;
    assert_eq!(wrong_tenant.status, StatusCode::NOT_FOUND);
    let deleted = app
        .admin(Method::DELETE, &format!("{path}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let again = app
        .admin(
            Method::POST,
            &format!("/tenants/{other}/users"),
            Some(json!({"email": "ama@acme.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "the email is free again");

    let operator = app
        .admin(
            Method::POST,
            "/operators",
            Some(json!({"email": "ops@flit.example", "password": PASSWORD, "role": "member"})),
        )
        .await;
    assert_eq!(operator.status, StatusCode::CREATED, "{}", operator.body);
    assert_eq!(operator.body["data"]["role"], "operator");
    assert!(operator.body["data"].get("tenantId").is_none());
    let operators = app.admin(Method::GET, "/operators", None).await;
    assert_eq!(
        operators.body["data"]["users"].as_array().map(Vec::len),
        Some(1)
    );
    let op_id = operator.body["data"]["id"].as_str().expect("id");
    let as_user = app
        .admin(Method::DELETE, &format!("{path}/{op_id}"), None)
        .await;
    assert_eq!(
        as_user.status,
        StatusCode::NOT_FOUND,
        "an operator is no tenant's user"
    );
    let gone = app
        .admin(Method::DELETE, &format!("/operators/{op_id}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::OK);
}
