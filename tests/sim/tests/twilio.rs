//! Drives the simulator the way Herald's Twilio plugin will: real HTTP with
//! reqwest, form bodies, Basic auth, and a small axum server receiving the
//! status callbacks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use axum::{Form, Router};
use herald_sim::{SimConfig, Simulator, twilio_signature};
use serde_json::Value;

async fn start() -> Simulator {
    start_with(SimConfig {
        callback_delay: Duration::from_millis(5),
        ..SimConfig::default()
    })
    .await
}

async fn start_with(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("simulator starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn messages_url(sim: &Simulator) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        sim.base_url(),
        sim.config().twilio_account_sid
    )
}

/// Sends with the simulator's own credentials.
async fn send(sim: &Simulator, params: &[(&str, &str)]) -> reqwest::Response {
    let config = sim.config();
    client()
        .post(messages_url(sim))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(params)
        .send()
        .await
        .expect("send reaches the simulator")
}

async fn fetch(sim: &Simulator, sid: &str) -> (StatusCode, Value) {
    let config = sim.config();
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages/{sid}.json",
        sim.base_url(),
        config.twilio_account_sid
    );
    let response = client()
        .get(url)
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    (response.status(), response.json().await.unwrap())
}

fn assert_twilio_error(body: &Value, code: u64, status: u64) {
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn accepted_message_returns_twilio_json() {
    let sim = start().await;
    let response = send(
        &sim,
        &[
            ("To", "+15551234567"),
            ("From", "+15557654321"),
            ("Body", "hello"),
        ],
    )
    .await;
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED);
    let sid = body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert!(
        sid[2..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    );
    assert_eq!(body["account_sid"], sim.config().twilio_account_sid);
    assert_eq!(body["to"], "+15551234567");
    assert_eq!(body["from"], "+15557654321");
    assert_eq!(body["body"], "hello");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["num_segments"], "1");
    assert_eq!(body["num_media"], "0");
    assert_eq!(body["direction"], "outbound-api");
    assert_eq!(body["api_version"], "2010-04-01");
    assert!(body["error_code"].is_null() && body["error_message"].is_null());
    assert!(body["price"].is_null());
    assert!(body["date_created"].as_str().unwrap().ends_with(" +0000"));
    assert_eq!(
        body["uri"],
        format!(
            "/2010-04-01/Accounts/{}/Messages/{sid}.json",
            sim.config().twilio_account_sid
        )
    );

    // The status advances even without a StatusCallback.
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, message) = fetch(&sim, &sid).await;
        assert_eq!(status, StatusCode::OK);
        last = message;
        if last["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(last["status"], "delivered");
    assert_eq!(last["sid"], sid.as_str());

    let (status, missing) = fetch(&sim, "SM00000000000000000000000000000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_twilio_error(&missing, 20404, 404);

    let stats = sim.stats();
    assert_eq!((stats.requests, stats.accepted), (1, 1));
    assert_eq!((stats.distinct_recipients, stats.duplicates), (1, 0));
    assert_eq!(stats.callbacks_sent + stats.callbacks_failed, 0);
    let messages = sim.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].sid, sid);
    assert_eq!(messages[0].body, "hello");
    assert!(
        messages[0]
            .headers
            .contains(&("authorization".into(), "[redacted]".into()))
    );
    assert_eq!(sim.sends_to("+15551234567"), 1);
    assert_eq!(sim.sends_to("+15550000000"), 0);
}

#[tokio::test]
async fn bad_auth_is_401_with_code_20003() {
    let sim = start().await;
    let config = sim.config().clone();
    let form = [
        ("To", "+15551234567"),
        ("From", "+15557654321"),
        ("Body", "x"),
    ];

    let wrong_token = client()
        .post(messages_url(&sim))
        .basic_auth(&config.twilio_account_sid, Some("wrong"))
        .form(&form);
    let no_auth = client().post(messages_url(&sim)).form(&form);
    let other_account = client()
        .post(format!(
            "{}/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json",
            sim.base_url()
        ))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(&form);
    for request in [wrong_token, no_auth, other_account] {
        let response = request.send().await.unwrap();
        assert!(response.headers().contains_key("www-authenticate"));
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_twilio_error(&body, 20003, 401);
    }
    let stats = sim.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.auth_failures, 3);
    assert_eq!(stats.rejected, 3);
    assert_eq!(stats.accepted, 0);
    assert!(sim.messages().is_empty());
}

