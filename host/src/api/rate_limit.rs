//! Requests per key: a burst, then a steady rate (GCRA from `governor`,
//! one state per key). An API key over its rate gets 429 with
//! `Retry-After`, so one tenant's runaway script cannot take the server
//! from the others; the same limiter counts refused webhooks per source
//! address (`webhook_sources`). Checked after the key is recognised:
//! unknown keys are 401s and never take a slot in the limiter's map.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use crate::store::Id;

/// Whose requests are counted together: a tenant's key, or the admin key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyId {
    Tenant(Id),
    Admin,
}

/// A rate per key of `K`.
pub struct RateLimit<K: Hash + Eq + Clone> {
    /// `None`: no limit (a rate of 0).
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    per_second: u32,
    burst: u32,
    clock: DefaultClock,
}

/// Requests per API key.
pub type ApiRateLimit = RateLimit<KeyId>;

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// `per_second` events a second per key after a burst of `burst`
    /// (at least the rate); a rate of 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = burst.max(per_second);
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            per_second,
            burst,
            clock: DefaultClock::default(),
        }
    }

    /// Counts one event of `key`; over its rate, how long until the next
    /// one would be within it.
    pub fn count(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// "at most N a second after a burst of M", for messages.
    pub fn describe(&self) -> String {
        format!(
            "at most {} a second after a burst of {}",
            self.per_second, self.burst
        )
    }

    /// Forgets keys idle long enough to be back at a full burst.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

impl ApiRateLimit {
    /// Counts one request of `key`; over its rate, the 429 to answer.
    pub fn check(&self, key: KeyId) -> Result<(), ApiError> {
        self.count(&key).map_err(|wait| ApiError::RateLimited {
            retry_after: wait,
            message: format!(
                "too many requests with this API key: {}; retry in {:.1} s",
                self.describe(),
                wait.as_secs_f64()
            ),
        })
    }
}

/// Seconds for a `Retry-After` header: whole, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_burst_waits_and_others_do_not() {
        let limit = ApiRateLimit::new(2, 3);
        for _ in 0..3 {
            assert!(limit.check(KeyId::Tenant(1)).is_ok());
        }
        let Err(ApiError::RateLimited { retry_after, .. }) = limit.check(KeyId::Tenant(1)) else {
            panic!("the fourth request in a burst of 3 is refused");
        };
        assert!(retry_after <= Duration::from_millis(500), "{retry_after:?}");
        assert!(limit.check(KeyId::Tenant(2)).is_ok());
        assert!(limit.check(KeyId::Admin).is_ok());
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let limit = ApiRateLimit::new(0, 0);
        for _ in 0..1000 {
            assert!(limit.check(KeyId::Tenant(1)).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
