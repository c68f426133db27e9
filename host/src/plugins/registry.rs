//! Loaded plugins by name. Each name points at its active version through an
//! `ArcSwap`: a call clones the `Arc` and finishes on that version even if a
//! new one is swapped in meanwhile.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use super::bindings::ProviderPluginPre;
use super::host_imports::{CallContext, HostState};
use super::runtime::{Call, PluginFailure, Reply, Runtime};
use super::wit;

pub struct LoadedPlugin {
    pub manifest: wit::PluginManifest,
    pub sha256: String,
    pre: ProviderPluginPre<HostState>,
    runtime: Arc<Runtime>,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    pub async fn validate_config(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<(), String>, PluginFailure> {
        match self
            .runtime
            .invoke(&self.pre, ctx, Call::ValidateConfig(config))
            .await?
        {
            Reply::ValidateConfig(r) => Ok(r),
            _ => unreachable!("reply matches call"),
        }
    }

    pub async fn send(
        &self,
        ctx: CallContext,
        config: wit::Config,
        message: wit::OutboundMessage,
    ) -> Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure> {
        match self
            .runtime
            .invoke(&self.pre, ctx, Call::Send(config, message))
            .await?
        {
            Reply::Send(r) => Ok(r),
            _ => unreachable!("reply matches call"),
        }
    }

    pub async fn handle_webhook(
        &self,
        ctx: CallContext,
        config: wit::Config,
        request: wit::WebhookRequest,
    ) -> Result<Result<wit::WebhookOutcome, wit::WebhookError>, PluginFailure> {
        match self
            .runtime
            .invoke(&self.pre, ctx, Call::Webhook(config, request))
            .await?
        {
            Reply::Webhook(r) => Ok(r),
            _ => unreachable!("reply matches call"),
        }
    }

    pub async fn fetch_status(
        &self,
        ctx: CallContext,
        config: wit::Config,
        provider_message_id: String,
    ) -> Result<Result<Option<wit::DeliveryUpdate>, wit::SendError>, PluginFailure> {
        match self
            .runtime
            .invoke(
                &self.pre,
                ctx,
                Call::FetchStatus(config, provider_message_id),
            )
            .await?
        {
            Reply::FetchStatus(r) => Ok(r),
            _ => unreachable!("reply matches call"),
        }
    }

    pub async fn list_templates(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<Vec<wit::TemplateInfo>, wit::SendError>, PluginFailure> {
        match self
            .runtime
            .invoke(&self.pre, ctx, Call::ListTemplates(config))
            .await?
        {
            Reply::ListTemplates(r) => Ok(r),
            _ => unreachable!("reply matches call"),
        }
    }
}

pub struct Registry {
    runtime: Arc<Runtime>,
    plugins: RwLock<BTreeMap<String, Arc<ArcSwap<LoadedPlugin>>>>,
}

impl Registry {
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self {
            runtime,
            plugins: RwLock::default(),
        }
    }

    /// Compiles a component, reads its manifest and makes it the active
    /// version of its plugin name.
    pub async fn load(&self, wasm: &[u8]) -> anyhow::Result<Arc<LoadedPlugin>> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let runtime = self.runtime.clone();
        let bytes = wasm.to_vec();
        // Compilation is CPU-bound: keep it off the async workers.
        let pre = tokio::task::spawn_blocking(move || runtime.prepare(&bytes))
            .await?
            .context("not a usable herald:provider component")?;
        let manifest = match self
            .runtime
            .invoke(&pre, CallContext::bare("?", "?"), Call::Manifest)
            .await
            .context("calling manifest()")?
        {
            Reply::Manifest(m) => m,
            _ => unreachable!("reply matches call"),
        };
        check_manifest(&manifest)?;
        let plugin = Arc::new(LoadedPlugin {
            manifest,
            sha256,
            pre,
            runtime: self.runtime.clone(),
        });
        let mut plugins = self.plugins.write().expect("registry lock");
        match plugins.get(plugin.name()) {
            Some(slot) => slot.store(plugin.clone()),
            None => {
                plugins.insert(
                    plugin.name().to_owned(),
                    Arc::new(ArcSwap::from(plugin.clone())),
                );
            }
        }
        tracing::info!(plugin = plugin.name(), version = plugin.version(), sha256 = %plugin.sha256, "plugin loaded");
        Ok(plugin)
    }

    /// Loads every `*.wasm` file in `dir`. A file that fails is logged and
    /// skipped so one broken plugin cannot keep the server down.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<usize> {
        let mut loaded = 0;
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading plugins directory {}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path)?;
            match self.load(&bytes).await {
                Ok(_) => loaded += 1,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = format!("{e:#}"), "plugin not loaded")
                }
            }
        }
        Ok(loaded)
    }

    /// The active version of a plugin, pinned for the duration of a call.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        let plugins = self.plugins.read().expect("registry lock");
        plugins.get(name).map(|slot| slot.load_full())
    }

    pub fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        let plugins = self.plugins.read().expect("registry lock");
        plugins.values().map(|slot| slot.load_full()).collect()
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}

fn check_manifest(m: &wit::PluginManifest) -> anyhow::Result<()> {
    let name_ok = !m.name.is_empty()
        && m.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        bail!("manifest name {:?} must match [a-z0-9-]+", m.name);
    }
    if m.version.split('.').count() != 3
        || m.version
            .split('.')
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("manifest version {:?} is not MAJOR.MINOR.PATCH", m.version);
    }
    if m.channels.is_empty() {
        bail!("manifest of {} lists no channels", m.name);
    }
    Ok(())
}
