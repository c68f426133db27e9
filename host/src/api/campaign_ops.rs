//! Campaign lifecycle operations: go live, pause, resume, cancel, archive,
//! retry failed, delete, duplicate, and edit. Each one is checked against the
//! lifecycle table (`domain::lifecycle`); a refusal is 409 naming what the
//! campaign's status allows.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::AppState;
use super::auth::TenantAuth;
use super::campaign_checks::{self, Refs};
use super::campaign_timing::{self, EditTiming, SCHEDULE_KEYS};
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use crate::domain::campaign_spec::CampaignInput;
use crate::domain::lifecycle::{Action, Field, Outcome, Status, check_edit};
use crate::domain::tags::{custom_tags, default_tag};
use crate::store::{Campaign, CampaignEdit, Id, Tenant};

/// Applies a user action; wakes the dispatcher when the campaign may send.
/// The console's buttons come here too.
pub(crate) async fn act(
    state: &AppState,
    tenant_row: &Tenant,
    id: Id,
    action: Action,
) -> ApiResult<Json<Campaign>> {
    let tenant = tenant_row.id;
    let mut campaign = state.store.campaign(tenant, id).await?;
    if action == Action::GoLive {
        // Refuse early (before the checks below) when the status forbids it.
        campaign.status.apply(action)?;
        campaign =
            super::message_templates::refresh_before_go_live(state, tenant_row, campaign).await?;
        // What was valid at creation may not be any more (template
        // unapproved, channel switched to a plugin without this type).
        let refs = Refs {
            tenant,
            kind: campaign.kind,
            channel_id: campaign.channel_id,
            list_id: campaign.list_id,
            content: &campaign.content,
        };
        campaign_checks::check(state, &refs).await?;
        campaign_checks::check_journey(state, tenant, campaign.list_id, &campaign.journey).await?;
    }
    // Going live with a start time still ahead: live, but waiting for it
    // (the scheduler starts it).
    let action = if action == Action::GoLive
        && campaign
            .scheduled_at_ms
            .is_some_and(|at| at > crate::store::now_ms())
    {
        Action::Schedule
    } else {
        action
    };
    let detail = (action == Action::Pause).then_some("paused by user");
    let outcome = state
        .store
        .transition_campaign(tenant, id, action, detail)
        .await?;
    tracing::info!(
        tenant,
        campaign = id,
        action = action.as_str(),
        from = campaign.status.as_str(),
        "campaign status changed"
    );
    if matches!(
        outcome,
        Outcome::Becomes(Status::Running | Status::Retrying)
    ) {
        state.engine.wake();
    }
    Ok(Json(state.store.campaign(tenant, id).await?))
}

macro_rules! action_handler {
    ($fn:ident, $action:expr, $path:literal) => {
        #[utoipa::path(post, path = $path, tag = "campaigns",
            responses((status = 200, body = Campaign), (status = 404, body = super::error::ErrorBody),
                (status = 409, body = super::error::ErrorBody)),
            security(("api_key" = [])))]
        pub async fn $fn(
            State(state): State<AppState>,
            TenantAuth(tenant): TenantAuth,
            Path(id): Path<Id>,
        ) -> ApiResult<Json<Campaign>> {
            act(&state, &tenant, id, $action).await
        }
    };
}

action_handler!(start, Action::GoLive, "/v1/campaigns/{id}/start");
// The same, under the name the lifecycle (and `allowed_actions`) gives it.
action_handler!(go_live, Action::GoLive, "/v1/campaigns/{id}/go-live");
action_handler!(pause, Action::Pause, "/v1/campaigns/{id}/pause");
action_handler!(resume, Action::Resume, "/v1/campaigns/{id}/resume");
action_handler!(cancel, Action::Cancel, "/v1/campaigns/{id}/cancel");
action_handler!(archive, Action::Archive, "/v1/campaigns/{id}/archive");
action_handler!(
    retry_failed,
    Action::RetryFailed,
    "/v1/campaigns/{id}/retry-failed"
);

