//! The admin API: token, tenants, keys, credits and sender IDs (`flit admin` is
//! `admin_cli.rs`; suspension, export and deletion `offboarding.rs`).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{ADMIN_TOKEN, Api, Call, TestApp};

#[tokio::test]
async fn admin_api_needs_the_admin_token() {
    let app = TestApp::start().await;
    let none = app
        .request(Method::GET, "/admin/v1/tenants", None, None)
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let tenant_key = app
        .request(Method::GET, "/admin/v1/tenants", Some(&app.api_key), None)
        .await;
    assert_eq!(tenant_key.status, StatusCode::UNAUTHORIZED);
    let ok = app.admin(Method::GET, "/tenants", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["data"]["tenants"][0]["name"], "default");
    assert_eq!(ok.body["data"]["tenants"][0]["balance"], 1000);
}

#[tokio::test]
async fn tenants_are_created_read_and_patched() {
    let app = TestApp::start().await;
    let created = app
        .admin(
            Method::POST,
            "/tenants",
            Some(json!({"name": "Kofi Ltd", "phone": "0201234567", "defaultCountry": "ng", "pricePerPart": 2})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["data"]["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("ten_"));
    assert_eq!(created.body["data"]["defaultCountry"], "NG");
    assert_eq!(created.body["data"]["rateLimitPerMinute"], 100);
    assert_eq!(created.body["data"]["balance"], 0);

    let patched = app
        .admin(
            Method::PATCH,
            &format!("/tenants/{id}"),
            Some(json!({"name": "Kofi Limited", "phone": null, "numberValidation": "structural"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["data"]["name"], "Kofi Limited");
    assert_eq!(patched.body["data"]["phone"], json!(null));
    assert_eq!(patched.body["data"]["numberValidation"], "structural");
    assert_eq!(patched.body["data"]["pricePerPart"], 2);

    let read = app
        .admin(Method::GET, &format!("/tenants/{id}"), None)
        .await;
    assert_eq!(read.body["data"]["name"], "Kofi Limited");

    for (body, code) in [
        (json!({}), "missing_name"),
        (
            json!({"name": "x", "defaultCountry": "XX"}),
            "invalid_country",
        ),
        (
            json!({"name": "x", "numberValidation": "loose"}),
            "invalid_number_validation",
        ),
        (
            json!({"name": "x", "rateLimitPerMinute": 0}),
            "invalid_rate_limit",
        ),
        (json!({"name": "x", "pricePerPart": -1}), "invalid_price"),
        (
            json!({"name": "x", "pricePerPart": 9_000_000_000_000_000_000i64}),
            "invalid_price",
        ),
        (json!({"name": "x", "credits": -5}), "invalid_amount"),
        (
            json!({"name": "x", "credits": 9_000_000_000_000_000_000i64}),
            "invalid_amount",
        ),
    ] {
        let reply = app.admin(Method::POST, "/tenants", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.code(), code);
    }
    let tenants = app.admin(Method::GET, "/tenants", None).await;
    assert_eq!(
        tenants.body["data"]["tenants"].as_array().map(Vec::len),
        Some(2),
        "refused creations leave no tenant behind"
    );
    let missing = app
        .admin(Method::GET, "/tenants/ten_nonexistent", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credits_are_ledgered_and_sender_ids_approved() {
    let app = TestApp::start().await;
    let (tenant, key) = app.tenant(0, None).await;
    let credited = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/credits"),
            Some(json!({"amount": 250, "type": "PURCHASE", "description": "Invoice 7"})),
        )
        .await;
    assert_eq!(credited.status, StatusCode::CREATED, "{}", credited.body);
    assert_eq!(credited.body["data"]["balance"], 250);
    assert_eq!(credited.body["data"]["type"], "PURCHASE");
    let adjusted = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/credits"),
            Some(json!({"amount": -50, "type": "ADJUSTMENT", "description": "correction"})),
        )
        .await;
    assert_eq!(adjusted.body["data"]["balance"], 200);
    let overdrawn = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/credits"),
            Some(json!({"amount": -500, "type": "ADJUSTMENT"})),
        )
        .await;
    assert_eq!(overdrawn.status, StatusCode::PAYMENT_REQUIRED);
    for body in [
        json!({"amount": 2_000_000_000_000i64, "type": "PURCHASE"}),
        json!({"amount": 5, "type": "USAGE"}),
        json!({"amount": -5, "type": "PURCHASE"}),
        json!({"amount": 5, "type": "GIFT"}),
        json!({"type": "PURCHASE"}),
    ] {
        let reply = app
            .admin(
                Method::POST,
                &format!("/tenants/{tenant}/credits"),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    // The most negative i64 has no absolute value: refused by the size check, not by luck.
    let smallest = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/credits"),
            Some(json!({"amount": i64::MIN, "type": "ADJUSTMENT"})),
        )
        .await;
    assert_eq!(
        smallest.status,
        StatusCode::BAD_REQUEST,
        "{}",
        smallest.body
    );
    assert_eq!(smallest.code(), "invalid_amount");
    assert_eq!(app.ledger_sum(&key).await, 200);

    let sender = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/sender-ids"),
            Some(json!({"name": "Promo"})),
        )
        .await;
    assert_eq!(sender.status, StatusCode::CREATED);
    assert_eq!(sender.body["data"]["status"], "APPROVED");
    let duplicate = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/sender-ids"),
            Some(json!({"name": "promo"})),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let too_long = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/sender-ids"),
            Some(json!({"name": "TwelveLetter"})),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    let listed = app
        .request(Method::GET, "/api/v1/sender-ids", Some(&key), None)
        .await;
    let names: Vec<&str> = listed.body["data"]["senderIds"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Acme", "Promo"]);
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_scopes_are_checked() {
    let app = TestApp::start().await;
    let bad = app
        .admin(
            Method::POST,
            &format!("/tenants/{}/keys", app.tenant_id),
            Some(json!({"name": "x", "scopes": ["sms:send", "sms:fly"]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.code(), "invalid_scope");
    let listed = app
        .admin(
            Method::GET,
            &format!("/tenants/{}/keys", app.tenant_id),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let keys = listed.body["data"]["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none());
    assert_eq!(keys[0]["hint"].as_str().map(str::len), Some(4));
    assert!(
        !listed.body.to_string().contains(&app.api_key),
        "a listing must never contain a secret"
    );
}

#[tokio::test]
async fn a_retried_credit_with_its_idempotency_key_is_applied_once() {
    let app = TestApp::start().await;
    let (tenant, key) = app.tenant(0, None).await;
    let credit = |body: serde_json::Value| {
        app.call(
            Call::post(format!("/admin/v1/tenants/{tenant}/credits"))
                .bearer(ADMIN_TOKEN)
                .header("Idempotency-Key", "invoice-7")
                .json(&body),
        )
    };
    let first = credit(json!({"amount": 100, "type": "PURCHASE"})).await;
    let retry = credit(json!({"amount": 100, "type": "PURCHASE"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.body, retry.body);
    let changed = credit(json!({"amount": 900, "type": "PURCHASE"})).await;
    assert_eq!(changed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.ledger_sum(&key).await, 100);
}
