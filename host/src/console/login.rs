//! Sign in with a tenant's API key or the admin key; sign out.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::shell;
use super::session::{SESSION_MS, Signed, cookie_token, random_token, set_cookie};
use crate::api::AppState;
use crate::store::now_ms;

fn form(error: Option<&str>) -> Html<String> {
    Html(
        shell(
            "Sign in",
            html! {
                main style="max-width:28rem" {
                    h1 { "Sign in to Herald" }
                    form.card method="post" action="/login" {
                        p.muted { "Use your tenant's API key, or the admin key." }
                        label for="key" { "API key" }
                        br;
                        input #key type="password" name="key" autocomplete="off" required
                            style="width:100%" aria-describedby=[error.map(|_| "key-error")];
                        @if let Some(e) = error {
                            p #key-error .error role="alert" { (e) }
                        }
                        p { button type="submit" { "Sign in" } }
                    }
                }
            },
        )
        .into_string(),
    )
}

pub async fn show() -> Html<String> {
    form(None)
}

#[derive(Deserialize)]
pub struct SignInForm {
    key: String,
}

pub async fn sign_in(State(state): State<AppState>, Form(f): Form<SignInForm>) -> Response {
    let key = f.key.trim();
    let tenant = if crate::api::is_admin_key(&state, key) {
        None
    } else {
        match state.store.tenant_by_key(key).await {
            Ok(Some(t)) => Some(t.id),
            Ok(None) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    form(Some("That key is not a tenant's API key or the admin key.")),
                )
                    .into_response();
            }
            Err(e) => return crate::api::ApiError::from(e).into_response(),
        }
    };
    let token = random_token();
    if let Err(e) = state
        .store
        .create_console_session(&token, tenant, &random_token(), now_ms() + SESSION_MS)
        .await
    {
        return crate::api::ApiError::from(e).into_response();
    }
    tracing::info!(tenant = ?tenant, "console: signed in");
    let home = if tenant.is_some() {
        "/campaigns"
    } else {
        "/plugins"
    };
    (
        [(header::SET_COOKIE, set_cookie(Some(&token)))],
        Redirect::to(home),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !signed.csrf_ok(&f.csrf) {
        return super::forbidden();
    }
    if let Some(token) = cookie_token(&headers) {
        let _ = state.store.delete_console_session(&token).await;
    }
    (
        [(header::SET_COOKIE, set_cookie(None))],
        Redirect::to("/login"),
    )
        .into_response()
}
