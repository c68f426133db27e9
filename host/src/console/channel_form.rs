//! A channel's form, generated from its plugin's manifest: the common
//! fields, then one input per configuration field the plugin declares.
//! Secret inputs are write-only: the page never carries a secret's value,
//! only whether it is set; left empty on an edit, a secret keeps its value.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::forms::Problem;
use crate::plugins::LoadedPlugin;
use crate::plugins::wit::ConfigField;

/// What the form posted (or, on an edit, what the channel holds now).
#[derive(Default)]
pub struct Values {
    pub csrf: String,
    pub plugin: String,
    pub name: String,
    pub sender: String,
    pub rate: String,
    pub allowed_hosts: String,
    pub config: BTreeMap<String, String>,
    /// Secrets typed in this post; never filled from the store.
    pub secrets: BTreeMap<String, String>,
}

impl Values {
    /// Reads a posted form: `config.NAME` and `secret.NAME` inputs carry
    /// the plugin's fields; empty ones are left out (not set, or kept).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut v = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => v.csrf = value,
                "plugin" => v.plugin = value,
                "name" => v.name = value,
                "sender" => v.sender = value,
                "rate" => v.rate = value.trim().to_owned(),
                "allowed_hosts" => v.allowed_hosts = value,
                _ => {
                    if let Some(field) = key.strip_prefix("config.")
                        && !value.trim().is_empty()
                    {
                        v.config.insert(field.to_owned(), value.trim().to_owned());
                    } else if let Some(field) = key.strip_prefix("secret.")
                        && !value.is_empty()
                    {
                        v.secrets.insert(field.to_owned(), value);
                    }
                }
            }
        }
        v
    }

    /// The rate as the API takes it (`None`: the default for the kind).
    pub fn rate(&self) -> Result<Option<i64>, Problem> {
        if self.rate.is_empty() {
            return Ok(None);
        }
        self.rate.parse().map(Some).map_err(|_| {
            Problem::field(
                "rate_per_second",
                "a whole number of messages per second, or empty for the default",
            )
        })
    }

    /// Allowed hosts, one per comma or line (`None`: the plugin's own).
    pub fn allowed_hosts(&self) -> Option<Vec<String>> {
        let hosts: Vec<String> = self
            .allowed_hosts
            .split([',', '\n'])
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        (!hosts.is_empty()).then_some(hosts)
    }
}

/// Where the form is posted and what it edits.
pub struct Target<'a> {
    pub action: &'a str,
    pub submit: &'a str,
    /// Names of the secrets the channel has (an edit); empty for a new one.
    pub secrets_set: &'a [String],
}

/// The form's input id for an API field name, so a refusal is shown next
/// to the input it names (`config` alone is the plugin's own verdict).
fn input_id(field: &str) -> Option<String> {
    Some(match field {
        "name" => "f-name".into(),
        "sender" => "f-sender".into(),
        "rate_per_second" => "f-rate".into(),
        f if f.starts_with("allowed_hosts") => "f-hosts".into(),
        f => {
            if let Some(name) = f.strip_prefix("config.") {
                format!("f-config-{name}")
            } else if let Some(name) = f.strip_prefix("secrets.") {
                format!("f-secret-{name}")
            } else {
                return None;
            }
        }
    })
}

/// The problem's message if it belongs to the input `id`.
fn error_for<'p>(problem: Option<&'p Problem>, id: &str) -> Option<&'p str> {
    problem
        .filter(|p| p.field.as_deref().and_then(input_id).as_deref() == Some(id))
        .map(|p| p.message.as_str())
}

/// One labelled input with its help and its error.
fn field(id: &str, label: &str, help: &str, error: Option<&str>, input: Markup) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            (input)
            @if !help.is_empty() { p.help id={ (id) "-help" } { (help) } }
            @if let Some(e) = error { p.error id={ (id) "-error" } role="alert" { (e) } }
        }
    }
}

