//! Twilio Programmable Voice: `Calls.json`, driving each call through the
//! real sequence.
//!
//! A call is `queued`, then (status callbacks for the events asked for in
//! `StatusCallbackEvent`) `initiated`, `ringing`, and either a final `busy`,
//! `no-answer` or `failed`, or an answer: the simulator then requests the
//! call's `Url` for TwiML as Twilio does (with `AnsweredBy` when
//! `MachineDetection` is on and synchronous), records the TwiML, posts the
//! `AsyncAmdStatusCallback` when AMD is asynchronous, holds the call for
//! [`crate::SimConfig::call_duration`], and ends it `completed` with
//! `CallDuration`. Every request is signed with `X-Twilio-Signature`.
//! Live-call updates (`POST .../Calls/{Sid}.json` with `Twiml`) are
//! recorded on the call.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::behaviour::{Behaviour, last_four};
use crate::callback::{self, Outgoing};
use crate::twilio::{self, Invalid, authorised, error, header_list, invalid_to, unauthorised};
use crate::{CallRecord, ReceivedMessage, Shared, now_ms, twilio_signature, wire};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Calls.json",
            post(create_call),
        )
        .route(
            "/2010-04-01/Accounts/{account_sid}/Calls/{file}",
            get(fetch_call).post(update_call),
        )
}

/// Who or what picks up, by the callee's last four digits (see the crate
/// docs' table). `0001`, `0429` and `0500` behave as for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pickup {
    Human,
    Machine,
    Fax,
    Busy,
    NoAnswer,
    Failed,
}

fn pickup(to: &str) -> Pickup {
    match last_four(to).as_deref() {
        Some("0002") => Pickup::NoAnswer,
        Some("0003") => Pickup::Failed,
        Some("0004") => Pickup::Busy,
        Some("0005") => Pickup::Machine,
        Some("0006") => Pickup::Fax,
        _ => Pickup::Human,
    }
}

async fn create_call(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared
        .handle_send(|| create(&shared, &account_sid, &headers, &body))
        .await
}

/// Reads and validates the create-call form, like Twilio.
fn parse(params: &[(String, String)]) -> Result<(String, String, CallRecord), Invalid> {
    let first = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let to = first("To").ok_or_else(|| Invalid(21201, "No 'To' number is specified".into()))?;
    let from =
        first("From").ok_or_else(|| Invalid(21213, "No 'From' number is specified".into()))?;
    if !wire::is_e164(&to) {
        return Err(invalid_to(&to));
    }
    let url = first("Url")
        .filter(|u| reqwest::Url::parse(u).is_ok())
        .ok_or_else(|| Invalid(21205, "Url is not a valid URL".into()))?;
    let call = CallRecord {
        url,
        status_callback: first("StatusCallback"),
        status_callback_events: params
            .iter()
            .filter(|(k, _)| k == "StatusCallbackEvent")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
            .collect(),
        machine_detection: first("MachineDetection"),
        async_amd: first("AsyncAmd").as_deref() == Some("true"),
        async_amd_status_callback: first("AsyncAmdStatusCallback"),
        status: "queued".to_owned(),
        ..CallRecord::default()
    };
    Ok((to, from, call))
}

fn create(shared: &Arc<Shared>, account_sid: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorised(shared, account_sid, headers) {
        return unauthorised();
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (to, from, call) = match parse(&params) {
        Ok(parsed) => parsed,
        Err(invalid) => return invalid.into_response(),
    };
    let behaviour = Behaviour::for_number(&to);
    if behaviour == Behaviour::InvalidNumber {
        return invalid_to(&to).into_response();
    }
    let message = ReceivedMessage {
        provider: "twilio-voice".to_owned(),
        sid: shared.new_id("CA"),
        account_sid: account_sid.to_owned(),
        to,
        from,
        headers: header_list(headers),
        received_at_ms: now_ms(),
        call: Some(call),
        ..ReceivedMessage::default()
    };
    let accepted = shared
        .lock()
        .accept_unless_tripped(behaviour, message.clone());
    let Some((epoch, _)) = accepted else {
        return match behaviour {
            Behaviour::RateLimitedOnce => twilio::too_many_requests(),
            _ => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                20500,
                "Internal Server Error",
            ),
        };
    };
    let answer = (StatusCode::CREATED, Json(call_json(&message))).into_response();
    tokio::spawn(lifecycle(shared.clone(), message, epoch));
    answer
}

/// The Call resource as Twilio returns it.
fn call_json(message: &ReceivedMessage) -> Value {
    let call = message.call.clone().unwrap_or_default();
    json!({
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from,
        "status": call.status,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "answered_by": call.answered_by,
        "duration": call.duration_secs.map(|d| d.to_string()),
        "date_created": wire::rfc2822(message.received_at_ms),
        "uri": format!("/2010-04-01/Accounts/{}/Calls/{}.json", message.account_sid, message.sid),
    })
}

