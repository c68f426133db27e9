//! Shared by the provider test files: a webhook receiver that records raw
//! requests (URL, headers, body) and answers through a closure, plus HMAC
//! helpers computed here, independently of the simulator's own code.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::Value;

/// A simulator whose callbacks follow each step after 5 ms, and whose
/// `0504` numbers answer after `slow_answer_delay`.
pub async fn start_with(slow_answer_delay: Duration) -> herald_sim::Simulator {
    herald_sim::Simulator::start(herald_sim::SimConfig {
        callback_delay: Duration::from_millis(5),
        slow_answer_delay,
        ..herald_sim::SimConfig::default()
    })
    .await
    .unwrap()
}

/// [`start_with`] the default slow-answer delay.
pub async fn start() -> herald_sim::Simulator {
    start_with(herald_sim::SimConfig::default().slow_answer_delay).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Full URL as the sender called it (`http://host/path?query`).
    pub url: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).expect("a form body")
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

pub type Inbox = Arc<Mutex<Vec<Captured>>>;
type Answer = Arc<dyn Fn(&Captured) -> (u16, String) + Send + Sync>;

/// A receiver on 127.0.0.1 answering every POST through `answer`; returns
/// its base URL and what it received.
pub async fn receiver(
    answer: impl Fn(&Captured) -> (u16, String) + Send + Sync + 'static,
) -> (String, Inbox) {
    async fn record(
        State((inbox, answer)): State<(Inbox, Answer)>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        let captured = Captured {
            url: format!("http://{}{}", headers["host"].to_str().unwrap(), uri),
            path: uri.path().to_owned(),
            headers,
            body: body.to_vec(),
        };
        let (status, text) = answer(&captured);
        inbox.lock().unwrap().push(captured);
        (StatusCode::from_u16(status).unwrap(), text)
    }
    let inbox = Inbox::default();
    let answer: Answer = Arc::new(answer);
    let app = Router::new()
        .fallback(record)
        .with_state((inbox.clone(), answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, inbox)
}

/// A receiver answering 204 to everything.
pub async fn ok_receiver() -> (String, Inbox) {
    receiver(|_| (204, String::new())).await
}

/// Waits until `inbox` holds at least `n` requests (up to 5 s), returns them.
pub async fn wait_for(inbox: &Inbox, n: usize) -> Vec<Captured> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = inbox.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn hmac_sha256_hex(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sends `request` and reads its JSON answer, whatever the status.
pub async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}
