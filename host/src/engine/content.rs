//! The message a member gets, per campaign type: rendered from the
//! campaign's content and the contact's values, in the contract's terms.

use std::collections::BTreeMap;

use super::Engine;
use crate::domain::campaign_spec::{AmdAction, CampaignContent, TemplateParameter};
use crate::domain::template::{BodyTemplate, MissingField, TemplateError};
use crate::plugins::wit;
use crate::store::{ClaimedMember, Id};

/// What to send, with a text summary for the member's conversation.
pub struct Rendered {
    pub content: wit::Content,
    pub summary: String,
    /// Replaces the channel's sender (a voice campaign's caller id).
    pub sender: Option<String>,
}

/// A member's message cannot be built (a missing contact value, media
/// deleted...): the member fails with this reason, nothing is sent.
#[derive(Debug)]
pub struct RenderError {
    /// `missing_field:NAME` for a value the contact lacks.
    pub code: Option<String>,
    pub message: String,
}

impl From<String> for RenderError {
    fn from(message: String) -> Self {
        Self {
            code: None,
            message,
        }
    }
}

impl From<TemplateError> for RenderError {
    fn from(e: TemplateError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl Engine {
    pub(super) async fn render(&self, member: &ClaimedMember) -> Result<Rendered, RenderError> {
        self.render_content(
            member.tenant_id,
            &member.content,
            &member.values,
            member.missing_field,
        )
        .await
    }

    /// A journey step's message as a contact would get it (the text the
    /// member's conversation would record), for the journey view.
    pub async fn preview(
        &self,
        tenant: Id,
        content: &CampaignContent,
        values: BTreeMap<String, String>,
        missing: MissingField,
    ) -> Result<String, RenderError> {
        Ok(self
            .render_content(tenant, content, &values, missing)
            .await?
            .summary)
    }

    async fn render_content(
        &self,
        tenant: Id,
        content: &CampaignContent,
        values: &BTreeMap<String, String>,
        missing: MissingField,
    ) -> Result<Rendered, RenderError> {
        let text = |source: &str| -> Result<String, RenderError> {
            Ok(BodyTemplate::parse(source)?.render(values, missing)?)
        };
        Ok(match content {
            CampaignContent::Sms { body, media_id } => {
                let text = text(body)?;
                let media = match media_id {
                    Some(id) => vec![self.media_ref(tenant, *id).await?],
                    None => Vec::new(),
                };
                let summary = match media.first() {
                    Some(m) => format!("{text}\n[{}]", m.url),
                    None => text.clone(),
                };
                Rendered {
                    content: wit::Content::Text(wit::TextMessage { body: text, media }),
                    summary,
                    sender: None,
                }
            }
            CampaignContent::Whatsapp { template } => {
                let parameters = template
                    .parameters
                    .iter()
                    .enumerate()
                    // WhatsApp refuses an empty parameter, so a missing value
                    // skips the member whatever the campaign's setting.
                    .map(|(i, p)| match p {
                        TemplateParameter::Literal(v) => Ok(v.clone()),
                        TemplateParameter::Field(f) => values
                            .get(f)
                            .filter(|v| !v.trim().is_empty())
                            .cloned()
                            .ok_or_else(|| RenderError {
                                code: TemplateError::MissingValue(f.clone()).code(),
                                message: format!(
                                    "the contact has no value for `{f}` (template parameter {{{{{}}}}})",
                                    i + 1
                                ),
                            }),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let header_media = match template.header_media_id {
                    Some(id) => Some(self.media_ref(tenant, id).await?),
                    None => None,
                };
                Rendered {
                    summary: format!(
                        "template {} ({}) [{}]",
                        template.name,
                        template.language,
                        parameters.join(", ")
                    ),
                    content: wit::Content::WhatsappTemplate(wit::TemplateMessage {
                        name: template.name.clone(),
                        language: template.language.clone(),
                        body_parameters: parameters,
                        header_media,
                        header_parameters: Vec::new(),
                    }),
                    sender: None,
                }
            }
            CampaignContent::Voice(v) => Rendered {
                content: wit::Content::Voice(wit::VoiceCall {
                    queue: v.queue.clone(),
                    amd_enabled: v.amd_enabled,
                    amd_action: match v.amd_action {
                        AmdAction::HangUp => wit::AmdAction::HangUp,
                        AmdAction::Voicemail => wit::AmdAction::Voicemail,
                    },
                    voicemail_message: v.voicemail_message.clone(),
                }),
                summary: format!("call, queue {}", v.queue),
                sender: v.caller_id.clone(),
            },
            CampaignContent::Email {
                subject,
                body,
                html_body,
            } => {
                let subject = text(subject)?;
                let text = match body {
                    Some(b) => text(b)?,
                    None => String::new(),
                };
                let html = match html_body {
                    Some(h) => Some(BodyTemplate::parse(h)?.render_html(values, missing)?),
                    None => None,
                };
                Rendered {
                    summary: format!("{subject}\n\n{text}"),
                    content: wit::Content::Email(wit::EmailMessage {
                        subject,
                        text_body: text,
                        html_body: html,
                    }),
                    sender: None,
                }
            }
        })
    }

    /// The public URL a provider fetches an uploaded file from.
    async fn media_ref(&self, tenant: Id, id: Id) -> Result<wit::Media, RenderError> {
        let media = self
            .store
            .media(tenant, id)
            .await
            .map_err(|e| format!("media {id} unavailable: {e}"))?;
        Ok(wit::Media {
            url: format!(
                "{}/media/{}",
                self.config.public_url.trim_end_matches('/'),
                media.token
            ),
            content_type: media.content_type,
        })
    }
}
