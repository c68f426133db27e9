//! The controllable clock (admin key; routed only under `--test-clock`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AdminAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::clock;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// The instant the clock reads from now on (RFC 3339); it keeps running.
    pub now: Option<String>,
    /// Or: move the clock by this many seconds (may be negative).
    pub advance_seconds: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClockReading {
    /// RFC 3339, UTC.
    pub now: String,
}

fn reading() -> ClockReading {
    ClockReading {
        now: crate::rfc3339::format(clock::now_ms()),
    }
}

#[utoipa::path(get, path = "/v1/admin/clock", tag = "admin",
    responses((status = 200, body = ClockReading)), security(("admin_key" = [])))]
pub async fn get(_: AdminAuth) -> Json<ClockReading> {
    Json(reading())
}

#[utoipa::path(post, path = "/v1/admin/clock", tag = "admin", request_body = SetClock,
    responses((status = 200, body = ClockReading), (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn set(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(req): ApiJson<SetClock>,
) -> ApiResult<Json<ClockReading>> {
    let result = match (req.now.as_deref(), req.advance_seconds) {
        (Some(now), None) => {
            let at: jiff::Timestamp = now.parse().map_err(|e| {
                ApiError::invalid("now", format!("{now:?} is not an RFC 3339 instant: {e}"))
            })?;
            clock::set_ms(at.as_millisecond())
        }
        (None, Some(secs)) => clock::advance_ms(secs.saturating_mul(1000)),
        _ => {
            return Err(ApiError::invalid(
                "now",
                "give either `now` or `advance_seconds`",
            ));
        }
    };
    result.map_err(|e| ApiError::Conflict(e.to_string()))?;
    tracing::warn!(now = %clock::format_ms(clock::now_ms()), "test clock changed");
    // Deferred work may be due now.
    state.engine.wake();
    Ok(Json(reading()))
}
