//! Re-timing the follow-ups of a campaign that may already be sending: the
//! one edit to its journey a live campaign allows (the "schedule of future
//! steps"). The content of the steps stays as it went live; only how many
//! days each waits changes.
//!
//! A member already waiting for a follow-up has it due at "previous step
//! sent + old days", or later when quiet hours moved it to their opening.
//! Shifting that instant by the change in days keeps it exact in the first
//! case and never early in the second: the claim checks the window again
//! when the step comes due.

use super::journey::{DAY_MS, Journey, MAX_GAP_DAYS, MIN_GAP_DAYS, Step};

/// How one follow-up's pending due times move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub step: Step,
    /// Added to every pending due time of `step` (negative: sooner).
    pub delta_ms: i64,
}

/// A refused re-timing, naming the request field at fault.
#[derive(Debug, PartialEq, Eq)]
pub struct RetimeError {
    pub field: String,
    pub message: String,
}

/// The journey with each follow-up waiting `days[i]` days, and the shifts
/// to apply to members already waiting (follow-ups whose gap is unchanged
/// have none). `days` names every follow-up, in order.
pub fn retime(journey: &Journey, days: &[i64]) -> Result<(Journey, Vec<Shift>), RetimeError> {
    let count = journey.follow_ups.len();
    if days.len() != count {
        return Err(RetimeError {
            field: "follow_up_days".into(),
            message: format!(
                "{} values, but the campaign has {count} follow-up(s): give one number of days \
                 per follow-up, in order",
                days.len()
            ),
        });
    }
    let mut retimed = journey.clone();
    let mut shifts = Vec::new();
    for (i, (step, &new)) in retimed.follow_ups.iter_mut().zip(days).enumerate() {
        if !(MIN_GAP_DAYS..=MAX_GAP_DAYS).contains(&new) {
            return Err(RetimeError {
                field: format!("follow_up_days[{i}]"),
                message: format!(
                    "{new} days; a follow-up waits {MIN_GAP_DAYS} to {MAX_GAP_DAYS} days after \
                     the previous step"
                ),
            });
        }
        let old = step.after_days.unwrap_or(MIN_GAP_DAYS);
        step.after_days = Some(new);
        if new != old {
            shifts.push(Shift {
                step: Step::FollowUp(i + 1),
                delta_ms: (new - old) * DAY_MS,
            });
        }
    }
    Ok((retimed, shifts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign_content::CampaignContent;
    use crate::domain::journey::JourneyStep;
    use proptest::prelude::*;

    fn journey(days: &[i64]) -> Journey {
        Journey {
            fallback: None,
            follow_ups: days
                .iter()
                .map(|&d| JourneyStep {
                    channel_id: 7,
                    content: CampaignContent::Sms {
                        body: format!("after {d}"),
                        media_id: None,
                    },
                    after_days: Some(d),
                })
                .collect(),
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        let j = journey(&[2, 3]);
        assert_eq!(retime(&j, &[2]).unwrap_err().field, "follow_up_days");
        assert_eq!(retime(&j, &[2, 8]).unwrap_err().field, "follow_up_days[1]");
        assert_eq!(retime(&j, &[0, 3]).unwrap_err().field, "follow_up_days[0]");
    }

    #[test]
    fn only_changed_gaps_shift_and_content_stays() {
        let j = journey(&[2, 3]);
        let (r, shifts) = retime(&j, &[4, 3]).unwrap();
        assert_eq!(
            shifts,
            [Shift {
                step: Step::FollowUp(1),
                delta_ms: 2 * DAY_MS
            }]
        );
        assert_eq!(r.follow_ups[0].after_days, Some(4));
        assert_eq!(r.follow_ups[0].content, j.follow_ups[0].content);
        assert_eq!(r.follow_ups[1], j.follow_ups[1]);
    }

    proptest! {
        // A pending follow-up lands exactly where the new gap puts it when
        // quiet hours had not moved it, and never before it when they had.
        #[test]
        fn shifted_due_is_exact_or_later_never_early(
            old in MIN_GAP_DAYS..=MAX_GAP_DAYS,
            new in MIN_GAP_DAYS..=MAX_GAP_DAYS,
            sent in 0i64..4_000_000_000_000,
            window_delay in prop_oneof![Just(0i64), 0i64..DAY_MS],
        ) {
            let (_, shifts) = retime(&journey(&[old]), &[new]).unwrap();
            let due = sent + old * DAY_MS + window_delay;
            // What the store does to a waiting member's due time.
            let now_due = shifts.first().map_or(due, |s| due + s.delta_ms);
            prop_assert!(now_due >= sent + new * DAY_MS);
            if window_delay == 0 {
                prop_assert_eq!(now_due, sent + new * DAY_MS);
            }
        }
    }
}
