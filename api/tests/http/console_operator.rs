//! The console's operator side over HTTP (SPEC §13): tenants made and run from it (credits
//! and the ledger, the rate limit, console users, SMPP accounts), carrier binds added and
//! removed, the health page, the first operator's one-time setup link, and a tenant's user
//! refused on every operator page.

use reqwest::StatusCode;

use crate::common::console::{Console, PASSWORD, operator, tenant_user};
use crate::common::{Api, TestServer};

/// Every operator page a signed-in tenant user must not see.
const OPERATOR_PAGES: &[&str] = &[
    "/console/op/tenants",
    "/console/op/binds",
    "/console/op/smpp",
    "/console/op/health",
];

/// The path a 303 points at, without its query.
fn path_of(location: Option<&str>) -> String {
    location
        .expect("a redirect")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_operator_runs_a_tenant_from_the_console() {
    let server = TestServer::start().await;
    let email = operator(&server).await;
    let mut ops = Console::sign_in(&server, &email, PASSWORD).await;

    let list = ops.get("/console/op/tenants").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    let created = ops
        .post(
            "/console/op/tenants",
            &[
                ("name", "Kofi & Sons <Ltd>"),
                ("credits", "250"),
                ("sender_ids", "Kofi, KofiSons"),
                ("rate_limit", "60"),
                ("price", "2"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let tenant_page = path_of(created.location.as_deref());
    assert!(
        created
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("?notice=tenant_created")),
        "{:?}",
        created.location
    );
    let tenant_id = tenant_page.rsplit('/').next().expect("an id").to_string();
    let page = ops
        .get(&format!("{tenant_page}?notice=tenant_created"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("Tenant created."), "{}", page.html);
    assert!(
        page.contains("&#60;Ltd&#62;") && !page.contains("<Ltd>"),
        "the name is escaped: {}",
        page.html
    );
    assert!(page.contains(r#"id="balance">250<"#), "{}", page.html);
    assert!(page.contains("KofiSons"), "{}", page.html);
    assert!(page.contains("Opening balance"), "{}", page.html);
    // A notice code the console does not know shows nothing of the query.
    let odd = ops
        .get(&format!(
            "{tenant_page}?notice=%3Cscript%3Ealert(1)%3C/script%3E"
        ))
        .await;
    assert!(!odd.contains("alert(1)"), "{}", odd.html);

    // Credits, with the ledger line below.
    ops.get(&tenant_page).await;
    let added = ops
        .post(
            &format!("{tenant_page}/credits"),
            &[
                ("amount", "1000"),
                ("type", "PURCHASE"),
                ("description", "Invoice 42"),
                ("nonce", "credits-1"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    // The same form again (a double click) adds nothing more.
    let twice = ops
        .post(
            &format!("{tenant_page}/credits"),
            &[
                ("amount", "1000"),
                ("type", "PURCHASE"),
                ("description", "Invoice 42"),
                ("nonce", "credits-1"),
            ],
        )
        .await;
    assert_eq!(twice.status, StatusCode::SEE_OTHER, "{}", twice.html);
    let page = ops.get(&tenant_page).await;
    assert!(page.contains(r#"id="balance">1,250<"#), "{}", page.html);
    assert!(
        page.contains("<td>PURCHASE</td><td>1,000</td><td>1,250</td><td>Invoice 42</td>"),
        "{}",
        page.html
    );
    let balance = server
        .admin(reqwest::Method::GET, &format!("/tenants/{tenant_id}"), None)
        .await;
    assert_eq!(balance.body["data"]["balance"], 1250, "{}", balance.body);

    // The engine's refusal is shown on the page with a 4xx, never a 500.
    let overdrawn = ops
        .post(
            &format!("{tenant_page}/credits"),
            &[
                ("amount", "-99999"),
                ("type", "ADJUSTMENT"),
                ("nonce", "credits-2"),
            ],
        )
        .await;
    assert!(
        overdrawn.status.is_client_error(),
        "{}: {}",
        overdrawn.status,
        overdrawn.html
    );
    assert!(
        overdrawn.contains(r#"id="form-error""#),
        "{}",
        overdrawn.html
    );
    let bad_kind = ops
        .post(
            &format!("{tenant_page}/credits"),
            &[("amount", "5"), ("type", "USAGE")],
        )
        .await;
    assert_eq!(
        bad_kind.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_kind.html
    );

    // The rate limit and price, through the admin PATCH's engine call.
    ops.get(&tenant_page).await;
    let saved = ops
        .post(
            &format!("{tenant_page}/settings"),
            &[("rate_limit", "600"), ("price", "3")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let tenant = server
        .admin(reqwest::Method::GET, &format!("/tenants/{tenant_id}"), None)
        .await;
    assert_eq!(tenant.body["data"]["rateLimitPerMinute"], 600);
    assert_eq!(tenant.body["data"]["pricePerPart"], 3);
    let zero = ops
        .post(&format!("{tenant_page}/settings"), &[("rate_limit", "0")])
        .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST, "{}", zero.html);

    // A sender ID.
    ops.get(&tenant_page).await;
    let sender = ops
        .post(
            &format!("{tenant_page}/sender-ids"),
            &[("name", "KofiAlerts")],
        )
        .await;
    assert_eq!(sender.status, StatusCode::SEE_OTHER, "{}", sender.html);
    assert!(ops.get(&tenant_page).await.contains("KofiAlerts"));

    // A console user of the tenant, who can then sign in to its pages.
    let user_email = format!("ama-{}@kofi.example", &tenant_id[4..12]);
    let user = ops
        .post(
            &format!("{tenant_page}/users"),
            &[
                ("email", &user_email),
                ("password", PASSWORD),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(user.status, StatusCode::SEE_OTHER, "{}", user.html);
    let mut ama = Console::sign_in(&server, &user_email, PASSWORD).await;
    let overview = ama.get("/console/overview").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.contains(r#"id="balance">1,250<"#),
        "{}",
        overview.html
    );
    let short = ops
        .post(
            &format!("{tenant_page}/users"),
            &[("email", "x@kofi.example"), ("password", "short")],
        )
        .await;
    assert!(short.status.is_client_error(), "{}", short.html);

    // Suspended, its people are signed out; resumed, they sign in again.
    ops.get(&tenant_page).await;
    let suspended = ops.post(&format!("{tenant_page}/suspend"), &[]).await;
    assert_eq!(suspended.status, StatusCode::SEE_OTHER);
    assert_eq!(
        ama.get("/console/overview").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(
        ops.get(&tenant_page)
            .await
            .contains(r#"id="state">suspended"#)
    );
    let resumed = ops.post(&format!("{tenant_page}/resume"), &[]).await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER);

    // An SMPP account, listed on the tenant's page and on the SMPP page.
    ops.get(&tenant_page).await;
    let account = ops
        .post(
            &format!("{tenant_page}/smpp-accounts"),
            &[
                ("system_id", "kofi_esme"),
                ("password", "s3cret"),
                ("max_binds", "3"),
                ("window", ""),
                ("tps", "25"),
            ],
        )
        .await;
    assert_eq!(account.status, StatusCode::SEE_OTHER, "{}", account.html);
    let page = ops.get(&tenant_page).await;
    assert!(page.contains("<code>kofi_esme</code>"), "{}", page.html);
    let smpp = ops.get("/console/op/smpp").await;
    assert_eq!(smpp.status, StatusCode::OK);
    assert!(
        smpp.contains("kofi_esme") && smpp.contains(&format!("/console/op/tenants/{tenant_id}")),
        "{}",
        smpp.html
    );
    let taken = ops
        .post(
            &format!("{tenant_page}/smpp-accounts"),
            &[("system_id", "kofi_esme"), ("password", "other")],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.html);

    // The user removed: their session ends.
    let page = ops.get(&tenant_page).await;
    let remove = page
        .html
        .split(&format!("{tenant_page}/users/"))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a remove form")
        .to_string();
    let removed = ops
        .post(&format!("{tenant_page}/users/{remove}"), &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    assert_eq!(
        ama.get("/console/overview").await.status,
        StatusCode::SEE_OTHER
    );

    // Every form needs the session's CSRF token.
    let forged = ops
        .post_without_csrf(
            &format!("{tenant_page}/credits"),
            &[("amount", "5"), ("type", "BONUS")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        ops.get("/console/op/tenants/ten_nosuchtenant").await.status,
        StatusCode::NOT_FOUND
    );

    // The ledger a page at a time, newest first.
    for n in 1..=20 {
        let bonus = server
            .admin(
                reqwest::Method::POST,
                &format!("/tenants/{tenant_id}/credits"),
                Some(serde_json::json!({"amount": 1, "type": "BONUS", "description": format!("bonus {n}")})),
            )
            .await;
        assert_eq!(bonus.status, StatusCode::CREATED, "{}", bonus.body);
    }
    let first = ops.get(&tenant_page).await;
    assert!(first.contains("page 1 of 2"), "{}", first.html);
    assert!(first.contains("bonus 20") && !first.contains("Opening balance"));
    let second = ops.get(&format!("{tenant_page}?page=2")).await;
    assert!(
        second.contains("page 2 of 2") && second.contains("Opening balance"),
        "{}",
        second.html
    );
}

#[tokio::test]
async fn an_operator_adds_and_removes_a_bind_and_reads_the_health_page() {
    let server = TestServer::start().await;
    let email = operator(&server).await;
    let mut ops = Console::sign_in(&server, &email, PASSWORD).await;

    let health = ops.get("/console/op/health").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.html);
    for part in [
        r#"id="verdict""#,
        r#"id="sandbox""#,
        r#"id="backlog">0<"#,
        r#"id="webhook-outbox">0<"#,
        r#"id="smpp-held">0<"#,
        r#"href="/metrics""#,
        r#"href="/health""#,
    ] {
        assert!(health.contains(part), "{part}: {}", health.html);
    }

    // A port nothing listens on: the bind is there, not bound.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = closed.local_addr().expect("its address").port().to_string();
    drop(closed);
    ops.get("/console/op/binds").await;
    let added = ops
        .post(
            "/console/op/binds",
            &[
                ("name", "carrier-x"),
                ("host", "127.0.0.1"),
                ("port", &port),
                ("system_id", "flit"),
                ("password", "pw"),
                ("mode", "transceiver"),
                ("window", "10"),
                ("tps", "5"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let binds = ops.get("/console/op/binds?notice=bind_added").await;
    assert!(binds.contains("carrier-x"), "{}", binds.html);
    assert!(binds.contains("not bound"), "{}", binds.html);
    assert!(binds.contains("Bind added"), "{}", binds.html);
    let listed = server.admin(reqwest::Method::GET, "/binds", None).await;
    let bind_id = listed.body["data"]["binds"][0]["id"]
        .as_str()
        .expect("the bind")
        .to_string();
    let health = ops.get("/console/op/health").await;
    assert!(health.contains("0 up · 1 down"), "{}", health.html);

    // A route through it, then gone.
    let route = ops
        .post(
            "/console/op/routes",
            &[("prefix", "233"), ("bind", &bind_id), ("priority", "5")],
        )
        .await;
    assert_eq!(route.status, StatusCode::SEE_OTHER, "{}", route.html);
    let binds = ops.get("/console/op/binds").await;
    assert!(
        binds.contains("<td>233</td><td>carrier-x</td><td>5</td>"),
        "{}",
        binds.html
    );

    // A bind without a port is refused on the page.
    let refused = ops
        .post(
            "/console/op/binds",
            &[("name", "x"), ("host", "127.0.0.1"), ("system_id", "y")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.html);
    assert!(
        refused.contains(r#"value="x""#),
        "the form is kept: {}",
        refused.html
    );

    let deleted = ops
        .post(&format!("/console/op/binds/{bind_id}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.html);
    let listed = server.admin(reqwest::Method::GET, "/binds", None).await;
    assert_eq!(listed.body["data"]["binds"], serde_json::json!([]));
    let binds = ops.get("/console/op/binds").await;
    assert!(!binds.contains("carrier-x"), "{}", binds.html);
}

#[tokio::test]
async fn the_setup_link_makes_the_first_operator_once() {
    let server = TestServer::start().await;
    let url = server
        .server
        .as_ref()
        .and_then(|server| server.setup_url.clone())
        .expect("a setup link at a start with no operator");
    assert!(
        url.starts_with(&format!("{}/console/setup?token=", server.base)),
        "{url}"
    );
    let path = url.trim_start_matches(&server.base).to_string();
    let token = url.split("token=").nth(1).expect("a token").to_string();

    let mut anyone = Console::new(&server);
    let wrong = anyone.get("/console/setup?token=not-the-token").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let forged = anyone
        .post_without_csrf(
            "/console/setup",
            &[
                ("token", "not-the-token"),
                ("email", "eve@flit.example"),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let form = anyone.get(&path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert!(form.contains(r#"name="repeat""#), "{}", form.html);
    let mismatch = anyone
        .post_without_csrf(
            "/console/setup",
            &[
                ("token", &token),
                ("email", "ops@flit.example"),
                ("password", PASSWORD),
                ("repeat", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let made = anyone
        .post_without_csrf(
            "/console/setup",
            &[
                ("token", &token),
                ("email", "ops@flit.example"),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.html);
    assert_eq!(made.location.as_deref(), Some("/console/op/tenants"));
    // Signed in at once.
    let cookie = made.set_cookie.expect("a session");
    anyone.cookie = Some(cookie.split(';').next().expect("name=value").to_string());
    let tenants = anyone.get("/console/op/tenants").await;
    assert_eq!(tenants.status, StatusCode::OK, "{}", tenants.html);

    // Once only.
    let mut again = Console::new(&server);
    assert_eq!(again.get(&path).await.status, StatusCode::FORBIDDEN);
    let second = again
        .post_without_csrf(
            "/console/setup",
            &[
                ("token", &token),
                ("email", "second@flit.example"),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    let operators = server.admin(reqwest::Method::GET, "/operators", None).await;
    assert_eq!(
        operators.body["data"]["users"].as_array().map(Vec::len),
        Some(1),
        "{}",
        operators.body
    );
    Console::sign_in(&server, "ops@flit.example", PASSWORD).await;
}

#[tokio::test]
async fn an_operator_made_with_the_admin_token_closes_the_setup_link() {
    let server = TestServer::start().await;
    let url = server
        .server
        .as_ref()
        .and_then(|server| server.setup_url.clone())
        .expect("a setup link");
    let path = url.trim_start_matches(&server.base).to_string();
    let mut anyone = Console::new(&server);
    assert_eq!(anyone.get(&path).await.status, StatusCode::OK);
    let email = operator(&server).await;
    assert_eq!(anyone.get(&path).await.status, StatusCode::FORBIDDEN);
    // Even with every operator gone again, the old link stays closed.
    let listed = server.admin(reqwest::Method::GET, "/operators", None).await;
    let id = listed.body["data"]["users"][0]["id"]
        .as_str()
        .expect("the operator")
        .to_string();
    assert_eq!(listed.body["data"]["users"][0]["email"], email.as_str());
    let deleted = server
        .admin(reqwest::Method::DELETE, &format!("/operators/{id}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(anyone.get(&path).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_tenant_user_is_refused_every_operator_page() {
    let server = TestServer::start().await;
    let (tenant, _, email) = tenant_user(&server, 10, "admin").await;
    let mut me = Console::sign_in(&server, &email, PASSWORD).await;
    let mut pages: Vec<String> = OPERATOR_PAGES.iter().map(|p| p.to_string()).collect();
    pages.push(format!("/console/op/tenants/{tenant}"));
    for page in &pages {
        let answer = me.get(page).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{page}");
    }
    // Its forms too, with a valid token of its own session.
    me.get("/console/send").await;
    for (path, fields) in [
        (
            format!("/console/op/tenants/{tenant}/credits"),
            vec![("amount", "100"), ("type", "BONUS")],
        ),
        ("/console/op/tenants".to_string(), vec![("name", "mine")]),
        ("/console/op/binds".to_string(), vec![("name", "b")]),
    ] {
        let answer = me.post(&path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
    let balance = server
        .admin(reqwest::Method::GET, &format!("/tenants/{tenant}"), None)
        .await;
    assert_eq!(balance.body["data"]["balance"], 10);
}

#[tokio::test]
async fn a_customers_live_smpp_bind_shows_and_ends_with_its_account() {
    let server = crate::smpp_server::smpp_server().await;
    let email = operator(&server).await;
    let mut ops = Console::sign_in(&server, &email, PASSWORD).await;
    let (tenant, _) = server.tenant(100, None).await;
    let tenant_page = format!("/console/op/tenants/{tenant}");
    ops.get(&tenant_page).await;
    let created = ops
        .post(
            &format!("{tenant_page}/smpp-accounts"),
            &[("system_id", "live_esme"), ("password", "s3cret")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);

    let mut esme = crate::common::esme::Esme::connect(crate::smpp_server::smpp_addr(&server)).await;
    let status = esme
        .bind(crate::common::esme::BIND_TRANSCEIVER, "live_esme", "s3cret")
        .await;
    assert_eq!(status, 0, "bound");
    let smpp = ops.get("/console/op/smpp").await;
    assert!(
        smpp.contains("live_esme") && smpp.contains("transceiver</span> from 127.0.0.1:"),
        "{}",
        smpp.html
    );
    let page = ops.get(&tenant_page).await;
    assert!(
        page.contains("transceiver from 127.0.0.1:"),
        "{}",
        page.html
    );

    let account = page
        .html
        .split(&format!("{tenant_page}/smpp-accounts/"))
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a delete form")
        .to_string();
    let deleted = ops
        .post(
            &format!("{tenant_page}/smpp-accounts/{account}/delete"),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.html);
    assert!(
        esme.closed_within(std::time::Duration::from_secs(5)).await,
        "the account's bind is closed"
    );
    let smpp = ops.get("/console/op/smpp").await;
    assert!(!smpp.contains("live_esme"), "{}", smpp.html);
}
