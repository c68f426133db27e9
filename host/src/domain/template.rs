//! Message bodies with `{{variable}}` placeholders filled from contact fields,
//! rendered with minijinja. Variables are checked when a campaign is created so
//! a typo is refused up front instead of sending "Hi ," to a whole list.

use std::collections::{BTreeMap, BTreeSet};

use super::template_cache;
use serde::{Deserialize, Serialize};

/// Fields every contact has, usable in any body.
pub const STANDARD_FIELDS: &[&str] = &["first_name", "last_name", "name", "phone", "email"];

/// What a message does with a variable the contact has no value for (and
/// that no `default` filter covers): a campaign setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingField {
    /// The member is not sent; it fails with error code
    /// `missing_field:NAME`.
    #[default]
    SkipMember,
    /// The variable renders as empty text.
    RenderEmpty,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template syntax error: {0}")]
    Syntax(String),
    #[error("unknown variable `{0}`; known: {1}")]
    UnknownVariable(String, String),
    #[error("the contact has no value for `{0}`")]
    MissingValue(String),
}

impl TemplateError {
    /// The member's error code for a message that could not be made.
    pub fn code(&self) -> Option<String> {
        match self {
            Self::MissingValue(name) => Some(format!("missing_field:{name}")),
            _ => None,
        }
    }
}

/// A parsed body, checked for syntax.
pub struct BodyTemplate {
    source: String,
}

