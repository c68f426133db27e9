//! Whether a member may be sent to now, and if not, until when it waits:
//! quiet hours in the contact's local timezone (the tenant's setting or the
//! campaign's override) and the campaign's optional calling hours, combined
//! through [`super::window`]. The engine asks this at claim time for every
//! attempt, retries included, so nothing goes out early.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::contact_tz::contact_timezone;
use super::window::{DailyWindow, WindowError, ZonedWindow, next_opening_in_all};

/// Daily hours as entered, `HH:MM` local time; `end` before `start` crosses
/// midnight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// e.g. `08:00`.
    pub start: String,
    /// e.g. `21:00`.
    pub end: String,
}

/// A campaign's calling hours: sends only between `start` and `end` in
/// `timezone` (default: the tenant's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallingHours {
    pub start: String,
    pub end: String,
    /// IANA zone, e.g. `America/New_York`.
    pub timezone: Option<String>,
}

/// The windows a campaign adds to the tenant's quiet hours, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignWindows {
    /// Replaces the tenant's quiet hours for this campaign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<Hours>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_hours: Option<CallingHours>,
}

impl Hours {
    pub fn window(&self) -> Result<DailyWindow, WindowError> {
        DailyWindow::parse(&self.start, &self.end)
    }

    pub fn from_window(w: DailyWindow) -> Self {
        let hh_mm = |t: jiff::civil::Time| format!("{:02}:{:02}", t.hour(), t.minute());
        Self {
            start: hh_mm(w.start()),
            end: hh_mm(w.end()),
        }
    }
}

/// An IANA timezone name, or why not.
pub fn parse_timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name.trim()).map_err(|_| format!("{name:?} is not an IANA timezone"))
}

impl CampaignWindows {
    /// Checks the entered values; answers the offending field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(q) = &self.quiet_hours {
            q.window().map_err(|e| ("quiet_hours", e.to_string()))?;
        }
        if let Some(c) = &self.calling_hours {
            DailyWindow::parse(&c.start, &c.end).map_err(|e| ("calling_hours", e.to_string()))?;
            if let Some(tz) = &c.timezone {
                parse_timezone(tz).map_err(|e| ("calling_hours.timezone", e))?;
            }
        }
        Ok(())
    }
}

/// Why a member is waiting (shown on the member as `wait_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Outside 08:00-21:00 (or the configured hours) in the contact's zone.
    QuietHours,
    /// Inside quiet hours, outside the campaign's calling hours.
    CallingHours,
    /// The two never overlap for this contact's zone: looked at again daily.
    NoCommonWindow,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuietHours => "quiet_hours",
            Self::CallingHours => "calling_hours",
            Self::NoCommonWindow => "no_common_window",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendDecision {
    Now,
    Wait {
        until: Timestamp,
        reason: WaitReason,
    },
}

/// Everything the decision needs about one member, as stored.
pub struct SendContext<'a> {
    /// The contact's own `timezone` field.
    pub contact_tz: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub tenant_tz: &'a TimeZone,
    /// The tenant's quiet hours.
    pub tenant_quiet: DailyWindow,
    pub campaign: &'a CampaignWindows,
}

/// May the member be sent to at `now`; else when and why it waits. Stored
/// values that do not parse (checked when entered, so only after a manual
/// edit of the database) fall back to the defaults rather than block sends
/// forever: the tenant's quiet hours, the tenant's zone.
pub fn decide(ctx: &SendContext, now: Timestamp) -> SendDecision {
    let quiet = ctx
        .campaign
        .quiet_hours
        .as_ref()
        .and_then(|h| h.window().ok())
        .unwrap_or(ctx.tenant_quiet);
    let contact = contact_timezone(ctx.contact_tz, ctx.phone, ctx.tenant_tz);
    let mut windows = vec![quiet.in_zone(contact.tz)];
    if let Some(c) = &ctx.campaign.calling_hours
        && let Ok(w) = DailyWindow::parse(&c.start, &c.end)
    {
        let tz = c
            .timezone
            .as_deref()
            .and_then(|name| parse_timezone(name).ok())
            .unwrap_or_else(|| ctx.tenant_tz.clone());
        windows.push(w.in_zone(tz));
    }
    decide_in(&windows, now)
}

