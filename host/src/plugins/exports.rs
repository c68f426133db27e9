//! Calling a fresh instance's exports. `send` and `handle-webhook`, the
//! exports every message calls, and `handle-webhooks` (1.4) are found once
//! per component; the rest go through the generated bindings.

use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Lift, Lower, TypedFunc,
};

use super::bindings::ProviderPluginPre;
use super::bindings::herald::provider::types as wit;
use super::call::{Call, Reply};
use super::host_imports::HostState;
use super::runtime::Prepared;

/// The exports every message calls: `send`, and `handle-webhook` for its
/// status callbacks. The generated bindings look up and type-check all six
/// provider exports on every instantiation (2.5% of Herald's CPU while a
/// campaign sent); these are looked up once per component and type-checked
/// on their first call.
pub(super) struct HotExports {
    send: HotExport,
    webhook: HotExport,
    /// `webhooks.handle-webhooks`, when the component exports it (1.4).
    webhooks: Option<HotExport>,
    /// `sends.send-all`, when the component exports it (1.5).
    send_all: Option<HotExport>,
}

struct HotExport {
    index: ComponentExportIndex,
    /// Its type was checked against the call's: later calls skip the check.
    checked: AtomicBool,
}

impl HotExports {
    /// The provider interface as the bindings name it; wasmtime matches a
    /// component's older minor version (1.0 to 1.2) to it, as it does for
    /// the bindings.
    const INTERFACE: &str = "herald:provider/provider@1.5.0";
    /// The optional batch of webhooks (1.4).
    const WEBHOOKS: &str = "herald:provider/webhooks@1.5.0";
    /// The optional batch of messages (1.5).
    const SENDS: &str = "herald:provider/sends@1.5.0";

    pub(super) fn find(component: &Component) -> Option<Self> {
        let export = |interface: &str, name: &str| {
            let interface = component.get_export_index(None, interface)?;
            Some(HotExport {
                index: component.get_export_index(Some(&interface), name)?,
                checked: AtomicBool::new(false),
            })
        };
        Some(Self {
            send: export(Self::INTERFACE, "send")?,
            webhook: export(Self::INTERFACE, "handle-webhook")?,
            webhooks: export(Self::WEBHOOKS, "handle-webhooks"),
            send_all: export(Self::SENDS, "send-all"),
        })
    }
}

impl Prepared {
    /// The component exports `webhooks.handle-webhooks` (1.4): a channel's
    /// waiting webhooks can share one instance.
    pub(super) fn batches_webhooks(&self) -> bool {
        self.hot.as_ref().is_some_and(|hot| hot.webhooks.is_some())
    }

    /// The component exports `sends.send-all` (1.5) and runs in the
    /// sandbox: a channel's messages ready to go can share one instance.
    pub(super) fn batches_sends(&self) -> bool {
        self.native.is_none() && self.hot.as_ref().is_some_and(|hot| hot.send_all.is_some())
    }
}

impl HotExport {
    /// Calls this export of a fresh instance.
    async fn call<P, R>(
        &self,
        pre: &ProviderPluginPre<HostState>,
        store: &mut Store<HostState>,
        params: P,
    ) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
        let Some(func) = instance.get_func(&mut *store, self.index) else {
            wasmtime::bail!("the component lost an export it had");
        };
        let typed = if self.checked.load(Ordering::Relaxed) {
            // SAFETY: `func` is this component's export at `index`, whose
            // type `typed` checked against `(P, R)` on an earlier call (a
            // component's export types are the same in every instance).
            unsafe { TypedFunc::<P, R>::new_unchecked(func) }
        } else {
            let typed = func.typed::<P, R>(&*store)?;
            self.checked.store(true, Ordering::Relaxed);
            typed
        };
        typed.call_async(&mut *store, params).await
    }
}

