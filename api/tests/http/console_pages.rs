//! The console's tenant pages over HTTP (SPEC §13): contacts and their CSV import with its
//! preview, groups, templates, sender IDs, API keys, webhooks, users, devices, inbound and
//! transactions. Each renders for the roles it is for, its forms do what they say through the
//! engine, a member gets 403 on the admin pages, and another tenant's objects are not found.

use std::time::Duration;

use flit_loadtest::webhook::{WebhookReceiver, WebhookReceiverConfig};
use reqwest::{Method, StatusCode};

use crate::common::console::{Console, PASSWORD, Page, tenant_user};
use crate::common::{Api, TestServer};

/// The first `/console/<kind>/<id>/` link of a page whose row holds `near`.
fn id_near(page: &Page, kind: &str, near: &str) -> String {
    let row = page
        .html
        .split("<tr>")
        .find(|row| row.contains(near))
        .unwrap_or_else(|| panic!("no row with {near}: {}", page.html));
    let prefix = format!("/console/{kind}/");
    row.split(&prefix)
        .nth(1)
        .and_then(|rest| rest.split(['/', '"', '?']).next())
        .unwrap_or_else(|| panic!("no {prefix} link in the row of {near}"))
        .to_string()
}

fn assert_redirect(page: &Page, to: &str) {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(page.location.as_deref(), Some(to));
}

