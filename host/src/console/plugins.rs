//! The admin's plugins: every installed plugin with all its versions, the
//! active one, who signed each, calls / faults / latency per version,
//! quarantine, its canary (running, with its figures, or how the last one
//! ended); activate, roll back and disable, promote or end a canary. Every
//! action goes through the admin API's own functions
//! (`api::admin_plugins`, `api::admin_canary`); uploads are in
//! `plugin_upload`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::audit_trail;
use super::forms::{Problem, problem};
use super::layout::page;
use super::session::Signed;
use crate::api::AppState;
use crate::api::admin_canary::{CanaryReport, end_canary, promote_canary};
use crate::api::admin_plugins::{
    PluginReport, VersionReport, activate_version, disable_plugin, reports, roll_back,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/{name}/activate", post(activate))
        .route("/plugins/{name}/rollback", post(rollback))
        .route("/plugins/{name}/disable", post(disable))
        .route("/plugins/{name}/canary/promote", post(promote))
        .route("/plugins/{name}/canary/end", post(end))
        .merge(super::plugin_upload::routes())
}

/// Admin pages only: a tenant's session never sees them.
pub(super) fn admin_only(signed: &Signed) -> Result<(), Box<Response>> {
    match signed.tenant() {
        Some(_) => Err(Box::new(super::message(
            StatusCode::FORBIDDEN,
            "Admins only",
            html! { h1 { "Admins only" } p { "Plugins are managed by the server's administrator. " a href="/campaigns" { "Back to your campaigns" } } },
            Some(signed),
        ))),
        None => Ok(()),
    }
}

/// An admin's form post: its CSRF token checked first, then that the
/// session is the admin's.
fn admin_post(signed: &Signed, csrf: &str) -> Result<(), Box<Response>> {
    if !signed.csrf_ok(csrf) {
        return Err(Box::new(super::forbidden()));
    }
    admin_only(signed)
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    name: String,
}

/// What the page says after an action (a fixed sentence per action).
fn notice(d: &Done) -> Option<String> {
    let what = match d.done.as_str() {
        "installed" => "installed",
        "installed_active" => "installed and activated",
        "activated" => "activated",
        "rolled_back" => "rolled back",
        "disabled" => "disabled: its channels cannot send until a version is activated",
        "canary_promoted" => "canary promoted: it is the active version",
        "canary_ended" => "canary ended: its members go back to the active version",
        _ => return None,
    };
    Some(format!("{} {what}.", d.name))
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(done): Query<Done>,
) -> Response {
    if let Err(r) = admin_only(&signed) {
        return *r;
    }
    render(&state, &signed, notice(&done).as_deref(), None).await
}

/// Where a refusal is shown: the upload form, or one plugin's card.
pub(super) enum At<'a> {
    Upload,
    Plugin(&'a str),
}

