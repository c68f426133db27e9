//! Journeys: what a campaign sends after its primary message. An optional
//! fallback on another channel when the primary fails for good, and
//! follow-ups sent N days (1-7) after the previous step went out when the
//! contact has not replied. An SMS sequence is the same thing: follow-ups on
//! the campaign's own channel, at least a day apart.
//!
//! The engine keeps one step per member at a time (`members.step`), and the
//! next one as due work (`members.next_step`, `next_step_at`); the rules for
//! choosing them are here, free of I/O.

use serde::{Deserialize, Serialize};

use super::campaign_content::{CampaignContent, CampaignKind};
use super::campaign_spec::{CampaignInput, FieldError, TemplateInput};

pub const DAY_MS: i64 = 24 * 3600 * 1000;
/// Follow-ups wait at least a day (the minimum gap of an SMS sequence) and
/// at most a week.
pub const MIN_GAP_DAYS: i64 = 1;
pub const MAX_GAP_DAYS: i64 = 7;
/// More would be spam, whatever the gap.
pub const MAX_FOLLOW_UPS: usize = 5;

/// A fallback or follow-up as the client sends it: a channel (default: the
/// campaign's) and that channel's content, the fields of a campaign of its
/// type.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// Required for a fallback (another channel); a follow-up defaults to
    /// the campaign's channel.
    pub channel_id: Option<i64>,
    /// `sms`, `whatsapp` or `email`. Default: the campaign's type on the
    /// campaign's channel, else inferred (`template`: whatsapp, `subject`:
    /// email, else sms).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Follow-ups only: days without a reply after the previous step was sent.
    pub after_days: Option<i64>,
    pub body: Option<String>,
    pub media_id: Option<i64>,
    pub template: Option<TemplateInput>,
    pub subject: Option<String>,
    pub html_body: Option<String>,
}

/// A checked step, as stored in the campaign's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JourneyStep {
    pub channel_id: i64,
    #[schema(value_type = Object)]
    pub content: CampaignContent,
    /// Follow-ups: days without a reply after the previous step was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_days: Option<i64>,
}

impl JourneyStep {
    pub fn kind(&self) -> CampaignKind {
        kind_of(&self.content)
    }
}

/// The steps after the primary message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Journey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<JourneyStep>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<JourneyStep>,
}

/// Where a member is in its journey; stored as [`Step::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Primary,
    Fallback,
    /// 1-based.
    FollowUp(usize),
}

impl Step {
    pub fn index(self) -> i64 {
        match self {
            Self::Primary => 0,
            Self::Fallback => 1,
            Self::FollowUp(n) => n as i64 + 1,
        }
    }

    pub fn from_index(i: i64) -> Option<Self> {
        match i {
            0 => Some(Self::Primary),
            1 => Some(Self::Fallback),
            n if n >= 2 => Some(Self::FollowUp(n as usize - 1)),
            _ => None,
        }
    }

    /// `primary`, `fallback`, `follow_up_1`...
    pub fn name(self) -> String {
        match self {
            Self::Primary => "primary".into(),
            Self::Fallback => "fallback".into(),
            Self::FollowUp(n) => format!("follow_up_{n}"),
        }
    }
}

/// What follows a step's final failure (refused, or a failed receipt).
#[derive(Clone, Debug, PartialEq)]
pub enum AfterFailure<'a> {
    /// Send the fallback to this address.
    Fallback(&'a JourneyStep, String),
    /// The fallback needs an address the contact lacks: recorded, not sent.
    SkipFallback(&'static str),
    /// The journey ends with this failure.
    End,
}

/// What the contact has to be reached at.
#[derive(Clone, Copy, Debug, Default)]
pub struct Addresses<'a> {
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
}

impl Journey {
    pub fn is_empty(&self) -> bool {
        self.fallback.is_none() && self.follow_ups.is_empty()
    }

    /// The stored step for `step`; `None` for the primary (the campaign's
    /// own content and channel) and for steps the journey lacks.
    pub fn step(&self, step: Step) -> Option<&JourneyStep> {
        match step {
            Step::Primary => None,
            Step::Fallback => self.fallback.as_ref(),
            Step::FollowUp(n) => n.checked_sub(1).and_then(|i| self.follow_ups.get(i)),
        }
    }

