//! Credits: a tenant reads its balance and ledger; an admin tops it up.
//! A tenant nobody has topped up is unlimited (`metered: false`).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::{AdminAuth, TenantAuth};
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{self, Page, PageQuery};
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

/// The tenant's credit ledger, newest first (default 100 a page, at most
/// 1000).
#[utoipa::path(get, path = "/v1/credits/ledger", tag = "credits", params(PageQuery),
    responses((status = 200, body = Page<LedgerEntry>)), security(("api_key" = [])))]
pub async fn ledger(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<LedgerEntry>>> {
    let limit = paging::limit(page.limit, 100, 1000);
    let before = paging::id_cursor(page.cursor.as_deref())?;
    let entries = state
        .store
        .credit_ledger(tenant.id, before, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(entries, limit, |e| e.id.to_string())))
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
    // `unsigned_abs`: `i64::MIN.abs()` overflows (a panic in a debug build).
    if req.amount == 0 || req.amount.unsigned_abs() > MAX_ADJUSTMENT as u64 {
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
