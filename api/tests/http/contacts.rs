//! Contacts, bulk import, groups and membership over HTTP: the seed-001 examples in their
//! documented shapes, the import counts, limits, soft delete, search and filters, scopes and
//! tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Api, Call, Reply, TestApp, TestServer};

const ONLY_FIELDS: [&str; 8] = [
    "id",
    "phone",
    "firstName",
    "lastName",
    "email",
    "groups",
    "createdAt",
    "updatedAt",
];

/// A valid Ghana mobile number in local form, distinct for each `i` below 10,000,000.
fn number(i: u32) -> String {
    format!("020{i:07}")
}

fn international(i: u32) -> String {
    format!("23320{i:07}")
}

fn assert_contact_shape(contact: &Value) {
    let object = contact.as_object().expect("contact object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = ONLY_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{contact}");
    assert!(contact["id"].as_str().expect("id").starts_with("cnt_"));
    assert!(contact["groups"].is_array());
    assert!(
        contact["createdAt"]
            .as_str()
            .expect("createdAt")
            .ends_with('Z')
    );
}

async fn send(api: &impl Api, method: Method, path: &str, body: Option<Value>) -> Reply {
    api.request(method, path, Some(api.api_key()), body).await
}

async fn create_group(api: &impl Api, name: &str) -> String {
    let reply = api
        .post("/api/v1/contacts/groups", json!({ "name": name }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().expect("id").to_string()
}

async fn create_contact(api: &impl Api, body: Value) -> Value {
    let reply = api.post("/api/v1/contacts", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

/// `contactCount` of the group called `name`.
async fn contact_count(api: &impl Api, name: &str) -> u64 {
    let reply = api.get("/api/v1/contacts/groups").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|group| group["name"] == name)
        .and_then(|group| group["contactCount"].as_u64())
        .unwrap_or_else(|| panic!("no group {name}: {}", reply.body))
}

/// The phones a listing answers, in order.
async fn listed_phones(api: &impl Api, query: &str) -> Vec<String> {
    let reply = api.get(&format!("/api/v1/contacts{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .map(|contact| contact["phone"].as_str().expect("phone").to_string())
        .collect()
}

#[tokio::test]
async fn documented_contact_and_group_examples_answer_in_the_documented_shapes() {
    let app = TestApp::start().await;

    // Create a group: {"name": "VIP Customers"}.
    let created = app
        .post("/api/v1/contacts/groups", json!({"name": "VIP Customers"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["success"], true);
    let group = created.body["data"].clone();
    let group_id = group["id"].as_str().expect("id").to_string();
    assert!(group_id.starts_with("grp_"));
    assert_eq!(group["name"], "VIP Customers");
    assert_eq!(group["contactCount"], 0);

    // Create a contact.
    let reply = app
        .post(
            "/api/v1/contacts",
            json!({"phone": "0201234567", "firstName": "Kofi", "lastName": "Mensah"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    let kofi = reply.body["data"].clone();
    assert_contact_shape(&kofi);
    assert_eq!(kofi["phone"], "233201234567");
    assert_eq!(kofi["firstName"], "Kofi");
    assert_eq!(kofi["lastName"], "Mensah");
    assert_eq!(kofi["email"], Value::Null);
    assert_eq!(kofi["groups"], json!([]));

    // Bulk import, the seed's body with the real group id: Kofi exists, Ama is new.
    let reply = app
        .post(
            "/api/v1/contacts/import",
            json!({"contacts": [{"phone": "0201234567", "firstName": "Kofi"}, {"phone": "0241234567", "firstName": "Ama"}], "groupId": group_id}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    assert_eq!(
        reply.body["data"],
        json!({"imported": 2, "created": 1, "skipped": 1, "invalid": 0, "total": 2})
    );

    // List contacts: ?page=1&limit=50, newest first, both in the group.
    let reply = app.get("/api/v1/contacts?page=1&limit=50").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    let contacts = reply.body["data"]["contacts"].as_array().expect("contacts");
    assert_eq!(contacts.len(), 2);
    for contact in contacts {
        assert_contact_shape(contact);
        assert_eq!(
            contact["groups"],
            json!([{"id": group_id, "name": "VIP Customers"}])
        );
    }
    assert_eq!(contacts[0]["phone"], "233241234567");
    assert_eq!(contacts[0]["firstName"], "Ama");
    assert_eq!(contacts[1]["phone"], "233201234567");
    assert_eq!(
        reply.body["data"]["pagination"],
        json!({"page": 1, "limit": 50, "total": 2, "totalPages": 1, "hasMore": false})
    );

    // List groups.
    let reply = app.get("/api/v1/contacts/groups").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    let groups = reply.body["data"]["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1);
    let listed = groups[0].as_object().expect("group");
    let mut keys: Vec<&str> = listed.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["contactCount", "createdAt", "id", "name"]);
    assert_eq!(groups[0]["id"], group_id.as_str());
    assert_eq!(groups[0]["contactCount"], 2);

    // Delete a contact (soft delete).
    let kofi_id = kofi["id"].as_str().expect("id");
    let reply = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/contacts/{kofi_id}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    assert_eq!(contact_count(&app, "VIP Customers").await, 1);

    // Delete a group (contacts are NOT deleted).
    let reply = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/contacts/groups/{group_id}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    let reply = app.get("/api/v1/contacts/groups").await;
    assert_eq!(reply.body["data"]["groups"], json!([]));
    let reply = app.get("/api/v1/contacts").await;
    let contacts = reply.body["data"]["contacts"].as_array().expect("contacts");
    assert_eq!(contacts.len(), 1, "the group's contact stays");
    assert_eq!(contacts[0]["groups"], json!([]));
}

#[tokio::test]
async fn import_counts_new_existing_repeated_and_invalid_rows() {
    let app = TestApp::start().await;
    let group = create_group(&app, "Imported").await;
    create_contact(&app, json!({"phone": number(100), "firstName": "Old"})).await;
    let mut rows: Vec<Value> = (0..7)
        .map(|i| json!({"phone": number(i), "firstName": format!("New{i}")}))
        .collect();
    rows.push(json!({"phone": format!("+{}", international(100))})); // existing contact
    rows.push(json!({"phone": international(3)})); // row 3 again, another form
    rows.push(json!({"phone": "12345"})); // invalid
    let reply = app
        .post(
            "/api/v1/contacts/import",
            json!({"contacts": rows, "groupId": group}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"imported": 9, "created": 7, "skipped": 2, "invalid": 1, "total": 10})
    );
    // 7 created + the existing one; the invalid row was never stored.
    assert_eq!(contact_count(&app, "Imported").await, 8);
    let all = app.get("/api/v1/contacts").await;
    assert_eq!(all.body["data"]["pagination"]["total"], 8);
    // A skipped contact keeps its own fields.
    let old = listed_phones(&app, "?search=old").await;
    assert_eq!(old, vec![international(100)]);

    // The same import again: everything valid is now skipped.
    let reply = app
        .post("/api/v1/contacts/import", json!({"contacts": rows}))
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"imported": 9, "created": 0, "skipped": 9, "invalid": 1, "total": 10})
    );
}

#[tokio::test]
async fn import_limits_and_unknown_group() {
    let app = TestApp::start().await;
    let rows: Vec<Value> = (0..10_001).map(|i| json!({"phone": number(i)})).collect();
    let reply = app
        .post("/api/v1/contacts/import", json!({"contacts": rows}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.code(), "too_many_contacts");
    assert_eq!(reply.body["success"], false);
    let all = app.get("/api/v1/contacts").await;
    assert_eq!(all.body["data"]["pagination"]["total"], 0, "nothing stored");

    let reply = app
        .post(
            "/api/v1/contacts/import",
            json!({"contacts": [{"phone": number(1)}], "groupId": "grp_01jfq1nbx0a4ws4e1ycr5wc7hf"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .post("/api/v1/contacts/import", json!({"groupId": "x"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "missing_contacts");
    let all = app.get("/api/v1/contacts").await;
    assert_eq!(all.body["data"]["pagination"]["total"], 0);
}

#[tokio::test]
async fn ten_thousand_contacts_import_in_one_request() {
    let app = TestApp::start().await;
    let group = create_group(&app, "Everyone").await;
    let rows: Vec<Value> = (0..10_000)
        .map(|i| json!({"phone": number(i), "firstName": format!("Person{i}"), "lastName": "Bulk"}))
        .collect();
    let started = std::time::Instant::now();
    let reply = app
        .post(
            "/api/v1/contacts/import",
            json!({"contacts": rows, "groupId": group}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"imported": 10_000, "created": 10_000, "skipped": 0, "invalid": 0, "total": 10_000})
    );
    eprintln!("imported 10,000 contacts in {took:?} (debug build)");
    assert_eq!(contact_count(&app, "Everyone").await, 10_000);
    let page = app.get("/api/v1/contacts?page=50&limit=200").await;
    assert_eq!(
        page.body["data"]["pagination"],
        json!({"page": 50, "limit": 200, "total": 10_000, "totalPages": 50, "hasMore": false})
    );
    assert_eq!(
        page.body["data"]["contacts"]
            .as_array()
            .expect("list")
            .len(),
        200
    );
    let phones = listed_phones(&app, &format!("?groupId={group}&limit=1")).await;
    assert_eq!(phones, vec![international(9_999)], "newest first");
}

#[tokio::test]
async fn create_checks_phone_uniqueness_and_fields() {
    let app = TestApp::start().await;
    create_contact(&app, json!({"phone": "0201234567"})).await;
    for form in ["233201234567", "+233 20 123 4567"] {
        let reply = app.post("/api/v1/contacts", json!({"phone": form})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert_eq!(reply.code(), "contact_exists");
    }
    for bad in ["12345", "not a phone", ""] {
        let reply = app.post("/api/v1/contacts", json!({"phone": bad})).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "invalid_phone");
    }
    let reply = app
        .post("/api/v1/contacts", json!({"firstName": "No phone"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "missing_phone");
    let reply = app
        .post(
            "/api/v1/contacts",
            json!({"phone": "0241234567", "email": "not-an-email"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invalid_email");
    let reply = app
        .post(
            "/api/v1/contacts",
            json!({"phone": "0241234567", "firstName": "x".repeat(101)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invalid_name");

    // A bare JSON number is read as the phone; groupId adds it to the group at once.
    let group = create_group(&app, "Walk-ins").await;
    let contact = create_contact(
        &app,
        json!({"phone": 233241234567u64, "email": " ama@example.com ", "groupId": group}),
    )
    .await;
    assert_eq!(contact["phone"], "233241234567");
    assert_eq!(contact["email"], "ama@example.com");
    assert_eq!(
        contact["groups"],
        json!([{"id": group, "name": "Walk-ins"}])
    );
    assert_eq!(contact_count(&app, "Walk-ins").await, 1);
}

#[tokio::test]
async fn update_is_partial_and_rechecks_the_phone() {
    let app = TestApp::start().await;
    let kofi = create_contact(
        &app,
        json!({"phone": number(1), "firstName": "Kofi", "lastName": "Mensah", "email": "k@example.com"}),
    )
    .await;
    create_contact(&app, json!({"phone": number(2), "firstName": "Ama"})).await;
    let path = format!("/api/v1/contacts/{}", kofi["id"].as_str().expect("id"));

    let reply = send(&app, Method::PUT, &path, Some(json!({"lastName": "Owusu"}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_contact_shape(&reply.body["data"]);
    assert_eq!(reply.body["data"]["firstName"], "Kofi");
    assert_eq!(reply.body["data"]["lastName"], "Owusu");
    assert_eq!(reply.body["data"]["email"], "k@example.com");
    assert_eq!(reply.body["data"]["createdAt"], kofi["createdAt"]);

    let reply = send(&app, Method::PUT, &path, Some(json!({"email": null}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["email"], Value::Null);
    assert_eq!(reply.body["data"]["lastName"], "Owusu");

    let reply = send(&app, Method::PUT, &path, Some(json!({"phone": number(2)}))).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(reply.code(), "contact_exists");
    let reply = send(&app, Method::PUT, &path, Some(json!({"phone": "123"}))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.code(), "invalid_phone");
    // Its own number in another form is no conflict.
    let reply = send(
        &app,
        Method::PUT,
        &path,
        Some(json!({"phone": international(1)})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let reply = send(&app, Method::PUT, &path, Some(json!({"phone": number(3)}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["phone"], international(3));
    // The old number is free again, the new one taken.
    create_contact(&app, json!({"phone": number(1)})).await;
    let reply = app
        .post("/api/v1/contacts", json!({"phone": number(3)}))
        .await;
    assert_eq!(reply.code(), "contact_exists");
    let fetched = app.get(&path).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["data"]["phone"], international(3));
}

#[tokio::test]
async fn duplicate_group_names_conflict_case_insensitively() {
    let app = TestApp::start().await;
    create_group(&app, "VIP Customers").await;
    for name in ["VIP Customers", "vip customers", "  VIP CUSTOMERS "] {
        let reply = app
            .post("/api/v1/contacts/groups", json!({ "name": name }))
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{name}: {}", reply.body);
        assert_eq!(reply.code(), "group_exists");
    }
    let reply = app
        .post("/api/v1/contacts/groups", json!({"name": "   "}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = app.post("/api/v1/contacts/groups", json!({})).await;
    assert_eq!(reply.code(), "missing_name");
    let reply = app.get("/api/v1/contacts/groups").await;
    assert_eq!(
        reply.body["data"]["groups"]
            .as_array()
            .expect("groups")
            .len(),
        1
    );

    // A deleted group's name can be used again.
    let id = reply.body["data"]["groups"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let deleted = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/contacts/groups/{id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    create_group(&app, "vip customers").await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let app = TestApp::start().await;
    let group = create_group(&app, "G").await;
    let contact = create_contact(&app, json!({"phone": number(1)})).await;
    let contact = contact["id"].as_str().expect("id");
    let unknown_contact = "cnt_01jfq1nbx0a4ws4e1ycr5wc7hf";
    let unknown_group = "grp_01jfq1nbx0a4ws4e1ycr5wc7hf";
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/contacts/{unknown_contact}"),
            None,
        ),
        (Method::GET, "/api/v1/contacts/garbage".to_string(), None),
        (
            Method::GET,
            format!("/api/v1/contacts/{unknown_group}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/contacts/{unknown_contact}"),
            Some(json!({"firstName": "x"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/{unknown_contact}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/groups/{unknown_group}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/contacts?groupId={unknown_group}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/contacts".to_string(),
            Some(json!({"phone": number(2), "groupId": unknown_group})),
        ),
        (
            Method::PUT,
            format!("/api/v1/contacts/{contact}"),
            Some(json!({"groupId": unknown_group})),
        ),
        (
            Method::POST,
            format!("/api/v1/contacts/groups/{unknown_group}/members"),
            Some(json!({"contactIds": [contact]})),
        ),
    ] {
        let reply = send(&app, method.clone(), &path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "not_found");
        assert_eq!(reply.body["success"], false);
    }
    // Membership changes name the first unknown contact and change nothing.
    for method in [Method::POST, Method::DELETE] {
        let reply = send(
            &app,
            method,
            &format!("/api/v1/contacts/groups/{group}/members"),
            Some(
                json!({"contactIds": [contact, unknown_contact, "cnt_01jfq1nbx0a4ws4e1ycr5wc7hg"]}),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
        assert_eq!(
            reply.body["error"],
            format!("contact {unknown_contact} not found"),
        );
    }
    // A malformed id is named before any lookup.
    let reply = app
        .post(
            &format!("/api/v1/contacts/groups/{group}/members"),
            json!({"contactIds": [contact, "cnt_bad"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.body["error"], "contact cnt_bad not found");
    assert_eq!(contact_count(&app, "G").await, 0);
    // Nothing was created by the failed requests.
    assert_eq!(listed_phones(&app, "").await, vec![international(1)]);
}

#[tokio::test]
async fn search_matches_names_and_phone_fragments_case_insensitively() {
    let app = TestApp::start().await;
    create_contact(
        &app,
        json!({"phone": "0201234567", "firstName": "Kofi", "lastName": "Mensah"}),
    )
    .await;
    create_contact(
        &app,
        json!({"phone": "0241112222", "firstName": "Ama", "lastName": "Owusu"}),
    )
    .await;
    create_contact(
        &app,
        json!({"phone": "0559876543", "firstName": "Yaw", "lastName": "Mensah-Bonsu"}),
    )
    .await;
    let kofi = "233201234567".to_string();
    let ama = "233241112222".to_string();
    let yaw = "233559876543".to_string();
    for (search, expected) in [
        ("kofi", vec![kofi.clone()]),
        ("AMA", vec![ama.clone()]),
        ("mensah", vec![yaw.clone(), kofi.clone()]),
        ("Kofi%20Mensah", vec![kofi.clone()]),
        ("owu", vec![ama.clone()]),
        ("1234", vec![kofi.clone()]),
        ("9876", vec![yaw.clone()]),
        ("024111", vec![ama.clone()]),
        ("%2B23355", vec![yaw.clone()]),
        ("233", vec![yaw.clone(), ama.clone(), kofi.clone()]),
        ("nobody", vec![]),
    ] {
        let phones = listed_phones(&app, &format!("?search={search}")).await;
        assert_eq!(phones, expected, "search={search}");
    }
    let reply = app.get("/api/v1/contacts?search=mensah&limit=1").await;
    assert_eq!(reply.body["data"]["pagination"]["total"], 2);
    assert_eq!(reply.body["data"]["pagination"]["hasMore"], true);
}

#[tokio::test]
async fn group_filter_lists_only_members_and_combines_with_search() {
    let app = TestApp::start().await;
    let vip = create_group(&app, "VIP").await;
    let other = create_group(&app, "Other").await;
    create_contact(
        &app,
        json!({"phone": number(1), "firstName": "Kofi", "groupId": vip}),
    )
    .await;
    create_contact(&app, json!({"phone": number(2), "firstName": "Ama"})).await;
    create_contact(
        &app,
        json!({"phone": number(3), "firstName": "Kojo", "groupId": vip}),
    )
    .await;
    assert_eq!(
        listed_phones(&app, &format!("?groupId={vip}")).await,
        vec![international(3), international(1)]
    );
    assert_eq!(
        listed_phones(&app, &format!("?groupId={vip}&search=kofi")).await,
        vec![international(1)]
    );
    assert_eq!(
        listed_phones(&app, &format!("?groupId={other}")).await,
        Vec::<String>::new()
    );
    let reply = app
        .get(&format!("/api/v1/contacts?groupId={vip}&page=2&limit=1"))
        .await;
    assert_eq!(
        reply.body["data"]["pagination"],
        json!({"page": 2, "limit": 1, "total": 2, "totalPages": 2, "hasMore": false})
    );
    assert_eq!(reply.body["data"]["contacts"][0]["phone"], international(1));
}

#[tokio::test]
async fn listing_limits_are_checked() {
    let app = TestApp::start().await;
    for query in ["limit=201", "limit=0", "page=0", "limit=abc"] {
        let reply = app.get(&format!("/api/v1/contacts?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.code(), "invalid_query");
    }
    let reply = app.get("/api/v1/contacts?limit=200").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["pagination"]["limit"], 200);
    let reply = app.get("/api/v1/contacts").await;
    assert_eq!(reply.body["data"]["pagination"]["limit"], 50);
    assert_eq!(reply.body["data"]["pagination"]["page"], 1);
}

#[tokio::test]
async fn soft_deleted_contact_leaves_lists_and_groups_and_frees_its_phone() {
    let app = TestApp::start().await;
    let group = create_group(&app, "Club").await;
    let gone = create_contact(
        &app,
        json!({"phone": number(1), "firstName": "Gone", "groupId": group}),
    )
    .await;
    create_contact(
        &app,
        json!({"phone": number(2), "firstName": "Stays", "groupId": group}),
    )
    .await;
    let path = format!("/api/v1/contacts/{}", gone["id"].as_str().expect("id"));
    let reply = send(&app, Method::DELETE, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["deleted"], true);

    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&app, Method::DELETE, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, Method::PUT, &path, Some(json!({"firstName": "Back"})))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(listed_phones(&app, "").await, vec![international(2)]);
    assert_eq!(
        listed_phones(&app, "?search=gone").await,
        Vec::<String>::new()
    );
    assert_eq!(
        listed_phones(&app, &format!("?groupId={group}")).await,
        vec![international(2)]
    );
    assert_eq!(contact_count(&app, "Club").await, 1);
    // A deleted contact cannot join a group.
    let reply = app
        .post(
            &format!("/api/v1/contacts/groups/{group}/members"),
            json!({"contactIds": [gone["id"]]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Its phone may be added again, as a new contact in no group.
    let again = create_contact(&app, json!({"phone": number(1), "firstName": "Again"})).await;
    assert_ne!(again["id"], gone["id"]);
    assert_eq!(again["groups"], json!([]));
    assert_eq!(contact_count(&app, "Club").await, 1);
    // Importing it again after deleting the new one creates it once more.
    let path = format!("/api/v1/contacts/{}", again["id"].as_str().expect("id"));
    assert_eq!(
        send(&app, Method::DELETE, &path, None).await.status,
        StatusCode::OK
    );
    let reply = app
        .post(
            "/api/v1/contacts/import",
            json!({"contacts": [{"phone": number(1)}]}),
        )
        .await;
    assert_eq!(reply.body["data"]["created"], 1, "{}", reply.body);
}

#[tokio::test]
async fn members_are_added_and_removed_and_counted() {
    let app = TestApp::start().await;
    let group = create_group(&app, "Team").await;
    let other = create_group(&app, "Other").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let contact = create_contact(&app, json!({"phone": number(i)})).await;
        ids.push(contact["id"].as_str().expect("id").to_string());
    }
    let members = format!("/api/v1/contacts/groups/{group}/members");
    let reply = app
        .post(&members, json!({"contactIds": [ids[0], ids[1], ids[0]]}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"groupId": group, "contactCount": 2})
    );
    // Adding again is harmless.
    let reply = app
        .post(&members, json!({"contactIds": [ids[1], ids[2]]}))
        .await;
    assert_eq!(reply.body["data"]["contactCount"], 3);
    app.post(
        &format!("/api/v1/contacts/groups/{other}/members"),
        json!({"contactIds": [ids[0]]}),
    )
    .await;
    let first = app.get(&format!("/api/v1/contacts/{}", ids[0])).await;
    assert_eq!(
        first.body["data"]["groups"],
        json!([{"id": group, "name": "Team"}, {"id": other, "name": "Other"}])
    );

    let reply = send(
        &app,
        Method::DELETE,
        &members,
        Some(json!({"contactIds": [ids[0], ids[2]]})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({"groupId": group, "contactCount": 1})
    );
    assert_eq!(contact_count(&app, "Team").await, 1);
    assert_eq!(contact_count(&app, "Other").await, 1);
    let first = app.get(&format!("/api/v1/contacts/{}", ids[0])).await;
    assert_eq!(
        first.body["data"]["groups"],
        json!([{"id": other, "name": "Other"}])
    );

    for body in [json!({}), json!({"contactIds": []})] {
        let reply = app.post(&members, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    }
    // Deleting the group keeps the contacts, and their other groups.
    let reply = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/contacts/groups/{group}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(listed_phones(&app, "").await.len(), 3);
    let first = app.get(&format!("/api/v1/contacts/{}", ids[1])).await;
    assert_eq!(first.body["data"]["groups"], json!([]));
    assert_eq!(contact_count(&app, "Other").await, 1);
}

#[tokio::test]
async fn scopes_guard_reads_and_writes_before_the_body_is_read() {
    let app = TestApp::start().await;
    let group = create_group(&app, "G").await;
    let (_, reader) = app.tenant(0, Some(&["contacts:read"])).await;
    let (_, stranger) = app.tenant(0, Some(&["sms:send"])).await;

    let listed = app
        .request(Method::GET, "/api/v1/contacts", Some(&reader), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let groups = app
        .request(Method::GET, "/api/v1/contacts/groups", Some(&reader), None)
        .await;
    assert_eq!(groups.status, StatusCode::OK);

    // Writes with a read-only key: 403 even for a body that would not parse.
    for (method, path) in [
        (Method::POST, "/api/v1/contacts".to_string()),
        (Method::POST, "/api/v1/contacts/import".to_string()),
        (Method::POST, "/api/v1/contacts/groups".to_string()),
        (
            Method::PUT,
            "/api/v1/contacts/cnt_01jfq1nbx0a4ws4e1ycr5wc7hf".to_string(),
        ),
        (
            Method::DELETE,
            "/api/v1/contacts/cnt_01jfq1nbx0a4ws4e1ycr5wc7hf".to_string(),
        ),
        (Method::DELETE, format!("/api/v1/contacts/groups/{group}")),
        (
            Method::POST,
            format!("/api/v1/contacts/groups/{group}/members"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/groups/{group}/members"),
        ),
    ] {
        let reply = app
            .call(
                Call::new(method.clone(), path.as_str())
                    .bearer(&reader)
                    .body(Some("application/json"), "{not json"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.code(), "forbidden");
    }
    for path in [
        "/api/v1/contacts",
        "/api/v1/contacts/groups",
        "/api/v1/contacts/cnt_01jfq1nbx0a4ws4e1ycr5wc7hf",
    ] {
        let reply = app.request(Method::GET, path, Some(&stranger), None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
    }
    let reply = app
        .request(Method::GET, "/api/v1/contacts", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_tenants_contacts_and_groups_are_not_found() {
    let app = TestApp::start().await;
    let (_, other) = app.tenant(0, None).await;
    let as_other = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let other = other.clone();
        async move { app.request(method, &path, Some(&other), body).await }
    };
    let theirs = as_other(
        Method::POST,
        "/api/v1/contacts".into(),
        Some(json!({"phone": number(1), "firstName": "Theirs"})),
    )
    .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let their_contact = theirs.body["data"]["id"].as_str().expect("id").to_string();
    let their_group = as_other(
        Method::POST,
        "/api/v1/contacts/groups".into(),
        Some(json!({"name": "Theirs"})),
    )
    .await;
    let their_group = their_group.body["data"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    // The same phone and group name are free in this tenant.
    let mine = create_contact(&app, json!({"phone": number(1), "firstName": "Mine"})).await;
    let my_group = create_group(&app, "Theirs").await;

    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/v1/contacts/{their_contact}"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/contacts/{their_contact}"),
            Some(json!({"firstName": "Stolen"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/{their_contact}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/contacts?groupId={their_group}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/contacts/groups/{their_group}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/contacts/groups/{their_group}/members"),
            Some(json!({"contactIds": [mine["id"]]})),
        ),
        (
            Method::POST,
            format!("/api/v1/contacts/groups/{my_group}/members"),
            Some(json!({"contactIds": [their_contact]})),
        ),
        (
            Method::POST,
            "/api/v1/contacts/import".to_string(),
            Some(json!({"contacts": [{"phone": number(5)}], "groupId": their_group})),
        ),
    ] {
        let reply = send(&app, method.clone(), &path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.body
        );
    }
    let listed = app.get("/api/v1/contacts?search=theirs").await;
    assert_eq!(listed.body["data"]["contacts"], json!([]));
    let all = app.get("/api/v1/contacts").await;
    assert_eq!(all.body["data"]["pagination"]["total"], 1);
    let groups = app.get("/api/v1/contacts/groups").await;
    assert_eq!(
        groups.body["data"]["groups"]
            .as_array()
            .expect("groups")
            .len(),
        1
    );
    // Theirs is untouched.
    let theirs = as_other(
        Method::GET,
        format!("/api/v1/contacts/{their_contact}"),
        None,
    )
    .await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.body["data"]["firstName"], "Theirs");
}

#[tokio::test]
async fn contacts_and_groups_survive_a_restart() {
    let server = TestServer::start().await;
    let group = create_group(&server, "Durable").await;
    create_contact(
        &server,
        json!({"phone": number(1), "firstName": "Kept", "groupId": group}),
    )
    .await;
    let server = server.restart().await;
    assert_eq!(
        listed_phones(&server, &format!("?groupId={group}")).await,
        vec![international(1)]
    );
    assert_eq!(contact_count(&server, "Durable").await, 1);
    let reply = server
        .post("/api/v1/contacts", json!({"phone": number(1)}))
        .await;
    assert_eq!(reply.code(), "contact_exists");
}
