//! The campaign form's inputs and the API's campaign object, both ways:
//! posted inputs become the JSON `POST /v1/campaigns` (or a draft's `PATCH`)
//! takes, so the API's own checks judge them; a stored draft becomes the
//! inputs that show it; and a field the API names in an error becomes the
//! input it is shown beside. No rule about campaigns lives here.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::ApiError;
use crate::domain::campaign_spec::CampaignInput;
use crate::store::Campaign;

/// How many follow-up rows the form offers (the API takes up to 5).
pub const FOLLOW_UP_ROWS: usize = 3;

/// Each type's own inputs; only the chosen type's are read.
const TYPED_INPUTS: [(&str, &[&str]); 4] = [
    ("sms", &["body"]),
    ("whatsapp", &["template", "template_parameters"]),
    (
        "voice",
        &[
            "caller_id",
            "queue",
            "max_concurrent",
            "max_retries",
            "retry_delay_secs",
            "amd_enabled",
            "amd_action",
            "voicemail_message",
        ],
    ),
    ("email", &["subject", "email_body", "html_body"]),
];

/// API keys a draft's edit clears when the form leaves them empty: the
/// typed fields of every type (a type switch drops the old type's), and the
/// optional common ones the form shows. Fields the form does not show
/// (`media_id`, `send_mode`, ...) are left as they are for the type kept.
const CLEARED_KEYS: [&str; 20] = [
    "body",
    "template",
    "caller_id",
    "queue",
    "max_concurrent",
    "max_retries",
    "retry_delay_secs",
    "amd_enabled",
    "amd_action",
    "voicemail_message",
    "subject",
    "html_body",
    "notes",
    "tags",
    "scheduled_at",
    "quiet_hours",
    "calling_hours",
    "fallback",
    "follow_ups",
    "media_id",
];

/// The form's values by input name, as posted or as loaded from a draft.
#[derive(Clone, Debug, Default)]
pub struct Values(BTreeMap<String, String>);

impl Values {
    /// Posted pairs (the CSRF token among them is not a value).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs.into_iter().filter(|(k, _)| k != "csrf").collect())
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    fn text(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1")
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }

    /// The chosen type (SMS when none is).
    pub fn kind(&self) -> &str {
        match self.get("type") {
            "" => "sms",
            k => k,
        }
    }
}

fn id(values: &Values, name: &str, what: &str) -> Result<Option<i64>, ApiError> {
    match values.text(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::invalid(name, format!("{v:?} is not a {what}"))),
    }
}

fn whole_number(values: &Values, name: &str) -> Result<Option<Value>, ApiError> {
    match values.text(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(|n| Some(json!(n)))
            .map_err(|_| ApiError::invalid(name, format!("{v:?} is not a whole number"))),
    }
}

/// A WhatsApp parameter as typed: a contact field name, or `=text` for
/// the same text for everyone.
fn parameter(p: &str) -> Value {
    match p.strip_prefix('=') {
        Some(literal) => json!({ "literal": literal }),
        None => json!({ "field": p }),
    }
}

/// The API's campaign object for these inputs. Empty inputs are absent, so
/// the API says what is missing; only what the API cannot be given (no
/// channel or list chosen, a number that is not one) is refused here.
pub fn to_api(values: &Values) -> Result<Map<String, Value>, ApiError> {
    let mut o = Map::new();
    let kind = values.kind().to_owned();
    o.insert("name".into(), json!(values.get("name").trim()));
    o.insert("type".into(), json!(kind));
    let channel = id(values, "channel_id", "channel")?
        .ok_or_else(|| ApiError::invalid("channel_id", "choose a channel"))?;
    let list = id(values, "list_id", "list")?
        .ok_or_else(|| ApiError::invalid("list_id", "choose a list to send to"))?;
    o.insert("channel_id".into(), json!(channel));
    o.insert("list_id".into(), json!(list));
    o.insert(
        "manual_review".into(),
        json!(values.checked("manual_review")),
    );
    if let Some(mode) = values.text("execution_mode") {
        o.insert("execution_mode".into(), json!(mode));
    }
    for key in ["notes", "scheduled_at"] {
        if let Some(v) = values.text(key) {
            o.insert(key.into(), json!(v));
        }
    }
    if let Some(tags) = values.text("tags") {
        let tags: Vec<&str> = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        o.insert("tags".into(), json!(tags));
    }
    if values.text("quiet_start").is_some() || values.text("quiet_end").is_some() {
        o.insert(
            "quiet_hours".into(),
            json!({ "start": values.get("quiet_start").trim(), "end": values.get("quiet_end").trim() }),
        );
    }
    if values.text("calling_start").is_some() || values.text("calling_end").is_some() {
        let mut hours = json!({ "start": values.get("calling_start").trim(),
                                "end": values.get("calling_end").trim() });
        if let Some(tz) = values.text("calling_timezone") {
            hours["timezone"] = json!(tz);
        }
        o.insert("calling_hours".into(), hours);
    }
    typed(values, &kind, &mut o)?;
    journey(values, &mut o)?;
    Ok(o)
}

