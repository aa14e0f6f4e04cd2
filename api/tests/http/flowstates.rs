//! The Flowstates dialect (seed 002): the seed's own `curl` example, run by the real curl
//! against the real server; bodies with comments; bad input; scopes, tenants and statuses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{Api, Call, Reply, TestApp, TestServer, assert_error};

/// The seed's example exactly as it writes it, but for the URL (`{url}`) and the added key
/// header (`{key}`, in the form the seed documents).
const SEED_CURL: &str = r#"curl --location '{url}/messages/send' \
-H 'Authorization: X-Api-key {key}' \
--data '{
"to":"+6141234567890", //Desnitation mobile phone number, must be in international format with leading '\''+'\''
"message": "Hello world!", //Message to send*
"sender": "Flowstates" //Sender text or shortcode to be displayed on the user'\''s phone*
}
'"#;

/// `Authorization: X-Api-key <key>`, as the seed writes it.
fn flowstates_key(call: Call, key: &str) -> Call {
    call.header("authorization", format!("X-Api-key {key}"))
}

async fn read_message(api: &impl Api, key: &str, id: &str) -> Reply {
    api.call(flowstates_key(Call::get(format!("/messages/{id}")), key))
        .await
}

/// Sends `body` (with `content_type`, if any) to `POST /messages/send`.
async fn send(api: &impl Api, key: &str, content_type: Option<&str>, body: &str) -> Reply {
    api.call(flowstates_key(Call::post("/messages/send"), key).body(content_type, body))
        .await
}

/// Polls `GET /messages/{id}` until its status is `status`; panics with the last answer after
/// `within`.
async fn wait_for_status(
    api: &impl Api,
    key: &str,
    id: &str,
    status: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let reply = read_message(api, key, id).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        if reply.body["status"] == status {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} not {status} after {within:?}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many messages the tenant of `key` has sent.
async fn message_count(api: &impl Api, key: &str) -> u64 {
    let listing = api
        .request(Method::GET, "/api/v1/sms", Some(key), None)
        .await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    listing.body["data"]["pagination"]["total"]
        .as_u64()
        .expect("total")
}

async fn balance(api: &impl Api, key: &str) -> i64 {
    let reply = api
        .request(Method::GET, "/api/v1/balance", Some(key), None)
        .await;
    reply.body["data"]["balance"].as_i64().expect("balance")
}

#[tokio::test]
async fn the_seeds_curl_example_is_sent_read_back_and_delivered() {
    // A fresh install: the first start approves `Flowstates` for the bootstrap tenant, so the
    // example works as written.
    let server = TestServer::start().await;

    // Letter for letter the seed's command (where the seed is at hand to compare with).
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds");
    if let Ok(seed) = std::fs::read_to_string(seeds.join("002_199cb08d874c7561.txt")) {
        let as_written = SEED_CURL
            .replace("{url}", "http://api.flowstates.net")
            .replace("-H 'Authorization: X-Api-key {key}' \\\n", "");
        assert!(
            seed.contains(&as_written),
            "SEED_CURL is not the seed's command"
        );
    }
    let command = SEED_CURL
        .replace("{url}", &server.base)
        .replace("{key}", &server.api_key);
    // The shell reads the quoting as a user's would. A fresh home keeps any developer's
    // `.curlrc` out, and its own adds only the status code after the body (what is sent is
    // the command's alone).
    let home = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        home.path().join(".curlrc"),
        "write-out = \"\\n%{http_code}\"\n",
    )
    .expect(".curlrc");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&command)
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("CURL_HOME", home.path())
            .output()
            .expect("/usr/bin/curl runs")
    })
    .await
    .expect("curl finished");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 answer");
    let (body, status) = stdout
        .rsplit_once('\n')
        .expect("body, then the status code");
    assert_eq!(status, "201", "{body}");
    let sent: Value = serde_json::from_str(body).expect("a JSON answer");
    let id = sent["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("msg_"), "{sent}");
    assert_eq!(sent["to"], "+6141234567890");
    assert_eq!(sent["message"], "Hello world!");
    assert_eq!(sent["sender"], "Flowstates");
    assert_eq!(sent["status"], "queued");
    assert!(sent["createdAt"].is_string(), "{sent}");

    let read = read_message(&server, &server.api_key, &id).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["to"], "+6141234567890");
    assert_eq!(read.body["message"], "Hello world!");
    assert_eq!(read.body["sender"], "Flowstates");
    assert_eq!(read.body["createdAt"], sent["createdAt"]);
    assert!(read.header("x-ratelimit-limit").is_some());

    // The sandbox delivers about a second after it takes the message.
    let delivered = wait_for_status(
        &server,
        &server.api_key,
        &id,
        "delivered",
        Duration::from_secs(15),
    )
    .await;
    assert!(delivered["sentAt"].is_string(), "{delivered}");
    assert!(delivered["deliveredAt"].is_string(), "{delivered}");
    assert!(delivered["failedAt"].is_null(), "{delivered}");
    assert!(delivered["error"].is_null(), "{delivered}");
    server.stop().await;
}

