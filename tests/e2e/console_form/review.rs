//! The review queue over HTTP, on both backends: approve one, edit one,
//! approve a selection and all, execute the approved; every post needs
//! the session's CSRF token.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use super::{error_beside, members_in, reviewed_campaign};
use crate::both_backends;
use crate::console_client::{Console, csrf};
use crate::harness::{Backend, Herald, numbers_ending};

async fn the_review_queue_approves_edits_and_executes(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let numbers = numbers_ending("6200", 3, 600);
    let list = api.list_with(&numbers).await;
    let campaign = reviewed_campaign(&api, sms, list, 3).await;
    let console = Console::sign_in(&herald, &api.key).await;
    let queue_path = format!("/campaigns/{campaign}/review");

    let (status, queue) = console.get(&queue_path).await;
    assert_eq!(status, 200);
    assert_eq!(queue.matches("<tr data-member=").count(), 3, "{queue}");
    // Each with its message as it will be sent.
    assert!(queue.contains("Hello C0"), "{queue}");
    let token = csrf(&queue);
    let members = api.all_members(campaign).await;
    let ids: Vec<String> = members.iter().map(|m| m["id"].to_string()).collect();

    // Every post needs the token.
    for path in ["review/approve", "review/execute"] {
        let path = format!("/campaigns/{campaign}/{path}");
        assert_eq!(
            console.post(&path, &[("scope", "all")]).await.0,
            403,
            "{path}"
        );
    }
    let one = format!("/campaigns/{campaign}/review/{}", ids[0]);
    assert_eq!(console.post(&format!("{one}/approve"), &[]).await.0, 403);
    assert_eq!(
        console
            .post(&format!("{one}/edit"), &[("body", "x")])
            .await
            .0,
        403
    );
    members_in(&api, campaign, "awaiting_approval", 3).await;

    // Edit one: an empty body is refused beside it; a new one is saved.
    let (status, edit) = console.get(&format!("{one}/edit")).await;
    assert_eq!(status, 200);
    assert!(edit.contains("Hello {{first_name}}"), "{edit}");
    let (status, _, page) = console
        .post(
            &format!("{one}/edit"),
            &[("csrf", &token), ("body", "Hi {{frist_name}}")],
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(error_beside(&page, "body").is_some(), "{page}");
    assert!(page.contains("Hi {{frist_name}}"), "the input is kept");
    let (status, to, _) = console
        .post(
            &format!("{one}/edit"),
            &[("csrf", &token), ("body", "A note for {{first_name}}")],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{queue_path}?done=edited").as_str())
    );
    let (_, queue) = console.get(&to).await;
    assert!(queue.contains("A note for C"), "{queue}");
    assert!(queue.contains("Edited"), "{queue}");

    // Approve that one, then the second as a selection.
    let (status, to, _) = console
        .post(&format!("{one}/approve"), &[("csrf", &token)])
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{queue_path}?done=approved-1").as_str())
    );
    // Approving it again: refused, said on a page.
    let (status, _, page) = console
        .post(&format!("{one}/approve"), &[("csrf", &token)])
        .await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("not awaiting approval"), "{page}");
    let (status, to, _) = console
        .post(
            &queue_path.replace("/review", "/review/approve"),
            &[
                ("csrf", &token),
                ("scope", "selected"),
                ("member_ids", &ids[1]),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{queue_path}?done=approved-1").as_str())
    );
    let members = api.all_members(campaign).await;
    let status_of = |i: usize| {
        members
            .iter()
            .find(|m| m["id"].as_i64() == ids[i].parse().ok())
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        (status_of(0), status_of(1), status_of(2)),
        (
            json!("approved"),
            json!("approved"),
            json!("awaiting_approval")
        )
    );

    // Execute the approved: those two are sent, the edit as edited.
    let (status, to, _) = console
        .post(
            &format!("/campaigns/{campaign}/review/execute"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{queue_path}?done=executed-2").as_str())
    );
    assert!(
        sim.wait_for(Duration::from_secs(20), |s| s.accepted >= 2)
            .await,
        "executed sends"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = sim.messages();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().any(|m| m.body.starts_with("A note for C")),
        "{sent:?}"
    );
    // Approve all: the last one.
    let (status, to, _) = console
        .post(
            &queue_path.replace("/review", "/review/approve"),
            &[("csrf", &token), ("scope", "all")],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("{queue_path}?done=approved-1").as_str())
    );
    let (_, queue) = console.get(&queue_path).await;
    assert!(queue.contains("Nothing awaits approval"), "{queue}");
}
both_backends!(the_review_queue_approves_edits_and_executes);
