//! Message bodies with `{{variable}}` placeholders filled from contact fields,
//! rendered with minijinja. Variables are checked when a campaign is created so
//! a typo is refused up front instead of sending "Hi ," to a whole list.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::Environment;

/// Fields every contact has, usable in any body.
pub const STANDARD_FIELDS: &[&str] = &["first_name", "last_name", "name", "phone", "email"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template syntax error: {0}")]
    Syntax(String),
    #[error("unknown variable `{0}`; known: {1}")]
    UnknownVariable(String, String),
}

/// A parsed body, checked for syntax.
pub struct BodyTemplate {
    source: String,
}

impl BodyTemplate {
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let env = Environment::new();
        env.template_from_str(source)
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        Ok(Self {
            source: source.to_owned(),
        })
    }

    /// Every top-level variable the body refers to.
    pub fn variables(&self) -> BTreeSet<String> {
        let env = Environment::new();
        let tmpl = env
            .template_from_str(&self.source)
            .expect("syntax checked in parse");
        tmpl.undeclared_variables(false).into_iter().collect()
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

    /// Renders with the contact's values; a field the contact lacks renders empty.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        let mut env = Environment::new();
        // Message bodies are plain text, never HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let tmpl = env
            .template_from_str(&self.source)
            .map_err(|e| TemplateError::Syntax(e.to_string()))?;
        tmpl.render(values)
            .map_err(|e| TemplateError::Syntax(e.to_string()))
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
            .render(&values(&[("first_name", "Ana"), ("code", "<42>")]))
            .unwrap();
        assert_eq!(out, "Hi Ana, your code is <42> 🎉");
    }

    #[test]
    fn missing_value_renders_empty() {
        let t = BodyTemplate::parse("Hi {{first_name}}!").unwrap();
        assert_eq!(t.render(&BTreeMap::new()).unwrap(), "Hi !");
    }

    #[test]
    fn unknown_variable_is_named() {
        let t = BodyTemplate::parse("Hi {{frist_name}}").unwrap();
        let err = t.check_variables(&BTreeSet::new()).unwrap_err();
        assert!(matches!(err, TemplateError::UnknownVariable(ref v, _) if v == "frist_name"));
        let custom: BTreeSet<String> = ["frist_name".to_string()].into();
        assert!(t.check_variables(&custom).is_ok());
    }

    #[test]
    fn syntax_errors_are_refused() {
        assert!(matches!(
            BodyTemplate::parse("Hi {{ first_name"),
            Err(TemplateError::Syntax(_))
        ));
    }
}
