//! The campaign state machine. Every status change goes through
//! [`CampaignStatus::transition`], so the API and the engine agree on it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    /// Live, waiting for its `scheduled_at`; the engine starts it then.
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

/// What a user or the engine asks a campaign to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignAction {
    Start,
    Pause,
    Resume,
    Cancel,
    /// Engine only: every member reached a final state.
    Complete,
    /// Engine only: a scheduled campaign's start time came.
    ScheduleDue,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot {action} a campaign that is {from}; allowed from {from}: {allowed}")]
pub struct TransitionError {
    pub action: &'static str,
    pub from: &'static str,
    pub allowed: String,
}

impl CampaignStatus {
    pub const ALL: [CampaignStatus; 6] = [
        Self::Draft,
        Self::Scheduled,
        Self::Running,
        Self::Paused,
        Self::Completed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The one table of allowed transitions.
    fn next(self, action: CampaignAction) -> Option<Self> {
        use CampaignAction as A;
        use CampaignStatus as S;
        match (self, action) {
            // With a future `scheduled_at` the API makes it Scheduled instead.
            (S::Draft, A::Start) => Some(S::Running),
            (S::Scheduled, A::ScheduleDue) => Some(S::Running),
            (S::Running, A::Pause) => Some(S::Paused),
            (S::Paused, A::Resume) => Some(S::Running),
            (S::Draft | S::Scheduled | S::Running | S::Paused, A::Cancel) => Some(S::Cancelled),
            (S::Running, A::Complete) => Some(S::Completed),
            _ => None,
        }
    }

    pub fn transition(self, action: CampaignAction) -> Result<Self, TransitionError> {
        self.next(action).ok_or_else(|| TransitionError {
            action: action.verb(),
            from: self.as_str(),
            allowed: self.allowed_actions().join(", "),
        })
    }

    /// User-facing actions allowed from this status (for error messages).
    pub fn allowed_actions(self) -> Vec<&'static str> {
        let actions = [
            CampaignAction::Start,
            CampaignAction::Pause,
            CampaignAction::Resume,
            CampaignAction::Cancel,
        ];
        let allowed: Vec<_> = actions
            .into_iter()
            .filter(|a| self.next(*a).is_some())
            .map(CampaignAction::verb)
            .collect();
        if allowed.is_empty() {
            vec!["none (final state)"]
        } else {
            allowed
        }
    }
}

impl CampaignAction {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Complete => "complete",
            Self::ScheduleDue => "start on schedule",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignAction as A;
    use CampaignStatus as S;

    #[test]
    fn lifecycle_happy_path() {
        let s = S::Draft.transition(A::Start).unwrap();
        let s = s.transition(A::Pause).unwrap();
        let s = s.transition(A::Resume).unwrap();
        assert_eq!(s.transition(A::Complete).unwrap(), S::Completed);
    }

    #[test]
    fn final_states_refuse_everything() {
        for from in [S::Completed, S::Cancelled] {
            for a in [A::Start, A::Pause, A::Resume, A::Cancel, A::Complete] {
                assert!(from.transition(a).is_err(), "{from:?} {a:?}");
            }
        }
    }

    #[test]
    fn a_scheduled_campaign_starts_or_is_cancelled() {
        assert_eq!(S::Scheduled.transition(A::ScheduleDue).unwrap(), S::Running);
        assert_eq!(S::Scheduled.allowed_actions(), vec!["cancel"]);
        assert!(S::Draft.transition(A::ScheduleDue).is_err());
        assert!(S::Scheduled.transition(A::Start).is_err());
    }

    #[test]
    fn refusal_names_allowed_actions() {
        let err = S::Paused.transition(A::Pause).unwrap_err();
        assert_eq!(err.allowed, "resume, cancel");
        assert!(
            err.to_string()
                .contains("cannot pause a campaign that is paused")
        );
    }

    #[test]
    fn a_started_campaign_never_returns_to_draft() {
        for from in S::ALL {
            for a in [
                A::Start,
                A::Pause,
                A::Resume,
                A::Cancel,
                A::Complete,
                A::ScheduleDue,
            ] {
                if let Ok(to) = from.transition(a) {
                    assert_ne!(to, S::Draft);
                }
            }
        }
    }
}
