//! Message templates per channel, as last synced from the provider through
//! the channel's plugin (`list-templates`).

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelTemplate {
    pub name: String,
    pub language: String,
    /// e.g. `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    pub category: String,
    /// e.g. `APPROVED`, `PENDING`, `REJECTED`. Only `APPROVED` can be sent.
    pub status: String,
    /// Body parameters `{{1}}`..`{{n}}`.
    pub body_parameter_count: i64,
    pub body_text: String,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub synced_at: i64,
}

const COLUMNS: &str =
    "name, language, category, status, body_parameter_count, body_text, synced_at";

impl Store {
    /// Replaces the channel's templates with the provider's current list, in
    /// one transaction (a template deleted at the provider disappears here).
    pub async fn replace_templates(
        &self,
        tenant: Id,
        channel: Id,
        templates: &[ChannelTemplate],
    ) -> StoreResult<Vec<ChannelTemplate>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM channel_templates WHERE tenant_id = $1 AND channel_id = $2")
            .bind(tenant)
            .bind(channel)
            .execute(&mut *tx)
            .await?;
        for t in templates {
            sqlx::query(
                "INSERT INTO channel_templates (tenant_id, channel_id, name, language, category, \
                 status, body_parameter_count, body_text, synced_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (channel_id, name, language) DO NOTHING",
            )
            .bind(tenant)
            .bind(channel)
            .bind(&t.name)
            .bind(&t.language)
            .bind(&t.category)
            .bind(&t.status)
            .bind(t.body_parameter_count)
            .bind(&t.body_text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.templates(tenant, channel).await
    }

    pub async fn templates(&self, tenant: Id, channel: Id) -> StoreResult<Vec<ChannelTemplate>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channel_templates WHERE tenant_id = $1 AND channel_id = $2 \
             ORDER BY name, language"
        ))
        .bind(tenant)
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(template_from_row).collect())
    }

    pub async fn template(
        &self,
        tenant: Id,
        channel: Id,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<ChannelTemplate>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM channel_templates WHERE tenant_id = $1 AND channel_id = $2 \
             AND name = $3 AND language = $4"
        ))
        .bind(tenant)
        .bind(channel)
        .bind(name)
        .bind(language)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(template_from_row))
    }
}

fn template_from_row(r: &sqlx::any::AnyRow) -> ChannelTemplate {
    ChannelTemplate {
        name: r.get(0),
        language: r.get(1),
        category: r.get(2),
        status: r.get(3),
        body_parameter_count: r.get(4),
        body_text: r.get(5),
        synced_at: r.get(6),
    }
}
