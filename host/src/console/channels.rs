//! The tenant's channels: the list, a new channel from a plugin's generated
//! form, a channel's page (settings with secrets masked, edit, WhatsApp
//! templates). Creating, editing and syncing go through the API's own
//! functions (`api::channels`, `api::templates`), so no rule lives here.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::audit_trail;
use super::campaigns::local;
use super::channel_form::{self, Target, Values};
use super::forms::{Problem, problem};
use super::layout::{page, type_badge};
use super::session::{CsrfOnly, Signed};
use crate::api::AppState;
use crate::api::channels::{CreateChannel, UpdateChannel, create_channel, update_channel};
use crate::plugins::LoadedPlugin;
use crate::plugins::wit::ChannelKind;
use crate::store::{Channel, Id, StoreError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/channels", get(list))
        .route("/channels/new", get(new).post(create))
        .route("/channels/{id}", get(show).post(edit))
        .route("/channels/{id}/templates/sync", post(sync))
}

/// The kinds of message a plugin sends, as the API names them.
fn kinds(plugin: &LoadedPlugin) -> Vec<&'static str> {
    plugin
        .manifest
        .channels
        .iter()
        .map(|k| match k {
            ChannelKind::Sms => "sms",
            ChannelKind::Mms => "mms",
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Voice => "voice",
            ChannelKind::Email => "email",
        })
        .collect()
}

fn kind_badges(plugin: Option<&LoadedPlugin>) -> Markup {
    html! {
        @match plugin {
            Some(p) => { @for k in kinds(p) { (type_badge(k)) " " } }
            None => { span.muted { "unavailable" } }
        }
    }
}

/// The version a channel sends with, if it can send at all.
async fn plugin_of(state: &AppState, c: &Channel) -> Option<Arc<LoadedPlugin>> {
    state
        .registry
        .resolve(&c.plugin, c.pinned_sha256.as_deref())
        .await
        .ok()
}

fn channel_not_found(signed: &Signed) -> Response {
    super::message(
        StatusCode::NOT_FOUND,
        "Not found",
        html! { h1 { "Not found" } p { "There is no such channel. " a href="/channels" { "Back to the channels" } } },
        Some(signed),
    )
}

fn rate(c: &Channel) -> String {
    c.rate_per_second
        .map(|r| format!("{r}/s"))
        .unwrap_or_else(|| "default".into())
}

pub async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let channels = match state.store.list_channels(tenant.id).await {
        Ok(c) => c,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let mut rows = Vec::with_capacity(channels.len());
    for c in channels {
        let plugin = plugin_of(&state, &c).await;
        rows.push((c, plugin));
    }
    let body = html! {
        div.title-row {
            h1 { "Channels" }
            a.button href="/channels/new" { "New channel" }
        }
        @if rows.is_empty() {
            div.empty {
                p { "No channels yet. A channel is how your campaigns reach people: a provider plugin with your account's settings and your sender." }
                a.button href="/channels/new" { "Create your first channel" }
            }
        } @else {
            table #channels {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Plugin" }
                    th.hide-narrow scope="col" { "Rate" } th.hide-narrow scope="col" { "Created" }
                } }
                tbody {
                    @for (c, plugin) in &rows {
                        tr data-id=(c.id) {
                            td { a href={ "/channels/" (c.id) } { (c.name) } }
                            td { (kind_badges(plugin.as_deref())) }
                            td { code { (c.plugin) } }
                            td.hide-narrow { (rate(c)) }
                            td.hide-narrow { (local(c.created_at, tenant)) }
                        }
                    }
                }
            }
        }
    };
    Html(page("Channels", &signed, body).into_string()).into_response()
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    plugin: String,
}

/// Without a plugin: pick one. With one: its generated form.
pub async fn new(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<NewQuery>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    // Only the plugins an admin lets the tenant use (see `tenant_plugins`).
    let allowed = match crate::api::tenant_plugins::allowed_plugins(&state, tenant.id).await {
        Ok(allowed) => allowed,
        Err(e) => return e.into_response(),
    };
    let mut plugins = state.registry.all();
    plugins.retain(|p| allowed.as_ref().is_none_or(|a| a.contains(p.name())));
    match plugins.iter().find(|p| p.name() == q.plugin) {
        Some(plugin) => new_form(&signed, plugin, &Values::default(), None),
        None => picker(&signed, plugins),
    }
}

fn picker(signed: &Signed, mut plugins: Vec<Arc<LoadedPlugin>>) -> Response {
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    let body = html! {
        p { a href="/channels" { "← Channels" } }
        h1 { "New channel" }
        p.muted { "Pick the provider plugin this channel sends through. Its form asks for exactly the settings the plugin declares." }
        @if plugins.is_empty() {
            div.empty { p { "No plugin is available. Ask your administrator to install or activate one." } }
        } @else {
            ul.plugin-picker {
                @for p in &plugins {
                    li.card {
                        h2 { (p.name()) " " span.muted { "v" (p.version()) } }
                        p { (kind_badges(Some(p))) }
                        p.muted { (p.manifest.config.len()) " settings, "
                            (p.manifest.config.iter().filter(|f| f.secret).count()) " of them secret" }
                        a.button href={ "/channels/new?plugin=" (p.name()) } aria-label={ "Use " (p.name()) } { "Use this plugin" }
                    }
                }
            }
        }
    };
    Html(page("New channel", signed, body).into_string()).into_response()
}

