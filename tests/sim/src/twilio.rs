//! Twilio Programmable Messaging: the Messages endpoint and status callbacks.
//!
//! Follows Twilio's REST API 2010-04-01 closely enough that Herald's Twilio
//! plugin cannot tell the difference: form-encoded requests with HTTP Basic
//! auth, the Message resource JSON, Twilio's error JSON, and status callbacks
//! signed with `X-Twilio-Signature`. What happens to each message comes from
//! [`Behaviour`] (the recipient's last four digits).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::behaviour::Behaviour;
use crate::{ReceivedMessage, Shared, media, now_ms, twilio_list, twilio_signature, wire};

const API_VERSION: &str = "2010-04-01";
/// Twilio refuses longer bodies (code 21617).
const MAX_BODY_CHARS: usize = 1600;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages.json",
            post(create_message).get(twilio_list::list_messages),
        )
        // `{sid}.json` is split by hand: the router wants whole segments.
        .route(
            "/2010-04-01/Accounts/{account_sid}/Messages/{file}",
            get(fetch_message),
        )
}

/// Twilio's view of one accepted message, kept in the shared state so the
/// GET endpoint and the callbacks agree on its status.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    /// Position in `State::messages`.
    index: usize,
    status: &'static str,
    error: Option<(u32, &'static str)>,
    messaging_service_sid: Option<String>,
    date_updated_ms: u64,
    pub(crate) date_sent_ms: Option<u64>,
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared
        .handle_send(|| send(&shared, &account_sid, &headers, &body))
        .await
}

/// Decides the answer to one send and, when accepted, records the message
/// and starts its delivery lifecycle.
fn send(shared: &Arc<Shared>, account_sid: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    if !authorised(shared, account_sid, headers) {
        return unauthorised();
    }
    // An unparsable form is treated as empty: the missing-'To' error follows.
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let form = match SendForm::parse(&params) {
        Ok(form) => form,
        Err(invalid) => return invalid.into_response(),
    };
    let behaviour = Behaviour::for_number(&form.to);
    if behaviour == Behaviour::InvalidNumber {
        return invalid_to(&form.to).into_response();
    }

    let message = ReceivedMessage {
        provider: "twilio".to_owned(),
        sid: shared.new_id("SM"),
        account_sid: account_sid.to_owned(),
        to: form.to,
        from: form.from.unwrap_or_default(),
        body: form.body,
        media_urls: form.media_urls,
        status_callback: form.status_callback,
        headers: header_list(headers),
        received_at_ms: now_ms(),
        ..ReceivedMessage::default()
    };
    let fails_once = matches!(
        behaviour,
        Behaviour::RateLimitedOnce | Behaviour::ServerErrorOnce
    );
    // One lock for "has this number failed yet?" and the acceptance, so two
    // concurrent first requests cannot both fail or both pass.
    let accepted = {
        let mut state = shared.lock();
        if fails_once && state.tripped.insert(message.to.clone()) {
            None
        } else {
            let record = Record {
                index: state.accept(message.clone()),
                status: "queued",
                error: None,
                messaging_service_sid: form.messaging_service_sid,
                date_updated_ms: message.received_at_ms,
                date_sent_ms: None,
            };
            state.twilio.insert(message.sid.clone(), record.clone());
            Some((state.epoch, record))
        }
    };
    let Some((epoch, record)) = accepted else {
        return match behaviour {
            Behaviour::RateLimitedOnce => too_many_requests(),
            _ => server_error(),
        };
    };
    let answer = match behaviour {
        Behaviour::ServerErrorAfterCreate => server_error(),
        _ => behaviour
            .mark((StatusCode::CREATED, Json(message_json(&message, &record))).into_response()),
    };
    tokio::spawn(lifecycle(shared.clone(), message.sid, epoch, behaviour));
    answer
}

/// The parameters of a send that the simulator understands.
struct SendForm {
    to: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    body: String,
    media_urls: Vec<String>,
    status_callback: Option<String>,
}

