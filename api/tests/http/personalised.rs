//! Sends to groups, contacts and everyone: sources combined and deduped, per-contact
//! personalisation priced recipient by recipient, soft-deleted contacts left out, and a large
//! group send written in chunks.

use std::collections::HashMap;
use std::time::Duration;

use flit_loadtest::smsc::{self, SmscConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, Call, TestApp, TestServer};

async fn group(api: &impl Api, name: &str) -> String {
    let created = api
        .post("/api/v1/contacts/groups", json!({"name": name}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["id"].as_str().expect("id").to_string()
}

async fn import(api: &impl Api, contacts: Vec<Value>, group: Option<&str>) -> Value {
    let mut body = json!({"contacts": contacts});
    if let Some(group) = group {
        body["groupId"] = json!(group);
    }
    let imported = api.post("/api/v1/contacts/import", body).await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.body);
    imported.body["data"].clone()
}

async fn contact(api: &impl Api, phone: &str, first: &str) -> String {
    let created = api
        .post(
            "/api/v1/contacts",
            json!({"phone": phone, "firstName": first}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["data"]["id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_contact_gets_their_own_text_priced_on_its_own() {
    let smsc = smsc::start(SmscConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        receipt_delay: Duration::from_millis(50),
        ..SmscConfig::default()
    })
    .await
    .expect("smsc");
    let server = TestServer::start().await;
    let bind = server
        .admin(
            Method::POST,
            "/binds",
            Some(json!({"name": "sim", "host": "127.0.0.1", "port": smsc.addr.port(), "systemId": "flit"})),
        )
        .await;
    assert_eq!(bind.status, StatusCode::CREATED);
    let vip = group(&server, "VIP Customers").await;
    import(
        &server,
        vec![
            json!({"phone": "0201234567", "firstName": "Kofi", "lastName": "Mensah"}),
            // A UCS-2 name turns that one recipient's text into UCS-2 (2 parts here).
            json!({"phone": "0241234567", "firstName": "Ɛsi", "lastName": "Owusu"}),
            json!({"phone": "0501234567", "lastName": "NoFirstName"}),
        ],
        Some(&vip),
    )
    .await;
    let text = format!(
        "Hello {{{{firstName}}}} {{{{lastName}}}}! {}",
        "x".repeat(60)
    );
    let estimate = server
        .post(
            "/api/v1/sms/estimate",
            json!({"groupId": vip, "message": text}),
        )
        .await;
    assert_eq!(estimate.status, StatusCode::OK, "{}", estimate.body);
    // Kofi: 1 GSM-7 part (79 septets); Ɛsi: 2 UCS-2 parts (77 units); the third: 1 part.
    assert_eq!(estimate.body["data"]["creditsRequired"], 4);
    assert_eq!(estimate.body["data"]["recipientCount"], 3);
    let sent = server
        .post("/api/v1/sms/send", json!({"groupId": vip, "message": text}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.body["data"]["creditsUsed"], 4);
    assert_eq!(sent.body["data"]["recipientsSent"], 3);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let report = server.settled(&id, Duration::from_secs(15)).await;
    assert_eq!(report["stats"]["delivered"], 3, "{report}");
    let mut texts: HashMap<String, String> = HashMap::new();
    for submit in smsc.received() {
        texts
            .entry(submit.destination.clone())
            .or_default()
            .push_str(&submit.text());
    }
    let tail = "x".repeat(60);
    assert_eq!(texts["233201234567"], format!("Hello Kofi Mensah! {tail}"));
    assert_eq!(texts["233241234567"], format!("Hello Ɛsi Owusu! {tail}"));
    assert_eq!(texts["233501234567"], format!("Hello  NoFirstName! {tail}"));
    assert_eq!(server.balance().await, 996);
    server.assert_ledger_balanced().await;
}

#[tokio::test]
async fn sources_are_combined_and_deduped() {
    let app = TestApp::start().await;
    let a = group(&app, "A").await;
    let b = group(&app, "B").await;
    import(
        &app,
        vec![
            json!({"phone": "0201111111"}),
            json!({"phone": "0202222222"}),
        ],
        Some(&a),
    )
    .await;
    import(
        &app,
        vec![
            json!({"phone": "0202222222"}),
            json!({"phone": "0203333333"}),
        ],
        Some(&b),
    )
    .await;
    let lone = contact(&app, "0204444444", "Lone").await;
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({
                "recipients": ["0201111111", "+233205555555"],
                "groupId": a,
                "groupIds": [a, b],
                "contactIds": [lone],
                "sendToAllContacts": true,
                "message": "hi"
            }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    // 0201111111, 0205555555, 0202222222, 0203333333, 0204444444
    assert_eq!(sent.body["data"]["recipientsSent"], 5);
    assert_eq!(sent.body["data"]["creditsUsed"], 5);
    let unknown = app
        .post(
            "/api/v1/sms/send",
            json!({"groupId": "grp_nope", "message": "hi"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unknown_contact = app
        .post(
            "/api/v1/sms/send",
            json!({"contactIds": ["cnt_00000000000000000000000000"], "message": "hi"}),
        )
        .await;
    assert_eq!(unknown_contact.status, StatusCode::NOT_FOUND);
    assert_eq!(app.balance().await, 995);
}

#[tokio::test]
async fn soft_deleted_contacts_are_not_sent_to() {
    let app = TestApp::start().await;
    let g = group(&app, "G").await;
    import(
        &app,
        vec![
            json!({"phone": "0201111111"}),
            json!({"phone": "0202222222"}),
        ],
        Some(&g),
    )
    .await;
    let gone = contact(&app, "0203333333", "Gone").await;
    let added = app
        .post(
            &format!("/api/v1/contacts/groups/{g}/members"),
            json!({"contactIds": [gone]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/v1/contacts/{gone}"),
            Some(&app.api_key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    for body in [
        json!({"groupId": g, "message": "hi"}),
        json!({"sendToAllContacts": true, "message": "hi"}),
    ] {
        let sent = app.post("/api/v1/sms/send", body).await;
        assert_eq!(sent.body["data"]["recipientsSent"], 2, "{}", sent.body);
    }
    let by_id = app
        .post(
            "/api/v1/sms/send",
            json!({"contactIds": [gone], "message": "hi"}),
        )
        .await;
    assert_eq!(by_id.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_group_send_is_written_in_chunks_and_charged_exactly() {
    let app = TestApp::start().await;
    let big = group(&app, "Everyone").await;
    // 12,000 contacts: more than two chunks of 5,000 recipient rows.
    for batch in 0..2 {
        let contacts: Vec<Value> = (0..6_000)
            .map(|i| json!({"phone": format!("024{}{:06}", batch + 1, i), "firstName": format!("C{i}")}))
            .collect();
        let imported = import(&app, contacts, Some(&big)).await;
        assert_eq!(imported["created"], 6_000, "{imported}");
    }
    let credits = app
        .admin(
            Method::POST,
            &format!("/tenants/{}/credits", app.tenant_id),
            Some(json!({"amount": 20_000, "type": "PURCHASE"})),
        )
        .await;
    assert_eq!(credits.status, StatusCode::CREATED);
    let before = app.balance().await;
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"groupId": big, "message": "Dear {{firstName}}, thanks"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.body["data"]["recipientsSent"], 12_000);
    assert_eq!(sent.body["data"]["creditsUsed"], 12_000);
    assert_eq!(app.balance().await, before - 12_000);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let report = app.settled(&id, Duration::from_secs(120)).await;
    // The sandbox fails numbers ending in 0000: 0241000000 and 0242000000.
    assert_eq!(report["stats"]["delivered"], 11_998);
    assert_eq!(report["stats"]["failed"], 2);
    app.assert_ledger_balanced().await;
}

#[tokio::test]
async fn a_large_send_refused_for_credits_stores_nothing() {
    let app = TestApp::start().await;
    let big = group(&app, "Big").await;
    let contacts: Vec<Value> = (0..6_000)
        .map(|i| json!({"phone": format!("0241{i:06}")}))
        .collect();
    import(&app, contacts, Some(&big)).await;
    let refused = app
        .post("/api/v1/sms/send", json!({"groupId": big, "message": "hi"}))
        .await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    let history = app.get("/api/v1/sms").await;
    assert_eq!(history.body["data"]["pagination"]["total"], 0);
    assert_eq!(app.balance().await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_large_send_answers_the_first_time_and_charges_once() {
    let app = TestApp::start().await;
    let big = group(&app, "Big").await;
    let contacts: Vec<Value> = (0..6_000)
        .map(|i| json!({"phone": format!("0241{i:06}")}))
        .collect();
    import(&app, contacts, Some(&big)).await;
    app.admin(
        Method::POST,
        &format!("/tenants/{}/credits", app.tenant_id),
        Some(json!({"amount": 10_000, "type": "PURCHASE"})),
    )
    .await;
    let send = || {
        app.call(
            Call::post("/api/v1/sms/send")
                .bearer(&app.api_key)
                .header("Idempotency-Key", "campaign-42")
                .json(&json!({"groupId": big, "message": "once"})),
        )
    };
    let first = send().await;
    let again = send().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, again.body);
    assert_eq!(app.balance().await, 11_000 - 6_000);
    let history = app.get("/api/v1/sms").await;
    assert_eq!(history.body["data"]["pagination"]["total"], 1);
}
