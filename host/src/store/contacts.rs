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
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: Id,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// IANA timezone (e.g. `America/Los_Angeles`), when known.
    pub timezone: Option<String>,
    /// Custom fields, usable as `{{name}}` in message bodies.
    pub fields: BTreeMap<String, String>,
}

/// A validated contact to add (the API checks E.164 before it gets here).
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub timezone: Option<String>,
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
        .fetch_one(&self.writer)
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
        let mut tx = self.write_tx().await?;
        let ids = self
            .upsert_contacts_in(&mut tx, tenant, list, contacts)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Creates or updates each contact (matched by phone, else email) and
    /// adds it to `list`, inside the caller's transaction.
    pub(super) async fn upsert_contacts_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        tenant: Id,
        list: Id,
        contacts: &[NewContact],
    ) -> StoreResult<Vec<Id>> {
        let now = now_ms();
        let mut ids = Vec::with_capacity(contacts.len());
        for c in contacts {
            let conflict = if c.phone.is_some() {
                "(tenant_id, phone)"
            } else {
                "(tenant_id, email)"
            };
            let id: Id = sqlx::query_scalar(&format!(
                "INSERT INTO contacts (tenant_id, phone, email, first_name, last_name, timezone, \
                 fields_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                 ON CONFLICT {conflict} DO UPDATE SET \
                 email = COALESCE(excluded.email, contacts.email), \
                 first_name = COALESCE(excluded.first_name, contacts.first_name), \
                 last_name = COALESCE(excluded.last_name, contacts.last_name), \
                 timezone = COALESCE(excluded.timezone, contacts.timezone), \
                 fields_json = excluded.fields_json, updated_at = excluded.updated_at \
                 RETURNING id"
            ))
            .bind(tenant)
            .bind(&c.phone)
            .bind(&c.email)
            .bind(&c.first_name)
            .bind(&c.last_name)
            .bind(&c.timezone)
            .bind(serde_json::to_string(&c.fields).expect("string map"))
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            ids.push(id);
        }
        super::import_batch::add_to_list(tx, self.backend, tenant, list, &ids).await?;
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
            "SELECT c.id, c.phone, c.email, c.first_name, c.last_name, c.timezone, c.fields_json \
             FROM contacts c JOIN list_contacts lc ON lc.contact_id = c.id \
             WHERE lc.list_id = $1 AND c.tenant_id = $2 AND c.id > $3 ORDER BY c.id LIMIT $4",
        )
        .bind(list)
        .bind(tenant)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(contact_from_row).collect())
    }

    pub async fn contact(&self, tenant: Id, id: Id) -> StoreResult<Contact> {
        self.contacts_by_ids(tenant, &[id])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// The tenant's contacts among `ids` (others' are silently absent).
    pub async fn contacts_by_ids(&self, tenant: Id, ids: &[Id]) -> StoreResult<Vec<Contact>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let sql = format!(
                "SELECT id, phone, email, first_name, last_name, timezone, fields_json \
                 FROM contacts WHERE tenant_id = $1 AND id IN ({}) ORDER BY id",
                super::id_list(chunk)
            );
            // Not prepared: the id list makes each statement one of a kind.
            let rows = sqlx::query(&sql)
                .persistent(false)
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
            out.extend(rows.iter().map(contact_from_row));
        }
        Ok(out)
    }

    /// Replaces a contact's values. A phone or email already used by another
    /// contact is a conflict, not a merge.
    pub async fn update_contact(&self, tenant: Id, id: Id, c: &NewContact) -> StoreResult<Contact> {
        let result = sqlx::query(
            "UPDATE contacts SET phone = $1, email = $2, first_name = $3, last_name = $4, \
             timezone = $5, fields_json = $6, updated_at = $7 WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&c.phone)
        .bind(&c.email)
        .bind(&c.first_name)
        .bind(&c.last_name)
        .bind(&c.timezone)
        .bind(serde_json::to_string(&c.fields).expect("string map"))
        .bind(now_ms())
        .bind(tenant)
        .bind(id)
        .execute(&self.writer)
        .await;
        match result {
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::NotFound),
            Ok(_) => self.contact(tenant, id).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                "another contact already has this phone or email".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a contact and its list memberships. A contact with campaign
    /// history is kept (the history must stay whole): remove it from its
    /// lists instead.
    pub async fn delete_contact(&self, tenant: Id, id: Id) -> StoreResult<()> {
        self.contact(tenant, id).await?;
        let mut tx = self.write_tx().await?;
        let campaigns: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM members WHERE tenant_id = $1 AND contact_id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if campaigns > 0 {
            return Err(StoreError::Conflict(format!(
                "contact {id} was in {campaigns} campaign(s) and keeps that history; \
                 remove it from its lists instead"
            )));
        }
        for sql in [
            "DELETE FROM list_contacts WHERE tenant_id = $1 AND contact_id = $2",
            "DELETE FROM contacts WHERE tenant_id = $1 AND id = $2",
        ] {
            sqlx::query(sql)
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_from_list(&self, tenant: Id, list: Id, contact: Id) -> StoreResult<()> {
        let removed = sqlx::query(
            "DELETE FROM list_contacts WHERE tenant_id = $1 AND list_id = $2 AND contact_id = $3",
        )
        .bind(tenant)
        .bind(list)
        .bind(contact)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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

/// Reads `id, phone, email, first_name, last_name, timezone, fields_json`.
pub(super) fn contact_from_row(r: &sqlx::any::AnyRow) -> Contact {
    Contact {
        id: r.get(0),
        phone: r.get(1),
        email: r.get(2),
        first_name: r.get(3),
        last_name: r.get(4),
        timezone: r.get(5),
        fields: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
    }
}
