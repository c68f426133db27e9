//! The audit log: each successful request that changes something
//! security-relevant (API keys, channels and their secrets, plugins, tenant
//! settings, the reply endpoint, the do-not-contact list) is recorded once,
//! with who made it, what and when. Recorded here, around the routes, so
//! no handler can forget; the authentication extractors say who.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{AdminAuth, TenantAuth};
use super::error::ApiResult;
use super::json::ApiQuery;
use super::paging::{Page, PageQuery, id_cursor, limit};
use crate::store::{AuditEntry, Id};

/// Who made a request, filled in by the authentication extractors.
#[derive(Clone, Default)]
pub struct ActorSlot(Arc<Mutex<Option<Actor>>>);

#[derive(Clone)]
pub struct Actor {
    /// The tenant it concerns (`None`: the server's own).
    pub tenant: Option<Id>,
    pub who: String,
}

impl ActorSlot {
    pub fn set(&self, actor: Actor) {
        *self.0.lock().expect("actor lock") = Some(actor);
    }

    /// An admin request that concerns one tenant (e.g. its channel).
    pub fn concerns_tenant(&self, tenant: Id) {
        if let Some(actor) = self.0.lock().expect("actor lock").as_mut() {
            actor.tenant = Some(tenant);
        }
    }

    fn take(&self) -> Option<Actor> {
        self.0.lock().expect("actor lock").take()
    }
}

/// Paths whose changes are recorded.
const AUDITED: [&str; 7] = [
    "/v1/api-keys",
    "/v1/channels",
    "/v1/admin/",
    "/v1/tenants",
    "/v1/tenant",
    "/v1/reply-endpoint",
    "/v1/dnc",
];

fn audited(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !path.starts_with("/v1/admin/clock")
        && AUDITED.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| p.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
        })
}

/// Answers of creations are small JSON objects: read up to this much to
/// find the id of what was made.
const CREATED_ANSWER_BYTES: usize = 1 << 20;

pub async fn record(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if !audited(&method, &path) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let slot = ActorSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let Some(actor) = slot.take() else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (body, created) = match axum::body::to_bytes(body, CREATED_ANSWER_BYTES).await {
        Ok(bytes) => {
            let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_i64()));
            (axum::body::Body::from(bytes), id)
        }
        Err(_) => (axum::body::Body::empty(), None),
    };
    let target = match created {
        Some(id) if method == Method::POST => format!("{path} #{id}"),
        _ => path,
    };
    let action = format!("{method} {route}");
    if let Err(e) = state
        .store
        .record_audit(actor.tenant, &actor.who, &action, &target)
        .await
    {
        // The change is made: say so loudly rather than answer an error
        // for it.
        tracing::error!(error = %e, actor = actor.who, action, target,
            "writing the audit log failed");
    }
    Response::from_parts(parts, body).into_response()
}

/// Entries per page: default and most.
const PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(PageQuery),
    responses((status = 200, body = Page<AuditEntry>)), security(("api_key" = [])))]
pub async fn tenant_log(
    State(state): State<AppState>,
    TenantAuth(tenant): TenantAuth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    page(&state, Some(tenant.id), q).await
}

#[utoipa::path(get, path = "/v1/admin/audit-log", tag = "audit", params(PageQuery),
    responses((status = 200, body = Page<AuditEntry>)), security(("admin_key" = [])))]
pub async fn admin_log(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    page(&state, None, q).await
}

async fn page(
    state: &AppState,
    tenant: Option<Id>,
    q: PageQuery,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let limit = limit(q.limit, PAGE, MAX_PAGE);
    let before = id_cursor(q.cursor.as_deref())?;
    let rows = state.store.audit_log(tenant, before, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |e| e.id.to_string())))
}
