//! Herald's own figures, read from `GET /metrics` before and after a run:
//! database transactions and plugin calls per message, by name.

use std::collections::BTreeMap;

use crate::ADMIN_KEY;
use crate::herald::Herald;

/// The row of plugin calls per 1,000 messages.
pub const PLUGIN_CALLS: &str = "plugin calls (sends and callbacks)";

/// `(count, sum of seconds)` of each histogram series, by its name and
/// labels as printed (`herald_db_seconds{statement="claim"}`).
#[derive(Clone, Default)]
pub struct Histograms(BTreeMap<String, (f64, f64)>);

/// The series the benchmark prints, and what to call them.
const SERIES: &[(&str, &str)] = &[
    (
        "herald_db_seconds{statement=\"claim\"}",
        "claim transactions",
    ),
    (
        "herald_db_seconds{statement=\"start_sends\"}",
        "start-of-send transactions",
    ),
    (
        "herald_db_seconds{statement=\"record_outcomes\"}",
        "outcome transactions",
    ),
    (
        "herald_db_seconds{statement=\"apply_receipts\"}",
        "receipt transactions",
    ),
    (
        "herald_db_seconds{statement=\"send_writes\"}",
        "combined transactions (starts, outcomes, receipts)",
    ),
];

pub async fn histograms(herald: &Herald) -> Histograms {
    let text = herald
        .http
        .get(format!("{}/metrics", herald.base))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let mut series: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        // `name_count{labels}` / `name_sum{labels}` (labels optional).
        let (base, labels) = name.split_once('{').unwrap_or((name, ""));
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}")
        };
        if let Some(base) = base.strip_suffix("_count") {
            series.entry(format!("{base}{labels}")).or_default().0 = value;
        } else if let Some(base) = base.strip_suffix("_sum") {
            series.entry(format!("{base}{labels}")).or_default().1 = value;
        }
    }
    Histograms(series)
}

/// The histogram of the webhooks each batch call took (contract 1.4).
const WEBHOOK_BATCHES: &str = "herald_webhook_batch_size";

/// Rows `(what, per 1,000 messages, mean)` of what happened between
/// `before` and `after`, for `messages` messages.
pub fn per_thousand(
    before: &Histograms,
    after: &Histograms,
    messages: u64,
) -> Vec<(&'static str, f64, String)> {
    let count_and_mean = |(c0, s0): (f64, f64), (c1, s1): (f64, f64)| {
        let count = c1 - c0;
        let mean = if count > 0.0 { (s1 - s0) / count } else { 0.0 };
        (count * 1000.0 / messages.max(1) as f64, mean)
    };
    let row = |label, before, after| {
        let (per_thousand, mean) = count_and_mean(before, after);
        (label, per_thousand, format!("{:.2} ms", mean * 1000.0))
    };
    let mut rows: Vec<_> = SERIES
        .iter()
        .map(|(series, label)| {
            let get = |h: &Histograms| h.0.get(*series).copied().unwrap_or_default();
            row(*label, get(before), get(after))
        })
        .collect();
    // Plugin calls: every series of the histogram (send, webhook, lookup).
    let plugin = |h: &Histograms| -> (f64, f64) {
        h.0.iter()
            .filter(|(k, _)| k.starts_with("herald_plugin_call_seconds"))
            .fold((0.0, 0.0), |(c, s), (_, (c1, s1))| (c + c1, s + s1))
    };
    rows.push(row(PLUGIN_CALLS, plugin(before), plugin(after)));
    let batches = |h: &Histograms| h.0.get(WEBHOOK_BATCHES).copied().unwrap_or_default();
    let (per_thousand, mean) = count_and_mean(batches(before), batches(after));
    rows.push((
        "callback batches (one instance each)",
        per_thousand,
        format!("{mean:.1} callbacks each"),
    ));
    rows
}
