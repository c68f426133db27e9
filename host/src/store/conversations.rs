//! Conversations: replies from contacts recorded on the member they answer,
//! sessions for `session` send mode, and the outbox of replies to forward to
//! the tenant's reply endpoint (so forwarding is retried without holding up
//! the provider's webhook).

use serde::Serialize;
use sqlx::Row;

use super::{Id, Store, StoreResult, now_ms};
use crate::domain::campaign_spec::CampaignSettings;

/// An inbound message as the engine hands it over.
pub struct NewInbound<'a> {
    pub channel_id: Id,
    /// The contact's address, normalised like members' addresses.
    pub address: &'a str,
    pub body: &'a str,
    pub media_json: String,
    pub provider_message_id: &'a str,
    pub at: i64,
    /// An opt-out keyword (STOP...): recorded as the member's opt-out, not
    /// as a reply.
    pub opt_out: bool,
}

/// Where a recorded reply landed.
#[derive(Clone, Debug, Serialize)]
pub struct InboundRecorded {
    pub message_id: Id,
    pub member_id: Option<Id>,
    pub campaign_id: Option<Id>,
    pub session_id: Option<Id>,
    /// The session's target, for `session` campaigns.
    pub session_target: Option<String>,
    /// The campaign's tags (default first), for routing and reports.
    pub tags: Vec<String>,
}

/// One message of a member's conversation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationMessage {
    pub id: Id,
    /// `in` (from the contact) or `out` (sent by the campaign).
    pub direction: String,
    pub body: String,
    /// Media the contact attached: `[{"url", "content_type"}]`.
    #[schema(value_type = Object)]
    pub media: serde_json::Value,
    pub provider_message_id: Option<String>,
    pub session_id: Option<Id>,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: i64,
    /// The campaign's tags (default first), so a conversation can be
    /// filtered and routed by them (seed 002).
    pub tags: Vec<String>,
}

/// A conversation session (send mode `session`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: Id,
    pub channel_id: Id,
    /// The contact's address.
    pub address: String,
    /// The campaign and member whose message the session answers.
    pub campaign_id: Id,
    pub member_id: Id,
    /// `reply_endpoint` or `queue:NAME`.
    pub target: String,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub opened_at: i64,
    #[serde(with = "crate::rfc3339::ms")]
    #[schema(value_type = String, format = DateTime)]
    pub last_message_at: i64,
    /// The campaign's tags (default first), to group conversations by.
    pub tags: Vec<String>,
}

/// A reply due for forwarding.
pub struct DueReply {
    pub id: Id,
    pub tenant_id: Id,
    pub payload: String,
    pub attempts: i64,
    pub url: Option<String>,
    pub secret: Option<String>,
}

