//! A tenant's life at the operator's hands: a new tenant sends at once with the sender ID it
//! was given (or one made from its name); a suspended tenant's keys are refused on every API
//! and work again after a resume; an export lists its data; a deletion refuses an active
//! tenant and leaves nothing of a suspended one, and nothing else changes.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use std::time::Duration;

use crate::common::{Api, Call, Phone, TestApp, TestServer, assert_error};

/// A new tenant (no sender ID given) and an all-scopes key of it.
async fn bare_tenant(api: &impl Api, name: &str, credits: i64) -> (String, String) {
    let created = api
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"name": name, "credits": credits, "rateLimitPerMinute": 100000})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_str().expect("id").to_string();
    let key = api
        .admin(
            Method::POST,
            &format!("/tenants/{id}/keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    (
        id,
        key.body["data"]["key"].as_str().expect("key").to_string(),
    )
}

fn sender_names(reply: &crate::common::Reply) -> Vec<String> {
    reply.body["data"]["senderIds"]
        .as_array()
        .expect("sender IDs")
        .iter()
        .map(|sender| sender["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn a_new_tenants_first_send_goes_out_from_its_default_sender_id() {
    let app = TestApp::start().await;
    let (tenant, key) = bare_tenant(&app, "Kofi & Sons Trading Co.", 10).await;
    let senders = app
        .admin(Method::GET, &format!("/tenants/{tenant}/sender-ids"), None)
        .await;
    assert_eq!(sender_names(&senders), ["KofiSonsTra"]);
    let sent = app
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(json!({"recipients": ["0201234567"], "message": "Hello"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let id = sent.body["data"]["messageId"].as_str().expect("id");
    let status = app
        .request(
            Method::GET,
            &format!("/api/v1/sms/status/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        status.body["data"]["senderId"], "KofiSonsTra",
        "{}",
        status.body
    );

    // Given ones instead, the first the default; none with `[]`.
    let given = app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"name": "Acme Ltd", "senderIds": ["Acme", "233501234567"]})),
        )
        .await;
    assert_eq!(given.status, StatusCode::CREATED, "{}", given.body);
    let given = given.body["data"]["id"].as_str().expect("id").to_string();
    let senders = app
        .admin(Method::GET, &format!("/tenants/{given}/sender-ids"), None)
        .await;
    assert_eq!(sender_names(&senders), ["Acme", "233501234567"]);
    let none = app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"name": "Phones Only", "senderIds": []})),
        )
        .await;
    let none = none.body["data"]["id"].as_str().expect("id").to_string();
    let senders = app
        .admin(Method::GET, &format!("/tenants/{none}/sender-ids"), None)
        .await;
    assert_eq!(sender_names(&senders), Vec::<String>::new());

    // Refused before anything is made.
    let before = app.admin(Method::GET, "/tenants", None).await.body["data"]["tenants"]
        .as_array()
        .map(Vec::len);
    for (body, status, code) in [
        (
            json!({"name": "Bad", "senderIds": ["Far Too Long A Name"]}),
            StatusCode::BAD_REQUEST,
            "invalid_sender_id",
        ),
        (
            json!({"name": "Twice", "senderIds": ["Acme", "ACME"]}),
            StatusCode::CONFLICT,
            "sender_id_exists",
        ),
    ] {
        let refused = app.admin(Method::POST, "/tenants", Some(body)).await;
        assert_error(&refused, status, code, "tenant with bad sender IDs");
    }
    let after = app.admin(Method::GET, "/tenants", None).await.body["data"]["tenants"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after, "refused creations leave no tenant behind");
}

