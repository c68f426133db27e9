//! Turns what a plugin call returned into the member's outcome, using the
//! retry rules in `domain::retry`.

use crate::domain::lifecycle::{Action, AutoPause};
use crate::domain::retry::{Decision, FailureClass, decide, retry_may_succeed};
use crate::plugins::{PluginFailure, WireSeen, wit};
use crate::store::{SendOutcome, now_ms};

/// The outcome to record, and what to do to the campaign (with the reason
/// in words) if the channel cannot send at all.
pub struct Classified {
    pub outcome: SendOutcome,
    pub halt: Option<(Action, String)>,
}

/// Provider ids are short tokens (Twilio: 34 chars); anything longer is a
/// misbehaving plugin, not something to store.
const MAX_MESSAGE_ID_BYTES: usize = 256;

pub(super) fn valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES
}

type SendResult = Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure>;

/// When a send's plugin call began, and when an uncertain outcome is to be
/// looked up.
pub struct CallTimes {
    pub called_at: i64,
    pub recheck_at: i64,
}

/// Error code of a member whose send's outcome was not seen.
pub const SEND_UNCERTAIN: &str = "send_uncertain";

/// `wire` says what the call's requests may have done at the provider; a
/// failure after one that may have reached it is uncertain: the member is
/// looked up at `recheck_at` (see `engine::uncertain`), never resent under
/// a new attempt. An accepted send counts as sent when its call began
/// (`called_at`): the provider took it after that, and its status
/// callbacks, which can reach Herald before the plugin has read the
/// answer, are always later.
pub fn classify(
    result: SendResult,
    wire: WireSeen,
    attempt: i64,
    summary: String,
    times: CallTimes,
) -> Classified {
    let CallTimes {
        called_at,
        recheck_at,
    } = times;
    if wire.may_have_reached()
        && let Some(why) = unseen_outcome(&result)
    {
        return Classified {
            outcome: SendOutcome::Uncertain {
                error_code: SEND_UNCERTAIN.into(),
                error_message: format!(
                    "outcome unknown: {why}, after a request that may have reached the provider; \
                     looking it up there before any resend"
                ),
                recheck_at: Some(recheck_at),
            },
            halt: None,
        };
    }
    let (class, code, message) = match result {
        Ok(Ok(receipt)) if !valid_message_id(&receipt.provider_message_id) => (
            FailureClass::PluginFault,
            None,
            format!(
                "plugin returned an unusable provider message id ({} bytes; 1 to {MAX_MESSAGE_ID_BYTES} expected)",
                receipt.provider_message_id.len()
            ),
        ),
        Ok(Ok(receipt)) => {
            return Classified {
                outcome: SendOutcome::Accepted {
                    provider_message_id: receipt.provider_message_id,
                    at: called_at,
                    summary,
                },
                halt: None,
            };
        }
        Ok(Err(error)) => {
            // Credentials refused is its own pause reason; any other
            // channel-wide failure leaves the channel unusable until fixed.
            let why = match &error {
                wit::SendError::Auth(_) => AutoPause::ProviderAuthFailed,
                _ => AutoPause::ChannelUnusable,
            };
            let mut c = {
                let (class, code, message) = describe(error);
                failed(class, code, message, attempt)
            };
            if let Some((action, _)) = &mut c.halt {
                *action = Action::AutoPause(why);
            }
            return c;
        }
        Err(failure) => (FailureClass::PluginFault, None, failure.to_string()),
    };
    failed(class, code, message, attempt)
}

/// Why a call's result does not say what the provider did: a failure the
/// plugin could not explain (transient, deadline, trap) or a receipt that
/// cannot be used. A refusal the plugin names is the provider's answer.
fn unseen_outcome(result: &SendResult) -> Option<String> {
    match result {
        Ok(Ok(receipt)) if !valid_message_id(&receipt.provider_message_id) => {
            Some("the plugin returned an unusable provider message id".into())
        }
        Ok(Err(wit::SendError::Transient(m))) => Some(m.clone()),
        Err(failure) => Some(failure.to_string()),
        Ok(_) => None,
    }
}

/// The outcome of an attempt that failed before or at the plugin call.
pub fn failed(
    class: FailureClass,
    code: Option<String>,
    message: String,
    attempt: i64,
) -> Classified {
    match decide(&class, attempt) {
        Decision::Fail => Classified {
            outcome: SendOutcome::Failed {
                error_code: code,
                error_message: message,
                retryable: retry_may_succeed(&class),
            },
            halt: None,
        },
        Decision::RetryIn(ms) => Classified {
            outcome: SendOutcome::Retry {
                at: now_ms() + ms as i64,
                error_code: code,
                error_message: message,
            },
            halt: None,
        },
        Decision::PauseCampaign => Classified {
            halt: Some((
                Action::AutoPause(AutoPause::ChannelUnusable),
                message.clone(),
            )),
            outcome: SendOutcome::Retry {
                at: now_ms(),
                error_code: code,
                error_message: message,
            },
        },
    }
}

fn describe(error: wit::SendError) -> (FailureClass, Option<String>, String) {
    use wit::SendError as E;
    match error {
        E::InvalidRecipient(r) => (FailureClass::InvalidRecipient, Some(r.code), r.message),
        E::Rejected(r) => (FailureClass::Rejected, Some(r.code), r.message),
        E::RateLimited(ms) => (
            FailureClass::RateLimited {
                retry_after_ms: ms.into(),
            },
            None,
            format!("rate limited by the provider; retry after {ms} ms"),
        ),
        E::Transient(m) => (FailureClass::Transient, None, m),
        E::Auth(m) => (
            FailureClass::ChannelBroken,
            None,
            format!("provider auth failure: {m}"),
        ),
        E::InsufficientFunds(m) => (
            FailureClass::ChannelBroken,
            None,
            format!("provider account has insufficient funds: {m}"),
        ),
        E::InvalidConfig(m) => (
            FailureClass::ChannelBroken,
            None,
            format!("channel configuration unusable: {m}"),
        ),
    }
}
