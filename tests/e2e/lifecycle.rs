//! Campaign lifecycle through the API: refused transitions name the allowed
//! actions, edits narrow once live, duplicate / archive / delete, and retry
//! failed re-sends only the members that failed with a retryable cause.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending, twilio_inbound};

async fn refused_actions_name_the_allowed_ones(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("7200", 2, 630)).await;
    let campaign = api.campaign(channel, list, "Hi").await;
    let (_, c) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(c["status"], "draft");
    assert_eq!(
        c["allowed_actions"],
        json!(["edit", "go_live", "schedule", "cancel", "delete"])
    );

    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/pause"))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "transition_refused");
    assert_eq!(
        body["error"]["allowed_actions"],
        json!(["edit", "go_live", "schedule", "cancel", "delete"])
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot pause a campaign that is draft")
            && message.contains("go_live, schedule, cancel, delete"),
        "{message}"
    );

    // A draft edits everything: the new body is what gets sent.
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{campaign}"),
            json!({ "body": "Edited {{first_name}}", "notes": "from the draft" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["body"], "Edited {{first_name}}");
    let (status, body) = api
        .patch(&format!("/v1/campaigns/{campaign}"), json!({ "body": "" }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("body")),
        "{body}"
    );

    crate::support::run(&api, campaign, Duration::from_secs(30)).await;
    assert!(
        sim.messages()
            .iter()
            .all(|m| m.body == "Edited C0" || m.body == "Edited C1")
    );

    // Completed: read-only, and go live is one-way.
    let (status, body) = api
        .patch(&format!("/v1/campaigns/{campaign}"), json!({ "name": "x" }))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["allowed_actions"],
        json!(["retry_failed", "archive", "delete"])
    );
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 409, "{body}");
}
both_backends!(refused_actions_name_the_allowed_ones);

async fn live_edits_duplicate_archive_delete(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("7300", 2, 640)).await;
    // Under review, so it stays running with nothing sent.
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "Spring Sale", "channel_id": channel, "list_id": list,
                    "body": "Sale!", "manual_review": true, "tags": ["VIP", "q2"],
                    "notes": "first try" }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["tags"], json!(["spring-sale", "vip", "q2"]));
    let campaign = c["id"].as_i64().unwrap();
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;

    // Live: name, notes and tags only.
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{campaign}"),
            json!({ "name": "Spring Sale EU", "tags": ["vip"] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tags"], json!(["spring-sale-eu", "vip"]));
    let (status, body) = api
        .patch(
            &format!("/v1/campaigns/{campaign}"),
            json!({ "body": "changed" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["editable_fields"],
        json!(["name", "notes", "tags", "schedule"])
    );
    let (status, body) = api.delete(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 409, "a running campaign is not deleted: {body}");
    assert!(
        !body["error"]["allowed_actions"]
            .as_array()
            .unwrap()
            .contains(&json!("delete"))
    );

    // Cancel -> archive; a copy is a new draft with the same settings.
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/cancel"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/archive"))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("archived")),
        "{body}"
    );
    let (status, copy) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/duplicate"))
        .await;
    assert_eq!(status, 201, "{copy}");
    assert_eq!(copy["status"], "draft");
    assert_eq!(copy["name"], "Spring Sale EU (copy)");
    assert_eq!(copy["body"], "Sale!");
    assert_eq!(copy["manual_review"], true);
    assert_eq!(copy["notes"], "first try");
    assert_eq!(
        copy["tags"],
        json!(["spring-sale-eu", "vip"]),
        "tags as they are"
    );
    assert!(
        api.all_members(copy["id"].as_i64().unwrap())
            .await
            .is_empty()
    );

    // Archived campaigns may be deleted, with their members.
    let (status, _) = api.delete(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 404);
    assert_eq!(sim.stats().accepted, 0);
}
both_backends!(live_edits_duplicate_archive_delete);

