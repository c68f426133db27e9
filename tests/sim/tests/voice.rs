//! Drives the Twilio Calls endpoint the way the twilio-voice plugin does and
//! checks the call sequence: signed TwiML requests and status/AMD
//! callbacks, outcomes by number, concurrency, and MMS media fetching.

mod support;

use std::time::Duration;

use herald_sim::{SimConfig, Simulator, twilio_signature};
use serde_json::Value;
use support::{Captured, client, receiver, wait_for};

const ENQUEUE: &str = "<Response><Enqueue>sales</Enqueue></Response>";

async fn start() -> Simulator {
    Simulator::start(SimConfig {
        callback_delay: Duration::from_millis(5),
        call_duration: Duration::from_millis(1200),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// A receiver answering TwiML on `/answer` and 204 elsewhere.
async fn app() -> (String, support::Inbox) {
    receiver(|req| {
        if req.path == "/answer" {
            (200, ENQUEUE.to_owned())
        } else {
            (204, String::new())
        }
    })
    .await
}

async fn call(
    sim: &Simulator,
    base: &str,
    to: &str,
    amd: Option<&str>,
    async_amd: bool,
) -> (u16, Value) {
    let config = sim.config();
    let mut form = vec![
        ("To", to.to_owned()),
        ("From", "+15557654321".to_owned()),
        ("Url", format!("{base}/answer?event=answer")),
        ("StatusCallback", format!("{base}/status")),
    ];
    for event in ["initiated", "ringing", "answered", "completed"] {
        form.push(("StatusCallbackEvent", event.to_owned()));
    }
    if let Some(mode) = amd {
        form.push(("MachineDetection", mode.to_owned()));
        if async_amd {
            form.push(("AsyncAmd", "true".to_owned()));
            form.push(("AsyncAmdStatusCallback", format!("{base}/amd")));
        }
    }
    let response = client()
        .post(format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            sim.base_url(),
            config.twilio_account_sid
        ))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Every request must carry a valid `X-Twilio-Signature`.
fn assert_signed(sim: &Simulator, req: &Captured) {
    let expected = twilio_signature(&sim.config().twilio_auth_token, &req.url, &req.form());
    assert_eq!(
        req.header("x-twilio-signature"),
        Some(expected.as_str()),
        "{}",
        req.url
    );
}

/// (path, CallStatus) of each request, in order.
fn sequence(reqs: &[Captured]) -> Vec<(String, String)> {
    reqs.iter()
        .map(|r| (r.path.clone(), r.param("CallStatus").unwrap_or_default()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn human_answer_runs_the_full_sequence() {
    let sim = start().await;
    let (base, inbox) = app().await;
    let (status, body) = call(&sim, &base, "+15551234567", Some("Enable"), false).await;
    assert_eq!(status, 201, "{body}");
    let sid = body["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("CA") && body["status"] == "queued");

    let reqs = wait_for(&inbox, 5).await;
    reqs.iter().for_each(|r| assert_signed(&sim, r));
    assert_eq!(
        sequence(&reqs),
        pairs(&[
            ("/status", "initiated"),
            ("/status", "ringing"),
            ("/status", "in-progress"),
            ("/answer", "in-progress"),
            ("/status", "completed"),
        ])
    );
    // Synchronous AMD: the Url request says who answered.
    assert_eq!(reqs[3].param("AnsweredBy").as_deref(), Some("human"));
    assert_eq!(reqs[4].param("CallDuration").as_deref(), Some("2"));
    assert!(
        reqs.iter()
            .all(|r| r.param("CallSid").as_deref() == Some(sid.as_str()))
    );

    let calls = sim.messages_for("twilio-voice");
    let record = calls[0].call.as_ref().unwrap();
    assert_eq!(record.twiml.as_deref(), Some(ENQUEUE));
    assert_eq!(record.twiml_status, Some(200));
    assert_eq!(record.machine_detection.as_deref(), Some("Enable"));
    assert_eq!(record.status, "completed");
    assert_eq!(record.duration_secs, Some(2));
    let stats = sim.stats();
    assert_eq!(
        (
            stats.twiml_requests,
            stats.max_concurrent_calls,
            stats.calls_in_progress
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn async_amd_reports_the_machine_and_accepts_a_live_update() {
    let sim = start().await;
    let config = sim.config().clone();
    let (base, inbox) = app().await;
    call(&sim, &base, "+15550000005", Some("DetectMessageEnd"), true).await;
    // Initiated, ringing, answered, the Url, then the AMD result.
    let reqs = wait_for(&inbox, 5).await;
    let amd = reqs
        .iter()
        .find(|r| r.path == "/amd")
        .expect("an AMD callback");
    assert_eq!(amd.param("AnsweredBy").as_deref(), Some("machine_end_beep"));
    // Like the plugin on a machine: redirect the live call to new TwiML.
    let update = client()
        .post(format!(
            "{}/2010-04-01/Accounts/{}/Calls/{}.json",
            sim.base_url(),
            config.twilio_account_sid,
            amd.param("CallSid").unwrap()
        ))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(&[("Twiml", "<Response><Say>Hi</Say><Hangup/></Response>")])
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 200);

    let reqs = wait_for(&inbox, 6).await;
    reqs.iter().for_each(|r| assert_signed(&sim, r));
    let answer = reqs.iter().find(|r| r.path == "/answer").unwrap();
    assert_eq!(
        answer.param("AnsweredBy"),
        None,
        "async AMD: Url comes before the result"
    );
    let completed = reqs.last().unwrap();
    assert_eq!(completed.param("CallStatus").as_deref(), Some("completed"));
    assert_eq!(
        completed.param("AnsweredBy").as_deref(),
        Some("machine_end_beep")
    );
    let record = sim.messages_for("twilio-voice")[0].call.clone().unwrap();
    assert_eq!(
        record.twiml_updates,
        ["<Response><Say>Hi</Say><Hangup/></Response>"]
    );
    assert_eq!(sim.stats().call_updates, 1);
}

#[tokio::test]
async fn busy_no_answer_and_failed_end_without_twiml() {
    let sim = start().await;
    let (base, inbox) = app().await;
    for to in ["+15550000004", "+15550000002", "+15550000003"] {
        call(&sim, &base, to, None, false).await;
    }
    let reqs = wait_for(&inbox, 9).await;
    assert!(
        sim.wait_for(Duration::from_secs(2), |s| s.calls_in_progress == 0)
            .await
    );
    let finals: Vec<(String, String)> = reqs
        .iter()
        .filter(|r| {
            !matches!(
                r.param("CallStatus").as_deref(),
                Some("initiated" | "ringing")
            )
        })
        .map(|r| (r.param("To").unwrap(), r.param("CallStatus").unwrap()))
        .collect();
    let mut finals = finals;
    finals.sort();
    assert_eq!(
        finals,
        pairs(&[
            ("+15550000002", "no-answer"),
            ("+15550000003", "failed"),
            ("+15550000004", "busy")
        ])
    );
    assert!(reqs.iter().all(|r| r.path == "/status"), "no TwiML request");
    let stats = sim.stats();
    assert_eq!((stats.twiml_requests, stats.max_concurrent_calls), (0, 3));
    assert_eq!(stats.max_concurrent_calls_per_from["+15557654321"], 3);
}

#[tokio::test]
async fn refusals_and_lookup() {
    let sim = start().await;
    let (base, _inbox) = app().await;
    let (status, body) = call(&sim, &base, "+15550000001", None, false).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(21211)));
    let (status, _) = call(&sim, &base, "+15550000429", None, false).await;
    assert_eq!(status, 429);
    let (status, body) = call(&sim, &base, "+15551112222", None, false).await;
    assert_eq!(status, 201);
    let config = sim.config();
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Calls/{}.json",
        sim.base_url(),
        config.twilio_account_sid,
        body["sid"].as_str().unwrap()
    );
    let refused = client()
        .get(&url)
        .basic_auth("AC1", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let found: Value = support::json_answer(
        client()
            .get(&url)
            .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token)),
    )
    .await;
    assert_eq!(found["sid"], body["sid"]);
}

#[tokio::test]
async fn mms_media_is_fetched_and_a_failed_fetch_fails_the_message() {
    let sim = start().await;
    let (media, _) = receiver(|req| {
        if req.path == "/img.png" {
            (200, "PNGDATA".to_owned())
        } else {
            (404, String::new())
        }
    })
    .await;
    let (callbacks, inbox) = receiver(|_| (204, String::new())).await;
    let config = sim.config().clone();
    let send = |media_url: String| {
        let (sim_base, cb) = (sim.base_url(), format!("{callbacks}/cb"));
        let config = config.clone();
        async move {
            client()
                .post(format!(
                    "{sim_base}/2010-04-01/Accounts/{}/Messages.json",
                    config.twilio_account_sid
                ))
                .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
                .form(&[
                    ("To", "+15551234567"),
                    ("From", "+15557654321"),
                    ("MediaUrl", &media_url),
                    ("StatusCallback", &cb),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(send(format!("{media}/img.png")).await, 201);
    assert_eq!(send(format!("{media}/missing.png")).await, 201);
    let reqs = wait_for(&inbox, 3).await;
    let statuses: Vec<String> = reqs
        .iter()
        .map(|r| r.param("MessageStatus").unwrap())
        .collect();
    assert!(statuses.contains(&"delivered".to_owned()), "{statuses:?}");
    let failed = reqs
        .iter()
        .find(|r| r.param("MessageStatus").as_deref() == Some("failed"))
        .unwrap();
    assert_eq!(failed.param("ErrorCode").as_deref(), Some("11200"));
    let messages = sim.messages_for("twilio");
    assert_eq!(messages[0].media_fetches[0].status, Some(200));
    assert_eq!(messages[0].media_fetches[0].bytes, 7);
    assert_eq!(messages[1].media_fetches[0].status, Some(404));
    let stats = sim.stats();
    assert_eq!((stats.media_fetches, stats.media_fetch_failures), (1, 1));
}
