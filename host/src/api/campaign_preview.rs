//! `GET /v1/campaigns/{id}/preview`: before a campaign goes live, how many
//! of its list's contacts lack each value its messages use (and so would
//! be skipped, or get empty text, per its `missing_field` setting), and the
//! message as the first contact would get it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::AppState;
use super::auth::TenantAuth;
use super::error::ApiResult;
use crate::domain::content_needs::needs;
use crate::domain::template::MissingField;
use crate::store::{Contact, Id};

/// Contacts read per page while counting.
const PAGE: i64 = 1000;

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignPreview {
    /// Contacts in the campaign's list.
    pub audience: i64,
    pub missing_field: MissingField,
    /// Each `{{variable}}` (or WhatsApp parameter field) the messages use.
    pub variables: Vec<VariableUse>,
    /// Contacts lacking a value that `skip_member` requires: they would
    /// fail with `missing_field:NAME`, nothing sent.
    pub would_skip: i64,
    /// The primary message as the list's first contact would get it.
    pub sample: Option<String>,
    /// Why the first contact's message cannot be made, when it cannot.
    pub sample_error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariableUse {
    pub name: String,
    /// A contact without it is skipped (no `default`, `skip_member`).
    pub required: bool,
    /// Contacts with no (or an empty) value for it.
    pub missing: i64,
}

#[utoipa::path(get, path = "/v1/campaigns/{id}/preview", tag = "campaigns",
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignPreview), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<CampaignPreview>> {
    let campaign = state.store.campaign(tenant.id, id).await?;
    let used = needs(&campaign.content, &campaign.journey, campaign.missing_field);
    let mut missing: BTreeMap<&str, i64> = used.keys().map(|k| (k.as_str(), 0)).collect();
    let (mut audience, mut would_skip) = (0, 0);
    let mut first = None;
    let mut after = 0;
    loop {
        let page = state
            .store
            .list_contacts(tenant.id, campaign.list_id, after, PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for contact in page {
            let values = values_of(&contact);
            audience += 1;
            let mut skipped = false;
            for (name, required) in &used {
                if values.get(name).is_none_or(|v| v.trim().is_empty()) {
                    *missing.entry(name).or_default() += 1;
                    skipped |= *required;
                }
            }
            would_skip += skipped as i64;
            first.get_or_insert(values);
        }
    }
    let (sample, sample_error) = match first {
        Some(values) => match state
            .engine
            .preview(tenant.id, &campaign.content, values, campaign.missing_field)
            .await
        {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(e.message)),
        },
        None => (None, None),
    };
    Ok(Json(CampaignPreview {
        audience,
        missing_field: campaign.missing_field,
        variables: used
            .iter()
            .map(|(name, required)| VariableUse {
                name: name.clone(),
                required: *required,
                missing: missing.get(name.as_str()).copied().unwrap_or(0),
            })
            .collect(),
        would_skip,
        sample,
        sample_error,
    }))
}

/// A contact's values as a message template sees them.
pub(super) fn values_of(c: &Contact) -> BTreeMap<String, String> {
    let mut values = c.fields.clone();
    let name = [c.first_name.as_deref(), c.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    for (key, value) in [
        ("phone", c.phone.clone()),
        ("email", c.email.clone()),
        ("first_name", c.first_name.clone()),
        ("last_name", c.last_name.clone()),
        ("name", Some(name)),
    ] {
        if let Some(v) = value {
            values.insert(key.to_owned(), v);
        }
    }
    values
}
