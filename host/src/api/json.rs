//! JSON body and query-string extractors whose rejections name the field at
//! fault (serde says "missing field `body`"; clients get `"field": "body"`).
//! A field the endpoint does not know is a 422 naming it, never ignored: a
//! misspelt option would otherwise silently do nothing.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(describe_body(rejection)),
        }
    }
}

fn describe_body(rejection: JsonRejection) -> ApiError {
    let message = rejection.body_text();
    // axum puts the path of a bad value first ("...target type:
    // missing_field: unknown variant `guess`..."); serde names a missing or
    // unknown field between backticks ("missing field `body`").
    let detail = message
        .split_once("target type: ")
        .map_or(message.as_str(), |(_, d)| d);
    let path = detail
        .split_once(": ")
        .map(|(path, _)| path)
        .filter(|p| !p.is_empty() && *p != "." && !p.contains(' '));
    let named = message
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && !f.contains(' '));
    let field = if detail.contains("missing field") || detail.contains("unknown field") {
        named.or(path)
    } else {
        path.or(named)
    }
    .map(str::to_owned);
    match field {
        Some(field) if message.contains("unknown field") => ApiError::Invalid {
            message: format!("unknown field; {}", expected_part(&message)),
            field,
        },
        field => ApiError::BadRequest { field, message },
    }
}

/// serde's "expected one of `a`, `b`" tail, or nothing.
fn expected_part(message: &str) -> String {
    message
        .find("expected")
        .map(|at| message[at..].replace('`', ""))
        .unwrap_or_else(|| "not a field of this request".to_owned())
}

/// The query string, read into `T` (`#[serde(deny_unknown_fields)]`).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(rejection) => Err(describe_query(rejection)),
        }
    }
}

fn describe_query(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    if detail.starts_with("unknown field") {
        let field = detail.split('`').nth(1).unwrap_or("query").to_owned();
        return ApiError::Invalid {
            message: format!("unknown query parameter; {}", expected_part(detail)),
            field,
        };
    }
    // "limit: invalid digit found in string" (the path, then the error).
    match detail.split_once(": ") {
        Some((field, why)) if !field.is_empty() && !field.contains(' ') => ApiError::Invalid {
            field: field.to_owned(),
            message: why.to_owned(),
        },
        _ => ApiError::Invalid {
            field: "query".to_owned(),
            message: detail.to_owned(),
        },
    }
}
