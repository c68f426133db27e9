//! CSV imports into a contact list or straight into a campaign: the upload
//! (raw body or multipart), the job it becomes, its progress, its validation
//! report (JSON or CSV) and cancelling it.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiQuery;
use super::paging::{self, Page, PageQuery};
use super::upload::{Spooled, spool};
use crate::domain::phone::Region;
use crate::engine::import_reader::{self, FileError};
use crate::store::{Id, ImportJob, NewImportJob, RejectedRow, StoreError};

/// Peers refuse file names of 127 characters or more.
const MAX_FILENAME_CHARS: usize = 126;
/// How long `?wait=true` holds the request before answering with progress.
const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Validate and report without writing any contact.
    #[serde(default)]
    pub dry_run: bool,
    /// ISO country (e.g. `US`) for numbers written without a country code;
    /// defaults to the tenant's.
    pub default_region: Option<String>,
    /// `update` (default) an existing contact with the file's values, or
    /// `skip` it (reported as a duplicate of an existing contact).
    pub existing: Option<String>,
    /// Column mapping as a JSON object, header -> role (`phone`, `email`,
    /// `first_name`, `last_name`, `name`, `timezone`, `ignore`, or a custom
    /// field name). Unmapped columns are detected from their header.
    pub mapping: Option<String>,
    /// Answer when the import has finished (up to 10 minutes) instead of at once.
    #[serde(default)]
    pub wait: bool,
    /// The file's name, for a raw-body upload.
    pub filename: Option<String>,
}

/// Where an import goes.
struct Target {
    list_id: Id,
    campaign_id: Option<Id>,
}

