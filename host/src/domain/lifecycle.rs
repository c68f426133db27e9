//! The full campaign lifecycle of issue 4, as one table: what users may do to a
//! campaign in each status, what engine events move it, and what may still be
//! edited. The API and the engine change a campaign's status only through
//! [`Status::apply`] (see `store::lifecycle`).
//!
//! Decisions the seeds leave open, made here:
//!
//! - Every status except Draft is *live*, Scheduled included: scheduling is Go
//!   Live with a start time. Go Live is one-way (seed 004), so a live campaign
//!   never returns to Draft; to change its content, duplicate it.
//! - Completed is final but not closed: `retry_failed` re-sends the members
//!   that failed (seed 001), through Retrying. Cancelled and Archived are
//!   terminal: only archive (Cancelled) and delete remain.
//! - Archive takes a campaign that has stopped sending (Completed, Cancelled);
//!   a running one is cancelled first, so archiving never hides live work.
//! - A fault (Stopped) is the system's doing, so clearing it resumes sending;
//!   the user may also resume (the engine faults again if the cause remains)
//!   or pause it to keep it still once fixed.

use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not sending; everything is editable.
    Draft,
    /// Live, waiting for its start time.
    Scheduled,
    /// Live, waiting because another campaign is sending on the same sender.
    Pending,
    Running,
    Paused(PauseReason),
    /// Stopped by a system fault; resumes once it is fixed.
    Stopped(FaultCause),
    /// Re-sending the members that failed.
    Retrying,
    Completed,
    Cancelled,
    Archived,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PauseReason {
    User,
    InsufficientCredits,
    ProviderAuthFailed,
    TooManyProviderErrors,
    /// The channel cannot send until someone fixes it (provider account out
    /// of funds, unusable configuration, a host the plugin may not reach).
    ChannelUnusable,
    /// An administrator switched the tenant's campaigns off.
    FeatureDisabled,
}

/// Why the engine paused a campaign on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoPause {
    InsufficientCredits,
    ProviderAuthFailed,
    TooManyProviderErrors,
    ChannelUnusable,
    FeatureDisabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultCause {
    PluginQuarantined,
    /// The campaign's plugin was disabled or removed.
    PluginUnavailable,
}

/// What a user asks (the first group) or the engine reports (the second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Edit,
    GoLive,
    Schedule,
    Pause,
    Resume,
    Cancel,
    Archive,
    RetryFailed,
    Delete,
    SenderBusy,
    SenderFree,
    ScheduleDue,
    AutoPause(AutoPause),
    Fault(FaultCause),
    FaultCleared,
    AllFinal,
    EndDatePassed,
}

/// Where an allowed action leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Becomes(Status),
    /// The campaign is removed.
    Deleted,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot {action} a campaign that is {from}; allowed from {from}: {}", allowed_list(.allowed))]
pub struct Refused {
    pub action: &'static str,
    pub from: &'static str,
    /// User actions allowed from `from`.
    pub allowed: Vec<&'static str>,
}

fn allowed_list(allowed: &[&str]) -> String {
    if allowed.is_empty() {
        "nothing".to_string()
    } else {
        allowed.join(", ")
    }
}

/// The parts of a campaign a user edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Name,
    Notes,
    Tags,
    /// When things happen from now on: the start time, the delays of steps not
    /// yet run, the end date.
    Schedule,
    /// Message bodies, templates and the steps themselves.
    Content,
    Channel,
    Audience,
    CallingHours,
    /// Per-channel settings: retries, concurrency, caller ID, AMD.
    ChannelSettings,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Self::Name,
        Self::Notes,
        Self::Tags,
        Self::Schedule,
        Self::Content,
        Self::Channel,
        Self::Audience,
        Self::CallingHours,
        Self::ChannelSettings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Notes => "notes",
            Self::Tags => "tags",
            Self::Schedule => "schedule",
            Self::Content => "content",
            Self::Channel => "channel",
            Self::Audience => "audience",
            Self::CallingHours => "calling_hours",
            Self::ChannelSettings => "channel_settings",
        }
    }
}

/// What a live campaign still lets a user change: nothing that alters what
/// members already sent to were promised or sent.
const LIVE_EDITABLE: [Field; 4] = [Field::Name, Field::Notes, Field::Tags, Field::Schedule];

