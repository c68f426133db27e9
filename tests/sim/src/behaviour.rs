//! What happens to a send, chosen by the recipient's last four digits.
//!
//! Provider-neutral on purpose: each provider module maps these outcomes to
//! its own status names and error codes, so one number pattern means the same
//! thing for every provider. The table is documented in the crate docs.

use axum::response::Response;

use crate::fault::{self, AnswerFault};

/// The scripted outcome for a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// `0001`: the provider refuses the number outright.
    InvalidNumber,
    /// `0002`: accepted, then undeliverable (unreachable handset).
    Undelivered,
    /// `0003`: accepted, then failed (unknown carrier error).
    Failed,
    /// `0429`: the first request is rate limited, later ones are delivered.
    RateLimitedOnce,
    /// `0500`: the first request is a server error, later ones are delivered.
    ServerErrorOnce,
    /// `0504`: every request is accepted and delivered, but the answer only
    /// comes after [`crate::SimConfig::slow_answer_delay`].
    SlowAnswer,
    /// `0505`: every request is accepted and delivered, then the connection
    /// is closed without an answer.
    ResetAfterCreate,
    /// `0506`: every request is accepted and delivered, but answered with
    /// the provider's 500 error.
    ServerErrorAfterCreate,
    /// `0507`: every request is accepted and delivered, but no status
    /// callback (webhook, receipt, report) is ever sent.
    CallbacksDropped,
    /// Anything else: accepted and delivered.
    Delivered,
}

impl Behaviour {
    /// Looks only at digits, so `+15550000001` and `whatsapp:+15550000001`
    /// behave alike.
    pub(crate) fn for_number(number: &str) -> Behaviour {
        let Some(last4) = last_four(number) else {
            return Behaviour::Delivered;
        };
        match last4.as_str() {
            "0001" => Behaviour::InvalidNumber,
            "0002" => Behaviour::Undelivered,
            "0003" => Behaviour::Failed,
            "0429" => Behaviour::RateLimitedOnce,
            "0500" => Behaviour::ServerErrorOnce,
            "0504" => Behaviour::SlowAnswer,
            "0505" => Behaviour::ResetAfterCreate,
            "0506" => Behaviour::ServerErrorAfterCreate,
            "0507" => Behaviour::CallbacksDropped,
            _ => Behaviour::Delivered,
        }
    }

    /// Whether the message's status callbacks are sent (all but `0507`).
    pub(crate) fn sends_callbacks(self) -> bool {
        self != Behaviour::CallbacksDropped
    }

    /// Marks the success answer of an accepted send with the fault it must
    /// suffer on the way out (`0504`, `0505`; see [`crate::fault`]), if any.
    pub(crate) fn mark(self, answer: Response) -> Response {
        match self {
            Behaviour::SlowAnswer => fault::mark(answer, AnswerFault::Slow),
            Behaviour::ResetAfterCreate => fault::mark(answer, AnswerFault::Reset),
            _ => answer,
        }
    }
}

/// The last four digits of a number (ignoring any non-digits), if it has four.
pub(crate) fn last_four(number: &str) -> Option<String> {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let start = digits.len().checked_sub(4)?;
    Some(digits[start..].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::Behaviour;

    #[test]
    fn last_four_digits_choose_the_outcome() {
        assert_eq!(
            Behaviour::for_number("+15550000001"),
            Behaviour::InvalidNumber
        );
        assert_eq!(
            Behaviour::for_number("+15550000002"),
            Behaviour::Undelivered
        );
        assert_eq!(Behaviour::for_number("+15550000003"), Behaviour::Failed);
        assert_eq!(
            Behaviour::for_number("+15550000429"),
            Behaviour::RateLimitedOnce
        );
        assert_eq!(
            Behaviour::for_number("+15550000500"),
            Behaviour::ServerErrorOnce
        );
        assert_eq!(Behaviour::for_number("+15550000504"), Behaviour::SlowAnswer);
        assert_eq!(
            Behaviour::for_number("+15550000505"),
            Behaviour::ResetAfterCreate
        );
        assert_eq!(
            Behaviour::for_number("+15550000506"),
            Behaviour::ServerErrorAfterCreate
        );
        assert_eq!(
            Behaviour::for_number("whatsapp:+15550000507"),
            Behaviour::CallbacksDropped
        );
        assert_eq!(
            Behaviour::for_number("whatsapp:+15550000002"),
            Behaviour::Undelivered
        );
        assert_eq!(Behaviour::for_number("+15551234567"), Behaviour::Delivered);
        assert_eq!(Behaviour::for_number("+1"), Behaviour::Delivered);
    }
}
