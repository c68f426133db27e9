//! Meta WhatsApp Cloud API (Graph API): template sends, template listing,
//! error mapping and the webhook (verification handshake, signed
//! notifications with `statuses[]` and `messages[]`).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ErrorClass, ProviderError, Status};

/// The Graph API version used when a channel does not set one.
pub const DEFAULT_VERSION: &str = "v21.0";
/// Page size asked of the template listing (Graph allows up to 1000; 100
/// keeps each answer small).
pub const TEMPLATE_PAGE_SIZE: u32 = 100;

fn trim(base: &str) -> &str {
    base.trim_end_matches('/')
}

/// `POST {base}/{version}/{phone-number-id}/messages`.
pub fn messages_url(base: &str, version: &str, phone_number_id: &str) -> String {
    format!("{}/{version}/{phone_number_id}/messages", trim(base))
}

/// `GET {base}/{version}/{waba-id}/message_templates?...`, one page; `after`
/// is the cursor of the previous page.
pub fn templates_url(base: &str, version: &str, waba_id: &str, after: Option<&str>) -> String {
    let url = format!(
        "{}/{version}/{waba_id}/message_templates?fields=name,language,category,status,components&limit={TEMPLATE_PAGE_SIZE}",
        trim(base)
    );
    match after {
        Some(cursor) => twilio_wire::with_query(&url, [("after", cursor)]),
        None => url,
    }
}

/// A template message to send.
pub struct Template<'a> {
    pub name: &'a str,
    pub language: &'a str,
    pub body_parameters: &'a [String],
    pub header_parameters: &'a [String],
    /// (url, content type) of a media header.
    pub header_media: Option<(&'a str, &'a str)>,
}

/// The media kind of a header parameter, from the content type.
fn media_kind(content_type: &str) -> &'static str {
    if content_type.starts_with("image/") {
        "image"
    } else if content_type.starts_with("video/") {
        "video"
    } else {
        "document"
    }
}

fn text_parameters(values: &[String]) -> Vec<Value> {
    values
        .iter()
        .map(|v| json!({ "type": "text", "text": v }))
        .collect()
}

/// The JSON body of a template send. `to` may carry a leading `+` (Graph
/// wants digits only). `callback_data` travels as `biz_opaque_callback_data`
/// and comes back on every status webhook: Graph has no idempotency key, so
/// this is where Herald's key goes.
pub fn template_body(to: &str, template: &Template, callback_data: &str) -> Value {
    let mut components = Vec::new();
    let mut header = Vec::new();
    if let Some((url, content_type)) = template.header_media {
        let kind = media_kind(content_type);
        header.push(json!({ "type": kind, kind: { "link": url } }));
    }
    header.extend(text_parameters(template.header_parameters));
    if !header.is_empty() {
        components.push(json!({ "type": "header", "parameters": header }));
    }
    if !template.body_parameters.is_empty() {
        components.push(json!({
            "type": "body",
            "parameters": text_parameters(template.body_parameters),
        }));
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.trim_start_matches('+'),
        "type": "template",
        "template": {
            "name": template.name,
            "language": { "code": template.language },
            "components": components,
        },
        "biz_opaque_callback_data": callback_data,
    })
}

/// The message id (`wamid.…`) from a successful send.
pub fn message_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Sent {
        messages: Vec<Id>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let sent: Sent = serde_json::from_slice(body).ok()?;
    sent.messages.into_iter().next().map(|m| m.id)
}

#[derive(Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    message: String,
    code: Option<i64>,
    error_subcode: Option<i64>,
    fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

/// Maps a Graph error answer (`{"error":{"message","type","code",...}}`).
pub fn error_from(http_status: u16, retry_after: Option<&str>, body: &[u8]) -> ProviderError {
    let error = serde_json::from_slice::<ErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_default();
    let class = classify(http_status, error.code, retry_after);
    let mut message = if error.message.is_empty() {
        format!("Graph API answered HTTP {http_status}")
    } else {
        error.message
    };
    if let Some(trace) = error.fbtrace_id {
        message.push_str(&format!(" (fbtrace_id {trace})"));
    }
    let code = match (error.code, error.error_subcode) {
        (Some(code), Some(sub)) => format!("{code}/{sub}"),
        (Some(code), None) => code.to_string(),
        (None, _) => http_status.to_string(),
    };
    ProviderError {
        class,
        code,
        message,
    }
}

