//! The console in a real headless Chromium (issue 15): a tenant signs in
//! through the form, goes live from the campaign's page, and watches the
//! grid's progress reach 100% without reloading (the page's own refresh);
//! each screen is saved as a PNG under target/console-screens/.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::console_client::skipped;
use crate::harness::{Backend, Herald, numbers_ending};
use crate::webdriver::Browser;

const MEMBERS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_watches_its_campaign_go_out_in_the_browser() {
    if skipped() {
        return;
    }
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // One message a second: the grid has time to show the sending.
    api.set_rate(channel, 1).await;
    let list = api.list_with(&numbers_ending("5100", MEMBERS, 600)).await;
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "Spring sale", "channel_id": channel, "list_id": list, "body": "Hi" }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_i64().unwrap();

    let browser = Browser::start().await;
    browser.goto(&format!("{}/", herald.base)).await;
    // Signed out: to the sign-in page.
    browser.wait_for_url("/login").await;
    browser.screenshot("sign-in").await;
    browser.type_into("#key", &api.key).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url("/campaigns").await;
    assert_eq!(browser.text("#grid td.status").await, "Draft");
    browser.screenshot("campaigns-draft").await;

    browser
        .click(&format!("a[href=\"/campaigns/{campaign}\"]"))
        .await;
    browser
        .wait_for_url(&format!("/campaigns/{campaign}"))
        .await;
    browser.screenshot("campaign-draft").await;
    browser.click("form[action$=\"/act\"] button").await;
    // Back on its page, the campaign live (the grid then shows it sending).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
        if c["status"] != "draft" {
            break;
        }
        assert!(Instant::now() < deadline, "still a draft: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser
        .wait_for_url(&format!("/campaigns/{campaign}"))
        .await;

    // The grid, loaded once while the campaign sends, follows it to the end.
    browser.goto(&format!("{}/campaigns", herald.base)).await;
    let first = browser.text("#grid td.progress").await;
    let done = format!("{MEMBERS} / {MEMBERS} · 100%");
    assert_ne!(first, done, "loaded before the last message went");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = browser.text("#grid td.progress").await;
        if shown == done {
            break;
        }
        assert!(Instant::now() < deadline, "the grid shows {shown:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Completed once the receipts are in (the next refresh shows it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while browser.text("#grid td.status").await != "Completed" {
        assert!(Instant::now() < deadline, "not completed in the grid");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.screenshot("campaigns-completed").await;
    browser
        .goto(&format!("{}/campaigns/{campaign}", herald.base))
        .await;
    assert_eq!(
        browser.text("#members tbody tr td:nth-child(2)").await,
        "delivered"
    );
    browser.screenshot("campaign-completed").await;
    // A member's page: its delivered history.
    browser.click("#members tbody tr td a").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !browser.url().await.contains("/members/") {
        assert!(Instant::now() < deadline, "not on a member's page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while browser.text("#member-status").await != "delivered" {
        assert!(
            Instant::now() < deadline,
            "the member page shows no delivery"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!browser.text("#history td.kind").await.is_empty());
    let saved = browser.screenshot("member").await;
    eprintln!("screens saved beside {}", saved.display());
}
