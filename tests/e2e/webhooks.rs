//! Status callbacks are only applied when their signature verifies.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator, twilio_signature};

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

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
    let good = twilio_signature(&sim.config().twilio_auth_token, &url, &params_sent);
    let resp = herald
        .http
        .post(&url)
        .header("X-Twilio-Signature", good)
        .form(&params_sent)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let again = api.all_members(campaign).await;
    assert_eq!(again[0]["status"], "delivered");
}
both_backends!(wrong_signature_is_refused_and_changes_nothing);
