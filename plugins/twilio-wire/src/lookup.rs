//! Finding a message Herald may have sent, for an uncertain send: Twilio's
//! Messages API takes no client key, so the list of messages to the
//! recipient from the sender (newest first) is searched for one created
//! inside the attempt's time window.

use serde::Deserialize;

use crate::{form_encode, messages_url};

/// Messages per page asked for: an uncertain send is recent, so it sits on
/// the first page unless the recipient got many messages since.
pub const PAGE_SIZE: u32 = 50;
/// Clocks differ and Twilio stamps whole seconds: the window is widened by
/// this many seconds on each side.
pub const SLACK_SECS: i64 = 5;

/// `GET .../Messages.json?To=&From=&PageSize=`: newest first.
pub fn list_url(base: &str, account_sid: &str, to: &str, from: &str) -> String {
    let query = form_encode([
        ("To", to),
        ("From", from),
        ("PageSize", &PAGE_SIZE.to_string()),
    ]);
    format!("{}?{query}", messages_url(base, account_sid))
}

/// The next page's URL, from the page's `next_page_uri` (a path).
pub fn next_url(base: &str, next_page_uri: &str) -> String {
    format!("{}{next_page_uri}", base.trim_end_matches('/'))
}

/// One page of the Messages list.
#[derive(Deserialize)]
pub struct MessagePage {
    pub messages: Vec<ListedMessage>,
    pub next_page_uri: Option<String>,
}

#[derive(Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ListedMessage {
    pub sid: String,
    pub status: Option<String>,
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
    /// RFC 2822, e.g. `Tue, 01 Dec 2026 19:07:08 +0000`.
    pub date_created: Option<String>,
}

impl ListedMessage {
    pub fn created_secs(&self) -> Option<i64> {
        parse_rfc2822(self.date_created.as_deref()?)
    }
}

/// What a page says about the window `[not_before, not_after]` (seconds).
#[derive(Debug, PartialEq, Eq)]
pub enum Search<'a> {
    /// This message was created inside the window (the earliest such).
    Found(&'a ListedMessage),
    /// The page reaches back before the window: nothing older can match.
    Absent,
    /// Everything on the page is newer than the window: read the next.
    ReadOn,
}

pub fn search(page: &MessagePage, not_before: i64, not_after: i64) -> Search<'_> {
    let (from, to) = (not_before - SLACK_SECS, not_after + SLACK_SECS);
    let mut found = None;
    let mut older_seen = false;
    for message in &page.messages {
        match message.created_secs() {
            Some(t) if t < from => older_seen = true,
            // Newest first: the last match is the earliest in the window.
            Some(t) if t <= to => found = Some(message),
            _ => {}
        }
    }
    match found {
        Some(m) => Search::Found(m),
        None if older_seen || page.next_page_uri.is_none() => Search::Absent,
        None => Search::ReadOn,
    }
}

/// Seconds since the Unix epoch of an RFC 2822 date as Twilio writes it
/// (`Tue, 01 Dec 2026 19:07:08 +0000`).
pub fn parse_rfc2822(date: &str) -> Option<i64> {
    let mut parts = date.split_whitespace();
    let first = parts.next()?;
    // The weekday is optional.
    let day: i64 = match first.strip_suffix(',') {
        Some(_) => parts.next()?.parse().ok()?,
        None => first.parse().ok()?,
    };
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>());
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    // Out of range fields are no date (and would overflow the arithmetic).
    if !(0..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    let zone = parts.next().unwrap_or("+0000");
    let offset = match zone.as_bytes() {
        [sign @ (b'+' | b'-'), ..] if zone.len() == 5 => {
            // `get`: the zone's bytes need not be ASCII.
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(3..5)?.parse().ok()?;
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => 0,
    };
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(sid: &str, created: &str) -> ListedMessage {
        ListedMessage {
            sid: sid.into(),
            status: Some("delivered".into()),
            error_code: None,
            error_message: None,
            date_created: Some(created.into()),
        }
    }

    #[test]
    fn parses_twilio_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_rfc2822("Tue, 01 Dec 2026 19:07:08 +0000"),
            Some(1_796_152_028)
        );
        assert_eq!(
            parse_rfc2822("Tue, 01 Dec 2026 20:07:08 +0100"),
            Some(1_796_152_028)
        );
        assert_eq!(parse_rfc2822("yesterday"), None);
    }

    /// Found by the `twilio_webhook` fuzz target: a zone of five bytes
    /// that are not ASCII was sliced inside a character, and huge fields
    /// overflowed.
    #[test]
    fn odd_dates_are_no_dates() {
        assert_eq!(parse_rfc2822("1 Jan 2000 00:00:00 +1\u{e9}1"), None);
        assert_eq!(parse_rfc2822("1 Jan 99999999999999 00:00:00 +0000"), None);
        assert_eq!(parse_rfc2822("1 Jan 2000 99999999999999:00:00 +0000"), None);
        assert_eq!(parse_rfc2822("01 Jan 2000 00:00:00"), Some(946_684_800));
    }

    #[test]
    fn finds_the_earliest_message_inside_the_window() {
        let t = 1_796_152_028;
        let page = MessagePage {
            messages: vec![
                listed("SMnewer", "Tue, 01 Dec 2026 19:10:00 +0000"),
                listed("SMlate", "Tue, 01 Dec 2026 19:07:20 +0000"),
                listed("SMfirst", "Tue, 01 Dec 2026 19:07:09 +0000"),
                listed("SMolder", "Tue, 01 Dec 2026 18:00:00 +0000"),
            ],
            next_page_uri: Some("/next".into()),
        };
        match search(&page, t, t + 15) {
            Search::Found(m) => assert_eq!(m.sid, "SMfirst"),
            other => panic!("{other:?}"),
        }
        // Only older and newer messages: absent, since the page reaches
        // back before the window.
        assert_eq!(search(&page, t + 60, t + 70), Search::Absent);
    }

    #[test]
    fn reads_on_while_every_message_is_newer() {
        let page = MessagePage {
            messages: vec![listed("SMnew", "Tue, 01 Dec 2026 19:10:00 +0000")],
            next_page_uri: Some("/next".into()),
        };
        assert_eq!(search(&page, 1_796_152_028, 1_796_152_030), Search::ReadOn);
        let last = MessagePage {
            next_page_uri: None,
            ..page
        };
        assert_eq!(search(&last, 1_796_152_028, 1_796_152_030), Search::Absent);
    }

    #[test]
    fn list_url_filters_by_recipient_and_sender() {
        assert_eq!(
            list_url("http://s/", "AC1", "+15550001", "+15559999"),
            "http://s/2010-04-01/Accounts/AC1/Messages.json?To=%2B15550001&From=%2B15559999&PageSize=50"
        );
    }
}
