//! A test's console client: signs in through `/console/login` like a browser, keeps the
//! session cookie, reads pages as HTML text, and posts forms with the CSRF token the last page
//! it read carried.

use reqwest::{Method, StatusCode, redirect};
use serde_json::json;

use super::{Api, TestServer};

pub const PASSWORD: &str = "correct horse battery";

pub struct Console {
    client: reqwest::Client,
    base: String,
    /// `flit_session=…`, once signed in.
    pub cookie: Option<String>,
    /// The CSRF token of the last page read.
    pub csrf: Option<String>,
}

/// What a console request answered.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
    /// Where a redirect points.
    pub location: Option<String>,
    pub set_cookie: Option<String>,
}

impl Page {
    pub fn contains(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

/// The value of the first `name="_csrf" value="…"` in `html`.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

impl Console {
    pub fn new(server: &TestServer) -> Console {
        Console {
            client: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .expect("client"),
            base: server.base.clone(),
            cookie: None,
            csrf: None,
        }
    }

    /// Signs in as `email`; panics unless the sign-in succeeds.
    pub async fn sign_in(server: &TestServer, email: &str, password: &str) -> Console {
        let mut console = Console::new(server);
        let answer = console
            .send(
                Method::POST,
                "/console/login",
                Some(vec![("email", email), ("password", password)]),
                false,
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "sign-in of {email}: {}",
            answer.html
        );
        let cookie = answer.set_cookie.expect("a session cookie");
        console.cookie = Some(cookie.split(';').next().expect("name=value").to_string());
        console
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let page = self.send(Method::GET, path, None, false).await;
        if let Some(csrf) = csrf_in(&page.html) {
            self.csrf = Some(csrf);
        }
        page
    }

    /// Posts `fields` with the CSRF token of the last page read.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self
            .send(Method::POST, path, Some(fields.to_vec()), true)
            .await;
        if let Some(csrf) = csrf_in(&page.html) {
            self.csrf = Some(csrf);
        }
        page
    }

    /// Posts `fields` as they are, with no CSRF token added.
    pub async fn post_without_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(fields.to_vec()), false)
            .await
    }

    /// Posts a `multipart/form-data` form as a browser does for a file input: `fields` with the
    /// CSRF token of the last page read, and one file `field` named `filename`.
    pub async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        (field, filename, bytes): (&str, &str, &[u8]),
    ) -> Page {
        const BOUNDARY: &str = "----flit-test-7Hq2Zx";
        let csrf = self
            .csrf
            .clone()
            .expect("a page with a form was read first");
        let mut body = Vec::new();
        for (name, value) in fields.iter().copied().chain([("_csrf", csrf.as_str())]) {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("console request");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let page = Page {
            status,
            html: response.text().await.expect("body"),
            location,
            set_cookie: None,
        };
        if let Some(csrf) = csrf_in(&page.html) {
            self.csrf = Some(csrf);
        }
        page
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        fields: Option<Vec<(&str, &str)>>,
        with_csrf: bool,
    ) -> Page {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(mut fields) = fields {
            if with_csrf {
                let csrf = self
                    .csrf
                    .as_deref()
                    .expect("a page with a form was read first");
                fields.push(("_csrf", csrf));
            }
            let body: String = fields
                .iter()
                .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
                .collect::<Vec<_>>()
                .join("&");
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.expect("console request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, location, set_cookie) =
            (response.status(), header("location"), header("set-cookie"));
        Page {
            status,
            html: response.text().await.expect("body"),
            location,
            set_cookie,
        }
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A fresh tenant (with `credits`, sender ID `Acme` and an API key) and a console user of it
/// with `role`; its id, its key and the user's email.
pub async fn tenant_user(
    server: &TestServer,
    credits: i64,
    role: &str,
) -> (String, String, String) {
    let (tenant, key) = server.tenant(credits, None).await;
    let email = format!("{role}-{}@acme.example", &tenant[4..14]);
    let created = server
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/users"),
            Some(json!({"email": email, "password": PASSWORD, "role": role})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (tenant, key, email)
}

/// An operator account; its email.
pub async fn operator(server: &TestServer) -> String {
    let email = format!(
        "ops-{}@flit.example",
        flit_engine::secrets::generate_secret("")[..8].to_lowercase()
    );
    let created = server
        .admin(
            Method::POST,
            "/operators",
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    email
}
