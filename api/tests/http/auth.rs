//! Keys, scopes, tenant isolation and the rate limit.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, Call, TestApp, TestServer};

#[tokio::test]
async fn missing_or_unknown_key_is_401_in_every_header_form() {
    let app = TestApp::start().await;
    let none = app
        .request(Method::GET, "/api/v1/balance", None, None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.code(), "unauthorized");
    let wrong = app
        .request(Method::GET, "/api/v1/balance", Some("flt_live_nope"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    for (name, value) in [
        ("Authorization", format!("Bearer {}", app.api_key)),
        ("Authorization", format!("X-Api-key {}", app.api_key)),
        ("X-API-Key", app.api_key.clone()),
    ] {
        let reply = app
            .call(Call::get("/api/v1/balance").header(name, value))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
    }
}

#[tokio::test]
async fn each_endpoint_demands_its_scope() {
    let app = TestApp::start().await;
    let (_, read_only) = app.tenant(100, Some(&["sms:read"])).await;
    let (_, no_scopes) = app.tenant(100, Some(&[])).await;
    let send = json!({"recipients": ["0201234567"], "message": "hi"});
    let estimate = json!({"message": "hi", "recipientCount": 1});
    let endpoints: Vec<(Method, &str, Option<serde_json::Value>, &str)> = vec![
        (Method::POST, "/api/v1/sms/send", Some(send), "sms:send"),
        (
            Method::POST,
            "/api/v1/sms/estimate",
            Some(estimate),
            "sms:send",
        ),
        (Method::GET, "/api/v1/sms", None, "sms:read"),
        (Method::GET, "/api/v1/balance", None, "balance:read"),
        (Method::GET, "/api/v1/sender-ids", None, "senders:read"),
        (
            Method::GET,
            "/api/v1/transactions",
            None,
            "transactions:read",
        ),
        (Method::GET, "/api/v1/sms/status/msg_x", None, "sms:read"),
        (
            Method::GET,
            "/api/v1/sms/msg_x/recipients",
            None,
            "sms:read",
        ),
    ];
    for (method, path, body, scope) in endpoints {
        let denied = app
            .request(method.clone(), path, Some(&no_scopes), body.clone())
            .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(denied.code(), "forbidden");
        assert!(
            denied.body["error"]
                .as_str()
                .expect("error")
                .contains(scope)
        );
        let with_read = app.request(method, path, Some(&read_only), body).await;
        let expected = match (scope, path.contains("msg_x")) {
            ("sms:read", true) => StatusCode::NOT_FOUND,
            ("sms:read", false) => StatusCode::OK,
            _ => StatusCode::FORBIDDEN,
        };
        assert_eq!(with_read.status, expected, "{path}");
    }
}

#[tokio::test]
async fn another_tenants_message_is_404() {
    let app = TestApp::start().await;
    let (_, other_key) = app.tenant(100, None).await;
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "mine"}),
        )
        .await;
    let id = sent.body["data"]["messageId"].as_str().expect("id");
    for path in [
        format!("/api/v1/sms/status/{id}"),
        format!("/api/v1/sms/{id}/recipients"),
    ] {
        let reply = app
            .request(Method::GET, &path, Some(&other_key), None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.code(), "not_found");
        assert_eq!(app.get(&path).await.status, StatusCode::OK);
    }
    let theirs = app
        .request(Method::GET, "/api/v1/sms", Some(&other_key), None)
        .await;
    assert_eq!(theirs.body["data"]["pagination"]["total"], 0);
    let their_ledger = app
        .request(Method::GET, "/api/v1/transactions", Some(&other_key), None)
        .await;
    assert_eq!(their_ledger.body["data"]["pagination"]["total"], 1);
}

#[tokio::test]
async fn revoked_keys_stop_working_at_once() {
    let app = TestApp::start().await;
    let created = app
        .admin(
            Method::POST,
            &format!("/tenants/{}/keys", app.tenant_id),
            Some(json!({"name": "temp", "scopes": ["balance:read"]})),
        )
        .await;
    let key = created.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let key_id = created.body["data"]["id"].as_str().expect("id").to_string();
    let ok = app
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let revoked = app
        .admin(
            Method::DELETE,
            &format!("/tenants/{}/keys/{key_id}", app.tenant_id),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let after = app
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_429_carries_retry_after() {
    let app = TestApp::start().await;
    let (tenant, key) = app.tenant(10, None).await;
    let patched = app
        .admin(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(json!({"rateLimitPerMinute": 3})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    for remaining in [2, 1, 0] {
        let reply = app
            .request(Method::GET, "/api/v1/balance", Some(&key), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        let reset: u64 = reply
            .header("x-ratelimit-reset")
            .expect("reset")
            .parse()
            .expect("unix seconds");
        assert!(reset > 1_700_000_000);
    }
    let limited = app
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    // Another key of another tenant is not affected.
    assert_eq!(app.get("/api/v1/balance").await.status, StatusCode::OK);
}

/// On the real server: the burst arrives on many connections at once, as a real one does.
#[tokio::test]
async fn rate_limit_holds_under_concurrent_bursts() {
    let server = TestServer::start().await;
    let (tenant, key) = server.tenant(10, None).await;
    server
        .admin(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(json!({"rateLimitPerMinute": 25})),
        )
        .await;
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let request = server
            .client
            .get(format!("{}/api/v1/balance", server.base))
            .bearer_auth(&key);
        tasks.push(tokio::spawn(async move {
            request.send().await.expect("sent").status()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        match task.await.expect("task") {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (25, 35));
}

#[tokio::test]
async fn the_scope_is_checked_before_the_body_is_read() {
    let app = TestApp::start().await;
    let (_, read_only) = app.tenant(100, Some(&["sms:read"])).await;
    let reply = app
        .call(
            Call::post("/api/v1/sms/send")
                .bearer(&read_only)
                .body(Some("text/plain"), "not even json"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_foreign_authorization_scheme_falls_back_to_x_api_key() {
    let app = TestApp::start().await;
    let reply = app
        .call(
            Call::get("/api/v1/balance")
                .header("Authorization", "Basic dXNlcjpwYXNz")
                .header("X-API-Key", &app.api_key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn idempotency_keys_of_two_tenants_never_meet() {
    let app = TestApp::start().await;
    let (_, other) = app.tenant(100, None).await;
    let mut ids = Vec::new();
    for key in [app.api_key.clone(), other] {
        let reply = app
            .call(
                Call::post("/api/v1/sms/send")
                    .bearer(&key)
                    .header("Idempotency-Key", "shared-key")
                    .json(&json!({"recipients": ["0201234567"], "message": "hi"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        ids.push(
            reply.body["data"]["messageId"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    assert_ne!(ids[0], ids[1]);
}
