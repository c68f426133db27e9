//! The uncertain-send faults (`0504` slow answer, `0505` reset after create,
//! `0506` 500 after create, `0507` callbacks dropped) on Twilio Messages:
//! each is a real send (accepted, delivered) whose answer or callbacks go
//! wrong, on every request to the number.

mod support;

use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::Value;
use support::{Inbox, client, ok_receiver, start, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn messages_url(sim: &Simulator) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        sim.base_url(),
        sim.config().twilio_account_sid
    )
}

fn send_request(
    sim: &Simulator,
    http: &reqwest::Client,
    to: &str,
    callback: Option<&str>,
) -> reqwest::RequestBuilder {
    let config = sim.config();
    let mut form = vec![("To", to), ("From", "+15557654321"), ("Body", "hi")];
    if let Some(callback) = callback {
        form.push(("StatusCallback", callback));
    }
    http.post(messages_url(sim))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(&form)
}

async fn fetch(sim: &Simulator, sid: &str) -> Value {
    let config = sim.config();
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages/{sid}.json",
        sim.base_url(),
        config.twilio_account_sid
    );
    support::json_answer(
        client()
            .get(url)
            .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token)),
    )
    .await
}

/// Polls the single GET until the message is `delivered` (at most 5 s).
async fn wait_delivered(sim: &Simulator, sid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let message = fetch(sim, sid).await;
        if message["status"] == "delivered" || Instant::now() > deadline {
            return message;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The sid of the only message recorded for `to`.
fn sid_for(sim: &Simulator, to: &str) -> String {
    let mine: Vec<_> = sim.messages().into_iter().filter(|m| m.to == to).collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    mine[0].sid.clone()
}

fn callback_statuses(inbox: &Inbox, sid: &str) -> Vec<String> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|cb| cb.param("MessageSid").as_deref() == Some(sid))
        .filter_map(|cb| cb.param("MessageStatus"))
        .collect()
}

#[tokio::test]
async fn slow_answer_0504_times_out_a_short_client_but_the_message_is_sent() {
    let sim = start().await;
    assert_eq!(sim.config().slow_answer_delay, Duration::from_secs(10));
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/cb");
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = send_request(&sim, &impatient, "+15550000504", Some(&callback))
        .send()
        .await
        .expect_err("the answer comes after 10 s");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let accepted = sim
        .wait_for(Duration::from_secs(5), |s| s.accepted == 1)
        .await;
    assert!(accepted, "{:?}", sim.stats());
    let sid = sid_for(&sim, "+15550000504");
    assert_eq!(wait_delivered(&sim, &sid).await["status"], "delivered");
    let called_back = sim
        .wait_for(Duration::from_secs(5), |s| s.callbacks_sent == 2)
        .await;
    assert!(called_back, "{:?}", sim.stats());
    assert_eq!(callback_statuses(&inbox, &sid), ["sent", "delivered"]);
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.accepted), (1, 1));
    assert_eq!((stats.server_errors, stats.rejected), (0, 0));
}

#[tokio::test]
async fn slow_answer_0504_is_the_normal_answer_late_on_every_request() {
    let sim = start_with(Duration::from_millis(300)).await;
    let http = client();
    for _ in 0..2 {
        let started = Instant::now();
        let response = send_request(&sim, &http, "+15550000504", None)
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert!(body["sid"].as_str().unwrap().starts_with("SM"));
        assert_eq!(body["to"], "+15550000504");
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.duplicates),
        (2, 2, 1)
    );
}

#[tokio::test]
async fn reset_0505_closes_the_connection_without_an_answer() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/cb");
    let http = client();
    let error = send_request(&sim, &http, "+15550000505", Some(&callback))
        .send()
        .await
        .expect_err("no answer at all");
    assert!(error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(error.is_request() || error.is_body(), "{error:?}");
    let accepted = sim
        .wait_for(Duration::from_secs(5), |s| s.accepted == 1)
        .await;
    assert!(accepted, "{:?}", sim.stats());
    let sid = sid_for(&sim, "+15550000505");
    assert_eq!(wait_delivered(&sim, &sid).await["status"], "delivered");
    let called_back = sim
        .wait_for(Duration::from_secs(5), |s| s.callbacks_sent == 2)
        .await;
    assert!(called_back, "{:?}", sim.stats());
    assert_eq!(callback_statuses(&inbox, &sid), ["sent", "delivered"]);

    // Every request, on a fresh client too; the server keeps serving others.
    let again = send_request(&sim, &client(), "+15550000505", None)
        .send()
        .await;
    assert!(again.is_err(), "{again:?}");
    let normal = send_request(&sim, &http, "+15551234567", None)
        .send()
        .await
        .unwrap();
    assert_eq!(normal.status(), 201);
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.accepted), (3, 3));
    assert_eq!((stats.server_errors, stats.rejected), (0, 0));
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn reset_0505_sends_not_one_byte() {
    let sim = start().await;
    let config = sim.config();
    let body = "To=%2B15550000505&From=%2B15557654321&Body=hi";
    let credentials = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.twilio_account_sid, config.twilio_auth_token
        ))
    };
    let request = format!(
        "POST /2010-04-01/Accounts/{}/Messages.json HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Basic {credentials}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        config.twilio_account_sid,
        config.listen,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(config.listen).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // EOF (or a reset) with nothing read; the deadline guards a hang.
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the connection is closed, not left hanging");
    // Ok: closed (FIN); Err: reset (RST). Either way, no answer.
    let _closed_or_reset = read;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert_eq!(sim.stats().accepted, 1);
}

#[tokio::test]
async fn server_error_0506_answers_500_after_accepting() {
    let sim = start().await;
    let http = client();
    for _ in 0..2 {
        let response = send_request(&sim, &http, "+15550000506", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 20500, "{body}");
        assert_eq!(body["status"], 500);
        assert_eq!(
            body["more_info"],
            "https://www.twilio.com/docs/errors/20500"
        );
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.requests, stats.accepted, stats.duplicates),
        (2, 2, 1)
    );
    assert_eq!((stats.server_errors, stats.rejected), (2, 0));
    assert_eq!(sim.sends_to("+15550000506"), 2);
    for message in sim.messages() {
        assert_eq!(
            wait_delivered(&sim, &message.sid).await["status"],
            "delivered"
        );
    }
}

#[tokio::test]
async fn callbacks_dropped_0507_delivers_silently() {
    let sim = start().await;
    let (base, inbox) = ok_receiver().await;
    let callback = format!("{base}/cb");
    let http = client();

    // The receiver works: a normal number gets both callbacks.
    let normal = send_request(&sim, &http, "+15551234567", Some(&callback))
        .send()
        .await
        .unwrap();
    assert_eq!(normal.status(), 201);
    let called_back = sim
        .wait_for(Duration::from_secs(5), |s| s.callbacks_sent == 2)
        .await;
    assert!(called_back, "{:?}", sim.stats());
    assert_eq!(inbox.lock().unwrap().len(), 2);

    let mut sids = Vec::new();
    for _ in 0..2 {
        let response = send_request(&sim, &http, "+15550000507", Some(&callback))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        sids.push(body["sid"].as_str().unwrap().to_owned());
    }
    for sid in &sids {
        let message = wait_delivered(&sim, sid).await;
        assert_eq!(message["status"], "delivered");
        assert!(message["date_sent"].as_str().is_some());
    }
    // Longer than a callback and its retry would take.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stats = sim.stats();
    assert_eq!((stats.callbacks_sent, stats.callbacks_failed), (2, 0));
    assert_eq!(inbox.lock().unwrap().len(), 2);
    assert_eq!(stats.accepted, 3);
}
