//! A batch of delivery receipts applied with a fixed number of statements,
//! whatever its size: find every receipt's member, update the members,
//! record their events, park the receipts that beat their send's outcome.
//! The batch travels as one JSON array parameter (see `json_rows`). Four
//! statements per receipt, two receipts per message, were the callback
//! path's ceiling on PostgreSQL and a worker-thread hop each on SQLite.
//!
//! Receipts apply in arrival order: several for one member in one batch
//! ("sent" then "delivered") are folded in memory with the same rules
//! (`MemberStatus::accepts`) before the member's row is written once.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::json_rows::{json_array, json_int, json_rows, json_text};
use super::members::insert_events;
use super::receipts::Receipt;
use super::{Backend, Id, StoreResult, now_ms};
use crate::domain::member::MemberStatus;

/// A receipt's member as the batch found it.
struct Found {
    member: Id,
    campaign: Id,
    status: Option<MemberStatus>,
}

/// A member's row after its receipts of the batch.
#[derive(Serialize)]
struct MemberReceipts {
    id: Id,
    /// The status it had when found: the update applies only if it still does.
    expected: String,
    status: String,
    error_code: Option<String>,
    error_message: Option<String>,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    failed: i64,
}

/// A receipt parked until its send's outcome is recorded.
#[derive(Serialize)]
struct Parked<'a> {
    tenant_id: Id,
    provider_message_id: &'a str,
    status: &'a str,
    error_code: Option<&'a str>,
    error_message: Option<&'a str>,
    at: i64,
    channel_id: Id,
}

/// Applies `receipts` in order; answers, per receipt, the campaign of the
/// member it changed. The caller holds the message ids' locks.
pub(super) async fn apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    receipts: &[(Id, Receipt)],
) -> StoreResult<Vec<Option<Id>>> {
    let found = find_members(tx, backend, receipts).await?;
    let now = now_ms();
    let mut rows: Vec<MemberReceipts> = Vec::new();
    let mut row_of: HashMap<Id, usize> = HashMap::new();
    let mut events = Vec::new();
    let mut parked = Vec::new();
    let mut failed = Vec::new();
    let mut touched = Vec::with_capacity(receipts.len());
    for (i, (tenant, receipt)) in receipts.iter().enumerate() {
        let Some(found) = found.get(&i) else {
            // Kept only if it can still move its member once the send's
            // outcome is written: an accepted send is `sent` from then on,
            // so a "sent" that beat it says nothing new, and keeping it
            // cost an insert, a read and a delete for nothing.
            if !MemberStatus::Sent.accepts(receipt.status) {
                touched.push(None);
                continue;
            }
            parked.push(Parked {
                tenant_id: *tenant,
                provider_message_id: &receipt.provider_message_id,
                status: receipt.status.as_str(),
                error_code: receipt.error_code.as_deref(),
                error_message: receipt.error_message.as_deref(),
                at: receipt.at,
                channel_id: receipt.channel_id,
            });
            touched.push(None);
            continue;
        };
        let Some(status) = found.status else {
            touched.push(None);
            continue;
        };
        let current = row_of
            .get(&found.member)
            .and_then(|&row| MemberStatus::parse(&rows[row].status))
            .unwrap_or(status);
        if !current.accepts(receipt.status) {
            // Nothing to write: a member row only for receipts that move
            // it (a "sent" receipt for a member its outcome already made
            // `sent` rewrote the row unchanged).
            touched.push(None);
            continue;
        }
        let row = *row_of.entry(found.member).or_insert_with(|| {
            rows.push(MemberReceipts {
                id: found.member,
                expected: status.as_str().to_owned(),
                status: status.as_str().to_owned(),
                error_code: None,
                error_message: None,
                delivered_at: None,
                read_at: None,
                failed: 0,
            });
            rows.len() - 1
        });
        fold(&mut rows[row], receipt);
        if receipt.status == MemberStatus::Failed {
            failed.push((*tenant, found.member));
        }
        let detail = match &receipt.error_code {
            Some(code) => format!("receipt {} ({code})", receipt.status.as_str()),
            None => format!("receipt {}", receipt.status.as_str()),
        };
        events.push((*tenant, found.member, receipt.status.as_str(), detail));
        touched.push(Some(found.campaign));
    }
    update_members(tx, backend, now, &mut rows).await?;
    let moved: Vec<Id> = rows.iter().map(|r| r.id).collect();
    super::receipt_checks::settle(tx, backend, &moved).await?;
    insert_events(tx, now, &events).await?;
    park(tx, backend, &parked).await?;
    for (tenant, member) in failed {
        // Its fallback, if the campaign has one; else the journey ends.
        super::journeys::after_failure(tx, tenant, member, now).await?;
    }
    Ok(touched)
}