/// Graph codes by meaning. Recipient: 131026 undeliverable (not on
/// WhatsApp, old app, terms not accepted), 131030 not in the test allow
/// list, 131021 recipient is the sender. Funds: 131042 payment problem.
/// Rate: 130429 throughput, 131056 pair rate (one user), 80007 and 4
/// account/app call limits. Auth: 190 token expired, 0, 10 and 200-299
/// permissions. Config: 33 phone number id unknown, 132001 template does
/// not exist. Transient: 1, 2 and 131000/131016 service problems.
pub fn classify(http_status: u16, code: Option<i64>, retry_after: Option<&str>) -> ErrorClass {
    // Graph rarely sends Retry-After; the defaults follow each limit's window.
    let rate = |default_ms| ErrorClass::RateLimited(crate::retry_after_ms(retry_after, default_ms));
    match code {
        Some(131026 | 131030 | 131021) => ErrorClass::InvalidRecipient,
        Some(131042) => ErrorClass::InsufficientFunds,
        Some(130429) => rate(1_000),
        Some(131056) => rate(6_000),
        Some(4 | 80007) => rate(60_000),
        Some(0 | 10 | 190 | 200..=299) => ErrorClass::Auth,
        Some(33 | 132001) => ErrorClass::InvalidConfig,
        Some(1 | 2 | 131000 | 131016) => ErrorClass::Transient,
        _ if http_status == 429 => rate(1_000),
        _ if http_status == 401 => ErrorClass::Auth,
        _ if http_status >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Rejected,
    }
}

/// One template, summarised for Herald.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSummary {
    pub name: String,
    pub language: String,
    pub category: String,
    pub status: String,
    pub body_parameter_count: u32,
    pub body_text: String,
}

#[derive(Deserialize)]
struct TemplatePage {
    #[serde(default)]
    data: Vec<TemplateEntry>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<String>,
    cursors: Option<Cursors>,
}

#[derive(Deserialize)]
struct Cursors {
    after: Option<String>,
}

#[derive(Deserialize)]
struct TemplateEntry {
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    components: Vec<TemplateComponent>,
}

#[derive(Deserialize)]
struct TemplateComponent {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

/// One page of templates and the cursor of the next page. Graph signals
/// "more" with `paging.next` (an absolute URL on graph.facebook.com); the
/// caller follows its `after` cursor on its own base URL instead, so a
/// channel pointed at a proxy or simulator stays there.
pub fn parse_template_page(body: &[u8]) -> Result<(Vec<TemplateSummary>, Option<String>), String> {
    let page: TemplatePage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let next = page
        .paging
        .filter(|p| p.next.is_some())
        .and_then(|p| p.cursors)
        .and_then(|c| c.after);
    let templates = page
        .data
        .into_iter()
        .map(|t| {
            let body_text = t
                .components
                .iter()
                .find(|c| c.kind.eq_ignore_ascii_case("BODY"))
                .and_then(|c| c.text.clone())
                .unwrap_or_default();
            TemplateSummary {
                body_parameter_count: count_parameters(&body_text),
                name: t.name,
                language: t.language,
                category: t.category,
                status: t.status,
                body_text,
            }
        })
        .collect();
    Ok((templates, next))
}

/// Distinct `{{n}}` (or named `{{name}}`) placeholders in a template text.
pub fn count_parameters(text: &str) -> u32 {
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && !seen.contains(&name) {
            seen.push(name);
        }
        rest = &after[end + 2..];
    }
    seen.len() as u32
}

/// The value of `X-Hub-Signature-256` without its `sha256=` prefix.
pub fn signature_hex(header: &str) -> Option<&str> {
    header.trim().strip_prefix("sha256=")
}