async fn retry_failed_resends_only_retryable_failures_once(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let ok = numbers_ending("7400", 3, 650);
    // Refused outright (invalid number): not retryable.
    let invalid = numbers_ending("0001", 2, 660);
    // Accepted, then failed (carrier error): retryable.
    let failed = numbers_ending("0003", 2, 670);
    let all: Vec<String> = [ok.clone(), invalid.clone(), failed.clone()].concat();
    let list = api.list_with(&all).await;
    let campaign = api.campaign(channel, list, "Hi").await;
    crate::support::run(&api, campaign, Duration::from_secs(30)).await;
    assert!(failed.iter().all(|n| sim.sends_to(n) == 1));

    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/retry-failed"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        matches!(body["status"].as_str(), Some("retrying" | "completed")),
        "{body}"
    );
    api.wait_status(campaign, "completed", Duration::from_secs(30))
        .await;
    for n in &failed {
        assert_eq!(sim.sends_to(n), 2, "{n}: retried exactly once");
    }
    for n in &ok {
        assert_eq!(sim.sends_to(n), 1, "{n}: delivered members are not resent");
    }
    // The members grid filters by what it shows and by address.
    let path = format!("/v1/campaigns/{campaign}/members");
    let (status, page) = api.get(&format!("{path}?display_status=failed")).await;
    assert_eq!(status, 200, "{page}");
    let shown: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = invalid.iter().chain(&failed).map(String::as_str).collect();
    expected.sort_unstable();
    let mut got = shown.clone();
    got.sort_unstable();
    assert_eq!(got, expected, "{page}");
    let one = ok[0].replace('+', "%2B");
    let (_, page) = api.get(&format!("{path}?address={one}")).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["address"], ok[0].as_str(), "{page}");
    let (status, body) = api.get(&format!("{path}?display_status=nope")).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("display_status")),
        "{body}"
    );

    let members = api.all_members(campaign).await;
    for m in &members {
        let to = m["address"].as_str().unwrap();
        let attempts = m["attempts"].as_i64().unwrap();
        // Final: nothing more to try, and a failure shows as one.
        assert!(m["next_attempt_at"].is_null(), "{m}");
        let shown = if m["status"] == "failed" {
            "failed"
        } else {
            "completed"
        };
        assert_eq!(m["display_status"], shown, "{m}");
        if invalid.iter().any(|n| n == to) {
            assert_eq!((m["status"].as_str(), attempts), (Some("failed"), 1), "{m}");
        } else if failed.iter().any(|n| n == to) {
            assert_eq!((m["status"].as_str(), attempts), (Some("failed"), 2), "{m}");
        }
    }
}
both_backends!(retry_failed_resends_only_retryable_failures_once);

