//! Named API keys and the audit log (issue 16, §3): a key does only what
//! its scopes allow (403 naming the scope), a revoked or expired key is a
//! 401, and each security-relevant change shows once in the audit log of
//! its tenant (and the admin's), with who made it.

use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::harness::{Backend, Herald, numbers_ending};

/// Creates a named key and answers its client and id.
async fn named_key(
    herald: &Herald,
    owner: &crate::api_client::Api,
    name: &str,
    body: Value,
) -> (crate::api_client::Api, i64) {
    let (status, created) = owner.post("/v1/api-keys", body).await;
    assert_eq!(status, 201, "{name}: {created}");
    assert_eq!(created["name"], name);
    let key = created["api_key"].as_str().unwrap();
    (herald.api(key), created["id"].as_i64().unwrap())
}

fn actions(log: &Value) -> Vec<(String, String, String)> {
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn keys_do_what_their_scopes_allow(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let mut herald = Herald::start(backend, &[]).await;
    let owner = herald.new_tenant("acme").await;
    let channel = owner.sim_channel(&sim, "twilio-sms").await;
    let list = owner.list_with(&numbers_ending("3100", 2, 500)).await;
    let campaign = owner.campaign(channel, list, "hello").await;

    let (reader, reader_id) = named_key(
        &herald,
        &owner,
        "dashboard",
        json!({ "name": "dashboard", "scopes": ["read"] }),
    )
    .await;
    // An hour of the test clock.
    let (sender, _) = named_key(
        &herald,
        &owner,
        "cron",
        json!({ "name": "cron", "scopes": ["send", "read"], "expires_at": "2026-01-14T19:30:00Z" }),
    )
    .await;
    let (status, body) = owner
        .post("/v1/api-keys", json!({ "name": "x", "scopes": ["write"] }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("scopes[0]")),
        "{body}"
    );

    // Read: reads only.
    let (status, _) = reader.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 200);
    let (status, body) = reader
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs send"),
        "{body}"
    );
    let (status, _) = reader.get("/v1/audit-log").await;
    assert_eq!(status, 403, "the audit log is the tenant admin's");
    // Send: campaigns, not channels.
    let (status, body) = sender
        .patch(
            &format!("/v1/channels/{channel}"),
            json!({ "name": "mine" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = sender
        .post_empty(&format!("/v1/campaigns/{campaign}/start"))
        .await;
    assert_eq!(status, 200, "{body}");

    // Revoked: 401 at once. Expired: 401 once the clock passes it.
    let (status, revoked) = owner.delete(&format!("/v1/api-keys/{reader_id}")).await;
    assert_eq!(status, 200, "{revoked}");
    let (status, body) = reader.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let (status, _) = sender.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 200);
    herald.advance_clock(2 * 3600).await;
    let (status, body) = sender.get(&format!("/v1/campaigns/{campaign}")).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // The listing: no key, the reader's use and revocation.
    let (status, keys) = owner.get("/v1/api-keys").await;
    assert_eq!(status, 200, "{keys}");
    let keys = keys["items"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("api_key").is_none()), "{keys:?}");
    assert!(keys[0]["last_used_at"].is_string(), "{:?}", keys[0]);
    assert!(keys[0]["revoked_at"].is_string(), "{:?}", keys[0]);

    // Another tenant neither sees nor revokes them.
    let other = herald.new_tenant("other").await;
    let (status, _) = other.delete(&format!("/v1/api-keys/{reader_id}")).await;
    assert_eq!(status, 404);

    // The audit log: each change once, with who; refused attempts and
    // reads are not changes.
    let (status, log) = owner.get("/v1/audit-log").await;
    assert_eq!(status, 200, "{log}");
    let mut seen = actions(&log);
    seen.reverse();
    let expected = [
        (
            "tenant key",
            "POST /v1/channels",
            format!("/v1/channels #{channel}"),
        ),
        (
            "tenant key",
            "POST /v1/api-keys",
            format!("/v1/api-keys #{reader_id}"),
        ),
        (
            "tenant key",
            "POST /v1/api-keys",
            format!("/v1/api-keys #{}", reader_id + 1),
        ),
        (
            "tenant key",
            "DELETE /v1/api-keys/{id}",
            format!("/v1/api-keys/{reader_id}"),
        ),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.clone()))
        .collect();
    assert_eq!(seen, expected, "{log}");
    let (_, other_log) = other.get("/v1/audit-log").await;
    assert_eq!(other_log["items"], json!([]), "{other_log}");
    let (status, all) = herald.admin().get("/v1/admin/audit-log").await;
    assert_eq!(status, 200, "{all}");
    let all = actions(&all);
    let tenants_created = all
        .iter()
        .filter(|(who, action, _)| who == "admin" && action == "POST /v1/tenants")
        .count();
    assert_eq!(tenants_created, 2, "{all:?}");
    assert_eq!(all.len(), expected.len() + 2, "{all:?}");
}
crate::both_backends!(keys_do_what_their_scopes_allow);
