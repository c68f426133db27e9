//! Channel configuration: the manifest's fields and lookups by name.

use crate::types::{Config, ConfigField, SendError};

pub fn field(
    name: &str,
    label: &str,
    description: &str,
    required: bool,
    secret: bool,
) -> ConfigField {
    ConfigField {
        name: name.into(),
        label: label.into(),
        description: description.into(),
        required,
        secret,
    }
}

/// The `base-url` field every bundled plugin accepts, so tests can point it
/// at the simulator.
pub fn base_url_field(default: &str) -> ConfigField {
    field(
        "base-url",
        "API base URL",
        &format!("Defaults to {default}; point it at a simulator for tests"),
        false,
        false,
    )
}

/// A field's value; blank counts as absent.
pub fn get<'a>(config: &'a Config, name: &str) -> Option<&'a str> {
    config
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// A required non-secret field, for `send` and friends.
pub fn require<'a>(config: &'a Config, name: &str) -> Result<&'a str, SendError> {
    get(config, name).ok_or_else(|| SendError::InvalidConfig(format!("{name}: required")))
}

/// The configured `base-url`, or the provider's, without a trailing slash.
pub fn base_url<'a>(config: &'a Config, default: &'a str) -> &'a str {
    get(config, "base-url")
        .unwrap_or(default)
        .trim_end_matches('/')
}

/// `validate-config` checks every plugin shares: required fields present,
/// `base-url` an http(s) URL.
pub fn validate(config: &Config, required: &[&str]) -> Result<(), String> {
    for name in required {
        if get(config, name).is_none() {
            return Err(format!("{name}: required"));
        }
    }
    if let Some(base) = get(config, "base-url")
        && !(base.starts_with("https://") || base.starts_with("http://"))
    {
        return Err("base-url: must be an http(s) URL".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blank_values_are_absent_and_named_in_errors() {
        let c = config(&[("api-key", "  "), ("base-url", "ftp://x")]);
        assert_eq!(get(&c, "api-key"), None);
        assert_eq!(validate(&c, &["api-key"]), Err("api-key: required".into()));
        assert_eq!(
            validate(&c, &[]),
            Err("base-url: must be an http(s) URL".into())
        );
        assert!(
            matches!(require(&c, "api-key"), Err(SendError::InvalidConfig(m)) if m == "api-key: required")
        );
    }

    #[test]
    fn base_url_defaults_and_drops_the_trailing_slash() {
        assert_eq!(base_url(&config(&[]), "https://api.x"), "https://api.x");
        let c = config(&[("base-url", "http://127.0.0.1:9/")]);
        assert_eq!(base_url(&c, "https://api.x"), "http://127.0.0.1:9");
    }
}
