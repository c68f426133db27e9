//! Auto-pause after too many consecutive provider errors (issue 4): a
//! campaign whose sends keep failing on the provider's side (transient
//! errors, 5xx) pauses instead of burning through its
//! members' retries. Per-message refusals (invalid recipient, rejected
//! content) say nothing about the provider and leave the count alone; any
//! accepted send resets it.
//!
//! The count lives in memory, per campaign, in this process: it is a
//! circuit breaker, not a record. Losing it on restart only delays a pause
//! by at most N more failures, while keeping it in the database would cost
//! a write on every send's hot path. With several instances each counts its
//! own sends, which still trips on a provider that fails everything.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::plugins::{PluginFailure, wit};

/// Consecutive provider errors before a campaign pauses, unless configured.
pub const DEFAULT_MAX_PROVIDER_ERRORS: u32 = 10;

/// What one plugin call says about the provider's health.
#[derive(Debug, PartialEq, Eq)]
pub enum Health {
    /// Accepted: the provider works.
    Ok,
    /// The provider (or the plugin talking to it) failed, with this message.
    Error(String),
    /// Says nothing about the provider (a refusal of this one message, a
    /// rate limit, or a channel-wide failure that pauses on its own).
    Neutral,
}

pub fn health(result: &Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure>) -> Health {
    match result {
        Ok(Ok(_)) => Health::Ok,
        Ok(Err(wit::SendError::Transient(m))) => Health::Error(m.clone()),
        // The plugin's own fault (a trap, its memory or CPU budget, a call
        // that outlived its deadline: a provider that does not answer makes
        // `http-send` fail, which the plugin reports as transient) says
        // nothing about the provider: the plugin's quarantine handles it,
        // without an operator resuming the campaign in between.
        Err(_) => Health::Neutral,
        Ok(Err(_)) => Health::Neutral,
    }
}

pub struct ProviderErrors {
    max: u32,
    counts: Mutex<HashMap<i64, u32>>,
}

impl ProviderErrors {
    pub fn new(max: u32) -> Self {
        Self {
            max: max.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one call's outcome for `campaign`. Returns the pause reason
    /// when this error is the Nth in a row; the count then starts again, so
    /// a resumed campaign gets N fresh attempts.
    pub fn observe(&self, campaign: i64, health: Health) -> Option<String> {
        let mut counts = self.counts.lock().expect("provider error counts poisoned");
        match health {
            Health::Neutral => None,
            Health::Ok => {
                counts.remove(&campaign);
                None
            }
            Health::Error(last) => {
                let n = counts.entry(campaign).or_insert(0);
                *n += 1;
                if *n < self.max {
                    return None;
                }
                let n = *n;
                counts.remove(&campaign);
                Some(format!("{n} consecutive provider errors; last: {last}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(m: &str) -> Health {
        Health::Error(m.into())
    }

    #[test]
    fn pauses_on_the_nth_error_in_a_row() {
        let p = ProviderErrors::new(3);
        assert_eq!(p.observe(1, err("a")), None);
        assert_eq!(p.observe(1, err("b")), None);
        let why = p.observe(1, err("HTTP 500")).expect("third error pauses");
        assert!(why.contains('3') && why.contains("HTTP 500"), "{why}");
        // Counting starts again after a pause.
        assert_eq!(p.observe(1, err("a")), None);
    }

    #[test]
    fn a_success_resets_and_refusals_do_not_count() {
        let p = ProviderErrors::new(2);
        assert_eq!(p.observe(1, err("a")), None);
        assert_eq!(p.observe(1, Health::Ok), None);
        assert_eq!(p.observe(1, err("a")), None);
        assert_eq!(p.observe(1, Health::Neutral), None);
        assert!(p.observe(1, err("b")).is_some());
    }

    #[test]
    fn campaigns_count_apart() {
        let p = ProviderErrors::new(2);
        assert_eq!(p.observe(1, err("a")), None);
        assert_eq!(p.observe(2, err("a")), None);
        assert_eq!(p.observe(2, Health::Ok), None);
        assert!(p.observe(1, err("b")).is_some());
    }

    #[test]
    fn only_provider_side_failures_are_errors() {
        use wit::SendError as E;
        let refused = Ok(Err(E::InvalidRecipient(wit::Rejection {
            code: "21211".into(),
            message: "bad number".into(),
        })));
        assert_eq!(health(&refused), Health::Neutral);
        assert_eq!(health(&Ok(Err(E::RateLimited(1000)))), Health::Neutral);
        assert_eq!(
            health(&Ok(Err(E::Transient("HTTP 500".into())))),
            err("HTTP 500")
        );
    }
}
