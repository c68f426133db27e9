//! The tenant's do-not-contact list: list, add, remove, import a CSV.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{self, Page, PageQuery};
use crate::domain::import::{ColumnRole, looks_like_email};
use crate::domain::phone::{E164, Region};
use crate::store::{DncEntry, Id};

/// Addresses accepted in one JSON request.
const MAX_PER_REQUEST: usize = 10_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDnc {
    /// E.164 phone numbers or email addresses.
    pub addresses: Vec<String>,
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DncAdded {
    /// Addresses newly listed (already listed ones are not counted).
    pub added: u64,
}

/// An E.164 number or a lowercased email, or why not.
fn normalise(raw: &str, region: Option<Region>) -> Result<String, String> {
    let raw = raw.trim();
    if raw.contains('@') {
        let email = raw.to_lowercase();
        return if looks_like_email(&email) {
            Ok(email)
        } else {
            Err(format!("{raw:?} is not an email address"))
        };
    }
    E164::normalize(raw, region)
        .map(|p| p.to_string())
        .map_err(|e| format!("{raw:?} {e}"))
}

#[utoipa::path(post, path = "/v1/dnc", tag = "dnc", request_body = AddDnc,
    responses((status = 200, body = DncAdded), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn add(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(req): ApiJson<AddDnc>,
) -> ApiResult<Json<DncAdded>> {
    let added = add_addresses(&state, tenant.id, req).await?;
    Ok(Json(DncAdded { added }))
}

/// Checks and lists addresses (each an E.164 number or an email); answers
/// how many were new. Shared by the API and the console.
pub(crate) async fn add_addresses(state: &AppState, tenant: Id, req: AddDnc) -> ApiResult<u64> {
    if req.addresses.is_empty() || req.addresses.len() > MAX_PER_REQUEST {
        return Err(ApiError::invalid(
            "addresses",
            format!("give 1 to {MAX_PER_REQUEST} addresses"),
        ));
    }
    let addresses = req
        .addresses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            normalise(a, None).map_err(|why| ApiError::invalid(&format!("addresses[{i}]"), why))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let added = state
        .store
        .add_dnc(tenant, &addresses, "api", req.note.as_deref())
        .await?;
    tracing::info!(tenant, added, "do-not-contact entries added");
    Ok(added)
}

/// The do-not-contact list by address (default 100 a page, at most 1000).
#[utoipa::path(get, path = "/v1/dnc", tag = "dnc", params(PageQuery),
    responses((status = 200, body = Page<DncEntry>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<DncEntry>>> {
    let limit = paging::limit(page.limit, 100, 1000);
    // The cursor is the last address shown.
    let after = page.cursor.unwrap_or_default();
    let entries = state.store.dnc_page(tenant.id, &after, limit + 1).await?;
    Ok(Json(Page::from_rows(entries, limit, |e| e.address.clone())))
}

#[utoipa::path(delete, path = "/v1/dnc/{address}", tag = "dnc",
    responses((status = 204), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(address): Path<String>,
) -> ApiResult<StatusCode> {
    remove_address(&state, tenant.id, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes an address off the list (404: it is not on it). Shared by the API
/// and the console.
pub(crate) async fn remove_address(state: &AppState, tenant: Id, address: &str) -> ApiResult<()> {
    let address = normalise(address, None).map_err(|why| ApiError::invalid("address", why))?;
    state.store.remove_dnc(tenant, &address).await?;
    tracing::info!(tenant, "do-not-contact entry removed");
    Ok(())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DncImportParams {
    /// ISO country for numbers written without a country code.
    pub default_region: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DncImported {
    pub added: u64,
    /// Rows that held no usable address: (row number, reason).
    pub rejected: Vec<(u64, String)>,
}

/// A CSV with a header row and a phone and/or email column (detected as in
/// contact imports); every address in them is listed.
#[utoipa::path(post, path = "/v1/dnc/import", tag = "dnc", params(DncImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = DncImported), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn import(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(params): ApiQuery<DncImportParams>,
    body: Bytes,
) -> ApiResult<Json<DncImported>> {
    Ok(Json(
        import_csv(&state, &tenant, params.default_region, &body).await?,
    ))
}

/// Lists every address of a CSV file's phone and email columns; reports
/// the rows without a usable one. Shared by the API and the console.
pub(crate) async fn import_csv(
    state: &AppState,
    tenant: &crate::store::Tenant,
    default_region: Option<String>,
    body: &[u8],
) -> ApiResult<DncImported> {
    let region = default_region
        .or(tenant.default_region.clone())
        .map(|r| Region::parse(&r))
        .transpose()
        .map_err(|why| ApiError::invalid("default_region", why))?;
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ApiError::invalid(
            "file",
            format!("the file is not UTF-8: decoding failed on line {line}"),
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ApiError::invalid("file", e.to_string()))?
        .clone();
    let columns: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(ColumnRole::detect(h), ColumnRole::Phone | ColumnRole::Email))
        .map(|(i, _)| i)
        .collect();
    if columns.is_empty() {
        return Err(ApiError::invalid(
            "file",
            "no phone or email column in the header row",
        ));
    }
    let mut addresses = Vec::new();
    let mut rejected = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i as u64 + 2;
        let record = record.map_err(|e| ApiError::invalid("file", format!("row {row}: {e}")))?;
        let cells: Vec<&str> = columns
            .iter()
            .filter_map(|&c| record.get(c))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if cells.is_empty() {
            rejected.push((row, "no phone or email".to_owned()));
        }
        for cell in cells {
            match normalise(cell, region) {
                Ok(a) => addresses.push(a),
                Err(why) => rejected.push((row, why)),
            }
        }
    }
    let added = state
        .store
        .add_dnc(tenant.id, &addresses, "import", None)
        .await?;
    tracing::info!(
        tenant = tenant.id,
        added,
        rejected = rejected.len(),
        "do-not-contact list imported"
    );
    Ok(DncImported { added, rejected })
}
