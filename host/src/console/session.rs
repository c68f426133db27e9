//! Signing in to the console: a random session token in a cookie
//! (HttpOnly, SameSite=Strict, Path=/, server-side expiry), never the API
//! key itself, which is posted once and checked like an API request's. Each
//! session has a CSRF token that every form post carries back.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::api::AppState;
use crate::store::Tenant;

/// A form whose only field is the session's CSRF token (a button's post).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

pub const COOKIE: &str = "herald_session";
/// How long a session lasts from sign-in.
pub const SESSION_MS: i64 = 12 * 3_600_000;

/// Who is signed in.
pub enum Who {
    Tenant(Tenant),
    Admin,
}

/// A signed-in request.
pub struct Signed {
    pub who: Who,
    pub csrf: String,
}

impl Signed {
    pub fn tenant(&self) -> Option<&Tenant> {
        match &self.who {
            Who::Tenant(t) => Some(t),
            Who::Admin => None,
        }
    }

    /// Whether a form post carries this session's CSRF token.
    pub fn csrf_ok(&self, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes()))
    }

    /// The tenant a tenant's page is for; the admin, who has none, is sent
    /// to its own page (the `Err` is the answer to give).
    pub fn tenant_page(&self) -> Result<&Tenant, Box<Response>> {
        self.tenant()
            .ok_or_else(|| Box::new(Redirect::to("/plugins").into_response()))
    }

    /// The tenant a tenant's form post is for, once the post's CSRF token
    /// is checked (refused first, whoever is signed in).
    pub fn tenant_post(&self, csrf: &str) -> Result<&Tenant, Box<Response>> {
        if !self.csrf_ok(csrf) {
            return Err(Box::new(super::forbidden()));
        }
        self.tenant_page()
    }
}

/// A fresh random token (session or CSRF).
pub fn random_token() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// The session token a request's cookie carries.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value for a session (or, with `None`, its removal).
pub fn set_cookie(token: Option<&str>) -> HeaderValue {
    let value = match token {
        Some(t) => format!(
            "{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            SESSION_MS / 1000
        ),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    };
    HeaderValue::from_str(&value).expect("cookie text is ASCII")
}

/// Not signed in: to the sign-in page.
pub struct SignIn;

impl IntoResponse for SignIn {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = cookie_token(&parts.headers).ok_or_else(|| SignIn.into_response())?;
        let session = match state.store.console_session(&token).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(SignIn.into_response()),
            Err(e) => return Err(crate::api::ApiError::from(e).into_response()),
        };
        let who = match session.tenant_id {
            None => Who::Admin,
            Some(id) => match state.store.tenant(id).await {
                Ok(t) => Who::Tenant(t),
                Err(_) => return Err(SignIn.into_response()),
            },
        };
        Ok(Self {
            who,
            csrf: session.csrf_token,
        })
    }
}