#[tokio::test]
async fn invalid_requests_use_twilio_error_codes() {
    let sim = start().await;
    let cases: [(&[(&str, &str)], u64); 5] = [
        (
            &[
                ("To", "+15550000001"),
                ("From", "+15557654321"),
                ("Body", "x"),
            ],
            21211,
        ),
        (
            &[
                ("To", "5551234567"),
                ("From", "+15557654321"),
                ("Body", "x"),
            ],
            21211,
        ),
        (&[("From", "+15557654321"), ("Body", "x")], 21604),
        (&[("To", "+15551234567"), ("From", "+15557654321")], 21602),
        (&[("To", "+15551234567"), ("Body", "x")], 21603),
    ];
    for (form, code) in cases {
        let (status, body) = json_of(send(&sim, form).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_twilio_error(&body, code, 400);
    }
    // Media alone is a valid message; a Messaging Service replaces From.
    let media_only = [
        ("To", "+15551234567"),
        ("MessagingServiceSid", "MG00000000000000000000000000000001"),
        ("MediaUrl", "https://example.com/a.png"),
        ("MediaUrl", "https://example.com/b.png"),
    ];
    let (status, body) = json_of(send(&sim, &media_only).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["num_media"], "2");
    assert!(body["from"].is_null());
    assert_eq!(
        body["messaging_service_sid"],
        "MG00000000000000000000000000000001"
    );
    assert_eq!(sim.messages()[0].media_urls.len(), 2);

    let stats = sim.stats();
    assert_eq!((stats.requests, stats.rejected, stats.accepted), (6, 5, 1));
    assert_eq!(sim.sends_to("+15550000001"), 0);
}

#[tokio::test]
async fn first_send_to_0429_and_0500_fails_then_succeeds() {
    let sim = start().await;
    let form = |to| [("To", to), ("From", "+15557654321"), ("Body", "x")];

    let first = send(&sim, &form("+15550000429")).await;
    assert_eq!(first.headers()["retry-after"], "1");
    let (status, body) = json_of(first).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_twilio_error(&body, 20429, 429);
    let (status, _) = json_of(send(&sim, &form("+15550000429")).await).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = json_of(send(&sim, &form("+15550000500")).await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_twilio_error(&body, 20500, 500);
    let (status, _) = json_of(send(&sim, &form("+15550000500")).await).await;
    assert_eq!(status, StatusCode::CREATED);

    let stats = sim.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!((stats.rate_limited, stats.server_errors), (1, 1));
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.rejected),
        (2, 0, 0)
    );
    assert_eq!(sim.sends_to("+15550000429"), 1);
}

/// One status callback as the receiver saw it.
#[derive(Clone, Debug)]
struct Callback {
    url: String,
    signature: String,
    params: Vec<(String, String)>,
}

impl Callback {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Inbox = Arc<Mutex<Vec<Callback>>>;

/// A status-callback receiver: `/cb` answers 204, `/fail` answers 500.
async fn receiver() -> (String, Inbox) {
    async fn record(
        State(inbox): State<Inbox>,
        uri: Uri,
        headers: HeaderMap,
        Form(params): Form<Vec<(String, String)>>,
    ) -> StatusCode {
        let url = format!("http://{}{}", headers["host"].to_str().unwrap(), uri);
        let signature = headers
            .get("x-twilio-signature")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        inbox.lock().unwrap().push(Callback {
            url,
            signature,
            params,
        });
        StatusCode::NO_CONTENT
    }
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/cb", post(record))
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, inbox)
}

