//! The audience screens' questions about lists: which campaigns use each
//! list, a list's contacts matching a search, and deleting a list no
//! campaign uses (its contacts stay: they belong to the tenant, and may be
//! in other lists).

use std::collections::HashMap;

use sqlx::Row;

use super::contacts::contact_from_row;
use super::{Contact, Id, Store, StoreError, StoreResult};

/// `%text%` for LIKE, with LIKE's own wildcards in `text` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars().flat_map(char::to_lowercase) {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// How many campaigns (of any status) use each of the tenant's lists;
    /// a list no campaign uses is absent.
    pub async fn list_campaign_counts(&self, tenant: Id) -> StoreResult<HashMap<Id, i64>> {
        let rows = sqlx::query(
            "SELECT list_id, COUNT(*) FROM campaigns WHERE tenant_id = $1 GROUP BY list_id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A list's contacts whose name, phone or email contains `query`
    /// (case-insensitive; a phone also matches its digits written with
    /// spaces or dashes), in id order after `after`: keyset pages.
    pub async fn search_list_contacts(
        &self,
        tenant: Id,
        list: Id,
        query: &str,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Contact>> {
        let query = query.trim();
        if query.is_empty() {
            return self.list_contacts(tenant, list, after, limit).await;
        }
        self.list(tenant, list).await?;
        let text = contains_pattern(query);
        let digits: String = query.chars().filter(char::is_ascii_digit).collect();
        // Only the digits for the phone, when the query is a number.
        let phone = if !digits.is_empty()
            && query
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            contains_pattern(&digits)
        } else {
            text.clone()
        };
        let rows = sqlx::query(
            "SELECT c.id, c.phone, c.email, c.first_name, c.last_name, c.timezone, c.fields_json \
             FROM contacts c JOIN list_contacts lc ON lc.contact_id = c.id \
             WHERE lc.list_id = $1 AND c.tenant_id = $2 AND c.id > $3 AND ( \
             LOWER(COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, '')) LIKE $4 ESCAPE '\\' \
             OR LOWER(COALESCE(c.email, '')) LIKE $4 ESCAPE '\\' \
             OR COALESCE(c.phone, '') LIKE $5 ESCAPE '\\') \
             ORDER BY c.id LIMIT $6",
        )
        .bind(list)
        .bind(tenant)
        .bind(after)
        .bind(&text)
        .bind(&phone)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(contact_from_row).collect())
    }

    /// Deletes a list with its memberships and its finished imports'
    /// reports. Refused (conflict) while a campaign uses the list (its
    /// history names it) or an import into it is under way.
    pub async fn delete_list(&self, tenant: Id, list: Id) -> StoreResult<()> {
        self.list(tenant, list).await?;
        let mut tx = self.write_tx().await?;
        let campaigns: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaigns WHERE tenant_id = $1 AND list_id = $2",
        )
        .bind(tenant)
        .bind(list)
        .fetch_one(&mut *tx)
        .await?;
        if campaigns > 0 {
            return Err(StoreError::Conflict(format!(
                "list {list} is used by {campaigns} campaign(s); delete or archive them and \
                 keep the list, or make a new list"
            )));
        }
        let importing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM import_jobs WHERE tenant_id = $1 AND list_id = $2 \
             AND status IN ('queued', 'running')",
        )
        .bind(tenant)
        .bind(list)
        .fetch_one(&mut *tx)
        .await?;
        if importing > 0 {
            return Err(StoreError::Conflict(format!(
                "an import into list {list} is under way; wait for it to finish or cancel it"
            )));
        }
        for sql in [
            "DELETE FROM import_rejections WHERE tenant_id = $1 AND job_id IN \
             (SELECT id FROM import_jobs WHERE tenant_id = $1 AND list_id = $2)",
            "DELETE FROM import_jobs WHERE tenant_id = $1 AND list_id = $2",
            "DELETE FROM list_contacts WHERE tenant_id = $1 AND list_id = $2",
            "DELETE FROM contact_lists WHERE tenant_id = $1 AND id = $2",
        ] {
            sqlx::query(sql)
                .bind(tenant)
                .bind(list)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(super::contains_pattern("Ana_50%"), "%ana\\_50\\%%");
    }
}
