use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn urls() {
    assert_eq!(
        messages_url("https://graph.facebook.com/", "v21.0", "1234"),
        "https://graph.facebook.com/v21.0/1234/messages"
    );
    let first = templates_url("http://127.0.0.1:9", "v21.0", "99", None);
    assert_eq!(
        first,
        "http://127.0.0.1:9/v21.0/99/message_templates?fields=name,language,category,status,components&limit=100"
    );
    assert!(templates_url("http://h", "v21.0", "99", Some("QVFI")).ends_with("&after=QVFI"));
}

#[test]
fn template_body_has_header_media_and_body_parameters() {
    let body = strings(&["Ana", "#42"]);
    let template = Template {
        name: "order_update",
        language: "en_US",
        body_parameters: &body,
        header_parameters: &[],
        header_media: Some(("https://cdn.test/a.jpg", "image/jpeg")),
    };
    let json = template_body("+15551234567", &template, "key-1");
    assert_eq!(json["messaging_product"], "whatsapp");
    assert_eq!(json["recipient_type"], "individual");
    assert_eq!(json["to"], "15551234567");
    assert_eq!(json["type"], "template");
    assert_eq!(json["biz_opaque_callback_data"], "key-1");
    assert_eq!(json["template"]["name"], "order_update");
    assert_eq!(json["template"]["language"]["code"], "en_US");
    let components = json["template"]["components"].as_array().unwrap();
    assert_eq!(components[0]["type"], "header");
    assert_eq!(components[0]["parameters"][0]["type"], "image");
    assert_eq!(
        components[0]["parameters"][0]["image"]["link"],
        "https://cdn.test/a.jpg"
    );
    assert_eq!(components[1]["type"], "body");
    assert_eq!(components[1]["parameters"][1]["text"], "#42");
}

#[test]
fn text_header_and_no_parameters() {
    let header = strings(&["Spring"]);
    let template = Template {
        name: "t",
        language: "de",
        body_parameters: &[],
        header_parameters: &header,
        header_media: None,
    };
    let json = template_body("4915", &template, "k");
    let components = json["template"]["components"].as_array().unwrap();
    assert_eq!(components.len(), 1);
    assert_eq!(components[0]["parameters"][0]["text"], "Spring");
    let doc = Template {
        header_media: Some(("https://x/a.pdf", "application/pdf")),
        ..template
    };
    let json = template_body("4915", &doc, "k");
    assert_eq!(
        json["template"]["components"][0]["parameters"][0]["document"]["link"],
        "https://x/a.pdf"
    );
}

#[test]
fn send_answer_gives_the_wamid() {
    let body = br#"{"messaging_product":"whatsapp","contacts":[{"input":"1555","wa_id":"1555"}],"messages":[{"id":"wamid.HBgL"}]}"#;
    assert_eq!(message_id(body).as_deref(), Some("wamid.HBgL"));
    assert_eq!(message_id(b"{}"), None);
}

#[test]
fn graph_errors_map_to_classes() {
    let body = |code: i64| {
        format!(
            r#"{{"error":{{"message":"(#{code}) boom","type":"OAuthException","code":{code},"fbtrace_id":"Az1"}}}}"#
        )
    };
    let e = error_from(400, None, body(131026).as_bytes());
    assert_eq!(e.class, ErrorClass::InvalidRecipient);
    assert_eq!(e.code, "131026");
    assert!(e.message.contains("fbtrace_id Az1"), "{}", e.message);
    assert_eq!(
        error_from(400, None, body(131047).as_bytes()).class,
        ErrorClass::Rejected
    );
    assert_eq!(
        error_from(429, None, body(130429).as_bytes()).class,
        ErrorClass::RateLimited(1_000)
    );
    assert_eq!(
        error_from(400, Some("7"), body(80007).as_bytes()).class,
        ErrorClass::RateLimited(7_000)
    );
    assert_eq!(
        error_from(400, None, body(4).as_bytes()).class,
        ErrorClass::RateLimited(60_000)
    );
    assert_eq!(
        error_from(401, None, body(190).as_bytes()).class,
        ErrorClass::Auth
    );
    assert_eq!(
        error_from(400, None, body(131042).as_bytes()).class,
        ErrorClass::InsufficientFunds
    );
    assert_eq!(
        error_from(503, None, b"<html>").class,
        ErrorClass::Transient
    );
    let sub = error_from(
        400,
        None,
        br#"{"error":{"message":"m","code":100,"error_subcode":2494010}}"#,
    );
    assert_eq!(
        (sub.class, sub.code.as_str()),
        (ErrorClass::Rejected, "100/2494010")
    );
}

