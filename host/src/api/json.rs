//! A JSON body extractor whose rejections name the field at fault
//! (serde says "missing field `body`"; clients get `"field": "body"`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(describe(rejection)),
        }
    }
}

fn describe(rejection: JsonRejection) -> ApiError {
    let message = rejection.body_text();
    // serde names fields between backticks: "missing field `body`",
    // "unknown field `bdy`", "invalid type ... for field `x`" (via path).
    let field = message
        .split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && !f.contains(' '))
        .map(str::to_owned);
    ApiError::BadRequest { field, message }
}
