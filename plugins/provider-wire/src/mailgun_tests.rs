use super::*;

#[test]
fn send_form_carries_the_key_twice() {
    let form = send_form(&Email {
        from: "Shop <news@mg.example.com>",
        to: "ana@example.org",
        subject: "Spring & sale",
        text: "Hi",
        html: Some("<p>Hi</p>"),
        key: "m1/s1/0",
    });
    let pairs = twilio_wire::form_decode(form.as_bytes());
    let get = |k| twilio_wire::param(&pairs, k);
    assert_eq!(get("from"), Some("Shop <news@mg.example.com>"));
    assert_eq!(get("subject"), Some("Spring & sale"));
    assert_eq!(get("html"), Some("<p>Hi</p>"));
    assert_eq!(get("h:X-Herald-Key"), Some("m1/s1/0"));
    assert_eq!(get("v:herald-key"), Some("m1/s1/0"));
    assert_eq!(
        send_url("https://api.mailgun.net/", "mg.example.com"),
        "https://api.mailgun.net/v3/mg.example.com/messages"
    );
    assert!(
        events_url("http://s", "d", "a@d").ends_with("/v3/d/events?message-id=a%40d&ascending=no")
    );
}

#[test]
fn answers_and_errors() {
    assert_eq!(
        message_id(br#"{"id":"<20240101.1@mg.example.com>","message":"Queued. Thank you."}"#)
            .as_deref(),
        Some("20240101.1@mg.example.com")
    );
    assert_eq!(error_from(401, None, b"Forbidden").class, ErrorClass::Auth);
    assert_eq!(error_from(401, None, b"Forbidden").message, "Forbidden");
    let bad_to = error_from(
        400,
        None,
        br#"{"message":"'to' parameter is not a valid address. please check documentation"}"#,
    );
    assert_eq!(bad_to.class, ErrorClass::InvalidRecipient);
    assert_eq!(
        error_from(400, None, br#"{"message":"from parameter is missing"}"#).class,
        ErrorClass::Rejected
    );
    assert_eq!(
        error_from(404, None, br#"{"message":"Domain not found"}"#).class,
        ErrorClass::InvalidConfig
    );
    assert_eq!(
        error_from(429, Some("5"), b"").class,
        ErrorClass::RateLimited(5000)
    );
    assert_eq!(error_from(503, None, b"").class, ErrorClass::Transient);
}

fn webhook(event: &str, severity: &str) -> Vec<u8> {
    format!(
        r#"{{"signature":{{"timestamp":"1700000000","token":"tok","signature":"abc"}},
        "event-data":{{"event":"{event}","severity":"{severity}","timestamp":1700000000.25,
        "message":{{"headers":{{"message-id":"20240101.1@mg.example.com"}}}},
        "delivery-status":{{"code":550,"message":"5.1.1 mailbox does not exist","description":""}},
        "user-variables":{{"herald-key":"k"}}}}}}"#
    )
    .into_bytes()
}

#[test]
fn webhooks_map_events() {
    let (signature, status) = parse_webhook(&webhook("delivered", "")).unwrap();
    assert_eq!(signature.signed_data(), "1700000000tok");
    assert!(signature.is_fresh(1_700_000_000_000 + 60_000));
    assert!(!signature.is_fresh(1_700_000_000_000 + MAX_AGE_MS + 1000));
    let status = status.unwrap();
    assert_eq!(
        (status.status, status.error_code),
        (Status::Delivered, None)
    );
    assert_eq!(status.timestamp_ms, Some(1_700_000_000_250));
    assert_eq!(status.message_id, "20240101.1@mg.example.com");

    let bounce = parse_webhook(&webhook("failed", "permanent"))
        .unwrap()
        .1
        .unwrap();
    assert_eq!(bounce.status, Status::Failed);
    assert_eq!(bounce.error_code.as_deref(), Some("550"));
    assert_eq!(
        bounce.error_message.as_deref(),
        Some("5.1.1 mailbox does not exist")
    );
    assert_eq!(
        parse_webhook(&webhook("failed", "temporary")).unwrap().1,
        None
    );
    assert_eq!(
        parse_webhook(&webhook("opened", ""))
            .unwrap()
            .1
            .unwrap()
            .status,
        Status::Read
    );
    assert_eq!(parse_webhook(&webhook("clicked", "")).unwrap().1, None);
    assert!(parse_webhook(b"{}").is_err());
}

#[test]
fn latest_event_wins() {
    let body = br#"{"items":[
        {"event":"accepted","timestamp":1.0,"message":{"headers":{"message-id":"m@d"}}},
        {"event":"delivered","timestamp":3.0,"message":{"headers":{"message-id":"m@d"}}},
        {"event":"clicked","timestamp":4.0,"message":{"headers":{"message-id":"m@d"}}}]}"#;
    assert_eq!(
        latest_status(body).unwrap().unwrap().status,
        Status::Delivered
    );
    assert_eq!(latest_status(br#"{"items":[]}"#).unwrap(), None);
}

#[test]
fn a_lost_send_is_found_by_its_key_among_the_recipients_events() {
    let body = br#"{"items":[
        {"event":"delivered","timestamp":5.0,"message":{"headers":{"message-id":"other@d"}},
         "user-variables":{"herald-key":"9-1-1"}},
        {"event":"delivered","timestamp":3.0,"message":{"headers":{"message-id":"mine@d"}},
         "user-variables":{"herald-key":"7-1-1"}},
        {"event":"accepted","timestamp":1.0,"message":{"headers":{"message-id":"mine@d"}},
         "user-variables":{"herald-key":"7-1-1"}}]}"#;
    let found = status_by_key(body, "7-1-1").unwrap().unwrap();
    assert_eq!(found.message_id, "mine@d");
    assert_eq!(found.status, Status::Delivered);
    assert_eq!(status_by_key(body, "8-1-1").unwrap(), None);
    assert_eq!(
        recipient_events_url("http://s/", "mg.test", "a+b@x.org", 10, 20),
        "http://s/v3/mg.test/events?recipient=a%2Bb%40x.org&begin=10&end=20&ascending=no&limit=300"
    );
}

/// Found by the `mailgun_webhook` fuzz target: an events answer that is
/// JSON but not an object panicked (`answer["items"]` for writing).
#[test]
fn an_events_answer_that_is_not_an_object_finds_nothing() {
    for body in [&br#"":[?(ms""#[..], b"[1,2]", b"42", b"null"] {
        assert_eq!(status_by_key(body, "7-1-1"), Ok(None));
    }
}
