//! API errors and their HTTP mapping. Every error body is
//! `{"error": {"code", "message", "field"?}}` so a client can point at the
//! offending field.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// 422: a field's value is not acceptable.
    Invalid {
        field: String,
        message: String,
    },
    /// 400: the body is not the JSON we expect.
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// 404: absent, or another tenant's (indistinguishable on purpose).
    NotFound(&'static str),
    /// 409: not allowed in the current state.
    Conflict(String),
    /// 409: the campaign lifecycle does not allow this action (or edit) in
    /// the campaign's status; names what is allowed.
    Refused {
        message: String,
        allowed_actions: Vec<&'static str>,
        editable_fields: Option<Vec<&'static str>>,
    },
    Unauthorized(&'static str),
    /// 403: the action is switched off for this tenant.
    Forbidden(String),
    /// 403: this field's value is the admin's to set.
    ForbiddenField {
        field: String,
        message: String,
    },
    /// 413: an upload (or a webhook's body) over its size limit.
    TooLarge {
        field: &'static str,
        message: String,
    },
    /// 422: a plugin upload whose signature does not admit it (or that
    /// has none on a server requiring one); `reason` is stable.
    Signature {
        reason: &'static str,
        message: String,
    },
    /// 429: the API key is over its request rate (see `rate_limit`).
    RateLimited {
        retry_after: std::time::Duration,
        message: String,
    },
    /// 502: the provider (through the channel's plugin) failed or refused.
    BadGateway(String),
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`.
    pub code: &'static str,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A refused campaign action: the actions its status allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<&'static str>>,
    /// A refused edit: the fields its status lets a user change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editable_fields: Option<Vec<&'static str>>,
    /// A refused plugin signature: `unsigned`, `malformed`,
    /// `sha256_mismatch`, `unknown_key`, `bad_signature` or
    /// `manifest_mismatch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("not found"),
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Refused(r) => Self::Refused {
                message: r.to_string(),
                allowed_actions: r.allowed,
                editable_fields: None,
            },
            StoreError::Db(e) => Self::Internal(e.to_string()),
            StoreError::Sealed(e) => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut allowed_actions = None;
        let mut retry_after = None;
        let mut editable_fields = None;
        let mut reason = None;
        let (status, code, message, field) = match self {
            Self::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("{field}: {message}"),
                Some(field),
            ),
            Self::BadRequest { field, message } => {
                (StatusCode::BAD_REQUEST, "bad_request", message, field)
            }
            Self::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", what.to_owned(), None),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, None),
            Self::Refused {
                message,
                allowed_actions: allowed,
                editable_fields: editable,
            } => {
                allowed_actions = Some(allowed);
                editable_fields = editable;
                (StatusCode::CONFLICT, "transition_refused", message, None)
            }
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, None),
            Self::ForbiddenField { field, message } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{field}: {message}"),
                Some(field),
            ),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.to_owned(), None),
            Self::Signature {
                reason: why,
                message,
            } => {
                reason = Some(why);
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "signature_refused",
                    format!("signature: {message}"),
                    Some("signature".into()),
                )
            }
            Self::TooLarge { field, message } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                message,
                Some(field.into()),
            ),
            Self::RateLimited {
                retry_after: wait,
                message,
            } => {
                retry_after = Some(super::rate_limit::retry_after_secs(wait));
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None)
            }
            Self::BadGateway(m) => (StatusCode::BAD_GATEWAY, "provider_error", m, None),
            Self::Internal(m) => {
                tracing::error!(error = m, "internal error answering a request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log".to_owned(),
                    None,
                )
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                field,
                allowed_actions,
                editable_fields,
                reason,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<crate::domain::lifecycle::Refused> for ApiError {
    fn from(r: crate::domain::lifecycle::Refused) -> Self {
        StoreError::Refused(r).into()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
