//! `GET /health` tells the truth when an internal actor is gone for good: after the router is
//! killed eleven times within a minute (one more than the supervisor restarts), health answers
//! 503 saying which actor, sends answer 503 `engine_unhealthy` with `Retry-After`, and the rest
//! of the API keeps answering.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Api, TestServer};

/// Kills the running router and waits for the supervisor's next incarnation, if any comes.
async fn kill_router(engine: &flit_engine::Engine) {
    let router = || {
        engine
            .dispatch_actors()
            .into_iter()
            .find(|(name, _)| name == "router")
            .map(|(_, cell)| cell)
    };
    let killed = router().expect("a router is running");
    killed.kill();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while router().is_some_and(|cell| cell.get_id() == killed.get_id())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn health_and_sends_answer_503_once_an_actor_is_given_up_on() {
    let server = TestServer::start().await;
    let health = server.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    assert!(health.body.get("reason").is_none(), "{:?}", health.body);

    let engine = &server.server.as_ref().expect("running").engine;
    for _ in 0..11 {
        kill_router(engine).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let health = loop {
        let health = server.get("/health").await;
        if health.status != StatusCode::OK || tokio::time::Instant::now() > deadline {
            break health;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.body["status"], "unhealthy");
    assert_eq!(
        health.body["reason"],
        "the router actor failed 11 times in a minute"
    );
    assert_eq!(health.body["sandbox"], true, "the rest of the shape stays");

    let refused = server
        .post(
            "/api/v1/sms/send",
            json!({"recipients": ["0201234567"], "message": "hi", "senderId": "MyBrand"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.code(), "engine_unhealthy");
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert_eq!(server.get("/api/v1/balance").await.status, StatusCode::OK);
}
