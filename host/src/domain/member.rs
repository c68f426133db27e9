//! Member delivery states and the rules for moving between them. Receipts can
//! arrive twice or out of order; `accepts` makes applying them monotonic.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Waiting for its turn (or for a retry time).
    Queued,
    /// Claimed by one instance under a lease, its attempt recorded, waiting
    /// for its sender's turn: nothing has left yet. A lost lease (the
    /// instance stopped or died) returns it to `queued`, attempt given back.
    Claimed,
    /// The plugin call has started: only from here can a crash leave the
    /// outcome uncertain (`unknown`).
    Sending,
    /// The provider accepted it.
    Sent,
    Delivered,
    /// Read by the recipient (WhatsApp): a delivered message, one step on.
    Read,
    /// Voice: the call ended without reaching a human (a machine answered,
    /// with or without a voicemail). Final; not counted as reached.
    Completed,
    Failed,
    /// A dispatcher died mid-send: the provider may or may not have it. Never
    /// resent blindly (at most once per intent).
    Unknown,
    /// Its campaign was cancelled before it was sent.
    Cancelled,
    /// Never sent: the address is on the tenant's do-not-contact list
    /// (checked when the send is claimed). Final, with the reason.
    Disqualified,
    /// Manual review: planned, waiting for a user to approve it. Never
    /// claimed in this state.
    AwaitingApproval,
    /// Manual review: approved, waiting for "execute all approved".
    Approved,
    /// Individually paused by a user; never claimed until re-enabled.
    Disabled,
    /// Never sent: its campaign's end date passed before its turn. Final.
    Expired,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 15] = [
        Self::Queued,
        Self::Claimed,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Completed,
        Self::Failed,
        Self::Unknown,
        Self::Cancelled,
        Self::Disqualified,
        Self::AwaitingApproval,
        Self::Approved,
        Self::Disabled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Claimed => "claimed",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Cancelled => "cancelled",
            Self::Disqualified => "disqualified",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The member's send is over: its campaign can complete. A delivered
    /// message may still become `read`, nothing else.
    pub fn is_done(self) -> bool {
        !matches!(
            self,
            Self::Queued
                | Self::Claimed
                | Self::Sending
                | Self::Sent
                | Self::AwaitingApproval
                | Self::Approved
                | Self::Disabled
        )
    }

    /// Not yet sent, so a user may still hold it back (disable) or, under
    /// manual review, approve or edit it.
    pub fn is_unsent(self) -> bool {
        matches!(
            self,
            Self::Queued | Self::AwaitingApproval | Self::Approved | Self::Disabled
        )
    }

    /// The contact status seed 004 shows for a member in this state, given
    /// whether its campaign is paused (or stopped) at the moment.
    pub fn display_status(self, campaign_paused: bool) -> &'static str {
        match self {
            _ if campaign_paused && !self.is_done() && self != Self::Disabled => "campaign_paused",
            Self::Queued | Self::Approved => "awaiting_execution",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Claimed | Self::Sending | Self::Sent => "executing",
            Self::Disabled => "disabled",
            Self::Disqualified => "disqualified",
            Self::Expired => "expired",
            // Both wait for someone to act: a retry, or a decision.
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Delivered | Self::Read | Self::Completed | Self::Cancelled => "completed",
        }
    }

    /// Herald will still try this member (`next_attempt_at` means
    /// something): waiting, or claimed, or in its call.
    pub fn is_pending(self) -> bool {
        self.is_unsent() || matches!(self, Self::Claimed | Self::Sending)
    }

    /// A final state never changes again.
    pub fn is_final(self) -> bool {
        self.is_done() && self != Self::Delivered
    }

    /// Reached the recipient (delivered, read, or a human answered).
    pub fn is_reached(self) -> bool {
        matches!(self, Self::Delivered | Self::Read)
    }

    /// Position along the delivery path; receipts only move a member forward.
    fn rank(self) -> u8 {
        match self {
            Self::Queued | Self::AwaitingApproval | Self::Approved | Self::Disabled => 0,
            Self::Claimed | Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered
            | Self::Completed
            | Self::Failed
            | Self::Unknown
            | Self::Cancelled
            | Self::Disqualified
            | Self::Expired => 3,
            Self::Read => 4,
        }
    }

    /// Whether a receipt saying `to` may be applied to a member in `self`.
    pub fn accepts(self, to: MemberStatus) -> bool {
        !self.is_final() && to.rank() > self.rank()
    }

    /// Statuses a receipt saying `to` may move a member out of (for SQL).
    pub fn receipt_sources(to: MemberStatus) -> Vec<MemberStatus> {
        Self::ALL.into_iter().filter(|s| s.accepts(to)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberStatus as M;

    #[test]
    fn delivered_never_goes_back_to_sent() {
        assert!(!M::Delivered.accepts(M::Sent));
        assert!(M::Sent.accepts(M::Delivered));
        assert!(M::Sending.accepts(M::Delivered));
    }

    #[test]
    fn read_follows_delivered_and_nothing_follows_read() {
        assert!(M::Delivered.accepts(M::Read));
        assert!(M::Sent.accepts(M::Read));
        assert!(!M::Delivered.accepts(M::Failed));
        assert!(!M::Read.accepts(M::Delivered));
        assert!(!M::Read.accepts(M::Sent));
    }

    #[test]
    fn a_duplicate_receipt_changes_nothing() {
        assert!(!M::Sent.accepts(M::Sent));
        assert!(!M::Failed.accepts(M::Failed));
    }

    #[test]
    fn held_members_are_not_done_and_show_as_seed_004_lists_them() {
        for held in [M::AwaitingApproval, M::Approved, M::Disabled] {
            assert!(!held.is_done() && held.is_unsent(), "{held:?}");
        }
        assert_eq!(
            M::AwaitingApproval.display_status(false),
            "awaiting_approval"
        );
        assert_eq!(M::Queued.display_status(false), "awaiting_execution");
        assert_eq!(M::Queued.display_status(true), "campaign_paused");
        assert_eq!(M::Disabled.display_status(true), "disabled");
        assert_eq!(M::Sending.display_status(false), "executing");
        assert_eq!(M::Claimed.display_status(false), "executing");
        assert!(!M::Claimed.is_done() && !M::Claimed.is_unsent());
        assert_eq!(M::Failed.display_status(true), "failed");
        assert_eq!(M::Unknown.display_status(false), "unknown");
        assert_eq!(M::Delivered.display_status(false), "completed");
        assert_eq!(M::Disqualified.display_status(false), "disqualified");
        assert!(M::Expired.is_final());
        assert_eq!(M::Expired.display_status(true), "expired");
    }

    #[test]
    fn final_states_are_final() {
        for from in M::ALL.into_iter().filter(|s| s.is_final()) {
            for to in M::ALL {
                assert!(!from.accepts(to));
            }
        }
    }
}
