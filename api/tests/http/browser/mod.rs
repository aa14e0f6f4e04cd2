//! The console in a real browser (SPEC §13): headless Chromium (Debian's `chromium`) driven
//! through `chromedriver` over WebDriver. A tenant's new user signs in, sends to a group with a
//! template and watches the message reach Delivered; the session cookie is `HttpOnly`; a form
//! whose CSRF token was taken out is refused; the user reaches neither another tenant's pages
//! nor the operator's. Without Chromium the tests say so and pass; with `FLIT_REQUIRE_NODE=1`
//! (CI's `.ci/run` sets it after installing every interop peer) they fail instead.
//!
//! With `FLIT_CONSOLE_SCREENSHOTS=<dir>`, the tour also writes a screenshot of each main page
//! at desktop and phone width there (how `docs/console/` is made).

mod webdriver;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::console::{PASSWORD, operator, tenant_user};
use crate::common::{Api, TestServer};
use webdriver::{Browser, Driver};

const DESKTOP: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (375, 812);

/// The browser's driver, or `None` (said on stderr) when Chromium is not installed.
async fn driver() -> Option<Driver> {
    if let Some(reason) = webdriver::missing() {
        assert!(
            std::env::var("FLIT_REQUIRE_NODE").as_deref() != Ok("1"),
            "FLIT_REQUIRE_NODE=1 and {reason}"
        );
        let test = std::thread::current()
            .name()
            .unwrap_or("a browser test")
            .to_string();
        let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
        return None;
    }
    Some(Driver::start().await)
}

/// Signs in through the login page's form.
async fn sign_in(browser: &Browser, server: &TestServer, email: &str) {
    browser
        .goto(&format!("{}/console/login", server.base))
        .await;
    browser.el("input[name=email]").await.type_text(email).await;
    browser
        .el("input[name=password]")
        .await
        .type_text(PASSWORD)
        .await;
    browser.el("form button[type=submit]").await.click().await;
    browser.wait_for("main h1", Duration::from_secs(10)).await;
    assert!(
        !browser.url().await.contains("/console/login"),
        "signed in: {}",
        browser.source().await
    );
}

