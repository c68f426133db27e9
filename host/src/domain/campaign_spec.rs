//! What a campaign sends, by type: the fields each type takes, their
//! defaults, and the checks that need no I/O. A field that belongs to another
//! type is refused by name, so a client that sends `caller_id` on an SMS
//! campaign learns it at once instead of silently losing it.
//!
//! Checks against stored data (the channel's plugin, the list's fields, the
//! synced templates, uploaded media) are the API's, before it stores.

use serde::{Deserialize, Serialize};

pub use super::campaign_content::{
    AmdAction, CampaignContent, CampaignKind, CampaignSettings, Delivery, SendMode, VoiceSettings,
};
use super::phone::E164;

/// The longest SMS body accepted (characters, emoji included), as peers allow.
pub const MAX_SMS_BODY_CHARS: usize = 1600;
/// Longest email subject (RFC 5322 advises lines under 998 bytes).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Upper bounds for voice settings, against typos like `max_retries: 1000`.
pub const MAX_CONCURRENT_CALLS: i64 = 100;
pub const MAX_CALL_RETRIES: i64 = 10;
pub const MAX_RETRY_DELAY_SECS: i64 = 7 * 24 * 3600;

/// A campaign as the client sends it: every type's fields, all optional, so
/// that the check below can name a field that does not belong.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub name: String,
    /// `sms` (default), `whatsapp`, `voice` or `email`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub channel_id: i64,
    pub list_id: i64,
    /// sms: the text (≤ 1,600 characters, `{{variables}}`); email: the text part.
    pub body: Option<String>,
    /// sms: an uploaded media id (makes it an MMS).
    pub media_id: Option<i64>,
    /// whatsapp: the approved template and its parameter mapping.
    pub template: Option<TemplateInput>,
    /// sms, whatsapp: `direct` (default) or `session`.
    pub send_mode: Option<String>,
    /// With `send_mode: session`: `reply_endpoint` (default) or `queue:NAME`.
    pub session_target: Option<String>,
    /// voice: the outbound caller id (E.164); defaults to the channel's sender.
    pub caller_id: Option<String>,
    /// voice: the queue a human answer is connected to.
    pub queue: Option<String>,
    /// voice: simultaneous calls at most (default 1).
    pub max_concurrent: Option<i64>,
    /// voice: further attempts after busy / no answer / failed (default 0).
    pub max_retries: Option<i64>,
    /// voice: seconds between attempts (default 60).
    pub retry_delay_secs: Option<i64>,
    /// voice: run answering-machine detection (default false).
    pub amd_enabled: Option<bool>,
    /// voice: `hang_up` (default) or `voicemail` when a machine answers.
    pub amd_action: Option<String>,
    /// voice: read to a machine when `amd_action` is `voicemail`.
    pub voicemail_message: Option<String>,
    /// email: the subject line.
    pub subject: Option<String>,
    /// email: the HTML part (a text `body`, an `html_body`, or both).
    pub html_body: Option<String>,
    /// `manual` (default): the audience is the list when the campaign
    /// starts. `automatic`: once started, contacts added later (API,
    /// import, inbound) are enrolled and sent to; the campaign stays running.
    pub execution_mode: Option<String>,
    /// Automatic campaigns only: enrol unknown numbers that message the
    /// campaign's channel.
    pub inbound_enrolment: Option<bool>,
    /// Replaces the tenant's quiet hours (`{"start": "09:00", "end": "20:00"}`,
    /// in each contact's local time).
    pub quiet_hours: Option<super::send_window::Hours>,
    /// Sends only between `start` and `end` in `timezone` (default: the
    /// tenant's), as well as inside quiet hours.
    pub calling_hours: Option<super::send_window::CallingHours>,
    /// Going live waits for this: local time in the tenant's timezone
    /// (`2026-03-09T08:00`) or an RFC 3339 instant.
    pub scheduled_at: Option<String>,
    /// Optional end, written like `scheduled_at`: no outreach after it;
    /// members not reached by then end `expired` and the campaign completes.
    pub ends_at: Option<String>,
    /// Internal notes about the campaign.
    pub notes: Option<String>,
    /// Custom tags besides the default one derived from the name.
    pub tags: Option<Vec<String>>,
    /// Planned outreaches wait for a user's approval (default false).
    pub manual_review: Option<bool>,
    /// A `{{variable}}` a contact has no value for and no `default` filter
    /// covers: `skip_member` (default; the member fails with error code
    /// `missing_field:NAME`, nothing is sent) or `render_empty`.
    pub missing_field: Option<super::template::MissingField>,
    /// Going live while another campaign of the tenant sends on the same
    /// channel: wait in `pending` until it completes, pauses or is cancelled
    /// (default false: both send, sharing the channel's rate limit).
    pub wait_for_sender: Option<bool>,
    /// Sent on another channel when the primary message fails for good
    /// (refused, or a failed/undelivered receipt): `channel_id` and that
    /// channel's content (`body`, `template`, `subject`...).
    pub fallback: Option<super::journey::StepInput>,
    /// Sent `after_days` (1-7) after the previous step when the contact has
    /// not replied; `channel_id` defaults to the campaign's.
    pub follow_ups: Option<Vec<super::journey::StepInput>>,
    /// Copies the content (and follow-ups) of this message template instead
    /// of giving them inline; refreshed from the template when going live.
    pub message_template_id: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// One per body parameter `{{1}}`..`{{n}}`, in order.
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
    /// An uploaded media id for a media header.
    pub header_media_id: Option<i64>,
}

