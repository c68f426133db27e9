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
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald, numbers_ending};
use crate::support::{channel, twilio_config, whatsapp_channel};
use crate::webdriver::{self, Browser};

/// A signed-in console session over plain HTTP (redirects not followed).
struct Console {
    base: String,
    http: reqwest::Client,
    cookie: String,
}

impl Console {
    async fn sign_in(herald: &Herald, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/login", herald.base))
            .form(&[("key", key)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signed in");
        let set = r.headers()[SET_COOKIE].to_str().unwrap();
        Self {
            base: herald.base.clone(),
            http,
            cookie: set.split(';').next().unwrap().to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts a form; answers the status, the redirect target (if any) and
    /// the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let to = r
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, to, r.text().await.unwrap())
    }
}

/// The CSRF token a page's forms carry.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF token") + 19;
    html[at..at + 64].to_owned()
}

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

fn skipped() -> bool {
    if webdriver::available() {
        return false;
    }
    eprintln!(
        "SKIPPED: {} or {} missing (./dev.sh test installs Debian's chromium and chromium-driver)",
        webdriver::CHROMIUM,
        webdriver::CHROMEDRIVER
    );
    true
}

async fn signed_in_browser(herald: &Herald, key: &str) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&format!("{}/login", herald.base)).await;
    browser.type_into("#key", key).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_url("/campaigns").await;
    browser
}

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
    let browser = signed_in_browser(&herald, &api.key).await;

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
    let browser = signed_in_browser(&herald, &api.key).await;

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