    /// Only the primary falls back, and only once.
    pub fn after_failure(&self, step: Step, to: Addresses<'_>) -> AfterFailure<'_> {
        match (step, &self.fallback) {
            (Step::Primary, Some(fallback)) => match address_for(fallback.kind(), to) {
                Some(address) => AfterFailure::Fallback(fallback, address),
                None => AfterFailure::SkipFallback(fallback.kind().address_column()),
            },
            _ => AfterFailure::End,
        }
    }

    /// The follow-up after `step` and how long after `step` was sent it is
    /// due (ms), if the journey has one.
    pub fn next_follow_up(&self, step: Step) -> Option<(Step, i64)> {
        let next = match step {
            Step::Primary | Step::Fallback => 1,
            Step::FollowUp(n) => n + 1,
        };
        let follow_up = self.follow_ups.get(next - 1)?;
        Some((
            Step::FollowUp(next),
            follow_up.after_days.unwrap_or(MIN_GAP_DAYS) * DAY_MS,
        ))
    }
}

/// The contact's address a message of `kind` goes to.
pub fn address_for(kind: CampaignKind, to: Addresses<'_>) -> Option<String> {
    let address = match kind {
        CampaignKind::Email => to.email,
        _ => to.phone,
    };
    address
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

pub fn kind_of(content: &CampaignContent) -> CampaignKind {
    match content {
        CampaignContent::Sms { .. } => CampaignKind::Sms,
        CampaignContent::Whatsapp { .. } => CampaignKind::Whatsapp,
        CampaignContent::Voice(_) => CampaignKind::Voice,
        CampaignContent::Email { .. } => CampaignKind::Email,
    }
}

fn invalid(field: String, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
        missing: false,
    }
}

/// Checks a campaign's fallback and follow-ups (what needs no stored data).
pub fn check_journey(
    campaign_kind: CampaignKind,
    campaign_channel: i64,
    fallback: Option<&StepInput>,
    follow_ups: &[StepInput],
) -> Result<Journey, FieldError> {
    // A call is not a message a contact replies to: voice campaigns fall
    // back (a call that fails for good, e.g. never answered, becomes an SMS
    // or e-mail) but have no no-reply follow-ups.
    if campaign_kind == CampaignKind::Voice && !follow_ups.is_empty() {
        return Err(invalid(
            "follow_ups".into(),
            "voice campaigns have no follow-ups (a fallback message is allowed)",
        ));
    }
    let fallback = match fallback {
        None => None,
        Some(input) => {
            let channel_id = input.channel_id.ok_or_else(|| {
                invalid(
                    "fallback.channel_id".into(),
                    "a fallback needs the channel it goes out on",
                )
            })?;
            if channel_id == campaign_channel {
                return Err(invalid(
                    "fallback.channel_id".into(),
                    "a fallback goes out on another channel than the campaign's",
                ));
            }
            if input.after_days.is_some() {
                return Err(invalid(
                    "fallback.after_days".into(),
                    "a fallback is sent as soon as the primary message fails",
                ));
            }
            Some(check_step("fallback", input, channel_id, None)?)
        }
    };
    if follow_ups.len() > MAX_FOLLOW_UPS {
        return Err(invalid(
            "follow_ups".into(),
            format!("{} follow-ups; at most {MAX_FOLLOW_UPS}", follow_ups.len()),
        ));
    }
    let mut checked = Vec::with_capacity(follow_ups.len());
    for (i, input) in follow_ups.iter().enumerate() {
        let prefix = format!("follow_ups[{i}]");
        let days = input.after_days.ok_or_else(|| FieldError {
            field: format!("{prefix}.after_days"),
            message: format!("missing field `after_days` ({MIN_GAP_DAYS}-{MAX_GAP_DAYS})"),
            missing: true,
        })?;
        if !(MIN_GAP_DAYS..=MAX_GAP_DAYS).contains(&days) {
            return Err(invalid(
                format!("{prefix}.after_days"),
                format!(
                    "{days} days; a follow-up waits {MIN_GAP_DAYS} to {MAX_GAP_DAYS} days \
                     after the previous step"
                ),
            ));
        }
        let channel_id = input.channel_id.unwrap_or(campaign_channel);
        let default_kind = (channel_id == campaign_channel).then_some(campaign_kind);
        let mut step = check_step(&prefix, input, channel_id, default_kind)?;
        step.after_days = Some(days);
        checked.push(step);
    }
    Ok(Journey {
        fallback,
        follow_ups: checked,
    })
}

/// A step's content, checked by the same rules as a campaign's.
fn check_step(
    prefix: &str,
    input: &StepInput,
    channel_id: i64,
    default_kind: Option<CampaignKind>,
) -> Result<JourneyStep, FieldError> {
    let kind = match (&input.kind, default_kind) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.as_str().to_owned(),
        (None, None) if input.template.is_some() => "whatsapp".into(),
        (None, None) if input.subject.is_some() || input.html_body.is_some() => "email".into(),
        (None, None) => "sms".into(),
    };
    if kind == "voice" {
        return Err(invalid(
            format!("{prefix}.type"),
            "a journey step is a message: sms, whatsapp or email",
        ));
    }
    let as_campaign = CampaignInput {
        kind: Some(kind),
        channel_id,
        body: input.body.clone(),
        media_id: input.media_id,
        template: input.template.clone(),
        subject: input.subject.clone(),
        html_body: input.html_body.clone(),
        ..Default::default()
    };
    let spec = as_campaign.check().map_err(|e| FieldError {
        field: format!("{prefix}.{}", e.field),
        message: e.message,
        missing: e.missing,
    })?;
    Ok(JourneyStep {
        channel_id,
        content: spec.content,
        after_days: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sms(body: &str) -> StepInput {
        StepInput {
            body: Some(body.into()),
            ..Default::default()
        }
    }

    fn follow_up(days: i64) -> StepInput {
        StepInput {
            after_days: Some(days),
            ..sms("Still interested?")
        }
    }

    fn journey() -> Journey {
        let fallback = StepInput {
            channel_id: Some(2),
            ..sms("We could not reach you on WhatsApp")
        };
        check_journey(
            CampaignKind::Whatsapp,
            1,
            Some(&fallback),
            &[
                StepInput {
                    channel_id: Some(2),
                    ..follow_up(2)
                },
                StepInput {
                    channel_id: Some(2),
                    ..follow_up(3)
                },
            ],
        )
        .unwrap()
    }

    const PHONE: Addresses = Addresses {
        phone: Some("+14155550100"),
        email: None,
    };

    #[test]
    fn step_indexes_round_trip() {
        for step in [
            Step::Primary,
            Step::Fallback,
            Step::FollowUp(1),
            Step::FollowUp(5),
        ] {
            assert_eq!(Step::from_index(step.index()), Some(step));
        }
        assert_eq!(Step::from_index(-1), None);
        assert_eq!(Step::FollowUp(2).name(), "follow_up_2");
    }

    #[test]
    fn only_the_primary_falls_back() {
        let j = journey();
        match j.after_failure(Step::Primary, PHONE) {
            AfterFailure::Fallback(step, to) => {
                assert_eq!(step.channel_id, 2);
                assert_eq!(to, "+14155550100");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(j.after_failure(Step::Fallback, PHONE), AfterFailure::End);
        assert_eq!(j.after_failure(Step::FollowUp(1), PHONE), AfterFailure::End);
        assert_eq!(
            Journey::default().after_failure(Step::Primary, PHONE),
            AfterFailure::End
        );
    }

    #[test]
    fn a_contact_without_the_fallbacks_address_skips_it() {
        let no_phone = Addresses {
            phone: None,
            email: Some("a@example.com"),
        };
        assert_eq!(
            journey().after_failure(Step::Primary, no_phone),
            AfterFailure::SkipFallback("phone")
        );
        let blank = Addresses {
            phone: Some("  "),
            email: None,
        };
        assert_eq!(
            journey().after_failure(Step::Primary, blank),
            AfterFailure::SkipFallback("phone")
        );
    }

    #[test]
    fn follow_ups_come_in_order_after_primary_or_fallback() {
        let j = journey();
        assert_eq!(
            j.next_follow_up(Step::Primary),
            Some((Step::FollowUp(1), 2 * DAY_MS))
        );
        assert_eq!(
            j.next_follow_up(Step::Fallback),
            Some((Step::FollowUp(1), 2 * DAY_MS))
        );
        assert_eq!(
            j.next_follow_up(Step::FollowUp(1)),
            Some((Step::FollowUp(2), 3 * DAY_MS))
        );
        assert_eq!(j.next_follow_up(Step::FollowUp(2)), None);
        assert_eq!(Journey::default().next_follow_up(Step::Primary), None);
    }

    #[test]
    fn a_fallback_needs_another_channel() {
        let same = StepInput {
            channel_id: Some(1),
            ..sms("x")
        };
        let err = check_journey(CampaignKind::Whatsapp, 1, Some(&same), &[]).unwrap_err();
        assert_eq!(err.field, "fallback.channel_id");
        let none = sms("x");
        let err = check_journey(CampaignKind::Whatsapp, 1, Some(&none), &[]).unwrap_err();
        assert_eq!(err.field, "fallback.channel_id");
    }

    #[test]
    fn step_content_is_checked_like_a_campaign_and_named() {
        let empty = StepInput {
            channel_id: Some(2),
            ..sms("  ")
        };
        let err = check_journey(CampaignKind::Whatsapp, 1, Some(&empty), &[]).unwrap_err();
        assert_eq!(err.field, "fallback.body");
        // An SMS follow-up on an SMS campaign takes no template.
        let wrong = StepInput {
            template: Some(TemplateInput::default()),
            ..follow_up(1)
        };
        let err = check_journey(CampaignKind::Sms, 1, None, &[wrong]).unwrap_err();
        assert_eq!(err.field, "follow_ups[0].template");
        let voice = StepInput {
            kind: Some("voice".into()),
            ..follow_up(1)
        };
        let err = check_journey(CampaignKind::Sms, 1, None, &[voice]).unwrap_err();
        assert_eq!(err.field, "follow_ups[0].type");
    }

    #[test]
    fn the_step_type_is_inferred_from_its_fields() {
        let email = StepInput {
            channel_id: Some(3),
            subject: Some("Hello".into()),
            ..sms("Body")
        };
        let j = check_journey(CampaignKind::Sms, 1, Some(&email), &[]).unwrap();
        assert_eq!(j.fallback.unwrap().kind(), CampaignKind::Email);
        // On the campaign's channel a follow-up defaults to the campaign's type.
        let j = check_journey(CampaignKind::Sms, 1, None, &[follow_up(1)]).unwrap();
        assert_eq!(j.follow_ups[0].kind(), CampaignKind::Sms);
        assert_eq!(j.follow_ups[0].channel_id, 1);
    }

    #[test]
    fn voice_campaigns_fall_back_but_never_follow_up() {
        let err = check_journey(CampaignKind::Voice, 1, None, &[follow_up(1)]).unwrap_err();
        assert_eq!(err.field, "follow_ups");
        let fallback = StepInput {
            channel_id: Some(2),
            ..sms("We tried to call you")
        };
        let j = check_journey(CampaignKind::Voice, 1, Some(&fallback), &[]).unwrap();
        assert_eq!(j.fallback.map(|f| f.kind()), Some(CampaignKind::Sms));
    }

    #[test]
    fn too_many_follow_ups_are_refused() {
        let many: Vec<_> = (0..=MAX_FOLLOW_UPS).map(|_| follow_up(1)).collect();
        let err = check_journey(CampaignKind::Sms, 1, None, &many).unwrap_err();
        assert_eq!(err.field, "follow_ups");
    }

    #[test]
    fn a_follow_up_needs_its_gap() {
        let err = check_journey(CampaignKind::Sms, 1, None, &[sms("x")]).unwrap_err();
        assert_eq!(err.field, "follow_ups[0].after_days");
        assert!(err.missing);
    }

    proptest! {
        // The gap of an SMS sequence: 1 to 7 days, nothing else.
        #[test]
        fn gaps_outside_one_to_seven_days_are_refused(days in -30i64..30) {
            let steps = [follow_up(1), follow_up(days)];
            let result = check_journey(CampaignKind::Sms, 1, None, &steps);
            if (1..=7).contains(&days) {
                let j = result.unwrap();
                prop_assert_eq!(
                    j.next_follow_up(Step::FollowUp(1)),
                    Some((Step::FollowUp(2), days * DAY_MS))
                );
            } else {
                prop_assert_eq!(result.unwrap_err().field, "follow_ups[1].after_days");
            }
        }

        // Every step a journey names exists, and the chain ends.
        #[test]
        fn follow_ups_chain_through_every_step_once(n in 0usize..=MAX_FOLLOW_UPS) {
            let steps: Vec<_> = (0..n).map(|i| follow_up(1 + i as i64 % 7)).collect();
            let j = check_journey(CampaignKind::Sms, 1, None, &steps).unwrap();
            let mut step = Step::Primary;
            let mut seen = 0;
            while let Some((next, _)) = j.next_follow_up(step) {
                prop_assert!(j.step(next).is_some());
                step = next;
                seen += 1;
            }
            prop_assert_eq!(seen, n);
        }
    }
}
