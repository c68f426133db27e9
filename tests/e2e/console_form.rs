//! The console's campaign form, review queue and performance tab (issue
//! 15). Over HTTP on both backends: the form shows the API's refusals
//! beside their fields with the input kept, creates and edits drafts and
//! goes live; the review queue approves, edits and executes through the
//! API's logic; every post needs the session's CSRF token; another
//! tenant's pages are 404; uPlot is served from the binary. In Chromium:
//! the type select shows and hides its fields, a missing body is named
//! beside the body, the queue's buttons work, and the performance charts
//! are drawn. Screens are saved under target/console-screens/.

use std::time::{Duration, Instant};

use herald_sim::{SimConfig, Simulator};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::both_backends;
use crate::console_client::{Console, csrf};
use crate::harness::{Api, Backend, Herald, numbers_ending};
use crate::support::{channel, twilio_config, whatsapp_channel};

mod browser;
mod review;

/// The text of the error shown beside `slot`, if any.
fn error_beside(html: &str, slot: &str) -> Option<String> {
    let tag = format!("id=\"error-{slot}\"");
    let at = html.find(&tag)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find("</p>")?;
    Some(html[start..end].to_owned())
}

/// Waits until every member of `campaign` is in `status`.
async fn members_in(api: &Api, campaign: i64, status: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members = api.all_members(campaign).await;
        if members.len() == count && members.iter().all(|m| m["status"] == status) {
            return members;
        }
        assert!(Instant::now() < deadline, "not all {status}: {members:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running manual-review campaign whose members all await approval.
async fn reviewed_campaign(api: &Api, channel: i64, list: i64, members: usize) -> i64 {
    let (status, c) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "Reviewed", "channel_id": channel, "list_id": list,
                    "body": "Hello {{first_name}}", "manual_review": true }),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (status, c) = api.post_empty(&format!("/v1/campaigns/{id}/go-live")).await;
    assert_eq!(status, 200, "{c}");
    members_in(api, id, "awaiting_approval", members).await;
    id
}

