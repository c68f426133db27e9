//! Twilio's Message list (`GET .../Messages.json`): auth, the `To`, `From`
//! and `DateSent` filters (`DateSent<`/`DateSent>` as parameter names), paging
//! by `PageSize` and `next_page_uri`, newest first, each item exactly the
//! single GET's Message resource.

mod support;

use std::time::{Duration, Instant};

use herald_sim::Simulator;
use serde_json::Value;
use support::{client, start};

fn list_path(sim: &Simulator) -> String {
    format!(
        "/2010-04-01/Accounts/{}/Messages.json",
        sim.config().twilio_account_sid
    )
}

/// GETs `path_and_query` (as a `*_page_uri` gives it) with the right auth.
async fn get(sim: &Simulator, path_and_query: &str) -> (u16, Value) {
    let config = sim.config();
    let response = client()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Lists with these query parameters (reqwest encodes `<` and `>`).
async fn list(sim: &Simulator, query: &[(&str, &str)]) -> Value {
    let config = sim.config();
    let response = client()
        .get(format!("{}{}", sim.base_url(), list_path(sim)))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn send(sim: &Simulator, to: &str, from: &str) -> String {
    let config = sim.config();
    let response = client()
        .post(format!("{}{}", sim.base_url(), list_path(sim)))
        .basic_auth(&config.twilio_account_sid, Some(&config.twilio_auth_token))
        .form(&[("To", to), ("From", from), ("Body", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["sid"].as_str().unwrap().to_owned()
}

fn sids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sid"].as_str().unwrap().to_owned())
        .collect()
}

/// `Tue, 01 Dec 2026 19:07:08 +0000` to `2026-12-01`, checking the shape.
fn rfc2822_day(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 6, "{date}");
    assert!(parts[0].len() == 4 && parts[0].ends_with(','), "{date}");
    assert_eq!(parts[1].len(), 2, "{date}");
    assert_eq!(parts[3].len(), 4, "{date}");
    assert_eq!(parts[4].len(), 8, "{date}");
    assert_eq!(parts[5], "+0000", "{date}");
    let month = MONTHS.iter().position(|m| *m == parts[2]).expect(date) + 1;
    format!("{}-{month:02}-{}", parts[3], parts[1])
}

#[tokio::test]
async fn list_needs_basic_auth() {
    let sim = start().await;
    let response = client()
        .get(format!("{}{}", sim.base_url(), list_path(&sim)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20003);
    let wrong = client()
        .get(format!("{}{}", sim.base_url(), list_path(&sim)))
        .basic_auth(&sim.config().twilio_account_sid, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let stats = sim.stats();
    assert_eq!((stats.auth_failures, stats.requests), (2, 0));
}

#[tokio::test]
async fn list_filters_by_to_from_and_date_sent() {
    let sim = start().await;
    let first = send(&sim, "+15551111111", "+15557771111").await;
    let second = send(&sim, "+15552222222", "+15557771111").await;
    let third = send(&sim, "+15551111111", "+15557772222").await;

    let all = list(&sim, &[]).await;
    assert_eq!(
        sids(&all),
        [third.clone(), second.clone(), first.clone()],
        "newest first"
    );
    assert_eq!(all["page"], 0);
    assert_eq!(all["page_size"], 50);
    assert_eq!(
        (all["start"].as_u64(), all["end"].as_u64()),
        (Some(0), Some(2))
    );
    assert!(all["next_page_uri"].is_null() && all["previous_page_uri"].is_null());
    assert_eq!(
        all["first_page_uri"],
        format!("{}?PageSize=50&Page=0", list_path(&sim))
    );
    assert_eq!(all["uri"], all["first_page_uri"]);

    let to = list(&sim, &[("To", "+15551111111")]).await;
    assert_eq!(sids(&to), [third.clone(), first.clone()]);
    assert_eq!(
        to["uri"],
        format!("{}?To=%2B15551111111&PageSize=50&Page=0", list_path(&sim))
    );
    let from = list(&sim, &[("From", "+15557771111")]).await;
    assert_eq!(sids(&from), [second.clone(), first.clone()]);
    let both = list(&sim, &[("To", "+15551111111"), ("From", "+15557771111")]).await;
    assert_eq!(sids(&both), [first.as_str()]);
    assert!(sids(&list(&sim, &[("To", "+15559999999")]).await).is_empty());

    // Today, by the messages' own date_created (RFC 2822, as Twilio writes it).
    let today = rfc2822_day(all["messages"][0]["date_created"].as_str().unwrap());
    let past = "2000-01-01";
    let future = "2999-12-31";
    let cases: [(&str, &str, usize); 8] = [
        ("DateSent", today.as_str(), 3),
        ("DateSent", past, 0),
        ("DateSent<", today.as_str(), 3),
        ("DateSent<", past, 0),
        ("DateSent>", today.as_str(), 3),
        ("DateSent>", future, 0),
        ("DateSent>", past, 3),
        ("DateSent<", future, 3),
    ];
    for (name, day, expected) in cases {
        let page = list(&sim, &[(name, day)]).await;
        assert_eq!(sids(&page).len(), expected, "{name}={day}: {page}");
    }
    // As the URL spells it, percent-encoded, combined with To.
    let (status, page) = get(
        &sim,
        &format!(
            "{}?To=%2B15551111111&DateSent%3C={today}&DateSent%3E={today}",
            list_path(&sim)
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sids(&page), [third.clone(), first.clone()]);
    assert!(
        page["uri"]
            .as_str()
            .unwrap()
            .contains(&format!("DateSent%3C={today}&DateSent%3E={today}")),
        "{page}"
    );
    let (_, none) = get(&sim, &format!("{}?DateSent%3C={past}", list_path(&sim))).await;
    assert!(sids(&none).is_empty(), "{none}");
    let (status, bad) = get(&sim, &format!("{}?DateSent=yesterday", list_path(&sim))).await;
    assert_eq!(status, 400);
    assert_eq!(bad["status"], 400);
}

#[tokio::test]
async fn list_items_are_the_single_get_resource() {
    let sim = start().await;
    let sid = send(&sim, "+15553334444", "+15557654321").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let one = loop {
        let (status, one) = get(
            &sim,
            &format!("{}/{sid}.json", list_path(&sim).trim_end_matches(".json")),
        )
        .await;
        assert_eq!(status, 200);
        if one["status"] == "delivered" || Instant::now() > deadline {
            break one;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(one["status"], "delivered");
    let listed = list(&sim, &[("To", "+15553334444")]).await;
    assert_eq!(listed["messages"][0], one);
    for field in ["date_created", "date_sent", "date_updated"] {
        rfc2822_day(one[field].as_str().unwrap());
    }
}

#[tokio::test]
async fn list_pages_with_page_size_and_next_page_uri() {
    let sim = start().await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(send(&sim, "+15554445555", &format!("+1555777000{i}")).await);
    }
    send(&sim, "+15556667777", "+15557654321").await; // filtered out
    sent.reverse(); // newest first

    let first = list(&sim, &[("To", "+15554445555"), ("PageSize", "2")]).await;
    assert_eq!(sids(&first), sent[0..2]);
    assert_eq!(
        (first["page"].as_u64(), first["page_size"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(
        (first["start"].as_u64(), first["end"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(first["previous_page_uri"].is_null());
    let next = first["next_page_uri"].as_str().unwrap().to_owned();
    assert!(
        next.starts_with(&format!(
            "{}?To=%2B15554445555&PageSize=2&Page=1&PageToken=PA",
            list_path(&sim)
        )),
        "{next}"
    );

    let (status, second) = get(&sim, &next).await;
    assert_eq!(status, 200);
    assert_eq!(sids(&second), sent[2..4]);
    assert_eq!(
        (
            second["page"].as_u64(),
            second["start"].as_u64(),
            second["end"].as_u64()
        ),
        (Some(1), Some(2), Some(3))
    );
    assert_eq!(second["uri"], next);
    let (_, back) = get(&sim, second["previous_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&back), sent[0..2]);
    assert_eq!(back["page"], 0);

    let (_, last) = get(&sim, second["next_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&last), sent[4..5]);
    assert_eq!(
        (
            last["page"].as_u64(),
            last["start"].as_u64(),
            last["end"].as_u64()
        ),
        (Some(2), Some(4), Some(4))
    );
    assert!(last["next_page_uri"].is_null(), "{last}");
    assert_eq!(last["first_page_uri"], first["uri"]);

    // A message arriving meanwhile does not shift a token's pages.
    send(&sim, "+15554445555", "+15557654321").await;
    let (_, again) = get(&sim, &next).await;
    assert_eq!(sids(&again), sent[2..4]);

    // Page numbers work without a token; PageSize is capped at 1000.
    let by_number = list(
        &sim,
        &[("To", "+15554445555"), ("PageSize", "2"), ("Page", "2")],
    )
    .await;
    assert_eq!(sids(&by_number), sent[3..5]);
    let capped = list(&sim, &[("PageSize", "5000")]).await;
    assert_eq!(capped["page_size"], 1000);
    assert_eq!(sids(&capped).len(), 7);
}
