//! The console's sign-in sessions (see `console::session`): a random token
//! in an HttpOnly cookie, stored as its hash with who signed in, the
//! session's CSRF token and its expiry.

use sqlx::Row;

use super::tenants::hash_key;
use super::{Id, Store, StoreResult, now_ms};

/// A live session (an expired one is never answered).
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    /// `None`: the admin.
    pub tenant_id: Option<Id>,
    pub csrf_token: String,
}

impl Store {
    pub async fn create_console_session(
        &self,
        token: &str,
        tenant: Option<Id>,
        csrf_token: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let now = now_ms();
        // Expired sessions go as new ones come: no sweeper needed.
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, tenant_id, csrf_token, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_key(token))
        .bind(tenant)
        .bind(csrf_token)
        .bind(expires_at)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The session a cookie's token names, if it has not expired.
    pub async fn console_session(&self, token: &str) -> StoreResult<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT tenant_id, csrf_token FROM console_sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(hash_key(token))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| ConsoleSession {
            tenant_id: r.get("tenant_id"),
            csrf_token: r.get("csrf_token"),
        }))
    }

    pub async fn delete_console_session(&self, token: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
            .bind(hash_key(token))
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
