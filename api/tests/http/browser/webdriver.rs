//! A small W3C WebDriver client over HTTP, enough for the console's browser tests: it starts
//! Debian's `chromedriver` on a free port and drives headless Chromium through it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why the browser cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    for program in ["chromium", "chromedriver"] {
        let runs = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !runs {
            return Some(format!(
                "`{program}` does not run here (apt-get install chromium chromium-driver)"
            ));
        }
    }
    None
}

/// A chromedriver process, killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(answer) = driver
                .client
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && let Ok(status) = answer.json::<Value>().await
                && status["value"]["ready"] == true
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    /// A headless Chromium window `width` × `height`.
    pub async fn browser(&self, width: u32, height: u32) -> Browser {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--hide-scrollbars",
                                 format!("--window-size={width},{height}")]
                    }
                }}})),
            )
            .await;
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        let browser = Browser {
            client: self.client.clone(),
            base: format!("{}/session/{session}", self.base),
        };
        browser.resize(width, height).await;
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        send(&self.client, method, &format!("{}{path}", self.base), body).await
    }
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer: Value = request
        .send()
        .await
        .expect("chromedriver answers")
        .json()
        .await
        .expect("JSON from chromedriver");
    answer["value"].clone()
}

/// One browser window (a WebDriver session), closed on [`Browser::close`].
pub struct Browser {
    client: reqwest::Client,
    base: String,
}

/// An element of the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        send(&self.client, method, &format!("{}{path}", self.base), body).await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The element `css` selects; `None` if there is none.
    pub async fn find(&self, css: &str) -> Option<Element<'_>> {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        answer[ELEMENT].as_str().map(|id| Element {
            browser: self,
            id: id.to_string(),
        })
    }

    /// The element `css` selects, waiting for it up to `within`.
    pub async fn wait_for(&self, css: &str, within: Duration) -> Element<'_> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{css}` within {within:?} at {}:\n{}",
                self.url().await,
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects, which must be there.
    pub async fn el(&self, css: &str) -> Element<'_> {
        match self.find(css).await {
            Some(element) => element,
            None => panic!(
                "no `{css}` at {}:\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// Runs `script` in the page and returns its value.
    pub async fn run(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Accepts the page's `confirm()` dialog, if one is open.
    pub async fn accept_alert(&self) {
        self.call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
            .await;
    }

    /// Every cookie the browser holds for the page, as WebDriver reports them.
    pub async fn cookies(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        flit_api::base64::decode(encoded.as_str().unwrap_or_default()).expect("a base64 PNG")
    }

    pub async fn close(self) {
        let _ = self.client.delete(&self.base).send().await;
    }
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/value", self.id),
                Some(json!({"text": text})),
            )
            .await;
    }

    pub async fn text(&self) -> String {
        self.browser
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/text", self.id),
                None,
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}
