//! `herald serve --demo`: the walkthrough it prints delivers at any hour,
//! not only inside the default quiet hours of its US numbers.

use std::time::Duration;

use crate::both_backends;
use crate::harness::{Backend, Herald};

async fn the_demo_walk_delivers_at_any_hour(backend: Backend) {
    let mut herald = Herald::start(backend, &["--demo"]).await;
    // 06:00 in Los Angeles: the default quiet hours would hold every
    // number of the walk until 08:00.
    herald.set_clock("2026-01-14T14:00:00Z").await;
    let printed = |prefix: &str| {
        herald
            .stdout
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (key, channel) = loop {
        if let (Some(key), Some(channel)) = (
            printed("Demo tenant API key: "),
            printed("Channel ").and_then(|rest| rest.split(' ').next()?.parse::<i64>().ok()),
        ) {
            break (key, channel);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no walkthrough printed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let api = herald.api(key.trim());
    // The walk's own contacts and message.
    let numbers = [
        "+14155550100".to_owned(),
        "+14155550101".to_owned(),
        "+14155550002".to_owned(),
    ];
    let list = api.list_with(&numbers).await;
    let campaign = api
        .campaign(channel, list, "Hi {{first_name}}, this is Herald.")
        .await;
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    let members = api.all_members(campaign).await;
    let status_of = |n: &str| {
        members
            .iter()
            .find(|m| m["address"] == n)
            .map(|m| m["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        status_of(&numbers[0]).as_deref(),
        Some("delivered"),
        "{members:?}"
    );
    assert_eq!(
        status_of(&numbers[1]).as_deref(),
        Some("delivered"),
        "{members:?}"
    );
    assert_eq!(
        status_of(&numbers[2]).as_deref(),
        Some("failed"),
        "{members:?}"
    );
}
both_backends!(the_demo_walk_delivers_at_any_hour);
