//! The send path's member rewrites as migration 0036 shapes them: on
//! PostgreSQL the start of a call and its delivery receipt rewrite the
//! member's row in place (HOT: no index entry written), and a sent
//! member's receipt is awaited in `receipt_checks` until it comes.

use super::members::ClaimedMember;
use super::test_store::{self, sendable_campaign};
use super::{Backend, Id, Receipt, SendOutcome, SendRoom, Store, now_ms, receipt_batch};
use crate::domain::member::MemberStatus;

/// Claims `n` members of a campaign ready to send.
async fn claim(store: &Store, n: usize) -> Vec<ClaimedMember> {
    sendable_campaign(store, n).await;
    let room = SendRoom {
        new_tenant: n,
        new_plugin: n,
        ..SendRoom::default()
    };
    let claimed = store
        .claim_due("here", 60_000, n as i64, &room)
        .await
        .unwrap();
    assert_eq!(claimed.len(), n, "every member claimed");
    claimed
}

/// Records that the provider took each of `claimed`, its receipt due
/// `receipt_due_ms` from now.
async fn accept(store: &Store, claimed: &[ClaimedMember], receipt_due_ms: i64) {
    let outcomes: Vec<_> = claimed
        .iter()
        .map(|m| {
            let outcome = SendOutcome::Accepted {
                provider_message_id: format!("SM{}", m.id),
                at: now_ms(),
                summary: "Hi".into(),
            };
            (m.clone(), outcome)
        })
        .collect();
    store
        .record_outcomes("here", &outcomes, receipt_due_ms)
        .await
        .unwrap();
}

fn delivered(m: &ClaimedMember) -> (Id, Receipt) {
    let receipt = Receipt {
        channel_id: m.channel_id,
        provider_message_id: format!("SM{}", m.id),
        status: MemberStatus::Delivered,
        error_code: None,
        error_message: None,
        at: now_ms(),
    };
    (m.tenant_id, receipt)
}

/// Rows of `members` updated, and how many of those in place, as this
/// connection counts them: PostgreSQL's counters of the transaction and of
/// the connection's earlier ones it has not reported yet (read before and
/// after a statement, in one transaction, they count the statement).
async fn updates_so_far(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> (i64, i64) {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT pg_stat_get_xact_tuples_updated('members'::regclass), \
         pg_stat_get_xact_tuples_hot_updated('members'::regclass)",
    )
    .fetch_one(&mut **tx)
    .await
    .unwrap();
    row
}

async fn vacuum(store: &Store) {
    sqlx::query("VACUUM members")
        .execute(&store.pool)
        .await
        .unwrap();
}

/// Two of a send's four rewrites of its member (the start of the call and
/// the delivery receipt) write no index entry: no index of `members` names
/// a column they change. An index added on the status (or the lease, the
/// receipt's due time...) would fail this.
#[tokio::test]
async fn the_start_of_a_call_and_its_receipt_rewrite_the_member_in_place() {
    let Some(db) = test_store::postgres().await else {
        eprintln!("SKIPPED: PostgreSQL not available (HERALD_SKIP_POSTGRES)");
        return;
    };
    let store = &db.store;
    let claimed = claim(store, 20).await;
    let ids: Vec<Id> = claimed.iter().map(|m| m.id).collect();

    // Room on each row's page (HOT needs it; the design gives it with the
    // table's fillfactor and pruning, which a test of twenty rows cannot
    // count on): what is measured is which statements write index entries.
    vacuum(store).await;
    let mut tx = store.write_tx().await.unwrap();
    let before = updates_so_far(&mut tx).await;
    let started = store.start_sends_in(&mut tx, "here", &ids).await.unwrap();
    assert_eq!(started.len(), 20, "every send may start");
    let after = updates_so_far(&mut tx).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (20, 20),
        "starts in place"
    );
    tx.commit().await.unwrap();

    accept(store, &claimed, 60_000).await;

    let receipts: Vec<_> = claimed.iter().map(delivered).collect();
    vacuum(store).await;
    let mut tx = store.write_tx().await.unwrap();
    let before = updates_so_far(&mut tx).await;
    let touched = receipt_batch::apply(&mut tx, Backend::Postgres, &receipts)
        .await
        .unwrap();
    assert!(touched.iter().all(Option::is_some), "{touched:?}");
    let after = updates_so_far(&mut tx).await;
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (20, 20),
        "receipts in place"
    );
    tx.commit().await.unwrap();
}

async fn awaited(store: &Store) -> Vec<Id> {
    sqlx::query_scalar("SELECT member_id FROM receipt_checks ORDER BY member_id")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

/// A sent member's receipt is awaited from its outcome: the one that came
/// ends the wait, the others are looked up once due (once per period), and
/// a member that left `sent` some other way is no longer looked up.
#[tokio::test]
async fn a_sent_members_receipt_is_awaited_until_it_comes() {
    for db in test_store::backends().await {
        let store = &db.store;
        let mut claimed = claim(store, 3).await;
        claimed.sort_unstable_by_key(|m| m.id);
        let ids: Vec<Id> = claimed.iter().map(|m| m.id).collect();
        store.start_sends("here", &ids).await.unwrap();
        // Due at once.
        accept(store, &claimed, 0).await;
        assert_eq!(awaited(store).await, ids, "every sent member awaited");

        store
            .apply_receipts(&[delivered(&claimed[0])])
            .await
            .unwrap();
        assert_eq!(awaited(store).await, ids[1..], "the receipt ends its wait");

        let overdue = store.claim_overdue_receipts(50, 60_000).await.unwrap();
        let mut found: Vec<(Id, String)> = overdue
            .iter()
            .map(|o| (o.member_id, o.provider_message_id.clone()))
            .collect();
        found.sort_unstable();
        let expected: Vec<(Id, String)> =
            ids[1..].iter().map(|&id| (id, format!("SM{id}"))).collect();
        assert_eq!(found, expected, "the two without a receipt looked up");
        assert!(
            store
                .claim_overdue_receipts(50, 60_000)
                .await
                .unwrap()
                .is_empty(),
            "looked up once per period"
        );

        // One leaves `sent` by a path that does not settle its wait; both
        // fall due again.
        sqlx::query("UPDATE members SET status = 'failed' WHERE id = $1")
            .bind(ids[1])
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE receipt_checks SET due_at = 0")
            .execute(&store.pool)
            .await
            .unwrap();
        let overdue = store.claim_overdue_receipts(50, 60_000).await.unwrap();
        let found: Vec<Id> = overdue.iter().map(|o| o.member_id).collect();
        assert_eq!(found, [ids[2]], "only the member still sent");
        assert_eq!(awaited(store).await, [ids[2]], "the other's wait dropped");
    }
}
