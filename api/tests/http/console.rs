//! The console over HTTP (SPEC §13): sign-in and its limit, the session cookie's attributes,
//! CSRF, roles and tenant isolation, the send page's counter and a send through it. (The same
//! in a real browser: `browser/`.)

use reqwest::StatusCode;

use crate::common::console::{Console, PASSWORD, operator, tenant_user};
use crate::common::{Api, TestServer};

#[tokio::test]
async fn a_tenant_user_signs_in_sends_and_sees_the_report() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 50, "member").await;

    let mut anonymous = Console::new(&server);
    let page = anonymous.get("/console/overview").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/login?next=/console/overview")
    );

    let mut console = Console::sign_in(&server, &email, PASSWORD).await;
    let overview = console.get("/console/overview").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(
        overview.contains(r#"id="balance">50<"#),
        "{}",
        overview.html
    );
    assert!(
        !overview.contains("/console/keys"),
        "a member has no API keys page"
    );

    console.get("/console/send").await;
    let estimate = console
        .post(
            "/console/send/estimate",
            &[
                ("numbers", "0241234567\n0201234567"),
                ("message", "Ɛte sɛn?"),
            ],
        )
        .await;
    assert!(
        estimate.contains("UCS-2") && estimate.contains(r#"id="parts">1<"#),
        "{}",
        estimate.html
    );
    assert!(
        estimate.contains(r#"id="cost">2<"#),
        "two recipients, one part: {}",
        estimate.html
    );
    let sent = console
        .post(
            "/console/send",
            &[
                ("numbers", "0241234567, 12345"),
                ("message", "Hello from the console"),
                ("nonce", "n1"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    assert!(sent.contains("Accepted: 1 recipient"), "{}", sent.html);
    assert!(
        sent.contains("<li>12345</li>"),
        "the invalid number is listed: {}",
        sent.html
    );
    // The same form again (a double click): the same message, charged once.
    let again = console
        .post(
            "/console/send",
            &[
                ("numbers", "0241234567, 12345"),
                ("message", "Hello from the console"),
                ("nonce", "n1"),
            ],
        )
        .await;
    let id_of = |html: &str| {
        html.split("/console/history/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string)
    };
    assert_eq!(id_of(&sent.html), id_of(&again.html));
    let id = id_of(&sent.html).expect("a message id");
    let overview = console.get("/console/overview").await;
    assert!(
        overview.contains(r#"id="balance">49<"#),
        "{}",
        overview.html
    );

    let mut report = console.get(&format!("/console/history/{id}")).await;
    for _ in 0..50 {
        if report.contains(r#"id="message-status">DELIVERED"#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        report = console.get(&format!("/console/history/{id}")).await;
    }
    assert!(
        report.contains(r#"id="message-status">DELIVERED"#),
        "{}",
        report.html
    );
    assert!(
        !report.contains("http-equiv=\"refresh\""),
        "a final report stops reloading"
    );
    let history = console.get("/console/history?status=DELIVERED").await;
    assert!(history.contains(&id), "{}", history.html);
}

#[tokio::test]
async fn sessions_are_httponly_forms_need_their_csrf_and_sign_ins_are_limited() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "admin").await;
    let mut console = Console::new(&server);
    console.get("/console/login").await;
    let signed = console
        .post_without_csrf(
            "/console/login",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    let cookie = signed.set_cookie.expect("cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Path=/console"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http here; https sets Secure"
    );

    let mut console = Console::sign_in(&server, &email, PASSWORD).await;
    console.get("/console/send").await;
    let forged = console
        .post_without_csrf(
            "/console/send",
            &[("numbers", "0241234567"), ("message", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = console
        .post_without_csrf(
            "/console/send",
            &[
                ("numbers", "0241234567"),
                ("message", "forged"),
                ("_csrf", "not-it"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    // Signing out everywhere ends this session and any other.
    let mut second = Console::sign_in(&server, &email, PASSWORD).await;
    assert_eq!(second.get("/console/overview").await.status, StatusCode::OK);
    console.get("/console/overview").await;
    let out = console.post("/console/logout-everywhere", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        second.get("/console/overview").await.status,
        StatusCode::SEE_OTHER
    );

    // Five wrong passwords, then even the right one waits.
    let mut guesser = Console::new(&server);
    for _ in 0..5 {
        let refused = guesser
            .post_without_csrf(
                "/console/login",
                &[("email", &email), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let limited = guesser
        .post_without_csrf(
            "/console/login",
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.html
    );
}

#[tokio::test]
async fn a_tenant_user_reaches_neither_another_tenants_pages_nor_the_operators() {
    let server = TestServer::start().await;
    let (_, _, mine) = tenant_user(&server, 10, "admin").await;
    let (_, _, theirs) = tenant_user(&server, 10, "admin").await;
    let mut them = Console::sign_in(&server, &theirs, PASSWORD).await;
    them.get("/console/send").await;
    let sent = them
        .post(
            "/console/send",
            &[
                ("numbers", "0241234567"),
                ("message", "theirs"),
                ("nonce", "x"),
            ],
        )
        .await;
    let id = sent
        .html
        .split("/console/history/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("id")
        .to_string();

    let mut me = Console::sign_in(&server, &mine, PASSWORD).await;
    let report = me.get(&format!("/console/history/{id}")).await;
    assert_eq!(
        report.status,
        StatusCode::NOT_FOUND,
        "another tenant's message is not found"
    );
    assert!(!report.contains("theirs"));
    let history = me.get("/console/history").await;
    assert!(!history.contains(&id));
    let operator_page = me.get("/console/op/tenants").await;
    assert_eq!(operator_page.status, StatusCode::FORBIDDEN);

    let ops = operator(&server).await;
    let mut op = Console::sign_in(&server, &ops, PASSWORD).await;
    let tenant_page = op.get("/console/send").await;
    assert_eq!(
        tenant_page.status,
        StatusCode::FORBIDDEN,
        "the operator has no tenant pages"
    );
}

#[tokio::test]
async fn contacts_are_picked_one_by_one_on_the_send_page() {
    let server = TestServer::start().await;
    let (_, key, email) = tenant_user(&server, 20, "member").await;
    let mut ids = Vec::new();
    for (phone, name) in [("0241234567", "Ama"), ("0201234567", "Kofi")] {
        let contact = server
            .request(
                reqwest::Method::POST,
                "/api/v1/contacts",
                Some(&key),
                Some(serde_json::json!({"phone": phone, "firstName": name})),
            )
            .await;
        ids.push(contact.body["data"]["id"].as_str().expect("id").to_string());
    }
    let mut console = Console::sign_in(&server, &email, PASSWORD).await;
    let form = console.get("/console/send").await;
    assert!(form.contains("Ama (233241234567)"), "{}", form.html);
    let sent = console
        .post(
            "/console/send",
            &[
                ("contact", &ids[1]),
                ("message", "Hi {{firstName}}"),
                ("nonce", "c1"),
            ],
        )
        .await;
    assert!(sent.contains("Accepted: 1 recipient"), "{}", sent.html);
}

#[tokio::test]
async fn under_https_the_session_cookie_is_secure() {
    let dir = tempfile::tempdir().expect("dir");
    let (files, _) = flit_api::tls_cli::init(&flit_api::tls_cli::InitArgs {
        dir: dir.path().to_path_buf(),
        hosts: vec![flit_api::tls_cli::Host::Ip(
            "127.0.0.1".parse().expect("ip"),
        )],
        force: false,
    })
    .expect("certificates");
    let server = TestServer::start_tls(&files.ca_cert, |config| flit_api::config::Config {
        tls: Some(flit_api::config::TlsConfig {
            cert: files.cert.clone(),
            key: files.key.clone(),
        }),
        ..config
    })
    .await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let signed = server
        .call(crate::common::Call::post("/console/login").body(
            Some("application/x-www-form-urlencoded"),
            format!(
                "email={}&password=correct+horse+battery",
                email.replace('@', "%40")
            ),
        ))
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text);
    let cookie = signed.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn sign_ins_sent_at_once_are_counted_before_they_are_checked() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let attempts = (0..20).map(|_| {
        let (server, email) = (&server, email.clone());
        async move {
            let mut guesser = Console::new(server);
            guesser
                .post_without_csrf(
                    "/console/login",
                    &[("email", &email), ("password", "wrong password!")],
                )
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn sign_in_refuses_other_sites_and_comes_back_only_inside_the_console() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let post = |origin: Option<&str>, next: &str| {
        let mut request = client
            .post(format!("{}/console/login", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "email={}&password=correct+horse+battery&next={next}",
                email.replace('@', "%40")
            ));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let forged = post(Some("http://evil.example"), "%2Fconsole")
        .await
        .expect("answer");
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a sign-in posted by another site"
    );
    let own = post(Some(&server.base), "%2Fconsole%2Fhistory")
        .await
        .expect("answer");
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    assert_eq!(own.headers()["location"], "/console/history");
    for next in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2Fconsole%0Aevil",
    ] {
        let answer = post(None, next).await.expect("answer");
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(answer.headers()["location"], "/console", "{next}");
    }
}

#[tokio::test]
async fn a_member_can_post_to_no_admin_form() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let mut member = Console::sign_in(&server, &email, PASSWORD).await;
    member.get("/console/send").await;
    for (path, fields) in [
        (
            "/console/keys",
            vec![("name", "mine"), ("scope", "sms:send")],
        ),
        (
            "/console/webhooks",
            vec![
                ("url", "https://example.com/hook"),
                ("event", "message.delivered"),
            ],
        ),
        (
            "/console/users",
            vec![
                ("email", "new@acme.example"),
                ("password", PASSWORD),
                ("role", "admin"),
            ],
        ),
        ("/console/devices/pair", vec![]),
        (
            "/console/devices/dev_01m962m6bqaaaaaaaaaaaaaaaa/unpair",
            vec![],
        ),
    ] {
        let answer = member.post(path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
}
