//! The FlixySMS seed's own examples (curl, JavaScript's `fetch`, Python's `requests`), run by
//! the real programs with only the base URL and the key replaced: 503 `No devices available to
//! send SMS` while the tenant has no phone online; with a simulated phone online each send
//! answers in the documented shape and ends `delivered`, as each status example then says.
//!
//! Each example is kept as the seed writes it; one line is added after the JavaScript and
//! Python ones to print the answer as JSON (they print it in their own notation). Without
//! node or python's `requests` the test says so and passes; with `FLIT_REQUIRE_NODE=1`
//! (CI sets it, after installing both) it fails instead.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Api, TestServer, simulated_phones};

const SEED_BASE: &str = "https://flixysms.com/api/v1";
const SEED_KEY: &str = "YOUR_API_KEY";
const SEED_STATUS_ID: &str = "123e4567-e89b-12d3-a456-426614174000";

const SEND_CURL: &str = r#"curl -X POST \
  https://flixysms.com/api/v1/sms/send \
  -H "Authorization: Bearer YOUR_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{ "to": "+1234567890", "message": "Hello from FlixySMS!", "device_id": "optional-device-uuid" }'"#;

const SEND_JS: &str = r#"const response = await fetch('https://flixysms.com/api/v1/sms/send', {
  method: 'POST',
  headers: {
    'Authorization': 'Bearer YOUR_API_KEY',
    'Content-Type': 'application/json'
  },
  body: JSON.stringify({ "to": "+1234567890", "message": "Hello from FlixySMS!", "device_id": "optional-device-uuid" })
});
const data = await response.json();
console.log(data);"#;

const SEND_PY: &str = r#"import requests
response = requests.post(
    'https://flixysms.com/api/v1/sms/send',
    headers={
        'Authorization': 'Bearer YOUR_API_KEY',
        'Content-Type': 'application/json'
    },
    json={ "to": "+1234567890", "message": "Hello from FlixySMS!", "device_id": "optional-device-uuid" }
)
print(response.json())"#;

const STATUS_CURL: &str = r#"curl -X GET \
  https://flixysms.com/api/v1/sms/status/123e4567-e89b-12d3-a456-426614174000 \
  -H "Authorization: Bearer YOUR_API_KEY" \
"#;

const STATUS_JS: &str = r#"const response = await fetch('https://flixysms.com/api/v1/sms/status/123e4567-e89b-12d3-a456-426614174000', {
  method: 'GET',
  headers: {
    'Authorization': 'Bearer YOUR_API_KEY',
  }
});
const data = await response.json();
console.log(data);"#;

const STATUS_PY: &str = r#"import requests
response = requests.get(
    'https://flixysms.com/api/v1/sms/status/123e4567-e89b-12d3-a456-426614174000',
    headers={
        'Authorization': 'Bearer YOUR_API_KEY',
    }
)
print(response.json())"#;

#[derive(Clone, Copy, Debug)]
enum Runner {
    Curl,
    Node,
    Python,
}

/// Why the programs cannot run here, if they cannot.
fn missing() -> Option<String> {
    let works = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !works("curl", &["--version"]) {
        return Some("curl is not installed".into());
    }
    if !works("node", &["--version"]) {
        return Some("node is not installed".into());
    }
    if !works("python3", &["-c", "import requests"]) {
        return Some("python3 with `requests` is not installed".into());
    }
    None
}

/// Runs `example` with the seed's base URL and key replaced (and `SEED_STATUS_ID` by `id`);
/// the answer it printed, as JSON.
async fn run(runner: Runner, example: &str, base: &str, key: &str, id: Option<&str>) -> Value {
    let mut code = example.replace(SEED_BASE, base).replace(SEED_KEY, key);
    if let Some(id) = id {
        code = code.replace(SEED_STATUS_ID, id);
    }
    let mut command = match runner {
        Runner::Curl => {
            let mut command = tokio::process::Command::new("sh");
            command.args(["-c", &format!("{code} --silent --show-error")]);
            command
        }
        Runner::Node => {
            code.push_str("\nconsole.log(JSON.stringify(data));\n");
            let mut command = tokio::process::Command::new("node");
            command.args(["--input-type=module", "-e", &code]);
            command
        }
        Runner::Python => {
            code.push_str("\nimport json; print(json.dumps(response.json()))\n");
            let mut command = tokio::process::Command::new("python3");
            command.args(["-c", &code]);
            command
        }
    };
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the example finishes within 30 s")
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{runner:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.trim().lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("{runner:?} printed {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_own_examples_answer_503_without_a_phone_and_are_delivered_through_one() {
    use flit_loadtest::devices::DevicesConfig;

    if let Some(reason) = missing() {
        assert!(
            std::env::var("FLIT_REQUIRE_NODE").as_deref() != Ok("1"),
            "FLIT_REQUIRE_NODE=1 and {reason}"
        );
        eprintln!("skipping the FlixySMS seed examples: {reason}");
        return;
    }
    let server = TestServer::start().await;
    let base = format!("{}/flixy/api/v1", server.base);
    let key = server.api_key.clone();
    let sends = [
        (Runner::Curl, SEND_CURL),
        (Runner::Node, SEND_JS),
        (Runner::Python, SEND_PY),
    ];
    for (runner, example) in sends {
        let answer = run(runner, example, &base, &key, None).await;
        assert_eq!(answer["success"], false, "{runner:?}: {answer}");
        assert_eq!(
            answer["error"], "No devices available to send SMS",
            "{runner:?}: {answer}"
        );
    }
    assert_eq!(server.balance().await, 1000, "nothing charged");

    let pool = simulated_phones(
        &server,
        DevicesConfig {
            devices: 1,
            sent_delay: Duration::from_millis(20),
            delivered_delay: Duration::from_millis(50),
            ..DevicesConfig::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for (runner, example) in sends {
        let answer = run(runner, example, &base, &key, None).await;
        assert_eq!(answer["success"], true, "{runner:?}: {answer}");
        let data = &answer["data"];
        assert_eq!(data["to"], "+1234567890", "{runner:?}: {answer}");
        assert_eq!(data["status"], "queued", "{runner:?}: {answer}");
        assert!(data["created_at"].is_string(), "{runner:?}: {answer}");
        let id = data["message_id"].as_str().expect("message_id").to_string();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        ids.push(id);
    }
    let statuses = [
        (Runner::Curl, STATUS_CURL),
        (Runner::Node, STATUS_JS),
        (Runner::Python, STATUS_PY),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for (id, (runner, example)) in ids.iter().zip(statuses) {
        let answer = loop {
            let answer = run(runner, example, &base, &key, Some(id)).await;
            if answer["data"]["status"] == "delivered" {
                break answer;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{runner:?}: {answer} {:?}",
                pool.stats()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(answer["success"], true);
        assert_eq!(answer["data"]["message_id"], id.as_str());
        assert!(answer["data"]["delivered_at"].is_string(), "{answer}");
    }
    let stats = pool.stop().await;
    assert_eq!(stats.delivered, 3, "{stats:?}");
    assert_eq!(server.balance().await, 997, "one part each");
}
