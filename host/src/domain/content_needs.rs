//! Which contact values a campaign's messages use, and which of them a
//! contact must have: the campaign preview counts the contacts lacking
//! each before the campaign goes live.

use std::collections::{BTreeMap, BTreeSet};

use super::campaign_content::CampaignContent;
use super::campaign_spec::TemplateParameter;
use super::journey::Journey;
use super::template::{BodyTemplate, MissingField};

/// Each variable the messages use, and whether a contact without it is
/// skipped (printed with no `default` under `skip_member`; a WhatsApp
/// template parameter always).
pub fn needs(
    content: &CampaignContent,
    journey: &Journey,
    missing: MissingField,
) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let steps = journey
        .fallback
        .iter()
        .chain(&journey.follow_ups)
        .map(|s| &s.content);
    for content in std::iter::once(content).chain(steps) {
        for (name, required) in needs_of(content, missing) {
            *out.entry(name).or_insert(false) |= required;
        }
    }
    out
}

fn needs_of(content: &CampaignContent, missing: MissingField) -> Vec<(String, bool)> {
    let texts: Vec<&str> = match content {
        CampaignContent::Sms { body, .. } => vec![body],
        CampaignContent::Email {
            subject,
            body,
            html_body,
        } => std::iter::once(subject.as_str())
            .chain(body.as_deref())
            .chain(html_body.as_deref())
            .collect(),
        CampaignContent::Whatsapp { template } => {
            return template
                .parameters
                .iter()
                .filter_map(|p| match p {
                    TemplateParameter::Field(f) => Some((f.clone(), true)),
                    TemplateParameter::Literal(_) => None,
                })
                .collect();
        }
        CampaignContent::Voice(_) => Vec::new(),
    };
    let mut out = Vec::new();
    for text in texts {
        let Ok(template) = BodyTemplate::parse(text) else {
            continue;
        };
        let required: BTreeSet<String> = match missing {
            MissingField::SkipMember => template.required(),
            MissingField::RenderEmpty => BTreeSet::new(),
        };
        for name in template.variables() {
            let must = required.contains(&name);
            out.push((name, must));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_unless_defaulted_or_rendered_empty() {
        let content = CampaignContent::Email {
            subject: "Hi {{ first_name | default('there') }}".into(),
            body: Some("Order {{ order }}".into()),
            html_body: None,
        };
        let journey = Journey::default();
        let skip = needs(&content, &journey, MissingField::SkipMember);
        assert_eq!(
            skip.into_iter().collect::<Vec<_>>(),
            [("first_name".to_owned(), false), ("order".to_owned(), true)]
        );
        let empty = needs(&content, &journey, MissingField::RenderEmpty);
        assert!(empty.values().all(|required| !required));
    }
}