#[utoipa::path(post, path = "/v1/lists/{id}/imports", tag = "imports", params(ImportParams),
    request_body(content = String, content_type = "text/csv",
        description = "The CSV file (UTF-8, header row), raw or as the `file` part of multipart/form-data"),
    responses((status = 202, body = ImportJob), (status = 200, body = ImportJob, description = "with wait=true"),
        (status = 413, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn into_list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(list): Path<Id>,
    ApiQuery(params): ApiQuery<ImportParams>,
    request: Request,
) -> ApiResult<Response> {
    state.store.list(tenant.id, list).await?;
    let target = Target {
        list_id: list,
        campaign_id: None,
    };
    start(state, tenant, target, params, request).await
}

#[utoipa::path(post, path = "/v1/campaigns/{id}/imports", tag = "imports", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportJob), (status = 409, body = super::error::ErrorBody),
        (status = 413, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn into_campaign(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(campaign): Path<Id>,
    ApiQuery(params): ApiQuery<ImportParams>,
    request: Request,
) -> ApiResult<Response> {
    let c = state.store.campaign(tenant.id, campaign).await?;
    c.check_takes_contacts().map_err(ApiError::Conflict)?;
    let target = Target {
        list_id: c.list_id,
        campaign_id: Some(c.id),
    };
    start(state, tenant, target, params, request).await
}

async fn start(
    state: AppState,
    tenant: crate::store::Tenant,
    target: Target,
    params: ImportParams,
    request: Request,
) -> ApiResult<Response> {
    let mut options = ImportOptions::new(
        &tenant,
        params.dry_run,
        params.default_region.as_deref(),
        params.existing.as_deref(),
        parse_mapping(params.mapping.as_deref())?,
    )?;
    let (spooled, filename) =
        receive(&state, request, &mut options.mapping, params.filename).await?;
    let job = queue(
        &state,
        tenant.id,
        target.list_id,
        target.campaign_id,
        options,
        spooled,
        filename,
    )
    .await?;
    if params.wait {
        let job = state.importer.wait(tenant.id, job.id, MAX_WAIT).await?;
        if let Some(campaign) = target.campaign_id {
            state.engine.wake();
            tracing::debug!(campaign, "new members may be due");
        }
        return Ok((StatusCode::OK, Json(job)).into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/v1/imports/{}", job.id))],
        Json(job),
    )
        .into_response())
}

/// How an import reads its file (the API's parameters, the console's form).
pub(crate) struct ImportOptions {
    pub dry_run: bool,
    pub existing: String,
    pub default_region: Option<String>,
    /// Header -> role; columns not named are detected from their header.
    pub mapping: BTreeMap<String, String>,
}

impl ImportOptions {
    /// Checks the region (default: the tenant's) and the choice for rows
    /// matching an existing contact (default `update`).
    pub(crate) fn new(
        tenant: &crate::store::Tenant,
        dry_run: bool,
        default_region: Option<&str>,
        existing: Option<&str>,
        mapping: BTreeMap<String, String>,
    ) -> ApiResult<Self> {
        let default_region = default_region
            .map(str::to_owned)
            .or(tenant.default_region.clone())
            .map(|r| Region::parse(&r).map(|_| r.trim().to_ascii_uppercase()))
            .transpose()
            .map_err(|why| ApiError::invalid("default_region", why))?;
        let existing = match existing.unwrap_or("update") {
            e @ ("update" | "skip") => e.to_owned(),
            other => {
                return Err(ApiError::invalid(
                    "existing",
                    format!("{other:?}: use \"update\" or \"skip\""),
                ));
            }
        };
        Ok(Self {
            dry_run,
            existing,
            default_region,
            mapping,
        })
    }
}

/// Checks a spooled file under the options' mapping (refused: the file is
/// removed, the error names `mapping` or `file`), then records the import
/// job and starts it. Shared by the API and the console.
pub(crate) async fn queue(
    state: &AppState,
    tenant: Id,
    list_id: Id,
    campaign_id: Option<Id>,
    options: ImportOptions,
    spooled: Spooled,
    filename: Option<String>,
) -> ApiResult<ImportJob> {
    let path = spooled.path.clone();
    let overrides = options.mapping.clone();
    let shape =
        tokio::task::spawn_blocking(move || import_reader::inspect(&path, &overrides)).await;
    let refused = match shape {
        Ok(Ok(_)) => None,
        Ok(Err(FileError::Io(e))) => Some(ApiError::Internal(format!("reading the upload: {e}"))),
        Ok(Err(e)) => Some(ApiError::invalid(
            if matches!(e, FileError::Mapping(_)) && !options.mapping.is_empty() {
                "mapping"
            } else {
                "file"
            },
            e.to_string(),
        )),
        Err(e) => Some(ApiError::Internal(format!("inspecting the upload: {e}"))),
    };
    if let Some(error) = refused {
        let _ = tokio::fs::remove_file(&spooled.path).await;
        return Err(error);
    }
    let job = state
        .store
        .create_import_job(
            tenant,
            NewImportJob {
                list_id,
                campaign_id,
                dry_run: options.dry_run,
                existing: options.existing,
                default_region: options.default_region,
                mapping: options.mapping,
                filename,
                spool_path: spooled.path.display().to_string(),
                bytes_total: spooled.bytes as i64,
            },
        )
        .await?;
    tracing::info!(
        tenant,
        job = job.id,
        list = list_id,
        bytes = spooled.bytes,
        dry_run = job.dry_run,
        "import queued"
    );
    state.importer.spawn(job.id);
    Ok(job)
}

/// A file's header row and its first data row (empty when it has none),
/// for showing the column mapping before an import.
pub(crate) fn file_preview(path: &std::path::Path) -> ApiResult<(Vec<String>, Vec<String>)> {
    let file = std::fs::File::open(path)
        .map_err(|e| ApiError::Internal(format!("reading the upload: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::invalid("file", format!("the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(ApiError::invalid("file", FileError::Empty.to_string()));
    }
    let mut first = csv::StringRecord::new();
    let example = match reader.read_record(&mut first) {
        Ok(true) => first.iter().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    Ok((headers, example))
}

fn parse_mapping(raw: Option<&str>) -> ApiResult<BTreeMap<String, String>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| {
            ApiError::invalid(
                "mapping",
                format!("must be a JSON object of column -> role: {e}"),
            )
        }),
    }
}

fn check_filename(name: &str) -> ApiResult<()> {
    if name.chars().count() > MAX_FILENAME_CHARS {
        return Err(ApiError::invalid(
            "file",
            format!(
                "the file name must be shorter than {} characters",
                MAX_FILENAME_CHARS + 1
            ),
        ));
    }
    if name.contains(['/', '\\', '\0']) {
        return Err(ApiError::invalid(
            "file",
            "the file name must not contain a path",
        ));
    }
    Ok(())
}

/// Spools a multipart form's file part to the import spool (its name
/// checked, its size limited, its text checked as UTF-8).
pub(crate) async fn spool_part(
    state: &AppState,
    field: axum::extract::multipart::Field<'_>,
) -> ApiResult<(Spooled, Option<String>)> {
    let name = field.file_name().map(str::to_owned);
    if let Some(n) = &name {
        check_filename(n)?;
    }
    let spooled = spool(
        state.importer.spool_dir(),
        field,
        state.max_import_bytes,
        "file",
    )
    .await?;
    Ok((spooled, name))
}

/// Spools the upload: the `file` part of a multipart form (whose `mapping`
/// part, if any, adds to `mapping`), or the raw body.
async fn receive(
    state: &AppState,
    request: Request,
    mapping: &mut BTreeMap<String, String>,
    filename: Option<String>,
) -> ApiResult<(Spooled, Option<String>)> {
    let dir = state.importer.spool_dir().to_owned();
    let limit = state.max_import_bytes;
    if let Some(length) = super::upload::declared_length(request.headers())
        && length > limit + (64 << 10)
    {
        super::upload::drain(request.into_body().into_data_stream()).await;
        return Err(ApiError::TooLarge {
            field: "file",
            message: format!(
                "the upload is {} MB; the limit is {} MB",
                length >> 20,
                limit >> 20
            ),
        });
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if !multipart {
        if let Some(name) = &filename {
            check_filename(name)?;
        }
        let body = request.into_body().into_data_stream();
        return Ok((spool(&dir, body, limit, "file").await?, filename));
    }
    let mut form =
        Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest {
                field: None,
                message: format!("not a valid multipart form: {e}"),
            })?;
    let mut spooled = None;
    let multipart_error = |e: axum::extract::multipart::MultipartError| ApiError::BadRequest {
        field: None,
        message: format!("reading the multipart form: {e}"),
    };
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                if spooled.is_some() {
                    return Err(ApiError::invalid("file", "send one file per import"));
                }
                spooled = Some(spool_part(state, field).await?);
            }
            Some("mapping") => {
                let text = field.text().await.map_err(multipart_error)?;
                mapping.extend(parse_mapping(Some(&text))?);
            }
            _ => {}
        }
    }
    spooled.ok_or_else(|| ApiError::invalid("file", "the form has no `file` part"))
}

