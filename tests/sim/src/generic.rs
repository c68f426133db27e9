//! The JSON SMS gateway that `plugins/example-http-sms` (the plugin authors'
//! example) speaks: `POST /generic/messages` with a bearer token, and
//! delivery receipts signed with HMAC-SHA256 of the body (hex, `X-Signature`).
//! Same number behaviours as every provider here.
//!
//! `GET /generic/messages?reference=KEY` finds the messages sent with that
//! `reference` (the plugin sends its idempotency key there):
//! `{"messages":[{"id","to","status","reference","error"}]}`, oldest first,
//! where `status` is `accepted` until the receipt's time, then the
//! receipt's `delivered` or `failed` (whether or not a receipt was posted).

use std::sync::Arc;

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::behaviour::Behaviour;
use crate::twilio::{header_list, is_loopback};
use crate::{ReceivedMessage, Shared, now_ms};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/generic/messages", get(lookup).post(create_message))
}

#[derive(Deserialize)]
struct SendRequest {
    to: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    text: String,
    callback_url: Option<String>,
    reference: Option<String>,
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.handle_send(|| send(&shared, &headers, &body)).await
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "code": code, "message": message }))).into_response()
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", shared.config.generic_api_token);
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn unauthorised() -> Response {
    refuse(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "bad or missing bearer token",
    )
}

fn server_error() -> Response {
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "try again",
    )
}

fn send(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorised(shared, headers) {
        return unauthorised();
    }
    let Ok(request) = serde_json::from_slice::<SendRequest>(body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected JSON with a `to`",
        );
    };
    let behaviour = Behaviour::for_number(&request.to);
    if behaviour == Behaviour::InvalidNumber {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_number",
            "not a valid phone number",
        );
    }
    let fails_once = matches!(
        behaviour,
        Behaviour::RateLimitedOnce | Behaviour::ServerErrorOnce
    );
    let message = ReceivedMessage {
        provider: "generic".to_owned(),
        sid: shared.new_id("gen-"),
        account_sid: String::new(),
        to: request.to,
        from: request.from,
        body: request.text,
        media_urls: Vec::new(),
        status_callback: request.callback_url,
        headers: header_list(headers),
        received_at_ms: now_ms(),
        client_reference: request.reference,
        ..ReceivedMessage::default()
    };
    let epoch = {
        let mut state = shared.lock();
        if fails_once && state.tripped.insert(message.to.clone()) {
            None
        } else {
            state.accept(message.clone());
            Some(state.epoch)
        }
    };
    let Some(epoch) = epoch else {
        return match behaviour {
            Behaviour::RateLimitedOnce => {
                refuse(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "slow down")
            }
            _ => server_error(),
        };
    };
    let status = match behaviour {
        Behaviour::Undelivered | Behaviour::Failed => ("failed", Some("undeliverable")),
        _ => ("delivered", None),
    };
    let url = message
        .status_callback
        .clone()
        .filter(|_| behaviour.sends_callbacks());
    tokio::spawn(receipt(
        shared.clone(),
        url,
        message.sid.clone(),
        status,
        epoch,
    ));
    match behaviour {
        Behaviour::ServerErrorAfterCreate => server_error(),
        _ => behaviour
            .mark((StatusCode::CREATED, Json(json!({ "id": message.sid }))).into_response()),
    }
}

/// After [`crate::SimConfig::callback_delay`]: records the final status
/// (for [`lookup`]) and, when `url` is given, posts the signed receipt once
/// and counts it.
async fn receipt(
    shared: Arc<Shared>,
    url: Option<String>,
    id: String,
    (status, error): (&str, Option<&str>),
    epoch: u64,
) {
    tokio::time::sleep(shared.config.callback_delay).await;
    let receipt = json!({ "id": id, "status": status, "error": error });
    {
        let mut state = shared.lock();
        if state.epoch != epoch || *shared.stopped.borrow() {
            return;
        }
        state.reports.insert(id.clone(), vec![receipt.clone()]);
    }
    let Some(url) = url else { return };
    let body = receipt.to_string();
    let signature = sign(&shared.config.generic_webhook_secret, body.as_bytes());
    let delivered = is_loopback(&url)
        && shared
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("X-Signature", signature)
            .body(body)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
    shared.count_callback(epoch, delivered);
}

/// `GET /generic/messages?reference=KEY`: the messages sent with that
/// `reference`, oldest first (see the module docs).
async fn lookup(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&shared, &headers) {
        shared.lock().stats.auth_failures += 1;
        return unauthorised();
    }
    let Some(reference) = query.get("reference") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the `reference` query parameter is required",
        );
    };
    let state = shared.lock();
    let messages: Vec<Value> = state
        .messages
        .iter()
        .filter(|m| m.provider == "generic" && m.client_reference.as_ref() == Some(reference))
        .map(|m| {
            let receipt = state.reports.get(&m.sid).and_then(|r| r.last());
            json!({
                "id": m.sid,
                "to": m.to,
                "status": receipt.map_or(json!("accepted"), |r| r["status"].clone()),
                "reference": reference,
                "error": receipt.map_or(Value::Null, |r| r["error"].clone()),
            })
        })
        .collect();
    Json(json!({ "messages": messages })).into_response()
}

/// Hex HMAC-SHA256, as the example plugin verifies it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