/// One receipt on top of those before it, as the update would apply it: a
/// new error replaces the old, the first delivery and read times stay, and
/// a read implies delivery.
fn fold(row: &mut MemberReceipts, receipt: &Receipt) {
    row.status = receipt.status.as_str().to_owned();
    if receipt.error_code.is_some() {
        row.error_code.clone_from(&receipt.error_code);
    }
    if receipt.error_message.is_some() {
        row.error_message.clone_from(&receipt.error_message);
    }
    if receipt.status.is_reached() {
        row.delivered_at.get_or_insert(receipt.at);
    }
    if receipt.status == MemberStatus::Read {
        row.read_at.get_or_insert(receipt.at);
    }
    if receipt.status == MemberStatus::Failed {
        row.failed = 1;
    }
}

/// Each receipt's member, by tenant, message id and channel (older sends
/// did not record their channel: the campaign's then), keyed by the
/// receipt's position in the batch.
async fn find_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    receipts: &[(Id, Receipt)],
) -> StoreResult<HashMap<usize, Found>> {
    let keys: Vec<_> = receipts
        .iter()
        .enumerate()
        .map(|(i, (tenant, r))| {
            serde_json::json!({ "i": i, "t": tenant, "p": r.provider_message_id, "c": r.channel_id })
        })
        .collect();
    let matches = "m.tenant_id = CAST(r.value ->> 't' AS BIGINT) \
         AND m.provider_message_id = r.value ->> 'p' \
         AND COALESCE(m.channel_id, (SELECT k.channel_id FROM campaigns k \
           WHERE k.id = m.campaign_id)) = CAST(r.value ->> 'c' AS BIGINT)";
    let rows = json_rows(backend, "$1");
    // All the matches come back as one row, a JSON array of
    // [i, member, status, campaign]: a batch matches up to hundreds of
    // rows, and past 50 a row at a time the SQLite worker thread stalled
    // on sqlx's row channel (its size is fixed at 50 through the `Any`
    // driver) and woke with each row taken, two context switches per row.
    let sql = match backend {
        // Each message id looked up on its own (a lateral subquery that
        // `OFFSET 0` keeps from being flattened into a join). As a join,
        // PostgreSQL once judged the message-id index empty (analysed
        // while every id was still null) and merge-joined each batch
        // through all of it, a walk that grew with the campaign.
        Backend::Postgres => format!(
            "SELECT CAST(COALESCE(json_agg(json_build_array(CAST(r.value ->> 'i' AS BIGINT), \
             m.id, m.status, m.campaign_id)), '[]') AS TEXT) AS found \
             FROM {rows} CROSS JOIN LATERAL (SELECT m.id, m.status, m.campaign_id \
             FROM members m WHERE {matches} OFFSET 0) m"
        ),
        // SQLite has no LATERAL, and joins by nested loops only.
        Backend::Sqlite => format!(
            "SELECT json_group_array(json_array(CAST(r.value ->> 'i' AS BIGINT), \
             m.id, m.status, m.campaign_id)) AS found \
             FROM {rows} JOIN members m ON {matches}"
        ),
    };
    let found_json: String = sqlx::query(&sql)
        .bind(serde_json::Value::Array(keys).to_string())
        .fetch_one(&mut **tx)
        .await?
        .get("found");
    let matched: Vec<(i64, Id, String, Id)> = super::channels::from_json(&found_json)?;
    let mut found = HashMap::new();
    for (i, member, status, campaign) in matched {
        found.entry(i as usize).or_insert_with(|| Found {
            member,
            campaign,
            status: MemberStatus::parse(&status),
        });
    }
    Ok(found)
}

async fn update_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    now: i64,
    rows: &mut [MemberReceipts],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // In one order in every batch: no deadlock between writers. The
    // batch's rows drive the join by primary key (`status || ''` keeps the
    // status test off the status index; see `outcome_rows`).
    rows.sort_unstable_by_key(|r| r.id);
    let sql = format!(
        "UPDATE members SET status = {status}, \
         error_code = COALESCE({code}, members.error_code), \
         error_message = COALESCE({message}, members.error_message), \
         delivered_at = COALESCE(members.delivered_at, {delivered}), \
         read_at = COALESCE(members.read_at, {read}), updated_at = $2, \
         retryable = CASE WHEN {failed} = 1 THEN 1 ELSE members.retryable END \
         FROM {rows} WHERE members.id = {id} AND (members.status || '') = {expected}",
        status = json_text("status"),
        code = json_text("error_code"),
        message = json_text("error_message"),
        delivered = json_int("delivered_at"),
        read = json_int("read_at"),
        failed = json_int("failed"),
        id = json_int("id"),
        expected = json_text("expected"),
        rows = json_rows(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_array(rows))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn park(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    parked: &[Parked<'_>],
) -> StoreResult<()> {
    if parked.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO early_receipts (tenant_id, provider_message_id, status, error_code, \
         error_message, at, channel_id) SELECT {tenant}, {pmid}, {status}, {code}, {message}, {at}, \
         {channel} FROM {rows}",
        tenant = json_int("tenant_id"),
        pmid = json_text("provider_message_id"),
        status = json_text("status"),
        code = json_text("error_code"),
        message = json_text("error_message"),
        at = json_int("at"),
        channel = json_int("channel_id"),
        rows = json_rows(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_array(parked))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