async fn the_form_shows_the_apis_refusals_and_saves_drafts(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let sms = api.sim_channel(&sim, "twilio-sms").await;
    let (config, secrets) = twilio_config(&sim);
    let voice = channel(&api, "twilio-voice", "+15005550006", config, secrets).await;
    let list = api.list_with(&numbers_ending("6100", 2, 600)).await;
    let console = Console::sign_in(&herald, &api.key).await;

    // The grid offers the form; the form offers each channel with the
    // types its plugin serves.
    let (_, grid) = console.get("/campaigns").await;
    assert!(grid.contains("href=\"/campaigns/new\""), "{grid}");
    let (status, form) = console.get("/campaigns/new").await;
    assert_eq!(status, 200);
    assert!(
        form.contains(&format!("value=\"{sms}\" data-kinds=\"sms\"")),
        "{form}"
    );
    assert!(
        form.contains(&format!("value=\"{voice}\" data-kinds=\"voice\"")),
        "{form}"
    );
    // Without script every type's fieldset shows.
    assert!(
        form.contains("<noscript><style>fieldset[data-kind][hidden]"),
        "{form}"
    );
    for kind in ["sms", "whatsapp", "voice", "email"] {
        assert!(
            form.contains(&format!("data-kind=\"{kind}\"")),
            "{kind} fieldset"
        );
    }
    let token = csrf(&form);
    let (sms_s, list_s) = (sms.to_string(), list.to_string());
    let base = |name: &'static str| {
        vec![
            ("name", name),
            ("type", "sms"),
            ("channel_id", sms_s.as_str()),
            ("list_id", list_s.as_str()),
        ]
    };

    // Without the session's token nothing is created.
    let mut no_token = base("Forged");
    no_token.push(("body", "Hi"));
    assert_eq!(console.post("/campaigns/new", &no_token).await.0, 403);
    let mut forged = no_token.clone();
    let zeros = "0".repeat(64);
    forged.push(("csrf", &zeros));
    assert_eq!(console.post("/campaigns/new", &forged).await.0, 403);
    let (_, listed) = api.get("/v1/campaigns").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");

    // Going live with no body: refused beside the body, the input kept.
    let mut missing = base("Kept name");
    missing.extend([
        ("csrf", token.as_str()),
        ("intent", "go_live"),
        ("tags", "spring, vip"),
    ]);
    let (status, _, page) = console.post("/campaigns/new", &missing).await;
    assert_eq!(status, 400, "{page}");
    let why = error_beside(&page, "body").expect("an error beside the body");
    assert!(why.contains("body"), "{why}");
    assert!(page.contains("value=\"Kept name\""), "the name is kept");
    assert!(page.contains("value=\"spring, vip\""), "the tags are kept");
    assert!(page.contains("aria-describedby=\"error-body\""), "{page}");
    // An empty name, a voice setting out of range, a past start: each
    // beside its own field.
    let mut unnamed = base("");
    unnamed.extend([("csrf", token.as_str()), ("body", "Hi")]);
    let (status, _, page) = console.post("/campaigns/new", &unnamed).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "name").is_some(), "{page}");
    let voice_s = voice.to_string();
    let retries = [
        ("csrf", token.as_str()),
        ("name", "Calls"),
        ("type", "voice"),
        ("channel_id", voice_s.as_str()),
        ("list_id", list_s.as_str()),
        ("queue", "sales"),
        ("max_retries", "99"),
        // Another type's input is ignored, not refused.
        ("body", "left over from SMS"),
    ];
    let (status, _, page) = console.post("/campaigns/new", &retries).await;
    assert_eq!(status, 422, "{page}");
    let why = error_beside(&page, "max_retries").expect("beside max_retries");
    assert!(why.contains("out of range"), "{why}");
    let mut past = base("Past");
    past.extend([
        ("csrf", token.as_str()),
        ("body", "Hi"),
        ("scheduled_at", "2020-01-01T09:00"),
    ]);
    let (status, _, page) = console.post("/campaigns/new", &past).await;
    assert_eq!(status, 422);
    assert!(
        error_beside(&page, "scheduled_at")
            .unwrap()
            .contains("past"),
        "{page}"
    );
    let mut wrong_kind = base("Wrong channel");
    wrong_kind[2].1 = voice_s.as_str();
    wrong_kind.extend([("csrf", token.as_str()), ("body", "Hi")]);
    let (status, _, page) = console.post("/campaigns/new", &wrong_kind).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "channel_id").is_some(), "{page}");

    // A valid draft: saved as the API would, then shown on its page.
    let mut good = base("Spring sale");
    good.extend([
        ("csrf", token.as_str()),
        ("intent", "draft"),
        ("body", "Hello {{first_name}}"),
        ("tags", "spring, vip"),
        ("notes", "for the spring list"),
        ("manual_review", "on"),
        ("calling_start", "09:00"),
        ("calling_end", "17:00"),
        ("follow_up_1_days", "2"),
        ("follow_up_1_body", "Still interested?"),
    ]);
    let (status, to, page) = console.post("/campaigns/new", &good).await;
    assert_eq!(status, 303, "{page}");
    let id: i64 = to.rsplit('/').next().unwrap().parse().unwrap();
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (&c["status"], &c["body"], &c["manual_review"], &c["notes"]),
        (
            &json!("draft"),
            &json!("Hello {{first_name}}"),
            &json!(true),
            &json!("for the spring list")
        ),
        "{c}"
    );
    assert_eq!(c["tags"], json!(["spring-sale", "spring", "vip"]), "{c}");
    assert_eq!(c["calling_hours"]["start"], "09:00", "{c}");
    assert_eq!(c["follow_ups"][0]["after_days"], 2, "{c}");
    let (_, detail) = console.get(&to).await;
    assert!(
        detail.contains(&format!("href=\"/campaigns/{id}/edit\"")),
        "an Edit link"
    );
    assert!(
        detail.contains(&format!("href=\"/campaigns/{id}/review\"")),
        "a review link"
    );
    // Its other pages say what comes next while it is a draft.
    let (status, perf) = console.get(&format!("/campaigns/{id}/performance")).await;
    assert_eq!(status, 200);
    assert!(perf.contains("Nothing sent yet"), "{perf}");
    assert!(!perf.contains("perf-data"), "no chart without data");
    let (status, queue) = console.get(&format!("/campaigns/{id}/review")).await;
    assert_eq!(status, 200);
    assert!(queue.contains("Nothing to review yet"), "{queue}");

    // Its edit form shows it; switching it to voice drops the SMS fields.
    let (status, edit) = console.get(&format!("/campaigns/{id}/edit")).await;
    assert_eq!(status, 200);
    assert!(edit.contains("Hello {{first_name}}"), "{edit}");
    assert!(edit.contains("value=\"spring, vip\""), "{edit}");
    let edit_path = format!("/campaigns/{id}/edit");
    let to_voice = [
        ("csrf", token.as_str()),
        ("name", "Spring calls"),
        ("type", "voice"),
        ("channel_id", voice_s.as_str()),
        ("list_id", list_s.as_str()),
        ("queue", "sales"),
        ("amd_enabled", "on"),
        ("amd_action", "voicemail"),
        ("voicemail_message", "Call us back"),
    ];
    let (status, _, page) = console.post(&edit_path, &to_voice).await;
    assert_eq!(status, 303, "{page}");
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (&c["type"], &c["queue"], &c["name"]),
        (&json!("voice"), &json!("sales"), &json!("Spring calls")),
        "{c}"
    );
    assert!(c.get("body").is_none_or(Value::is_null), "{c}");
    assert_eq!(c["tags"], json!(["spring-calls"]), "cleared: {c}");
    // An edit's refusal is beside its field too, and changes nothing.
    let mut no_queue = to_voice.to_vec();
    no_queue.retain(|(k, _)| *k != "queue");
    let (status, _, page) = console.post(&edit_path, &no_queue).await;
    assert_eq!(status, 400, "{page}");
    assert!(error_beside(&page, "queue").is_some(), "{page}");
    // Back to SMS and live in one go: it leaves the form for its page.
    let mut live = base("Spring sale");
    live.extend([
        ("csrf", token.as_str()),
        ("intent", "go_live"),
        ("body", "Hi {{first_name}}"),
    ]);
    let (status, to, page) = console.post(&edit_path, &live).await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/campaigns/{id}").as_str()),
        "{page}"
    );
    let (_, c) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_ne!(c["status"], "draft", "{c}");
    // Live: no longer a draft to edit.
    assert_eq!(console.get(&edit_path).await.0, 409);
    assert_eq!(console.post(&edit_path, &live).await.0, 409);

    // Another tenant's session: the pages and posts are 404.
    let other = herald.new_tenant("other").await;
    let stranger = Console::sign_in(&herald, &other.key).await;
    let (_, own) = stranger.get("/campaigns/new").await;
    let theirs = csrf(&own);
    for path in ["edit", "review", "performance", "review/1/edit"] {
        let (status, page) = stranger.get(&format!("/campaigns/{id}/{path}")).await;
        assert_eq!(status, 404, "{path}: {page}");
    }
    for path in [
        "edit",
        "review/approve",
        "review/execute",
        "review/1/approve",
        "review/1/edit",
    ] {
        let (status, ..) = stranger
            .post(
                &format!("/campaigns/{id}/{path}"),
                &[("csrf", &theirs), ("scope", "all")],
            )
            .await;
        assert_eq!(status, 404, "{path}");
    }
    // The stranger's form does not offer this tenant's channels or lists.
    assert!(
        !own.contains(&format!("value=\"{sms}\" data-kinds")),
        "{own}"
    );
}
both_backends!(the_form_shows_the_apis_refusals_and_saves_drafts);

