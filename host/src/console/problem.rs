//! What went wrong with a form, as the shared API logic said it: the field
//! at fault (so the page shows the message next to its input) and why.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// A refusal a person can act on.
pub struct Problem {
    /// The API's field name (`name`, `config.base-url`, `file`...); empty
    /// when the refusal is about the whole form.
    pub field: String,
    pub message: String,
    /// What the API answers for the same refusal.
    pub status: StatusCode,
}

impl Problem {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Sorts an error from the shared logic: a refusal to show in the form, or
/// a response of its own (a 404, a server fault) to answer as it is.
pub fn sort(e: ApiError) -> Result<Problem, Box<Response>> {
    let (field, message, status) = match e {
        ApiError::Invalid { field, message } => (field, message, StatusCode::UNPROCESSABLE_ENTITY),
        ApiError::ForbiddenField { field, message } => (field, message, StatusCode::FORBIDDEN),
        ApiError::BadRequest { field, message } => {
            (field.unwrap_or_default(), message, StatusCode::BAD_REQUEST)
        }
        ApiError::Conflict(m) | ApiError::Refused { message: m, .. } => {
            (String::new(), m, StatusCode::CONFLICT)
        }
        ApiError::Forbidden(m) => (String::new(), m, StatusCode::FORBIDDEN),
        ApiError::TooLarge(m) => (String::new(), m, StatusCode::PAYLOAD_TOO_LARGE),
        ApiError::BadGateway(m) => (String::new(), m, StatusCode::BAD_GATEWAY),
        other => return Err(Box::new(other.into_response())),
    };
    Ok(Problem {
        field,
        message,
        status,
    })
}
