//! What the benchmarks share: a PostgreSQL database of their own.

/// A new database on the test server (`HERALD_TEST_PG`, default the local
/// one) named `{prefix}_{pid}`; `None` when HERALD_SKIP_POSTGRES is set or
/// PostgreSQL does not answer.
pub async fn postgres_url(prefix: &str) -> Option<String> {
    if std::env::var_os("HERALD_SKIP_POSTGRES").is_some() {
        return None;
    }
    use sqlx::Connection;
    let server = std::env::var("HERALD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .ok()?;
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
        .await
        .ok()?;
    Some(format!("{server}/{name}"))
}

/// Drops a benchmark's database (its rows are of no further use).
pub async fn drop_database(url: &str) {
    use sqlx::Connection;
    let (server, name) = url.rsplit_once('/').expect("a database URL");
    if let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::Executor::execute(&mut admin, sql.as_str()).await;
    }
}