#[tokio::test]
async fn contacts_are_added_searched_deleted_and_imported_from_a_previewed_csv() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let mut console = Console::sign_in(&server, &email, PASSWORD).await;

    let page = console.get("/console/contacts").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.contains("No contacts."));
    let forged = console
        .post_without_csrf("/console/contacts", &[("phone", "0241234567")])
        .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a form needs its CSRF token"
    );

    let added = console
        .post(
            "/console/contacts",
            &[("phone", "0241234567"), ("first_name", "Ama")],
        )
        .await;
    assert_redirect(&added, "/console/contacts?notice=added");
    let page = console.get("/console/contacts?notice=added").await;
    assert!(page.contains("Contact added.") && page.contains("233241234567"));
    // A notice is one of the page's own sentences, never the query's text.
    let spoofed = console.get("/console/contacts?notice=You+won").await;
    assert!(!spoofed.contains("You won") && !spoofed.contains(r#"id="notice""#));

    let bad = console
        .post(
            "/console/contacts",
            &[("phone", "12"), ("first_name", "Bad")],
        )
        .await;
    assert!(bad.status.is_client_error(), "{}", bad.status);
    assert!(bad.contains(r#"id="problem""#), "{}", bad.html);
    assert!(
        bad.contains(r#"value="Bad""#),
        "the form keeps what was typed"
    );

    let found = console.get("/console/contacts?q=ama").await;
    assert!(found.contains("233241234567"));
    let none = console.get("/console/contacts?q=Zed").await;
    assert!(none.contains("No contacts."));

    // The import: a file uploaded as a browser does, then its preview.
    let csv = "phone,first_name\n0241234567,Ama again\n0201234567,Kofi\n12345,Broken\n020 123 4567,Kofi twice\n0551234567,Esi\n";
    console.get("/console/contacts").await;
    let preview = console
        .post_file(
            "/console/contacts/import",
            &[("csv", "")],
            ("file", "contacts.csv", csv.as_bytes()),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.html);
    assert!(
        preview.contains(
            "<strong>2</strong> to import · <strong>1</strong> invalid · <strong>2</strong> duplicates"
        ),
        "{}",
        preview.html
    );
    let section = |id: &str| {
        preview
            .html
            .split(&format!(r#"id="{id}""#))
            .nth(1)
            .expect(id)
            .split("</table>")
            .next()
            .expect(id)
            .to_string()
    };
    let (valid, invalid, duplicates) = (
        section("import-valid"),
        section("import-invalid"),
        section("import-duplicates"),
    );
    assert!(valid.contains("Kofi") && valid.contains("Esi") && !valid.contains("Ama"));
    assert!(
        invalid.contains("<td>4</td>") && invalid.contains("Broken"),
        "{invalid}"
    );
    assert!(invalid.contains("problem-text\">") && !invalid.contains("problem-text\"></td>"));
    assert!(duplicates.contains("Already a contact") && duplicates.contains("Ama again"));
    assert!(duplicates.contains("Repeats line 3") && duplicates.contains("Kofi twice"));
    assert!(
        preview.contains(r#"name="csv" value="phone,first_name"#),
        "the confirm form carries the file back"
    );
    // Nothing is imported by the preview.
    assert!(
        console
            .get("/console/contacts")
            .await
            .contains("1 contact<")
    );

    console.get("/console/contacts").await;
    let imported = console
        .post("/console/contacts/import/confirm", &[("csv", csv)])
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.html);
    assert!(
        imported.contains("Imported 2 new contacts; 2 duplicates skipped, 1 invalid row left out."),
        "{}",
        imported.html
    );
    let page = console.get("/console/contacts").await;
    assert!(page.contains("3 contacts<"), "{}", page.html);
    assert!(page.contains("Kofi") && page.contains("Esi") && !page.contains("Broken"));

    // The same import pasted instead of uploaded previews the same, now all duplicates.
    let pasted = console
        .post("/console/contacts/import", &[("csv", csv)])
        .await;
    assert!(
        pasted.contains("<strong>0</strong> to import · <strong>1</strong> invalid · <strong>4</strong> duplicates"),
        "{}",
        pasted.html
    );
    assert!(
        !pasted.contains(r#"id="confirm-import""#),
        "nothing to confirm"
    );

    let page = console.get("/console/contacts").await;
    let esi = id_near(&page, "contacts", "233551234567");
    let deleted = console
        .post(&format!("/console/contacts/{esi}/delete"), &[])
        .await;
    assert_redirect(&deleted, "/console/contacts?notice=deleted");
    let page = console.get("/console/contacts").await;
    assert!(page.contains("2 contacts<") && !page.contains("233551234567"));
}

#[tokio::test]
async fn groups_take_members_by_phone_and_another_tenants_group_is_not_found() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let (_, _, theirs) = tenant_user(&server, 10, "member").await;
    let mut console = Console::sign_in(&server, &email, PASSWORD).await;
    console.get("/console/contacts").await;
    console
        .post(
            "/console/contacts",
            &[("phone", "0241234567"), ("first_name", "Ama")],
        )
        .await;

    console.get("/console/groups").await;
    let created = console.post("/console/groups", &[("name", "VIP")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let location = created.location.expect("to the group");
    let id = location
        .trim_start_matches("/console/groups/")
        .split('?')
        .next()
        .expect("id")
        .to_string();
    let group = console.get(&location).await;
    assert!(group.contains("Group created.") && group.contains(r#"id="member-count">0<"#));

    let unknown = console
        .post(
            &format!("/console/groups/{id}/members"),
            &[("members", "0209999999")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.contains("is no contact"), "{}", unknown.html);
    let added = console
        .post(
            &format!("/console/groups/{id}/members"),
            &[("members", "0241234567")],
        )
        .await;
    assert_redirect(&added, &format!("/console/groups/{id}?notice=added"));
    let group = console.get(&format!("/console/groups/{id}")).await;
    assert!(group.contains(r#"id="member-count">1<"#) && group.contains("Ama"));
    let list = console.get("/console/groups").await;
    assert!(list.contains("VIP</a></td><td>1</td>"), "{}", list.html);

    // Another tenant neither sees nor changes it.
    let mut them = Console::sign_in(&server, &theirs, PASSWORD).await;
    assert_eq!(
        them.get(&format!("/console/groups/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    them.get("/console/groups").await;
    let refused = them
        .post(&format!("/console/groups/{id}/delete"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let group = console.get(&format!("/console/groups/{id}")).await;
    let remove = group
        .html
        .split(&format!("/console/groups/{id}/members/"))
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a remove form")
        .to_string();
    let removed = console
        .post(
            &format!("/console/groups/{id}/members/{remove}/remove"),
            &[],
        )
        .await;
    assert_redirect(&removed, &format!("/console/groups/{id}?notice=removed"));
    assert!(
        console
            .get(&format!("/console/groups/{id}"))
            .await
            .contains(r#"id="member-count">0<"#)
    );
    let deleted = console
        .post(&format!("/console/groups/{id}/delete"), &[])
        .await;
    assert_redirect(&deleted, "/console/groups?notice=deleted");
    assert!(!console.get("/console/groups").await.contains("VIP"));
}

#[tokio::test]
async fn templates_show_their_placeholders_and_parts_and_are_edited_and_deleted() {
    let server = TestServer::start().await;
    let (_, _, email) = tenant_user(&server, 10, "member").await;
    let mut console = Console::sign_in(&server, &email, PASSWORD).await;
    console.get("/console/templates").await;
    let created = console
        .post(
            "/console/templates",
            &[
                ("name", "Greeting"),
                ("content", "Hello {{name}}, your code is {{ code }}"),
            ],
        )
        .await;
    assert_redirect(&created, "/console/templates?notice=created");
    let page = console.get("/console/templates").await;
    assert!(page.contains("{{name}}, {{code}}"), "{}", page.html);
    assert!(
        page.contains("GSM-7 · 39 characters · 1 part"),
        "{}",
        page.html
    );

    let again = console
        .post(
            "/console/templates",
            &[("name", "greeting"), ("content", "another")],
        )
        .await;
    assert!(again.status.is_client_error(), "{}", again.status);
    assert!(again.contains(r#"id="problem""#));

    let id = id_near(&page, "templates", "Greeting");
    let edit = console.get(&format!("/console/templates/{id}/edit")).await;
    assert!(edit.contains(&format!(r#"action="/console/templates/{id}""#)));
    let saved = console
        .post(
            &format!("/console/templates/{id}"),
            &[("name", "Greeting"), ("content", "Ɛte sɛn {{name}}?")],
        )
        .await;
    assert_redirect(&saved, "/console/templates?notice=saved");
    let page = console.get("/console/templates").await;
    assert!(
        page.contains("UCS-2 · 17 characters · 1 part"),
        "{}",
        page.html
    );

    let deleted = console
        .post(&format!("/console/templates/{id}/delete"), &[])
        .await;
    assert_redirect(&deleted, "/console/templates?notice=deleted");
    assert!(
        console
            .get("/console/templates")
            .await
            .contains("No templates yet.")
    );
}

#[tokio::test]
async fn a_member_sees_sender_ids_devices_inbound_and_transactions_and_an_admin_pairs_a_phone() {
    let server = TestServer::start().await;
    let (tenant, _, email) = tenant_user(&server, 50, "member").await;
    let mut console = Console::sign_in(&server, &email, PASSWORD).await;

    let senders = console.get("/console/sender-ids").await;
    assert_eq!(senders.status, StatusCode::OK);
    assert!(senders.contains("<strong>Acme</strong>") && senders.contains("APPROVED"));
    assert!(senders.contains(r#"id="ask""#), "how to ask for another");

    let devices = console.get("/console/devices").await;
    assert_eq!(devices.status, StatusCode::OK, "{}", devices.html);
    assert!(devices.contains("No phone paired yet."));
    let port = server.base.rsplit(':').next().expect("port");
    assert!(
        devices.contains(&format!(
            r#"id="server-url">https://127.0.0.1:{port}/mobile/v1<"#
        )),
        "{}",
        devices.html
    );
    assert!(devices.contains("SSE only"));
    // Pairing gives a phone a lasting credential of the tenant: an admin's, not a member's.
    let refused = console.post("/console/devices/pair", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let admin = server
        .admin(
            reqwest::Method::POST,
            &format!("/tenants/{tenant}/users"),
            Some(serde_json::json!({"email": format!("boss-{email}"), "password": PASSWORD, "role": "admin"})),
        )
        .await;
    assert_eq!(admin.status, StatusCode::CREATED, "{}", admin.body);
    let mut console = Console::sign_in(&server, &format!("boss-{email}"), PASSWORD).await;
    console.get("/console/devices").await;
    let paired = console.post("/console/devices/pair", &[]).await;
    assert_eq!(paired.status, StatusCode::OK, "{}", paired.html);
    let code = paired
        .html
        .split(r#"id="pairing-code">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a code")
        .to_string();
    let phone = server
        .call(
            crate::common::Call::post("/mobile/v1/device")
                .header("authorization", format!("Code {code}"))
                .json(&serde_json::json!({"name": "Front desk"})),
        )
        .await;
    assert_eq!(phone.status, StatusCode::CREATED, "the code pairs a phone");
    let devices = console.get("/console/devices").await;
    assert!(devices.contains("Front desk"), "{}", devices.html);
    // Unpaired from the page: its credential stops working.
    let device = phone.body["id"].as_str().expect("device id").to_string();
    let token = phone.body["token"]
        .as_str()
        .expect("device token")
        .to_string();
    let unpaired = console
        .post(&format!("/console/devices/{device}/unpair"), &[])
        .await;
    assert_eq!(unpaired.status, StatusCode::OK, "{}", unpaired.html);
    assert!(
        unpaired.contains("The phone is unpaired.") && unpaired.contains("No phone paired yet.")
    );
    let pull = server
        .call(crate::common::Call::get("/mobile/v1/message").bearer(&token))
        .await;
    assert_eq!(pull.status, StatusCode::UNAUTHORIZED, "{}", pull.body);

    let inbound = console.get("/console/inbound").await;
    assert_eq!(inbound.status, StatusCode::OK);
    assert!(inbound.contains("Nothing received yet."));

    console.get("/console/send").await;
    let sent = console
        .post(
            "/console/send",
            &[
                ("numbers", "0241234567"),
                ("message", "ledger"),
                ("nonce", "t1"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.html);
    let all = console.get("/console/transactions").await;
    assert_eq!(all.status, StatusCode::OK);
    assert!(
        all.contains("<td>USAGE</td><td>-1</td><td>49</td>"),
        "{}",
        all.html
    );
    let usage = console.get("/console/transactions?kind=USAGE").await;
    assert!(usage.contains("1 transaction<"), "{}", usage.html);
    let bad = console.get("/console/transactions?kind=GIFT").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_api_key_secret_is_shown_once_works_and_is_revoked_by_an_admin_only() {
    let server = TestServer::start().await;
    let (_, _, admin) = tenant_user(&server, 25, "admin").await;
    let (_, _, other) = tenant_user(&server, 10, "admin").await;
    let mut console = Console::sign_in(&server, &admin, PASSWORD).await;

    let keys = console.get("/console/keys").await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.html);
    for scope in flit_engine::Scope::ALL {
        assert!(
            keys.contains(&format!(r#"name="scope" value="{}""#, scope.as_str())),
            "a box for {}",
            scope.as_str()
        );
    }
    let created = console
        .post(
            "/console/keys",
            &[("name", "reporting"), ("scope", "balance:read")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.html);
    assert!(created.contains("shown this once"));
    let secret = created
        .html
        .split(r#"id="secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret")
        .to_string();
    let balance = server
        .request(Method::GET, "/api/v1/balance", Some(&secret), None)
        .await;
    assert_eq!(balance.status, StatusCode::OK, "{}", balance.body);
    assert_eq!(balance.body["data"]["balance"], 25);
    let out_of_scope = server
        .request(Method::GET, "/api/v1/contacts", Some(&secret), None)
        .await;
    assert_eq!(out_of_scope.status, StatusCode::FORBIDDEN);

    let keys = console.get("/console/keys").await;
    assert!(!keys.contains(&secret), "the secret is never shown again");
    assert!(keys.contains(&secret[secret.len() - 4..]), "its hint is");
    let id = id_near(&keys, "keys", "reporting");

    // Another tenant's admin cannot revoke it; a member does not see the page at all.
    let mut them = Console::sign_in(&server, &other, PASSWORD).await;
    them.get("/console/keys").await;
    let refused = them.post(&format!("/console/keys/{id}/revoke"), &[]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.html);

    let revoked = console
        .post(&format!("/console/keys/{id}/revoke"), &[])
        .await;
    assert_redirect(&revoked, "/console/keys?notice=revoked");
    let after = server
        .request(Method::GET, "/api/v1/balance", Some(&secret), None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        console
            .get("/console/keys")
            .await
            .contains("revoked</span>")
    );

    let no_scope = console.post("/console/keys", &[("name", "none")]).await;
    assert_eq!(no_scope.status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, _, member) = tenant_user(&server, 10, "member").await;
    let mut member = Console::sign_in(&server, &member, PASSWORD).await;
    for page in ["/console/keys", "/console/webhooks", "/console/users"] {
        let refused = member.get(page).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{page}");
    }
    let overview = member.get("/console/overview").await;
    assert!(!overview.contains(r#"href="/console/users""#));
}

#[tokio::test]
async fn webhooks_show_each_attempt_redeliver_rotate_and_stay_within_their_tenant() {
    let server = TestServer::start_adjusted(|mut config| {
        config.webhooks.allow_private_networks = true;
        config
    })
    .await;
    let receiver = WebhookReceiver::start(WebhookReceiverConfig::default())
        .await
        .expect("receiver");
    let (_, _, admin) = tenant_user(&server, 25, "admin").await;
    let (_, _, other) = tenant_user(&server, 10, "admin").await;
    let mut console = Console::sign_in(&server, &admin, PASSWORD).await;

    console.get("/console/webhooks").await;
    let refused = console
        .post(
            "/console/webhooks",
            &[("url", "ftp://example.com"), ("event", "message.sent")],
        )
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(refused.contains(r#"id="problem""#));
    let created = console
        .post(
            "/console/webhooks",
            &[("url", &receiver.url()), ("event", "message.delivered")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.html);
    let secret = created
        .html
        .split(r#"id="secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("secret")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    // The receiver answers 200 only to events signed with the secret the page showed.
    receiver.set_secrets(vec![secret.clone()]);
    let list = console.get("/console/webhooks").await;
    assert!(list.contains(&receiver.url()) && !list.contains(&secret));
    let id = id_near(&list, "webhooks", &receiver.url());

    console.get("/console/send").await;
    console
        .post(
            "/console/send",
            &[
                ("numbers", "0241234567"),
                ("message", "hook"),
                ("nonce", "w1"),
            ],
        )
        .await;
    let mut page = console.get(&format!("/console/webhooks/{id}")).await;
    for _ in 0..100 {
        if page.contains(r#"<span class="status delivered">"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = console.get(&format!("/console/webhooks/{id}")).await;
    }
    assert!(
        page.contains(r#"<span class="status delivered">"#),
        "{}",
        page.html
    );
    assert!(
        page.contains("<td>200</td>"),
        "the attempt's answer: {}",
        page.html
    );
    let delivery = page
        .html
        .split("/deliveries/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a redeliver button")
        .to_string();
    let again = console
        .post(
            &format!("/console/webhooks/{id}/deliveries/{delivery}/redeliver"),
            &[],
        )
        .await;
    assert_redirect(
        &again,
        &format!("/console/webhooks/{id}?notice=redelivered"),
    );

    let rotated = console
        .post(&format!("/console/webhooks/{id}/rotate"), &[])
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert!(rotated.contains("whsec_") && !rotated.contains(&secret));

    let mut them = Console::sign_in(&server, &other, PASSWORD).await;
    assert_eq!(
        them.get(&format!("/console/webhooks/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    them.get("/console/webhooks").await;
    assert_eq!(
        them.post(&format!("/console/webhooks/{id}/delete"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let deleted = console
        .post(&format!("/console/webhooks/{id}/delete"), &[])
        .await;
    assert_redirect(&deleted, "/console/webhooks?notice=deleted");
    assert!(
        !console
            .get("/console/webhooks")
            .await
            .contains(&receiver.url())
    );
}

#[tokio::test]
async fn an_admin_adds_and_removes_users_but_not_themselves() {
    let server = TestServer::start().await;
    let (tenant, _, admin) = tenant_user(&server, 10, "admin").await;
    let mut console = Console::sign_in(&server, &admin, PASSWORD).await;
    let users = console.get("/console/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.contains(&format!("{admin} <span class=\"muted\">(you)</span>")));

    let short = console
        .post(
            "/console/users",
            &[
                ("email", "kofi@acme.example"),
                ("password", "short"),
                ("role", "member"),
            ],
        )
        .await;
    assert!(short.status.is_client_error(), "{}", short.status);
    assert!(short.contains(r#"value="kofi@acme.example""#));
    let invited = console
        .post(
            "/console/users",
            &[
                ("email", "Kofi@Acme.example"),
                ("password", PASSWORD),
                ("role", "member"),
            ],
        )
        .await;
    assert_redirect(&invited, "/console/users?notice=invited");
    let mut kofi = Console::sign_in(&server, "kofi@acme.example", PASSWORD).await;
    assert_eq!(kofi.get("/console/overview").await.status, StatusCode::OK);
    assert_eq!(
        kofi.get("/console/users").await.status,
        StatusCode::FORBIDDEN,
        "a member cannot reach the users page"
    );

    let users = console.get("/console/users").await;
    let id = id_near(&users, "users", "kofi@acme.example");
    let removed = console
        .post(&format!("/console/users/{id}/remove"), &[])
        .await;
    assert_redirect(&removed, "/console/users?notice=removed");
    assert_eq!(
        kofi.get("/console/overview").await.status,
        StatusCode::SEE_OTHER,
        "a removed user's session ends"
    );

    let listed = server
        .admin(Method::GET, &format!("/tenants/{tenant}/users"), None)
        .await;
    let me = listed.body["data"]
        .as_array()
        .or_else(|| listed.body["data"]["users"].as_array())
        .and_then(|users| users.iter().find(|user| user["email"] == admin.as_str()))
        .and_then(|user| user["id"].as_str())
        .unwrap_or_else(|| panic!("my id: {}", listed.body))
        .to_string();
    let myself = console
        .post(&format!("/console/users/{me}/remove"), &[])
        .await;
    assert_eq!(myself.status, StatusCode::CONFLICT, "{}", myself.html);
    assert_eq!(console.get("/console/users").await.status, StatusCode::OK);
}
