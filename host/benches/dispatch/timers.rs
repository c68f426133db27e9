//! Timers: MEMBERS follow-ups falling due within the same minute, and how
//! late each goes out.
//!
//! A campaign with one follow-up a day after its message is sent to every
//! member. Then the business clock is set to the moment the first
//! follow-up falls due; it runs on at real speed, so the others fall due
//! one after another as their first messages went out. A follow-up's
//! lateness is when the provider got it minus when it fell due, both in
//! real time: its due time is the clock's jump plus how long after the
//! first member's message its own first message reached the provider (the
//! engine writes `sent_at` a commit later, so lateness is overstated by at
//! most that commit).
//!
//! Two ways for them to fall due ([`Due`]): spread over one minute, as
//! the issue sets them (the first messages paced to last a minute), and
//! as fast as the engine sent the first messages, where any shortfall of
//! the follow-ups' rate against the first messages' piles up as lateness.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::json;

use crate::campaign::median;
use crate::herald::Herald;
use crate::probes::{ms, quantile};
use crate::setup::{channel, draft, tenant_with_channel};
use crate::{ADMIN_KEY, DEADLINE, number};

const FOLLOW_UP: &str = "Still interested, {{first_name}}? Reply YES.";

/// How the follow-ups fall due.
#[derive(Clone, Copy)]
pub enum Due {
    /// Over one minute: the first messages go out on a channel paced at
    /// MEMBERS/60 per second, the follow-ups on an unpaced one.
    OverAMinute,
    /// As fast as the engine sent the first messages (both on one
    /// unpaced channel).
    AsFastAsSent,
}

impl Due {
    pub const ALL: [Due; 2] = [Due::OverAMinute, Due::AsFastAsSent];

    pub fn label(self) -> &'static str {
        match self {
            Due::OverAMinute => "due over a minute",
            Due::AsFastAsSent => "due as fast as sent",
        }
    }
}

pub struct TimerRun {
    /// Real time over which they fell due.
    pub due_over: Duration,
    pub lateness: Vec<Duration>,
    /// Follow-ups sent per second, first to last.
    pub per_s: f64,
}

/// A timers run as its table row reads it.
pub struct Figures {
    due_over: Duration,
    min: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    per_s: f64,
}

impl TimerRun {
    pub fn figures(&self) -> Figures {
        Figures {
            due_over: self.due_over,
            min: quantile(&self.lateness, 0.0),
            p50: quantile(&self.lateness, 0.5),
            p99: quantile(&self.lateness, 0.99),
            max: quantile(&self.lateness, 1.0),
            per_s: self.per_s,
        }
    }
}

impl Figures {
    /// Each column's median over several runs (`runs` not empty).
    pub fn median(runs: &[Figures]) -> Figures {
        Figures {
            due_over: median(runs.iter().map(|f| f.due_over)),
            min: median(runs.iter().map(|f| f.min)),
            p50: median(runs.iter().map(|f| f.p50)),
            p99: median(runs.iter().map(|f| f.p99)),
            max: median(runs.iter().map(|f| f.max)),
            per_s: median(runs.iter().map(|f| f.per_s)),
        }
    }

    pub fn print(&self, label: &str) {
        println!(
            "| {label} | {:.1} s | {} | {} | {} | {} | {:.0} |",
            self.due_over.as_secs_f64(),
            ms(self.min),
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.per_s
        );
    }
}

/// The largest `rate_per_second` a channel takes.
const MAX_RATE_PER_SECOND: u32 = 10_000;

pub async fn follow_ups(
    sim: &Arc<Simulator>,
    database_url: &str,
    members: u64,
    due: Due,
) -> TimerRun {
    let herald = Herald::start(database_url, &[]).await;
    let (key, unpaced) = tenant_with_channel(&herald, sim, "timers", "twilio-sms").await;
    let first = match due {
        Due::OverAMinute => {
            // A channel sends at most 10,000 a second (the API refuses more):
            // past 600,000 members they fall due over longer than a minute.
            let per_second = u32::try_from(members.div_ceil(60))
                .unwrap_or(u32::MAX)
                .min(MAX_RATE_PER_SECOND);
            channel(&herald, sim, &key, "twilio-sms", per_second).await
        }
        Due::AsFastAsSent => unpaced.clone(),
    };
    let extra =
        json!({ "follow_ups": [{ "after_days": 1, "body": FOLLOW_UP, "channel_id": unpaced }] });
    let (id, _) = draft(&herald, &key, &first, (0..members).map(number), extra).await;
    let path = format!("/v1/campaigns/{id}/start");
    let (status, body) = herald.call(&key, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 200, "{body}");

    // Every first message out, and its follow-up planned (the member's
    // next outreach is only written with its outcome).
    let started = Instant::now();
    loop {
        let p = herald
            .get(&key, &format!("/v1/campaigns/{id}/progress"))
            .await;
        if p["sent"].as_u64() == Some(members) && sim.stats().accepted >= members {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "first messages too slow: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first_sent: HashMap<String, u64> = sim
        .messages()
        .into_iter()
        .map(|m| (m.to, m.received_at_ms))
        .collect();
    let earliest = *first_sent.values().min().expect("sent");
    let latest = *first_sent.values().max().expect("sent");

    // The business clock to the first follow-up's due time.
    let reading = herald.get(ADMIN_KEY, "/v1/admin/clock").await;
    let real_at_reading = now_ms();
    let business: jiff::Timestamp = reading["now"].as_str().unwrap().parse().unwrap();
    let offset = business.as_millisecond() - real_at_reading as i64;
    let first_due = earliest as i64 + offset + 24 * 3600 * 1000;
    let jumped_at = now_ms();
    let now = jiff::Timestamp::from_millisecond(first_due).unwrap();
    let (status, body) = herald
        .call(
            ADMIN_KEY,
            reqwest::Method::POST,
            "/v1/admin/clock",
            Some(json!({ "now": now.to_string() })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let wanted = 2 * members;
    while sim.stats().accepted < wanted {
        assert!(
            started.elapsed() < DEADLINE,
            "follow-ups too slow: {} of {members}",
            sim.stats().accepted - members
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lateness = Vec::with_capacity(members as usize);
    let (mut first_out, mut last_out) = (u64::MAX, 0);
    for m in sim
        .messages()
        .into_iter()
        .filter(|m| m.body.starts_with("Still"))
    {
        let due = jumped_at + (first_sent[&m.to] - earliest);
        lateness.push(Duration::from_millis(m.received_at_ms.saturating_sub(due)));
        first_out = first_out.min(m.received_at_ms);
        last_out = last_out.max(m.received_at_ms);
    }
    assert_eq!(lateness.len() as u64, members, "one follow-up per member");
    TimerRun {
        due_over: Duration::from_millis(latest - earliest),
        lateness,
        per_s: members as f64 / ((last_out - first_out) as f64 / 1000.0).max(1e-3),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
