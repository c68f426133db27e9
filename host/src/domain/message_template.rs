//! Message templates (seed 003): a tenant's reusable message bodies and
//! multi-step sequences. Not WhatsApp provider templates (those are synced
//! from the provider, `channel_templates`); a message template may *use* one
//! for WhatsApp. The checks here need no I/O: the type's fields, the
//! follow-up gaps and the minijinja syntax, so a broken body is refused when
//! it is saved rather than when a campaign copies it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::campaign_spec::{CampaignInput, FieldError, TemplateInput, TemplateParameter};
use super::template::BodyTemplate;

/// Channel types a template can be written for (voice has no message body).
pub const KINDS: [&str; 3] = ["sms", "email", "whatsapp"];

/// The content a campaign copies: the type's fields and the follow-ups.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateContent {
    /// sms: the text; email: the text part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// email: the subject line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// email: the HTML part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    /// whatsapp: the approved provider template and its parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateInput>,
    /// Steps sent `after_days` (1-7) without a reply; a campaign copies them
    /// as its `follow_ups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<FollowUp>,
}

/// One step of a sequence, in the shape of a campaign's follow-up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    pub after_days: i64,
    /// Default: the campaign's type on the campaign's channel.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Default: the campaign's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateInput>,
}

fn invalid(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
        missing: false,
    }
}

/// Checks a template's content for its channel type, answering the
/// variables its texts use (sorted, deduplicated).
pub fn check(kind: &str, content: &TemplateContent) -> Result<Vec<String>, FieldError> {
    if !KINDS.contains(&kind) {
        return Err(invalid(
            "type",
            format!(
                "{kind:?} is not a template type; one of {}",
                KINDS.join(", ")
            ),
        ));
    }
    // The campaign rules decide which fields the type takes and their
    // limits, so a template never holds what a campaign would refuse.
    let as_campaign = CampaignInput {
        kind: Some(kind.to_owned()),
        body: content.body.clone(),
        subject: content.subject.clone(),
        html_body: content.html_body.clone(),
        template: content.template.clone(),
        ..CampaignInput::default()
    };
    as_campaign.check()?;
    let mut variables = BTreeSet::new();
    let mut texts: Vec<(String, &Option<String>)> = vec![
        ("body".into(), &content.body),
        ("subject".into(), &content.subject),
        ("html_body".into(), &content.html_body),
    ];
    for (i, step) in content.follow_ups.iter().enumerate() {
        if !(1..=7).contains(&step.after_days) {
            return Err(invalid(
                &format!("follow_ups[{i}].after_days"),
                format!("{} is out of range 1..=7", step.after_days),
            ));
        }
        texts.push((format!("follow_ups[{i}].body"), &step.body));
        texts.push((format!("follow_ups[{i}].subject"), &step.subject));
        texts.push((format!("follow_ups[{i}].html_body"), &step.html_body));
        collect_parameters(step.template.as_ref(), &mut variables);
    }
    for (field, text) in texts {
        if let Some(text) = text {
            let parsed = BodyTemplate::parse(text).map_err(|e| invalid(&field, e.to_string()))?;
            variables.extend(parsed.variables());
        }
    }
    collect_parameters(content.template.as_ref(), &mut variables);
    Ok(variables.into_iter().collect())
}

/// A WhatsApp template's contact-field parameters are variables too.
fn collect_parameters(template: Option<&TemplateInput>, into: &mut BTreeSet<String>) {
    for p in template.into_iter().flat_map(|t| &t.parameters) {
        if let TemplateParameter::Field(f) = p {
            into.insert(f.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(body: &str) -> TemplateContent {
        TemplateContent {
            body: Some(body.into()),
            ..TemplateContent::default()
        }
    }

    #[test]
    fn variables_come_from_every_step() {
        let mut content = sms("Hi {{first_name}}, {{ code }}");
        content.follow_ups.push(FollowUp {
            after_days: 2,
            body: Some("Still there, {{first_name}}? {{city}}".into()),
            ..FollowUp::default()
        });
        assert_eq!(
            check("sms", &content).unwrap(),
            ["city", "code", "first_name"]
        );
    }

    #[test]
    fn a_syntax_error_names_the_field() {
        let err = check("sms", &sms("Hi {{first_name")).unwrap_err();
        assert_eq!(err.field, "body");
        let mut content = sms("Hi");
        content.follow_ups.push(FollowUp {
            after_days: 1,
            body: Some("{% if %}".into()),
            ..FollowUp::default()
        });
        assert_eq!(
            check("sms", &content).unwrap_err().field,
            "follow_ups[0].body"
        );
    }

    #[test]
    fn email_subject_is_checked_too() {
        let content = TemplateContent {
            subject: Some("{{ oops".into()),
            body: Some("ok".into()),
            ..TemplateContent::default()
        };
        assert_eq!(check("email", &content).unwrap_err().field, "subject");
    }

    #[test]
    fn fields_of_another_type_and_bad_gaps_are_refused() {
        let content = TemplateContent {
            subject: Some("s".into()),
            body: Some("b".into()),
            ..TemplateContent::default()
        };
        assert_eq!(check("sms", &content).unwrap_err().field, "subject");
        assert_eq!(check("voice", &sms("b")).unwrap_err().field, "type");
        let mut content = sms("b");
        content.follow_ups.push(FollowUp {
            after_days: 8,
            body: Some("later".into()),
            ..FollowUp::default()
        });
        assert_eq!(
            check("sms", &content).unwrap_err().field,
            "follow_ups[0].after_days"
        );
    }

    #[test]
    fn a_missing_body_is_reported_as_missing() {
        let err = check("sms", &TemplateContent::default()).unwrap_err();
        assert_eq!((err.field.as_str(), err.missing), ("body", true));
    }
}
