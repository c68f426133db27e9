//! `/v1/message-templates`: the tenant's library of reusable bodies and
//! sequences, and how a campaign copies one (at creation, then again when a
//! draft goes live; after that the campaign keeps its copy).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AppState;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery};
use crate::domain::campaign_spec::{CampaignInput, FieldError, TemplateInput};
use crate::domain::lifecycle::Status;
use crate::domain::message_template::{self, FollowUp, TemplateContent};
use crate::store::{Campaign, CampaignEdit, Id, MessageTemplate, Tenant};

/// A template as the client sends it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplateInput {
    pub name: String,
    /// `sms`, `email` or `whatsapp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// sms: the text; email: the text part (`{{variables}}`).
    pub body: Option<String>,
    /// email: the subject line.
    pub subject: Option<String>,
    /// email: the HTML part.
    pub html_body: Option<String>,
    /// whatsapp: the approved provider template and its parameters.
    pub template: Option<TemplateInput>,
    /// Further steps: `[{"after_days": 2, "body": "..."}]` (1-7 days).
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
}

fn field_error(e: FieldError) -> ApiError {
    if e.missing {
        ApiError::BadRequest {
            field: Some(e.field),
            message: e.message,
        }
    } else {
        ApiError::invalid(&e.field, e.message)
    }
}

/// Checks an input, answering its name, type and content.
fn checked(input: MessageTemplateInput) -> ApiResult<(String, String, TemplateContent)> {
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    let content = TemplateContent {
        body: input.body,
        subject: input.subject,
        html_body: input.html_body,
        template: input.template,
        follow_ups: input.follow_ups,
    };
    message_template::check(&input.kind, &content).map_err(field_error)?;
    Ok((name, input.kind, content))
}

/// Fills in the variables (derived, so never stale).
fn shown(mut t: MessageTemplate) -> MessageTemplate {
    t.variables = message_template::check(&t.kind, &t.content).unwrap_or_default();
    t
}

