//! Bad input gets a documented 4xx with a `code`, never a 5xx, and never moves the balance.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Api, Call, Reply, TestApp};

/// Sends a raw body with the given content type to `path`.
async fn raw(app: &TestApp, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    app.call(
        Call::post(path)
            .bearer(&app.api_key)
            .body(content_type, body),
    )
    .await
}

fn check(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.body["success"], false, "body: {}", reply.body);
    assert_eq!(reply.code(), code, "body: {}", reply.body);
    assert!(
        reply.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error sentence: {}",
        reply.body
    );
}

#[tokio::test]
async fn malformed_send_bodies_get_400_with_a_code_and_charge_nothing() {
    let app = TestApp::start().await;
    let json_type = Some("application/json");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "invalid_json"),
        (b"".to_vec(), "invalid_json"),
        (b"[1,2]".to_vec(), "invalid_request"),
        (br#"{"message": 5, "recipients": ["0201234567"]}"#.to_vec(), "invalid_request"),
        (br#"{"message": "hi", "recipients": "0201234567"}"#.to_vec(), "invalid_request"),
        (br#"{"recipients": ["0201234567"]}"#.to_vec(), "missing_message"),
        (br#"{"message": "", "recipients": ["0201234567"]}"#.to_vec(), "missing_message"),
        (br#"{"message": "hi", "recipients": []}"#.to_vec(), "missing_recipients"),
        (br#"{"message": "hi"}"#.to_vec(), "missing_recipients"),
        (br#"{"message": "hi", "recipients": ["abc", "12"]}"#.to_vec(), "no_valid_recipients"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "senderId": "Nobody"}"#.to_vec(), "invalid_sender_id"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": true, "scheduleDate": "tomorrow"}"#.to_vec(), "invalid_date"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": true, "scheduleDate": "2001-01-01T00:00:00Z"}"#.to_vec(), "invalid_schedule_date"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": true, "scheduleDate": "2099-01-01T00:00:00Z"}"#.to_vec(), "invalid_schedule_date"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": true, "scheduleDate": "2030-13-45T99:00:00Z"}"#.to_vec(), "invalid_date"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": true}"#.to_vec(), "missing_schedule_date"),
        (br#"{"message": "hi", "recipients": ["0201234567"], "isScheduled": "yes"}"#.to_vec(), "invalid_request"),
    ];
    for (body, code) in cases {
        let reply = raw(&app, "/api/v1/sms/send", json_type, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            String::from_utf8_lossy(&body),
            reply.body
        );
        check(&reply, StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(app.balance().await, 1000);
}

#[tokio::test]
async fn too_many_recipients_and_too_long_texts_are_refused() {
    let app = TestApp::start().await;
    let many: Vec<String> = (0..1001).map(|i| format!("02012{i:05}")).collect();
    let reply = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": many, "message": "hi"}),
        )
        .await;
    check(&reply, StatusCode::BAD_REQUEST, "too_many_recipients");

    let reply = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "a".repeat(919)}),
        )
        .await;
    check(&reply, StatusCode::BAD_REQUEST, "message_too_long");
    let at_limit = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "a".repeat(918)}),
        )
        .await;
    assert_eq!(at_limit.status, StatusCode::OK, "{}", at_limit.body);
    assert_eq!(at_limit.body["data"]["creditsUsed"], 6);
    assert_eq!(app.balance().await, 994);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_oversized_body_is_413() {
    let app = TestApp::start().await;
    let body = br#"{"message": "hi", "recipients": ["0201234567"]}"#.to_vec();
    check(
        &raw(&app, "/api/v1/sms/send", Some("text/plain"), body.clone()).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    check(
        &raw(&app, "/api/v1/sms/send", None, body).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = format!(
        r#"{{"message": "{}", "recipients": ["0201234567"]}}"#,
        "a".repeat(5 * 1024 * 1024)
    );
    check(
        &raw(
            &app,
            "/api/v1/sms/send",
            Some("application/json"),
            huge.into_bytes(),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert_eq!(app.balance().await, 1000);
}

#[tokio::test]
async fn bad_query_parameters_get_400() {
    let app = TestApp::start().await;
    for (path, code) in [
        ("/api/v1/sms?limit=0", "invalid_query"),
        ("/api/v1/sms?limit=100000", "invalid_query"),
        ("/api/v1/sms?limit=-1", "invalid_query"),
        ("/api/v1/sms?page=0", "invalid_query"),
        ("/api/v1/sms?page=abc", "invalid_query"),
        ("/api/v1/sms?status=LOST", "invalid_status"),
        ("/api/v1/sms?startDate=yesterday", "invalid_date"),
        ("/api/v1/sms?endDate=2024-02-30", "invalid_date"),
        ("/api/v1/sms?limit=%ZZ", "invalid_query"),
        ("/api/v1/transactions?type=GIFT", "invalid_type"),
        ("/api/v1/transactions?limit=101", "invalid_query"),
        ("/api/v1/transactions?startDate=2024-13-01", "invalid_date"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.body
        );
        check(&reply, StatusCode::BAD_REQUEST, code);
    }
    let max = app.get("/api/v1/sms?limit=100&page=1").await;
    assert_eq!(max.status, StatusCode::OK);
}

#[tokio::test]
async fn estimate_validates_its_inputs() {
    let app = TestApp::start().await;
    for (body, code) in [
        (json!({"recipientCount": 5}), "missing_message"),
        (json!({"message": "hi"}), "missing_recipient_count"),
        (
            json!({"message": "hi", "recipientCount": 0}),
            "invalid_recipient_count",
        ),
        (
            json!({"message": "hi", "recipientCount": 10001}),
            "invalid_recipient_count",
        ),
        (
            json!({"message": "hi", "recipientCount": -3}),
            "invalid_request",
        ),
        (
            json!({"message": "hi", "recipientCount": "many"}),
            "invalid_request",
        ),
        (
            json!({"message": "a".repeat(1000), "recipientCount": 1}),
            "message_too_long",
        ),
    ] {
        let reply = app.post("/api/v1/sms/estimate", body).await;
        check(&reply, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn garbage_headers_never_cause_a_5xx() {
    let app = TestApp::start().await;
    let body = json!({"message": "hi", "recipients": ["0201234567"]});
    let garbage: &[(&str, &[u8])] = &[
        ("authorization", b"Bearer \xff\xfe"),
        ("authorization", b"Bearer"),
        ("authorization", b"Bearer a b c"),
        ("authorization", b"Digest xyz"),
        ("x-api-key", b"\xc3\x28"),
        ("content-type", b"application/json; charset=\xff"),
    ];
    for (name, value) in garbage {
        let reply = app
            .call(
                Call::post("/api/v1/sms/send")
                    .header(name, value)
                    .json(&body),
            )
            .await;
        assert!(reply.status.is_client_error(), "{name}: {}", reply.status);
    }
    let bad_idempotency = app
        .call(
            Call::post("/api/v1/sms/send")
                .bearer(&app.api_key)
                .header("idempotency-key", b"\xff\xfe")
                .json(&body),
        )
        .await;
    check(
        &bad_idempotency,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
    let unknown = app.get("/api/v1/nothing-here").await;
    check(&unknown, StatusCode::NOT_FOUND, "not_found");
    let bad_id = app.get("/api/v1/sms/status/%ff%fe").await;
    check(&bad_id, StatusCode::BAD_REQUEST, "invalid_path");
    let wrong_method = app.get("/api/v1/sms/send").await;
    check(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_eq!(app.balance().await, 1000);
}

#[tokio::test]
async fn unsupported_options_and_out_of_range_values_are_refused() {
    let app = TestApp::start().await;
    for (body, code) in [
        (
            json!({"message": "hi", "sendToAllContacts": true}),
            "missing_recipients",
        ),
        (
            json!({"recipients": ["0201234567"], "message": "Hi {{name}}"}),
            "missing_variable",
        ),
        (
            json!({"recipients": ["0201234567"], "message": "hi", "validityPeriod": 0}),
            "invalid_validity_period",
        ),
        (
            json!({"recipients": ["0201234567"], "message": "hi", "campaignName": "c".repeat(101)}),
            "invalid_campaign_name",
        ),
    ] {
        let reply = app.post("/api/v1/sms/send", body).await;
        check(&reply, StatusCode::BAD_REQUEST, code);
    }
    let long = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567", "9".repeat(5000)], "message": "hi"}),
        )
        .await;
    assert_eq!(long.status, StatusCode::OK);
    let shown = long.body["data"]["invalidRecipients"][0]
        .as_str()
        .expect("listed");
    assert!(shown.chars().count() <= 33, "echo is truncated: {shown}");
    assert_eq!(app.balance().await, 999);
}
