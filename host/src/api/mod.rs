//! The HTTP API: axum routes, one file per resource, request validation,
//! error mapping and the OpenAPI document.

pub(crate) mod admin_canary;
mod admin_channels;
mod admin_clock;
pub(crate) mod admin_plugins;
mod api_keys;
mod audit;
mod auth;
mod campaign_checks;
mod campaign_list;
pub(crate) mod campaign_ops;
mod campaign_preview;
mod campaign_timing;
pub(crate) mod campaigns;
pub(crate) mod channels;
mod credits;
pub(crate) mod dnc;
mod error;
pub use admin_plugins::SIGNATURE_HEADER;
pub use auth::is_admin_key;
pub use error::ApiError;
mod error_shape;
pub(crate) mod exports;
pub(crate) mod imports;
mod json;
pub(crate) mod lists;
mod media;
mod media_spool;
mod message_templates;
mod openapi;
mod paging;
mod plugins;
pub mod rate_limit;
pub(crate) mod replies;
mod resolve;
pub(crate) mod review;
mod scopes;
pub(crate) mod templates;
pub(crate) mod tenant_plugins;
pub mod tenants;
mod trusted_keys;
pub(crate) mod upload;
pub mod webhook_sources;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::engine::{Engine, Importer};
use crate::plugins::Registry;
use crate::store::Store;

/// Largest request body accepted (JSON; webhooks are capped lower, by
/// their channel's plugin, see `engine::webhook_guard`).
const MAX_BODY_BYTES: usize = 16 << 20;

/// What every handler reads. Cloned per request (axum clones the state
/// for each extractor and layer that takes it), so it is one shared
/// allocation: cloning its fields one by one (the store's pools, six
/// `Arc`s, two `String`s) took 1.5% of the send path's CPU, callbacks
/// included.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub engine: Arc<Engine>,
    pub importer: Arc<Importer>,
    /// Largest CSV import accepted.
    pub max_import_bytes: u64,
    pub admin_key_hash: String,
    pub public_url: String,
    /// Requests per API key.
    pub api_rate: Arc<rate_limit::ApiRateLimit>,
    /// Refused webhooks per source address.
    pub webhook_sources: Arc<webhook_sources::WebhookSources>,
}

/// Largest plugin component upload.
pub(crate) const MAX_PLUGIN_BYTES: usize = 40 << 20;

/// The clock endpoint exists only on a server started with `--test-clock`.
fn test_clock_routes() -> Router<AppState> {
    if crate::clock::test_clock_enabled() {
        Router::new().route(
            "/v1/admin/clock",
            get(admin_clock::get).post(admin_clock::set),
        )
    } else {
        Router::new()
    }
}

pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route(
            "/v1/admin/plugins",
            post(admin_plugins::install).get(admin_plugins::list),
        )
        .layer(RequestBodyLimitLayer::new(MAX_PLUGIN_BYTES))
        .merge(
            Router::new()
                .route("/v1/media", post(media::upload))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        );
    // CSV imports enforce their own (configurable) limit while streaming.
    let imports = Router::new()
        .route("/v1/lists/{id}/imports", post(imports::into_list))
        .route("/v1/campaigns/{id}/imports", post(imports::into_campaign))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::ApiDoc::openapi()) }),
        )
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/tenants/{id}", axum::routing::patch(tenants::set_flags))
        .route(
            "/v1/tenants/{id}/credits",
            get(credits::tenant_balance).post(credits::adjust),
        )
        .route("/v1/credits", get(credits::balance))
        .route("/v1/credits/ledger", get(credits::ledger))
        .route(
            "/v1/tenant",
            get(tenants::me).patch(tenants::update_settings),
        )
        .route("/v1/plugins", get(plugins::list))
        .route("/v1/channels", post(channels::create).get(channels::list))
        .route(
            "/v1/channels/{id}",
            get(channels::get).patch(channels::update),
        )
        .route("/v1/channels/{id}/templates", get(templates::list))
        .route("/v1/channels/{id}/templates/sync", post(templates::sync))
        .route("/v1/media/{id}", get(media::get))
        .route("/media/{token}", get(media::serve))
        .route("/v1/reply-endpoint", get(replies::get).put(replies::set))
        .route("/v1/sessions", get(replies::sessions))
        .route("/v1/lists", post(lists::create).get(lists::list))
        .route("/v1/lists/{id}", get(lists::get).delete(lists::delete))
        .route(
            "/v1/lists/{id}/contacts",
            post(lists::add_contacts).get(lists::contacts),
        )
        .route(
            "/v1/lists/{id}/contacts/{contact}",
            axum::routing::delete(lists::remove_contact),
        )
        .route("/v1/lists/{id}/export.csv", get(exports::list_csv))
        .route(
            "/v1/contacts/{id}",
            get(lists::get_contact)
                .patch(lists::update_contact)
                .delete(lists::delete_contact),
        )
        .route("/v1/dnc", get(dnc::list).post(dnc::add))
        .route(
            "/v1/message-templates",
            get(message_templates::list).post(message_templates::create),
        )
        .route(
            "/v1/message-templates/{id}",
            get(message_templates::get)
                .patch(message_templates::edit)
                .delete(message_templates::delete),
        )
        .route("/v1/dnc/import", post(dnc::import))
        .route("/v1/dnc/{address}", axum::routing::delete(dnc::remove))
        .route("/v1/imports", get(imports::list))
        .route("/v1/imports/{id}", get(imports::get))
        .route("/v1/imports/{id}/cancel", post(imports::cancel))
        .route("/v1/imports/{id}/rejections", get(imports::rejections))
        .route(
            "/v1/imports/{id}/rejections.csv",
            get(imports::rejections_csv),
        )
        .route("/v1/campaigns/{id}/contacts", post(campaigns::enrol))
        .route("/v1/campaigns/{id}/export.csv", get(exports::campaign_csv))
        .route(
            "/v1/campaigns",
            post(campaigns::create).get(campaign_list::list),
        )
        .route(
            "/v1/campaigns/{id}",
            get(campaigns::get)
                .patch(campaign_ops::edit)
                .delete(campaign_ops::delete),
        )
        .route("/v1/campaigns/{id}/start", post(campaign_ops::start))
        .route("/v1/campaigns/{id}/go-live", post(campaign_ops::go_live))
        .route("/v1/campaigns/{id}/pause", post(campaign_ops::pause))
        .route("/v1/campaigns/{id}/resume", post(campaign_ops::resume))
        .route("/v1/campaigns/{id}/cancel", post(campaign_ops::cancel))
        .route("/v1/campaigns/{id}/archive", post(campaign_ops::archive))
        .route(
            "/v1/campaigns/{id}/retry-failed",
            post(campaign_ops::retry_failed),
        )
        .route(
            "/v1/campaigns/{id}/duplicate",
            post(campaign_ops::duplicate),
        )
        .route("/v1/campaigns/{id}/approve", post(review::approve_many))
        .route(
            "/v1/campaigns/{id}/execute-approved",
            post(review::execute_approved),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/approve",
            post(review::approve),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/content",
            get(review::content).put(review::edit_content),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/disable",
            post(review::disable),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/enable",
            post(review::enable),
        )
        .route(
            "/v1/campaigns/{id}/schedule",
            axum::routing::patch(campaign_timing::edit),
        )
        .route("/v1/campaigns/{id}/progress", get(campaigns::progress))
        .route("/v1/campaigns/{id}/preview", get(campaign_preview::preview))
        .route("/v1/campaigns/{id}/members", get(campaigns::members))
        .route(
            "/v1/campaigns/{id}/members/resolve",
            post(resolve::resolve_many),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/resolve",
            post(resolve::resolve_one),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/conversation",
            get(campaigns::conversation),
        )
        .route(
            "/v1/campaigns/{id}/members/{member}/journey",
            get(campaigns::journey),
        )
        .route(
            "/v1/admin/plugins/{name}/activate",
            post(admin_plugins::activate),
        )
        .route(
            "/v1/admin/plugins/{name}/rollback",
            post(admin_plugins::rollback),
        )
        .route(
            "/v1/admin/plugins/{name}/disable",
            post(admin_plugins::disable),
        )
        .route(
            "/v1/admin/plugins/{name}/canary",
            post(admin_canary::start).delete(admin_canary::abort),
        )
        .route(
            "/v1/admin/plugins/{name}/canary/promote",
            post(admin_canary::promote),
        )
        .route(
            "/v1/admin/tenants/{id}/plugins",
            get(tenant_plugins::get).put(tenant_plugins::set),
        )
        .route(
            "/v1/admin/plugins/{name}/limits",
            axum::routing::put(admin_plugins::set_limits),
        )
        .route(
            "/v1/admin/trusted-keys",
            post(trusted_keys::add).get(trusted_keys::list),
        )
        .route(
            "/v1/admin/trusted-keys/{key_id}",
            axum::routing::delete(trusted_keys::remove),
        )
        .route(
            "/v1/admin/channels/{id}/allowed-hosts",
            axum::routing::put(admin_channels::set_allowed_hosts),
        )
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", axum::routing::delete(api_keys::revoke))
        .route("/v1/audit-log", get(audit::tenant_log))
        .route("/v1/admin/audit-log", get(audit::admin_log))
        .merge(test_clock_routes())
        .fallback(|| async { error::ApiError::NotFound("no such route") })
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .merge(uploads)
        .merge(imports)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            tenants::campaigns_gate,
        ))
        // Outside the gate: whoever it authenticates is the audit's actor.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record,
        ))
        .layer(axum::middleware::from_fn(error_shape::json_errors))
        .merge(provider_callbacks())
        // A bug in a handler answers 500 instead of dropping the connection.
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::Internal("a request handler panicked".into()).into_response()
        }))
        // The path only, never the query string, and a webhook token in the
        // path redacted: a provider's credential must not land in logs.
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %webhooks::loggable_path(request.uri().path()),
                )
            }),
        )
        .with_state(state)
}

/// Providers' status callbacks and inbound messages: two for each message
/// a campaign sends, so they skip the tenant API's layers, which all let
/// them through untouched (the campaigns gate takes `/v1/campaigns` only,
/// the audit log and the JSON error shape `/v1/` paths only). Without
/// them the server's work around the handler fell from 5.5% to 4.6% of
/// Herald's CPU samples while a campaign sent (dispatch benchmark, `perf`).
/// The body limit, the panic guard and the request's trace span still
/// apply.
fn provider_callbacks() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{channel}", any(webhooks::receive))
        .route("/webhooks/{channel}/token/{token}", any(webhooks::receive))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
}

/// Prometheus text format, for the admin (a scraper's bearer token).
async fn metrics(_admin: auth::AdminAuth) -> axum::response::Response {
    match crate::metrics::render() {
        Some(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => error::ApiError::Internal("metrics are not recorded by this process".into())
            .into_response(),
    }
}

/// Readiness, for a load balancer: 503 while the engine drains for a
/// shutdown or the database does not answer (`/healthz` stays liveness).
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    let why = if state.engine.draining() {
        Some("draining for shutdown")
    } else if state.store.ping().await.is_err() {
        Some("database unavailable")
    } else {
        None
    };
    match why {
        None => axum::Json(serde_json::json!({ "ready": true })).into_response(),
        Some(reason) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "ready": false, "reason": reason })),
        )
            .into_response(),
    }
}
