//! An import job's page: its progress while it runs (the page reloads
//! itself every second), then its report: the rows accepted and exactly
//! the rows rejected (row number, value, reason). A dry run's report offers
//! the commit, which runs the same import for real on the kept upload.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};

use super::super::campaigns::local;
use super::super::forms::problem;
use super::super::layout::page;
use super::super::session::{CsrfOnly, Signed};
use super::count;
use super::import::{kept_path, token_of};
use crate::api::AppState;
use crate::api::imports::{ImportOptions, queue};
use crate::api::upload::Spooled;
use crate::store::{Id, ImportJob, ImportStatus, RejectedRow, StoreError, Tenant};

/// Rejected rows listed on the page; the CSV download has them all.
const REPORT_ROWS: i64 = 500;

async fn owned_job(state: &AppState, signed: &Signed, id: Id) -> Result<ImportJob, Response> {
    let tenant = signed.tenant_page().map_err(|r| *r)?;
    match state.store.import_job(tenant.id, id).await {
        Ok(job) => Ok(job),
        Err(StoreError::NotFound) => Err(super::super::not_found(signed)),
        Err(e) => Err(crate::api::ApiError::from(e).into_response()),
    }
}

pub async fn show(State(state): State<AppState>, signed: Signed, Path(id): Path<Id>) -> Response {
    let job = match owned_job(&state, &signed, id).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let tenant = signed.tenant().expect("a tenant's job");
    let loaded = async {
        let list = state.store.list(tenant.id, job.list_id).await?;
        let rows = if job.status.is_final() {
            state
                .store
                .import_rejections(tenant.id, job.id, 0, REPORT_ROWS + 1)
                .await?
        } else {
            Vec::new()
        };
        Ok::<_, StoreError>((list, rows))
    };
    let (list, mut rows) = match loaded.await {
        Ok(l) => l,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let more = rows.len() as i64 > REPORT_ROWS;
    rows.truncate(REPORT_ROWS as usize);
    let title = if job.dry_run {
        "Check of the file"
    } else {
        "Import"
    };
    let body = html! {
        p { a href={ "/audience/lists/" (list.id) } { "← " (list.name) } }
        h1 { (title) " · " (job.filename.clone().unwrap_or_default()) }
        ol.steps aria-label="Steps" {
            li { "Upload" } li { "Map columns" }
            li aria-current=[job.dry_run.then_some("step")] { "Check" }
            li aria-current=[(!job.dry_run).then_some("step")] { "Import" }
        }
        @match job.status {
            ImportStatus::Queued | ImportStatus::Running => { (running(&job)) }
            ImportStatus::Failed => {
                div.notice.notice-error #import-status role="alert" data-status="failed" {
                    "The import failed: " (job.error.clone().unwrap_or_default())
                }
            }
            ImportStatus::Cancelled => {
                div.notice #import-status data-status="cancelled" { "The import was cancelled." }
            }
            ImportStatus::Completed => { (report(&state, &signed, tenant, &job, &rows, more)) }
        }
    };
    Html(page(title, &signed, body).into_string()).into_response()
}

/// Rows read so far, and a reload a second later.
fn running(job: &ImportJob) -> Markup {
    let percent = if job.bytes_total > 0 {
        (job.bytes_done as f64 * 100.0 / job.bytes_total as f64).clamp(0.0, 100.0)
    } else {
        0.0
    };
    html! {
        div.card #import-status data-status="running" aria-live="polite" {
            p { strong { @if job.dry_run { "Checking the file…" } @else { "Importing…" } } }
            div role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=(format!("{percent:.0}")) {
                div.bar.wide { span style=(format!("width:{percent:.1}%")) {} }
            }
            p.muted { (count(job.counts.total, "row", "rows")) " read · " (format!("{percent:.0}")) "% of the file" }
            noscript { a href="" { "Refresh" } }
        }
        script { (PreEscaped("setTimeout(function () { location.reload(); }, 1000);")) }
    }
}

