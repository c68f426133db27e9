//! A CSV upload onto a list, in the order people need it: the file
//! streams to the import spool (the API's spooling), its columns are shown
//! with the role detected for each (changeable), a dry run (the API's
//! import job with `dry_run`) lists every rejected row before anything is
//! written, and committing runs the same import for real, its progress
//! refreshing until the result.
//!
//! Between these steps the upload waits in the spool as
//! `console-{tenant}-{token}.csv`. The dry run reads a hard link to it (the
//! importer removes the file a job read), named after the token, so the
//! commit finds the kept file from the dry-run job alone; committing
//! renames it first, so a second click cannot import it twice.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

use super::super::forms::{Problem, banner, csrf_of, described, field_error, problem, value};
use super::super::layout::page;
use super::super::session::Signed;
use crate::api::AppState;
use crate::api::imports::{ImportOptions, file_preview, queue};
use crate::api::upload::Spooled;
use crate::domain::import::{ColumnRole, custom_field_name};
use crate::store::{Id, ImportJob, StoreError};

/// An upload left without a commit this long is swept from the spool.
const ABANDONED_SECS: u64 = 24 * 3600;

/// The roles a column can take, as the mapping's select offers them.
const ROLES: [(&str, &str); 8] = [
    ("phone", "Phone"),
    ("email", "Email"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("name", "Full name"),
    ("timezone", "Timezone"),
    ("custom", "Custom field"),
    ("ignore", "Ignore"),
];

pub(super) fn kept_path(state: &AppState, tenant: Id, token: &str) -> PathBuf {
    state
        .importer
        .spool_dir()
        .join(format!("console-{tenant}-{token}.csv"))
}

/// A token as the upload made it: 32 hex digits, nothing that walks paths.
fn valid_token(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The upload token a dry-run job's file was linked from.
pub(super) fn token_of(job: &ImportJob) -> Option<String> {
    let name = FsPath::new(&job.spool_path).file_name()?.to_str()?;
    let rest = name.strip_prefix(&format!("console-{}-", job.tenant_id))?;
    let (token, _) = rest.split_once(".check-")?;
    valid_token(token).then(|| token.to_owned())
}

async fn owned_list(state: &AppState, signed: &Signed, id: Id) -> Result<Id, Response> {
    let tenant = signed.tenant_page().map_err(|r| *r)?;
    match state.store.list(tenant.id, id).await {
        Ok(_) => Ok(tenant.id),
        Err(StoreError::NotFound) => Err(super::super::not_found(signed)),
        Err(e) => Err(crate::api::ApiError::from(e).into_response()),
    }
}

pub async fn form(State(state): State<AppState>, signed: Signed, Path(list): Path<Id>) -> Response {
    if let Err(r) = owned_list(&state, &signed, list).await {
        return r;
    }
    upload_page(&state, &signed, list, None).await
}

async fn upload_page(
    state: &AppState,
    signed: &Signed,
    list: Id,
    problem: Option<&Problem>,
) -> Response {
    let name = match signed.tenant() {
        Some(t) => state
            .store
            .list(t.id, list)
            .await
            .map(|l| l.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let body = html! {
        p { a href={ "/audience/lists/" (list) } { "← " (name) } }
        h1 { "Upload a CSV into " (name) }
        ol.steps aria-label="Steps" {
            li aria-current="step" { "Upload" } li { "Map columns" } li { "Check" } li { "Import" }
        }
        form.card.stack #upload-form method="post" action={ "/audience/lists/" (list) "/import" } enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(signed.csrf);
            label for="file" { "CSV file" }
            input #file type="file" name="file" accept=".csv,text/csv" required
                aria-describedby=[described(problem, "file")];
            (field_error(problem, "file"))
            (banner(problem, &["file"]))
            p.muted { "UTF-8, a header row, one contact a row with a phone or an email column. \
                Up to " ((state.max_import_bytes >> 20)) " MB. Nothing is imported until you have seen the check." }
            p { button type="submit" { "Upload and map columns" } }
        }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (
        status,
        Html(page("Upload a CSV", signed, body).into_string()),
    )
        .into_response()
}

/// Receives the form: its CSRF token first (the browser sends the fields
/// in order), then the file, spooled as the API spools it.
pub async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    Path(list): Path<Id>,
    mut form: Multipart,
) -> Response {
    let mut csrf_ok = false;
    let mut spooled = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let p = Problem::field("file", format!("the upload was interrupted: {e}"));
                return upload_page(&state, &signed, list, Some(&p)).await;
            }
        };
        match field.name() {
            Some("csrf") => csrf_ok = signed.csrf_ok(&field.text().await.unwrap_or_default()),
            Some("file") if csrf_ok && spooled.is_none() => {
                let tenant = match owned_list(&state, &signed, list).await {
                    Ok(t) => t,
                    Err(r) => return r,
                };
                match crate::api::imports::spool_part(&state, field).await {
                    Ok((file, name)) => spooled = Some((tenant, file, name)),
                    Err(e) => {
                        return match problem(e) {
                            Ok(p) => upload_page(&state, &signed, list, Some(&p)).await,
                            Err(e) => e.into_response(),
                        };
                    }
                }
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return super::super::forbidden();
    }
    let Some((tenant, file, name)) = spooled else {
        let p = Problem::field("file", "choose a CSV file to upload");
        return upload_page(&state, &signed, list, Some(&p)).await;
    };
    sweep_abandoned(state.importer.spool_dir()).await;
    let token = hex::encode(rand::random::<[u8; 16]>());
    let kept = kept_path(&state, tenant, &token);
    if let Err(e) = tokio::fs::rename(&file.path, &kept).await {
        let _ = tokio::fs::remove_file(&file.path).await;
        return crate::api::upload::io_error(e).into_response();
    }
    // The file's own name, for the report (already checked: no path in it).
    if let Some(name) = name {
        let _ = tokio::fs::write(kept.with_extension("name"), name).await;
    }
    Redirect::to(&format!("/audience/lists/{list}/import/{token}")).into_response()
}

/// Removes uploads nobody committed within a day (kept files only: a job's
/// own file is removed by the importer).
async fn sweep_abandoned(dir: &FsPath) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kept = name.starts_with("console-") && name.matches('.').count() == 1;
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > ABANDONED_SECS);
        if kept && old {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// The mapping form's values: each column's role (and custom name), how
/// existing contacts are treated, the country for national numbers.
struct Choices {
    roles: Vec<(String, String)>,
    existing: String,
    region: String,
}

pub async fn mapping(
    State(state): State<AppState>,
    signed: Signed,
    Path((list, token)): Path<(Id, String)>,
) -> Response {
    mapping_page(&state, &signed, list, &token, None, None).await
}

async fn mapping_page(
    state: &AppState,
    signed: &Signed,
    list: Id,
    token: &str,
    chosen: Option<&Choices>,
    problem: Option<&Problem>,
) -> Response {
    let tenant = match owned_list(state, signed, list).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let path = kept_path(state, tenant, token);
    if !valid_token(token) || !path.exists() {
        return gone(signed, list);
    }
    let preview = tokio::task::spawn_blocking(move || file_preview(&path)).await;
    let (headers, example) = match preview {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return match super::super::forms::problem(e) {
                Ok(p) => upload_page(state, signed, list, Some(&p)).await,
                Err(e) => e.into_response(),
            };
        }
        Err(e) => return crate::api::ApiError::Internal(e.to_string()).into_response(),
    };
    let detected: Vec<(String, String)> = headers.iter().map(|h| detect(h)).collect();
    let roles = chosen.map_or(&detected, |c| &c.roles);
    let region_hint = signed
        .tenant()
        .and_then(|t| t.default_region.clone())
        .unwrap_or_default();
    let body = html! {
        p { a href={ "/audience/lists/" (list) } { "← Back to the list" } }
        h1 { "Map the columns" }
        ol.steps aria-label="Steps" {
            li { "Upload" } li aria-current="step" { "Map columns" } li { "Check" } li { "Import" }
        }
        (banner(problem, &["existing", "default_region"]))
        form.card #mapping-form method="post" action={ "/audience/lists/" (list) "/import/" (token) } {
            input type="hidden" name="csrf" value=(signed.csrf);
            p.muted { "Herald guessed each column's meaning from its header. Change any that are wrong; a custom field can be used as {{name}} in messages." }
            table #mapping {
                thead { tr { th scope="col" { "Column" } th.hide-narrow scope="col" { "First row" } th scope="col" { "Becomes" } } }
                tbody {
                    @for (i, header) in headers.iter().enumerate() {
                        @let (role, field) = roles.get(i).cloned().unwrap_or_else(|| detect(header));
                        tr {
                            th scope="row" { (header) }
                            td.hide-narrow.muted { (example.get(i).cloned().unwrap_or_default()) }
                            td {
                                label.visually-hidden for={ "role-" (i) } { "Role of " (header) }
                                select id={ "role-" (i) } name={ "role_" (i) } {
                                    @for (value, label) in ROLES { option value=(value) selected[role == value] { (label) } }
                                }
                                " "
                                label.visually-hidden for={ "field-" (i) } { "Custom field name for " (header) }
                                input.field-name id={ "field-" (i) } type="text" name={ "field_" (i) } value=(field) size="16";
                            }
                        }
                    }
                }
            }
            div.form-row {
                label for="existing" { "Contacts already in your audience" }
                select #existing name="existing" aria-describedby=[described(problem, "existing")] {
                    @let existing = chosen.map_or("update", |c| c.existing.as_str());
                    option value="update" selected[existing == "update"] { "Update them with the file's values" }
                    option value="skip" selected[existing == "skip"] { "Leave them as they are (reported as duplicates)" }
                }
                (field_error(problem, "existing"))
            }
            div.form-row {
                label for="default_region" { "Country for numbers without a country code" }
                input #default_region type="text" name="default_region" size="4" maxlength="2"
                    value=(chosen.map_or(region_hint.clone(), |c| c.region.clone())) placeholder="US"
                    aria-describedby=[described(problem, "default_region")];
                (field_error(problem, "default_region"))
            }
            p { button type="submit" { "Check the file" } " " span.muted { "(nothing is imported yet)" } }
        }
        // The name box only matters for a custom field: shown for those
        // (all stay visible without script).
        script { (maud::PreEscaped(r#"
document.querySelectorAll('#mapping select[name^=role_]').forEach(function (s) {
  var name = document.getElementById('field-' + s.name.slice(5));
  function sync() { name.hidden = s.value !== 'custom'; }
  s.addEventListener('change', sync);
  sync();
});
"#)) }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (
        status,
        Html(page("Map the columns", signed, body).into_string()),
    )
        .into_response()
}

/// A column's detected role as the form shows it: the role's value, and
/// the custom field name it would take.
fn detect(header: &str) -> (String, String) {
    let role = match ColumnRole::detect(header) {
        ColumnRole::Phone => "phone",
        ColumnRole::Email => "email",
        ColumnRole::FirstName => "first_name",
        ColumnRole::LastName => "last_name",
        ColumnRole::FullName => "name",
        ColumnRole::Timezone => "timezone",
        ColumnRole::Custom(_) => "custom",
        ColumnRole::Ignore => "ignore",
    };
    (role.to_owned(), custom_field_name(header))
}

/// The upload is no longer in the spool (committed, swept, or never made).
fn gone(signed: &Signed, list: Id) -> Response {
    let body = html! {
        h1 { "This upload is gone" }
        p { "It was imported already, or left unused for a day. "
            a href={ "/audience/lists/" (list) "/import" } { "Upload the file again" } "." }
    };
    (
        StatusCode::NOT_FOUND,
        Html(page("Upload gone", signed, body).into_string()),
    )
        .into_response()
}

/// Runs the dry run with the chosen mapping.
pub async fn check(
    State(state): State<AppState>,
    signed: Signed,
    Path((list, token)): Path<(Id, String)>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    if !signed.csrf_ok(csrf_of(&f)) {
        return super::super::forbidden();
    }
    let tenant = match owned_list(&state, &signed, list).await {
        Ok(_) => signed.tenant().cloned().expect("a tenant's list"),
        Err(r) => return r,
    };
    let kept = kept_path(&state, tenant.id, &token);
    if !valid_token(&token) || !kept.exists() {
        return gone(&signed, list);
    }
    let path = kept.clone();
    let headers = match tokio::task::spawn_blocking(move || file_preview(&path)).await {
        Ok(Ok((h, _))) => h,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return crate::api::ApiError::Internal(e.to_string()).into_response(),
    };
    let text = |name: &str| {
        value(&f, name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let choices = Choices {
        roles: (0..headers.len())
            .map(|i| (text(&format!("role_{i}")), text(&format!("field_{i}"))))
            .collect(),
        existing: text("existing"),
        region: text("default_region"),
    };
    // Every column named: what the page showed is what the import reads.
    let mapping: BTreeMap<String, String> = headers
        .iter()
        .zip(&choices.roles)
        .map(|(h, (role, field))| {
            let target = if role == "custom" {
                field.clone()
            } else {
                role.clone()
            };
            (h.clone(), target)
        })
        .collect();
    let region = (!choices.region.is_empty()).then_some(choices.region.as_str());
    let existing = (!choices.existing.is_empty()).then_some(choices.existing.as_str());
    let options = match ImportOptions::new(&tenant, true, region, existing, mapping) {
        Ok(o) => o,
        Err(e) => return refused(&state, &signed, list, &token, &choices, e).await,
    };
    // The dry run reads a link to the kept file: the importer removes it.
    let link = state.importer.spool_dir().join(format!(
        "console-{}-{token}.check-{}.csv",
        tenant.id,
        hex::encode(rand::random::<[u8; 4]>())
    ));
    if let Err(e) = tokio::fs::hard_link(&kept, &link).await {
        return crate::api::upload::io_error(e).into_response();
    }
    let bytes = tokio::fs::metadata(&kept)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let spooled = Spooled { path: link, bytes };
    let filename = tokio::fs::read_to_string(kept.with_extension("name"))
        .await
        .ok()
        .or_else(|| Some(format!("upload-{}.csv", &token[..8])));
    match queue(&state, tenant.id, list, None, options, spooled, filename).await {
        Ok(job) => Redirect::to(&format!("/audience/imports/{}", job.id)).into_response(),
        Err(e) => refused(&state, &signed, list, &token, &choices, e).await,
    }
}

async fn refused(
    state: &AppState,
    signed: &Signed,
    list: Id,
    token: &str,
    choices: &Choices,
    e: crate::api::ApiError,
) -> Response {
    match problem(e) {
        Ok(p) => mapping_page(state, signed, list, token, Some(choices), Some(&p)).await,
        Err(e) => e.into_response(),
    }
}
