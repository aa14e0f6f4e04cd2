//! Templates and personalised sends: `{{variable}}` placeholders, per-recipient texts priced
//! on their own.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, TestApp};

#[tokio::test]
async fn templates_are_created_listed_updated_and_deleted() {
    let app = TestApp::start().await;
    // The seed's example.
    let created = app
        .post(
            "/api/v1/templates",
            json!({"name": "Welcome Message", "content": "Hi {{name}}, welcome to our platform!"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let template = &created.body["data"];
    let id = template["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("tpl_"));
    assert_eq!(template["name"], "Welcome Message");
    assert_eq!(template["variables"], json!(["name"]));

    let listed = app.get("/api/v1/templates").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"]["templates"][0]["id"], id.as_str());

    let duplicate = app
        .post(
            "/api/v1/templates",
            json!({"name": "welcome message", "content": "other"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.code(), "template_exists");

    let updated = app
        .request(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(&app.api_key),
            Some(json!({"name": "Welcome", "content": "Hello {{firstName}}!"})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["variables"], json!(["firstName"]));
    let read = app.get(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(read.body["data"]["content"], "Hello {{firstName}}!");
    // The old name is free again.
    let reuse = app
        .post(
            "/api/v1/templates",
            json!({"name": "Welcome Message", "content": "again"}),
        )
        .await;
    assert_eq!(reuse.status, StatusCode::CREATED);

    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/v1/templates/{id}"),
            Some(&app.api_key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = app.get(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    for body in [
        json!({"name": "x"}),
        json!({"content": "x"}),
        json!({"name": "", "content": "x"}),
    ] {
        let reply = app.post("/api/v1/templates", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
}

#[tokio::test]
async fn template_scopes_and_isolation() {
    let app = TestApp::start().await;
    let (_, reader) = app.tenant(10, Some(&["templates:read"])).await;
    let (_, other) = app.tenant(10, None).await;
    let created = app
        .post("/api/v1/templates", json!({"name": "t", "content": "c"}))
        .await;
    let id = created.body["data"]["id"].as_str().expect("id").to_string();
    let denied = app
        .request(
            Method::POST,
            "/api/v1/templates",
            Some(&reader),
            Some(json!({"name": "u", "content": "c"})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let listed = app
        .request(Method::GET, "/api/v1/templates", Some(&reader), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"]["templates"], json!([]));
    let foreign = app
        .request(
            Method::GET,
            &format!("/api/v1/templates/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_template_send_fills_variables_or_names_the_missing_one() {
    let app = TestApp::start().await;
    let created = app
        .post(
            "/api/v1/templates",
            json!({"name": "otp", "content": "Your code is {{code}}, {{phone}}"}),
        )
        .await;
    let template = created.body["data"]["id"].as_str().expect("id").to_string();
    let missing = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "templateId": template}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "missing_variable");
    assert!(
        missing.body["error"]
            .as_str()
            .expect("error")
            .contains("code")
    );
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "templateId": template, "variables": {"code": "4321"}}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let unknown = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "templateId": "tpl_nope"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.balance().await, 999);
}