/// Counts a call in progress until dropped (also when a shutdown cancels
/// the lifecycle); a reset meanwhile makes it forget the call.
struct InProgress {
    shared: Arc<Shared>,
    from: String,
    epoch: u64,
}

impl InProgress {
    fn start(shared: &Arc<Shared>, from: &str, epoch: u64) -> InProgress {
        let mut state = shared.lock();
        if state.epoch == epoch {
            let n = state.calls_per_from.entry(from.to_owned()).or_insert(0);
            *n += 1;
            let n = *n;
            let stats = &mut state.stats;
            stats.calls_in_progress += 1;
            stats.max_concurrent_calls = stats.max_concurrent_calls.max(stats.calls_in_progress);
            let peak = stats
                .max_concurrent_calls_per_from
                .entry(from.to_owned())
                .or_insert(0);
            *peak = (*peak).max(n);
        }
        InProgress {
            shared: shared.clone(),
            from: from.to_owned(),
            epoch,
        }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.epoch == self.epoch {
            if let Some(n) = state.calls_per_from.get_mut(&self.from) {
                *n = n.saturating_sub(1);
            }
            state.stats.calls_in_progress = state.stats.calls_in_progress.saturating_sub(1);
        }
    }
}

/// Updates the recorded call; `None` if a reset forgot it.
fn update(
    shared: &Shared,
    sid: &str,
    epoch: u64,
    change: impl FnOnce(&mut CallRecord),
) -> Option<()> {
    let mut state = shared.lock();
    if state.epoch != epoch {
        return None;
    }
    change(state.message_mut(sid)?.call.as_mut()?);
    Some(())
}

/// Twilio's parameters on every call webhook.
fn params(
    message: &ReceivedMessage,
    status: &str,
    extra: &[(&str, String)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("CallSid", message.sid.as_str()),
        ("AccountSid", &message.account_sid),
        ("From", &message.from),
        ("To", &message.to),
        ("Caller", &message.from),
        ("Called", &message.to),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    params
}

fn signed(shared: &Shared, url: &str, params: &[(String, String)]) -> Outgoing {
    let signature = twilio_signature(&shared.config.twilio_auth_token, url, params);
    Outgoing::form(url, params).header("X-Twilio-Signature", signature)
}

/// Sets the status and posts the status callback if `event` was asked for
/// (the final `completed` event always is, as on Twilio).
async fn progress(
    shared: &Shared,
    message: &ReceivedMessage,
    epoch: u64,
    (event, status): (&str, &str),
    extra: &[(&str, String)],
) -> Option<()> {
    update(shared, &message.sid, epoch, |c| {
        c.status = status.to_owned()
    })?;
    let call = message.call.as_ref()?;
    let wanted = event == "completed" || call.status_callback_events.iter().any(|e| e == event);
    if let Some(url) = call.status_callback.as_deref().filter(|_| wanted) {
        let mut extra = extra.to_vec();
        extra.push(("CallbackSource", "call-progress-events".to_owned()));
        extra.push(("Timestamp", wire::rfc2822(now_ms())));
        callback::deliver(
            shared,
            epoch,
            &signed(shared, url, &params(message, status, &extra)),
        )
        .await;
    }
    Some(())
}

async fn lifecycle(shared: Arc<Shared>, message: ReceivedMessage, epoch: u64) {
    let mut stopped = shared.stopped.clone();
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => {}
        _ = run_call(&shared, &message, epoch) => {}
    }
}

