use super::*;

fn context(amd: Option<AmdAction>, vm: Option<&str>) -> Context {
    Context {
        event: Event::Answer,
        queue: "sales & support".into(),
        amd,
        voicemail: vm.map(str::to_owned),
    }
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn create_params_carry_context_and_amd() {
    let ctx = context(Some(AmdAction::Voicemail), Some("Call us <back>"));
    let params = create_params(
        "+15551234567",
        "+15557654321",
        "https://h.test/wh/ch1",
        &ctx,
    );
    assert_eq!(get(&params, "To"), ["+15551234567"]);
    assert_eq!(get(&params, "From"), ["+15557654321"]);
    assert_eq!(
        get(&params, "StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(get(&params, "MachineDetection"), ["DetectMessageEnd"]);
    assert_eq!(get(&params, "AsyncAmd"), ["true"]);
    let url = get(&params, "Url")[0];
    assert!(
        url.starts_with("https://h.test/wh/ch1?event=answer&"),
        "{url}"
    );
    // Each URL reads back to its event with the same context.
    assert_eq!(Context::from_url(url).unwrap(), ctx);
    let amd = Context::from_url(get(&params, "AsyncAmdStatusCallback")[0]).unwrap();
    assert_eq!(
        (amd.event, amd.voicemail.as_deref()),
        (Event::Amd, Some("Call us <back>"))
    );
    let status = Context::from_url(get(&params, "StatusCallback")[0]).unwrap();
    assert_eq!(status.event, Event::Status);
}

#[test]
fn without_amd_no_detection_params() {
    let params = create_params("+1", "+2", "https://h/cb?x=1", &context(None, None));
    assert!(get(&params, "MachineDetection").is_empty());
    assert!(get(&params, "AsyncAmdStatusCallback").is_empty());
    let ctx = Context::from_url(get(&params, "Url")[0]).unwrap();
    assert_eq!((ctx.amd, ctx.queue.as_str()), (None, "sales & support"));
    let hang_up = create_params(
        "+1",
        "+2",
        "https://h/cb",
        &context(Some(AmdAction::HangUp), None),
    );
    assert_eq!(get(&hang_up, "MachineDetection"), ["Enable"]);
    assert!(Context::from_url("https://h/cb?event=nope").is_err());
}

#[test]
fn decisions_and_twiml() {
    let vm = context(Some(AmdAction::Voicemail), Some("Tom & Jerry's <sale>"));
    assert_eq!(decide(vm.amd, Some(AnsweredBy::Machine)), Action::Voicemail);
    assert_eq!(decide(vm.amd, Some(AnsweredBy::Human)), Action::Enqueue);
    assert_eq!(decide(vm.amd, Some(AnsweredBy::Unknown)), Action::Enqueue);
    assert_eq!(decide(vm.amd, Some(AnsweredBy::Fax)), Action::Hangup);
    assert_eq!(decide(vm.amd, None), Action::Enqueue);
    assert_eq!(
        decide(Some(AmdAction::HangUp), Some(AnsweredBy::Machine)),
        Action::Hangup
    );
    assert_eq!(decide(None, Some(AnsweredBy::Machine)), Action::Enqueue);
    assert_eq!(
        twiml(Action::Voicemail, &vm),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Tom &amp; Jerry&apos;s &lt;sale&gt;</Say><Hangup/></Response>"#
    );
    assert!(twiml(Action::Enqueue, &vm).contains("<Enqueue>sales &amp; support</Enqueue>"));
    assert!(twiml(Action::Hangup, &vm).ends_with("<Response><Hangup/></Response>"));
}

#[test]
fn statuses_and_answers_map() {
    assert_eq!(call_status("queued"), Some(CallStatus::Initiated));
    assert_eq!(call_status("in-progress"), Some(CallStatus::Answered));
    assert_eq!(call_status("no-answer"), Some(CallStatus::NoAnswer));
    assert_eq!(call_status("canceled"), Some(CallStatus::Canceled));
    assert_eq!(call_status("bogus"), None);
    assert_eq!(answered_by("machine_end_beep"), Some(AnsweredBy::Machine));
    assert_eq!(answered_by("machine_start"), Some(AnsweredBy::Machine));
    assert_eq!(answered_by("fax"), Some(AnsweredBy::Fax));
    assert_eq!(answered_by("human"), Some(AnsweredBy::Human));
    assert_eq!(answered_by(""), None);
}

#[test]
fn urls() {
    assert_eq!(
        calls_url("https://api.twilio.com/", "AC1"),
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json"
    );
    assert_eq!(
        call_url("http://s", "AC1", "CA2"),
        "http://s/2010-04-01/Accounts/AC1/Calls/CA2.json"
    );
}