/// Where screenshots go, when asked for.
fn screenshots() -> Option<PathBuf> {
    std::env::var_os("FLIT_CONSOLE_SCREENSHOTS").map(PathBuf::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_sends_to_a_group_with_a_template_and_sees_it_delivered() {
    let Some(driver) = driver().await else { return };
    let server = TestServer::start().await;
    let (_, key, email) = tenant_user(&server, 100, "member").await;
    // The book, through the tenant's API: a group of two contacts and a template.
    let call = |method: Method, path: &str, body: serde_json::Value| {
        let (server, key) = (&server, key.clone());
        let path = path.to_string();
        async move { server.request(method, &path, Some(&key), Some(body)).await }
    };
    let group = call(
        Method::POST,
        "/api/v1/contacts/groups",
        json!({"name": "Customers"}),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group_id = group.body["data"]["id"]
        .as_str()
        .expect("group id")
        .to_string();
    let mut contacts = Vec::new();
    for (phone, name) in [("0241234567", "Ama"), ("0201234567", "Kofi")] {
        let contact = call(
            Method::POST,
            "/api/v1/contacts",
            json!({"phone": phone, "firstName": name}),
        )
        .await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
        contacts.push(contact.body["data"]["id"].as_str().expect("id").to_string());
    }
    let members = call(
        Method::POST,
        &format!("/api/v1/contacts/groups/{group_id}/members"),
        json!({"contactIds": contacts}),
    )
    .await;
    assert!(members.status.is_success(), "{}", members.body);
    let template = call(
        Method::POST,
        "/api/v1/templates",
        json!({"name": "Greeting", "content": "Hello {{firstName}}, your code is {{code}}"}),
    )
    .await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);

    let browser = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&browser, &server, &email).await;
    browser.goto(&format!("{}/console/send", server.base)).await;
    browser.el("input[name=group]").await.click().await;
    browser
        .el("#template option:nth-child(2)")
        .await
        .click()
        .await;
    browser.el("#variables").await.type_text("code=4711").await;
    // The live counter: the engine's figures for the group and the template.
    let counter = browser
        .wait_for("#counter strong#cost", Duration::from_secs(5))
        .await;
    let _ = counter.text().await;
    let text = browser.el("#counter").await.text().await;
    assert!(
        text.contains("2 recipients") && text.contains("GSM-7"),
        "{text}"
    );
    browser.el("#send").await.click().await;
    browser.wait_for("#sent", Duration::from_secs(10)).await;
    assert!(
        browser
            .el("#sent")
            .await
            .text()
            .await
            .contains("2 recipients")
    );
    browser.el("#report-link").await.click().await;
    // The report reloads itself until the message is final.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = browser.find("#message-status").await
            && status.text().await == "DELIVERED"
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {}",
            browser.source().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recipients = browser.el("#recipients").await.text().await;
    assert!(
        recipients.contains("233241234567") && recipients.contains("233201234567"),
        "{recipients}"
    );
    // Each contact got the template filled with its own name and the variable.
    assert!(
        recipients.contains("Hello Ama, your code is 4711"),
        "{recipients}"
    );
    assert!(
        recipients.contains("Hello Kofi, your code is 4711"),
        "{recipients}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_httponly_forms_need_their_token_and_tenants_stay_apart() {
    let Some(driver) = driver().await else { return };
    let server = TestServer::start().await;
    let (_, _, mine) = tenant_user(&server, 10, "admin").await;
    let (_, their_key, _) = tenant_user(&server, 10, "admin").await;
    let theirs = server
        .request(
            Method::POST,
            "/api/v1/sms/send",
            Some(&their_key),
            Some(json!({"recipients": ["0241234567"], "message": "their secret"})),
        )
        .await;
    let their_message = theirs.body["data"]["messageId"]
        .as_str()
        .expect("id")
        .to_string();

    let browser = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&browser, &server, &mine).await;
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|cookie| cookie["name"] == "flit_session")
        .unwrap_or_else(|| panic!("no session cookie: {cookies:?}"));
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Lax", "{session}");
    assert_eq!(
        browser
            .run("return document.cookie.includes('flit_session')")
            .await,
        false,
        "scripts cannot read it"
    );

    // A form whose CSRF token was taken out is refused, and nothing is sent.
    browser.goto(&format!("{}/console/send", server.base)).await;
    browser.el("#numbers").await.type_text("0241234567").await;
    browser.el("#message").await.type_text("forged").await;
    browser
        .run("document.querySelector('#send-form input[name=_csrf]').remove()")
        .await;
    browser.el("#send").await.click().await;
    browser.wait_for("p.problem", Duration::from_secs(5)).await;
    assert!(
        browser
            .source()
            .await
            .contains("did not come from this console")
    );
    browser
        .goto(&format!("{}/console/history", server.base))
        .await;
    assert!(!browser.source().await.contains("forged"));

    browser
        .goto(&format!("{}/console/history/{their_message}", server.base))
        .await;
    let page = browser.source().await;
    assert!(
        page.contains("Not found") && !page.contains("their secret"),
        "{page}"
    );
    browser
        .goto(&format!("{}/console/op/tenants", server.base))
        .await;
    assert!(browser.source().await.contains("Not allowed"));
    browser.close().await;

    let ops = operator(&server).await;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&browser, &server, &ops).await;
    assert!(
        browser.url().await.ends_with("/console/op/tenants"),
        "{}",
        browser.url().await
    );
    browser.goto(&format!("{}/console/send", server.base)).await;
    assert!(
        browser.source().await.contains("Not allowed"),
        "the operator has no tenant pages"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_page_renders_at_desktop_and_phone_width() {
    let Some(driver) = driver().await else { return };
    let server = TestServer::start().await;
    let (_, key, email) = tenant_user(&server, 500, "admin").await;
    for i in 0..6 {
        server
            .request(
                Method::POST,
                "/api/v1/sms/send",
                Some(&key),
                Some(json!({"recipients": ["0241234567", "0201234567"], "message": format!("Tour message {i}")})),
            )
            .await;
    }
    // Something in the book, so the pages show what they hold.
    let group = server
        .request(
            Method::POST,
            "/api/v1/contacts/groups",
            Some(&key),
            Some(json!({"name": "Customers"})),
        )
        .await;
    let group = group.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (phone, name) in [
        ("0241234567", "Ama"),
        ("0201234567", "Kofi"),
        ("0551234567", "Esi"),
    ] {
        let contact = server
            .request(
                Method::POST,
                "/api/v1/contacts",
                Some(&key),
                Some(json!({"phone": phone, "firstName": name})),
            )
            .await;
        let id = contact.body["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        server
            .request(
                Method::POST,
                &format!("/api/v1/contacts/groups/{group}/members"),
                Some(&key),
                Some(json!({"contactIds": [id]})),
            )
            .await;
    }
    server
        .request(
            Method::POST,
            "/api/v1/templates",
            Some(&key),
            Some(json!({"name": "Reminder", "content": "Hi {{firstName}}, your appointment is on {{date}}."})),
        )
        .await;
    let ops = operator(&server).await;
    let tenant_pages = [
        ("overview", "Overview"),
        ("send", "Send"),
        ("history", "History"),
        ("contacts", "Contacts"),
        ("groups", "Groups"),
        ("templates", "Templates"),
        ("sender-ids", "Sender IDs"),
        ("devices", "Devices"),
        ("inbound", "Inbound"),
        ("transactions", "Transactions"),
        ("keys", "API keys"),
        ("webhooks", "Webhooks"),
        ("users", "Users"),
    ];
    let operator_pages = [
        ("op/tenants", "Tenants"),
        ("op/binds", "Binds & routes"),
        ("op/smpp", "SMPP accounts"),
        ("op/health", "Health"),
    ];
    let out = screenshots();
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).expect("screenshot dir");
    }
    for (who, pages) in [(&email, &tenant_pages[..]), (&ops, &operator_pages[..])] {
        for (size, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            let browser = driver.browser(width, height).await;
            sign_in(&browser, &server, who).await;
            for (path, title) in pages {
                browser
                    .goto(&format!("{}/console/{path}", server.base))
                    .await;
                let heading = browser
                    .wait_for("main h1", Duration::from_secs(5))
                    .await
                    .text()
                    .await;
                assert_eq!(heading, *title, "{path} at {size}");
                // Nothing runs off the side at phone width.
                let overflow = browser
                    .run("return document.documentElement.scrollWidth > window.innerWidth + 1")
                    .await;
                assert_eq!(overflow, false, "{path} is wider than the {size} window");
                if let Some(dir) = &out {
                    let name = format!("{}-{size}.png", path.replace('/', "-"));
                    std::fs::write(dir.join(name), browser.screenshot().await).expect("screenshot");
                }
            }
            browser.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_makes_and_revokes_a_key_imports_a_csv_and_pairs_a_phone() {
    let Some(driver) = driver().await else { return };
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 100, "admin").await;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&browser, &server, &email).await;

    // An API key with one scope: its secret shown once, and it works until revoked.
    browser.goto(&format!("{}/console/keys", server.base)).await;
    browser
        .el("#create-key input[name=name]")
        .await
        .type_text("reporting")
        .await;
    // Only `balance:read`, whatever the form ticks to begin with.
    let ticked = browser
        .run("return [...document.querySelectorAll('input[name=scope]:checked')].map(b => b.value)")
        .await;
    for scope in ticked
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
    {
        let selector = format!(r#"input[name=scope][value="{scope}"]"#);
        browser.el(&selector).await.click().await;
    }
    browser
        .el(r#"input[name=scope][value="balance:read"]"#)
        .await
        .click()
        .await;
    browser
        .el("#create-key button[type=submit]")
        .await
        .click()
        .await;
    let secret = browser
        .wait_for("#secret", Duration::from_secs(5))
        .await
        .text()
        .await;
    let balance = |key: String| {
        let url = format!("{}/api/v1/balance", server.base);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("balance")
                .status()
        }
    };
    assert_eq!(balance(secret.clone()).await, StatusCode::OK);
    browser.goto(&format!("{}/console/keys", server.base)).await;
    assert!(!browser.source().await.contains(&secret), "shown once only");
    browser.el("#keys form button").await.click().await;
    browser.accept_alert().await;
    browser.wait_for("#notice", Duration::from_secs(5)).await;
    assert_eq!(balance(secret).await, StatusCode::UNAUTHORIZED, "revoked");

    // A CSV file with a bad number and a repeated one: previewed, then only the good rows.
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("contacts.csv");
    std::fs::write(
        &csv,
        "phone,first_name\n0241234567,Ama\nnot-a-number,Bad\n0241234567,Again\n0201234567,Kofi\n",
    )
    .expect("csv");
    browser
        .goto(&format!("{}/console/contacts", server.base))
        .await;
    browser
        .el("#import-contacts input[type=file]")
        .await
        .type_text(csv.to_str().expect("path"))
        .await;
    browser
        .el("#import-contacts button[type=submit]")
        .await
        .click()
        .await;
    let summary = browser
        .wait_for("#summary", Duration::from_secs(5))
        .await
        .text()
        .await;
    assert_eq!(
        summary,
        "2 to import · 1 invalid · 1 duplicate",
        "{}",
        browser.source().await
    );
    assert!(
        browser
            .el("#import-invalid")
            .await
            .text()
            .await
            .contains("not-a-number")
    );
    browser.el("#confirm-import").await.click().await;
    browser.wait_for("#notice", Duration::from_secs(5)).await;
    let contacts = browser.el("#contacts").await.text().await;
    assert!(
        contacts.contains("Ama") && contacts.contains("Kofi") && !contacts.contains("Bad"),
        "{contacts}"
    );

    // A phone paired with a one-time code from the devices page.
    browser
        .goto(&format!("{}/console/devices", server.base))
        .await;
    browser.el("#new-code").await.click().await;
    let code = browser
        .wait_for("#pairing-code", Duration::from_secs(5))
        .await
        .text()
        .await;
    let client = reqwest::Client::new();
    let registered: serde_json::Value = client
        .post(format!("{}/mobile/v1/device", server.base))
        .header("authorization", format!("Code {code}"))
        .json(&json!({"name": "Browser phone", "simCards": []}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = registered["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"));
    // It pulls once, which makes it online.
    let pulled = client
        .get(format!("{}/mobile/v1/message", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("pull");
    assert!(pulled.status().is_success());
    browser
        .goto(&format!("{}/console/devices", server.base))
        .await;
    let devices = browser.el("#devices").await.text().await;
    assert!(
        devices.contains("Browser phone") && devices.contains("online"),
        "{devices}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_adds_credits_and_a_bind() {
    let Some(driver) = driver().await else { return };
    let server = TestServer::start().await;
    let (tenant, key, _) = tenant_user(&server, 10, "member").await;
    let ops = operator(&server).await;
    let browser = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&browser, &server, &ops).await;

    // Credits, from the tenant's page; the ledger shows the line and the API the balance.
    browser
        .goto(&format!("{}/console/op/tenants", server.base))
        .await;
    browser
        .el(&format!(r#"a[href="/console/op/tenants/{tenant}"]"#))
        .await
        .click()
        .await;
    browser.wait_for("#credits", Duration::from_secs(5)).await;
    browser
        .el("#credits input[name=amount]")
        .await
        .type_text("250")
        .await;
    browser
        .el("#credits input[name=description]")
        .await
        .type_text("Invoice 42")
        .await;
    browser
        .el("#credits button[type=submit]")
        .await
        .click()
        .await;
    browser.wait_for("#notice", Duration::from_secs(5)).await;
    assert_eq!(browser.el("#balance").await.text().await, "260");
    assert!(
        browser
            .el("#ledger")
            .await
            .text()
            .await
            .contains("Invoice 42")
    );
    let balance = server
        .request(Method::GET, "/api/v1/balance", Some(&key), None)
        .await;
    assert_eq!(balance.body["data"]["balance"], 260);

    // A carrier bind: listed with its live state, and sandbox mode ends.
    let smsc = flit_loadtest::smsc::start(flit_loadtest::smsc::SmscConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        system_id: Some("flit".into()),
        password: Some("secret".into()),
        ..Default::default()
    })
    .await
    .expect("smsc");
    browser
        .goto(&format!("{}/console/op/binds", server.base))
        .await;
    assert!(browser.find("#sandbox").await.is_some());
    for (name, value) in [
        ("name", "carrier-a".to_string()),
        ("host", "127.0.0.1".to_string()),
        ("port", smsc.addr.port().to_string()),
        ("system_id", "flit".to_string()),
        ("password", "secret".to_string()),
    ] {
        browser
            .el(&format!("#new-bind input[name={name}]"))
            .await
            .type_text(&value)
            .await;
    }
    browser
        .el("#new-bind button[type=submit]")
        .await
        .click()
        .await;
    browser.wait_for("#notice", Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let binds = browser.el("#binds").await.text().await;
        if binds.contains("carrier-a") && binds.contains("bound") && !binds.contains("not bound") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bind never came up: {binds}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser
            .goto(&format!("{}/console/op/binds", server.base))
            .await;
    }
    assert!(
        browser.find("#sandbox").await.is_none(),
        "a real bind ends sandbox mode"
    );
    browser.close().await;
}
