//! Vonage's (legacy) SMS API: `POST /sms/json` with `api_key` and
//! `api_secret` in a form (or JSON) body, answered 200 with
//! `{"message-count", "messages": [{"to", "message-id", "status", ...}]}`
//! whether the message was taken (`status` "0") or refused (any other
//! code, with `error-text`), and delivery receipts to the request's
//! `callback`: an intermediate `accepted`, then the final one, each signed
//! as Vonage's signed webhooks are ([`crate::vonage_signature`]) and sent
//! as [`crate::SimConfig::vonage_dlr_method`] says (the dashboard's GET,
//! POST or POST-JSON).
//!
//! By the recipient's last four digits ([`Behaviour`]): `0001` status 3
//! "Invalid to param"; `0002` receipt `failed`, err-code 2 (absent
//! subscriber); `0003` receipt `expired`, err-code 1; `0429` first request
//! status 1 (Throttled); `0500` first request status 5 (Internal Error);
//! `0504`-`0507` as for the other providers (`0506`: accepted, answered
//! HTTP 500). Refusals inside a 200 are counted like the HTTP answers of
//! the other providers (`rate_limited`, `server_errors`, `rejected`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::callback::{self, Outgoing};
use crate::twilio::header_list;
use crate::{ReceivedMessage, Shared, now_ms, vonage_signature, wire};

/// How Vonage delivers webhooks, as set per account in its dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VonageDlrMethod {
    /// Parameters in the query string of a GET.
    Get,
    /// A POST with a form body.
    PostForm,
    /// A POST with a JSON object of strings ("POST-JSON").
    #[default]
    PostJson,
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/sms/json", post(send_sms))
}

async fn send_sms(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.handle_send(|| send(&shared, &headers, &body)).await
}

