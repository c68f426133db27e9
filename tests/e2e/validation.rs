//! Bad input answers 4xx with a JSON error naming the field.

use herald_sim::{SimConfig, Simulator};
use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald, numbers_ending};

async fn bad_input_names_the_field(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    let list = api.list_with(&numbers_ending("5555", 1, 720)).await;

    // A number not in E.164, and one that cannot exist.
    for (bad, index) in [("4155550100", 1), ("+1 415 555 0100", 1), ("+1123", 1)] {
        let (status, body) = api
            .post(
                &format!("/v1/lists/{list}/contacts"),
                json!({"contacts": [{"phone": "+14155550199"}, {"phone": bad}]}),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(
            body["error"]["field"],
            format!("contacts[{index}].phone"),
            "{body}"
        );
    }
    // Nothing of a refused batch was written.
    let (_, l) = api.get(&format!("/v1/lists/{list}")).await;
    assert_eq!(l["contacts"], 1);

    let campaign = |channel: i64, body: serde_json::Value| {
        let mut c = json!({"name": "x", "channel_id": channel, "list_id": list});
        if !body.is_null() {
            c["body"] = body;
        }
        c
    };
    let cases = [
        (
            "unknown channel",
            campaign(9999, json!("hi")),
            422,
            "channel_id",
        ),
        (
            "no body",
            campaign(channel, serde_json::Value::Null),
            400,
            "body",
        ),
        ("empty body", campaign(channel, json!("  ")), 422, "body"),
        (
            "unknown variable",
            campaign(channel, json!("Hi {{frist_name}}")),
            422,
            "body",
        ),
        (
            "too long",
            campaign(channel, json!("é".repeat(1601))),
            422,
            "body",
        ),
    ];
    for (what, request, status, field) in cases {
        let (got, body) = api.post("/v1/campaigns", request).await;
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(body["error"]["field"], field, "{what}: {body}");
    }
    let (_, body) = api
        .post(
            "/v1/campaigns",
            campaign(channel, json!("Hi {{frist_name}}")),
        )
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("frist_name")
    );

    // A field or query parameter the endpoint does not know is refused by
    // name, never ignored (a misspelt option would do nothing silently).
    let mut misspelt = campaign(channel, json!("hi"));
    misspelt["manual_reveiw"] = json!(true);
    let (status, body) = api.post("/v1/campaigns", misspelt).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("manual_reveiw")),
        "{body}"
    );
    for (query, field) in [
        ("/v1/campaigns?stauts=running", "stauts"),
        ("/v1/campaigns?limit=lots", "limit"),
        ("/v1/lists?after=3", "after"),
        ("/v1/dnc?cursor=x&page=2", "page"),
        ("/v1/channels?cursor=not-an-id", "cursor"),
    ] {
        let (status, body) = api.get(query).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (422, Some(field)),
            "{query}: {body}"
        );
    }

    // 1,600 characters of emoji is fine.
    let (status, body) = api
        .post("/v1/campaigns", campaign(channel, json!("🎉".repeat(1600))))
        .await;
    assert_eq!(status, 201, "{body}");

    // A channel on an unknown plugin, or missing a required secret.
    let (status, body) = api
        .post(
            "/v1/channels",
            json!({"name": "x", "plugin": "nope", "sender": "+15005550006"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("plugin")),
        "{body}"
    );
    let (status, body) = api
        .post(
            "/v1/channels",
            json!({"name": "x", "plugin": "twilio-sms", "sender": "+15005550006",
                   "config": {"account-sid": "AC123"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("secrets.auth-token")),
        "{body}"
    );

    // The OpenAPI document describes the routes.
    let doc: serde_json::Value = herald
        .http
        .get(format!("{}/openapi.json", herald.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/v1/campaigns/{id}/start"]["post"].is_object(),
        "{doc}"
    );
    for (path, method) in [
        ("/v1/channels/{id}/templates/sync", "post"),
        ("/v1/channels/{id}/templates", "get"),
        ("/v1/media", "post"),
        ("/v1/reply-endpoint", "put"),
        ("/v1/campaigns/{id}/members/{member}/conversation", "get"),
        ("/v1/campaigns/{id}", "patch"),
        ("/v1/campaigns/{id}", "delete"),
        ("/v1/campaigns/{id}/retry-failed", "post"),
        ("/v1/campaigns/{id}/execute-approved", "post"),
        ("/v1/campaigns/{id}/members/{member}/content", "put"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{path}");
    }
    let input = &doc["components"]["schemas"]["CampaignInput"]["properties"];
    for field in [
        "type",
        "template",
        "media_id",
        "caller_id",
        "max_concurrent",
        "amd_action",
        "subject",
        "send_mode",
        "tags",
        "manual_review",
    ] {
        assert!(input[field].is_object(), "CampaignInput.{field}: {input}");
    }
}
both_backends!(bad_input_names_the_field);
