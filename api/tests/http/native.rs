//! The seed-001 examples, key and base URL replaced, answer in the documented shape.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, Call, TestApp, TestServer};

#[tokio::test]
async fn documented_send_example_is_accepted_and_charged() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/sms/send",
            json!({
                "recipients": ["0201234567", "0241234567"],
                "message": "Hello from FlashSMS!",
                "senderId": "MyBrand",
                "campaignName": "Welcome Campaign"
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(reply.body["success"], true);
    assert!(data["messageId"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(data["recipientsSent"], 2);
    assert_eq!(data["invalidRecipients"], json!([]));
    assert_eq!(data["creditsUsed"], 2);
    assert_eq!(data["remainingCredits"], 998);
    assert_eq!(data["scheduled"], false);
    assert_eq!(data["scheduleDate"], json!(null));
    assert_eq!(app.balance().await, 998);
}

#[tokio::test]
async fn ghana_forms_of_one_number_are_deduped_and_bad_ones_listed() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/sms/send",
            json!({
                "recipients": ["0201234567", "+233201234567", "233201234567", "12", "0241234567"],
                "message": "Hi"
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["recipientsSent"], 2);
    assert_eq!(reply.body["data"]["invalidRecipients"], json!(["12"]));
    assert_eq!(reply.body["data"]["creditsUsed"], 2);
    let id = reply.body["data"]["messageId"].as_str().expect("id");
    let report = app.get(&format!("/api/v1/sms/{id}/recipients")).await;
    let phones: Vec<&str> = report.body["data"]["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| r["phone"].as_str().expect("phone"))
        .collect();
    assert_eq!(phones, ["233201234567", "233241234567"]);
}

#[tokio::test]
async fn to_takes_one_number_and_the_default_sender_is_the_first_approved() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/sms/send",
            json!({"to": "+233201234567", "message": "Hi"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = reply.body["data"]["messageId"].as_str().expect("id");
    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.body["data"]["senderId"], "FlashSMS");
}

#[tokio::test]
async fn balance_status_report_and_history_have_the_documented_shape() {
    let app = TestApp::start().await;
    let balance = app.get("/api/v1/balance").await;
    assert_eq!(balance.status, StatusCode::OK);
    assert_eq!(balance.body["data"]["balance"], 1000);
    assert_eq!(balance.body["data"]["currency"], "credits");
    assert_eq!(balance.body["data"]["accountName"], "default");
    assert!(balance.body["data"].get("accountPhone").is_some());

    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "Hello from FlashSMS!", "senderId": "MyBrand"}),
        )
        .await;
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();

    // The sandbox delivers about a second later; the shapes are checked once it has.
    app.settled(&id, std::time::Duration::from_secs(10)).await;

    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.status, StatusCode::OK);
    let data = &status.body["data"];
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["status"], "DELIVERED");
    assert_eq!(data["recipientCount"], 1);
    assert_eq!(data["message"], "Hello from FlashSMS!");
    assert_eq!(data["senderId"], "MyBrand");
    assert_eq!(data["creditsUsed"], 1);
    assert_eq!(data["scheduledAt"], json!(null));
    assert!(data["sentAt"].as_str().expect("sentAt").ends_with('Z'));
    assert!(
        data["createdAt"]
            .as_str()
            .expect("createdAt")
            .ends_with('Z')
    );

    let report = app.get(&format!("/api/v1/sms/{id}/recipients")).await;
    assert_eq!(report.status, StatusCode::OK);
    let data = &report.body["data"];
    assert_eq!(data["messageId"], id.as_str());
    assert_eq!(data["status"], "DELIVERED");
    assert_eq!(data["recipientCount"], 1);
    assert_eq!(data["recipients"][0]["phone"], "233201234567");
    assert_eq!(data["recipients"][0]["status"], "DELIVERED");
    assert!(data["recipients"][0]["sentAt"].is_string());
    assert_eq!(
        data["stats"],
        json!({"delivered": 1, "failed": 0, "pending": 0, "deliveryRate": 100.0})
    );

    let history = app.get("/api/v1/sms?page=1&limit=20").await;
    assert_eq!(history.status, StatusCode::OK);
    let messages = history.body["data"]["messages"]
        .as_array()
        .expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], id.as_str());
    assert_eq!(messages[0]["creditsUsed"], 1);
    assert_eq!(
        history.body["data"]["pagination"],
        json!({"page": 1, "limit": 20, "total": 1, "totalPages": 1, "hasMore": false})
    );
    let delivered = app
        .get("/api/v1/sms?page=1&limit=20&status=DELIVERED")
        .await;
    assert_eq!(delivered.status, StatusCode::OK);
    assert_eq!(delivered.body["data"]["pagination"]["total"], 1);
    let failed = app.get("/api/v1/sms?page=1&limit=20&status=FAILED").await;
    assert_eq!(failed.body["data"]["messages"], json!([]));
    assert_eq!(failed.body["data"]["pagination"]["total"], 0);
}

