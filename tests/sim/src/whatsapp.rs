//! Meta WhatsApp Cloud API (Graph API): template sends, the template list,
//! and signed webhooks.
//!
//! Graph errors are `{"error":{"message","type","code","error_data",
//! "fbtrace_id"}}`. Webhooks go to one app-level URL (set with
//! [`crate::SimConfig::whatsapp_webhook_url`], per phone number id with
//! `whatsapp_webhook_urls`, or at run time with
//! [`crate::Simulator::set_webhook_url`]) and are signed with
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`.
//! As on Meta, an unregistered number is accepted and then reported
//! `failed` (131026) by webhook, not refused by the send.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::callback::{self, Outgoing};
use crate::twilio::header_list;
use crate::{ReceivedMessage, Shared, SimTemplate, TemplateSend, generic, now_ms};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send_message))
        .route(
            "/{version}/{waba_id}/message_templates",
            get(list_templates),
        )
}

/// Graph's error envelope.
fn graph_error(status: StatusCode, code: u32, kind: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": message },
            "fbtrace_id": "AsimFbTrace01",
        }
    });
    (status, Json(body)).into_response()
}

fn invalid_parameter(details: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        "OAuthException",
        &format!("(#100) Invalid parameter: {details}"),
    )
}

fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", shared.config.whatsapp_access_token);
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn unauthorised() -> Response {
    graph_error(
        StatusCode::UNAUTHORIZED,
        190,
        "OAuthException",
        "Invalid OAuth access token - Cannot parse access token",
    )
}

async fn send_message(
    State(shared): State<Arc<Shared>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared
        .handle_send(|| send(&shared, &phone_number_id, &headers, &body))
        .await
}

/// Reads `template.components` into the recorded form.
fn template_send(template: &Value) -> TemplateSend {
    let mut send = TemplateSend {
        name: template["name"].as_str().unwrap_or_default().to_owned(),
        language: template["language"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        ..TemplateSend::default()
    };
    for component in template["components"].as_array().into_iter().flatten() {
        let texts = |parameters: &Value| -> Vec<String> {
            parameters
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str().map(str::to_owned))
                .collect()
        };
        match component["type"].as_str() {
            Some("body") => send.body_parameters = texts(&component["parameters"]),
            Some("header") => {
                send.header_parameters = texts(&component["parameters"]);
                send.header_media = component["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|p| {
                        let kind = p["type"].as_str()?;
                        let link = p[kind]["link"].as_str()?;
                        Some((kind.to_owned(), link.to_owned()))
                    });
            }
            _ => {}
        }
    }
    send
}

/// Checks a template send against the account's templates, like Graph:
/// the refusal, or `None` when it is fine.
fn template_refusal(templates: &[SimTemplate], send: &TemplateSend) -> Option<Response> {
    let known = templates
        .iter()
        .find(|t| t.name == send.name && t.language == send.language)
        .filter(|t| t.status == "APPROVED");
    let Some(template) = known else {
        return Some(graph_error(
            StatusCode::NOT_FOUND,
            132001,
            "OAuthException",
            &format!(
                "(#132001) Template name does not exist in the translation: {} ({})",
                send.name, send.language
            ),
        ));
    };
    if send.body_parameters.len() != template.body_parameter_count() {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            132000,
            "OAuthException",
            &format!(
                "(#132000) Number of parameters does not match the expected number of params: body expected {}, got {}",
                template.body_parameter_count(),
                send.body_parameters.len()
            ),
        ));
    }
    let wants_media = template
        .header_format
        .as_deref()
        .is_some_and(|f| f != "TEXT");
    if wants_media != send.header_media.is_some() {
        return Some(graph_error(
            StatusCode::BAD_REQUEST,
            132012,
            "OAuthException",
            "(#132012) Parameter format does not match format in the created template: header",
        ));
    }
    None
}

fn send(shared: &Arc<Shared>, phone_number_id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorised(shared, headers) {
        return unauthorised();
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid_parameter("the body is not JSON");
    };
    if request["messaging_product"] != "whatsapp" {
        return invalid_parameter("messaging_product must be whatsapp");
    }
    let Some(to) = request["to"].as_str().filter(|t| !t.is_empty()) else {
        return invalid_parameter("to is required");
    };
    let (text, template) = match request["type"].as_str() {
        Some("template") => (String::new(), Some(template_send(&request["template"]))),
        Some("text") => (
            request["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            None,
        ),
        _ => return invalid_parameter("type must be template or text"),
    };
    if let Some(template) = &template
        && let Some(refusal) = template_refusal(&shared.config.whatsapp_templates, template)
    {
        return refusal;
    }
    let wa_id = to.trim_start_matches('+').to_owned();
    let behaviour = Behaviour::for_number(&wa_id);
    let message = ReceivedMessage {
        provider: "whatsapp".to_owned(),
        sid: shared.new_id("wamid.HBgL"),
        account_sid: phone_number_id.to_owned(),
        // Recorded as E.164 so `sends_to("+1555...")` works across providers.
        to: format!("+{wa_id}"),
        from: phone_number_id.to_owned(),
        body: text,
        headers: header_list(headers),
        received_at_ms: now_ms(),
        client_reference: request["biz_opaque_callback_data"]
            .as_str()
            .map(str::to_owned),
        template,
        ..ReceivedMessage::default()
    };
    let accepted = shared
        .lock()
        .accept_unless_tripped(behaviour, message.clone());
    let Some((epoch, _)) = accepted else {
        return match behaviour {
            Behaviour::RateLimitedOnce => graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                130429,
                "OAuthException",
                "(#130429) Rate limit hit: Cloud API message throughput has been reached",
            ),
            _ => server_error(),
        };
    };
    tokio::spawn(lifecycle(shared.clone(), message.clone(), epoch, behaviour));
    if behaviour == Behaviour::ServerErrorAfterCreate {
        return server_error();
    }
    behaviour.mark(
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": wa_id }],
            "messages": [{ "id": message.sid, "message_status": "accepted" }],
        }))
        .into_response(),
    )
}

fn server_error() -> Response {
    graph_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        2,
        "OAuthException",
        "Service temporarily unavailable",
    )
}

/// The statuses Meta reports, with the error of a failure.
fn statuses(behaviour: Behaviour) -> Vec<(&'static str, Option<(u32, &'static str)>)> {
    const UNDELIVERABLE: (u32, &str) = (131026, "Message undeliverable");
    match behaviour {
        // Not on WhatsApp: never sent.
        Behaviour::InvalidNumber => vec![("failed", Some(UNDELIVERABLE))],
        Behaviour::Undelivered => vec![("sent", None), ("failed", Some(UNDELIVERABLE))],
        Behaviour::Failed => vec![("failed", Some((131047, "Re-engagement message")))],
        _ => vec![("sent", None), ("delivered", None), ("read", None)],
    }
}

/// The webhook URL for a phone number id, per-number first.
fn webhook_url(shared: &Shared, phone_number_id: &str) -> Option<String> {
    shared.webhook_url(&[&format!("whatsapp:{phone_number_id}"), "whatsapp"])
}

/// Posts each status change, signed, after [`crate::SimConfig::callback_delay`].
async fn lifecycle(
    shared: Arc<Shared>,
    message: ReceivedMessage,
    epoch: u64,
    behaviour: Behaviour,
) {
    let steps = async {
        for (status, error) in statuses(behaviour) {
            tokio::time::sleep(shared.config.callback_delay).await;
            if shared.lock().epoch != epoch {
                return;
            }
            let url = webhook_url(&shared, &message.from);
            let Some(url) = url.filter(|_| behaviour.sends_callbacks()) else {
                continue;
            };
            let mut entry = json!({
                "id": message.sid,
                "status": status,
                "timestamp": (now_ms() / 1000).to_string(),
                "recipient_id": message.to.trim_start_matches('+'),
            });
            if let Some(data) = &message.client_reference {
                entry["biz_opaque_callback_data"] = json!(data);
            }
            if let Some((code, title)) = error {
                entry["errors"] = json!([{
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": { "details": title },
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }]);
            } else if status == "sent" {
                let category = message.template.as_ref().map_or("service", |_| "marketing");
                entry["pricing"] =
                    json!({ "billable": true, "pricing_model": "PMP", "category": category });
            }
            let body = notification(&shared, &message.from, json!({ "statuses": [entry] }));
            callback::deliver(&shared, epoch, &signed(&shared, &url, &body)).await;
        }
    };
    let mut stopped = shared.stopped.clone();
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => {}
        _ = steps => {}
    }
}

/// The `whatsapp_business_account` envelope around one change value.
fn notification(shared: &Shared, phone_number_id: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({
        "display_phone_number": "15550001234",
        "phone_number_id": phone_number_id,
    });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": shared.config.whatsapp_waba_id,
            "changes": [{ "field": "messages", "value": value }],
        }],
    })
}

fn signed(shared: &Shared, url: &str, body: &Value) -> Outgoing {
    let out = Outgoing::json(url, body);
    let signature = generic::sign(&shared.config.whatsapp_app_secret, &out.body);
    out.header("X-Hub-Signature-256", format!("sha256={signature}"))
}

/// See [`crate::Simulator::whatsapp_inbound`].
pub(crate) async fn inbound(
    shared: &Shared,
    phone_number_id: &str,
    from: &str,
    text: &str,
) -> bool {
    let Some(url) = webhook_url(shared, phone_number_id) else {
        return false;
    };
    let wa_id = from.trim_start_matches('+');
    let body = notification(
        shared,
        phone_number_id,
        json!({
            "contacts": [{ "profile": { "name": "Sim Contact" }, "wa_id": wa_id }],
            "messages": [{
                "from": wa_id,
                "id": shared.new_id("wamid.HBgM"),
                "timestamp": (now_ms() / 1000).to_string(),
                "type": "text",
                "text": { "body": text },
            }],
        }),
    );
    let epoch = shared.lock().epoch;
    callback::deliver(shared, epoch, &signed(shared, &url, &body)).await
}

/// `GET /{version}/{waba-id}/message_templates?limit=&after=`: the
/// configured templates, paged like Graph (`paging.cursors` and a `next`
/// URL while more remain).
async fn list_templates(
    State(shared): State<Arc<Shared>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&shared, &headers) {
        shared.lock().stats.auth_failures += 1;
        return unauthorised();
    }
    if waba_id != shared.config.whatsapp_waba_id {
        return invalid_parameter(&format!(
            "Unsupported get request. Object with ID '{waba_id}' does not exist"
        ));
    }
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(25);
    // Cursors are opaque to clients; here they are the next index.
    let start: usize = query
        .get("after")
        .and_then(|c| c.strip_prefix("QVFI"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let templates = &shared.config.whatsapp_templates;
    let end = (start + limit).min(templates.len());
    let data: Vec<Value> = templates
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut components = Vec::new();
            if let Some(format) = &t.header_format {
                components.push(json!({ "type": "HEADER", "format": format }));
            }
            components.push(json!({ "type": "BODY", "text": t.body_text }));
            json!({
                "name": t.name,
                "language": t.language,
                "category": t.category,
                "status": t.status,
                "components": components,
                "id": format!("{}", 900_000 + start + i),
            })
        })
        .collect();
    let mut paging =
        json!({ "cursors": { "before": format!("QVFI{start}"), "after": format!("QVFI{end}") } });
    if end < templates.len() {
        paging["next"] = json!(format!(
            "{}/{version}/{waba_id}/message_templates?limit={limit}&after=QVFI{end}",
            shared.base_url
        ));
    }
    Json(json!({ "data": data, "paging": paging })).into_response()
}
