//! One-time sign-in links (`/login/link/{token}`), printed by `--demo` so
//! the demo tenant is one click away from the console. A link lasts 15
//! minutes and works once; only its token's SHA-256 is kept, in this
//! process's memory (a restart forgets unused links, which is what a
//! demo wants), so the printed link is the only copy of the token.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::html;
use sha2::{Digest, Sha256};

use super::session::{SESSION_MS, random_token, set_cookie};
use crate::api::AppState;
use crate::store::{Id, now_ms};

/// How long a printed link can be used.
pub const LINK_MS: i64 = 15 * 60_000;

/// Unused links: token hash → (tenant, expiry in ms).
type Links = HashMap<[u8; 32], (Id, i64)>;
static LINKS: LazyLock<Mutex<Links>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

/// A fresh link's path for `tenant`, valid for 15 minutes, once.
pub fn issue(tenant: Id) -> String {
    let token = random_token();
    let now = now_ms();
    let mut links = LINKS.lock().expect("links lock");
    links.retain(|_, (_, expires)| *expires > now);
    links.insert(hash(&token), (tenant, now + LINK_MS));
    format!("/login/link/{token}")
}

/// Takes a link out of the table: a second use finds nothing.
fn redeem(token: &str) -> Option<Id> {
    let (tenant, expires) = LINKS.lock().expect("links lock").remove(&hash(token))?;
    (expires > now_ms()).then_some(tenant)
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/login/link/{token}", get(follow))
}

pub async fn follow(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(tenant) = redeem(&token) else {
        return super::message(
            StatusCode::GONE,
            "Link used",
            html! {
                h1 { "This sign-in link cannot be used" }
                p { "A sign-in link works once, for 15 minutes. " a href="/login" { "Sign in with your API key" } " instead." }
            },
            None,
        );
    };
    let session = random_token();
    if let Err(e) = state
        .store
        .create_console_session(
            &session,
            Some(tenant),
            &random_token(),
            now_ms() + SESSION_MS,
        )
        .await
    {
        return crate::api::ApiError::from(e).into_response();
    }
    tracing::info!(tenant, "console: signed in by a one-time link");
    (
        [(header::SET_COOKIE, set_cookie(Some(&session)))],
        Redirect::to("/campaigns"),
    )
        .into_response()
}
