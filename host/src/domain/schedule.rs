//! A campaign's scheduled start: entered as local time in the tenant's
//! timezone (`2026-03-09T08:00`) or as an RFC 3339 instant
//! (`2026-03-09T07:00:00Z`), stored as a UTC instant, shown both ways.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The instant `input` names. Local times that happen twice (clocks going
/// back) take the first; local times that never happen (clocks going
/// forward) are refused, since any choice would surprise someone.
pub fn parse_schedule(input: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let input = input.trim();
    if let Ok(at) = input.parse::<Timestamp>() {
        return Ok(at);
    }
    let local: DateTime = input.parse().map_err(|_| {
        format!(
            "{input:?} is neither a local date and time (2026-03-09T08:00) nor an \
             RFC 3339 instant (2026-03-09T07:00:00Z)"
        )
    })?;
    let ambiguous = tz.to_ambiguous_timestamp(local);
    if matches!(ambiguous.offset(), AmbiguousOffset::Gap { .. }) {
        return Err(format!(
            "{input} does not exist in {} (the clocks skip it that day)",
            tz.iana_name().unwrap_or("the tenant's timezone")
        ));
    }
    ambiguous.earlier().map_err(|e| format!("{input}: {e}"))
}

/// `at` as the local date and time in `tz`, without offset (what the user
/// typed, e.g. `2026-03-09T08:00:00`).
pub fn local_time(at: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn local_time_is_read_in_the_tenants_zone() {
        let at = parse_schedule("2026-03-09T08:00", &tz("Europe/Berlin")).unwrap();
        assert_eq!(at, "2026-03-09T07:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(local_time(at, &tz("Europe/Berlin")), "2026-03-09T08:00:00");
        let la = parse_schedule("2026-03-09T08:00", &tz("America/Los_Angeles")).unwrap();
        assert_eq!(la, "2026-03-09T15:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn instants_keep_their_offset() {
        let berlin = tz("Europe/Berlin");
        for s in ["2026-03-09T07:00:00Z", "2026-03-09T08:00:00+01:00"] {
            assert_eq!(
                parse_schedule(s, &berlin).unwrap(),
                "2026-03-09T07:00:00Z".parse::<Timestamp>().unwrap()
            );
        }
    }

    #[test]
    fn dst_edges() {
        let la = tz("America/Los_Angeles");
        // 2026-03-08 02:30 never happens in Los Angeles.
        assert!(
            parse_schedule("2026-03-08T02:30", &la)
                .unwrap_err()
                .contains("does not exist")
        );
        // 2026-11-01 01:30 happens twice: the first (PDT, 08:30 UTC).
        assert_eq!(
            parse_schedule("2026-11-01T01:30", &la).unwrap(),
            "2026-11-01T08:30:00Z".parse::<Timestamp>().unwrap()
        );
        for bad in ["tomorrow", "2026-13-01T08:00", ""] {
            assert!(parse_schedule(bad, &la).is_err(), "{bad}");
        }
    }

    proptest! {
        // Shown local time, typed back in, names the same instant (except
        // in the repeated hour, where it names the first occurrence).
        #[test]
        fn local_round_trip(secs in 1_767_225_600i64..1_830_297_600, zone in 0..3usize) {
            let zone = tz(["Europe/Berlin", "America/Los_Angeles", "Australia/Sydney"][zone]);
            let at = Timestamp::from_second(secs).unwrap();
            let back = parse_schedule(&local_time(at, &zone), &zone).unwrap();
            if matches!(
                zone.to_ambiguous_timestamp(zone.to_datetime(at)).offset(),
                AmbiguousOffset::Fold { .. }
            ) {
                prop_assert!(back <= at);
                prop_assert_eq!(zone.to_datetime(back), zone.to_datetime(at));
            } else {
                prop_assert_eq!(back, at);
            }
        }
    }
}