fn new_form(
    signed: &Signed,
    plugin: &LoadedPlugin,
    v: &Values,
    problem: Option<&Problem>,
) -> Response {
    let target = Target {
        action: "/channels/new",
        submit: "Create channel",
        secrets_set: &[],
    };
    let body = html! {
        p { a href="/channels/new" { "← Pick another plugin" } }
        h1 { "New " (plugin.name()) " channel " (kind_badges(Some(plugin))) }
        @if problem.is_some() && !v.secrets.is_empty() {
            p.muted { "For your safety the secrets you typed were not sent back: type them again." }
        }
        (channel_form::render(plugin, v, &target, problem, &signed.csrf))
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (
        status,
        Html(page("New channel", signed, body).into_string()),
    )
        .into_response()
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let v = Values::from_pairs(pairs);
    let tenant = match signed.tenant_post(&v.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(plugin) = state.registry.get(&v.plugin) else {
        return Redirect::to("/channels/new").into_response();
    };
    let outcome = match v.rate() {
        Err(p) => Ok(p),
        Ok(rate_per_second) => {
            let req = CreateChannel {
                name: v.name.clone(),
                plugin: v.plugin.clone(),
                sender: v.sender.clone(),
                config: v.config.clone(),
                secrets: v.secrets.clone(),
                allowed_hosts: v.allowed_hosts(),
                pinned_sha256: None,
                rate_per_second,
            };
            match create_channel(&state, tenant, req).await {
                Ok(c) => {
                    let target = format!("/channels #{}", c.id);
                    audit_trail::record(&state, &signed, "POST /channels/new", &target).await;
                    return Redirect::to(&format!("/channels/{}?saved=1", c.id)).into_response();
                }
                Err(e) => problem(e),
            }
        }
    };
    match outcome {
        Ok(p) => new_form(&signed, &plugin, &v, Some(&p)),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    /// Any value: the channel was just saved.
    saved: Option<String>,
    #[serde(default)]
    synced: Option<usize>,
}

/// What a channel's page says after an action on it.
enum Notice {
    None,
    Saved,
    Synced(usize),
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let notice = match (q.saved, q.synced) {
        (_, Some(n)) => Notice::Synced(n),
        (Some(_), None) => Notice::Saved,
        _ => Notice::None,
    };
    detail(&state, &signed, id, notice, None, None).await
}

/// A channel's page; `posted` refills the edit form after a refusal.
async fn detail(
    state: &AppState,
    signed: &Signed,
    id: Id,
    notice: Notice,
    posted: Option<&Values>,
    problem: Option<&Problem>,
) -> Response {
    let tenant = match signed.tenant_page() {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let loaded = async {
        let c = state.store.channel(tenant.id, id).await?;
        let templates = state.store.templates(tenant.id, id).await?;
        Ok::<_, StoreError>((c, templates))
    };
    let (c, templates) = match loaded.await {
        Ok(l) => l,
        Err(StoreError::NotFound) => return channel_not_found(signed),
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let plugin = plugin_of(state, &c).await;
    let whatsapp = plugin
        .as_ref()
        .is_some_and(|p| p.manifest.channels.contains(&ChannelKind::Whatsapp));
    let current = Values {
        name: c.name.clone(),
        sender: c.sender.clone(),
        rate: c.rate_per_second.map(|r| r.to_string()).unwrap_or_default(),
        allowed_hosts: c.allowed_hosts.clone().unwrap_or_default().join(", "),
        config: c.config.clone(),
        ..Values::default()
    };
    let values = posted.unwrap_or(&current);
    let action = format!("/channels/{id}");
    let sync_problem = problem.filter(|p| p.names("templates"));
    let form_problem = problem.filter(|p| !p.names("templates"));
    let body = html! {
        p { a href="/channels" { "← Channels" } }
        h1 { (c.name) " " (kind_badges(plugin.as_deref())) }
        @match notice {
            Notice::Saved => { p.notice role="status" { "Saved. Secrets are stored and never shown again." } }
            Notice::Synced(n) => { p.notice role="status" { "Synced: " (n) " templates." } }
            Notice::None => {}
        }
        div.card {
            dl.facts {
                dt { "Plugin" } dd { code { (c.plugin) } @if let Some(p) = &plugin { " v" (p.version()) } }
                dt { "Sender" } dd { (c.sender) }
                dt { "Rate" } dd { (rate(&c)) }
                dt { "Created" } dd { (local(c.created_at, tenant)) }
            }
            @if plugin.is_none() {
                p.error { (state.registry.unavailable_reason(&c.plugin)) ": this channel cannot send until the administrator makes it available." }
            }
        }
        h2 { "Settings" }
        table #settings {
            thead { tr { th scope="col" { "Setting" } th scope="col" { "Value" } } }
            tbody {
                @for (name, label, secret) in settings(&c, plugin.as_deref()) {
                    tr data-setting=(name) {
                        th scope="row" { (label) }
                        td {
                            @if secret {
                                @if c.secret_names.contains(&name) {
                                    span.masked aria-label="secret, set" { "••••••" } " " span.badge.s-set { "set" }
                                } @else {
                                    span.muted { "not set" }
                                }
                            } @else {
                                (c.config.get(&name).cloned().unwrap_or_else(|| "—".into()))
                            }
                        }
                    }
                }
            }
        }
        @if whatsapp { (templates_section(&c, &templates, sync_problem, &signed.csrf)) }
        h2 { "Edit" }
        @match &plugin {
            Some(p) => { (channel_form::render(p, values, &Target { action: &action, submit: "Save changes", secrets_set: &c.secret_names }, form_problem, &signed.csrf)) }
            None => { div.empty { p { "The plugin is not available, so its settings cannot be checked or changed now." } } }
        }
    };
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    (status, Html(page(&c.name, signed, body).into_string())).into_response()
}

/// Each setting to show: the manifest's fields, else what the channel has.
fn settings(c: &Channel, plugin: Option<&LoadedPlugin>) -> Vec<(String, String, bool)> {
    match plugin {
        Some(p) => p
            .manifest
            .config
            .iter()
            .map(|f| (f.name.clone(), f.label.clone(), f.secret))
            .collect(),
        None => c
            .config
            .keys()
            .map(|k| (k.clone(), k.clone(), false))
            .chain(c.secret_names.iter().map(|k| (k.clone(), k.clone(), true)))
            .collect(),
    }
}

fn templates_section(
    c: &Channel,
    templates: &[crate::store::ChannelTemplate],
    problem: Option<&Problem>,
    csrf: &str,
) -> Markup {
    html! {
        section #templates aria-labelledby="templates-title" {
            div.title-row {
                h2 #templates-title { "Message templates" }
                form.inline method="post" action={ "/channels/" (c.id) "/templates/sync" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.secondary type="submit" { "Sync templates" }
                }
            }
            @if let Some(p) = problem { p.error role="alert" { "Sync failed: " (p.message) } }
            @if templates.is_empty() {
                div.empty { p { "No templates synced yet. Sync to fetch the templates your WhatsApp account has; only approved ones can be sent." } }
            } @else {
                table #template-list {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Language" }
                        th.hide-narrow scope="col" { "Category" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for t in templates {
                            tr {
                                td { (t.name) } td { (t.language) }
                                td.hide-narrow { (t.category) }
                                td { span class={ "badge tpl-" (t.status.to_lowercase()) } { (t.status) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn edit(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let v = Values::from_pairs(pairs);
    let tenant = match signed.tenant_post(&v.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let current = match state.store.channel(tenant.id, id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return channel_not_found(&signed),
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let rate = match v.rate() {
        Ok(r) => r,
        Err(p) => return detail(&state, &signed, id, Notice::None, Some(&v), Some(&p)).await,
    };
    // An empty secret input keeps the secret: start from what is stored.
    let mut secrets = (*current.secrets).clone();
    secrets.extend(v.secrets.clone());
    let req = UpdateChannel {
        name: Some(v.name.clone()),
        plugin: None,
        sender: Some(v.sender.clone()),
        config: Some(v.config.clone()),
        secrets: Some(secrets),
        // Empty keeps the current list, as an absent field does in the API.
        allowed_hosts: v.allowed_hosts(),
        pinned_sha256: None,
        rate_per_second: Some(rate),
    };
    match update_channel(&state, tenant, id, req).await {
        Ok(_) => {
            let target = format!("/channels/{id}");
            audit_trail::record(&state, &signed, "POST /channels/{id}", &target).await;
            Redirect::to(&format!("/channels/{id}?saved=1")).into_response()
        }
        Err(e) => match problem(e) {
            Ok(p) => detail(&state, &signed, id, Notice::None, Some(&v), Some(&p)).await,
            Err(e) => e.into_response(),
        },
    }
}

pub async fn sync(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<Id>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let tenant = match signed.tenant_post(&f.csrf) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match crate::api::templates::sync_templates(&state, tenant.id, id).await {
        Ok(t) => {
            let target = format!("/channels/{id}/templates/sync");
            let action = "POST /channels/{id}/templates/sync";
            audit_trail::record(&state, &signed, action, &target).await;
            Redirect::to(&format!("/channels/{id}?synced={}", t.len())).into_response()
        }
        Err(crate::api::ApiError::NotFound(_)) => channel_not_found(&signed),
        Err(e) => match problem(e) {
            Ok(mut p) => {
                p.field = Some("templates".into());
                detail(&state, &signed, id, Notice::None, None, Some(&p)).await
            }
            Err(e) => e.into_response(),
        },
    }
}