/// The chosen type's fields.
fn typed(values: &Values, kind: &str, o: &mut Map<String, Value>) -> Result<(), ApiError> {
    let put = |o: &mut Map<String, Value>, key: &str, input: &str| {
        if let Some(v) = values.text(input) {
            o.insert(key.into(), json!(v));
        }
    };
    match kind {
        "sms" => put(o, "body", "body"),
        "email" => {
            put(o, "subject", "subject");
            put(o, "body", "email_body");
            put(o, "html_body", "html_body");
        }
        "voice" => {
            put(o, "caller_id", "caller_id");
            put(o, "queue", "queue");
            for key in ["max_concurrent", "max_retries", "retry_delay_secs"] {
                if let Some(n) = whole_number(values, key)? {
                    o.insert(key.into(), n);
                }
            }
            if values.checked("amd_enabled") {
                o.insert("amd_enabled".into(), json!(true));
                let action = values
                    .text("amd_action")
                    .unwrap_or_else(|| "hang_up".into());
                if action == "voicemail"
                    && let Some(m) = values.text("voicemail_message")
                {
                    o.insert("voicemail_message".into(), json!(m));
                }
                o.insert("amd_action".into(), json!(action));
            }
        }
        "whatsapp" => {
            if let Some(picked) = values.text("template") {
                let (name, language) = picked.split_once('|').unwrap_or((&picked, ""));
                let parameters: Vec<Value> = values
                    .get("template_parameters")
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(parameter)
                    .collect();
                o.insert(
                    "template".into(),
                    json!({ "name": name, "language": language, "parameters": parameters }),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// Fallback and follow-ups, from their rows (empty rows are no step).
fn journey(values: &Values, o: &mut Map<String, Value>) -> Result<(), ApiError> {
    if let Some(channel) = id(values, "fallback_channel_id", "channel")? {
        let mut step = json!({ "channel_id": channel });
        for (key, input) in [("subject", "fallback_subject"), ("body", "fallback_body")] {
            if let Some(v) = values.text(input) {
                step[key] = json!(v);
            }
        }
        o.insert("fallback".into(), step);
    }
    let mut follow_ups = Vec::new();
    for row in 1..=FOLLOW_UP_ROWS {
        let days = format!("follow_up_{row}_days");
        let body = format!("follow_up_{row}_body");
        if values.text(&days).is_none() && values.text(&body).is_none() {
            continue;
        }
        let mut step = json!({});
        if let Some(n) = whole_number(values, &days)? {
            step["after_days"] = n;
        }
        if let Some(text) = values.text(&body) {
            step["body"] = json!(text);
        }
        follow_ups.push(step);
    }
    if !follow_ups.is_empty() {
        o.insert("follow_ups".into(), Value::Array(follow_ups));
    }
    Ok(())
}

/// The inputs as a new campaign's definition, read as the API reads it.
pub fn to_input(values: &Values) -> Result<CampaignInput, ApiError> {
    serde_json::from_value(Value::Object(to_api(values)?)).map_err(|e| ApiError::BadRequest {
        field: e.to_string().split('`').nth(1).map(str::to_owned),
        message: e.to_string(),
    })
}

/// The inputs as a draft's edit: what the form leaves empty is cleared.
pub fn to_patch(values: &Values) -> Result<Map<String, Value>, ApiError> {
    let mut patch = to_api(values)?;
    let kind = values.kind();
    for key in CLEARED_KEYS {
        // The SMS type's media is not on the form: kept while it stays SMS.
        if key == "media_id" && kind == "sms" {
            continue;
        }
        patch.entry(key).or_insert(Value::Null);
    }
    if !matches!(kind, "sms" | "whatsapp") {
        patch.insert("send_mode".into(), Value::Null);
        patch.insert("session_target".into(), Value::Null);
    }
    Ok(patch)
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A stored draft as the form's inputs.
pub fn from_campaign(c: &Campaign) -> Values {
    let mut v = Values::default();
    let json = serde_json::to_value(c).unwrap_or_default();
    let kind = c.kind.as_str();
    v.set("name", &c.name);
    v.set("type", kind);
    v.set("channel_id", c.channel_id.to_string());
    v.set("list_id", c.list_id.to_string());
    v.set("execution_mode", &c.execution_mode);
    if c.manual_review {
        v.set("manual_review", "on");
    }
    v.set("notes", c.notes.clone().unwrap_or_default());
    // The first tag is the default one, made from the name.
    v.set(
        "tags",
        c.tags
            .iter()
            .skip(1)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(local) = &c.scheduled_at_local {
        v.set("scheduled_at", local.chars().take(16).collect::<String>());
    }
    if let Some(q) = &c.windows.quiet_hours {
        v.set("quiet_start", &q.start);
        v.set("quiet_end", &q.end);
    }
    if let Some(h) = &c.windows.calling_hours {
        v.set("calling_start", &h.start);
        v.set("calling_end", &h.end);
        v.set("calling_timezone", h.timezone.clone().unwrap_or_default());
    }
    let inputs = TYPED_INPUTS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, i)| *i)
        .unwrap_or_default();
    for input in inputs {
        let key: &str = if *input == "email_body" {
            "body"
        } else {
            input
        };
        if let Some(value) = json.get(key).filter(|x| !x.is_null() && !x.is_object()) {
            v.set(input, str_of(value));
        }
    }
    if let Some(t) = json.get("template").filter(|t| t.is_object()) {
        v.set(
            "template",
            format!("{}|{}", str_of(&t["name"]), str_of(&t["language"])),
        );
        let params: Vec<String> = t["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match (p.get("field"), p.get("literal")) {
                (Some(f), _) => str_of(f),
                (_, Some(l)) => format!("={}", str_of(l)),
                _ => String::new(),
            })
            .collect();
        v.set("template_parameters", params.join(", "));
    }
    if let Some(f) = &c.journey.fallback {
        v.set("fallback_channel_id", f.channel_id.to_string());
        let content = serde_json::to_value(&f.content).unwrap_or_default();
        v.set("fallback_body", str_of(&content["body"]));
        v.set("fallback_subject", str_of(&content["subject"]));
    }
    for (i, step) in c.journey.follow_ups.iter().take(FOLLOW_UP_ROWS).enumerate() {
        let content = serde_json::to_value(&step.content).unwrap_or_default();
        if let Some(days) = step.after_days {
            v.set(&format!("follow_up_{}_days", i + 1), days.to_string());
        }
        v.set(
            &format!("follow_up_{}_body", i + 1),
            str_of(&content["body"]),
        );
    }
    v
}

/// The input an API error's field is shown beside; `""` for errors about
/// no one input (shown above the form).
pub fn slot(field: &str, kind: &str) -> &'static str {
    let root = field.split(['.', '[']).next().unwrap_or(field);
    match root {
        "name" => "name",
        "type" => "type",
        "channel_id" => "channel_id",
        "list_id" => "list_id",
        "notes" => "notes",
        "tags" => "tags",
        "manual_review" => "manual_review",
        "execution_mode" | "inbound_enrolment" => "execution_mode",
        "scheduled_at" | "ends_at" => "scheduled_at",
        "quiet_hours" => "quiet_hours",
        "calling_hours" => "calling_hours",
        "body" | "media_id" if kind == "email" => "email_body",
        "body" | "media_id" => "body",
        "subject" => "subject",
        "html_body" => "html_body",
        "template" => "template",
        "caller_id" => "caller_id",
        "queue" => "queue",
        "max_concurrent" => "max_concurrent",
        "max_retries" => "max_retries",
        "retry_delay_secs" => "retry_delay_secs",
        "amd_enabled" | "amd_action" => "amd_action",
        "voicemail_message" => "voicemail_message",
        "fallback" => "fallback",
        "follow_ups" | "follow_up_days" => "follow_ups",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn only_the_chosen_types_inputs_are_sent() {
        let v = values(&[
            ("name", "Spring"),
            ("type", "sms"),
            ("channel_id", "3"),
            ("list_id", "4"),
            ("body", "Hi"),
            ("queue", "sales"),
            ("subject", "ignored"),
        ]);
        let o = to_api(&v).unwrap();
        assert_eq!(o["body"], "Hi");
        assert!(!o.contains_key("queue") && !o.contains_key("subject"));
        assert!(to_input(&v).unwrap().check().is_ok());
    }

    #[test]
    fn an_empty_body_is_missing_and_named() {
        let v = values(&[("name", "x"), ("channel_id", "1"), ("list_id", "1")]);
        let e = to_input(&v).unwrap().check().unwrap_err();
        assert_eq!((e.field.as_str(), e.missing), ("body", true));
        assert_eq!(slot(&e.field, "sms"), "body");
        assert_eq!(slot("body", "email"), "email_body");
        assert_eq!(slot("template.parameters[1]", "whatsapp"), "template");
        assert_eq!(slot("follow_ups[0].after_days", "sms"), "follow_ups");
    }

    #[test]
    fn whatsapp_parameters_are_fields_or_fixed_text() {
        let v = values(&[
            ("name", "x"),
            ("type", "whatsapp"),
            ("channel_id", "1"),
            ("list_id", "1"),
            ("template", "order_update|en_US"),
            ("template_parameters", "first_name, =ACME"),
        ]);
        let o = to_api(&v).unwrap();
        assert_eq!(
            o["template"],
            json!({ "name": "order_update", "language": "en_US",
                    "parameters": [{ "field": "first_name" }, { "literal": "ACME" }] })
        );
    }

    #[test]
    fn an_edit_clears_what_the_form_left_empty() {
        let v = values(&[
            ("name", "x"),
            ("type", "voice"),
            ("channel_id", "1"),
            ("list_id", "1"),
            ("queue", "sales"),
        ]);
        let p = to_patch(&v).unwrap();
        assert_eq!(p["queue"], "sales");
        assert_eq!(p["body"], Value::Null);
        assert_eq!(p["send_mode"], Value::Null);
    }
}