fn described_by(id: &str, help: &str, error: Option<&str>) -> Option<String> {
    let mut ids = Vec::new();
    if !help.is_empty() {
        ids.push(format!("{id}-help"));
    }
    if error.is_some() {
        ids.push(format!("{id}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// One of the plugin's configuration fields.
fn config_input(f: &ConfigField, v: &Values, t: &Target, problem: Option<&Problem>) -> Markup {
    let label = if f.required {
        format!("{} (required)", f.label)
    } else {
        f.label.clone()
    };
    if f.secret {
        let id = format!("f-secret-{}", f.name);
        let error = error_for(problem, &id);
        let set = t.secrets_set.contains(&f.name);
        let help = if set {
            format!(
                "{} Set; type a new value to replace it, or leave empty to keep it.",
                f.description
            )
        } else {
            f.description.clone()
        };
        field(
            &id,
            &label,
            &help,
            error,
            html! {
                div.secret {
                    input id=(id) type="password" name={ "secret." (f.name) } autocomplete="new-password"
                        placeholder=(if set { "•••••• set" } else { "" })
                        required[f.required && !set]
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[described_by(&id, &help, error)];
                    @if set { span.badge.s-set data-secret=(f.name) { "set" } }
                }
            },
        )
    } else {
        let id = format!("f-config-{}", f.name);
        let error = error_for(problem, &id);
        field(
            &id,
            &label,
            &f.description,
            error,
            html! {
                input id=(id) type="text" name={ "config." (f.name) }
                    value=(v.config.get(&f.name).map(String::as_str).unwrap_or(""))
                    required[f.required]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[described_by(&id, &f.description, error)];
            },
        )
    }
}

/// The whole form for `plugin`.
pub fn render(
    plugin: &LoadedPlugin,
    v: &Values,
    t: &Target,
    problem: Option<&Problem>,
    csrf: &str,
) -> Markup {
    // A refusal that names no input of the form is shown above it.
    let general =
        problem.filter(|p| p.field.as_deref().and_then(input_id).is_none() && !p.names("config"));
    let plugin_verdict = problem.filter(|p| p.names("config"));
    let common = [
        (
            "f-name",
            "Name (required)",
            "name",
            v.name.as_str(),
            "How your team will recognise this channel.",
        ),
        (
            "f-sender",
            "Sender (required)",
            "sender",
            v.sender.as_str(),
            "Your address on this channel: an E.164 number, a short code, a sender id or an email address.",
        ),
    ];
    let rate_help = "Messages per second, shared by every campaign on this channel (1 to 10,000). Empty: the default for the kind of message.";
    let hosts_help = "Hosts the plugin may call for this channel, separated by commas, replacing the plugin's own list (e.g. a provider sandbox). Only hosts the plugin or the operator already allow are accepted.";
    html! {
        form.card.channel-form method="post" action=(t.action) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="plugin" value=(plugin.name());
            @if let Some(p) = general {
                p.error.form-error role="alert" { (p.message) }
            }
            @for (id, label, name, value, help) in common {
                @let error = error_for(problem, id);
                (field(id, label, help, error, html! {
                    input id=(id) type="text" name=(name) value=(value) required
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[described_by(id, help, error)];
                }))
            }
            @let error = error_for(problem, "f-rate");
            (field("f-rate", "Rate per second", rate_help, error, html! {
                input #f-rate type="number" name="rate" min="1" max="10000" value=(v.rate)
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[described_by("f-rate", rate_help, error)];
            }))
            fieldset {
                legend { (plugin.name()) " settings" }
                @if let Some(p) = plugin_verdict {
                    p.error #f-config-error role="alert" { (p.message) }
                }
                @if plugin.manifest.config.is_empty() {
                    p.muted { "This plugin needs no settings." }
                }
                @for f in &plugin.manifest.config {
                    (config_input(f, v, t, problem))
                }
            }
            details open[error_for(problem, "f-hosts").is_some() || !v.allowed_hosts.is_empty()] {
                summary { "Advanced" }
                @let error = error_for(problem, "f-hosts");
                (field("f-hosts", "Allowed hosts", hosts_help, error, html! {
                    input #f-hosts type="text" name="allowed_hosts" value=(v.allowed_hosts)
                        aria-invalid=[error.map(|_| "true")]
                        aria-describedby=[described_by("f-hosts", hosts_help, error)];
                }))
            }
            p { button type="submit" { (t.submit) } }
        }
    }
}
