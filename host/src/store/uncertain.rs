//! Members whose send's outcome was not seen (`unknown` with a lookup
//! due): claimed one batch at a time under a lease, like a send, so that
//! exactly one instance asks the provider about each, and a crash during
//! the lookup only makes it due again.

use sqlx::Row;

use super::claimed::load_claimed;
use super::credit_holds::Settlement;
use super::json_rows::backend_of;
use super::members::{ClaimedMember, insert_events};
use super::receipt_checks;
use super::{Id, Store, StoreResult, now_ms};

/// An uncertain send to look up.
#[derive(Clone, Debug)]
pub struct UncertainSend {
    /// The member as its send had it (same attempt, same idempotency key),
    /// leased to the caller: its outcome is recorded like a send's.
    pub member: ClaimedMember,
    /// The attempt's plugin call started no earlier than this ...
    pub not_before_ms: i64,
    /// ... and its request left before this (now: the lookup is later).
    pub not_after_ms: i64,
    /// Times a lookup already found nothing after a send that left, and it
    /// was sent again.
    pub lookup_resends: i64,
    /// Why it is unknown: `send_uncertain` (the request left, the answer
    /// did not come) or `outcome_unknown` (a process died during the call,
    /// perhaps before the request left).
    pub cause: Option<String>,
    /// What the send's outcome said when it became unknown.
    pub reason: Option<String>,
}

impl Store {
    /// Up to `limit` members whose lookup is due, now `sending` under
    /// `owner`'s lease (their attempt and key unchanged).
    pub async fn claim_uncertain(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<UncertainSend>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(&format!(
            "UPDATE members SET status = 'sending', lease_owner = $1, lease_until = $2, \
             reconcile_at = NULL \
             WHERE id IN (SELECT id FROM members WHERE status = 'unknown' \
               AND reconcile_at <= $3 ORDER BY reconcile_at LIMIT $4{}) \
             RETURNING id, tenant_id, campaign_id, address, attempts, idempotency_key, \
               attempt_started_at, lookup_resends, error_code, error_message, \
               sent_channel_revision, sent_plugin_sha256",
            self.skip_locked()
        ))
        .bind(owner)
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        // Wall-clock times, as the provider stamps its messages.
        let real_now = crate::clock::real_now_ms();
        struct Window {
            started: Option<i64>,
            resends: i64,
            cause: Option<String>,
            reason: Option<String>,
            sent_with: Option<super::SentWith>,
        }
        let windows: std::collections::HashMap<Id, Window> = rows
            .iter()
            .map(|r| {
                let window = Window {
                    started: r.try_get("attempt_started_at").ok().flatten(),
                    resends: r.get("lookup_resends"),
                    cause: r.try_get("error_code").ok().flatten(),
                    reason: r.try_get("error_message").ok().flatten(),
                    sent_with: r
                        .try_get::<Option<i64>, _>("sent_channel_revision")
                        .ok()
                        .flatten()
                        .zip(r.try_get("sent_plugin_sha256").ok().flatten())
                        .map(|(channel_revision, plugin_sha256)| super::SentWith {
                            channel_revision,
                            plugin_sha256,
                        }),
                };
                (r.get::<Id, _>("id"), window)
            })
            .collect();
        let members = load_claimed(&mut tx, &rows).await?.members;
        tx.commit().await?;
        Ok(members
            .into_iter()
            .filter_map(|mut member| {
                let w = windows.get(&member.id)?;
                member.sent_with = w.sent_with.clone();
                Some(UncertainSend {
                    // A row from before the start was recorded: the lease
                    // bounds how long before now the call began.
                    not_before_ms: w.started.unwrap_or(real_now - lease_ms),
                    not_after_ms: real_now,
                    lookup_resends: w.resends,
                    cause: w.cause.clone(),
                    reason: w.reason.clone(),
                    member,
                })
            })
            .collect())
    }

    /// A lookup found nothing and the member goes out again: counted, so it
    /// happens once at most.
    pub async fn count_lookup_resend(&self, member: Id) -> StoreResult<()> {
        sqlx::query("UPDATE members SET lookup_resends = lookup_resends + 1 WHERE id = $1")
            .bind(member)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

/// Sends that the provider accepted after their lease was lost (the
/// process was too slow, or its heartbeat stopped): if the member is still
/// `unknown` for that attempt, the provider's answer settles it, `sent`
/// with its id, instead of being dropped. Returns their credit settlements.
pub(super) async fn adopt_late_acceptances(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    late: &[(&ClaimedMember, &str)],
    now: i64,
    receipt_due_ms: i64,
) -> StoreResult<Vec<Settlement>> {
    let mut adopted = Vec::new();
    for (m, provider_message_id) in late {
        let changed = sqlx::query(
            "UPDATE members SET status = 'sent', provider_message_id = $1, reconcile_at = NULL, \
             error_code = NULL, error_message = NULL, sent_at = COALESCE(sent_at, $2), \
             next_attempt_at = $3, updated_at = $2, channel_id = $4 \
             WHERE id = $5 AND status = 'unknown' AND attempts = $6",
        )
        .bind(*provider_message_id)
        .bind(now)
        .bind(now + receipt_due_ms)
        .bind(m.channel_id)
        .bind(m.id)
        .bind(m.attempt)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if changed > 0 {
            let backend = backend_of(tx);
            receipt_checks::expect(&mut *tx, backend, &[m.id], now + receipt_due_ms).await?;
            tracing::warn!(
                member = m.id,
                provider_message_id,
                "a send answered after its lease was lost: its unknown outcome is settled as sent"
            );
            adopted.push(Settlement {
                member: m.id,
                attempt: m.attempt,
                charged: true,
            });
        } else {
            tracing::warn!(
                member = m.id,
                provider_message_id,
                "a send answered after its lease was lost and the member moved on; answer dropped"
            );
        }
    }
    let events: Vec<_> = late
        .iter()
        .filter(|(m, _)| adopted.iter().any(|s| s.member == m.id))
        .map(|(m, id)| {
            (
                m.tenant_id,
                m.id,
                "sent",
                format!("accepted as {id}, answered after its lease was lost"),
            )
        })
        .collect();
    insert_events(tx, now, &events).await?;
    Ok(adopted)
}