async fn the_list_filters_paginates_and_tags_carry_to_conversations(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending("7500", 2, 680);
    let list = api.list_with(&numbers).await;
    let mut ids = Vec::new();
    for (name, tags) in [
        ("Spring promo", json!(["vip"])),
        ("Summer promo", json!([])),
        ("Autumn notice", json!(["vip"])),
        ("Winter 50% promo", json!([])),
        ("Spring follow-up", json!([])),
    ] {
        let (status, c) = api
            .post(
                "/v1/campaigns",
                json!({ "name": name, "channel_id": channel, "list_id": list,
                        "body": "Hi", "tags": tags }),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        ids.push(c["id"].as_i64().unwrap());
    }
    crate::support::run(&api, ids[0], Duration::from_secs(30)).await;

    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = api.get("/v1/campaigns?name=PROMO").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        names(&page),
        ["Winter 50% promo", "Summer promo", "Spring promo"]
    );
    assert_eq!(page["total"], 3);
    let (_, page) = api.get("/v1/campaigns?name=50%25").await;
    assert_eq!(names(&page), ["Winter 50% promo"], "% is matched literally");
    let (_, page) = api.get("/v1/campaigns?tag=VIP").await;
    assert_eq!(names(&page), ["Autumn notice", "Spring promo"]);
    let (_, page) = api.get("/v1/campaigns?tag=spring-follow-up").await;
    assert_eq!(
        names(&page),
        ["Spring follow-up"],
        "the default tag filters too"
    );
    let (_, page) = api.get("/v1/campaigns?status=completed&type=sms").await;
    assert_eq!(names(&page), ["Spring promo"]);
    let row = &page["items"][0];
    assert_eq!(row["target"], 2);
    assert_eq!(row["sent"], 2);
    assert_eq!(row["delivered"], 2);
    assert_eq!(row["percent"], 100.0);
    assert_eq!(row["result"], "0/2");
    assert_eq!(row["list_name"], "audience");
    crate::support::at_ms(&row["started_at"]);
    crate::support::at_ms(&row["created_at"]);
    let (_, page) = api.get("/v1/campaigns?type=voice").await;
    assert_eq!(page["total"], 0);
    let (status, body) = api.get("/v1/campaigns?status=sleeping").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("status"))
    );

    // Two per page, by cursor and by page number, with the total.
    let (_, first) = api.get("/v1/campaigns?limit=2").await;
    assert_eq!(first["total"], 5);
    assert_eq!(names(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = api
        .get(&format!("/v1/campaigns?limit=2&cursor={cursor}"))
        .await;
    let (_, page2) = api.get("/v1/campaigns?limit=2&page=2").await;
    assert_eq!(names(&second), names(&page2));
    let (_, third) = api.get("/v1/campaigns?limit=2&page=3").await;
    assert_eq!(names(&third), ["Spring promo"]);
    assert!(third["next_cursor"].is_null());

    // A reply lands in a conversation carrying the campaign's tags.
    let status = twilio_inbound(&herald, &sim, channel, "SMreply1", &numbers[0], "thanks").await;
    assert_eq!(status, 200);
    let member = api
        .all_members(ids[0])
        .await
        .into_iter()
        .find(|m| m["address"] == numbers[0].as_str())
        .unwrap();
    let (_, conversation) = api
        .get(&format!(
            "/v1/campaigns/{}/members/{}/conversation",
            ids[0], member["id"]
        ))
        .await;
    let reply = conversation["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["direction"] == "in")
        .expect("reply recorded");
    assert_eq!(reply["tags"], json!(["spring-promo", "vip"]));
}
both_backends!(the_list_filters_paginates_and_tags_carry_to_conversations);

/// Cancel under a paced campaign whose provider answers slowly: the calls
/// under way finish, and within a second of their answers every member
/// that was not sent is `cancelled`, including those whose call ended in
/// a retry (429) after the cancel; nothing more reaches the provider.
async fn cancel_leaves_no_member_waiting(backend: Backend) {
    let sim = Simulator::start(SimConfig {
        response_delay: Duration::from_millis(800),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    api.set_rate(channel, 5).await;
    // First in line: answered "429, retry later" after 800 ms.
    let limited = numbers_ending("0429", 10, 700);
    let rest = numbers_ending("7500", 10, 710);
    let list = api.list_with(&[limited.clone(), rest].concat()).await;
    let campaign = api.campaign(channel, list, "Hi").await;
    api.post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    // Some calls under way: the provider has seen requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sim.stats().requests < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sim.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = api
        .post_empty(&format!("/v1/campaigns/{campaign}/cancel"))
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    // The calls under way answer within 800 ms; a second for their outcomes.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let requests = sim.stats().requests;
    let members = api.all_members(campaign).await;
    let mut cancelled = 0;
    for m in &members {
        match m["status"].as_str().unwrap() {
            "cancelled" => cancelled += 1,
            "sent" | "delivered" => {}
            other => panic!("member left {other}: {m}"),
        }
    }
    assert!(cancelled >= 15, "{cancelled} cancelled: {members:?}");
    let retried_then_cancelled = members
        .iter()
        .filter(|m| m["status"] == "cancelled" && m["attempts"].as_i64() > Some(0))
        .count();
    assert!(
        retried_then_cancelled > 0,
        "a call under way at the cancel ended in a retry: {members:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sim.stats().requests,
        requests,
        "nothing sent after the cancel"
    );
}
both_backends!(cancel_leaves_no_member_waiting);
