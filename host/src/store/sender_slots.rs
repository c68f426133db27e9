//! A sender's send slots shared by every instance on one PostgreSQL
//! database: one row per channel sender holds the next free slot, and an
//! instance takes a run of slots with one statement. Together the
//! instances keep to the sender's rate whatever their number, however the
//! campaign's members are spread between them, and a killed instance loses
//! at most the run it held.
//!
//! Times are wall-clock microseconds of the instance asking (instances on
//! several hosts keep their clocks in step, as every server does): each
//! slot is then a point in time every instance reads the same way, with no
//! correction for how long the statement took.

use sqlx::Row;

use super::{Id, Store, StoreResult};

/// The answer to a request for a run of slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRun {
    /// Taken: the run starts at this instant (µs since the epoch; `now_us`
    /// if the sender was idle).
    Taken { start_us: i64 },
    /// The sender is booked further ahead than the caller may wait: its
    /// next free slot is at this instant. Nothing was taken.
    Booked { free_at_us: i64 },
}

impl Store {
    /// Takes `run_us` microseconds of the sender's schedule from its next
    /// free slot (or `now_us`, if that has passed), unless that slot is
    /// more than `horizon_us` after `now_us`.
    pub async fn take_sender_slots(
        &self,
        channel_id: Id,
        sender: &str,
        now_us: i64,
        run_us: i64,
        horizon_us: i64,
    ) -> StoreResult<SlotRun> {
        let taken = sqlx::query(
            "UPDATE sender_slots SET next_us = GREATEST(next_us, $3) + $4 \
             WHERE channel_id = $1 AND sender = $2 AND next_us <= $3 + $5 \
             RETURNING next_us - $4 AS start_us",
        )
        .bind(channel_id)
        .bind(sender)
        .bind(now_us)
        .bind(run_us)
        .bind(horizon_us)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = taken {
            return Ok(SlotRun::Taken {
                start_us: row.try_get("start_us")?,
            });
        }
        // Booked too far ahead, or the sender's first send anywhere.
        let created = sqlx::query(
            "INSERT INTO sender_slots (channel_id, sender, next_us) VALUES ($1, $2, $3) \
             ON CONFLICT (channel_id, sender) DO NOTHING",
        )
        .bind(channel_id)
        .bind(sender)
        .bind(now_us + run_us)
        .execute(&self.pool)
        .await?;
        if created.rows_affected() == 1 {
            return Ok(SlotRun::Taken { start_us: now_us });
        }
        let free_at_us: i64 = sqlx::query_scalar(
            "SELECT next_us FROM sender_slots WHERE channel_id = $1 AND sender = $2",
        )
        .bind(channel_id)
        .bind(sender)
        .fetch_one(&self.pool)
        .await?;
        Ok(SlotRun::Booked { free_at_us })
    }
}