#[tokio::test]
async fn comments_go_but_comment_markers_inside_strings_stay() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(100, None).await;
    let text = r#"See http://x.test/*not a comment*/ and "//quoted" \ done"#;
    let body = format!(
        "/* leading */ {{\n\"to\": \"+233201234567\", // a line comment\n\"message\": {}, /* a \
         block\ncomment */ \"sender\": \"Acme\" // last\n}}\n",
        serde_json::to_string(text).expect("a JSON string")
    );
    for content_type in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let sent = send(&app, &key, content_type, &body).await;
        assert_eq!(
            sent.status,
            StatusCode::CREATED,
            "{content_type:?}: {}",
            sent.body
        );
        assert_eq!(sent.body["message"], text, "{content_type:?}");
        assert_eq!(
            sent.header("location"),
            Some(format!("/messages/{}", sent.body["id"].as_str().expect("id")).as_str())
        );
        let read = read_message(&app, &key, sent.body["id"].as_str().expect("id")).await;
        assert_eq!(read.body["message"], text, "{content_type:?}");
        assert_eq!(read.body["to"], "+233201234567");
    }
}

#[tokio::test]
async fn a_form_body_is_read_as_its_fields() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(100, None).await;
    let form = Some("application/x-www-form-urlencoded");
    let sent = send(
        &app,
        &key,
        form,
        "to=%2B233201234567&message=Hello+from+a+form%21&sender=Acme",
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert_eq!(sent.body["message"], "Hello from a form!");
    assert_eq!(sent.body["to"], "+233201234567");
    // A `+` written as it is reads as a space in a form: the answer says how to write it.
    let plain_plus = send(&app, &key, form, "to=+233201234567&message=hi&sender=Acme").await;
    assert_error(
        &plain_plus,
        StatusCode::BAD_REQUEST,
        "invalid_to",
        "plain +",
    );
    assert!(
        plain_plus.body["error"]
            .as_str()
            .expect("error")
            .contains("%2B")
    );
    let missing = send(&app, &key, form, "to=%2B233201234567&sender=Acme").await;
    assert_error(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "no message",
    );
    assert!(
        missing.body["error"]
            .as_str()
            .expect("error")
            .contains("message")
    );
}

