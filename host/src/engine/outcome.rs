//! Turns what a plugin call returned into the member's outcome, using the
//! retry rules in `domain::retry`.

use crate::domain::lifecycle::{Action, AutoPause};
use crate::domain::retry::{Decision, FailureClass, decide, retry_may_succeed};
use crate::plugins::{PluginFailure, wit};
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

fn valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES
}

type SendResult = Result<Result<wit::SendReceipt, wit::SendError>, PluginFailure>;

pub fn classify(result: SendResult, attempt: i64, summary: String) -> Classified {
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
                    at: now_ms(),
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