pub(super) async fn run_call(
    pre: &Prepared,
    store: &mut Store<HostState>,
    call: Call,
) -> wasmtime::Result<Reply> {
    if let Call::FindSent(config, query) = call {
        let Some(lookup) = &pre.lookup else {
            wasmtime::bail!("the plugin does not export herald:provider/lookup");
        };
        let plugin = lookup.instantiate_async(&mut *store).await?;
        let found = plugin
            .herald_provider_lookup()
            .call_find_sent(&mut *store, &config, &query)
            .await?;
        return Ok(Reply::FindSent(found));
    }
    if let Some(hot) = &pre.hot {
        match call {
            Call::Send(config, message) => {
                let (reply,) = hot
                    .send
                    .call::<_, (Result<wit::SendReceipt, wit::SendError>,)>(
                        &pre.provider,
                        store,
                        (&config, &message),
                    )
                    .await?;
                return Ok(Reply::Send(reply));
            }
            Call::SendAll(config, messages) => {
                let Some(send_all) = &hot.send_all else {
                    wasmtime::bail!("the plugin does not export herald:provider/sends");
                };
                let (replies,) = send_all
                    .call::<_, (Vec<Result<wit::SendReceipt, wit::SendError>>,)>(
                        &pre.provider,
                        store,
                        (&config, &*messages),
                    )
                    .await?;
                return Ok(Reply::SendAll(replies));
            }
            Call::Webhooks(config, requests) => {
                let Some(webhooks) = &hot.webhooks else {
                    wasmtime::bail!("the plugin does not export herald:provider/webhooks");
                };
                let (replies,) = webhooks
                    .call::<_, (Vec<Result<wit::WebhookOutcome, wit::WebhookError>>,)>(
                        &pre.provider,
                        store,
                        (&config, &*requests),
                    )
                    .await?;
                return Ok(Reply::Webhooks(replies));
            }
            Call::Webhook(config, request) => {
                let (reply,) = hot
                    .webhook
                    .call::<_, (Result<wit::WebhookOutcome, wit::WebhookError>,)>(
                        &pre.provider,
                        store,
                        (&config, &request),
                    )
                    .await?;
                return Ok(Reply::Webhook(reply));
            }
            other => return run_bound(pre, store, other).await,
        }
    }
    run_bound(pre, store, call).await
}

/// A call through the generated bindings.
async fn run_bound(
    pre: &Prepared,
    store: &mut Store<HostState>,
    call: Call,
) -> wasmtime::Result<Reply> {
    let plugin = pre.provider.instantiate_async(&mut *store).await?;
    let provider = plugin.herald_provider_provider();
    Ok(match call {
        Call::Manifest => Reply::Manifest(provider.call_manifest(&mut *store).await?),
        Call::ValidateConfig(config) => {
            Reply::ValidateConfig(provider.call_validate_config(&mut *store, &config).await?)
        }
        Call::Send(config, message) => {
            Reply::Send(provider.call_send(&mut *store, &config, &message).await?)
        }
        Call::Webhook(config, request) => Reply::Webhook(
            provider
                .call_handle_webhook(&mut *store, &config, &request)
                .await?,
        ),
        Call::FetchStatus(config, id) => Reply::FetchStatus(
            provider
                .call_fetch_status(&mut *store, &config, &id)
                .await?,
        ),
        Call::ListTemplates(config) => {
            Reply::ListTemplates(provider.call_list_templates(&mut *store, &config).await?)
        }
        Call::Webhooks(..) => {
            wasmtime::bail!("the plugin does not export herald:provider/webhooks")
        }
        Call::SendAll(..) => {
            wasmtime::bail!("the plugin does not export herald:provider/sends")
        }
        Call::FindSent(..) => unreachable!("answered above"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::runtime::{Runtime, RuntimeLimits};

    /// Plugins built against an older contract (twilio-voice: 1.1.0) take
    /// the same path as current ones: their `send` and `handle-webhook`
    /// are found once, not per call.
    #[test]
    fn hot_exports_are_found_in_components_of_every_contract_version() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins");
        let runtime = Runtime::new(RuntimeLimits::default()).unwrap();
        for file in ["twilio_sms.wasm", "twilio_voice.wasm"] {
            let wasm = std::fs::read(dir.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e} (run ./dev.sh build first)"));
            let component = Component::new(runtime.engine(), &wasm).unwrap();
            let prepared = runtime.prepare(&component).unwrap();
            assert!(prepared.hot.is_some(), "{file}");
        }
    }
}