#[tokio::test]
async fn status_callbacks_are_signed_and_in_order() {
    let sim = start().await;
    let (base, inbox) = receiver().await;
    let callback = format!("{base}/cb?tenant=t1&x=%20y");
    let mut sids = Vec::new();
    for to in ["+15551230000", "+15550000002", "+15550000003"] {
        let form = [
            ("To", to),
            ("From", "+15557654321"),
            ("Body", "hi"),
            ("StatusCallback", callback.as_str()),
        ];
        let (status, body) = json_of(send(&sim, &form).await).await;
        assert_eq!(status, StatusCode::CREATED);
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    // A receiver that keeps failing: one try plus one retry, then counted failed.
    let failing = [
        ("To", "+15551239999"),
        ("From", "+15557654321"),
        ("Body", "hi"),
        ("StatusCallback", &format!("{base}/fail")),
    ];
    assert_eq!(send(&sim, &failing).await.status(), StatusCode::CREATED);

    let done = sim
        .wait_for(Duration::from_secs(3), |s| {
            s.callbacks_sent == 6 && s.callbacks_failed == 2
        })
        .await;
    assert!(done, "{:?}", sim.stats());

    let token = &sim.config().twilio_auth_token;
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 6);
    for cb in &received {
        assert_eq!(cb.url, callback);
        assert_eq!(cb.signature, twilio_signature(token, &cb.url, &cb.params));
        assert_ne!(cb.signature, twilio_signature("wrong", &cb.url, &cb.params));
        assert_eq!(cb.param("MessageSid"), cb.param("SmsSid"));
        assert_eq!(cb.param("MessageStatus"), cb.param("SmsStatus"));
        assert_eq!(
            cb.param("AccountSid"),
            Some(sim.config().twilio_account_sid.as_str())
        );
        assert_eq!(cb.param("From"), Some("+15557654321"));
        assert_eq!(cb.param("ApiVersion"), Some("2010-04-01"));
    }
    let expected = [
        ("+15551230000", "delivered", None),
        ("+15550000002", "undelivered", Some("30003")),
        ("+15550000003", "failed", Some("30008")),
    ];
    for (sid, (to, final_status, error_code)) in sids.iter().zip(expected) {
        let mine: Vec<&Callback> = received
            .iter()
            .filter(|cb| cb.param("MessageSid") == Some(sid))
            .collect();
        let statuses: Vec<_> = mine.iter().map(|cb| cb.param("MessageStatus")).collect();
        assert_eq!(statuses, [Some("sent"), Some(final_status)], "{to}");
        assert_eq!(mine[0].param("ErrorCode"), None);
        assert_eq!(mine[1].param("ErrorCode"), error_code);
        assert_eq!(mine[1].param("To"), Some(to));

        let (_, message) = fetch(&sim, sid).await;
        assert_eq!(message["status"], final_status);
        assert_eq!(
            message["error_code"]
                .as_u64()
                .map(|c| c.to_string())
                .as_deref(),
            error_code
        );
    }
}

#[tokio::test]
async fn duplicates_and_concurrency_are_counted_exactly() {
    let sim = start_with(SimConfig {
        response_delay: Duration::from_millis(20),
        ..SimConfig::default()
    })
    .await;
    let form = [
        ("To", "+15551112222"),
        ("From", "+15557654321"),
        ("Body", "x"),
    ];
    assert_eq!(send(&sim, &form).await.status(), StatusCode::CREATED);
    assert_eq!(send(&sim, &form).await.status(), StatusCode::CREATED);
    let stats = sim.stats();
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.distinct_recipients),
        (2, 1, 1)
    );
    assert_eq!(sim.sends_to("+15551112222"), 2);

    // 200 concurrent sends to distinct numbers: none lost, none doubled.
    let client = client();
    let config = sim.config().clone();
    let url = messages_url(&sim);
    let sends = (0..200).map(|i| {
        let request = client
            .post(&url)
            .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
            .form(&[
                ("To", format!("+1555300{:04}", 1000 + i)), // clear of 0001 etc.
                ("From", "+15557654321".into()),
                ("Body", "x".into()),
            ]);
        async move { request.send().await.unwrap().status() }
    });
    let handles: Vec<_> = sends.map(tokio::spawn).collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap(), StatusCode::CREATED);
    }
    let stats = sim.stats();
    assert_eq!(stats.requests, 202);
    assert_eq!(stats.accepted, 202);
    assert_eq!(stats.distinct_recipients, 201);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.in_flight, 0);
    assert!(stats.max_in_flight > 1, "{stats:?}");
    assert_eq!(sim.messages().len(), 202);
}

#[tokio::test]
async fn inspection_endpoints_and_reset() {
    let sim = start().await;
    let form = [
        ("To", "+15550000429"),
        ("From", "+15557654321"),
        ("Body", "x"),
    ];
    assert_eq!(
        send(&sim, &form).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(send(&sim, &form).await.status(), StatusCode::CREATED);

    let http = client();
    let stats: Value = http
        .get(format!("{}/_sim/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["accepted"], 1);
    assert_eq!(stats["rate_limited"], 1);
    let messages: Value = http
        .get(format!("{}/_sim/messages", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(messages.as_array().unwrap().len(), 1);
    assert_eq!(messages[0]["to"], "+15550000429");

    let reset = http
        .post(format!("{}/_sim/reset", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    let stats = sim.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.rate_limited),
        (0, 0, 0)
    );
    assert!(sim.messages().is_empty());
    // The one-time failure is armed again after a reset.
    assert_eq!(
        send(&sim, &form).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    sim.reset();
    assert_eq!(sim.stats().requests, 0);

    let base = sim.base_url();
    sim.shutdown().await;
    assert!(http.get(format!("{base}/_sim/stats")).send().await.is_err());
}