/// A template parameter: a contact field, or a fixed value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum TemplateParameter {
    /// A contact field: `first_name`, `phone`, a custom field...
    Field(String),
    /// The same text for every contact.
    Literal(String),
}

/// A refused field: which one and why. `missing` tells "absent" (400, like
/// any JSON shape error) from "present but unacceptable" (422).
#[derive(Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub missing: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
        missing: false,
    }
}

fn missing(field: &str, kind: CampaignKind) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: format!(
            "missing field `{field}` (required for {} campaigns)",
            kind.as_str()
        ),
        missing: true,
    }
}

/// A checked campaign: its type, its content, and how replies are handled.
#[derive(Debug)]
pub struct CampaignSpec {
    pub kind: CampaignKind,
    pub content: CampaignContent,
    pub delivery: Delivery,
}

impl CampaignSpec {
    /// Calls in flight at most, for types that limit them.
    pub fn max_concurrent(&self) -> Option<i64> {
        match &self.content {
            CampaignContent::Voice(v) => Some(v.max_concurrent),
            _ => None,
        }
    }
}

impl CampaignInput {
    /// Every field the client set other than the common ones, by name.
    fn typed_fields(&self) -> Vec<&'static str> {
        let present = [
            ("body", self.body.is_some()),
            ("media_id", self.media_id.is_some()),
            ("template", self.template.is_some()),
            ("send_mode", self.send_mode.is_some()),
            ("session_target", self.session_target.is_some()),
            ("caller_id", self.caller_id.is_some()),
            ("queue", self.queue.is_some()),
            ("max_concurrent", self.max_concurrent.is_some()),
            ("max_retries", self.max_retries.is_some()),
            ("retry_delay_secs", self.retry_delay_secs.is_some()),
            ("amd_enabled", self.amd_enabled.is_some()),
            ("amd_action", self.amd_action.is_some()),
            ("voicemail_message", self.voicemail_message.is_some()),
            ("subject", self.subject.is_some()),
            ("html_body", self.html_body.is_some()),
        ];
        present
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect()
    }

    /// Checks the type-specific fields and fills in defaults.
    pub fn check(&self) -> Result<CampaignSpec, FieldError> {
        let kind_name = self.kind.as_deref().unwrap_or("sms");
        let kind = CampaignKind::parse(kind_name).ok_or_else(|| {
            invalid(
                "type",
                format!("{kind_name:?} is not a campaign type; one of sms, whatsapp, voice, email"),
            )
        })?;
        let allowed: &[&str] = match kind {
            CampaignKind::Sms => &["body", "media_id", "send_mode", "session_target"],
            CampaignKind::Whatsapp => &["template", "send_mode", "session_target"],
            CampaignKind::Voice => &[
                "caller_id",
                "queue",
                "max_concurrent",
                "max_retries",
                "retry_delay_secs",
                "amd_enabled",
                "amd_action",
                "voicemail_message",
            ],
            CampaignKind::Email => &["subject", "body", "html_body"],
        };
        if let Some(foreign) = self
            .typed_fields()
            .into_iter()
            .find(|f| !allowed.contains(f))
        {
            return Err(invalid(
                foreign,
                format!("not a field of {} campaigns", kind.as_str()),
            ));
        }
        let content = match kind {
            CampaignKind::Sms => self.sms()?,
            CampaignKind::Whatsapp => self.whatsapp()?,
            CampaignKind::Voice => CampaignContent::Voice(self.voice()?),
            CampaignKind::Email => self.email()?,
        };
        Ok(CampaignSpec {
            kind,
            content,
            delivery: self.delivery()?,
        })
    }

    fn sms(&self) -> Result<CampaignContent, FieldError> {
        let body = self
            .body
            .clone()
            .ok_or_else(|| missing("body", CampaignKind::Sms))?;
        if body.trim().is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        let chars = body.chars().count();
        if chars > MAX_SMS_BODY_CHARS {
            return Err(invalid(
                "body",
                format!("{chars} characters; at most {MAX_SMS_BODY_CHARS}"),
            ));
        }
        Ok(CampaignContent::Sms {
            body,
            media_id: self.media_id,
        })
    }

    fn whatsapp(&self) -> Result<CampaignContent, FieldError> {
        let template = self
            .template
            .clone()
            .ok_or_else(|| missing("template", CampaignKind::Whatsapp))?;
        if template.name.trim().is_empty() {
            return Err(invalid("template.name", "must not be empty"));
        }
        if template.language.trim().is_empty() {
            return Err(invalid(
                "template.language",
                "must not be empty, e.g. en_US",
            ));
        }
        for (i, p) in template.parameters.iter().enumerate() {
            let empty = match p {
                TemplateParameter::Field(f) => f.trim().is_empty(),
                TemplateParameter::Literal(v) => v.trim().is_empty(),
            };
            if empty {
                // WhatsApp refuses empty parameters at send time.
                return Err(invalid(
                    &format!("template.parameters[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(CampaignContent::Whatsapp { template })
    }

    fn voice(&self) -> Result<VoiceSettings, FieldError> {
        let caller_id = match &self.caller_id {
            Some(c) => Some(
                E164::parse(c.trim())
                    .map_err(|e| invalid("caller_id", e.to_string()))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let queue = self
            .queue
            .clone()
            .ok_or_else(|| missing("queue", CampaignKind::Voice))?;
        if queue.trim().is_empty() {
            return Err(invalid("queue", "must not be empty"));
        }
        let bounded = |field: &str, value: Option<i64>, default: i64, min: i64, max: i64| {
            let v = value.unwrap_or(default);
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(invalid(field, format!("{v} is out of range {min}..={max}")))
            }
        };
        let max_concurrent = bounded(
            "max_concurrent",
            self.max_concurrent,
            1,
            1,
            MAX_CONCURRENT_CALLS,
        )?;
        let max_retries = bounded("max_retries", self.max_retries, 0, 0, MAX_CALL_RETRIES)?;
        let retry_delay_secs = bounded(
            "retry_delay_secs",
            self.retry_delay_secs,
            60,
            1,
            MAX_RETRY_DELAY_SECS,
        )?;
        let amd_action = match self.amd_action.as_deref() {
            None | Some("hang_up") => AmdAction::HangUp,
            Some("voicemail") => AmdAction::Voicemail,
            Some(other) => {
                return Err(invalid(
                    "amd_action",
                    format!("{other:?} is not an action; hang_up or voicemail"),
                ));
            }
        };
        let amd_enabled = self.amd_enabled.unwrap_or(false);
        if self.amd_action.is_some() && !amd_enabled {
            return Err(invalid("amd_action", "needs amd_enabled: true"));
        }
        let voicemail_message = self.voicemail_message.clone();
        match (amd_action, &voicemail_message) {
            (AmdAction::Voicemail, None) => {
                return Err(FieldError {
                    field: "voicemail_message".into(),
                    message: "required when amd_action is voicemail".into(),
                    missing: false,
                });
            }
            (AmdAction::Voicemail, Some(m)) if m.trim().is_empty() => {
                return Err(invalid("voicemail_message", "must not be empty"));
            }
            (AmdAction::HangUp, Some(_)) => {
                return Err(invalid(
                    "voicemail_message",
                    "only used with amd_action: voicemail",
                ));
            }
            _ => {}
        }
        Ok(VoiceSettings {
            caller_id,
            queue: queue.trim().to_owned(),
            max_concurrent,
            max_retries,
            retry_delay_secs,
            amd_enabled,
            amd_action,
            voicemail_message,
        })
    }

    fn email(&self) -> Result<CampaignContent, FieldError> {
        let subject = self
            .subject
            .clone()
            .ok_or_else(|| missing("subject", CampaignKind::Email))?;
        if subject.trim().is_empty() {
            return Err(invalid("subject", "must not be empty"));
        }
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(invalid(
                "subject",
                format!("at most {MAX_SUBJECT_CHARS} characters"),
            ));
        }
        if subject.contains(['\r', '\n']) {
            return Err(invalid("subject", "must be one line"));
        }
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.body) && blank(&self.html_body) {
            return Err(invalid(
                "body",
                "an email needs a text `body`, an `html_body`, or both",
            ));
        }
        Ok(CampaignContent::Email {
            subject,
            body: self.body.clone(),
            html_body: self.html_body.clone(),
        })
    }

    fn delivery(&self) -> Result<Delivery, FieldError> {
        let send_mode = match self.send_mode.as_deref() {
            None | Some("direct") => SendMode::Direct,
            Some("session") => SendMode::Session,
            Some(other) => {
                return Err(invalid(
                    "send_mode",
                    format!("{other:?} is not a send mode; direct or session"),
                ));
            }
        };
        let session_target = match (&self.session_target, send_mode) {
            (Some(_), SendMode::Direct) => {
                return Err(invalid(
                    "session_target",
                    "only used with send_mode: session",
                ));
            }
            (None, SendMode::Session) => Some("reply_endpoint".to_owned()),
            (Some(t), SendMode::Session) => Some(check_target(t)?),
            (None, SendMode::Direct) => None,
        };
        Ok(Delivery {
            send_mode,
            session_target,
        })
    }
}

fn check_target(target: &str) -> Result<String, FieldError> {
    let target = target.trim();
    if target == "reply_endpoint" {
        return Ok(target.to_owned());
    }
    match target.strip_prefix("queue:") {
        Some(q) if !q.trim().is_empty() => Ok(format!("queue:{}", q.trim())),
        _ => Err(invalid(
            "session_target",
            "reply_endpoint or queue:NAME (e.g. queue:support)",
        )),
    }
}

/// Every template parameter must be mapped: `{{1}}`..`{{count}}`.
pub fn check_parameter_count(template: &TemplateInput, count: usize) -> Result<(), FieldError> {
    let given = template.parameters.len();
    if given < count {
        return Err(invalid(
            &format!("template.parameters[{given}]"),
            format!(
                "template {} has {count} body parameters; {{{{{}}}}} is not mapped",
                template.name,
                given + 1
            ),
        ));
    }
    if given > count {
        return Err(invalid(
            "template.parameters",
            format!(
                "template {} has {count} body parameters; {given} given",
                template.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> CampaignInput {
        CampaignInput {
            name: "x".into(),
            kind: Some(kind.into()),
            channel_id: 1,
            list_id: 1,
            ..Default::default()
        }
    }

    #[test]
    fn voice_defaults_follow_the_spec() {
        let mut i = input("voice");
        i.queue = Some("sales".into());
        let CampaignContent::Voice(v) = i.check().unwrap().content else {
            panic!()
        };
        assert_eq!(
            (v.max_concurrent, v.max_retries, v.retry_delay_secs),
            (1, 0, 60)
        );
        assert!(!v.amd_enabled);
        assert_eq!(v.amd_action, AmdAction::HangUp);
    }

    #[test]
    fn a_field_of_another_type_is_named() {
        let mut i = input("sms");
        i.body = Some("hi".into());
        i.caller_id = Some("+14155550100".into());
        assert_eq!(i.check().unwrap_err().field, "caller_id");
        let mut i = input("voice");
        i.queue = Some("q".into());
        i.body = Some("hi".into());
        assert_eq!(i.check().unwrap_err().field, "body");
    }

    #[test]
    fn voicemail_needs_a_message() {
        let mut i = input("voice");
        i.queue = Some("q".into());
        i.amd_enabled = Some(true);
        i.amd_action = Some("voicemail".into());
        assert_eq!(i.check().unwrap_err().field, "voicemail_message");
        i.voicemail_message = Some("Call us back".into());
        assert!(i.check().is_ok());
    }

    #[test]
    fn unmapped_parameter_is_named() {
        let t = TemplateInput {
            name: "order".into(),
            language: "en_US".into(),
            parameters: vec![TemplateParameter::Field("first_name".into())],
            header_media_id: None,
        };
        assert_eq!(
            check_parameter_count(&t, 2).unwrap_err().field,
            "template.parameters[1]"
        );
        assert!(check_parameter_count(&t, 1).is_ok());
    }

    #[test]
    fn email_needs_a_body_of_some_kind() {
        let mut i = input("email");
        i.subject = Some("Hello".into());
        assert_eq!(i.check().unwrap_err().field, "body");
        i.html_body = Some("<p>Hi</p>".into());
        assert!(i.check().is_ok());
    }

    #[test]
    fn session_target_is_checked() {
        let mut i = input("sms");
        i.body = Some("hi".into());
        i.send_mode = Some("session".into());
        i.session_target = Some("queue:".into());
        assert_eq!(i.check().unwrap_err().field, "session_target");
        i.session_target = Some("queue:support".into());
        let spec = i.check().unwrap();
        assert_eq!(
            spec.delivery.session_target.as_deref(),
            Some("queue:support")
        );
    }
}
