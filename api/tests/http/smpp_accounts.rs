//! A tenant's SMPP accounts through `/admin/v1/tenants/{id}/smpp-accounts` (SPEC §14):
//! created with defaults or limits, listed, deleted; SMPP 3.4's limits; `systemId`s unique
//! across tenants; another tenant's account out of reach; the password in no answer; kept
//! across a restart. (Whether a bind authenticates is the engine's test.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, TestApp, TestServer, assert_error};

const PASSWORD: &str = "Pw0rd!x";

fn accounts_path(tenant: &str) -> String {
    format!("/tenants/{tenant}/smpp-accounts")
}

/// The password appears nowhere in an answer, nor does a hash of it.
fn assert_no_password(reply: &Value) {
    let text = reply.to_string();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.to_lowercase().contains("password"), "{text}");
}

#[tokio::test]
async fn accounts_are_created_with_defaults_listed_and_deleted() {
    let app = TestApp::start().await;
    let (tenant, _) = app.tenant(0, None).await;
    let path = accounts_path(&tenant);

    let created = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"systemId": "acme_esme", "password": PASSWORD})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["success"], true);
    let data = &created.body["data"];
    let id = data["id"].as_str().expect("data.id").to_string();
    assert!(id.starts_with("smp_"), "{id}");
    assert_eq!(data["tenantId"], tenant.as_str());
    assert_eq!(data["systemId"], "acme_esme");
    assert_eq!(
        (&data["maxBinds"], &data["windowSize"], &data["tps"]),
        (&json!(2), &json!(100), &json!(0)),
        "the defaults"
    );
    assert!(data["createdAt"].is_string());
    assert_no_password(&created.body);

    let limited = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"systemId": "acme_bulk", "password": "x", "maxBinds": 100, "windowSize": 1000, "tps": 100000})),
        )
        .await;
    assert_eq!(limited.status, StatusCode::CREATED, "{}", limited.body);
    assert_eq!(limited.body["data"]["maxBinds"], 100);
    assert_eq!(limited.body["data"]["windowSize"], 1000);
    assert_eq!(limited.body["data"]["tps"], 100000);

    let listed = app.admin(Method::GET, &path, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let system_ids: Vec<&str> = listed.body["data"]["smppAccounts"]
        .as_array()
        .expect("smppAccounts")
        .iter()
        .filter_map(|account| account["systemId"].as_str())
        .collect();
    assert_eq!(system_ids, ["acme_esme", "acme_bulk"], "oldest first");
    assert_no_password(&listed.body);

    let deleted = app
        .admin(Method::DELETE, &format!("{path}/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["data"], json!({"id": id, "deleted": true}));
    let listed = app.admin(Method::GET, &path, None).await;
    assert_eq!(
        listed.body["data"]["smppAccounts"].as_array().map(Vec::len),
        Some(1)
    );
    let again = app
        .admin(Method::DELETE, &format!("{path}/{id}"), None)
        .await;
    assert_error(&again, StatusCode::NOT_FOUND, "not_found", "deleted twice");

    // Its systemId is free again.
    let reused = app
        .admin(
            Method::POST,
            &path,
            Some(json!({"systemId": "acme_esme", "password": "new"})),
        )
        .await;
    assert_eq!(reused.status, StatusCode::CREATED, "{}", reused.body);
}

#[tokio::test]
async fn smpp_limits_are_refused_with_clear_errors() {
    let app = TestApp::start().await;
    let path = accounts_path(app.tenant_id());
    for (body, code) in [
        (json!({"password": "pw"}), "missing_system_id"),
        (json!({"systemId": "esme"}), "missing_password"),
        (
            json!({"systemId": "", "password": "pw"}),
            "invalid_system_id",
        ),
        (
            json!({"systemId": "sixteen_chars___", "password": "pw"}),
            "invalid_system_id",
        ),
        (
            json!({"systemId": "with space", "password": "pw"}),
            "invalid_system_id",
        ),
        (
            json!({"systemId": "café", "password": "pw"}),
            "invalid_system_id",
        ),
        (
            json!({"systemId": "esme", "password": ""}),
            "invalid_password",
        ),
        (
            json!({"systemId": "esme", "password": "ninechars"}),
            "invalid_password",
        ),
        (
            json!({"systemId": "esme", "password": "pw", "maxBinds": 0}),
            "invalid_max_binds",
        ),
        (
            json!({"systemId": "esme", "password": "pw", "maxBinds": 101}),
            "invalid_max_binds",
        ),
        (
            json!({"systemId": "esme", "password": "pw", "windowSize": 0}),
            "invalid_window_size",
        ),
        (
            json!({"systemId": "esme", "password": "pw", "windowSize": 1001}),
            "invalid_window_size",
        ),
        (
            json!({"systemId": "esme", "password": "pw", "tps": 100001}),
            "invalid_tps",
        ),
    ] {
        let reply = app.admin(Method::POST, &path, Some(body.clone())).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code, &body.to_string());
    }
    let listed = app.admin(Method::GET, &path, None).await;
    assert_eq!(listed.body["data"]["smppAccounts"], json!([]));
}

#[tokio::test]
async fn system_ids_are_unique_and_another_tenants_account_is_out_of_reach() {
    let app = TestApp::start().await;
    let (other, _) = app.tenant(0, None).await;
    let mine = app
        .admin(
            Method::POST,
            &accounts_path(app.tenant_id()),
            Some(json!({"systemId": "shared", "password": PASSWORD})),
        )
        .await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    let id = mine.body["data"]["id"].as_str().expect("id");

    // A bind names no tenant, so a systemId is taken for every tenant.
    let taken = app
        .admin(
            Method::POST,
            &accounts_path(&other),
            Some(json!({"systemId": "shared", "password": "other"})),
        )
        .await;
    assert_error(
        &taken,
        StatusCode::CONFLICT,
        "system_id_exists",
        "another tenant's systemId",
    );
    // Compared exactly, as a bind's is.
    let other_case = app
        .admin(
            Method::POST,
            &accounts_path(&other),
            Some(json!({"systemId": "SHARED", "password": "other"})),
        )
        .await;
    assert_eq!(
        other_case.status,
        StatusCode::CREATED,
        "{}",
        other_case.body
    );

    let theirs = app
        .admin(
            Method::DELETE,
            &format!("{}/{id}", accounts_path(&other)),
            None,
        )
        .await;
    assert_error(
        &theirs,
        StatusCode::NOT_FOUND,
        "not_found",
        "another tenant's account",
    );
    let listed = app
        .admin(Method::GET, &accounts_path(app.tenant_id()), None)
        .await;
    assert_eq!(
        listed.body["data"]["smppAccounts"].as_array().map(Vec::len),
        Some(1),
        "still there"
    );

    for (method, path) in [
        (Method::GET, accounts_path("ten_00000000000000000000000000")),
        (Method::GET, accounts_path("nonsense")),
        (
            Method::DELETE,
            format!("{}/smp_nonsense", accounts_path(app.tenant_id())),
        ),
        (
            Method::DELETE,
            format!(
                "{}/smp_00000000000000000000000000",
                accounts_path(app.tenant_id())
            ),
        ),
    ] {
        let reply = app.admin(method.clone(), &path, None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found", &path);
    }
    let unknown = app
        .admin(
            Method::POST,
            &accounts_path("ten_00000000000000000000000000"),
            Some(json!({"systemId": "nobody", "password": "pw"})),
        )
        .await;
    assert_error(
        &unknown,
        StatusCode::NOT_FOUND,
        "not_found",
        "unknown tenant",
    );

    let tenant_key = app
        .request(
            Method::GET,
            &format!("/admin/v1{}", accounts_path(app.tenant_id())),
            Some(&app.api_key),
            None,
        )
        .await;
    assert_eq!(
        tenant_key.status,
        StatusCode::UNAUTHORIZED,
        "admin token only"
    );
}

#[tokio::test]
async fn accounts_survive_a_restart() {
    let server = TestServer::start().await;
    let path = accounts_path(server.tenant_id());
    let created = server
        .admin(
            Method::POST,
            &path,
            Some(json!({"systemId": "durable", "password": PASSWORD, "tps": 25})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let server = server.restart().await;

    let listed = server.admin(Method::GET, &path, None).await;
    assert_eq!(
        listed.body["data"]["smppAccounts"],
        json!([created.body["data"]])
    );
    // The system_id index came back too.
    let taken = server
        .admin(
            Method::POST,
            &path,
            Some(json!({"systemId": "durable", "password": "pw"})),
        )
        .await;
    assert_error(
        &taken,
        StatusCode::CONFLICT,
        "system_id_exists",
        "after a restart",
    );
}
