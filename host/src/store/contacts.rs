//! Contact lists and contacts. A contact belongs to its tenant and is unique
//! by phone there; lists reference contacts, so one contact can be in many.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreError, StoreResult, now_ms};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ContactList {
    pub id: Id,
    pub name: String,
    pub contacts: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: Id,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Custom fields, usable as `{{name}}` in message bodies.
    pub fields: BTreeMap<String, String>,
}

/// A validated contact to add (the API checks E.164 before it gets here).
pub struct NewContact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub fields: BTreeMap<String, String>,
}

impl Store {
    pub async fn create_list(&self, tenant: Id, name: &str) -> StoreResult<ContactList> {
        let now = now_ms();
        let id: Id = sqlx::query_scalar(
            "INSERT INTO contact_lists (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(tenant)
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(ContactList {
            id,
            name: name.to_owned(),
            contacts: 0,
            created_at: now,
        })
    }

    pub async fn list(&self, tenant: Id, id: Id) -> StoreResult<ContactList> {
        self.lists_where(tenant, Some(id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    pub async fn lists(&self, tenant: Id) -> StoreResult<Vec<ContactList>> {
        self.lists_where(tenant, None).await
    }

    async fn lists_where(&self, tenant: Id, id: Option<Id>) -> StoreResult<Vec<ContactList>> {
        let rows = sqlx::query(
            "SELECT l.id, l.name, l.created_at, \
             (SELECT COUNT(*) FROM list_contacts lc WHERE lc.list_id = l.id) \
             FROM contact_lists l WHERE l.tenant_id = $1 AND ($2 IS NULL OR l.id = $2) ORDER BY l.id",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ContactList {
                id: r.get(0),
                name: r.get(1),
                created_at: r.get(2),
                contacts: r.get(3),
            })
            .collect())
    }

    /// Upserts contacts by phone (else email) and adds them to the list, in one
    /// transaction. Returns the contact ids in input order.
    pub async fn add_contacts(
        &self,
        tenant: Id,
        list: Id,
        contacts: &[NewContact],
    ) -> StoreResult<Vec<Id>> {
        self.list(tenant, list).await?;
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let mut ids = Vec::with_capacity(contacts.len());
        for c in contacts {
            let conflict = if c.phone.is_some() {
                "(tenant_id, phone)"
            } else {
                "(tenant_id, email)"
            };
            let id: Id = sqlx::query_scalar(&format!(
                "INSERT INTO contacts (tenant_id, phone, email, first_name, last_name, fields_json, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                 ON CONFLICT {conflict} DO UPDATE SET \
                 email = COALESCE(excluded.email, contacts.email), \
                 first_name = COALESCE(excluded.first_name, contacts.first_name), \
                 last_name = COALESCE(excluded.last_name, contacts.last_name), \
                 fields_json = excluded.fields_json, updated_at = excluded.updated_at \
                 RETURNING id"
            ))
            .bind(tenant)
            .bind(&c.phone)
            .bind(&c.email)
            .bind(&c.first_name)
            .bind(&c.last_name)
            .bind(serde_json::to_string(&c.fields).expect("string map"))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO list_contacts (list_id, contact_id, tenant_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(list)
            .bind(id)
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub async fn list_contacts(
        &self,
        tenant: Id,
        list: Id,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Contact>> {
        self.list(tenant, list).await?;
        let rows = sqlx::query(
            "SELECT c.id, c.phone, c.email, c.first_name, c.last_name, c.fields_json \
             FROM contacts c JOIN list_contacts lc ON lc.contact_id = c.id \
             WHERE lc.list_id = $1 AND c.tenant_id = $2 AND c.id > $3 ORDER BY c.id LIMIT $4",
        )
        .bind(list)
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Contact {
                id: r.get(0),
                phone: r.get(1),
                email: r.get(2),
                first_name: r.get(3),
                last_name: r.get(4),
                fields: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
            })
            .collect())
    }

    /// Every custom field name used by the list's contacts (template variables).
    pub async fn list_field_names(&self, tenant: Id, list: Id) -> StoreResult<BTreeSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT c.fields_json FROM contacts c \
             JOIN list_contacts lc ON lc.contact_id = c.id \
             WHERE lc.list_id = $1 AND c.tenant_id = $2",
        )
        .bind(list)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        let mut names = BTreeSet::new();
        for json in rows {
            let fields: BTreeMap<String, String> = serde_json::from_str(&json).unwrap_or_default();
            names.extend(fields.into_keys());
        }
        Ok(names)
    }
}