fn report(
    state: &AppState,
    signed: &Signed,
    tenant: &Tenant,
    job: &ImportJob,
    rows: &[RejectedRow],
    more: bool,
) -> Markup {
    let c = &job.counts;
    let accepted = c.imported + c.updated + c.unchanged;
    let rejected = c.rejected + c.duplicates;
    let token = token_of(job);
    let kept = token
        .as_deref()
        .is_some_and(|t| kept_path(state, tenant.id, t).exists());
    html! {
        div.summary #import-status data-status="completed" {
            div.stat { span.figure #accepted { (accepted) } span { @if job.dry_run { "rows will be imported" } @else { "rows imported" } } }
            div.stat { span.figure #rejected { (rejected) } span { "rows rejected" } }
        }
        p.muted #breakdown {
            (c.imported) " new · " (c.updated) " updated · " (c.unchanged) " unchanged · "
            (count(c.rejected, "invalid row", "invalid rows")) " · " (count(c.duplicates, "duplicate", "duplicates"))
            @if let Some(done) = job.finished_at { " · finished " (local(done, tenant)) }
        }
        @if job.dry_run {
            @if kept && accepted > 0 {
                form.card #commit-form method="post" action={ "/audience/imports/" (job.id) "/commit" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    p { "Nothing has been written yet. The rejected rows below are left out; import the rest?" }
                    div.actions {
                        button type="submit" { "Import " (count(accepted, "contact", "contacts")) }
                        @if let Some(t) = &token { a href={ "/audience/lists/" (job.list_id) "/import/" (t) } { "Change the mapping" } }
                    }
                }
            } @else if accepted == 0 {
                div.notice.notice-error role="alert" { "No row can be imported. Fix the file and "
                    a href={ "/audience/lists/" (job.list_id) "/import" } { "upload it again" } "." }
            } @else {
                div.notice { "This upload was imported already or has expired. "
                    a href={ "/audience/lists/" (job.list_id) "/import" } { "Upload it again" } " to import it." }
            }
        } @else {
            p { a.button href={ "/audience/lists/" (job.list_id) } { "Open the list" } }
        }
        h2 { "Rejected rows" }
        @if rows.is_empty() {
            div.empty { p { "Every row is valid." } }
        } @else {
            p {
                a href={ "/audience/imports/" (job.id) "/rejections.csv" } download { "Download the rejected rows (CSV)" }
                @if more { " · the first " (REPORT_ROWS) " are shown" }
            }
            table #rejections {
                thead { tr { th scope="col" { "Row" } th scope="col" { "Value" } th scope="col" { "Reason" } } }
                tbody {
                    @for r in rows {
                        tr data-row=(r.row) data-reason=(r.reason) {
                            td.row { (r.row) }
                            td.value { @match r.phone.clone().or(r.email.clone()) { Some(v) => { (v) } None => { span.muted { "(empty)" } } } }
                            td.reason { (r.message) }
                        }
                    }
                }
            }
        }
    }
}

/// Imports for real what a finished dry run checked, from the kept upload.
pub async fn commit(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if !signed.csrf_ok(&f.csrf) {
        return super::super::forbidden();
    }
    let dry = match owned_job(&state, &signed, id).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    let tenant = signed.tenant().cloned().expect("a tenant's job");
    let conflict = |why: &str| {
        let body = html! {
            h1 { "Not imported" }
            div.notice.notice-error role="alert" { (why) }
            p { a href={ "/audience/lists/" (dry.list_id) "/import" } { "Upload the file again" } }
        };
        (
            StatusCode::CONFLICT,
            Html(page("Not imported", &signed, body).into_string()),
        )
            .into_response()
    };
    if !dry.dry_run || dry.status != ImportStatus::Completed {
        return conflict("Only a finished check can be imported.");
    }
    let Some(token) = token_of(&dry) else {
        return conflict("This check was not made from the console's upload.");
    };
    // Renamed first: a second click finds nothing to import twice.
    let kept = kept_path(&state, tenant.id, &token);
    let taken = kept.with_extension("commit.csv");
    if tokio::fs::rename(&kept, &taken).await.is_err() {
        return conflict("This upload was imported already or has expired.");
    }
    let _ = tokio::fs::remove_file(kept.with_extension("name")).await;
    let bytes = tokio::fs::metadata(&taken)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let options = ImportOptions::new(
        &tenant,
        false,
        dry.default_region.as_deref(),
        Some(&dry.existing),
        dry.mapping.clone(),
    );
    let queued = match options {
        Ok(options) => {
            let spooled = Spooled { path: taken, bytes };
            queue(
                &state,
                tenant.id,
                dry.list_id,
                None,
                options,
                spooled,
                dry.filename.clone(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match queued {
        Ok(job) => {
            tracing::info!(
                tenant = tenant.id,
                check = id,
                job = job.id,
                "console: import committed"
            );
            Redirect::to(&format!("/audience/imports/{}", job.id)).into_response()
        }
        Err(e) => match problem(e) {
            Ok(p) => conflict(&p.message),
            Err(e) => e.into_response(),
        },
    }
}

pub async fn rejections_csv(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
) -> Response {
    match owned_job(&state, &signed, id).await {
        Ok(job) => crate::api::imports::rejections_csv_response(&state, job.tenant_id, job.id),
        Err(r) => r,
    }
}
