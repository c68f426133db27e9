//! Message templates (a tenant's reusable bodies and sequences) and the
//! link from a campaign to the template version it copied.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};
use crate::domain::message_template::TemplateContent;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MessageTemplate {
    pub id: Id,
    pub name: String,
    /// `sms`, `email` or `whatsapp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `body`, `subject`, `html_body`, `template`, `follow_ups`.
    #[serde(flatten)]
    pub content: TemplateContent,
    /// The variables the texts use (filled in by the API).
    pub variables: Vec<String>,
    /// 1 at creation, +1 at each edit.
    pub version: i64,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, kind, content_json, version, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> StoreResult<MessageTemplate> {
    let content = serde_json::from_str(&r.get::<String, _>(3))
        .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?;
    Ok(MessageTemplate {
        id: r.get(0),
        name: r.get(1),
        kind: r.get(2),
        content,
        variables: Vec::new(),
        version: r.get(4),
        created_at: r.get(5),
        updated_at: r.get(6),
    })
}

fn content_json(content: &TemplateContent) -> String {
    serde_json::to_string(content).expect("template content serialises")
}

impl Store {
    pub async fn create_message_template(
        &self,
        tenant: Id,
        name: &str,
        kind: &str,
        content: &TemplateContent,
    ) -> StoreResult<MessageTemplate> {
        let now = now_ms();
        let id: Id = sqlx::query_scalar(
            "INSERT INTO message_templates (tenant_id, name, kind, content_json, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
        )
        .bind(tenant)
        .bind(name)
        .bind(kind)
        .bind(content_json(content))
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        self.message_template(tenant, id).await
    }

    pub async fn message_template(&self, tenant: Id, id: Id) -> StoreResult<MessageTemplate> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM message_templates WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    pub async fn message_templates(&self, tenant: Id) -> StoreResult<Vec<MessageTemplate>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM message_templates WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces a template's name, type and content, bumping its version.
    pub async fn update_message_template(
        &self,
        tenant: Id,
        id: Id,
        name: &str,
        kind: &str,
        content: &TemplateContent,
    ) -> StoreResult<MessageTemplate> {
        let changed = sqlx::query(
            "UPDATE message_templates SET name = $1, kind = $2, content_json = $3, \
             version = version + 1, updated_at = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(name)
        .bind(kind)
        .bind(content_json(content))
        .bind(now_ms())
        .bind(tenant)
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        self.message_template(tenant, id).await
    }

    /// Deletes a template; campaigns made from it keep their copy.
    pub async fn delete_message_template(&self, tenant: Id, id: Id) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM message_templates WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records which template version a campaign's content is a copy of.
    pub async fn set_campaign_template(
        &self,
        tenant: Id,
        campaign: Id,
        template: Id,
        version: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE campaigns SET message_template_id = $1, message_template_version = $2 \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(template)
        .bind(version)
        .bind(tenant)
        .bind(campaign)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The campaign's content no longer comes from a template.
    pub async fn detach_campaign_template(&self, tenant: Id, campaign: Id) -> StoreResult<()> {
        sqlx::query(
            "UPDATE campaigns SET message_template_id = NULL, message_template_version = NULL \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(campaign)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