/// The decision for explicit windows; the first is quiet hours.
pub fn decide_in(windows: &[ZonedWindow], now: Timestamp) -> SendDecision {
    if windows.iter().all(|w| w.is_open(now)) {
        return SendDecision::Now;
    }
    match next_opening_in_all(windows, now, None) {
        Some(until) => SendDecision::Wait {
            until,
            reason: if windows[0].is_open(now) {
                WaitReason::CallingHours
            } else {
                WaitReason::QuietHours
            },
        },
        None => SendDecision::Wait {
            until: now + SignedDuration::from_hours(24),
            reason: WaitReason::NoCommonWindow,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ctx<'a>(
        phone: &'a str,
        campaign: &'a CampaignWindows,
        tenant: &'a TimeZone,
    ) -> SendContext<'a> {
        SendContext {
            contact_tz: None,
            phone: Some(phone),
            tenant_tz: tenant,
            tenant_quiet: DailyWindow::QUIET_HOURS,
            campaign,
        }
    }

    // The e2e case: at 23:00 UTC on a winter day Los Angeles (15:00) may be
    // sent to at once; Berlin (00:00) waits for its 08:00.
    #[test]
    fn los_angeles_and_berlin_at_23_utc() {
        let none = CampaignWindows::default();
        let utc_tz = TimeZone::UTC;
        let now = utc("2026-03-08T23:00:00Z");
        assert_eq!(
            decide(&ctx("+14155550100", &none, &utc_tz), now),
            SendDecision::Now
        );
        assert_eq!(
            decide(&ctx("+4930901820", &none, &utc_tz), now),
            SendDecision::Wait {
                until: utc("2026-03-09T07:00:00Z"),
                reason: WaitReason::QuietHours
            }
        );
    }

    #[test]
    fn the_contacts_own_zone_and_the_campaigns_override_win() {
        let tenant = TimeZone::UTC;
        let late = CampaignWindows {
            quiet_hours: Some(Hours {
                start: "10:00".into(),
                end: "22:00".into(),
            }),
            calling_hours: None,
        };
        let c = SendContext {
            contact_tz: Some("Asia/Tokyo"),
            phone: Some("+14155550100"),
            tenant_tz: &tenant,
            tenant_quiet: DailyWindow::QUIET_HOURS,
            campaign: &late,
        };
        // 00:30 UTC is 09:30 in Tokyo: before the override's 10:00.
        assert_eq!(
            decide(&c, utc("2026-03-09T00:30:00Z")),
            SendDecision::Wait {
                until: utc("2026-03-09T01:00:00Z"),
                reason: WaitReason::QuietHours
            }
        );
    }

    #[test]
    fn calling_hours_name_themselves_and_never_meeting_waits_a_day() {
        let tenant = TimeZone::get("America/New_York").unwrap();
        let calling = CampaignWindows {
            quiet_hours: None,
            calling_hours: Some(CallingHours {
                start: "09:00".into(),
                end: "17:00".into(),
                timezone: None, // the tenant's: New York
            }),
        };
        // 13:00 UTC in January is 08:00 in New York: quiet hours are open
        // (the contact is in New York too), calling hours not yet.
        let now = utc("2026-01-14T13:00:00Z");
        assert_eq!(
            decide(&ctx("+12125550100", &calling, &tenant), now),
            SendDecision::Wait {
                until: utc("2026-01-14T14:00:00Z"),
                reason: WaitReason::CallingHours
            }
        );
        let night = CampaignWindows {
            quiet_hours: None,
            calling_hours: Some(CallingHours {
                start: "01:00".into(),
                end: "02:00".into(),
                timezone: Some("America/New_York".into()),
            }),
        };
        assert_eq!(
            decide(&ctx("+12125550100", &night, &tenant), now),
            SendDecision::Wait {
                until: now + SignedDuration::from_hours(24),
                reason: WaitReason::NoCommonWindow
            }
        );
    }

    #[test]
    fn check_names_the_field() {
        let bad = CampaignWindows {
            quiet_hours: None,
            calling_hours: Some(CallingHours {
                start: "09:00".into(),
                end: "17:00".into(),
                timezone: Some("Mars/Olympus".into()),
            }),
        };
        assert_eq!(bad.check().unwrap_err().0, "calling_hours.timezone");
        let empty = CampaignWindows {
            quiet_hours: Some(Hours {
                start: "09:00".into(),
                end: "09:00".into(),
            }),
            calling_hours: None,
        };
        assert_eq!(empty.check().unwrap_err().0, "quiet_hours");
    }

    const PHONES: [&str; 4] = [
        "+14155550100",
        "+4930901820",
        "+61291234567",
        "+12125550100",
    ];
    const ZONES: [&str; 3] = ["UTC", "America/New_York", "Europe/Berlin"];

    fn arb_hh_mm() -> impl Strategy<Value = String> {
        (0u8..24, prop_oneof![Just(0u8), Just(30u8)]).prop_map(|(h, m)| format!("{h:02}:{m:02}"))
    }

    proptest! {
        // Whatever the contact, hours and instant: "now" only when every
        // window is open; otherwise a later instant at which all are open
        // (or, when they never meet, a day later).
        #[test]
        fn never_early(
            phone in 0..PHONES.len(),
            tenant in 0..ZONES.len(),
            calling in proptest::option::of((arb_hh_mm(), arb_hh_mm(), 0..ZONES.len())),
            secs in 1_767_225_600i64..1_798_761_600, // 2026
        ) {
            let tenant_tz = TimeZone::get(ZONES[tenant]).unwrap();
            let campaign = CampaignWindows {
                quiet_hours: None,
                calling_hours: calling
                    .filter(|(s, e, _)| s != e)
                    .map(|(start, end, z)| CallingHours { start, end, timezone: Some(ZONES[z].into()) }),
            };
            let now = Timestamp::from_second(secs).unwrap();
            let c = ctx(PHONES[phone], &campaign, &tenant_tz);
            let contact = contact_timezone(None, Some(PHONES[phone]), &tenant_tz);
            let mut windows = vec![DailyWindow::QUIET_HOURS.in_zone(contact.tz)];
            if let Some(ch) = &campaign.calling_hours {
                let tz = TimeZone::get(ch.timezone.as_deref().unwrap()).unwrap();
                windows.push(DailyWindow::parse(&ch.start, &ch.end).unwrap().in_zone(tz));
            }
            match decide(&c, now) {
                SendDecision::Now => prop_assert!(windows.iter().all(|w| w.is_open(now))),
                SendDecision::Wait { until, reason } => {
                    prop_assert!(until > now);
                    prop_assert!(!windows.iter().all(|w| w.is_open(now)));
                    if reason == WaitReason::NoCommonWindow {
                        prop_assert_eq!(next_opening_in_all(&windows, now, None), None);
                    } else {
                        prop_assert!(windows.iter().all(|w| w.is_open(until)));
                        prop_assert_eq!(reason == WaitReason::QuietHours, !windows[0].is_open(now));
                    }
                }
            }
        }
    }
}