#[tokio::test]
async fn a_suspended_tenants_keys_are_refused_on_every_api_until_it_is_resumed() {
    let server = TestServer::start().await;
    let (tenant, key) = bare_tenant(&server, "Acme", 100).await;
    let phone = Phone::register(&server, &key).await;
    phone.pull().await;
    let sends = [
        (
            "native",
            Call::post("/api/v1/sms/send")
                .bearer(&key)
                .json(&json!({"recipients": ["0201234567"], "message": "Hi"})),
        ),
        (
            "Flowstates",
            Call::post("/messages/send")
                .header("authorization", format!("X-Api-key {key}"))
                .json(&json!({"to": "+233201234567", "message": "Hi", "sender": "Acme"})),
        ),
        (
            "FlixySMS",
            Call::post("/flixy/api/v1/sms/send")
                .bearer(&key)
                .json(&json!({"to": "+233201234567", "message": "Hi"})),
        ),
    ];
    let call = |call: &Call| Call {
        method: call.method.clone(),
        path: call.path.clone(),
        headers: call.headers.clone(),
        body: call.body.clone(),
    };

    let suspended = server
        .admin(Method::POST, &format!("/tenants/{tenant}/suspend"), None)
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["data"]["suspended"], true);
    assert!(suspended.body["data"]["suspendedAt"].is_string());
    let again = server
        .admin(Method::POST, &format!("/tenants/{tenant}/suspend"), None)
        .await;
    assert_eq!(
        again.body["data"]["suspendedAt"], suspended.body["data"]["suspendedAt"],
        "suspending twice changes nothing"
    );
    for (dialect, send) in &sends {
        let refused = server.call(call(send)).await;
        assert_error(
            &refused,
            StatusCode::FORBIDDEN,
            "account_suspended",
            dialect,
        );
        assert!(
            refused.header("x-ratelimit-limit").is_some(),
            "{dialect}: the refusal carries the rate-limit headers"
        );
    }
    for path in ["/api/v1/balance", "/api/v1/sms", "/webhooks"] {
        let refused = server.request(Method::GET, path, Some(&key), None).await;
        assert_error(&refused, StatusCode::FORBIDDEN, "account_suspended", path);
    }
    // Its phone still pulls: what it took before (paid) still goes out.
    assert!(phone.pull().await.is_empty());
    let listed = server.admin(Method::GET, "/tenants", None).await;
    let shown = listed.body["data"]["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|listed| listed["id"] == tenant.as_str())
        .expect("listed")
        .clone();
    assert_eq!(shown["suspended"], true);
    // Other tenants go on.
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);

    let resumed = server
        .admin(Method::POST, &format!("/tenants/{tenant}/resume"), None)
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["data"]["suspended"], false);
    assert_eq!(resumed.body["data"]["suspendedAt"], Value::Null);
    for (dialect, send) in &sends {
        let accepted = server.call(call(send)).await;
        assert!(
            accepted.status.is_success(),
            "{dialect} after the resume: {} {}",
            accepted.status,
            accepted.body
        );
    }
    let missing = server
        .admin(Method::POST, "/tenants/ten_nonexistent/suspend", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_suspended_tenant_registers_no_phone() {
    let server = TestServer::start().await;
    let (tenant, key) = bare_tenant(&server, "Acme", 100).await;
    let token = server
        .request(
            Method::POST,
            "/api/v1/devices/registration-token",
            Some(&key),
            None,
        )
        .await;
    let token = token.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    server
        .admin(Method::POST, &format!("/tenants/{tenant}/suspend"), None)
        .await;
    let refused = server
        .call(
            Call::post("/mobile/v1/device")
                .bearer(&token)
                .json(&json!({"name": "phone"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

/// A tenant with a bit of everything: contacts in a group, a template, a webhook, messages.
async fn busy_tenant(app: &TestApp, name: &str) -> (String, String) {
    let (tenant, key) = bare_tenant(app, name, 1_000).await;
    let as_tenant = |method: Method, path: &'static str, body: Value| {
        app.request(method, path, Some(&key), Some(body))
    };
    let group = as_tenant(
        Method::POST,
        "/api/v1/contacts/groups",
        json!({"name": "VIP"}),
    )
    .await;
    let group = group.body["data"]["id"]
        .as_str()
        .expect("group")
        .to_string();
    for phone in ["0201234567", "0241234567"] {
        let contact = as_tenant(
            Method::POST,
            "/api/v1/contacts",
            json!({"phone": phone, "firstName": "Ama", "groupId": group}),
        )
        .await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    }
    as_tenant(
        Method::POST,
        "/api/v1/templates",
        json!({"name": "Hello", "content": "Hi {{firstName}}"}),
    )
    .await;
    for message in ["one", "two"] {
        let sent = as_tenant(
            Method::POST,
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567", "0261230000"], "message": message}),
        )
        .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    }
    (tenant, key)
}

/// Waits until every message of the tenant of `key` is final (the sandbox reports them a
/// second or so after the send).
async fn settle(app: &TestApp, key: &str) {
    for _ in 0..200 {
        let listed = app
            .request(Method::GET, "/api/v1/sms", Some(key), None)
            .await;
        let open = listed.body["data"]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|message| message["status"] == "PENDING" || message["status"] == "SENT");
        if !open {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the tenant's messages did not settle");
}

fn export_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

#[tokio::test]
async fn an_export_lists_the_tenants_data_one_record_a_line_without_secrets() {
    let app = TestApp::start().await;
    let (tenant, key) = busy_tenant(&app, "Exported").await;
    let webhook = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": "https://hooks.example.com/x", "events": ["message.sent"]})),
        )
        .await;
    let secret = webhook.body["data"]["secret"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let account = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/smpp-accounts"),
            Some(json!({"systemId": "exported", "password": "Xp0rt3d!"})),
        )
        .await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.body);
    let reply = app
        .admin(Method::GET, &format!("/tenants/{tenant}/export"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    let lines = export_lines(&reply.text);
    let kinds: Vec<&str> = lines
        .iter()
        .map(|line| line["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds[0], "tenant");
    assert_eq!(lines[0]["id"], tenant.as_str());
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("contact"), 2);
    assert_eq!(count("group"), 1);
    assert_eq!(count("template"), 1);
    assert_eq!(count("message"), 2);
    assert_eq!(count("recipient"), 4);
    assert_eq!(count("sender_id"), 1);
    assert_eq!(count("api_key"), 1);
    assert_eq!(count("smpp_account"), 1);
    assert_eq!(count("webhook"), usize::from(!secret.is_empty()));
    assert_eq!(count("transaction"), 3, "the credits and two sends");
    let kinds: BTreeSet<&str> = lines
        .iter()
        .filter(|line| line["type"] == "transaction")
        .map(|line| line["transactionType"].as_str().expect("its own type"))
        .collect();
    assert_eq!(kinds, BTreeSet::from(["BONUS", "USAGE"]));
    let contact = lines
        .iter()
        .find(|l| l["type"] == "contact")
        .expect("contact");
    assert_eq!(contact["groupIds"].as_array().map(Vec::len), Some(1));
    let message = lines
        .iter()
        .find(|l| l["type"] == "message")
        .expect("message");
    let recipient = lines
        .iter()
        .find(|l| l["type"] == "recipient")
        .expect("recipient");
    assert!(recipient["messageId"].is_string() && message["id"].is_string());
    assert!(!reply.text.contains(&key), "no API key secret");
    let exported = lines
        .iter()
        .find(|l| l["type"] == "smpp_account")
        .expect("SMPP account");
    assert_eq!(exported["systemId"], "exported");
    assert!(!reply.text.contains("Xp0rt3d!"), "no SMPP password");
    assert!(!reply.text.contains("$argon2"), "no SMPP password hash");
    assert!(
        secret.is_empty() || !reply.text.contains(&secret),
        "no webhook secret"
    );
    for field in [
        "secretHash",
        "tokenHash",
        "passwordHash",
        "signingKey",
        "\"key\"",
    ] {
        assert!(!reply.text.contains(field), "{field} in the export");
    }
    let other = app
        .admin(Method::GET, "/tenants/ten_nonexistent/export", None)
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    // The bootstrap tenant's export holds nothing of this one's.
    let bootstrap = app
        .admin(
            Method::GET,
            &format!("/tenants/{}/export", app.tenant_id),
            None,
        )
        .await;
    assert!(!bootstrap.text.contains(&tenant));
}

#[tokio::test]
async fn deleting_refuses_an_active_tenant_and_removes_a_suspended_one_entirely() {
    let app = TestApp::start().await;
    let (tenant, key) = busy_tenant(&app, "Doomed").await;
    let (kept, kept_key) = busy_tenant(&app, "Kept").await;
    let snapshot = |key: String| {
        let app = &app;
        async move {
            let mut seen = BTreeSet::new();
            for path in [
                "/api/v1/sms",
                "/api/v1/contacts",
                "/api/v1/templates",
                "/api/v1/balance",
            ] {
                let reply = app.request(Method::GET, path, Some(&key), None).await;
                assert_eq!(reply.status, StatusCode::OK, "{path}");
                seen.insert(reply.body["data"].to_string());
            }
            seen
        }
    };
    settle(&app, &key).await;
    settle(&app, &kept_key).await;
    let kept_before = snapshot(kept_key.clone()).await;
    let bootstrap_before = snapshot(app.api_key.clone()).await;

    let refused = app
        .admin(Method::DELETE, &format!("/tenants/{tenant}"), None)
        .await;
    assert_error(
        &refused,
        StatusCode::CONFLICT,
        "tenant_active",
        "deleting an active tenant",
    );
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|error| error.contains("suspend it first")),
        "{}",
        refused.body
    );
    assert_eq!(app.get("/api/v1/balance").await.status, StatusCode::OK);
    assert_eq!(
        app.request(Method::GET, "/api/v1/balance", Some(&key), None)
            .await
            .status,
        StatusCode::OK,
        "a refused deletion changes nothing"
    );

    app.admin(Method::POST, &format!("/tenants/{tenant}/suspend"), None)
        .await;
    let deleted = app
        .admin(Method::DELETE, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["data"]["deleted"], true);
    assert_eq!(deleted.body["data"]["messages"], 2);
    assert!(
        deleted.body["data"]["records"]
            .as_u64()
            .is_some_and(|n| n >= 8)
    );

    for path in [
        format!("/tenants/{tenant}"),
        format!("/tenants/{tenant}/keys"),
        format!("/tenants/{tenant}/sender-ids"),
        format!("/tenants/{tenant}/transactions"),
        format!("/tenants/{tenant}/export"),
    ] {
        let gone = app.admin(Method::GET, &path, None).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{path}: {}", gone.body);
    }
    let listed = app.admin(Method::GET, "/tenants", None).await;
    assert!(!listed.text.contains(&tenant), "not listed");
    let again = app
        .admin(Method::DELETE, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let key_gone = app
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(key_gone.status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        snapshot(kept_key).await,
        kept_before,
        "the other tenant is untouched"
    );
    assert_eq!(snapshot(app.api_key.clone()).await, bootstrap_before);
    let kept_export = app
        .admin(Method::GET, &format!("/tenants/{kept}/export"), None)
        .await;
    assert_eq!(
        export_lines(&kept_export.text)
            .iter()
            .filter(|line| line["type"] == "message")
            .count(),
        2
    );
}