#[tokio::test]
async fn history_pages_newest_first_and_filters_by_date() {
    let app = TestApp::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let sent = app
            .post(
                "/api/v1/sms/send",
                json!({"recipients": ["0201234567"], "message": format!("n{i}")}),
            )
            .await;
        ids.push(
            sent.body["data"]["messageId"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let page1 = app.get("/api/v1/sms?page=1&limit=2").await;
    let page3 = app.get("/api/v1/sms?page=3&limit=2").await;
    let got: Vec<&str> = page1.body["data"]["messages"]
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, [ids[4].as_str(), ids[3].as_str()]);
    assert_eq!(page1.body["data"]["pagination"]["totalPages"], 3);
    assert_eq!(page1.body["data"]["pagination"]["hasMore"], true);
    assert_eq!(page3.body["data"]["messages"][0]["id"], ids[0].as_str());
    assert_eq!(page3.body["data"]["pagination"]["hasMore"], false);

    let past = app.get("/api/v1/sms?endDate=2020-01-01").await;
    assert_eq!(past.body["data"]["pagination"]["total"], 0);
    let since = app.get("/api/v1/sms?startDate=2020-01-01T00:00:00Z").await;
    assert_eq!(since.body["data"]["pagination"]["total"], 5);
}

#[tokio::test]
async fn listing_truncates_text_to_160_chars_but_status_does_not() {
    let app = TestApp::start().await;
    let text = "x".repeat(300);
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": text}),
        )
        .await;
    assert_eq!(sent.body["data"]["creditsUsed"], 2);
    let id = sent.body["data"]["messageId"].as_str().expect("id");
    let history = app.get("/api/v1/sms").await;
    assert_eq!(
        history.body["data"]["messages"][0]["message"]
            .as_str()
            .map(str::len),
        Some(160)
    );
    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(
        status.body["data"]["message"].as_str().map(str::len),
        Some(300)
    );
}

#[tokio::test]
async fn estimate_has_the_documented_shape_and_charges_nothing() {
    let app = TestApp::start().await;
    let reply = app
        .post(
            "/api/v1/sms/estimate",
            json!({"message": "a".repeat(145), "recipientCount": 500}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body["data"],
        json!({
            "message": {"length": 145, "parts": 1, "encoding": "GSM-7"},
            "recipientCount": 500,
            "creditsRequired": 500,
            "currentBalance": 1000,
            "canAfford": true
        })
    );
    let unicode = app
        .post(
            "/api/v1/sms/estimate",
            json!({"message": "Ɛte sɛn? 👋", "recipientCount": 2000}),
        )
        .await;
    assert_eq!(unicode.body["data"]["message"]["encoding"], "UCS-2");
    assert_eq!(unicode.body["data"]["creditsRequired"], 2000);
    assert_eq!(unicode.body["data"]["canAfford"], false);
    assert_eq!(app.balance().await, 1000);
}

#[tokio::test]
async fn sender_ids_and_transactions_have_the_documented_shape() {
    let app = TestApp::start().await;
    let senders = app.get("/api/v1/sender-ids").await;
    assert_eq!(senders.status, StatusCode::OK);
    let list = senders.body["data"]["senderIds"].as_array().expect("list");
    assert_eq!(list.len(), 3, "FlashSMS, MyBrand and Flowstates");
    assert!(list[0]["id"].as_str().expect("id").starts_with("sid_"));
    assert_eq!(list[0]["name"], "FlashSMS");
    assert_eq!(list[0]["status"], "APPROVED");
    assert!(list[0]["approvedAt"].is_string());

    app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567", "0241234567"], "message": "Hi", "campaignName": "Welcome Campaign"}),
        )
        .await;
    let usage = app
        .get("/api/v1/transactions?page=1&limit=20&type=USAGE")
        .await;
    assert_eq!(usage.status, StatusCode::OK);
    let transactions = usage.body["data"]["transactions"].as_array().expect("list");
    assert_eq!(transactions.len(), 1);
    let usage_entry = &transactions[0];
    assert!(usage_entry["id"].as_str().expect("id").starts_with("txn_"));
    assert_eq!(usage_entry["type"], "USAGE");
    assert_eq!(usage_entry["amount"], -2);
    assert_eq!(usage_entry["balance"], 998);
    assert_eq!(
        usage_entry["description"],
        "API SMS: Welcome Campaign (2 recipients)"
    );
    assert!(
        usage_entry["reference"]
            .as_str()
            .expect("ref")
            .starts_with("msg_")
    );
    let all = app.get("/api/v1/transactions").await;
    assert_eq!(all.body["data"]["pagination"]["total"], 2);
    assert_eq!(all.body["data"]["transactions"][1]["type"], "BONUS");
    assert_eq!(all.body["data"]["transactions"][1]["amount"], 1000);
}

