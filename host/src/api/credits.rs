//! Credits: a tenant reads its balance and ledger; an admin tops it up.
//! A tenant nobody has topped up is unlimited (`metered: false`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{AdminAuth, TenantAuth};
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::store::{CreditBalance, Id, LedgerEntry};

/// Largest single adjustment, far beyond any purchase, so a typo cannot
/// overflow a balance.
const MAX_ADJUSTMENT: i64 = 1_000_000_000_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustCredits {
    /// Credits to add; negative takes credits away (never below zero).
    pub amount: i64,
    /// Shown in the ledger (e.g. an invoice number).
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Adjusted {
    #[serde(flatten)]
    pub balance: CreditBalance,
    /// Campaigns paused for insufficient credits that this top-up resumed.
    pub resumed_campaigns: Vec<Id>,
}

#[utoipa::path(get, path = "/v1/credits", tag = "credits",
    responses((status = 200, body = CreditBalance)), security(("api_key" = [])))]
pub async fn balance(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
) -> ApiResult<Json<CreditBalance>> {
    Ok(Json(state.store.credit_balance(tenant.id).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct LedgerPage {
    /// Entries older than this id (the last `id` of the previous page).
    pub before: Option<Id>,
    /// At most this many (default 100, max 1000).
    pub limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ledger {
    /// Newest first.
    pub entries: Vec<LedgerEntry>,
}

#[utoipa::path(get, path = "/v1/credits/ledger", tag = "credits", params(LedgerPage),
    responses((status = 200, body = Ledger)), security(("api_key" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Query(page): Query<LedgerPage>,
) -> ApiResult<Json<Ledger>> {
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let entries = state
        .store
        .credit_ledger(tenant.id, page.before, limit)
        .await?;
    Ok(Json(Ledger { entries }))
}

#[utoipa::path(get, path = "/v1/tenants/{id}/credits", tag = "credits",
    responses((status = 200, body = CreditBalance)), security(("admin_key" = [])))]
pub async fn tenant_balance(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<CreditBalance>> {
    Ok(Json(state.store.credit_balance(id).await?))
}

#[utoipa::path(post, path = "/v1/tenants/{id}/credits", tag = "credits",
    request_body = AdjustCredits,
    responses((status = 200, body = Adjusted), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn adjust(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<Id>,
    ApiJson(req): ApiJson<AdjustCredits>,
) -> ApiResult<Json<Adjusted>> {
    if req.amount == 0 || req.amount.abs() > MAX_ADJUSTMENT {
        return Err(ApiError::invalid(
            "amount",
            format!(
                "must be a non-zero whole number of credits, at most {MAX_ADJUSTMENT} either way"
            ),
        ));
    }
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let done = state.store.adjust_credits(id, req.amount, note).await?;
    tracing::info!(
        tenant = id,
        amount = req.amount,
        available = done.balance.available,
        resumed = ?done.resumed,
        "credits adjusted"
    );
    if !done.resumed.is_empty() {
        state.engine.wake();
    }
    Ok(Json(Adjusted {
        balance: done.balance,
        resumed_campaigns: done.resumed,
    }))
}
