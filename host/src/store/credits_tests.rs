//! Credits against a real database: SQLite always, PostgreSQL unless
//! `HERALD_SKIP_POSTGRES` is set (same convention as the e2e suite).

use super::*;
use crate::store::test_store::backends;
use crate::store::{Hold, Reserved, Settlement};

/// A reservation for `member`'s first attempt in campaign 7.
fn hold(tenant: Id, member: Id, amount: i64) -> Hold {
    Hold {
        tenant,
        campaign: 7,
        member,
        attempt: 1,
        amount,
    }
}

async fn tenant(store: &Store) -> Id {
    store
        .create_tenant("t", &crate::api::tenants::new_api_key())
        .await
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overspend() {
    for t in backends().await {
        let store = t.store.clone();
        let tenant = tenant(&store).await;
        store.adjust_credits(tenant, 50, None).await.unwrap();
        // 100 sends of 3 credits race for 50: exactly 16 may win.
        let tasks: Vec<_> = (0..100)
            .map(|member| {
                let store = store.clone();
                tokio::spawn(async move {
                    (
                        member,
                        store
                            .reserve_credits(hold(tenant, member, 3))
                            .await
                            .unwrap(),
                    )
                })
            })
            .collect();
        let mut held = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (member, Reserved::Held) => held.push(member),
                (_, Reserved::Insufficient { .. }) => {}
                (_, Reserved::Unmetered) => panic!("metered tenant reported unmetered"),
            }
        }
        assert_eq!(held.len(), 16);
        let b = store.credit_balance(tenant).await.unwrap();
        assert_eq!((b.available, b.reserved, b.charged), (2, 48, 0));

        // Settle: 10 accepted, 6 released; the released credits are free
        // again. Settling the same sends again changes nothing, and a send
        // that never held anything is ignored.
        let batch: Vec<_> = held
            .iter()
            .enumerate()
            .map(|(i, &member)| Settlement {
                member,
                attempt: 1,
                charged: i < 10,
            })
            .collect();
        store.settle_credits(&batch).await.unwrap();
        store.settle_credits(&batch).await.unwrap();
        let stray = Settlement {
            member: 1_000,
            attempt: 1,
            charged: true,
        };
        store.settle_credits(&[stray]).await.unwrap();
        let b = store.credit_balance(tenant).await.unwrap();
        assert_eq!((b.available, b.reserved, b.charged), (20, 0, 30));
        let ledger = store.credit_ledger(tenant, None, 10).await.unwrap();
        assert_eq!(ledger.len(), 2);
        assert_eq!(
            (
                ledger[0].kind.as_str(),
                ledger[0].amount,
                ledger[0].messages
            ),
            ("charge", -30, Some(10))
        );
        assert_eq!((ledger[1].kind.as_str(), ledger[1].amount), ("top_up", 50));
    }
}

#[tokio::test]
async fn unmetered_tenants_reserve_nothing() {
    for t in backends().await {
        let tenant = tenant(&t.store).await;
        assert_eq!(
            t.store.reserve_credits(hold(tenant, 1, 5)).await.unwrap(),
            Reserved::Unmetered
        );
        assert!(!t.store.credit_balance(tenant).await.unwrap().metered);
        // Settling for a tenant without credits is a no-op, not an error.
        let s = Settlement {
            member: 1,
            attempt: 1,
            charged: true,
        };
        t.store.settle_credits(&[s]).await.unwrap();
    }
}

#[tokio::test]
async fn adjustments_never_go_below_zero() {
    for t in backends().await {
        let tenant = tenant(&t.store).await;
        t.store
            .adjust_credits(tenant, 4, Some("trial"))
            .await
            .unwrap();
        let err = t.store.adjust_credits(tenant, -5, None).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(ref m) if m.contains("4 available")),
            "{err}"
        );
        let top = t.store.adjust_credits(tenant, -4, None).await.unwrap();
        assert_eq!(top.balance.available, 0);
        assert!(matches!(
            t.store.reserve_credits(hold(tenant, 1, 1)).await.unwrap(),
            Reserved::Insufficient { available: 0 }
        ));
        assert!(matches!(
            t.store.adjust_credits(999_999, 1, None).await,
            Err(StoreError::NotFound)
        ));
    }
}
