//! Checks of a campaign against stored data: its channel's plugin is one the
//! tenant may use and serves the campaign's type, its template is synced
//! and approved with every parameter mapped, its media exist, its variables
//! are fields of the list.
//! Run at creation and again at start (a template can lose its approval, a
//! channel can be switched to a plugin that cannot serve the type).

use std::collections::BTreeSet;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::domain::campaign_spec::{
    CampaignContent, CampaignKind, TemplateParameter, check_parameter_count,
};
use crate::domain::template::{BodyTemplate, STANDARD_FIELDS};
use crate::plugins::wit::ChannelKind;
use crate::store::{Channel, Id, StoreError};

/// What a campaign refers to, as stored.
pub struct Refs<'a> {
    pub tenant: Id,
    pub kind: CampaignKind,
    pub channel_id: Id,
    pub list_id: Id,
    pub content: &'a CampaignContent,
}

/// Every check; the first failure names its field.
pub async fn check(state: &AppState, refs: &Refs<'_>) -> ApiResult<Channel> {
    let channel = match state.store.channel(refs.tenant, refs.channel_id).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid(
                "channel_id",
                format!("unknown channel {}", refs.channel_id),
            ));
        }
        other => other?,
    };
    match state.store.list(refs.tenant, refs.list_id).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::invalid(
                "list_id",
                format!("unknown list {}", refs.list_id),
            ));
        }
        other => other?,
    };
    check_channel_serves(state, &channel, refs).await?;
    let custom = state
        .store
        .list_field_names(refs.tenant, refs.list_id)
        .await?;
    match refs.content {
        CampaignContent::Sms { body, media_id } => {
            check_variables("body", body, &custom)?;
            if let Some(id) = media_id {
                check_media(state, refs.tenant, "media_id", *id).await?;
            }
        }
        CampaignContent::Whatsapp { template } => {
            let stored = state
                .store
                .template(refs.tenant, channel.id, &template.name, &template.language)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        "template.name",
                        format!(
                            "channel {} has no template {:?} in {:?}; sync templates with \
                             POST /v1/channels/{}/templates/sync",
                            channel.id, template.name, template.language, channel.id
                        ),
                    )
                })?;
            if stored.status != "APPROVED" {
                return Err(ApiError::invalid(
                    "template.name",
                    format!(
                        "template {:?} is {}; only APPROVED templates can be sent",
                        template.name, stored.status
                    ),
                ));
            }
            check_parameter_count(template, stored.body_parameter_count as usize)
                .map_err(|e| ApiError::invalid(&e.field, e.message))?;
            for (i, p) in template.parameters.iter().enumerate() {
                if let TemplateParameter::Field(f) = p
                    && !STANDARD_FIELDS.contains(&f.as_str())
                    && !custom.contains(f)
                {
                    return Err(ApiError::invalid(
                        &format!("template.parameters[{i}]"),
                        format!("unknown contact field {f:?}; known: {}", known(&custom)),
                    ));
                }
            }
            if let Some(id) = template.header_media_id {
                check_media(state, refs.tenant, "template.header_media_id", id).await?;
            }
        }
        CampaignContent::Voice(_) => {}
        CampaignContent::Email {
            subject,
            body,
            html_body,
        } => {
            check_variables("subject", subject, &custom)?;
            for (field, text) in [("body", body), ("html_body", html_body)] {
                if let Some(text) = text {
                    check_variables(field, text, &custom)?;
                }
            }
        }
    }
    Ok(channel)
}

/// The channel's plugin must be one the tenant may use (an admin may have
/// taken it off the tenant's allowlist since the channel was made) and
/// declare the kind the campaign sends on.
async fn check_channel_serves(
    state: &AppState,
    channel: &Channel,
    refs: &Refs<'_>,
) -> ApiResult<()> {
    if let Some(why) = super::tenant_plugins::refusal(state, refs.tenant, &channel.plugin).await? {
        return Err(ApiError::invalid(
            "channel_id",
            format!("channel {} cannot send: {why}", channel.id),
        ));
    }
    let needed = match refs.content {
        CampaignContent::Sms {
            media_id: Some(_), ..
        } => ChannelKind::Mms,
        CampaignContent::Sms { .. } => ChannelKind::Sms,
        CampaignContent::Whatsapp { .. } => ChannelKind::Whatsapp,
        CampaignContent::Voice(_) => ChannelKind::Voice,
        CampaignContent::Email { .. } => ChannelKind::Email,
    };
    let plugin = state
        .registry
        .resolve(&channel.plugin, channel.pinned_sha256.as_deref())
        .await
        .map_err(|why| ApiError::invalid("channel_id", why))?;
    if !plugin.manifest.channels.contains(&needed) {
        let serves: Vec<&str> = plugin
            .manifest
            .channels
            .iter()
            .map(crate::plugins::channel_name)
            .collect();
        return Err(ApiError::invalid(
            "channel_id",
            format!(
                "channel {} uses plugin {}, which serves {}; a {} campaign needs {}",
                channel.id,
                plugin.name(),
                serves.join(", "),
                refs.kind.as_str(),
                crate::plugins::channel_name(&needed)
            ),
        ));
    }
    Ok(())
}

fn check_variables(field: &str, text: &str, custom: &BTreeSet<String>) -> ApiResult<()> {
    BodyTemplate::parse(text)
        .and_then(|t| t.check_variables(custom))
        .map_err(|e| ApiError::invalid(field, e.to_string()))
}

async fn check_media(state: &AppState, tenant: Id, field: &str, id: Id) -> ApiResult<()> {
    match state.store.media(tenant, id).await {
        Err(StoreError::NotFound) => Err(ApiError::invalid(
            field,
            format!("unknown media {id}; upload it with POST /v1/media"),
        )),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

fn known(custom: &BTreeSet<String>) -> String {
    let mut all: Vec<&str> = STANDARD_FIELDS.to_vec();
    all.extend(custom.iter().map(String::as_str));
    all.join(", ")
}

/// Checks each journey step against stored data like a campaign of its
/// type (its channel serves the type, templates, media, variables); a
/// refusal names the step's field, e.g. `fallback.channel_id`.
pub async fn check_journey(
    state: &AppState,
    tenant: Id,
    list_id: Id,
    journey: &crate::domain::journey::Journey,
) -> ApiResult<()> {
    let steps = journey
        .fallback
        .iter()
        .map(|s| ("fallback".to_owned(), s))
        .chain(
            journey
                .follow_ups
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("follow_ups[{i}]"), s)),
        );
    for (prefix, step) in steps {
        let refs = Refs {
            tenant,
            kind: step.kind(),
            channel_id: step.channel_id,
            list_id,
            content: &step.content,
        };
        check(state, &refs).await.map_err(|e| match e {
            ApiError::Invalid { field, message } => ApiError::Invalid {
                field: format!("{prefix}.{field}"),
                message,
            },
            other => other,
        })?;
    }
    Ok(())
}
