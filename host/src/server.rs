//! Wires store, plugins, engine and API together and serves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::rate_limit::ApiRateLimit;
use crate::api::webhook_sources::WebhookSources;
use crate::api::{self, AppState, Shared};
use crate::cli::ServeArgs;
use crate::demo;
use crate::egress::EgressPolicy;
use crate::engine::{Engine, EngineConfig, Importer};
use crate::http_server::{self, ConnectionLimits};
use crate::plugins::trust::TrustPolicy;
use crate::plugins::{self, CompileCache, CompileChild, Registry, Runtime, RuntimeLimits};
use crate::sealing::Keyring;
use crate::store::{Store, listen_plugin_changes, tenants::hash_key};

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(start) = args.test_clock {
        crate::clock::enable_test_clock(start.as_millisecond());
    }
    crate::metrics::install();
    let key_file = args
        .secrets_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("secrets.key"));
    if args.secrets_key_file.is_none() {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    }
    // Only the default file is created: a key file named by the operator
    // that is missing is a mistake to report, not to paper over.
    let keys = Keyring::from_file(&key_file, args.secrets_key_file.is_none())?;
    let store = Store::connect_sealed(&args.database_url, keys)
        .await
        .with_context(|| format!("secrets key file {}", key_file.display()))?;
    tracing::info!(database = %redact(&args.database_url), backend = ?store.backend(), "database ready");

    let mut rules = args.allow_egress.clone();
    if args.demo {
        // The demo's simulator listens on loopback.
        rules.push("127.0.0.0/8".into());
    }
    let egress = Arc::new(EgressPolicy::parse(&rules).map_err(anyhow::Error::msg)?);
    let runtime = Runtime::new(RuntimeLimits {
        egress: egress.clone(),
        call_timeout: Duration::from_millis(args.plugin_timeout_ms),
        cpu_budget: Duration::from_millis(args.plugin_cpu_ms.max(1)),
        memory_bytes: args.plugin_memory_mb << 20,
        total_memory_bytes: args.plugin_memory_total_mb.max(args.plugin_memory_mb) << 20,
        native_providers: args.native_provider.clone(),
        perf_map: args.wasm_perf_map,
        max_instances: plugins::instances_for(args.max_in_flight),
    })?;
    let trust = TrustPolicy::load(args.trusted_keys.as_deref(), args.require_signed)?;
    // Compiling in a child keeps Cranelift's memory out of the server's.
    let compiler = CompileChild::this_executable(
        runtime.limits().memory_bytes,
        runtime.limits().max_instances,
    );
    let registry = Arc::new(
        Registry::new(
            runtime,
            store.clone(),
            CompileCache::new(Some(args.cache_dir.clone())).compiling_in(compiler),
            args.quarantine_after,
        )
        .with_trust(trust)
        .with_canary_policy(args.canary.policy()),
    );
    let started = std::time::Instant::now();
    registry.sync().await?;
    match registry.load_dir(&args.plugins_dir).await {
        Ok(n) => {
            tracing::info!(from_dir = n, dir = %args.plugins_dir.display(), "bundled plugins installed")
        }
        Err(e) => tracing::warn!(dir = %args.plugins_dir.display(), error = %e,
            "no bundled plugins; build them with ./dev.sh build"),
    }
    tracing::info!(
        active = registry.all().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugins ready"
    );
    if args.watch {
        tokio::spawn(plugins::watch_dir(
            registry.clone(),
            args.plugins_dir.clone(),
        ));
    }
    follow_other_instances(&store, &args.database_url, registry.clone()).await?;
    tokio::spawn(plugins::judge_canaries(registry.clone()));

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
            egress,
            lease: Duration::from_secs(args.lease_secs),
            max_in_flight: args.max_in_flight as usize,
            receipt_check: Duration::from_secs(args.receipt_check_secs),
            lookup_after: Duration::from_secs(args.lookup_after_secs),
            max_provider_errors: args.max_provider_errors,
            webhook_max_body: (args.webhook_max_body_kib.max(1) as usize) << 10,
            ..EngineConfig::default()
        },
    );
    engine.start();
    let importer = Importer::new(
        store.clone(),
        format!("herald-{}-{}", std::process::id(), crate::store::now_ms()),
        &args.data_dir,
    )?;
    importer.start();

    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let state = AppState::new(Shared {
        store: store.clone(),
        registry,
        engine: engine.clone(),
        importer,
        max_import_bytes: args.import_max_mb << 20,
        admin_key_hash,
        public_url: public_url.clone(),
        api_rate: Arc::new(ApiRateLimit::new(args.api_rate_per_second, args.api_burst)),
        webhook_sources: Arc::new(WebhookSources::new(
            args.webhook_refusals_per_second,
            args.webhook_refusal_burst,
        )),
    });
    let (api_rate, webhook_sources) = (state.api_rate.clone(), state.webhook_sources.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            api_rate.forget_idle();
            webhook_sources.forget_idle();
        }
    });
    // Machine-readable start line: tests and scripts wait for it.
    println!("herald listening on http://{local}");
    let _simulator = if args.demo {
        Some(demo::setup(&state, &public_url).await?)
    } else {
        None
    };
    // HTTP stays up while the engine drains: callbacks for the last sends
    // still arrive, and /readyz says 503 meanwhile.
    let limits = ConnectionLimits {
        max_connections: args.max_connections.max(1),
        idle: Duration::from_secs(args.idle_timeout_secs),
    }
    .fit_to_descriptors();
    // The console beside the API, on the same origin.
    let app = api::router(state.clone()).merge(
        crate::console::routes()
            .with_state(state)
            .layer(tower_http::catch_panic::CatchPanicLayer::new()),
    );
    http_server::serve(listener, app, limits, async move {
        let signal = stop_signal().await;
        tracing::info!(
            signal,
            grace_secs = grace.as_secs(),
            "shutting down: draining sends"
        );
        engine.drain(grace).await;
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM (a deploy, `docker stop`, systemd) or SIGINT (Ctrl-C).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// Applies plugin activations made by other instances sharing PostgreSQL:
/// at once on NOTIFY, and every 10 s in case a notification was missed.
async fn follow_other_instances(
    store: &Store,
    url: &str,
    registry: Arc<Registry>,
) -> anyhow::Result<()> {
    let Some(mut changes) = listen_plugin_changes(store, url).await? else {
        return Ok(());
    };
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                Some(name) = changes.recv() => tracing::info!(plugin = name, "plugin change announced"),
                _ = every.tick() => {}
            }
            if let Err(e) = registry.sync().await {
                tracing::error!(error = %e, "reloading plugin state failed");
            }
        }
    });
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
