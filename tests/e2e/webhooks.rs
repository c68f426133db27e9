//! Status callbacks are only applied when their signature verifies.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator, twilio_signature};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, numbers_ending};

async fn wrong_signature_is_refused_and_changes_nothing(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("4242", 3, 400)).await;
    let campaign = api.campaign(channel, list, "hello").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    let before = api.all_members(campaign).await;
    assert!(before.iter().all(|m| m["status"] == "delivered"));
    let target = &before[0];
    let sid = target["provider_message_id"].as_str().unwrap();

    let url = format!("{}/webhooks/{channel}", herald.base);
    let params = vec![
        (
            "AccountSid".to_string(),
            sim.config().twilio_account_sid.clone(),
        ),
        ("MessageSid".to_string(), sid.to_string()),
        ("MessageStatus".to_string(), "failed".to_string()),
        ("ErrorCode".to_string(), "30008".to_string()),
        (
            "To".to_string(),
            target["address"].as_str().unwrap().to_string(),
        ),
    ];
    let forged = [
        (
            "wrong key",
            twilio_signature("not-the-token", &url, &params),
        ),
        (
            "other url",
            twilio_signature(
                &sim.config().twilio_auth_token,
                "http://evil.test/x",
                &params,
            ),
        ),
        ("empty", String::new()),
    ];
    for (what, signature) in forged {
        let resp = herald
            .http
            .post(&url)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{what}");
    }
    let unsigned = herald.http.post(&url).form(&params).send().await.unwrap();
    assert_eq!(unsigned.status(), 401, "no signature header");

    let after = api.all_members(campaign).await;
    assert_eq!(before, after, "a refused webhook changed a member");

    // A correctly signed duplicate "sent" after "delivered" is accepted but
    // does not move the member backwards.
    let params_sent: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "ErrorCode")
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "MessageStatus" {
                    "sent".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let status = crate::twilio_hooks::post_signed(&herald, &sim, &url, &params_sent).await;
    assert!((200..300).contains(&status), "{status}");
    let again = api.all_members(campaign).await;
    assert_eq!(again[0]["status"], "delivered");
}
both_backends!(wrong_signature_is_refused_and_changes_nothing);

/// Starts a one-member campaign and answers its member once it is `sent`.
async fn sent_member(api: &Api, campaign: i64) -> serde_json::Value {
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    crate::support::eventually("the message is sent", Duration::from_secs(20), || async {
        api.all_members(campaign).await[0]["status"] == "sent"
    })
    .await;
    api.all_members(campaign).await[0].clone()
}

/// A receipt applies only to messages of the channel it came through: a
/// valid, signed "failed" for channel A's message posted to channel B's
/// webhook (same provider account, so B's plugin verifies it) changes
/// nothing, while A's own callbacks still deliver the message.
async fn another_channels_webhook_changes_nothing(backend: Backend) {
    // Slow callbacks: the forged one lands while the message is `sent`.
    let sim = Simulator::start(SimConfig {
        callback_delay: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let a = api.sim_channel(&sim, "twilio-sms").await;
    let b = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("4242", 1, 420)).await;
    let campaign = api.campaign(a, list, "hello").await;
    let member = sent_member(&api, campaign).await;
    let sid = member["provider_message_id"].as_str().unwrap();

    let url = format!("{}/webhooks/{b}", herald.base);
    let params: Vec<(String, String)> = [
        ("AccountSid", sim.config().twilio_account_sid.as_str()),
        ("MessageSid", sid),
        ("MessageStatus", "failed"),
        ("ErrorCode", "30008"),
        ("To", member["address"].as_str().unwrap()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let status = crate::twilio_hooks::post_signed(&herald, &sim, &url, &params).await;
    assert!((200..300).contains(&status), "{status}");
    let after = api.all_members(campaign).await;
    assert_eq!(after[0]["status"], "sent", "{}", after[0]);

    // The marker: channel A's own callbacks arrive and apply.
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    let done = api.all_members(campaign).await;
    assert_eq!(done[0]["status"], "delivered", "{}", done[0]);
}
both_backends!(another_channels_webhook_changes_nothing);

/// Transactions of the send path's writer that applied receipts, as an
/// operator's Prometheus scrapes them.
async fn receipt_writes(herald: &Herald) -> u64 {
    let (status, text) = herald.admin().get_text("/metrics").await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| {
            l.starts_with("herald_db_seconds_count{")
                && (l.contains("statement=\"apply_receipts\"")
                    || l.contains("statement=\"send_writes\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A "sent" callback cannot move a member (it holds its provider message
/// id only from `sent` on): it is acknowledged without a write of the send
/// path, half of a campaign's callbacks. The "delivered" after it is
/// written and applied: the marker that callbacks reach the writer.
async fn a_sent_callback_is_acknowledged_without_a_write(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // Ending 0507: the simulator takes the message and never calls back.
    let list = api.list_with(&numbers_ending("0507", 1, 430)).await;
    let campaign = api.campaign(channel, list, "hello").await;
    let member = sent_member(&api, campaign).await;
    let sid = member["provider_message_id"].as_str().unwrap();
    let to = member["address"].as_str().unwrap();
    let callback = |status| {
        crate::twilio_hooks::status_callback(&herald, &sim, channel, sid, to, status, None)
    };

    let before = receipt_writes(&herald).await;
    let answer = callback("sent").await;
    assert!((200..300).contains(&answer), "{answer}");
    assert_eq!(
        receipt_writes(&herald).await,
        before,
        "a sent callback wrote"
    );
    assert_eq!(api.all_members(campaign).await[0]["status"], "sent");

    let answer = callback("delivered").await;
    assert!((200..300).contains(&answer), "{answer}");
    assert!(
        receipt_writes(&herald).await > before,
        "no receipt write counted"
    );
    assert_eq!(api.all_members(campaign).await[0]["status"], "delivered");
}
both_backends!(a_sent_callback_is_acknowledged_without_a_write);
