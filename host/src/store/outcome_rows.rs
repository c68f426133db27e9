//! The rows a batch of send outcomes writes, one statement for the whole
//! batch each: the members' new state, and the sent messages in their
//! conversations. The batch travels as one JSON array parameter, read by
//! `json_each` (SQLite) or `jsonb_array_elements` (PostgreSQL). A statement
//! per member cost a database round trip each (a worker-thread hop on
//! SQLite), and was the send path's ceiling on PostgreSQL.

use std::collections::HashSet;

use serde::Serialize;
use sqlx::Row;

use super::json_rows::{json_array, json_int, json_rows, json_text, keyed_rows};
use super::{Backend, Id, StoreResult};

/// One member's outcome, as the statement reads it.
#[derive(Serialize)]
pub(super) struct MemberOutcome<'a> {
    pub id: Id,
    pub status: &'a str,
    pub next_attempt_at: i64,
    pub provider_message_id: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub sent_at: Option<i64>,
    pub retryable: i64,
    pub next_step: Option<i64>,
    pub next_step_at: Option<i64>,
    pub channel_id: Id,
    pub reconcile_at: Option<i64>,
    pub channel_revision: Option<i64>,
    pub plugin_sha256: Option<&'a str>,
}

/// A sent message for the member's conversation.
#[derive(Serialize)]
pub(super) struct SentMessage<'a> {
    pub tenant_id: Id,
    pub member_id: Id,
    pub channel_id: Id,
    pub address: &'a str,
    pub body: &'a str,
    pub provider_message_id: &'a str,
    pub at: i64,
}

/// Writes the outcomes of members still leased by `owner` (a late writer
/// cannot overwrite a newer claim's result); answers the members changed.
pub(super) async fn update_members(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    owner: &str,
    now: i64,
    rows: &mut [MemberOutcome<'_>],
) -> StoreResult<HashSet<Id>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    // The batch's rows drive the join, each finding its member by primary
    // key. `status || ''` keeps the status test off the (status, ...)
    // index: by it, SQLite's planner walked every claimed member of every
    // campaign and scanned the batch for each.
    // A retry of a member whose campaign was cancelled during its call is
    // `cancelled`, not queued again for a campaign that will never send.
    // Rows locked in one order by every batch: no deadlock between writers.
    rows.sort_unstable_by_key(|r| r.id);
    let batch = keyed_rows(backend, "$1");
    let sql = format!(
        "{with}UPDATE members SET status = CASE WHEN {status} = 'queued' AND EXISTS \
           (SELECT 1 FROM campaigns c WHERE c.id = members.campaign_id AND c.status = 'cancelled') \
           THEN 'cancelled' ELSE {status} END, next_attempt_at = {next}, \
         provider_message_id = {pmid}, error_code = {code}, error_message = {message}, \
         sent_at = COALESCE({sent_at}, members.sent_at), lease_owner = NULL, \
         lease_until = NULL, updated_at = $2, retryable = {retryable}, next_step = {step}, \
         next_step_at = {step_at}, channel_id = {channel}, reconcile_at = {reconcile}, \
         sent_channel_revision = COALESCE({revision}, members.sent_channel_revision), \
         sent_plugin_sha256 = COALESCE({sha}, members.sent_plugin_sha256) \
         FROM {rows} WHERE members.id = {id} AND (members.status || '') IN ('claimed', 'sending') \
         AND members.lease_owner = $3 RETURNING members.id",
        status = json_text("status"),
        next = json_int("next_attempt_at"),
        pmid = json_text("provider_message_id"),
        code = json_text("error_code"),
        message = json_text("error_message"),
        sent_at = json_int("sent_at"),
        retryable = json_int("retryable"),
        step = json_int("next_step"),
        step_at = json_int("next_step_at"),
        channel = json_int("channel_id"),
        reconcile = json_int("reconcile_at"),
        revision = json_int("channel_revision"),
        sha = json_text("plugin_sha256"),
        with = batch.with,
        id = batch.id,
        rows = batch.from,
    );
    let changed = sqlx::query(&sql)
        .bind(json_array(rows))
        .bind(now)
        .bind(owner)
        .fetch_all(&mut **tx)
        .await?;
    Ok(changed.iter().map(|r| r.get::<Id, _>(0)).collect())
}

/// Adds the sent messages to their members' conversations (once each).
pub(super) async fn insert_sent_messages(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    messages: &[SentMessage<'_>],
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    // `WHERE true`: SQLite's parser needs it between a SELECT's FROM and
    // an upsert clause.
    let sql = format!(
        "INSERT INTO conversation_messages (tenant_id, member_id, channel_id, direction, \
         address, body, provider_message_id, at) \
         SELECT {tenant}, {member}, {channel}, 'out', {address}, {body}, {pmid}, {at} \
         FROM {rows} \
         WHERE true ON CONFLICT DO NOTHING",
        tenant = json_int("tenant_id"),
        member = json_int("member_id"),
        channel = json_int("channel_id"),
        address = json_text("address"),
        body = json_text("body"),
        pmid = json_text("provider_message_id"),
        at = json_int("at"),
        rows = json_rows(backend, "$1"),
    );
    sqlx::query(&sql)
        .bind(json_array(messages))
        .execute(&mut **tx)
        .await?;
    Ok(())
}