async fn run_call(shared: &Arc<Shared>, message: &ReceivedMessage, epoch: u64) -> Option<()> {
    let call = message.call.clone()?;
    let delay = shared.config.callback_delay;
    // Ended before the final `completed` callback: a client that reads the
    // stats on that callback sees the call over, as it is on Twilio.
    let in_progress = InProgress::start(shared, &message.from, epoch);
    for step in [("initiated", "initiated"), ("ringing", "ringing")] {
        tokio::time::sleep(delay).await;
        progress(shared, message, epoch, step, &[]).await?;
    }
    tokio::time::sleep(delay).await;
    let who = pickup(&message.to);
    let unanswered = match who {
        Pickup::Busy => Some("busy"),
        Pickup::NoAnswer => Some("no-answer"),
        Pickup::Failed => Some("failed"),
        _ => None,
    };
    if let Some(status) = unanswered {
        update(shared, &message.sid, epoch, |c| c.duration_secs = Some(0))?;
        let extra = [("CallDuration", "0".to_owned())];
        drop(in_progress);
        return progress(shared, message, epoch, ("completed", status), &extra).await;
    }
    let answered_by = call.machine_detection.as_deref().map(|mode| match who {
        Pickup::Machine if mode == "DetectMessageEnd" => "machine_end_beep",
        Pickup::Machine => "machine_start",
        Pickup::Fax => "fax",
        _ => "human",
    });
    update(shared, &message.sid, epoch, |c| {
        c.answered_by = answered_by.map(str::to_owned)
    })?;
    progress(shared, message, epoch, ("answered", "in-progress"), &[]).await?;
    fetch_twiml(
        shared,
        message,
        epoch,
        (!call.async_amd).then_some(answered_by).flatten(),
    )
    .await?;
    if let (true, Some(url), Some(by)) =
        (call.async_amd, &call.async_amd_status_callback, answered_by)
    {
        tokio::time::sleep(delay).await;
        let amd = [
            ("CallSid", message.sid.clone()),
            ("AccountSid", message.account_sid.clone()),
            ("AnsweredBy", by.to_owned()),
            ("MachineDetectionDuration", "2400".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        callback::deliver(shared, epoch, &signed(shared, url, &amd)).await;
    }
    tokio::time::sleep(shared.config.call_duration).await;
    let secs = shared.config.call_duration.as_millis().div_ceil(1000) as u32;
    update(shared, &message.sid, epoch, |c| {
        c.duration_secs = Some(secs)
    })?;
    let mut extra = vec![("CallDuration", secs.to_string())];
    extra.extend(answered_by.map(|by| ("AnsweredBy", by.to_owned())));
    drop(in_progress);
    progress(shared, message, epoch, ("completed", "completed"), &extra).await
}

/// Requests the call's `Url` as Twilio does on answer and records the TwiML.
async fn fetch_twiml(
    shared: &Shared,
    message: &ReceivedMessage,
    epoch: u64,
    answered_by: Option<&str>,
) -> Option<()> {
    let url = message.call.as_ref()?.url.clone();
    let extra: Vec<(&str, String)> = answered_by
        .map(|by| ("AnsweredBy", by.to_owned()))
        .into_iter()
        .collect();
    let request = signed(shared, &url, &params(message, "in-progress", &extra));
    let answer = callback::request(shared, &request).await;
    let ok = matches!(&answer, Ok((status, _)) if (200..300).contains(status));
    {
        let mut state = shared.lock();
        if state.epoch == epoch {
            if ok {
                state.stats.twiml_requests += 1;
            } else {
                state.stats.twiml_failures += 1;
            }
        }
    }
    update(shared, &message.sid, epoch, |c| {
        if let Ok((status, body)) = answer {
            c.twiml_status = Some(status);
            c.twiml = Some(String::from_utf8_lossy(&body).into_owned());
        }
    })
}

/// Why a call lookup found nothing to show.
enum Lookup {
    Unauthorised,
    NotFound,
}

/// Finds the call of `{Sid}.json` after checking the credentials.
fn find_call(
    shared: &Shared,
    account_sid: &str,
    file: &str,
    headers: &HeaderMap,
) -> Result<ReceivedMessage, Lookup> {
    if !authorised(shared, account_sid, headers) {
        shared.lock().stats.auth_failures += 1;
        return Err(Lookup::Unauthorised);
    }
    let sid = file.strip_suffix(".json").ok_or(Lookup::NotFound)?;
    let mut state = shared.lock();
    let message = state
        .message_mut(sid)
        .filter(|m| m.call.is_some())
        .ok_or(Lookup::NotFound)?;
    Ok(message.clone())
}

async fn fetch_call(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match find_call(&shared, &account_sid, &file, &headers) {
        Ok(message) => Json(call_json(&message)).into_response(),
        Err(Lookup::Unauthorised) => unauthorised(),
        Err(Lookup::NotFound) => twilio::not_found(uri).await,
    }
}

/// `POST .../Calls/{Sid}.json`: redirect a live call (`Twiml` or `Url`) or
/// end it (`Status=completed|canceled`).
async fn update_call(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let message = match find_call(&shared, &account_sid, &file, &headers) {
        Ok(message) => message,
        Err(Lookup::Unauthorised) => return unauthorised(),
        Err(Lookup::NotFound) => return twilio::not_found(uri).await,
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut state = shared.lock();
    state.stats.call_updates += 1;
    let Some(call) = state
        .message_mut(&message.sid)
        .and_then(|m| m.call.as_mut())
    else {
        return error(StatusCode::NOT_FOUND, 20404, "call forgotten");
    };
    for (name, value) in params {
        match name.as_str() {
            "Twiml" | "Url" => call.twiml_updates.push(value),
            "Status" => call.status = value,
            _ => {}
        }
    }
    let message = state
        .message_mut(&message.sid)
        .map(|m| m.clone())
        .unwrap_or(message);
    Json(call_json(&message)).into_response()
}
