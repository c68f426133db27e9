//! A contact without a value a message uses: the campaign's preview counts
//! them before it goes live; `skip_member` (the default) fails them with
//! `missing_field:NAME` and sends nothing, `render_empty` sends the empty
//! text, and a `default` filter covers the value either way. For SMS, email
//! (whose HTML part escapes contact values) and WhatsApp templates.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Api, Backend, Herald};
use crate::support::{channel, create, list_of, run, twilio_config, whatsapp_channel};

/// Ana has everything, Bo no first name, Cy no order.
fn contacts(kind: &str) -> Vec<Value> {
    let address = |i: u32| match kind {
        "email" => json!({ "email": format!("c{i}@example.com") }),
        _ => json!({ "phone": format!("+1415555730{i}") }),
    };
    let with = |i: u32, extra: Value| {
        let mut c = address(i);
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    vec![
        with(
            1,
            json!({ "first_name": "Ana", "fields": { "order": "7" } }),
        ),
        with(2, json!({ "first_name": "", "fields": { "order": "8" } })),
        with(3, json!({ "first_name": "Cy" })),
    ]
}

/// The members by contact (Ana, Bo, Cy): status and error code.
async fn outcomes(api: &Api, campaign: i64) -> Vec<(String, Option<String>)> {
    let mut members = api.all_members(campaign).await;
    members.sort_by_key(|m| m["address"].as_str().unwrap().to_owned());
    members
        .iter()
        .map(|m| {
            (
                m["status"].as_str().unwrap().to_owned(),
                m["error_code"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn variable<'a>(preview: &'a Value, name: &str) -> &'a Value {
    preview["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {preview}"))
}

async fn missing_values_follow_the_campaign_setting(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (config, secrets) = twilio_config(&sim);
    let sms = channel(&api, "twilio-sms", "+15005550006", config, secrets).await;
    let phones = list_of(&api, contacts("sms")).await;
    let body = "Hi {{first_name}}, order {{order}}";
    let skip = create(
        &api,
        json!({ "name": "skip", "type": "sms", "channel_id": sms, "list_id": phones, "body": body }),
    )
    .await;

    // Before going live: who lacks what, and who would be skipped.
    let (status, preview) = api.get(&format!("/v1/campaigns/{skip}/preview")).await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["audience"], 3, "{preview}");
    assert_eq!(preview["missing_field"], "skip_member", "the default");
    assert_eq!(variable(&preview, "first_name")["missing"], 1, "{preview}");
    assert_eq!(variable(&preview, "order")["missing"], 1, "{preview}");
    assert_eq!(preview["would_skip"], 2, "{preview}");
    assert_eq!(preview["sample"], "Hi Ana, order 7", "{preview}");

    run(&api, skip, Duration::from_secs(30)).await;
    let sent: Vec<String> = sim
        .messages_for("twilio")
        .iter()
        .map(|m| m.body.clone())
        .collect();
    assert_eq!(sent, ["Hi Ana, order 7"], "no \"Hi , order\"");
    assert_eq!(
        outcomes(&api, skip).await,
        [
            ("delivered".into(), None),
            ("failed".into(), Some("missing_field:first_name".into())),
            ("failed".into(), Some("missing_field:order".into())),
        ]
    );

    // render_empty sends the gaps as empty text; a default fills its own.
    let empty = create(
        &api,
        json!({ "name": "empty", "type": "sms", "channel_id": sms, "list_id": phones,
                "body": "Hi {{ first_name | default('there') }}, order {{order}}",
                "missing_field": "render_empty" }),
    )
    .await;
    let (_, preview) = api.get(&format!("/v1/campaigns/{empty}/preview")).await;
    assert_eq!(
        (
            &preview["would_skip"],
            &variable(&preview, "first_name")["required"]
        ),
        (&json!(0), &json!(false)),
        "{preview}"
    );
    run(&api, empty, Duration::from_secs(30)).await;
    let mut sent: Vec<String> = sim.messages_for("twilio")[1..]
        .iter()
        .map(|m| m.body.clone())
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        ["Hi Ana, order 7", "Hi Cy, order ", "Hi there, order 8"]
    );
    assert!(
        outcomes(&api, empty)
            .await
            .iter()
            .all(|(status, _)| status == "delivered")
    );

    // A setting that does not exist is refused by name.
    let (status, body) = api
        .post(
            "/v1/campaigns",
            json!({ "name": "x", "type": "sms", "channel_id": sms, "list_id": phones,
                    "body": body, "missing_field": "guess" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("missing_field")),
        "{body}"
    );
}
both_backends!(missing_values_follow_the_campaign_setting);

async fn email_and_whatsapp_skip_or_escape(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let mail = crate::support::mailgun_channel(&api, &sim, &herald).await;
    let mut people = contacts("email");
    people[0]["first_name"] = json!("<script>alert(1)</script>");
    let emails = list_of(&api, people).await;
    let news = create(
        &api,
        json!({ "name": "news", "type": "email", "channel_id": mail, "list_id": emails,
                "subject": "Hello {{first_name}}", "body": "Order {{ order | default('none') }}",
                "html_body": "<p>Hi {{first_name}}</p>" }),
    )
    .await;
    run(&api, news, Duration::from_secs(30)).await;
    let sent = sim.messages_for("mailgun");
    assert_eq!(sent.len(), 2, "Bo has no first name: {sent:?}");
    let ana = sent.iter().find(|m| m.to == "c1@example.com").unwrap();
    assert_eq!(
        ana.subject.as_deref(),
        Some("Hello <script>alert(1)</script>"),
        "the subject is text"
    );
    assert_eq!(
        ana.html.as_deref(),
        Some("<p>Hi &lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>"),
        "the HTML part escapes a contact's value"
    );
    let cy = sent.iter().find(|m| m.to == "c3@example.com").unwrap();
    assert_eq!(cy.body, "Order none");
    assert_eq!(
        outcomes(&api, news).await[1].1.as_deref(),
        Some("missing_field:first_name")
    );

    // A WhatsApp template parameter cannot be empty: skipped either way.
    let wa = whatsapp_channel(&api, &sim, &herald).await;
    let (status, _) = api
        .post_empty(&format!("/v1/channels/{wa}/templates/sync"))
        .await;
    assert_eq!(status, 200);
    let phones = list_of(&api, contacts("sms")).await;
    let template = json!({ "name": "order_update", "language": "en_US",
        "parameters": [{ "field": "first_name" }, { "field": "order" }] });
    for setting in ["skip_member", "render_empty"] {
        let id = create(
            &api,
            json!({ "name": format!("wa {setting}"), "type": "whatsapp", "channel_id": wa,
                    "list_id": phones, "template": template, "missing_field": setting }),
        )
        .await;
        let (_, preview) = api.get(&format!("/v1/campaigns/{id}/preview")).await;
        assert_eq!(preview["would_skip"], 2, "{setting}: {preview}");
        run(&api, id, Duration::from_secs(30)).await;
        let codes: Vec<Option<String>> =
            outcomes(&api, id).await.into_iter().map(|o| o.1).collect();
        assert_eq!(
            codes,
            [
                None,
                Some("missing_field:first_name".into()),
                Some("missing_field:order".into())
            ],
            "{setting}"
        );
    }
    assert_eq!(sim.messages_for("whatsapp").len(), 2, "Ana, twice");
}
both_backends!(email_and_whatsapp_skip_or_escape);
