//! Bearer-key authentication: tenant keys for the tenant API, the admin key
//! for tenant management. Each key's requests are rate limited (see
//! `rate_limit`) once the key is recognised.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use super::rate_limit::KeyId;
use crate::store::{Tenant, tenants::hash_key};

/// The tenant whose API key made the request.
pub struct TenantAuth(pub Tenant);

/// The tenant a request was authenticated (and counted) as.
#[derive(Clone)]
struct Authenticated(Tenant);

/// A request made with the admin key.
pub struct AdminAuth;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::Unauthorized(
            "missing `Authorization: Bearer <api key>` header",
        ))
}

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Extracted twice for some routes (the campaigns gate, then the
        // handler): the request is looked up and counted once.
        if let Some(Authenticated(tenant)) = parts.extensions.get::<Authenticated>() {
            return Ok(Self(tenant.clone()));
        }
        let key = bearer(parts)?;
        match state.store.tenant_by_key(key).await? {
            Some(tenant) => {
                state.api_rate.check(KeyId::Tenant(tenant.id))?;
                parts.extensions.insert(Authenticated(tenant.clone()));
                Ok(Self(tenant))
            }
            None => Err(ApiError::Unauthorized("unknown API key")),
        }
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = hash_key(bearer(parts)?);
        if bool::from(presented.as_bytes().ct_eq(state.admin_key_hash.as_bytes())) {
            state.api_rate.check(KeyId::Admin)?;
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized("not the admin key"))
        }
    }
}
