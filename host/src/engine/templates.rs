//! Template sync: the channel's plugin lists the provider account's message
//! templates (`list-templates`); the host keeps them per channel.

use super::Engine;
use crate::plugins::wit;
use crate::store::{ChannelTemplate, Id, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plugin is unavailable, failed, or the provider refused.
    #[error("{0}")]
    Provider(String),
}

impl Engine {
    pub async fn sync_templates(
        &self,
        tenant: Id,
        channel_id: Id,
    ) -> Result<Vec<ChannelTemplate>, SyncError> {
        let channel = self.store.channel(tenant, channel_id).await?;
        let plugin = self
            .registry
            .resolve(&channel.plugin, channel.pinned_sha256.as_deref())
            .await
            .map_err(SyncError::Provider)?;
        let ctx = self.call_context(&plugin, &channel);
        let config = channel.config.clone().into_iter().collect();
        let listed = match plugin.list_templates(ctx, config).await {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                return Err(SyncError::Provider(format!(
                    "provider refused the template list: {}",
                    describe(&e)
                )));
            }
            Err(failure) => {
                self.registry
                    .after_fault(&plugin, Some(channel.id), &failure)
                    .await;
                return Err(SyncError::Provider(format!(
                    "plugin {} failed listing templates: {failure}",
                    plugin.name()
                )));
            }
        };
        let templates: Vec<ChannelTemplate> = listed
            .into_iter()
            .map(|t| ChannelTemplate {
                name: t.name,
                language: t.language,
                category: t.category,
                status: t.status.to_ascii_uppercase(),
                body_parameter_count: t.body_parameter_count.into(),
                body_text: t.body_text,
                synced_at: 0,
            })
            .collect();
        let stored = self
            .store
            .replace_templates(tenant, channel_id, &templates)
            .await?;
        tracing::info!(
            tenant,
            channel = channel_id,
            templates = stored.len(),
            approved = stored.iter().filter(|t| t.status == "APPROVED").count(),
            "templates synced"
        );
        Ok(stored)
    }
}

fn describe(e: &wit::SendError) -> String {
    use wit::SendError as E;
    match e {
        E::InvalidRecipient(r) | E::Rejected(r) => format!("{} ({})", r.message, r.code),
        E::RateLimited(ms) => format!("rate limited; retry after {ms} ms"),
        E::Transient(m) => format!("temporary failure: {m}"),
        E::Auth(m) => format!("credentials refused: {m}"),
        E::InsufficientFunds(m) => format!("insufficient funds: {m}"),
        E::InvalidConfig(m) => format!("channel configuration unusable: {m}"),
    }
}
