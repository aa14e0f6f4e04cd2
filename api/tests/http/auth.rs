//! Keys, scopes, tenant isolation and the rate limit.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn missing_or_unknown_key_is_401_in_every_header_form() {
    let server = TestServer::start().await;
    let none = server
        .request(Method::GET, "/api/v1/balance", None, None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.code(), "unauthorized");
    let wrong = server
        .request(Method::GET, "/api/v1/balance", Some("flt_live_nope"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    for (name, value) in [
        ("Authorization", format!("Bearer {}", server.api_key)),
        ("Authorization", format!("X-Api-key {}", server.api_key)),
        ("X-API-Key", server.api_key.clone()),
    ] {
        let response = server
            .client
            .get(format!("{}/api/v1/balance", server.base))
            .header(name, value)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
}

#[tokio::test]
async fn each_endpoint_demands_its_scope() {
    let server = TestServer::start().await;
    let (_, read_only) = server.tenant(100, Some(&["sms:read"])).await;
    let (_, no_scopes) = server.tenant(100, Some(&[])).await;
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
        let denied = server
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
        let with_read = server.request(method, path, Some(&read_only), body).await;
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
    let server = TestServer::start().await;
    let (_, other_key) = server.tenant(100, None).await;
    let sent = server
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
        let reply = server
            .request(Method::GET, &path, Some(&other_key), None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.code(), "not_found");
        assert_eq!(server.get(&path).await.status, StatusCode::OK);
    }
    let theirs = server
        .request(Method::GET, "/api/v1/sms", Some(&other_key), None)
        .await;
    assert_eq!(theirs.body["data"]["pagination"]["total"], 0);
    let their_ledger = server
        .request(Method::GET, "/api/v1/transactions", Some(&other_key), None)
        .await;
    assert_eq!(their_ledger.body["data"]["pagination"]["total"], 1);
}

#[tokio::test]
async fn revoked_keys_stop_working_at_once() {
    let server = TestServer::start().await;
    let created = server
        .admin(
            Method::POST,
            &format!("/tenants/{}/keys", server.tenant_id),
            Some(json!({"name": "temp", "scopes": ["balance:read"]})),
        )
        .await;
    let key = created.body["data"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let key_id = created.body["data"]["id"].as_str().expect("id").to_string();
    let ok = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let revoked = server
        .admin(
            Method::DELETE,
            &format!("/tenants/{}/keys/{key_id}", server.tenant_id),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    let after = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rate_limit_headers_count_down_and_429_carries_retry_after() {
    let server = TestServer::start().await;
    let (tenant, key) = server.tenant(10, None).await;
    let patched = server
        .admin(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(json!({"rateLimitPerMinute": 3})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    for remaining in [2, 1, 0] {
        let reply = server
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
    let limited = server
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
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
}

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
    let server = TestServer::start().await;
    let (_, read_only) = server.tenant(100, Some(&["sms:read"])).await;
    let response = server
        .client
        .post(format!("{}/api/v1/sms/send", server.base))
        .bearer_auth(&read_only)
        .header("Content-Type", "text/plain")
        .body("not even json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_foreign_authorization_scheme_falls_back_to_x_api_key() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(format!("{}/api/v1/balance", server.base))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .header("X-API-Key", &server.api_key)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn idempotency_keys_of_two_tenants_never_meet() {
    let server = TestServer::start().await;
    let (_, other) = server.tenant(100, None).await;
    let mut ids = Vec::new();
    for key in [server.api_key.clone(), other] {
        let response = server
            .client
            .post(format!("{}/api/v1/sms/send", server.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "shared-key")
            .json(&json!({"recipients": ["0201234567"], "message": "hi"}))
            .send()
            .await
            .expect("sent");
        let reply = TestServer::reply(response).await;
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
