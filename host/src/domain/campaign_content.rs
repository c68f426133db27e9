//! A valid campaign's content by type, as stored (JSON in `settings_json`)
//! and shown by the API. Built only by `campaign_spec`'s checks.

use serde::{Deserialize, Serialize};

use super::campaign_spec::TemplateInput;

/// The campaign type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    Sms,
    Whatsapp,
    Voice,
    Email,
}

impl CampaignKind {
    pub const ALL: [CampaignKind; 4] = [Self::Sms, Self::Whatsapp, Self::Voice, Self::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
            Self::Voice => "voice",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Email campaigns go to the contact's email, the others to the phone.
    pub fn address_column(self) -> &'static str {
        match self {
            Self::Email => "email",
            _ => "phone",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AmdAction {
    HangUp,
    Voicemail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// No session; replies are still recorded on the member.
    Direct,
    /// A reply opens (or reuses) one session per contact, routed to a target.
    Session,
}

impl SendMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Session => "session",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VoiceSettings {
    pub caller_id: Option<String>,
    pub queue: String,
    pub max_concurrent: i64,
    pub max_retries: i64,
    pub retry_delay_secs: i64,
    pub amd_enabled: bool,
    pub amd_action: AmdAction,
    pub voicemail_message: Option<String>,
}

/// The type-specific part of a valid campaign, as stored (JSON) and shown:
/// `{"type": "sms", "body": ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CampaignContent {
    Sms {
        body: String,
        media_id: Option<i64>,
    },
    Whatsapp {
        template: TemplateInput,
    },
    Voice(VoiceSettings),
    Email {
        subject: String,
        body: Option<String>,
        html_body: Option<String>,
    },
}

/// What a campaign stores as its settings: the content plus session routing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignSettings {
    pub content: CampaignContent,
    pub session_target: Option<String>,
    /// Fallback and follow-ups (absent in settings stored before journeys).
    #[serde(default, skip_serializing_if = "super::journey::Journey::is_empty")]
    pub journey: super::journey::Journey,
    /// A variable the contact has no value for (absent in settings stored
    /// before the setting: skip the member).
    #[serde(default)]
    pub missing_field: super::template::MissingField,
}

/// Session settings of a messaging campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub send_mode: SendMode,
    /// `reply_endpoint` or `queue:NAME`; only with `session`.
    pub session_target: Option<String>,
}
