//! Per-tenant plugin allowlists: the plugins an admin lets a tenant attach
//! to its channels. No row: every plugin (the default, so tenants from
//! before allowlists keep working).

use sqlx::FromRow;

use super::{Id, Store, StoreResult, now_ms};

#[derive(FromRow)]
struct AllowlistRow {
    plugins_json: String,
}

impl Store {
    /// The plugins `tenant` may use; `None`: every plugin.
    pub async fn plugin_allowlist(&self, tenant: Id) -> StoreResult<Option<Vec<String>>> {
        let row: Option<AllowlistRow> = sqlx::query_as(
            "SELECT plugins_json FROM tenant_plugin_allowlists WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| serde_json::from_str(&r.plugins_json).unwrap_or_default()))
    }

    /// Sets (`None`: removes) `tenant`'s allowlist.
    pub async fn set_plugin_allowlist(
        &self,
        tenant: Id,
        plugins: Option<&[String]>,
    ) -> StoreResult<()> {
        match plugins {
            None => {
                sqlx::query("DELETE FROM tenant_plugin_allowlists WHERE tenant_id = $1")
                    .bind(tenant)
                    .execute(&self.writer)
                    .await?;
            }
            Some(plugins) => {
                let json = serde_json::to_string(plugins).expect("names serialise");
                sqlx::query(
                    "INSERT INTO tenant_plugin_allowlists (tenant_id, plugins_json, updated_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET \
                     plugins_json = excluded.plugins_json, updated_at = excluded.updated_at",
                )
                .bind(tenant)
                .bind(json)
                .bind(now_ms())
                .execute(&self.writer)
                .await?;
            }
        }
        Ok(())
    }
}