impl SendForm {
    /// Validates like Twilio, answering with Twilio's error codes.
    fn parse(params: &[(String, String)]) -> Result<SendForm, Invalid> {
        let first = |name: &str| {
            params
                .iter()
                .find(|(key, value)| key == name && !value.trim().is_empty())
                .map(|(_, value)| value.clone())
        };

        let to = first("To")
            .map(|to| to.trim().to_owned())
            .ok_or_else(|| Invalid(21604, "A 'To' phone number is required.".into()))?;
        let from = first("From").map(|from| from.trim().to_owned());
        let messaging_service_sid = first("MessagingServiceSid");
        if from.is_none() && messaging_service_sid.is_none() {
            return Err(Invalid(21603, "A 'From' phone number is required.".into()));
        }
        let body = first("Body").unwrap_or_default();
        let media_urls: Vec<String> = params
            .iter()
            .filter(|(key, value)| key == "MediaUrl" && !value.trim().is_empty())
            .map(|(_, value)| value.clone())
            .collect();
        if body.is_empty() && media_urls.is_empty() {
            return Err(Invalid(21602, "Message body is required.".into()));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return Err(Invalid(
                21617,
                "The concatenated message body exceeds the 1600 character limit.".into(),
            ));
        }
        let status_callback = first("StatusCallback");
        if let Some(url) = &status_callback
            && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(Invalid(
                21609,
                format!("The StatusCallback URL {url} is not a valid URL."),
            ));
        }
        // Channel addresses such as `whatsapp:+1555...` carry an E.164 number.
        let number = to.rsplit_once(':').map_or(to.as_str(), |(_, n)| n);
        if !wire::is_e164(number) {
            return Err(invalid_to(&to));
        }
        Ok(SendForm {
            to,
            from,
            messaging_service_sid,
            body,
            media_urls,
            status_callback,
        })
    }
}

/// Moves an accepted message to `sent`, then to its final status, posting a
/// status callback at each step when one was asked for.
async fn lifecycle(shared: Arc<Shared>, sid: String, epoch: u64, behaviour: Behaviour) {
    let (final_status, final_error) = match behaviour {
        Behaviour::Undelivered => (
            "undelivered",
            Some((30003, "Unreachable destination handset")),
        ),
        Behaviour::Failed => ("failed", Some((30008, "Unknown error"))),
        _ => ("delivered", None),
    };
    let steps = async {
        let steps = if media::fetch_all(&shared, &sid, epoch).await {
            vec![("sent", None), (final_status, final_error)]
        } else {
            vec![("failed", Some((11200, "HTTP retrieval failure")))]
        };
        for (status, error) in steps {
            tokio::time::sleep(shared.config.callback_delay).await;
            match advance(&shared, &sid, epoch, status, error) {
                None => return, // forgotten by a reset
                Some(None) => {}
                Some(Some(_)) if !behaviour.sends_callbacks() => {}
                Some(Some((url, params))) => post_callback(&shared, &url, &params, epoch).await,
            }
        }
    };
    let mut stopped = shared.stopped.clone();
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => {}
        _ = steps => {}
    }
}

type Callback = (String, Vec<(String, String)>);

/// Sets the message's status. Returns `None` if a reset forgot the message,
/// else the callback to post (URL and Twilio's parameters), if one was asked for.
fn advance(
    shared: &Shared,
    sid: &str,
    epoch: u64,
    status: &'static str,
    error: Option<(u32, &'static str)>,
) -> Option<Option<Callback>> {
    let mut guard = shared.lock();
    let state = &mut *guard; // borrow fields separately, not through the guard
    if state.epoch != epoch {
        return None;
    }
    let now = now_ms();
    let record = state.twilio.get_mut(sid)?;
    record.status = status;
    record.error = error;
    record.date_updated_ms = now;
    if status == "sent" {
        record.date_sent_ms = Some(now);
    }
    let message = &state.messages[record.index];
    let Some(url) = message.status_callback.clone() else {
        return Some(None);
    };
    let mut params: Vec<(String, String)> = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", &message.to),
        ("MessageSid", sid),
        ("AccountSid", &message.account_sid),
        ("From", &message.from),
        ("ApiVersion", API_VERSION),
    ]
    .iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    if let Some((code, _)) = error {
        params.push(("ErrorCode".into(), code.to_string()));
    }
    Some(Some((url, params)))
}

/// Posts one signed callback and counts the outcome (unless a reset happened
/// meanwhile, so old messages cannot pollute new counts).
async fn post_callback(shared: &Shared, url: &str, params: &[(String, String)], epoch: u64) {
    let delivered = if is_loopback(url) {
        deliver_callback(shared, url, params).await
    } else {
        tracing::warn!(
            url,
            "status callback refused: the simulator only calls loopback addresses"
        );
        false
    };
    shared.count_callback(epoch, delivered);
}

