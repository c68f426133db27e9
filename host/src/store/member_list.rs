//! Reading a campaign's members for the API: the members grid, page by
//! page, with each member's status as seed 004 shows it.

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreResult};
use crate::domain::lifecycle::Status;
use crate::domain::member::MemberStatus;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: Id,
    pub contact_id: Id,
    /// Where the message goes (E.164 number).
    pub address: String,
    pub status: MemberStatus,
    /// The contact status seed 004 shows: `awaiting_execution`,
    /// `awaiting_approval`, `executing`, `completed`, `disqualified`,
    /// `disabled`, `campaign_paused`.
    pub display_status: &'static str,
    /// A reviewer edited what this member will receive.
    pub content_edited: bool,
    pub attempts: i64,
    /// When Herald tries it next; null once it will not (sent, final).
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<i64>,
    pub provider_message_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<i64>,
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<i64>,
    /// When the recipient read it (WhatsApp read receipt).
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<i64>,
    /// Voice: how the (last) call ended, or the AMD result while in progress.
    pub disposition: Option<String>,
    /// When the contact first replied.
    #[serde(with = "crate::rfc3339::opt_ms")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub replied_at: Option<i64>,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
    /// Queued and waiting for a sending window until `next_attempt_at`:
    /// `quiet_hours`, `calling_hours` or `no_common_window`.
    pub wait_reason: Option<String>,
    /// What its last send went out with: the channel's revision (its
    /// plugin and settings then; see `GET /v1/channels/{id}`) ...
    pub channel_revision: Option<i64>,
    /// ... and the plugin version (sha256 of the component) that made it.
    pub plugin_sha256: Option<String>,
}

const MEMBER_COLUMNS: &str = "id, contact_id, address, status, attempts, next_attempt_at, \
    provider_message_id, error_code, error_message, sent_at, delivered_at, updated_at, \
    read_at, disposition, replied_at, wait_reason, \
    CAST(CASE WHEN content_json IS NULL THEN 0 ELSE 1 END AS BIGINT), sent_channel_revision, \
    sent_plugin_sha256";

/// Which members of a campaign to list; every field narrows.
#[derive(Debug, Default)]
pub struct MemberFilter {
    pub status: Option<MemberStatus>,
    /// One of [`MemberStatus::display_status`]'s names.
    pub display_status: Option<String>,
    /// The address as members store it (`domain::reply::normalise_address`).
    pub address: Option<String>,
}

impl Store {
    pub async fn members(
        &self,
        tenant: Id,
        campaign: Id,
        filter: &MemberFilter,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Member>> {
        let paused = matches!(
            self.campaign(tenant, campaign).await?.status,
            Status::Paused(_) | Status::Stopped(_)
        );
        // The contact status a member shows depends on its campaign being
        // paused: the statuses that show as the one asked for, now.
        let shown = filter.display_status.as_deref().map(|display| {
            let statuses: Vec<String> = MemberStatus::ALL
                .into_iter()
                .filter(|s| s.display_status(paused) == display)
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            if statuses.is_empty() {
                " AND false".to_owned()
            } else {
                format!(" AND status IN ({})", statuses.join(", "))
            }
        });
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND campaign_id = $2 \
             AND ($3 IS NULL OR status = $3) AND ($6 IS NULL OR address = $6){} \
             AND id > $4 ORDER BY id LIMIT $5",
            shown.unwrap_or_default()
        ))
        .bind(tenant)
        .bind(campaign)
        .bind(filter.status.map(MemberStatus::as_str))
        .bind(after)
        .bind(limit)
        .bind(filter.address.as_deref())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| member_from_row(r, paused)).collect())
    }
}

impl Store {
    /// One member of a campaign, as the members grid shows it.
    pub async fn member(&self, tenant: Id, campaign: Id, member: Id) -> StoreResult<Member> {
        let paused = matches!(
            self.campaign(tenant, campaign).await?.status,
            Status::Paused(_) | Status::Stopped(_)
        );
        let row = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM members WHERE tenant_id = $1 AND campaign_id = $2 \
             AND id = $3"
        ))
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(super::StoreError::NotFound)?;
        Ok(member_from_row(&row, paused))
    }
}

fn member_from_row(r: &sqlx::any::AnyRow, campaign_paused: bool) -> Member {
    let status = MemberStatus::parse(&r.get::<String, _>(3)).unwrap_or(MemberStatus::Queued);
    Member {
        id: r.get(0),
        contact_id: r.get(1),
        address: r.get(2),
        status,
        display_status: status.display_status(campaign_paused),
        content_edited: r.get::<i64, _>(16) != 0,
        attempts: r.get(4),
        // Only while Herald will still try it: a delivered or failed member
        // has no next attempt, whatever the column last held.
        next_attempt_at: status.is_pending().then(|| r.get(5)),
        provider_message_id: r.get(6),
        error_code: r.get(7),
        error_message: r.get(8),
        sent_at: r.get(9),
        delivered_at: r.get(10),
        updated_at: r.get(11),
        read_at: r.get(12),
        disposition: r.get(13),
        replied_at: r.get(14),
        wait_reason: r.get(15),
        channel_revision: r.get(17),
        plugin_sha256: r.get(18),
    }
}
