//! Each API key has a request rate: past its burst a key gets 429 with
//! `Retry-After` and the documented JSON error, other keys are untouched,
//! and the key works again once it has waited. The limit is kept in memory
//! per server, so SQLite alone shows it.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Backend, Herald};

/// GET `path` with `key`: the status, `Retry-After` and the body.
async fn get(herald: &Herald, key: &str, path: &str) -> (u16, Option<u64>, Value) {
    let response = herald
        .http
        .get(format!("{}{path}", herald.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (
        status,
        retry_after,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_key_past_its_rate_gets_429_and_others_do_not() {
    const BURST: usize = 10;
    let herald = Herald::start(
        Backend::Sqlite,
        &["--api-rate-per-second", "2", "--api-burst", "10"],
    )
    .await;
    let noisy = herald.new_tenant("noisy").await;
    let quiet = herald.new_tenant("quiet").await;

    // Thirty requests at once: the burst passes, the rest are refused.
    let answers =
        futures::future::join_all((0..30).map(|_| get(&herald, &noisy.key, "/v1/campaigns"))).await;
    let passed = answers.iter().filter(|(s, ..)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, ..)| *s == 429).collect();
    assert_eq!(
        passed + refused.len(),
        30,
        "only 200s and 429s: {answers:?}"
    );
    // The burst, and what the rate refilled while the thirty were answered.
    assert!(
        (BURST..=BURST + 2).contains(&passed),
        "{passed} passed of a burst of {BURST}"
    );
    for (_, retry_after, body) in &refused {
        let retry_after = retry_after.expect("a 429 says when to retry");
        assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at most 2 a second"),
            "{body}"
        );
    }

    // Another tenant's key has its own rate.
    let (status, _, body) = get(&herald, &quiet.key, "/v1/campaigns").await;
    assert_eq!(status, 200, "{body}");
    // An unknown key is a 401, whatever the rate of the others.
    let (status, _, _) = get(&herald, "not-a-key", "/v1/campaigns").await;
    assert_eq!(status, 401);

    // Having waited as told, the noisy key works again.
    let wait = refused.iter().filter_map(|(_, r, _)| *r).min().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = get(&herald, &noisy.key, "/v1/campaigns").await;
    assert_eq!(status, 200, "{body}");
}