async fn whatsapp_templates_are_picked_from_the_channels_synced_ones(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let wa = whatsapp_channel(&api, &sim, &herald).await;
    let list = api.list_with(&numbers_ending("6600", 1, 600)).await;
    let console = Console::sign_in(&herald, &api.key).await;
    // Before a sync the picker has nothing to offer, and says how to fix it.
    let (_, form) = console.get("/campaigns/new").await;
    assert!(form.contains("No template synced yet"), "{form}");
    let (status, synced) = api
        .post_empty(&format!("/v1/channels/{wa}/templates/sync"))
        .await;
    assert_eq!(status, 200, "{synced}");
    let (_, form) = console.get("/campaigns/new").await;
    // The channel's templates, each tagged with its channel; one not
    // approved is shown but cannot be picked.
    assert!(
        form.contains(&format!(
            "value=\"order_update|en_US\" data-channel=\"{wa}\">"
        )),
        "{form}"
    );
    assert!(
        form.contains(&format!(
            "value=\"new_feature|en_US\" data-channel=\"{wa}\" disabled"
        )),
        "{form}"
    );
    let token = csrf(&form);
    let (wa_s, list_s) = (wa.to_string(), list.to_string());
    let mut fields = vec![
        ("csrf", token.as_str()),
        ("name", "Order updates"),
        ("type", "whatsapp"),
        ("channel_id", wa_s.as_str()),
        ("list_id", list_s.as_str()),
        ("template", "order_update|en_US"),
        ("template_parameters", "first_name"),
    ];
    // One of its two parameters unmapped: refused beside the template.
    let (status, _, page) = console.post("/campaigns/new", &fields).await;
    assert_eq!(status, 422, "{page}");
    assert!(error_beside(&page, "template").is_some(), "{page}");
    assert!(
        page.contains("value=\"first_name\""),
        "the parameters are kept"
    );
    fields[6].1 = "first_name, =A-100";
    let (status, to, page) = console.post("/campaigns/new", &fields).await;
    assert_eq!(status, 303, "{page}");
    let (_, c) = api
        .get(&format!("/v1/campaigns/{}", to.rsplit('/').next().unwrap()))
        .await;
    assert_eq!(
        c["template"],
        json!({ "name": "order_update", "language": "en_US", "header_media_id": null,
                "parameters": [{ "field": "first_name" }, { "literal": "A-100" }] }),
        "{c}"
    );
}
both_backends!(whatsapp_templates_are_picked_from_the_channels_synced_ones);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplot_is_served_from_the_binary() {
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let http = reqwest::Client::new();
    for (path, kind, start) in [
        (
            "/assets/uplot-1.6.32.min.js",
            "text/javascript",
            "/*! https://github.com/leeoniya/uPlot (v1.6.32) */",
        ),
        ("/assets/uplot-1.6.32.min.css", "text/css", ".uplot"),
    ] {
        let r = http
            .get(format!("{}{path}", herald.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            r.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(r.text().await.unwrap().starts_with(start), "{path}");
    }
}
