//! Infobip: delivery report and inbound webhooks (`parse_notification`),
//! the message logs answer (`parse_logs`), the send answer (`parse_send`),
//! refusals (`error_from`), timestamps (`iso8601_ms`) and the webhook token
//! read from the URL (`token`).
//!
//! Properties: nothing panics, bad input is an `Err`; a report carries an
//! error code and text exactly when it is a failure; an inbound number of
//! digits gets its `+`; a send answer either gives a message id or a
//! refusal; the class of a refusal follows the HTTP status; `iso8601_ms`
//! agrees with Twilio's independent RFC 2822 reader on the same instant.
#![no_main]

use herald_fuzz::{http_status, retry_after, split_first};
use libfuzzer_sys::fuzz_target;
use provider_wire::infobip::{self, Notification, Report};
use provider_wire::{ErrorClass, Status};

fn check_report(r: &Report) {
    let failed = r.status == Status::Failed;
    assert_eq!(r.error_code.is_some(), failed, "{r:?}");
    assert_eq!(r.error_message.is_some(), failed, "{r:?}");
}

/// Builds the same instant in both formats from the input's bytes and
/// compares the two readers.
fn same_instant(data: &[u8]) {
    let b = |i: usize| data.get(i).copied().unwrap_or(0) as i64;
    let year = 1970 + (b(0) << 8 | b(1)) % 8030;
    let (month, day) = (1 + b(2) % 12, 1 + b(3) % 28);
    let (hour, minute, second) = (b(4) % 24, b(5) % 60, b(6) % 60);
    let millis = (b(7) << 8 | b(8)) % 1000;
    let offset = (b(9) % 24) * 60 + [0, 15, 30, 45][b(10) as usize % 4];
    let sign = if b(11) % 2 == 0 { '+' } else { '-' };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (oh, om) = (offset / 60, offset % 60);
    let iso = format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}{sign}{oh:02}{om:02}"
    );
    let rfc = format!(
        "{day:02} {} {year} {hour:02}:{minute:02}:{second:02} {sign}{oh:02}{om:02}",
        MONTHS[month as usize - 1]
    );
    let secs = twilio_wire::lookup::parse_rfc2822(&rfc).expect("a valid RFC 2822 date");
    let expected = u64::try_from(secs * 1000 + millis).ok();
    assert_eq!(infobip::iso8601_ms(&iso), expected, "{iso} vs {rfc}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(notifications) = infobip::parse_notification(data) {
        for n in &notifications {
            match n {
                Notification::Report(r) => check_report(r),
                Notification::Inbound(m) => {
                    assert!(!m.message_id.is_empty());
                    assert!(!m.from.bytes().all(|b| b.is_ascii_digit()) || m.from.is_empty());
                }
            }
        }
    }
    if let Ok(Some(r)) = infobip::parse_logs(data) {
        check_report(&r);
    }
    match infobip::parse_send(data) {
        Ok((_, status)) => assert!(matches!(status, Status::Accepted | Status::Delivered)),
        Err(Ok(e)) => assert_ne!(e.class, ErrorClass::Transient),
        Err(Err(_)) => {}
    }
    let status = http_status(data);
    let e = infobip::error_from(status, retry_after(data), data);
    match status {
        401 | 403 => assert_eq!(e.class, ErrorClass::Auth),
        429 => assert!(matches!(e.class, ErrorClass::RateLimited(_))),
        500.. => assert_eq!(e.class, ErrorClass::Transient),
        _ => assert_eq!(e.class, ErrorClass::Rejected),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = infobip::iso8601_ms(text);
        let (url, _) = split_first(data, b'\n');
        if let Ok(url) = std::str::from_utf8(url) {
            let _ = infobip::token(url);
        }
    }
    same_instant(data);
});