#[tokio::test]
async fn insufficient_credits_answer_402_and_store_nothing() {
    let app = TestApp::start().await;
    let (_, key) = app.tenant(3, None).await;
    let reply = app
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(json!({"recipients": ["0201234567", "0241234567"], "message": "x".repeat(200)})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYMENT_REQUIRED, "{}", reply.body);
    assert_eq!(reply.code(), "insufficient_credits");
    assert_eq!(reply.body["success"], false);
    let history = app
        .request(Method::GET, "/api/v1/sms", Some(&key), None)
        .await;
    assert_eq!(history.body["data"]["pagination"]["total"], 0);
    assert_eq!(app.ledger_sum(&key).await, 3);
}

#[tokio::test]
async fn idempotent_retry_returns_the_first_answer_and_charges_once() {
    let app = TestApp::start().await;
    let body = json!({"recipients": ["0201234567"], "message": "once"});
    let send = |key: &'static str, body: serde_json::Value| {
        app.call(
            Call::post("/api/v1/sms/send")
                .bearer(&app.api_key)
                .header("Idempotency-Key", key)
                .json(&body),
        )
    };
    let first = send("order-42", body.clone()).await;
    let again = send("order-42", body.clone()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(first.body, again.body);
    assert_eq!(app.balance().await, 999);
    let other_body = send(
        "order-42",
        json!({"recipients": ["0201234567"], "message": "twice"}),
    )
    .await;
    assert_eq!(other_body.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other_body.code(), "idempotency_key_reused");
    let history = app.get("/api/v1/sms").await;
    assert_eq!(history.body["data"]["pagination"]["total"], 1);
    assert_eq!(app.balance().await, 999);
}

/// On the real server, as the two below: the retries arrive on many connections at once.
#[tokio::test]
async fn concurrent_idempotent_retries_charge_once() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let request = server
            .client
            .post(format!("{}/api/v1/sms/send", server.base))
            .bearer_auth(&server.api_key)
            .header("Idempotency-Key", "same-key")
            .json(&json!({"recipients": ["0201234567"], "message": "once"}));
        tasks.push(tokio::spawn(async move {
            TestServer::reply(request.send().await.expect("sent")).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(reply.status, StatusCode::OK);
        ids.insert(
            reply.body["data"]["messageId"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(server.balance().await, 999);
}

/// A retry that overlaps its original waits for it, whatever the answer holds: here an answer
/// listing 17 invalid numbers, more than the tenant actor keeps in memory once durable.
#[tokio::test]
async fn overlapping_retries_with_a_long_invalid_list_charge_once() {
    let server = TestServer::start().await;
    let mut recipients = vec!["0201234567".to_string()];
    recipients.extend((0..17).map(|i| format!("12{i}")));
    for trial in 0..5 {
        let key = format!("overlap-{trial}");
        let body = json!({"recipients": recipients, "message": "once"});
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let request = server
                .client
                .post(format!("{}/api/v1/sms/send", server.base))
                .bearer_auth(&server.api_key)
                .header("Idempotency-Key", &key)
                .json(&body);
            tasks.push(tokio::spawn(async move {
                TestServer::reply(request.send().await.expect("sent")).await
            }));
        }
        let mut ids = std::collections::HashSet::new();
        for task in tasks {
            let reply = task.await.expect("task");
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            assert_eq!(
                reply.body["data"]["invalidRecipients"]
                    .as_array()
                    .map(Vec::len),
                Some(17)
            );
            ids.insert(reply.body["data"]["messageId"].to_string());
        }
        assert_eq!(ids.len(), 1, "trial {trial}: one message for one key");
        assert_eq!(server.balance().await, 1000 - (trial + 1));
    }
    let history = server.get("/api/v1/sms").await;
    assert_eq!(history.body["data"]["pagination"]["total"], 5);
}

#[tokio::test]
async fn sandbox_delivers_and_fails_numbers_ending_in_0000() {
    let app = TestApp::start().await;
    let sent = app
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567", "0201230000"], "message": "x".repeat(200)}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert_eq!(sent.body["data"]["creditsUsed"], 4);
    let id = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();
    let report = app.settled(&id, std::time::Duration::from_secs(10)).await;
    assert_eq!(report["recipients"][0]["phone"], "233201234567");
    assert_eq!(report["recipients"][0]["status"], "DELIVERED");
    assert!(report["recipients"][0]["sentAt"].is_string());
    assert_eq!(report["recipients"][1]["status"], "FAILED");
    assert_eq!(
        report["stats"],
        json!({"delivered": 1, "failed": 1, "pending": 0, "deliveryRate": 50.0})
    );
    let status = app.get(&format!("/api/v1/sms/status/{id}")).await;
    assert_eq!(status.body["data"]["status"], "DELIVERED");
    assert!(status.body["data"]["sentAt"].is_string());
    // Both parts of the failed number were accepted by the (simulated) carrier: no refund.
    assert_eq!(app.balance().await, 996);
    assert_eq!(app.ledger_sum(&app.api_key).await, 996);
    let health = app.request(Method::GET, "/health", None, None).await;
    assert_eq!(health.body["sandbox"], true);
}
