use super::*;

#[test]
fn urls_and_token() {
    assert_eq!(
        send_url("https://x.api.infobip.com/"),
        "https://x.api.infobip.com/sms/2/text/advanced"
    );
    assert_eq!(
        logs_url("http://s", "k/1"),
        "http://s/sms/1/logs?messageId=k%2F1"
    );
    assert_eq!(
        notify_url("https://h/webhooks/1"),
        "https://h/webhooks/1/token/{{secret.webhook-token}}"
    );
    assert_eq!(
        notify_url("https://h/wh/?ch=1"),
        "https://h/wh/token/{{secret.webhook-token}}?ch=1"
    );
    assert_eq!(
        token("https://h/webhooks/1/token/abc").as_deref(),
        Some("abc")
    );
    assert_eq!(
        token("https://h/webhooks/1/token/abc?x=1").as_deref(),
        Some("abc"),
        "a query after the token"
    );
    assert_eq!(token("https://h/webhooks/1/token/"), None);
    // Reports of messages sent before the token moved into the path.
    assert_eq!(
        token("https://h/wh?ch=1&herald_token=abc").as_deref(),
        Some("abc")
    );
    assert_eq!(token("https://h/wh?ch=1"), None);
}

#[test]
fn send_body_shape() {
    let body = send_body("+41793026727", "Herald", "Hi", "key-1", "https://h/n");
    let message = &body["messages"][0];
    assert_eq!(message["destinations"][0]["to"], "41793026727");
    assert_eq!(message["destinations"][0]["messageId"], "key-1");
    assert_eq!(message["from"], "Herald");
    assert_eq!(message["text"], "Hi");
    assert_eq!(message["notifyUrl"], "https://h/n");
    assert_eq!(message["notifyContentType"], "application/json");
    assert_eq!(message["callbackData"], "key-1");
}

#[test]
fn send_answers() {
    let ok = br#"{"bulkId":"b1","messages":[{"to":"41793026727","status":{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED","description":"Message sent to next instance"},"messageId":"key-1"}]}"#;
    assert_eq!(
        parse_send(ok).unwrap(),
        ("key-1".to_owned(), Status::Accepted)
    );
    let rejected = br#"{"messages":[{"to":"1","status":{"groupId":5,"groupName":"REJECTED","id":52,"name":"REJECTED_DESTINATION","description":"Invalid destination address."},"messageId":"k"}]}"#;
    let error = parse_send(rejected).unwrap_err().unwrap();
    assert_eq!(
        (error.class, error.code.as_str()),
        (ErrorClass::InvalidRecipient, "52")
    );
    let credits = br#"{"messages":[{"status":{"groupName":"REJECTED","id":12,"name":"REJECTED_NOT_ENOUGH_CREDITS"},"messageId":"k"}]}"#;
    assert_eq!(
        parse_send(credits).unwrap_err().unwrap().class,
        ErrorClass::InsufficientFunds
    );
    let sender = br#"{"messages":[{"status":{"groupName":"REJECTED","id":13,"name":"REJECTED_SENDER"},"messageId":"k"}]}"#;
    assert_eq!(
        parse_send(sender).unwrap_err().unwrap().class,
        ErrorClass::Rejected
    );
    assert!(parse_send(b"{}").unwrap_err().is_err());
}

#[test]
fn http_errors() {
    let body = br#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#;
    let e = error_from(401, None, body);
    assert_eq!(
        (e.class, e.code.as_str(), e.message.as_str()),
        (ErrorClass::Auth, "UNAUTHORIZED", "Invalid login details")
    );
    assert_eq!(
        error_from(429, Some("2"), b"").class,
        ErrorClass::RateLimited(2000)
    );
    assert_eq!(
        error_from(429, None, b"").class,
        ErrorClass::RateLimited(1000)
    );
    assert_eq!(error_from(502, None, b"").class, ErrorClass::Transient);
    assert_eq!(error_from(400, None, b"").class, ErrorClass::Rejected);
}

#[test]
fn reports_and_inbound() {
    let body = br#"{"results":[
      {"bulkId":"b","messageId":"k1","to":"41793026727","sentAt":"2019-11-09T16:00:00.000+0000","doneAt":"2019-11-09T16:00:00.000+0000",
       "status":{"groupId":3,"groupName":"DELIVERED","id":5,"name":"DELIVERED_TO_HANDSET"},
       "error":{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","permanent":false},"callbackData":"k1"},
      {"messageId":"k2","to":"41793026727","doneAt":"2019-11-09T17:00:00.000+0100",
       "status":{"groupId":2,"groupName":"UNDELIVERABLE","id":9,"name":"UNDELIVERABLE_NOT_DELIVERED"},
       "error":{"groupId":1,"groupName":"HANDSET_ERRORS","id":27,"name":"EC_ABSENT_SUBSCRIBER","permanent":false}},
      {"messageId":"mo1","from":"41793026727","to":"41793026700","text":"STOP","cleanText":"","keyword":"STOP","receivedAt":"2019-11-09T16:00:00.000+0000"}
    ]}"#;
    let events = parse_notification(body).unwrap();
    assert_eq!(
        events[0],
        Notification::Report(Report {
            message_id: "k1".into(),
            status: Status::Delivered,
            error_code: None,
            error_message: None,
            timestamp_ms: Some(1_573_315_200_000),
        })
    );
    let Notification::Report(failed) = &events[1] else {
        panic!()
    };
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("27"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("EC_ABSENT_SUBSCRIBER")
    );
    assert_eq!(
        failed.timestamp_ms,
        Some(1_573_315_200_000),
        "+0100 offset applied"
    );
    assert_eq!(
        events[2],
        Notification::Inbound(Inbound {
            message_id: "mo1".into(),
            from: "+41793026727".into(),
            to: "+41793026700".into(),
            text: "STOP".into(),
        })
    );
    assert!(parse_notification(br#"{"results":[{"x":1}]}"#).is_err());
    assert!(parse_notification(b"[]").is_err());
}

#[test]
fn logs_and_dates() {
    let logs = br#"{"results":[{"messageId":"k","status":{"groupName":"REJECTED","id":6,"name":"REJECTED_NETWORK"},"error":{"id":0}}]}"#;
    let report = parse_logs(logs).unwrap().unwrap();
    assert_eq!(
        (report.status, report.error_code.as_deref()),
        (Status::Failed, Some("6"))
    );
    assert_eq!(parse_logs(br#"{"results":[]}"#).unwrap(), None);
    assert_eq!(iso8601_ms("1970-01-01T00:00:01.500Z"), Some(1500));
    assert_eq!(
        iso8601_ms("2000-02-29T00:00:00+00:00"),
        Some(951_782_400_000)
    );
    assert_eq!(iso8601_ms("garbage"), None);
}

/// Found by the `infobip_webhook` fuzz target: a year of eleven digits
/// overflowed the millisecond arithmetic.
#[test]
fn out_of_range_timestamps_are_none() {
    assert_eq!(iso8601_ms("99999999999-01-01T00:00:00Z"), None);
    assert_eq!(iso8601_ms("2019-13-09T16:00:00.000+0000"), None);
    assert_eq!(iso8601_ms("2019-11-09T16:00:99Z"), None);
    assert_eq!(
        iso8601_ms("2019-11-09T16:00:00.000+0000"),
        Some(1_573_315_200_000)
    );
}
