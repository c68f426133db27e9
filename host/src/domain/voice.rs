//! Voice call outcomes: what a call progress report does to a member.
//!
//! A call is in flight from its send until a final call status; only then is
//! the member's disposition settled, and a busy / unanswered / failed call is
//! queued again while retries remain. The AMD result usually arrives before
//! the final status, so it is kept as the member's provisional disposition.

use serde::{Deserialize, Serialize};

/// How a call ended for the member, shown in the members API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Human,
    Machine,
    Busy,
    NoAnswer,
    Failed,
    VoicemailLeft,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Self::Human,
        Self::Machine,
        Self::Busy,
        Self::NoAnswer,
        Self::Failed,
        Self::VoicemailLeft,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Machine => "machine",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Failed => "failed",
            Self::VoicemailLeft => "voicemail_left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Call progress, normalised (mirrors the contract's `call-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Initiated,
    Ringing,
    Answered,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    Human,
    Machine,
    Unknown,
}

/// One call progress report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReport {
    pub status: CallStatus,
    pub answered_by: Option<AnsweredBy>,
    pub voicemail_left: bool,
}

/// What the member knows when a report arrives.
#[derive(Clone, Copy, Debug)]
pub struct CallState {
    /// Provisional (AMD) or final disposition so far.
    pub disposition: Option<Disposition>,
    /// Send attempts made, this one included.
    pub attempts: i64,
    pub max_retries: i64,
    pub retry_delay_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallDecision {
    /// Nothing to record.
    Ignore,
    /// Still in flight; remember this disposition (AMD result).
    Provisional(Disposition),
    /// The human answered: reached (member `delivered`).
    Reached(Disposition),
    /// Ended without reaching a human, for good (member `completed`, e.g. a
    /// machine, with or without a voicemail).
    Ended(Disposition),
    /// Busy / no answer / failed: try again after this many milliseconds.
    Retry(Disposition, i64),
    /// Busy / no answer / failed with no retries left (member `failed`).
    Failed(Disposition),
}

/// The decision for one report.
pub fn decide_call(state: CallState, report: &CallReport) -> CallDecision {
    let amd = match report.answered_by {
        Some(AnsweredBy::Human) => Some(Disposition::Human),
        Some(AnsweredBy::Machine) => Some(Disposition::Machine),
        _ => None,
    };
    let known = if report.voicemail_left {
        Some(Disposition::VoicemailLeft)
    } else {
        // A voicemail already left stays the disposition of that call.
        match (state.disposition, amd) {
            (Some(Disposition::VoicemailLeft), _) => Some(Disposition::VoicemailLeft),
            (_, Some(d)) => Some(d),
            (d, None) => d,
        }
    };
    let unreached = |d: Disposition| {
        if state.attempts <= state.max_retries {
            CallDecision::Retry(d, state.retry_delay_ms)
        } else {
            CallDecision::Failed(d)
        }
    };
    match report.status {
        CallStatus::Initiated | CallStatus::Ringing | CallStatus::Answered => match known {
            Some(d) if Some(d) != state.disposition => CallDecision::Provisional(d),
            _ => CallDecision::Ignore,
        },
        CallStatus::Completed => match known {
            // Without AMD, a completed call was answered by someone: reached.
            None | Some(Disposition::Human) => CallDecision::Reached(Disposition::Human),
            Some(d) => CallDecision::Ended(d),
        },
        CallStatus::Busy => unreached(Disposition::Busy),
        CallStatus::NoAnswer => unreached(Disposition::NoAnswer),
        CallStatus::Failed | CallStatus::Canceled => unreached(Disposition::Failed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(disposition: Option<Disposition>, attempts: i64) -> CallState {
        CallState {
            disposition,
            attempts,
            max_retries: 2,
            retry_delay_ms: 1000,
        }
    }

    fn report(status: CallStatus, answered_by: Option<AnsweredBy>, vm: bool) -> CallReport {
        CallReport {
            status,
            answered_by,
            voicemail_left: vm,
        }
    }

    #[test]
    fn busy_is_retried_max_retries_times() {
        let busy = report(CallStatus::Busy, None, false);
        assert_eq!(
            decide_call(state(None, 1), &busy),
            CallDecision::Retry(Disposition::Busy, 1000)
        );
        assert_eq!(
            decide_call(state(None, 2), &busy),
            CallDecision::Retry(Disposition::Busy, 1000)
        );
        assert_eq!(
            decide_call(state(None, 3), &busy),
            CallDecision::Failed(Disposition::Busy)
        );
    }

    #[test]
    fn amd_result_is_provisional_until_the_call_ends() {
        let answered = report(CallStatus::Answered, Some(AnsweredBy::Machine), false);
        assert_eq!(
            decide_call(state(None, 1), &answered),
            CallDecision::Provisional(Disposition::Machine)
        );
        // Duplicate report: nothing new.
        assert_eq!(
            decide_call(state(Some(Disposition::Machine), 1), &answered),
            CallDecision::Ignore
        );
        let done = report(CallStatus::Completed, None, false);
        assert_eq!(
            decide_call(state(Some(Disposition::Machine), 1), &done),
            CallDecision::Ended(Disposition::Machine)
        );
        assert_eq!(
            decide_call(state(Some(Disposition::VoicemailLeft), 1), &done),
            CallDecision::Ended(Disposition::VoicemailLeft)
        );
    }

    #[test]
    fn human_or_unknown_completion_is_reached() {
        let done = report(CallStatus::Completed, Some(AnsweredBy::Human), false);
        assert_eq!(
            decide_call(state(None, 1), &done),
            CallDecision::Reached(Disposition::Human)
        );
        let done = report(CallStatus::Completed, None, false);
        assert_eq!(
            decide_call(state(None, 1), &done),
            CallDecision::Reached(Disposition::Human)
        );
    }

    #[test]
    fn voicemail_flag_wins() {
        let done = report(CallStatus::Completed, Some(AnsweredBy::Machine), true);
        assert_eq!(
            decide_call(state(Some(Disposition::Machine), 1), &done),
            CallDecision::Ended(Disposition::VoicemailLeft)
        );
    }
}
