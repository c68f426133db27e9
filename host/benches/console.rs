//! How long the console's pages take to answer on a tenant at scale
//! (issue 15: every page under 100 ms on a tenant with 1,000 campaigns and
//! a 100,000-member campaign). A benchmark, not a test: it prints a table
//! and fails only when a page does not answer 200.
//!
//! `cargo bench -p herald --bench console [-- MEMBERS] [--sqlite|--postgres]`
//! (after `./dev.sh build`): on SQLite, and on PostgreSQL when it answers
//! (see `common::postgres_url`), a `herald serve` of its own with one
//! tenant holding
//! - a MEMBERS-member SMS campaign (default 100,000) sent through the
//!   bundled `twilio-sms` plugin to the simulator, one member in 50 with a
//!   scripted failure so that the members' statuses vary;
//! - three 20-member campaigns that ran, and 1,000 drafts;
//!
//! then signs in to the console as that tenant (and as the admin for the
//! admin's pages) and asks each page a user opens [`ASKED`] times, in
//! rounds (every page once per round, like a user moving between tabs),
//! after one unmeasured warm-up round. Times are from the request's start
//! to the body's last byte, on loopback.

#[path = "common/mod.rs"]
mod common;
// Shared with the dispatch benchmark, which uses all of them; this one
// needs only part of each.
#[allow(dead_code)]
#[path = "dispatch/herald.rs"]
mod herald;
#[allow(dead_code)]
#[path = "dispatch/probes.rs"]
mod probes;
#[path = "dispatch/setup.rs"]
mod setup;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

use herald::Herald;
use probes::{ms, quantile};
use setup::{draft, tenant_with_channel};

const ADMIN_KEY: &str = "bench-admin-key";
/// The channel's rate limit: the highest Herald accepts.
const RATE_PER_SECOND: u32 = 10_000;
/// A Wednesday 18:30 UTC: 10:30 in San Francisco, where every member
/// lives, well inside the default quiet hours.
const CLOCK: &str = "2026-01-14T18:30:00Z";
/// Imports and the big campaign's sending may not take longer.
const DEADLINE: Duration = Duration::from_secs(1800);
/// Issue 15's target for every page.
const TARGET: Duration = Duration::from_millis(100);
/// Measured requests per page.
const ASKED: usize = 30;
/// Drafts beside the campaigns that ran.
const DRAFTS: usize = 1_000;
/// Small campaigns that ran to completion.
const RAN: u64 = 3;

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// A distinct valid San Francisco number for each `i`. One in 50 ends in
/// one of the simulator's scripted failures (`0001` refused, `0002`
/// undelivered, `0003` failed); every other ends in 1000..=9999, which it
/// delivers.
fn number(i: u64) -> String {
    if i.is_multiple_of(50) {
        let j = i / 50;
        format!("+1415{:03}000{}", 200 + j / 3, 1 + j % 3)
    } else {
        format!("+1415{:03}{:04}", 200 + i / 9_000, 1_000 + i % 9_000)
    }
}

/// What the pages are asked about.
struct Tenant {
    key: String,
    channel: i64,
    big: i64,
    big_list: i64,
    /// A member in the middle of the big campaign (its panel's page).
    member: i64,
    /// The id after which the members page in the middle starts.
    middle: i64,
    draft: i64,
    campaigns: usize,
    /// The big campaign's status and counts when the pages were asked.
    state: String,
}

async fn post(herald: &Herald, key: &str, path: &str, body: Value) -> Value {
    let (status, answer) = herald
        .call(key, reqwest::Method::POST, path, Some(body))
        .await;
    assert!((200..300).contains(&status), "POST {path}: {answer}");
    answer
}

