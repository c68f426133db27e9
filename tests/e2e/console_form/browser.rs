//! The campaign form, the review queue and the performance tab in a real
//! headless Chromium; each screen saved under target/console-screens/.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use super::reviewed_campaign;
use crate::console_client::{signed_in_browser, skipped};
use crate::harness::{Backend, Herald, numbers_ending};
use crate::support::{channel, twilio_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_switches_fields_with_the_type_in_the_browser() {
    if skipped() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let (config, secrets) = twilio_config(&sim);
    let voice = channel(&api, "twilio-voice", "+15005550006", config, secrets).await;
    let list = api.list_with(&numbers_ending("6300", 2, 600)).await;
    let browser = signed_in_browser(&herald, &api.key, "/campaigns").await;

    browser.click("#new-campaign").await;
    browser.wait_for_url("/campaigns/new").await;
    // SMS: its body shows; the other types' fields do not.
    assert!(browser.displayed("#body").await);
    for hidden in ["#queue", "#template", "#subject", "#caller_id"] {
        assert!(!browser.displayed(hidden).await, "{hidden} shown for SMS");
    }
    // Only the SMS channel is offered, and it is chosen.
    assert_eq!(browser.value("#channel_id").await, sms.to_string());
    let offered =
        format!("return document.querySelector('#channel_id option[value=\"{voice}\"]').hidden");
    assert_eq!(
        browser.script(&offered).await,
        json!(true),
        "the voice channel is hidden for SMS"
    );
    browser.type_into("#name", "Browser sale").await;
    browser
        .click(&format!("#list_id option[value=\"{list}\"]"))
        .await;
    // Tall enough for the whole form in one screen.
    browser.resize(1280, 1750).await;
    browser.screenshot("campaign-form-sms").await;

    // Voice: seed 000's voice fields show, the body goes.
    browser.click("#type option[value=\"voice\"]").await;
    for shown in [
        "#caller_id",
        "#queue",
        "#max_concurrent",
        "#max_retries",
        "#retry_delay_secs",
        "#amd_enabled",
        "#amd_action",
    ] {
        assert!(browser.displayed(shown).await, "{shown} hidden for voice");
    }
    assert!(
        !browser.displayed("#body").await,
        "the body shown for voice"
    );
    assert_eq!(
        browser.value("#channel_id").await,
        voice.to_string(),
        "the voice channel chosen"
    );
    browser.screenshot("campaign-form-voice").await;

    // Back to SMS and live without a body: the error beside the body.
    browser.click("#type option[value=\"sms\"]").await;
    assert!(browser.displayed("#body").await);
    browser.click("button[value=\"go_live\"]").await;
    browser.wait_for("#error-body").await;
    assert!(browser.text("#error-body").await.contains("body"));
    assert_eq!(
        browser.value("#name").await,
        "Browser sale",
        "the name is kept"
    );
    assert!(
        browser.displayed("#body").await,
        "still SMS after the refusal"
    );
    // The refused field has the focus.
    assert_eq!(
        browser.script("return document.activeElement.id").await,
        json!("body")
    );
    browser.screenshot("campaign-form-missing-body").await;
    // At a phone's width the form still fits, in one column.
    browser.resize(400, 900).await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth > window.innerWidth")
        .await;
    assert_eq!(overflow, json!(false), "the form is wider than a phone");
    browser.screenshot("campaign-form-phone").await;
    browser.resize(1280, 900).await;
    let (_, listed) = api.get("/v1/campaigns").await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "nothing created"
    );

    // With a body it is saved and goes live.
    browser.type_into("#body", "Hello {{first_name}}").await;
    browser.click("button[value=\"go_live\"]").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let campaign = loop {
        let (_, listed) = api.get("/v1/campaigns").await;
        if let Some(c) = listed["items"].as_array().unwrap().first() {
            break c.clone();
        }
        assert!(Instant::now() < deadline, "no campaign created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    browser
        .wait_for_url(&format!("/campaigns/{}", campaign["id"]))
        .await;
    assert_eq!(campaign["name"], "Browser sale");
    assert_ne!(campaign["status"], "draft", "{campaign}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_and_performance_in_the_browser() {
    if skipped() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("6400", 3, 600)).await;
    let campaign = reviewed_campaign(&api, sms, list, 3).await;
    let browser = signed_in_browser(&herald, &api.key, "/campaigns").await;

    // From the campaign's page to its queue.
    browser
        .goto(&format!("{}/campaigns/{campaign}", herald.base))
        .await;
    browser.click("#tab-review").await;
    browser
        .wait_for_url(&format!("/campaigns/{campaign}/review"))
        .await;
    assert_eq!(browser.count("#queue tbody tr").await, 3);
    browser.screenshot("review-queue").await;

    // Edit the first member's message.
    browser.click("#queue tbody tr td.row-actions a").await;
    browser.wait_for("#edit-message").await;
    browser.clear("#body").await;
    browser
        .type_into("#body", "Edited for {{first_name}}")
        .await;
    browser.click("#edit-message button[type=submit]").await;
    browser.wait_for_url("?done=edited").await;
    assert!(
        browser
            .text("#queue tbody tr td.message")
            .await
            .starts_with("Edited for C")
    );
    // Approve it, then select another and approve the selection.
    browser.click("#queue tbody tr td.row-actions button").await;
    browser.wait_for_url("?done=approved-1").await;
    assert_eq!(browser.text("#approved-count").await, "1");
    browser.click("#queue tbody tr input[type=checkbox]").await;
    browser.click("#approve-selected").await;
    // The same notice as before: wait for the count the new page shows.
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.text_now("#approved-count").await.as_deref() != Some("2") {
        assert!(Instant::now() < deadline, "the selection was not approved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.count("#queue tbody tr").await, 1);
    // Execute the approved: the simulator receives those two.
    browser.click("#execute").await;
    browser.wait_for_url("?done=executed-2").await;
    assert!(
        sim.wait_for(Duration::from_secs(20), |s| s.accepted >= 2)
            .await,
        "executed"
    );
    assert!(
        sim.messages()
            .iter()
            .any(|m| m.body.starts_with("Edited for C"))
    );

    // A small campaign without review, to the end, then its charts.
    // Its own contacts: those of the reviewed campaign are still in it.
    let other_list = api.list_with(&numbers_ending("6500", 3, 600)).await;
    let plain = api.campaign(sms, other_list, "Hi {{first_name}}").await;
    api.start_to_completion(plain, Duration::from_secs(60))
        .await;
    browser
        .goto(&format!("{}/campaigns/{plain}", herald.base))
        .await;
    browser.click("#tab-performance").await;
    browser
        .wait_for_url(&format!("/campaigns/{plain}/performance"))
        .await;
    browser.wait_for("#activity-chart .uplot canvas").await;
    browser.wait_for("#cumulative-chart .uplot canvas").await;
    assert_eq!(
        browser.text("#funnel [data-step=Sent] .hbar-value").await,
        "3 · 100%"
    );
    assert_eq!(browser.text("#stat-delivered").await, "3");
    assert!(
        browser
            .text("#by-channel .hbar-value")
            .await
            .contains("of 3 delivered")
    );
    browser.resize(1280, 1650).await;
    browser.screenshot("performance").await;
}