/// One attempt plus one retry after 200 ms; true on a 2xx.
async fn deliver_callback(shared: &Shared, url: &str, params: &[(String, String)]) -> bool {
    let signature = twilio_signature(&shared.config.twilio_auth_token, url, params);
    // Twilio keeps the same idempotency token across retries of one callback.
    let idempotency_token = shared.new_id("");
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let result = shared
            .http
            .post(url)
            .header("X-Twilio-Signature", &signature)
            .header("I-Twilio-Idempotency-Token", &idempotency_token)
            .form(params)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                // Reading the body lets the pooled connection be reused.
                let _ = response.bytes().await;
                return true;
            }
            Ok(response) => {
                tracing::debug!(url, status = %response.status(), attempt, "status callback refused")
            }
            Err(error) => tracing::debug!(url, %error, attempt, "status callback failed"),
        }
    }
    false
}

/// The simulator must never reach beyond this machine.
pub(crate) fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

async fn fetch_message(
    State(shared): State<Arc<Shared>>,
    Path((account_sid, file)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if !authorised(&shared, &account_sid, &headers) {
        shared.lock().stats.auth_failures += 1;
        return unauthorised();
    }
    let found = file.strip_suffix(".json").and_then(|sid| {
        let state = shared.lock();
        let record = state.twilio.get(sid)?;
        Some((state.messages[record.index].clone(), record.clone()))
    });
    match found {
        Some((message, record)) => Json(message_json(&message, &record)).into_response(),
        None => not_found(uri).await,
    }
}

/// Twilio's 404 for any path the simulator does not serve.
pub(crate) async fn not_found(uri: Uri) -> Response {
    let message = format!("The requested resource {} was not found", uri.path());
    error(StatusCode::NOT_FOUND, 20404, message)
}

/// Basic auth must be `AccountSid:AuthToken`, and the path's account must match.
pub(crate) fn authorised(shared: &Shared, account_sid: &str, headers: &HeaderMap) -> bool {
    let config = &shared.config;
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| BASE64.decode(encoded.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return false;
    };
    account_sid == config.twilio_account_sid
        && user == config.twilio_account_sid
        && password == config.twilio_auth_token
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
pub(crate) fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    let body = json!({
        "code": code,
        "message": message.into(),
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

pub(crate) fn unauthorised() -> Response {
    let mut answer = error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    answer.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    answer
}

/// A send refused as malformed: 400 with this Twilio code and message.
pub(crate) struct Invalid(pub(crate) u32, pub(crate) String);

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0, self.1)
    }
}

pub(crate) fn invalid_to(to: &str) -> Invalid {
    Invalid(
        21211,
        format!("The 'To' number {to} is not a valid phone number."),
    )
}

/// Twilio's 500 (20500).
pub(crate) fn server_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        20500,
        "Internal Server Error",
    )
}

pub(crate) fn too_many_requests() -> Response {
    let mut answer = error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    answer
}

/// The Message resource as Twilio returns it (the single GET, the list and
/// the create answer alike).
pub(crate) fn message_json(message: &ReceivedMessage, record: &Record) -> Value {
    let base = format!(
        "/2010-04-01/Accounts/{}/Messages/{}",
        message.account_sid, message.sid
    );
    json!({
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": wire::rfc2822(message.received_at_ms),
        "date_sent": record.date_sent_ms.map(wire::rfc2822),
        "date_updated": wire::rfc2822(record.date_updated_ms),
        "direction": "outbound-api",
        "error_code": record.error.map(|(code, _)| code),
        "error_message": record.error.map(|(_, text)| text),
        // Sent through a Messaging Service, the sender is not chosen yet.
        "from": (!message.from.is_empty()).then_some(&message.from),
        "messaging_service_sid": record.messaging_service_sid,
        "num_media": message.media_urls.len().to_string(),
        "num_segments": wire::sms_segments(&message.body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": record.status,
        "subresource_uris": {
            "media": format!("{base}/Media.json"),
            "feedback": format!("{base}/Feedback.json"),
        },
        "to": message.to,
        "uri": format!("{base}.json"),
    })
}

/// Request headers for [`ReceivedMessage::headers`], credentials redacted.
pub(crate) fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if name == header::AUTHORIZATION {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn callbacks_only_go_to_loopback() {
        assert!(is_loopback("http://127.0.0.1:8080/cb"));
        assert!(is_loopback("http://127.1.2.3/cb"));
        assert!(is_loopback("http://localhost:3000/webhooks/twilio?x=1"));
        assert!(is_loopback("https://[::1]:8443/cb"));
        assert!(!is_loopback("https://example.com/cb"));
        assert!(!is_loopback("http://10.0.0.1/cb"));
        assert!(!is_loopback("http://127.0.0.1.example.com/cb"));
        assert!(!is_loopback("not a url"));
    }
}
