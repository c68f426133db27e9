//! Contacts joining a campaign after it started: an `automatic` campaign
//! enrols contacts as they arrive (API, import, inbound message); a `manual`
//! one takes its list as it was when it started.

use sqlx::Row;

use super::contacts::NewContact;
use super::{Id, Store, StoreError, StoreResult, id_list, now_ms};

/// Statuses in which an automatic campaign takes new members.
const ENROLLING: &str = "('running', 'paused')";

/// Makes members of `contacts` in `campaign` if it is an automatic campaign
/// that is live; idempotent (a contact is a member at most once). Contacts
/// without a phone are left out until email campaigns take addresses by
/// channel kind.
pub(super) async fn enrol_in_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: Id,
    campaign: Id,
    contacts: &[Id],
    now: i64,
) -> StoreResult<u64> {
    let mut enrolled = 0;
    for chunk in contacts.chunks(1000) {
        let sql = format!(
            "INSERT INTO members (tenant_id, campaign_id, contact_id, address, status, \
             next_attempt_at, updated_at) \
             SELECT $1, k.id, c.id, c.phone, {}, $3, $3 FROM contacts c \
             JOIN campaigns k ON k.id = $2 AND k.tenant_id = $1 \
             WHERE c.tenant_id = $1 AND c.phone IS NOT NULL AND k.execution_mode = 'automatic' \
             AND k.status IN {ENROLLING} AND c.id IN ({}) \
             ON CONFLICT (campaign_id, contact_id) DO NOTHING",
            super::review::FIRST_STATUS,
            id_list(chunk)
        );
        // Not prepared: the id list makes each statement one of a kind.
        enrolled += sqlx::query(&sql)
            .persistent(false)
            .bind(tenant)
            .bind(campaign)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        super::dedupe::disqualify_active_elsewhere(tx, campaign, Some(chunk), now).await?;
    }
    Ok(enrolled)
}

/// What an enrolment request did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Enrolled {
    /// The contacts, in request order (created or matched by phone, then email).
    pub contact_ids: Vec<Id>,
    /// Members created now; contacts already enrolled are not counted again.
    pub enrolled: u64,
}

impl Store {
    /// Adds contacts to a live automatic campaign (and its list), creating or
    /// updating them by phone, then email. Calling it again with the same
    /// contacts changes nothing.
    pub async fn enrol_contacts(
        &self,
        tenant: Id,
        campaign: Id,
        contacts: &[NewContact],
    ) -> StoreResult<Enrolled> {
        let row = sqlx::query(
            "SELECT list_id, status, execution_mode FROM campaigns WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(campaign)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let (list, status, mode): (Id, String, String) = (row.get(0), row.get(1), row.get(2));
        if mode != "automatic" {
            return Err(StoreError::Conflict(format!(
                "campaign {campaign} is a {mode} campaign: its audience is its list when it \
                 starts; add contacts to list {list} instead, or create an automatic campaign"
            )));
        }
        // A draft or scheduled campaign takes them into its list; they become
        // members when it starts.
        if !matches!(
            status.as_str(),
            "running" | "paused" | "draft" | "scheduled"
        ) {
            return Err(StoreError::Conflict(format!(
                "campaign {campaign} is {status} and takes no more contacts"
            )));
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let contact_ids = self
            .upsert_contacts_in(&mut tx, tenant, list, contacts)
            .await?;
        let enrolled = enrol_in_tx(&mut tx, tenant, campaign, &contact_ids, now).await?;
        tx.commit().await?;
        Ok(Enrolled {
            contact_ids,
            enrolled,
        })
    }

    /// A message from `phone` reached `channel` and no contact has that
    /// number: when a live automatic campaign on the channel takes inbound
    /// contacts, the number becomes a contact in its list and a member.
    /// Returns the campaigns it joined.
    pub async fn enrol_inbound(
        &self,
        tenant: Id,
        channel: Id,
        phone: &str,
    ) -> StoreResult<Vec<Id>> {
        let known: Option<Id> =
            sqlx::query_scalar("SELECT id FROM contacts WHERE tenant_id = $1 AND phone = $2")
                .bind(tenant)
                .bind(phone)
                .fetch_optional(&self.pool)
                .await?;
        if known.is_some() {
            return Ok(Vec::new());
        }
        let campaigns = sqlx::query(&format!(
            "SELECT id, list_id FROM campaigns WHERE tenant_id = $1 AND channel_id = $2 \
             AND execution_mode = 'automatic' AND inbound_enrolment = 1 AND status IN {ENROLLING} \
             ORDER BY id"
        ))
        .bind(tenant)
        .bind(channel)
        .fetch_all(&self.pool)
        .await?;
        if campaigns.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let contact = NewContact {
            phone: Some(phone.to_owned()),
            ..Default::default()
        };
        let mut joined = Vec::new();
        for r in &campaigns {
            let (campaign, list): (Id, Id) = (r.get(0), r.get(1));
            let ids = self
                .upsert_contacts_in(&mut tx, tenant, list, std::slice::from_ref(&contact))
                .await?;
            if enrol_in_tx(&mut tx, tenant, campaign, &ids, now).await? > 0 {
                joined.push(campaign);
            }
        }
        tx.commit().await?;
        Ok(joined)
    }
}
