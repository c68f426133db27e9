//! Mailgun: `POST /v3/{domain}/messages` (form, Basic `api:<key>`), signed
//! event webhooks to the domain's webhook URL, and the events API
//! (`GET /v3/{domain}/events?message-id=`).
//!
//! The outcome is chosen by the recipient's local part: `bounce...` fails
//! permanently (550), `defer...` fails temporarily then is delivered,
//! `ratelimit...` is refused once with 429, `servererror...` once with 500;
//! anything else is delivered. Accepted and delivered, with a fault: every
//! send to `slow...` is answered after [`crate::SimConfig::slow_answer_delay`],
//! to `reset...` gets its connection closed instead of an answer, to
//! `error500...` is answered 500, to `nowebhook...` sends no webhooks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::callback::{self, Outgoing};
use crate::twilio::header_list;
use crate::{ReceivedMessage, Shared, generic, now_ms};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v3/{domain}/messages", post(send_message))
        .route("/v3/{domain}/events", get(events))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// Basic `api:<key>`.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let credentials = BASE64.encode(format!("api:{}", shared.config.mailgun_api_key));
    let expected = format!("Basic {credentials}");
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// Mailgun's refusal of bad credentials (a bare `Forbidden`), or of an
/// unknown domain; `None` when both are fine.
fn refusal(shared: &Shared, headers: &HeaderMap, domain: &str) -> Option<Response> {
    if !authorised(shared, headers) {
        return Some((StatusCode::UNAUTHORIZED, "Forbidden").into_response());
    }
    (domain != shared.config.mailgun_domain).then(|| {
        refuse(
            StatusCode::NOT_FOUND,
            &format!("Domain not found: {domain}"),
        )
    })
}

/// The outcome by the recipient's local part (see the module docs).
fn behaviour(to: &str) -> Behaviour {
    let local = to
        .rsplit_once('<')
        .map_or(to, |(_, a)| a)
        .trim()
        .to_ascii_lowercase();
    if local.starts_with("bounce") {
        Behaviour::Undelivered
    } else if local.starts_with("defer") {
        Behaviour::Failed
    } else if local.starts_with("ratelimit") {
        Behaviour::RateLimitedOnce
    } else if local.starts_with("servererror") {
        Behaviour::ServerErrorOnce
    } else if local.starts_with("slow") {
        Behaviour::SlowAnswer
    } else if local.starts_with("reset") {
        Behaviour::ResetAfterCreate
    } else if local.starts_with("error500") {
        Behaviour::ServerErrorAfterCreate
    } else if local.starts_with("nowebhook") {
        Behaviour::CallbacksDropped
    } else {
        Behaviour::Delivered
    }
}

async fn send_message(
    State(shared): State<Arc<Shared>>,
    Path(domain): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared
        .handle_send(|| send(&shared, &domain, &headers, &body))
        .await
}

fn send(shared: &Arc<Shared>, domain: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(refusal) = refusal(shared, headers, domain) {
        return refusal;
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let first = |name: &str| {
        params
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
    };
    let Some(from) = first("from") else {
        return refuse(StatusCode::BAD_REQUEST, "from parameter is missing");
    };
    let Some(to) = first("to") else {
        return refuse(StatusCode::BAD_REQUEST, "to parameter is missing");
    };
    if !to.contains('@') {
        return refuse(
            StatusCode::BAD_REQUEST,
            "'to' parameter is not a valid address. please check documentation",
        );
    }
    let Some(subject) = first("subject") else {
        return refuse(StatusCode::BAD_REQUEST, "subject parameter is missing");
    };
    let (text, html) = (first("text"), first("html"));
    if text.is_none() && html.is_none() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Need at least one of 'text' or 'html' parameters specified",
        );
    }
    let behaviour = behaviour(&to);
    let id = format!(
        "{}.{}@{domain}",
        crate::wire::iso8601(now_ms()).replace(['-', 'T', ':'], ""),
        shared.new_id("")
    );
    let message = ReceivedMessage {
        provider: "mailgun".to_owned(),
        sid: id.clone(),
        account_sid: domain.to_owned(),
        to,
        from,
        body: text.unwrap_or_default(),
        html,
        subject: Some(subject),
        headers: header_list(headers),
        received_at_ms: now_ms(),
        client_reference: first("v:herald-key"),
        extra: params
            .iter()
            .filter_map(|(k, v)| Some(format!("{}: {v}", k.strip_prefix("h:")?)))
            .collect(),
        ..ReceivedMessage::default()
    };
    let accepted = shared
        .lock()
        .accept_unless_tripped(behaviour, message.clone());
    let Some((epoch, _)) = accepted else {
        return match behaviour {
            Behaviour::RateLimitedOnce => {
                let mut answer = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests, try again later",
                );
                answer
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                answer
            }
            _ => server_error(),
        };
    };
    record_event(shared, epoch, event(&message, "accepted", None));
    tokio::spawn(lifecycle(shared.clone(), message, epoch, behaviour));
    if behaviour == Behaviour::ServerErrorAfterCreate {
        return server_error();
    }
    behaviour.mark(
        Json(json!({ "id": format!("<{id}>"), "message": "Queued. Thank you." })).into_response(),
    )
}

