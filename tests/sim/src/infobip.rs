//! Infobip SMS API: `POST /sms/2/text/advanced` (JSON, `Authorization: App
//! <key>`), JSON delivery reports to each message's `notifyUrl`, the
//! message logs (`GET /sms/1/logs?messageId=`), and inbound (MO) messages
//! through [`crate::Simulator::infobip_inbound`].
//!
//! Infobip answers a refused destination inside a 200 (status group
//! REJECTED), and refuses a whole request with
//! `{"requestError":{"serviceException":{"messageId","text"}}}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::callback::{self, Outgoing};
use crate::twilio::header_list;
use crate::{ReceivedMessage, Shared, now_ms};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/sms/2/text/advanced", post(send_messages))
        .route("/sms/1/logs", get(logs))
}

fn request_error(status: StatusCode, id: &str, text: &str) -> Response {
    let body = json!({ "requestError": { "serviceException": { "messageId": id, "text": text } } });
    (status, Json(body)).into_response()
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("App {}", shared.config.infobip_api_key);
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn unauthorised() -> Response {
    request_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "Invalid login details",
    )
}

fn status(group_id: u32, group: &str, id: u32, name: &str, description: &str) -> Value {
    json!({ "groupId": group_id, "groupName": group, "id": id, "name": name, "description": description })
}

async fn send_messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.handle_send(|| send(&shared, &headers, &body)).await
}

/// One destination of a request, flattened.
struct Destination {
    to: String,
    message_id: Option<String>,
    from: String,
    text: String,
    notify_url: Option<String>,
    callback_data: Option<String>,
}

fn destinations(request: &Value) -> Vec<Destination> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let mut out = Vec::new();
    for message in request["messages"].as_array().into_iter().flatten() {
        for destination in message["destinations"].as_array().into_iter().flatten() {
            out.push(Destination {
                to: text(&destination["to"]).unwrap_or_default(),
                message_id: text(&destination["messageId"]),
                from: text(&message["from"]).unwrap_or_default(),
                text: text(&message["text"]).unwrap_or_default(),
                notify_url: text(&message["notifyUrl"]),
                callback_data: text(&message["callbackData"]),
            });
        }
    }
    out
}

fn send(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorised(shared, headers) {
        return unauthorised();
    }
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let destinations = destinations(&request);
    if destinations.is_empty() || destinations.iter().any(|d| d.text.is_empty()) {
        return request_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Bad request: destinations and text are required",
        );
    }
    let bulk_id = shared.new_id("");
    let mut answers = Vec::new();
    // The first destination whose number faults the answer (0504-0506).
    let mut fault = None;
    for destination in destinations {
        let behaviour = Behaviour::for_number(&destination.to);
        let message_id = destination
            .message_id
            .clone()
            .unwrap_or_else(|| shared.new_id(""));
        if behaviour == Behaviour::InvalidNumber {
            shared.lock().stats.rejected += 1;
            answers.push(json!({
                "to": destination.to,
                "messageId": message_id,
                "status": status(5, "REJECTED", 52, "REJECTED_DESTINATION", "Invalid destination address."),
            }));
            continue;
        }
        let message = ReceivedMessage {
            provider: "infobip".to_owned(),
            sid: message_id.clone(),
            to: format!("+{}", destination.to.trim_start_matches('+')),
            from: destination.from,
            body: destination.text,
            status_callback: destination.notify_url,
            headers: header_list(headers),
            received_at_ms: now_ms(),
            client_reference: destination.message_id,
            extra: destination.callback_data.into_iter().collect(),
            ..ReceivedMessage::default()
        };
        let accepted = shared
            .lock()
            .accept_unless_tripped(behaviour, message.clone());
        let Some((epoch, _)) = accepted else {
            // A whole-request refusal, like Infobip's throttling.
            return match behaviour {
                Behaviour::RateLimitedOnce => {
                    let mut answer = request_error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TOO_MANY_REQUESTS",
                        "Too many requests",
                    );
                    answer
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                    answer
                }
                _ => server_error(),
            };
        };
        if fault.is_none()
            && matches!(
                behaviour,
                Behaviour::SlowAnswer
                    | Behaviour::ResetAfterCreate
                    | Behaviour::ServerErrorAfterCreate
            )
        {
            fault = Some(behaviour);
        }
        tokio::spawn(report(
            shared.clone(),
            message.clone(),
            bulk_id.clone(),
            epoch,
            behaviour,
        ));
        answers.push(json!({
            "to": destination.to,
            "messageId": message_id,
            "status": status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message sent to next instance"),
        }));
    }
    match fault {
        Some(Behaviour::ServerErrorAfterCreate) => server_error(),
        Some(fault) => {
            fault.mark(Json(json!({ "bulkId": bulk_id, "messages": answers })).into_response())
        }
        None => Json(json!({ "bulkId": bulk_id, "messages": answers })).into_response(),
    }
}

