//! Stores against real databases for the store's own tests: SQLite always,
//! PostgreSQL unless `HERALD_SKIP_POSTGRES` is set (same convention as the
//! e2e suite).

use super::Store;

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
