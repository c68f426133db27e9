//! What the console's forms share: turning the shared API logic's errors
//! into a message shown beside the field it names (or above the form when
//! it names none), and reading a form's optional text. Each form still
//! draws its own markup (its inputs' ids differ); what a refusal is, and
//! which refusals a form shows rather than answers, is decided here once.

use axum::http::StatusCode;
use maud::{Markup, html};

use crate::api::ApiError;

/// A refusal a person can act on, with the status the page answers (the
/// one the API answers for the same refusal).
pub struct Problem {
    pub status: StatusCode,
    /// The form field at fault, as the API names it (`name`,
    /// `config.base-url`, `file`...); `None` when it is about the whole form.
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    pub fn page(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            field: None,
            message: message.into(),
        }
    }

    /// Whether the problem names `field`.
    pub fn names(&self, field: &str) -> bool {
        self.field.as_deref() == Some(field)
    }

    /// The same problem, its field renamed (the API's `addresses[0]` is the
    /// form's `address`).
    pub fn renamed(mut self, from: &str, to: &str) -> Self {
        if self.names(from) {
            self.field = Some(to.to_owned());
        }
        self
    }
}

/// A user's mistake or a refusal becomes a message on the page; a fault of
/// the server (or anything else unexpected) comes back, to be answered as
/// the API answers it.
pub fn problem(e: ApiError) -> Result<Problem, ApiError> {
    Ok(match e {
        ApiError::Invalid { field, message } => Problem::field(&field, message),
        ApiError::BadRequest { field, message } => Problem {
            status: StatusCode::BAD_REQUEST,
            field,
            message,
        },
        ApiError::ForbiddenField { field, message } => Problem {
            status: StatusCode::FORBIDDEN,
            field: Some(field),
            message,
        },
        ApiError::TooLarge { field, message } => Problem {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            field: Some(field.into()),
            message,
        },
        ApiError::Signature { message, .. } => Problem::field("signature", message),
        ApiError::Conflict(m) => Problem::page(StatusCode::CONFLICT, m),
        ApiError::Refused { message, .. } => Problem::page(StatusCode::CONFLICT, message),
        ApiError::Forbidden(m) => Problem::page(StatusCode::FORBIDDEN, m),
        ApiError::NotFound(what) => Problem::page(StatusCode::NOT_FOUND, what),
        // The provider's refusal (a template sync), as the plugin said it.
        ApiError::BadGateway(m) => Problem::page(StatusCode::BAD_GATEWAY, m),
        other => return Err(other),
    })
}

/// The message beside `field`, when the problem names it.
pub fn field_error(problem: Option<&Problem>, field: &str) -> Markup {
    html! {
        @if let Some(p) = problem.filter(|p| p.names(field)) {
            p.error.field-error id={ (field) "-error" } role="alert" { (p.message) }
        }
    }
}

/// `aria-describedby` for an input whose field has an error.
pub fn described(problem: Option<&Problem>, field: &str) -> Option<String> {
    problem
        .filter(|p| p.names(field))
        .map(|_| format!("{field}-error"))
}

/// The message above a form, when the problem names none of its `fields`.
pub fn banner(problem: Option<&Problem>, fields: &[&str]) -> Markup {
    html! {
        @if let Some(p) = problem.filter(|p| p.field.as_deref().is_none_or(|f| !fields.contains(&f))) {
            div.notice.notice-error role="alert" { (p.message) }
        }
    }
}

/// A form's text, `None` when left empty.
pub fn some_text(value: Option<&String>) -> Option<String> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A pair list (`Form<Vec<(String, String)>>`) as a lookup: the first
/// value of `name`.
pub fn value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The CSRF token among a pair list's values (empty when absent).
pub fn csrf_of(form: &[(String, String)]) -> &str {
    value(form, "csrf").map_or("", String::as_str)
}