/// Fields a user may change in `status` (none once it has finished: read-only).
pub fn editable_fields(status: Status) -> &'static [Field] {
    use Status as S;
    match status {
        S::Draft => &Field::ALL,
        S::Completed | S::Cancelled | S::Archived => &[],
        _ => &LIVE_EDITABLE,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot edit {} of a campaign that is {from}; editable: {}", .refused.join(", "), allowed_list(.editable))]
pub struct EditRefused {
    pub from: &'static str,
    pub refused: Vec<&'static str>,
    pub editable: Vec<&'static str>,
}

/// Checks an edit touching `fields` against `editable_fields`.
pub fn check_edit(status: Status, fields: &[Field]) -> Result<(), EditRefused> {
    let editable = editable_fields(status);
    let refused: Vec<_> = fields
        .iter()
        .filter(|f| !editable.contains(f))
        .map(|f| f.as_str())
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(EditRefused {
        from: status.as_str(),
        refused,
        editable: editable.iter().map(|f| f.as_str()).collect(),
    })
}

/// A new campaign starts as a draft.
pub fn create() -> Status {
    Status::Draft
}

impl Status {
    /// Every status, with each pause reason and fault cause.
    pub const ALL: [Status; 16] = [
        Self::Draft,
        Self::Scheduled,
        Self::Pending,
        Self::Running,
        Self::Paused(PauseReason::User),
        Self::Paused(PauseReason::InsufficientCredits),
        Self::Paused(PauseReason::ProviderAuthFailed),
        Self::Paused(PauseReason::TooManyProviderErrors),
        Self::Paused(PauseReason::ChannelUnusable),
        Self::Paused(PauseReason::FeatureDisabled),
        Self::Stopped(FaultCause::PluginQuarantined),
        Self::Stopped(FaultCause::PluginUnavailable),
        Self::Retrying,
        Self::Completed,
        Self::Cancelled,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Paused(_) => "paused",
            Self::Stopped(_) => "stopped",
            Self::Retrying => "retrying",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Archived => "archived",
        }
    }

    /// Why a campaign is paused or stopped, for display and storage.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Self::Paused(PauseReason::User) => Some("paused_by_user"),
            Self::Paused(PauseReason::InsufficientCredits) => Some("insufficient_credits"),
            Self::Paused(PauseReason::ProviderAuthFailed) => Some("provider_auth_failed"),
            Self::Paused(PauseReason::TooManyProviderErrors) => Some("too_many_provider_errors"),
            Self::Paused(PauseReason::ChannelUnusable) => Some("channel_unusable"),
            Self::Paused(PauseReason::FeatureDisabled) => Some("feature_disabled"),
            Self::Stopped(FaultCause::PluginQuarantined) => Some("plugin_quarantined"),
            Self::Stopped(FaultCause::PluginUnavailable) => Some("plugin_unavailable"),
            _ => None,
        }
    }

    /// The inverse of `as_str` + `reason`, for reading a stored status back.
    pub fn parse(status: &str, reason: Option<&str>) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == status && s.reason() == reason)
    }

    /// Live: past Go Live (or scheduling), never to be a draft again.
    pub fn is_live(self) -> bool {
        self != Self::Draft
    }

    /// Nothing more can happen but archiving and deleting.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Cancelled | Self::Archived)
    }

    /// The one table of allowed transitions.
    fn next(self, action: Action) -> Option<Outcome> {
        use Action as A;
        use Outcome::{Becomes, Deleted};
        use Status as S;
        let still_sending = matches!(self, S::Pending | S::Running | S::Retrying);
        let not_finished = !matches!(self, S::Draft | S::Completed | S::Cancelled | S::Archived);
        Some(match (self, action) {
            (S::Draft, A::GoLive) | (S::Scheduled, A::GoLive) => Becomes(S::Running),
            (S::Draft | S::Scheduled, A::Schedule) => Becomes(S::Scheduled),
            (S::Scheduled, A::ScheduleDue) => Becomes(S::Running),
            (S::Running | S::Retrying, A::SenderBusy) => Becomes(S::Pending),
            (S::Pending, A::SenderFree) => Becomes(S::Running),
            (_, A::Pause) if still_sending || matches!(self, S::Stopped(_)) => {
                Becomes(S::Paused(PauseReason::User))
            }
            (S::Running | S::Retrying, A::AutoPause(why)) => Becomes(S::Paused(why.into())),
            // Switched off: whatever is about to send holds too.
            (S::Pending | S::Stopped(_), A::AutoPause(AutoPause::FeatureDisabled)) => {
                Becomes(S::Paused(PauseReason::FeatureDisabled))
            }
            (S::Paused(_) | S::Stopped(_), A::Resume) => Becomes(S::Running),
            (_, A::Fault(cause)) if still_sending => Becomes(S::Stopped(cause)),
            (S::Stopped(_), A::FaultCleared) => Becomes(S::Running),
            (S::Running | S::Retrying, A::AllFinal) => Becomes(S::Completed),
            (_, A::EndDatePassed) if not_finished => Becomes(S::Completed),
            (S::Completed, A::RetryFailed) => Becomes(S::Retrying),
            (S::Completed | S::Cancelled, A::Archive) => Becomes(S::Archived),
            (_, A::Cancel) if self == S::Draft || not_finished => Becomes(S::Cancelled),
            (_, A::Edit) if !editable_fields(self).is_empty() => Becomes(self),
            (S::Draft | S::Completed | S::Cancelled | S::Archived, A::Delete) => Deleted,
            _ => return None,
        })
    }

    pub fn apply(self, action: Action) -> Result<Outcome, Refused> {
        self.next(action).ok_or_else(|| Refused {
            action: action.as_str(),
            from: self.as_str(),
            allowed: self.allowed_actions(),
        })
    }

    /// User actions allowed from this status.
    pub fn allowed_actions(self) -> Vec<&'static str> {
        Action::USER
            .into_iter()
            .filter(|a| self.next(*a).is_some())
            .map(Action::as_str)
            .collect()
    }
}

