//! The plugin registry: installed versions live in the database (so every
//! instance sharing it runs the same bytes); the active version per name is
//! swapped atomically in memory. A call clones the version's `Arc` and
//! finishes on it even if a swap happens meanwhile; the old version is
//! dropped when its last call ends. A plugin may also have a canary
//! version beside its active one (see `canary`): routed here, judged there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use super::cache::CompileCache;
use super::call::{Call, Reply};
use super::canary::CanaryRun;
use super::canary_judge::CanaryPolicy;
use super::host_imports::CallContext;
use super::inspect::{self, InstallError};
use super::loaded::{LoadedPlugin, Record};
use super::runtime::Runtime;
use super::signing::{self, Parsed, Refusal};
use super::trust::{AdmitError, Trust, TrustPolicy};
use super::wit;
use crate::store::{NewPluginVersion, PluginStanding, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Refused(#[from] InstallError),
    /// The signature does not admit the component (see `trust`).
    #[error(transparent)]
    Signature(#[from] Refusal),
    #[error("no installed version {0}")]
    UnknownVersion(String),
    /// As `UnknownVersion`, where the version is the resource asked for.
    #[error("no installed version {0}")]
    NoSuchVersion(String),
    #[error("no canary of {0} is running")]
    NoCanary(String),
    #[error("plugin {0:?} is not installed")]
    UnknownPlugin(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The state of one plugin name in memory.
#[derive(Clone, Default)]
struct Slot {
    active: Option<Arc<LoadedPlugin>>,
    quarantine: Option<String>,
    /// Its own CPU budget per call, when an admin set one.
    cpu_budget: Option<Duration>,
    /// Its running canary.
    canary: Option<Arc<CanaryRun>>,
    /// Every version that was ever its canary (sha256): the messages they
    /// sent are verified and looked up by them.
    canary_versions: HashSet<String>,
}

pub struct Registry {
    runtime: Arc<Runtime>,
    pub(super) store: Store,
    cache: CompileCache,
    /// Calls within a minute after which a version (a channel's use of
    /// it) whose calls fault at least half the time is stopped.
    pub(super) quarantine_after: u64,
    /// Copy-on-write map: readers never lock, writers replace it whole.
    slots: ArcSwap<BTreeMap<String, Slot>>,
    /// Every version compiled in this process, by sha256.
    compiled: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// Serialises writers of `slots`.
    write: tokio::sync::Mutex<()>,
    /// Trusted publisher keys and whether uploads must be signed.
    trust: Trust,
    /// What canaries are judged by.
    canary_policy: CanaryPolicy,
}

impl From<AdmitError> for RegistryError {
    fn from(e: AdmitError) -> Self {
        match e {
            AdmitError::Refused(r) => Self::Signature(r),
            AdmitError::Store(e) => Self::Store(e),
        }
    }
}

impl Registry {
    pub fn new(
        runtime: Arc<Runtime>,
        store: Store,
        cache: CompileCache,
        quarantine_after: u64,
    ) -> Self {
        Self {
            runtime,
            trust: Trust::new(store.clone(), TrustPolicy::default()),
            store,
            cache,
            quarantine_after,
            slots: ArcSwap::default(),
            compiled: Mutex::default(),
            write: tokio::sync::Mutex::new(()),
            canary_policy: CanaryPolicy::default(),
        }
    }

    /// The registry judging canaries by `policy` instead of the defaults.
    pub fn with_canary_policy(mut self, policy: CanaryPolicy) -> Self {
        self.canary_policy = policy;
        self
    }

    pub fn canary_policy(&self) -> &CanaryPolicy {
        &self.canary_policy
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    /// `name`'s running canary, if it has one.
    pub fn canary(&self, name: &str) -> Option<Arc<CanaryRun>> {
        self.slots.load().get(name)?.canary.clone()
    }

    /// Whether `sha256` is (or was) a canary version of `name`.
    pub fn was_canary(&self, name: &str, sha256: &str) -> bool {
        self.slots
            .load()
            .get(name)
            .is_some_and(|slot| slot.canary_versions.contains(sha256))
    }

    /// Every running canary.
    pub fn canaries(&self) -> Vec<Arc<CanaryRun>> {
        self.slots
            .load()
            .values()
            .filter_map(|s| s.canary.clone())
            .collect()
    }

    /// The registry under `policy` (trusted keys, signatures required)
    /// instead of the default: no keys, unsigned components accepted.
    pub fn with_trust(mut self, policy: TrustPolicy) -> Self {
        self.trust = Trust::new(self.store.clone(), policy);
        self
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The active version of a plugin, pinned for the duration of a call.
    /// `None` if not installed, disabled or quarantined.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        let slots = self.slots.load();
        let slot = slots.get(name)?;
        if slot.quarantine.is_some() {
            return None;
        }
        slot.active.clone()
    }

    /// The version a channel sends with: its pinned one, else the active
    /// one. `Err` says why there is none (for the member's error and the
    /// campaign's pause reason).
    pub async fn resolve(
        &self,
        name: &str,
        pinned: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, String> {
        let Some(sha) = pinned else {
            return self.get(name).ok_or_else(|| self.unavailable_reason(name));
        };
        if let Some(reason) = self.quarantine_reason(name) {
            return Err(format!("plugin {name:?} is quarantined: {reason}"));
        }
        match self.load_version(sha).await {
            Ok(p) if p.name() == name => Ok(p),
            Ok(p) => Err(format!(
                "pinned version {sha} is plugin {:?}, not {name:?}",
                p.name()
            )),
            Err(e) => Err(format!(
                "pinned version {sha} of {name:?} cannot be loaded: {e}"
            )),
        }
    }

    /// The version that verifies receipts and answers lookups for messages
    /// already sent: as [`Self::resolve`], but a quarantine, which stops new
    /// sends, does not stop the delivery reports of the sends it made.
    pub async fn resolve_for_receipts(
        &self,
        name: &str,
        pinned: Option<&str>,
    ) -> Result<Arc<LoadedPlugin>, String> {
        if let Some(sha) = pinned {
            return match self.load_version(sha).await {
                Ok(p) if p.name() == name => Ok(p),
                Ok(p) => Err(format!("pinned version {sha} is plugin {:?}", p.name())),
                Err(e) => Err(format!("pinned version {sha} cannot be loaded: {e}")),
            };
        }
        self.slots
            .load()
            .get(name)
            .and_then(|s| s.active.clone())
            .ok_or_else(|| self.unavailable_reason(name))
    }

    /// Whether `sha256` is an installed version of `name`.
    pub async fn has_version(&self, name: &str, sha256: &str) -> Result<bool, RegistryError> {
        let versions = self.store.plugin_versions().await?;
        Ok(versions
            .iter()
            .any(|v| v.sha256 == sha256 && v.name == name))
    }

    /// Why `get` returned `None`, for operators.
    pub fn unavailable_reason(&self, name: &str) -> String {
        match self.slots.load().get(name) {
            None => format!("plugin {name:?} is not installed"),
            Some(Slot {
                quarantine: Some(reason),
                ..
            }) => format!("plugin {name:?} is quarantined: {reason}"),
            Some(Slot { active: None, .. }) => format!("plugin {name:?} is disabled"),
            Some(_) => format!("plugin {name:?} is available"),
        }
    }

    /// Active versions of every installed plugin.
    pub fn all(&self) -> Vec<Arc<LoadedPlugin>> {
        self.slots
            .load()
            .values()
            .filter_map(|s| s.active.clone())
            .collect()
    }

    /// Plugins whose active version's record limits its share of the send
    /// slots (`LoadedPlugin::suspect`, `LoadedPlugin::unproven`).
    pub fn standing(&self) -> PluginStanding {
        let mut standing = PluginStanding::default();
        for (name, slot) in self.slots.load().iter() {
            let Some(active) = &slot.active else {
                continue;
            };
            match active.record() {
                Record::Suspect => standing.held_back.insert(name.clone()),
                Record::Unproven => standing.unproven.insert(name.clone()),
                Record::Sound => false,
            };
        }
        standing
    }

    /// A compiled version by sha256, if this process has it.
    pub fn compiled(&self, sha256: &str) -> Option<Arc<LoadedPlugin>> {
        self.compiled.lock().expect("lock").get(sha256).cloned()
    }

    /// The CPU budget an admin gave `name`, if any.
    pub fn cpu_budget(&self, name: &str) -> Option<Duration> {
        self.slots.load().get(name)?.cpu_budget
    }

    /// Gives `name` its own CPU budget per call (`None`: the default);
    /// every instance follows, like an activation.
    pub async fn set_cpu_budget(&self, name: &str, ms: Option<i64>) -> Result<(), RegistryError> {
        match self.store.set_plugin_cpu_budget(name, ms).await {
            Err(StoreError::NotFound) => return Err(RegistryError::UnknownPlugin(name.into())),
            other => other?,
        }
        self.sync().await?;
        self.store.notify_plugins_changed(name).await?;
        tracing::info!(plugin = name, cpu_budget_ms = ms, "plugin CPU budget set");
        Ok(())
    }

    pub fn quarantine_reason(&self, name: &str) -> Option<String> {
        self.slots.load().get(name)?.quarantine.clone()
    }

    /// Checks and compiles a component and reads its manifest, once per
    /// process; nothing is stored.
    async fn compile(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, InstallError> {
        inspect::check_bytes(wasm)?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        if let Some(done) = self.compiled(&sha256) {
            return Ok(done);
        }
        let plugin =
            Arc::new(load_component(&self.runtime, &self.cache, wasm, sha256.clone()).await?);
        self.compiled
            .lock()
            .expect("lock")
            .insert(sha256, plugin.clone());
        Ok(plugin)
    }

    /// Stores a new version (content-addressed), unsigned. It is not
    /// activated.
    pub async fn install(&self, wasm: Vec<u8>) -> Result<Arc<LoadedPlugin>, RegistryError> {
        self.install_signed(wasm, None).await
    }

    /// Stores a new version with its signature, if it comes with one, once
    /// the trust policy admits it; a refused component leaves nothing
    /// stored. It is not activated.
    pub async fn install_signed(
        &self,
        wasm: Vec<u8>,
        signature: Option<&Parsed>,
    ) -> Result<Arc<LoadedPlugin>, RegistryError> {
        let installed = self.check_and_store(&wasm, signature).await;
        // A component's bytes and their copies on the way to the database
        // are free now: given back rather than kept resident (see `memory`).
        drop(wasm);
        crate::memory::give_back();
        installed
    }

    async fn check_and_store(
        &self,
        wasm: &[u8],
        signature: Option<&Parsed>,
    ) -> Result<Arc<LoadedPlugin>, RegistryError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let refused = |r: RegistryError| {
            if let RegistryError::Signature(why) = &r {
                tracing::warn!(sha256, reason = why.reason(), error = %why, "plugin upload refused: its signature does not admit it");
            }
            r
        };
        // Before compiling: a refused signature costs no compile.
        let admitted = self
            .trust
            .admit(&sha256, signature)
            .await
            .map_err(|e| refused(e.into()))?;
        let plugin = self.compile(wasm).await?;
        let manifest_json = signing::manifest_json(&plugin.manifest);
        if let Some(admitted) = &admitted {
            admitted
                .check_manifest(&manifest_json)
                .map_err(|e| refused(e.into()))?;
        }
        self.store
            .put_plugin_version(NewPluginVersion {
                sha256: &plugin.sha256,
                name: plugin.name(),
                version: plugin.version(),
                world: &format!("{}@{}", inspect::WORLD_PACKAGE, plugin.world),
                manifest_json: &manifest_json,
                wasm,
                signature: admitted.as_ref().map(|a| a.record()),
            })
            .await?;
        let signed_by = admitted.as_ref().map(|a| a.publisher.as_str());
        tracing::info!(plugin = plugin.name(), version = plugin.version(), sha256 = %plugin.sha256, signed_by, "plugin version installed");
        Ok(plugin)
    }

    /// Makes an installed version the active one for its name, here and
    /// (through the database) on every instance.
    pub async fn activate(&self, name: &str, sha256: &str) -> Result<(), RegistryError> {
        let versions = self.store.plugin_versions().await?;
        if !versions
            .iter()
            .any(|v| v.sha256 == sha256 && v.name == name)
        {
            return Err(RegistryError::UnknownVersion(format!("{sha256} of {name}")));
        }
        self.store.activate_plugin(name, sha256).await?;
        self.sync().await?;
        self.store.notify_plugins_changed(name).await?;
        tracing::info!(plugin = name, sha256, "plugin version activated");
        Ok(())
    }

    /// Returns to the version active before the current one, walking back
    /// through the activations (a second rollback goes one further, never
    /// back to where the first came from); with `sha256`, to that installed
    /// version. Answers the version now active.
    pub async fn rollback(
        &self,
        name: &str,
        sha256: Option<&str>,
    ) -> Result<String, RegistryError> {
        if let Some(sha256) = sha256 {
            self.activate(name, sha256).await?;
            return Ok(sha256.to_owned());
        }
        let target = match self.store.roll_back_plugin(name).await {
            Err(StoreError::NotFound) => return Err(RegistryError::UnknownPlugin(name.into())),
            other => other?,
        }
        .ok_or_else(|| {
            RegistryError::Conflict(format!("{name} has no earlier version to roll back to"))
        })?;
        self.sync().await?;
        self.store.notify_plugins_changed(name).await?;
        tracing::info!(plugin = name, sha256 = target, "plugin rolled back");
        Ok(target)
    }

    pub async fn disable(&self, name: &str) -> Result<(), RegistryError> {
        match self.store.disable_plugin(name).await {
            Err(StoreError::NotFound) => return Err(RegistryError::UnknownPlugin(name.into())),
            other => other?,
        }
        self.sync().await?;
        self.store.notify_plugins_changed(name).await?;
        tracing::warn!(plugin = name, "plugin disabled: its channels cannot send");
        Ok(())
    }

    /// Brings memory in line with the database: compiles newly active
    /// versions, swaps them in, drops disabled ones. Called at start, after
    /// each change here, and when another instance announces one.
    pub async fn sync(&self) -> Result<(), RegistryError> {
        let _writer = self.write.lock().await;
        let states = self.store.plugin_states().await?;
        let mut canaries = self.canary_runs(self.canaries()).await?;
        let mut canary_versions = self.canary_versions().await?;
        let mut next = BTreeMap::new();
        for state in states {
            let active = match &state.active_sha256 {
                None => None,
                Some(sha) => match self.load_version(sha).await {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::error!(plugin = state.name, sha256 = sha, error = %e, "active plugin version cannot be loaded");
                        None
                    }
                },
            };
            let slot = Slot {
                active,
                quarantine: state.quarantine_reason,
                cpu_budget: state
                    .cpu_budget_ms
                    .map(|ms| Duration::from_millis(ms.max(1) as u64)),
                canary: canaries.remove(&state.name),
                canary_versions: canary_versions.remove(&state.name).unwrap_or_default(),
            };
            next.insert(state.name, slot);
        }
        self.slots.store(Arc::new(next));
        Ok(())
    }

    pub(super) async fn load_version(
        &self,
        sha256: &str,
    ) -> Result<Arc<LoadedPlugin>, RegistryError> {
        if let Some(p) = self.compiled(sha256) {
            return Ok(p);
        }
        let wasm = self.store.plugin_wasm(sha256).await?;
        // Boxed: compiling (and the check call made on the new component)
        // is rare, and inline its future made every caller's as large,
        // among them each send's and each webhook's.
        Ok(Box::pin(self.compile(&wasm)).await?)
    }

    /// Installs every `*.wasm` in `dir` and activates it: the directory is
    /// authoritative for the plugins it holds. A file that fails is logged
    /// and skipped, so one broken plugin cannot keep the server down.
    pub async fn load_dir(&self, dir: &Path) -> anyhow::Result<usize> {
        let mut loaded = 0;
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        paths.sort();
        for path in paths {
            match self.install_file(&path).await {
                Ok(()) => loaded += 1,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "plugin not loaded")
                }
            }
        }
        Ok(loaded)
    }

    /// Installs one file and activates it unless that version already is.
    /// A signature beside it (`FILE.wasm.sig`) is checked as an upload's;
    /// under `--require-signed` a file without one is not installed.
    pub async fn install_file(&self, path: &Path) -> Result<(), RegistryError> {
        let wasm = std::fs::read(path).map_err(|e| InstallError::Invalid(e.to_string()))?;
        let signature = match std::fs::read(signing::signature_path(path)) {
            Ok(bytes) => Some(Parsed::from_json(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Refusal::Malformed(e.to_string()).into()),
        };
        let plugin = self.install_signed(wasm, signature.as_ref()).await?;
        let current = self.store.plugin_state(plugin.name()).await?;
        if current.and_then(|s| s.active_sha256).as_deref() != Some(&plugin.sha256) {
            self.activate(plugin.name(), &plugin.sha256).await?;
        }
        Ok(())
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}

/// Compiles a component (`sha256` its bytes') and reads its manifest,
/// without a registry: what installing checks, and what `herald plugin
/// sign` signs. Compiling is CPU-bound, so it runs off the async workers.
pub async fn load_component(
    runtime: &Arc<Runtime>,
    cache: &CompileCache,
    wasm: &[u8],
    sha256: String,
) -> Result<LoadedPlugin, InstallError> {
    inspect::check_bytes(wasm)?;
    let engine = runtime.engine().clone();
    let component = tokio::task::block_in_place(|| cache.component(&engine, wasm, &sha256))
        .map_err(|e| InstallError::Invalid(format!("{e:#}")))?;
    let world = inspect::world_version(&engine, &component)?;
    let mut pre = runtime
        .prepare(&component)
        .map_err(|e| InstallError::Link(format!("{e:#}")))?;
    let manifest = match runtime
        .invoke(&pre, CallContext::bare("?", "?"), Call::Manifest)
        .await
    {
        Ok(Reply::Manifest(m)) => m,
        Ok(_) => unreachable!("reply matches call"),
        Err(e) => return Err(InstallError::ManifestCall(e.to_string())),
    };
    check_manifest(&manifest).map_err(InstallError::Manifest)?;
    pre.native = runtime.native_for(&manifest.name);
    if pre.native.is_some() {
        tracing::warn!(plugin = %manifest.name, version = %manifest.version,
            "--native-provider: this plugin's sends and webhooks run natively, outside the sandbox (benchmarks only)");
    }
    Ok(LoadedPlugin {
        allowed_hosts: Arc::new(manifest.allowed_hosts.clone()),
        manifest,
        sha256,
        world,
        stats: Default::default(),
        channel_faults: Default::default(),
        webhook_stats: Default::default(),
        webhook_batches: Default::default(),
        send_batches: Default::default(),
        send_counters: Default::default(),
        pre,
        runtime: runtime.clone(),
    })
}

fn check_manifest(m: &wit::PluginManifest) -> Result<(), String> {
    let name_ok = !m.name.is_empty()
        && m.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(format!("name {:?} must match [a-z0-9-]+", m.name));
    }
    let semver = m.version.split('.').count() == 3
        && m.version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !semver {
        return Err(format!("version {:?} is not MAJOR.MINOR.PATCH", m.version));
    }
    if m.channels.is_empty() {
        return Err(format!("{} lists no channels", m.name));
    }
    Ok(())
}