fn server_error() -> Response {
    request_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "GENERAL_ERROR",
        "Something went wrong",
    )
}

/// `2019-11-09T16:00:00.000+0000`, Infobip's date format.
fn infobip_date(unix_ms: u64) -> String {
    let date = crate::wire::iso8601(unix_ms);
    format!("{}.{:03}+0000", date, unix_ms % 1000)
}

/// The final report for a behaviour: status and error objects.
fn outcome(behaviour: Behaviour) -> (Value, Value) {
    let no_error = json!({ "groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error", "permanent": false });
    match behaviour {
        Behaviour::Undelivered => (
            status(
                2,
                "UNDELIVERABLE",
                9,
                "UNDELIVERABLE_NOT_DELIVERED",
                "Message sent not delivered",
            ),
            json!({ "groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER", "description": "Absent Subscriber", "permanent": false }),
        ),
        Behaviour::Failed => (
            status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired"),
            no_error,
        ),
        _ => (
            status(
                3,
                "DELIVERED",
                5,
                "DELIVERED_TO_HANDSET",
                "Message delivered to handset",
            ),
            no_error,
        ),
    }
}

/// Records the final report and posts it to the `notifyUrl`.
async fn report(
    shared: Arc<Shared>,
    message: ReceivedMessage,
    bulk_id: String,
    epoch: u64,
    behaviour: Behaviour,
) {
    tokio::time::sleep(shared.config.callback_delay).await;
    let (status, error) = outcome(behaviour);
    let result = json!({
        "bulkId": bulk_id,
        "messageId": message.sid,
        "to": message.to.trim_start_matches('+'),
        "sentAt": infobip_date(message.received_at_ms),
        "doneAt": infobip_date(now_ms()),
        "smsCount": 1,
        "price": { "pricePerMessage": 0.01, "currency": "EUR" },
        "status": status,
        "error": error,
        "callbackData": message.extra.first(),
    });
    {
        let mut state = shared.lock();
        if state.epoch != epoch {
            return;
        }
        state
            .reports
            .entry(message.sid.clone())
            .or_default()
            .push(result.clone());
    }
    if let Some(url) = message
        .status_callback
        .as_ref()
        .filter(|_| behaviour.sends_callbacks())
    {
        let body = json!({ "results": [result] });
        callback::deliver(&shared, epoch, &Outgoing::json(url, &body)).await;
    }
}

/// `GET /sms/1/logs?messageId=`: the message with its latest status
/// (PENDING until its report is done).
async fn logs(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&shared, &headers) {
        shared.lock().stats.auth_failures += 1;
        return unauthorised();
    }
    let mut state = shared.lock();
    let id = query.get("messageId").cloned().unwrap_or_default();
    let latest = state.reports.get(&id).and_then(|r| r.last()).cloned();
    let results: Vec<Value> = match (latest, state.message_mut(&id)) {
        (Some(report), _) => vec![report],
        (None, Some(message)) => vec![json!({
            "messageId": id,
            "to": message.to.trim_start_matches('+'),
            "from": message.from,
            "text": message.body,
            "sentAt": infobip_date(message.received_at_ms),
            "status": status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message sent to next instance"),
            "error": { "groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR" },
        })],
        (None, None) => Vec::new(),
    };
    Json(json!({ "results": results })).into_response()
}

/// See [`crate::Simulator::infobip_inbound`].
pub(crate) async fn inbound(shared: &Shared, url: &str, from: &str, to: &str, text: &str) -> bool {
    let keyword = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_uppercase();
    let body = json!({
        "results": [{
            "messageId": shared.new_id(""),
            "from": from.trim_start_matches('+'),
            "to": to.trim_start_matches('+'),
            "text": text,
            "cleanText": text.trim_start_matches(keyword.as_str()).trim(),
            "keyword": keyword,
            "receivedAt": infobip_date(now_ms()),
            "smsCount": 1,
            "price": { "pricePerMessage": 0, "currency": "EUR" },
            "callbackData": null,
        }],
        "messageCount": 1,
        "pendingMessageCount": 0,
    });
    let epoch = shared.lock().epoch;
    callback::deliver(shared, epoch, &Outgoing::json(url, &body)).await
}