#[utoipa::path(get, path = "/v1/imports", tag = "imports", params(PageQuery),
    responses((status = 200, body = Page<ImportJob>)), security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ImportJob>>> {
    // Newest first: the cursor is the last id shown, the next page older.
    let before = paging::id_cursor(page.cursor.as_deref())?;
    let limit = paging::limit(page.limit, 100, 1000);
    let jobs = state
        .store
        .import_jobs(tenant.id, before, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(jobs, limit, |j| j.id.to_string())))
}

#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports",
    responses((status = 200, body = ImportJob), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<ImportJob>> {
    Ok(Json(state.store.import_job(tenant.id, id).await?))
}

#[utoipa::path(post, path = "/v1/imports/{id}/cancel", tag = "imports",
    responses((status = 200, body = ImportJob), (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<ImportJob>> {
    let job = state.store.cancel_import_job(tenant.id, id).await?;
    tracing::info!(
        tenant = tenant.id,
        job = id,
        rows = job.counts.total,
        "import cancelled"
    );
    Ok(Json(job))
}

/// An import's rejected rows in file order (default 100 a page, at most
/// 1000).
#[utoipa::path(get, path = "/v1/imports/{id}/rejections", tag = "imports",
    params(("id" = i64, Path, description = "Import job id"), PageQuery),
    responses((status = 200, body = Page<RejectedRow>)), security(("api_key" = [])))]
pub async fn rejections(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<RejectedRow>>> {
    state.store.import_job(tenant.id, id).await?;
    let limit = paging::limit(page.limit, 100, 1000);
    let after = paging::id_cursor(page.cursor.as_deref())?.unwrap_or(0);
    let rows = state
        .store
        .import_rejections(tenant.id, id, after, limit + 1)
        .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.row.to_string())))
}

#[utoipa::path(get, path = "/v1/imports/{id}/rejections.csv", tag = "imports",
    responses((status = 200, content_type = "text/csv", body = String)), security(("api_key" = [])))]
pub async fn rejections_csv(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Response> {
    state.store.import_job(tenant.id, id).await?;
    Ok(rejections_csv_response(&state, tenant.id, id))
}

/// An import's rejected rows as a CSV download (the job already checked to
/// be the tenant's). Shared by the API and the console.
pub(crate) fn rejections_csv_response(state: &AppState, tenant: Id, id: Id) -> Response {
    let store = state.store.clone();
    let pages = super::exports::paged_csv(
        vec!["row", "reason", "message", "phone", "email"],
        0,
        move |after| {
            let store = store.clone();
            async move {
                let rows = store.import_rejections(tenant, id, after, 1000).await?;
                let next = rows.last().map(|r| r.row);
                let records = rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.row.to_string(),
                            r.reason,
                            r.message,
                            r.phone.unwrap_or_default(),
                            r.email.unwrap_or_default(),
                        ]
                    })
                    .collect();
                Ok::<_, StoreError>((records, next))
            }
        },
    );
    super::exports::csv_response(
        &format!("import-{id}-rejections.csv"),
        Body::from_stream(pages),
    )
}
