//! One compiled plugin version, ready to instantiate, with its statistics.

use std::sync::Arc;
use std::time::Instant;

use super::bindings::ProviderPluginPre;
use super::host_imports::{CallContext, HostState};
use super::runtime::{Call, PluginFailure, Reply, Runtime};
use super::stats::CallStats;
use super::wit;

pub struct LoadedPlugin {
    pub manifest: wit::PluginManifest,
    pub sha256: String,
    /// The provider world version it implements, e.g. `1.0.0`.
    pub world: String,
    pub stats: CallStats,
    pub(super) pre: ProviderPluginPre<HostState>,
    pub(super) runtime: Arc<Runtime>,
}

/// Unwraps the reply variant that matches the call made.
macro_rules! expect_reply {
    ($reply:expr, $variant:ident) => {
        match $reply {
            Reply::$variant(r) => r,
            _ => unreachable!("reply matches call"),
        }
    };
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// One call, counted in the version's statistics.
    async fn call(&self, ctx: CallContext, call: Call) -> Result<Reply, PluginFailure> {
        let started = Instant::now();
        let export = call.export();
        let result = self.runtime.invoke(&self.pre, ctx, call).await;
        self.stats.record(started.elapsed(), result.is_err());
        metrics::histogram!("herald_plugin_call_seconds", "export" => export)
            .record(started.elapsed());
        result
    }

    pub async fn validate_config(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<(), String>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::ValidateConfig(config)).await?,
            ValidateConfig
        ))
    }

    pub async fn send(
        &self,
        ctx: CallContext,
        config: wit::Config,
        message: wit::OutboundMessage,
    ) -> Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::Send(config, message)).await?,
            Send
        ))
    }

    pub async fn handle_webhook(
        &self,
        ctx: CallContext,
        config: wit::Config,
        request: wit::WebhookRequest,
    ) -> Result<Result<wit::WebhookOutcome, wit::WebhookError>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::Webhook(config, request)).await?,
            Webhook
        ))
    }

    pub async fn fetch_status(
        &self,
        ctx: CallContext,
        config: wit::Config,
        provider_message_id: String,
    ) -> Result<Result<Option<wit::DeliveryUpdate>, wit::SendError>, PluginFailure> {
        let call = Call::FetchStatus(config, provider_message_id);
        Ok(expect_reply!(self.call(ctx, call).await?, FetchStatus))
    }

    pub async fn list_templates(
        &self,
        ctx: CallContext,
        config: wit::Config,
    ) -> Result<Result<Vec<wit::TemplateInfo>, wit::SendError>, PluginFailure> {
        Ok(expect_reply!(
            self.call(ctx, Call::ListTemplates(config)).await?,
            ListTemplates
        ))
    }
}
