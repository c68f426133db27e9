//! Sending windows: the daily hours, in a timezone, during which a message may
//! go out. Quiet hours (08:00-21:00 in the contact's local time, seed 003) and a
//! campaign's calling hours (seed 000) are both daily windows; a member may be
//! sent to only when every window that applies to it is open.
//!
//! Nothing here reads the clock: callers pass `now`, so the engine can run
//! these rules under a controllable clock.
//!
//! # How a window maps onto real instants
//!
//! For each local day `d` a window covers the half-open interval
//! `[open(d), close(d))`, where `open(d)` is the first instant at which the
//! local clock on `d` reads `start` or later, and `close(d)` the first instant
//! at which it reads `end` or later (on `d + 1` for a window that crosses
//! midnight). That one rule settles the DST edge cases:
//!
//! - spring forward: a `start` that does not exist that day (02:30 when clocks
//!   jump from 02:00 to 03:00) opens at the jump itself, 03:00;
//! - fall back: a `start` or `end` that happens twice resolves to its first
//!   occurrence, so a window opens and closes once per day and never re-opens
//!   during the repeated hour (closing early is the safe side for quiet hours);
//! - a window that lies wholly inside a gap (02:00-02:30 on the day clocks skip
//!   that hour) is closed that day.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// How far ahead a search looks. Daily windows repeat every day, so if two of
/// them do not overlap within a week (plus a day for DST shifts) they never do.
const SEARCH_DAYS: i64 = 8;

/// Daily hours `[start, end)` in local time. `end < start` means the window
/// crosses midnight (22:00-06:00 is open from 22:00 until 06:00 the next day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyWindow {
    start: Time,
    end: Time,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("'{0}' is not a time of day in HH:MM form")]
    BadTime(String),
    #[error("a window must not start and end at the same time")]
    Empty,
}

/// A daily window together with the timezone its hours are read in.
#[derive(Clone, Debug)]
pub struct ZonedWindow {
    pub window: DailyWindow,
    pub tz: TimeZone,
}

impl DailyWindow {
    /// Quiet hours from seed 003: sending only 08:00-21:00, contact's local time.
    pub const QUIET_HOURS: DailyWindow = DailyWindow {
        start: Time::constant(8, 0, 0, 0),
        end: Time::constant(21, 0, 0, 0),
    };

    /// Equal times are refused rather than guessed at: "00:00-00:00" could mean
    /// all day or never. A caller with no restriction simply has no window.
    pub fn new(start: Time, end: Time) -> Result<Self, WindowError> {
        if start == end {
            return Err(WindowError::Empty);
        }
        Ok(Self { start, end })
    }

    /// From the `HH:MM` strings that campaign calling hours are entered as.
    pub fn parse(start: &str, end: &str) -> Result<Self, WindowError> {
        Self::new(parse_hh_mm(start)?, parse_hh_mm(end)?)
    }

    pub fn start(self) -> Time {
        self.start
    }

    pub fn end(self) -> Time {
        self.end
    }

    pub fn crosses_midnight(self) -> bool {
        self.end < self.start
    }

    pub fn in_zone(self, tz: TimeZone) -> ZonedWindow {
        ZonedWindow { window: self, tz }
    }
}

