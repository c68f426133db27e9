//! Twilio's Message list: `GET /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! newest first, filtered and paged as Twilio documents it.
//!
//! Filters: `To`, `From` (exact match), `DateSent=YYYY-MM-DD` (that UTC
//! day), `DateSent<=YYYY-MM-DD` and `DateSent>=YYYY-MM-DD` (on or before /
//! on or after: the parameter *name* is `DateSent<` or `DateSent>`, in a
//! URL `DateSent%3C=...`). A message not sent yet is filtered by its
//! `date_created` instead (a simplification: Twilio would leave it out).
//!
//! Paging: `PageSize` (default 50, at most 1000), `Page` (0-based, for
//! `page` and `start`) and Twilio's opaque `PageToken`, here `PA{sid}`
//! ("after this message") or `PB{sid}` ("before it"). `next_page_uri` is
//! null on the last page, `previous_page_uri` on the first.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::twilio::{self, Record, authorised, message_json, unauthorised};
use crate::{ReceivedMessage, Shared, wire};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;
/// The filters, in the order the page URIs repeat them.
const FILTERS: [&str; 5] = ["To", "From", "DateSent", "DateSent<", "DateSent>"];

pub(crate) async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !authorised(&shared, &account_sid, &headers) {
        shared.lock().stats.auth_failures += 1;
        return unauthorised();
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .rev() // the last one wins, like most form parsers
            .find(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim().to_owned())
    };
    let mut filters: Vec<(&str, String)> = Vec::new();
    for name in FILTERS {
        let Some(value) = param(name) else { continue };
        if name.starts_with("DateSent") {
            let Some(day) = day(&value) else {
                return twilio::error(
                    StatusCode::BAD_REQUEST,
                    20001,
                    format!("Invalid {name}: {value} is not a date (YYYY-MM-DD)"),
                );
            };
            filters.push((name, day));
        } else {
            filters.push((name, value));
        }
    }
    let page_size = param("PageSize")
        .and_then(|size| size.parse::<usize>().ok())
        .map_or(DEFAULT_PAGE_SIZE, |size| size.clamp(1, MAX_PAGE_SIZE));
    let page = param("Page")
        .and_then(|page| page.parse::<usize>().ok())
        .unwrap_or(0);
    let token = param("PageToken");

    let matching = matching(&shared, &filters);
    let position = |sid: &str| matching.iter().position(|(m, _)| m.sid == sid);
    let (from, to) = match token.as_deref() {
        Some(token) if token.starts_with("PA") => match position(&token[2..]) {
            Some(at) => (at + 1, at + 1 + page_size),
            None => (0, 0), // forgotten by a reset, or never ours: nothing after it
        },
        Some(token) if token.starts_with("PB") => match position(&token[2..]) {
            Some(at) => (at.saturating_sub(page_size), at),
            None => (0, 0),
        },
        _ => (page * page_size, page * page_size + page_size),
    };
    let to = to.min(matching.len());
    let items = matching.get(from..to).unwrap_or_default();

    let uri = |page: usize, token: Option<String>| {
        let mut query: Vec<(&str, String)> = filters.clone();
        query.push(("PageSize", page_size.to_string()));
        query.push(("Page", page.to_string()));
        if let Some(token) = token {
            query.push(("PageToken", token));
        }
        format!(
            "/2010-04-01/Accounts/{account_sid}/Messages.json?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        )
    };
    let next = (to < matching.len() && !items.is_empty())
        .then(|| uri(page + 1, items.last().map(|(m, _)| format!("PA{}", m.sid))));
    let previous =
        (page > 0).then(|| uri(page - 1, items.first().map(|(m, _)| format!("PB{}", m.sid))));
    let start = page * page_size;
    let body = json!({
        "messages": items.iter().map(|(m, r)| message_json(m, r)).collect::<Vec<Value>>(),
        "first_page_uri": uri(0, None),
        "next_page_uri": next,
        "previous_page_uri": previous,
        "page": page,
        "page_size": page_size,
        "uri": uri(page, token),
        "start": start,
        "end": start + items.len().saturating_sub(1),
    });
    Json(body).into_response()
}

/// The Twilio messages passing `filters`, newest first.
fn matching(shared: &Shared, filters: &[(&str, String)]) -> Vec<(ReceivedMessage, Record)> {
    let state = shared.lock();
    // `messages` is in arrival order: reversed, newest first.
    state
        .messages
        .iter()
        .rev()
        .filter_map(|message| {
            let record = state.twilio.get(&message.sid)?;
            let sent_day =
                &wire::iso8601(record.date_sent_ms.unwrap_or(message.received_at_ms))[..10];
            let passes = filters.iter().all(|(name, value)| match *name {
                "To" => message.to == *value,
                "From" => message.from == *value,
                "DateSent" => sent_day == value,
                "DateSent<" => sent_day <= value.as_str(),
                "DateSent>" => sent_day >= value.as_str(),
                _ => true,
            });
            passes.then(|| (message.clone(), record.clone()))
        })
        .collect()
}

/// `YYYY-MM-DD` (the date part of an ISO 8601 stamp is accepted too).
fn day(value: &str) -> Option<String> {
    let day = value.get(..10)?;
    let rest = &value[10..];
    let shape = day.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    if !shape || !(rest.is_empty() || rest.starts_with('T')) {
        return None;
    }
    let month: u32 = day[5..7].parse().ok()?;
    let date: u32 = day[8..10].parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&date)).then(|| day.to_owned())
}

#[cfg(test)]
mod tests {
    use super::day;

    #[test]
    fn days() {
        assert_eq!(day("2026-12-01").as_deref(), Some("2026-12-01"));
        assert_eq!(day("2026-12-01T10:00:00Z").as_deref(), Some("2026-12-01"));
        assert_eq!(day("2026-13-01"), None);
        assert_eq!(day("2026-1-01"), None);
        assert_eq!(day("01/12/2026"), None);
        assert_eq!(day("2026-12-01x"), None);
        assert_eq!(day("été"), None);
    }
}
