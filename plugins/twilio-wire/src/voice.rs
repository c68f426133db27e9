//! Twilio Programmable Voice: outbound calls with answering-machine
//! detection (AMD), the TwiML answers, and call status callbacks.
//!
//! Plugins are stateless, so what the webhooks need later (which queue, what
//! to do with a machine, the voicemail text) travels in the query string of
//! the URLs given to Twilio. Twilio signs the full URL, query included, so a
//! forged or altered context fails the `X-Twilio-Signature` check.

use crate::{param, query_pairs, with_query};

/// `POST .../Calls.json` creates a call.
pub fn calls_url(base: &str, account_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Calls.json",
        base.trim_end_matches('/')
    )
}

/// One call: `GET` to look it up, `POST` to update it while live.
pub fn call_url(base: &str, account_sid: &str, call_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json",
        base.trim_end_matches('/')
    )
}

/// What to do when AMD finds a machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmdAction {
    HangUp,
    Voicemail,
}

impl AmdAction {
    fn as_str(self) -> &'static str {
        match self {
            AmdAction::HangUp => "hang-up",
            AmdAction::Voicemail => "voicemail",
        }
    }
}

/// Which of our URLs Twilio called, and the context it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    pub event: Event,
    pub queue: String,
    /// `None`: AMD off.
    pub amd: Option<AmdAction>,
    pub voicemail: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The call's `Url`: answer with TwiML.
    Answer,
    /// `StatusCallback`: call progress.
    Status,
    /// `AsyncAmdStatusCallback`: the AMD result.
    Amd,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Answer => "answer",
            Event::Status => "status",
            Event::Amd => "amd",
        }
    }
}

impl Context {
    /// `callback` with this context in its query string.
    pub fn url(&self, callback: &str) -> String {
        let mut pairs = vec![
            ("event", self.event.as_str()),
            ("queue", self.queue.as_str()),
        ];
        pairs.push(("amd", self.amd.map_or("off", AmdAction::as_str)));
        if let Some(text) = &self.voicemail {
            pairs.push(("vm", text));
        }
        with_query(callback, pairs)
    }

    /// Reads the context back from the URL Twilio called.
    pub fn from_url(url: &str) -> Result<Context, String> {
        let pairs = query_pairs(url);
        let event = match param(&pairs, "event") {
            Some("answer") => Event::Answer,
            Some("status") => Event::Status,
            Some("amd") => Event::Amd,
            other => return Err(format!("unknown event {other:?} in the webhook URL")),
        };
        let amd = match param(&pairs, "amd") {
            Some("hang-up") => Some(AmdAction::HangUp),
            Some("voicemail") => Some(AmdAction::Voicemail),
            _ => None,
        };
        Ok(Context {
            event,
            queue: param(&pairs, "queue").unwrap_or_default().to_owned(),
            amd,
            voicemail: param(&pairs, "vm").map(str::to_owned),
        })
    }
}

/// The form parameters of a create-call request. `callback` is the
/// message's status callback URL; each of our three URLs is it plus a
/// context.
pub fn create_params(
    to: &str,
    from: &str,
    callback: &str,
    context: &Context,
) -> Vec<(String, String)> {
    let url = |event| {
        Context {
            event,
            ..context.clone()
        }
        .url(callback)
    };
    let mut params = vec![
        ("To", to.to_owned()),
        ("From", from.to_owned()),
        ("Url", url(Event::Answer)),
        ("Method", "POST".to_owned()),
        ("StatusCallback", url(Event::Status)),
        ("StatusCallbackMethod", "POST".to_owned()),
    ];
    // Repeated parameter: Twilio reads each value as one event.
    for event in ["initiated", "ringing", "answered", "completed"] {
        params.push(("StatusCallbackEvent", event.to_owned()));
    }
    if let Some(action) = context.amd {
        // To leave a voicemail, wait for the greeting's end (the beep).
        let mode = match action {
            AmdAction::HangUp => "Enable",
            AmdAction::Voicemail => "DetectMessageEnd",
        };
        params.push(("MachineDetection", mode.to_owned()));
        // Async: a human is connected at once instead of hearing silence
        // while AMD listens; the result arrives on its own callback.
        params.push(("AsyncAmd", "true".to_owned()));
        params.push(("AsyncAmdStatusCallback", url(Event::Amd)));
        params.push(("AsyncAmdStatusCallbackMethod", "POST".to_owned()));
    }
    params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A call status, normalised (the WIT `call-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStatus {
    Initiated,
    Ringing,
    Answered,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

pub fn call_status(twilio: &str) -> Option<CallStatus> {
    Some(match twilio {
        "queued" | "initiated" => CallStatus::Initiated,
        "ringing" => CallStatus::Ringing,
        "in-progress" | "answered" => CallStatus::Answered,
        "completed" => CallStatus::Completed,
        "busy" => CallStatus::Busy,
        "no-answer" => CallStatus::NoAnswer,
        "failed" => CallStatus::Failed,
        "canceled" => CallStatus::Canceled,
        _ => return None,
    })
}

/// Who answered, from `AnsweredBy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnsweredBy {
    Human,
    Machine,
    Fax,
    Unknown,
}

pub fn answered_by(twilio: &str) -> Option<AnsweredBy> {
    Some(match twilio {
        "human" => AnsweredBy::Human,
        "machine_start" | "machine_end_beep" | "machine_end_silence" | "machine_end_other" => {
            AnsweredBy::Machine
        }
        "fax" => AnsweredBy::Fax,
        "unknown" => AnsweredBy::Unknown,
        _ => return None,
    })
}

/// What the call should do once we know who answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Enqueue,
    Hangup,
    Voicemail,
}

/// A human, an unknown answer or AMD off join the queue; a machine gets the
/// configured action; a fax is hung up on (a message would be noise).
pub fn decide(amd: Option<AmdAction>, who: Option<AnsweredBy>) -> Action {
    match (amd, who) {
        (Some(_), Some(AnsweredBy::Fax)) => Action::Hangup,
        (Some(AmdAction::HangUp), Some(AnsweredBy::Machine)) => Action::Hangup,
        (Some(AmdAction::Voicemail), Some(AnsweredBy::Machine)) => Action::Voicemail,
        _ => Action::Enqueue,
    }
}

/// The TwiML document for an action.
pub fn twiml(action: Action, context: &Context) -> String {
    let verbs = match action {
        Action::Enqueue => format!("<Enqueue>{}</Enqueue>", xml_escape(&context.queue)),
        Action::Hangup => "<Hangup/>".to_owned(),
        Action::Voicemail => format!(
            "<Say>{}</Say><Hangup/>",
            xml_escape(context.voicemail.as_deref().unwrap_or_default())
        ),
    };
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>"#)
}

/// Escapes text for an XML element or attribute.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "voice_tests.rs"]
mod tests;