fn parse_hh_mm(s: &str) -> Result<Time, WindowError> {
    let bad = || WindowError::BadTime(s.to_string());
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

impl ZonedWindow {
    /// Whether a message may go out at `t` as far as this window is concerned.
    pub fn is_open(&self, t: Timestamp) -> bool {
        self.interval_at_or_after(t)
            .is_some_and(|(open, _)| open <= t)
    }

    /// The interval containing `t`, else the next one to open after `t`.
    fn interval_at_or_after(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        // Start a day early: a window that crosses midnight may have opened on
        // the previous local day and still be open.
        let mut day = self.tz.to_datetime(t).date().yesterday().ok()?;
        for _ in 0..=SEARCH_DAYS + 1 {
            if let Some((open, close)) = self.interval_opening_on(day)
                && close > t
            {
                return Some((open, close));
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// `[open, close)` for the window that opens on local day `day`, or `None`
    /// when DST leaves nothing of it that day.
    fn interval_opening_on(&self, day: Date) -> Option<(Timestamp, Timestamp)> {
        let open = first_instant_at_or_after(&self.tz, day, self.window.start)?;
        let close_day = if self.window.crosses_midnight() {
            day.tomorrow().ok()?
        } else {
            day
        };
        let close = first_instant_at_or_after(&self.tz, close_day, self.window.end)?;
        (close > open).then_some((open, close))
    }
}

/// The first instant at which the local clock on `day` reads `time` or later.
fn first_instant_at_or_after(tz: &TimeZone, day: Date, time: Time) -> Option<Timestamp> {
    let local = day.to_datetime(time);
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        // The first of the two occurrences.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
        // `local` never happens; read with the later offset it names an instant
        // just before the jump, so the next transition is the jump itself.
        AmbiguousOffset::Gap { after, .. } => {
            let before_jump = after.to_timestamp(local).ok()?;
            tz.following(before_jump)
                .next()
                .map(|jump| jump.timestamp())
        }
    }
}

/// `now` if `window` is open now in `tz`, else the next instant it opens.
pub fn next_opening(window: DailyWindow, tz: &TimeZone, now: Timestamp) -> Timestamp {
    let zoned = ZonedWindow {
        window,
        tz: tz.clone(),
    };
    match zoned.interval_at_or_after(now) {
        Some((open, _)) => open.max(now),
        // Unreachable for real zones: a window of at least a minute survives
        // DST on all but a day or two a year. Waiting a day is the safe answer.
        None => now + jiff::SignedDuration::from_hours(24),
    }
}

/// The earliest instant at or after `now` at which every window is open, or
/// `None` when nothing more may be sent: the windows never overlap, or they
/// next do at or after `ends_at` (the campaign's end).
///
/// With no windows at all the answer is `now` (unless the campaign has ended).
pub fn next_opening_in_all(
    windows: &[ZonedWindow],
    now: Timestamp,
    ends_at: Option<Timestamp>,
) -> Option<Timestamp> {
    let horizon = now + jiff::SignedDuration::from_hours(24 * SEARCH_DAYS);
    let mut t = now;
    // Each round moves `t` to the latest of the next openings, which is either
    // inside every window (done) or strictly later than before; the horizon
    // bounds the walk when the windows never meet.
    while t <= horizon {
        if ends_at.is_some_and(|end| t >= end) {
            return None;
        }
        let mut latest_open = t;
        for w in windows {
            let (open, _) = w.interval_at_or_after(t)?;
            latest_open = latest_open.max(open);
        }
        if latest_open == t {
            return Some(t);
        }
        t = latest_open;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn local(tz_name: &str, s: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned(tz(tz_name)).unwrap().timestamp()
    }

    fn window(start: &str, end: &str) -> DailyWindow {
        DailyWindow::parse(start, end).unwrap()
    }

    #[test]
    fn parse_accepts_hh_mm_only() {
        assert_eq!(window("08:00", "21:00"), DailyWindow::QUIET_HOURS);
        for bad in [
            "8:00", "08:0", "24:00", "08:60", "0800", "", "08:00:00", "ab:cd",
        ] {
            assert_eq!(
                DailyWindow::parse(bad, "21:00"),
                Err(WindowError::BadTime(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            DailyWindow::parse("09:00", "09:00"),
            Err(WindowError::Empty)
        );
    }

    // Seed 003: quiet hours are in the contact's local time. A campaign started
    // at 05:00 UTC finds both contacts outside them; each gets its own 08:00.
    #[test]
    fn seed_case_each_contact_gets_their_own_eight_o_clock() {
        let now = utc("2024-01-16T05:00:00Z");
        let la = next_opening(DailyWindow::QUIET_HOURS, &tz("America/Los_Angeles"), now);
        let berlin = next_opening(DailyWindow::QUIET_HOURS, &tz("Europe/Berlin"), now);
        assert_eq!(la, local("America/Los_Angeles", "2024-01-16T08:00"));
        assert_eq!(la, utc("2024-01-16T16:00:00Z"));
        assert_eq!(berlin, local("Europe/Berlin", "2024-01-16T08:00"));
        assert_eq!(berlin, utc("2024-01-16T07:00:00Z"));
    }

    // At 23:00 UTC it is already midnight in Berlin (wait for 08:00) but only
    // 15:00 in Los Angeles, which is inside quiet hours: send at once.
    #[test]
    fn seed_case_started_at_23_utc() {
        let now = utc("2024-01-15T23:00:00Z");
        let berlin = next_opening(DailyWindow::QUIET_HOURS, &tz("Europe/Berlin"), now);
        assert_eq!(berlin, local("Europe/Berlin", "2024-01-16T08:00"));
        let la = next_opening(DailyWindow::QUIET_HOURS, &tz("America/Los_Angeles"), now);
        assert_eq!(la, now);
        // In summer Los Angeles is at 16:00: still open.
        let summer = utc("2024-07-15T23:00:00Z");
        let la = next_opening(DailyWindow::QUIET_HOURS, &tz("America/Los_Angeles"), summer);
        assert_eq!(la, summer);
    }

    #[test]
    fn spring_forward_start_in_the_gap_opens_at_the_jump() {
        // 2024-03-10 in Los Angeles: 02:00 PST jumps to 03:00 PDT (10:00 UTC).
        let la = tz("America/Los_Angeles");
        let now = utc("2024-03-10T09:00:00Z"); // 01:00 PST
        assert_eq!(
            next_opening(window("02:30", "21:00"), &la, now),
            utc("2024-03-10T10:00:00Z")
        );
        // A window lying wholly in the gap is closed that day: next day 02:00 PDT.
        assert_eq!(
            next_opening(window("02:00", "02:30"), &la, now),
            local("America/Los_Angeles", "2024-03-11T02:00")
        );
    }

    #[test]
    fn fall_back_opens_once() {
        // 2024-11-03 in Los Angeles: 01:00-02:00 happens twice (PDT, then PST).
        let la = tz("America/Los_Angeles");
        let w = window("01:30", "01:45").in_zone(la.clone());
        let first_open = utc("2024-11-03T08:30:00Z"); // 01:30 PDT
        assert_eq!(
            next_opening(w.window, &la, utc("2024-11-03T08:00:00Z")),
            first_open
        );
        assert!(w.is_open(utc("2024-11-03T08:40:00Z")));
        assert!(!w.is_open(utc("2024-11-03T08:45:00Z")));
        // 01:35 PST, the second time the clock reads 01:35: no second opening.
        assert!(!w.is_open(utc("2024-11-03T09:35:00Z")));
        assert_eq!(
            next_opening(w.window, &la, utc("2024-11-03T08:50:00Z")),
            utc("2024-11-04T09:30:00Z") // 01:30 PST the next day
        );
    }

    #[test]
    fn window_crossing_midnight() {
        let berlin = tz("Europe/Berlin");
        let night = window("22:00", "06:00");
        assert!(night.crosses_midnight());
        assert_eq!(
            next_opening(night, &berlin, local("Europe/Berlin", "2024-05-01T12:00")),
            local("Europe/Berlin", "2024-05-01T22:00")
        );
        let three_am = local("Europe/Berlin", "2024-05-02T03:00");
        assert_eq!(next_opening(night, &berlin, three_am), three_am);
        assert_eq!(
            next_opening(night, &berlin, local("Europe/Berlin", "2024-05-02T06:00")),
            local("Europe/Berlin", "2024-05-02T22:00")
        );
    }

    #[test]
    fn calling_hours_and_quiet_hours_together() {
        // Calling hours 09:00-17:00 New York, contact in Berlin (quiet hours):
        // in January both are open from 09:00 New York (15:00 Berlin).
        let windows = [
            window("09:00", "17:00").in_zone(tz("America/New_York")),
            DailyWindow::QUIET_HOURS.in_zone(tz("Europe/Berlin")),
        ];
        let now = utc("2024-01-16T06:00:00Z");
        assert_eq!(
            next_opening_in_all(&windows, now, None),
            Some(local("America/New_York", "2024-01-16T09:00"))
        );
        // At 15:30 New York Berlin is at 21:30: wait for tomorrow 09:00 New York.
        let late = local("America/New_York", "2024-01-16T15:30");
        assert_eq!(
            next_opening_in_all(&windows, late, None),
            Some(local("America/New_York", "2024-01-17T09:00"))
        );
    }

    #[test]
    fn windows_that_never_meet_give_none() {
        // 09:00-10:00 New York is 23:00-00:00 in Tokyo.
        let windows = [
            window("09:00", "10:00").in_zone(tz("America/New_York")),
            window("09:00", "10:00").in_zone(tz("Asia/Tokyo")),
        ];
        assert_eq!(
            next_opening_in_all(&windows, utc("2024-01-16T00:00:00Z"), None),
            None
        );
    }

    #[test]
    fn end_date_stops_everything() {
        let windows = [DailyWindow::QUIET_HOURS.in_zone(tz("Europe/Berlin"))];
        let now = local("Europe/Berlin", "2024-01-16T22:00");
        let ends = Some(local("Europe/Berlin", "2024-01-17T07:00"));
        assert_eq!(next_opening_in_all(&windows, now, ends), None);
        let ends = Some(local("Europe/Berlin", "2024-01-17T09:00"));
        assert_eq!(
            next_opening_in_all(&windows, now, ends),
            Some(local("Europe/Berlin", "2024-01-17T08:00"))
        );
        assert_eq!(next_opening_in_all(&[], now, Some(now)), None);
        assert_eq!(next_opening_in_all(&[], now, None), Some(now));
    }

    // ---- properties ----

    const ZONES: [&str; 4] = [
        "America/Los_Angeles",
        "Europe/Berlin",
        "Australia/Sydney",
        "UTC",
    ];

    /// DST transitions of the zones above, so that `now` often lands near one.
    fn transition_days() -> Vec<Timestamp> {
        [
            ("America/Los_Angeles", date(2024, 3, 10)),
            ("America/Los_Angeles", date(2024, 11, 3)),
            ("Europe/Berlin", date(2024, 3, 31)),
            ("Europe/Berlin", date(2024, 10, 27)),
            ("Australia/Sydney", date(2024, 4, 7)),
            ("Australia/Sydney", date(2024, 10, 6)),
        ]
        .into_iter()
        .map(|(z, d)| d.to_zoned(tz(z)).unwrap().timestamp())
        .collect()
    }

    fn arb_now() -> impl Strategy<Value = Timestamp> {
        let near_dst = (0..6usize, -3 * 86_400i64..3 * 86_400)
            .prop_map(|(i, secs)| transition_days()[i] + jiff::SignedDuration::from_secs(secs));
        let anytime = (1_704_067_200i64..1_767_225_600) // 2024 and 2025
            .prop_map(|secs| Timestamp::from_second(secs).unwrap());
        prop_oneof![near_dst, anytime]
    }

    /// Quarter-hour boundaries, often between 00:00 and 04:00 where DST moves.
    fn arb_time() -> impl Strategy<Value = Time> {
        prop_oneof![0i8..96, 0i8..16].prop_map(|q| Time::constant(q / 4, (q % 4) * 15, 0, 0))
    }

    fn arb_window() -> impl Strategy<Value = ZonedWindow> {
        (arb_time(), arb_time(), 0..ZONES.len())
            .prop_filter("start != end", |(s, e, _)| s != e)
            .prop_map(|(s, e, z)| DailyWindow::new(s, e).unwrap().in_zone(tz(ZONES[z])))
    }

    /// The naive reading of a window: is the local clock inside it?
    fn clock_reads_inside(w: &ZonedWindow, t: Timestamp) -> bool {
        let time = w.tz.to_datetime(t).time();
        let (s, e) = (w.window.start, w.window.end);
        if s < e {
            s <= time && time < e
        } else {
            time >= s || time < e
        }
    }

    fn no_transition_near(tz: &TimeZone, t: Timestamp) -> bool {
        let day = jiff::SignedDuration::from_hours(26);
        tz.to_offset(t - day) == tz.to_offset(t + day)
    }

    proptest! {
        #[test]
        fn earliest_instant_inside_every_window(
            windows in proptest::collection::vec(arb_window(), 1..=3),
            now in arb_now(),
        ) {
            let Some(found) = next_opening_in_all(&windows, now, None) else {
                return Ok(());
            };
            prop_assert!(found >= now);
            for w in &windows {
                prop_assert!(w.is_open(found), "{w:?} closed at {found}");
            }
            // Exactly at an opening: a second earlier, some window was closed.
            if found > now {
                let just_before = found - jiff::SignedDuration::from_secs(1);
                prop_assert!(!windows.iter().all(|w| w.is_open(just_before)));
            }
            // Nothing earlier was open everywhere, sampled every 5 minutes.
            let mut t = now;
            while t < found {
                prop_assert!(!windows.iter().all(|w| w.is_open(t)), "all open at {t}");
                t += jiff::SignedDuration::from_mins(5);
            }
        }

        #[test]
        fn single_window_opens_within_a_day_and_two(w in arb_window(), now in arb_now()) {
            let found = next_opening(w.window, &w.tz, now);
            prop_assert!(found >= now);
            prop_assert!(w.is_open(found));
            prop_assert!(now.duration_until(found) <= jiff::SignedDuration::from_hours(49));
        }

        // Away from DST changes, the interval arithmetic agrees with simply
        // reading the local clock.
        #[test]
        fn matches_the_local_clock_away_from_dst(w in arb_window(), now in arb_now()) {
            prop_assume!(no_transition_near(&w.tz, now));
            prop_assert_eq!(w.is_open(now), clock_reads_inside(&w, now));
        }

        #[test]
        fn nothing_at_or_after_the_end(
            windows in proptest::collection::vec(arb_window(), 0..=2),
            now in arb_now(),
            ends_in_mins in 0i64..3 * 24 * 60,
        ) {
            let ends = now + jiff::SignedDuration::from_mins(ends_in_mins);
            if let Some(found) = next_opening_in_all(&windows, now, Some(ends)) {
                prop_assert!(found < ends);
                prop_assert_eq!(Some(found), next_opening_in_all(&windows, now, None));
            }
        }
    }
}
