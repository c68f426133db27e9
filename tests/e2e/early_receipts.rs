//! Status callbacks that beat their send's outcome to the database (a fast
//! provider calls back before Herald has written what the send answered):
//! they are kept and applied, in the order they came, as soon as the
//! outcome is written, once each.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::support::count;
use crate::twilio_hooks::status_callback;

/// Callbacks kept until their sends' outcomes are written.
async fn kept(backend: Backend, herald: &Herald) -> i64 {
    count(
        backend,
        herald.database_url(),
        "SELECT COUNT(*) FROM early_receipts",
    )
    .await
}

/// A status and, for a failure, its error code.
type Step<'a> = (&'a str, Option<&'a str>);

/// The member's history entries of `kind`, as "kind: detail".
async fn history(api: &crate::harness::Api, campaign: i64, member: &Value) -> Vec<String> {
    let (status, journey) = api
        .get(&format!(
            "/v1/campaigns/{campaign}/members/{}/journey",
            member["id"]
        ))
        .await;
    assert_eq!(status, 200, "{journey}");
    journey["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["kind"] != "queued")
        .map(|e| format!("{}: {}", e["kind"], e["detail"]))
        .collect()
}

async fn callbacks_before_the_outcome_are_applied_in_order_once(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let channel = api.sim_channel(&sim, "twilio-sms").await;
    // Numbers ending 0507: the simulator takes the message and never
    // calls back itself, so only the callbacks posted below can end them.
    let numbers: Vec<String> = (0..3).map(|i| format!("+151243{i}0507")).collect();
    let list = api.list_with(&numbers).await;
    let campaign = api.campaign(channel, list, "early").await;

    // The sids the simulator will give the three sends, called back
    // before any of them is sent.
    let sids = sim.upcoming_ids("SM", 3);
    let callbacks: [(&str, &[Step]); 3] = [
        (&sids[0], &[("sent", None), ("delivered", None)]),
        (&sids[1], &[("sent", None), ("failed", Some("30003"))]),
        // Twilio retries a callback it thinks was lost: the same twice.
        (&sids[2], &[("delivered", None), ("delivered", None)]),
    ];
    for (sid, steps) in callbacks {
        for (status, code) in steps {
            let answer =
                status_callback(&herald, &sim, channel, sid, "+15124300507", status, *code).await;
            assert!(
                (200..300).contains(&answer),
                "a callback for a message not yet known is kept, not refused: {answer}"
            );
        }
    }

    // Kept: what can still move a member once its outcome is written. The
    // two "sent" callbacks cannot (an accepted send is `sent` already), so
    // of the six callbacks four rows wait: the marker that callbacks were
    // kept at all, and that the "sent" ones were not.
    assert_eq!(
        kept(backend, &herald).await,
        4,
        "callbacks kept before their sends"
    );

    // Every member final means every one of them had its kept callbacks
    // applied: the simulator sends none of its own for these numbers.
    api.start_to_completion(campaign, Duration::from_secs(60))
        .await;
    let stats = sim.stats();
    assert_eq!((stats.accepted, stats.duplicates), (3, 0), "{stats:?}");
    assert_eq!(
        kept(backend, &herald).await,
        0,
        "kept callbacks are removed once applied"
    );
    let members = api.all_members(campaign).await;
    let of = |sid: &str| {
        members
            .iter()
            .find(|m| m["provider_message_id"] == sid)
            .unwrap_or_else(|| panic!("no member sent as {sid}: {members:?}"))
            .clone()
    };

    let first = of(&sids[0]);
    assert_eq!(first["status"], "delivered", "{first}");
    let h = history(&api, campaign, &first).await;
    assert_eq!(
        h.iter().filter(|e| e.contains("receipt delivered")).count(),
        1,
        "{h:?}"
    );

    let second = of(&sids[1]);
    assert_eq!(second["status"], "failed", "{second}");
    assert_eq!(second["error_code"], "30003", "{second}");
    let h = history(&api, campaign, &second).await;
    assert!(
        h.iter().any(|e| e.contains("receipt failed (30003)")),
        "{h:?}"
    );

    let third = of(&sids[2]);
    assert_eq!(third["status"], "delivered", "{third}");
    let h = history(&api, campaign, &third).await;
    assert_eq!(
        h.iter().filter(|e| e.contains("receipt delivered")).count(),
        1,
        "the repeated callback changes nothing: {h:?}"
    );
}
both_backends!(callbacks_before_the_outcome_are_applied_in_order_once);
