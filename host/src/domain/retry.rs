//! What to do after a failed attempt, from the typed error class alone.

/// Why an attempt failed, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// The address can never receive this message.
    InvalidRecipient,
    /// The provider refused this message; retrying will not change that.
    Rejected,
    /// Back off for this long.
    RateLimited { retry_after_ms: u64 },
    /// A temporary provider or network problem.
    Transient,
    /// The plugin trapped, timed out or ran out of memory on this message.
    PluginFault,
    /// The channel cannot send at all until someone acts (credentials,
    /// funds, configuration): the campaign pauses instead of burning members.
    ChannelBroken,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Queue the member again, due after this many milliseconds.
    RetryIn(u64),
    /// Queue the member again and pause its campaign with a reason.
    PauseCampaign,
    /// The member ends failed.
    Fail,
}

/// Attempts allowed for transient failures and plugin faults.
pub const MAX_TRANSIENT_ATTEMPTS: i64 = 3;
/// Attempts allowed while the provider keeps answering "too many requests".
pub const MAX_RATE_LIMITED_ATTEMPTS: i64 = 20;

/// `attempt` is the number of the attempt that just failed (1-based).
pub fn decide(class: &FailureClass, attempt: i64) -> Decision {
    match class {
        FailureClass::InvalidRecipient | FailureClass::Rejected => Decision::Fail,
        FailureClass::ChannelBroken => Decision::PauseCampaign,
        FailureClass::RateLimited { retry_after_ms } if attempt < MAX_RATE_LIMITED_ATTEMPTS => {
            Decision::RetryIn((*retry_after_ms).max(100))
        }
        FailureClass::Transient | FailureClass::PluginFault if attempt < MAX_TRANSIENT_ATTEMPTS => {
            // 1 s, 2 s, 4 s ... capped at a minute.
            Decision::RetryIn(
                1000u64
                    .saturating_mul(1 << (attempt - 1).clamp(0, 6))
                    .min(60_000),
            )
        }
        _ => Decision::Fail,
    }
}

/// Whether a member that ended failed with this class may be sent again by
/// "retry failed" (seed 001): the cause may have passed (a network or
/// provider problem, a plugin fault, a handset that was unreachable). A bad
/// address or a refused message would fail the same way again.
pub fn retry_may_succeed(class: &FailureClass) -> bool {
    !matches!(
        class,
        FailureClass::InvalidRecipient | FailureClass::Rejected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_causes_are_retried_later() {
        assert!(!retry_may_succeed(&FailureClass::InvalidRecipient));
        assert!(!retry_may_succeed(&FailureClass::Rejected));
        assert!(retry_may_succeed(&FailureClass::Transient));
        assert!(retry_may_succeed(&FailureClass::PluginFault));
        assert!(retry_may_succeed(&FailureClass::RateLimited {
            retry_after_ms: 1
        }));
    }

    #[test]
    fn permanent_errors_fail_at_once() {
        assert_eq!(decide(&FailureClass::InvalidRecipient, 1), Decision::Fail);
        assert_eq!(decide(&FailureClass::Rejected, 1), Decision::Fail);
    }

    #[test]
    fn transient_errors_back_off_then_fail() {
        assert_eq!(decide(&FailureClass::Transient, 1), Decision::RetryIn(1000));
        assert_eq!(
            decide(&FailureClass::PluginFault, 2),
            Decision::RetryIn(2000)
        );
        assert_eq!(
            decide(&FailureClass::Transient, MAX_TRANSIENT_ATTEMPTS),
            Decision::Fail
        );
    }

    #[test]
    fn rate_limits_wait_for_retry_after() {
        let c = FailureClass::RateLimited {
            retry_after_ms: 1500,
        };
        assert_eq!(decide(&c, 1), Decision::RetryIn(1500));
        assert_eq!(decide(&c, MAX_RATE_LIMITED_ATTEMPTS), Decision::Fail);
    }

    #[test]
    fn broken_channel_pauses_rather_than_failing_members() {
        assert_eq!(
            decide(&FailureClass::ChannelBroken, 1),
            Decision::PauseCampaign
        );
    }
}
