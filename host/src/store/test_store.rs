//! Stores against real databases for the store's own tests: SQLite always,
//! PostgreSQL unless `HERALD_SKIP_POSTGRES` is set (same convention as the
//! e2e suite).

use super::{Id, Store, now_ms};

/// A fresh store and the file or database behind it (dropped with the test).
pub struct TestStore {
    pub store: Store,
    /// The database's URL (a second connection's, for set-up a test does
    /// by hand).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Best effort: a leftover test database is harmless.
            let _ = std::process::Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    TestStore {
        store: Store::connect(&url).await.unwrap(),
        url,
        _dir: Some(dir),
        pg_name: None,
    }
}

pub async fn postgres() -> Option<TestStore> {
    if std::env::var_os("HERALD_SKIP_POSTGRES").is_some() {
        return None;
    }
    let server = std::env::var("HERALD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("herald_unit_{}", hex::encode(rand::random::<[u8; 6]>()));
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (or set HERALD_SKIP_POSTGRES=1)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("{server}/{name}");
    Some(TestStore {
        store: Store::connect(&url).await.unwrap(),
        url,
        _dir: None,
        pg_name: Some(name),
    })
}

pub async fn backends() -> Vec<TestStore> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}

/// A running campaign of `members` queued members, due now: its id,
/// and its members' ids in queue order.
pub async fn running_campaign(store: &Store, members: usize) -> (Id, Vec<Id>) {
    let tenant = store.create_tenant("acme", "key-acme").await.unwrap().id;
    let now = now_ms();
    let pool = &store.pool;
    let channel: Id = sqlx::query_scalar(
        "INSERT INTO channels (tenant_id, name, plugin, sender, config_json, secrets_json, \
         created_at) VALUES ($1, 'sms', 'twilio-sms', '+15550000000', '{}', '{}', $2) \
         RETURNING id",
    )
    .bind(tenant)
    .bind(now)
    .fetch_one(pool)
    .await
    .unwrap();
    let list = store.create_list(tenant, "all").await.unwrap().id;
    let campaign: Id = sqlx::query_scalar(
        "INSERT INTO campaigns (tenant_id, name, kind, channel_id, list_id, body, status, \
         created_at) VALUES ($1, 'c', 'sms', $2, $3, 'Hi', 'running', $4) RETURNING id",
    )
    .bind(tenant)
    .bind(channel)
    .bind(list)
    .bind(now)
    .fetch_one(pool)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..members {
        let contact: Id = sqlx::query_scalar(
            "INSERT INTO contacts (tenant_id, phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(tenant)
        .bind(format!("+1555000{i:04}"))
        .bind(now)
        .fetch_one(pool)
        .await
        .unwrap();
        let member: Id = sqlx::query_scalar(
            "INSERT INTO members (tenant_id, campaign_id, contact_id, address, status, \
             next_attempt_at, updated_at) VALUES ($1, $2, $3, 'a', 'queued', $4, $4) \
             RETURNING id",
        )
        .bind(tenant)
        .bind(campaign)
        .bind(contact)
        .bind(now - 1_000)
        .fetch_one(pool)
        .await
        .unwrap();
        ids.push(member);
    }
    (campaign, ids)
}

/// [`running_campaign`], ready to send now: its message set, the contacts
/// in UTC, quiet hours open for all but an hour that is 21 hours away.
pub async fn sendable_campaign(store: &Store, members: usize) -> (Id, Vec<Id>) {
    let (campaign, ids) = running_campaign(store, members).await;
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    sqlx::query("UPDATE contacts SET timezone = 'UTC'")
        .execute(&store.pool)
        .await
        .unwrap();
    sqlx::query(
        r#"UPDATE campaigns SET settings_json =
           '{"content": {"type": "sms", "body": "Hi"}, "session_target": null}'"#,
    )
    .execute(&store.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE tenants SET quiet_hours_start = $1, quiet_hours_end = $2")
        .bind(format!("{:02}:00", (hour + 22) % 24))
        .bind(format!("{:02}:00", (hour + 21) % 24))
        .execute(&store.pool)
        .await
        .unwrap();
    (campaign, ids)
}
