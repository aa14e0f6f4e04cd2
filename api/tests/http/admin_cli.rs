//! `flit admin`, the real binary against a real server: a newcomer sets up a tenant with
//! credits, a sender ID and a key, a bind and a route, with it alone and its help; names
//! stand for ids; failures are one line and a non-zero exit; a tenant is suspended, resumed,
//! exported and deleted (after typing its name); its SMPP accounts are created, listed and
//! deleted; operator accounts are created (the password from the environment), listed,
//! signed in with and deleted by email.

use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::common::{ADMIN_TOKEN, Api, TestServer};

/// What one run of `flit admin …` did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON it printed; fails the test (with its stderr) if it failed.
    fn json(&self) -> Value {
        assert!(self.success, "flit admin failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }

    /// Its one-line error; fails the test if it succeeded.
    fn error(&self) -> &str {
        assert!(!self.success, "expected a failure, got: {}", self.stdout);
        let line = self.stderr.trim_end();
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.starts_with("error: "), "{line}");
        line
    }
}

/// `flit admin --url <server> --token <admin token> <args>`, with `stdin` as its input.
async fn flit(server: &TestServer, args: &[&str], stdin: &str) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"))
        .arg("admin")
        .args(["--url", &server.base, "--token", ADMIN_TOKEN])
        .args(args)
        .env_remove("FLIT_ADMIN_TOKEN")
        .env_remove("FLIT_URL")
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flit runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("stdin written");
    drop(input);
    let output = child.wait_with_output().await.expect("flit ends");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn admin(server: &TestServer, args: &[&str]) -> Run {
    flit(server, args, "").await
}

/// A port nothing listens on: a bind to it is created and never bound.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn every_command_answers_its_help() {
    let server = TestServer::start().await;
    let top = admin(&server, &["--help"]).await;
    assert!(top.success, "{}", top.stderr);
    for step in [
        "flit admin tenants create",
        "flit admin keys create",
        "flit admin binds create",
        "flit admin routes create",
        "flit admin smpp-accounts create",
        "flit admin operators create",
    ] {
        assert!(
            top.stdout.contains(step),
            "the walkthrough shows {step:?}: {}",
            top.stdout
        );
    }
    let commands: &[&[&str]] = &[
        &["tenants"],
        &["tenants", "list"],
        &["tenants", "show"],
        &["tenants", "create"],
        &["tenants", "update"],
        &["tenants", "suspend"],
        &["tenants", "resume"],
        &["tenants", "export"],
        &["tenants", "delete"],
        &["keys"],
        &["keys", "list"],
        &["keys", "create"],
        &["keys", "revoke"],
        &["credits"],
        &["credits", "add"],
        &["credits", "ledger"],
        &["sender-ids"],
        &["sender-ids", "list"],
        &["sender-ids", "add"],
        &["smpp-accounts"],
        &["smpp-accounts", "list"],
        &["smpp-accounts", "create"],
        &["smpp-accounts", "delete"],
        &["operators"],
        &["operators", "list"],
        &["operators", "create"],
        &["operators", "delete"],
        &["binds"],
        &["binds", "list"],
        &["binds", "show"],
        &["binds", "create"],
        &["binds", "delete"],
        &["routes"],
        &["routes", "list"],
        &["routes", "create"],
        &["routes", "delete"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = admin(&server, &args).await;
        assert!(help.success, "{command:?} --help: {}", help.stderr);
        assert!(
            help.stdout.contains("Usage: flit admin"),
            "{command:?}: {}",
            help.stdout
        );
        // Every argument and option says what it is: a `--flag` or `<ARG>` line has its text
        // beside it or on the next, deeper-indented line.
        let lines: Vec<&str> = help.stdout.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let item = line.trim_start();
            if !(item.starts_with("--") || item.starts_with("-h") || item.starts_with('<')) {
                continue;
            }
            let beside = item
                .split("  ")
                .filter(|part| !part.trim().is_empty())
                .count()
                > 1;
            let indent = line.len() - item.len();
            let below = lines.get(at + 1).is_some_and(|next| {
                let text = next.trim_start();
                !text.is_empty() && next.len() - text.len() > indent
            });
            assert!(beside || below, "{command:?}: `{}` has no help text", item);
        }
    }
}