/// The request's parameters: a JSON object or a form, by content type.
fn params(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if json {
        let object: serde_json::Map<String, Value> =
            serde_json::from_slice(body).unwrap_or_default();
        return object
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect();
    }
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// A send refused with Vonage's `status` code: still HTTP 200.
fn refused(status: &str, text: &str) -> Response {
    let body = json!({
        "message-count": "1",
        "messages": [{ "status": status, "error-text": text }],
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// `to`: E.164 digits without `+` (the API's pattern `\d{7,15}`).
fn valid_msisdn(to: &str) -> bool {
    (7..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit())
}

fn send(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    let p = params(headers, body);
    let given = |name: &str| p.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let config = &shared.config;
    if given("api_key") != Some(config.vonage_api_key.as_str())
        || given("api_secret") != Some(config.vonage_api_secret.as_str())
    {
        let mut state = shared.lock();
        state.stats.auth_failures += 1;
        state.stats.rejected += 1;
        return refused("4", "Bad Credentials");
    }
    for name in ["from", "to", "text"] {
        if given(name).is_none() {
            shared.lock().stats.rejected += 1;
            return refused("2", &format!("Missing {name} param"));
        }
    }
    let to = given("to").unwrap_or_default();
    let behaviour = Behaviour::for_number(to);
    if !valid_msisdn(to) || behaviour == Behaviour::InvalidNumber {
        shared.lock().stats.rejected += 1;
        return refused("3", "Invalid to param");
    }
    let message_id: String = shared.new_id("")[..16].to_uppercase();
    let message = ReceivedMessage {
        provider: "vonage".to_owned(),
        sid: message_id.clone(),
        account_sid: config.vonage_api_key.clone(),
        to: format!("+{to}"),
        from: given("from").unwrap_or_default().to_owned(),
        body: given("text").unwrap_or_default().to_owned(),
        status_callback: given("callback").map(str::to_owned),
        headers: header_list(headers),
        received_at_ms: now_ms(),
        client_reference: given("client-ref").map(str::to_owned),
        extra: given("type")
            .map(|t| format!("type={t}"))
            .into_iter()
            .collect(),
        ..ReceivedMessage::default()
    };
    let accepted = shared
        .lock()
        .accept_unless_tripped(behaviour, message.clone());
    let Some((epoch, _)) = accepted else {
        let mut state = shared.lock();
        return match behaviour {
            Behaviour::RateLimitedOnce => {
                state.stats.rate_limited += 1;
                refused(
                    "1",
                    "Throughput Rate Exceeded - please wait [ 1000 ] and retry",
                )
            }
            _ => {
                state.stats.server_errors += 1;
                refused("5", "Internal Error")
            }
        };
    };
    tokio::spawn(receipts(shared.clone(), message, epoch, behaviour));
    if behaviour == Behaviour::ServerErrorAfterCreate {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    let answer = json!({
        "message-count": "1",
        "messages": [{
            "to": to,
            "message-id": message_id,
            "status": "0",
            "remaining-balance": "3.14159265",
            "message-price": "0.03330000",
            "network": "310260",
        }],
    });
    behaviour.mark(Json(answer).into_response())
}

/// The final receipt's `status` and `err-code` for a behaviour.
fn outcome(behaviour: Behaviour) -> (&'static str, &'static str) {
    match behaviour {
        Behaviour::Undelivered => ("failed", "2"),
        Behaviour::Failed => ("expired", "1"),
        _ => ("delivered", "0"),
    }
}

/// Posts the intermediate `accepted` receipt, then the final one, each
/// after [`crate::SimConfig::callback_delay`].
async fn receipts(shared: Arc<Shared>, message: ReceivedMessage, epoch: u64, behaviour: Behaviour) {
    let steps = [("accepted", "0"), outcome(behaviour)];
    let run = async {
        for (status, err_code) in steps {
            tokio::time::sleep(shared.config.callback_delay).await;
            if shared.lock().epoch != epoch {
                return;
            }
            let Some(url) = message
                .status_callback
                .as_deref()
                .filter(|_| behaviour.sends_callbacks())
            else {
                continue;
            };
            let params = receipt(&shared, &message, status, err_code);
            callback::deliver(&shared, epoch, &outgoing(&shared, url, params)).await;
        }
    };
    let mut stopped = shared.stopped.clone();
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => {}
        _ = run => {}
    }
}

/// A delivery receipt's parameters as Vonage names them, signed.
fn receipt(
    shared: &Shared,
    message: &ReceivedMessage,
    status: &str,
    err_code: &str,
) -> Vec<(String, String)> {
    let now = now_ms();
    // `message-timestamp` is `YYYY-MM-DD HH:MM:SS`; `scts` `YYMMDDHHMM`.
    let stamp = wire::iso8601(now).replace('T', " ");
    let scts: String = stamp
        .chars()
        .filter(char::is_ascii_digit)
        .skip(2)
        .take(10)
        .collect();
    let mut params: Vec<(String, String)> = [
        ("msisdn", message.to.trim_start_matches('+')),
        ("to", message.from.as_str()),
        ("network-code", "310260"),
        ("messageId", message.sid.as_str()),
        ("price", "0.03330000"),
        ("status", status),
        ("scts", scts.as_str()),
        ("err-code", err_code),
        ("api-key", shared.config.vonage_api_key.as_str()),
        ("message-timestamp", stamp.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(reference) = &message.client_reference {
        params.push(("client-ref".into(), reference.clone()));
    }
    params.push(("timestamp".into(), (now / 1000).to_string()));
    params.push(("nonce".into(), nonce(&shared.new_id(""))));
    let sig = vonage_signature(&shared.config.vonage_signature_secret, &params);
    params.push(("sig".into(), sig));
    params
}

/// A UUID-shaped nonce from 32 hex digits.
fn nonce(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn outgoing(shared: &Shared, url: &str, params: Vec<(String, String)>) -> Outgoing {
    match shared.config.vonage_dlr_method {
        VonageDlrMethod::Get => Outgoing::get(url, &params),
        VonageDlrMethod::PostForm => Outgoing::form(url, &params),
        VonageDlrMethod::PostJson => {
            let object: serde_json::Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Outgoing::json(url, &Value::Object(object))
        }
    }
}
