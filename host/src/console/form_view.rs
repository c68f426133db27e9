//! What the campaign form offers (lists, channels with the types their
//! plugin serves, synced WhatsApp templates) and how it shows a refusal:
//! each error beside the input its field names, the rest above the form.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use maud::{Markup, html};

use super::form_fields::slot;
use super::forms::problem;
use crate::api::{ApiError, AppState};
use crate::plugins::wit::ChannelKind;
use crate::store::{ContactList, Id, Tenant};

/// A channel the form offers, with the campaign types its plugin serves.
pub struct ChannelChoice {
    pub id: Id,
    pub name: String,
    pub plugin: String,
    pub kinds: Vec<&'static str>,
}

/// A synced WhatsApp template of one channel.
pub struct TemplateChoice {
    pub channel: Id,
    pub name: String,
    pub language: String,
    pub status: String,
    pub parameters: i64,
}

pub struct Choices {
    pub lists: Vec<ContactList>,
    pub channels: Vec<ChannelChoice>,
    pub templates: Vec<TemplateChoice>,
}

/// The campaign type a plugin's channel kind serves (MMS is SMS with media).
fn campaign_kind(k: &ChannelKind) -> &'static str {
    match k {
        ChannelKind::Sms | ChannelKind::Mms => "sms",
        ChannelKind::Whatsapp => "whatsapp",
        ChannelKind::Voice => "voice",
        ChannelKind::Email => "email",
    }
}

/// The tenant's lists, channels and templates, as the form offers them.
pub async fn choices(state: &AppState, tenant: &Tenant) -> Result<Choices, ApiError> {
    let lists = state.store.lists(tenant.id).await?;
    let mut channels = Vec::new();
    let mut templates = Vec::new();
    for c in state.store.list_channels(tenant.id).await? {
        // The plugin the channel resolves to now (its pin, else the active
        // version): the same one the API's check asks.
        let mut kinds: Vec<&'static str> = match state
            .registry
            .resolve(&c.plugin, c.pinned_sha256.as_deref())
            .await
        {
            Ok(plugin) => plugin.manifest.channels.iter().map(campaign_kind).collect(),
            Err(_) => Vec::new(),
        };
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.contains(&"whatsapp") {
            templates.extend(
                state
                    .store
                    .templates(tenant.id, c.id)
                    .await?
                    .into_iter()
                    .map(|t| TemplateChoice {
                        channel: c.id,
                        name: t.name,
                        language: t.language,
                        status: t.status,
                        parameters: t.body_parameter_count,
                    }),
            );
        }
        channels.push(ChannelChoice {
            id: c.id,
            name: c.name,
            plugin: c.plugin,
            kinds,
        });
    }
    Ok(Choices {
        lists,
        channels,
        templates,
    })
}

/// A refusal, by the input it is shown beside (`""`: above the form).
#[derive(Default)]
pub struct Errors {
    by_slot: BTreeMap<&'static str, String>,
    /// Said first (e.g. that the draft was saved all the same).
    pub note: Option<&'static str>,
}

impl Errors {
    /// The errors a refusal shows on the form, with the status the API
    /// answers for it; the error itself when it is not about the form's
    /// content (a campaign or member not found, an internal error).
    pub fn from_api(e: ApiError, kind: &str) -> Result<(Self, StatusCode), ApiError> {
        if matches!(e, ApiError::NotFound(_)) {
            return Err(e);
        }
        let p = problem(e)?;
        let mut by_slot = BTreeMap::new();
        by_slot.insert(slot(p.field.as_deref().unwrap_or(""), kind), p.message);
        let errors = Self {
            by_slot,
            note: None,
        };
        Ok((errors, p.status))
    }

    fn get(&self, slot: &str) -> Option<&String> {
        self.by_slot.get(slot)
    }

    /// `aria-invalid` for an input.
    pub fn invalid(&self, slot: &str) -> Option<&'static str> {
        self.get(slot).map(|_| "true")
    }

    /// `aria-describedby` for an input: its error, when it has one.
    pub fn described(&self, slot: &str) -> Option<String> {
        self.get(slot).map(|_| format!("error-{slot}"))
    }

    /// The error shown beside an input (or a group of inputs).
    pub fn beside(&self, slot: &str) -> Markup {
        html! {
            @if let Some(message) = self.get(slot) {
                p.field-error id={ "error-" (slot) } role="alert" { (message) }
            }
        }
    }

    /// Above the form: that something was refused, and anything not about
    /// one input.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.by_slot.is_empty() {
                div.form-alert #form-error role="alert" {
                    @if let Some(note) = self.note { p { strong { (note) } } }
                    @if let Some(general) = self.get("") {
                        p { (general) }
                    } @else {
                        @for slot in self.by_slot.keys() {
                            p { "Please fix the field marked below: "
                                a href={ "#error-" (slot) } { (self.by_slot[slot]) } }
                        }
                    }
                }
            }
        }
    }
}

/// A labelled input with its help and its error.
pub fn field(
    name: &str,
    label: &str,
    errors: &Errors,
    help: Option<&str>,
    input: Markup,
) -> Markup {
    html! {
        div.field {
            label for=(name) { (label) }
            (input)
            @if let Some(help) = help { small.help { (help) } }
            (errors.beside(name))
        }
    }
}