fn server_error() -> Response {
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// Why a delivery failed: severity, SMTP code, text.
type Failure = (&'static str, u32, &'static str);

/// One Mailgun event (`event-data`).
fn event(message: &ReceivedMessage, kind: &str, failure: Option<Failure>) -> Value {
    let mut event = json!({
        "id": format!("{:.22}", crate::wire::iso8601(now_ms())),
        "event": kind,
        "timestamp": now_ms() as f64 / 1000.0,
        "log-level": if failure.is_some() { "error" } else { "info" },
        "recipient": message.to,
        "recipient-domain": message.to.rsplit_once('@').map_or("", |(_, d)| d),
        "message": {
            "headers": {
                "to": message.to,
                "message-id": message.sid,
                "from": message.from,
                "subject": message.subject,
            },
            "attachments": [],
            "size": message.body.len(),
        },
        "envelope": { "transport": "smtp", "sender": message.from, "targets": message.to },
        "flags": { "is-routed": false, "is-authenticated": true, "is-test-mode": false },
        "user-variables": { "herald-key": message.client_reference },
        "tags": [],
    });
    if let Some((severity, code, text)) = failure {
        event["severity"] = json!(severity);
        event["reason"] = json!(if severity == "permanent" {
            "bounce"
        } else {
            "generic"
        });
        event["delivery-status"] = json!({
            "code": code, "message": text, "description": "", "attempt-no": 1, "retry-seconds": 0,
        });
    } else if kind == "delivered" {
        event["delivery-status"] =
            json!({ "code": 250, "message": "OK", "description": "", "attempt-no": 1 });
    }
    event
}

fn record_event(shared: &Shared, epoch: u64, event: Value) {
    let mut state = shared.lock();
    if state.epoch == epoch
        && let Some(id) = event
            .pointer("/message/headers/message-id")
            .and_then(Value::as_str)
    {
        state.reports.entry(id.to_owned()).or_default().push(event);
    }
}

async fn lifecycle(
    shared: Arc<Shared>,
    message: ReceivedMessage,
    epoch: u64,
    behaviour: Behaviour,
) {
    const BOUNCE: Failure = (
        "permanent",
        550,
        "5.1.1 The email account that you tried to reach does not exist",
    );
    const DEFER: Failure = ("temporary", 421, "4.7.0 Try again later");
    let steps: Vec<(&str, Option<Failure>)> = match behaviour {
        Behaviour::Undelivered => vec![("failed", Some(BOUNCE))],
        Behaviour::Failed => vec![("failed", Some(DEFER)), ("delivered", None)],
        _ => vec![("delivered", None)],
    };
    for (kind, failure) in steps {
        tokio::time::sleep(shared.config.callback_delay).await;
        if *shared.stopped.borrow() || shared.lock().epoch != epoch {
            return;
        }
        let data = event(&message, kind, failure);
        record_event(&shared, epoch, data.clone());
        let url = shared.webhook_url(&["mailgun"]);
        let Some(url) = url.filter(|_| behaviour.sends_callbacks()) else {
            continue;
        };
        let timestamp = (now_ms() / 1000).to_string();
        let token = format!("{}{}", shared.new_id(""), &shared.new_id("")[..18]);
        let signature = generic::sign(
            &shared.config.mailgun_webhook_signing_key,
            format!("{timestamp}{token}").as_bytes(),
        );
        let body = json!({
            "signature": { "timestamp": timestamp, "token": token, "signature": signature },
            "event-data": data,
        });
        callback::deliver(&shared, epoch, &Outgoing::json(&url, &body)).await;
    }
}

/// `GET /v3/{domain}/events?message-id=` (that message's events) or
/// `?recipient=` (every event to that address), within `begin`/`end`
/// (epoch seconds) when given; newest first unless `ascending=yes`.
async fn events(
    State(shared): State<Arc<Shared>>,
    Path(domain): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refusal(&shared, &headers, &domain) {
        if refusal.status() == StatusCode::UNAUTHORIZED {
            shared.lock().stats.auth_failures += 1;
        }
        return refusal;
    }
    let id = query
        .get("message-id")
        .map(|id| id.trim_matches(['<', '>']).to_owned());
    let recipient = query.get("recipient");
    // `begin`/`end`: epoch seconds, as Mailgun takes them.
    let bound = |name: &str| query.get(name).and_then(|v| v.parse::<f64>().ok());
    let (begin, end) = (bound("begin"), bound("end"));
    let mut items: Vec<Value> = {
        let state = shared.lock();
        match (&id, recipient) {
            (Some(id), _) => state.reports.get(id).cloned().unwrap_or_default(),
            // Every event to that recipient, oldest first.
            (None, Some(to)) => {
                let mut all: Vec<Value> = state
                    .reports
                    .values()
                    .flatten()
                    .filter(|e| e["recipient"].as_str() == Some(to.as_str()))
                    .cloned()
                    .collect();
                all.sort_by(|a, b| {
                    let t = |e: &Value| e["timestamp"].as_f64().unwrap_or(0.0);
                    t(a).total_cmp(&t(b))
                });
                all
            }
            (None, None) => Vec::new(),
        }
    };
    items.retain(|e| {
        let t = e["timestamp"].as_f64().unwrap_or(0.0);
        begin.is_none_or(|b| t >= b) && end.is_none_or(|b| t <= b)
    });
    if query.get("ascending").map(String::as_str) != Some("yes") {
        items.reverse();
    }
    let page = format!("{}/v3/{domain}/events/page", shared.base_url);
    Json(json!({ "items": items, "paging": { "next": page, "previous": page } })).into_response()
}