#[tokio::test]
async fn bad_input_is_a_4xx_in_the_error_shape_and_sends_nothing() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(100, None).await;
    let json_type = Some("application/json");
    // A JSON body and the code of its 400.
    #[rustfmt::skip]
    let refused: &[(&str, &str)] = &[
        (r#"{"message": "hi", "sender": "Acme"}"#, "invalid_request"),
        (r#"{"to": "233201234567", "message": "hi", "sender": "Acme"}"#, "invalid_to"),
        (r#"{"to": "0201234567", "message": "hi", "sender": "Acme"}"#, "invalid_to"),
        (r#"{"to": "", "message": "hi", "sender": "Acme"}"#, "invalid_to"),
        (r#"{"to": "+12", "message": "hi", "sender": "Acme"}"#, "invalid_to"),
        (r#"{"to": "+999123456789", "message": "hi", "sender": "Acme"}"#, "invalid_to"),
        (r#"{"to": "+233201234567", "message": "hi", "sender": "Nobody"}"#, "invalid_sender_id"),
        (r#"{"to": "+233201234567", "message": "hi"}"#, "invalid_request"),
        (r#"{"to": "+233201234567", "message": "", "sender": "Acme"}"#, "missing_message"),
        (r#"{"to": "+233201234567", "message": "Hi {{name}}", "sender": "Acme"}"#, "unsupported_placeholder"),
        (r#"{"to": "+233201234567", "message": "hi", "sender": "Acme""#, "invalid_json"),
        (r#"{"to": "+233201234567" "message": "hi", "sender": "Acme"}"#, "invalid_json"),
        (r#"{"to": "+233201234567", "message": "hi", "sender": "Acme"} /* open"#, "invalid_json"),
        ("", "invalid_json"),
        (r#"{"to": 233201234567, "message": "hi", "sender": "Acme"}"#, "invalid_request"),
        (r#"{"to": "+233201234567", "message": ["hi"], "sender": "Acme"}"#, "invalid_request"),
        (r#"{"to": "+233201234567", "message": "hi", "sender": null}"#, "invalid_request"),
        (r#"["+233201234567", "hi", "Acme"]"#, "invalid_request"),
    ];
    for (body, code) in refused {
        let reply = send(&app, &key, json_type, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code, body);
    }
    let valid = r#"{"to": "+233201234567", "message": "hi", "sender": "Acme"}"#;
    // Other encodings: a content type and body, and the answer.
    #[rustfmt::skip]
    let other: &[(Option<&str>, &str, StatusCode, &str)] = &[
        (None, "not json at all", StatusCode::BAD_REQUEST, "invalid_json"),
        (Some("application/x-www-form-urlencoded"), "to=%ZZ", StatusCode::BAD_REQUEST, "invalid_body"),
        (Some("text/plain"), valid, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (Some("multipart/form-data; boundary=x"), "--x--", StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    ];
    for (content_type, body, status, code) in other {
        let reply = send(&app, &key, *content_type, body).await;
        assert_error(&reply, *status, code, &format!("{content_type:?} {body}"));
    }
    let huge = format!(
        r#"{{"to": "+233201234567", "message": "{}", "sender": "Acme"}}"#,
        "a".repeat(flit_api::DEFAULT_MAX_BODY_BYTES)
    );
    let reply = send(&app, &key, json_type, &huge).await;
    assert_error(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "huge body",
    );
    let long = json!({"to": "+233201234567", "message": "a".repeat(2000), "sender": "Acme"});
    let reply = send(&app, &key, json_type, &long.to_string()).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "message_too_long",
        "long text",
    );

    assert_eq!(message_count(&app, &key).await, 0, "something was sent");
    assert_eq!(balance(&app, &key).await, 100, "something was charged");
}

#[tokio::test]
async fn credits_and_idempotency_work_as_on_the_native_api() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(1, None).await;
    let body = r#"{"to": "+233201234567", "message": "once", "sender": "Acme"}"#;
    let first = app
        .call(
            flowstates_key(Call::post("/messages/send"), &key)
                .header("idempotency-key", "order-17")
                .body(Some("application/json"), body),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let retry = app
        .call(
            flowstates_key(Call::post("/messages/send"), &key)
                .header("idempotency-key", "order-17")
                .body(Some("application/json"), body),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(balance(&app, &key).await, 0);
    let broke = send(&app, &key, Some("application/json"), body).await;
    assert_error(
        &broke,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_credits",
        "no credits left",
    );
    assert_eq!(message_count(&app, &key).await, 1);
}

#[tokio::test]
async fn a_failed_message_shows_when_and_why() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(100, None).await;
    // The sandbox fails numbers ending in 0000.
    let sent = send(
        &app,
        &key,
        Some("application/json"),
        r#"{"to": "+233200000000", "message": "doomed", "sender": "Acme"}"#,
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let id = sent.body["id"].as_str().expect("id");
    let failed = wait_for_status(&app, &key, id, "failed", Duration::from_secs(15)).await;
    assert!(failed["failedAt"].is_string(), "{failed}");
    assert!(failed["deliveredAt"].is_null(), "{failed}");
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );
}

#[tokio::test]
async fn the_tenants_strict_setting_wins_over_the_structural_check() {
    let app = TestApp::start().await;
    let (tenant, key) = app.tenant(100, None).await;
    let seed_number = r#"{"to": "+6141234567890", "message": "hi", "sender": "Acme"}"#;
    let structural = send(&app, &key, Some("application/json"), seed_number).await;
    assert_eq!(
        structural.status,
        StatusCode::CREATED,
        "{}",
        structural.body
    );
    let strict = app
        .admin(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(json!({"numberValidation": "strict"})),
        )
        .await;
    assert_eq!(strict.status, StatusCode::OK, "{}", strict.body);
    let refused = send(&app, &key, Some("application/json"), seed_number).await;
    assert_error(
        &refused,
        StatusCode::BAD_REQUEST,
        "invalid_to",
        "strict tenant",
    );
    let real = r#"{"to": "+233201234567", "message": "hi", "sender": "Acme"}"#;
    let accepted = send(&app, &key, Some("application/json"), real).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
}

#[tokio::test]
async fn keys_scopes_and_tenants_are_checked() {
    let app = TestApp::start().await;
    let (_, owner) = app.tenant(100, None).await;
    let (_, stranger) = app.tenant(100, None).await;
    let (_, read_only) = app.tenant(100, Some(&["sms:read"])).await;
    let (_, send_only) = app.tenant(100, Some(&["sms:send"])).await;
    let body = r#"{"to": "+233201234567", "message": "hi", "sender": "Acme"}"#;

    let sent = send(&app, &owner, Some("application/json"), body).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(sent.header(name).is_some(), "{name}");
    }
    let id = sent.body["id"].as_str().expect("id").to_string();

    // Every key form is accepted; no key or a wrong one is 401.
    for (name, value) in [
        ("authorization", format!("X-Api-key {owner}")),
        ("authorization", format!("Bearer {owner}")),
        ("x-api-key", owner.clone()),
    ] {
        let reply = app
            .call(Call::get(format!("/messages/{id}")).header(name, value))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
    }
    let anonymous = app
        .call(Call::post("/messages/send").body(Some("application/json"), body))
        .await;
    assert_error(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no key",
    );
    let wrong = send(&app, "flt_live_nope", Some("application/json"), body).await;
    assert_error(
        &wrong,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "unknown key",
    );

    // Sending needs `sms:send`, reading `sms:read`.
    let denied = send(&app, &read_only, Some("application/json"), body).await;
    assert_error(
        &denied,
        StatusCode::FORBIDDEN,
        "forbidden",
        "send with sms:read",
    );
    assert!(
        denied.body["error"]
            .as_str()
            .expect("error")
            .contains("sms:send")
    );
    let denied = read_message(&app, &send_only, &id).await;
    assert_error(
        &denied,
        StatusCode::FORBIDDEN,
        "forbidden",
        "read with sms:send",
    );
    assert!(
        denied.body["error"]
            .as_str()
            .expect("error")
            .contains("sms:read")
    );

    // Another tenant's message is as unknown as one that never existed.
    let foreign = read_message(&app, &stranger, &id).await;
    assert_error(
        &foreign,
        StatusCode::NOT_FOUND,
        "not_found",
        "another tenant's id",
    );
    let mut ghost = id.clone();
    let last = ghost.pop().expect("an id");
    ghost.push(if last == '0' { '1' } else { '0' });
    let unknown = read_message(&app, &owner, &ghost).await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found", "unknown id");
    assert_eq!(foreign.body["error"], unknown.body["error"]);
    let garbage = read_message(&app, &owner, "not-an-id").await;
    assert_error(&garbage, StatusCode::NOT_FOUND, "not_found", "malformed id");
    assert_eq!(message_count(&app, &stranger).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_registered_listed_called_and_deleted_in_the_flat_shape() {
    use flit_loadtest::webhook::{WebhookReceiver, WebhookReceiverConfig};

    let server = TestServer::start_adjusted(|mut config| {
        config.webhooks.allow_private_networks = true;
        config
    })
    .await;
    let key = server.api_key.clone();
    let mut receiver = WebhookReceiver::start(WebhookReceiverConfig::default())
        .await
        .expect("receiver");
    // No `events`: every event; a comment in the body, as this dialect's bodies may have.
    let body = format!("{{\"url\": \"{}\" // where events go\n}}", receiver.url());
    let created = server
        .call(flowstates_key(Call::post("/webhooks"), &key).body(None, body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body.get("success").is_none(), "flat, no envelope");
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(created.body["events"].as_array().map(Vec::len), Some(5));
    receiver.set_secrets(vec![
        created.body["secret"].as_str().expect("secret").to_string(),
    ]);

    let listed = server
        .call(flowstates_key(Call::get("/webhooks"), &key))
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["webhooks"][0]["id"], id.as_str());
    assert!(listed.body["webhooks"][0].get("secret").is_none());

    let sent = send(
        &server,
        &key,
        Some("application/json"),
        r#"{"to": "+233201234567", "message": "hi", "sender": "Flowstates"}"#,
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    assert!(
        receiver
            .wait_until(|stats| stats.recipients_final == 1, Duration::from_secs(15))
            .await,
        "{:?}",
        receiver.stats()
    );
    assert_eq!(receiver.stats().by_type.get("message.delivered"), Some(&1));

    let bad = server
        .call(
            flowstates_key(Call::post("/webhooks"), &key)
                .body(Some("application/json"), r#"{"url": "gopher://x"}"#),
        )
        .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_url", "bad scheme");
    let deleted = server
        .call(flowstates_key(
            Call::new(Method::DELETE, format!("/webhooks/{id}")),
            &key,
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body["deleted"], true);
    let again = server
        .call(flowstates_key(
            Call::new(Method::DELETE, format!("/webhooks/{id}")),
            &key,
        ))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    receiver.stop().await;
}