/// The whole page, with a notice or a refusal where it belongs.
pub(super) async fn render(
    state: &AppState,
    signed: &Signed,
    notice: Option<&str>,
    refused: Option<(&Problem, At<'_>)>,
) -> Response {
    let mut plugins = match reports(state).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    let upload_problem = match &refused {
        Some((p, At::Upload)) => Some(*p),
        _ => None,
    };
    let body = html! {
        h1 { "Plugins" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        (super::plugin_upload::form(&signed.csrf, upload_problem, state.registry.trust().require_signed()))
        @if plugins.is_empty() {
            div.empty { p { "No plugin is installed. Upload a provider component above, or start the server with --plugins pointing at a folder of them." } }
        }
        @for p in &plugins {
            (card(p, refusal_for(&refused, &p.name), &signed.csrf))
        }
    };
    let status = refused.map_or(StatusCode::OK, |(p, _)| p.status);
    (status, Html(page("Plugins", signed, body).into_string())).into_response()
}

/// The refusal to show on `name`'s card, if it is about that plugin.
fn refusal_for<'p>(refused: &Option<(&'p Problem, At<'_>)>, name: &str) -> Option<&'p Problem> {
    match refused {
        Some((p, At::Plugin(n))) if *n == name => Some(*p),
        _ => None,
    }
}

/// "signed by <publisher>" (with the key, and whether it is still
/// trusted), or "unsigned".
fn signature_cell(v: &VersionReport) -> Markup {
    html! {
        td.signed-by {
            @match &v.signed_by {
                Some(s) => {
                    "signed by " strong { (s.publisher) }
                    br; span.muted { "key " code { (s.key_id) }
                        @if !s.key_trusted { " · no longer trusted" } }
                }
                None => { span.muted { "unsigned" } }
            }
        }
    }
}

fn stats_cells(v: &VersionReport) -> Markup {
    html! {
        @match &v.stats {
            Some(s) => {
                td.num.hide-narrow { (s.calls) }
                td.num { (s.faults)
                    @if s.calls > 0 { span.muted { " (" (format!("{:.0}", s.faults as f64 * 100.0 / s.calls as f64)) "%)" } } }
                td.num.hide-narrow { (format!("{:.1}", s.mean_latency_ms)) " ms" span.muted { " · max " (format!("{:.0}", s.max_latency_ms)) } }
            }
            None => { td.muted colspan="3" { "not loaded since the server started" } }
        }
    }
}

/// One plugin: its state, its versions, its actions.
fn card(p: &PluginReport, problem: Option<&Problem>, csrf: &str) -> Markup {
    let state = match (&p.quarantine_reason, &p.active_sha256) {
        (Some(_), _) => ("Quarantined", "s-stopped"),
        (None, Some(_)) => ("Active", "s-running"),
        // Installed, never active: nothing to disable or roll back yet.
        (None, None) if p.previous_sha256.is_none() => ("Not activated", "s-draft"),
        (None, None) => ("Disabled", "s-archived"),
    };
    html! {
        section.card.plugin data-plugin=(p.name) aria-labelledby={ "plugin-" (p.name) } {
            div.title-row {
                h2 id={ "plugin-" (p.name) } { (p.name) " " span class={ "badge plugin-state " (state.1) } { (state.0) } }
                div.actions {
                    @if p.previous_sha256.is_some() {
                        form.inline method="post" action={ "/plugins/" (p.name) "/rollback" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button.secondary.rollback type="submit" { "Roll back" }
                        }
                    }
                    @if p.active_sha256.is_some() {
                        form.inline method="post" action={ "/plugins/" (p.name) "/disable" }
                            onsubmit={ "return confirm('Disable " (p.name) "? Its channels stop sending until a version is activated.')" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button.danger type="submit" { "Disable" }
                        }
                    }
                }
            }
            @if let Some(reason) = &p.quarantine_reason {
                p.error { strong { "Quarantined: " } (reason) " Activate a version to lift it." }
            }
            @if let Some(pr) = problem { p.error role="alert" { (pr.message) } }
            @if let Some(c) = &p.canary { (canary_line(&p.name, c, csrf)) }
            p.muted { (match p.channel_ids.len() { 0 => "No channel uses it".to_owned(), 1 => "1 channel uses it".to_owned(), n => format!("{n} channels use it") })
                @if let Some(ms) = p.cpu_budget_ms { " · CPU budget " (ms) " ms per call" } }
            table.versions {
                thead { tr {
                    th scope="col" { "Version" } th scope="col" { "State" } th.hide-narrow scope="col" { "sha256" }
                    th.hide-narrow scope="col" { "World" } th scope="col" { "Signature" }
                    th.hide-narrow scope="col" { "Calls" } th scope="col" { "Faults" } th.hide-narrow scope="col" { "Latency (mean)" }
                    th scope="col" { span.visually-hidden { "Action" } }
                } }
                tbody {
                    @for v in &p.versions {
                        @let active = p.active_sha256.as_deref() == Some(v.sha256.as_str());
                        @let previous = p.previous_sha256.as_deref() == Some(v.sha256.as_str());
                        tr data-sha256=(v.sha256) class=[active.then_some("active")] {
                            td { strong { (v.version) } }
                            td.version-state {
                                @if active { span.badge.s-running { "Active" } }
                                @else if p.canary.as_ref().is_some_and(|c| c.state == "running" && c.sha256 == v.sha256) {
                                    span.badge.s-scheduled.canary { "Canary" }
                                }
                                @else if previous { span.badge.s-scheduled { "Previous" } }
                                @else { span.muted { "Installed" } }
                            }
                            td.hide-narrow { code title=(v.sha256) { (&v.sha256[..12.min(v.sha256.len())]) } }
                            td.hide-narrow { (v.world) }
                            (signature_cell(v))
                            (stats_cells(v))
                            td {
                                @if !active {
                                    form.inline method="post" action={ "/plugins/" (p.name) "/activate" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="sha256" value=(v.sha256);
                                        button.secondary.activate type="submit" aria-label={ "Activate " (p.name) " " (v.version) } { "Activate" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The plugin's canary: what it takes, since when, both versions' figures
/// and its actions while it runs; how the last one ended otherwise.
fn canary_line(name: &str, c: &CanaryReport, csrf: &str) -> Markup {
    let version = c.version.as_deref().unwrap_or("?");
    let takes = match (&c.percent, &c.tenants) {
        (Some(p), _) => format!("{p}% of members"),
        (None, Some(t)) => format!(
            "the sends of tenant{} {}",
            if t.len() == 1 { "" } else { "s" },
            t.iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (None, None) => "nothing".into(),
    };
    let figures = c.figures.as_ref().map(|f| {
        let side = |s: &crate::plugins::CanaryFigures| {
            format!(
                "{} calls, {}% faults, {}% provider errors, p95 {}",
                s.calls,
                s.fault_percent,
                s.provider_error_percent,
                s.p95_latency_ms
                    .map_or("–".to_owned(), |ms| format!("{ms:.1} ms"))
            )
        };
        format!(
            "Last {} s: canary {}; active {}.",
            f.window_secs,
            side(&f.canary),
            side(&f.active)
        )
    });
    html! {
        div.canary data-canary-state=(c.state) {
            @if c.state == "running" {
                p { strong { "Canary " (version) } " takes " (takes)
                    span.muted { " · since " (crate::rfc3339::format(c.started_at)) } }
                @if let Some(f) = &figures { p.muted { (f) } }
                div.actions {
                    form.inline method="post" action={ "/plugins/" (name) "/canary/promote" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.secondary.promote type="submit" { "Promote canary" }
                    }
                    form.inline method="post" action={ "/plugins/" (name) "/canary/end" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.secondary type="submit" { "End canary" }
                    }
                }
            } @else {
                p class=[(c.state == "rolled_back").then_some("error")] {
                    strong { "Last canary " (version) ": " (c.state.replace('_', " ")) }
                    @if let Some(r) = &c.reason { " — " (r) }
                }
                @if let Some(f) = &figures { p.muted { (f) } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    sha256: String,
}

/// The route's last segment for an action's notice.
fn done_action(done: &str) -> &str {
    match done {
        "rolled_back" => "rollback",
        "activated" => "activate",
        "disabled" => "disable",
        "canary_promoted" => "canary/promote",
        "canary_ended" => "canary/end",
        other => other,
    }
}

/// Runs one action and answers the page: a notice, or the refusal shown
/// on the plugin's card.
async fn after(
    state: &AppState,
    signed: &Signed,
    name: &str,
    done: &str,
    outcome: Result<PluginReport, crate::api::ApiError>,
) -> Response {
    match outcome {
        Ok(_) => {
            let action = format!("POST /plugins/{{name}}/{}", done_action(done));
            audit_trail::record(state, signed, &action, &format!("/plugins/{name}")).await;
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("done", done)
                .append_pair("name", name)
                .finish();
            // To the plugin's card, so what changed is in view.
            Redirect::to(&format!("/plugins?{q}#plugin-{name}")).into_response()
        }
        Err(crate::api::ApiError::NotFound(what)) => super::message(
            StatusCode::NOT_FOUND,
            "Not found",
            html! { h1 { "Not found" } p { "Not found: " (what) ". " a href="/plugins" { "Back to the plugins" } } },
            Some(signed),
        ),
        Err(e) => match problem(e) {
            Ok(p) => render(state, signed, None, Some((&p, At::Plugin(name)))).await,
            Err(e) => e.into_response(),
        },
    }
}

pub async fn activate(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = admin_post(&signed, &f.csrf) {
        return *r;
    }
    let outcome = activate_version(&state, &name, &f.sha256).await;
    after(&state, &signed, &name, "activated", outcome).await
}

pub async fn rollback(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = admin_post(&signed, &f.csrf) {
        return *r;
    }
    let to = Some(f.sha256.as_str()).filter(|s| !s.is_empty());
    let outcome = roll_back(&state, &name, to).await;
    after(&state, &signed, &name, "rolled_back", outcome).await
}

pub async fn disable(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = admin_post(&signed, &f.csrf) {
        return *r;
    }
    let outcome = disable_plugin(&state, &name).await;
    after(&state, &signed, &name, "disabled", outcome).await
}

pub async fn promote(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = admin_post(&signed, &f.csrf) {
        return *r;
    }
    let outcome = promote_canary(&state, &name).await;
    after(&state, &signed, &name, "canary_promoted", outcome).await
}

pub async fn end(
    State(state): State<AppState>,
    signed: Signed,
    Path(name): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Err(r) = admin_post(&signed, &f.csrf) {
        return *r;
    }
    let outcome = end_canary(&state, &name).await;
    after(&state, &signed, &name, "canary_ended", outcome).await
}
