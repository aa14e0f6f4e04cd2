//! A tenant's own phones, paired as the SMS Gate app pairs (SPEC §7): a registration token or
//! a one-time code, the phone's own token from then on, its record, unpairing; bare JSON
//! answers and 401s where the app expects them; tenants never see each other's phones.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, Call, Reply, TestApp};

async fn registration_token(app: &TestApp, key: &str) -> String {
    let created = app
        .request(
            Method::POST,
            "/api/v1/devices/registration-token",
            Some(key),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn register(app: &TestApp, authorization: &str, body: Value) -> Reply {
    app.call(
        Call::post("/mobile/v1/device")
            .header("authorization", authorization)
            .json(&body),
    )
    .await
}

fn phone(call: Call, token: &str) -> Call {
    call.header("authorization", format!("Bearer {token}"))
}

/// `2026-11-22T10:30:00.123Z`: exactly three fractional digits and a zone.
fn assert_app_timestamp(value: &Value) {
    let text = value.as_str().expect("a timestamp");
    let (_, fraction) = text.split_once('.').expect("a fraction");
    assert_eq!(fraction.len(), 4, "{text}");
    assert!(fraction.ends_with('Z'), "{text}");
}

#[tokio::test]
async fn a_phone_registers_with_the_token_reads_and_updates_itself_and_is_unpaired() {
    let app = TestApp::start().await;
    let token = registration_token(&app, &app.api_key).await;
    let registered = register(
        &app,
        &format!("Bearer {token}"),
        json!({"name": "Kofi's Pixel", "pushToken": null, "simCards": [
            {"slotIndex": 0, "simNumber": 1, "phoneNumber": "+233201234567", "carrierName": "MTN"}
        ]}),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert!(registered.body.get("success").is_none(), "bare JSON");
    for field in ["id", "token", "login", "password"] {
        assert!(
            registered.body[field].is_string(),
            "{field}: {}",
            registered.body
        );
    }
    let id = registered.body["id"].as_str().expect("id").to_string();
    let device_token = registered.body["token"]
        .as_str()
        .expect("token")
        .to_string();

    let me = app
        .call(phone(Call::get("/mobile/v1/device"), &device_token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["device"]["id"], id.as_str());
    assert_eq!(me.body["device"]["name"], "Kofi's Pixel");
    assert_eq!(me.body["device"]["simCards"][0]["simNumber"], 1);
    for field in ["createdAt", "updatedAt", "lastSeen"] {
        assert_app_timestamp(&me.body["device"][field]);
    }

    // The same token registers a second phone (it is reusable).
    let second = register(&app, &format!("Bearer {token}"), json!({})).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);

    let patched = app
        .call(
            phone(Call::new(Method::PATCH, "/mobile/v1/device"), &device_token)
                .json(&json!({"id": id, "pushToken": "fcm-token-1"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT, "{}", patched.body);
    let listed = app.get("/api/v1/devices").await;
    assert_eq!(listed.status, StatusCode::OK);
    let devices = listed.body["data"]["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2);
    let mine = devices
        .iter()
        .find(|d| d["id"] == id.as_str())
        .expect("listed");
    assert_eq!(mine["push"], true);
    assert_eq!(mine["sims"][0]["phoneNumber"], "+233201234567");
    let cleared = app
        .call(
            phone(Call::new(Method::PATCH, "/mobile/v1/device"), &device_token)
                .json(&json!({"id": id, "pushToken": null})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let listed = app.get("/api/v1/devices").await;
    let mine = listed.body["data"]["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(mine["push"], false, "pushToken: null clears it");

    // Another device's id in the body: 403, nothing changed.
    let other = second.body["id"].as_str().expect("id");
    let forbidden = app
        .call(
            phone(Call::new(Method::PATCH, "/mobile/v1/device"), &device_token)
                .json(&json!({"id": other, "pushToken": "x"})),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.body["message"].is_string());

    // Unpaired: its token answers 401, which makes the app register again.
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/v1/devices/{id}"),
            Some(&app.api_key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = app
        .call(phone(Call::get("/mobile/v1/device"), &device_token))
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert!(gone.body["message"].is_string());
    let again = register(&app, &format!("Bearer {token}"), json!({"name": "again"})).await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_one_time_code_pairs_one_phone_and_a_phone_can_make_one() {
    let app = TestApp::start().await;
    let code = app
        .request(
            Method::POST,
            "/api/v1/devices/pairing-code",
            Some(&app.api_key),
            None,
        )
        .await;
    assert_eq!(code.status, StatusCode::CREATED, "{}", code.body);
    let code = code.body["data"]["code"]
        .as_str()
        .expect("code")
        .to_string();
    let first = register(&app, &format!("Code {code}"), json!({"name": "by code"})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let reused = register(&app, &format!("Code {code}"), json!({})).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "a code works once");

    // A paired phone's login and password get another code for the same tenant.
    let login = first.body["login"].as_str().expect("login");
    let password = first.body["password"].as_str().expect("password");
    let basic = base64(&format!("{login}:{password}"));
    let user_code = app
        .call(Call::get("/mobile/v1/user/code").header("authorization", format!("Basic {basic}")))
        .await;
    assert_eq!(user_code.status, StatusCode::OK, "{}", user_code.body);
    assert_app_timestamp(&user_code.body["validUntil"]);
    let code = user_code.body["code"].as_str().expect("code");
    let second = register(&app, &format!("Code {code}"), json!({})).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let listed = app.get("/api/v1/devices").await;
    assert_eq!(
        listed.body["data"]["devices"].as_array().map(Vec::len),
        Some(2)
    );

    let wrong = base64(&format!("{login}:not-the-password"));
    let refused = app
        .call(Call::get("/mobile/v1/user/code").header("authorization", format!("Basic {wrong}")))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // The password can be changed with the current one.
    let token = first.body["token"].as_str().expect("token");
    let changed = app
        .call(
            phone(Call::new(Method::PATCH, "/mobile/v1/user/password"), token)
                .json(&json!({"currentPassword": password, "newPassword": "a-new-long-password"})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    let stale = app
        .call(
            phone(Call::new(Method::PATCH, "/mobile/v1/user/password"), token).json(
                &json!({"currentPassword": password, "newPassword": "another-long-password"}),
            ),
        )
        .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_credentials_and_bodies_are_refused_and_tenants_see_only_their_phones() {
    let app = TestApp::start().await;
    let (_, other_key) = app.tenant(10, None).await;
    let (_, reader) = app.tenant(10, Some(&["devices:read"])).await;
    for authorization in ["Bearer flt_dev_unknown", "Code NOPE1234", "Basic abc", ""] {
        let refused = register(&app, authorization, json!({})).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert!(refused.body["message"].is_string());
    }
    let token = registration_token(&app, &app.api_key).await;
    for body in [
        json!({"simCards": [{"slotIndex": 0, "simNumber": 9}]}),
        json!({"name": "x".repeat(101)}),
        json!({"pushToken": "t".repeat(257)}),
        json!({"name": 5}),
    ] {
        let refused = register(&app, &format!("Bearer {token}"), body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert!(refused.body["message"].is_string());
    }
    assert_eq!(
        app.get("/api/v1/devices").await.body["data"]["devices"],
        json!([]),
        "nothing registered"
    );
    let mine = register(&app, &format!("Bearer {token}"), json!({})).await;
    let id = mine.body["id"].as_str().expect("id");
    let theirs = app
        .request(Method::GET, "/api/v1/devices", Some(&other_key), None)
        .await;
    assert_eq!(theirs.body["data"]["devices"], json!([]));
    let not_theirs = app
        .request(
            Method::DELETE,
            &format!("/api/v1/devices/{id}"),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let read_only = app
        .request(
            Method::POST,
            "/api/v1/devices/registration-token",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    let listed = app
        .request(Method::GET, "/api/v1/devices", Some(&reader), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
