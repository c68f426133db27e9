//! Fairness: another tenant's small campaign started while a big one
//! sends. A user of that tenant expects it out in seconds, not after the
//! big campaign.

use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::Value;

use crate::herald::Herald;
use crate::setup::{draft, tenant_with_channel};

/// The small campaign's size.
pub const MEMBERS: u64 = 20;
/// No small campaign waits longer than this in the benchmark.
const DEADLINE: Duration = Duration::from_secs(600);

pub struct Neighbour {
    key: String,
    campaign: i64,
    numbers: Vec<String>,
}

/// The other tenant, its channel and its draft campaign, ready to start.
/// Its numbers are San Francisco numbers the big campaign does not use.
pub async fn prepare(herald: &Herald, sim: &Simulator) -> Neighbour {
    let (key, channel) = tenant_with_channel(herald, sim, "neighbour", "twilio-sms").await;
    let numbers: Vec<String> = (0..MEMBERS)
        .map(|i| format!("+1628555{:04}", 1_000 + i))
        .collect();
    let (campaign, _) = draft(herald, &key, &channel, numbers.iter().cloned(), Value::Null).await;
    Neighbour {
        key,
        campaign,
        numbers,
    }
}

impl Neighbour {
    /// Starts the campaign and answers how long until the provider had
    /// every one of its messages.
    pub async fn time_to_all_sent(&self, herald: &Herald, sim: &Simulator) -> Duration {
        let started = Instant::now();
        let path = format!("/v1/campaigns/{}/start", self.campaign);
        let (status, body) = herald
            .call(&self.key, reqwest::Method::POST, &path, None)
            .await;
        assert_eq!(status, 200, "{body}");
        while !self.numbers.iter().all(|n| sim.sends_to(n) > 0) {
            assert!(
                started.elapsed() < DEADLINE,
                "the neighbour's {MEMBERS} messages were not all sent within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }
}
