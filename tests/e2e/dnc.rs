//! The do-not-contact list: managed by API and CSV, checked at send time.

use serde_json::json;

use crate::both_backends;
use crate::harness::{Backend, Herald};

async fn dnc_list_is_managed_by_api_and_csv(backend: Backend) {
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;

    let (status, body) = api
        .post(
            "/v1/dnc",
            json!({"addresses": ["+14155550100", "Opt.Out@Example.com"], "note": "asked by phone"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 2);
    let (_, again) = api
        .post("/v1/dnc", json!({"addresses": ["+14155550100"]}))
        .await;
    assert_eq!(again["added"], 0, "listing twice keeps one entry");
    let (status, body) = api
        .post("/v1/dnc", json!({"addresses": ["+14155550101", "415 555"]}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("addresses[1]")),
        "{body}"
    );

    let csv = "Number,Name\n(415) 555-0102,A\n+14155550100,dup\nnope,B\n";
    let (status, body) = api
        .post_csv("/v1/dnc/import?default_region=US", csv.into())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"], 1, "{body}");
    assert_eq!(body["rejected"][0][0], 4, "{body}");

    let (_, page) = api.get("/v1/dnc?limit=2").await;
    let addresses: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["+14155550100", "+14155550102"], "{page}");
    let (_, rest) = api
        .get(&format!(
            "/v1/dnc?after={}",
            page["next_after"].as_str().unwrap().replace('+', "%2B")
        ))
        .await;
    assert_eq!(rest["entries"][0]["address"], "opt.out@example.com");
    assert_eq!(rest["entries"][0]["source"], "api");

    let (status, _) = api.delete("/v1/dnc/%2B14155550100").await;
    assert_eq!(status, 204);
    let (status, _) = api.delete("/v1/dnc/%2B14155550100").await;
    assert_eq!(status, 404);

    let other = herald.new_tenant("other").await;
    let (_, theirs) = other.get("/v1/dnc").await;
    assert_eq!(theirs["entries"].as_array().unwrap().len(), 0, "per tenant");
}
both_backends!(dnc_list_is_managed_by_api_and_csv);
