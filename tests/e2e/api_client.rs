//! The HTTP client the tests drive Herald with: one API key, JSON in and
//! out, and the helpers most tests share (lists, channels, campaigns,
//! waiting for a status).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A client holding one API key.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    /// A request to `path` carrying this client's key.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
        decode(request.send().await.expect("request")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn post_empty(&self, path: &str) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::POST, path)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::PUT, path).json(&body)).await
    }

    /// Posts `body` raw with its content type.
    async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let request = self.request(reqwest::Method::POST, path);
        Self::call(request.header("content-type", content_type).body(body)).await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.post_raw(path, "application/wasm", body).await
    }

    /// Uploads `body` as a chunked request (no declared length), as a client
    /// streaming a file it has not measured does.
    pub async fn post_stream(&self, path: &str, body: reqwest::Body) -> (u16, Value) {
        self.post_raw(path, "application/octet-stream", body).await
    }

    /// Uploads a CSV file as the raw request body.
    pub async fn post_csv(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.post_raw(path, "text/csv", body).await
    }

    /// A response's status and text (CSV downloads).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::DELETE, path)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::call(self.request(reqwest::Method::GET, path)).await
    }

    /// Creates an SMS channel on `plugin` pointing at the simulator.
    pub async fn sim_channel(&self, sim: &herald_sim::Simulator, plugin: &str) -> i64 {
        let (status, body) = self
            .post(
                "/v1/channels",
                json!({
                    "name": format!("{plugin} via simulator"),
                    "plugin": plugin,
                    "sender": "+15005550006",
                    "config": { "account-sid": sim.config().twilio_account_sid, "base-url": sim.base_url() },
                    "secrets": { "auth-token": sim.config().twilio_auth_token },
                    "allowed_hosts": ["127.0.0.1"],
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().expect("channel id")
    }

    /// Sets a channel's rate limit (messages per second).
    pub async fn set_rate(&self, channel: i64, per_second: u32) {
        let (status, c) = self
            .patch(
                &format!("/v1/channels/{channel}"),
                json!({ "rate_per_second": per_second }),
            )
            .await;
        assert_eq!(status, 200, "{c}");
    }

    /// Creates a list holding one contact per number.
    pub async fn list_with(&self, numbers: &[String]) -> i64 {
        let (status, list) = self.post("/v1/lists", json!({ "name": "audience" })).await;
        assert_eq!(status, 201, "{list}");
        let id = list["id"].as_i64().expect("list id");
        let contacts: Vec<Value> = numbers
            .iter()
            .enumerate()
            .map(|(i, n)| json!({ "phone": n, "first_name": format!("C{i}") }))
            .collect();
        let (status, body) = self
            .post(
                &format!("/v1/lists/{id}/contacts"),
                json!({ "contacts": contacts }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        id
    }

    /// Adds contacts with these numbers to a list.
    pub async fn add_contacts(&self, list: i64, numbers: &[String]) {
        let contacts: Vec<Value> = numbers.iter().map(|n| json!({ "phone": n })).collect();
        let (status, body) = self
            .post(
                &format!("/v1/lists/{list}/contacts"),
                json!({ "contacts": contacts }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn campaign(&self, channel: i64, list: i64, body: &str) -> i64 {
        let (status, c) = self
            .post(
                "/v1/campaigns",
                json!({ "name": "e2e", "channel_id": channel, "list_id": list, "body": body }),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        c["id"].as_i64().expect("campaign id")
    }

    /// Starts a campaign and waits until it completes (panics after `within`).
    pub async fn start_to_completion(&self, campaign: i64, within: Duration) -> Value {
        let (status, body) = self
            .post_empty(&format!("/v1/campaigns/{campaign}/start"))
            .await;
        assert_eq!(status, 200, "{body}");
        self.wait_status(campaign, "completed", within).await
    }

    /// Polls until the campaign reaches `status` (panics after `within`).
    pub async fn wait_status(&self, campaign: i64, status: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            let (_, c) = self.get(&format!("/v1/campaigns/{campaign}")).await;
            if c["status"] == status {
                return c;
            }
            if Instant::now() > until {
                let (_, p) = self
                    .get(&format!("/v1/campaigns/{campaign}/progress"))
                    .await;
                panic!("campaign {campaign} not {status} within {within:?}: {c} progress {p}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An installed plugin as `GET /v1/admin/plugins` reports it (admin key).
    pub async fn admin_plugin(&self, name: &str) -> Value {
        let (status, list) = self.get("/v1/admin/plugins").await;
        assert_eq!(status, 200, "{list}");
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no plugin {name} in {list}"))
    }

    /// Every member of a campaign, all pages.
    pub async fn all_members(&self, campaign: i64) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let (status, page) = self
                .get(&format!(
                    "/v1/campaigns/{campaign}/members?limit=1000&cursor={cursor}"
                ))
                .await;
            assert_eq!(status, 200, "{page}");
            out.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => return out,
            }
        }
    }
}

async fn decode(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let url = resp.url().path().to_owned();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    crate::schema::check_answer(&url, &value);
    crate::schema::check_error(&url, status, &value);
    (status, value)
}