/// The subscription handshake: `Some(challenge)` when the query asks to
/// subscribe, with the token the caller must still compare (constant time).
pub fn verification(url: &str) -> Option<(String, String)> {
    let pairs = twilio_wire::query_pairs(url);
    let get = |name| twilio_wire::param(&pairs, name).map(str::to_owned);
    if get("hub.mode").as_deref() != Some("subscribe") {
        return None;
    }
    Some((get("hub.verify_token")?, get("hub.challenge")?))
}

/// A status change of a message we sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEvent {
    pub message_id: String,
    pub status: Status,
    pub timestamp_ms: Option<u64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// A message a contact sent us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundEvent {
    pub message_id: String,
    /// `+` and the contact's WhatsApp id (their number).
    pub from: String,
    /// Our phone number id (the channel's sender).
    pub to: String,
    pub body: String,
    /// (media id, mime type) of an attachment: Graph sends ids, fetched
    /// with `GET /{version}/{media-id}`.
    pub media: Option<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Notification {
    Status(StatusEvent),
    Inbound(InboundEvent),
}

#[derive(Deserialize)]
struct Webhook {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Option<Metadata>,
    #[serde(default)]
    statuses: Vec<WireStatus>,
    #[serde(default)]
    messages: Vec<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}

#[derive(Deserialize)]
struct WireStatus {
    id: String,
    status: String,
    timestamp: Option<String>,
    #[serde(default)]
    errors: Vec<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
}

/// Parses a (verified) notification body. Unknown statuses (`deleted`,
/// `warning`) and change fields other than messages yield nothing.
pub fn parse_notification(body: &[u8]) -> Result<Vec<Notification>, String> {
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for value in hook
        .entry
        .into_iter()
        .flat_map(|e| e.changes)
        .map(|c| c.value)
    {
        let phone_number_id = value
            .metadata
            .map(|m| m.phone_number_id)
            .unwrap_or_default();
        for status in value.statuses {
            let normalised = match status.status.as_str() {
                "sent" => Status::Sent,
                "delivered" => Status::Delivered,
                "read" => Status::Read,
                "failed" => Status::Failed,
                _ => continue,
            };
            let error = status.errors.into_iter().next();
            out.push(Notification::Status(StatusEvent {
                message_id: status.id,
                status: normalised,
                // Graph timestamps are Unix seconds, as strings.
                timestamp_ms: status
                    .timestamp
                    .and_then(|t| t.parse::<u64>().ok())
                    .and_then(|s| s.checked_mul(1000)),
                error_code: error.as_ref().and_then(|e| e.code).map(|c| c.to_string()),
                error_message: error.and_then(|e| e.title.or(e.message)),
            }));
        }
        for message in value.messages {
            out.push(Notification::Inbound(inbound(&message, &phone_number_id)?));
        }
    }
    Ok(out)
}

fn inbound(message: &Value, phone_number_id: &str) -> Result<InboundEvent, String> {
    let text = |pointer: &str| message.pointer(pointer).and_then(Value::as_str);
    let id = text("/id").ok_or("message without id")?;
    let from = text("/from").ok_or("message without from")?;
    let kind = text("/type").unwrap_or("unknown");
    // What the contact wrote or tapped, whatever the message type.
    let body = text("/text/body")
        .or_else(|| text("/button/text"))
        .or_else(|| text("/interactive/button_reply/title"))
        .or_else(|| text("/interactive/list_reply/title"))
        .or_else(|| text("/reaction/emoji"))
        .or_else(|| text(&format!("/{kind}/caption")))
        .unwrap_or_default();
    let media = text(&format!("/{kind}/id")).map(|media_id| {
        let mime = text(&format!("/{kind}/mime_type")).unwrap_or_default();
        (media_id.to_owned(), mime.to_owned())
    });
    Ok(InboundEvent {
        message_id: id.to_owned(),
        from: format!("+{}", from.trim_start_matches('+')),
        to: phone_number_id.to_owned(),
        body: body.to_owned(),
        media,
    })
}

#[cfg(test)]
#[path = "whatsapp_tests.rs"]
mod tests;