impl Store {
    /// Records a reply on the most recent member of a campaign on this
    /// channel with this address, opens or reuses its session (`session`
    /// campaigns), and queues it for forwarding when the tenant has a reply
    /// endpoint (`payload` builds the forwarded JSON), all in one
    /// transaction. `None` if the provider already delivered this message.
    pub async fn record_inbound(
        &self,
        tenant: Id,
        msg: &NewInbound<'_>,
        payload: impl FnOnce(&InboundRecorded) -> String,
    ) -> StoreResult<Option<InboundRecorded>> {
        let mut tx = self.write_tx().await?;
        let member = sqlx::query(
            "SELECT m.id, m.campaign_id, k.send_mode, k.settings_json FROM members m \
             JOIN campaigns k ON k.id = m.campaign_id \
             WHERE m.tenant_id = $1 AND (k.channel_id = $2 OR m.channel_id = $2) \
             AND m.address = $3 \
             ORDER BY m.id DESC LIMIT 1",
        )
        .bind(tenant)
        .bind(msg.channel_id)
        .bind(msg.address)
        .fetch_optional(&mut *tx)
        .await?;
        let inserted: Option<Id> = sqlx::query_scalar(
            "INSERT INTO conversation_messages (tenant_id, member_id, channel_id, direction, \
             address, body, media_json, provider_message_id, at) \
             VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(tenant)
        .bind(member.as_ref().map(|r| r.get::<Id, _>(0)))
        .bind(msg.channel_id)
        .bind(msg.address)
        .bind(msg.body)
        .bind(&msg.media_json)
        .bind(msg.provider_message_id)
        .bind(msg.at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(message_id) = inserted else {
            tx.rollback().await?;
            return Ok(None);
        };
        let mut recorded = InboundRecorded {
            message_id,
            member_id: None,
            campaign_id: None,
            session_id: None,
            session_target: None,
            tags: Vec::new(),
        };
        if let Some(row) = member {
            let member_id: Id = row.get(0);
            let campaign_id: Id = row.get(1);
            recorded.member_id = Some(member_id);
            recorded.campaign_id = Some(campaign_id);
            recorded.tags = tags_in(&mut tx, campaign_id).await?;
            let column = if msg.opt_out {
                "opted_out_at"
            } else {
                "replied_at"
            };
            sqlx::query(&format!(
                "UPDATE members SET {column} = COALESCE({column}, $1), updated_at = $2 \
                 WHERE id = $3"
            ))
            .bind(msg.at)
            .bind(now_ms())
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
            if row.get::<String, _>(2) == "session" {
                let target = session_target(&row.get::<String, _>(3));
                let session =
                    open_session(&mut tx, tenant, msg, campaign_id, member_id, &target).await?;
                sqlx::query("UPDATE conversation_messages SET session_id = $1 WHERE id = $2")
                    .bind(session)
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await?;
                recorded.session_id = Some(session);
                recorded.session_target = Some(target);
            }
        }
        let has_endpoint: Option<Option<String>> =
            sqlx::query_scalar("SELECT reply_url FROM tenants WHERE id = $1")
                .bind(tenant)
                .fetch_optional(&mut *tx)
                .await?;
        if has_endpoint.flatten().is_some() {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO reply_outbox (tenant_id, payload, next_attempt_at, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $3)",
            )
            .bind(tenant)
            .bind(payload(&recorded))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(recorded))
    }

    /// A member's conversation, oldest first.
    pub async fn conversation(
        &self,
        tenant: Id,
        campaign: Id,
        member: Id,
    ) -> StoreResult<Vec<ConversationMessage>> {
        let exists: Option<Id> = sqlx::query_scalar(
            "SELECT id FROM members WHERE tenant_id = $1 AND campaign_id = $2 AND id = $3",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(member)
        .fetch_optional(&self.pool)
        .await?;
        exists.ok_or(super::StoreError::NotFound)?;
        let tags = self.tags_of(tenant, campaign).await?;
        let rows = sqlx::query(
            "SELECT id, direction, body, media_json, provider_message_id, session_id, at \
             FROM conversation_messages WHERE tenant_id = $1 AND member_id = $2 ORDER BY at, id",
        )
        .bind(tenant)
        .bind(member)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ConversationMessage {
                id: r.get(0),
                direction: r.get(1),
                body: r.get(2),
                media: serde_json::from_str(&r.get::<String, _>(3)).unwrap_or_default(),
                provider_message_id: r.get(4),
                session_id: r.get(5),
                at: r.get(6),
                tags: tags.clone(),
            })
            .collect())
    }

