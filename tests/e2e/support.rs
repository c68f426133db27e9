//! Helpers for the multi-channel tests: channels on each simulated
//! provider, a reply receiver standing in for a tenant's endpoint, polling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use herald_sim::Simulator;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{Api, Backend, Herald};

/// Creates a channel on `plugin` pointing at the simulator.
pub async fn channel(api: &Api, plugin: &str, sender: &str, config: Value, secrets: Value) -> i64 {
    let (status, body) = api
        .post(
            "/v1/channels",
            json!({
                "name": plugin, "plugin": plugin, "sender": sender,
                "config": config, "secrets": secrets, "allowed_hosts": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

pub fn twilio_config(sim: &Simulator) -> (Value, Value) {
    (
        json!({ "account-sid": sim.config().twilio_account_sid, "base-url": sim.base_url() }),
        json!({ "auth-token": sim.config().twilio_auth_token }),
    )
}

/// A list of contacts given as JSON objects.
pub async fn list_of(api: &Api, contacts: Vec<Value>) -> i64 {
    let (status, list) = api.post("/v1/lists", json!({ "name": "audience" })).await;
    assert_eq!(status, 201, "{list}");
    let id = list["id"].as_i64().unwrap();
    let (status, body) = api
        .post(
            &format!("/v1/lists/{id}/contacts"),
            json!({ "contacts": contacts }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    id
}

/// Creates a campaign, answering its id; panics unless 201.
pub async fn create(api: &Api, campaign: Value) -> i64 {
    let (status, c) = api.post("/v1/campaigns", campaign).await;
    assert_eq!(status, 201, "{c}");
    c["id"].as_i64().unwrap()
}

/// Starts a campaign and waits for it to complete.
pub async fn run(api: &Api, campaign: i64, within: Duration) {
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_status(campaign, "completed", within).await;
}

/// Polls `check` until it holds (panics with `what` after `within`).
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < until, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Expects a 422 naming `field`.
pub async fn refused(api: &Api, campaign: Value, field: &str) {
    let (status, body) = api.post("/v1/campaigns", campaign).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

/// POSTs a forged webhook and expects 401; the members must not change.
pub async fn forged_webhook_is_refused(
    herald: &Herald,
    api: &Api,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
    campaign: i64,
) {
    let before = api.all_members(campaign).await;
    let mut request = herald
        .http
        .post(format!("{}{path_and_query}", herald.base))
        .body(body.to_owned());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401, "{path_and_query}");
    assert_eq!(
        before,
        api.all_members(campaign).await,
        "a refused webhook changed a member"
    );
}

/// A tenant's reply endpoint: records what it receives.
pub struct ReplyReceiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl ReplyReceiver {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let sink = received.clone();
        let app = axum::Router::new().route(
            "/replies",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push((headers, body));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/replies", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, received }
    }
}

/// Checks `X-Herald-Signature: t=..,v1=hex(HMAC-SHA256(secret, "t.body"))`
/// independently of Herald's own code.
pub fn signature_valid(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut parts = header.split(',');
    let t = parts
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .unwrap_or("");
    let v1 = parts
        .next()
        .and_then(|p| p.strip_prefix("v1="))
        .unwrap_or("");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes()) == v1
}

/// The WhatsApp Cloud phone number id of the simulator's test business.
pub const PHONE_NUMBER_ID: &str = "109876543210";

/// A WhatsApp Cloud channel on the simulator, its webhooks pointed at
/// `herald` (templates not yet synced).
pub async fn whatsapp_channel(api: &Api, sim: &Simulator, herald: &Herald) -> i64 {
    let cfg = sim.config();
    let ch = channel(
        api,
        "whatsapp-cloud",
        PHONE_NUMBER_ID,
        json!({ "waba-id": cfg.whatsapp_waba_id, "base-url": sim.base_url() }),
        json!({ "access-token": cfg.whatsapp_access_token, "app-secret": cfg.whatsapp_app_secret,
                "verify-token": "verify-me" }),
    )
    .await;
    sim.set_webhook_url("whatsapp", &format!("{}/webhooks/{ch}", herald.base));
    ch
}

/// A Mailgun channel on the simulator, its event webhooks pointed at
/// `herald`.
pub async fn mailgun_channel(api: &Api, sim: &Simulator, herald: &Herald) -> i64 {
    let cfg = sim.config();
    let ch = channel(
        api,
        "mailgun-email",
        "news@mg.example.test",
        json!({ "domain": cfg.mailgun_domain, "base-url": sim.base_url() }),
        json!({ "api-key": cfg.mailgun_api_key, "webhook-signing-key": cfg.mailgun_webhook_signing_key }),
    )
    .await;
    sim.set_webhook_url("mailgun", &format!("{}/webhooks/{ch}", herald.base));
    ch
}

/// An API time (RFC 3339 text, the only format the API answers with) as
/// epoch milliseconds; panics on anything else, such as a bare number.
pub fn at_ms(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not an RFC 3339 time"));
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .as_millisecond()
}

/// One number a query answers, read straight from a server's database (for
/// what the API does not show, such as rows kept for later).
pub async fn count(backend: Backend, url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}