#[test]
fn parameters_are_counted_once_each() {
    assert_eq!(count_parameters("Hi {{1}}, order {{2}} ships {{1}}"), 2);
    assert_eq!(count_parameters("no params"), 0);
    assert_eq!(count_parameters("{{first_name}} {{ 2 }} {{"), 2);
}

#[test]
fn template_pages_and_cursor() {
    let page = br#"{"data":[
        {"name":"order_update","language":"en_US","category":"UTILITY","status":"APPROVED","id":"1",
         "components":[{"type":"HEADER","format":"IMAGE"},{"type":"BODY","text":"Hi {{1}}, {{2}} shipped"}]},
        {"name":"promo","language":"es","category":"MARKETING","status":"PENDING","components":[]}],
        "paging":{"cursors":{"before":"B","after":"QVFI"},"next":"https://graph.facebook.com/v21.0/9/message_templates?after=QVFI"}}"#;
    let (templates, next) = parse_template_page(page).unwrap();
    assert_eq!(next.as_deref(), Some("QVFI"));
    assert_eq!(templates[0].body_parameter_count, 2);
    assert_eq!(templates[0].body_text, "Hi {{1}}, {{2}} shipped");
    assert_eq!(templates[1].status, "PENDING");
    assert_eq!(templates[1].body_parameter_count, 0);
    // The last page has cursors but no `next`.
    let last = br#"{"data":[],"paging":{"cursors":{"before":"B","after":"C"}}}"#;
    assert_eq!(parse_template_page(last).unwrap().1, None);
}

#[test]
fn verification_handshake() {
    let url = "https://h/wh?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444";
    assert_eq!(
        verification(url),
        Some(("tok".to_owned(), "1158201444".to_owned()))
    );
    assert_eq!(
        verification("https://h/wh?hub.mode=unsubscribe&hub.verify_token=t&hub.challenge=1"),
        None
    );
    assert_eq!(signature_hex("sha256=abc"), Some("abc"));
    assert_eq!(signature_hex("sha1=abc"), None);
}

#[test]
fn notifications_parse_statuses_and_messages() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"PNID"},
        "statuses":[
          {"id":"wamid.A","status":"delivered","timestamp":"1700000000","recipient_id":"15551234567"},
          {"id":"wamid.B","status":"failed","timestamp":"1700000001","recipient_id":"15551234567",
           "errors":[{"code":131026,"title":"Message undeliverable"}]},
          {"id":"wamid.C","status":"deleted","timestamp":"1"}],
        "messages":[
          {"from":"15551234567","id":"wamid.IN1","timestamp":"1700000002","type":"text","text":{"body":"STOP"}},
          {"from":"15551234567","id":"wamid.IN2","type":"button","button":{"text":"Yes","payload":"y"}},
          {"from":"15551234567","id":"wamid.IN3","type":"image","image":{"id":"MEDIA1","mime_type":"image/jpeg","caption":"look"}}]
    }}]}]}"#;
    let events = parse_notification(body).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(
        events[0],
        Notification::Status(StatusEvent {
            message_id: "wamid.A".into(),
            status: Status::Delivered,
            timestamp_ms: Some(1_700_000_000_000),
            error_code: None,
            error_message: None,
        })
    );
    let Notification::Status(failed) = &events[1] else {
        panic!()
    };
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("131026"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("Message undeliverable")
    );
    let Notification::Inbound(text) = &events[2] else {
        panic!()
    };
    assert_eq!(
        (text.from.as_str(), text.to.as_str(), text.body.as_str()),
        ("+15551234567", "PNID", "STOP")
    );
    let Notification::Inbound(button) = &events[3] else {
        panic!()
    };
    assert_eq!(button.body, "Yes");
    let Notification::Inbound(image) = &events[4] else {
        panic!()
    };
    assert_eq!(image.body, "look");
    assert_eq!(image.media, Some(("MEDIA1".into(), "image/jpeg".into())));
    assert!(parse_notification(b"not json").is_err());
}

/// Found by the `whatsapp_webhook` fuzz target: a timestamp over
/// u64::MAX / 1000 seconds overflowed.
#[test]
fn an_overflowing_timestamp_is_dropped() {
    let body = br#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"sent","timestamp":"18446744073709552"}]}}]}]}"#;
    match parse_notification(body).unwrap().as_slice() {
        [Notification::Status(s)] => assert_eq!(s.timestamp_ms, None),
        other => panic!("{other:?}"),
    }
}