    /// The tenant's sessions, most recently active first, optionally only
    /// those routed to `target` (e.g. `queue:support`, for the agents of
    /// that queue).
    pub async fn sessions(
        &self,
        tenant: Id,
        target: Option<&str>,
        tag: Option<&str>,
    ) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(
            "SELECT s.id, s.channel_id, s.address, s.campaign_id, s.member_id, s.target, \
             s.opened_at, s.last_message_at, k.default_tag \
             FROM sessions s JOIN campaigns k ON k.id = s.campaign_id \
             WHERE s.tenant_id = $1 AND ($2 IS NULL OR s.target = $2) \
             AND ($3 IS NULL OR k.default_tag = $3 OR EXISTS (SELECT 1 FROM campaign_tags t \
               WHERE t.campaign_id = k.id AND t.tag = $3)) \
             ORDER BY s.last_message_at DESC, s.id DESC LIMIT 1000",
        )
        .bind(tenant)
        .bind(target)
        .bind(tag)
        .fetch_all(&self.pool)
        .await?;
        let mut campaigns: Vec<Id> = rows.iter().map(|r| r.get(3)).collect();
        campaigns.sort_unstable();
        campaigns.dedup();
        let custom = self.campaign_tags(tenant, &campaigns).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let campaign_id: Id = r.get(3);
                let tags = std::iter::once(r.get::<String, _>(8))
                    .chain(custom.get(&campaign_id).cloned().unwrap_or_default())
                    .collect();
                Session {
                    id: r.get(0),
                    channel_id: r.get(1),
                    address: r.get(2),
                    campaign_id,
                    member_id: r.get(4),
                    target: r.get(5),
                    opened_at: r.get(6),
                    last_message_at: r.get(7),
                    tags,
                }
            })
            .collect())
    }

    /// Up to `limit` replies due for forwarding, each held for `hold_ms` so
    /// that no other instance forwards it meanwhile.
    pub async fn claim_due_replies(&self, limit: i64, hold_ms: i64) -> StoreResult<Vec<DueReply>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(&format!(
            "UPDATE reply_outbox SET next_attempt_at = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM reply_outbox WHERE status = 'pending' \
               AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $3{}) \
             RETURNING id, tenant_id, payload, attempts",
            self.skip_locked()
        ))
        .bind(now + hold_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for r in rows {
            let tenant: Id = r.get(1);
            let endpoint =
                sqlx::query("SELECT reply_url, webhook_secret FROM tenants WHERE id = $1")
                    .bind(tenant)
                    .fetch_one(&mut *tx)
                    .await?;
            due.push(DueReply {
                id: r.get(0),
                tenant_id: tenant,
                payload: r.get(2),
                attempts: r.get(3),
                url: endpoint.get("reply_url"),
                secret: self.open_value(endpoint.get("webhook_secret"))?,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Records a forwarding attempt: delivered, retry at `retry_at`, or
    /// (`retry_at: None`) given up.
    pub async fn finish_reply(
        &self,
        id: Id,
        delivered: bool,
        error: Option<&str>,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        let status = match (delivered, retry_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        sqlx::query(
            "UPDATE reply_outbox SET status = $1, last_error = $2, \
             next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $4",
        )
        .bind(status)
        .bind(error)
        .bind(retry_at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

/// Opens a session for (channel, address), or reuses the open one.
async fn open_session(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: Id,
    msg: &NewInbound<'_>,
    campaign: Id,
    member: Id,
    target: &str,
) -> StoreResult<Id> {
    Ok(sqlx::query_scalar(
        "INSERT INTO sessions (tenant_id, channel_id, address, campaign_id, member_id, target, \
         opened_at, last_message_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (channel_id, address) DO UPDATE SET last_message_at = excluded.last_message_at \
         RETURNING id",
    )
    .bind(tenant)
    .bind(msg.channel_id)
    .bind(msg.address)
    .bind(campaign)
    .bind(member)
    .bind(target)
    .bind(msg.at)
    .fetch_one(&mut **tx)
    .await?)
}

fn session_target(settings_json: &str) -> String {
    serde_json::from_str::<CampaignSettings>(settings_json)
        .ok()
        .and_then(|s| s.session_target)
        .unwrap_or_else(|| "reply_endpoint".to_owned())
}

/// A campaign's tags, default first, read inside `tx`.
async fn tags_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    campaign: Id,
) -> StoreResult<Vec<String>> {
    let default: String = sqlx::query_scalar("SELECT default_tag FROM campaigns WHERE id = $1")
        .bind(campaign)
        .fetch_one(&mut **tx)
        .await?;
    let custom: Vec<String> = sqlx::query_scalar(
        "SELECT tag FROM campaign_tags WHERE campaign_id = $1 ORDER BY position",
    )
    .bind(campaign)
    .fetch_all(&mut **tx)
    .await?;
    Ok(std::iter::once(default).chain(custom).collect())
}