#[tokio::test]
async fn smpp_accounts_are_created_listed_and_deleted_by_system_id() {
    let server = TestServer::start().await;
    let created = admin(
        &server,
        &[
            "smpp-accounts",
            "create",
            "default",
            "--system-id",
            "acme_esme",
            "--password",
            "s3cret",
            "--tps",
            "20",
        ],
    )
    .await
    .json();
    let id = created["data"]["id"].as_str().expect("data.id").to_string();
    assert!(id.starts_with("smp_"), "{created}");
    assert_eq!(created["data"]["maxBinds"], 2);
    assert_eq!(created["data"]["tps"], 20);
    assert!(!created.to_string().contains("s3cret"), "{created}");

    // The password from the environment, off the command line.
    let mut from_env = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"));
    from_env
        .args(["admin", "--url", &server.base, "--token", ADMIN_TOKEN])
        .args([
            "smpp-accounts",
            "create",
            "default",
            "--system-id",
            "second",
        ])
        .env("FLIT_SMPP_PASSWORD", "fromenv")
        .env("RUST_LOG", "off");
    let output = from_env.output().await.expect("flit runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let listed = admin(&server, &["smpp-accounts", "list", "default"])
        .await
        .json();
    let system_ids: Vec<&str> = listed["data"]["smppAccounts"]
        .as_array()
        .expect("smppAccounts")
        .iter()
        .filter_map(|account| account["systemId"].as_str())
        .collect();
    assert_eq!(system_ids, ["acme_esme", "second"]);

    let taken = admin(
        &server,
        &[
            "smpp-accounts",
            "create",
            "default",
            "--system-id",
            "acme_esme",
            "--password",
            "other",
        ],
    )
    .await;
    assert!(taken.error().contains("acme_esme"), "{}", taken.stderr);

    let deleted = admin(
        &server,
        &["smpp-accounts", "delete", "default", "acme_esme"],
    )
    .await
    .json();
    assert_eq!(deleted["data"]["id"], id.as_str());
    // Gone: its system_id names nothing now.
    let again = admin(
        &server,
        &["smpp-accounts", "delete", "default", "acme_esme"],
    )
    .await;
    assert!(again.error().contains("acme_esme"), "{}", again.stderr);
    let listed = admin(&server, &["smpp-accounts", "list", "default"])
        .await
        .json();
    assert_eq!(
        listed["data"]["smppAccounts"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn operator_accounts_are_created_listed_and_deleted_by_email() {
    let server = TestServer::start().await;
    let mut create = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"));
    create
        .args(["admin", "--url", &server.base, "--token", ADMIN_TOKEN])
        .args(["operators", "create", "--email", "Ops@Flit.example"])
        .env("FLIT_OPERATOR_PASSWORD", crate::common::console::PASSWORD)
        .env("RUST_LOG", "off");
    let output = create.output().await.expect("flit runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(created["data"]["role"], "operator", "{created}");
    assert!(
        !created
            .to_string()
            .contains(crate::common::console::PASSWORD),
        "{created}"
    );
    let listed = admin(&server, &["operators", "list"]).await.json();
    assert_eq!(listed["data"]["users"][0]["email"], "ops@flit.example");
    crate::common::console::Console::sign_in(
        &server,
        "ops@flit.example",
        crate::common::console::PASSWORD,
    )
    .await;
    let short = admin(
        &server,
        &[
            "operators",
            "create",
            "--email",
            "b@flit.example",
            "--password",
            "short",
        ],
    )
    .await;
    short.error();

    let deleted = admin(&server, &["operators", "delete", "OPS@flit.example"])
        .await
        .json();
    assert_eq!(deleted["data"]["id"], created["data"]["id"]);
    let again = admin(&server, &["operators", "delete", "ops@flit.example"]).await;
    assert!(
        again.error().contains("ops@flit.example"),
        "{}",
        again.stderr
    );
    let listed = admin(&server, &["operators", "list"]).await.json();
    assert_eq!(listed["data"]["users"], serde_json::json!([]));
}

#[tokio::test]
async fn a_newcomer_sets_up_a_tenant_a_bind_and_a_route_with_flit_admin_alone() {
    let server = TestServer::start().await;
    let created = admin(
        &server,
        &[
            "tenants",
            "create",
            "--name",
            "Acme Ltd",
            "--credits",
            "100",
            "--sender-id",
            "Acme",
        ],
    )
    .await
    .json();
    assert_eq!(created["data"]["balance"], 100);
    let tenant = created["data"]["id"].as_str().expect("id").to_string();

    let key = admin(
        &server,
        &["keys", "create", "Acme Ltd", "--name", "production"],
    )
    .await
    .json();
    let key = key["data"]["key"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let listed = admin(&server, &["keys", "list", "Acme Ltd"]).await;
    assert!(!listed.stdout.contains(&key), "a listing shows no secret");

    admin(&server, &["sender-ids", "add", "acme ltd", "Promo"])
        .await
        .json();
    let senders = admin(&server, &["sender-ids", "list", &tenant])
        .await
        .json();
    let names: Vec<&str> = senders["data"]["senderIds"]
        .as_array()
        .expect("list")
        .iter()
        .map(|sender| sender["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Acme", "Promo"]);

    let credited = admin(
        &server,
        &[
            "credits",
            "add",
            "Acme Ltd",
            "--amount",
            "-10",
            "--type",
            "ADJUSTMENT",
        ],
    )
    .await
    .json();
    assert_eq!(credited["data"]["balance"], 90);
    let ledger = admin(&server, &["credits", "ledger", "Acme Ltd", "--limit", "5"])
        .await
        .json();
    assert_eq!(ledger["data"]["pagination"]["total"], 2);

    let updated = admin(
        &server,
        &[
            "tenants",
            "update",
            "Acme Ltd",
            "--rate-limit-per-minute",
            "5000",
        ],
    )
    .await
    .json();
    assert_eq!(updated["data"]["rateLimitPerMinute"], 5000);

    let port = closed_port().to_string();
    let bind = admin(
        &server,
        &[
            "binds",
            "create",
            "--name",
            "carrier-a",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--system-id",
            "acme",
            "--password",
            "secret",
        ],
    )
    .await
    .json();
    let bind_id = bind["data"]["id"].as_str().expect("bind id").to_string();
    let shown = admin(&server, &["binds", "show", "carrier-a"]).await.json();
    assert_eq!(shown["data"]["id"], bind_id.as_str());
    let route = admin(
        &server,
        &["routes", "create", "--prefix", "233", "--bind", "carrier-a"],
    )
    .await
    .json();
    assert_eq!(route["data"]["bindIds"][0], bind_id.as_str());
    let route_id = route["data"]["id"].as_str().expect("route id").to_string();
    let routes = admin(&server, &["routes", "list"]).await.json();
    assert_eq!(routes["data"]["routes"].as_array().map(Vec::len), Some(1));

    // The key works; suspended, it is refused; resumed, it works again.
    let balance = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(balance.status, StatusCode::OK);
    let suspended = admin(&server, &["tenants", "suspend", "Acme Ltd"])
        .await
        .json();
    assert_eq!(suspended["data"]["suspended"], true);
    let refused = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "account_suspended");
    admin(&server, &["tenants", "resume", "Acme Ltd"])
        .await
        .json();
    let again = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    admin(&server, &["tenants", "suspend", &tenant])
        .await
        .json();

    admin(&server, &["routes", "delete", &route_id])
        .await
        .json();
    admin(&server, &["binds", "delete", "carrier-a"])
        .await
        .json();
    let binds = admin(&server, &["binds", "list"]).await.json();
    assert_eq!(binds["data"]["binds"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn names_that_match_no_tenant_or_several_are_one_line_errors() {
    let server = TestServer::start().await;
    for _ in 0..2 {
        admin(&server, &["tenants", "create", "--name", "Twin"])
            .await
            .json();
    }
    admin(&server, &["tenants", "create", "--name", "Kofi Ltd"])
        .await
        .json();

    let unknown = admin(&server, &["tenants", "show", "Kofi"]).await;
    let error = unknown.error();
    assert!(
        error.starts_with("error: tenant \"Kofi\" not found; did you mean: \"Kofi Ltd\" (ten_"),
        "{error}"
    );
    let nothing_like = admin(&server, &["keys", "list", "Nobody"]).await;
    assert!(
        nothing_like.error().contains("tenants are: "),
        "{}",
        nothing_like.stderr
    );
    let twins = admin(&server, &["tenants", "show", "Twin"]).await;
    assert!(
        twins.error().contains("is ambiguous (2 match"),
        "{}",
        twins.stderr
    );
    let missing_id = admin(&server, &["tenants", "show", "ten_missing"]).await;
    assert_eq!(missing_id.error(), "error: 404 Not Found: tenant not found");
    let no_bind = admin(&server, &["binds", "show", "carrier-z"]).await;
    assert!(
        no_bind.error().contains("bind \"carrier-z\" not found"),
        "{}",
        no_bind.stderr
    );
    let bad = admin(
        &server,
        &[
            "tenants",
            "create",
            "--name",
            "X",
            "--sender-id",
            "Far Too Long",
        ],
    )
    .await;
    assert!(
        bad.error().starts_with("error: 400 Bad Request: "),
        "{}",
        bad.stderr
    );
    let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_flit"))
        .args([
            "admin",
            "--url",
            "http://127.0.0.1:1",
            "--token",
            "x",
            "tenants",
            "list",
        ])
        .output()
        .await
        .expect("flit runs");
    assert!(!unreachable.status.success());
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(stderr.starts_with("error: cannot reach"), "{stderr}");
}

#[tokio::test]
async fn a_tenant_is_exported_then_deleted_once_its_name_is_typed() {
    let server = TestServer::start().await;
    let created = admin(
        &server,
        &["tenants", "create", "--name", "Acme Ltd", "--credits", "10"],
    )
    .await
    .json();
    let tenant = created["data"]["id"].as_str().expect("id").to_string();
    let key = admin(&server, &["keys", "create", &tenant]).await.json();
    let key = key["data"]["key"].as_str().expect("key").to_string();
    let contact = server
        .request(
            Method::POST,
            "/api/v1/contacts",
            Some(&key),
            Some(serde_json::json!({"phone": "0201234567", "firstName": "Ama"})),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
    let sent = server
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&key),
            Some(serde_json::json!({"recipients": ["0201234567"], "message": "Hello"})),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let message = sent.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();

    let active = admin(&server, &["tenants", "delete", "Acme Ltd", "--yes"]).await;
    assert!(
        active.error().contains("is active: suspend it first"),
        "{}",
        active.stderr
    );

    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("acme.ndjson");
    let exported = admin(
        &server,
        &[
            "tenants",
            "export",
            "Acme Ltd",
            "--out",
            file.to_str().expect("path"),
        ],
    )
    .await;
    assert!(exported.success, "{}", exported.stderr);
    assert!(
        exported.stderr.contains("records to"),
        "{}",
        exported.stderr
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&file).expect("export");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines[0]["type"], "tenant");
    assert!(
        lines
            .iter()
            .any(|line| line["type"] == "contact" && line["firstName"] == "Ama")
    );
    assert!(
        lines
            .iter()
            .any(|line| line["type"] == "message" && line["id"] == message.as_str())
    );
    assert!(
        lines
            .iter()
            .any(|line| line["type"] == "recipient" && line["messageId"] == message.as_str())
    );
    let to_stdout = admin(&server, &["tenants", "export", &tenant]).await;
    assert!(to_stdout.success, "{}", to_stdout.stderr);
    assert_eq!(to_stdout.stdout.lines().count(), lines.len());

    admin(&server, &["tenants", "suspend", "Acme Ltd"])
        .await
        .json();
    let mistyped = flit(&server, &["tenants", "delete", "Acme Ltd"], "Acme\n").await;
    assert!(!mistyped.success);
    assert!(
        mistyped.stderr.contains("Type its name to confirm"),
        "{}",
        mistyped.stderr
    );
    assert_eq!(
        mistyped.stderr.lines().last(),
        Some("error: the name typed does not match \"Acme Ltd\"; nothing was deleted")
    );
    admin(&server, &["tenants", "show", &tenant]).await.json();

    let deleted = flit(&server, &["tenants", "delete", "Acme Ltd"], "Acme Ltd\n").await;
    let deleted = deleted.json();
    assert_eq!(deleted["data"]["deleted"], true);
    assert_eq!(deleted["data"]["messages"], 1);
    let gone = admin(&server, &["tenants", "show", &tenant]).await;
    assert_eq!(gone.error(), "error: 404 Not Found: tenant not found");
    let by_name = admin(&server, &["tenants", "show", "Acme Ltd"]).await;
    assert!(by_name.error().contains("not found"), "{}", by_name.stderr);
    let listed = admin(&server, &["tenants", "list"]).await.json();
    assert_eq!(
        listed["data"]["tenants"].as_array().map(Vec::len),
        Some(1),
        "the bootstrap tenant"
    );
}