#[utoipa::path(post, path = "/v1/message-templates", tag = "message-templates",
    request_body = MessageTemplateInput,
    responses((status = 201, body = MessageTemplate), (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiJson(input): ApiJson<MessageTemplateInput>,
) -> ApiResult<(StatusCode, Json<MessageTemplate>)> {
    let (name, kind, content) = checked(input)?;
    let t = state
        .store
        .create_message_template(tenant.id, &name, &kind, &content)
        .await?;
    tracing::info!(
        tenant = tenant.id,
        template = t.id,
        "message template created"
    );
    Ok((StatusCode::CREATED, Json(shown(t))))
}

#[utoipa::path(get, path = "/v1/message-templates", tag = "message-templates", params(PageQuery),
    responses((status = 200, body = Page<MessageTemplate>)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<MessageTemplate>>> {
    let all = state.store.message_templates(tenant.id).await?;
    let all = all.into_iter().map(shown).collect();
    Ok(Json(Page::of_all(all, &page, 1000, |t| t.id)?))
}

#[utoipa::path(get, path = "/v1/message-templates/{id}", tag = "message-templates",
    responses((status = 200, body = MessageTemplate), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<Json<MessageTemplate>> {
    Ok(Json(shown(
        state.store.message_template(tenant.id, id).await?,
    )))
}

/// Changes some fields (`null` clears an optional one); the whole template
/// is checked again and its version goes up. Live campaigns keep their copy.
#[utoipa::path(patch, path = "/v1/message-templates/{id}", tag = "message-templates",
    request_body = Object,
    responses((status = 200, body = MessageTemplate), (status = 404, body = super::error::ErrorBody),
        (status = 422, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
    ApiJson(patch): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<MessageTemplate>> {
    let current = state.store.message_template(tenant.id, id).await?;
    let Value::Object(mut merged) = serde_json::to_value(&current).expect("template serialises")
    else {
        unreachable!("a template serialises as an object");
    };
    for derived in ["id", "variables", "version", "created_at", "updated_at"] {
        merged.remove(derived);
    }
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    let input: MessageTemplateInput =
        serde_json::from_value(Value::Object(merged)).map_err(|e| ApiError::BadRequest {
            field: e.to_string().split('`').nth(1).map(str::to_owned),
            message: e.to_string(),
        })?;
    let (name, kind, content) = checked(input)?;
    let t = state
        .store
        .update_message_template(tenant.id, id, &name, &kind, &content)
        .await?;
    tracing::info!(
        tenant = tenant.id,
        template = id,
        version = t.version,
        "message template edited"
    );
    Ok(Json(shown(t)))
}

#[utoipa::path(delete, path = "/v1/message-templates/{id}", tag = "message-templates",
    responses((status = 204), (status = 404, body = super::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    Path(id): Path<Id>,
) -> ApiResult<StatusCode> {
    state.store.delete_message_template(tenant.id, id).await?;
    tracing::info!(
        tenant = tenant.id,
        template = id,
        "message template deleted"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// The template's content as campaign fields (`body`, `subject`, ...,
/// `follow_ups`), to lay over a campaign definition.
fn as_campaign_fields(t: &MessageTemplate) -> Map<String, Value> {
    let Value::Object(fields) = serde_json::to_value(&t.content).expect("content serialises")
    else {
        unreachable!("content serialises as an object");
    };
    fields
}

/// Fills a campaign request's content from its `message_template_id`,
/// answering the template (to record its version once the campaign exists).
pub(super) async fn apply_to_input(
    state: &AppState,
    tenant: Id,
    req: &mut CampaignInput,
) -> ApiResult<Option<MessageTemplate>> {
    let Some(id) = req.message_template_id else {
        return Ok(None);
    };
    // The template replaces the inline content: both at once is ambiguous.
    let inline = [
        ("body", req.body.is_some()),
        ("subject", req.subject.is_some()),
        ("html_body", req.html_body.is_some()),
        ("template", req.template.is_some()),
        ("follow_ups", req.follow_ups.is_some()),
    ];
    if let Some((field, _)) = inline.iter().find(|(_, set)| *set) {
        return Err(ApiError::invalid(
            field,
            "comes from the message template; leave it out with message_template_id",
        ));
    }
    let t = match state.store.message_template(tenant, id).await {
        Ok(t) => t,
        Err(crate::store::StoreError::NotFound) => {
            return Err(ApiError::invalid(
                "message_template_id",
                format!("no message template {id}"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(kind) = &req.kind
        && *kind != t.kind
    {
        return Err(ApiError::invalid(
            "type",
            format!("the message template is for {} campaigns", t.kind),
        ));
    }
    req.kind = Some(t.kind.clone());
    req.body = t.content.body.clone();
    req.subject = t.content.subject.clone();
    req.html_body = t.content.html_body.clone();
    req.template = t.content.template.clone();
    if !t.content.follow_ups.is_empty() {
        let steps = serde_json::to_value(&t.content.follow_ups).expect("steps serialise");
        req.follow_ups =
            Some(serde_json::from_value(steps).map_err(|e| ApiError::Internal(e.to_string()))?);
    }
    Ok(Some(t))
}

/// Going live from a draft is the snapshot moment: the campaign's copy is
/// refreshed from the template's current version (checked as a draft edit).
/// A deleted template leaves the copy as it is.
pub(super) async fn refresh_before_go_live(
    state: &AppState,
    tenant: &Tenant,
    campaign: Campaign,
) -> ApiResult<Campaign> {
    let Some(template_id) = campaign.message_template_id else {
        return Ok(campaign);
    };
    if campaign.status != Status::Draft {
        return Ok(campaign);
    }
    let t = match state.store.message_template(tenant.id, template_id).await {
        Ok(t) => t,
        Err(crate::store::StoreError::NotFound) => return Ok(campaign),
        Err(e) => return Err(e.into()),
    };
    let mut patch = as_campaign_fields(&t);
    // A sequence's steps are replaced as a whole (none in the template: none).
    for key in ["body", "subject", "html_body", "template", "follow_ups"] {
        patch.entry(key).or_insert(Value::Null);
    }
    let input = super::campaign_ops::merged_input(&campaign, &patch, &campaign.name)?;
    let definition = super::campaigns::definition(state, tenant, &input).await?;
    let edit = CampaignEdit {
        definition: Some(definition),
        ..CampaignEdit::default()
    };
    state
        .store
        .edit_campaign(tenant.id, campaign.id, Status::Draft, edit)
        .await?;
    state
        .store
        .set_campaign_template(tenant.id, campaign.id, t.id, t.version)
        .await?;
    Ok(state.store.campaign(tenant.id, campaign.id).await?)
}
