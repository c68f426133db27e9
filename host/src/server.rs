//! Wires store, plugins, engine and API together and serves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::{self, AppState};
use crate::cli::ServeArgs;
use crate::demo;
use crate::engine::{Engine, EngineConfig};
use crate::plugins::{Registry, Runtime, RuntimeLimits};
use crate::store::{Store, tenants::hash_key};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = Store::connect(&args.database_url).await?;
    tracing::info!(database = %redact(&args.database_url), backend = ?store.backend(), "database ready");

    let runtime = Runtime::new(RuntimeLimits {
        call_timeout: Duration::from_millis(args.plugin_timeout_ms),
        memory_bytes: args.plugin_memory_mb << 20,
        ..RuntimeLimits::default()
    })?;
    let registry = Arc::new(Registry::new(runtime));
    let started = std::time::Instant::now();
    match registry.load_dir(&args.plugins_dir).await {
        Ok(n) => tracing::info!(plugins = n, dir = %args.plugins_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64, "plugins loaded"),
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "no plugins loaded; build them with ./dev.sh build"
        ),
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));

    let admin_key_hash = admin_key_hash(&store, args.admin_key.as_deref()).await?;
    let engine = Engine::new(
        store.clone(),
        registry.clone(),
        EngineConfig {
            public_url: public_url.clone(),
            lease: Duration::from_secs(args.lease_secs),
            max_in_flight: args.max_in_flight,
            receipt_check: Duration::from_secs(args.receipt_check_secs),
            ..EngineConfig::default()
        },
    );
    engine.start();

    let state = AppState {
        store: store.clone(),
        registry,
        engine,
        admin_key_hash,
        public_url: public_url.clone(),
    };
    // Machine-readable start line: tests and scripts wait for it.
    println!("herald listening on http://{local}");
    let _simulator = if args.demo {
        Some(demo::setup(&state, &public_url).await?)
    } else {
        None
    };
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}

/// The admin key's hash: from the flag (stored for next time), else the
/// stored one, else a new key printed once.
async fn admin_key_hash(store: &Store, given: Option<&str>) -> anyhow::Result<String> {
    const SETTING: &str = "admin_key_hash";
    if let Some(key) = given {
        let hash = hash_key(key);
        store.put_setting(SETTING, &hash).await?;
        return Ok(hash);
    }
    if let Some(hash) = store.get_setting(SETTING).await? {
        return Ok(hash);
    }
    let key = api::tenants::new_api_key();
    let hash = hash_key(&key);
    store.put_setting(SETTING, &hash).await?;
    println!("admin key (shown once, keep it): {key}");
    Ok(hash)
}

/// Hides a password in a database URL before logging it.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