/// Deletes a draft, or a campaign that is over (completed, cancelled,
/// archived), with its members and their history.
#[utoipa::path(delete, path = "/v1/campaigns/{id}", tag = "campaigns",
    responses((status = 204), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<StatusCode> {
    state
        .store
        .transition_campaign(tenant.id, id, Action::Delete, None)
        .await?;
    tracing::info!(tenant = tenant.id, campaign = id, "campaign deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A new draft with the same settings (any status may be copied).
#[utoipa::path(post, path = "/v1/campaigns/{id}/duplicate", tag = "campaigns",
    responses((status = 201, body = Campaign), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn duplicate(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    let copy = state.store.duplicate_campaign(tenant.id, id).await?;
    tracing::info!(
        tenant = tenant.id,
        campaign = id,
        copy = copy.id,
        "campaign duplicated"
    );
    Ok((StatusCode::CREATED, Json(copy)))
}

/// Which lifecycle field a request key edits; `None` for keys that are not
/// part of a campaign definition.
fn field_of(key: &str) -> Option<Field> {
    Some(match key {
        "name" => Field::Name,
        "notes" => Field::Notes,
        "tags" => Field::Tags,
        "type" | "body" | "media_id" | "template" | "subject" | "html_body"
        | "voicemail_message" | "send_mode" | "session_target" | "fallback" | "follow_ups"
        | "missing_field" => Field::Content,
        "quiet_hours" | "calling_hours" => Field::CallingHours,
        "channel_id" => Field::Channel,
        "list_id" | "execution_mode" | "inbound_enrolment" => Field::Audience,
        "caller_id" | "queue" | "max_concurrent" | "max_retries" | "retry_delay_secs"
        | "amd_enabled" | "amd_action" => Field::ChannelSettings,
        k if SCHEDULE_KEYS.contains(&k) => Field::Schedule,
        _ => return None,
    })
}

/// Edits a campaign: in a draft, anything (the definition is checked again
/// as at creation); once live, only `name`, `notes`, `tags` and the schedule
/// of what is still to come (`scheduled_at` before the start, `ends_at`,
/// `follow_up_days`, as `PATCH .../schedule` takes them); `manual_review`
/// whenever the campaign is not over. `null` clears an optional field.
#[utoipa::path(patch, path = "/v1/campaigns/{id}", tag = "campaigns",
    request_body = Object,
    responses((status = 200, body = Campaign), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Campaign>> {
    edit_campaign(&state, &tenant, id, &patch).await.map(Json)
}

/// Applies an edit given as the API's JSON object (`PATCH
/// /v1/campaigns/{id}`); the console's draft form sends the same object.
pub(crate) async fn edit_campaign(
    state: &AppState,
    tenant: &Tenant,
    id: Id,
    patch: &Map<String, Value>,
) -> ApiResult<Campaign> {
    let campaign = state.store.campaign(tenant.id, id).await?;
    let status = campaign.status;
    // Nothing at all is editable in a finished campaign.
    status.apply(Action::Edit)?;
    let mut fields = Vec::new();
    for key in patch.keys() {
        match field_of(key) {
            Some(f) => fields.push(f),
            None if key == "manual_review" => {}
            None => {
                return Err(ApiError::BadRequest {
                    field: Some(key.clone()),
                    message: format!("unknown field `{key}`"),
                });
            }
        }
    }
    if let Err(refused) = check_edit(status, &fields) {
        return Err(ApiError::Refused {
            message: refused.to_string(),
            allowed_actions: status.allowed_actions(),
            editable_fields: Some(refused.editable),
        });
    }
    if patch.contains_key("follow_ups") && patch.contains_key("follow_up_days") {
        return Err(ApiError::invalid(
            "follow_up_days",
            "give the gaps either in `follow_ups` (their `after_days`) or here, not both",
        ));
    }
    // Checked before anything is written, so a bad schedule changes nothing.
    let timing = if fields.contains(&Field::Schedule) {
        let keys: Map<String, Value> = patch
            .iter()
            .filter(|(k, _)| SCHEDULE_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let req: EditTiming = serde_json::from_value(Value::Object(keys)).map_err(bad_json)?;
        Some(campaign_timing::check(&campaign, tenant, req)?)
    } else {
        None
    };
    let mut edit = CampaignEdit::default();
    let name = match patch.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_owned()),
        Some(_) => return Err(ApiError::invalid("name", "must be a non-empty string")),
        None => None,
    };
    edit.notes = match patch.get("notes") {
        Some(Value::String(n)) => Some(Some(n.clone())),
        Some(Value::Null) => Some(None),
        Some(_) => return Err(ApiError::invalid("notes", "must be a string or null")),
        None => None,
    };
    edit.manual_review = match patch.get("manual_review") {
        Some(Value::Bool(on)) => Some(*on),
        Some(_) => return Err(ApiError::invalid("manual_review", "must be true or false")),
        None => None,
    };
    let final_name = name.clone().unwrap_or_else(|| campaign.name.clone());
    edit.tags = match patch.get("tags") {
        Some(Value::Array(items)) => {
            let tags: Vec<String> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::invalid("tags", "must be a list of strings"))?;
            Some(
                custom_tags(&tags, &default_tag(&final_name))
                    .map_err(|e| ApiError::invalid("tags", e))?,
            )
        }
        Some(Value::Null) => Some(Vec::new()),
        Some(_) => return Err(ApiError::invalid("tags", "must be a list of strings")),
        None => None,
    };
    edit.name = name;
    if fields.iter().any(|f| {
        !matches!(
            f,
            Field::Name | Field::Notes | Field::Tags | Field::Schedule
        )
    }) {
        let input = merged_input(&campaign, patch, &final_name)?;
        edit.definition = Some(super::campaigns::definition(state, tenant, &input).await?);
    }
    let mut updated = state
        .store
        .edit_campaign(tenant.id, id, status, edit)
        .await?;
    if let Some(timing) = &timing {
        campaign_timing::write(state, tenant, &updated, timing).await?;
        updated = state.store.campaign(tenant.id, id).await?;
    }
    if fields.contains(&Field::Content) && updated.message_template_id.is_some() {
        // Content written by hand: going live must not overwrite it with
        // the template's.
        state.store.detach_campaign_template(tenant.id, id).await?;
        updated = state.store.campaign(tenant.id, id).await?;
    }
    tracing::info!(tenant = tenant.id, campaign = id, fields = ?patch.keys().collect::<Vec<_>>(), "campaign edited");
    Ok(updated)
}

/// Keys of `CampaignInput` that describe what a campaign sends and to whom.
const DEFINITION_KEYS: [&str; 26] = [
    "missing_field",
    "fallback",
    "follow_ups",
    "quiet_hours",
    "calling_hours",
    "type",
    "channel_id",
    "list_id",
    "body",
    "media_id",
    "template",
    "send_mode",
    "session_target",
    "caller_id",
    "queue",
    "max_concurrent",
    "max_retries",
    "retry_delay_secs",
    "amd_enabled",
    "amd_action",
    "voicemail_message",
    "subject",
    "html_body",
    "execution_mode",
    "inbound_enrolment",
    "name",
];

/// A draft's definition as the client would send it, with the patch laid
/// over it, so the edit is checked by exactly the rules of creation.
pub(super) fn merged_input(
    campaign: &Campaign,
    patch: &Map<String, Value>,
    name: &str,
) -> ApiResult<CampaignInput> {
    let Value::Object(current) = serde_json::to_value(campaign).expect("campaign serialises")
    else {
        unreachable!("a campaign serialises as an object");
    };
    let mut input: Map<String, Value> = current
        .into_iter()
        .filter(|(k, v)| DEFINITION_KEYS.contains(&k.as_str()) && !v.is_null())
        .collect();
    for (k, v) in patch {
        if DEFINITION_KEYS.contains(&k.as_str()) {
            if v.is_null() {
                input.remove(k);
            } else {
                input.insert(k.clone(), v.clone());
            }
        }
    }
    input.insert("name".into(), Value::String(name.to_owned()));
    // Stored with its default; only text campaigns take it as input.
    let kind = input.get("type").and_then(Value::as_str).unwrap_or("sms");
    if !matches!(kind, "sms" | "whatsapp") && !patch.contains_key("send_mode") {
        input.remove("send_mode");
    }
    serde_json::from_value(Value::Object(input)).map_err(bad_json)
}

/// A request object serde refused, naming the field it quotes.
fn bad_json(e: serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        field: e.to_string().split('`').nth(1).map(str::to_owned),
        message: e.to_string(),
    }
}
