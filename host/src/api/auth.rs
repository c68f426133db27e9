//! Bearer-key authentication: tenant keys for the tenant API (the tenant's
//! first key, or a named key within its scopes, expiry and revocation), the
//! admin key for tenant management. Each key's requests are rate limited (see
//! `rate_limit`) once the key is recognised.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::AppState;
use super::audit::{Actor, ActorSlot};
use super::error::ApiError;
use super::rate_limit::KeyId;
use super::scopes;
use crate::store::{Tenant, now_ms, tenants::hash_key};

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
        let (tenant, who) = match state.store.tenant_by_key(key).await? {
            // The tenant's first key: every scope, no expiry.
            Some(tenant) => (tenant, "tenant key".to_owned()),
            None => named_key(parts, state, key).await?,
        };
        state.api_rate.check(KeyId::Tenant(tenant.id))?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.set(Actor {
                tenant: Some(tenant.id),
                who,
            });
        }
        parts.extensions.insert(Authenticated(tenant.clone()));
        Ok(Self(tenant))
    }
}

/// How often a key's `last_used_at` is written at most: a write per
/// request would cost every read a write.
const LAST_USED_EVERY_MS: i64 = 60_000;

/// A named key: live, and holding the scope the request needs.
async fn named_key(
    parts: &Parts,
    state: &AppState,
    key: &str,
) -> Result<(Tenant, String), ApiError> {
    let presented = state
        .store
        .presented_key(key)
        .await?
        .ok_or(ApiError::Unauthorized("unknown API key"))?;
    let named = presented.key;
    let now = now_ms();
    if named.revoked_at.is_some() {
        return Err(ApiError::Unauthorized("this API key is revoked"));
    }
    if named.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::Unauthorized("this API key has expired"));
    }
    let needs = scopes::needed(&parts.method, parts.uri.path());
    if !named.scopes.iter().any(|s| s == needs.name()) {
        return Err(ApiError::Forbidden(format!(
            "API key {:?} has the scopes [{}]; {} {} needs {}",
            named.name,
            named.scopes.join(", "),
            parts.method,
            parts.uri.path(),
            needs.name()
        )));
    }
    if now - named.last_used_at.unwrap_or(0) >= LAST_USED_EVERY_MS {
        let store = state.store.clone();
        let id = named.id;
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(id, now).await {
                tracing::warn!(key = id, error = %e, "recording an API key's last use failed");
            }
        });
    }
    let tenant = state.store.tenant(presented.tenant_id).await?;
    Ok((tenant, format!("key {} ({})", named.id, named.name)))
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if is_admin_key(state, bearer(parts)?) {
            state.api_rate.check(KeyId::Admin)?;
            if let Some(slot) = parts.extensions.get::<ActorSlot>() {
                slot.set(Actor {
                    tenant: None,
                    who: "admin".into(),
                });
            }
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized("not the admin key"))
        }
    }
}

/// Whether `key` is the admin key (compared by hash, in constant time).
pub fn is_admin_key(state: &AppState, key: &str) -> bool {
    bool::from(
        hash_key(key)
            .as_bytes()
            .ct_eq(state.admin_key_hash.as_bytes()),
    )
}
