//! Every error the API answers is the documented JSON, including the
//! framework's own rejections (a path id that is not a number, a body over
//! its limit, a method the route does not take), which axum and tower-http
//! answer in plain text: this layer rewrites any 4xx/5xx answer to an API
//! route that is not JSON into `{"error": {"code", "message", "field"?}}`,
//! keeping its status. Webhooks keep their plain answers (providers read
//! the status, and the plugin's own body).

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ErrorBody, ErrorDetail};

/// An error text longer than this is cut (it is a message, not a payload).
const MAX_TEXT: usize = 4096;

pub async fn json_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/v1/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text
    };
    let (code, field) = describe(status, &message);
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            field,
            allowed_actions: None,
            editable_fields: None,
            reason: None,
        },
    };
    let mut rewritten = (status, axum::Json(body)).into_response();
    // Keep what the framework said beyond the body (`Allow` on a 405).
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

/// The error code for a status, and the request part at fault.
fn describe(status: StatusCode, message: &str) -> (&'static str, Option<String>) {
    match status {
        StatusCode::BAD_REQUEST if message.contains("URL") || message.contains("path") => {
            ("invalid_path", Some("path".into()))
        }
        StatusCode::BAD_REQUEST if message.contains("query") => {
            ("invalid_field", Some("query".into()))
        }
        StatusCode::BAD_REQUEST => ("bad_request", None),
        StatusCode::UNAUTHORIZED => ("unauthorized", None),
        StatusCode::FORBIDDEN => ("forbidden", None),
        StatusCode::NOT_FOUND => ("not_found", None),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", None),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", Some("body".into())),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", Some("body".into())),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_field", None),
        s if s.is_server_error() => ("internal", None),
        _ => ("request_refused", None),
    }
}