/// The tenant of the benchmark, its campaigns sent or drafted.
async fn prepare(herald: &Herald, sim: &Simulator, members: u64) -> Tenant {
    let (key, channel) = tenant_with_channel(herald, sim, "console bench", "twilio-sms").await;
    let started = Instant::now();
    let (big, _) = draft(
        herald,
        &key,
        &channel,
        (0..members).map(number),
        json!({ "name": format!("Spring sale ({members} members)") }),
    )
    .await;
    println!(
        "  {members} contacts imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut ran = Vec::new();
    for r in 0..RAN {
        let numbers = (0..20).map(move |i| number(members + r * 20 + i));
        let name = format!("Reminder {}", r + 1);
        ran.push(
            draft(herald, &key, &channel, numbers, json!({ "name": name }))
                .await
                .0,
        );
    }
    let small_list =
        herald.get(&key, &format!("/v1/campaigns/{}", ran[0])).await["list_id"].clone();
    let started = Instant::now();
    let drafts: Vec<i64> = futures::stream::iter(0..DRAFTS)
        .map(|i| {
            let body = json!({
                "name": format!("Draft {:04}", i + 1), "channel_id": channel, "list_id": small_list,
                "body": "Hi {{first_name}}, see what is new this week.",
            });
            let key = &key;
            async move {
                post(herald, key, "/v1/campaigns", body).await["id"]
                    .as_i64()
                    .unwrap()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    println!(
        "  {DRAFTS} drafts created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for id in &ran {
        post(
            herald,
            &key,
            &format!("/v1/campaigns/{id}/start"),
            json!({}),
        )
        .await;
    }
    let started = Instant::now();
    post(
        herald,
        &key,
        &format!("/v1/campaigns/{big}/start"),
        json!({}),
    )
    .await;
    let state = settle(herald, &key, big).await;
    println!(
        "  the big campaign sent for {:.1} s: {state}",
        started.elapsed().as_secs_f64()
    );
    let first = probes::first_member(&herald.http, &herald.base, &key, big).await;
    let middle = first + members as i64 / 2;
    let picked = herald
        .get(
            &key,
            &format!("/v1/campaigns/{big}/members?limit=1&status=delivered&cursor={middle}"),
        )
        .await;
    let big_list = herald.get(&key, &format!("/v1/campaigns/{big}")).await["list_id"]
        .as_i64()
        .unwrap();
    Tenant {
        key,
        channel: channel.as_i64().unwrap(),
        big,
        big_list,
        member: picked["items"][0]["id"].as_i64().unwrap_or(middle),
        middle,
        draft: drafts[DRAFTS / 2],
        campaigns: DRAFTS + RAN as usize + 1,
        state,
    }
}

/// Waits until campaign `id` completes, or its counts stay the same for 5 s
/// (members waiting for a retry the test clock never reaches), and says
/// how it stands.
async fn settle(herald: &Herald, key: &str, id: i64) -> String {
    let started = Instant::now();
    let mut last = (Value::Null, Instant::now());
    loop {
        let status = herald.get(key, &format!("/v1/campaigns/{id}")).await["status"].clone();
        let p = herald
            .get(key, &format!("/v1/campaigns/{id}/progress"))
            .await;
        let counts = json!([p["queued"], p["sent"], p["delivered"], p["failed"]]);
        let still = counts == last.0 && last.1.elapsed() > Duration::from_secs(5);
        if status == "completed" || still || started.elapsed() > DEADLINE {
            return format!(
                "{status}, {} delivered, {} failed, {} queued",
                p["delivered"], p["failed"], p["queued"]
            );
        }
        if counts != last.0 {
            last = (counts, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A console session's cookie (`name=value`), signed in with `key`.
async fn sign_in(http: &reqwest::Client, base: &str, key: &str) -> String {
    let response = http
        .post(format!("{base}/login"))
        .form(&[("key", key)])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(response.status().as_u16(), 303, "signing in");
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie");
    cookie.to_owned()
}

/// One page: its label, path, and whether the admin asks for it.
struct Page {
    label: String,
    path: String,
    admin: bool,
}

fn pages(t: &Tenant, members: u64) -> Vec<Page> {
    let last = t.campaigns.div_ceil(25);
    let (big, list) = (t.big, t.big_list);
    let tenant = |label: &str, path: String| Page {
        label: label.to_owned(),
        path,
        admin: false,
    };
    vec![
        tenant("campaign grid, first page", "/campaigns".into()),
        tenant(
            "campaign grid, a later page",
            format!("/campaigns?page={}", last / 2),
        ),
        tenant(
            "campaign grid, last page",
            format!("/campaigns?page={last}"),
        ),
        tenant(
            "campaign grid filtered (type, status, name)",
            "/campaigns?type=sms&status=draft&name=Draft+05".into(),
        ),
        tenant("grid's live refresh (JSON)", "/campaigns/live".into()),
        tenant(
            &format!("campaign detail, {members} members, first page"),
            format!("/campaigns/{big}"),
        ),
        tenant(
            "campaign detail, members page in the middle",
            format!("/campaigns/{big}?after={}", t.middle),
        ),
        tenant(
            "campaign detail, members filtered: delivered",
            format!("/campaigns/{big}?status=delivered"),
        ),
        tenant(
            "campaign detail, members filtered: failed (2%)",
            format!("/campaigns/{big}?status=failed"),
        ),
        tenant(
            "member panel (journey)",
            format!("/campaigns/{big}/members/{}", t.member),
        ),
        tenant("performance", format!("/campaigns/{big}/performance")),
        tenant("review queue", format!("/campaigns/{big}/review")),
        tenant("new campaign form", "/campaigns/new".into()),
        tenant("edit a draft", format!("/campaigns/{}/edit", t.draft)),
        tenant("audience (lists)", "/audience".into()),
        tenant(
            &format!("list of {members} contacts"),
            format!("/audience/lists/{list}"),
        ),
        tenant(
            "list search, one match (name)",
            format!("/audience/lists/{list}?q=C{}", members * 7 / 9),
        ),
        tenant(
            "list search, a phone prefix",
            format!("/audience/lists/{list}?q=%2B1415250"),
        ),
        tenant("channels", "/channels".into()),
        tenant("a channel", format!("/channels/{}", t.channel)),
        tenant("settings", "/settings".into()),
        Page {
            label: "plugins (admin)".into(),
            path: "/plugins".into(),
            admin: true,
        },
    ]
}

/// Each page's latencies and body size.
async fn measure(herald: &Herald, t: &Tenant, pages: &[Page]) -> Vec<(Vec<Duration>, usize)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tenant = sign_in(&http, &herald.base, &t.key).await;
    let admin = sign_in(&http, &herald.base, ADMIN_KEY).await;
    let mut results = vec![(Vec::new(), 0); pages.len()];
    for round in 0..=ASKED {
        for (page, result) in pages.iter().zip(results.iter_mut()) {
            let cookie = if page.admin { &admin } else { &tenant };
            let asked = Instant::now();
            let response = http
                .get(format!("{}{}", herald.base, page.path))
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await
                .expect("a page");
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("a page's body");
            let took = asked.elapsed();
            assert_eq!(status, 200, "GET {}", page.path);
            // Round 0 warms the server's caches and connections up.
            if round > 0 {
                result.0.push(took);
                result.1 = body.len();
            }
        }
    }
    results
}

async fn run(sim: &Simulator, label: &str, database_url: &str, members: u64) {
    println!("\n{label}: preparing");
    // The setup's 1,000 creates would otherwise meet the API's rate limit.
    let herald = Herald::start(database_url, &["--api-rate-per-second", "0"]).await;
    let tenant = prepare(&herald, sim, members).await;
    let pages = pages(&tenant, members);
    let results = measure(&herald, &tenant, &pages).await;
    println!(
        "\n{label}: {} campaigns (big one {}), each page asked {ASKED} times\n",
        tenant.campaigns, tenant.state
    );
    println!("| page | path | p50 | p99 | max | size | under 100 ms? |");
    println!("|---|---|---|---|---|---|---|");
    let mut over = Vec::new();
    for (page, (samples, size)) in pages.iter().zip(&results) {
        let p99 = quantile(samples, 0.99);
        let verdict = if p99 <= TARGET {
            "yes"
        } else {
            over.push(page.label.as_str());
            "**OVER**"
        };
        println!(
            "| {} | `{}` | {} | {} | {} | {:.0} KiB | {verdict} |",
            page.label,
            page.path,
            ms(quantile(samples, 0.5)),
            ms(p99),
            ms(quantile(samples, 1.0)),
            *size as f64 / 1024.0
        );
    }
    if over.is_empty() {
        println!("\n{label}: every page's p99 is under {TARGET:?}");
    } else {
        println!("\n{label}: over {TARGET:?} at p99: {}", over.join(", "));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let members: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let sqlite = !args.iter().any(|a| a == "--postgres");
    let postgres = !args.iter().any(|a| a == "--sqlite");
    assert!(
        target_dir().join("plugins/twilio_sms.wasm").exists(),
        "plugin components missing: run ./dev.sh build first"
    );
    println!(
        "console pages on {} (herald: {})",
        std::env::consts::ARCH,
        env!("CARGO_BIN_EXE_herald")
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        if sqlite {
            let url = format!("sqlite:{}", dir.path().join("console.db").display());
            run(&sim, "SQLite", &url, members).await;
            sim.reset();
        }
        if postgres {
            match common::postgres_url("herald_console").await {
                Some(url) => {
                    run(&sim, "PostgreSQL", &url, members).await;
                    common::drop_database(&url).await;
                }
                None => println!(
                    "\nPostgreSQL: skipped (not reachable at HERALD_TEST_PG or 127.0.0.1:5432, or HERALD_SKIP_POSTGRES is set)"
                ),
            }
        }
    });
}
