//! The one clock Herald reads "now" from for business time: when a member is
//! due, what quiet hours say, when a scheduled campaign starts, every
//! timestamp written to the database.
//!
//! It is real time unless the server was started with `--test-clock`, which
//! only the test harness passes: then the clock starts at the given instant
//! and an admin endpoint (`POST /v1/admin/clock`) can set or advance it; it
//! keeps running at real speed from wherever it was set. Without the flag
//! there is no way to change it: the endpoint is not even routed.
//!
//! Process-wide on purpose: one server process has one notion of "now", and
//! every reader (store, engine, API) agrees without threading a handle
//! through every call.
//!
//! Time that must be real whatever the test clock says (signature freshness
//! for webhooks and forwarded replies, the plugins' `now`) reads
//! [`real_now_ms`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

/// Offset from real time, present only when the test clock is on.
static TEST_OFFSET_MS: OnceLock<AtomicI64> = OnceLock::new();

/// Milliseconds since the Unix epoch on the business clock.
pub fn now_ms() -> i64 {
    real_now_ms() + offset_ms()
}

fn offset_ms() -> i64 {
    TEST_OFFSET_MS
        .get()
        .map(|o| o.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, always the machine's real time.
pub fn real_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A provider's timestamp (real time) on the business clock, so that a
/// receipt never predates the send it reports on under the test clock.
pub fn from_real_ms(real_ms: i64) -> i64 {
    real_ms + offset_ms()
}

/// Turns the controllable clock on, reading `start_ms` now. Called once at
/// start-up, and only for `--test-clock`.
pub fn enable_test_clock(start_ms: i64) {
    let offset = start_ms - real_now_ms();
    if TEST_OFFSET_MS.set(AtomicI64::new(offset)).is_err() {
        set_ms(start_ms).expect("enabled");
    }
    tracing::warn!(
        now = %format_ms(start_ms),
        "TEST CLOCK ON: time is controllable through POST /v1/admin/clock; never use this in production"
    );
}

pub fn test_clock_enabled() -> bool {
    TEST_OFFSET_MS.get().is_some()
}

#[derive(Debug, thiserror::Error)]
#[error("the clock is real time; start the server with --test-clock to control it")]
pub struct ClockNotControllable;

/// Makes the clock read `now_ms` at this moment (test clock only).
pub fn set_ms(now_ms: i64) -> Result<(), ClockNotControllable> {
    let offset = TEST_OFFSET_MS.get().ok_or(ClockNotControllable)?;
    offset.store(now_ms - real_now_ms(), Ordering::Relaxed);
    Ok(())
}

/// Moves the clock by `ms` (test clock only).
pub fn advance_ms(ms: i64) -> Result<(), ClockNotControllable> {
    let offset = TEST_OFFSET_MS.get().ok_or(ClockNotControllable)?;
    offset.fetch_add(ms, Ordering::Relaxed);
    Ok(())
}

/// RFC 3339 in UTC, for logs and the admin endpoint.
pub fn format_ms(ms: i64) -> String {
    crate::rfc3339::format(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Nothing in the library's tests turns the test clock on, as nothing in
    // a production start does: the clock cannot be moved.
    #[test]
    fn real_time_cannot_be_moved() {
        assert!(!test_clock_enabled());
        assert!(set_ms(0).is_err());
        assert!(advance_ms(3_600_000).is_err());
        let (real, now) = (real_now_ms(), now_ms());
        assert!((now - real).abs() < 1_000);
        assert_eq!(from_real_ms(1_000), 1_000);
    }
}