impl BodyTemplate {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        // Compiled as a skip-member campaign renders it, the usual setting:
        // its sends then find it compiled.
        template_cache::compiled(source, true, minijinja::AutoEscape::None)
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        Ok(Self {
            source: source.to_owned(),
        })
    }

    /// Every top-level variable the body refers to.
    pub fn variables(&self) -> BTreeSet<String> {
        template_cache::compiled(&self.source, true, minijinja::AutoEscape::None)
            .and_then(|env| template_cache::variables(&env))
            .expect("syntax checked in parse")
    }

    /// Refuses a body that uses a variable outside `STANDARD_FIELDS` and `custom`.
    pub fn check_variables(&self, custom: &BTreeSet<String>) -> Result<(), TemplateError> {
        for var in self.variables() {
            if !STANDARD_FIELDS.contains(&var.as_str()) && !custom.contains(&var) {
                let mut known: Vec<&str> = STANDARD_FIELDS.to_vec();
                known.extend(custom.iter().map(String::as_str));
                return Err(TemplateError::UnknownVariable(var, known.join(", ")));
            }
        }
        Ok(())
    }

    /// Renders plain text (SMS, email text, subjects) with the contact's
    /// values. An empty value counts as missing, so `{{ first_name |
    /// default("there") }}` covers both; a missing one without a default
    /// does what `missing` says.
    pub fn render(
        &self,
        values: &BTreeMap<String, String>,
        missing: MissingField,
    ) -> Result<String, TemplateError> {
        self.render_escaped(values, missing, minijinja::AutoEscape::None)
    }

    /// Renders an HTML part: contact values are HTML-escaped (a contact
    /// named `<script>` arrives as text); a tenant's trusted markup in a
    /// value goes through `| safe` (or its alias `| raw`).
    pub fn render_html(
        &self,
        values: &BTreeMap<String, String>,
        missing: MissingField,
    ) -> Result<String, TemplateError> {
        self.render_escaped(values, missing, minijinja::AutoEscape::Html)
    }

    fn render_escaped(
        &self,
        values: &BTreeMap<String, String>,
        missing: MissingField,
        escape: minijinja::AutoEscape,
    ) -> Result<String, TemplateError> {
        let present: BTreeMap<&str, &str> = values
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let strict = missing == MissingField::SkipMember;
        match self.render_with(&present, strict, escape) {
            // An undefined that no absent variable explains (an unknown
            // attribute, `{{ loop.indx }}`) is the body's error, not the
            // contact's.
            Err(e) if strict && e.kind() == minijinja::ErrorKind::UndefinedError => {
                match self.missing_name(&present, escape) {
                    Some(name) => Err(TemplateError::MissingValue(name)),
                    None => Err(TemplateError::Syntax(e.to_string())),
                }
            }
            Err(e) => Err(TemplateError::Syntax(e.to_string())),
            Ok(text) => Ok(text),
        }
    }

    fn render_with(
        &self,
        values: &BTreeMap<&str, &str>,
        strict: bool,
        escape: minijinja::AutoEscape,
    ) -> Result<String, minijinja::Error> {
        let env = template_cache::compiled(&self.source, strict, escape)?;
        template_cache::render(&env, values)
    }

    /// Which absent variable a strict render stumbled on: the one that
    /// still fails when every other absent one is given a value (a
    /// variable under `default` never does); `None` when no variable the
    /// body uses is absent.
    fn missing_name(
        &self,
        present: &BTreeMap<&str, &str>,
        escape: minijinja::AutoEscape,
    ) -> Option<String> {
        let absent: Vec<String> = self
            .variables()
            .into_iter()
            .filter(|v| !present.contains_key(v.as_str()))
            .collect();
        for candidate in &absent {
            let mut filled = present.clone();
            for other in absent.iter().filter(|o| *o != candidate) {
                filled.insert(other, "x");
            }
            if self.render_with(&filled, true, escape).is_err() {
                return Some(candidate.clone());
            }
        }
        absent.into_iter().next()
    }

    /// Variables this body prints with no `default`: those a contact must
    /// have for `skip_member` to send it (for the campaign preview).
    pub fn required(&self) -> BTreeSet<String> {
        let all = self.variables();
        all.iter()
            .filter(|v| {
                // Every other variable filled: does this one alone fail?
                let filled: BTreeMap<&str, &str> = all
                    .iter()
                    .filter(|o| o != v)
                    .map(|o| (o.as_str(), "x"))
                    .collect();
                self.render_with(&filled, true, minijinja::AutoEscape::None)
                    .is_err()
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_contact_fields() {
        let t = BodyTemplate::parse("Hi {{first_name}}, your code is {{code}} 🎉").unwrap();
        let out = t
            .render(
                &values(&[("first_name", "Ana"), ("code", "<42>")]),
                MissingField::SkipMember,
            )
            .unwrap();
        assert_eq!(out, "Hi Ana, your code is <42> 🎉");
    }

    #[test]
    fn missing_value_renders_empty_when_the_campaign_says_so() {
        let t = BodyTemplate::parse("Hi {{first_name}}!").unwrap();
        let empty = values(&[("first_name", " ")]);
        for v in [BTreeMap::new(), empty] {
            assert_eq!(t.render(&v, MissingField::RenderEmpty).unwrap(), "Hi !");
            assert_eq!(
                t.render(&v, MissingField::SkipMember),
                Err(TemplateError::MissingValue("first_name".into()))
            );
        }
    }

    #[test]
    fn a_default_covers_a_missing_value() {
        let t = BodyTemplate::parse(
            "Hi {{ first_name | default(\"there\") }}, order {{ order }} for {{ city }}",
        )
        .unwrap();
        let v = values(&[("order", "42")]);
        assert_eq!(
            t.render(&v, MissingField::SkipMember),
            Err(TemplateError::MissingValue("city".into())),
            "the default covers first_name, not city"
        );
        let v = values(&[("order", "42"), ("city", "Oslo"), ("first_name", "")]);
        assert_eq!(
            t.render(&v, MissingField::SkipMember).unwrap(),
            "Hi there, order 42 for Oslo"
        );
        let required: Vec<String> = t.required().into_iter().collect();
        assert_eq!(required, ["city", "order"]);
        assert_eq!(
            TemplateError::MissingValue("city".into()).code().as_deref(),
            Some("missing_field:city")
        );
    }

    #[test]
    fn html_parts_escape_contact_values() {
        let t = BodyTemplate::parse("<p>Hi {{first_name}}</p>{{ sig | raw }}").unwrap();
        let v = values(&[("first_name", "<script>x</script>"), ("sig", "<b>Shop</b>")]);
        assert_eq!(
            t.render_html(&v, MissingField::SkipMember).unwrap(),
            "<p>Hi &lt;script&gt;x&lt;&#x2f;script&gt;</p><b>Shop</b>"
        );
        assert_eq!(
            t.render(&v, MissingField::SkipMember).unwrap(),
            "<p>Hi <script>x</script></p><b>Shop</b>",
            "plain text parts are never escaped"
        );
    }

    #[test]
    fn unknown_variable_is_named() {
        let t = BodyTemplate::parse("Hi {{frist_name}}").unwrap();
        let err = t.check_variables(&BTreeSet::new()).unwrap_err();
        assert!(matches!(err, TemplateError::UnknownVariable(ref v, _) if v == "frist_name"));
        let custom: BTreeSet<String> = ["frist_name".to_string()].into();
        assert!(t.check_variables(&custom).is_ok());
    }

    /// Found by the `template` fuzz target: an unknown attribute of a
    /// defined value was reported as the missing field `""`.
    #[test]
    fn an_unknown_attribute_is_the_bodys_error_not_a_missing_field() {
        let t = BodyTemplate::parse(
            "{% for w in notes|split %}{{ loop.indlisex }}:{{ w|title }} {% endfor %}{{ code|e }}",
        )
        .unwrap();
        let v = values(&[("notes", "a b c"), ("code", "&")]);
        assert!(matches!(
            t.render(&v, MissingField::SkipMember),
            Err(TemplateError::Syntax(_))
        ));
        assert_eq!(
            t.render(&v, MissingField::RenderEmpty).unwrap(),
            ":A :B :C &amp;"
        );
        let t = BodyTemplate::parse("{{ loop.index }} {{ code }}").unwrap();
        assert_eq!(
            t.render(&BTreeMap::new(), MissingField::SkipMember),
            Err(TemplateError::MissingValue("code".into()))
        );
    }

    #[test]
    fn syntax_errors_are_refused() {
        assert!(matches!(
            BodyTemplate::parse("Hi {{ first_name"),
            Err(TemplateError::Syntax(_))
        ));
    }
}