impl From<AutoPause> for PauseReason {
    fn from(why: AutoPause) -> Self {
        match why {
            AutoPause::InsufficientCredits => Self::InsufficientCredits,
            AutoPause::ProviderAuthFailed => Self::ProviderAuthFailed,
            AutoPause::TooManyProviderErrors => Self::TooManyProviderErrors,
            AutoPause::ChannelUnusable => Self::ChannelUnusable,
            AutoPause::FeatureDisabled => Self::FeatureDisabled,
        }
    }
}

impl Action {
    pub const USER: [Action; 9] = [
        Self::Edit,
        Self::GoLive,
        Self::Schedule,
        Self::Pause,
        Self::Resume,
        Self::Cancel,
        Self::RetryFailed,
        Self::Archive,
        Self::Delete,
    ];

    /// Engine events, with each reason and cause.
    pub const ENGINE: [Action; 13] = [
        Self::SenderBusy,
        Self::SenderFree,
        Self::ScheduleDue,
        Self::AutoPause(AutoPause::InsufficientCredits),
        Self::AutoPause(AutoPause::ProviderAuthFailed),
        Self::AutoPause(AutoPause::TooManyProviderErrors),
        Self::AutoPause(AutoPause::ChannelUnusable),
        Self::AutoPause(AutoPause::FeatureDisabled),
        Self::Fault(FaultCause::PluginQuarantined),
        Self::Fault(FaultCause::PluginUnavailable),
        Self::FaultCleared,
        Self::AllFinal,
        Self::EndDatePassed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::GoLive => "go_live",
            Self::Schedule => "schedule",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Archive => "archive",
            Self::RetryFailed => "retry_failed",
            Self::Delete => "delete",
            Self::SenderBusy => "sender_busy",
            Self::SenderFree => "sender_free",
            Self::ScheduleDue => "schedule_due",
            Self::AutoPause(_) => "auto_pause",
            Self::Fault(_) => "fault",
            Self::FaultCleared => "fault_cleared",
            Self::AllFinal => "all_final",
            Self::EndDatePassed => "end_date_passed",
        }
    }
}

/// One row per status (pause reasons and fault causes folded together), for
/// the README: allowed user actions, engine events, editable fields.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| status | user actions | engine events | editable |\n|---|---|---|---|\n");
    let mut seen = Vec::new();
    for status in Status::ALL {
        if seen.contains(&status.as_str()) {
            continue;
        }
        seen.push(status.as_str());
        let moves = |actions: &[Action]| {
            let mut listed: Vec<String> = Vec::new();
            for a in actions {
                if let Some(outcome) = status.next(*a) {
                    let to = match outcome {
                        Outcome::Becomes(s) => s.as_str(),
                        Outcome::Deleted => "(deleted)",
                    };
                    let entry = format!("{} → {to}", a.as_str());
                    if !listed.contains(&entry) {
                        listed.push(entry);
                    }
                }
            }
            if listed.is_empty() {
                "—".to_string()
            } else {
                listed.join(", ")
            }
        };
        let editable: Vec<_> = editable_fields(status).iter().map(|f| f.as_str()).collect();
        let editable = if editable.is_empty() {
            "—".to_string()
        } else {
            editable.join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {editable} |",
            status.as_str(),
            moves(&Action::USER),
            moves(&Action::ENGINE),
        );
    }
    out
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
