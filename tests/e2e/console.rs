//! The console over HTTP (issue 15, its first screens): signing in sets a
//! session cookie (HttpOnly, SameSite=Strict), the campaign grid and a
//! campaign's page show what the API holds, a form post needs the
//! session's CSRF token, a campaign goes live from its page and the grid's
//! live rows follow it to the end, another tenant's campaign is a 404, and
//! signing out ends the session.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::console_client::{Session, csrf, location};
use crate::harness::{ADMIN_KEY, Backend, Herald, numbers_ending};

async fn named_campaign(api: &crate::api_client::Api, channel: i64, list: i64, name: &str) -> i64 {
    let (status, c) = api
        .post(
            "/v1/campaigns",
            serde_json::json!({ "name": name, "channel_id": channel, "list_id": list, "body": "Hi" }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    c["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_signs_in_and_runs_a_campaign_from_the_console() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("4100", 3, 600)).await;
    let campaign = named_campaign(&api, channel, list, "Spring sale").await;
    let other = herald.new_tenant("other").await;
    let other_channel = other.sim_channel(&sim, "twilio-sms").await;
    let other_list = other.list_with(&numbers_ending("4200", 1, 600)).await;
    let foreign = named_campaign(&other, other_channel, other_list, "Not yours").await;

    let mut browser = Session::new(&herald);
    // Not signed in: every page leads to the sign-in page.
    let r = browser.get("/").await;
    assert_eq!(location(&r), "/campaigns");
    let r = browser.get("/campaigns").await;
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/login"));
    let r = browser.post("/login", &[("key", "hrld_wrong")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("not a tenant's API key"));

    let cookie = browser.sign_in(&api.key).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(&api.key), "the key is not the cookie");

    // The grid: the campaign with its type and status badges and progress.
    let grid = browser.page("/campaigns").await;
    assert!(grid.contains("Spring sale"), "{grid}");
    assert!(grid.contains("badge t-sms"), "{grid}");
    assert!(grid.contains("data-status=\"draft\""), "{grid}");
    assert!(
        grid.contains("0 / 0 · 0%"),
        "a draft has no members yet: {grid}"
    );
    assert!(
        !grid.contains("Not yours"),
        "another tenant's campaign listed"
    );
    let r = browser.get(&format!("/campaigns/{foreign}")).await;
    assert_eq!(r.status(), 404, "another tenant's campaign page");

    // Its page offers what its status allows; a post without the session's
    // CSRF token changes nothing.
    let detail = browser.page(&format!("/campaigns/{campaign}")).await;
    assert!(detail.contains("Go live"), "{detail}");
    let token = csrf(&detail);
    let act = format!("/campaigns/{campaign}/act");
    let r = browser.post(&act, &[("action", "go_live")]).await;
    assert_eq!(r.status(), 403);
    let r = browser
        .post(&act, &[("action", "go_live"), ("csrf", &"0".repeat(64))])
        .await;
    assert_eq!(r.status(), 403);
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "draft", "{c}");

    let r = browser
        .post(&act, &[("action", "go_live"), ("csrf", &token)])
        .await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, format!("/campaigns/{campaign}").as_str())
    );
    // The grid's live rows follow it to the end.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows: Value = browser.get("/campaigns/live").await.json().await.unwrap();
        let row = &rows[0];
        if row["status"] == "completed" && row["sent"] == 3 {
            assert!(
                row["progress_html"].as_str().unwrap().contains("3 / 3"),
                "{row}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{rows}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let detail = browser.page(&format!("/campaigns/{campaign}")).await;
    assert!(detail.contains("data-status=\"completed\""), "{detail}");
    assert_eq!(detail.matches("<tr data-member=").count(), 3, "{detail}");
    // A member's page: its delivered history.
    let at = detail.find("/members/").expect("a member link");
    let member_path = format!(
        "/campaigns/{campaign}{}",
        &detail[at..at + detail[at..].find('"').unwrap()]
    );
    let member = browser.page(&member_path).await;
    assert!(
        member.contains("<strong id=\"member-status\">delivered</strong>"),
        "{member}"
    );
    assert!(member.contains("<td class=\"kind\">"), "{member}");
    let r = browser
        .get(&format!("/campaigns/{foreign}/members/1"))
        .await;
    assert_eq!(r.status(), 404, "another tenant's member");
    // Its members filter by status.
    let delivered = browser
        .page(&format!("/campaigns/{campaign}?status=delivered"))
        .await;
    assert_eq!(delivered.matches("<tr data-member=").count(), 3);
    let failed = browser
        .page(&format!("/campaigns/{campaign}?status=failed"))
        .await;
    assert!(failed.contains("No member has this status"), "{failed}");
    // Duplicate makes a draft copy; Delete removes it.
    let r = browser
        .post(&act, &[("action", "duplicate"), ("csrf", &token)])
        .await;
    let copy_page = location(&r).to_owned();
    let copy = browser.page(&copy_page).await;
    assert!(copy.contains("Spring sale (copy)"), "{copy}");
    assert!(copy.contains("data-status=\"draft\""), "{copy}");
    let r = browser
        .post(
            &format!("{copy_page}/act"),
            &[("action", "delete"), ("csrf", &token)],
        )
        .await;
    assert_eq!(location(&r), "/campaigns");
    assert_eq!(browser.get(&copy_page).await.status(), 404);
    // Filters narrow the grid; an empty result says so.
    let drafts = browser.page("/campaigns?status=draft").await;
    assert!(drafts.contains("No campaign matches"), "{drafts}");

    // Signing out ends the session on the server, not only in the browser.
    let old = browser.cookie.clone();
    let r = browser.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(location(&r), "/login");
    browser.cookie = old;
    let r = browser.get("/campaigns").await;
    assert_eq!(location(&r), "/login");

    // The admin signs in to the plugins.
    let mut admin = Session::new(&herald);
    admin.sign_in(ADMIN_KEY).await;
    let plugins = admin.page("/plugins").await;
    assert!(plugins.contains("twilio-sms"), "{plugins}");
}
