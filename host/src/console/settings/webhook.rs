//! The reply webhook: where inbound replies are forwarded, and rotating
//! the secret that signs them. A secret is shown in full only on the page
//! that answers the post which issued it; afterwards only its last four
//! characters.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::super::forms::{banner, csrf_of, described, field_error, problem, some_text, value};
use super::super::session::Signed;
use super::{Section, View, render};
use crate::api::replies::SetReplyEndpoint;
use crate::api::{ApiError, AppState};

pub async fn section(state: &AppState, signed: &Signed, view: &View) -> Result<Markup, ApiError> {
    let tenant = signed.tenant().expect("the settings are a tenant's");
    let settings = state.store.reply_settings(tenant.id).await?;
    let problem = view.problem(Section::Webhook);
    let url = match view.typed(Section::Webhook) {
        Some(typed) => value(typed, "reply_url").cloned().unwrap_or_default(),
        None => settings.reply_url.clone().unwrap_or_default(),
    };
    let tail = settings
        .webhook_secret
        .as_deref()
        .map(|s| s[s.len().saturating_sub(4)..].to_owned());
    Ok(html! {
        section #webhook {
            h2 { "Reply webhook" }
            div.card.stack {
                form.stack #webhook-form method="post" action="/settings/webhook" {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    (banner(problem, &["reply_url"]))
                    label for="reply_url" { "Forward replies to" }
                    input #reply_url type="url" name="reply_url" value=(url) placeholder="https://example.com/herald/replies"
                        aria-describedby=[described(problem, "reply_url")];
                    span.hint { "Each reply is POSTed here, signed with the secret below (X-Herald-Signature). Leave empty to stop forwarding." }
                    (field_error(problem, "reply_url"))
                    p { button type="submit" { "Save webhook" } }
                }
                @if let Some(secret) = &view.new_secret {
                    div.notice.notice-ok role="status" {
                        p { strong { "Your new signing secret" } " (shown this once: copy it now)" }
                        code #new-secret { (secret) }
                    }
                }
                p #secret-state {
                    "Signing secret: "
                    @match &tail {
                        Some(t) => { "set, ending in " code { "…" (t) } }
                        None => { span.muted { "none yet (issued when you first save a URL)" } }
                    }
                }
                @if tail.is_some() {
                    form.inline method="post" action="/settings/webhook"
                        onsubmit="return confirm('Rotate the secret? The old one stops verifying at once.')" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        input type="hidden" name="reply_url" value=(settings.reply_url.clone().unwrap_or_default());
                        input type="hidden" name="rotate_secret" value="1";
                        button.secondary type="submit" { "Rotate secret" }
                    }
                }
            }
        }
    })
}

pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let tenant = match signed.tenant_post(csrf_of(&f)) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let before = match state.store.reply_settings(tenant.id).await {
        Ok(s) => s.webhook_secret,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let req = SetReplyEndpoint {
        reply_url: some_text(value(&f, "reply_url")),
        rotate_secret: value(&f, "rotate_secret").is_some(),
    };
    match crate::api::replies::set_reply_endpoint(&state, tenant.id, req).await {
        // A secret issued now (rotated, or the first): this page is the
        // only place it is shown, so no redirect.
        Ok(after) if after.webhook_secret.is_some() && after.webhook_secret != before => {
            let view = View {
                notice: Some(html! { "Reply webhook saved." }),
                new_secret: after.webhook_secret,
                ..View::default()
            };
            render(&state, &signed, view).await
        }
        Ok(_) => Redirect::to("/settings?saved=webhook#webhook").into_response(),
        Err(e) => match problem(e) {
            Ok(p) => {
                let view = View {
                    problem: Some((Section::Webhook, p)),
                    typed: Some(f),
                    ..View::default()
                };
                render(&state, &signed, view).await
            }
            Err(e) => e.into_response(),
        },
    }
}
