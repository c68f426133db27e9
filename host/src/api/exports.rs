//! CSV exports, streamed page by page so a million-contact list never sits
//! in memory: a list's contacts, a campaign's audience with member status,
//! (and, from `imports.rs`, an import's rejected rows).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::AppState;
use super::auth::TenantAuth;
use super::error::ApiResult;
use crate::store::{Contact, Id, StoreError};

/// A CSV response the browser saves under `filename`.
pub fn csv_response(filename: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn encode(records: &[Vec<String>]) -> Bytes {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        // Writing to a Vec cannot fail.
        let _ = w.write_record(r.iter().map(|cell| neutralise_formula(cell).into_owned()));
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// A cell a spreadsheet would run as a formula (`=HYPERLINK(...)`,
/// `+cmd|...`, `@SUM(...)`, a leading tab or CR) gets a leading `'`, as
/// OWASP's CSV-injection advice says, so it opens as text. A plain number
/// such as an E.164 phone (`+14155550100`) or `-5` is left as it is: no
/// spreadsheet runs it, and its readers need it intact.
fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let plain_number = cell.len() > 1
        && cell[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '(' | ')' | '-'))
        && cell[1..].chars().any(|c| c.is_ascii_digit());
    if risky && !plain_number {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The header, then pages from `fetch(cursor)` -> (records, next cursor)
/// until a page comes back empty. A failure mid-way ends the stream with
/// an error, so the client sees a broken download rather than a short file.
pub fn paged_csv<F, Fut>(
    header_row: Vec<&'static str>,
    start: i64,
    fetch: F,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static
where
    F: Fn(i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(Vec<Vec<String>>, Option<i64>), StoreError>> + Send + 'static,
{
    let head = vec![header_row.into_iter().map(str::to_owned).collect()];
    paged_csv_dynamic(head, start, fetch)
}

fn paged_csv_dynamic<F, Fut>(
    head: Vec<Vec<String>>,
    start: i64,
    fetch: F,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static
where
    F: Fn(i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(Vec<Vec<String>>, Option<i64>), StoreError>> + Send + 'static,
{
    let first = futures::stream::once(async move { Ok(encode(&head)) });
    let rest = futures::stream::unfold(Some(start), move |cursor| {
        let page = cursor.map(&fetch);
        async move {
            let page = page?.await;
            match page {
                Ok((records, Some(next))) if !records.is_empty() => {
                    Some((Ok(encode(&records)), Some(next)))
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = %e, "CSV export failed mid-way");
                    Some((Err(e), None))
                }
            }
        }
    });
    futures::StreamExt::chain(first, rest)
}

const CONTACT_COLUMNS: [&str; 6] = [
    "phone",
    "email",
    "first_name",
    "last_name",
    "timezone",
    "contact_id",
];

fn contact_cells(c: &Contact, fields: &BTreeSet<String>) -> Vec<String> {
    let mut cells = vec![
        c.phone.clone().unwrap_or_default(),
        c.email.clone().unwrap_or_default(),
        c.first_name.clone().unwrap_or_default(),
        c.last_name.clone().unwrap_or_default(),
        c.timezone.clone().unwrap_or_default(),
        c.id.to_string(),
    ];
    cells.extend(
        fields
            .iter()
            .map(|f| c.fields.get(f).cloned().unwrap_or_default()),
    );
    cells
}

fn header_with(fields: &BTreeSet<String>, extra: &[&str]) -> Vec<Vec<String>> {
    let mut h: Vec<String> = CONTACT_COLUMNS.iter().map(|s| s.to_string()).collect();
    h.extend(fields.iter().cloned());
    h.extend(extra.iter().map(|s| s.to_string()));
    vec![h]
}

/// A list's contacts: standard columns, then one column per custom field,
/// in a form the import reads back unchanged.
#[utoipa::path(get, path = "/v1/lists/{id}/export.csv", tag = "lists",
    responses((status = 200, content_type = "text/csv", body = String)), security(("api_key" = [])))]
pub async fn list_csv(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(list): Path<Id>,
) -> ApiResult<Response> {
    list_csv_response(&state, tenant.id, list).await
}

/// A list's contacts as a CSV download (404: not the tenant's list).
/// Shared by the API and the console.
pub(crate) async fn list_csv_response(
    state: &AppState,
    tenant: Id,
    list: Id,
) -> ApiResult<Response> {
    state.store.list(tenant, list).await?;
    let fields = state.store.list_field_names(tenant, list).await?;
    let store = state.store.clone();
    let head = header_with(&fields, &[]);
    let pages = paged_csv_dynamic(head, 0, move |after| {
        let (store, fields) = (store.clone(), fields.clone());
        async move {
            let contacts = store.list_contacts(tenant, list, after, 1000).await?;
            let next = contacts.last().map(|c| c.id);
            Ok((
                contacts.iter().map(|c| contact_cells(c, &fields)).collect(),
                next,
            ))
        }
    });
    Ok(csv_response(
        &format!("list-{list}.csv"),
        Body::from_stream(pages),
    ))
}

/// A campaign's audience: each member's contact and delivery state.
#[utoipa::path(get, path = "/v1/campaigns/{id}/export.csv", tag = "campaigns",
    responses((status = 200, content_type = "text/csv", body = String)), security(("api_key" = [])))]
pub async fn campaign_csv(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(campaign): Path<Id>,
) -> ApiResult<Response> {
    let c = state.store.campaign(tenant.id, campaign).await?;
    let fields = state.store.list_field_names(tenant.id, c.list_id).await?;
    let head = header_with(
        &fields,
        &[
            "status",
            "attempts",
            "sent_at",
            "delivered_at",
            "provider_message_id",
            "error_code",
            "error_message",
        ],
    );
    let store = state.store.clone();
    let pages = paged_csv_dynamic(head, 0, move |after| {
        let (store, fields) = (store.clone(), fields.clone());
        async move {
            let members = store
                .members(tenant.id, campaign, &Default::default(), after, 1000)
                .await?;
            let ids: Vec<Id> = members.iter().map(|m| m.contact_id).collect();
            let contacts: HashMap<Id, Contact> = store
                .contacts_by_ids(tenant.id, &ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let next = members.last().map(|m| m.id);
            let opt = |v: Option<i64>| v.map(crate::rfc3339::format).unwrap_or_default();
            let records = members
                .iter()
                .map(|m| {
                    let mut cells = match contacts.get(&m.contact_id) {
                        Some(c) => contact_cells(c, &fields),
                        None => vec![String::new(); CONTACT_COLUMNS.len() + fields.len()],
                    };
                    cells.extend([
                        m.status.as_str().to_owned(),
                        m.attempts.to_string(),
                        opt(m.sent_at),
                        opt(m.delivered_at),
                        m.provider_message_id.clone().unwrap_or_default(),
                        m.error_code.clone().unwrap_or_default(),
                        m.error_message.clone().unwrap_or_default(),
                    ]);
                    cells
                })
                .collect();
            Ok((records, next))
        }
    });
    Ok(csv_response(
        &format!("campaign-{campaign}.csv"),
        Body::from_stream(pages),
    ))
}

#[cfg(test)]
mod tests {
    use super::neutralise_formula;

    #[test]
    fn formulas_open_as_text_and_numbers_stay_numbers() {
        for formula in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            "=",
        ] {
            assert_eq!(neutralise_formula(formula), format!("'{formula}"));
        }
        for plain in ["+14155550100", "-5", "Ana", "", "a=b", "+1 (415) 555-0100"] {
            assert_eq!(neutralise_formula(plain), plain);
        }
    }
}
